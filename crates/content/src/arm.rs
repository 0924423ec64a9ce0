//! Azure Resource Manager JSON: a solution's package (`Package/mainTemplate.json`, what the
//! content hub deploys), and the resource files of its `Data Connectors` and `Watchlists`
//! folders. Each resource Vigil can install becomes an item; the rest are skipped with what
//! they are.
//!
//! Resource names and some properties are template expressions (`[variables('x')]`,
//! `[concat(parameters('workspace'), '/', ...)]`); the few functions solutions use for them
//! are evaluated against the template's variables and parameter defaults.

use serde_json::{Map, Value as Json, json};
use vigil_control::{NewWatchlist, SavedFunction};
use vigil_detect::parse_rule;

use crate::ContentError;
use crate::read::{Content, HuntingQuery, Reading, is_custom_log_name, read_workbook, stable_id};

/// A template's variables and parameters, for evaluating its expressions.
#[derive(Default)]
struct Template<'a> {
    parameters: Option<&'a Map<String, Json>>,
    variables: Option<&'a Map<String, Json>>,
    /// The template this one is nested in: names it does not define are looked up there.
    parent: Option<&'a Template<'a>>,
}

/// Reads a deployment template (a solution's package).
pub fn read_template(file: &str, text: &str, reading: &mut Reading) -> Result<(), ContentError> {
    let json: Json = serde_json::from_str(text).map_err(|e| ContentError::json(file, &e))?;
    read_resources(file, &json, reading)
}

/// Reads a template, a list of resources, or one resource.
pub fn read_resources(file: &str, json: &Json, reading: &mut Reading) -> Result<(), ContentError> {
    if let Some(resources) = json.as_array() {
        for resource in resources {
            read_resource(file, resource, &Template::default(), reading)?;
        }
        return Ok(());
    }
    if let Some(resources) = json.get("resources").and_then(Json::as_array) {
        let template = Template {
            parameters: json.get("parameters").and_then(Json::as_object),
            variables: json.get("variables").and_then(Json::as_object),
            parent: None,
        };
        let before = reading.items.len() + reading.skipped.len();
        let mut deploys_other = Vec::new();
        for resource in resources {
            if !read_resource(file, resource, &template, reading)? {
                let kind = resource.get("type").and_then(Json::as_str).unwrap_or("?").to_string();
                if !deploys_other.contains(&kind) {
                    deploys_other.push(kind);
                }
            }
        }
        if reading.items.len() + reading.skipped.len() == before && !deploys_other.is_empty() {
            reading.skip(
                file,
                "template",
                file_name(file),
                format!(
                    "deploys Azure resources that run outside Vigil ({}); nothing to install",
                    deploys_other.join(", ")
                ),
            );
        }
        return Ok(());
    }
    if json.get("dataTypes").is_some() && json.get("connectivityCriterias").is_some() {
        read_legacy_connector(file, json, reading);
        return Ok(());
    }
    if !read_resource(file, json, &Template::default(), reading)? {
        reading.skip(
            file,
            "resource",
            file_name(file),
            "not a table, DCR, connector, watchlist or template Vigil installs",
        );
    }
    Ok(())
}

