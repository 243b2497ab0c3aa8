//! Runtime tests with a fake resource agent on paused tokio time: the backstop timeout,
//! unknown resource types, shutdown leaving resources alone, and clone notifications.
//!
//! Method: a `FakeAgent` whose start can hang forever stands in for a real resource agent;
//! the test drives the runtime through its channels as the integrator does, and tokio's
//! paused clock jumps over the waits, so nothing sleeps for real.

use super::{Agents, RuntimeConfig, run};
use crate::{Assignment, Event, Executor, ExecutorConfig, InstanceState, OperationKind};
use model::{BootMs, ParamSchema, Resource, ResourceId, ResourceOptions};
use resource_agents::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Starts hang forever; stops succeed and are counted; monitors say it runs.
#[derive(Default)]
struct FakeAgent {
    stops: AtomicUsize,
}

impl ResourceAgent for FakeAgent {
    fn type_name(&self) -> &str {
        "fake"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(ParamSchema::new(Vec::new())) })
    }

    fn validate<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn start<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(std::future::pending())
    }

    fn stop<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Outcome::Ok })
    }

    fn monitor<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }
}

fn resource(id: &str, type_name: &str) -> Resource {
    Resource {
        id: ResourceId(id.into()),
        type_name: type_name.into(),
        params: Default::default(),
        options: ResourceOptions {
            start_timeout: Duration::from_secs(1),
            ..ResourceOptions::default()
        },
        unique: false,
        clone: None,
        utilization: Default::default(),
    }
}

struct Harness {
    inputs: mpsc::Sender<Event>,
    reports: mpsc::Receiver<crate::OperationRecord>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Executor>,
    _state_root: tempfile::TempDir,
}

fn start(agent: Arc<FakeAgent>) -> Harness {
    start_with(agent, None)
}

fn start_with(
    agent: Arc<dyn ResourceAgent>,
    hooks: Option<Arc<dyn crate::InstanceHooks>>,
) -> Harness {
    start_notifying(agent, hooks, None, None)
}

fn start_notifying(
    agent: Arc<dyn ResourceAgent>,
    hooks: Option<Arc<dyn crate::InstanceHooks>>,
    notifier: Option<Arc<dyn crate::CloneNotifier>>,
    notify_calls: Option<mpsc::Receiver<crate::NotifyCall>>,
) -> Harness {
    let state_root = tempfile::tempdir().expect("temp dir");
    let mut agents = Agents::new("/nonexistent/ocf");
    agents.insert(agent);
    let (inputs, inputs_receiver) = mpsc::channel(4);
    let (reports_sender, reports) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let config = RuntimeConfig {
        state_root: state_root.path().to_owned(),
        node_name: "n1".into(),
        clock: crate::system_now,
        status: None,
        hooks,
        observer: None,
        notifier,
        notify_calls,
    };
    let executor = Executor::new(ExecutorConfig::default());
    let task = tokio::spawn(run(
        executor,
        agents,
        config,
        inputs_receiver,
        reports_sender,
        shutdown.clone(),
    ));
    Harness {
        inputs,
        reports,
        shutdown,
        task,
        _state_root: state_root,
    }
}

fn assignments(resources: &[Resource]) -> Event {
    let assignments = resources
        .iter()
        .map(|resource| Assignment {
            resource: resource.clone(),
            fencing_token: 1,
        })
        .collect();
    Event::Assignments(assignments)
}

impl Harness {
    async fn report(&mut self) -> crate::OperationRecord {
        tokio::time::timeout(Duration::from_secs(60), self.reports.recv())
            .await
            .expect("a report within a minute of paused time")
            .expect("the runtime runs")
    }
}

