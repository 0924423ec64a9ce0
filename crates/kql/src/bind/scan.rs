//! `scan`: a state machine over the ordered rows, as the reference's "Scan logic" describes it.
//!
//! The steps' conditions and assignments are bound once, against a row made of the current
//! record, its declared columns and every step's state (`s1.x`), and compiled to physical
//! expressions. The plan node then walks the rows in order, evaluating them on one-row batches
//! whose columns are shared slices, so no row is copied and nothing is computed while binding.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, new_null_array};
use datafusion::arrow::compute::{concat, interleave};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use vigil_kql_functions::conversion::convert;
use vigil_kql_functions::value::convert as convert_value;
use vigil_kql_functions::{KqlColumn, KqlType, TypedExpr, Value};
use vigil_kql_syntax::Code;
use vigil_kql_syntax::ast::{self, ScanOutput};

use super::Binder;
use super::scope::{Row, RowColumn};
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode, conform};
use crate::relation::{Relation, column_expr};

/// One step, compiled.
#[derive(Debug)]
struct Step {
    condition: Arc<dyn PhysicalExpr>,
    /// Declared column index and the value assigned to it.
    assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    output: ScanOutput,
}

/// The values of one matched record: its input columns and its declared columns, one-row arrays.
type Record = Vec<ArrayRef>;

/// A sequence in progress: the records that matched steps 1..=k, and its match id.
#[derive(Clone)]
struct Sequence {
    records: Vec<Record>,
    match_id: i64,
}

#[derive(Debug)]
struct ScanTransform {
    steps: Vec<Step>,
    /// Physical expressions of the partition keys, evaluated over whole batches.
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the evaluation row: record, declared, then each step's state.
    eval_schema: SchemaRef,
    input_width: usize,
    /// Declared columns' defaults, as one-row arrays.
    defaults: Vec<ArrayRef>,
    /// One-row nulls of the input columns, for states that do not hold a record yet.
    input_nulls: Vec<ArrayRef>,
    with_match_id: bool,
}

/// What one partition's state machine has matched so far.
struct Machine {
    states: Vec<Option<Sequence>>,
    next_match_id: i64,
    /// Index in the output of each step's last `output=last` row of its current run.
    pending_last: Vec<Option<usize>>,
}

/// A record in the output: where its input row is, its declared values, its match id.
struct Emitted {
    batch: usize,
    row: usize,
    declared: Vec<ArrayRef>,
    match_id: i64,
}

impl ScanTransform {
    /// The evaluation batch for the record `current` against a state (`None`: empty).
    fn eval_batch(&self, current: &Record, state: Option<&Sequence>) -> Result<RecordBatch> {
        let width = current.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(width * (self.steps.len() + 1));
        columns.extend(current.iter().cloned());
        for step in 0..self.steps.len() {
            match state.and_then(|s| s.records.get(step)) {
                Some(record) => columns.extend(record.iter().cloned()),
                None => {
                    columns.extend(self.input_nulls.iter().cloned());
                    columns.extend(self.defaults.iter().cloned());
                }
            }
        }
        Ok(RecordBatch::try_new(self.eval_schema.clone(), columns)?)
    }

    fn matches(&self, step: &Step, batch: &RecordBatch) -> Result<bool> {
        let value = step.condition.evaluate(batch)?.into_array(1)?;
        let value = value.as_boolean();
        Ok(value.is_valid(0) && value.value(0))
    }

    /// The record extended with the step's assignments.
    fn extend(&self, step: &Step, current: &Record, batch: &RecordBatch) -> Result<Record> {
        let mut extended = current.clone();
        for (declared, value) in &step.assignments {
            extended[self.input_width + declared] = value.evaluate(batch)?.into_array(1)?;
        }
        Ok(extended)
    }

    fn run_record(
        &self,
        machine: &mut Machine,
        current: &Record,
        at: (usize, usize),
        emitted: &mut Vec<Option<Emitted>>,
    ) -> Result<()> {
        for k in (0..self.steps.len()).rev() {
            let step = &self.steps[k];
            // Check 1: the previous step's sequence moves on to this step.
            if k > 0 && machine.states[k - 1].is_some() {
                let batch = self.eval_batch(current, machine.states[k - 1].as_ref())?;
                if self.matches(step, &batch)? {
                    let extended = self.extend(step, current, &batch)?;
                    let mut sequence = machine.states[k - 1].take().expect("checked");
                    sequence.records.truncate(k);
                    sequence.records.push(extended.clone());
                    let match_id = sequence.match_id;
                    machine.states[k] = Some(sequence);
                    machine.pending_last[k - 1] = None;
                    machine.pending_last[k] = None;
                    self.emit(machine, k, &extended, at, match_id, emitted);
                    continue;
                }
            }
            // Check 2: the step's own sequence goes on, or the first step starts one.
            if machine.states[k].is_some() || k == 0 {
                let batch = self.eval_batch(current, machine.states[k].as_ref())?;
                if self.matches(step, &batch)? {
                    let extended = self.extend(step, current, &batch)?;
                    let match_id = match &mut machine.states[k] {
                        Some(sequence) => {
                            sequence.records.truncate(k);
                            sequence.records.push(extended.clone());
                            sequence.match_id
                        }
                        None => {
                            let match_id = machine.next_match_id;
                            machine.next_match_id += 1;
                            machine.states[k] = Some(Sequence { records: vec![extended.clone()], match_id });
                            machine.pending_last[k] = None;
                            match_id
                        }
                    };
                    self.emit(machine, k, &extended, at, match_id, emitted);
                }
            }
        }
        Ok(())
    }

