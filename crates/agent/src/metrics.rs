//! This node's metrics: once a second the samplers of `monitor` (host, the agent's
//! process) and the agent's own Raft figures go into the node's round-robin series under
//! `<data_dir>/metrics`, written out every [`FLUSH_EVERY`] samples and then made durable
//! (one `syncfs` on a thread of its own, so neither sampling nor queries wait on the disk),
//! and at shutdown: a crash of the agent or of the machine loses at most the last flush
//! interval.
//!
//! Latencies (the lb's response times per service and real server, each resource
//! instance's monitors, the Raft log's appends and commits) are histograms: `/metrics`
//! shows the counts of the last round, and the archives keep each round's 50th and 99th
//! percentile (`monitor::histogram`).
//!
//! Not a critical task: a node whose sampling fails (a full disk, an unreadable /proc)
//! keeps serving, logs it, and answers queries with what it has.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use executor::OperationKind;
use model::{Millis, NodeId, ResourceId};
use monitor::histogram::{Buckets, Histogram, LATENCY_BUCKETS, Percentiles};
use monitor::host::Sample;
use monitor::{Fetched, Kind, MonitorError, Range, Recorder, SeriesKey};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;

/// How often every series is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often (in samples) rows waiting in memory are written to their files and synced.
pub const FLUSH_EVERY: u32 = 10;

/// The node's series, shared by the sampler and the API.
pub struct Metrics {
    recorder: Mutex<Recorder>,
    /// The histograms of the last round, for `/metrics`.
    histograms: Mutex<Vec<Histogram>>,
    data_dir: PathBuf,
    /// This node's name, the `node` label of its Prometheus text.
    pub node_name: String,
}

impl Metrics {
    /// The series kept under `data_dir/metrics`, reopened with their history.
    pub fn open(data_dir: &std::path::Path, node_name: &str) -> Result<Arc<Metrics>, MonitorError> {
        let recorder = Recorder::new(Some(&data_dir.join("metrics")))?;
        Ok(Arc::new(Metrics {
            recorder: Mutex::new(recorder),
            histograms: Mutex::new(Vec::new()),
            data_dir: data_dir.to_path_buf(),
            node_name: node_name.to_owned(),
        }))
    }

    /// Every series of this node.
    pub fn keys(&self) -> Vec<SeriesKey> {
        self.lock().keys().cloned().collect()
    }

    /// The last sample of every series.
    pub fn latest(&self) -> Vec<(SeriesKey, Kind, f64)> {
        self.lock().latest()
    }

