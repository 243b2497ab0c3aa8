//! The `process` agent with real children: `sleep`, `sh` and Python's HTTP server.

use super::{eventually, failure_reason, free_port, group_exists, request};
use resource_agents::{Outcome, ProcessAgent, ResourceAgent, Severity, builtin};
use std::path::Path;
use std::time::{Duration, Instant};

fn recorded_pid(state_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(state_dir.join("process.pid")).expect("pid file");
    text.split_whitespace()
        .next()
        .expect("pid")
        .parse()
        .expect("numeric pid")
}

#[tokio::test]
async fn sleep_process_starts_is_monitored_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = builtin("process", Path::new("/usr/lib/ocf")).expect("process is built in");
    let request = request(
        "sleeper",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    assert_eq!(agent.validate(&request).await, Outcome::Ok);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let pid = recorded_pid(&request.state_dir);
    assert!(group_exists(pid));
    assert_eq!(
        agent.start(&request).await,
        Outcome::Ok,
        "start is idempotent"
    );
    assert_eq!(
        recorded_pid(&request.state_dir),
        pid,
        "a second start must not spawn again"
    );
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert!(
        !group_exists(pid),
        "the process group must be gone after stop"
    );
    assert!(!request.state_dir.join("process.pid").exists());
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    assert_eq!(
        agent.stop(&request).await,
        Outcome::Ok,
        "stop is idempotent"
    );
}

#[tokio::test]
async fn http_server_process_starts_once_its_probes_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let port = free_port().to_string();
    let args = format!("-m http.server --bind 127.0.0.1 {port}");
    let tcp = format!("127.0.0.1:{port}");
    let http = format!("http://127.0.0.1:{port}/");
    let params = [
        ("command", "python3"),
        ("args", &args),
        ("probe_tcp", &tcp),
        ("probe_http", &http),
    ];
    let request = request("web", &params, dir.path());
    // Start returns only once the server answers, so a connect right after must work.
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    std::net::TcpStream::connect(&tcp).expect("the server answers after start");
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert!(
        std::net::TcpStream::connect(&tcp).is_err(),
        "nothing listens after stop"
    );
}

#[tokio::test]
async fn failing_probe_makes_monitor_fail_while_the_process_lives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let port = free_port().to_string();
    let args = format!("-m http.server --bind 127.0.0.1 {port}");
    let probe = format!("http://127.0.0.1:{port}/no-such-page");
    let mut request = request(
        "web404",
        &[("command", "python3"), ("args", &args)],
        dir.path(),
    );
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    request.params.insert("probe_http".into(), probe.clone());
    let outcome = eventually(
        Duration::from_secs(10),
        "the server to answer 404",
        || async {
            let outcome = agent.monitor(&request).await;
            failure_reason(&outcome)
                .contains("status 404")
                .then_some(outcome)
        },
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::failed(
            Severity::Soft,
            format!("HTTP probe of {probe} failed: status 404")
        )
    );
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

#[tokio::test]
async fn crashed_process_is_detected_by_monitor_and_announced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let mut exits = agent
        .exit_events()
        .expect("the process agent announces exits");
    let script = r#"["-c", "sleep 0.3; echo boom >&2; exit 3"]"#;
    let request = request(
        "crasher",
        &[("command", "sh"), ("args", script)],
        dir.path(),
    );
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let exited = tokio::time::timeout(Duration::from_secs(10), exits.recv()).await;
    assert_eq!(
        exited
            .expect("an exit event in time")
            .expect("open channel"),
        request.resource
    );
    let outcome = agent.monitor(&request).await;
    let pid = recorded_pid(&request.state_dir);
    assert_eq!(
        outcome,
        Outcome::failed(
            Severity::Soft,
            format!("process {pid} exited with status 3; last output: boom")
        )
    );
    // A restart after a crash starts a fresh process.
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    assert_ne!(recorded_pid(&request.state_dir), pid);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_a_group_that_ignores_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    // The background sleep is a second member of the group; both ignore SIGTERM.
    let script = r#"["-c", "trap '' TERM; sleep 100 & sleep 100; wait"]"#;
    let mut request = request(
        "stubborn",
        &[("command", "sh"), ("args", script)],
        dir.path(),
    );
    request.timeout = Duration::from_secs(3);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let pid = recorded_pid(&request.state_dir);
    eventually(Duration::from_secs(5), "the background sleep", || async {
        let members = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        (members.split_whitespace().count() >= 2).then_some(())
    })
    .await;
    let started = Instant::now();
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400),
        "SIGKILL came before the grace ended: {took:?}"
    );
    assert!(!group_exists(pid), "every member of the group must be gone");
}

