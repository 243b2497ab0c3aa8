//! The `process` resource agent: runs any command as a supervised child.
//!
//! Start spawns the command in its own process group (so stop reaches everything it
//! forked), sends its output to `process.log` in the state directory, records its pid
//! and start time in `process.pid`, and keeps a task that reaps it the moment it exits.
//! With a probe, start succeeds only once the probe answers. Monitor checks that the
//! process lives (and is not a zombie), then runs the probes. Stop sends SIGTERM to the
//! group and SIGKILL when the grace runs out; stopping a stopped resource is `Ok`.
//!
//! A unique resource's process also gets a lease watchdog (see `watchdog`): if the agent
//! hangs past the node's lease, the watchdog kills the group, so the process never runs on
//! while the master starts it elsewhere.
//!
//! The pid file lets an agent that restarted monitor and stop a child an earlier agent
//! started: the child runs in its own group, so it outlives the agent, and the recorded
//! start time guards against a reused pid.

pub(crate) mod config;
mod notify;
pub(crate) mod probe;
mod state;

#[cfg(test)]
mod tests;

use crate::child::{describe_exit, signal_group, wait_group_gone};
use crate::limits::{
    EXIT_EVENTS_CAPACITY, KILL_WAIT, NOTIFY_EXTEND_MAX, PROBE_ATTEMPT_TIMEOUT, PROBE_POLL_INTERVAL,
};
use crate::operation::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use crate::watchdog::{self, Fence};
use config::ProcessConfig;
use model::{ParamSchema, ResourceId};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use notify::NotifySocket;
use state::{Leader, PidRecord};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The `process` resource agent. Keep one per node: it owns the tasks that reap the
/// children it started.
pub struct ProcessAgent {
    supervised: Mutex<HashMap<ResourceId, Supervised>>,
    exit_events: broadcast::Sender<ResourceId>,
    /// The notify sockets of `notify=true` instances, bound at start (or, for an instance
    /// an earlier agent started, at its first monitor).
    notify: Mutex<HashMap<ResourceId, Arc<NotifySocket>>>,
}

/// A child this agent started and still reaps.
struct Supervised {
    pid: Pid,
    /// `Some(how it ended)` once it exited.
    exit: watch::Receiver<Option<String>>,
    reaper: JoinHandle<()>,
}

/// What is known about a resource's process right now.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Observed {
    /// No pid file: never started, or cleanly stopped.
    Stopped,
    Alive(PidRecord),
    /// Started and not stopped, but no longer running.
    Dead {
        record: PidRecord,
        how: String,
    },
}

impl ProcessAgent {
    /// A process agent that supervises nothing yet.
    pub fn new() -> Self {
        let (exit_events, _) = broadcast::channel(EXIT_EVENTS_CAPACITY);
        ProcessAgent {
            supervised: Mutex::new(HashMap::new()),
            exit_events,
            notify: Mutex::new(HashMap::new()),
        }
    }

    fn config(request: &OperationRequest) -> Result<ProcessConfig, Outcome> {
        let filled = config::schema()
            .validate(&request.params)
            .map_err(|e| crate::operation::invalid_params(&e))?;
        ProcessConfig::parse(&filled).map_err(|problems| {
            Outcome::failed(
                Severity::Fatal,
                format!("invalid parameters: {}", problems.join("; ")),
            )
        })
    }

    fn observe(&self, state_dir: &Path, resource: &ResourceId) -> Observed {
        let Some(record) = state::read_pid_file(state_dir) else {
            return Observed::Stopped;
        };
        let supervised = self
            .supervised
            .lock()
            .expect("supervised lock is never poisoned");
        if let Some(child) = supervised
            .get(resource)
            .filter(|child| child.pid == record.pid)
        {
            return match child.exit.borrow().clone() {
                Some(how) => Observed::Dead { record, how },
                None => Observed::Alive(record),
            };
        }
        // Not supervised: started by an earlier agent. If it is our child after all (the
        // earlier agent lived in this process), reap it so its zombie does not linger.
        // Only a zombie whose start time matches is reaped: never someone else's child.
        match state::leader(&record) {
            Leader::Alive => Observed::Alive(record),
            Leader::Zombie => {
                crate::child::try_reap(record.pid);
                Observed::Dead {
                    record,
                    how: "exited".to_owned(),
                }
            }
            Leader::Gone => Observed::Dead {
                record,
                how: "is gone".to_owned(),
            },
        }
    }

