//! The executor's real runtime against real processes and real OCF scripts.
//!
//! Method: each test starts `executor::runtime::run` on its own temporary state root, feeds
//! assignments and leases through its input channel as the integrator would, and waits for
//! reports with a deadline. `process` resources run `sh -c 'echo $$ > pid; exec sleep 1000'`
//! so the test knows the pid to kill. The OCF test needs Debian's `resource-agents` package
//! under /usr/lib/ocf and fails, saying so, when it is missing.

use executor::runtime::{Agents, RuntimeConfig, Status};
use executor::{
    Assignment, Event, Executor, ExecutorConfig, InstanceState, OperationKind, OperationRecord,
    boot_clock_ms, system_now, wall_clock_ms,
};
use model::{Resource, ResourceId, ResourceOptions};
use resource_agents::Outcome;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const OCF_ROOT: &str = "/usr/lib/ocf";

/// One executor runtime, driven like the integrator drives it.
struct Node {
    inputs: mpsc::Sender<Event>,
    reports: mpsc::Receiver<OperationRecord>,
    shutdown: CancellationToken,
    task: JoinHandle<Executor>,
    status: watch::Receiver<Status>,
    /// Reports received while waiting for another one.
    unclaimed: Vec<OperationRecord>,
}

impl Node {
    fn start(state_root: &Path) -> Node {
        let (inputs, inputs_receiver) = mpsc::channel(16);
        let (reports_sender, reports) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let (status_sender, status) = watch::channel(Status::new());
        let config = RuntimeConfig {
            state_root: state_root.to_owned(),
            node_name: "n1".into(),
            clock: system_now,
            status: Some(status_sender),
            hooks: None,
            observer: None,
            notifier: None,
            notify_calls: None,
        };
        let task = tokio::spawn(executor::runtime::run(
            Executor::new(ExecutorConfig::default()),
            Agents::new(OCF_ROOT),
            config,
            inputs_receiver,
            reports_sender,
            shutdown.clone(),
        ));
        Node {
            inputs,
            reports,
            shutdown,
            task,
            status,
            unclaimed: Vec::new(),
        }
    }

    async fn send(&self, event: Event) {
        self.inputs.send(event).await.expect("the runtime runs");
    }

    /// The next report about `resource` and `operation`; fails the test after `within`.
    /// Reports about other things are kept for later calls, since two resources' reports
    /// may arrive in either order.
    async fn report(
        &mut self,
        resource: &str,
        operation: OperationKind,
        within: Duration,
    ) -> OperationRecord {
        let wanted = |record: &OperationRecord| {
            record.resource.0 == resource && record.operation == operation
        };
        if let Some(index) = self.unclaimed.iter().position(wanted) {
            return self.unclaimed.remove(index);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let record = tokio::time::timeout_at(deadline, self.reports.recv())
                .await
                .unwrap_or_else(|_| panic!("no {operation} report for {resource} in {within:?}"))
                .expect("the runtime runs");
            if wanted(&record) {
                return record;
            }
            self.unclaimed.push(record);
        }
    }

    async fn stop(self) -> Executor {
        self.shutdown.cancel();
        self.task.await.expect("the runtime does not panic")
    }
}

/// A `process` resource whose shell writes its pid to `pid_file`, then becomes `sleep`.
fn sleeper(id: &str, pid_file: &Path, unique: bool) -> Resource {
    let script = format!("echo $$ > {}; exec sleep 1000", pid_file.display());
    let args = serde_json::to_string(&["-c", &script]).expect("json");
    Resource {
        id: ResourceId(id.into()),
        type_name: "process".into(),
        params: [
            ("command".to_owned(), "sh".to_owned()),
            ("args".to_owned(), args),
        ]
        .into(),
        options: ResourceOptions {
            monitor_interval: Duration::from_secs(5),
            start_timeout: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(5),
            ..ResourceOptions::default()
        },
        unique,
        clone: None,
        utilization: Default::default(),
    }
}

fn assignments(resources: &[(&Resource, u64)]) -> Event {
    Event::Assignments(
        resources
            .iter()
            .map(|(resource, token)| Assignment {
                resource: (*resource).clone(),
                fencing_token: *token,
            })
            .collect(),
    )
}

