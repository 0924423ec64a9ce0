//! One DataFusion scalar UDF type for every KQL scalar function.
//!
//! The binder resolves KQL's overloading and conversions, so each call site gets a UDF
//! instance with exact argument and result types. A function's work is either a row kernel
//! (a closure over `Value`s, for the long tail) or a batch kernel (over Arrow arrays, for the
//! hot paths).

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringViewArray, UInt32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::memo::{MemoTable, ViewMemo, with_memo};
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
            Kernel::Row(kernel) => {
                let deterministic = self.signature.volatility != Volatility::Volatile;
                eval_rows(kernel, deterministic, &self.arg_types, self.return_type, &args.args, args.number_rows)
            }
        }
    }
}

/// Runs a row kernel over columnar arguments. Scalar arguments are read once; when every
/// argument is a scalar the result is a scalar. A `deterministic` kernel over one string column
/// runs once per distinct value of a dictionary-encoded column (`memo`).
fn eval_rows(
    kernel: &RowFn,
    deterministic: bool,
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
    let mut columns = arrays.iter().enumerate().filter_map(|(index, array)| Some((index, array.as_ref()?)));
    if let (true, Some((column, array)), None) = (deterministic, columns.next(), columns.next())
        && let Some(views) = array.as_string_view_opt()
        && let Some(reader) = &readers[column]
    {
        let key = RowMemoKey { kernel: Arc::clone(kernel), arg_types: arg_types.to_vec(), scalars };
        let result = with_memo(&ROW_MEMOS, key, RowMemo::default, |memo| {
            memo.evaluate(kernel, views, reader, column, &mut row_values, return_type)
        })?;
        return Ok(ColumnarValue::Array(result));
    }
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

thread_local! {
    static ROW_MEMOS: MemoTable<RowMemoKey, RowMemo> = const { RefCell::new(Vec::new()) };
}

/// What a row kernel's results depend on besides its one column: the kernel (held, so that its
/// address names it) and its constant arguments.
struct RowMemoKey {
    kernel: RowFn,
    arg_types: Vec<KqlType>,
    scalars: Vec<Option<Value>>,
}

impl PartialEq for RowMemoKey {
    fn eq(&self, other: &RowMemoKey) -> bool {
        Arc::ptr_eq(&self.kernel, &other.kernel) && self.arg_types == other.arg_types && self.scalars == other.scalars
    }
}

/// A row kernel's results per view of its string column.
#[derive(Default)]
struct RowMemo {
    views: ViewMemo,
    /// The results that the cache's answers number, from 1.
    results: Vec<Value>,
    /// `results` as an Arrow array, while it has as many: rebuilt only when results are added.
    results_array: Option<ArrayRef>,
}

/// Rows of an array evaluated before deciding whether its values repeat enough to memoise.
const MEMO_TRIAL_ROWS: usize = 1024;

impl RowMemo {
    fn evaluate(
        &mut self,
        kernel: &RowFn,
        array: &StringViewArray,
        reader: &ColumnReader,
        column: usize,
        row_values: &mut [Value],
        return_type: KqlType,
    ) -> Result<ArrayRef> {
        if self.views.adopt(array) || self.views.cache.is_full() {
            self.views.cache.clear();
            self.results.clear();
            self.results_array = None;
        }
        let views = array.views();
        let mut evaluate = |row: usize| {
            row_values[column] = reader.value(row);
            kernel(row_values)
        };
        // Per row, the number of its result in `results`.
        let mut numbers: Vec<u32> = Vec::with_capacity(array.len());
        let mut null_number = None;
        let mut misses = 0;
        for row in 0..array.len() {
            // A column whose values do not repeat gains nothing: evaluate the rest plainly.
            if row == MEMO_TRIAL_ROWS && misses > MEMO_TRIAL_ROWS / 2 {
                let mut builder = ValueBuilder::new(return_type, array.len());
                numbers.iter().for_each(|&n| builder.append(&self.results[n as usize]));
                (row..array.len()).for_each(|row| builder.append(&evaluate(row)));
                return Ok(builder.finish());
            }
            let number = if array.is_null(row) {
                *null_number.get_or_insert_with(|| {
                    self.results.push(evaluate(row));
                    self.results.len() as u32 - 1
                })
            } else {
                let view = views[row];
                match self.views.cache.get(view) {
                    Some(number) => number - 1,
                    None => {
                        misses += 1;
                        self.results.push(evaluate(row));
                        if !self.views.cache.is_full() {
                            self.views.cache.insert(view, self.results.len() as u32);
                        }
                        self.results.len() as u32 - 1
                    }
                }
            };
            numbers.push(number);
        }
        let results = match &self.results_array {
            Some(array) if array.len() == self.results.len() => Arc::clone(array),
            _ => Arc::clone(self.results_array.insert(crate::value::values_to_array(&self.results, return_type))),
        };
        Ok(datafusion::arrow::compute::take(&results, &UInt32Array::from(numbers), None)?)
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn calls_and_lengths(texts: &[Option<String>], batches: usize) -> (usize, Vec<Option<i64>>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let kernel: RowFn = Arc::new(move |v: &[Value]| {
            counted.fetch_add(1, Ordering::Relaxed);
            match &v[0] {
                Value::String(s) => Value::Long(s.chars().count() as i64 * v[1].as_f64().unwrap() as i64),
                _ => Value::Null,
            }
        });
        // One view per distinct value, as a Parquet dictionary decodes to.
        let mut builder = datafusion::arrow::array::StringViewBuilder::new().with_deduplicate_strings();
        texts.iter().for_each(|t| builder.append_option(t.as_deref()));
        let array: ArrayRef = Arc::new(builder.finish());
        let mut lengths = Vec::new();
        for _ in 0..batches {
            let args = [ColumnarValue::Array(Arc::clone(&array)), ColumnarValue::Scalar(ScalarValue::Int64(Some(2)))];
            let result = eval_rows(&kernel, true, &[KqlType::String, KqlType::Long], KqlType::Long, &args, texts.len());
            let ColumnarValue::Array(result) = result.unwrap() else { panic!("an array") };
            lengths.extend(result.as_primitive::<datafusion::arrow::datatypes::Int64Type>().iter());
        }
        (calls.load(Ordering::Relaxed), lengths)
    }

    #[test]
    fn row_kernels_run_once_per_distinct_value_of_a_repeating_column() {
        let texts: Vec<Option<String>> = (0..5000)
            .map(|i| match i % 4 {
                0 => None,
                1 => Some("short".to_string()),
                _ => Some(format!("a longer value number {}", i % 7)),
            })
            .collect();
        // A null string reads as the empty string.
        let expected: Vec<Option<i64>> =
            texts.iter().map(|t| Some(t.as_deref().unwrap_or("").chars().count() as i64 * 2)).collect();
        let (calls, lengths) = calls_and_lengths(&texts, 3);
        assert_eq!(lengths, expected.repeat(3));
        // Null once per batch; values once for all three batches over the same buffer.
        assert_eq!(calls, 3 + 1 + 7);
    }

    #[test]
    fn row_kernels_over_distinct_values_are_evaluated_plainly() {
        let texts: Vec<Option<String>> = (0..5000).map(|i| Some(format!("distinct value number {i}"))).collect();
        let (calls, lengths) = calls_and_lengths(&texts, 1);
        assert_eq!(lengths, texts.iter().map(|t| Some(t.as_ref().unwrap().len() as i64 * 2)).collect::<Vec<_>>());
        assert_eq!(calls, 5000);
    }
}
