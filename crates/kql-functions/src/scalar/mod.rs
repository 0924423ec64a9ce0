//! KQL's scalar functions, grouped in families, one module each. Every family has a
//! `register` that adds its functions to the registry.

pub mod conversion;
pub mod datetime;
pub mod dynamic;
pub mod ip;
pub mod math;
pub mod operators;
pub mod series;
pub mod strings;
pub mod text_extra;
mod units;

use datafusion::logical_expr::Expr;

use crate::conversion::convert;
use crate::registry::{Arg, Registry, TypedExpr};
use crate::types::KqlType;
use crate::udf::row_call;
use crate::value::Value;

pub fn register(registry: &mut Registry) {
    conversion::register(registry);
    strings::register(registry);
    math::register(registry);
    datetime::register(registry);
    dynamic::register(registry);
    ip::register(registry);
    series::register(registry);
    text_extra::register(registry);
}

/// The argument converted to `ty` (KQL's implicit conversion).
pub fn arg_as(arg: &Arg, ty: KqlType) -> Expr {
    convert(arg.typed(), ty)
}

/// A row-kernel call whose arguments are first converted to the given types.
pub fn call_row(
    name: &str,
    args: &[Arg],
    arg_types: &[KqlType],
    return_type: KqlType,
    kernel: impl Fn(&[Value]) -> Value + Send + Sync + 'static,
) -> TypedExpr {
    let exprs = args.iter().zip(arg_types).map(|(arg, ty)| arg_as(arg, *ty)).collect();
    TypedExpr::new(row_call(name, exprs, arg_types.to_vec(), return_type, kernel), return_type)
}

/// A row-kernel call whose arguments keep their own types.
pub fn call_row_as_is(
    name: &str,
    args: &[Arg],
    return_type: KqlType,
    kernel: impl Fn(&[Value]) -> Value + Send + Sync + 'static,
) -> TypedExpr {
    let exprs = args.iter().map(|arg| arg.expr.clone()).collect();
    let types = args.iter().map(|arg| arg.ty).collect();
    TypedExpr::new(row_call(name, exprs, types, return_type, kernel), return_type)
}

/// Fails unless the argument is one of the accepted types.
pub fn expect_type(function: &str, index: usize, arg: &Arg, accepted: &[KqlType]) -> Result<(), String> {
    if accepted.contains(&arg.ty) {
        return Ok(());
    }
    let names: Vec<&str> = accepted.iter().map(|t| t.name()).collect();
    Err(format!(
        "argument {} of {function}() must be {}, but it is {}",
        index + 1,
        if names.len() == 1 { names[0].to_string() } else { format!("one of {}", names.join(", ")) },
        arg.ty
    ))
}

/// Fails unless the argument is numeric.
pub fn expect_numeric(function: &str, index: usize, arg: &Arg) -> Result<(), String> {
    if arg.ty.is_numeric() || arg.ty == KqlType::Dynamic {
        Ok(())
    } else {
        Err(format!("argument {} of {function}() must be a number, but it is {}", index + 1, arg.ty))
    }
}

/// The constant text an argument must have (a format, unit or pattern).
pub fn expect_constant_str(function: &str, index: usize, arg: &Arg) -> Result<String, String> {
    arg.constant_str().ok_or_else(|| format!("argument {} of {function}() must be a constant string", index + 1))
}
