//! The binder: syntax tree to DataFusion logical plans, with KQL types.
//!
//! Binding and planning are one pass. Every scalar expression is bound to a DataFusion
//! expression and its KQL type (`Bound`); every tabular expression to a `Relation`. Names are
//! resolved against the current row, then `let` bindings, then the catalog; unknown names
//! get a "did you mean" from the same candidates.
//!
//! Architecture invariant: the binder reaches data only through `Catalog` and, for the few
//! operators whose output shape depends on data (`bag_unpack`, `pivot`, `toscalar`), through
//! `Executor`. Without an executor (`vigil check`) those bind to typed placeholders.

mod aggregate;
mod expr;
mod ip_lookup;
mod join;
mod mv;
mod naming;
mod operators;
mod parse;
mod plugins;
mod range;
mod rows_near;
mod scan;
mod scope;
mod series;
mod sources;
mod watchlist;
mod window;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use vigil_kql_functions::{CallContext, KqlColumn, KqlType, Value};
use vigil_kql_syntax::ast::{self, ExprKind, LetValue, Operator, OperatorKind, Statement};
use vigil_kql_syntax::{Code, Diagnostic, Span, suggest};

use scope::{Binding, SavedFunctionText, Scope, UserFunction};
pub use scope::{Bound, Row};

use crate::error::{BindError, BindResult};
use crate::relation::{Relation, alias, column_expr};
use vigil_catalog::Catalog;

/// Runs a plan while binding, for operators whose output depends on data.
pub trait Executor {
    fn collect(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>>;
}

/// One table of a query's result.
#[derive(Debug, Clone)]
pub struct BoundResult {
    pub name: String,
    pub relation: Relation,
}

pub struct Binder<'a> {
    catalog: &'a dyn Catalog,
    executor: Option<&'a dyn Executor>,
    context: CallContext,
    scope: Scope,
    parameters: HashMap<String, Value>,
    /// `set name = value` request properties the query gives (`query_bin_auto_size`).
    request_properties: HashMap<String, Value>,
    /// Collects aggregate calls while `summarize` binds its aggregates.
    aggregates: Option<aggregate::AggregateCollector>,
    /// Collects `prev()`/`next()`/`row_number()` calls while `extend` binds over ordered rows.
    windows: Option<window::WindowCollector>,
    /// Results besides the main one (`fork` branches, `facet` tables).
    extra_results: Vec<BoundResult>,
    /// The input of sub-pipelines that begin with an operator (`mv-apply`, `fork`).
    context_inputs: Vec<Relation>,
    /// Columns that grouping operators partition by and projections keep: the row id of an
    /// enclosing `mv-apply`.
    partition_keys: Vec<String>,
    /// The catalog's saved functions parsed so far (`None`: the catalog has no such function).
    saved_functions: RefCell<HashMap<String, Option<Rc<UserFunction>>>>,
    /// Where `externaldata` reads documents from, if anywhere.
    external_data: Option<std::sync::Arc<dyn crate::ExternalData>>,
    next_id: usize,
    /// While an editor's check binds (`bind_all`), the problems found so far: a failing
    /// operator is recorded and skipped, its input going on to the next one.
    recovered: Option<Vec<Diagnostic>>,
    /// The user functions being inlined or inspected, innermost last: a function met again
    /// inside itself is recursion, which KQL does not have.
    expanding: RefCell<Vec<ExpansionKey>>,
    /// How many function bodies this query has inlined, against `MAX_FUNCTION_EXPANSIONS`.
    expansions: usize,
}

/// Function calls inline their bodies, so functions that each call the next several times
/// expand exponentially; a query past this many inlined bodies is refused.
const MAX_FUNCTION_EXPANSIONS: usize = 10_000;

/// One function definition: its name and where its text is (a `let` in a body may reuse an
/// outer function's name without being the same function).
#[derive(PartialEq)]
struct ExpansionKey {
    name: String,
    span: Span,
    saved: bool,
}

impl ExpansionKey {
    fn of(function: &UserFunction) -> ExpansionKey {
        ExpansionKey { name: function.name.clone(), span: function.definition.span, saved: function.saved.is_some() }
    }
}

