//! Conversions (`tostring`, `toint`, ...), conditionals (`iff`, `case`, `coalesce`) and null
//! tests.

use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{Expr, lit, when};

use super::{arg_as, call_row, call_row_as_is};
use crate::conversion::{convert, real_to_string};
use crate::dynamic::json_type_name;
use crate::registry::{Arg, Registry, TypedExpr};
use crate::types::KqlType;
use crate::value::Value;

pub fn register(r: &mut Registry) {
    r.scalar("tostring", 1..=1, "Converts a value to its string form.", |_, args| {
        let arg = &args[0];
        Ok(TypedExpr::new(
            match arg.ty {
                KqlType::Real => crate::conversion::coalesce_empty(real_to_string(arg.expr.clone())),
                KqlType::String => arg.expr.clone(),
                _ => crate::conversion::coalesce_empty(arg_as(arg, KqlType::String)),
            },
            KqlType::String,
        ))
    });
    macro_rules! conversion {
        ($($name:literal => $ty:expr),* $(,)?) => {$(
            r.scalar($name, 1..=1, "Converts a value to another type; null when it does not convert.", |_, a| {
                Ok(to(&a[0], $ty))
            });
        )*};
    }
    conversion! {
        "toint" => KqlType::Int,
        "tolong" => KqlType::Long,
        "toreal" => KqlType::Real,
        "todouble" => KqlType::Real,
        "tobool" => KqlType::Bool,
        "toboolean" => KqlType::Bool,
        "todatetime" => KqlType::DateTime,
        "totimespan" => KqlType::Timespan,
        "totime" => KqlType::Timespan,
        "toguid" => KqlType::Guid,
        "todecimal" => KqlType::Decimal,
        "todynamic" => KqlType::Dynamic,
        "toobject" => KqlType::Dynamic,
        "parse_json" => KqlType::Dynamic,
    }
    r.scalar("iff", 3..=3, "Returns the second argument when the first is true, else the third.", iff);
    r.scalar("iif", 3..=3, "Alias of iff.", iff);
    r.scalar(
        "case",
        3..=usize::MAX,
        "Returns the value of the first true predicate, else the last argument.",
        |_, args| {
            if args.len() % 2 == 0 {
                return Err("case() takes pairs of predicate and value, then a default value".into());
            }
            let values: Vec<&Arg> =
                args.iter().skip(1).step_by(2).chain(std::iter::once(&args[args.len() - 1])).collect();
            let ty = common_type(values.iter().map(|a| (a.ty, is_null_constant(a))))?;
            let mut pairs = args[..args.len() - 1].chunks(2);
            let first = pairs.next().expect("case() has at least one pair");
            let mut builder = when(predicate_expr(&first[0]), arg_as(&first[1], ty));
            for pair in pairs {
                builder = builder.when(predicate_expr(&pair[0]), arg_as(&pair[1], ty));
            }
            let default = arg_as(&args[args.len() - 1], ty);
            let expr = builder.otherwise(default).map_err(|e| e.to_string())?;
            Ok(TypedExpr::new(expr, ty))
        },
    );
    r.scalar("coalesce", 1..=64, "The first argument that is not null (or empty, for strings).", |_, args| {
        let ty = common_type(args.iter().map(|a| (a.ty, is_null_constant(a))))?;
        if ty == KqlType::String {
            let exprs: Vec<Expr> = args.iter().map(|a| arg_as(a, ty)).collect();
            let mut iter = exprs.into_iter().rev();
            let mut result = iter.next().expect("at least one argument");
            for expr in iter {
                result = when(expr.clone().not_eq(lit("")), expr).otherwise(result).map_err(|e| e.to_string())?;
            }
            return Ok(TypedExpr::new(result, ty));
        }
        Ok(TypedExpr::new(coalesce(args.iter().map(|a| arg_as(a, ty)).collect()), ty))
    });
    r.scalar("isnull", 1..=1, "True when the value is null; strings are never null.", |_, args| {
        Ok(TypedExpr::new(
            if args[0].ty == KqlType::String { lit(false) } else { args[0].expr.clone().is_null() },
            KqlType::Bool,
        ))
    });
    r.scalar("isnotnull", 1..=1, "True when the value is not null.", |_, args| {
        Ok(TypedExpr::new(
            if args[0].ty == KqlType::String { lit(true) } else { args[0].expr.clone().is_not_null() },
            KqlType::Bool,
        ))
    });
    r.scalar("notnull", 1..=1, "Alias of isnotnull.", |_, args| {
        Ok(TypedExpr::new(args[0].expr.clone().is_not_null(), KqlType::Bool))
    });
    r.scalar("isempty", 1..=1, "True when the value is null or an empty string.", |_, args| {
        Ok(TypedExpr::new(empty_test(&args[0], false), KqlType::Bool))
    });
    r.scalar("isnotempty", 1..=1, "True when the value is neither null nor an empty string.", |_, args| {
        Ok(TypedExpr::new(empty_test(&args[0], true), KqlType::Bool))
    });
    r.scalar("notempty", 1..=1, "Alias of isnotempty.", |_, args| {
        Ok(TypedExpr::new(empty_test(&args[0], true), KqlType::Bool))
    });
    r.scalar("not", 1..=1, "Logical negation.", |_, args| {
        Ok(TypedExpr::new(Expr::Not(Box::new(predicate_expr(&args[0]))), KqlType::Bool))
    });
    r.scalar("gettype", 1..=1, "The type name of a value.", |_, args| {
        let static_type = args[0].ty;
        Ok(call_row_as_is("gettype", &args, KqlType::String, move |v| {
            Value::String(
                match &v[0] {
                    Value::Dynamic(json) => json_type_name(json),
                    Value::Null if static_type == KqlType::Dynamic => "null",
                    Value::Int(_) => "int",
                    Value::Long(_) => "long",
                    Value::Real(_) => "real",
                    Value::Decimal(_) => "decimal",
                    Value::Bool(_) => "bool",
                    Value::String(_) => "string",
                    Value::DateTime(_) => "datetime",
                    Value::Timespan(_) => "timespan",
                    Value::Guid(_) => "guid",
                    Value::Null => static_type.name(),
                }
                .to_string(),
            )
        }))
    });
    r.scalar("tohex", 1..=2, "Hexadecimal text of an integer, optionally padded to a minimum length.", |_, args| {
        let types = [KqlType::Long, KqlType::Long];
        let width32 = args[0].ty == KqlType::Int;
        Ok(call_row("tohex", &args, &types[..args.len()], KqlType::String, move |v| {
            let Some(number) = v[0].as_i64() else { return Value::Null };
            let text = if width32 { format!("{:x}", number as i32) } else { format!("{number:x}") };
            let min_length = v.get(1).and_then(Value::as_i64).unwrap_or(0).max(0) as usize;
            Value::String(format!("{text:0>min_length$}"))
        }))
    });
}

