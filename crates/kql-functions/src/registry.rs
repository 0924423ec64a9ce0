//! The registry of KQL functions: what the binder resolves names against, and what the
//! console's completion list and the function reference are generated from.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use datafusion::logical_expr::Expr;

use crate::types::KqlType;
use crate::value::Value;

/// An expression with its KQL type: what binding a KQL expression produces.
#[derive(Debug, Clone)]
pub struct TypedExpr {
    pub expr: Expr,
    pub ty: KqlType,
}

impl TypedExpr {
    pub fn new(expr: Expr, ty: KqlType) -> TypedExpr {
        TypedExpr { expr, ty }
    }
}

/// A bound argument of a function call.
#[derive(Debug, Clone)]
pub struct Arg {
    pub expr: Expr,
    pub ty: KqlType,
    /// The value, when it is known while planning (a literal, or a constant expression).
    pub constant: Option<Value>,
    /// `typeof(T)` arguments carry the type they name.
    pub type_literal: Option<KqlType>,
}

impl Arg {
    pub fn typed(&self) -> TypedExpr {
        TypedExpr::new(self.expr.clone(), self.ty)
    }

    /// The constant value of the argument as text (for patterns, formats, units).
    pub fn constant_str(&self) -> Option<String> {
        self.constant.as_ref().filter(|v| !v.is_null()).map(Value::to_kql_string)
    }

    pub fn constant_i64(&self) -> Option<i64> {
        self.constant.as_ref().and_then(Value::as_i64)
    }

    pub fn constant_f64(&self) -> Option<f64> {
        self.constant.as_ref().and_then(Value::as_f64)
    }
}

/// What binding needs to know about the query being bound.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// `now()` for the whole query, in nanoseconds since the epoch: KQL evaluates it once.
    pub now: i64,
    /// The identity `current_principal()` reports.
    pub principal: String,
}

/// How a call names its result column when the query does not (Kusto's ResultNameKind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultNaming {
    /// `Column1`, `print_0`...
    None,
    /// The first argument's name (`bin(Timestamp, 1h)` is `Timestamp`).
    FirstArgument,
    /// `prefix_` + the first argument's name (`make_set(x)` is `set_x`).
    PrefixAndFirstArgument(&'static str),
    /// The function's name + `_` + the first argument's name (`sum(x)` is `sum_x`).
    NameAndFirstArgument,
    /// Like `NameAndFirstArgument`, but only when there is exactly one argument.
    NameAndOnlyArgument,
    /// Like `PrefixAndFirstArgument`, but only when there is exactly one argument.
    PrefixAndOnlyArgument(&'static str),
    /// Only when there is exactly one argument: that argument's name.
    OnlyArgument,
    /// The fixed prefix alone (`count()` is `count_`).
    PrefixOnly(&'static str),
}

pub type BindScalar = fn(&CallContext, Vec<Arg>) -> Result<TypedExpr, String>;

pub struct ScalarFunction {
    pub name: &'static str,
    pub min_args: usize,
    /// `usize::MAX` for variadic functions.
    pub max_args: usize,
    pub naming: ResultNaming,
    /// Functions that return several columns (`series_stats`) bind to a dynamic property bag
    /// with these members; the binder expands it into columns named after them.
    pub tuple: Option<&'static [(&'static str, KqlType)]>,
    pub summary: &'static str,
    pub bind: BindScalar,
}

/// A scalar expression applied to an aggregate's result column after aggregation.
pub type Finish = std::sync::Arc<dyn Fn(Expr) -> Expr + Send + Sync>;

/// One output column of an aggregate call.
#[derive(Clone)]
pub struct AggregateOutput {
    /// The DataFusion aggregate expression.
    pub aggregate: Expr,
    /// Applied to the aggregate's result (`None`: the aggregate's value is the output as is).
    pub finish: Option<Finish>,
    pub ty: KqlType,
    /// The column name when the query gives none, if the function names its outputs itself
    /// (`arg_max` names them after its arguments; `percentiles` as `percentile_x_50`).
    pub name: Option<String>,
}

impl std::fmt::Debug for AggregateOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateOutput")
            .field("aggregate", &self.aggregate)
            .field("ty", &self.ty)
            .field("name", &self.name)
            .finish()
    }
}

pub type BindAggregate = fn(&CallContext, Vec<Arg>, &[Option<String>]) -> Result<Vec<AggregateOutput>, String>;

pub struct AggregateFunction {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    pub naming: ResultNaming,
    pub summary: &'static str,
    pub bind: BindAggregate,
}