impl<'a> Binder<'a> {
    pub fn new(catalog: &'a dyn Catalog, executor: Option<&'a dyn Executor>, context: CallContext) -> Binder<'a> {
        Binder {
            catalog,
            executor,
            context,
            scope: Scope::default(),
            parameters: HashMap::new(),
            request_properties: HashMap::new(),
            aggregates: None,
            windows: None,
            extra_results: Vec::new(),
            context_inputs: Vec::new(),
            partition_keys: Vec::new(),
            saved_functions: RefCell::new(HashMap::new()),
            external_data: None,
            next_id: 0,
            recovered: None,
            expanding: RefCell::new(Vec::new()),
            expansions: 0,
        }
    }

    /// Lets `externaldata` read documents from `source`.
    pub fn with_external_data(mut self, source: Option<std::sync::Arc<dyn crate::ExternalData>>) -> Binder<'a> {
        self.external_data = source;
        self
    }

    /// Values for `declare query_parameters`, supplied by the caller.
    pub fn with_parameters(mut self, parameters: HashMap<String, Value>) -> Binder<'a> {
        self.parameters = parameters;
        self
    }

    /// What a name means: a `let` binding in scope, else a saved function of the catalog.
    pub(crate) fn lookup(&self, name: &str) -> Option<Binding> {
        if let Some(binding) = self.scope.lookup(name) {
            return Some(binding.clone());
        }
        self.saved_function(name).map(Binding::Function)
    }

    /// A saved function of the catalog, parsed once per query. Saved functions see the
    /// catalog, not the query's `let`s.
    fn saved_function(&self, name: &str) -> Option<Rc<UserFunction>> {
        if let Some(known) = self.saved_functions.borrow().get(name) {
            return known.clone();
        }
        let parsed = self.catalog.function(name).map(|saved| {
            let (text, body_offset) = saved.as_let_statement();
            let parsed = vigil_kql_syntax::parse(&text);
            let definition = parsed.query.statements.into_iter().find_map(|statement| match statement {
                Statement::Let(ast::LetStatement { value: LetValue::Function(definition), .. }) => Some(definition),
                _ => None,
            });
            let mut diagnostics = parsed.diagnostics;
            let definition = definition.unwrap_or_else(|| {
                if diagnostics.is_empty() {
                    diagnostics.push(vigil_kql_syntax::Diagnostic::error(
                        Code::UnexpectedToken,
                        Span::new(body_offset, body_offset),
                        "the function's text is not a function definition",
                    ));
                }
                placeholder_definition()
            });
            Rc::new(UserFunction {
                name: saved.name.clone(),
                definition,
                scope: Scope::default(),
                saved: Some(Rc::new(SavedFunctionText { text, body_offset, diagnostics })),
            })
        });
        self.saved_functions.borrow_mut().insert(name.to_string(), parsed.clone());
        parsed
    }

    /// A fresh name for an internal column; KQL names cannot contain `$`.
    fn internal_name(&mut self, purpose: &str) -> String {
        self.next_id += 1;
        format!("$vigil_{purpose}_{}", self.next_id)
    }

    pub fn bind_query(&mut self, query: &ast::Query) -> BindResult<Vec<BoundResult>> {
        let mut results = Vec::new();
        for statement in &query.statements {
            self.bind_statement(statement, &mut results)?;
        }
        if results.is_empty() {
            return Err(no_result());
        }
        Ok(results)
    }

    /// Binds as far as it can and returns every problem found, for editors: a failing operator
    /// is skipped (its input goes on), a failing statement is left out, and names it would have
    /// defined are not reported again where they are used. Statements that `skip` (the spans
    /// the parser found errors in) are not bound. Returns the first result's columns too.
    pub fn bind_all(
        &mut self,
        query: &ast::Query,
        skip: impl Fn(Span) -> bool,
    ) -> (Option<Vec<KqlColumn>>, Vec<Diagnostic>) {
        self.recovered = Some(Vec::new());
        let mut results = Vec::new();
        let mut undefined = Vec::new();
        for statement in &query.statements {
            if skip(statement_span(statement)) {
                if let Statement::Let(let_statement) = statement {
                    undefined.push(let_statement.name.name.clone());
                }
                continue;
            }
            if let Err(error) = self.bind_statement(statement, &mut results) {
                if let Statement::Let(let_statement) = statement {
                    undefined.push(let_statement.name.name.clone());
                }
                self.recovered.get_or_insert_with(Vec::new).push(error.0);
            }
        }
        let mut diagnostics = self.recovered.take().unwrap_or_default();
        diagnostics.retain(|d| {
            !matches!(d.code, Code::UnknownName | Code::UnknownTable)
                || !undefined.iter().any(|name| d.message.contains(&format!("'{name}'")))
        });
        let has_query = query.statements.iter().any(|s| matches!(s, Statement::Query(_)));
        if !has_query && diagnostics.is_empty() {
            diagnostics.push(no_result().0);
        }
        (results.into_iter().next().map(|r| r.relation.columns), diagnostics)
    }

    fn bind_statement(&mut self, statement: &Statement, results: &mut Vec<BoundResult>) -> BindResult<()> {
        match statement {
            Statement::Let(let_statement) => self.bind_let(let_statement)?,
            Statement::Set { name, value: Some(value), .. } => {
                let bound = self.bind_expr(value, &Row::default())?;
                if let Some(constant) = self.fold_constant(bound).constant {
                    self.request_properties.insert(name.name.clone(), constant);
                }
            }
            Statement::Set { .. } => {}
            Statement::DeclareQueryParameters { parameters, .. } => self.declare_parameters(parameters)?,
            Statement::Query(expr) => {
                let relation = self.bind_tabular(expr)?;
                let name =
                    if results.is_empty() { "PrimaryResult".to_string() } else { format!("Table_{}", results.len()) };
                results.push(BoundResult { name, relation });
                results.append(&mut self.extra_results);
            }
        }
        Ok(())
    }

    fn declare_parameters(&mut self, parameters: &[ast::Parameter]) -> BindResult<()> {
        for parameter in parameters {
            let ast::ParameterType::Scalar(type_name) = &parameter.ty else {
                return Err(BindError::new(
                    Code::Unsupported,
                    parameter.name.span,
                    "tabular query parameters are not supported",
                ));
            };
            let ty = KqlType::from_name(&type_name.name).expect("the parser accepts only known types");
            let value = match self.parameters.get(&parameter.name.name) {
                Some(value) => vigil_kql_functions::value::convert(value, ty),
                None => match &parameter.default {
                    Some(default) => {
                        let bound = self.bind_expr(default, &Row::default())?;
                        bound.constant.unwrap_or(Value::Null)
                    }
                    None => {
                        return Err(BindError::new(
                            Code::UnknownName,
                            parameter.name.span,
                            format!("query parameter '{}' has no value and no default", parameter.name.name),
                        ));
                    }
                },
            };
            self.scope = self.scope.with(&parameter.name.name, Binding::Scalar(Bound::constant(value, ty)));
        }
        Ok(())
    }

    fn bind_let(&mut self, statement: &ast::LetStatement) -> BindResult<()> {
        let name = &statement.name.name;
        let binding = match &statement.value {
            LetValue::Function(definition) => Binding::Function(Rc::new(UserFunction {
                name: name.clone(),
                definition: definition.clone(),
                scope: self.scope.clone(),
                saved: None,
            })),
            LetValue::Expr(expr) => {
                if self.is_tabular(expr) {
                    let mut relation = self.bind_tabular(expr)?;
                    relation.name.get_or_insert_with(|| name.clone());
                    Binding::Tabular(relation)
                } else {
                    let bound = self.bind_expr(expr, &Row::default())?;
                    Binding::Scalar(self.fold_constant(bound))
                }
            }
        };
        self.scope = self.scope.with(name, binding);
        Ok(())
    }

    /// Does this expression produce a table (rather than a scalar)?
    fn is_tabular(&self, expr: &ast::Expr) -> bool {
        match &expr.kind {
            ExprKind::Pipe { .. } | ExprKind::Source(_) | ExprKind::ContextInput => true,
            ExprKind::Parenthesized(inner) => self.is_tabular(inner),
            ExprKind::Name(ident) => match self.lookup(&ident.name) {
                Some(Binding::Tabular(_)) => true,
                Some(Binding::Function(function)) => {
                    callable_without_arguments(&function) && self.body_is_tabular(&function)
                }
                Some(Binding::Scalar(_)) => false,
                None => self.catalog.table(&ident.name).is_some(),
            },
            ExprKind::Call { function, .. } => match self.lookup(&function.name) {
                Some(Binding::Function(user)) => self.body_is_tabular(&user),
                Some(_) => false,
                None => matches!(
                    function.name.as_str(),
                    "materialize" | "table" | "view" | "database" | "cluster" | "workspace" | "app" | "_GetWatchlist"
                ),
            },
            _ => false,
        }
    }

    fn body_is_tabular(&self, function: &UserFunction) -> bool {
        let key = ExpansionKey::of(function);
        if self.expanding.borrow().contains(&key) {
            return false;
        }
        self.expanding.borrow_mut().push(key);
        let tabular = self.result_is_tabular(function);
        self.expanding.borrow_mut().pop();
        tabular
    }

    fn result_is_tabular(&self, function: &UserFunction) -> bool {
        let result = &function.definition.body.result;
        match &result.kind {
            ExprKind::Name(ident) => {
                function
                    .definition
                    .parameters
                    .iter()
                    .any(|p| p.name.name == ident.name && matches!(p.ty, ast::ParameterType::Tabular { .. }))
                    || function.definition.body.lets.iter().any(|l| l.name.name == ident.name)
                    || self.is_tabular(result)
            }
            _ => self.is_tabular(result),
        }
    }

    /// Binds a tabular expression.
    pub fn bind_tabular(&mut self, expr: &ast::Expr) -> BindResult<Relation> {
        match &expr.kind {
            ExprKind::Pipe { input, operator } => {
                let input = self.bind_tabular(input)?;
                let kept = self.recovered.is_some().then(|| input.clone());
                match (self.bind_operator(Some(input), operator), kept) {
                    (Ok(relation), _) => Ok(relation),
                    (Err(error), Some(input)) => {
                        self.recovered.get_or_insert_with(Vec::new).push(error.at(operator.span).0);
                        Ok(input)
                    }
                    (Err(error), None) => Err(error.at(operator.span)),
                }
            }
            ExprKind::Source(operator) => self.bind_operator(None, operator).map_err(|e| e.at(operator.span)),
            ExprKind::Parenthesized(inner) => self.bind_tabular(inner),
            ExprKind::ContextInput => self.context_inputs.last().cloned().ok_or_else(|| {
                BindError::new(Code::UnexpectedToken, expr.span, "an operator needs an input table here")
            }),
            ExprKind::Name(ident) => self.bind_table_name(&ident.name, ident.span),
            ExprKind::Call { function, args } => self.bind_tabular_call(function, args, expr.span),
            ExprKind::Wildcard(pattern) => Err(BindError::new(
                Code::UnexpectedToken,
                expr.span,
                format!("'{pattern}' can only name tables in union or search"),
            )),
            _ => Err(BindError::new(
                Code::TypeMismatch,
                expr.span,
                "expected a tabular expression (a table or a query), found a scalar expression",
            )),
        }
    }

    fn bind_table_name(&mut self, name: &str, span: Span) -> BindResult<Relation> {
        match self.lookup(name) {
            Some(Binding::Tabular(relation)) => return Ok(relation),
            Some(Binding::Function(function)) if callable_without_arguments(&function) => {
                return self.call_user_function(&function, &[], span, &Row::default()).and_then(|r| match r {
                    FunctionResult::Tabular(mut relation) => {
                        relation.name.get_or_insert_with(|| name.to_string());
                        Ok(relation)
                    }
                    FunctionResult::Scalar(_) => {
                        Err(BindError::new(Code::TypeMismatch, span, format!("'{name}' is a scalar, not a table")))
                    }
                });
            }
            Some(Binding::Scalar(_)) => {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    span,
                    format!("'{name}' is a scalar value, not a table"),
                ));
            }
            _ => {}
        }
        match self.catalog.table(name) {
            Some(table) => self.scan_table(&table),
            None => {
                let mut candidates = self.catalog.table_names();
                candidates.extend(self.scope.tabular_names());
                candidates.extend(self.catalog.function_names());
                let mut error = BindError::new(Code::UnknownTable, span, format!("unknown table or function '{name}'"));
                if let Some(candidate) = suggest(name, candidates.iter().map(String::as_str)) {
                    error = error.with_help(format!("did you mean '{candidate}'?"));
                }
                Err(error)
            }
        }
    }

    /// A scan of a catalog table, with its columns named as KQL names them. Nullable string
    /// columns read null as empty, since KQL strings are never null.
    pub(crate) fn scan_table(&mut self, table: &vigil_catalog::Table) -> BindResult<Relation> {
        let source = datafusion::datasource::provider_as_source(table.provider.clone());
        let plan = LogicalPlanBuilder::scan(table.name.as_str(), source, None)
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let schema = plan.schema().clone();
        let mut exprs = Vec::with_capacity(table.columns.len());
        for column in &table.columns {
            let Some((qualifier, field)) = schema.iter().find(|(_, f)| f.name() == &column.name) else {
                return Err(BindError::new(
                    Code::Unsupported,
                    Span::default(),
                    format!("table '{}' declares column '{}' that its data does not have", table.name, column.name),
                ));
            };
            let reference = datafusion::logical_expr::Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ));
            let expr = if column.ty == KqlType::String && field.is_nullable() {
                vigil_kql_functions::conversion::coalesce_empty(reference)
            } else {
                reference
            };
            exprs.push(alias(expr, &column.name));
        }
        let plan = LogicalPlanBuilder::from(plan).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        let mut relation = Relation::new(plan, table.columns.clone());
        relation.name = Some(table.name.clone());
        relation.open = table.open;
        Ok(relation)
    }

    pub(crate) fn bind_tabular_call(
        &mut self,
        function: &ast::Ident,
        args: &[ast::Argument],
        span: Span,
    ) -> BindResult<Relation> {
        if let Some(Binding::Function(user)) = self.lookup(&function.name) {
            return match self.call_user_function(&user, args, span, &Row::default())? {
                FunctionResult::Tabular(relation) => Ok(relation),
                FunctionResult::Scalar(_) => Err(BindError::new(
                    Code::TypeMismatch,
                    span,
                    format!("'{}' returns a scalar, not a table", function.name),
                )),
            };
        }
        match function.name.as_str() {
            "materialize" => {
                let [arg] = args else {
                    return Err(BindError::new(Code::BadArguments, span, "materialize() takes one tabular argument"));
                };
                let relation = self.bind_tabular(&arg.value)?;
                self.materialize(relation)
            }
            "table" | "view" => {
                // The name may be any constant string: `table(tableName)` with a `let`.
                let name = match args.first() {
                    Some(arg) if arg.name.is_none() => {
                        let bound = self.bind_expr(&arg.value, &Row::default())?;
                        match self.fold_constant(bound).constant {
                            Some(Value::String(name)) => name,
                            _ => {
                                return Err(BindError::new(
                                    Code::BadArguments,
                                    span,
                                    "table() takes a table name as a constant string",
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(BindError::new(
                            Code::BadArguments,
                            span,
                            "table() takes a table name as a constant string",
                        ));
                    }
                };
                self.bind_table_name(&name, span)
            }
            "_GetWatchlist" => self.bind_get_watchlist(args, span),
            "database" | "cluster" | "workspace" | "app" => Err(BindError::new(
                Code::Unsupported,
                span,
                format!("cross-{} queries are not supported", function.name),
            )),
            _ => {
                let mut error =
                    BindError::new(Code::UnknownTable, function.span, format!("unknown function '{}'", function.name));
                let mut candidates = self.scope.names();
                candidates.extend(self.catalog.function_names());
                if let Some(candidate) = suggest(&function.name, candidates.iter().map(String::as_str)) {
                    error = error.with_help(format!("did you mean '{candidate}'?"));
                }
                Err(error)
            }
        }
    }

    /// Runs a relation now and keeps its rows, so later references do not run it again.
    fn materialize(&mut self, relation: Relation) -> BindResult<Relation> {
        let Some(executor) = self.executor else {
            return Ok(relation);
        };
        let batches = executor.collect(relation.plan.clone()).map_err(BindError::plan)?;
        let schema = relation.plan.schema().inner().clone();
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches]).map_err(BindError::plan)?;
        let source = datafusion::datasource::provider_as_source(std::sync::Arc::new(table));
        let plan =
            LogicalPlanBuilder::scan("materialized", source, None).and_then(|b| b.build()).map_err(BindError::plan)?;
        let exprs: Vec<_> = relation.columns.iter().map(|c| column_expr(&c.name)).collect();
        let plan = LogicalPlanBuilder::from(plan).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        Ok(relation.with(plan, relation.columns.clone()))
    }

    /// Calls a `let` function by inlining its body with the arguments bound to parameters.
    /// Scalar arguments are bound in the caller's row, so they may refer to its columns.
    fn call_user_function(
        &mut self,
        function: &UserFunction,
        args: &[ast::Argument],
        span: Span,
        row: &Row,
    ) -> BindResult<FunctionResult> {
        // The arguments are bound in the caller's text; the body of a saved function in its own,
        // so problems found there are told at the call, with where they are in the function.
        let saved = function.saved.clone();
        let located = |diagnostic: &vigil_kql_syntax::Diagnostic, saved: &SavedFunctionText| {
            let mut error = BindError::new(diagnostic.code, span, saved.locate(&function.name, diagnostic));
            error.0.help = diagnostic.help.clone();
            error
        };
        if let Some(saved) = &saved
            && let Some(first) = saved.diagnostics.first()
        {
            return Err(located(first, saved));
        }
        let parameters = &function.definition.parameters;
        if args.len() > parameters.len() {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!("function '{}' takes {} arguments, got {}", function.name, parameters.len(), args.len()),
            ));
        }
        // Named arguments take their parameters first; positional ones fill the rest in order.
        let mut assigned: Vec<Option<&ast::Expr>> = vec![None; parameters.len()];
        for arg in args {
            let Some(name) = &arg.name else { continue };
            let index = parameters.iter().position(|p| p.name.name == name.name).ok_or_else(|| {
                BindError::new(
                    Code::BadArguments,
                    name.span,
                    format!("function '{}' has no parameter '{}'", function.name, name.name),
                )
            })?;
            if assigned[index].is_some() {
                return Err(BindError::new(
                    Code::BadArguments,
                    name.span,
                    format!("parameter '{}' of '{}' is given twice", name.name, function.name),
                ));
            }
            assigned[index] = Some(&arg.value);
        }
        for arg in args.iter().filter(|arg| arg.name.is_none()) {
            let index = assigned.iter().position(Option::is_none).expect("no more arguments than parameters");
            assigned[index] = Some(&arg.value);
        }
        let mut scope = function.scope.clone().with(
            &function.name,
            Binding::Function(Rc::new(UserFunction {
                name: function.name.clone(),
                definition: function.definition.clone(),
                scope: function.scope.clone(),
                saved: function.saved.clone(),
            })),
        );
        for (parameter, value) in parameters.iter().zip(assigned) {
            let binding = match (&parameter.ty, value) {
                (ast::ParameterType::Tabular { .. }, Some(value)) => Binding::Tabular(self.bind_tabular(value)?),
                (ast::ParameterType::Scalar(type_name), value) => {
                    let ty = KqlType::from_name(&type_name.name).expect("the parser accepts only known types");
                    let bound = match (value, &parameter.default) {
                        (Some(value), _) => self.bind_expr(value, row)?,
                        (None, Some(default)) => self.bind_expr(default, &Row::default())?,
                        (None, None) => {
                            return Err(BindError::new(
                                Code::BadArguments,
                                span,
                                format!(
                                    "function '{}' needs a value for parameter '{}'",
                                    function.name, parameter.name.name
                                ),
                            ));
                        }
                    };
                    let converted = if bound.ty == ty {
                        bound
                    } else {
                        Bound {
                            expr: vigil_kql_functions::conversion::convert(bound.typed(), ty),
                            ty,
                            constant: bound.constant.map(|v| vigil_kql_functions::value::convert(&v, ty)),
                        }
                    };
                    Binding::Scalar(converted)
                }
                (ast::ParameterType::Tabular { .. }, None) => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        span,
                        format!("function '{}' needs a table for parameter '{}'", function.name, parameter.name.name),
                    ));
                }
            };
            scope = scope.with(&parameter.name.name, binding);
        }
        let key = ExpansionKey::of(function);
        if self.expanding.borrow().contains(&key) {
            return Err(BindError::new(
                Code::Unsupported,
                span,
                format!("function '{}' calls itself; KQL functions cannot be recursive", function.name),
            ));
        }
        self.expansions += 1;
        if self.expansions > MAX_FUNCTION_EXPANSIONS {
            return Err(BindError::new(
                Code::Unsupported,
                span,
                format!(
                    "the query inlines more than {MAX_FUNCTION_EXPANSIONS} function calls; compute a result \
                     used many times once, with `let name = materialize(...)`"
                ),
            ));
        }
        let caller_scope = std::mem::replace(&mut self.scope, scope);
        self.expanding.borrow_mut().push(key);
        let result = self.bind_function_body(&function.definition.body, row);
        self.expanding.borrow_mut().pop();
        self.scope = caller_scope;
        match &saved {
            Some(saved) => result.map_err(|error| located(&error.0, saved)),
            None => result,
        }
    }

    fn bind_function_body(&mut self, body: &ast::FunctionBody, row: &Row) -> BindResult<FunctionResult> {
        for statement in &body.lets {
            self.bind_let(statement)?;
        }
        if self.is_tabular(&body.result) {
            Ok(FunctionResult::Tabular(self.bind_tabular(&body.result)?))
        } else {
            Ok(FunctionResult::Scalar(self.bind_expr(&body.result, row)?))
        }
    }

    pub(crate) fn bind_operator(&mut self, input: Option<Relation>, operator: &Operator) -> BindResult<Relation> {
        let needs_input = |input: Option<Relation>| {
            input.ok_or_else(|| {
                BindError::new(Code::UnexpectedToken, operator.span, "this operator needs an input table")
            })
        };
        match &operator.kind {
            OperatorKind::Where(predicate) => self.bind_where(needs_input(input)?, predicate),
            OperatorKind::Project(items) => self.bind_project(needs_input(input)?, items),
            OperatorKind::Extend(items) => self.bind_extend(needs_input(input)?, items),
            OperatorKind::ProjectAway(patterns) => self.bind_project_away(needs_input(input)?, patterns),
            OperatorKind::ProjectKeep(patterns) => self.bind_project_keep(needs_input(input)?, patterns),
            OperatorKind::ProjectRename(pairs) => self.bind_project_rename(needs_input(input)?, pairs),
            OperatorKind::ProjectReorder(items) => self.bind_project_reorder(needs_input(input)?, items),
            OperatorKind::ProjectByNames(items) => self.bind_project_by_names(needs_input(input)?, items),
            OperatorKind::Summarize { aggregates, by, .. } => self.bind_summarize(needs_input(input)?, aggregates, by),
            OperatorKind::Count { name } => self.bind_count(needs_input(input)?, name.as_ref()),
            OperatorKind::Take(count) => self.bind_take(needs_input(input)?, count),
            OperatorKind::Top { count, by, .. } => self.bind_top(needs_input(input)?, count, by),
            OperatorKind::TopNested(levels) => self.bind_top_nested(needs_input(input)?, levels),
            OperatorKind::TopHitters { count, of, by } => {
                self.bind_top_hitters(needs_input(input)?, count, of, by.as_ref())
            }
            OperatorKind::Sort(keys) => self.bind_sort(needs_input(input)?, keys),
            OperatorKind::Distinct(items) => self.bind_distinct(needs_input(input)?, items),
            OperatorKind::Join { options, right, on } => self.bind_join(needs_input(input)?, options, right, on),
            OperatorKind::Lookup { options, right, on } => self.bind_lookup(needs_input(input)?, options, right, on),
            OperatorKind::Union { options, tables } => self.bind_union(input, options, tables),
            OperatorKind::As { name, .. } => {
                let mut relation = needs_input(input)?;
                relation.name = Some(name.name.clone());
                self.scope = self.scope.with(&name.name, Binding::Tabular(relation.clone()));
                Ok(relation)
            }
            OperatorKind::Parse(parse) => self.bind_parse(needs_input(input)?, parse),
            OperatorKind::ParseKv(parse) => self.bind_parse_kv(needs_input(input)?, parse),
            OperatorKind::MvExpand(expand) => self.bind_mv_expand(needs_input(input)?, expand),
            OperatorKind::MvApply(apply) => self.bind_mv_apply(needs_input(input)?, apply),
            OperatorKind::MakeSeries(series) => self.bind_make_series(needs_input(input)?, series),
            OperatorKind::Datatable { columns, values } => self.bind_datatable(columns, values, operator.span),
            OperatorKind::ExternalData { columns, uris, properties } => {
                self.bind_externaldata(columns, uris, properties)
            }
            OperatorKind::Print(items) => self.bind_print(items),
            OperatorKind::Range { column, from, to, step } => self.bind_range(column, from, to, step),
            OperatorKind::Search { options, tables, predicate } => self.bind_search(input, options, tables, predicate),
            OperatorKind::Find { tables, predicate, .. } => self.bind_search(input, &[], tables, predicate),
            OperatorKind::Getschema => self.bind_getschema(needs_input(input)?),
            OperatorKind::Serialize(items) => {
                let mut relation = needs_input(input)?;
                relation.ordered = true;
                if items.is_empty() { Ok(relation) } else { self.bind_extend(relation, items) }
            }
            OperatorKind::Sample { count } => self.bind_sample(needs_input(input)?, count),
            OperatorKind::SampleDistinct { count, column } => {
                self.bind_sample_distinct(needs_input(input)?, count, column)
            }
            OperatorKind::Evaluate { call, output_schema, .. } => {
                self.bind_evaluate(input, call, output_schema.as_ref())
            }
            OperatorKind::Render { chart, properties } => self.bind_render(needs_input(input)?, chart, properties),
            OperatorKind::Invoke(call) => self.bind_invoke(needs_input(input)?, call),
            OperatorKind::Fork(branches) => self.bind_fork(needs_input(input)?, branches),
            OperatorKind::Facet { columns, with } => self.bind_facet(needs_input(input)?, columns, with.as_ref()),
            OperatorKind::Partition { by, subquery, .. } => self.bind_partition(needs_input(input)?, by, subquery),
            OperatorKind::Scan(scan) => self.bind_scan(needs_input(input)?, scan),
            OperatorKind::Reduce { by, options } => self.bind_reduce(needs_input(input)?, by, options),
            OperatorKind::Consume => {
                let relation = needs_input(input)?;
                let plan = LogicalPlanBuilder::from(relation.plan.clone())
                    .limit(0, Some(0))
                    .and_then(|b| b.build())
                    .map_err(BindError::plan)?;
                Ok(Relation::new(plan, relation.columns))
            }
            OperatorKind::Unsupported { name } => {
                Err(BindError::new(Code::Unsupported, operator.span, format!("the '{name}' operator is not supported")))
            }
        }
    }

    /// Evaluates a constant expression now, so that it can serve where KQL needs constants
    /// (formats, patterns, `range` bounds, `let` values).
    pub(crate) fn fold_constant(&mut self, bound: Bound) -> Bound {
        if bound.constant.is_some() || !is_foldable(&bound.expr) {
            return bound;
        }
        let simplified = crate::engine::simplify_constant(&bound.expr);
        if let Some(datafusion::logical_expr::Expr::Literal(scalar, _)) = &simplified
            && let Ok(value) = Value::from_scalar(scalar, bound.ty)
        {
            return Bound { expr: simplified.expect("checked"), ty: bound.ty, constant: Some(value) };
        }
        bound
    }
}

