//! Alerts against the real things: Debian's Pacemaker sample agent, a hanging and a
//! flooding executable, and a webhook receiver on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

fn monitor_failure() -> Alert {
    Alert {
        id: 0x2a,
        kind: AlertKind::Resource,
        at_ms: 1_733_500_000_123,
        node: "node2".into(),
        node_id: 2,
        desc: "not running".into(),
        resource: Some("db".into()),
        task: Some("monitor".into()),
        interval_ms: 10_000,
        rc: 7,
        target_rc: 0,
        status: 0,
        attribute: None,
    }
}

const SAMPLE: &str = "/usr/share/pacemaker/alerts/alert_file.sh.sample";

/// Debian's `alert_file.sh.sample` (package pacemaker-common, which scripts/test.sh
/// installs), run unmodified, writes Pacemaker's line for a failed monitor.
#[tokio::test]
async fn pacemakers_sample_alert_agent_writes_its_line() {
    assert!(
        std::path::Path::new(SAMPLE).exists(),
        "{SAMPLE} is missing: install Debian's pacemaker-common package (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("alerts.log");
    let env = pacemaker_env(&monitor_failure(), &log.display().to_string(), 1);
    run_executable(SAMPLE, &env, EXECUTABLE_TIMEOUT)
        .await
        .expect("the sample agent succeeds");
    let written = std::fs::read_to_string(&log).expect("the agent wrote its file");
    assert_eq!(
        written,
        "15:46:40.123000: Resource operation 'monitor (10000)' for 'db' on 'node2': not running\n"
    );
}

#[tokio::test]
async fn a_hanging_agent_is_killed_and_a_flood_is_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hang = dir.path().join("hang.sh");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 60\n").expect("write");
    let flood = dir.path().join("flood.sh");
    std::fs::write(
        &flood,
        "#!/bin/sh\nhead -c 50000000 /dev/zero | tr '\\0' x\nexit 3\n",
    )
    .expect("write");
    for script in [&hang, &flood] {
        std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let env = pacemaker_env(&monitor_failure(), "x", 1);
    let error = run_executable(
        &hang.display().to_string(),
        &env,
        Duration::from_millis(300),
    )
    .await
    .expect_err("killed");
    assert!(error.contains("did not finish"), "{error}");
    let error = run_executable(&flood.display().to_string(), &env, EXECUTABLE_TIMEOUT)
        .await
        .expect_err("exit 3");
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(
        error.len() < OUTPUT_BYTES_MAX + 200,
        "{} bytes kept",
        error.len()
    );
    let error = run_executable("/nonexistent/agent", &env, EXECUTABLE_TIMEOUT)
        .await
        .expect_err("missing");
    assert!(
        error.contains("cannot run alert agent /nonexistent/agent"),
        "{error}"
    );
}

/// A webhook receiver on loopback gets Alertmanager's body; an error answer is a failure.
#[tokio::test]
async fn a_webhook_gets_alertmanagers_body() {
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    kept.lock().expect("lock").push(body);
                    "ok"
                }
            }),
        )
        .route(
            "/broken",
            axum::routing::post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    // The workspace's reqwest brings no TLS provider of its own; the agent passes its own.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let body = alertmanager_body(&[monitor_failure()], "ops", "prod");
    post_webhook(
        &client,
        &format!("http://{addr}/hook"),
        &body,
        Duration::from_secs(5),
    )
    .await
    .expect("delivered");
    let got = received.lock().expect("lock").pop().expect("one body");
    assert_eq!(got["version"], "4");
    assert_eq!(got["receiver"], "ops");
    let alert = &got["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "encluster_resource");
    assert_eq!(alert["labels"]["resource"], "db");
    assert_eq!(alert["startsAt"], "2024-12-06T15:46:40.123Z");
    assert_eq!(alert["fingerprint"], "000000000000002a");
    let error = post_webhook(
        &client,
        &format!("http://{addr}/broken"),
        &body,
        Duration::from_secs(5),
    )
    .await
    .expect_err("500");
    assert!(error.contains("500"), "{error}");
}

#[test]
fn timestamps_are_utc_rfc3339() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

/// A webhook that accepts the connection and never answers is cut off by the timeout.
#[tokio::test]
async fn a_webhook_that_never_answers_fails_at_its_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let body = alertmanager_body(&[monitor_failure()], "ops", "prod");
    let error = post_webhook(
        &client,
        &format!("http://{addr}/hook"),
        &body,
        Duration::from_millis(200),
    )
    .await
    .expect_err("no answer");
    assert!(error.contains("webhook"), "{error}");
    silent.abort();
}
