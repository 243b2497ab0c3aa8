//! Fencing devices: checks, host maps and levels.

use super::*;

fn device(name: &str, level: u32, hosts: &str) -> FenceDevice {
    FenceDevice {
        name: name.to_string(),
        agent: "fence_dummy".to_string(),
        params: BTreeMap::new(),
        hosts: parse_host_map(hosts).expect("valid host map"),
        level,
        timeout: FENCE_TIMEOUT_DEFAULT,
        action: FenceAction::Off,
    }
}

#[test]
fn host_map_accepts_lists_and_maps() {
    let hosts = parse_host_map("n1,n2:vm2; n3").expect("valid");
    let pairs: Vec<_> = hosts.iter().map(|(h, p)| format!("{h}={p}")).collect();
    assert_eq!(pairs, ["n1=n1", "n2=vm2", "n3=n3"]);
    assert!(parse_host_map("n1,n1").is_err());
    assert!(parse_host_map("n1:").is_err());
}

#[test]
fn levels_group_covering_devices_lowest_first() {
    let devices = [
        device("pdu", 2, "n1,n2"),
        device("ipmi", 1, "n1"),
        device("other", 1, "n3"),
    ];
    let levels = fence_levels(&devices, "n1");
    let names: Vec<Vec<&str>> = levels
        .iter()
        .map(|level| level.iter().map(|d| d.name.as_str()).collect())
        .collect();
    assert_eq!(names, [vec!["ipmi"], vec!["pdu"]]);
    assert!(fence_levels(&devices, "n9").is_empty());
}

#[test]
fn check_refuses_what_the_cluster_sets_and_bad_agents() {
    assert_eq!(device("ok", 1, "n1").check(), Ok(()));
    let mut reserved = device("d", 1, "n1");
    reserved.params.insert("plug".into(), "x".into());
    assert!(
        reserved
            .check()
            .expect_err("refused")
            .contains("set by the cluster")
    );
    let mut agent = device("d", 1, "n1");
    agent.agent = "../../bin/sh".into();
    assert!(
        agent
            .check()
            .expect_err("refused")
            .contains("fence_* program name")
    );
    let mut none = device("d", 1, "");
    none.hosts.clear();
    assert!(
        none.check()
            .expect_err("refused")
            .contains("covers no node")
    );
    let mut level = device("d", 0, "n1");
    level.level = 0;
    assert!(level.check().expect_err("refused").contains("level 0"));
    let mut newline = device("d", 1, "n1");
    newline
        .params
        .insert("ip".into(), "1.2.3.4\naction=on".into());
    assert!(
        newline
            .check()
            .expect_err("refused")
            .contains("key=value line")
    );
}