    async fn start_inner(&self, request: &OperationRequest) -> Outcome {
        match Self::config(request) {
            Ok(config) => self.start_with(request, &config).await,
            Err(outcome) => outcome,
        }
    }

    /// Starts the process `config` describes (also for user-defined types, whose agent
    /// builds the config from the type), waiting for its probes.
    pub(crate) async fn start_with(
        &self,
        request: &OperationRequest,
        config: &ProcessConfig,
    ) -> Outcome {
        let config = config.clone();
        let deadline = Instant::now() + request.timeout;
        match self.observe(&request.state_dir, &request.resource) {
            Observed::Alive(record) => {
                if let Err(outcome) = guard(request, record) {
                    return outcome;
                }
                return self.await_probes(request, &config, record, deadline).await;
            }
            Observed::Dead { record, .. } => {
                // Children of a crashed leader may linger in its group; clear them first.
                if signal_group(record.pid, Signal::SIGKILL) {
                    let adopted = !self.supervises(&request.resource, record.pid);
                    wait_group_gone(record.pid, Instant::now() + KILL_WAIT, adopted).await;
                }
            }
            Observed::Stopped => {}
        }
        if let Err(outcome) = prepare_dirs(&request.state_dir, &config) {
            return outcome;
        }
        if config.notify
            && let Err(outcome) = self.bind_notify(request, None)
        {
            return outcome;
        }
        let record = match self.spawn(request, &config) {
            Ok(record) => record,
            Err(outcome) => return outcome,
        };
        tracing::info!(resource = %request.resource, pid = record.pid.as_raw(), "Process started");
        if let Err(outcome) = guard(request, record) {
            signal_group(record.pid, Signal::SIGKILL);
            return outcome;
        }
        self.await_probes(request, &config, record, deadline).await
    }

