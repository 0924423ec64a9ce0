//! One DataFusion scalar UDF type for every KQL scalar function.
//!
//! The binder resolves KQL's overloading and conversions, so each call site gets a UDF
//! instance with exact argument and result types. A function's work is either a row kernel
//! (a closure over `Value`s, for the long tail) or a batch kernel (over Arrow arrays, for the
//! hot paths).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::types::KqlType;
use crate::value::{ColumnReader, Value, ValueBuilder};

pub type RowFn = Arc<dyn Fn(&[Value]) -> Value + Send + Sync>;
pub type BatchFn = Arc<dyn Fn(&[ColumnarValue], usize) -> Result<ColumnarValue> + Send + Sync>;

#[derive(Clone)]
pub enum Kernel {
    Row(RowFn),
    Batch(BatchFn),
}

pub struct KqlUdf {
    name: String,
    /// Identity beyond the name: constants captured by the kernel, such as a compiled pattern.
    identity: String,
    arg_types: Vec<KqlType>,
    return_type: KqlType,
    signature: Signature,
    kernel: Kernel,
}

impl KqlUdf {
    pub fn new(name: &str, arg_types: Vec<KqlType>, return_type: KqlType, kernel: Kernel) -> KqlUdf {
        KqlUdf {
            name: name.to_string(),
            identity: String::new(),
            signature: Signature::variadic_any(Volatility::Immutable),
            arg_types,
            return_type,
            kernel,
        }
    }

    /// Distinguishes instances whose kernels captured different constants.
    pub fn with_identity(mut self, identity: impl Into<String>) -> KqlUdf {
        self.identity = identity.into();
        self
    }

    /// For functions whose value changes between calls with the same arguments.
    pub fn volatile(mut self) -> KqlUdf {
        self.signature = Signature::variadic_any(Volatility::Volatile);
        self
    }

    pub fn call(self, args: Vec<Expr>) -> Expr {
        ScalarUDF::new_from_impl(self).call(args)
    }
}

impl fmt::Debug for KqlUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KqlUdf({})", self.name)
    }
}

impl PartialEq for KqlUdf {
    fn eq(&self, other: &KqlUdf) -> bool {
        self.name == other.name
            && self.identity == other.identity
            && self.arg_types == other.arg_types
            && self.return_type == other.return_type
            && self.signature == other.signature
    }
}

impl Eq for KqlUdf {}

impl Hash for KqlUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.identity.hash(state);
        self.arg_types.hash(state);
        self.return_type.hash(state);
    }
}

impl ScalarUDFImpl for KqlUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.arrow())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &self.kernel {
            Kernel::Batch(kernel) => kernel(&args.args, args.number_rows),
            Kernel::Row(kernel) => eval_rows(kernel, &self.arg_types, self.return_type, &args.args, args.number_rows),
        }
    }
}

/// Runs a row kernel over columnar arguments. Scalar arguments are read once; when every
/// argument is a scalar the result is a scalar.
pub fn eval_rows(
    kernel: &RowFn,
    arg_types: &[KqlType],
    return_type: KqlType,
    args: &[ColumnarValue],
    rows: usize,
) -> Result<ColumnarValue> {
    let mut scalars: Vec<Option<Value>> = Vec::with_capacity(args.len());
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(args.len());
    for (index, arg) in args.iter().enumerate() {
        let ty = arg_types.get(index).copied().unwrap_or(KqlType::Dynamic);
        match arg {
            ColumnarValue::Scalar(scalar) => {
                scalars.push(Some(Value::from_scalar(scalar, ty)?));
                arrays.push(None);
            }
            ColumnarValue::Array(array) => {
                scalars.push(None);
                arrays.push(Some(Arc::clone(array)));
            }
        }
    }
    if arrays.iter().all(Option::is_none) {
        let values: Vec<Value> = scalars.into_iter().map(|v| v.unwrap_or(Value::Null)).collect();
        let result = kernel(&values);
        return Ok(ColumnarValue::Scalar(result.to_scalar(return_type)));
    }
    let readers: Vec<Option<ColumnReader>> = arrays
        .iter()
        .enumerate()
        .map(|(index, array)| {
            array
                .as_ref()
                .map(|array| ColumnReader::new(array, arg_types.get(index).copied().unwrap_or(KqlType::Dynamic)))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let mut row_values: Vec<Value> = scalars.iter().map(|s| s.clone().unwrap_or(Value::Null)).collect();
    let mut builder = ValueBuilder::new(return_type, rows);
    for row in 0..rows {
        for (index, reader) in readers.iter().enumerate() {
            if let Some(reader) = reader {
                row_values[index] = reader.value(row);
            }
        }
        builder.append(&kernel(&row_values));
    }
    Ok(ColumnarValue::Array(builder.finish()))
}

/// Convenience for building a row-kernel call.
pub fn row_call(
    name: &str,
    args: Vec<Expr>,
    arg_types: Vec<KqlType>,
    return_type: KqlType,
    kernel: impl Fn(&[Value]) -> Value + Send + Sync + 'static,
) -> Expr {
    KqlUdf::new(name, arg_types, return_type, Kernel::Row(Arc::new(kernel))).call(args)
}

/// A scalar result of `ty` from a value.
pub fn scalar_of(value: &Value, ty: KqlType) -> ScalarValue {
    value.to_scalar(ty)
}
