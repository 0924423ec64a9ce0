//! `parse`, `parse-where` and `parse-kv`: columns extracted from text.
//!
//! A parse pattern of literals and captures is matched by scanning for the literals
//! (`kind=simple`, `relaxed`), or as a regular expression (`kind=regex`, or when two captures
//! touch and only types can tell them apart). One UDF returns all captures as a struct.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;
use vigil_kql_functions::conversion::convert;
use vigil_kql_functions::strings::StringColumn;
use vigil_kql_functions::value::{ValueBuilder, convert as convert_value};
use vigil_kql_functions::{KqlType, TypedExpr, Value};
use vigil_kql_syntax::Code;
use vigil_kql_syntax::ast::{self, ParseKind, ParsePart};

use super::Binder;
use super::scope::{Row, RowColumn};
use crate::error::{BindError, BindResult};
use crate::relation::Relation;

const MATCHED: &str = "$matched";

/// What a row's text yields: one value per captured column, or no match.
trait Extractor: Send + Sync + std::fmt::Debug {
    fn extract(&self, text: &str) -> Option<Vec<Value>>;
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Capture(Option<usize>),
}

/// `kind=simple` and `relaxed`: captures end where the next literal first occurs.
#[derive(Debug)]
struct ScanExtractor {
    parts: Vec<Part>,
    types: Vec<KqlType>,
    relaxed: bool,
}

impl Extractor for ScanExtractor {
    fn extract(&self, text: &str) -> Option<Vec<Value>> {
        let mut values = vec![Value::Null; self.types.len()];
        let mut position = 0;
        let mut pending: Option<Option<usize>> = None;
        for part in &self.parts {
            match part {
                Part::Literal(literal) => {
                    let found = match pending {
                        Some(_) => text[position..].find(literal.as_str())? + position,
                        None if text[position..].starts_with(literal.as_str()) => position,
                        None => return None,
                    };
                    if let Some(Some(column)) = pending.take() {
                        values[column] = self.typed(column, &text[position..found])?;
                    }
                    pending = None;
                    position = found + literal.len();
                }
                Part::Capture(column) => pending = Some(*column),
            }
        }
        if let Some(Some(column)) = pending {
            values[column] = self.typed(column, &text[position..])?;
        }
        Some(values)
    }
}

impl ScanExtractor {
    /// A captured text as the column's type; `None` fails the whole match unless relaxed.
    fn typed(&self, column: usize, text: &str) -> Option<Value> {
        typed_capture(self.types[column], text, self.relaxed)
    }
}

fn typed_capture(ty: KqlType, text: &str, relaxed: bool) -> Option<Value> {
    if ty == KqlType::String {
        return Some(Value::String(text.to_string()));
    }
    let value = convert_value(&Value::String(text.trim().to_string()), ty);
    if value.is_null() && !relaxed { None } else { Some(value) }
}

/// `kind=regex`: the pattern is a regular expression with a named group per capture (the
/// literals may hold groups of their own).
#[derive(Debug)]
struct RegexExtractor {
    regex: Regex,
    /// The column of each named group `c{index}`.
    groups: Vec<usize>,
    types: Vec<KqlType>,
    relaxed: bool,
}

impl Extractor for RegexExtractor {
    fn extract(&self, text: &str) -> Option<Vec<Value>> {
        let captures = self.regex.captures(text)?;
        let mut values = vec![Value::Null; self.types.len()];
        for (group, column) in self.groups.iter().enumerate() {
            if let Some(m) = captures.name(&format!("c{group}")) {
                values[*column] = typed_capture(self.types[*column], m.as_str(), self.relaxed)?;
            }
        }
        Some(values)
    }
}

/// The regular expression for a typed capture. In `kind=regex` a string column is greedy, as
/// Kusto's is (the `U` flag makes it lazy); between two touching captures of `simple` it is lazy.
fn type_pattern(ty: KqlType, last: bool, regex_kind: bool) -> &'static str {
    match ty {
        KqlType::Int | KqlType::Long => r"\-?\d+",
        KqlType::Real | KqlType::Decimal => r"\-?\d*\.?\d+(?:[eE][\-+]?\d+)?",
        KqlType::Bool => r"true|false|True|False|TRUE|FALSE|1|0",
        _ if last || regex_kind => ".*",
        _ => ".*?",
    }
}

/// The extractors' output as one struct column, plus whether the text matched.
#[derive(Debug)]
struct ExtractUdf {
    extractor: Arc<dyn Extractor>,
    identity: String,
    fields: Fields,
    types: Vec<KqlType>,
    signature: Signature,
}

