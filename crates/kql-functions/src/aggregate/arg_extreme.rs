//! `arg_max` and `arg_min`: the values of the row with the largest (smallest) key, as one
//! vectorized grouped aggregate.
//!
//! Per group it keeps the best key and where that row is; the rows themselves stay in the input
//! batches until the result is emitted (see `RetainedRows`), so each input row costs one
//! comparison and, when it wins, an index update. Keys that fit
//! in an `i64` (integers, datetimes, timespans, booleans) and reals compare natively; other
//! keys compare as Arrow scalars. Rows with a null key lose to any row with a key, but a group
//! of only null keys still yields its first row, as Kusto's arg_max does.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StructArray, new_null_array};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

/// How a key is held for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyKind {
    Integer,
    Real,
    Other,
}

fn key_kind(data_type: &DataType) -> KeyKind {
    match data_type {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Timestamp(..)
        | DataType::Duration(_)
        | DataType::Date32
        | DataType::Date64 => KeyKind::Integer,
        DataType::Float32 | DataType::Float64 => KeyKind::Real,
        _ => KeyKind::Other,
    }
}

/// The aggregate: arguments are the key then the returned values; the result is a struct of
/// all of them, named `m0`, `m1`..., with the arguments' physical types (a Parquet string
/// column may arrive as `Utf8View`; the rows are returned as they came).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArgExtreme {
    max: bool,
    signature: Signature,
}

impl ArgExtreme {
    pub fn new(max: bool) -> ArgExtreme {
        ArgExtreme { max, signature: Signature::variadic_any(Volatility::Immutable) }
    }

    fn groups(&self, result: &DataType) -> Result<ArgExtremeGroups> {
        let DataType::Struct(fields) = result else {
            return Err(DataFusionError::Internal(format!("{} returns a struct, not {result}", self.name())));
        };
        Ok(ArgExtremeGroups {
            max: self.max,
            fields: fields.clone(),
            kind: key_kind(fields[0].data_type()),
            state: Vec::new(),
            integers: Vec::new(),
            reals: Vec::new(),
            others: Vec::new(),
            winners: Vec::new(),
            rows: RetainedRows::default(),
        })
    }
}

impl AggregateUDFImpl for ArgExtreme {
    fn name(&self) -> &str {
        if self.max { "arg_max" } else { "arg_min" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let fields: Fields =
            arg_types.iter().enumerate().map(|(i, t)| Field::new(format!("m{i}"), t.clone(), true)).collect();
        Ok(DataType::Struct(fields))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(super::SingleGroup(self.groups(args.return_type())?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields = vec![Arc::new(Field::new(format!("{}[has_row]", args.name), DataType::Boolean, true))];
        fields.extend(
            args.input_fields
                .iter()
                .enumerate()
                .map(|(i, f)| Arc::new(Field::new(format!("{}[m{i}]", args.name), f.data_type().clone(), true))),
        );
        Ok(fields)
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(args.return_type())?))
    }
}

const EMPTY: u8 = 0;
const NULL_KEY: u8 = 1;
const KEYED: u8 = 2;

/// Where a group's chosen row is: a retained batch and a row in it.
#[derive(Debug, Clone, Copy, Default)]
struct RowRef {
    batch: u32,
    row: u32,
}

/// The input batches that hold some group's chosen row. A row is never copied when it wins
/// (which, on time-ordered data, is nearly every row); a batch is dropped as soon as no group
/// points into it, and when scattered winners keep too many rows alive, they are compacted
/// into one batch. Rows are copied out only at emission, one `interleave` per column.
#[derive(Debug, Default)]
struct RetainedRows {
    /// Columns (key, then returned values) of each batch; `None` once no group uses it.
    batches: Vec<Option<Vec<ArrayRef>>>,
    /// Per batch, how many groups point into it.
    users: Vec<usize>,
    /// Rows held by the settled batches still present.
    held: usize,
    /// The batch being folded: kept even when no group points into it yet.
    open: Option<u32>,
}

impl RetainedRows {
    fn push(&mut self, columns: &[ArrayRef]) -> u32 {
        self.batches.push(Some(columns.to_vec()));
        self.users.push(0);
        let batch = (self.batches.len() - 1) as u32;
        self.open = Some(batch);
        batch
    }

    fn rows_of(&self, batch: usize) -> usize {
        self.batches[batch].as_ref().and_then(|c| c.first()).map_or(0, |c| c.len())
    }

