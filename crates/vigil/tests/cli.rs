//! The `vigil` command as a user runs it: a real process, real files, exit codes and output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

fn vigil(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin takes the query");
    drop(input);
    child.wait_with_output().expect("vigil finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory under the target directory, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write_parquet(path: &Path, first: i64, users: &[&str]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("User", DataType::Utf8, false),
        Field::new("Attempts", DataType::Int64, false),
    ]));
    let rows = users.len() as i64;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampNanosecondArray::from_iter_values(
                (0..rows).map(|i| 1_700_000_000_000_000_000 + (first + i) * 3_600_000_000_000),
            )),
            Arc::new(StringArray::from(users.to_vec())),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| first + i))),
        ],
    )
    .expect("a batch");
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).expect("parquet file"), schema, None)
        .expect("a parquet writer");
    writer.write(&batch).expect("rows written");
    writer.close().expect("file closed");
}

#[test]
fn json_output_is_the_log_analytics_shape() {
    let output = vigil(
        &[
            "query",
            "--format",
            "json",
            "print n = 1, s = 'a', at = datetime(2007-04-08), late = datetime(2007-04-08 10:00:00.25), \
             took = 1.5h, bag = dynamic({\"a\": [1, 2]}), ok = true, r = 2.5",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        concat!(
            r#"{"tables":[{"name":"PrimaryResult","columns":["#,
            r#"{"name":"n","type":"long"},{"name":"s","type":"string"},{"name":"at","type":"datetime"},"#,
            r#"{"name":"late","type":"datetime"},{"name":"took","type":"timespan"},{"name":"bag","type":"dynamic"},"#,
            r#"{"name":"ok","type":"bool"},{"name":"r","type":"real"}],"#,
            r#""rows":[[1,"a","2007-04-08T00:00:00Z","2007-04-08T10:00:00.25Z","01:30:00",{"a":[1,2]},true,2.5]]}]}"#,
            "\n"
        )
    );
}

#[test]
fn a_query_error_exits_1_with_a_caret_under_the_problem() {
    let output = vigil(&["query", "StormEvents | where State == 'TEXAS' | summarize count() by"], None);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("1:"), "{message}");
    assert!(message.contains('^'), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let bad_table = vigil(&["query", "--table", "no-equals-sign", "print 1"], None);
    assert_eq!(bad_table.status.code(), Some(2));
    assert!(stderr(&bad_table).contains("NAME=FILE"), "{}", stderr(&bad_table));
    let missing = vigil(&["query", "--table", "T=/nonexistent/file.jsonl", "T"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/file.jsonl"), "{}", stderr(&missing));
    assert_eq!(vigil(&["query", "--frobnicate", "print 1"], None).status.code(), Some(2));
    assert_eq!(vigil(&["query", "--format", "xml", "print 1"], None).status.code(), Some(2));
}

#[test]
fn json_lines_and_csv_files_become_typed_tables() {
    let dir = scratch("cli-text-files");
    let lines = dir.join("signins.jsonl");
    std::fs::write(
        &lines,
        concat!(
            r#"{"TimeGenerated":"2026-11-01T10:00:00Z","User":"alice","ResultType":0,"Device":{"os":"Windows"}}"#,
            "\n",
            r#"{"TimeGenerated":"2026-11-01T11:00:00Z","User":"bob","ResultType":50126,"Device":{"os":"macOS"}}"#,
            "\n",
            r#"{"TimeGenerated":"2026-11-01T12:30:00Z","User":"bob","ResultType":50126,"Device":{"os":"macOS"}}"#,
            "\n"
        ),
    )
    .expect("jsonl written");
    let table = format!("SigninLogs={}", lines.display());
    let output = vigil(
        &[
            "query",
            "--format",
            "csv",
            "--table",
            &table,
            "SigninLogs | where ResultType != 0 | summarize Failures = count(), Last = max(TimeGenerated) \
             by User, Os = tostring(Device.os)",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "User,Os,Failures,Last\r\nbob,macOS,2,2026-11-01T12:30:00.0000000Z\r\n");

    let csv = dir.join("users.csv");
    std::fs::write(&csv, "User,Department,Age\nalice,Finance,41\nbob,IT,35\n").expect("csv written");
    let users = format!("Users={}", csv.display());
    let output =
        vigil(&["query", "--format", "json", "--table", &users, "Users | where Age > 40 | project User, Age"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(r#"{"name":"Age","type":"long"}"#), "{}", stdout(&output));
    assert!(stdout(&output).contains(r#""rows":[["alice",41]]"#), "{}", stdout(&output));
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    // More output than a pipe holds, to a reader that has already gone (`| head`, `| grep -q`).
    for args in [&["query", "--format", "csv", "range x from 1 to 200000 step 1"][..], &["content", "list"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigil starts");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("vigil finishes");
        assert!(output.status.success(), "{args:?}: {:?}\n{}", output.status, stderr(&output));
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}

#[test]
fn a_bad_line_is_reported_with_its_number() {
    let dir = scratch("cli-bad-lines");
    let lines = dir.join("broken.jsonl");
    std::fs::write(&lines, "{\"a\": 1}\n{\"a\": \n").expect("jsonl written");
    let table = format!("T={}", lines.display());
    let output = vigil(&["query", "--table", &table, "T"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}

#[test]
fn parquet_files_and_folders_are_tables() {
    let dir = scratch("cli-parquet");
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).expect("folder");
    write_parquet(&folder.join("part-0.parquet"), 0, &["alice", "bob", "alice"]);
    write_parquet(&folder.join("part-1.parquet"), 3, &["carol", "alice"]);
    let whole = format!("Events={}", folder.display());
    let output = vigil(
        &[
            "query",
            "--format",
            "csv",
            "--table",
            &whole,
            "Events | summarize arg_max(TimeGenerated, Attempts), n = count() by User | order by User asc",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "User,TimeGenerated,Attempts,n\r\nalice,2023-11-15T02:13:20.0000000Z,4,3\r\n\
         bob,2023-11-14T23:13:20.0000000Z,1,1\r\ncarol,2023-11-15T01:13:20.0000000Z,3,1\r\n"
    );
    let single = format!("Events={}", folder.join("part-1.parquet").display());
    let output = vigil(&["query", "--format", "csv", "--table", &single, "Events | count"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Count\r\n2\r\n");
}

#[test]
fn functions_over_a_dictionary_encoded_column_answer_every_row() {
    // Many batches and two row groups of a column with few distinct values (each decoded to one
    // shared view), the layout that the per-value memos of string functions rely on; nulls and
    // short (inline) values among them.
    let agents: Vec<Option<String>> = (0..60_000)
        .map(|i| match i % 41 {
            0 => None,
            1 => Some("curl/8.4".to_string()),
            k if k % 3 == 0 => Some(format!("Mozilla/5.0 (Windows NT 10.0) Firefox/{k}.0")),
            k => Some(format!("Mozilla/5.0 (X11; Linux x86_64) Chrome/{k}.0.1 Safari/537.36")),
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("UserAgent", DataType::Utf8, true)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(agents.clone()))]).expect("a batch");
    let dir = scratch("cli-dictionary");
    let path = dir.join("agents.parquet");
    let properties = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(30_000))
        .build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&path).expect("parquet file"), schema, Some(properties))
            .expect("a parquet writer");
    writer.write(&batch).expect("rows written");
    writer.close().expect("file closed");

    let text = |a: &Option<String>| a.clone().unwrap_or_default();
    let firefox = agents.iter().filter(|a| text(a).to_lowercase().contains("firefox")).count();
    let chrome_term = agents
        .iter()
        .filter(|a| text(a).split(|c: char| !c.is_ascii_alphanumeric()).any(|t| t.eq_ignore_ascii_case("chrome")))
        .count();
    let curl = agents.iter().filter(|a| text(a).eq_ignore_ascii_case("CURL/8.4")).count();
    let length: usize = agents.iter().map(|a| text(a).chars().count()).sum();
    let upper_x11 = agents.iter().filter(|a| text(a).to_uppercase().contains("X11")).count();
    let table = format!("Agents={}", path.display());
    let query = "Agents | summarize Firefox = countif(UserAgent contains 'FIREFOX'), Chrome = countif(UserAgent has 'chrome'),                  Curl = countif(UserAgent =~ 'CURL/8.4'), Length = sum(strlen(UserAgent)),                  X11 = countif(indexof(toupper(UserAgent), 'X11') >= 0)";
    let output = vigil(&["query", "--format", "csv", "--table", &table, query], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("Firefox,Chrome,Curl,Length,X11\r\n{firefox},{chrome_term},{curl},{length},{upper_x11}\r\n")
    );
}

#[test]
fn the_query_can_come_from_standard_input() {
    let output = vigil(&["query", "--format", "csv", "-"], Some("range x from 1 to 3 step 1\n| summarize sum(x)"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "sum_x\r\n6\r\n");
}

#[test]
fn check_validates_against_a_schema_and_suggests_names() {
    let dir = scratch("cli-check");
    let schema = dir.join("SigninLogs.json");
    std::fs::write(
        &schema,
        r#"{"name": "SigninLogs", "properties": {"schema": {"columns": [
            {"name": "TimeGenerated", "type": "datetime"},
            {"name": "UserPrincipalName", "type": "string"},
            {"name": "ResultType", "type": "string"}]}}}"#,
    )
    .expect("schema written");
    let schema = schema.display().to_string();
    let good = vigil(&["check", "--schema", &schema, "SigninLogs | where ResultType != '0' | take 5"], None);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    let misspelled = vigil(&["check", "--schema", &schema, "SigninLogs | where UserPrincipalNme == 'a'"], None);
    assert_eq!(misspelled.status.code(), Some(1));
    let message = stderr(&misspelled);
    assert!(message.contains("unknown column 'UserPrincipalNme'"), "{message}");
    assert!(message.contains("did you mean 'UserPrincipalName'"), "{message}");
    assert!(message.contains("1:20"), "{message}");
    let unknown_table = vigil(&["check", "--schema", &schema, "SignInLogs | take 1"], None);
    assert_eq!(unknown_table.status.code(), Some(1));
    assert!(stderr(&unknown_table).contains("SigninLogs"), "{}", stderr(&unknown_table));
    let syntax_only = vigil(&["check", "--syntax-only", "Anything | where x == 1"], None);
    assert_eq!(syntax_only.status.code(), Some(0), "{}", stderr(&syntax_only));
    let unbalanced = vigil(&["check", "--syntax-only", "T | where (x == 1"], None);
    assert_eq!(unbalanced.status.code(), Some(1));
}

/// The admin commands set up a data dir that `vigil serve` has never opened: the default tenant
/// and workspace exist, and the owner credential is kept as a first start keeps it.
#[test]
fn admin_commands_work_on_a_fresh_data_dir() {
    let data = scratch("fresh-data-dir").join("vigil");
    let data_arg = data.to_str().unwrap();
    let created = vigil(
        &[
            "app",
            "create",
            "--data-dir",
            data_arg,
            "--name",
            "analyst",
            "--role",
            "Reader",
            "--scope",
            "workspace/default",
        ],
        None,
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let app: serde_json::Value = serde_json::from_str(&stdout(&created)).expect("the app as JSON");
    assert!(app["client_id"].as_str().is_some_and(|id| !id.is_empty()), "{app}");
    assert!(stderr(&created).contains("owner-credential.json"), "{}", stderr(&created));
    let credential: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("owner-credential.json")).expect("owner credential"))
            .unwrap();
    assert_eq!(credential["tenant_id"], app["tenant_id"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("owner-credential.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the credential is readable only by its owner");
    }

    let workspaces = vigil(&["workspace", "list", "--data-dir", data_arg], None);
    assert!(workspaces.status.success(), "{}", stderr(&workspaces));
    let workspaces: serde_json::Value = serde_json::from_str(&stdout(&workspaces)).unwrap();
    assert_eq!(workspaces.as_array().map(Vec::len), Some(1), "{workspaces}");
    assert_eq!(workspaces[0]["name"], "default");
    // A second command finds the tenant made by the first, and makes no other.
    let again = vigil(
        &[
            "app",
            "create",
            "--data-dir",
            data_arg,
            "--name",
            "second",
            "--role",
            "Reader",
            "--scope",
            "workspace/default",
        ],
        None,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stderr(&again).contains("owner-credential.json"), "{}", stderr(&again));
}

/// A second tenant is made from the command line with its first workspace and an Owner, and
/// a tenant gets more workspaces.
#[test]
fn tenants_and_workspaces_are_created_from_the_command_line() {
    let data = scratch("tenants").join("vigil");
    let data_arg = data.to_str().unwrap();
    let created = vigil(&["tenant", "create", "--data-dir", data_arg, "--name", "contoso"], None);
    assert!(created.status.success(), "{}", stderr(&created));
    let tenant: serde_json::Value = serde_json::from_str(&stdout(&created)).unwrap();
    assert!(tenant["owner"]["client_secret"].as_str().is_some_and(|s| !s.is_empty()), "{tenant}");
    let again = vigil(&["tenant", "create", "--data-dir", data_arg, "--name", "contoso"], None);
    assert!(!again.status.success(), "a second tenant of the same name is refused");

    let workspace =
        vigil(&["workspace", "create", "--data-dir", data_arg, "--tenant", "contoso", "--name", "emea"], None);
    assert!(workspace.status.success(), "{}", stderr(&workspace));
    let workspace: serde_json::Value = serde_json::from_str(&stdout(&workspace)).unwrap();
    assert_eq!(workspace["tenant_id"], tenant["tenant_id"]);

    let tenants: serde_json::Value =
        serde_json::from_str(&stdout(&vigil(&["tenant", "list", "--data-dir", data_arg], None))).unwrap();
    let names: Vec<&str> = tenants.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["default", "contoso"]);
    let workspaces: serde_json::Value =
        serde_json::from_str(&stdout(&vigil(&["workspace", "list", "--data-dir", data_arg], None))).unwrap();
    let theirs = workspaces.as_array().unwrap().iter().filter(|w| w["tenant_id"] == tenant["tenant_id"]).count();
    assert_eq!(theirs, 2, "{workspaces}");
}

/// The revocation commands of the hardening issue's item 5, on the data dir as a server would
/// find it on its next request.
#[test]
fn applications_roles_and_issuers_are_revoked_from_the_command_line() {
    let data = scratch("revocation").join("vigil");
    let data_arg = data.to_str().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data_arg]);
        let output = vigil(&all, None);
        assert!(output.status.success(), "vigil {args:?}: {}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| panic!("vigil {args:?}: {e}: {}", stdout(&output)))
    };
    let app = json(&["app", "create", "--name", "analyst", "--role", "Reader", "--scope", "workspace/default"]);
    let client_id = app["client_id"].as_str().unwrap();
    let issuer = "https://idp.example.com/realms/acme";
    let refused = vigil(
        &[
            "tenant",
            "trust-issuer",
            "--data-dir",
            data_arg,
            "--issuer",
            issuer,
            "--jwks-uri",
            "http://idp.example.com/keys",
        ],
        None,
    );
    assert_eq!(refused.status.code(), Some(2), "keys over plain HTTP: {}", stderr(&refused));
    assert!(stderr(&refused).contains("https://"), "{}", stderr(&refused));
    json(&["tenant", "trust-issuer", "--issuer", issuer, "--jwks-uri", "https://idp.example.com/keys"]);
    assert_eq!(json(&["tenant", "issuers"])[0]["issuer"], issuer);
    let person = json(&[
        "role",
        "assign",
        "--issuer",
        issuer,
        "--principal",
        "u-alice",
        "--role",
        "Responder",
        "--scope",
        "tenant",
    ]);
    assert_eq!((person["principal"].as_str(), person["issuer"].as_str()), (Some("u-alice"), Some(issuer)), "{person}");
    let unknown = vigil(
        &["role", "assign", "--data-dir", data_arg, "--principal", "nobody", "--role", "Reader", "--scope", "tenant"],
        None,
    );
    assert!(!unknown.status.success() && stderr(&unknown).contains("no application 'nobody'"), "{}", stderr(&unknown));

    let listed = json(&["role", "list"]);
    let own = listed.as_array().unwrap().iter().find(|a| a["principal"] == client_id).expect("the app's role");
    assert!(own.get("issuer").is_none(), "{own}");
    json(&["role", "remove", "--id", own["id"].as_str().unwrap()]);
    assert!(json(&["role", "list"]).as_array().unwrap().iter().all(|a| a["principal"] != client_id));

    assert_eq!(json(&["app", "disable", "--client-id", client_id])["enabled"], false);
    let apps = json(&["app", "list"]);
    assert_eq!(apps.as_array().unwrap().iter().find(|a| a["client_id"] == client_id).unwrap()["enabled"], false);
    assert_eq!(json(&["app", "enable", "--client-id", client_id])["enabled"], true);
    let rotated = json(&["app", "rotate-secret", "--client-id", client_id]);
    assert!(rotated["client_secret"].as_str().is_some_and(|s| s != app["client_secret"].as_str().unwrap()));
    let revoked = json(&["tenant", "revoke-sessions", "--principal", "u-alice", "--issuer", issuer]);
    assert!(revoked["tokensIssuedBefore"].is_string(), "{revoked}");
    json(&["tenant", "distrust-issuer", "--issuer", issuer]);
    assert!(
        json(&["role", "list"]).as_array().unwrap().iter().all(|a| a["principal"] != "u-alice"),
        "its subjects' roles go with it"
    );
    json(&["app", "delete", "--client-id", client_id]);
    let gone = vigil(&["app", "delete", "--data-dir", data_arg, "--client-id", client_id], None);
    assert!(!gone.status.success() && stderr(&gone).contains("no application"), "{}", stderr(&gone));
}