impl PartialEq for ExtractUdf {
    fn eq(&self, other: &ExtractUdf) -> bool {
        self.identity == other.identity
    }
}

impl Eq for ExtractUdf {}

impl Hash for ExtractUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity.hash(state);
    }
}

impl ScalarUDFImpl for ExtractUdf {
    fn name(&self) -> &str {
        "parse"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.fields.clone()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let strings = StringColumn::new(&array)?;
        let mut builders: Vec<ValueBuilder> = self.types.iter().map(|t| ValueBuilder::new(*t, strings.len())).collect();
        let mut matched = BooleanBuilder::with_capacity(strings.len());
        for row in 0..strings.len() {
            match self.extractor.extract(strings.text(row)) {
                Some(values) => {
                    for (builder, value) in builders.iter_mut().zip(&values) {
                        builder.append(value);
                    }
                    matched.append_value(true);
                }
                None => {
                    for builder in &mut builders {
                        builder.append(&Value::Null);
                    }
                    matched.append_value(false);
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = builders.into_iter().map(ValueBuilder::finish).collect();
        arrays.push(Arc::new(matched.finish()));
        let result = StructArray::try_new(self.fields.clone(), arrays, None)?;
        match &args.args[0] {
            ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)),
            ColumnarValue::Array(_) => Ok(ColumnarValue::Array(Arc::new(result))),
        }
    }
}

impl Binder<'_> {
    pub(crate) fn bind_parse(&mut self, input: Relation, parse: &ast::ParseOperator) -> BindResult<Relation> {
        let mut names: Vec<String> = Vec::new();
        let mut types: Vec<KqlType> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        for part in &parse.pattern {
            match part {
                ParsePart::Literal(text) => parts.push(Part::Literal(text.clone())),
                ParsePart::Wildcard => parts.push(Part::Capture(None)),
                ParsePart::Column(name, ty) => {
                    let ty = ty
                        .as_ref()
                        .map(|t| KqlType::from_name(&t.name).expect("known type"))
                        .unwrap_or(KqlType::String);
                    let index = match names.iter().position(|n| n == &name.name) {
                        Some(index) => index,
                        None => {
                            names.push(name.name.clone());
                            types.push(ty);
                            names.len() - 1
                        }
                    };
                    parts.push(Part::Capture(Some(index)));
                }
            }
        }
        let captures_touch = parts.windows(2).any(|w| matches!(w, [Part::Capture(_), Part::Capture(_)]));
        let extractor: Arc<dyn Extractor> = if parse.kind == ParseKind::Regex || captures_touch {
            Arc::new(regex_extractor(
                &parts,
                &types,
                parse.kind == ParseKind::Regex,
                parse.flags.as_deref(),
                parse.kind == ParseKind::Relaxed,
            )?)
        } else {
            Arc::new(ScanExtractor {
                parts: parts.clone(),
                types: types.clone(),
                relaxed: parse.kind == ParseKind::Relaxed,
            })
        };
        let identity = format!("{:?}{:?}{:?}", parse.kind, parts, types);
        let row = Row::of(&input);
        let source = self.bind_expr(&parse.source, &row)?;
        let text = convert(source.typed(), KqlType::String);
        self.apply_extractor(input, text, extractor, identity, &names, &types, parse.filter)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_extractor(
        &mut self,
        input: Relation,
        text: Expr,
        extractor: Arc<dyn Extractor>,
        identity: String,
        names: &[String],
        types: &[KqlType],
        filter: bool,
    ) -> BindResult<Relation> {
        let mut fields: Vec<Field> = names.iter().zip(types).map(|(n, t)| Field::new(n, t.arrow(), true)).collect();
        fields.push(Field::new(MATCHED, DataType::Boolean, false));
        let udf = ExtractUdf {
            extractor,
            identity,
            fields: Fields::from(fields),
            types: types.to_vec(),
            signature: Signature::any(1, Volatility::Immutable),
        };
        let extracted_name = self.internal_name("parsed");
        let call = ScalarUDF::new_from_impl(udf).call(vec![text]);
        // Extract the struct once, then read its fields.
        let mut staged = Row::of(&input);
        staged.set(RowColumn { name: extracted_name.clone(), ty: KqlType::Dynamic, expr: call });
        let staged = super::project_row(&input, &staged)?;
        let mut staged_row = Row::of(&staged);
        staged_row.columns.retain(|c| c.name != extracted_name);
        let extracted = crate::relation::column_expr(&extracted_name);
        let mut row = staged_row;
        for (name, ty) in names.iter().zip(types) {
            let mut value = get_field(extracted.clone(), name.as_str());
            if *ty == KqlType::String {
                value = vigil_kql_functions::conversion::coalesce_empty(value);
            }
            row.set(RowColumn { name: name.clone(), ty: *ty, expr: value });
        }
        let staged = if filter { staged.filter(get_field(extracted, MATCHED))? } else { staged };
        let mut result = super::project_row(&staged, &row)?;
        result.ordered = input.ordered;
        Ok(result)
    }

    pub(crate) fn bind_parse_kv(&mut self, input: Relation, parse: &ast::ParseKvOperator) -> BindResult<Relation> {
        let mut options = KvOptions::default();
        for option in &parse.options {
            let bound = self.bind_expr(&option.value, &Row::default())?;
            let bound = self.fold_constant(bound);
            let value = bound.constant.unwrap_or(Value::Null);
            match option.name.name.as_str() {
                "pair_delimiter" => options.pair_delimiter = Some(value.to_kql_string()),
                "kv_delimiter" => options.kv_delimiter = Some(value.to_kql_string()),
                "quote" => options.quote = Some(value.to_kql_string()),
                "escape" => options.escape = value.to_kql_string().chars().next(),
                "greedy" => options.greedy = value.as_bool().unwrap_or(false),
                "regex" => {
                    let pattern = value.to_kql_string();
                    let regex = Regex::new(&pattern).map_err(|e| {
                        BindError::new(
                            Code::InvalidLiteral,
                            option.value.span,
                            format!("invalid regex of parse-kv: {e}"),
                        )
                    })?;
                    if regex.captures_len() < 3 {
                        return Err(BindError::new(
                            Code::BadArguments,
                            option.value.span,
                            "the regex of parse-kv needs two groups: the key and the value",
                        ));
                    }
                    options.regex = Some(regex);
                }
                other => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        option.name.span,
                        format!("unknown parse-kv option '{other}'"),
                    ));
                }
            }
        }
        let names: Vec<String> = parse.columns.iter().map(|c| c.name.name.clone()).collect();
        let types: Vec<KqlType> =
            parse.columns.iter().map(|c| KqlType::from_name(&c.ty.name).expect("known type")).collect();
        let identity = format!("kv{options:?}{names:?}{types:?}");
        let extractor = Arc::new(KvExtractor { keys: names.clone(), types: types.clone(), options });
        let row = Row::of(&input);
        let source = self.bind_expr(&parse.source, &row)?;
        let text = convert(TypedExpr::new(source.expr, source.ty), KqlType::String);
        self.apply_extractor(input, text, extractor, identity, &names, &types, false)
    }
}