    fn spawn(
        &self,
        request: &OperationRequest,
        config: &ProcessConfig,
    ) -> Result<PidRecord, Outcome> {
        let log = open_log(&request.state_dir)?;
        let log_for_stderr = log.try_clone().map_err(|error| {
            Outcome::failed(
                Severity::Soft,
                format!("cannot duplicate the log file: {error}"),
            )
        })?;
        let mut command = tokio::process::Command::new(&config.command);
        command
            .args(&config.args)
            .envs(config.env.iter().map(|(key, value)| (key, value)))
            .env("ENCLUSTER_RESOURCE", &request.resource.0)
            .env("ENCLUSTER_NODE", &request.node_name)
            .env("ENCLUSTER_FENCING_TOKEN", request.fencing_token.to_string())
            .env("ENCLUSTER_STATE_DIR", &request.state_dir)
            .envs(request.env.iter().map(|(key, value)| (key, value)))
            // The agent's own systemd notify socket is not the resource's: a resource gets
            // one only when it speaks the protocol to encluster (`notify`).
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(self.notify_env(&request.resource, config))
            .current_dir(config.cwd.as_deref().unwrap_or(&request.state_dir))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .kill_on_drop(false);
        let mut child = command
            .spawn()
            .map_err(|error| spawn_failure(&config.command, &error))?;
        crate::priority::child_to_normal(child.id());
        let pid = crate::child::pid_of(child.id().expect("a just-spawned child has a pid"));
        let (exit_sender, exit) = watch::channel(None);
        let exit_events = self.exit_events.clone();
        let resource = request.resource.clone();
        let reaper = tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => describe_exit(&status),
                Err(error) => format!("could not be waited for ({error})"),
            };
            tracing::debug!(resource = %resource, how = %how, "Supervised process ended");
            exit_sender.send_replace(Some(how));
            // Nobody listening is fine: monitors still see the exit.
            let _ = exit_events.send(resource);
        });
        let supervised = Supervised { pid, exit, reaper };
        let previous = self
            .supervised
            .lock()
            .expect("supervised lock is never poisoned")
            .insert(request.resource.clone(), supervised);
        if let Some(previous) = previous {
            previous.reaper.abort();
        }
        state::write_pid_file(&request.state_dir, pid).map_err(|error| {
            signal_group(pid, Signal::SIGKILL);
            Outcome::failed(Severity::Soft, format!("cannot record the pid: {error}"))
        })
    }

    /// Waits until every probe answers, the process dies, or the start deadline passes.
    async fn await_probes(
        &self,
        request: &OperationRequest,
        config: &ProcessConfig,
        record: PidRecord,
        deadline: Instant,
    ) -> Outcome {
        let notify = self.notify_socket(&request.resource);
        loop {
            if let Observed::Dead { how, .. } = self.observe(&request.state_dir, &request.resource)
            {
                let tail = state::log_tail(&request.state_dir);
                return Outcome::failed(
                    Severity::Soft,
                    with_output(format!("process {how} while starting"), &tail),
                );
            }
            // A notify process may extend its start, within a bound.
            let notify_state = notify.as_ref().map(|socket| socket.state());
            let deadline = match notify_state.as_ref().and_then(|state| state.extended_until) {
                Some(until) => deadline.max(until.min(deadline + NOTIFY_EXTEND_MAX)),
                None => deadline,
            };
            let ready = notify_state.as_ref().is_none_or(|state| state.ready);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if ready
                && run_probes(&config.probes, remaining.min(PROBE_ATTEMPT_TIMEOUT))
                    .await
                    .is_ok()
            {
                return Outcome::Ok;
            }
            if Instant::now() + PROBE_POLL_INTERVAL >= deadline {
                // A start that times out must not leave a half-started process behind.
                signal_group(record.pid, Signal::SIGKILL);
                let adopted = !self.supervises(&request.resource, record.pid);
                wait_group_gone(record.pid, Instant::now() + KILL_WAIT, adopted).await;
                return Outcome::Timeout;
            }
            match (&notify, ready) {
                (Some(socket), false) => socket.changed(PROBE_POLL_INTERVAL).await,
                _ => tokio::time::sleep(PROBE_POLL_INTERVAL).await,
            }
        }
    }

    /// Binds the instance's notify socket; `since` counts as its last sign of life.
    fn bind_notify(
        &self,
        request: &OperationRequest,
        since: Option<Instant>,
    ) -> Result<(), Outcome> {
        // An earlier socket goes first: dropping it removes its file, which is the path the
        // new one binds.
        let earlier = self
            .notify
            .lock()
            .expect("notify lock is never poisoned")
            .remove(&request.resource);
        drop(earlier);
        let socket = NotifySocket::bind(&request.state_dir, since).map_err(|error| {
            let dir = request.state_dir.display();
            Outcome::failed(
                Severity::Hard,
                format!("cannot create the notify socket in {dir}: {error}"),
            )
        })?;
        self.notify
            .lock()
            .expect("notify lock is never poisoned")
            .insert(request.resource.clone(), Arc::new(socket));
        Ok(())
    }

    fn notify_socket(&self, resource: &ResourceId) -> Option<Arc<NotifySocket>> {
        let sockets = self.notify.lock().expect("notify lock is never poisoned");
        sockets.get(resource).cloned()
    }

    /// `NOTIFY_SOCKET` and `WATCHDOG_USEC`, as systemd sets them, for a notify process.
    fn notify_env(&self, resource: &ResourceId, config: &ProcessConfig) -> Vec<(String, String)> {
        let Some(socket) = self.notify_socket(resource).filter(|_| config.notify) else {
            return Vec::new();
        };
        let mut env = vec![(
            "NOTIFY_SOCKET".to_owned(),
            socket.path().display().to_string(),
        )];
        if let Some(interval) = config.watchdog {
            env.push(("WATCHDOG_USEC".to_owned(), interval.as_micros().to_string()));
        }
        env
    }

    /// The notify verdict on a live instance: its watchdog, and its last `STATUS=`.
    fn notify_health(
        &self,
        request: &OperationRequest,
        config: &ProcessConfig,
    ) -> Result<(), String> {
        if !config.notify {
            return Ok(());
        }
        let socket = match self.notify_socket(&request.resource) {
            Some(socket) => socket,
            None => {
                // Started by an earlier agent: bind again; the process keeps its path.
                if let Err(outcome) = self.bind_notify(request, Some(Instant::now())) {
                    return Err(outcome.to_string());
                }
                return Ok(());
            }
        };
        let state = socket.state();
        let failure = match config.watchdog {
            Some(interval) => state.watchdog_failure(interval, Instant::now()),
            None if state.watchdog_triggered => {
                state.watchdog_failure(Duration::MAX, Instant::now())
            }
            None => None,
        };
        match (failure, state.status) {
            (Some(reason), Some(status)) => Err(format!("{reason}; last STATUS: {status}")),
            (Some(reason), None) => Err(reason),
            (None, _) => Ok(()),
        }
    }

    /// Stops the resource's process group, whatever started it.
    pub(crate) async fn stop_inner(&self, request: &OperationRequest) -> Outcome {
        let Some(record) = state::read_pid_file(&request.state_dir) else {
            watchdog::stop(&request.state_dir);
            self.forget(&request.resource);
            return Outcome::Ok;
        };
        // If the pid now belongs to another process, our group is gone: the kernel never
        // hands out a pid that is still some group's id.
        let reused =
            state::leader(&record) == Leader::Gone && crate::child::proc_stat(record.pid).is_some();
        if !reused {
            let adopted = !self.supervises(&request.resource, record.pid);
            if let Err(outcome) = terminate_group(request, record.pid, adopted).await {
                return outcome;
            }
        }
        // Only now that the group is gone: a stop that hangs with its agent is still
        // covered by the watchdog. One that has just fenced is let finish its record.
        watchdog::settle(&request.state_dir).await;
        watchdog::stop(&request.state_dir);
        if let Err(error) = state::remove_pid_file(&request.state_dir) {
            return Outcome::failed(
                Severity::Hard,
                format!("cannot remove the pid file: {error}"),
            );
        }
        self.forget(&request.resource);
        tracing::info!(resource = %request.resource, "Process stopped");
        Outcome::Ok
    }

    /// Whether a reaper task of this agent waits for `pid`.
    fn supervises(&self, resource: &ResourceId, pid: Pid) -> bool {
        let supervised = self
            .supervised
            .lock()
            .expect("supervised lock is never poisoned");
        supervised
            .get(resource)
            .is_some_and(|child| child.pid == pid)
    }

    fn forget(&self, resource: &ResourceId) {
        self.notify
            .lock()
            .expect("notify lock is never poisoned")
            .remove(resource);
        let mut supervised = self
            .supervised
            .lock()
            .expect("supervised lock is never poisoned");
        // The reaper has either reaped the child already or will when it exits; aborting
        // it hands the child to tokio's orphan reaper.
        if let Some(child) = supervised.remove(resource) {
            child.reaper.abort();
        }
    }

    async fn monitor_inner(&self, request: &OperationRequest) -> Outcome {
        match Self::config(request) {
            Ok(config) => self.monitor_with(request, &config).await,
            Err(outcome) => outcome,
        }
    }

    /// Monitors the process `config` describes: alive, then its probes.
    pub(crate) async fn monitor_with(
        &self,
        request: &OperationRequest,
        config: &ProcessConfig,
    ) -> Outcome {
        match self.observe(&request.state_dir, &request.resource) {
            Observed::Stopped => Outcome::NotRunning,
            Observed::Dead { record, how } => {
                let tail = state::log_tail(&request.state_dir);
                let reason = format!("process {} {how}", record.pid.as_raw());
                Outcome::failed(Severity::Soft, with_output(reason, &tail))
            }
            Observed::Alive(record) => {
                // A process adopted after an agent restart (probed, never started by this
                // agent) gets its watchdog here.
                if request.unique
                    && !watchdog::running(&request.state_dir)
                    && let Err(outcome) = guard(request, record)
                {
                    return outcome;
                }
                if let Err(reason) = self.notify_health(request, config) {
                    return Outcome::failed(Severity::Soft, reason);
                }
                match run_probes(&config.probes, request.timeout).await {
                    Ok(()) => Outcome::Ok,
                    Err(reason) => Outcome::failed(Severity::Soft, reason),
                }
            }
        }
    }

    fn validate_inner(request: &OperationRequest) -> Outcome {
        let config = match Self::config(request) {
            Ok(config) => config,
            Err(outcome) => return outcome,
        };
        if find_command(&config.command).is_none() {
            return Outcome::failed(
                Severity::Hard,
                format!("command not found: {}", config.command),
            );
        }
        match &config.cwd {
            Some(cwd) if !cwd.is_dir() => Outcome::failed(
                Severity::Hard,
                format!("working directory {} does not exist", cwd.display()),
            ),
            _ => Outcome::Ok,
        }
    }
}

