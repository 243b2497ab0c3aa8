//! `ui_bench`: the web UI's performance figures (issue 14, point 7), measured in headless
//! Chromium: the bytes of the first load, the time until the dashboard of a cluster of
//! 100 nodes and 1,000 resources is on screen, the resources page with all 1,000 rows, and
//! how long the page stays busy while the state changes ten times a second.
//!
//! Method: a generated cluster state is served, with the real embedded UI
//! (`web::router()`), by a stand-in for the read endpoints the dashboard uses (status,
//! events, incidents, the live stream): a real cluster of 100 nodes does not fit on one
//! test machine. The stand-in answers from memory, so the figures are the browser's. Run
//! with `cargo run -p e2e --bin ui_bench` (needs chromium and chromium-driver); it prints
//! the figures for bench/RESULTS.md.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use e2e::browser::Browser;

const NODES: u64 = 100;
const RESOURCES: u64 = 1000;
const RUNS: usize = 5;

struct Generated {
    status: api::Status,
    applied: AtomicU64,
}

fn node(id: u64) -> api::NodeStatus {
    api::NodeStatus {
        id,
        name: format!("node{id}"),
        state: if id.is_multiple_of(37) {
            "down"
        } else {
            "online"
        }
        .into(),
        role: if id <= 5 { "voter" } else { "learner" }.into(),
        is_master: id == 1,
        last_heartbeat_ms: Some(id * 7 % 300),
        peer_addr: format!("10.0.{}.{}:7510", id / 250, id % 250),
        api_addr: format!("10.0.{}.{}:7511", id / 250, id % 250),
        recorded_state: None,
        standby: id.is_multiple_of(50),
        maintenance: false,
        version: None,
        format: None,
    }
}

fn resource(i: u64) -> api::ResourceView {
    let type_name = match i % 20 {
        0 => "vip",
        1 => "lb",
        _ => "process",
    };
    let mut params = std::collections::BTreeMap::new();
    params.insert("command".to_owned(), format!("/usr/bin/service-{i}"));
    let state = if i.is_multiple_of(97) {
        "failed"
    } else {
        "running"
    };
    api::ResourceView {
        spec: api::ResourceSpec {
            name: format!("res-{i:04}"),
            type_name: type_name.into(),
            params,
            ..api::ResourceSpec::default()
        },
        group: i.is_multiple_of(3).then(|| format!("group-{}", i / 3)),
        instances: vec![api::InstanceView {
            node: i % NODES + 1,
            state: state.into(),
            fail_count: u32::from(state == "failed"),
            last_failure: None,
            last_failure_at_ms: None,
            assigned_token: Some(i + 1),
            role: None,
            promotion_score: None,
            remote: None,
            status_text: None,
        }],
        managed: true,
    }
}

fn generated() -> Generated {
    Generated {
        status: api::Status {
            cluster_name: "bench".into(),
            answered_by: 1,
            master: Some(1),
            term: 3,
            commit_index: 1000,
            applied_index: 1000,
            nodes: (1..=NODES).map(node).collect(),
            resources: (0..RESOURCES).map(resource).collect(),
            quorum: Some("has".into()),
            last_master: Some(1),
            master_contact_ms: Some(0),
            view: Some("master".into()),
            forwarded_by: None,
            master_unreachable: None,
            failed_actions: Vec::new(),
            moves: Vec::new(),
            groups: Vec::new(),
            remote_views: Vec::new(),
            format: None,
            cert_warnings: Vec::new(),
            witness: None,
        },
        applied: AtomicU64::new(1),
    }
}

fn events(applied: u64) -> api::Events {
    let events = (applied.saturating_sub(10)..applied)
        .map(|seq| api::Event {
            seq,
            at_ms: 1_800_000_000_000 + seq,
            kind: "resource_started".into(),
            message: format!(
                "res-{:04} started on node{}",
                seq % RESOURCES,
                seq % NODES + 1
            ),
            detail: serde_json::Value::Null,
            severity: "info".into(),
            actor: None,
        })
        .collect();
    api::Events {
        events,
        next: applied,
    }
}

/// Ten state messages a second, each a change: every one makes the page fetch again.
async fn stream(
    State(state): State<Arc<Generated>>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    Sse::new(changes(state))
}

fn changes(state: Arc<Generated>) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(state, |state| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied = state.applied.fetch_add(1, Ordering::Relaxed) + 1;
        let message = api::StreamState {
            node_id: 1,
            applied,
            next_event: applied,
            master: Some(1),
            quorum: "has".into(),
            at_ms: 0,
        };
        let event = Event::default()
            .event("state")
            .json_data(&message)
            .expect("serializes");
        Some((Ok(event), state))
    })
}