fn regex_extractor(
    parts: &[Part],
    types: &[KqlType],
    literal_is_regex: bool,
    flags: Option<&str>,
    relaxed: bool,
) -> BindResult<RegexExtractor> {
    let mut pattern = String::new();
    if let Some(flags) = flags.filter(|f| !f.is_empty()) {
        pattern.push_str(&format!("(?{flags})"));
    } else if !literal_is_regex {
        pattern.push('^');
    }
    let mut groups = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let last = index == parts.len() - 1;
        match part {
            Part::Literal(text) if literal_is_regex => pattern.push_str(&format!("(?:{text})")),
            Part::Literal(text) => pattern.push_str(&regex::escape(text)),
            Part::Capture(None) => pattern.push_str(if last && !literal_is_regex { ".*" } else { ".*?" }),
            Part::Capture(Some(column)) => {
                let group = groups.len();
                let typed = type_pattern(types[*column], last, literal_is_regex);
                // `relaxed`: text of the wrong type is captured too, and becomes null.
                let capture = match relaxed && types[*column] != KqlType::String {
                    true => format!("(?P<c{group}>{typed}|.*?)"),
                    false => format!("(?P<c{group}>{typed})"),
                };
                pattern.push_str(&capture);
                groups.push(*column);
            }
        }
    }
    let regex = Regex::new(&pattern)
        .map_err(|e| BindError::new(Code::InvalidLiteral, Default::default(), format!("invalid parse pattern: {e}")))?;
    Ok(RegexExtractor { regex, groups, types: types.to_vec(), relaxed })
}

#[derive(Debug, Default, Clone)]
struct KvOptions {
    pair_delimiter: Option<String>,
    kv_delimiter: Option<String>,
    quote: Option<String>,
    escape: Option<char>,
    greedy: bool,
    /// `regex=`: each match is a pair, its first group the key and its second the value.
    regex: Option<Regex>,
}

/// `parse-kv`: the values of the requested keys.
#[derive(Debug)]
struct KvExtractor {
    keys: Vec<String>,
    types: Vec<KqlType>,
    options: KvOptions,
}