impl Default for ProcessAgent {
    fn default() -> Self {
        ProcessAgent::new()
    }
}

impl Drop for ProcessAgent {
    fn drop(&mut self) {
        let supervised = self
            .supervised
            .get_mut()
            .expect("supervised lock is never poisoned");
        for (_, child) in supervised.drain() {
            child.reaper.abort();
        }
    }
}

impl ResourceAgent for ProcessAgent {
    fn type_name(&self) -> &str {
        "process"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(config::schema()) })
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { Self::validate_inner(request) })
    }

    fn prepare(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Vec<String>> {
        config::prepare(params)
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.start_inner(request))
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.stop_inner(request))
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.monitor_inner(request))
    }

    fn exit_events(&self) -> Option<broadcast::Receiver<ResourceId>> {
        Some(self.exit_events.subscribe())
    }

    fn status_text(&self, resource: &ResourceId) -> Option<String> {
        self.notify_socket(resource)?.state().status
    }
}

/// For a unique resource, start the lease watchdog that kills the process group when the
/// node's lease ends, even if this agent hangs (see `watchdog`).
fn guard(request: &OperationRequest, record: PidRecord) -> Result<(), Outcome> {
    if !request.unique {
        return Ok(());
    }
    let fence = Fence::KillGroup {
        pid: record.pid,
        start_ticks: record.start_ticks,
    };
    watchdog::start(&request.state_dir, &fence).map_err(|error| {
        Outcome::failed(
            Severity::Soft,
            format!("cannot start the lease watchdog: {error}"),
        )
    })
}

