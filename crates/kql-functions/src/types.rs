//! KQL's scalar types and how each is stored in Arrow.
//!
//! Several KQL types share an Arrow type (string, guid and dynamic are all UTF-8 text), so
//! the KQL type of a column travels beside the data: in the binder's schemas while planning,
//! and in Arrow field metadata (`kql_type`) when data is written to or read from files.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

/// The metadata key that records a column's KQL type on an Arrow field.
pub const KQL_TYPE_METADATA: &str = "kql_type";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KqlType {
    Bool,
    Int,
    Long,
    Real,
    Decimal,
    String,
    DateTime,
    Timespan,
    Guid,
    Dynamic,
}

pub const DECIMAL_PRECISION: u8 = 38;
/// Six fractional digits leave 32 whole digits: room for `parse_version`'s four 8-digit parts.
pub const DECIMAL_SCALE: i8 = 6;
/// One, as a decimal is stored (scaled by 10^`DECIMAL_SCALE`).
pub const DECIMAL_ONE: i128 = 10i128.pow(DECIMAL_SCALE as u32);

impl KqlType {
    pub const ALL: [KqlType; 10] = [
        KqlType::Bool,
        KqlType::Int,
        KqlType::Long,
        KqlType::Real,
        KqlType::Decimal,
        KqlType::String,
        KqlType::DateTime,
        KqlType::Timespan,
        KqlType::Guid,
        KqlType::Dynamic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KqlType::Bool => "bool",
            KqlType::Int => "int",
            KqlType::Long => "long",
            KqlType::Real => "real",
            KqlType::Decimal => "decimal",
            KqlType::String => "string",
            KqlType::DateTime => "datetime",
            KqlType::Timespan => "timespan",
            KqlType::Guid => "guid",
            KqlType::Dynamic => "dynamic",
        }
    }

    /// Accepts canonical names and their aliases (`double`, `boolean`, `date`, `time`, `uuid`...).
    pub fn from_name(name: &str) -> Option<KqlType> {
        let canonical = vigil_kql_syntax::canonical_type_name(&name.to_ascii_lowercase())?;
        KqlType::ALL.into_iter().find(|t| t.name() == canonical)
    }

    /// The .NET type name that `getschema` reports in its `DataType` column.
    pub fn dotnet_name(self) -> &'static str {
        match self {
            KqlType::Bool => "System.Boolean",
            KqlType::Int => "System.Int32",
            KqlType::Long => "System.Int64",
            KqlType::Real => "System.Double",
            KqlType::Decimal => "System.Data.SqlTypes.SqlDecimal",
            KqlType::String => "System.String",
            KqlType::DateTime => "System.DateTime",
            KqlType::Timespan => "System.TimeSpan",
            KqlType::Guid => "System.Guid",
            KqlType::Dynamic => "System.Object",
        }
    }

    pub fn arrow(self) -> DataType {
        match self {
            KqlType::Bool => DataType::Boolean,
            KqlType::Int => DataType::Int32,
            KqlType::Long => DataType::Int64,
            KqlType::Real => DataType::Float64,
            KqlType::Decimal => DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
            KqlType::String | KqlType::Guid | KqlType::Dynamic => DataType::Utf8,
            KqlType::DateTime => DataType::Timestamp(TimeUnit::Nanosecond, None),
            KqlType::Timespan => DataType::Duration(TimeUnit::Nanosecond),
        }
    }

    /// An Arrow field of this type, with the KQL type recorded where Arrow alone would lose it.
    pub fn field(self, name: &str) -> Field {
        let field = Field::new(name, self.arrow(), true);
        match self {
            KqlType::Guid | KqlType::Dynamic => {
                field.with_metadata([(KQL_TYPE_METADATA.to_string(), self.name().to_string())].into_iter().collect())
            }
            _ => field,
        }
    }

    /// The KQL type of an Arrow field: its `kql_type` metadata if present, else by Arrow type.
    pub fn of_field(field: &Field) -> Option<KqlType> {
        if let Some(name) = field.metadata().get(KQL_TYPE_METADATA) {
            return KqlType::from_name(name);
        }
        KqlType::of_arrow(field.data_type())
    }

    /// The KQL type that best holds values of an Arrow type.
    pub fn of_arrow(data_type: &DataType) -> Option<KqlType> {
        Some(match data_type {
            DataType::Boolean => KqlType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => KqlType::Int,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => KqlType::Long,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => KqlType::Real,
            DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
                KqlType::Decimal
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => KqlType::String,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => KqlType::DateTime,
            DataType::Duration(_) | DataType::Time32(_) | DataType::Time64(_) => KqlType::Timespan,
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => KqlType::Dynamic,
            DataType::Null => KqlType::Dynamic,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, KqlType::Int | KqlType::Long)
    }

    /// Stored as UTF-8 text in Arrow.
    pub fn is_text(self) -> bool {
        matches!(self, KqlType::String | KqlType::Guid | KqlType::Dynamic)
    }

    /// The wider of two numeric types (`int` < `long` < `decimal` < `real`).
    pub fn numeric_promotion(a: KqlType, b: KqlType) -> Option<KqlType> {
        if !a.is_numeric() || !b.is_numeric() {
            return None;
        }
        let rank = |t: KqlType| match t {
            KqlType::Int => 0,
            KqlType::Long => 1,
            KqlType::Decimal => 2,
            _ => 3,
        };
        Some(if rank(a) >= rank(b) { a } else { b })
    }
}

impl fmt::Display for KqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named, typed column as the binder and the result formatter see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KqlColumn {
    pub name: String,
    pub ty: KqlType,
}

impl KqlColumn {
    pub fn new(name: impl Into<String>, ty: KqlType) -> KqlColumn {
        KqlColumn { name: name.into(), ty }
    }
}

/// An Arrow schema built from KQL columns, with type metadata where needed.
pub fn arrow_schema(columns: &[KqlColumn]) -> Arc<datafusion::arrow::datatypes::Schema> {
    Arc::new(datafusion::arrow::datatypes::Schema::new(columns.iter().map(|c| c.ty.field(&c.name)).collect::<Vec<_>>()))
}
