//! KQL's aggregate functions. Those DataFusion has (count, sum, min, max, avg, stdev...) map
//! onto its native, vectorized implementations; the rest are row-at-a-time `KqlUdaf`s.

mod arg_extreme;
mod collect;
mod distinct;

pub use collect::weighted_percentile;

use std::sync::Arc;

use datafusion::functions::core::expr_fn::{coalesce, get_field};
use datafusion::functions_aggregate::expr_fn as df;
use datafusion::logical_expr::{Cast, Expr, lit};

use crate::registry::{AggregateOutput, Arg, Registry};
use crate::scalar::arg_as;
use crate::types::KqlType;
use crate::udaf::KqlUdaf;

use KqlType::{Dynamic, Long, Real};

/// A single output whose type and name follow from the function.
fn one(aggregate: Expr, ty: KqlType) -> Vec<AggregateOutput> {
    vec![AggregateOutput { aggregate, finish: None, ty, name: None }]
}

/// A builtin aggregate expression with an optional filter (for the `*if` variants).
fn with_filter(aggregate: Expr, filter: Option<Expr>) -> Expr {
    match (aggregate, filter) {
        (Expr::AggregateFunction(mut function), Some(filter)) => {
            function.params.filter = Some(Box::new(filter));
            Expr::AggregateFunction(function)
        }
        (aggregate, _) => aggregate,
    }
}

fn predicate(arg: &Arg) -> Expr {
    crate::scalar::conversion::predicate_expr(arg)
}

fn count_all() -> Expr {
    df::count(lit(1i64))
}

/// Sum's result type: integers widen to long.
fn sum_type(ty: KqlType) -> Result<KqlType, String> {
    match ty {
        KqlType::Int | KqlType::Long | KqlType::Bool => Ok(Long),
        KqlType::Real | KqlType::Dynamic => Ok(Real),
        KqlType::Decimal => Ok(KqlType::Decimal),
        KqlType::Timespan => Ok(KqlType::Timespan),
        other => Err(format!("sum() cannot add {other} values")),
    }
}

fn sum_output(arg: &Arg, filter: Option<Expr>) -> Result<Vec<AggregateOutput>, String> {
    let ty = sum_type(arg.ty)?;
    let input = match ty {
        KqlType::Timespan => {
            Expr::Cast(Cast::new(Box::new(arg.expr.clone()), datafusion::arrow::datatypes::DataType::Int64))
        }
        _ => arg_as(arg, ty),
    };
    let aggregate = with_filter(df::sum(input), filter);
    let finish: Option<crate::registry::Finish> = match ty {
        KqlType::Timespan => Some(Arc::new(|e: Expr| Expr::Cast(Cast::new(Box::new(e), KqlType::Timespan.arrow())))),
        _ => None,
    };
    Ok(vec![AggregateOutput { aggregate, finish, ty, name: None }])
}

fn avg_output(arg: &Arg, filter: Option<Expr>) -> Result<Vec<AggregateOutput>, String> {
    match arg.ty {
        KqlType::DateTime | KqlType::Timespan => {
            let ty = arg.ty;
            let input =
                Expr::Cast(Cast::new(Box::new(arg.expr.clone()), datafusion::arrow::datatypes::DataType::Int64));
            let aggregate = with_filter(df::avg(input), filter);
            let finish: crate::registry::Finish = Arc::new(move |e: Expr| {
                Expr::Cast(Cast::new(
                    Box::new(Expr::Cast(Cast::new(Box::new(e), datafusion::arrow::datatypes::DataType::Int64))),
                    ty.arrow(),
                ))
            });
            Ok(vec![AggregateOutput { aggregate, finish: Some(finish), ty, name: None }])
        }
        ty if ty.is_numeric() || ty == Dynamic || ty == KqlType::Bool => {
            Ok(one(with_filter(df::avg(arg_as(arg, Real)), filter), Real))
        }
        other => Err(format!("avg() cannot average {other} values")),
    }
}

