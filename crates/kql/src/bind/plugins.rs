//! `evaluate` plugins and the operators that run subqueries over parts of their input:
//! `fork`, `facet`, `partition`, `top-nested`, `reduce`.
//!
//! Plugins whose output shape depends on the data (`bag_unpack`, `pivot`) and the analytics
//! plugins run their input while binding and compute over its rows. Without an executor
//! (`vigil check`) they bind to their declared or best-known schema.

use std::collections::{BTreeMap, HashMap};

use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use serde_json::Value as Json;
use vigil_catalog::OpenColumns;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder, convert};
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::ast::{self, ExprKind};
use vigil_kql_syntax::{Code, Span};

use super::naming::{CallKind, result_name};
use super::scope::Row;
use super::{Binder, BoundResult};
use crate::error::{BindError, BindResult};
use crate::relation::Relation;

type Rows = Vec<Vec<Value>>;

/// Values by the start of their bin.
type Bins = BTreeMap<i64, Vec<f64>>;

impl Binder<'_> {
    /// The rows of a relation, run now; `None` when nothing can be run (`vigil check`).
    fn rows_of(&mut self, relation: &Relation) -> BindResult<Option<Rows>> {
        let Some(executor) = self.executor else { return Ok(None) };
        let batches = executor.collect(relation.plan.clone()).map_err(BindError::plan)?;
        let mut rows = Vec::new();
        for batch in &batches {
            let readers: Vec<ColumnReader> = relation
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| ColumnReader::new(batch.column(i), c.ty))
                .collect::<Result<_, _>>()
                .map_err(BindError::plan)?;
            for row in 0..batch.num_rows() {
                rows.push(readers.iter().map(|r| r.value(row)).collect());
            }
        }
        Ok(Some(rows))
    }

    pub(super) fn relation_of_rows(&mut self, columns: Vec<KqlColumn>, rows: &[Vec<Value>]) -> BindResult<Relation> {
        let mut builders: Vec<ValueBuilder> = columns.iter().map(|c| ValueBuilder::new(c.ty, rows.len())).collect();
        for row in rows {
            for (builder, value) in builders.iter_mut().zip(row) {
                builder.append(value);
            }
        }
        let arrays = builders.into_iter().map(ValueBuilder::finish).collect();
        // A plugin may make no columns at all (bag_unpack of the only column, over no rows): the
        // batch then says how many rows it has.
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new_with_options(
            vigil_kql_functions::types::arrow_schema(&columns),
            arrays,
            &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )
        .map_err(|e| BindError::plan(e.into()))?;
        self.relation_of_batches(columns, vec![batch])
    }

    pub(crate) fn bind_evaluate(
        &mut self,
        input: Option<Relation>,
        call: &ast::Expr,
        output_schema: Option<&(Vec<ast::ColumnDeclaration>, bool)>,
    ) -> BindResult<Relation> {
        let ExprKind::Call { function, args } = &call.kind else {
            return Err(BindError::new(Code::UnexpectedToken, call.span, "evaluate takes a plugin call"));
        };
        let input =
            input.ok_or_else(|| BindError::new(Code::UnexpectedToken, call.span, "evaluate needs an input table"))?;
        match function.name.as_str() {
            // The columns these plugins make come from the data: a query may name any of them
            // (Kusto's own analysis treats their output as open), and over rows without them
            // they read empty.
            "bag_unpack" => {
                let mut unpacked = self.bag_unpack(input, args, output_schema, call.span)?;
                if output_schema.is_none() {
                    unpacked.open = Some(OpenColumns::Any(KqlType::Dynamic));
                }
                Ok(unpacked)
            }
            "pivot" => self.pivot(input, args, call.span),
            "narrow" => self.narrow(input),
            "schema_merge" => self.schema_merge(input, args),
            "active_users_count" => self.active_users_count(input, args, call.span),
            "activity_counts_metrics" => self.activity_counts_metrics(input, args, call.span),
            "rolling_percentile" => self.rolling_percentile(input, args, call.span),
            "identity" => Ok(input),
            "rows_near" => self.rows_near(input, args, call.span),
            "dcount_intersect" => self.dcount_intersect(input, args, call.span),
            "ipv4_lookup" => self.ip_lookup(super::ip_lookup::Family::V4, input, args, call.span),
            "ipv6_lookup" => self.ip_lookup(super::ip_lookup::Family::V6, input, args, call.span),
            "python" | "r" | "csharp" => Err(BindError::new(
                Code::Unsupported,
                function.span,
                format!("the {} plugin runs code in a sandbox, which Vigil does not have", function.name),
            )),
            other => {
                Err(BindError::new(Code::Unsupported, function.span, format!("the '{other}' plugin is not supported")))
            }
        }
    }

    /// Constant plugin arguments, by position or `name = value`.
    fn plugin_constants(
        &mut self,
        args: &[ast::Argument],
        row: &Row,
    ) -> BindResult<Vec<(Option<String>, super::Bound)>> {
        let mut result = Vec::new();
        for arg in args {
            let bound = self.bind_expr(&arg.value, row)?;
            result.push((arg.name.as_ref().map(|n| n.name.clone()), self.fold_constant(bound)));
        }
        Ok(result)
    }

    fn bag_unpack(
        &mut self,
        input: Relation,
        args: &[ast::Argument],
        output_schema: Option<&(Vec<ast::ColumnDeclaration>, bool)>,
        span: Span,
    ) -> BindResult<Relation> {
        let Some(ExprKind::Name(column)) = args.first().map(|a| &a.value.kind) else {
            return Err(BindError::new(Code::BadArguments, span, "bag_unpack() takes the dynamic column to unpack"));
        };
        let Some(unpacked) = input.index_of(&column.name) else {
            return Err(super::operators::unknown_column(&column.name, column.span, &input));
        };
        let row = Row::of(&input);
        let mut prefix = String::new();
        let mut conflict = "error".to_string();
        let mut ignored: Vec<String> = Vec::new();
        for (index, (name, bound)) in self.plugin_constants(&args[1..], &row)?.into_iter().enumerate() {
            let value = bound.constant.unwrap_or(Value::Null);
            match name.as_deref() {
                Some("columnsConflict") => conflict = value.to_kql_string(),
                Some("ignoredProperties") => {
                    if let Value::Dynamic(Json::Array(items)) = value {
                        ignored = items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
                    }
                }
                Some("OutputColumnPrefix") | None if index == 0 => prefix = value.to_kql_string(),
                _ => {}
            }
        }
        let kept: Vec<KqlColumn> =
            input.columns.iter().enumerate().filter(|(i, _)| *i != unpacked).map(|(_, c)| c.clone()).collect();
        let rows = self.rows_of(&input)?;
        let bags: Vec<serde_json::Map<String, Json>> = rows
            .as_ref()
            .map(|rows| {
                rows.iter()
                    .map(|r| match &r[unpacked] {
                        Value::Dynamic(Json::Object(map)) => map.clone(),
                        _ => serde_json::Map::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut new_columns: Vec<KqlColumn> = match output_schema {
            Some((declared, _)) => super::sources::declared_columns(declared),
            None => {
                let mut keys: BTreeMap<String, KqlType> = BTreeMap::new();
                for bag in &bags {
                    for (key, value) in bag {
                        if ignored.contains(key) {
                            continue;
                        }
                        let ty = json_type(value);
                        keys.entry(key.clone())
                            .and_modify(|existing| {
                                if *existing != ty && ty != KqlType::Dynamic {
                                    *existing = if existing.is_numeric() && ty.is_numeric() {
                                        KqlType::Real
                                    } else {
                                        KqlType::Dynamic
                                    };
                                }
                            })
                            .or_insert(ty);
                    }
                }
                keys.into_iter().map(|(k, t)| KqlColumn::new(format!("{prefix}{k}"), t)).collect()
            }
        };
        let mut columns = kept.clone();
        let declared = output_schema.is_some();
        // `replace_source`: the property takes the source column's place (and type).
        let mut replaced: Vec<KqlColumn> = Vec::new();
        new_columns.retain(|c| {
            if columns.iter().any(|k| k.name == c.name) {
                match conflict.as_str() {
                    "keep_source" => false,
                    "replace_source" => {
                        replaced.push(c.clone());
                        false
                    }
                    _ => declared,
                }
            } else {
                true
            }
        });
        for column in columns.iter_mut() {
            if let Some(replacement) = replaced.iter().find(|r| r.name == column.name) {
                column.ty = replacement.ty;
            }
        }
        if !declared && let Some(clash) = new_columns.iter().find(|c| columns.iter().any(|k| k.name == c.name)) {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!(
                    "bag_unpack: property '{}' clashes with a column; use columnsConflict='replace_source' or 'keep_source'",
                    clash.name
                ),
            ));
        }
        columns.retain(|k| !new_columns.iter().any(|c| c.name == k.name));
        let mut all = columns.clone();
        all.extend(new_columns.iter().cloned());
        let Some(rows) = rows else {
            return self.relation_of_rows(all, &[]);
        };
        let output: Rows = rows
            .iter()
            .zip(&bags)
            .map(|(row, bag)| {
                let from_bag = |name: &str, ty: KqlType| {
                    let key = name.strip_prefix(&prefix).unwrap_or(name);
                    convert(&Value::Dynamic(bag.get(key).cloned().unwrap_or(Json::Null)), ty)
                };
                let mut values: Vec<Value> = columns
                    .iter()
                    .map(|c| match replaced.iter().any(|r| r.name == c.name) {
                        true => from_bag(&c.name, c.ty),
                        false => row[input.index_of(&c.name).expect("kept column")].clone(),
                    })
                    .collect();
                values.extend(new_columns.iter().map(|c| from_bag(&c.name, c.ty)));
                values
            })
            .collect();
        self.relation_of_rows(all, &output)
    }

    fn pivot(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let Some(ExprKind::Name(pivot_column)) = args.first().map(|a| &a.value.kind) else {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                "pivot() takes the column whose values become columns",
            ));
        };
        if input.column(&pivot_column.name).is_none() {
            return Err(super::operators::unknown_column(&pivot_column.name, pivot_column.span, &input));
        }
        let aggregate = match args.get(1) {
            Some(arg) => arg.value.clone(),
            None => ast::Expr::new(
                ExprKind::Call { function: ast::Ident { name: "count".into(), span }, args: vec![] },
                span,
            ),
        };
        let aggregated_columns: Vec<String> = collect_names(&aggregate);
        let keys: Vec<String> = if args.len() > 2 {
            args[2..].iter().filter_map(|a| a.value.as_name().map(str::to_string)).collect()
        } else {
            input
                .columns
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| n != &pivot_column.name && !aggregated_columns.contains(n))
                .collect()
        };
        let by: Vec<ast::Assignment> = keys
            .iter()
            .chain(std::iter::once(&pivot_column.name))
            .map(|k| ast::Assignment {
                names: vec![],
                value: ast::Expr::new(ExprKind::Name(ast::Ident { name: k.clone(), span }), span),
                span,
            })
            .collect();
        let items =
            vec![ast::Assignment { names: vec![ast::Ident { name: "$value".into(), span }], value: aggregate, span }];
        let long = self.bind_summarize(input, &items, &by)?;
        let value_type = long.columns.last().map(|c| c.ty).unwrap_or(KqlType::Long);
        let Some(rows) = self.rows_of(&long)? else {
            let mut columns: Vec<KqlColumn> = long.columns[..keys.len()].to_vec();
            columns.retain(|c| c.name != "$value");
            let mut pivoted = self.relation_of_rows(columns, &[])?;
            pivoted.open = Some(OpenColumns::Any(value_type));
            return Ok(pivoted);
        };
        let mut values: Vec<String> = rows.iter().map(|r| r[keys.len()].to_kql_string()).collect();
        values.sort();
        values.dedup();
        let mut groups: Vec<(Vec<Value>, HashMap<String, Value>)> = Vec::new();
        for row in &rows {
            let key = row[..keys.len()].to_vec();
            let position = match groups.iter().position(|(k, _)| *k == key) {
                Some(p) => p,
                None => {
                    groups.push((key, HashMap::new()));
                    groups.len() - 1
                }
            };
            groups[position].1.insert(row[keys.len()].to_kql_string(), row[keys.len() + 1].clone());
        }
        let mut columns: Vec<KqlColumn> = long.columns[..keys.len()].to_vec();
        columns.extend(values.iter().map(|v| KqlColumn::new(v.clone(), value_type)));
        let empty = if value_type.is_numeric() { convert(&Value::Long(0), value_type) } else { Value::Null };
        let output: Rows = groups
            .into_iter()
            .map(|(mut key, cells)| {
                key.extend(values.iter().map(|v| cells.get(v).cloned().unwrap_or_else(|| empty.clone())));
                key
            })
            .collect();
        let mut pivoted = self.relation_of_rows(columns, &output)?;
        pivoted.open = Some(OpenColumns::Any(value_type));
        Ok(pivoted)
    }

    fn narrow(&mut self, input: Relation) -> BindResult<Relation> {
        let columns = vec![
            KqlColumn::new("Row", KqlType::Long),
            KqlColumn::new("Column", KqlType::String),
            KqlColumn::new("Value", KqlType::String),
        ];
        let rows = self.rows_of(&input)?.unwrap_or_default();
        let mut output = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            for (column, value) in input.columns.iter().zip(row) {
                output.push(vec![
                    Value::Long(index as i64),
                    Value::String(column.name.clone()),
                    Value::String(value.to_kql_string()),
                ]);
            }
        }
        self.relation_of_rows(columns, &output)
    }

    fn schema_merge(&mut self, input: Relation, args: &[ast::Argument]) -> BindResult<Relation> {
        let preserve_order =
            !args.iter().any(|a| matches!(&a.value.kind, ExprKind::Literal(ast::Literal::Bool(Some(false)))));
        let name_index = input.index_of("ColumnName");
        let type_index = input.index_of("ColumnType").or_else(|| input.index_of("DataType"));
        let (Some(name_index), Some(_)) = (name_index, type_index) else {
            return Err(BindError::new(
                Code::BadArguments,
                Span::default(),
                "schema_merge() takes the output of getschema",
            ));
        };
        let rows = self.rows_of(&input)?.unwrap_or_default();
        let mut merged: Vec<Vec<Value>> = Vec::new();
        for row in rows {
            if !merged.iter().any(|m| m[name_index] == row[name_index]) {
                merged.push(row);
            }
        }
        if !preserve_order {
            merged.sort_by_key(|row| row[name_index].to_kql_string());
        }
        if let Some(ordinal) = input.index_of("ColumnOrdinal") {
            for (index, row) in merged.iter_mut().enumerate() {
                row[ordinal] = Value::Int(index as i32);
            }
        }
        self.relation_of_rows(input.columns.clone(), &merged)
    }

    /// Plugin arguments: the id and time columns by name, then constants.
    fn analytics_arguments(
        &mut self,
        input: &Relation,
        args: &[ast::Argument],
        span: Span,
        columns: usize,
    ) -> BindResult<(Vec<usize>, Vec<Value>)> {
        let mut indexes = Vec::new();
        for arg in args.iter().take(columns) {
            let Some(name) = arg.value.as_name() else {
                return Err(BindError::new(Code::BadArguments, arg.value.span, "expected a column name"));
            };
            indexes.push(
                input.index_of(name).ok_or_else(|| super::operators::unknown_column(name, arg.value.span, input))?,
            );
        }
        if indexes.len() < columns {
            return Err(BindError::new(Code::BadArguments, span, "missing plugin arguments"));
        }
        let constants = self
            .plugin_constants(&args[columns..], &Row::default())?
            .into_iter()
            .map(|(_, b)| b.constant.unwrap_or(Value::Null))
            .collect();
        Ok((indexes, constants))
    }

    fn active_users_count(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let (columns, constants) = self.analytics_arguments(&input, args, span, 2)?;
        let [start, end, lookback, period, active_periods, bin] = constants.as_slice() else {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                "active_users_count(id, time, start, end, lookback, period, active_periods, bin)",
            ));
        };
        let (Some(start), Some(end), Some(lookback), Some(period), Some(needed), Some(bin)) =
            (start.as_i64(), end.as_i64(), lookback.as_i64(), period.as_i64(), active_periods.as_i64(), bin.as_i64())
        else {
            return Err(BindError::new(Code::BadArguments, span, "active_users_count needs constant times and counts"));
        };
        let time_name = input.columns[columns[1]].name.clone();
        let output_columns =
            vec![KqlColumn::new(time_name, KqlType::DateTime), KqlColumn::new("dcount", KqlType::Long)];
        let rows = self.rows_of(&input)?.unwrap_or_default();
        let mut events: HashMap<String, Vec<i64>> = HashMap::new();
        for row in &rows {
            if let Some(t) = row[columns[1]].as_i64() {
                events.entry(row[columns[0]].to_kql_string()).or_default().push(t);
            }
        }
        let mut output = Vec::new();
        let mut bin_start = start;
        while bin_start < end && bin > 0 && period > 0 {
            let bin_end = (bin_start + bin).min(end);
            let active = events
                .values()
                .filter(|times| {
                    times.iter().filter(|t| **t >= bin_start && **t < bin_end).any(|t| {
                        let mut periods: Vec<i64> = times
                            .iter()
                            .filter(|x| **x > t - lookback && **x <= *t)
                            .map(|x| x.div_euclid(period))
                            .collect();
                        periods.sort_unstable();
                        periods.dedup();
                        periods.len() as i64 >= needed
                    })
                })
                .count();
            if active > 0 {
                output.push(vec![Value::DateTime(bin_start), Value::Long(active as i64)]);
            }
            bin_start += bin;
        }
        self.relation_of_rows(output_columns, &output)
    }

    fn activity_counts_metrics(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let (columns, constants) = self.analytics_arguments(&input, args, span, 2)?;
        let (Some(start), Some(end), Some(window)) = (
            constants.first().and_then(Value::as_i64),
            constants.get(1).and_then(Value::as_i64),
            constants.get(2).and_then(Value::as_i64),
        ) else {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                "activity_counts_metrics(id, time, start, end, window)",
            ));
        };
        let time_name = input.columns[columns[1]].name.clone();
        let output_columns = vec![
            KqlColumn::new(time_name, KqlType::DateTime),
            KqlColumn::new("count", KqlType::Long),
            KqlColumn::new("dcount", KqlType::Long),
            KqlColumn::new("new_dcount", KqlType::Long),
            KqlColumn::new("aggregated_dcount", KqlType::Long),
        ];
        let rows = self.rows_of(&input)?.unwrap_or_default();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut output = Vec::new();
        let mut bin_start = start;
        while bin_start <= end && window > 0 {
            let in_bin: Vec<String> = rows
                .iter()
                .filter(|r| r[columns[1]].as_i64().is_some_and(|t| t >= bin_start && t < bin_start + window))
                .map(|r| r[columns[0]].to_kql_string())
                .collect();
            let mut distinct = in_bin.clone();
            distinct.sort();
            distinct.dedup();
            let new = distinct.iter().filter(|id| !seen.contains(*id)).count();
            seen.extend(distinct.iter().cloned());
            output.push(vec![
                Value::DateTime(bin_start),
                Value::Long(in_bin.len() as i64),
                Value::Long(distinct.len() as i64),
                Value::Long(new as i64),
                Value::Long(seen.len() as i64),
            ]);
            bin_start += window;
        }
        self.relation_of_rows(output_columns, &output)
    }

    fn rolling_percentile(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let value_name = args.first().and_then(|a| a.value.as_name()).map(str::to_string);
        let index_name = args.get(2).and_then(|a| a.value.as_name()).map(str::to_string);
        let (Some(value_name), Some(index_name), true) = (value_name, index_name, args.len() >= 5) else {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                "rolling_percentile(value, percentile, index, bin_size, bins_per_window [, dimension...])",
            ));
        };
        let value_index =
            input.index_of(&value_name).ok_or_else(|| super::operators::unknown_column(&value_name, span, &input))?;
        let index_index =
            input.index_of(&index_name).ok_or_else(|| super::operators::unknown_column(&index_name, span, &input))?;
        let constants: Vec<Value> = [&args[1], &args[3], &args[4]]
            .iter()
            .map(|arg| {
                let bound = self.bind_expr(&arg.value, &Row::default())?;
                Ok(self.fold_constant(bound).constant.unwrap_or(Value::Null))
            })
            .collect::<BindResult<_>>()?;
        let (Some(percent), Some(bin), Some(window)) =
            (constants[0].as_f64(), constants[1].as_i64(), constants[2].as_i64())
        else {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                "rolling_percentile needs constant percentile, bin size and window",
            ));
        };
        // Dimensions after the window: each combination of their values has its own windows.
        let mut dimensions = Vec::new();
        for arg in &args[5..] {
            let Some(name) = arg.value.as_name() else {
                return Err(BindError::new(
                    Code::BadArguments,
                    arg.value.span,
                    "rolling_percentile dimensions are columns",
                ));
            };
            dimensions.push(
                input.index_of(name).ok_or_else(|| super::operators::unknown_column(name, arg.value.span, &input))?,
            );
        }
        let index_type = input.columns[index_index].ty;
        let value_type = input.columns[value_index].ty;
        let output_name = format!("rolling_{window}_percentile_{value_name}_{}", constants[0].to_kql_string());
        let mut output_columns = vec![KqlColumn::new(index_name, index_type)];
        output_columns.extend(dimensions.iter().map(|d| input.columns[*d].clone()));
        output_columns.push(KqlColumn::new(output_name, value_type));
        let rows = self.rows_of(&input)?.unwrap_or_default();
        let mut groups: Vec<(Vec<Value>, Bins)> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for row in &rows {
            let key: Vec<Value> = dimensions.iter().map(|d| row[*d].clone()).collect();
            let group = *group_of.entry(format!("{key:?}")).or_insert_with(|| {
                groups.push((key, BTreeMap::new()));
                groups.len() - 1
            });
            if let (Some(index), Some(value)) = (row[index_index].as_i64(), row[value_index].as_f64()) {
                groups[group].1.entry(index - index.rem_euclid(bin.max(1))).or_default().push(value);
            }
        }
        let mut output = Vec::new();
        for (key, bins) in &groups {
            for start in bins.keys() {
                let mut values: Vec<(f64, f64)> = bins
                    .range(start - (window - 1) * bin..=*start)
                    .flat_map(|(_, v)| v.iter().map(|x| (*x, 1.0)))
                    .collect();
                let result = vigil_kql_functions::aggregate::weighted_percentile(&mut values, percent);
                let index_value =
                    if index_type == KqlType::DateTime { Value::DateTime(*start) } else { Value::Long(*start) };
                let mut out = vec![index_value];
                out.extend(key.iter().cloned());
                out.push(result.map(|v| convert(&Value::Real(v), value_type)).unwrap_or(Value::Null));
                output.push(out);
            }
        }
        self.relation_of_rows(output_columns, &output)
    }

    pub(crate) fn bind_fork(
        &mut self,
        input: Relation,
        branches: &[(Option<ast::Ident>, ast::Expr)],
    ) -> BindResult<Relation> {
        let mut results = Vec::new();
        for (index, (name, subquery)) in branches.iter().enumerate() {
            self.context_inputs.push(input.clone());
            let bound = self.bind_tabular(subquery);
            self.context_inputs.pop();
            let relation = bound?;
            let name = name
                .as_ref()
                .map(|n| n.name.clone())
                .or_else(|| relation.name.clone())
                .unwrap_or_else(|| format!("GenericResult_{index}"));
            results.push(BoundResult { name, relation });
        }
        let first = results.remove(0);
        self.extra_results.extend(results);
        Ok(first.relation)
    }

    pub(crate) fn bind_facet(
        &mut self,
        input: Relation,
        columns: &[ast::Ident],
        with: Option<&ast::Expr>,
    ) -> BindResult<Relation> {
        let main = match with {
            Some(subquery) => {
                self.context_inputs.push(input.clone());
                let bound = self.bind_tabular(subquery);
                self.context_inputs.pop();
                bound?
            }
            None => input.clone(),
        };
        for column in columns {
            let count = ast::Expr::new(
                ExprKind::Call { function: ast::Ident { name: "count".into(), span: column.span }, args: vec![] },
                column.span,
            );
            let by = ast::Assignment {
                names: vec![],
                value: ast::Expr::new(ExprKind::Name(column.clone()), column.span),
                span: column.span,
            };
            let item = ast::Assignment {
                names: vec![ast::Ident { name: "count_".into(), span: column.span }],
                value: count,
                span: column.span,
            };
            let relation = self.bind_summarize(input.clone(), &[item], &[by])?;
            self.extra_results.push(BoundResult { name: column.name.clone(), relation });
        }
        Ok(main)
    }

    pub(crate) fn bind_partition(
        &mut self,
        input: Relation,
        by: &ast::Ident,
        subquery: &ast::Expr,
    ) -> BindResult<Relation> {
        if input.column(&by.name).is_none() {
            return Err(super::operators::unknown_column(&by.name, by.span, &input));
        }
        self.partition_keys.push(by.name.clone());
        self.context_inputs.push(input);
        let result = self.bind_tabular(subquery);
        self.context_inputs.pop();
        self.partition_keys.pop();
        result
    }

    pub(crate) fn bind_top_nested(&mut self, input: Relation, levels: &[ast::TopNestedLevel]) -> BindResult<Relation> {
        let row = Row::of(&input);
        let mut current = input.clone();
        let mut level_columns: Vec<(String, String)> = Vec::new();
        for (depth, level) in levels.iter().enumerate() {
            if level.with_others.is_some() {
                return Err(BindError::new(
                    Code::Unsupported,
                    level.of.span,
                    "top-nested 'with others' is not supported",
                ));
            }
            let of_name = match level.of.names.as_slice() {
                [name] => name.name.clone(),
                _ => result_name(&level.of.value, &row, CallKind::Scalar)
                    .unwrap_or_else(|| format!("Column{}", depth + 1)),
            };
            let agg_name = match level.by.names.as_slice() {
                [name] => name.name.clone(),
                _ => format!("aggregated_{of_name}"),
            };
            // Aggregate by the keys so far and this level's key, then keep the top rows of
            // each group of the earlier keys.
            let mut by: Vec<ast::Assignment> = level_columns
                .iter()
                .map(|(name, _)| ast::Assignment {
                    names: vec![],
                    value: name_expr(name, level.of.span),
                    span: level.of.span,
                })
                .collect();
            by.push(ast::Assignment {
                names: vec![ast::Ident { name: of_name.clone(), span: level.of.span }],
                value: level.of.value.clone(),
                span: level.of.span,
            });
            let item = ast::Assignment {
                names: vec![ast::Ident { name: agg_name.clone(), span: level.by.span }],
                value: level.by.value.clone(),
                span: level.by.span,
            };
            let source = self.with_level_keys(&input, &level_columns, levels, &row)?;
            let aggregated = self.bind_summarize(source, &[item], &by)?;
            let descending = level.order != Some(ast::SortOrder::Ascending);
            let saved =
                std::mem::replace(&mut self.partition_keys, level_columns.iter().map(|(n, _)| n.clone()).collect());
            let ranked = match &level.count {
                Some(count) => {
                    let key = ast::SortKey {
                        value: name_expr(&agg_name, level.by.span),
                        order: Some(if descending { ast::SortOrder::Descending } else { ast::SortOrder::Ascending }),
                        nulls: None,
                    };
                    self.bind_top(aggregated, count, &key)
                }
                None => Ok(aggregated),
            };
            self.partition_keys = saved;
            let ranked = ranked?;
            current = if depth == 0 {
                ranked
            } else {
                let keys: Vec<&str> = level_columns.iter().map(|(n, _)| n.as_str()).collect();
                semi_join(&current, &ranked, &keys)?
            };
            level_columns.push((of_name, agg_name));
        }
        let names: Vec<&str> = level_columns.iter().flat_map(|(of, agg)| [of.as_str(), agg.as_str()]).collect();
        current.select(&names)
    }

    /// The input with the key columns of earlier top-nested levels computed.
    fn with_level_keys(
        &mut self,
        input: &Relation,
        level_columns: &[(String, String)],
        levels: &[ast::TopNestedLevel],
        row: &Row,
    ) -> BindResult<Relation> {
        let mut extended = row.clone();
        for ((name, _), level) in level_columns.iter().zip(levels) {
            let bound = self.bind_expr(&level.of.value, row)?;
            extended.set(super::scope::RowColumn { name: name.clone(), ty: bound.ty, expr: bound.expr });
        }
        super::project_row(input, &extended)
    }

    pub(crate) fn bind_reduce(
        &mut self,
        input: Relation,
        by: &ast::Expr,
        options: &[ast::OperatorOption],
    ) -> BindResult<Relation> {
        let row = Row::of(&input);
        let text = self.bind_expr(by, &row)?;
        let mut characters: Option<String> = None;
        for option in options {
            if option.name.name == "characters" {
                let bound = self.bind_expr(&option.value, &Row::default())?;
                characters = self.fold_constant(bound).constant.map(|v| v.to_kql_string());
            }
        }
        let projected = input.project(
            vec![vigil_kql_functions::conversion::convert(text.typed(), KqlType::String)],
            vec![KqlColumn::new("text", KqlType::String)],
        )?;
        let rows = self.rows_of(&projected)?.unwrap_or_default();
        let separators: Vec<char> = characters.unwrap_or_else(|| " .,;:=()[]{}<>\"'/\\|".to_string()).chars().collect();
        let mut patterns: Vec<(Vec<String>, usize, String)> = Vec::new();
        for row in rows {
            let text = row[0].to_kql_string();
            let tokens = tokenize(&text, &separators);
            match patterns.iter_mut().find(|(p, _, _)| {
                p.len() == tokens.len() && p.iter().zip(&tokens).filter(|(a, b)| a == b).count() * 2 >= tokens.len()
            }) {
                Some((pattern, count, _)) => {
                    for (slot, token) in pattern.iter_mut().zip(&tokens) {
                        if slot != token {
                            *slot = "*".into();
                        }
                    }
                    *count += 1;
                }
                None => patterns.push((tokens, 1, text)),
            }
        }
        let columns = vec![
            KqlColumn::new("Pattern", KqlType::String),
            KqlColumn::new("Count", KqlType::Long),
            KqlColumn::new("Representative", KqlType::String),
        ];
        let output: Rows = patterns
            .into_iter()
            .map(|(pattern, count, representative)| {
                let text = collapse_wildcards(&pattern, &separators);
                vec![Value::String(text), Value::Long(count as i64), Value::String(representative)]
            })
            .collect();
        self.relation_of_rows(columns, &output)
    }
}