#[tokio::test]
async fn start_that_never_answers_its_probe_times_out_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let closed = format!("127.0.0.1:{}", free_port());
    let params = [
        ("command", "sleep"),
        ("args", "100"),
        ("probe_tcp", closed.as_str()),
    ];
    let mut request = request("deaf", &params, dir.path());
    request.timeout = Duration::from_secs(1);
    // The probe never answers: only the start's own timeout can end it.
    assert_eq!(agent.start(&request).await, Outcome::Timeout);
    assert!(
        !group_exists(recorded_pid(&request.state_dir)),
        "a timed-out start is killed"
    );
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

#[tokio::test]
async fn missing_command_is_a_hard_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let request = request("ghost", &[("command", "/nonexistent/daemon")], dir.path());
    let checked = Outcome::failed(Severity::Hard, "command not found: /nonexistent/daemon");
    assert_eq!(agent.validate(&request).await, checked);
    let started = Outcome::failed(
        Severity::Hard,
        "command not found on this node: /nonexistent/daemon",
    );
    assert_eq!(agent.start(&request).await, started);
}

#[tokio::test]
async fn invalid_parameters_are_fatal_and_list_every_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let request = request("bad", &[("comand", "sleep"), ("env", "X")], dir.path());
    let outcome = agent.start(&request).await;
    assert_eq!(
        outcome,
        Outcome::failed(
            Severity::Fatal,
            "invalid parameters: command: required parameter is missing; comand: unknown \
             parameter (did you mean command?); known parameters: command, args, env, cwd, \
             probe_tcp, probe_http, remote_failure, notify, watchdog"
        )
    );
}

#[tokio::test]
async fn environment_and_working_directory_reach_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let cwd = dir.path().to_str().expect("utf-8 temp dir");
    let script = r#"["-c", "echo \"$GREETING $ENCLUSTER_RESOURCE $(pwd)\" > out; sleep 100"]"#;
    let params = [
        ("command", "sh"),
        ("args", script),
        ("env", "GREETING=hello; X=1"),
        ("cwd", cwd),
    ];
    let request = request("envy", &params, dir.path());
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let out = dir.path().join("out");
    let text = eventually(Duration::from_secs(5), "the output file", || async {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|text| text.ends_with('\n'))
    })
    .await;
    assert_eq!(text.trim(), format!("hello envy {cwd}"));
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

#[tokio::test]
async fn restarted_agent_monitors_and_stops_the_process_an_earlier_agent_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let request = request(
        "survivor",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    let earlier = ProcessAgent::new();
    assert_eq!(earlier.start(&request).await, Outcome::Ok);
    let pid = recorded_pid(&request.state_dir);
    drop(earlier);
    assert!(
        group_exists(pid),
        "the child outlives the agent that started it"
    );
    let later = ProcessAgent::new();
    assert_eq!(later.monitor(&request).await, Outcome::Ok);
    assert_eq!(later.stop(&request).await, Outcome::Ok);
    assert!(!group_exists(pid));
    assert_eq!(later.monitor(&request).await, Outcome::NotRunning);
}

#[tokio::test]
async fn monitor_respects_its_timeout_when_a_probe_hangs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    // A listener that accepts but never answers makes the HTTP probe hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", silent.local_addr().expect("address"));
    let mut request = request("hang", &[("command", "sleep"), ("args", "100")], dir.path());
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    request.params.insert("probe_http".into(), url.clone());
    request.timeout = Duration::from_millis(500);
    // The listener never answers: only the monitor's own timeout can end the probe.
    let outcome = agent.monitor(&request).await;
    assert_eq!(
        outcome,
        Outcome::failed(
            Severity::Soft,
            format!("HTTP probe of {url} got no answer within 500ms")
        )
    );
    request.timeout = Duration::from_secs(10);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

/// The boot clock, in ms: the lease's clock.
fn now_ms() -> u64 {
    use nix::time::{ClockId, clock_gettime};
    let time = clock_gettime(ClockId::CLOCK_BOOTTIME).expect("read CLOCK_BOOTTIME");
    let seconds = u64::try_from(time.tv_sec()).expect("after boot");
    let millis = u64::try_from(time.tv_nsec() / 1_000_000).expect("below a second");
    seconds * 1_000 + millis
}