    fn release(&mut self, batch: u32) {
        let open = self.open == Some(batch);
        let batch = batch as usize;
        self.users[batch] -= 1;
        if self.users[batch] == 0 && !open {
            self.held -= self.rows_of(batch);
            self.batches[batch] = None;
        }
    }

    /// Ends the fold of the batch pushed last: keeps it only if some group points into it.
    fn settle(&mut self, batch: u32) {
        self.open = None;
        let batch = batch as usize;
        if self.users[batch] == 0 {
            self.batches[batch] = None;
        } else {
            self.held += self.rows_of(batch);
        }
    }

    /// Column `column` of the rows `refs` (`None`: a null), in that order.
    fn gather(&self, column: usize, data_type: &DataType, refs: &[Option<RowRef>]) -> Result<ArrayRef> {
        let null_row = new_null_array(data_type, 1);
        let mut sources: Vec<&dyn Array> = Vec::new();
        let mut source_of_batch = vec![usize::MAX; self.batches.len()];
        for (batch, columns) in self.batches.iter().enumerate() {
            if let Some(columns) = columns {
                source_of_batch[batch] = sources.len();
                sources.push(columns[column].as_ref());
            }
        }
        let null_source = sources.len();
        sources.push(null_row.as_ref());
        let indices: Vec<(usize, usize)> = refs
            .iter()
            .map(|r| match r {
                Some(r) => (source_of_batch[r.batch as usize], r.row as usize),
                None => (null_source, 0),
            })
            .collect();
        Ok(interleave(&sources, &indices)?)
    }

    fn memory(&self) -> usize {
        self.batches.iter().flatten().flatten().map(|c| c.get_array_memory_size()).sum::<usize>() + self.users.len() * 8
    }
}

#[derive(Debug)]
struct ArgExtremeGroups {
    max: bool,
    fields: Fields,
    kind: KeyKind,
    /// Per group: no row yet, a row with a null key, or a row with a key.
    state: Vec<u8>,
    /// Per group, the chosen row's key, by key kind.
    integers: Vec<i64>,
    reals: Vec<f64>,
    others: Vec<ScalarValue>,
    /// Per group, the chosen row (meaningful unless the state is `EMPTY`).
    winners: Vec<RowRef>,
    rows: RetainedRows,
}

/// Read access to a batch's keys by kind.
enum KeyColumn {
    Integer(ArrayRef),
    Real(ArrayRef),
    Other(ArrayRef),
}

impl ArgExtremeGroups {
    fn resize(&mut self, groups: usize) {
        self.state.resize(groups, EMPTY);
        match self.kind {
            KeyKind::Integer => self.integers.resize(groups, 0),
            KeyKind::Real => self.reals.resize(groups, 0.0),
            KeyKind::Other => self.others.resize(groups, ScalarValue::Null),
        }
        self.winners.resize(groups, RowRef::default());
    }

    fn key_column(&self, array: &ArrayRef) -> Result<KeyColumn> {
        Ok(match self.kind {
            KeyKind::Integer => KeyColumn::Integer(cast(array, &DataType::Int64)?),
            KeyKind::Real => KeyColumn::Real(cast(array, &DataType::Float64)?),
            KeyKind::Other => KeyColumn::Other(Arc::clone(array)),
        })
    }

    /// Does row `row` beat group `group`'s current row?
    fn wins(&self, keys: &KeyColumn, row: usize, group: usize) -> Result<bool> {
        let null = match keys {
            KeyColumn::Integer(a) | KeyColumn::Real(a) | KeyColumn::Other(a) => a.is_null(row),
        };
        Ok(match (self.state[group], null) {
            (EMPTY, _) => true,
            (_, true) => false,
            (NULL_KEY, false) => true,
            _ => match keys {
                KeyColumn::Integer(a) => {
                    let value = a.as_primitive::<Int64Type>().value(row);
                    if self.max { value > self.integers[group] } else { value < self.integers[group] }
                }
                KeyColumn::Real(a) => {
                    let value = a.as_primitive::<Float64Type>().value(row);
                    if self.max { value > self.reals[group] } else { value < self.reals[group] }
                }
                KeyColumn::Other(a) => {
                    let value = ScalarValue::try_from_array(a, row)?;
                    match value.partial_cmp(&self.others[group]) {
                        Some(std::cmp::Ordering::Greater) => self.max,
                        Some(std::cmp::Ordering::Less) => !self.max,
                        _ => false,
                    }
                }
            },
        })
    }