    fn emit(
        &self,
        machine: &mut Machine,
        step: usize,
        extended: &Record,
        (batch, row): (usize, usize),
        match_id: i64,
        emitted: &mut Vec<Option<Emitted>>,
    ) {
        let record = Emitted { batch, row, declared: extended[self.input_width..].to_vec(), match_id };
        match self.steps[step].output {
            ScanOutput::None => {}
            ScanOutput::All => emitted.push(Some(record)),
            ScanOutput::Last => {
                if let Some(previous) = machine.pending_last[step] {
                    emitted[previous] = None;
                }
                machine.pending_last[step] = Some(emitted.len());
                emitted.push(Some(record));
            }
        }
    }
}

impl Transform for ScanTransform {
    fn name(&self) -> &str {
        "Scan"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let mut machines: HashMap<Vec<ScalarValue>, Machine> = HashMap::new();
        let mut emitted: Vec<Option<Emitted>> = Vec::new();
        for (batch_index, batch) in batches.iter().enumerate() {
            // The evaluation schema's types, whatever representation the input chose.
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .zip(self.eval_schema.fields())
                .map(|(column, field)| conform(column, field))
                .collect::<Result<_>>()?;
            let keys: Vec<ArrayRef> = self
                .partition_by
                .iter()
                .map(|key| key.evaluate(batch)?.into_array(batch.num_rows()))
                .collect::<Result<_>>()?;
            for row in 0..batch.num_rows() {
                let key: Vec<ScalarValue> =
                    keys.iter().map(|k| ScalarValue::try_from_array(k, row)).collect::<Result<_>>()?;
                let machine = machines.entry(key).or_insert_with(|| Machine {
                    states: vec![None; self.steps.len()],
                    next_match_id: 0,
                    pending_last: vec![None; self.steps.len()],
                });
                let mut current: Record = columns.iter().map(|c| c.slice(row, 1)).collect();
                current.extend(self.defaults.iter().cloned());
                self.run_record(machine, &current, (batch_index, row), &mut emitted)?;
            }
        }
        let emitted: Vec<Emitted> = emitted.into_iter().flatten().collect();
        if emitted.is_empty() {
            return Ok(vec![RecordBatch::new_empty(schema.clone())]);
        }
        let indices: Vec<(usize, usize)> = emitted.iter().map(|e| (e.batch, e.row)).collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for (column, field) in schema.fields().iter().enumerate().take(self.input_width) {
            let sources: Vec<ArrayRef> =
                batches.iter().map(|b| conform(b.column(column), field)).collect::<Result<_>>()?;
            let sources: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
            columns.push(interleave(&sources, &indices)?);
        }
        for declared in 0..self.defaults.len() {
            let values: Vec<&dyn Array> = emitted.iter().map(|e| e.declared[declared].as_ref()).collect();
            columns.push(concat(&values)?);
        }
        if self.with_match_id {
            columns.push(Arc::new(Int64Array::from_iter_values(emitted.iter().map(|e| e.match_id))));
        }
        Ok(vec![RecordBatch::try_new(schema.clone(), columns)?])
    }
}

