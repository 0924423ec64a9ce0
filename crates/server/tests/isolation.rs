//! The isolation matrix: every REST route, called by a principal of every role, on its own
//! workspace, on another workspace of its tenant and on another tenant's workspace. Only the
//! access the roles document succeeds:
//!
//! | role                        | may                                                          |
//! |-----------------------------|--------------------------------------------------------------|
//! | Reader (workspace)          | query, read tables, DCRs, rules, automation, workbooks, saved queries, functions, watchlists, alerts and incidents |
//! | Responder (workspace)       | the Reader's, and work alerts and incidents, saved queries, suppression rules |
//! | Contributor (workspace)     | the Responder's, and change tables, DCRs, rules, automation, workbooks, functions, watchlists, content |
//! | Owner (tenant)              | all of it on every workspace of the tenant, and applications, roles, issuers, workspaces, metrics |
//! | Monitoring Metrics Publisher (DCR) | send records through that DCR, nothing else           |
//!
//! A refusal is 403, or 404 where the resource is invisible to the caller (a workspace or an
//! alert of another tenant, an alert of a workspace it cannot read). Requests that are let
//! through name resources that do not exist, or carry bodies the handler refuses, so that the
//! matrix changes nothing it then depends on; what they answer (2xx, 400, 404 of the resource,
//! 409) shows that authorisation let them through.

mod common;

use common::{Server, call, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value as Json, json};
use vigil_control::{Role, Scope};

const MANAGEMENT: &str = "https://management.azure.com/.default";
const ANALYTICS: &str = "https://api.loganalytics.io/.default";
const DEFENDER: &str = "https://api.security.microsoft.com/.default";
const INGESTION: &str = "https://monitor.azure.com/.default";

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// The role on the workspace the path names.
    Workspace(Role),
    /// Owner of the caller's own tenant (the route acts on that tenant).
    TenantOwner,
    /// Owner anywhere in the caller's tenant.
    AnOwnerRole,
    /// Any authenticated principal; what it sees is filtered (checked apart).
    Authenticated,
}

struct Route {
    method: Method,
    /// `{ws}` is replaced by the target workspace's id.
    path: &'static str,
    body: Option<Json>,
    need: Need,
    audience: &'static str,
}

fn route(method: Method, path: &'static str, body: Option<Json>, need: Need) -> Route {
    Route { method, path, body, need, audience: MANAGEMENT }
}

