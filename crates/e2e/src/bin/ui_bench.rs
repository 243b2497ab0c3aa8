//! `ui_bench`: the web UI's performance figures (issue 14, point 7), measured in headless
//! Chromium: the bytes of the first load, the time until the dashboard of a cluster of
//! 100 nodes and 1,000 resources is on screen, the resources page with all 1,000 rows, and
//! whether each of the two pages stays responsive while the state changes ten times a
//! second.
//!
//! Method: a generated cluster state is served, with the real embedded UI
//! (`web::router()`), by a stand-in for the read endpoints the dashboard uses (status,
//! events, incidents, the live stream): a real cluster of 100 nodes does not fit on one
//! test machine. The stand-in answers from memory, so the figures are the browser's. As a
//! real cluster's does, each answer differs a little from the last: every node's heartbeat
//! age, and one resource stopped or moved. While the stream reports a change ten times a
//! second, the page records for 10 s its long tasks (`PerformanceObserver`, `longtask`:
//! over 50 ms), how late a 50 ms timer fires, how often it fetched the status, and, from
//! its long animation frames, where their time went (scripts by function, style and
//! layout): the profile that says what to fix. Run with `cargo run -p e2e --bin ui_bench`
//! (needs chromium and chromium-driver); it prints the figures for bench/RESULTS.md.

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

/// The status as answered after change `applied`: every node's heartbeat age differs from
/// the last answer's, and one resource (another at each change) is stopped or has moved.
fn status_at(base: &api::Status, applied: u64) -> api::Status {
    let mut status = base.clone();
    for node in &mut status.nodes {
        node.last_heartbeat_ms = Some((node.id * 7 + applied * 37) % 300);
    }
    let changed = usize::try_from(applied * 7 % RESOURCES).expect("a small index");
    let instance = &mut status.resources[changed].instances[0];
    if applied.is_multiple_of(2) {
        instance.state = "stopped".into();
    } else {
        instance.node = applied % NODES + 1;
    }
    status
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

/// As an agent answers `GET /v1/session`: who an admin API token is; 401 without one.
async fn session(headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        let refusal = serde_json::json!({ "error": "sign in first" });
        return (axum::http::StatusCode::UNAUTHORIZED, Json(refusal)).into_response();
    }
    Json(api::SessionInfo {
        user: "bench".into(),
        role: "admin".into(),
        permissions: ["read", "operate", "admin"].map(String::from).to_vec(),
        csrf: String::new(),
        expires_at_ms: 0,
        via: "token".into(),
    })
    .into_response()
}

