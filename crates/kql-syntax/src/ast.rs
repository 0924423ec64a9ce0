//! The syntax tree. Every node carries the span of the text it came from.
//!
//! Scalar and tabular expressions share one `Expr` type because KQL mixes them freely:
//! `let` binds either, function arguments may be tables (`toscalar(T | count)`), and `in`
//! accepts a list of scalars or a subquery. The binder decides which is which.

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Let(LetStatement),
    /// `set name [= value]`: a request property.
    Set {
        name: Ident,
        value: Option<Expr>,
        span: Span,
    },
    /// `declare query_parameters(name:type [= default], ...)`.
    DeclareQueryParameters {
        parameters: Vec<Parameter>,
        span: Span,
    },
    /// A tabular expression whose result is returned.
    Query(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LetStatement {
    pub name: Ident,
    pub value: LetValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Expr(Expr),
    Function(FunctionDefinition),
}

/// `(params) { body }`, or `view (params) { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDefinition {
    pub parameters: Vec<Parameter>,
    pub body: FunctionBody,
    pub is_view: bool,
    pub span: Span,
}

/// The statements of a function body: zero or more `let`s, then the result expression.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionBody {
    pub lets: Vec<LetStatement>,
    pub result: Box<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: Ident,
    pub ty: ParameterType,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParameterType {
    Scalar(TypeName),
    /// `T:(x:long, y:string)` or `T:(*)`: a table with at least these columns.
    Tabular {
        columns: Vec<ColumnDeclaration>,
        open: bool,
    },
}