fn routes() -> Vec<Route> {
    use Method as M;
    use Need::*;
    let reader = Workspace(Role::Reader);
    let responder = Workspace(Role::Responder);
    let contributor = Workspace(Role::Contributor);
    vec![
        Route {
            audience: ANALYTICS,
            ..route(M::POST, "/v1/workspaces/{ws}/query", Some(json!({"query": "print 1"})), reader)
        },
        route(M::GET, "/api/me", None, Authenticated),
        route(M::GET, "/api/content", None, Authenticated),
        route(M::GET, "/api/workspaces", None, Authenticated),
        route(M::POST, "/api/workspaces", Some(json!({"name": "not a name"})), TenantOwner),
        route(M::GET, "/api/apps", None, TenantOwner),
        route(M::POST, "/api/apps", Some(json!({"name": ""})), TenantOwner),
        route(M::PATCH, "/api/apps/00000000-0000-0000-0000-000000000000", Some(json!({"enabled": true})), TenantOwner),
        route(M::DELETE, "/api/apps/00000000-0000-0000-0000-000000000000", None, TenantOwner),
        route(M::POST, "/api/apps/00000000-0000-0000-0000-000000000000/secret", None, TenantOwner),
        route(M::GET, "/api/roleAssignments", None, TenantOwner),
        route(
            M::POST,
            "/api/roleAssignments",
            Some(json!({"principal": "nobody", "role": "Owner", "scope": "tenant"})),
            TenantOwner,
        ),
        route(M::DELETE, "/api/roleAssignments/nothing", None, TenantOwner),
        route(M::POST, "/api/revokeSessions", Some(json!({"principal": "nobody"})), TenantOwner),
        route(M::GET, "/api/issuers", None, TenantOwner),
        route(
            M::POST,
            "/api/issuers",
            Some(json!({"issuer": "https://idp.example.com", "jwks_uri": "http://idp.example.com/keys"})),
            TenantOwner,
        ),
        route(M::DELETE, "/api/issuers?issuer=https%3A%2F%2Fnone.example.com", None, TenantOwner),
        route(M::GET, "/metrics", None, AnOwnerRole),
        route(M::POST, "/api/workspaces/{ws}/kql/check", Some(json!({"query": "print 1"})), reader),
        route(M::POST, "/api/workspaces/{ws}/kql/complete", Some(json!({"query": "print 1", "position": 0})), reader),
        route(M::GET, "/api/workspaces/{ws}/savedQueries", None, reader),
        route(
            M::PUT,
            "/api/workspaces/{ws}/savedQueries/has%20space",
            Some(json!({"name": "x", "query": "print 1"})),
            responder,
        ),
        route(M::DELETE, "/api/workspaces/{ws}/savedQueries/none", None, responder),
        route(M::GET, "/api/workspaces/{ws}/workbooks", None, reader),
        route(M::GET, "/api/workspaces/{ws}/workbooks/none", None, reader),
        route(M::PUT, "/api/workspaces/{ws}/workbooks/none", Some(json!({"not": "a workbook"})), contributor),
        route(M::DELETE, "/api/workspaces/{ws}/workbooks/none", None, contributor),
        route(M::POST, "/api/workspaces/{ws}/content/import", Some(json!({"files": []})), contributor),
        route(M::POST, "/api/workspaces/{ws}/content/no-such-pack", None, contributor),
        route(M::GET, "/api/workspaces/{ws}/functions", None, reader),
        route(M::GET, "/api/workspaces/{ws}/functions/None_Here", None, reader),
        route(M::PUT, "/api/workspaces/{ws}/functions/None_Here", Some(json!({"body": "| bad |"})), contributor),
        route(M::DELETE, "/api/workspaces/{ws}/functions/None_Here", None, contributor),
        route(M::GET, "/api/workspaces/{ws}/watchlists", None, reader),
        route(M::GET, "/api/workspaces/{ws}/watchlists/none", None, reader),
        route(M::PUT, "/api/workspaces/{ws}/watchlists/none", Some(json!({"properties": {}})), contributor),
        route(M::DELETE, "/api/workspaces/{ws}/watchlists/none", None, contributor),
        route(M::GET, "/api/workspaces/{ws}/watchlists/none/items", None, reader),
        route(M::GET, "/api/workspaces/{ws}/tables", None, reader),
        route(M::PUT, "/api/workspaces/{ws}/tables/None_CL", Some(json!({"name": "Other_CL"})), contributor),
        route(M::GET, "/api/workspaces/{ws}/dcrs", None, reader),
        route(M::PUT, "/api/workspaces/{ws}/dcrs/none", Some(json!({"name": "other"})), contributor),
        route(M::GET, "/api/workspaces/{ws}/rules", None, reader),
        route(M::POST, "/api/workspaces/{ws}/rules", Some(json!({"not": "a rule"})), contributor),
        route(M::POST, "/api/workspaces/{ws}/rules/test", Some(json!({"rule": "not: a rule"})), reader),
        route(M::POST, "/api/workspaces/{ws}/rules/none/triggerRuleRun", None, contributor),
        route(M::GET, "/api/workspaces/{ws}/rules/none", None, reader),
        route(M::PATCH, "/api/workspaces/{ws}/rules/none", Some(json!({"enabled": false})), contributor),
        route(M::DELETE, "/api/workspaces/{ws}/rules/none", None, contributor),
        route(M::GET, "/api/workspaces/{ws}/automation", None, reader),
        route(M::POST, "/api/workspaces/{ws}/automation", Some(json!({"not": "automation"})), contributor),
        route(M::GET, "/api/workspaces/{ws}/suppressionRules", None, reader),
        route(M::POST, "/api/workspaces/{ws}/suppressionRules", Some(json!({"not": "a suppression"})), responder),
        route(M::DELETE, "/api/workspaces/{ws}/suppressionRules/none", None, responder),
        Route { audience: DEFENDER, ..route(M::GET, "/api/alerts", None, Authenticated) },
        Route { audience: DEFENDER, ..route(M::GET, "/api/incidents", None, Authenticated) },
    ]
}

