//! Aggregates that collect values: lists, sets, bags, one row's values (`arg_max`,
//! `take_any`), percentiles, digests and distinct-count sketches.
//!
//! Digests and sketches are exact here: `tdigest` keeps the weighted values and `hll` the
//! distinct values, so `percentile_tdigest` and `dcount_hll` give exact answers. That trades
//! memory for accuracy on very large groups.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::logical_expr::Expr;
use serde_json::{Map, Value as Json};

use super::{one, struct_outputs, udaf_call};
use crate::registry::{AggregateOutput, Arg, Registry, TypedExpr};
use crate::scalar::call_row;
use crate::types::KqlType;
use crate::udaf::{AggregateResult, AggregateValue, KqlUdaf, RowAggregate};
use crate::value::{Value, real_json};

use KqlType::{Dynamic, Long, Real};

const DEFAULT_MAX_SIZE: usize = 1_048_576;

fn max_size(arg: Option<&Arg>) -> usize {
    arg.and_then(Arg::constant_i64).and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_MAX_SIZE)
}

#[derive(Debug)]
struct MakeList {
    items: Vec<Json>,
    limit: usize,
    keep_nulls: bool,
}

impl RowAggregate for MakeList {
    fn update(&mut self, args: &[Value]) {
        if self.items.len() < self.limit && (self.keep_nulls || !args[0].is_null()) {
            self.items.push(args[0].to_json());
        }
    }
    fn state(&self) -> Json {
        Json::Array(self.items.clone())
    }
    fn merge(&mut self, state: &Json) {
        if let Json::Array(items) = state {
            let room = self.limit.saturating_sub(self.items.len());
            self.items.extend(items.iter().take(room).cloned());
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(Value::Dynamic(Json::Array(self.items.clone())))
    }
    fn size(&self) -> usize {
        self.items.len() * 32
    }
}

#[derive(Debug)]
struct MakeSet {
    items: Vec<Json>,
    seen: HashSet<String>,
    limit: usize,
}

impl MakeSet {
    fn add(&mut self, item: &Json) {
        if self.items.len() < self.limit && self.seen.insert(item.to_string()) {
            self.items.push(item.clone());
        }
    }
}

impl RowAggregate for MakeSet {
    fn update(&mut self, args: &[Value]) {
        match args[0].to_json() {
            Json::Null => {}
            Json::Array(items) => items.iter().for_each(|i| self.add(i)),
            item => self.add(&item),
        }
    }
    fn state(&self) -> Json {
        Json::Array(self.items.clone())
    }
    fn merge(&mut self, state: &Json) {
        if let Json::Array(items) = state {
            items.iter().for_each(|i| self.add(i));
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(Value::Dynamic(Json::Array(self.items.clone())))
    }
    fn size(&self) -> usize {
        self.items.len() * 64
    }
}

#[derive(Debug)]
struct MakeBag {
    bag: Map<String, Json>,
    limit: usize,
}

impl MakeBag {
    fn add(&mut self, map: &Map<String, Json>) {
        for (key, value) in map {
            if self.bag.len() >= self.limit {
                return;
            }
            self.bag.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

impl RowAggregate for MakeBag {
    fn update(&mut self, args: &[Value]) {
        if let Json::Object(map) = args[0].to_json() {
            self.add(&map);
        }
    }
    fn state(&self) -> Json {
        Json::Object(self.bag.clone())
    }
    fn merge(&mut self, state: &Json) {
        if let Json::Object(map) = state {
            self.add(map);
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(Value::Dynamic(Json::Object(self.bag.clone())))
    }
    fn size(&self) -> usize {
        self.bag.len() * 64
    }
}

/// The values of one row, for `take_any`: the first row whose first value is not null, or
/// the first row when all are null.
#[derive(Debug)]
struct PickRow {
    best: Option<Vec<Value>>,
}

impl PickRow {
    fn better(&self, candidate: &[Value]) -> bool {
        match &self.best {
            None => true,
            Some(best) => best[0].is_null() && !candidate[0].is_null(),
        }
    }
}

impl RowAggregate for PickRow {
    fn update(&mut self, args: &[Value]) {
        if self.better(args) {
            self.best = Some(args.to_vec());
        }
    }
    fn state(&self) -> Json {
        match &self.best {
            Some(values) => Json::Array(values.iter().map(encode_value).collect()),
            None => Json::Null,
        }
    }
    fn merge(&mut self, state: &Json) {
        if let Json::Array(items) = state {
            let values: Vec<Value> = items.iter().map(decode_value).collect();
            if self.better(&values) {
                self.best = Some(values);
            }
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::Members(self.best.clone().unwrap_or_default())
    }
    fn size(&self) -> usize {
        64 * self.best.as_ref().map_or(0, Vec::len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Max,
    Min,
    Any,
}

/// A value with its type, so that a partial state keeps datetimes as datetimes.
fn encode_value(value: &Value) -> Json {
    let (tag, json) = match value {
        Value::Null => ("n", Json::Null),
        Value::Bool(v) => ("b", Json::Bool(*v)),
        Value::Int(v) => ("i", Json::from(*v)),
        Value::Long(v) => ("l", Json::from(*v)),
        Value::Real(v) => ("r", real_json(*v)),
        Value::Decimal(v) => ("m", Json::String(v.to_string())),
        Value::String(s) => ("s", Json::String(s.clone())),
        Value::DateTime(v) => ("d", Json::from(*v)),
        Value::Timespan(v) => ("t", Json::from(*v)),
        Value::Guid(s) => ("g", Json::String(s.clone())),
        Value::Dynamic(json) => ("y", json.clone()),
    };
    Json::Array(vec![Json::String(tag.into()), json])
}

fn decode_value(json: &Json) -> Value {
    let Json::Array(pair) = json else { return Value::Null };
    let (Some(Json::String(tag)), Some(value)) = (pair.first(), pair.get(1)) else { return Value::Null };
    match tag.as_str() {
        "b" => value.as_bool().map(Value::Bool),
        "i" => value.as_i64().map(|v| Value::Int(v as i32)),
        "l" => value.as_i64().map(Value::Long),
        "r" => value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).map(Value::Real),
        "m" => value.as_str().and_then(|s| s.parse().ok()).map(Value::Decimal),
        "s" => value.as_str().map(|s| Value::String(s.to_string())),
        "d" => value.as_i64().map(Value::DateTime),
        "t" => value.as_i64().map(Value::Timespan),
        "g" => value.as_str().map(|s| Value::Guid(s.to_string())),
        "y" => Some(Value::Dynamic(value.clone())),
        _ => None,
    }
    .unwrap_or(Value::Null)
}

/// Weighted values for percentiles and digests.
#[derive(Debug, Default)]
struct Weighted {
    values: Vec<(f64, f64)>,
}

impl Weighted {
    fn add_pairs(&mut self, state: &Json) {
        if let Json::Array(pairs) = state {
            for pair in pairs {
                if let (Some(v), Some(w)) = (pair.get(0).and_then(Json::as_f64), pair.get(1).and_then(Json::as_f64)) {
                    self.values.push((v, w));
                }
            }
        }
    }

    fn state(&self) -> Json {
        Json::Array(self.values.iter().map(|(v, w)| Json::Array(vec![real_json(*v), real_json(*w)])).collect())
    }
}

/// The nearest-rank percentile of weighted values: the smallest value whose cumulative
/// weight reaches `p` percent of the total.
pub fn weighted_percentile(values: &mut [(f64, f64)], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|(_, w)| w).sum();
    let rank = (p / 100.0 * total).ceil().max(1.0);
    let mut cumulative = 0.0;
    for (value, weight) in values.iter() {
        cumulative += weight;
        if cumulative >= rank - 1e-9 {
            return Some(*value);
        }
    }
    values.last().map(|(v, _)| *v)
}

#[derive(Debug)]
struct Percentiles {
    weighted: Weighted,
    percents: Vec<f64>,
    result: PercentileResult,
    value_type: KqlType,
}

#[derive(Debug, Clone, Copy)]
enum PercentileResult {
    Columns,
    Array,
    Digest,
}

impl RowAggregate for Percentiles {
    fn update(&mut self, args: &[Value]) {
        let Some(value) = number_of(&args[0]) else { return };
        let weight = args.get(1).and_then(Value::as_f64).unwrap_or(1.0);
        if weight > 0.0 {
            self.weighted.values.push((value, weight));
        }
    }
    fn state(&self) -> Json {
        self.weighted.state()
    }
    fn merge(&mut self, state: &Json) {
        self.weighted.add_pairs(state);
    }
    fn finish(&self) -> AggregateValue {
        let mut values = self.weighted.values.clone();
        match self.result {
            PercentileResult::Digest => {
                values.sort_by(|a, b| a.0.total_cmp(&b.0));
                AggregateValue::One(Value::Dynamic(Weighted { values }.state()))
            }
            PercentileResult::Array => {
                let items = self
                    .percents
                    .iter()
                    .map(|p| {
                        weighted_percentile(&mut values, *p)
                            .map(|v| typed_number(v, self.value_type).to_json())
                            .unwrap_or(Json::Null)
                    })
                    .collect();
                AggregateValue::One(Value::Dynamic(Json::Array(items)))
            }
            PercentileResult::Columns => AggregateValue::Members(
                self.percents
                    .iter()
                    .map(|p| {
                        weighted_percentile(&mut values, *p)
                            .map(|v| typed_number(v, self.value_type))
                            .unwrap_or(Value::Null)
                    })
                    .collect(),
            ),
        }
    }
    fn size(&self) -> usize {
        self.weighted.values.len() * 16
    }
}

/// The number a percentile works on: datetimes and timespans by their nanoseconds.
fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::DateTime(v) | Value::Timespan(v) => Some(*v as f64),
        Value::Null => None,
        other => other.as_f64(),
    }
}

fn typed_number(value: f64, ty: KqlType) -> Value {
    match ty {
        KqlType::Int | KqlType::Long => Value::Long(value as i64),
        KqlType::DateTime => Value::DateTime(value as i64),
        KqlType::Timespan => Value::Timespan(value as i64),
        _ => Value::Real(value),
    }
}

/// The percentile result type: integers widen to long, decimals become real.
fn percentile_type(ty: KqlType) -> KqlType {
    match ty {
        KqlType::Int | KqlType::Long => Long,
        KqlType::DateTime | KqlType::Timespan => ty,
        _ => Real,
    }
}

/// `MakeValidNameFragment`: characters other than letters and digits become `_`.
fn name_fragment(text: &str) -> String {
    text.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect()
}

fn percent_arguments(args: &[Arg]) -> Result<Vec<f64>, String> {
    let mut percents = Vec::new();
    for arg in args {
        match &arg.constant {
            Some(Value::Dynamic(Json::Array(items))) => percents.extend(items.iter().filter_map(Json::as_f64)),
            Some(value) => percents.push(value.as_f64().ok_or("a percentile must be a number")?),
            None => return Err("percentiles must be constant numbers".into()),
        }
    }
    if let Some(bad) = percents.iter().find(|p| !(0.0..=100.0).contains(*p)) {
        return Err(format!("percentile {bad} is outside 0..100"));
    }
    Ok(percents)
}

fn percentiles(
    args: &[Arg],
    names: &[Option<String>],
    weighted: bool,
    result: PercentileResult,
) -> Result<Vec<AggregateOutput>, String> {
    let value_args = if weighted { &args[..2] } else { &args[..1] };
    let percent_args = &args[value_args.len()..];
    let percents = percent_arguments(percent_args)?;
    let value_type = args[0].ty;
    let result_type = percentile_type(value_type);
    let base = names.first().cloned().flatten().unwrap_or_default();
    let identity = format!("{percents:?}{weighted}");
    let factory = {
        let percents = percents.clone();
        Arc::new(move || {
            Box::new(Percentiles { weighted: Weighted::default(), percents: percents.clone(), result, value_type })
                as Box<dyn RowAggregate>
        })
    };
    let arg_types: Vec<KqlType> = value_args.iter().map(|a| a.ty).collect();
    match result {
        PercentileResult::Array => {
            let udaf = KqlUdaf::new("percentiles_array", arg_types, AggregateResult::One(Dynamic), factory)
                .with_identity(identity);
            let mut outputs = one(udaf_call(udaf, value_args, None), Dynamic);
            let prefix = if weighted { "percentile" } else { "percentiles" };
            outputs[0].name = Some(format!("{prefix}_{base}"));
            Ok(outputs)
        }
        PercentileResult::Columns => {
            let members: Vec<(String, KqlType)> =
                percents.iter().enumerate().map(|(i, _)| (format!("p{i}"), result_type)).collect();
            let udaf = KqlUdaf::new("percentiles", arg_types, AggregateResult::Struct(members.clone()), factory)
                .with_identity(identity);
            let column_names = percent_args
                .iter()
                .flat_map(|arg| match &arg.constant {
                    Some(Value::Dynamic(Json::Array(items))) => items.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                    Some(value) => vec![value.to_kql_string()],
                    None => vec![],
                })
                .map(|p| Some(format!("percentile_{base}_{}", name_fragment(&p))))
                .collect();
            Ok(struct_outputs(udaf_call(udaf, value_args, None), &members, column_names))
        }
        PercentileResult::Digest => unreachable!("digests are built by tdigest()"),
    }
}

#[derive(Debug, Default)]
struct DistinctValues {
    seen: HashSet<String>,
    items: Vec<Json>,
}

impl DistinctValues {
    fn add(&mut self, item: Json) {
        if !item.is_null() && self.seen.insert(item.to_string()) {
            self.items.push(item);
        }
    }
}

impl RowAggregate for DistinctValues {
    fn update(&mut self, args: &[Value]) {
        self.add(args[0].to_json());
    }
    fn state(&self) -> Json {
        Json::Array(self.items.clone())
    }
    fn merge(&mut self, state: &Json) {
        if let Json::Array(items) = state {
            items.iter().cloned().for_each(|i| self.add(i));
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(Value::Dynamic(Json::Array(self.items.clone())))
    }
    fn size(&self) -> usize {
        self.items.len() * 48
    }
}

/// Merges the states of other sketches (`hll_merge`, `tdigest_merge`): the arguments are
/// themselves partial states.
#[derive(Debug)]
struct MergeSketches {
    digest: bool,
    distinct: DistinctValues,
    weighted: Weighted,
}

impl RowAggregate for MergeSketches {
    fn update(&mut self, args: &[Value]) {
        let Value::Dynamic(state) = &args[0] else { return };
        self.merge(state);
    }
    fn state(&self) -> Json {
        if self.digest { self.weighted.state() } else { self.distinct.state() }
    }
    fn merge(&mut self, state: &Json) {
        if self.digest {
            self.weighted.add_pairs(state);
        } else {
            self.distinct.merge(state);
        }
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(Value::Dynamic(self.state()))
    }
    fn size(&self) -> usize {
        self.distinct.size() + self.weighted.values.len() * 16
    }
}

#[derive(Debug, Default)]
struct BuildSchema {
    schema: Option<Json>,
}

/// The schema of a JSON value: type names of scalars, bags of schemas, `indexer` for arrays.
fn schema_of(json: &Json) -> Option<Json> {
    Some(match json {
        Json::Null => return None,
        Json::Bool(_) => Json::String("bool".into()),
        Json::Number(n) if n.is_i64() || n.is_u64() => Json::String("long".into()),
        Json::Number(_) => Json::String("double".into()),
        Json::String(_) => Json::String("string".into()),
        Json::Array(items) => {
            let element = items.iter().filter_map(schema_of).reduce(merge_schemas);
            let mut bag = Map::new();
            bag.insert("`indexer`".into(), element.unwrap_or(Json::Null));
            Json::Object(bag)
        }
        Json::Object(map) => {
            Json::Object(map.iter().filter_map(|(k, v)| schema_of(v).map(|s| (k.clone(), s))).collect())
        }
    })
}

fn merge_schemas(a: Json, b: Json) -> Json {
    match (a, b) {
        (Json::Object(mut x), Json::Object(y)) => {
            for (key, value) in y {
                let merged = match x.remove(&key) {
                    Some(existing) => merge_schemas(existing, value),
                    None => value,
                };
                x.insert(key, merged);
            }
            Json::Object(x)
        }
        (a, b) if a == b => a,
        (Json::Array(mut types), b) => {
            if !types.contains(&b) {
                types.push(b);
            }
            Json::Array(types)
        }
        (a, b) => Json::Array(vec![a, b]),
    }
}

impl RowAggregate for BuildSchema {
    fn update(&mut self, args: &[Value]) {
        if let Some(schema) = schema_of(&args[0].to_json()) {
            self.merge(&schema);
        }
    }
    fn state(&self) -> Json {
        self.schema.clone().unwrap_or(Json::Null)
    }
    fn merge(&mut self, state: &Json) {
        if state.is_null() {
            return;
        }
        self.schema = Some(match self.schema.take() {
            Some(existing) => merge_schemas(existing, state.clone()),
            None => state.clone(),
        });
    }
    fn finish(&self) -> AggregateValue {
        AggregateValue::One(self.schema.clone().map(Value::Dynamic).unwrap_or(Value::Null))
    }
    fn size(&self) -> usize {
        256
    }
}

fn collector(
    name: &'static str,
    args: &[Arg],
    filter: Option<&Arg>,
    factory: impl Fn() -> Box<dyn RowAggregate> + Send + Sync + 'static,
) -> Vec<AggregateOutput> {
    let udaf = KqlUdaf::new(name, vec![args[0].ty], AggregateResult::One(Dynamic), Arc::new(factory))
        .with_identity(format!("{:?}", args.get(1).and_then(|a| a.constant.clone())));
    one(udaf_call(udaf, &args[..1], filter), Dynamic)
}

fn pick_row(
    name: &'static str,
    mode: Pick,
    args: &[Arg],
    names: &[Option<String>],
    unnamed: &str,
) -> Vec<AggregateOutput> {
    let members: Vec<(String, KqlType)> = args.iter().enumerate().map(|(i, a)| (format!("m{i}"), a.ty)).collect();
    let aggregate = match mode {
        Pick::Max | Pick::Min => {
            let udaf = datafusion::logical_expr::AggregateUDF::new_from_impl(super::arg_extreme::ArgExtreme::new(
                mode == Pick::Max,
            ));
            Expr::AggregateFunction(datafusion::logical_expr::expr::AggregateFunction::new_udf(
                Arc::new(udaf),
                args.iter().map(|a| a.expr.clone()).collect(),
                false,
                None,
                vec![],
                None,
            ))
        }
        Pick::Any => {
            let factory = Arc::new(|| Box::new(PickRow { best: None }) as Box<dyn RowAggregate>);
            let udaf = KqlUdaf::new(
                name,
                args.iter().map(|a| a.ty).collect(),
                AggregateResult::Struct(members.clone()),
                factory,
            );
            udaf_call(udaf, args, None)
        }
    };
    let column_names = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Some(n.clone().unwrap_or_else(|| if i == 0 { unnamed.to_string() } else { format!("{unnamed}arg{i}") }))
        })
        .collect();
    struct_outputs(aggregate, &members, column_names)
}

pub fn register(r: &mut Registry) {
    macro_rules! lists {
        ($($name:literal, $filter:expr, $nulls:expr;)*) => {$(
            r.aggregate($name, 1..=3, "An array of the values in the group.", |_, a, _| {
                let filter: Option<usize> = $filter;
                let limit = max_size(a.get(if filter.is_some() { 2 } else { 1 }));
                Ok(collector($name, &a, filter.map(|i| &a[i]), move || Box::new(MakeList { items: vec![], limit, keep_nulls: $nulls })))
            });
        )*};
    }
    lists! {
        "make_list", None, false;
        "makelist", None, false;
        "make_list_if", Some(1), false;
        "make_list_with_nulls", None, true;
    }
    macro_rules! sets {
        ($($name:literal, $filter:expr;)*) => {$(
            r.aggregate($name, 1..=3, "An array of the distinct values in the group.", |_, a, _| {
                let filter: Option<usize> = $filter;
                let limit = max_size(a.get(if filter.is_some() { 2 } else { 1 }));
                Ok(collector($name, &a, filter.map(|i| &a[i]), move || Box::new(MakeSet { items: vec![], seen: HashSet::new(), limit })))
            });
        )*};
    }
    sets! {
        "make_set", None;
        "makeset", None;
        "make_set_if", Some(1);
    }
    macro_rules! bags {
        ($($name:literal, $filter:expr;)*) => {$(
            r.aggregate($name, 1..=3, "A property bag merging the bags in the group.", |_, a, _| {
                let filter: Option<usize> = $filter;
                let limit = max_size(a.get(if filter.is_some() { 2 } else { 1 }));
                Ok(collector($name, &a, filter.map(|i| &a[i]), move || Box::new(MakeBag { bag: Map::new(), limit })))
            });
        )*};
    }
    bags! {
        "make_bag", None;
        "make_bag_if", Some(1);
        "make_dictionary", None;
    }
    r.aggregate("arg_max", 1..=usize::MAX, "The values of the row with the largest first argument.", |_, a, names| {
        Ok(pick_row("arg_max", Pick::Max, &a, names, "max_"))
    });
    r.aggregate("arg_min", 1..=usize::MAX, "The values of the row with the smallest first argument.", |_, a, names| {
        Ok(pick_row("arg_min", Pick::Min, &a, names, "min_"))
    });
    r.aggregate("take_any", 1..=usize::MAX, "The values of an arbitrary row.", |_, a, names| {
        let mut outputs = pick_row("take_any", Pick::Any, &a, names, "any_");
        if a.len() == 1 && names.first().cloned().flatten().is_none() {
            outputs[0].name = None;
        }
        Ok(outputs)
    });
    r.aggregate("any", 1..=usize::MAX, "The values of an arbitrary row.", |_, a, names| {
        let mut outputs = pick_row("any", Pick::Any, &a, names, "arg");
        if a.len() == 1 {
            outputs[0].name = None;
        }
        Ok(outputs)
    });
    r.aggregate("take_anyif", 2..=2, "The value of an arbitrary row where a predicate holds.", |_, a, _| {
        let members = vec![("m0".to_string(), a[0].ty)];
        let udaf = KqlUdaf::new(
            "take_anyif",
            vec![a[0].ty],
            AggregateResult::Struct(members.clone()),
            Arc::new(|| Box::new(PickRow { best: None }) as Box<dyn RowAggregate>),
        );
        Ok(struct_outputs(udaf_call(udaf, &a[..1], Some(&a[1])), &members, vec![None]))
    });
    r.aggregate("anyif", 2..=2, "The value of an arbitrary row where a predicate holds.", |_, a, _| {
        let members = vec![("m0".to_string(), a[0].ty)];
        let udaf = KqlUdaf::new(
            "anyif",
            vec![a[0].ty],
            AggregateResult::Struct(members.clone()),
            Arc::new(|| Box::new(PickRow { best: None }) as Box<dyn RowAggregate>),
        );
        Ok(struct_outputs(udaf_call(udaf, &a[..1], Some(&a[1])), &members, vec![None]))
    });
    r.aggregate("percentile", 2..=2, "The nearest-rank percentile of the values.", |_, a, names| {
        percentiles(&a, names, false, PercentileResult::Columns)
    });
    r.aggregate(
        "percentiles",
        2..=usize::MAX,
        "Nearest-rank percentiles of the values, one column each.",
        |_, a, names| percentiles(&a, names, false, PercentileResult::Columns),
    );
    r.aggregate(
        "percentiles_array",
        2..=usize::MAX,
        "Nearest-rank percentiles of the values, as an array.",
        |_, a, names| percentiles(&a, names, false, PercentileResult::Array),
    );
    r.aggregate("percentilew", 3..=3, "The weighted nearest-rank percentile.", |_, a, names| {
        percentiles(&a, names, true, PercentileResult::Columns)
    });
    r.aggregate(
        "percentilesw",
        3..=usize::MAX,
        "Weighted nearest-rank percentiles, one column each.",
        |_, a, names| percentiles(&a, names, true, PercentileResult::Columns),
    );
    r.aggregate(
        "percentilesw_array",
        3..=usize::MAX,
        "Weighted nearest-rank percentiles, as an array.",
        |_, a, names| percentiles(&a, names, true, PercentileResult::Array),
    );
    r.aggregate("tdigest", 1..=2, "A digest of the values, for percentile_tdigest().", |_, a, _| {
        let types: Vec<KqlType> = a.iter().map(|x| x.ty).collect();
        let udaf = KqlUdaf::new(
            "tdigest",
            types,
            AggregateResult::One(Dynamic),
            Arc::new(|| {
                Box::new(Percentiles {
                    weighted: Weighted::default(),
                    percents: vec![],
                    result: PercentileResult::Digest,
                    value_type: Real,
                }) as Box<dyn RowAggregate>
            }),
        );
        Ok(one(udaf_call(udaf, &a, None), Dynamic))
    });
    r.aggregate("tdigest_merge", 1..=1, "Merges digests.", |_, a, _| Ok(merge_sketches("tdigest_merge", &a, true)));
    r.aggregate("merge_tdigest", 1..=1, "Merges digests.", |_, a, _| Ok(merge_sketches("merge_tdigest", &a, true)));
    r.aggregate("hll", 1..=2, "A distinct-count sketch of the values, for dcount_hll().", |_, a, _| {
        Ok(collector("hll", &a, None, || Box::new(DistinctValues::default())))
    });
    r.aggregate("hll_if", 2..=3, "A distinct-count sketch of the values where a predicate holds.", |_, a, _| {
        Ok(collector("hll_if", &a, Some(&a[1]), || Box::new(DistinctValues::default())))
    });
    r.aggregate("hll_merge", 1..=1, "Merges distinct-count sketches.", |_, a, _| {
        Ok(merge_sketches("hll_merge", &a, false))
    });
    r.aggregate("buildschema", 1..=1, "The schema that admits every value of a dynamic column.", |_, a, _| {
        Ok(collector("buildschema", &a, None, || Box::new(BuildSchema::default())))
    });
    register_sketch_functions(r);
}

fn merge_sketches(name: &'static str, args: &[Arg], digest: bool) -> Vec<AggregateOutput> {
    let udaf = KqlUdaf::new(
        name,
        vec![Dynamic],
        AggregateResult::One(Dynamic),
        Arc::new(move || {
            Box::new(MergeSketches { digest, distinct: DistinctValues::default(), weighted: Weighted::default() })
                as Box<dyn RowAggregate>
        }),
    );
    one(udaf_call(udaf, args, None), Dynamic)
}

fn digest_pairs(value: &Value) -> Vec<(f64, f64)> {
    let mut weighted = Weighted::default();
    if let Value::Dynamic(state) = value {
        weighted.add_pairs(state);
    }
    weighted.values
}

/// `percentile_tdigest(digest, p)` over this module's exact digests.
pub fn digest_percentile(digest: &Value, p: f64) -> Option<f64> {
    weighted_percentile(&mut digest_pairs(digest), p)
}

/// `rank_tdigest(digest, value)`: the total weight of values at or below `value`.
pub fn digest_rank(digest: &Value, value: f64) -> f64 {
    digest_pairs(digest).iter().filter(|(v, _)| *v <= value).map(|(_, w)| w).sum()
}

/// The scalar functions that read digests and sketches.
fn register_sketch_functions(r: &mut Registry) {
    r.scalar("percentile_tdigest", 2..=3, "A percentile of a digest made by tdigest().", |_, a| {
        let ty = a.get(2).and_then(|t| t.type_literal).unwrap_or(Real);
        Ok(call_row("percentile_tdigest", &a[..2], &[Dynamic, Real], ty, move |v| {
            let Some(p) = v[1].as_f64() else { return Value::Null };
            digest_percentile(&v[0], p).map(|x| typed_number(x, ty)).unwrap_or(Value::Null)
        }))
    });
    r.scalar("percentiles_array_tdigest", 2..=usize::MAX, "Percentiles of a digest, as an array.", |_, a| {
        let percents = percent_arguments(&a[1..])?;
        Ok(call_row("percentiles_array_tdigest", &a[..1], &[Dynamic], Dynamic, move |v| {
            let items =
                percents.iter().map(|p| digest_percentile(&v[0], *p).map(real_json).unwrap_or(Json::Null)).collect();
            Value::Dynamic(Json::Array(items))
        }))
    });
    r.scalar("rank_tdigest", 2..=2, "The rank of a value in a digest.", |_, a| {
        Ok(call_row("rank_tdigest", &a, &[Dynamic, Real], Long, |v| match v[1].as_f64() {
            Some(x) => Value::Long(digest_rank(&v[0], x) as i64),
            None => Value::Null,
        }))
    });
    r.scalar("percentrank_tdigest", 2..=2, "The percentage rank of a value in a digest.", |_, a| {
        Ok(call_row("percentrank_tdigest", &a, &[Dynamic, Real], Real, |v| {
            let total: f64 = digest_pairs(&v[0]).iter().map(|(_, w)| w).sum();
            match v[1].as_f64() {
                Some(x) if total > 0.0 => Value::Real(digest_rank(&v[0], x) / total * 100.0),
                _ => Value::Null,
            }
        }))
    });
    r.scalar("merge_tdigest", 1..=64, "Merges digests.", |_, a| Ok(merge_sketch_values(&a, true)));
    r.scalar("tdigest_merge", 1..=64, "Merges digests.", |_, a| Ok(merge_sketch_values(&a, true)));
    r.scalar("hll_merge", 1..=64, "Merges distinct-count sketches.", |_, a| Ok(merge_sketch_values(&a, false)));
    r.scalar("dcount_hll", 1..=1, "The distinct count of a sketch made by hll().", |_, a| {
        Ok(call_row("dcount_hll", &a, &[Dynamic], Long, |v| match &v[0] {
            Value::Dynamic(Json::Array(items)) => Value::Long(items.len() as i64),
            _ => Value::Null,
        }))
    });
}

fn merge_sketch_values(args: &[Arg], digest: bool) -> TypedExpr {
    let types = vec![Dynamic; args.len()];
    call_row(if digest { "merge_tdigest" } else { "hll_merge" }, args, &types, Dynamic, move |v| {
        let mut merged = MergeSketches { digest, distinct: DistinctValues::default(), weighted: Weighted::default() };
        for value in v {
            merged.update(std::slice::from_ref(value));
        }
        Value::Dynamic(merged.state())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut values = vec![(10.0, 8.0), (20.0, 6.0), (30.0, 3.0), (40.0, 1.0)];
        assert_eq!(weighted_percentile(&mut values, 50.0), Some(20.0));
        assert_eq!(weighted_percentile(&mut values, 75.0), Some(20.0));
        assert_eq!(weighted_percentile(&mut values, 99.9), Some(40.0));
        let mut unweighted: Vec<(f64, f64)> = (1..=1000).map(|x| (f64::from(x), 1.0)).collect();
        assert_eq!(weighted_percentile(&mut unweighted, 50.0), Some(500.0));
    }

    #[test]
    fn values_survive_partial_states() {
        for value in [Value::DateTime(5), Value::Timespan(-7), Value::String("x".into()), Value::Real(1.5), Value::Null]
        {
            assert_eq!(decode_value(&encode_value(&value)), value);
        }
    }

    #[test]
    fn schemas_merge() {
        let a = schema_of(&serde_json::json!({"x": 1, "y": "a"})).unwrap();
        let b = schema_of(&serde_json::json!({"x": "s"})).unwrap();
        assert_eq!(merge_schemas(a, b), serde_json::json!({"x": ["long", "string"], "y": "string"}));
    }
}
