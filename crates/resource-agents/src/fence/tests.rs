//! Fence runs scripted answer by answer, the protocol against Debian's `fence_dummy`
//! where it is installed (`scripts/test.sh` installs `fence-agents`), and meta-data.

use std::collections::BTreeMap;
use std::time::Duration;

use model::FenceDevice;
use model::fence::{FenceAction, fence_levels, parse_host_map};

use super::levels::{FenceNext, FenceRun};
use super::*;

fn device(name: &str, level: u32) -> FenceDevice {
    FenceDevice {
        name: name.to_string(),
        agent: "fence_dummy".to_string(),
        params: BTreeMap::new(),
        hosts: parse_host_map("n1:plug1,n2").expect("valid"),
        level,
        timeout: Duration::from_secs(5),
        action: FenceAction::Off,
    }
}

fn answer(end: FenceEnd) -> FenceAnswer {
    FenceAnswer {
        end,
        stdout: String::new(),
        stderr: "Failed: Unable to connect".into(),
    }
}

/// Feeds `answers` in order and returns the devices called and the final verdict.
fn check(devices: &[FenceDevice], answers: Vec<FenceEnd>) -> (Vec<String>, FenceNext) {
    let levels = fence_levels(devices, "n1");
    let mut run = FenceRun::new(&levels, "n1");
    let mut called = Vec::new();
    for end in answers {
        let FenceNext::Call { device, call } = run.next() else {
            panic!("the run ended before every answer was given");
        };
        assert_eq!(call.plug.as_deref(), Some("plug1"));
        assert_eq!(call.action, "off");
        called.push(device);
        run.answer(&answer(end));
    }
    (called, run.next())
}

#[test]
fn first_level_that_succeeds_confirms() {
    let devices = [device("ipmi", 1), device("pdu", 2)];
    let (called, next) = check(&devices, vec![FenceEnd::Exited(0)]);
    assert_eq!(called, ["ipmi"]);
    assert_eq!(
        next,
        FenceNext::Confirmed("level 1 ipmi: off succeeded".into())
    );
}

#[test]
fn a_failed_or_timed_out_level_hands_over_to_the_next() {
    let devices = [device("ipmi", 1), device("pdu", 2), device("pdu2", 3)];
    let answers = vec![FenceEnd::Exited(1), FenceEnd::TimedOut, FenceEnd::Exited(0)];
    let (called, next) = check(&devices, answers);
    assert_eq!(called, ["ipmi", "pdu", "pdu2"]);
    let FenceNext::Confirmed(detail) = next else {
        panic!("expected a confirmation, got {next:?}");
    };
    assert!(
        detail.contains("ipmi: off failed (exit 1, generic error)"),
        "{detail}"
    );
    assert!(detail.contains("pdu: off timed out"), "{detail}");
}

#[test]
fn every_device_of_a_level_must_succeed() {
    let devices = [device("psu1", 1), device("psu2", 1)];
    let (called, next) = check(&devices, vec![FenceEnd::Exited(0), FenceEnd::Exited(5)]);
    assert_eq!(called, ["psu1", "psu2"]);
    assert!(matches!(next, FenceNext::Failed(d) if d.contains("psu2: off failed (exit 5")));
}

#[test]
fn no_covering_device_fails_at_once() {
    let devices = [device("d", 1)];
    let levels = fence_levels(&devices, "n9");
    let run = FenceRun::new(&levels, "n9");
    assert_eq!(
        run.next(),
        FenceNext::Failed("no fence device covers the node".into())
    );
}

#[test]
fn input_is_key_value_lines_with_action_and_plug() {
    let devices = [device("d", 1)];
    let mut call = FenceRun::new(&fence_levels(&devices, "n2"), "n2");
    let FenceNext::Call { call: first, .. } = call.next() else {
        panic!("one device covers n2");
    };
    let mut first = first;
    first.params.insert("ip".into(), "10.0.0.9".into());
    assert_eq!(first.input(), "action=off\nplug=n2\nip=10.0.0.9\n");
    call.answer(&answer(FenceEnd::Exited(0)));
}

fn dummy_installed() -> bool {
    std::path::Path::new("/usr/sbin/fence_dummy").exists()
}

#[tokio::test]
async fn fence_dummy_speaks_the_protocol() {
    if !dummy_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "fence-agents missing under CI"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status_file = dir.path().join("status").display().to_string();
    let call = |action: &str| FenceCall {
        agent: "fence_dummy".into(),
        action: action.into(),
        params: BTreeMap::from([("status_file".to_string(), status_file.clone())]),
        plug: None,
        timeout: Duration::from_secs(20),
    };
    assert_eq!(call("on").run().await.end, FenceEnd::Exited(0));
    assert_eq!(call("status").run().await.end, FenceEnd::Exited(0));
    assert_eq!(call("off").run().await.end, FenceEnd::Exited(0));
    let status = call("status").run().await;
    assert_eq!(
        status.end,
        FenceEnd::Exited(2),
        "status of an off plug exits 2"
    );
    assert!(status.stdout.contains("OFF"), "{status:?}");
    assert_eq!(call("monitor").run().await.end, FenceEnd::Exited(0));
    let info = fence_type_info("fence_dummy")
        .await
        .expect("meta-data parses");
    assert!(info.schema.get("status_file").is_some());
    assert!(
        info.schema.get("action").is_none(),
        "the cluster sets action"
    );
}

#[tokio::test]
async fn a_fence_agent_that_overruns_is_killed_and_times_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("fence_slow");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\nexec sleep 60\n").expect("write");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&script, mode).expect("chmod");
    let call = FenceCall {
        agent: script.display().to_string(),
        action: "off".into(),
        params: BTreeMap::new(),
        plug: Some("n1".into()),
        timeout: Duration::from_millis(200),
    };
    assert_eq!(call.run().await.end, FenceEnd::TimedOut);
    let missing = FenceCall {
        agent: dir.path().join("fence_none").display().to_string(),
        ..call
    };
    assert!(matches!(missing.run().await.end, FenceEnd::NotStarted(_)));
}
