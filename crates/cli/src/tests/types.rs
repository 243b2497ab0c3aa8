//! Rendering of `type list` and `type show`, pinned with snapshots, and what `resource
//! delete` says of a running resource.

use expect_test::expect;

use crate::types::{render_type, render_type_list};

fn summary(name: &str, class: &str, description: &str) -> api::TypeSummary {
    api::TypeSummary {
        name: name.into(),
        class: class.into(),
        description: description.into(),
    }
}

#[test]
fn type_list_shows_built_in_and_ocf_types_and_where_they_were_found() {
    let list = api::TypeList {
        types: vec![
            summary("process", "builtin", "any program, supervised"),
            summary("lb", "builtin", "a load-balanced virtual service"),
            summary(
                "ocf:heartbeat:Dummy",
                "ocf",
                "Example stateless resource agent",
            ),
            summary("ocf:heartbeat:IPaddr2", "ocf", ""),
        ],
        node: 2,
        ocf_root: "/usr/lib/ocf".into(),
    };
    expect![[r#"
        process                builtin  any program, supervised
        lb                     builtin  a load-balanced virtual service
        ocf:heartbeat:Dummy    ocf      Example stateless resource agent
        ocf:heartbeat:IPaddr2  ocf
        2 OCF agents installed on node 2 (in /usr/lib/ocf/resource.d)
        `encluster type show TYPE` shows a type's parameters
    "#]]
    .assert_eq(&render_type_list(&list));
}

#[test]
fn type_list_without_ocf_agents_names_the_package() {
    let list = api::TypeList {
        types: vec![summary("vip", "builtin", "a virtual IP address")],
        node: 1,
        ocf_root: "/usr/lib/ocf".into(),
    };
    expect![[r#"
        vip  builtin  a virtual IP address
        no OCF agents on node 1 (in /usr/lib/ocf/resource.d)
        for ocf:heartbeat:* types, install Debian's resource-agents package:
          apt install resource-agents
        `encluster type show TYPE` shows a type's parameters
    "#]]
    .assert_eq(&render_type_list(&list));
}

#[test]
fn type_show_gives_every_parameter_with_kind_range_default_and_flags() {
    let detail = api::TypeDetail {
        name: "ocf:heartbeat:Example".into(),
        class: "ocf".into(),
        description: "An example".into(),
        parameters: vec![
            api::TypeParameter {
                name: "MaxUser".into(),
                kind: "integer".into(),
                min: Some(1),
                max: Some(10),
                default: Some("5".into()),
                reloadable: true,
                description: "most users at once".into(),
                ..Default::default()
            },
            api::TypeParameter {
                name: "mode".into(),
                kind: "enum".into(),
                choices: vec!["fast".into(), "safe".into()],
                required: true,
                unique: true,
                ..Default::default()
            },
            api::TypeParameter {
                name: "ip".into(),
                kind: "ip_address".into(),
                default: Some(String::new()),
                description: "the address".into(),
                ..Default::default()
            },
        ],
        actions: vec![
            api::TypeAction {
                name: "start".into(),
                timeout: Some("20s".into()),
                ..Default::default()
            },
            api::TypeAction {
                name: "monitor".into(),
                timeout: Some("10s".into()),
                interval: Some("30s".into()),
                depth: Some(0),
            },
            api::TypeAction {
                name: "reload-agent".into(),
                ..Default::default()
            },
        ],
        definition: None,
    };
    expect![[r#"
        ocf:heartbeat:Example (ocf): An example
        parameters:
          MaxUser  integer, 1 to 10, default 5, reloadable
              most users at once
          mode  one of fast|safe, required, unique
          ip  ip address
              the address
        actions: start (timeout 20s), monitor (timeout 10s interval 30s), reload-agent
    "#]]
    .assert_eq(&render_type(&detail));
}

#[test]
fn deleting_a_running_resource_says_it_stops_it_first() {
    let names = crate::views::NodeNames::from([(2, "node2".to_string())]);
    assert_eq!(
        crate::resource_commands::delete_message("p1", &[2], &names),
        "stopping p1 on node2, then deleting"
    );
    assert_eq!(
        crate::resource_commands::delete_message("p1", &[2, 3], &names),
        "stopping p1 on node2, node 3, then deleting"
    );
}
