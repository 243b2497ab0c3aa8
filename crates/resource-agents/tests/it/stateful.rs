//! Debian's `ocf:pacemaker:Stateful` (package `pacemaker-resource-agents`), unmodified, as
//! a promotable resource: its `crm_attribute --promotion` calls answered by encluster's
//! `crm_attribute`, its promoted role run through [`PromotedRole`] (start is `promote`,
//! stop is `demote`, monitor expects OCF's 8), and a stop of a promoted instance demoted
//! first.

use super::request;
use resource_agents::{Outcome, PromotedRole, ResourceAgent, builtin, promotion_score};
use std::path::Path;
use std::sync::Arc;

fn stateful() -> Arc<dyn ResourceAgent> {
    assert!(
        Path::new("/usr/lib/ocf/resource.d/pacemaker/Stateful").is_file(),
        "ocf:pacemaker:Stateful is missing: install Debian's pacemaker-resource-agents \
         package (apt-get install -y pacemaker-resource-agents)"
    );
    builtin("ocf:pacemaker:Stateful", Path::new("/usr/lib/ocf")).expect("ocf types are built in")
}

fn state(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("db/Stateful-db.state"))
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn stateful_is_started_promoted_demoted_and_stopped_with_its_scores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = stateful();
    let role = PromotedRole::new(Arc::clone(&agent));
    assert_eq!(role.type_name(), "promoted:ocf:pacemaker:Stateful");
    let instance = request("db", &[], dir.path());
    let promoted = request("db:promoted", &[], dir.path());

    assert_eq!(agent.start(&instance).await, Outcome::Ok);
    assert_eq!(state(dir.path()), "Unpromoted");
    assert_eq!(promotion_score(&instance.state_dir), Some(5));
    assert_eq!(role.monitor(&promoted).await, Outcome::NotRunning);

    assert_eq!(role.start(&promoted).await, Outcome::Ok);
    assert_eq!(state(dir.path()), "Promoted");
    assert_eq!(promotion_score(&instance.state_dir), Some(10));
    assert_eq!(role.monitor(&promoted).await, Outcome::Ok);
    // The instance itself runs (OCF 8 is running, promoted).
    assert_eq!(agent.monitor(&instance).await, Outcome::Ok);

    assert_eq!(role.stop(&promoted).await, Outcome::Ok);
    assert_eq!(state(dir.path()), "Unpromoted");
    assert_eq!(promotion_score(&instance.state_dir), Some(5));
    assert_eq!(role.monitor(&promoted).await, Outcome::NotRunning);

    // Stateful refuses to stop while promoted; the stop demotes it first.
    assert_eq!(role.start(&promoted).await, Outcome::Ok);
    assert_eq!(agent.stop(&instance).await, Outcome::Ok);
    assert_eq!(state(dir.path()), "");
    assert_eq!(promotion_score(&instance.state_dir), None, "stop ran -D");
    assert_eq!(agent.monitor(&instance).await, Outcome::NotRunning);
    assert_eq!(
        role.stop(&promoted).await,
        Outcome::Ok,
        "demote is idempotent"
    );
}

#[tokio::test]
async fn encluster_crm_attribute_refuses_what_it_does_not_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = stateful();
    let instance = request("db", &[], dir.path());
    assert_eq!(agent.start(&instance).await, Outcome::Ok);
    let script = instance.state_dir.join("sbin/crm_attribute");
    let run = |args: &[&str]| {
        std::process::Command::new(&script)
            .args(args)
            .env("HA_RSCTMP", &instance.state_dir)
            .output()
            .expect("run crm_attribute")
    };
    let node_attribute = run(&["--name", "colour", "-v", "red"]);
    assert_eq!(node_attribute.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&node_attribute.stderr).contains("only promotion scores"),
        "{}",
        String::from_utf8_lossy(&node_attribute.stderr)
    );
    let not_a_number = run(&["--promotion", "-v", "ten"]);
    assert_eq!(not_a_number.status.code(), Some(64));
    assert_eq!(promotion_score(&instance.state_dir), Some(5), "unchanged");
    assert!(run(&["--promotion", "-v", "INFINITY"]).status.success());
    assert_eq!(
        promotion_score(&instance.state_dir),
        Some(model::SCORE_INFINITY)
    );
    let query = run(&["--promotion", "-G", "-q"]);
    assert_eq!(String::from_utf8_lossy(&query.stdout).trim(), "INFINITY");
    assert!(run(&["--promotion", "-D"]).status.success());
    assert_eq!(promotion_score(&instance.state_dir), None);
}

/// The instance's actions run one at a time even when they come for the instance and for
/// its promoted role at once: Stateful rewrites its state file in place, and a monitor
/// reading it during a promote or demote failed with "unexpected contents" (seen in the
/// end-to-end tests under load, before the per-instance lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_never_see_a_promotion_half_done() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = stateful();
    let role = PromotedRole::new(Arc::clone(&agent));
    let instance = request("db", &[], dir.path());
    let promoted = request("db:promoted", &[], dir.path());
    assert_eq!(agent.start(&instance).await, Outcome::Ok);
    let monitors = {
        let agent = Arc::clone(&agent);
        let instance = instance.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..60 {
                let outcome = agent.monitor(&instance).await;
                if outcome != Outcome::Ok {
                    failures.push(outcome);
                }
            }
            failures
        })
    };
    for _ in 0..20 {
        assert_eq!(role.start(&promoted).await, Outcome::Ok);
        assert_eq!(role.stop(&promoted).await, Outcome::Ok);
    }
    let failures = monitors.await.expect("monitors");
    assert_eq!(failures, Vec::<Outcome>::new());
}