    /// The latency histograms as of the last round.
    pub fn histograms(&self) -> Vec<Histogram> {
        self.histograms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_histograms(&self, histograms: Vec<Histogram>) {
        *self
            .histograms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = histograms;
    }

    /// A range query on one of this node's series.
    pub fn fetch(&self, key: &SeriesKey, range: Range) -> Result<Fetched, MonitorError> {
        self.lock().fetch(key, range)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorder> {
        // A panic while recording leaves rows at worst half-recorded, never unsafe to read.
        self.recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one round; every [`FLUSH_EVERY`] rounds also writes the rows out. True when
    /// it flushed: the caller then makes them durable off the sampling path.
    fn record(&self, at: Millis, samples: &[Sample], round: u32) -> bool {
        let mut recorder = self.lock();
        let flush = round.is_multiple_of(FLUSH_EVERY);
        let result = recorder.record(at, samples).and_then(|()| match flush {
            true => recorder.flush(),
            false => Ok(()),
        });
        if let Err(error) = &result {
            tracing::warn!(%error, "Cannot record the node's metrics");
        }
        flush && result.is_ok()
    }

    /// Makes the flushed rows durable (one `syncfs`), without the recorder's lock.
    fn sync_flushed(&self) {
        if let Err(error) = Recorder::sync_flushed(Some(&self.data_dir.join("metrics"))) {
            tracing::warn!(%error, "Cannot sync the node's metrics");
        }
    }
}

/// What the sampler reads besides the kernel: the Raft core, the local replica (this
/// node's resource instances) and the load balancer (the services it directs).
pub struct Sources {
    /// The Raft core, for its term and indexes.
    pub raft: cmdb::Raft,
    /// The local replica.
    pub shared: cmdb::SharedDb,
    /// This node.
    pub node: NodeId,
    /// The load balancer's data plane.
    pub lb: Arc<crate::lb_agent::LbAgent>,
    /// Where the events of threshold rules and of this node's directors go (to be written
    /// to the cmdb); full means the writer is behind, and the events are dropped rather
    /// than waited for.
    pub threshold_events: tokio::sync::mpsc::Sender<Vec<model::EventKind>>,
    /// This node's remote probes (`remote_probe_*` series).
    pub remote: Arc<crate::remote::Remote>,
    /// How long the Raft log's appends and commits take.
    pub raft_latency: Arc<cmdb::latency::RaftLatency>,
    /// The executor's operations on this node: monitor latency and restarts.
    pub instances: Arc<InstanceFigures>,
    /// How late this agent's own timers fire (`agent_loop_lag_seconds`).
    pub loop_lag: Arc<crate::lag::LoopLag>,
}

/// What the executor tells of each resource instance on this node: its monitors' durations
/// and how many times it was started again since the agent started. One entry per
/// resource the executor ran here; entries of resources gone from this node are dropped
/// at each sampling round.
#[derive(Debug, Default)]
pub struct InstanceFigures {
    figures: Mutex<BTreeMap<ResourceId, Figures>>,
}

#[derive(Debug, Default)]
struct Figures {
    monitors: Buckets,
    starts: u64,
}

impl executor::runtime::OperationObserver for InstanceFigures {
    fn finished(&self, resource: &ResourceId, operation: OperationKind, ok: bool, took: Duration) {
        let mut figures = self.lock();
        let figures = figures.entry(resource.clone()).or_default();
        match operation {
            OperationKind::Monitor => figures.monitors.observe(took),
            OperationKind::Start if ok => figures.starts += 1,
            _ => {}
        }
    }
}

impl InstanceFigures {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ResourceId, Figures>> {
        // Figures only: nothing a panic could leave unsafe to read.
        self.figures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Each instance's restarts (its starts after the first) and monitor histogram, for
    /// the resources in `here`; forgets the others.
    fn sample(
        &self,
        here: &std::collections::BTreeSet<ResourceId>,
    ) -> (Vec<Sample>, Vec<Histogram>) {
        let mut figures = self.lock();
        figures.retain(|id, _| here.contains(id));
        let mut samples = Vec::new();
        let mut histograms = Vec::new();
        for (id, figures) in figures.iter() {
            let labels = [("resource", id.0.as_str())];
            let restarts = figures.starts.saturating_sub(1) as f64;
            samples.push(labelled(
                "resource_restarts",
                Kind::Counter,
                &labels,
                restarts,
            ));
            histograms.push(Histogram {
                name: "resource_monitor_duration_seconds",
                labels: vec![("resource", id.0.clone())],
                buckets: figures.monitors.clone(),
            });
        }
        (samples, histograms)
    }
}

/// Samples every second until `shutdown`, then makes the series durable.
pub async fn run(metrics: Arc<Metrics>, sources: Sources, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut round: u32 = 0;
    let mut thresholds = crate::thresholds::Thresholds::default();
    let mut directors = crate::thresholds::Directors::default();
    let mut percentiles = Percentiles::default();
    let mut syncing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        round = round.wrapping_add(1);
        let mut samples = raft_samples(&sources.raft);
        samples.push(Sample {
            name: "agent_loop_lag_seconds",
            labels: Vec::new(),
            kind: Kind::Gauge,
            // In seconds, Prometheus's base unit (promtool refuses milliseconds).
            value: sources.loop_lag.recent_ms() as f64 / 1000.0,
        });
        let (resources, here) = sources
            .shared
            .read(|db| resource_samples(&db.resources, sources.node));
        samples.extend(resources);
        let services = sources.lb.snapshots().await;
        samples.extend(lb_samples(&services));
        let (instances, mut histograms) = sources.instances.sample(&here);
        samples.extend(instances);
        histograms.extend(lb_histograms(&services));
        histograms.extend(raft_histograms(&sources.raft_latency));
        samples.extend(percentiles.samples(&histograms));
        metrics.set_histograms(histograms);
        samples.extend(sources.remote.samples());
        let director_events = directors.check(&services, sources.node);
        if !director_events.is_empty()
            && sources.threshold_events.try_send(director_events).is_err()
        {
            tracing::warn!("Director events dropped: the writer is behind");
        }
        let recording = metrics.clone();
        let sampled = tokio::task::spawn_blocking(move || {
            samples.extend(monitor::host::sample_host(&recording.data_dir));
            samples.extend(monitor::host::sample_process());
            recording.record(now_ms(), &samples, round)
        })
        .await;
        match sampled {
            // One sync at a time: while one runs, the next flush waits for the one after.
            Ok(true)
                if syncing
                    .as_ref()
                    .is_none_or(tokio::task::JoinHandle::is_finished) =>
            {
                let syncing_metrics = metrics.clone();
                syncing = Some(tokio::task::spawn_blocking(move || {
                    syncing_metrics.sync_flushed();
                }));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "The metrics sampler failed"),
        }
        check_thresholds(&metrics, &sources, &mut thresholds);
    }
    if let Some(syncing) = syncing {
        let _ = syncing.await;
    }
    let synced = tokio::task::spawn_blocking(move || metrics.lock().sync()).await;
    if let Ok(Err(error)) = synced {
        tracing::warn!(%error, "Cannot sync the node's metrics");
    }
}

/// Checks the cmdb's threshold rules against the newest samples; never waits on the
/// writer.
fn check_thresholds(
    metrics: &Metrics,
    sources: &Sources,
    thresholds: &mut crate::thresholds::Thresholds,
) {
    let rules = sources.shared.read(crate::thresholds::rules_of);
    if rules.is_empty() {
        return;
    }
    let latest = metrics.latest();
    let events = thresholds.check(&rules, &latest, now_ms(), sources.node);
    if !events.is_empty() && sources.threshold_events.try_send(events).is_err() {
        tracing::warn!("Threshold events dropped: the writer is behind");
    }
}

/// The agent's Raft figures: term, commit and apply positions, and the apply lag.
fn raft_samples(raft: &cmdb::Raft) -> Vec<Sample> {
    let metrics = cmdb::metrics(raft);
    let committed = metrics.local_committed.map_or(0, |id| id.index);
    let applied = metrics.last_applied.map_or(0, |id| id.index);
    let gauge = |name, value: u64| Sample {
        name,
        labels: Vec::new(),
        kind: Kind::Gauge,
        value: value as f64,
    };
    vec![
        gauge("agent_raft_term", metrics.current_term),
        gauge("agent_raft_apply_lag", committed.saturating_sub(applied)),
        Sample {
            name: "agent_raft_committed",
            labels: Vec::new(),
            kind: Kind::Counter,
            value: committed as f64,
        },
    ]
}

fn labelled(name: &'static str, kind: Kind, labels: &[(&'static str, &str)], value: f64) -> Sample {
    Sample {
        name,
        labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        kind,
        value,
    }
}

/// Each resource instance on this node, from the local replica: whether it is active, and
/// its fail count; and the resources with an instance here. (Monitor latency and restarts
/// come from the executor's own figures, [`InstanceFigures`]: successful recurring
/// monitors are not reported to the cmdb.)
fn resource_samples(
    resources: &cmdb::ResourceDb,
    node: NodeId,
) -> (Vec<Sample>, std::collections::BTreeSet<ResourceId>) {
    let mut out = Vec::new();
    let mut here = std::collections::BTreeSet::new();
    for (id, nodes) in &resources.status {
        let Some(status) = nodes.get(&node) else {
            continue;
        };
        here.insert(id.clone());
        let labels = [("resource", id.0.as_str())];
        let active = if status.state.is_active() { 1.0 } else { 0.0 };
        out.push(labelled("resource_active", Kind::Gauge, &labels, active));
        let fails = f64::from(status.fail_count);
        out.push(labelled("resource_failures", Kind::Gauge, &labels, fails));
    }
    (out, here)
}

/// The lb's response times: each real server's (`lb_server_response_seconds`) and each
/// service's, the sum of its servers' (`lb_response_seconds`).
fn lb_histograms(services: &[lb::ServiceSnapshot]) -> Vec<Histogram> {
    let mut out = Vec::new();
    for service in services {
        let mut total = Buckets::default();
        for server in &service.servers {
            let buckets = buckets_of(server.response_time.counts, server.response_time.sum_micros);
            total.add(&buckets);
            out.push(Histogram {
                name: "lb_server_response_seconds",
                labels: vec![
                    ("service", service.name.clone()),
                    ("server", server.name.clone()),
                ],
                buckets,
            });
        }
        out.push(Histogram {
            name: "lb_response_seconds",
            labels: vec![("service", service.name.clone())],
            buckets: total,
        });
    }
    out
}

/// The Raft log's histograms: appends until durable, and proposals until committed.
fn raft_histograms(latency: &cmdb::latency::RaftLatency) -> Vec<Histogram> {
    let histogram = |name, (counts, sum_micros)| Histogram {
        name,
        labels: Vec::new(),
        buckets: buckets_of(counts, sum_micros),
    };
    vec![
        histogram("agent_raft_log_write_seconds", latency.log_write.read()),
        histogram("agent_raft_commit_seconds", latency.commit.read()),
    ]
}

/// Counts kept in microseconds by the lb and the cmdb, as a histogram of seconds (their
/// bounds are the same: see the test of `LATENCY_BOUNDS_MICROS`).
fn buckets_of(counts: [u64; LATENCY_BUCKETS], sum_micros: u64) -> Buckets {
    Buckets {
        counts,
        sum_seconds: sum_micros as f64 / 1e6,
    }
}

/// Each virtual service this node directs, and each of its real servers.
fn lb_samples(services: &[lb::ServiceSnapshot]) -> Vec<Sample> {
    let mut out = Vec::new();
    for service in services {
        let labels = [("service", service.name.as_str())];
        for (name, kind, value) in [
            (
                "lb_connections_active",
                Kind::Gauge,
                service.connections_active,
            ),
            ("lb_connections", Kind::Counter, service.connections_total),
            (
                "lb_connections_rejected",
                Kind::Counter,
                service.connections_rejected,
            ),
            ("lb_received_bytes", Kind::Counter, service.bytes_in),
            ("lb_sent_bytes", Kind::Counter, service.bytes_out),
            ("lb_requests", Kind::Counter, service.requests_total),
            ("lb_errors", Kind::Counter, service.errors_total),
        ] {
            out.push(labelled(name, kind, &labels, value as f64));
        }
        for server in &service.servers {
            let labels = [
                ("service", service.name.as_str()),
                ("server", server.name.as_str()),
            ];
            let healthy = if server.healthy { 1.0 } else { 0.0 };
            out.push(labelled("lb_server_healthy", Kind::Gauge, &labels, healthy));
            for (name, kind, value) in [
                (
                    "lb_server_connections_active",
                    Kind::Gauge,
                    server.connections_active,
                ),
                (
                    "lb_server_connections",
                    Kind::Counter,
                    server.connections_total,
                ),
                ("lb_server_requests", Kind::Counter, server.requests_total),
                ("lb_server_errors", Kind::Counter, server.errors_total),
            ] {
                out.push(labelled(name, kind, &labels, value as f64));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