#[tokio::test(start_paused = true)]
async fn hung_start_times_out_by_the_backstop_and_is_cleaned_up() {
    let agent = Arc::new(FakeAgent::default());
    let mut harness = start(Arc::clone(&agent));
    let begun = tokio::time::Instant::now();
    harness
        .inputs
        .send(assignments(&[resource("hung", "fake")]))
        .await
        .expect("runs");
    let started = harness.report().await;
    assert_eq!(
        (started.operation, started.outcome),
        (OperationKind::Start, Outcome::Timeout)
    );
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_secs(6),
        "1 s timeout plus the 5 s backstop: {waited:?}"
    );
    let cleaned = harness.report().await;
    assert_eq!(
        (cleaned.operation, cleaned.outcome),
        (OperationKind::Stop, Outcome::Ok)
    );
    assert_eq!(agent.stops.load(Ordering::SeqCst), 1);
    harness.shutdown.cancel();
    harness.task.await.expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn unknown_type_fails_to_start_fatally_and_stops_cleanly() {
    let mut harness = start(Arc::new(FakeAgent::default()));
    harness
        .inputs
        .send(assignments(&[resource("odd", "nosuchtype")]))
        .await
        .expect("runs");
    let started = harness.report().await;
    let Outcome::Failed { reason, severity } = &started.outcome else {
        panic!("an unknown type cannot start: {:?}", started.outcome);
    };
    assert_eq!(*severity, Severity::Fatal);
    assert!(reason.contains("unknown resource type"), "{reason}");
    let cleaned = harness.report().await;
    assert_eq!(
        (cleaned.outcome, cleaned.state_after),
        (Outcome::Ok, InstanceState::Stopped)
    );
    harness.shutdown.cancel();
    harness.task.await.expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_no_resource() {
    let agent = Arc::new(FakeAgent::default());
    let mut harness = start(Arc::clone(&agent));
    let mut steady = resource("steady", "fake");
    steady.options.start_timeout = Duration::from_secs(3600);
    harness
        .inputs
        .send(assignments(&[steady]))
        .await
        .expect("runs");
    tokio::time::sleep(Duration::from_secs(1)).await;
    harness.shutdown.cancel();
    let executor = harness.task.await.expect("no panic");
    assert_eq!(
        agent.stops.load(Ordering::SeqCst),
        0,
        "shutdown must not stop resources"
    );
    assert!(harness.reports.try_recv().is_err(), "nothing to report");
    let views: Vec<_> = executor
        .instances()
        .map(|(id, view)| (id.0.clone(), view.operation))
        .collect();
    assert_eq!(
        views,
        vec![("steady".to_owned(), Some(OperationKind::Start))]
    );
}

#[test]
fn resource_ids_that_are_not_one_path_component_get_no_state_directory() {
    let root = std::path::Path::new("/state");
    let dir = |id: &str| super::records::state_dir(root, &ResourceId(id.into()));
    assert_eq!(dir("web-1"), Ok(root.join("web-1")));
    for bad in ["", ".", "..", "../etc", "a/b", "/abs", "web/"] {
        let error = dir(bad).expect_err(bad);
        assert!(error.contains("cannot name a state directory"), "{error}");
    }
}

/// A start record says the resource may run; the clean stop replaces it with a stop
/// record, which a restarted executor reads as a spent grant (seed 73 of the simulator:
/// a node that self-fenced, crashed and restarted must not start again under the grant
/// it stopped under while the master moves the resource elsewhere).
#[test]
fn records_survive_a_restart_and_a_stop_leaves_its_spent_grant() {
    let root = tempfile::tempdir().expect("temp dir");
    let web = Assignment {
        resource: resource("web", "process"),
        fencing_token: 7,
    };
    let dir = super::records::state_dir(root.path(), &web.resource.id).expect("plain id");
    super::records::write_assignment(&dir, &web).expect("write the record");
    super::records::write_lease(root.path(), BootMs(12_345)).expect("write the lease");
    let scan = super::records::scan(root.path());
    assert_eq!((scan.found, scan.spent), (vec![web.clone()], vec![]));
    let now = crate::system_now();
    assert_eq!(
        super::records::read_lease(root.path(), now),
        Some(BootMs(12_345))
    );
    super::records::write_stopped(&dir, &web).expect("record the stop");
    super::records::write_stopped(&dir, &web).expect("recording twice is fine");
    let scan = super::records::scan(root.path());
    assert_eq!((scan.found, scan.spent), (vec![], vec![web]));
}

/// The lease file is on the boot clock and names its boot: a lease of another boot (the
/// machine rebooted) is void and removed, so neither a restarted executor nor a lease
/// watchdog honours it; a version-1 file (wall clock, before an upgrade) is carried over.
#[test]
fn a_lease_of_another_boot_is_void_and_a_wall_clock_lease_is_carried_over() {
    let root = tempfile::tempdir().expect("temp dir");
    let file = root.path().join("executor-lease.json");
    let now = crate::Now {
        boot: BootMs(5_000),
        wall: 1_800_000_000_000,
    };
    let other_boot = concat!(
        r#"{"format":2,"boot_id":"00000000-0000-0000-0000-000000000000","#,
        r#""valid_until_boot_ms":9000000}"#
    );
    std::fs::write(&file, other_boot).expect("write the lease");
    assert_eq!(super::records::read_lease(root.path(), now), None);
    assert!(!file.exists(), "a void lease file is removed");
    let version_1 = r#"{"format":1,"valid_until":1800000000800}"#;
    std::fs::write(&file, version_1).expect("write the lease");
    assert_eq!(
        super::records::read_lease(root.path(), now),
        Some(BootMs(5_800))
    );
}

/// Starts at once and keeps the environment it was given; monitors find it healthy.
#[derive(Default)]
struct ReadyAgent {
    env: std::sync::Mutex<Vec<(String, String)>>,
}

impl ResourceAgent for ReadyAgent {
    fn type_name(&self) -> &str {
        "ready"
    }

    /// One parameter, `MaxUser`, that a running instance takes by a reload.
    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        let max_user =
            model::ParamSpec::new("MaxUser", model::ParamKind::Integer, "users").reloadable();
        Box::pin(async move { Ok(ParamSchema::new(vec![max_user]).with_reload("reload")) })
    }

    fn validate<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        *self.env.lock().expect("not poisoned") = request.env.clone();
        Box::pin(async { Outcome::Ok })
    }

    fn stop<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn monitor<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }
}