/// The pid the resource wrote, once it wrote it.
async fn read_pid(pid_file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(text) = std::fs::read_to_string(pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} was never written",
            pid_file.display()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Waits until `pid` is gone (reaped by the process agent), failing after five seconds.
async fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the resource's process");
}

fn pid_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(format!("{name}.pid"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_process_runs_and_unassigned_process_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pids = tempfile::tempdir().expect("temp dir");
    let web = sleeper("web", &pid_file(&pids, "web"), false);
    let mut node = Node::start(dir.path());
    node.send(assignments(&[(&web, 1)])).await;
    let started = node
        .report("web", OperationKind::Start, Duration::from_secs(5))
        .await;
    assert_eq!(
        (started.outcome, started.state_after),
        (Outcome::Ok, InstanceState::Running)
    );
    let pid = read_pid(&pid_file(&pids, "web")).await;
    assert!(alive(pid));
    let status = node.status.borrow().clone();
    let view = &status[&ResourceId("web".into())];
    assert_eq!(
        (&view.state, view.fencing_token),
        (&InstanceState::Running, 1)
    );
    node.send(assignments(&[])).await;
    let stopped = node
        .report("web", OperationKind::Stop, Duration::from_secs(5))
        .await;
    assert_eq!((stopped.outcome, stopped.fencing_token), (Outcome::Ok, 1));
    wait_gone(pid).await;
    node.stop().await;
}

/// Kills the process ten times and, like a master asking for a restart in place, answers
/// each failure report with a new token. The monitor interval is an hour, so only the
/// process-exit event can bring the failure report (how fast is a benchmark's business,
/// not this test's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_is_reported_at_once_and_restarted_under_a_new_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pids = tempfile::tempdir().expect("temp dir");
    let pid_path = pid_file(&pids, "web");
    let mut web = sleeper("web", &pid_path, false);
    web.options.monitor_interval = Duration::from_secs(3600);
    let mut node = Node::start(dir.path());
    node.send(assignments(&[(&web, 1)])).await;
    node.report("web", OperationKind::Start, Duration::from_secs(5))
        .await;
    for token in 2..12 {
        let pid = read_pid(&pid_path).await;
        std::fs::remove_file(&pid_path).expect("remove the pid file");
        kill9(pid);
        let failed = node
            .report("web", OperationKind::Monitor, Duration::from_secs(30))
            .await;
        assert_eq!(failed.fencing_token, token - 1);
        let InstanceState::Failed { reason } = &failed.state_after else {
            panic!(
                "a killed process leaves a failed instance, not {:?}",
                failed.state_after
            );
        };
        assert!(reason.contains("SIGKILL"), "{reason}");
        node.send(assignments(&[(&web, token)])).await;
        let started = node
            .report("web", OperationKind::Start, Duration::from_secs(30))
            .await;
        assert_eq!(
            (started.outcome, started.fencing_token),
            (Outcome::Ok, token)
        );
    }
    node.stop().await;
    // A runtime's shutdown leaves its resources running by design: end the last one here.
    kill9(read_pid(&pid_path).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_process_is_stopped_before_its_lease_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pids = tempfile::tempdir().expect("temp dir");
    let vip = sleeper("vip", &pid_file(&pids, "vip"), true);
    let mut node = Node::start(dir.path());
    node.send(assignments(&[(&vip, 1)])).await;
    // The lease is on the boot clock; the report's times are on the wall clock.
    let (boot, wall) = (boot_clock_ms(), wall_clock_ms());
    let valid_until = boot.saturating_add(Duration::from_secs(1));
    let wall_valid_until = wall + 1_000;
    node.send(Event::Lease { valid_until }).await;
    let started = node
        .report("vip", OperationKind::Start, Duration::from_secs(5))
        .await;
    assert_eq!(started.outcome, Outcome::Ok);
    let pid = read_pid(&pid_file(&pids, "vip")).await;
    let stopped = node
        .report("vip", OperationKind::Stop, Duration::from_secs(5))
        .await;
    assert_eq!(stopped.outcome, Outcome::Ok);
    assert!(
        stopped.finished_at < wall_valid_until,
        "stopped at {} but the lease ended at {wall_valid_until}",
        stopped.finished_at
    );
    assert!(
        !alive(pid),
        "the process must be gone when the stop is reported"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_runtime_adopts_assigned_processes_and_stops_orphans() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pids = tempfile::tempdir().expect("temp dir");
    let web = sleeper("web", &pid_file(&pids, "web"), false);
    let old = sleeper("old", &pid_file(&pids, "old"), false);
    let mut first = Node::start(dir.path());
    first.send(assignments(&[(&web, 1), (&old, 1)])).await;
    first
        .report("web", OperationKind::Start, Duration::from_secs(5))
        .await;
    first
        .report("old", OperationKind::Start, Duration::from_secs(5))
        .await;
    first.stop().await;
    let web_pid = read_pid(&pid_file(&pids, "web")).await;
    let old_pid = read_pid(&pid_file(&pids, "old")).await;
    assert!(
        alive(web_pid) && alive(old_pid),
        "shutdown must not stop resources"
    );

    let mut second = Node::start(dir.path());
    second.send(assignments(&[(&web, 1)])).await;
    let probed = second
        .report("web", OperationKind::Monitor, Duration::from_secs(5))
        .await;
    assert_eq!(
        probed.state_after,
        InstanceState::Running,
        "adopted, not restarted"
    );
    let orphan = second
        .report("old", OperationKind::Stop, Duration::from_secs(5))
        .await;
    assert_eq!(orphan.outcome, Outcome::Ok);
    wait_gone(old_pid).await;
    assert!(alive(web_pid), "the adopted process is the same one");
    second.send(assignments(&[])).await;
    second
        .report("web", OperationKind::Stop, Duration::from_secs(5))
        .await;
    wait_gone(web_pid).await;
    let executor = second.stop().await;
    assert_eq!(
        executor.instances().count(),
        0,
        "stopped resources are forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocf_dummy_is_started_monitored_and_stopped() {
    let functions = Path::new(OCF_ROOT).join("lib/heartbeat/ocf-shellfuncs");
    assert!(
        functions.is_file(),
        "{} is missing: this test runs a real OCF agent; install Debian's resource-agents \
         package (apt-get install -y resource-agents)",
        functions.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dummy = Resource {
        id: ResourceId("dummy".into()),
        type_name: "ocf:heartbeat:Dummy".into(),
        params: Default::default(),
        options: ResourceOptions {
            monitor_interval: Duration::from_millis(200),
            ..ResourceOptions::default()
        },
        unique: false,
        clone: None,
        utilization: Default::default(),
    };
    let mut node = Node::start(dir.path());
    node.send(assignments(&[(&dummy, 1)])).await;
    let started = node
        .report("dummy", OperationKind::Start, Duration::from_secs(10))
        .await;
    assert_eq!(started.outcome, Outcome::Ok);
    let state_file = dir.path().join("dummy/Dummy-dummy.state");
    assert!(
        state_file.is_file(),
        "Dummy keeps its state in the resource's state directory"
    );
    // Removing Dummy's state file makes its next monitor say "not running": a failure.
    std::fs::remove_file(&state_file).expect("remove Dummy's state file");
    let failed = node
        .report("dummy", OperationKind::Monitor, Duration::from_secs(5))
        .await;
    assert_eq!(failed.outcome, Outcome::NotRunning);
    assert!(matches!(failed.state_after, InstanceState::Failed { .. }));
    let cleaned = node
        .report("dummy", OperationKind::Stop, Duration::from_secs(10))
        .await;
    assert_eq!(
        (cleaned.outcome, cleaned.state_after),
        (Outcome::Ok, InstanceState::Stopped)
    );
    node.send(assignments(&[(&dummy, 2)])).await;
    let restarted = node
        .report("dummy", OperationKind::Start, Duration::from_secs(10))
        .await;
    assert_eq!(
        (restarted.outcome, restarted.fencing_token),
        (Outcome::Ok, 2)
    );
    node.send(assignments(&[])).await;
    let stopped = node
        .report("dummy", OperationKind::Stop, Duration::from_secs(10))
        .await;
    assert_eq!(stopped.outcome, Outcome::Ok);
    assert!(!state_file.exists());
    node.stop().await;
}
