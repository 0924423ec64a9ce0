//! KQL's types and values, and its function library as DataFusion UDFs and UDAFs.
//!
//! Architecture invariant: this crate knows nothing of tables, schemas or query text. The
//! binder resolves a call's name and binds its arguments; the registry here turns a bound call
//! into a DataFusion expression with a KQL type.

pub mod aggregate;
pub mod conversion;
pub mod dynamic;
pub mod geoip;
mod memo;
pub mod naming;
pub mod registry;
pub mod scalar;
pub mod strings;
pub mod types;
pub mod udaf;
pub mod udf;
pub mod value;

pub use registry::{AggregateOutput, Arg, CallContext, Registry, ResultNaming, TypedExpr};
pub use types::{KqlColumn, KqlType};
pub use value::Value;
