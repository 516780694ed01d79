//! The simulator's HTTP API without kubectl or kube-rs: Status objects,
//! paging, and watches — events from a resourceVersion, BOOKMARKs, 410 Gone
//! for a compacted resourceVersion, and the server-side timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
mod support;

use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

/// An HTTPS connection to the simulator that trusts only its CA.
async fn connect(sim: &KubeSim) -> SendRequest<Empty<Bytes>> {
    support::connect(sim)
        .await
        .expect("TLS and HTTP handshake with the lab CA")
}

/// Sends a GET and returns the status and the response, still streaming.
async fn get(
    sim: &KubeSim,
    path: &str,
    token: Option<&str>,
) -> hyper::Response<hyper::body::Incoming> {
    let mut sender = connect(sim).await;
    let mut request = Request::get(path).header("host", "127.0.0.1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Empty::new()).expect("request");
    sender.send_request(request).await.expect("response")
}

async fn get_json(sim: &KubeSim, path: &str) -> (StatusCode, Value) {
    let response = get(sim, path, Some(sim.token())).await;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

/// The events of a watch, read until the server closes it.
async fn watch_events(sim: &KubeSim, path: &str, limit: Duration) -> Vec<Value> {
    let response = get(sim, path, Some(sim.token())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(limit, response.into_body().collect())
        .await
        .expect("the server closes the watch at its timeout")
        .expect("body")
        .to_bytes();
    body.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("one JSON event per line"))
        .collect()
}

fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "acme-prod", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "example/c:1"}]},
        "status": {"phase": "Pending"},
    })
}

fn start(bookmark_interval: Duration) -> (KubeSim, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = KubeSimOptions {
        bookmark_interval,
        ..KubeSimOptions::default()
    };
    (
        KubeSim::start_with(dir.path(), options).expect("simulator"),
        dir,
    )
}