fn file_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// Reads one resource; `false` when it is not content (a function app, a storage account).
fn read_resource(
    file: &str,
    resource: &Json,
    template: &Template,
    reading: &mut Reading,
) -> Result<bool, ContentError> {
    // Content hub packages nest each item's own template in a template spec or content template.
    if let Some(inner) = resource.pointer("/properties/mainTemplate") {
        let inner_template = Template {
            parameters: inner.get("parameters").and_then(Json::as_object),
            variables: inner.get("variables").and_then(Json::as_object),
            parent: Some(template),
        };
        for nested in inner.get("resources").and_then(Json::as_array).into_iter().flatten() {
            read_resource(file, nested, &inner_template, reading)?;
        }
        return Ok(true);
    }
    let kind = resource.get("type").and_then(Json::as_str).unwrap_or_default().to_ascii_lowercase();
    let properties = resource.get("properties").cloned().unwrap_or(Json::Null);
    let name = resource.get("name").and_then(Json::as_str).and_then(|n| template.eval(n));
    let short_name = match name.as_deref().map(last_segment) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => file_name(file).to_string(),
    };
    if kind.ends_with("/alertruletemplates") || kind.ends_with("/alertrules") {
        read_arm_rule(file, &short_name, resource, template, reading);
    } else if kind.ends_with("/savedsearches") {
        read_saved_search(file, &short_name, &properties, template, reading);
    } else if kind == "microsoft.insights/workbooks" {
        let display = properties.get("displayName").and_then(Json::as_str).map(|d| template.eval(d));
        let display = display.flatten().unwrap_or(short_name.clone());
        let serialized = properties.get("serializedData").and_then(Json::as_str).unwrap_or_default();
        let content: Json = serde_json::from_str(serialized)
            .map_err(|e| ContentError::new(file, "properties.serializedData", &format!("is not workbook JSON: {e}")))?;
        read_workbook(file, &display, content, reading);
    } else if kind.ends_with("/watchlists") {
        read_watchlist(file, &short_name, &properties, template, reading)?;
    } else if kind.ends_with("/tables") || properties.pointer("/schema/columns").is_some() {
        let mut table = resource.clone();
        table["name"] = json!(short_name);
        if table.pointer("/properties/schema/name").is_some() {
            table["properties"]["schema"]["name"] = json!(short_name);
        }
        let schema = vigil_catalog::table_from_json(&table)
            .map_err(|e| ContentError::new(file, "properties.schema", &e.to_string()))?;
        reading.add(file, Content::Table { json: table.to_string(), schema });
    } else if kind.ends_with("/datacollectionrules") || properties.get("dataFlows").is_some() {
        let mut dcr = resource.clone();
        dcr["name"] = json!(short_name);
        vigil_control::parse_dcr(&dcr.to_string()).map_err(|m| ContentError::new(file, "properties", &m))?;
        reading.add(file, Content::Dcr { name: short_name, json: dcr.to_string() });
    } else if kind.ends_with("/dataconnectors") {
        let connector_kind = resource.get("kind").and_then(Json::as_str).unwrap_or_default();
        if connector_kind.eq_ignore_ascii_case("RestApiPoller") {
            reading.skip(
                file,
                "connector",
                &short_name,
                "a polling connector: Vigil does not poll sources yet; send the events to its DCR instead",
            );
        } else if let Some(ui) = properties.get("connectorUiConfig") {
            read_legacy_connector(file, ui, reading);
        } else {
            reading.skip(
                file,
                "connector",
                &short_name,
                format!("a '{connector_kind}' connector of Microsoft's, not installable here"),
            );
        }
    } else if kind.ends_with("/dataconnectordefinitions") {
        reading.skip(
            file,
            "connector",
            &short_name,
            "a connector definition: the page Sentinel shows for the connector; nothing to install",
        );
    } else if kind.ends_with("/metadata") || kind.ends_with("/templatespecs") || kind.ends_with("/contentpackages") {
        // Content hub bookkeeping: what the package holds is read from its templates.
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// A connector page of a legacy (Azure Function or agent) connector: its `dataTypes` are the
/// classic custom logs its code writes.
fn read_legacy_connector(file: &str, ui: &Json, reading: &mut Reading) {
    let tables: Vec<String> = ui
        .get("dataTypes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Json::as_str))
        .map(|name| name.trim().to_string())
        .filter(|name| is_custom_log_name(name))
        .collect();
    for name in tables {
        reading.add(file, Content::ClassicTable { name });
    }
}

fn read_arm_rule(file: &str, id: &str, resource: &Json, template: &Template, reading: &mut Reading) {
    let properties = resource.get("properties").cloned().unwrap_or(Json::Null);
    let display = properties.get("displayName").and_then(Json::as_str).unwrap_or(id).to_string();
    let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("Scheduled");
    if !kind.eq_ignore_ascii_case("Scheduled") && !kind.eq_ignore_ascii_case("NRT") {
        reading.skip(
            file,
            "rule",
            &display,
            format!("a '{kind}' rule runs one of Microsoft's own engines; Vigil runs Scheduled and NRT rules"),
        );
        return;
    }
    let mut document = Map::new();
    document.insert("id".into(), json!(id));
    document.insert("name".into(), json!(display));
    document.insert("kind".into(), json!(kind));
    let renamed = [("templateVersion", "version"), ("displayName", "")];
    if let Some(object) = properties.as_object() {
        for (key, value) in object {
            match renamed.iter().find(|(from, _)| from == key) {
                Some((_, "")) => {}
                Some((_, to)) => {
                    document.insert(to.to_string(), value.clone());
                }
                None => {
                    let value = match value.as_str() {
                        Some(text) => json!(template.eval(text).unwrap_or_else(|| text.to_string())),
                        None => value.clone(),
                    };
                    document.insert(key.clone(), value);
                }
            }
        }
    }
    // The ARM form spells the operator out.
    if let Some(operator) = document.get("triggerOperator").and_then(Json::as_str) {
        let short = match operator {
            "GreaterThan" => "gt",
            "LessThan" => "lt",
            "Equal" => "eq",
            "NotEqual" => "ne",
            other => other,
        };
        document.insert("triggerOperator".into(), json!(short));
    }
    let text = serde_json::to_string_pretty(&Json::Object(document)).expect("JSON serializes");
    match parse_rule(file, &text) {
        Ok(rule) => reading.add(file, Content::Rule { rule: Box::new(rule), text }),
        Err(error) => {
            let problems: Vec<String> = error.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
            reading.skip(file, "rule", &display, problems.join("; "));
        }
    }
}

fn read_saved_search(file: &str, name: &str, properties: &Json, template: &Template, reading: &mut Reading) {
    let text = |key: &str| {
        properties
            .get(key)
            .and_then(Json::as_str)
            .map(|t| template.eval(t).unwrap_or_else(|| t.to_string()))
            .unwrap_or_default()
    };
    let query = text("query");
    let display = text("displayName");
    let alias = text("functionAlias");
    if !alias.trim().is_empty() {
        reading.add(
            file,
            Content::Function(SavedFunction {
                name: alias.trim().to_string(),
                aliases: Vec::new(),
                parameters: text("functionParameters"),
                body: query,
                category: text("category"),
                display_name: if display.is_empty() { alias.clone() } else { display },
                source: file.to_string(),
            }),
        );
        return;
    }
    let tag = |tag_name: &str| -> Vec<String> {
        properties
            .get("tags")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter(|t| t.get("name").and_then(Json::as_str).is_some_and(|n| n.eq_ignore_ascii_case(tag_name)))
            .filter_map(|t| t.get("value").and_then(Json::as_str))
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
            .collect()
    };
    let mut techniques = tag("techniques");
    techniques.extend(tag("relevantTechniques"));
    let display = if display.is_empty() { name.to_string() } else { display };
    reading.add(
        file,
        Content::Hunting(HuntingQuery {
            id: if name.is_empty() { stable_id("hunting", &display) } else { name.to_string() },
            description: tag("description").join(", "),
            name: display,
            query,
            tactics: tag("tactics"),
            techniques,
            data_types: Vec::new(),
        }),
    );
}

fn read_watchlist(
    file: &str,
    name: &str,
    properties: &Json,
    template: &Template,
    reading: &mut Reading,
) -> Result<(), ContentError> {
    let text =
        |key: &str| properties.get(key).and_then(Json::as_str).and_then(|t| template.eval(t)).unwrap_or_default();
    let display_name = text("displayName");
    // The alias is the resource's name unless the properties give one; a name the template
    // generates at deployment (`newGuid()`) is replaced by one stable for the watchlist.
    let alias = match text("watchlistAlias") {
        alias if !alias.is_empty() => alias,
        _ if !name.is_empty() => name.to_string(),
        _ => stable_id("watchlist", &display_name),
    };
    let watchlist = NewWatchlist {
        alias,
        display_name,
        description: text("description"),
        provider: text("provider"),
        source: text("source"),
        items_search_key: text("itemsSearchKey"),
        labels: properties
            .get("labels")
            .and_then(Json::as_array)
            .map(|l| l.iter().filter_map(Json::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        raw_content: text("rawContent"),
        lines_to_skip: properties.get("numberOfLinesToSkip").and_then(Json::as_u64).unwrap_or(0) as usize,
    };
    // A watchlist that does not read is bad input: the import stops, naming the field.
    vigil_control::check_watchlist(&watchlist)
        .map_err(|e| ContentError::new(file, &format!("properties.{}", e.field), &e.message))?;
    reading.add(file, Content::Watchlist(watchlist));
    Ok(())
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Parameter,
    Variable,
}

/// The value of a template expression: a string, or a list (`split`).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    List(Vec<String>),
}

impl Template<'_> {
    /// A string property's value: itself, or its expression evaluated. `None` when the
    /// expression calls something only a deployment knows (`newGuid()`, `resourceGroup()`).
    fn eval(&self, text: &str) -> Option<String> {
        self.eval_nested(text, 0)
    }

    /// `depth` counts the expressions being evaluated around this one (a variable that names
    /// another): a template whose variables refer to each other in a circle has no value.
    fn eval_nested(&self, text: &str, depth: usize) -> Option<String> {
        let Some(expression) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
            return Some(text.to_string());
        };
        if expression.starts_with('[') {
            // `[[...]` is a literal string that starts with `[`.
            return Some(text[1..].to_string());
        }
        let mut parser = Expression { text: expression.as_bytes(), at: 0, template: self, depth };
        match parser.value()? {
            Value::Text(text) => Some(text),
            Value::List(_) => None,
        }
    }

    fn lookup(&self, kind: Lookup, name: &str, depth: usize) -> Option<Value> {
        let map = match kind {
            Lookup::Parameter => self.parameters,
            Lookup::Variable => self.variables,
        };
        let Some(entry) = map.and_then(|m| m.get(name)) else {
            return self.parent?.lookup(kind, name, depth);
        };
        let value = match kind {
            // A parameter without a default is a deployment's input (the workspace's name),
            // which only prefixes resource names: it reads as empty.
            Lookup::Parameter => match entry.get("defaultValue") {
                Some(value) => value,
                None => return Some(Value::Text(String::new())),
            },
            Lookup::Variable => entry,
        };
        match value {
            Json::String(text) => self.eval_nested(text, depth + 1).map(Value::Text),
            Json::Number(number) => Some(Value::Text(number.to_string())),
            Json::Bool(flag) => Some(Value::Text(flag.to_string())),
            _ => None,
        }
    }
}

struct Expression<'a> {
    text: &'a [u8],
    at: usize,
    template: &'a Template<'a>,
    depth: usize,
}