struct Caller {
    name: &'static str,
    tenant: String,
    /// The workspaces it holds each role on, and whether it owns its tenant.
    roles: Vec<(String, Role)>,
    tenant_owner: bool,
    credential: (String, String),
    tokens: std::sync::Mutex<std::collections::HashMap<(&'static str, String), String>>,
}

impl Caller {
    fn holds(&self, workspace: &str, wanted: Role) -> bool {
        self.roles.iter().any(|(ws, held)| ws == workspace && held.grants(wanted))
    }
}

/// A scheduled rule whose every run raises one alert, titled after its workspace.
fn probe_rule(label: &str) -> String {
    format!(
        "id: {id}\nname: Isolation probe in {label}\ndescription: probe\nseverity: Low\nkind: Scheduled\n\
         queryFrequency: PT5M\nqueryPeriod: PT5M\nquery: print User = \"alice\"\ntactics: [Discovery]\n",
        id = uuid_of(label)
    )
}

fn uuid_of(label: &str) -> String {
    let digit = label.len() % 10;
    format!("{digit}{digit}{digit}{digit}{digit}{digit}{digit}{digit}-0000-4000-8000-00000000000{digit}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_admits_exactly_the_documented_roles_of_its_own_tenant() {
    let server = start().await;
    let control = &server.state.control;
    let tenant_a = server.tenant.clone();
    let ws1 = server.workspace.clone();
    let ws2 = control.create_workspace(&tenant_a, "second").await.unwrap().id;
    let tenant_b = control.create_tenant("other").await.unwrap().id;
    let ws_b = control.create_workspace(&tenant_b, "theirs").await.unwrap().id;
    let app = |tenant: &str, name: &'static str, roles: Vec<(Role, Scope)>| {
        let control = control.clone();
        let tenant = tenant.to_string();
        async move {
            let app = control.create_app(&tenant, name, &roles, None).await.unwrap();
            (app.client_id, app.client_secret)
        }
    };
    let on = |ws: &str| Scope::Workspace(ws.to_string());
    let callers = vec![
        Caller {
            name: "reader",
            tenant: tenant_a.clone(),
            roles: vec![(ws1.clone(), Role::Reader)],
            tenant_owner: false,
            credential: server.reader.clone(),
            tokens: Default::default(),
        },
        Caller {
            name: "responder",
            tenant: tenant_a.clone(),
            roles: vec![(ws1.clone(), Role::Responder)],
            tenant_owner: false,
            credential: app(&tenant_a, "responder", vec![(Role::Responder, on(&ws1))]).await,
            tokens: Default::default(),
        },
        Caller {
            name: "contributor",
            tenant: tenant_a.clone(),
            roles: vec![(ws1.clone(), Role::Contributor)],
            tenant_owner: false,
            credential: app(&tenant_a, "contributor", vec![(Role::Contributor, on(&ws1))]).await,
            tokens: Default::default(),
        },
        Caller {
            name: "owner",
            tenant: tenant_a.clone(),
            roles: vec![(ws1.clone(), Role::Owner), (ws2.clone(), Role::Owner)],
            tenant_owner: true,
            credential: app(&tenant_a, "owner", vec![(Role::Owner, Scope::Tenant(tenant_a.clone()))]).await,
            tokens: Default::default(),
        },
        Caller {
            name: "publisher",
            tenant: tenant_a.clone(),
            roles: vec![],
            tenant_owner: false,
            credential: server.publisher.clone(),
            tokens: Default::default(),
        },
        Caller {
            name: "no role",
            tenant: tenant_a.clone(),
            roles: vec![],
            tenant_owner: false,
            credential: app(&tenant_a, "nobody", vec![]).await,
            tokens: Default::default(),
        },
        Caller {
            name: "other tenant's owner",
            tenant: tenant_b.clone(),
            roles: vec![(ws_b.clone(), Role::Owner)],
            tenant_owner: true,
            credential: app(&tenant_b, "their-owner", vec![(Role::Owner, Scope::Tenant(tenant_b.clone()))]).await,
            tokens: Default::default(),
        },
    ];

    let mut wrong = Vec::new();
    let mut checked = 0;
    for caller in &callers {
        for route in routes() {
            let token = token(&server, caller, route.audience).await;
            let targets: Vec<&str> = if route.path.contains("{ws}") { vec![&ws1, &ws2, &ws_b] } else { vec![""] };
            for target in targets {
                let path = route.path.replace("{ws}", target);
                let (status, body) = call(&server, route.method.clone(), &path, &token, route.body.clone()).await;
                let admitted = match route.need {
                    Need::Workspace(role) => caller.holds(target, role),
                    Need::TenantOwner | Need::AnOwnerRole => caller.tenant_owner,
                    Need::Authenticated => true,
                };
                let refused = status == StatusCode::FORBIDDEN
                    || status == StatusCode::NOT_FOUND && body.to_string().contains("No workspace");
                let fine = if admitted {
                    !refused && status != StatusCode::UNAUTHORIZED && !status.is_server_error()
                } else {
                    refused
                };
                checked += 1;
                if !fine {
                    let place = if target == ws1 {
                        "its workspace"
                    } else if target == ws2 {
                        "another workspace"
                    } else if target == ws_b {
                        "another tenant's workspace"
                    } else {
                        "its tenant"
                    };
                    wrong.push(format!(
                        "{} {} as {} on {place}: {status} (expected {}) {}",
                        route.method,
                        route.path,
                        caller.name,
                        if admitted { "admitted" } else { "refused" },
                        truncate(&body.to_string(), 160)
                    ));
                }
            }
        }
    }

    // Without a token, every route answers 401, before it reads the body.
    for route in routes() {
        let path = route.path.replace("{ws}", &ws1);
        let mut request = server.client.request(route.method.clone(), format!("{}{path}", server.url));
        if route.body.is_some() {
            request = request.header("content-type", "application/json").body("{ not json");
        }
        let status = request.send().await.unwrap().status();
        checked += 1;
        if status != StatusCode::UNAUTHORIZED {
            wrong.push(format!("{} {} without a token: {status} (expected 401)", route.method, route.path));
        }
    }

    // Alerts and incidents: one of each in every workspace, raised by a rule run on demand.
    let owner_of = |tenant: &str| callers.iter().find(|c| c.tenant_owner && c.tenant == tenant).unwrap();
    let mut titles = std::collections::HashMap::new();
    for (ws, tenant, label) in [(&ws1, &tenant_a, "first"), (&ws2, &tenant_a, "second"), (&ws_b, &tenant_b, "theirs")] {
        let owner = token(&server, owner_of(tenant), MANAGEMENT).await;
        let rule = probe_rule(label);
        let response = server
            .client
            .post(format!("{}/api/workspaces/{ws}/rules", server.url))
            .bearer_auth(&owner)
            .header("content-type", "application/yaml")
            .body(rule)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "rule in {label}: {}", response.text().await.unwrap());
        let trigger = format!("/api/workspaces/{ws}/rules/{}/triggerRuleRun", uuid_of(label));
        let (status, run) = call(&server, Method::POST, &trigger, &owner, Some(json!({}))).await;
        assert_eq!((status, &run["alerts"]), (StatusCode::OK, &json!(1)), "run in {label}: {run}");
        titles.insert(format!("Isolation probe in {label}"), ws.clone());
    }
    let mut alerts = Vec::new();
    for owner in [owner_of(&tenant_a), owner_of(&tenant_b)] {
        let (_, listed) = call(&server, Method::GET, "/api/alerts", &token(&server, owner, DEFENDER).await, None).await;
        for alert in listed["value"].as_array().unwrap() {
            let ws = titles.get(alert["title"].as_str().unwrap()).unwrap().clone();
            let incident = &alert["incidentId"];
            let incident =
                incident.as_i64().map_or_else(|| incident.as_str().unwrap_or_default().to_string(), |n| n.to_string());
            alerts.push((ws, alert["id"].as_str().unwrap().to_string(), incident));
        }
    }
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    for caller in &callers {
        let defender = token(&server, caller, DEFENDER).await;
        let seen = |path: &'static str| {
            let token = defender.clone();
            let server = &server;
            async move {
                let (status, listed) = call(server, Method::GET, path, &token, None).await;
                assert_eq!(status, StatusCode::OK, "{} lists {path}: {listed}", caller.name);
                let mut titles: Vec<String> = listed["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| {
                        item["title"].as_str().or(item["incidentName"].as_str()).unwrap_or_default().to_string()
                    })
                    .collect();
                titles.sort();
                titles
            }
        };
        let mut readable: Vec<String> =
            titles.iter().filter(|(_, ws)| caller.holds(ws, Role::Reader)).map(|(title, _)| title.clone()).collect();
        readable.sort();
        checked += 2;
        if seen("/api/alerts").await != readable {
            wrong.push(format!(
                "GET /api/alerts as {} lists {:?}, expected {readable:?}",
                caller.name,
                seen("/api/alerts").await
            ));
        }
        if seen("/api/incidents").await != readable {
            wrong.push(format!(
                "GET /api/incidents as {} lists {:?}, expected {readable:?}",
                caller.name,
                seen("/api/incidents").await
            ));
        }
        for (ws, alert, incident) in &alerts {
            let cases = [
                (Method::GET, format!("/api/alerts/{alert}"), None, Role::Reader),
                (Method::PATCH, format!("/api/alerts/{alert}"), Some(json!({"status": "InProgress"})), Role::Responder),
                (Method::GET, format!("/api/incidents/{incident}"), None, Role::Reader),
                (
                    Method::PATCH,
                    format!("/api/incidents/{incident}"),
                    Some(json!({"status": "Active"})),
                    Role::Responder,
                ),
                (
                    Method::POST,
                    format!("/api/incidents/{incident}/comments"),
                    Some(json!({"comment": "seen"})),
                    Role::Responder,
                ),
            ];
            for (method, path, body, role) in cases {
                let (status, answer) = call(&server, method.clone(), &path, &defender, body).await;
                let admitted = caller.holds(ws, role);
                let fine = if admitted {
                    status.is_success()
                } else {
                    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
                };
                checked += 1;
                if !fine {
                    wrong.push(format!(
                        "{method} {path} as {} (alert of {}): {status} (expected {}) {}",
                        caller.name,
                        if *ws == ws1 {
                            "its workspace"
                        } else if *ws == ws2 {
                            "another workspace"
                        } else {
                            "another tenant"
                        },
                        if admitted { "success" } else { "refused" },
                        truncate(&answer.to_string(), 160)
                    ));
                }
            }
        }

        // Ingestion: only through the DCR the publisher holds its role on.
        let ingest = token(&server, caller, INGESTION).await;
        let (status, _) =
            server.ingest(&server.dcr, common::STREAM, Some(&ingest), common::keeper_events(1), false).await;
        let admitted = caller.name == "publisher";
        checked += 1;
        if (status == StatusCode::NO_CONTENT) != admitted || !admitted && status != StatusCode::FORBIDDEN {
            wrong.push(format!("ingestion as {}: {status}", caller.name));
        }
    }
    assert!(wrong.is_empty(), "{} of {checked} calls wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// A caller's token for an audience, asked for once (the token endpoint limits how often).
async fn token(server: &Server, caller: &Caller, audience: &str) -> String {
    let key = (caller.name, audience.to_string());
    if let Some(token) = caller.tokens.lock().unwrap().get(&key) {
        return token.clone();
    }
    let response = server.token(&caller.tenant, &caller.credential, audience).await;
    assert_eq!(response.status(), StatusCode::OK, "{} gets a token", caller.name);
    let token = response.json::<Json>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    caller.tokens.lock().unwrap().insert(key, token.clone());
    token
}

fn truncate(text: &str, at: usize) -> &str {
    &text[..text.char_indices().nth(at).map_or(text.len(), |(i, _)| i)]
}