#[tokio::test]
async fn requests_without_the_token_get_a_401_status() {
    let (sim, _dir) = start(Duration::from_secs(60));
    for token in [None, Some("wrong")] {
        let response = get(&sim, "/api/v1/pods", token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let status: Value = serde_json::from_slice(&body).expect("Status");
        assert_eq!(
            status,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
}

#[tokio::test]
async fn a_missing_object_is_a_not_found_status() {
    let (sim, _dir) = start(Duration::from_secs(60));
    let (code, status) =
        get_json(&sim, "/apis/apps/v1/namespaces/acme-prod/deployments/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);
    assert_eq!(
        status["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );
}

#[tokio::test]
async fn lists_page_with_limit_and_continue_at_one_resource_version() {
    let (sim, _dir) = start(Duration::from_secs(60));
    let (code, first) = get_json(&sim, "/api/v1/namespaces/acme-prod/pods?limit=5").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(first["kind"], "PodList");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(5));
    assert!(
        first["items"][0].get("kind").is_none(),
        "list items carry no kind"
    );
    assert_eq!(first["metadata"]["remainingItemCount"], 8);
    let list_version = first["metadata"]["resourceVersion"].clone();
    assert_eq!(list_version, json!(sim.resource_version().to_string()));

    sim.create(pod("zz-late", json!({}))).expect("pod");
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token");
    let (_, rest) = get_json(
        &sim,
        &format!("/api/v1/namespaces/acme-prod/pods?limit=100&continue={token}"),
    )
    .await;
    assert_eq!(
        rest["metadata"]["resourceVersion"], list_version,
        "a continued list keeps its version"
    );
    assert!(rest["metadata"].get("continue").is_none());
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(9));

    let (code, bad) = get_json(&sim, "/api/v1/pods?limit=1&continue=garbage").await;
    assert_eq!(
        (code, bad["reason"].clone()),
        (StatusCode::BAD_REQUEST, json!("BadRequest"))
    );
}

#[tokio::test]
async fn a_continue_token_from_before_a_compaction_gets_410_gone() {
    let (sim, _dir) = start(Duration::from_secs(60));
    let (_, first) = get_json(&sim, "/api/v1/namespaces/acme-prod/pods?limit=5").await;
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_owned();
    sim.create(pod("zz-later", json!({}))).expect("pod");
    sim.compact();
    let (code, expired) = get_json(
        &sim,
        &format!("/api/v1/namespaces/acme-prod/pods?limit=5&continue={token}"),
    )
    .await;
    assert_eq!(code, StatusCode::GONE);
    assert_eq!(expired["reason"], "Expired");
    assert!(
        expired["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The provided continue parameter is too old"))
    );
}

#[tokio::test]
async fn a_watch_streams_changes_from_its_version_then_bookmarks_and_times_out() {
    let (sim, _dir) = start(Duration::from_millis(300));
    let from = sim.resource_version();
    // Made before the watch arrives: still delivered, being after `from`.
    sim.create(pod("early", json!({"app": "demo"})))
        .expect("pod");
    let path = format!(
        "/api/v1/namespaces/acme-prod/pods?watch=true&resourceVersion={from}&allowWatchBookmarks=true&timeoutSeconds=2&labelSelector=app%3Ddemo"
    );
    let changes = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        sim.modify("pods", "acme-prod", "early", |pod| {
            pod["status"]["phase"] = json!("Running")
        })
        .expect("modify");
        sim.create(pod("ignored", json!({"app": "other"})))
            .expect("pod");
        sim.delete("pods", "acme-prod", "early").expect("delete");
    };
    let (events, ()) = tokio::join!(watch_events(&sim, &path, Duration::from_secs(10)), changes);

    let changes: Vec<(String, String)> = events
        .iter()
        .filter(|event| event["type"] != "BOOKMARK")
        .map(|event| {
            let name = event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            (
                event["type"].as_str().unwrap_or_default().to_string(),
                name.to_string(),
            )
        })
        .collect();
    let expected = [
        ("ADDED", "early"),
        ("MODIFIED", "early"),
        ("DELETED", "early"),
    ]
    .map(|(kind, name)| (kind.to_string(), name.to_string()));
    assert_eq!(changes, expected, "{events:#?}");
    let bookmarks: Vec<&Value> = events
        .iter()
        .filter(|event| event["type"] == "BOOKMARK")
        .collect();
    assert!(
        !bookmarks.is_empty(),
        "bookmarks every 300 ms over 2 s: {events:#?}"
    );
    let last = bookmarks
        .last()
        .map(|bookmark| &bookmark["object"])
        .expect("a bookmark");
    assert_eq!(last["kind"], "Pod");
    assert_eq!(
        last["metadata"]["resourceVersion"],
        json!(sim.resource_version().to_string())
    );
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_gets_410_gone() {
    let (sim, _dir) = start(Duration::from_secs(60));
    let old = sim.resource_version();
    sim.create(pod("after-compaction", json!({}))).expect("pod");
    sim.compact();
    let path = format!("/api/v1/pods?watch=true&resourceVersion={old}&timeoutSeconds=30");
    let events = watch_events(&sim, &path, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "ERROR");
    let status = &events[0]["object"];
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["code"], 410);
    assert_eq!(status["reason"], "Expired");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("too old resource version"))
    );

    // From the current version the watch is fine.
    let current = sim.resource_version();
    let path = format!("/api/v1/pods?watch=true&resourceVersion={current}&timeoutSeconds=1");
    assert!(
        watch_events(&sim, &path, Duration::from_secs(5))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_watch_without_a_version_starts_with_the_current_objects() {
    let (sim, _dir) = start(Duration::from_secs(60));
    let path = "/api/v1/namespaces/middleware/pods?watch=1&timeoutSeconds=1";
    let events = watch_events(&sim, path, Duration::from_secs(5)).await;
    let names: Vec<&str> = events
        .iter()
        .map(|event| {
            assert_eq!(event["type"], "ADDED");
            event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["mysql-0", "mysql-1", "redis-0", "redis-1"]);
}