/// Tokens and separators, in order.
fn tokenize(text: &str, separators: &[char]) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if separators.contains(&c) {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            tokens.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// A pattern's text, where a wildcard swallows the separators around it.
fn collapse_wildcards(pattern: &[String], separators: &[char]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (index, token) in pattern.iter().enumerate() {
        let is_separator = token.chars().count() == 1 && separators.contains(&token.chars().next().unwrap_or(' '));
        let next_is_wildcard = pattern.get(index + 1).is_some_and(|t| t == "*");
        if is_separator && (next_is_wildcard || out.last() == Some(&"*")) {
            continue;
        }
        if token == "*" && out.last() == Some(&"*") {
            continue;
        }
        out.push(token);
    }
    out.concat()
}

fn name_expr(name: &str, span: Span) -> ast::Expr {
    ast::Expr::new(ExprKind::Name(ast::Ident { name: name.to_string(), span }), span)
}

/// The names an expression refers to (the columns an aggregate reads).
fn collect_names(expr: &ast::Expr) -> Vec<String> {
    let mut names = Vec::new();
    fn walk(expr: &ast::Expr, names: &mut Vec<String>) {
        match &expr.kind {
            ExprKind::Name(ident) => names.push(ident.name.clone()),
            ExprKind::Call { args, .. } => args.iter().for_each(|a| walk(&a.value, names)),
            ExprKind::Binary { left, right, .. } => {
                walk(left, names);
                walk(right, names);
            }
            ExprKind::Unary { operand, .. } | ExprKind::Parenthesized(operand) => walk(operand, names),
            ExprKind::Member { target, .. } | ExprKind::Index { target, .. } => walk(target, names),
            _ => {}
        }
    }
    walk(expr, &mut names);
    names
}

/// The rows of `ranked` whose earlier keys appear in `current`, with `current`'s columns.
fn semi_join(current: &Relation, ranked: &Relation, keys: &[&str]) -> BindResult<Relation> {
    use datafusion::common::{Column, JoinType};
    let left = LogicalPlanBuilder::from(ranked.plan.clone())
        .alias("$level")
        .and_then(|b| b.build())
        .map_err(BindError::plan)?;
    let right = LogicalPlanBuilder::from(current.plan.clone())
        .alias("$parent")
        .and_then(|b| b.build())
        .map_err(BindError::plan)?;
    let left_keys: Vec<Column> = keys.iter().map(|k| Column::new(Some("$level"), *k)).collect();
    let right_keys: Vec<Column> = keys.iter().map(|k| Column::new(Some("$parent"), *k)).collect();
    let joined = LogicalPlanBuilder::from(left)
        .join(right, JoinType::Inner, (left_keys, right_keys), None)
        .and_then(|b| b.build())
        .map_err(BindError::plan)?;
    let mut exprs: Vec<Expr> = Vec::new();
    let mut columns: Vec<KqlColumn> = Vec::new();
    for column in &current.columns {
        exprs.push(Expr::Column(Column::new(Some("$parent"), &column.name)).alias(&column.name));
        columns.push(column.clone());
    }
    for column in &ranked.columns {
        if columns.iter().any(|c| c.name == column.name) {
            continue;
        }
        exprs.push(Expr::Column(Column::new(Some("$level"), &column.name)).alias(&column.name));
        columns.push(column.clone());
    }
    let plan = LogicalPlanBuilder::from(joined).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
    Ok(Relation::new(plan, columns))
}

/// The KQL type of a JSON value as bag_unpack infers it.
fn json_type(value: &Json) -> KqlType {
    match value {
        Json::Bool(_) => KqlType::Bool,
        Json::Number(n) if n.is_i64() || n.is_u64() => KqlType::Long,
        Json::Number(_) => KqlType::Real,
        Json::String(_) => KqlType::String,
        _ => KqlType::Dynamic,
    }
}

impl Binder<'_> {
    /// `evaluate dcount_intersect(hll_1, ..., hll_n)`: columns `s0`... where `s{i}` counts the
    /// values in all of the first i+1 sketches (exact here: Vigil's sketches hold their values).
    fn dcount_intersect(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        if !(2..=16).contains(&args.len()) {
            return Err(BindError::new(Code::BadArguments, span, "dcount_intersect() takes 2 to 16 hll sketches"));
        }
        let input_row = Row::of(&input);
        let mut sketches = Vec::new();
        for arg in args {
            let bound = self.bind_expr(&arg.value, &input_row)?;
            if bound.ty != KqlType::Dynamic {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    arg.value.span,
                    "dcount_intersect() takes hll() sketches",
                ));
            }
            sketches.push(bound.expr);
        }
        let mut row = input_row;
        for count in 1..=sketches.len() {
            let expr = vigil_kql_functions::udf::row_call(
                "dcount_intersect",
                sketches[..count].to_vec(),
                vec![KqlType::Dynamic; count],
                KqlType::Long,
                |values| {
                    let sets: Vec<&Vec<Json>> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Dynamic(Json::Array(items)) => Some(items),
                            _ => None,
                        })
                        .collect();
                    if sets.len() != values.len() {
                        return Value::Null;
                    }
                    let common = sets[0].iter().filter(|item| sets[1..].iter().all(|set| set.contains(item))).count();
                    Value::Long(common as i64)
                },
            );
            row.set(super::scope::RowColumn { name: format!("s{}", count - 1), ty: KqlType::Long, expr });
        }
        super::project_row(&input, &row)
    }
}
