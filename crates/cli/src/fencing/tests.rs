//! `fence add` flags to the API's spec, and the rendering of devices and history.

use expect_test::expect;

use super::*;

#[test]
fn add_flags_become_the_spec_and_bad_params_are_refused() {
    let add = |params: Vec<&str>| FenceCommand::Add {
        name: "ipmi".into(),
        agent: "fence_ipmilan".into(),
        hosts: "n1,n2:bmc2".into(),
        params: params.into_iter().map(String::from).collect(),
        level: Some(2),
        timeout: None,
        action: None,
    };
    let spec = add_spec(add(vec!["ip=10.0.0.9", "username=admin"])).expect("valid");
    assert_eq!(spec.params.get("ip").map(String::as_str), Some("10.0.0.9"));
    assert_eq!(spec.level, Some(2));
    let error = add_spec(add(vec!["ip"])).expect_err("no =");
    assert_eq!(error.to_string(), "--param \"ip\" is not KEY=VALUE");
}

#[test]
fn devices_and_history_render_as_tables() {
    let devices = api::FenceDevices {
        devices: vec![api::FenceDeviceSpec {
            name: "ipmi".into(),
            agent: "fence_ipmilan".into(),
            hosts: "n1,n2:bmc2".into(),
            params: Default::default(),
            level: Some(1),
            timeout: Some("20s".into()),
            action: Some("off".into()),
        }],
        history: vec![api::FenceRecordView {
            node: 2,
            node_name: "n2".into(),
            reason: "lost".into(),
            incident: Some(4),
            started_at_ms: 1_000,
            finished_at_ms: Some(1_180),
            outcome: "confirmed".into(),
            detail: "level 1 ipmi: off succeeded".into(),
        }],
    };
    expect![[r#"
         NAME  AGENT          LEVEL  HOSTS       ACTION  TIMEOUT 
         ipmi  fence_ipmilan  1      n1,n2:bmc2  off     20s     

        fencing history:
         NODE  REASON  OUTCOME    TOOK    INCIDENT  DETAIL                      
         n2    lost    confirmed  180 ms  4         level 1 ipmi: off succeeded 
    "#]]
    .assert_eq(&render_devices(&devices));
}