/// Writes the lease the executor keeps next to the resources' state directories: its end
/// on the boot clock, with this boot's id.
fn write_lease(state_root: &Path, valid_until: u64) {
    let boot_id =
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("read the boot id");
    let boot_id = boot_id.trim();
    let text = format!(
        "{{\"format\":2,\"boot_id\":\"{boot_id}\",\"valid_until_boot_ms\":{valid_until}}}\n"
    );
    std::fs::write(state_root.join("executor-lease.json"), text).expect("write the lease");
}

/// A hung agent: nobody stops the unique process, nobody renews the lease. The watchdog
/// kills its group before the lease ends; the monitor then finds it dead, and the stop that
/// the resumed agent runs succeeds and leaves the time it ended for the executor.
#[tokio::test]
async fn unique_process_is_killed_by_its_watchdog_when_the_lease_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let mut request = request(
        "singleton",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    request.unique = true;
    let valid_until = now_ms() + 800;
    write_lease(dir.path(), valid_until);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let pid = recorded_pid(&request.state_dir);
    assert!(group_exists(pid));
    eventually(
        Duration::from_secs(5),
        "the watchdog to kill the group",
        || async { (!group_exists(pid)).then_some(()) },
    )
    .await;
    let gone_seen_at = now_ms();
    assert!(matches!(
        agent.monitor(&request).await,
        Outcome::Failed { .. }
    ));
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    let fenced_at = resource_agents::take_fenced_at(&request.state_dir)
        .expect("the watchdog recorded when it killed the group")
        .boot
        .0;
    let margin = u64::try_from(resource_agents::WATCHDOG_MARGIN.as_millis()).expect("small");
    assert!(fenced_at >= valid_until - margin && fenced_at < valid_until);
    // The watchdog reads the boot clock in hundredths of a second, rounded up.
    assert!(fenced_at <= gone_seen_at + 10);
}

/// A clone (not unique) may outlive the lease: no watchdog guards it. A unique process
/// stopped normally takes its watchdog with it and leaves no fencing time.
#[tokio::test]
async fn only_unique_processes_are_guarded_and_stop_ends_the_guard() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    write_lease(dir.path(), now_ms() + 60_000);
    let clone = request(
        "clone",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    assert_eq!(agent.start(&clone).await, Outcome::Ok);
    assert!(!clone.state_dir.join("watchdog.pid").exists());
    assert_eq!(agent.stop(&clone).await, Outcome::Ok);
    let mut unique = request(
        "single",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    unique.unique = true;
    assert_eq!(agent.start(&unique).await, Outcome::Ok);
    let watchdog: i32 = std::fs::read_to_string(unique.state_dir.join("watchdog.pid"))
        .expect("the watchdog's pid is recorded")
        .trim()
        .parse()
        .expect("numeric pid");
    assert_eq!(agent.stop(&unique).await, Outcome::Ok);
    eventually(Duration::from_secs(5), "the watchdog to end", || async {
        let stat = std::fs::read_to_string(format!("/proc/{watchdog}/stat"));
        stat.map_or(true, |s| s.contains(") Z")).then_some(())
    })
    .await;
    assert_eq!(resource_agents::take_fenced_at(&unique.state_dir), None);
}

/// An agent that restarted adopts a running unique process by monitoring it (it never
/// starts it again); the earlier watchdog died with the earlier agent, so the monitor arms
/// a new one, which still kills the process when the lease ends.
#[tokio::test]
async fn a_monitor_rearms_the_watchdog_of_an_adopted_unique_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut request = request(
        "adopted",
        &[("command", "sleep"), ("args", "100")],
        dir.path(),
    );
    request.unique = true;
    write_lease(dir.path(), now_ms() + 60_000);
    let earlier = ProcessAgent::new();
    assert_eq!(earlier.start(&request).await, Outcome::Ok);
    drop(earlier);
    let watchdog_file = request.state_dir.join("watchdog.pid");
    let watchdog: i32 = std::fs::read_to_string(&watchdog_file)
        .expect("the watchdog's pid is recorded")
        .trim()
        .parse()
        .expect("numeric pid");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(watchdog),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the earlier watchdog");
    eventually(
        Duration::from_secs(5),
        "the earlier watchdog to die",
        || async {
            let stat = std::fs::read_to_string(format!("/proc/{watchdog}/stat"));
            stat.map_or(true, |s| s.contains(") Z")).then_some(())
        },
    )
    .await;
    let pid = recorded_pid(&request.state_dir);
    let restarted = ProcessAgent::new();
    assert_eq!(restarted.monitor(&request).await, Outcome::Ok);
    let rearmed: i32 = std::fs::read_to_string(&watchdog_file)
        .expect("the monitor recorded a new watchdog")
        .trim()
        .parse()
        .expect("numeric pid");
    assert_ne!(rearmed, watchdog);
    write_lease(dir.path(), now_ms() + 400);
    eventually(
        Duration::from_secs(5),
        "the new watchdog to kill the group",
        || async { (!group_exists(pid)).then_some(()) },
    )
    .await;
    assert_eq!(restarted.stop(&request).await, Outcome::Ok);
    assert!(resource_agents::take_fenced_at(&request.state_dir).is_some());
}

