//! Sentinel's parser files: KQL functions in YAML, in the two layouts the Azure-Sentinel
//! repository uses. A solution's parser names its function with `FunctionName` and
//! `FunctionAlias` and holds `FunctionQuery` and `FunctionParams`; an ASIM parser names it with
//! `ParserName` and `EquivalentBuiltInParser` (the `_Im_Dns` a workspace's built-in parser has)
//! and holds `ParserQuery` and `ParserParams`. Both names of a parser call the same function.

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use vigil_control::SavedFunction;

use crate::ContentError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ParserDocument {
    function_name: Option<String>,
    function_alias: Option<String>,
    function_query: Option<String>,
    function_params: Option<Vec<Parameter>>,
    parser_name: Option<String>,
    equivalent_built_in_parser: Option<String>,
    parser_query: Option<String>,
    parser_params: Option<Vec<Parameter>>,
    category: Option<String>,
    function: Option<Title>,
    parser: Option<Title>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Title {
    title: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Parameter {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    default: Option<Yaml>,
}

/// Whether a YAML document is a parser (either layout).
pub fn is_parser(document: &Yaml) -> bool {
    ["FunctionQuery", "ParserQuery"].iter().any(|key| document.get(*key).is_some())
}

/// The function a parser file defines.
pub fn parse_parser(file: &str, text: &str) -> Result<SavedFunction, ContentError> {
    let document: ParserDocument = serde_yaml_ng::from_str(text).map_err(|e| ContentError::yaml(file, &e))?;
    let failed = |field: &str, message: &str| ContentError::new(file, field, message);
    let (name, alias, query, parameters, params_field) = if let Some(query) = document.function_query {
        let name = document.function_name.or(document.function_alias.clone()).ok_or_else(|| {
            failed("FunctionName", "is required: the name queries call the function by (or FunctionAlias)")
        })?;
        (name, document.function_alias, query, document.function_params, "FunctionParams")
    } else if let Some(query) = document.parser_query {
        let name = document
            .parser_name
            .ok_or_else(|| failed("ParserName", "is required: the name queries call the parser by"))?;
        (name, document.equivalent_built_in_parser, query, document.parser_params, "ParserParams")
    } else {
        return Err(failed("FunctionQuery", "is required: a parser holds its KQL in FunctionQuery or ParserQuery"));
    };
    let mut rendered = Vec::new();
    for (index, parameter) in parameters.unwrap_or_default().iter().enumerate() {
        rendered.push(render_parameter(parameter).map_err(|m| failed(&format!("{params_field}[{index}]"), &m))?);
    }
    let aliases = alias.into_iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty() && *a != name).collect();
    let title = document.function.or(document.parser).and_then(|t| t.title).unwrap_or_else(|| name.clone());
    Ok(SavedFunction {
        name: name.trim().to_string(),
        aliases,
        parameters: rendered.join(", "),
        body: query,
        category: document.category.unwrap_or_else(|| "Microsoft Sentinel Parser".to_string()),
        display_name: title,
        source: file.to_string(),
    })
}

/// A parameter as KQL declares it: `name:type` or `name:type=default`.
fn render_parameter(parameter: &Parameter) -> Result<String, String> {
    if parameter.name.trim().is_empty() {
        return Err("the parameter has no Name".into());
    }
    let kind = parameter.kind.trim();
    if kind.is_empty() {
        return Err(format!("parameter '{}' has no Type", parameter.name));
    }
    let Some(default) = &parameter.default else {
        return Ok(format!("{}:{kind}", parameter.name.trim()));
    };
    let value = match default {
        Yaml::Bool(flag) => flag.to_string(),
        Yaml::Number(number) => number.to_string(),
        Yaml::String(text) if kind.eq_ignore_ascii_case("string") && !is_string_expression(text) => {
            format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        Yaml::String(text) => text.trim().to_string(),
        Yaml::Null => "''".to_string(),
        other => return Err(format!("parameter '{}' has a Default that is not a value: {other:?}", parameter.name)),
    };
    Ok(format!("{}:{kind}={value}", parameter.name.trim()))
}

/// A string default written as KQL already: a quoted literal, or a call such as `tostring(...)`.
fn is_string_expression(text: &str) -> bool {
    let text = text.trim();
    (text.len() >= 2
        && (text.starts_with('\'') && text.ends_with('\'') || text.starts_with('"') && text.ends_with('"')))
        || text.starts_with("@'")
        || text.starts_with("@\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solution_parsers_keep_their_name_and_alias() {
        let function = parse_parser(
            "Parsers/Duo.yaml",
            "Function:\n  Title: Parser for Duo\nCategory: Microsoft Sentinel Parser\nFunctionName: Duo\n\
             FunctionAlias: DuoAlias\nFunctionQuery: |\n  Duo_CL\n  | extend X = 1\n",
        )
        .unwrap();
        assert_eq!((function.name.as_str(), function.aliases.as_slice()), ("Duo", &["DuoAlias".to_string()][..]));
        assert_eq!(function.display_name, "Parser for Duo");
        assert!(function.body.starts_with("Duo_CL"));
    }

    #[test]
    fn asim_parameters_become_a_kql_parameter_list() {
        let function = parse_parser(
            "imDns.yaml",
            "ParserName: imDns\nEquivalentBuiltInParser: _Im_Dns\nParserParams:\n  - Name: starttime\n    Type: datetime\n    \
             Default: datetime(null)\n  - Name: srcipaddr\n    Type: string\n    Default: '*'\n  - Name: pack\n    Type: bool\n    \
             Default: false\n  - Name: domains\n    Type: dynamic\n    Default: dynamic([])\n  - Name: n\n    Type: int\n    \
             Default: 5\n  - Name: quoted\n    Type: string\n    Default: \"'x'\"\nParserQuery: |\n  print 1\n",
        )
        .unwrap();
        assert_eq!(function.aliases, ["_Im_Dns"]);
        assert_eq!(
            function.parameters,
            "starttime:datetime=datetime(null), srcipaddr:string='*', pack:bool=false, domains:dynamic=dynamic([]), \
             n:int=5, quoted:string='x'"
        );
    }

    #[test]
    fn a_parser_without_its_query_or_name_says_which_field() {
        let error = parse_parser("p.yaml", "FunctionName: X\n").unwrap_err();
        assert_eq!((error.file.as_str(), error.field.as_str()), ("p.yaml", "FunctionQuery"));
        let error = parse_parser("p.yaml", "ParserQuery: T\n").unwrap_err();
        assert_eq!(error.field, "ParserName");
        let error =
            parse_parser("p.yaml", "FunctionName: X\nFunctionQuery: T\nFunctionParams:\n  - Name: a\n").unwrap_err();
        assert_eq!(error.field, "FunctionParams[0]");
        assert!(parse_parser("p.yaml", "FunctionName: [").unwrap_err().message.contains("line 1"));
    }
}