/// Names the KQL reference lists as deprecated, still accepted by Kusto, and their current names.
const DEPRECATED_NAMES: [(&str, &str); 10] = [
    ("argmax", "arg_max"),
    ("argmin", "arg_min"),
    ("array_strcat", "strcat_array"),
    ("arraylength", "array_length"),
    ("datepart", "datetime_part"),
    ("extractall", "extract_all"),
    ("make_string", "unicode_codepoints_to_string"),
    ("parsejson", "parse_json"),
    ("parseurl", "parse_url"),
    ("parseurlquery", "parse_urlquery"),
];

#[derive(Default)]
pub struct Registry {
    scalars: BTreeMap<&'static str, ScalarFunction>,
    aggregates: BTreeMap<&'static str, AggregateFunction>,
}

impl Registry {
    pub fn global() -> &'static Registry {
        static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
            let mut registry = Registry::default();
            crate::scalar::register(&mut registry);
            crate::aggregate::register(&mut registry);
            for (old, current) in DEPRECATED_NAMES {
                registry.alias(old, current);
            }
            registry
        });
        &REGISTRY
    }

    /// Adds a scalar function. Panics on a duplicate name: that is a bug in the library.
    pub fn scalar(
        &mut self,
        name: &'static str,
        args: std::ops::RangeInclusive<usize>,
        summary: &'static str,
        bind: BindScalar,
    ) {
        self.add_scalar(name, args, None, summary, bind);
    }

    /// Adds a scalar function that returns several columns.
    pub fn scalar_tuple(
        &mut self,
        name: &'static str,
        args: std::ops::RangeInclusive<usize>,
        summary: &'static str,
        tuple: &'static [(&'static str, KqlType)],
        bind: BindScalar,
    ) {
        self.add_scalar(name, args, Some(tuple), summary, bind);
    }

    fn add_scalar(
        &mut self,
        name: &'static str,
        args: std::ops::RangeInclusive<usize>,
        tuple: Option<&'static [(&'static str, KqlType)]>,
        summary: &'static str,
        bind: BindScalar,
    ) {
        let function = ScalarFunction {
            name,
            min_args: *args.start(),
            max_args: *args.end(),
            naming: crate::naming::scalar_naming(name),
            tuple,
            summary,
            bind,
        };
        let previous = self.scalars.insert(name, function);
        assert!(previous.is_none(), "scalar function {name} is registered twice");
    }

    pub fn aggregate(
        &mut self,
        name: &'static str,
        args: std::ops::RangeInclusive<usize>,
        summary: &'static str,
        bind: BindAggregate,
    ) {
        let function = AggregateFunction {
            name,
            min_args: *args.start(),
            max_args: *args.end(),
            naming: crate::naming::aggregate_naming(name),
            summary,
            bind,
        };
        let previous = self.aggregates.insert(name, function);
        assert!(previous.is_none(), "aggregate function {name} is registered twice");
    }

    /// Adds `alias` as another name of the function `target`, which it names its results like.
    /// Panics if `target` does not exist: that is a bug in the library.
    pub fn alias(&mut self, alias: &'static str, target: &str) {
        if let Some(function) = self.scalars.get(target) {
            let function = ScalarFunction { name: alias, ..*function };
            let previous = self.scalars.insert(alias, function);
            assert!(previous.is_none(), "scalar function {alias} is registered twice");
        } else if let Some(function) = self.aggregates.get(target) {
            let function = AggregateFunction { name: alias, ..*function };
            let previous = self.aggregates.insert(alias, function);
            assert!(previous.is_none(), "aggregate function {alias} is registered twice");
        } else {
            panic!("{alias} is an alias of {target}, which is not a function");
        }
    }

    pub fn scalar_function(&self, name: &str) -> Option<&ScalarFunction> {
        self.scalars.get(name)
    }

    pub fn aggregate_function(&self, name: &str) -> Option<&AggregateFunction> {
        self.aggregates.get(name)
    }

    pub fn scalar_functions(&self) -> impl Iterator<Item = &ScalarFunction> {
        self.scalars.values()
    }

    pub fn aggregate_functions(&self) -> impl Iterator<Item = &AggregateFunction> {
        self.aggregates.values()
    }

    /// Every function name, for "did you mean" suggestions and completion.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.scalars.keys().chain(self.aggregates.keys()).copied()
    }
}

/// "expects 2 arguments", "expects 1 to 3 arguments", "expects at least 2 arguments".
pub fn describe_arity(min: usize, max: usize) -> String {
    match (min, max) {
        (min, max) if min == max => format!("{min} argument{}", if min == 1 { "" } else { "s" }),
        (min, usize::MAX) => format!("at least {min} argument{}", if min == 1 { "" } else { "s" }),
        (min, max) => format!("{min} to {max} arguments"),
    }
}