/// A `notify=true` process runs `script` (Python) with `NOTIFY_SOCKET` in its environment.
fn notify_request(
    dir: &Path,
    name: &str,
    script: &str,
    extra: &[(&str, &str)],
) -> resource_agents::OperationRequest {
    let args = serde_json::to_string(&["-c", script]).expect("args");
    let mut params = vec![
        ("command", "python3"),
        ("args", args.as_str()),
        ("notify", "true"),
    ];
    params.extend_from_slice(extra);
    request(name, &params, dir)
}

const NOTIFY: &str = "import os, socket, time\n\
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
    def say(text): s.sendto(text.encode(), os.environ['NOTIFY_SOCKET'])\n";

#[tokio::test]
async fn a_notify_process_fails_its_monitor_when_its_watchdog_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let script = format!(
        "{NOTIFY}assert os.environ['WATCHDOG_USEC'] == '300000'\n\
         say('READY=1\\nSTATUS=stuck in a loop')\ntime.sleep(100)\n"
    );
    let request = notify_request(dir.path(), "stuck", &script, &[("watchdog", "300ms")]);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let reason = eventually(Duration::from_secs(10), "the watchdog to fail", || async {
        match agent.monitor(&request).await {
            Outcome::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    })
    .await;
    assert!(
        reason.contains("no WATCHDOG=1") && reason.contains("last STATUS: stuck in a loop"),
        "{reason}"
    );
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert!(
        !request.state_dir.join("notify.sock").exists(),
        "the socket goes with it"
    );
}

#[tokio::test]
async fn a_notify_start_waits_for_ready_and_may_be_extended() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    // Never ready: the start times out and leaves nothing running.
    let silent = notify_request(
        dir.path(),
        "silent",
        &format!("{NOTIFY}time.sleep(100)\n"),
        &[],
    );
    let mut silent = silent;
    silent.timeout = Duration::from_millis(500);
    assert_eq!(agent.start(&silent).await, Outcome::Timeout);
    // Ready after the timeout, but within the extension it asked for.
    let script = format!(
        "{NOTIFY}say('EXTEND_TIMEOUT_USEC=3000000')\ntime.sleep(1.5)\nsay('READY=1')\n\
         time.sleep(100)\n"
    );
    let mut slow = notify_request(dir.path(), "slow", &script, &[]);
    slow.timeout = Duration::from_secs(1);
    assert_eq!(agent.start(&slow).await, Outcome::Ok);
    assert_eq!(agent.stop(&slow).await, Outcome::Ok);
}

#[tokio::test]
async fn the_executors_environment_reaches_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let script = r#"["-c", "echo \"$ENCLUSTER_APP_TOKEN\" > token; sleep 100"]"#;
    let mut request = request("app", &[("command", "sh"), ("args", script)], dir.path());
    request.env = vec![("ENCLUSTER_APP_TOKEN".into(), "secret".into())];
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let token = eventually(Duration::from_secs(10), "the token file", || async {
        std::fs::read_to_string(request.state_dir.join("token")).ok()
    })
    .await;
    assert_eq!(token.trim(), "secret");
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

/// A notify process started again after it crashed (no stop between) gets a socket that
/// works: the earlier socket, dropped after the new one was bound, used to delete the new
/// one's file, and the second start timed out waiting for READY=1.
#[tokio::test]
async fn a_notify_process_started_again_after_a_crash_can_say_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ProcessAgent::new();
    let script = format!("{NOTIFY}say('READY=1')\ntime.sleep(100)\n");
    let mut request = notify_request(dir.path(), "phoenix", &script, &[]);
    request.timeout = Duration::from_secs(5);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let pid = recorded_pid(&request.state_dir);
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("crash it");
    eventually(Duration::from_secs(10), "the crash to show", || async {
        matches!(agent.monitor(&request).await, Outcome::Failed { .. }).then_some(())
    })
    .await;
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}