/// Hooks as the application protocol server would answer them, with what was asked.
#[derive(Debug)]
struct FakeHooks {
    failure: std::sync::Mutex<Option<String>>,
    health: tokio::sync::broadcast::Sender<ResourceId>,
    calls: std::sync::Mutex<Vec<String>>,
    /// What the application answers to a parameter change (`None`: not connected).
    answer: std::sync::Mutex<Option<Result<(), String>>>,
}

impl FakeHooks {
    fn new() -> FakeHooks {
        FakeHooks {
            failure: std::sync::Mutex::new(None),
            health: tokio::sync::broadcast::channel(4).0,
            calls: std::sync::Mutex::new(Vec::new()),
            answer: std::sync::Mutex::new(None),
        }
    }
}

impl crate::InstanceHooks for FakeHooks {
    fn starting(
        &self,
        resource: &Resource,
        token: u64,
        _: &std::path::Path,
    ) -> Vec<(String, String)> {
        self.calls
            .lock()
            .expect("not poisoned")
            .push(format!("starting {} {token}", resource.id));
        vec![("ENCLUSTER_APP_TOKEN".into(), format!("token-{token}"))]
    }

    fn prepare_stop(&self, resource: &ResourceId, deadline: Duration) -> BoxFuture<'_, ()> {
        let call = format!("prepare_stop {resource} {}ms", deadline.as_millis());
        self.calls.lock().expect("not poisoned").push(call);
        Box::pin(async {})
    }

    fn stopped(&self, resource: &ResourceId) {
        self.calls
            .lock()
            .expect("not poisoned")
            .push(format!("stopped {resource}"));
    }

    fn health_failure(&self, _: &ResourceId, _: u64) -> Option<String> {
        self.failure.lock().expect("not poisoned").clone()
    }

    fn offer_params(
        &self,
        resource: &ResourceId,
        params: &std::collections::BTreeMap<String, String>,
        _: Duration,
    ) -> BoxFuture<'_, Option<Result<(), String>>> {
        let call = format!("offer_params {resource} {params:?}");
        self.calls.lock().expect("not poisoned").push(call);
        let answer = self.answer.lock().expect("not poisoned").clone();
        Box::pin(async move { answer })
    }

    fn health_events(&self) -> Option<tokio::sync::broadcast::Receiver<ResourceId>> {
        Some(self.health.subscribe())
    }
}