/// A function called by its name alone: it has no parameters, or a default for each.
fn callable_without_arguments(function: &UserFunction) -> bool {
    function.definition.parameters.iter().all(|p| p.default.is_some())
}

/// The definition of a saved function whose text does not parse: never bound, since calls
/// report the parser's diagnostics first.
fn placeholder_definition() -> ast::FunctionDefinition {
    let nothing = ast::Expr::new(ExprKind::Error, Span::default());
    ast::FunctionDefinition {
        parameters: Vec::new(),
        body: ast::FunctionBody { lets: Vec::new(), result: Box::new(nothing) },
        is_view: false,
        span: Span::default(),
    }
}

/// An expression that refers to no column and calls nothing volatile.
fn is_foldable(expr: &datafusion::logical_expr::Expr) -> bool {
    expr.column_refs().is_empty() && !expr.is_volatile()
}

pub(crate) enum FunctionResult {
    Tabular(Relation),
    Scalar(Bound),
}

/// Columns as `KqlColumn`s from row columns.
fn columns_of(row: &Row) -> Vec<KqlColumn> {
    row.columns.iter().map(|c| KqlColumn::new(c.name.clone(), c.ty)).collect()
}

/// A relation that projects a row's expressions.
fn project_row(input: &Relation, row: &Row) -> BindResult<Relation> {
    let exprs = row.columns.iter().map(|c| c.expr.clone()).collect();
    input.project(exprs, columns_of(row))
}

fn no_result() -> BindError {
    BindError::new(Code::UnexpectedEnd, Span::default(), "the query has no tabular expression to run")
}

fn statement_span(statement: &Statement) -> Span {
    match statement {
        Statement::Let(let_statement) => let_statement.span,
        Statement::Set { span, .. } | Statement::DeclareQueryParameters { span, .. } => *span,
        Statement::Query(expr) => expr.span,
    }
}