    fn take(&mut self, keys: &KeyColumn, batch: u32, row: usize, group: usize) -> Result<()> {
        let null = match keys {
            KeyColumn::Integer(a) | KeyColumn::Real(a) | KeyColumn::Other(a) => a.is_null(row),
        };
        if self.state[group] != EMPTY {
            self.rows.release(self.winners[group].batch);
        }
        self.state[group] = if null { NULL_KEY } else { KEYED };
        if !null {
            match keys {
                KeyColumn::Integer(a) => self.integers[group] = a.as_primitive::<Int64Type>().value(row),
                KeyColumn::Real(a) => self.reals[group] = a.as_primitive::<Float64Type>().value(row),
                KeyColumn::Other(a) => self.others[group] = ScalarValue::try_from_array(a, row)?,
            }
        }
        self.winners[group] = RowRef { batch, row: row as u32 };
        self.rows.users[batch as usize] += 1;
        Ok(())
    }

    /// Folds rows into groups: `values` are the key then the returned columns; `present`
    /// tells which rows count.
    fn fold(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        present: impl Fn(usize) -> bool,
        groups: usize,
    ) -> Result<()> {
        self.resize(groups);
        let keys = self.key_column(&values[0])?;
        let batch = self.rows.push(values);
        for (row, &group) in group_indices.iter().enumerate() {
            if present(row) && self.wins(&keys, row, group)? {
                self.take(&keys, batch, row, group)?;
            }
        }
        self.rows.settle(batch);
        self.compact_if_scattered()
    }

    /// Every column (key, then returned values) of the rows `refs`.
    fn gather(&self, refs: &[Option<RowRef>]) -> Result<Vec<ArrayRef>> {
        self.fields
            .iter()
            .enumerate()
            .map(|(column, field)| self.rows.gather(column, field.data_type(), refs))
            .collect()
    }

    /// When the retained batches hold many more rows than there are chosen rows (winners
    /// scattered over the input), copies the chosen rows into one batch.
    fn compact_if_scattered(&mut self) -> Result<()> {
        let chosen = self.state.iter().filter(|s| **s != EMPTY).count();
        if self.rows.held <= 4 * chosen.max(16_384) {
            return Ok(());
        }
        let refs: Vec<Option<RowRef>> =
            self.state.iter().zip(&self.winners).filter(|(s, _)| **s != EMPTY).map(|(_, r)| Some(*r)).collect();
        let columns = self.gather(&refs)?;
        let mut compacted = RetainedRows::default();
        let batch = compacted.push(&columns);
        let mut next = 0u32;
        for (state, winner) in self.state.iter().zip(self.winners.iter_mut()) {
            if *state != EMPTY {
                *winner = RowRef { batch, row: next };
                next += 1;
            }
        }
        compacted.users[batch as usize] = chosen;
        compacted.settle(batch);
        self.rows = compacted;
        Ok(())
    }

    /// Whether each of the first groups of `emit_to` has a row, and the columns (key, then
    /// returned values) of their chosen rows; those groups are then dropped.
    fn emit(&mut self, emit_to: EmitTo) -> Result<(BooleanArray, Vec<ArrayRef>)> {
        let states = emit_to.take_needed(&mut self.state);
        let winners = emit_to.take_needed(&mut self.winners);
        match self.kind {
            KeyKind::Integer => drop(emit_to.take_needed(&mut self.integers)),
            KeyKind::Real => drop(emit_to.take_needed(&mut self.reals)),
            KeyKind::Other => drop(emit_to.take_needed(&mut self.others)),
        }
        let refs: Vec<Option<RowRef>> = states.iter().zip(&winners).map(|(s, r)| (*s != EMPTY).then_some(*r)).collect();
        let columns = self.gather(&refs)?;
        if self.state.is_empty() {
            self.rows = RetainedRows::default();
        } else {
            for winner in refs.iter().flatten() {
                self.rows.release(winner.batch);
            }
        }
        let has_row: BooleanArray = states.iter().map(|s| Some(*s != EMPTY)).collect();
        Ok((has_row, columns))
    }
}

impl GroupsAccumulator for ArgExtremeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.fold(
            values,
            group_indices,
            |row| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)),
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (_, columns) = self.emit(emit_to)?;
        Ok(Arc::new(StructArray::try_new(self.fields.clone(), columns, None)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (has_row, mut columns) = self.emit(emit_to)?;
        columns.insert(0, Arc::new(has_row));
        Ok(columns)
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        let has_row = values[0].as_boolean().clone();
        self.fold(&values[1..], group_indices, |row| has_row.value(row), total_num_groups)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let rows = values[0].len();
        let has_row: BooleanArray =
            (0..rows).map(|row| Some(opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)))).collect();
        let mut state = vec![Arc::new(has_row) as ArrayRef];
        state.extend(values.iter().cloned());
        Ok(state)
    }

    fn size(&self) -> usize {
        let key_bytes = self.integers.len() * 8 + self.reals.len() * 8 + self.others.len() * 48;
        self.state.len() * (1 + 8) + key_bytes + self.rows.memory()
    }
}