impl Extractor for KvExtractor {
    fn extract(&self, text: &str) -> Option<Vec<Value>> {
        let pairs = match (&self.options.regex, &self.options.pair_delimiter, &self.options.kv_delimiter) {
            (Some(regex), _, _) => regex
                .captures_iter(text)
                .filter_map(|c| Some((c.get(1)?.as_str().trim().to_string(), c.get(2)?.as_str().to_string())))
                .collect(),
            (None, Some(pair), Some(kv)) => self.delimited_pairs(text, pair, kv),
            _ => self.automatic_pairs(text),
        };
        Some(
            self.keys
                .iter()
                .zip(&self.types)
                .map(|(key, ty)| match pairs.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => typed_capture(*ty, value, true).unwrap_or(Value::Null),
                    None if *ty == KqlType::String => Value::String(String::new()),
                    None => Value::Null,
                })
                .collect(),
        )
    }
}

impl KvExtractor {
    fn quotes(&self) -> Option<(char, char)> {
        let quote: Vec<char> = self.options.quote.as_deref()?.chars().collect();
        match quote.as_slice() {
            [q] => Some((*q, *q)),
            [open, close] => Some((*open, *close)),
            _ => None,
        }
    }

    /// Reads a possibly quoted token from `chars[i..]`, stopping at `stop` when unquoted.
    fn token(&self, chars: &[char], mut i: usize, stop: &dyn Fn(&[char], usize) -> bool) -> (String, usize) {
        let mut out = String::new();
        if let Some((open, close)) = self.quotes()
            && chars.get(i) == Some(&open)
        {
            i += 1;
            while i < chars.len() && chars[i] != close {
                if Some(chars[i]) == self.options.escape && i + 1 < chars.len() {
                    i += 1;
                }
                out.push(chars[i]);
                i += 1;
            }
            return (out, (i + 1).min(chars.len()));
        }
        while i < chars.len() && !stop(chars, i) {
            out.push(chars[i]);
            i += 1;
        }
        (out, i)
    }

    fn delimited_pairs(&self, text: &str, pair: &str, kv: &str) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        let pair: Vec<char> = pair.chars().collect();
        let kv: Vec<char> = kv.chars().collect();
        let at = |chars: &[char], i: usize, needle: &[char]| chars[i..].starts_with(needle);
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            while i < chars.len() && (at(&chars, i, &pair) || chars[i] == ' ') {
                i += pair.len().max(1);
            }
            let (key, next) = self.token(&chars, i, &|c, j| at(c, j, &kv) || at(c, j, &pair));
            i = next;
            if i >= chars.len() || !at(&chars, i, &kv) {
                i += 1;
                continue;
            }
            i += kv.len();
            let (value, next) = if self.options.greedy {
                // A value runs to the next pair delimiter that is followed by a key and `kv`.
                let mut end = i;
                loop {
                    if end >= chars.len() {
                        break;
                    }
                    if at(&chars, end, &pair) {
                        let rest: String = chars[end + pair.len()..].iter().collect();
                        let kv_text: String = kv.iter().collect();
                        let pair_text: String = pair.iter().collect();
                        if let Some(position) = rest.find(&kv_text)
                            && !rest[..position].contains(&pair_text)
                        {
                            break;
                        }
                    }
                    end += 1;
                }
                (chars[i..end].iter().collect::<String>(), end)
            } else {
                self.token(&chars, i, &|c, j| at(c, j, &pair))
            };
            pairs.push((key.trim().to_string(), value.trim().to_string()));
            i = next;
        }
        pairs
    }

    /// Without delimiters: each requested key followed by `:` or `=`, and a value up to the
    /// next comma, semicolon or space.
    fn automatic_pairs(&self, text: &str) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        let mut pairs = Vec::new();
        for key in &self.keys {
            let key_chars: Vec<char> = key.chars().collect();
            let mut i = 0;
            while i + key_chars.len() <= chars.len() {
                let boundary = i == 0 || !chars[i - 1].is_alphanumeric();
                if boundary && chars[i..].starts_with(&key_chars) {
                    let mut j = i + key_chars.len();
                    while j < chars.len() && chars[j] == ' ' {
                        j += 1;
                    }
                    if j < chars.len() && (chars[j] == ':' || chars[j] == '=') {
                        j += 1;
                        while j < chars.len() && chars[j] == ' ' {
                            j += 1;
                        }
                        let (value, _) = self.token(&chars, j, &|c, k| matches!(c[k], ',' | ';' | ' '));
                        pairs.push((key.clone(), value));
                        break;
                    }
                }
                i += 1;
            }
        }
        pairs
    }
}