impl Binder<'_> {
    pub(crate) fn bind_scan(&mut self, input: Relation, scan: &ast::ScanOperator) -> BindResult<Relation> {
        let input = if scan.order_by.is_empty() { input } else { self.bind_sort(input, &scan.order_by)? };
        let mut declared: Vec<(String, KqlType, Value)> = Vec::new();
        for parameter in &scan.declare {
            let ast::ParameterType::Scalar(type_name) = &parameter.ty else {
                return Err(BindError::new(
                    Code::Unsupported,
                    parameter.name.span,
                    "scan declares scalar columns only",
                ));
            };
            let ty = KqlType::from_name(&type_name.name).expect("known type");
            let default = match &parameter.default {
                Some(default) => {
                    let bound = self.bind_expr(default, &Row::default())?;
                    convert_value(&self.fold_constant(bound).constant.unwrap_or(Value::Null), ty)
                }
                None => Value::Null,
            };
            declared.push((parameter.name.name.clone(), ty, default));
        }
        let match_id = match scan.options.iter().find(|o| o.name.name == "with_match_id") {
            Some(option) => match &option.value.kind {
                ast::ExprKind::Name(name) => Some(name.name.clone()),
                _ => return Err(BindError::new(Code::BadArguments, option.value.span, "with_match_id names a column")),
            },
            None => None,
        };
        if let Some(unknown) = scan.options.iter().find(|o| o.name.name != "with_match_id") {
            return Err(BindError::new(
                Code::BadArguments,
                unknown.name.span,
                format!("unknown scan option '{}'", unknown.name.name),
            ));
        }
        for (index, step) in scan.steps.iter().enumerate() {
            if scan.steps[..index].iter().any(|s| s.name.name == step.name.name) {
                return Err(BindError::new(
                    Code::BadArguments,
                    step.name.span,
                    format!("step name '{}' is used twice", step.name.name),
                ));
            }
        }

        // The evaluation row: the record (input, then declared), then every step's copy of it.
        let record: Vec<(String, KqlType)> = input
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty))
            .chain(declared.iter().map(|(n, t, _)| (n.clone(), *t)))
            .collect();
        let mut fields: Vec<Field> = Vec::new();
        let mut row = Row::default();
        for (index, (name, ty)) in record.iter().enumerate() {
            let internal = format!("r{index}");
            fields.push(Field::new(&internal, ty.arrow(), true));
            row.columns.push(RowColumn { name: name.clone(), ty: *ty, expr: column_expr(&internal) });
        }
        for (step_index, step) in scan.steps.iter().enumerate() {
            for (index, (name, ty)) in record.iter().enumerate() {
                let internal = format!("s{step_index}_{index}");
                fields.push(Field::new(&internal, ty.arrow(), true));
                row.columns.push(RowColumn {
                    name: format!("{}.{name}", step.name.name),
                    ty: *ty,
                    expr: column_expr(&internal),
                });
            }
        }
        let eval_schema = Arc::new(Schema::new(fields));
        let eval_dfschema = DFSchema::try_from(eval_schema.as_ref().clone()).map_err(BindError::plan)?;
        let state = SessionStateBuilder::new().build();
        let physical = |expr: Expr| state.create_physical_expr(expr, &eval_dfschema).map_err(BindError::plan);

        let mut steps = Vec::new();
        for step in &scan.steps {
            let condition = self.bind_expr(&step.condition, &row)?;
            if !matches!(condition.ty, KqlType::Bool | KqlType::Dynamic) {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    step.condition.span,
                    format!("the condition of step '{}' is {}, not bool", step.name.name, condition.ty),
                ));
            }
            let condition = physical(convert(condition.typed(), KqlType::Bool))?;
            let mut assignments = Vec::new();
            for assignment in &step.assignments {
                let target = &assignment.names[0].name;
                let Some(index) = declared.iter().position(|(n, _, _)| n == target) else {
                    return Err(BindError::new(
                        Code::UnknownName,
                        assignment.span,
                        format!("'{target}' is not declared by the scan"),
                    ));
                };
                let bound = self.bind_expr(&assignment.value, &row)?;
                let value = convert(TypedExpr::new(bound.expr, bound.ty), declared[index].1);
                assignments.push((index, physical(value)?));
            }
            steps.push(Step { condition, assignments, output: step.output });
        }

        let input_row = Row::of(&input);
        let input_dfschema = input.plan.schema().as_ref().clone();
        let mut partition_by = Vec::new();
        for key in &scan.partition_by {
            let bound = self.bind_expr(key, &input_row)?;
            partition_by.push(state.create_physical_expr(bound.expr, &input_dfschema).map_err(BindError::plan)?);
        }

        let one_row = |value: &Value, ty: KqlType| value.to_scalar(ty).to_array_of_size(1).map_err(BindError::plan);
        let defaults = declared.iter().map(|(_, ty, default)| one_row(default, *ty)).collect::<BindResult<_>>()?;
        let input_nulls = input.columns.iter().map(|c| new_null_array(&c.ty.arrow(), 1)).collect();
        let mut columns = input.columns.clone();
        columns.extend(declared.iter().map(|(n, t, _)| KqlColumn::new(n.clone(), *t)));
        if let Some(name) = &match_id {
            columns.push(KqlColumn::new(name.clone(), KqlType::Long));
        }
        let schema = vigil_kql_functions::types::arrow_schema(&columns);
        let transform = ScanTransform {
            steps,
            partition_by,
            eval_schema,
            input_width: input.columns.len(),
            defaults,
            input_nulls,
            with_match_id: match_id.is_some(),
        };
        let plan = TransformNode::plan(
            input.plan.clone(),
            Arc::new(DFSchema::try_from(schema.as_ref().clone()).map_err(BindError::plan)?),
            Arc::new(transform),
        );
        let mut relation = Relation::new(plan, columns);
        relation.ordered = true;
        Ok(relation)
    }
}
