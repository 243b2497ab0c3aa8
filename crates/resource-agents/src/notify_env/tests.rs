//! The notification environment: every variable Pacemaker sets, with its value, for a
//! pre-promote notice in a clone of three instances (one promoted).

use super::*;

fn instance(n: u64, node: &str) -> NotifyInstance {
    NotifyInstance {
        instance: format!("db:{n}"),
        node: node.to_owned(),
    }
}

fn check(notice: &CloneNotice, expected: expect_test::Expect) {
    let lines: Vec<String> = notify_environment(notice)
        .into_iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    expected.assert_eq(&lines.join("\n"));
}

#[test]
fn a_promotion_names_the_promoted_and_the_one_being_promoted() {
    let notice = CloneNotice {
        kind: NotifyKind::Pre,
        operation: NotifyOperation::Promote,
        acting: vec![instance(2, "node2")],
        active: vec![instance(1, "node1"), instance(2, "node2")],
        inactive: vec![instance(3, "node3")],
        promoted: vec![instance(1, "node1")],
        unpromoted: vec![instance(2, "node2")],
        all_nodes: vec!["node1".into(), "node2".into(), "node3".into()],
    };
    check(
        &notice,
        expect_test::expect![[r#"
            OCF_RESKEY_CRM_meta_notify="true"
            OCF_RESKEY_CRM_meta_notify_type="pre"
            OCF_RESKEY_CRM_meta_notify_operation="promote"
            OCF_RESKEY_CRM_meta_notify_key_type="pre"
            OCF_RESKEY_CRM_meta_notify_key_operation="promote"
            OCF_RESKEY_CRM_meta_notify_active_resource="db:1 db:2"
            OCF_RESKEY_CRM_meta_notify_active_uname="node1 node2"
            OCF_RESKEY_CRM_meta_notify_inactive_resource="db:3"
            OCF_RESKEY_CRM_meta_notify_inactive_uname="node3"
            OCF_RESKEY_CRM_meta_notify_start_resource=" "
            OCF_RESKEY_CRM_meta_notify_start_uname=" "
            OCF_RESKEY_CRM_meta_notify_stop_resource=" "
            OCF_RESKEY_CRM_meta_notify_stop_uname=" "
            OCF_RESKEY_CRM_meta_notify_promote_resource="db:2"
            OCF_RESKEY_CRM_meta_notify_promote_uname="node2"
            OCF_RESKEY_CRM_meta_notify_demote_resource=" "
            OCF_RESKEY_CRM_meta_notify_demote_uname=" "
            OCF_RESKEY_CRM_meta_notify_promoted_resource="db:1"
            OCF_RESKEY_CRM_meta_notify_promoted_uname="node1"
            OCF_RESKEY_CRM_meta_notify_master_resource="db:1"
            OCF_RESKEY_CRM_meta_notify_master_uname="node1"
            OCF_RESKEY_CRM_meta_notify_unpromoted_resource="db:2"
            OCF_RESKEY_CRM_meta_notify_unpromoted_uname="node2"
            OCF_RESKEY_CRM_meta_notify_slave_resource="db:2"
            OCF_RESKEY_CRM_meta_notify_slave_uname="node2"
            OCF_RESKEY_CRM_meta_notify_available_uname="node1 node2 node3"
            OCF_RESKEY_CRM_meta_notify_all_uname="node1 node2 node3"
            OCF_RESKEY_CRM_meta_notify_all_hosts="node1 node2 node3""#]],
    );
}