/// A KQL scalar type name as written, normalized to the canonical name (`double` -> `real`).
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDeclaration {
    pub name: Ident,
    pub ty: TypeName,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A column, table, variable or function name.
    Name(Ident),
    /// A column name pattern with `*` wildcards (`Ignore*`), or `*` alone.
    Wildcard(String),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x in (a, b)`, `x !in~ (T | project y)`, `x has_any (a, b)`.
    List {
        op: ListOp,
        value: Box<Expr>,
        items: Vec<Expr>,
    },
    Between {
        negated: bool,
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
    },
    /// `target.name`
    Member {
        target: Box<Expr>,
        name: Ident,
    },
    /// `target[index]`
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    Call {
        function: Ident,
        args: Vec<Argument>,
    },
    /// `typeof(long)` as an argument.
    TypeOf(TypeName),
    /// `input | operator`
    Pipe {
        input: Box<Expr>,
        operator: Box<Operator>,
    },
    /// An operator that starts a pipeline: `print`, `range`, `datatable`, `union`, `search`...
    Source(Box<Operator>),
    /// The input of a sub-pipeline that begins with an operator (`mv-apply ... on (top 2 by x)`).
    ContextInput,
    /// `toscalar`/`materialize` take a parenthesized tabular expression; kept as written.
    Parenthesized(Box<Expr>),
    /// Text the parser could not read; a diagnostic says why.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(Option<bool>),
    Int(Option<i32>),
    Long(Option<i64>),
    Real(Option<f64>),
    /// The decimal's text, as written.
    Decimal(Option<String>),
    String(String),
    /// Nanoseconds since the Unix epoch.
    DateTime(Option<i64>),
    /// Nanoseconds.
    Timespan(Option<i64>),
    Guid(Option<String>),
    /// JSON text.
    Dynamic(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Negate,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// `=~`
    EqualCi,
    /// `!~`
    NotEqualCi,
    And,
    Or,
    /// `contains`, `!startswith_cs`, `has`, `matches regex`...
    String(StringOp),
}

/// A string predicate operator with its negation and case sensitivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StringOp {
    pub kind: StringOpKind,
    pub negated: bool,
    pub case_sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringOpKind {
    Contains,
    StartsWith,
    EndsWith,
    Has,
    HasPrefix,
    HasSuffix,
    MatchesRegex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListOp {
    In { negated: bool, case_insensitive: bool },
    HasAny,
    HasAll,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// `name = value` for named arguments.
    pub name: Option<Ident>,
    pub value: Expr,
}

/// `name = expr`, `(a, b) = expr`, or a bare `expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub names: Vec<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// An operator parameter written `name=value` before the operator's main part
/// (`kind=inner`, `hint.strategy=shuffle`, `withsource=T`).
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorOption {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullsOrder {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub value: Expr,
    pub order: Option<SortOrder>,
    pub nulls: Option<NullsOrder>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub kind: OperatorKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OperatorKind {
    Where(Expr),
    Project(Vec<Assignment>),
    Extend(Vec<Assignment>),
    ProjectAway(Vec<Expr>),
    ProjectKeep(Vec<Expr>),
    /// `project-rename new = old, ...`
    ProjectRename(Vec<(Ident, Ident)>),
    ProjectReorder(Vec<(Expr, Option<SortOrder>)>),
    ProjectByNames(Vec<Expr>),
    Summarize {
        options: Vec<OperatorOption>,
        aggregates: Vec<Assignment>,
        by: Vec<Assignment>,
    },
    Count {
        name: Option<Ident>,
    },
    Take(Expr),
    Top {
        count: Expr,
        by: SortKey,
        with_others: Option<Ident>,
    },
    TopNested(Vec<TopNestedLevel>),
    /// `top-hitters N of Value [by Summing]`.
    TopHitters {
        count: Expr,
        of: Expr,
        by: Option<Expr>,
    },
    Sort(Vec<SortKey>),
    /// `distinct a, b = f(c)`, or `distinct *`.
    Distinct(Vec<Assignment>),
    Join {
        options: Vec<OperatorOption>,
        right: Expr,
        on: Vec<Expr>,
    },
    Lookup {
        options: Vec<OperatorOption>,
        right: Expr,
        on: Vec<Expr>,
    },
    Union {
        options: Vec<OperatorOption>,
        tables: Vec<Expr>,
    },
    As {
        options: Vec<OperatorOption>,
        name: Ident,
    },
    Parse(ParseOperator),
    ParseKv(ParseKvOperator),
    MvExpand(MvExpandOperator),
    MvApply(MvApplyOperator),
    MakeSeries(MakeSeriesOperator),
    Datatable {
        columns: Vec<ColumnDeclaration>,
        values: Vec<Expr>,
    },
    /// `externaldata(...) [uris] with (format="csv", ...)`.
    ExternalData {
        columns: Vec<ColumnDeclaration>,
        uris: Vec<Expr>,
        properties: Vec<OperatorOption>,
    },
    Print(Vec<Assignment>),
    Range {
        column: Ident,
        from: Expr,
        to: Expr,
        step: Expr,
    },
    Search {
        options: Vec<OperatorOption>,
        tables: Vec<Expr>,
        predicate: Expr,
    },
    Find {
        options: Vec<OperatorOption>,
        tables: Vec<Expr>,
        predicate: Expr,
        project: Option<Vec<Expr>>,
    },
    Getschema,
    Serialize(Vec<Assignment>),
    Sample {
        count: Expr,
    },
    SampleDistinct {
        count: Expr,
        column: Expr,
    },
    Evaluate {
        options: Vec<OperatorOption>,
        call: Expr,
        output_schema: Option<(Vec<ColumnDeclaration>, bool)>,
    },
    Render {
        chart: Ident,
        properties: Vec<OperatorOption>,
    },
    Invoke(Expr),
    Fork(Vec<(Option<Ident>, Expr)>),
    Facet {
        columns: Vec<Ident>,
        with: Option<Expr>,
    },
    Partition {
        options: Vec<OperatorOption>,
        by: Ident,
        subquery: Expr,
    },
    Scan(ScanOperator),
    Reduce {
        by: Expr,
        options: Vec<OperatorOption>,
    },
    /// `consume`: runs the input and returns nothing.
    Consume,
    /// `as` of an `invoke`-able expression in `let`; also any operator that parses but is
    /// named here only so that the binder can say it is not supported.
    Unsupported {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopNestedLevel {
    pub count: Option<Expr>,
    pub of: Assignment,
    pub with_others: Option<Expr>,
    pub by: Assignment,
    pub order: Option<SortOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseKind {
    Simple,
    Regex,
    Relaxed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseOperator {
    pub kind: ParseKind,
    /// Regex flags from `flags=...`.
    pub flags: Option<String>,
    pub source: Expr,
    pub pattern: Vec<ParsePart>,
    /// `parse-where` drops rows that do not match.
    pub filter: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParsePart {
    /// A string literal that must appear.
    Literal(String),
    /// A column to capture, with its type (string when absent).
    Column(Ident, Option<TypeName>),
    /// `*`: skip anything.
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseKvOperator {
    pub source: Expr,
    pub columns: Vec<ColumnDeclaration>,
    pub options: Vec<OperatorOption>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MvExpandItem {
    pub target: Assignment,
    pub to_type: Option<TypeName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MvExpandOperator {
    pub options: Vec<OperatorOption>,
    pub items: Vec<MvExpandItem>,
    pub limit: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MvApplyOperator {
    pub options: Vec<OperatorOption>,
    pub items: Vec<MvExpandItem>,
    pub limit: Option<Expr>,
    pub subquery: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MakeSeriesAggregate {
    pub assignment: Assignment,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MakeSeriesOperator {
    pub options: Vec<OperatorOption>,
    pub aggregates: Vec<MakeSeriesAggregate>,
    pub on: Expr,
    pub from: Option<Expr>,
    pub to: Option<Expr>,
    pub step: Expr,
    pub by: Vec<Assignment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanOperator {
    /// `with_match_id=Name`.
    pub options: Vec<OperatorOption>,
    pub order_by: Vec<SortKey>,
    pub partition_by: Vec<Expr>,
    pub declare: Vec<Parameter>,
    pub steps: Vec<ScanStep>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanStep {
    pub name: Ident,
    pub output: ScanOutput,
    pub optional: bool,
    pub condition: Expr,
    pub assignments: Vec<Assignment>,
}

/// Which of a step's matches `scan` outputs (`output=all|last|none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanOutput {
    #[default]
    All,
    /// Only the last of a run of repeated matches.
    Last,
    None,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// The column name this expression refers to, for KQL's default output naming.
    pub fn as_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Name(ident) => Some(&ident.name),
            _ => None,
        }
    }
}
