//! `evaluate ipv4_lookup(...)` and `ipv6_lookup(...)`: a join of each row's address with the
//! networks of a lookup table that contain it.
//!
//! The lookup table is small by the plugins' contract (Kusto says 100K-300K rows); it is read
//! once, sorted by network start, and each input batch is then matched on its own, so the
//! input streams however large it is.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, Result};
use vigil_kql_functions::scalar::ip::{parse_ipv4_with_prefix, parse_ipv6_with_prefix};
use vigil_kql_functions::value::ColumnReader;
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::ast::{self, ExprKind};
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::scope::Row;
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode, conform};
use crate::relation::Relation;

/// More lookup rows than this is not a lookup table.
const LOOKUP_ROW_LIMIT: usize = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    /// Where the lookup table's columns go: `ipv6_lookup` puts them first, `ipv4_lookup` after
    /// the input's, as the reference's examples of each show.
    fn lookup_first(self) -> bool {
        self == Family::V6
    }

    /// The first and last address of a network (or of one address), on a common 128-bit scale.
    fn range(self, text: &str) -> Option<(u128, u128)> {
        let (start, bits, prefix) = match self {
            Family::V4 => {
                let (address, prefix) = parse_ipv4_with_prefix(text)?;
                (u128::from(address), 32, prefix)
            }
            Family::V6 => {
                let (address, prefix) = parse_ipv6_with_prefix(text)?;
                (address, 128, prefix)
            }
        };
        let host_bits = bits - prefix;
        let host_mask = if host_bits == 0 { 0 } else { u128::MAX >> (128 - host_bits) };
        Some((start & !host_mask, (start & !host_mask) | host_mask))
    }
}

#[derive(Debug)]
struct IpLookup {
    family: Family,
    /// The lookup rows, one batch, and each row's network, sorted by start.
    lookup: RecordBatch,
    networks: Vec<(u128, u128, u32)>,
    /// For each position in `networks`, the largest end up to it: the backward scan stops early.
    max_end: Vec<u128>,
    source_key: usize,
    /// Extra equality keys: input column, lookup column.
    extra_keys: Vec<(usize, usize)>,
    extra_types: Vec<KqlType>,
    return_unmatched: bool,
}

impl IpLookup {
    fn candidates(&self, address: u128) -> impl Iterator<Item = u32> + '_ {
        let upper = self.networks.partition_point(|(start, _, _)| *start <= address);
        (0..upper)
            .rev()
            .take_while(move |&i| self.max_end[i] >= address)
            .filter(move |&i| self.networks[i].1 >= address)
            .map(|i| self.networks[i].2)
    }
}

impl Transform for IpLookup {
    fn name(&self) -> &str {
        "IpLookup"
    }

    fn per_batch(&self) -> bool {
        true
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let lookup_readers: Vec<ColumnReader> = self
            .extra_keys
            .iter()
            .zip(&self.extra_types)
            .map(|((_, column), ty)| ColumnReader::new(self.lookup.column(*column), *ty))
            .collect::<Result<_>>()?;
        let mut output = Vec::with_capacity(batches.len());
        for batch in batches {
            let source = ColumnReader::new(batch.column(self.source_key), KqlType::String)?;
            let input_readers: Vec<ColumnReader> = self
                .extra_keys
                .iter()
                .zip(&self.extra_types)
                .map(|((column, _), ty)| ColumnReader::new(batch.column(*column), *ty))
                .collect::<Result<_>>()?;
            let mut input_rows: Vec<u32> = Vec::new();
            let mut lookup_rows: Vec<Option<u32>> = Vec::new();
            for row in 0..batch.num_rows() {
                let address = match source.value(row) {
                    Value::String(text) => self.family.range(&text).map(|(start, _)| start),
                    _ => None,
                };
                let mut matched = false;
                if let Some(address) = address {
                    for candidate in self.candidates(address) {
                        let keys_equal = input_readers
                            .iter()
                            .zip(&lookup_readers)
                            .all(|(i, l)| i.value(row) == l.value(candidate as usize));
                        if keys_equal {
                            matched = true;
                            input_rows.push(row as u32);
                            lookup_rows.push(Some(candidate));
                        }
                    }
                }
                if !matched && self.return_unmatched {
                    input_rows.push(row as u32);
                    lookup_rows.push(None);
                }
            }
            let input_indices = UInt32Array::from(input_rows);
            let lookup_indices = UInt32Array::from(lookup_rows);
            let mut input_columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for column in batch.columns() {
                input_columns.push(take(column.as_ref(), &input_indices, None)?);
            }
            let mut lookup_columns: Vec<ArrayRef> = Vec::new();
            for column in self.lookup.columns() {
                lookup_columns.push(take(column.as_ref(), &lookup_indices, None)?);
            }
            let columns: Vec<ArrayRef> = match self.family.lookup_first() {
                true => lookup_columns.into_iter().chain(input_columns).collect(),
                false => input_columns.into_iter().chain(lookup_columns).collect(),
            };
            let columns = columns
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| conform(column, field))
                .collect::<Result<Vec<_>>>()?;
            output.push(RecordBatch::try_new(schema.clone(), columns)?);
        }
        Ok(output)
    }
}

