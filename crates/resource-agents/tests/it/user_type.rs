//! The agent of a user-defined type with real children: a shell script that records its
//! environment and whose thorough check (IsAlive) fails once a file exists.

use super::{eventually, failure_reason, request};
use model::{CommandSpec, HealthProbe, ParamKind, ParamSchema, ParamSpec, UserType};
use resource_agents::{
    DEPTH_THOROUGH, Outcome, ProcessAgent, ResourceAgent, Severity, UndefinedTypeAgent,
    UserTypeAgent,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A type whose instance writes its environment to `env` in its state directory and
/// sleeps; IsAlive fails once `sick` exists there.
fn recorder() -> UserType {
    let mut definition = UserType::new("recorder", "/bin/sh");
    definition.schema = ParamSchema::new(vec![
        ParamSpec::new("MaxUser", ParamKind::Integer, "most clients")
            .with_range(Some(1), Some(10))
            .with_default("5"),
        ParamSpec::new("greeting", ParamKind::String, "what to say").required(),
    ]);
    definition.run.args = vec![
        "-c".into(),
        "env > \"$ENCLUSTER_STATE_DIR/env\"; exec sleep 600".into(),
    ];
    definition.run.env = BTreeMap::from([("RECORDER_MODE".to_owned(), "test".to_owned())]);
    definition.is_alive.probe = HealthProbe::Command(CommandSpec {
        command: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            "test ! -e \"$ENCLUSTER_STATE_DIR/sick\" || { echo sick; exit 3; }".into(),
        ],
        env: BTreeMap::new(),
    });
    definition
}

fn agent() -> UserTypeAgent {
    UserTypeAgent::new(recorder(), Arc::new(ProcessAgent::new()))
}

#[tokio::test]
async fn an_instance_gets_its_parameters_under_both_prefixes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = agent();
    let request = request("rec", &[("greeting", "hello world")], dir.path());
    assert_eq!(agent.validate(&request).await, Outcome::Ok);
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    let path = request.state_dir.join("env");
    let env = eventually(Duration::from_secs(10), "the recorded environment", || {
        let text = std::fs::read_to_string(&path).ok();
        async move { text.filter(|text| text.contains("ENCLUSTER_TYPE=")) }
    })
    .await;
    for line in [
        "OCF_RESKEY_greeting=hello world",
        "ENCLUSTER_PARAM_greeting=hello world",
        "OCF_RESKEY_MaxUser=5",
        "ENCLUSTER_PARAM_MaxUser=5",
        "RECORDER_MODE=test",
        "ENCLUSTER_RESOURCE=rec",
        "ENCLUSTER_TYPE=recorder",
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "{line} missing from:\n{env}"
        );
    }
    assert_eq!(agent.monitor(&request).await, Outcome::Ok);
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor(&request).await, Outcome::NotRunning);
}

#[tokio::test]
async fn a_failing_thorough_check_fails_only_the_deep_monitor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = agent();
    let mut request = request("rec", &[("greeting", "hi")], dir.path());
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    std::fs::write(request.state_dir.join("sick"), "").expect("mark sick");
    assert_eq!(
        agent.monitor(&request).await,
        Outcome::Ok,
        "LooksAlive only asks whether the process lives"
    );
    request.depth = DEPTH_THOROUGH;
    let outcome = agent.monitor(&request).await;
    assert_eq!(
        failure_reason(&outcome),
        "check command /bin/sh failed: exited with status 3; last output: sick"
    );
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
}

#[tokio::test]
async fn parameters_outside_the_schema_are_a_fatal_outcome() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = agent();
    let request = request("rec", &[("greeting", "hi"), ("MaxUser", "11")], dir.path());
    assert_eq!(
        agent.start(&request).await,
        Outcome::failed(
            Severity::Fatal,
            "invalid parameters: MaxUser: 11 is above the maximum 10"
        )
    );
}

/// After an agent restart, an instance of a user type whose definition has not arrived yet
/// is still monitored and stopped by what its pid file records; a start is refused.
#[tokio::test]
async fn an_undefined_type_still_monitors_and_stops_what_was_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let request = request("rec", &[("greeting", "hi")], dir.path());
    assert_eq!(agent().start(&request).await, Outcome::Ok);
    let later = UndefinedTypeAgent::new(
        "recorder",
        "type recorder is not defined here",
        Arc::new(ProcessAgent::new()),
    );
    assert_eq!(later.monitor(&request).await, Outcome::Ok);
    assert_eq!(later.stop(&request).await, Outcome::Ok);
    assert_eq!(later.monitor(&request).await, Outcome::NotRunning);
    assert_eq!(
        later.start(&request).await,
        Outcome::failed(Severity::Fatal, "type recorder is not defined here")
    );
}

// --- roles ---
/// A promotable type whose promote, demote and notify programs append a line to `roles`
/// in the instance's state directory, with the notification's type where there is one.
fn promotable_with_programs() -> UserTypeAgent {
    let mut definition = recorder();
    definition.kind = model::TypeKind::Promotable;
    let program = |line: &str| model::RoleProgram {
        command: CommandSpec {
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!("echo \"{line}\" >> \"$ENCLUSTER_STATE_DIR/roles\""),
            ],
            env: BTreeMap::new(),
        },
        timeout: Duration::from_secs(10),
    };
    let roles = model::RolePrograms {
        promote: Some(program("promote $ENCLUSTER_PARAM_greeting")),
        demote: Some(program("demote")),
        notify: Some(program("notify $OCF_RESKEY_CRM_meta_notify_type")),
    };
    agent().with_roles(roles)
}

#[tokio::test]
async fn role_programs_promote_demote_and_notify_an_instance_and_the_watchdog_can_demote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = promotable_with_programs();
    let mut request = request("rec", &[("greeting", "hi")], dir.path());
    assert_eq!(agent.start(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor_promoted(&request).await, Outcome::NotRunning);
    assert_eq!(agent.promote(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor_promoted(&request).await, Outcome::Ok);
    let fence = agent
        .demote_command(&request)
        .expect("the watchdog's demote");
    assert_eq!(fence.argument, "demote");
    let script = std::fs::read_to_string(&fence.program).expect("the demote script");
    assert!(script.contains("exec /bin/sh -c"), "{script}");
    assert!(agent.notifies(&request.params));
    request.env = vec![("OCF_RESKEY_CRM_meta_notify_type".into(), "pre".into())];
    assert_eq!(agent.notify(&request).await, Outcome::Ok);
    request.env.clear();
    assert_eq!(agent.demote(&request).await, Outcome::Ok);
    assert_eq!(agent.monitor_promoted(&request).await, Outcome::NotRunning);
    // Demoted already: the stop does not demote again.
    assert_eq!(agent.stop(&request).await, Outcome::Ok);
    let roles = std::fs::read_to_string(request.state_dir.join("roles")).expect("roles");
    assert_eq!(roles, "promote hi\nnotify pre\ndemote\n");
}

#[tokio::test]
async fn without_programs_a_user_type_cannot_promote_and_says_what_to_give() {
    let dir = tempfile::tempdir().expect("temp dir");
    let request = request("rec", &[("greeting", "hi")], dir.path());
    let outcome = agent().promote(&request).await;
    let reason = failure_reason(&outcome);
    assert!(
        reason.contains("has no promote program and no application of the instance is connected"),
        "{reason}"
    );
}
