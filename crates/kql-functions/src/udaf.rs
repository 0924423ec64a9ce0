//! One DataFusion aggregate UDF type for the KQL aggregates that DataFusion lacks
//! (`make_set`, `make_bag`, `percentiles`, `arg_max`...), written a row at a time against
//! `Value`s. Partial states travel between partitions as JSON text.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility};
use serde_json::Value as Json;

use crate::strings::StringColumn;
use crate::types::KqlType;
use crate::value::{ColumnReader, Value, ValueBuilder};

/// The per-group state of a row-at-a-time aggregate.
pub trait RowAggregate: Send + Sync + fmt::Debug {
    fn update(&mut self, args: &[Value]);
    /// The partial state, to be merged into another instance.
    fn state(&self) -> Json;
    fn merge(&mut self, state: &Json);
    fn finish(&self) -> AggregateValue;
    /// Approximate memory held, in bytes.
    fn size(&self) -> usize;
}

/// The result of an aggregate: one value, or one value per member of a struct result.
pub enum AggregateValue {
    One(Value),
    Members(Vec<Value>),
}

pub type AggregateFactory = Arc<dyn Fn() -> Box<dyn RowAggregate> + Send + Sync>;

/// What an aggregate returns: one KQL value, or a struct of named, typed members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AggregateResult {
    One(KqlType),
    Struct(Vec<(String, KqlType)>),
}

impl AggregateResult {
    fn arrow(&self) -> DataType {
        match self {
            AggregateResult::One(ty) => ty.arrow(),
            AggregateResult::Struct(members) => DataType::Struct(struct_fields(members)),
        }
    }
}

fn struct_fields(members: &[(String, KqlType)]) -> Fields {
    members.iter().map(|(name, ty)| Field::new(name, ty.arrow(), true)).collect()
}

pub struct KqlUdaf {
    name: String,
    identity: String,
    arg_types: Vec<KqlType>,
    result: AggregateResult,
    signature: Signature,
    factory: AggregateFactory,
}

impl KqlUdaf {
    pub fn new(name: &str, arg_types: Vec<KqlType>, result: AggregateResult, factory: AggregateFactory) -> KqlUdaf {
        KqlUdaf {
            name: name.to_string(),
            identity: String::new(),
            arg_types,
            result,
            signature: Signature::variadic_any(Volatility::Immutable),
            factory,
        }
    }

    /// Distinguishes instances whose factories captured different constants.
    pub fn with_identity(mut self, identity: impl Into<String>) -> KqlUdaf {
        self.identity = identity.into();
        self
    }

    pub fn call(self, args: Vec<Expr>, filter: Option<Expr>) -> Expr {
        Expr::AggregateFunction(datafusion::logical_expr::expr::AggregateFunction::new_udf(
            Arc::new(AggregateUDF::new_from_impl(self)),
            args,
            false,
            filter.map(Box::new),
            vec![],
            None,
        ))
    }
}

impl fmt::Debug for KqlUdaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KqlUdaf({})", self.name)
    }
}

impl PartialEq for KqlUdaf {
    fn eq(&self, other: &KqlUdaf) -> bool {
        self.name == other.name
            && self.identity == other.identity
            && self.arg_types == other.arg_types
            && self.result == other.result
    }
}

impl Eq for KqlUdaf {}

impl Hash for KqlUdaf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.identity.hash(state);
        self.arg_types.hash(state);
        self.result.hash(state);
    }
}

impl AggregateUDFImpl for KqlUdaf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.result.arrow())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RowAccumulator {
            inner: (self.factory)(),
            arg_types: self.arg_types.clone(),
            result: self.result.clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[state]", args.name), DataType::Utf8, true))])
    }
}

#[derive(Debug)]
struct RowAccumulator {
    inner: Box<dyn RowAggregate>,
    arg_types: Vec<KqlType>,
    result: AggregateResult,
}

impl Accumulator for RowAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let readers: Vec<ColumnReader> = values
            .iter()
            .zip(&self.arg_types)
            .map(|(array, ty)| ColumnReader::new(array, *ty))
            .collect::<Result<_>>()?;
        let rows = values.first().map_or(0, |a| a.len());
        let mut row_values = vec![Value::Null; readers.len()];
        for row in 0..rows {
            for (slot, reader) in row_values.iter_mut().zip(&readers) {
                *slot = reader.value(row);
            }
            self.inner.update(&row_values);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match (self.inner.finish(), &self.result) {
            (AggregateValue::One(value), AggregateResult::One(ty)) => Ok(value.to_scalar(*ty)),
            (AggregateValue::Members(values), AggregateResult::Struct(members)) => {
                let arrays: Vec<ArrayRef> = members
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| {
                        let mut builder = ValueBuilder::new(*ty, 1);
                        builder.append(values.get(i).unwrap_or(&Value::Null));
                        builder.finish()
                    })
                    .collect();
                let array = StructArray::try_new(struct_fields(members), arrays, None)?;
                Ok(ScalarValue::Struct(Arc::new(array)))
            }
            _ => Err(DataFusionError::Internal(format!("aggregate {:?} returned the wrong shape", self.inner))),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Utf8(Some(self.inner.state().to_string()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let strings = StringColumn::new(&states[0])?;
        for row in 0..strings.len() {
            if let Some(text) = strings.get(row) {
                let state: Json = serde_json::from_str(text)
                    .map_err(|e| DataFusionError::Internal(format!("bad aggregate state: {e}")))?;
                self.inner.merge(&state);
            }
        }
        Ok(())
    }
}