impl Binder<'_> {
    pub(crate) fn ip_lookup(
        &mut self,
        family: Family,
        input: Relation,
        args: &[ast::Argument],
        span: Span,
    ) -> BindResult<Relation> {
        let plugin = if family == Family::V4 { "ipv4_lookup" } else { "ipv6_lookup" };
        let usage = || {
            BindError::new(
                Code::BadArguments,
                span,
                format!("{plugin}() takes a lookup table, the input's address column and the table's network column"),
            )
        };
        let [table, source_key, lookup_key, rest @ ..] = args else { return Err(usage()) };
        let lookup = self.bind_tabular(&table.value)?;
        let column_of = |relation: &Relation, arg: &ast::Argument| match &arg.value.kind {
            ExprKind::Name(name) => relation
                .index_of(&name.name)
                .ok_or_else(|| super::operators::unknown_column(&name.name, name.span, relation)),
            _ => Err(usage()),
        };
        let source_index = column_of(&input, source_key)?;
        let lookup_index = column_of(&lookup, lookup_key)?;
        let mut extra_keys = Vec::new();
        let mut return_unmatched = false;
        for arg in rest {
            let named_flag = arg.name.as_ref().is_some_and(|n| n.name == "return_unmatched");
            if let (ExprKind::Name(_), false, Family::V4) = (&arg.value.kind, named_flag, family) {
                extra_keys.push((column_of(&input, arg)?, column_of(&lookup, arg)?));
                continue;
            }
            let bound = self.bind_expr(&arg.value, &Row::default())?;
            match self.fold_constant(bound).constant {
                Some(Value::Bool(flag)) => return_unmatched = flag,
                _ => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        arg.value.span,
                        "return_unmatched must be a constant bool",
                    ));
                }
            }
        }
        let mut lookup_columns: Vec<KqlColumn> = Vec::new();
        for column in &lookup.columns {
            let taken = |n: &str| input.columns.iter().chain(&lookup_columns).any(|c| c.name == n);
            let name = crate::relation::unique_name(&column.name, taken);
            lookup_columns.push(KqlColumn::new(name, column.ty));
        }
        let columns: Vec<KqlColumn> = match family.lookup_first() {
            true => lookup_columns.into_iter().chain(input.columns.iter().cloned()).collect(),
            false => input.columns.iter().cloned().chain(lookup_columns).collect(),
        };
        let schema = vigil_kql_functions::types::arrow_schema(&columns);
        let Some(executor) = self.executor else {
            return self.relation_of_rows(columns, &[]);
        };
        let batches = executor.collect(lookup.plan.clone()).map_err(BindError::plan)?;
        let lookup_schema = vigil_kql_functions::types::arrow_schema(&lookup.columns);
        let lookup_batch = datafusion::arrow::compute::concat_batches(&lookup_schema, &batches)
            .map_err(|e| BindError::plan(e.into()))?;
        if lookup_batch.num_rows() > LOOKUP_ROW_LIMIT {
            return Err(BindError::new(
                Code::BadArguments,
                table.value.span,
                format!(
                    "the lookup table of {plugin}() has {} rows; the limit is {LOOKUP_ROW_LIMIT}",
                    lookup_batch.num_rows()
                ),
            ));
        }
        let keys = ColumnReader::new(lookup_batch.column(lookup_index), KqlType::String).map_err(BindError::plan)?;
        let mut networks: Vec<(u128, u128, u32)> = (0..lookup_batch.num_rows())
            .filter_map(|row| match keys.value(row) {
                Value::String(text) => family.range(&text).map(|(start, end)| (start, end, row as u32)),
                _ => None,
            })
            .collect();
        networks.sort_unstable();
        let max_end = networks
            .iter()
            .scan(0u128, |max, (_, end, _)| {
                *max = (*max).max(*end);
                Some(*max)
            })
            .collect();
        let extra_types = extra_keys.iter().map(|(i, _)| input.columns[*i].ty).collect();
        let transform = IpLookup {
            family,
            lookup: lookup_batch,
            networks,
            max_end,
            source_key: source_index,
            extra_keys,
            extra_types,
            return_unmatched,
        };
        let plan = TransformNode::plan(
            input.plan.clone(),
            Arc::new(DFSchema::try_from(schema.as_ref().clone()).map_err(BindError::plan)?),
            Arc::new(transform),
        );
        Ok(Relation::new(plan, columns))
    }
}
