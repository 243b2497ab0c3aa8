//! Real OCF resource agents from Debian's `resource-agents` package, run unmodified:
//! `ocf:heartbeat:Dummy`, `ocf:heartbeat:Delay` and `ocf:heartbeat:anything`.

use super::{eventually, failure_reason, request};
use resource_agents::{MetaError, Outcome, ResourceAgent, Severity, UnknownType, builtin};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const OCF_ROOT: &str = "/usr/lib/ocf";

/// The agent for `type_name`, after checking that the OCF scripts are installed. These
/// tests must not pass silently without them: install them with
/// `apt-get install -y resource-agents`.
fn ocf_agent(type_name: &str) -> Arc<dyn ResourceAgent> {
    let functions = Path::new(OCF_ROOT).join("lib/heartbeat/ocf-shellfuncs");
    assert!(
        functions.is_file(),
        "{} is missing: these tests run real OCF agents; install Debian's resource-agents \
         package (apt-get install -y resource-agents)",
        functions.display()
    );
    builtin(type_name, Path::new(OCF_ROOT)).expect("ocf types are built in")
}

#[tokio::test]
async fn dummy_agent_starts_is_monitored_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:Dummy");
    let request = request("dummy1", &[], dir.path());
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    assert_eq!(agent.validate(&request).await, Outcome::Ok);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    // Dummy keeps its state in $HA_RSCTMP, which is the resource's state directory.
    assert!(request.state_dir.join("Dummy-dummy1.state").is_file());
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    assert_eq!(
        agent.stop(&request).await,
        Outcome::Ok,
        "stop is idempotent"
    );
}

#[tokio::test]
async fn dummy_meta_data_becomes_a_schema_with_state_and_fake() {
    let agent = ocf_agent("ocf:heartbeat:Dummy");
    let schema = agent.meta().await.expect("Dummy prints meta-data");
    let state = schema.get("state").expect("Dummy has a state parameter");
    assert!(state.unique, "state is declared unique=\"1\"");
    assert_eq!(state.kind, model::ParamKind::String);
    assert!(schema.get("fake").is_some(), "Dummy has a fake parameter");
    let errors = schema
        .validate(&[("colour".to_owned(), "red".to_owned())].into())
        .expect_err("an unknown parameter is rejected");
    assert!(
        errors[0]
            .to_string()
            .starts_with("colour: unknown parameter"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn dummy_validate_all_with_an_unwritable_state_file_is_a_hard_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:Dummy");
    let params = [("state", "/nonexistent-encluster-dir/x.state")];
    let outcome = agent
        .validate(&request("dummy2", &params, dir.path()))
        .await;
    let expected = "validate-all failed: invalid arguments for this node (OCF exit code 2): \
                    State file \"/nonexistent-encluster-dir/x.state\" is not writable";
    assert_eq!(outcome, Outcome::failed(Severity::Hard, expected));
}

#[tokio::test]
async fn dummy_whose_state_vanished_is_reported_not_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:Dummy");
    let request = request("dummy3", &[], dir.path());
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    // Removing the state file behind the agent's back is Dummy's "crash".
    std::fs::remove_file(request.state_dir.join("Dummy-dummy3.state")).expect("state file");
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
}

#[tokio::test]
async fn delay_agent_runs_and_its_schema_rejects_non_numbers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:Delay");
    let params = [("startdelay", "0"), ("stopdelay", "0"), ("mondelay", "0")];
    let request = request("delay1", &params, dir.path());
    assert_eq!(agent.validate(&request).await, Outcome::Ok);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    let bad = super::request("delay2", &[("startdelay", "soon")], dir.path());
    assert_eq!(
        agent.validate(&bad).await,
        Outcome::failed(
            Severity::Fatal,
            "invalid parameters: startdelay: \"soon\" is not an integer"
        )
    );
}

#[tokio::test]
async fn delay_agent_slower_than_its_timeout_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:Delay");
    let mut request = request("delay3", &[("startdelay", "30")], dir.path());
    request.timeout = Duration::from_secs(1);
    // The script sleeps 30 s: only the start's 1 s timeout can make the outcome a timeout.
    assert_eq!(agent.start(&request).await, Outcome::Timeout);
    // The script's `sleep 30` was in the killed group: no sleeper of ours may remain.
    let survivors = processes_with_env("OCF_RESOURCE_INSTANCE=delay3");
    assert!(
        survivors.is_empty(),
        "processes of the timed-out start survived: {survivors:?}"
    );
}

/// Pids of live processes whose environment contains `entry`.
fn processes_with_env(entry: &str) -> Vec<String> {
    let proc_dir = std::fs::read_dir("/proc").expect("/proc is mounted");
    let pids = proc_dir
        .filter_map(|item| item.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()));
    pids.filter(|pid| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let live = !stat.is_empty() && !stat.contains(") Z");
        live && environ
            .split(|b| *b == 0)
            .any(|item| item == entry.as_bytes())
    })
    .collect()
}

#[tokio::test]
async fn anything_agent_runs_a_daemon_and_stops_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:anything");
    let pidfile = dir.path().join("anything.pid");
    let pidfile = pidfile.to_str().expect("utf-8 temp dir");
    let params = [
        ("binfile", "/bin/sleep"),
        ("cmdline_options", "1000"),
        ("pidfile", pidfile),
    ];
    let request = request("anything1", &params, dir.path());
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
    // The daemon keeps the script's pipes open; a start that waited for it would end in a
    // timeout, not `Ok`.
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let pid: i32 = std::fs::read_to_string(pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon runs"
    );
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    eventually(Duration::from_secs(5), "the daemon to be gone", || async {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        (stat.is_empty() || stat.contains(") Z")).then_some(())
    })
    .await;
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
}

#[tokio::test]
async fn missing_ocf_agent_is_not_installed_on_this_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = ocf_agent("ocf:heartbeat:NoSuchAgentHere");
    let outcome = agent.start(&request("ghost", &[], dir.path())).await;
    assert_eq!(
        outcome,
        Outcome::failed(
            Severity::Hard,
            "on this node: OCF agent heartbeat:NoSuchAgentHere not found in \
             /usr/lib/ocf/resource.d; install Debian's resource-agents package \
             (apt install resource-agents)"
        )
    );
    assert!(matches!(
        agent.meta().await,
        Err(MetaError::NotInstalled { .. })
    ));
    assert!(
        failure_reason(&agent.validate(&request("ghost", &[], dir.path())).await)
            .contains("apt install resource-agents")
    );
}

#[test]
fn unknown_resource_types_are_refused_with_the_known_ones() {
    let error = builtin("lsb:apache", Path::new(OCF_ROOT))
        .err()
        .expect("lsb is not built in");
    assert_eq!(
        error,
        UnknownType {
            type_name: "lsb:apache".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "unknown resource type \"lsb:apache\"; known types: process, vip, ocf:<provider>:<agent>"
    );
}