fn stand_in(state: Arc<Generated>) -> Router {
    Router::new()
        .route(
            "/v1/status",
            get(|State(s): State<Arc<Generated>>| async move { Json(s.status.clone()) }),
        )
        .route(
            "/v1/events",
            get(|State(s): State<Arc<Generated>>| async move {
                Json(events(s.applied.load(Ordering::Relaxed)))
            }),
        )
        .route(
            "/v1/incidents",
            get(|| async {
                Json(api::Incidents {
                    incidents: Vec::new(),
                })
            }),
        )
        .route(
            "/v1/session",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "{\"error\":\"none\"}") }),
        )
        .route("/v1/stream", get(stream))
        .with_state(state)
        .merge(web::router())
}

const WAIT_ROWS: &str = r#"
const [selector, count, done] = arguments;
const check = () => {
  if (document.querySelectorAll(selector).length >= count) done(performance.now());
  else requestAnimationFrame(check);
};
check();
"#;

const WAIT_PAGE: &str = r#"
const [hash, selector, count, done] = arguments;
const start = performance.now();
location.hash = hash;
const check = () => {
  if (document.querySelectorAll(selector).length >= count) done(performance.now() - start);
  else requestAnimationFrame(check);
};
check();
"#;

const BUSY: &str = r#"
const done = arguments[0];
let worst = 0, total = 0, samples = 0, last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  const lag = Math.max(0, now - last - 50);
  worst = Math.max(worst, lag); total += lag; samples += 1; last = now;
}, 50);
setTimeout(() => { clearInterval(timer); done([worst, total / samples]); }, 10000);
"#;

const BYTES: &str = r#"
const entries = performance.getEntriesByType('resource').filter((e) => e.name.includes('/ui/'));
const nav = performance.getEntriesByType('navigation')[0];
return entries.reduce((sum, e) => sum + e.encodedBodySize, nav ? nav.encodedBodySize : 0);
"#;

fn number(value: &serde_json::Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn measure(browser: &Browser, url: &str) -> anyhow::Result<()> {
    let client = &browser.client;
    browser.open(url).await?;
    browser.click("#login-form + details summary").await?;
    browser.fill("#login-token", "bench").await?;
    browser.click("#token-form button[type=submit]").await?;
    browser.wait_for("#logout", Duration::from_secs(30)).await?;
    let rows = "#dash-nodes tbody tr";
    let mut loads = Vec::new();
    for _ in 0..RUNS {
        client.refresh().await?;
        let args = vec![rows.into(), NODES.into()];
        loads.push(number(&client.execute_async(WAIT_ROWS, args).await?));
    }
    let bytes = client.execute(BYTES, Vec::new()).await?;
    let mut pages = Vec::new();
    for _ in 0..RUNS {
        let to_resources = vec![
            "#/resources".into(),
            "#resources tbody tr".into(),
            RESOURCES.into(),
        ];
        pages.push(number(
            &client.execute_async(WAIT_PAGE, to_resources).await?,
        ));
        let back = vec!["#/".into(), rows.into(), NODES.into()];
        client.execute_async(WAIT_PAGE, back).await?;
    }
    let busy = client.execute_async(BUSY, Vec::new()).await?;
    println!("first load (page + every asset, as transferred, uncompressed): {bytes} bytes");
    println!(
        "dashboard of {NODES} nodes and {RESOURCES} resources on screen after load: \
         median {:.0} ms of {RUNS} (each: {loads:.0?})",
        median(loads.clone())
    );
    println!(
        "resources page with all {RESOURCES} rows: median {:.0} ms of {RUNS} ({pages:.0?})",
        median(pages.clone())
    );
    println!(
        "while the state changes 10 times a second for 10 s (each change refetches and \
         redraws the dashboard): worst event-loop delay {:.0} ms, mean {:.1} ms",
        number(&busy[0]),
        number(&busy[1])
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = Arc::new(generated());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, stand_in(state)).await });
    let browser = Browser::start().await.context("start chromium")?;
    let outcome = measure(&browser, &url).await;
    if outcome.is_err() {
        let shown = browser.text_of("body", Duration::from_secs(1)).await;
        eprintln!("the page showed: {shown:?}");
    }
    browser.close().await?;
    server.abort();
    outcome
}
