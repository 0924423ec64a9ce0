//! Queries that ask too much, against a real server with small limits: each gets a clear error
//! or a partial result, and the server keeps answering everyone else.

mod common;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value as Json;

const TIME_LIMIT: Duration = Duration::from_secs(3);

async fn limited_server() -> common::Server {
    common::start_with(|config| {
        config.query_timeout = TIME_LIMIT;
        config.query_memory = 64 << 20;
        config.result_rows = 1_000;
        config.result_bytes = 1 << 20;
    })
    .await
}

fn inner_message(body: &Json) -> String {
    body["error"]["innererror"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_range_runs_out_of_time_while_others_are_served() {
    let server = limited_server().await;
    let token = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let started = Instant::now();
    let huge = {
        let (server, token) = (&server, &token);
        async move {
            let answer = server.query(&server.workspace, token, "range x from 1 to 10000000000 step 1 | count").await;
            (answer, started.elapsed())
        }
    };
    let others = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut answered = Vec::new();
        for _ in 0..5 {
            let asked = Instant::now();
            let (status, body) = server.query(&server.workspace, &token, "print answer = 42").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["tables"][0]["rows"][0][0], 42);
            answered.push((started.elapsed(), asked.elapsed()));
        }
        answered
    };
    let (((status, body), huge_took), answered) = tokio::join!(huge, others);
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("time limit of 3 seconds"), "{body}");
    assert!(huge_took < TIME_LIMIT + Duration::from_secs(2), "cancelled at the limit, took {huge_took:?}");
    for (at, took) in answered {
        assert!(at < huge_took, "a small query was answered at {at:?}, while the huge one ran until {huge_took:?}");
        assert!(took < Duration::from_secs(2), "a small query waited {took:?}");
    }
    // The server is still there and the engine still works after the cancellation.
    let (status, body) = server.query(&server.workspace, &token, "range x from 1 to 10 step 1 | count").await;
    assert_eq!((status, body["tables"][0]["rows"][0][0].as_i64()), (StatusCode::OK, Some(10)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_past_the_memory_limit_fail_clearly() {
    let server = limited_server().await;
    let token = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    // One while running (the build side of a join, which cannot spill to disk), one while
    // binding (a plugin's input materialized for it).
    for query in [
        "range x from 1 to 10000000 step 1 | join kind=inner (range y from 1 to 10000000 step 1) on $left.x == $right.y | count",
        "range x from 1 to 3000000 step 1 | extend d = bag_pack('a', x) | evaluate bag_unpack(d) | count",
    ] {
        let (status, body) = server.query(&server.workspace, &token, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["innererror"]["code"], "MemoryLimitExceeded", "{query}: {body}");
        assert!(inner_message(&body).contains("limit of 64 MiB"), "{query}: {body}");
    }
    let (status, body) = server.query(&server.workspace, &token, "print ok = 1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_are_cut_and_marked_partial() {
    let server = limited_server().await;
    let token = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let (status, body) = server.query(&server.workspace, &token, "range x from 1 to 5000 step 1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1_000);
    assert_eq!((rows[0][0].as_i64(), rows[999][0].as_i64()), (Some(1), Some(1_000)));
    assert_eq!(body["error"]["code"], "PartialError", "{body}");
    let reason = body["error"]["details"][0]["innererror"]["message"].as_str().unwrap();
    assert!(reason.contains("record count limit 1000"), "{reason}");

    // Past the size limit first: 500 rows of 4 KB each are 2 MB.
    let (status, body) =
        server.query(&server.workspace, &token, "range x from 1 to 500 step 1 | extend s = strrep('abcd', 1024)").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kept = body["tables"][0]["rows"].as_array().unwrap().len();
    assert!((100..500).contains(&kept), "kept {kept} rows of 4 KB under a 1 MB limit");
    let reason = body["error"]["details"][0]["innererror"]["message"].as_str().unwrap();
    assert!(reason.contains("data size limit 1048576"), "{reason}");

    // Within both limits: no error beside the tables.
    let (_, body) = server.query(&server.workspace, &token, "range x from 1 to 1000 step 1 | count").await;
    assert_eq!(body.get("error"), None, "{body}");
}

/// Item 6 of the hardening issue: on ac06a67 an ingestion request took its slot before its
/// body arrived, with no time limit, so one slow upload per slot shed every other publisher's
/// requests with 429. Now the body arrives first, within a time limit (408 past it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_holds_no_ingestion_slot_and_runs_out_of_time() {
    use futures::StreamExt;
    let server = common::start_with(|config| {
        config.max_concurrent_ingest = 1;
        config.ingest_body_timeout = Duration::from_secs(2);
    })
    .await;
    let token = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let url =
        format!("{}/dataCollectionRules/{}/streams/{}?api-version=2023-01-01", server.url, server.dcr, common::STREAM);
    // Half a record, then nothing for longer than the limit.
    let trickle = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"[{\"audit_event\": \"lo",
    ))])
    .chain(futures::stream::once(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(bytes::Bytes::from_static(b"gin\"}]"))
    }));
    let slow = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(trickle))
        .send();
    let others = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let (status, _) =
                server.ingest(&server.dcr, common::STREAM, Some(&token), common::keeper_events(1), false).await;
            statuses.push(status);
        }
        statuses
    };
    let started = Instant::now();
    let (slow, statuses) = tokio::join!(slow, others);
    assert_eq!(
        statuses,
        vec![StatusCode::NO_CONTENT; 3],
        "the other publisher was served while the slow upload went on"
    );
    let slow = slow.unwrap();
    assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(6), "cut at the limit, not when the client gave up");
    let body: Json = slow.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RequestTimeout", "{body}");
    assert_eq!(server.count("KeeperSecurityEventNewLogs_CL").await, 3, "nothing of the slow upload was written");
}