/// The application side: a started instance gets the hooks' environment, a failure the
/// application reports fails the next monitor (run at once on the hint), and the cleanup
/// stop lets the application drain first and forgets it after.
#[tokio::test(start_paused = true)]
async fn hooks_give_the_environment_and_an_application_failure_fails_the_monitor() {
    let agent = Arc::new(ReadyAgent::default());
    let hooks = Arc::new(FakeHooks::new());
    let mut harness = start_with(agent.clone(), Some(hooks.clone()));
    let mut app = resource("app", "ready");
    app.options.monitor_interval = Duration::from_secs(3600);
    harness
        .inputs
        .send(assignments(&[app]))
        .await
        .expect("runs");
    let started = harness.report().await;
    assert_eq!(
        (started.operation, started.outcome),
        (OperationKind::Start, Outcome::Ok)
    );
    let env = agent.env.lock().expect("not poisoned").clone();
    assert_eq!(
        env,
        [("ENCLUSTER_APP_TOKEN".to_owned(), "token-1".to_owned())]
    );
    *hooks.failure.lock().expect("not poisoned") = Some("is_alive failed: db down".into());
    hooks
        .health
        .send(ResourceId("app".into()))
        .expect("the runtime listens");
    let monitored = harness.report().await;
    assert_eq!(monitored.operation, OperationKind::Monitor);
    assert_eq!(
        monitored.outcome,
        Outcome::failed(
            Severity::Soft,
            "the application reported a failure: is_alive failed: db down"
        )
    );
    let cleaned = harness.report().await;
    assert_eq!(
        (cleaned.operation, cleaned.outcome),
        (OperationKind::Stop, Outcome::Ok)
    );
    let calls = hooks.calls.lock().expect("not poisoned").clone();
    assert_eq!(
        calls,
        ["starting app 1", "prepare_stop app 10000ms", "stopped app"]
    );
    harness.shutdown.cancel();
    harness.task.await.expect("no panic");
}

/// Validate-then-set: a reloadable change is offered to the application first; accepted,
/// it is the reload (the running definition changes, nothing restarts); rejected, the
/// reload fails with the application's reason, and the instance is stopped.
#[tokio::test(start_paused = true)]
async fn a_parameter_change_is_offered_to_the_application_first() {
    for accept in [true, false] {
        let agent = Arc::new(ReadyAgent::default());
        let hooks = Arc::new(FakeHooks::new());
        *hooks.answer.lock().expect("not poisoned") = Some(if accept {
            Ok(())
        } else {
            Err("MaxUser 2 is below the 3 users connected".into())
        });
        let mut harness = start_with(agent, Some(hooks.clone()));
        let mut app = resource("app", "ready");
        app.options.monitor_interval = Duration::from_secs(3600);
        app.params.insert("MaxUser".into(), "10".into());
        harness
            .inputs
            .send(assignments(&[app.clone()]))
            .await
            .expect("runs");
        let started = harness.report().await;
        assert_eq!(started.outcome, Outcome::Ok);
        app.params.insert("MaxUser".into(), "2".into());
        harness
            .inputs
            .send(assignments(&[app]))
            .await
            .expect("runs");
        let reloaded = harness.report().await;
        assert_eq!(reloaded.operation, OperationKind::Reload);
        if accept {
            assert_eq!(reloaded.outcome, Outcome::Ok);
        } else {
            let expected = "the application rejected the new parameters: \
                            MaxUser 2 is below the 3 users connected";
            assert_eq!(reloaded.outcome, Outcome::failed(Severity::Soft, expected));
            let stopped = harness.report().await;
            assert_eq!(stopped.operation, OperationKind::Stop);
        }
        let calls = hooks.calls.lock().expect("not poisoned").clone();
        assert_eq!(
            calls[1], "offer_params app {\"MaxUser\": \"2\"}",
            "{accept}"
        );
        harness.shutdown.cancel();
        harness.task.await.expect("no panic");
    }
}