fn extreme_output(arg: &Arg, filter: Option<Expr>, max: bool) -> Result<Vec<AggregateOutput>, String> {
    let ty = if arg.ty == Dynamic { Real } else { arg.ty };
    let input = arg_as(arg, ty);
    let aggregate = if max { df::max(input) } else { df::min(input) };
    let finish: Option<crate::registry::Finish> =
        if ty == KqlType::String { Some(Arc::new(|e: Expr| coalesce(vec![e, lit("")]))) } else { None };
    Ok(vec![AggregateOutput { aggregate: with_filter(aggregate, filter), finish, ty, name: None }])
}

fn real_statistic(arg: &Arg, filter: Option<Expr>, statistic: fn(Expr) -> Expr) -> Vec<AggregateOutput> {
    one(with_filter(statistic(arg_as(arg, Real)), filter), Real)
}

/// Members of a struct-valued aggregate as separate outputs.
fn struct_outputs(aggregate: Expr, members: &[(String, KqlType)], names: Vec<Option<String>>) -> Vec<AggregateOutput> {
    members
        .iter()
        .zip(names)
        .map(|((member, ty), name)| {
            let member = member.clone();
            let finish: crate::registry::Finish = Arc::new(move |e: Expr| get_field(e, member.as_str()));
            AggregateOutput { aggregate: aggregate.clone(), finish: Some(finish), ty: *ty, name }
        })
        .collect()
}

fn dcount(arg: &Arg) -> Expr {
    datafusion::logical_expr::AggregateUDF::new_from_impl(distinct::DistinctCount::new()).call(vec![arg.expr.clone()])
}

pub fn register(r: &mut Registry) {
    // `count(x)` counts every row, null `x` included, as `count()` does (the summarize page says so).
    r.aggregate("count", 0..=1, "The number of rows.", |_, _, _| Ok(one(count_all(), Long)));
    r.aggregate("countif", 1..=1, "The number of rows where a predicate holds.", |_, a, _| {
        Ok(one(with_filter(count_all(), Some(predicate(&a[0]))), Long))
    });
    r.aggregate("dcount", 1..=2, "The number of distinct values.", |_, a, _| Ok(one(dcount(&a[0]), Long)));
    r.aggregate("dcountif", 2..=3, "The number of distinct values where a predicate holds.", |_, a, _| {
        Ok(one(with_filter(dcount(&a[0]), Some(predicate(&a[1]))), Long))
    });
    r.aggregate("count_distinct", 1..=1, "The exact number of distinct values.", |_, a, _| {
        Ok(one(df::count_distinct(a[0].expr.clone()), Long))
    });
    r.aggregate(
        "count_distinctif",
        2..=2,
        "The exact number of distinct values where a predicate holds.",
        |_, a, _| Ok(one(with_filter(df::count_distinct(a[0].expr.clone()), Some(predicate(&a[1]))), Long)),
    );
    r.aggregate("sum", 1..=1, "The sum of the values.", |_, a, _| sum_output(&a[0], None));
    r.aggregate("sumif", 2..=2, "The sum of the values where a predicate holds.", |_, a, _| {
        sum_output(&a[0], Some(predicate(&a[1])))
    });
    r.aggregate("avg", 1..=1, "The average of the values.", |_, a, _| avg_output(&a[0], None));
    r.aggregate("avgif", 2..=2, "The average of the values where a predicate holds.", |_, a, _| {
        avg_output(&a[0], Some(predicate(&a[1])))
    });
    r.aggregate("max", 1..=1, "The largest value.", |_, a, _| extreme_output(&a[0], None, true));
    r.aggregate("maxif", 2..=2, "The largest value where a predicate holds.", |_, a, _| {
        extreme_output(&a[0], Some(predicate(&a[1])), true)
    });
    r.aggregate("min", 1..=1, "The smallest value.", |_, a, _| extreme_output(&a[0], None, false));
    r.aggregate("minif", 2..=2, "The smallest value where a predicate holds.", |_, a, _| {
        extreme_output(&a[0], Some(predicate(&a[1])), false)
    });
    r.aggregate("stdev", 1..=1, "The sample standard deviation.", |_, a, _| {
        Ok(real_statistic(&a[0], None, df::stddev))
    });
    r.aggregate("stdevif", 2..=2, "The sample standard deviation where a predicate holds.", |_, a, _| {
        Ok(real_statistic(&a[0], Some(predicate(&a[1])), df::stddev))
    });
    r.aggregate("stdevp", 1..=1, "The population standard deviation.", |_, a, _| {
        Ok(real_statistic(&a[0], None, df::stddev_pop))
    });
    r.aggregate("stdevpif", 2..=2, "The population standard deviation where a predicate holds.", |_, a, _| {
        Ok(real_statistic(&a[0], Some(predicate(&a[1])), df::stddev_pop))
    });
    r.aggregate("variance", 1..=1, "The sample variance.", |_, a, _| Ok(real_statistic(&a[0], None, df::var_sample)));
    r.aggregate("varianceif", 2..=2, "The sample variance where a predicate holds.", |_, a, _| {
        Ok(real_statistic(&a[0], Some(predicate(&a[1])), df::var_sample))
    });
    r.aggregate("variancep", 1..=1, "The population variance.", |_, a, _| Ok(real_statistic(&a[0], None, df::var_pop)));
    r.aggregate("variancepif", 2..=2, "The population variance where a predicate holds.", |_, a, _| {
        Ok(real_statistic(&a[0], Some(predicate(&a[1])), df::var_pop))
    });
    r.aggregate("covariance", 2..=2, "The sample covariance of two series.", |_, a, _| {
        Ok(one(df::covar_samp(arg_as(&a[0], Real), arg_as(&a[1], Real)), Real))
    });
    r.aggregate("covariancep", 2..=2, "The population covariance of two series.", |_, a, _| {
        Ok(one(df::covar_pop(arg_as(&a[0], Real), arg_as(&a[1], Real)), Real))
    });
    r.aggregate("covarianceif", 3..=3, "The sample covariance where a predicate holds.", |_, a, _| {
        Ok(one(with_filter(df::covar_samp(arg_as(&a[0], Real), arg_as(&a[1], Real)), Some(predicate(&a[2]))), Real))
    });
    r.aggregate("covariancepif", 3..=3, "The population covariance where a predicate holds.", |_, a, _| {
        Ok(one(with_filter(df::covar_pop(arg_as(&a[0], Real), arg_as(&a[1], Real)), Some(predicate(&a[2]))), Real))
    });
    macro_rules! bits {
        ($($name:literal => $f:expr;)*) => {$(
            r.aggregate($name, 1..=1, "Bitwise aggregate of integers.", |_, a, _| {
                let ty = if a[0].ty == KqlType::Int { KqlType::Int } else { Long };
                Ok(one($f(arg_as(&a[0], ty)), ty))
            });
        )*};
    }
    bits! {
        "binary_all_and" => df::bit_and;
        "binary_all_or" => df::bit_or;
        "binary_all_xor" => df::bit_xor;
    }
    collect::register(r);
}