fn stand_in(state: Arc<Generated>) -> Router {
    Router::new()
        .route(
            "/v1/status",
            get(|State(s): State<Arc<Generated>>| async move {
                Json(status_at(&s.status, s.applied.load(Ordering::Relaxed)))
            }),
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
        .route("/v1/session", get(session))
        .route("/v1/stream", get(stream))
        .with_state(state)
        .merge(web::router())
}

/// Waits for `count` rows and for the frame that first shows them to be drawn: checked in
/// each frame's animation callbacks, the time taken in a task queued from the first that
/// finds them, which runs after that frame's style, layout and paint. Answers the time
/// since the page's start.
const WAIT_ROWS: &str = r#"
const [selector, count, done] = arguments;
const check = () => {
  if (document.querySelectorAll(selector).length >= count) {
    setTimeout(() => done(performance.now()), 0);
  } else {
    requestAnimationFrame(check);
  }
};
requestAnimationFrame(check);
"#;

/// As `WAIT_ROWS`, after going to the page at `hash`; answers the time since it went.
const WAIT_PAGE: &str = r#"
const [hash, selector, count, done] = arguments;
const start = performance.now();
location.hash = hash;
const check = () => {
  if (document.querySelectorAll(selector).length >= count) {
    setTimeout(() => done(performance.now() - start), 0);
  } else {
    requestAnimationFrame(check);
  }
};
requestAnimationFrame(check);
"#;

/// Watches the page for `ms` while the stream changes: long tasks (over 50 ms), a 50 ms
/// timer's lateness, status fetches, and where the long animation frames spent their time.
const BUSY: &str = r#"
const [ms, done] = arguments;
const tasks = [];
const frames = [];
let fetches = 0;
const longtasks = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) tasks.push(entry.duration);
});
longtasks.observe({ type: 'longtask' });
const loaf = new PerformanceObserver((list) => frames.push(...list.getEntries()));
const loafSupported = PerformanceObserver.supportedEntryTypes.includes('long-animation-frame');
if (loafSupported) loaf.observe({ type: 'long-animation-frame' });
const resources = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.name.includes('/v1/status')) fetches += 1;
});
resources.observe({ type: 'resource' });
let worst = 0, total = 0, samples = 0, last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  const lag = Math.max(0, now - last - 50);
  worst = Math.max(worst, lag); total += lag; samples += 1; last = now;
}, 50);
setTimeout(() => {
  clearInterval(timer);
  for (const entry of longtasks.takeRecords()) tasks.push(entry.duration);
  if (loafSupported) frames.push(...loaf.takeRecords());
  longtasks.disconnect(); loaf.disconnect(); resources.disconnect();
  const scripts = {};
  let layout = 0, forced = 0, script = 0;
  for (const frame of frames) {
    if (frame.styleAndLayoutStart) layout += frame.startTime + frame.duration
      - frame.styleAndLayoutStart;
    for (const s of frame.scripts) {
      const file = (s.sourceURL || '').replace(/^.*\/ui\//, '');
      const key = `${s.invokerType} ${s.sourceFunctionName || s.invoker} (${file})`;
      scripts[key] = (scripts[key] || 0) + s.duration;
      script += s.duration;
      forced += s.forcedStyleAndLayoutDuration;
    }
  }
  const top = Object.entries(scripts).sort((a, b) => b[1] - a[1]).slice(0, 6);
  done({
    worst, mean: total / samples, tasks: tasks.length, longest: Math.max(0, ...tasks),
    fetches, frames: frames.length, script, layout, forced, top,
  });
}, ms);
"#;

const BYTES: &str = r#"
const entries = performance.getEntriesByType('resource').filter((e) => e.name.includes('/ui/'));
const nav = performance.getEntriesByType('navigation')[0];
return entries.reduce((sum, e) => sum + e.encodedBodySize, nav ? nav.encodedBodySize : 0);
"#;

/// How long each watch of a page lasts.
const WATCH_MS: u64 = 10_000;

fn number(value: &serde_json::Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn maximum(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

/// What one page showed while the state streamed, run after run.
#[derive(Default)]
struct Streaming {
    runs: Vec<serde_json::Value>,
}

impl Streaming {
    fn column(&self, key: &str) -> Vec<f64> {
        self.runs.iter().map(|run| number(&run[key])).collect()
    }

    fn report(&self, page: &str) {
        let line = |key: &str, what: &str, unit: &str| {
            let values = self.column(key);
            println!(
                "  {what}: median {:.1}{unit}, maximum {:.1}{unit} of {} runs ({values:.1?})",
                median(values.clone()),
                maximum(&values),
                values.len()
            );
        };
        println!(
            "{page}, while the state changes 10 times a second, each run {} s:",
            WATCH_MS / 1000
        );
        let cpu = " % of a core";
        let lines = [
            ("longest", "longest task", " ms"),
            ("tasks", "tasks over 50 ms", ""),
            ("worst", "a 50 ms timer's worst lateness", " ms"),
            ("mean", "its mean lateness", " ms"),
            ("fetches", "status fetches", ""),
            ("cpu", "the browser's CPU time (all its processes)", cpu),
            ("ThreadTime", "the page's main thread, CPU time", cpu),
            ("TaskDuration", "its tasks, thread time", cpu),
            ("RecalcStyleDuration", "  of which style", cpu),
            ("LayoutDuration", "  layout", cpu),
            ("TaskOtherDuration", "  the rest (scripts, paint, GC)", cpu),
        ];
        for (key, what, unit) in lines {
            line(key, what, unit);
        }
        self.profile();
    }

    /// Where the long animation frames of every run spent their time.
    fn profile(&self) {
        let sum = |key: &str| self.column(key).iter().sum::<f64>();
        println!(
            "  profile of {} frames over 50 ms: scripts {:.0} ms (forced style and layout \
             {:.0} ms), style and layout after them {:.0} ms",
            sum("frames"),
            sum("script"),
            sum("forced"),
            sum("layout")
        );
        let mut scripts = std::collections::BTreeMap::<String, f64>::new();
        for run in &self.runs {
            for entry in run["top"].as_array().into_iter().flatten() {
                let key = entry[0].as_str().unwrap_or("?").to_owned();
                *scripts.entry(key).or_default() += number(&entry[1]);
            }
        }
        let mut scripts: Vec<_> = scripts.into_iter().collect();
        scripts.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (script, ms) in scripts.iter().take(5) {
            println!("    {ms:.0} ms in {script}");
        }
    }
}

async fn sign_in(browser: &Browser, url: &str) -> anyhow::Result<()> {
    browser.open(url).await?;
    browser.click("#login-form + details summary").await?;
    browser.fill("#login-token", "bench").await?;
    browser.click("#token-form button[type=submit]").await?;
    browser.wait_for("#logout", Duration::from_secs(30)).await?;
    Ok(())
}

const DASHBOARD_ROWS: &str = "#dash-nodes tbody tr";
const RESOURCE_ROWS: &str = "#resources tbody tr";

/// Go to the page at `hash` and wait for its table to hold `count` rows; the time it took.
async fn go(browser: &Browser, hash: &str, rows: &str, count: u64) -> anyhow::Result<f64> {
    let args = vec![hash.into(), rows.into(), count.into()];
    Ok(number(
        &browser.client.execute_async(WAIT_PAGE, args).await?,
    ))
}

/// The CPU time, in seconds, of this process's descendants: chromedriver and every process
/// of the browser (the stand-in runs in this process and is not counted). Unlike the
/// timings in the page, it does not grow when other work on the machine delays the page.
fn browser_cpu_seconds() -> f64 {
    // Linux reports times in clock ticks of USER_HZ, 100 a second on every architecture.
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut parent_of = std::collections::HashMap::new();
    let mut ticks_of = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command (field 2) may hold spaces and parentheses; the fields after it don't.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let (Some(parent), Some(user), Some(system)) = (field(4), field(14), field(15)) else {
            continue;
        };
        parent_of.insert(pid, u32::try_from(parent).unwrap_or(0));
        ticks_of.insert(pid, user + system);
    }
    let me = std::process::id();
    let descends = |mut pid: u32| {
        while let Some(&parent) = parent_of.get(&pid) {
            if parent == me {
                return true;
            }
            pid = parent;
        }
        false
    };
    let ticks: u64 = ticks_of
        .iter()
        .filter(|(pid, _)| descends(**pid))
        .map(|(_, ticks)| ticks)
        .sum();
    ticks as f64 / TICKS_PER_SECOND
}

/// The renderer's own counters (DevTools `Performance.getMetrics`, timed in thread time
/// since `Performance.enable` asked for it): seconds spent in tasks, in style and layout,
/// and in the rest of the tasks, and the main thread's CPU time. (Its `ScriptDuration`
/// stays near zero in this Chromium, so scripts count in the rest.)
const METRICS: [&str; 5] = [
    "TaskDuration",
    "RecalcStyleDuration",
    "LayoutDuration",
    "TaskOtherDuration",
    "ThreadTime",
];

async fn metrics(browser: &Browser) -> anyhow::Result<Vec<f64>> {
    let answer = browser
        .cdp("Performance.getMetrics", serde_json::json!({}))
        .await?;
    let all = answer["metrics"].as_array().context("metrics")?;
    let value = |name: &str| {
        all.iter()
            .find(|metric| metric["name"] == name)
            .map_or(f64::NAN, |metric| number(&metric["value"]))
    };
    Ok(METRICS.iter().map(|name| value(name)).collect())
}

async fn watch(browser: &Browser) -> anyhow::Result<serde_json::Value> {
    let args = vec![WATCH_MS.into()];
    let cpu_before = browser_cpu_seconds();
    let metrics_before = metrics(browser).await?;
    let mut seen = browser.client.execute_async(BUSY, args).await?;
    let metrics_after = metrics(browser).await?;
    let cpu = browser_cpu_seconds() - cpu_before;
    let per_cent = |seconds: f64| seconds * 1000.0 / WATCH_MS as f64 * 100.0;
    seen["cpu"] = per_cent(cpu).into();
    for (i, name) in METRICS.iter().enumerate() {
        seen[*name] = per_cent(metrics_after[i] - metrics_before[i]).into();
    }
    Ok(seen)
}

async fn measure(browser: &Browser, url: &str) -> anyhow::Result<()> {
    let client = &browser.client;
    sign_in(browser, url).await?;
    let mut loads = Vec::new();
    for _ in 0..RUNS {
        client.refresh().await?;
        let args = vec![DASHBOARD_ROWS.into(), NODES.into()];
        loads.push(number(&client.execute_async(WAIT_ROWS, args).await?));
    }
    let bytes = client.execute(BYTES, Vec::new()).await?;
    let mut pages = Vec::new();
    let mut dashboard = Streaming::default();
    let mut resources = Streaming::default();
    let thread_time = serde_json::json!({ "timeDomain": "threadTicks" });
    browser.cdp("Performance.enable", thread_time).await?;
    for _ in 0..RUNS {
        pages.push(go(browser, "#/resources", RESOURCE_ROWS, RESOURCES).await?);
        resources.runs.push(watch(browser).await?);
        go(browser, "#/", DASHBOARD_ROWS, NODES).await?;
        dashboard.runs.push(watch(browser).await?);
    }
    println!("first load (page + every asset, as transferred, uncompressed): {bytes} bytes");
    println!(
        "dashboard of {NODES} nodes and {RESOURCES} resources on screen after load: \
         median {:.0} ms, maximum {:.0} ms of {RUNS} ({loads:.0?})",
        median(loads.clone()),
        maximum(&loads)
    );
    println!(
        "resources page with all {RESOURCES} rows: median {:.0} ms, maximum {:.0} ms of \
         {RUNS} ({pages:.0?})",
        median(pages.clone()),
        maximum(&pages)
    );
    dashboard.report("dashboard");
    resources.report("resources page");
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
