//! `vigil query --server URL`: a token by the client-credentials grant, then the query API,
//! exactly as a Log Analytics client does it.

use std::path::Path;

use serde_json::{Value as Json, json};
use vigil_kql::QueryResult;

use crate::{Failure, Format};

fn env(name: &str) -> Result<String, Failure> {
    std::env::var(name).map_err(|_| Failure::Usage(format!("--server needs the environment variable {name}")))
}

pub async fn query(
    server: &str,
    workspace: &str,
    query: &str,
    timespan: Option<&str>,
    ca_cert: Option<&Path>,
) -> Result<Json, Failure> {
    let server = server.trim_end_matches('/');
    let mut builder = reqwest::Client::builder();
    let ca_path = ca_cert.map(Path::to_path_buf).or_else(|| std::env::var_os("VIGIL_CA_CERT").map(Into::into));
    if let Some(path) = ca_path {
        let pem = std::fs::read(&path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| Failure::Usage(format!("{} is not a PEM certificate: {e}", path.display())))?;
        builder = builder.add_root_certificate(certificate);
    }
    let client = builder.build().map_err(|e| Failure::Query(format!("cannot set up HTTPS: {e}")))?;
    let tenant = env("VIGIL_TENANT_ID")?;
    let form = [
        ("grant_type", "client_credentials".to_string()),
        ("client_id", env("VIGIL_CLIENT_ID")?),
        ("client_secret", env("VIGIL_CLIENT_SECRET")?),
        ("scope", format!("{server}/.default")),
    ];
    let token_response = client
        .post(format!("{server}/{tenant}/oauth2/v2.0/token"))
        .form(&form)
        .send()
        .await
        .map_err(|e| Failure::Query(format!("cannot reach {server}: {e}")))?;
    let status = token_response.status();
    let body: Json = token_response.json().await.unwrap_or(Json::Null);
    let Some(token) = body.get("access_token").and_then(Json::as_str) else {
        let reason = body.get("error_description").and_then(Json::as_str).unwrap_or("no access token in the response");
        return Err(Failure::Query(format!("the server refused the credentials ({status}): {reason}")));
    };
    let mut request = json!({ "query": query });
    if let Some(span) = timespan {
        request["timespan"] = json!(span);
    }
    let response = client
        .post(format!("{server}/v1/workspaces/{workspace}/query"))
        .bearer_auth(token)
        .json(&request)
        .send()
        .await
        .map_err(|e| Failure::Query(format!("cannot reach {server}: {e}")))?;
    let status = response.status();
    let body: Json = response
        .json()
        .await
        .map_err(|e| Failure::Query(format!("the server's answer is not JSON ({status}): {e}")))?;
    if !status.is_success() {
        let error = &body["error"];
        let detail = error["innererror"]["message"].as_str().or(error["message"].as_str()).unwrap_or("no message");
        return Err(Failure::Query(format!("the query failed ({status}):\n{detail}")));
    }
    Ok(body)
}

pub fn render(result: &Json, format: Format) -> Result<String, Failure> {
    if let Format::Json = format {
        return Ok(format!("{result}\n"));
    }
    let result = QueryResult::from_json(result).map_err(|e| Failure::Query(format!("unexpected answer: {e}")))?;
    Ok(match format {
        Format::Csv => result.to_csv(),
        _ => result.to_table(),
    })
}