impl super::OneGroup for ArgExtremeGroups {
    fn ensure_one_group(&mut self) {
        self.resize(1);
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};

    use super::*;

    fn accumulator(max: bool) -> ArgExtremeGroups {
        let udaf = ArgExtreme::new(max);
        let result = udaf.return_type(&[DataType::Int64, DataType::Utf8]).unwrap();
        udaf.groups(&result).unwrap()
    }

    /// A deterministic shuffle of `rows` (key, group) pairs: keys unique, groups scattered.
    fn scattered_rows(rows: usize, groups: usize) -> Vec<(i64, usize)> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..rows)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 11) as i64, (state % groups as u64) as usize)
            })
            .collect()
    }

    fn feed(accumulator: &mut ArgExtremeGroups, rows: &[(i64, usize)], groups: usize) {
        for chunk in rows.chunks(8192) {
            let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(chunk.iter().map(|(k, _)| *k)));
            let payload: ArrayRef =
                Arc::new(StringArray::from_iter_values(chunk.iter().map(|(k, _)| format!("row{k}"))));
            let indices: Vec<usize> = chunk.iter().map(|(_, g)| *g).collect();
            accumulator.update_batch(&[keys, payload], &indices, None, groups).unwrap();
        }
    }

    fn expected(rows: &[(i64, usize)], groups: usize, max: bool) -> Vec<Option<String>> {
        let mut best: Vec<Option<i64>> = vec![None; groups];
        for (key, group) in rows {
            let better = best[*group].is_none_or(|b| if max { *key > b } else { *key < b });
            if better {
                best[*group] = Some(*key);
            }
        }
        best.into_iter().map(|k| k.map(|k| format!("row{k}"))).collect()
    }

    fn payload_of(result: &ArrayRef) -> Vec<Option<String>> {
        let columns = result.as_struct();
        columns.column(1).as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn scattered_winners_are_compacted_and_still_right() {
        let groups = 3_000;
        let rows = scattered_rows(200_000, groups);
        for max in [true, false] {
            let mut accumulator = accumulator(max);
            feed(&mut accumulator, &rows, groups + 5);
            assert!(accumulator.rows.held <= 4 * 16_384 + 8192, "held {} rows", accumulator.rows.held);
            let mut want = expected(&rows, groups, max);
            want.extend(std::iter::repeat_n(None, 5));
            assert_eq!(payload_of(&accumulator.evaluate(EmitTo::All).unwrap()), want);
        }
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest() {
        let groups = 500;
        let rows = scattered_rows(30_000, groups);
        let mut accumulator = accumulator(true);
        feed(&mut accumulator, &rows, groups);
        let want = expected(&rows, groups, true);
        let first = accumulator.evaluate(EmitTo::First(200)).unwrap();
        assert_eq!(payload_of(&first), want[..200]);
        let rest = accumulator.evaluate(EmitTo::All).unwrap();
        assert_eq!(payload_of(&rest), want[200..]);
    }

    #[test]
    fn partial_states_merge() {
        let groups = 50;
        let rows = scattered_rows(20_000, groups);
        let (left, right) = rows.split_at(7_000);
        let mut first = accumulator(false);
        feed(&mut first, left, groups);
        let mut second = accumulator(false);
        feed(&mut second, right, groups);
        let mut merged = accumulator(false);
        let everyone: Vec<usize> = (0..groups).collect();
        for mut part in [first, second] {
            merged.merge_batch(&part.state(EmitTo::All).unwrap(), &everyone, groups).unwrap();
        }
        assert_eq!(payload_of(&merged.evaluate(EmitTo::All).unwrap()), expected(&rows, groups, false));
    }

    #[test]
    fn a_null_key_loses_to_any_key_but_keeps_its_row() {
        let mut accumulator = accumulator(true);
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1), None]));
        let payload: ArrayRef = Arc::new(StringArray::from(vec!["null first", "one", "null last"]));
        accumulator.update_batch(&[keys, payload], &[0, 0, 1], None, 2).unwrap();
        assert_eq!(
            payload_of(&accumulator.evaluate(EmitTo::All).unwrap()),
            [Some("one".into()), Some("null last".into())]
        );
    }
}