/// Sends SIGTERM to the group, then SIGKILL once the grace runs out, and waits until
/// the group is gone. `adopted` says the leader is not reaped by one of our tasks.
async fn terminate_group(
    request: &OperationRequest,
    pgid: Pid,
    adopted: bool,
) -> Result<(), Outcome> {
    let start = Instant::now();
    let grace_end = start + term_grace(request.timeout);
    if !signal_group(pgid, Signal::SIGTERM) || wait_group_gone(pgid, grace_end, adopted).await {
        return Ok(());
    }
    tracing::warn!(resource = %request.resource, "Process ignored SIGTERM, sending SIGKILL");
    signal_group(pgid, Signal::SIGKILL);
    let kill_end = (start + request.timeout).max(Instant::now() + KILL_WAIT);
    if wait_group_gone(pgid, kill_end, adopted).await {
        Ok(())
    } else {
        let pgid = pgid.as_raw();
        Err(Outcome::failed(
            Severity::Hard,
            format!("process group {pgid} is still there after SIGKILL"),
        ))
    }
}

/// How long a stopping process gets between SIGTERM and SIGKILL: the stop timeout less
/// the time SIGKILL may need, but at least half of the timeout.
fn term_grace(timeout: Duration) -> Duration {
    timeout.saturating_sub(KILL_WAIT).max(timeout / 2)
}

async fn run_probes(probes: &[probe::Probe], timeout: Duration) -> Result<(), String> {
    for probe in probes {
        probe.check(timeout).await?;
    }
    Ok(())
}

fn prepare_dirs(state_dir: &Path, config: &ProcessConfig) -> Result<(), Outcome> {
    std::fs::create_dir_all(state_dir).map_err(|error| {
        let dir = state_dir.display();
        Outcome::failed(
            Severity::Hard,
            format!("cannot create state directory {dir}: {error}"),
        )
    })?;
    match &config.cwd {
        Some(cwd) if !cwd.is_dir() => Err(Outcome::failed(
            Severity::Hard,
            format!("working directory {} does not exist", cwd.display()),
        )),
        _ => Ok(()),
    }
}

fn open_log(state_dir: &Path) -> Result<std::fs::File, Outcome> {
    std::fs::File::create(state::log_path(state_dir)).map_err(|error| {
        Outcome::failed(
            Severity::Hard,
            format!("cannot create the log file: {error}"),
        )
    })
}

fn spawn_failure(command: &str, error: &std::io::Error) -> Outcome {
    match error.kind() {
        std::io::ErrorKind::NotFound => Outcome::failed(
            Severity::Hard,
            format!("command not found on this node: {command}"),
        ),
        std::io::ErrorKind::PermissionDenied => Outcome::failed(
            Severity::Hard,
            format!("permission denied running {command}"),
        ),
        _ => Outcome::failed(Severity::Soft, format!("cannot run {command}: {error}")),
    }
}

/// Resolves a command as `execvp` would: a path as given, a bare name through PATH.
pub(crate) fn find_command(command: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let path = Path::new(command).to_path_buf();
        return executable(&path).then_some(path);
    }
    let search_path = std::env::var_os("PATH")?;
    std::env::split_paths(&search_path)
        .map(|dir| dir.join(command))
        .find(|path| executable(path))
}

fn with_output(reason: String, tail: &str) -> String {
    if tail.is_empty() {
        reason
    } else {
        format!("{reason}; last output: {tail}")
    }
}