/// Reads the recorded lease when its start runs, as a watchdog started by it would.
#[derive(Default)]
struct LeaseReader {
    seen: std::sync::Mutex<Option<String>>,
}

impl ResourceAgent for LeaseReader {
    fn type_name(&self) -> &str {
        "reader"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(ParamSchema::new(Vec::new())) })
    }

    fn validate<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let root = request.state_dir.parent().expect("under the state root");
        let file = root.join("executor-lease.json");
        *self.seen.lock().expect("lock") = std::fs::read_to_string(file).ok();
        Box::pin(async { Outcome::Ok })
    }

    fn stop<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn monitor<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }
}

/// Issue 18, point 2: an idle executor records the lease at most once a second (replacing
/// the file ten times a second was an eighth of an idle agent's CPU), yet the start of a
/// unique resource, which starts its watchdog, always finds the newest lease recorded.
#[tokio::test(start_paused = true)]
async fn an_idle_executor_records_the_lease_rarely_but_a_start_finds_the_newest() {
    let agent = Arc::new(LeaseReader::default());
    let mut harness = start_with(agent.clone(), None);
    let root = harness._state_root.path().to_owned();
    let recorded = || super::records::read_lease(&root, crate::system_now());
    let soon = |ms: u64| BootMs(crate::system_now().boot.0 + ms);
    let first = soon(60_000);
    let inputs = harness.inputs.clone();
    // The runtime first asks the agent for its metadata (a task of its own): idle after.
    for _ in 0..4 {
        inputs.send(Event::Tick).await.expect("runs");
        tokio::task::yield_now().await;
    }
    inputs
        .send(Event::Lease { valid_until: first })
        .await
        .expect("runs");
    let second = soon(61_000);
    inputs
        .send(Event::Lease {
            valid_until: second,
        })
        .await
        .expect("runs");
    // Both were fed once the runtime has taken the next inputs off the queue.
    for _ in 0..4 {
        inputs.send(Event::Tick).await.expect("runs");
    }
    assert_eq!(
        recorded(),
        Some(first),
        "idle: the second lease is not recorded yet"
    );
    let mut unique = resource("u", "reader");
    unique.unique = true;
    let assigned = assignments(&[unique]);
    inputs.send(assigned).await.expect("runs");
    let started = harness.report().await;
    assert_eq!(
        (started.operation, started.outcome),
        (OperationKind::Start, Outcome::Ok)
    );
    let seen = agent
        .seen
        .lock()
        .expect("lock")
        .clone()
        .expect("a recorded lease");
    assert!(
        seen.contains(&format!("\"valid_until_boot_ms\":{}", second.0)),
        "the start read the newest lease: {seen}"
    );
    harness.shutdown.cancel();
    harness.task.await.expect("no panic");
}

// --- notify ---
/// Starts, stops and monitors succeed; takes notifications and records each one's kind
/// and operation.
#[derive(Default)]
struct NotifiedAgent {
    notified: std::sync::Mutex<Vec<String>>,
}