/// An aggregate call with a row-at-a-time implementation, with a filter for `*if` variants.
pub(crate) fn udaf_call(udaf: KqlUdaf, args: &[Arg], filter: Option<&Arg>) -> Expr {
    udaf.call(args.iter().map(|a| a.expr.clone()).collect(), filter.map(predicate))
}

/// A grouped accumulator that can be asked to hold one group even before any row arrives.
trait OneGroup: datafusion::logical_expr::GroupsAccumulator + std::fmt::Debug + Sync {
    fn ensure_one_group(&mut self);
}

/// A grouped accumulator as the ungrouped form: every row in group 0.
#[derive(Debug)]
struct SingleGroup<G>(G);

impl<G: OneGroup> datafusion::logical_expr::Accumulator for SingleGroup<G> {
    fn update_batch(&mut self, values: &[datafusion::arrow::array::ArrayRef]) -> datafusion::common::Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> datafusion::common::Result<datafusion::common::ScalarValue> {
        self.0.ensure_one_group();
        let array = self.0.evaluate(datafusion::logical_expr::EmitTo::All)?;
        datafusion::common::ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<datafusion::common::ScalarValue>> {
        self.0.ensure_one_group();
        let state = self.0.state(datafusion::logical_expr::EmitTo::All)?;
        state.iter().map(|array| datafusion::common::ScalarValue::try_from_array(array, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[datafusion::arrow::array::ArrayRef]) -> datafusion::common::Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
}