impl Expression<'_> {
    fn skip_spaces(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > 32 {
            return None;
        }
        self.skip_spaces();
        let value = match self.text.get(self.at)? {
            b'\'' => self.string().map(Value::Text),
            c if c.is_ascii_digit() => {
                let start = self.at;
                while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
                    self.at += 1;
                }
                Some(Value::Text(String::from_utf8_lossy(&self.text[start..self.at]).to_string()))
            }
            _ => self.call(),
        };
        self.depth -= 1;
        value
    }

    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.text.get(self.at)? {
                b'\'' if self.text.get(self.at + 1) == Some(&b'\'') => {
                    out.push(b'\'');
                    self.at += 2;
                }
                b'\'' => {
                    self.at += 1;
                    return String::from_utf8(out).ok();
                }
                c => {
                    out.push(*c);
                    self.at += 1;
                }
            }
        }
    }

    fn call(&mut self) -> Option<Value> {
        let start = self.at;
        while self.text.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.text[start..self.at]).to_ascii_lowercase();
        self.skip_spaces();
        if self.text.get(self.at) != Some(&b'(') {
            return None;
        }
        self.at += 1;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if self.text.get(self.at) == Some(&b')') {
                self.at += 1;
                break;
            }
            args.push(self.value()?);
            self.skip_spaces();
            match self.text.get(self.at)? {
                b',' => self.at += 1,
                b')' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        // Property access after a call (`resourceGroup().location`) needs a deployment.
        if self.text.get(self.at) == Some(&b'.') || self.text.get(self.at) == Some(&b'[') {
            return None;
        }
        let text = |value: &Value| match value {
            Value::Text(text) => Some(text.clone()),
            Value::List(_) => None,
        };
        match (name.as_str(), args.as_slice()) {
            ("parameters", [Value::Text(key)]) => self.template.lookup(Lookup::Parameter, key, self.depth),
            ("variables", [Value::Text(key)]) => self.template.lookup(Lookup::Variable, key, self.depth),
            ("concat", values) => {
                values.iter().map(text).collect::<Option<Vec<_>>>().map(|parts| Value::Text(parts.concat()))
            }
            ("split", [Value::Text(whole), Value::Text(separator)]) if !separator.is_empty() => {
                Some(Value::List(whole.split(separator.as_str()).map(str::to_string).collect()))
            }
            ("last", [Value::List(items)]) => items.last().cloned().map(Value::Text),
            ("first", [Value::List(items)]) => items.first().cloned().map(Value::Text),
            ("tolower", [Value::Text(value)]) => Some(Value::Text(value.to_lowercase())),
            ("toupper", [Value::Text(value)]) => Some(Value::Text(value.to_uppercase())),
            ("replace", [Value::Text(value), Value::Text(from), Value::Text(to)]) => {
                Some(Value::Text(value.replace(from.as_str(), to)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_expressions_evaluate_from_variables_and_parameter_defaults() {
        let parameters = json!({"workspace": {"defaultValue": "ws"}, "id": {"defaultValue": "[newGuid()]"}});
        let variables = json!({"ruleId": "b39e6482", "name": "[concat('rule-', variables('ruleId'))]"});
        let template = Template { parameters: parameters.as_object(), variables: variables.as_object(), parent: None };
        assert_eq!(template.eval("[variables('ruleId')]").as_deref(), Some("b39e6482"));
        assert_eq!(template.eval("[variables('name')]").as_deref(), Some("rule-b39e6482"));
        assert_eq!(
            template.eval("[concat(parameters('workspace'),'/Microsoft.SecurityInsights/','x''y')]").as_deref(),
            Some("ws/Microsoft.SecurityInsights/x'y")
        );
        assert_eq!(template.eval("[last(split('a/b/c', '/'))]").as_deref(), Some("c"));
        assert_eq!(template.eval("[parameters('id')]"), None);
        assert_eq!(template.eval("[resourceGroup().location]"), None);
        assert_eq!(template.eval("plain").as_deref(), Some("plain"));
        assert_eq!(template.eval("[[literal]").as_deref(), Some("[literal]"));
        let deep = format!("[{}'x'{}]", "concat(".repeat(100), ")".repeat(100));
        assert_eq!(template.eval(&deep), None, "nesting is bounded");
        let outer_variables = json!({"table": "Duo_CL"});
        let outer = Template { parameters: None, variables: outer_variables.as_object(), parent: None };
        let inner_variables = json!({});
        let inner = Template { parameters: None, variables: inner_variables.as_object(), parent: Some(&outer) };
        assert_eq!(
            inner.eval("[variables('table')]").as_deref(),
            Some("Duo_CL"),
            "nested templates see their parent's"
        );
        let circular = json!({"a": "[variables('b')]", "b": "[concat('x', variables('a'))]"});
        let template = Template { parameters: None, variables: circular.as_object(), parent: None };
        assert_eq!(template.eval("[variables('a')]"), None, "a circle of variables has no value");
    }
}
