//! Data collection rules in Azure's JSON: the streams a source may send, and the data flows
//! that transform each stream with KQL into a table.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use vigil_kql_functions::{KqlColumn, KqlType};

/// What a DCR says, reduced to what ingestion needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DcrDefinition {
    pub name: String,
    /// Declared input streams (`Custom-...`) and their columns.
    pub streams: BTreeMap<String, Vec<KqlColumn>>,
    pub flows: Vec<DataFlow>,
}

/// One `dataFlows` entry for one input stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFlow {
    pub stream: String,
    /// The KQL run over the request's records as the table `source`; `source` alone when the
    /// rule has none.
    pub transform: String,
    /// The destination table: the output stream without its `Custom-`/`Microsoft-` prefix.
    pub table: String,
}

impl DcrDefinition {
    /// The flows that read `stream`; a stream may feed several tables.
    pub fn flows_of<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a DataFlow> + 'a {
        self.flows.iter().filter(move |flow| flow.stream == stream)
    }
}

/// Reads a DCR from Azure's JSON (the resource, or just its `properties`). Errors name the part
/// that is wrong.
pub fn parse_dcr(text: &str) -> Result<DcrDefinition, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("the DCR is not valid JSON: {e}"))?;
    let properties = json.get("properties").unwrap_or(&json);
    let name = json.get("name").and_then(Json::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        return Err("the DCR has no \"name\"".into());
    }
    let declarations = properties
        .get("streamDeclarations")
        .and_then(Json::as_object)
        .ok_or("the DCR has no \"properties.streamDeclarations\" object")?;
    let mut streams = BTreeMap::new();
    for (stream, declaration) in declarations {
        if !stream.starts_with("Custom-") {
            return Err(format!("stream declaration '{stream}': declared stream names start with 'Custom-'"));
        }
        let columns = declaration
            .get("columns")
            .and_then(Json::as_array)
            .ok_or(format!("stream declaration '{stream}' has no \"columns\" array"))?;
        let mut parsed = Vec::with_capacity(columns.len());
        for (index, column) in columns.iter().enumerate() {
            let column_name = column
                .get("name")
                .and_then(Json::as_str)
                .ok_or(format!("stream '{stream}', column {index}: no \"name\""))?;
            let type_name = column
                .get("type")
                .and_then(Json::as_str)
                .ok_or(format!("stream '{stream}', column '{column_name}': no \"type\""))?;
            let ty = KqlType::from_name(type_name)
                .ok_or(format!("stream '{stream}', column '{column_name}': unknown type '{type_name}'"))?;
            parsed.push(KqlColumn::new(column_name, ty));
        }
        streams.insert(stream.clone(), parsed);
    }
    let flows_json =
        properties.get("dataFlows").and_then(Json::as_array).ok_or("the DCR has no \"properties.dataFlows\" array")?;
    let mut flows = Vec::new();
    for (index, flow) in flows_json.iter().enumerate() {
        let flow_streams = flow
            .get("streams")
            .and_then(Json::as_array)
            .ok_or(format!("dataFlows[{index}] has no \"streams\" array"))?;
        let transform = flow.get("transformKql").and_then(Json::as_str).unwrap_or("source").trim().to_string();
        for stream in flow_streams {
            let stream = stream.as_str().ok_or(format!("dataFlows[{index}].streams holds a non-string"))?;
            if !streams.contains_key(stream) {
                return Err(format!("dataFlows[{index}]: stream '{stream}' is not declared in streamDeclarations"));
            }
            let output = flow.get("outputStream").and_then(Json::as_str).unwrap_or(stream);
            let table = output.strip_prefix("Custom-").or_else(|| output.strip_prefix("Microsoft-")).ok_or(format!(
                "dataFlows[{index}]: outputStream '{output}' must start with 'Custom-' or 'Microsoft-'"
            ))?;
            flows.push(DataFlow { stream: stream.to_string(), transform: transform.clone(), table: table.to_string() });
        }
    }
    if flows.is_empty() {
        return Err("the DCR has no data flow".into());
    }
    Ok(DcrDefinition { name, streams, flows })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPER_LIKE: &str = r#"{"name":"K","properties":{
        "streamDeclarations":{"Custom-In":{"columns":[{"name":"a","type":"string"},{"name":"n","type":"int"}]}},
        "dataFlows":[{"streams":["Custom-In"],"destinations":["w"],"transformKql":"source | project-rename A = a",
                      "outputStream":"Custom-Out_CL"}]}}"#;

    #[test]
    fn reads_streams_and_flows() {
        let dcr = parse_dcr(KEEPER_LIKE).unwrap();
        assert_eq!(dcr.name, "K");
        assert_eq!(dcr.streams["Custom-In"][1], KqlColumn::new("n", KqlType::Int));
        let flow = dcr.flows_of("Custom-In").next().unwrap();
        assert_eq!(flow.table, "Out_CL");
        assert_eq!(flow.transform, "source | project-rename A = a");
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let undeclared = KEEPER_LIKE.replace(r#""streams":["Custom-In"]"#, r#""streams":["Custom-Other"]"#);
        assert!(parse_dcr(&undeclared).unwrap_err().contains("stream 'Custom-Other' is not declared"));
        let bad_type = KEEPER_LIKE.replace(r#""type":"int""#, r#""type":"integer""#);
        assert_eq!(parse_dcr(&bad_type).unwrap_err(), "stream 'Custom-In', column 'n': unknown type 'integer'");
        assert!(parse_dcr("[1]").unwrap_err().contains("no \"name\""));
        assert!(parse_dcr("{").unwrap_err().starts_with("the DCR is not valid JSON"));
    }
}