fn to(arg: &Arg, ty: KqlType) -> TypedExpr {
    TypedExpr::new(convert(arg.typed(), ty), ty)
}

fn iff(_: &crate::registry::CallContext, args: Vec<Arg>) -> Result<TypedExpr, String> {
    let ty = common_type([(args[1].ty, is_null_constant(&args[1])), (args[2].ty, is_null_constant(&args[2]))])?;
    let expr = when(predicate_expr(&args[0]), arg_as(&args[1], ty))
        .otherwise(arg_as(&args[2], ty))
        .map_err(|e| e.to_string())?;
    Ok(TypedExpr::new(expr, ty))
}

/// A boolean expression from an argument that should be one (dynamic converts).
pub fn predicate_expr(arg: &Arg) -> Expr {
    if arg.ty == KqlType::Bool { arg.expr.clone() } else { arg_as(arg, KqlType::Bool) }
}

fn empty_test(arg: &Arg, negate: bool) -> Expr {
    let expr = arg.expr.clone();
    match arg.ty {
        KqlType::String | KqlType::Dynamic | KqlType::Guid => {
            let empty = expr.clone().is_null().or(expr.eq(lit("")));
            if negate { Expr::Not(Box::new(empty)) } else { empty }
        }
        _ => {
            if negate {
                expr.is_not_null()
            } else {
                expr.is_null()
            }
        }
    }
}

/// Is the argument the untyped `null` literal (which adopts the type of its neighbours)?
pub fn is_null_constant(arg: &Arg) -> bool {
    arg.ty == KqlType::Dynamic && matches!(arg.constant, Some(Value::Null))
}

/// The type that several values share: the same type, the wider number, or the type of the
/// non-null ones when some are untyped nulls.
pub fn common_type(types: impl IntoIterator<Item = (KqlType, bool)>) -> Result<KqlType, String> {
    let mut result: Option<KqlType> = None;
    for (ty, is_null) in types {
        if is_null {
            continue;
        }
        result = Some(match result {
            None => ty,
            Some(current) if current == ty => current,
            Some(current) => match KqlType::numeric_promotion(current, ty) {
                Some(promoted) => promoted,
                None if current == KqlType::Dynamic || ty == KqlType::Dynamic => KqlType::Dynamic,
                None if current.is_text() && ty.is_text() => KqlType::String,
                None => return Err(format!("the values have different types ({current} and {ty})")),
            },
        });
    }
    // Only untyped nulls: they stay dynamic nulls.
    Ok(result.unwrap_or(KqlType::Dynamic))
}
