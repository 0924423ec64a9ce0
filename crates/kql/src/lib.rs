//! The KQL engine: binds Kusto Query Language onto Apache DataFusion and runs it.
//!
//! Entry points: `Engine::run` (parse, bind, execute) and `Engine::check` (parse and bind
//! only). Tables come from a `Catalog`; results are `QueryResult`s that render as the Log
//! Analytics API's JSON, CSV or a text table.
//!
//! Architecture invariant: this crate reaches data only through `Catalog`; it knows nothing
//! of files, storage or HTTP.

mod bind;
pub mod completion;
mod engine;
pub mod error;
pub mod external;
mod nodes;
mod relation;
pub mod result;

pub use engine::{Engine, QueryLimits, RunOptions};
pub use error::QueryError;
pub use external::ExternalData;
pub use relation::Render;
pub use result::{QueryResult, ResultTable};
pub use vigil_catalog::{Catalog, MemoryCatalog, Table};