impl ResourceAgent for NotifiedAgent {
    fn type_name(&self) -> &str {
        "notified"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(ParamSchema::new(Vec::new())) })
    }

    fn validate<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn start<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn stop<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn monitor<'a>(&'a self, _: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Ok })
    }

    fn notifies(&self, _: &std::collections::BTreeMap<String, String>) -> bool {
        true
    }

    fn notify<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let value = |name: &str| {
            let name = format!("OCF_RESKEY_CRM_meta_notify_{name}");
            let found = request.env.iter().find(|(key, _)| *key == name);
            found.map_or(String::new(), |(_, value)| value.clone())
        };
        let line = format!(
            "{} {}-{}",
            request.resource,
            value("type"),
            value("operation")
        );
        self.notified.lock().expect("not poisoned").push(line);
        Box::pin(async { Outcome::Ok })
    }
}

/// Records every notification round it is asked for, in order.
#[derive(Debug, Default)]
struct RecordingNotifier {
    rounds: std::sync::Mutex<Vec<String>>,
}

impl crate::CloneNotifier for RecordingNotifier {
    fn notify(
        &self,
        resource: &Resource,
        operation: resource_agents::NotifyOperation,
        kind: resource_agents::NotifyKind,
        _within: Duration,
    ) -> BoxFuture<'_, ()> {
        let line = format!("{} {}-{}", resource.id, kind.as_str(), operation.as_str());
        self.rounds.lock().expect("not poisoned").push(line);
        Box::pin(async {})
    }
}

impl RecordingNotifier {
    /// The rounds so far, once there are `count` of them (paused time jumps the polls).
    async fn rounds(&self, count: usize) -> Vec<String> {
        for _ in 0..1_000 {
            let rounds = self.rounds.lock().expect("not poisoned").clone();
            if rounds.len() >= count {
                return rounds;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} notification rounds");
    }
}

async fn notify_call(calls: &mpsc::Sender<crate::NotifyCall>, resource: &Resource) -> Outcome {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let env = vec![
        (
            "OCF_RESKEY_CRM_meta_notify_type".to_owned(),
            "pre".to_owned(),
        ),
        (
            "OCF_RESKEY_CRM_meta_notify_operation".to_owned(),
            "stop".to_owned(),
        ),
    ];
    let call = crate::NotifyCall {
        resource: resource.clone(),
        env,
        timeout: Duration::from_secs(1),
        answer,
    };
    calls.send(call).await.expect("the runtime runs");
    answered.await.expect("answered")
}

#[tokio::test(start_paused = true)]
async fn a_clone_start_is_notified_before_and_after_and_other_nodes_notices_reach_the_agent() {
    let agent = Arc::new(NotifiedAgent::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let (calls, calls_receiver) = mpsc::channel(4);
    let mut harness = start_notifying(
        Arc::clone(&agent) as Arc<dyn ResourceAgent>,
        None,
        Some(Arc::clone(&notifier) as Arc<dyn crate::CloneNotifier>),
        Some(calls_receiver),
    );
    let mut clone = resource("db", "notified");
    clone.clone = Some(model::CloneOptions::default());
    let plain = resource("web", "notified");
    // Before it runs here, the instance is told nothing.
    assert_eq!(notify_call(&calls, &clone).await, Outcome::NotRunning);
    harness
        .inputs
        .send(assignments(&[clone.clone(), plain]))
        .await
        .expect("runs");
    for _ in 0..2 {
        let started = harness.report().await;
        assert_eq!(started.outcome, Outcome::Ok);
    }
    // Only the clone's start, before and after; never the plain resource's.
    assert_eq!(notifier.rounds(2).await, ["db pre-start", "db post-start"]);
    // Another node's stop reaches this node's running instance through its agent.
    assert_eq!(notify_call(&calls, &clone).await, Outcome::Ok);
    let notified = agent.notified.lock().expect("not poisoned").clone();
    assert_eq!(notified, ["db pre-stop"]);
    harness.shutdown.cancel();
    harness.task.await.expect("no panic");
}
