//! Unit tests of the cluster database: deterministic apply, limits, and persisted formats.

use model::{EventKind, NodeHealth, NodeId, NodeInfo};

use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;
use crate::limits::EVENTS_MAX;

mod formats;
pub(crate) mod samples;
// --- users ---
mod users;
// --- rotate ---
mod certs;

fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        peer_addr: "127.0.0.1:1".into(),
        api_addr: "127.0.0.1:2".into(),
    }
}

#[test]
fn put_bumps_revision_and_rejects_oversized_values() {
    let mut db = ClusterDb::default();
    let put = |k: &str, v: &str| Command::Put {
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(db.apply(put("a", "1")), CommandResult::Revision(1));
    assert_eq!(db.apply(put("a", "2")), CommandResult::Revision(2));
    let big = "x".repeat(crate::VALUE_BYTES_MAX + 1);
    assert!(matches!(
        db.apply(put("b", &big)),
        CommandResult::Rejected(_)
    ));
    assert!(matches!(db.apply(put("", "v")), CommandResult::Rejected(_)));
    assert_eq!(db.kv.get("a"), Some(&("2".to_string(), 2)));
    assert!(!db.kv.contains_key("b"));
}

#[test]
fn node_ids_are_never_reused() {
    let mut db = ClusterDb::default();
    db.apply(Command::UpsertNode {
        id: NodeId(3),
        info: node("n3"),
        at_ms: 1,
    });
    assert_eq!(
        db.apply(Command::AllocateNodeId),
        CommandResult::NodeId(NodeId(4))
    );
    db.apply(Command::RemoveNode { id: NodeId(3) });
    assert_eq!(
        db.apply(Command::AllocateNodeId),
        CommandResult::NodeId(NodeId(5))
    );
}

/// Issue 18: a cluster of format 1 registers at most 256 nodes, as encluster 0.11.0's
/// replicas do, so mixed versions apply the same; from format 2 up to 1,000, the most a
/// cluster configuration may name.
#[test]
fn the_node_limit_is_256_at_format_1_and_1000_from_format_2() {
    let register = |db: &mut ClusterDb, id: u64| {
        db.apply(Command::UpsertNode {
            id: NodeId(id),
            info: node(&format!("n{id}")),
            at_ms: 1,
        })
    };
    let mut old = ClusterDb::default();
    for id in 1..=256 {
        assert_eq!(register(&mut old, id), CommandResult::Ok, "node {id}");
    }
    assert_eq!(
        register(&mut old, 257),
        CommandResult::Rejected("too many nodes (limit 256)".into())
    );
    let mut new = ClusterDb::at_current_format();
    for id in 1..=1_000 {
        assert_eq!(register(&mut new, id), CommandResult::Ok, "node {id}");
    }
    assert_eq!(
        register(&mut new, 1_001),
        CommandResult::Rejected("too many nodes (limit 1000)".into())
    );
    assert_eq!((old.nodes.len(), new.nodes.len()), (256, 1_000));
}

#[test]
fn duplicate_node_name_is_rejected_deterministically() {
    let mut db = ClusterDb::default();
    db.apply(Command::UpsertNode {
        id: NodeId(1),
        info: node("a"),
        at_ms: 1,
    });
    let result = db.apply(Command::UpsertNode {
        id: NodeId(2),
        info: node("a"),
        at_ms: 2,
    });
    assert_eq!(
        result,
        CommandResult::Rejected("node name \"a\" is taken by node 1".into())
    );
    assert_eq!(db.nodes.len(), 1);
}

#[test]
fn event_log_keeps_the_newest_events() {
    let mut db = ClusterDb::default();
    for i in 0..(EVENTS_MAX as u64 + 10) {
        let kind = EventKind::NodeRemoved {
            node: NodeId(i),
            reason: "test".into(),
        };
        db.apply(Command::RecordEvents {
            at_ms: i,
            events: vec![kind],
        });
    }
    assert_eq!(db.events.len(), EVENTS_MAX);
    assert_eq!(db.events.front().map(|e| e.seq), Some(10));
    assert_eq!(db.events.back().map(|e| e.seq), Some(EVENTS_MAX as u64 + 9));
}

#[test]
fn health_change_records_one_event_per_real_change() {
    let mut db = ClusterDb::default();
    db.apply(Command::UpsertNode {
        id: NodeId(1),
        info: node("a"),
        at_ms: 1,
    });
    let change = |h| Command::SetNodeHealth {
        at_ms: 5,
        changes: vec![(NodeId(1), h, 500)],
    };
    db.apply(change(NodeHealth::Down));
    db.apply(change(NodeHealth::Down));
    let health_events = db
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::NodeHealth { .. }))
        .count();
    assert_eq!(health_events, 1);
    assert_eq!(db.nodes[&NodeId(1)].health, NodeHealth::Down);
}

#[test]
fn cluster_identity_is_set_once() {
    let mut db = ClusterDb::default();
    let init = |name: &str| Command::InitCluster {
        name: name.into(),
        ca_cert_pem: "c".into(),
        ca_key_pem: "k".into(),
        at_ms: 0,
    };
    assert_eq!(db.apply(init("one")), CommandResult::Ok);
    assert!(matches!(db.apply(init("two")), CommandResult::Rejected(_)));
    assert_eq!(db.meta.name, "one");
}

/// A command encoded by format 1 must stay readable by every later version. The bytes are
/// a fixture: if this test fails, the persisted format changed without a new format byte.
#[test]
fn command_format_v1_stays_readable() {
    let command = Command::Put {
        key: "k".into(),
        value: "v".into(),
    };
    let bytes = crate::codec::encode(&command).expect("encode");
    expect_test::expect![[r#"[1, 0, 1, 107, 1, 118]"#]].assert_eq(&format!("{bytes:?}"));
    let fixture: &[u8] = &[1, 0, 1, 107, 1, 118];
    let decoded: Command = crate::codec::decode(fixture).expect("decode v1 fixture");
    assert_eq!(decoded, command);
}

#[test]
fn unknown_record_format_is_a_clear_error() {
    let error = crate::codec::decode::<Command>(&[9, 0]).expect_err("format 9 is unknown");
    assert!(
        error.to_string().contains("unknown record format 9"),
        "{error}"
    );
}

fn once(session: u64, seq: u64, floor: u64, at_ms: u64, key: &str, value: &str) -> Command {
    Command::Session {
        session,
        seq,
        floor,
        at_ms,
        command: Box::new(Command::Put {
            key: key.into(),
            value: value.into(),
        }),
    }
}

/// The write applied twice of issue 10: a write retried after a change of master (or
/// forwarded again) must not overwrite a later write by another client.
#[test]
fn a_retried_session_write_is_applied_once_with_its_first_answer() {
    let mut db = ClusterDb::default();
    assert_eq!(
        db.apply(once(7, 1, 1, 10, "k", "a")),
        CommandResult::Revision(1)
    );
    assert_eq!(
        db.apply(once(8, 1, 1, 11, "k", "b")),
        CommandResult::Revision(2)
    );
    // Client 7's retry of its first write: the first answer, and "b" stays.
    assert_eq!(
        db.apply(once(7, 1, 1, 12, "k", "a")),
        CommandResult::Revision(1)
    );
    assert_eq!(db.kv["k"], ("b".to_string(), 2));
    assert_eq!(db.kv_revision, 2);
    // Its next write is new.
    assert_eq!(
        db.apply(once(7, 2, 2, 13, "k", "c")),
        CommandResult::Revision(3)
    );
}

#[test]
fn out_of_order_writes_of_one_session_are_each_applied_once() {
    let mut db = ClusterDb::default();
    // Requests 1..=3 in flight at once; 3 and 1 arrive first.
    assert_eq!(
        db.apply(once(5, 3, 1, 1, "c", "3")),
        CommandResult::Revision(1)
    );
    assert_eq!(
        db.apply(once(5, 1, 1, 1, "a", "1")),
        CommandResult::Revision(2)
    );
    assert_eq!(
        db.apply(once(5, 2, 2, 1, "b", "2")),
        CommandResult::Revision(3)
    );
    assert_eq!(
        db.apply(once(5, 3, 2, 1, "c", "3")),
        CommandResult::Revision(1)
    );
    // Once the client moved its floor past 2, a late copy of 1 is refused, not applied.
    assert!(matches!(
        db.apply(once(5, 1, 3, 2, "a", "late")),
        CommandResult::Rejected(reason) if reason.contains("outcome is unknown")
    ));
    assert_eq!(db.kv["a"].0, "1");
    assert_eq!(
        db.sessions.by_id[&5].results.len(),
        1,
        "results below the floor are forgotten"
    );
}

#[test]
fn sessions_are_bounded_and_expire_by_the_masters_clock() {
    let mut db = ClusterDb::default();
    for session in 1..=(crate::SESSIONS_MAX as u64 + 5) {
        db.apply(once(session, 1, 1, session, "k", "v"));
    }
    assert_eq!(db.sessions.by_id.len(), crate::SESSIONS_MAX);
    assert!(
        !db.sessions.by_id.contains_key(&1),
        "the idlest session goes first"
    );
    // A master whose clock is behind does not turn time back.
    db.apply(once(1, 1, 1, 0, "other", "v"));
    assert_eq!(db.sessions.clock_ms, crate::SESSIONS_MAX as u64 + 5);
    let later = db.sessions.clock_ms + crate::limits::SESSION_IDLE_MS + 1;
    db.apply(once(99_999, 1, 1, later, "k", "v"));
    assert_eq!(db.sessions.by_id.len(), 1, "idle sessions expired");
    assert_eq!(db.sessions.by_age.len(), 1);
}

#[test]
fn one_session_keeps_a_bounded_number_of_answers_and_refuses_forgotten_ones() {
    let mut db = ClusterDb::default();
    let n = crate::SESSION_RESULTS_MAX as u64 + 3;
    for seq in 1..=n {
        db.apply(once(3, seq, 1, 1, &format!("k{seq}"), "v"));
    }
    assert_eq!(
        db.sessions.by_id[&3].results.len(),
        crate::SESSION_RESULTS_MAX
    );
    let revision = db.kv_revision;
    assert!(matches!(
        db.apply(once(3, 1, 1, 1, "k1", "again")),
        CommandResult::Rejected(_)
    ));
    assert_eq!(
        db.kv_revision, revision,
        "a forgotten write is refused, never re-applied"
    );
}

#[test]
fn a_session_write_cannot_nest() {
    let mut db = ClusterDb::default();
    let nested = Command::Session {
        session: 1,
        seq: 1,
        floor: 1,
        at_ms: 0,
        command: Box::new(once(1, 2, 1, 0, "k", "v")),
    };
    assert!(matches!(db.apply(nested), CommandResult::Rejected(_)));
    assert!(db.kv.is_empty());
}

fn checkpoint(node: u64, token: u64, name: &str, data: &[u8]) -> Command {
    Command::PutCheckpoint {
        resource: model::ResourceId("app".into()),
        node: NodeId(node),
        fencing_token: token,
        name: name.into(),
        data: data.to_vec(),
        at_ms: 5,
    }
}

/// A cluster database with resource `app` (a unique process) granted to node 1.
fn db_with_app_on_node_1() -> (ClusterDb, u64) {
    use crate::resources::AssignmentChange;
    let mut db = ClusterDb::default();
    let mut resource = samples::resource("app");
    resource.clone = None;
    let created = db.apply(Command::PutResource {
        resource,
        create: true,
    });
    assert_eq!(created, CommandResult::Ok);
    let granted = db.apply(Command::ChangeAssignments {
        changes: vec![AssignmentChange::Assign {
            node: NodeId(1),
            resource: model::ResourceId("app".into()),
        }],
    });
    let CommandResult::Tokens(tokens) = granted else {
        panic!("a grant returns its token, got {granted:?}");
    };
    (db, tokens[0])
}

fn assert_rejected(result: CommandResult, needle: &str) {
    match result {
        CommandResult::Rejected(reason) => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a rejection containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_is_stored_under_the_current_grant_only() {
    let (mut db, token) = db_with_app_on_node_1();
    assert_eq!(
        db.apply(checkpoint(1, token, "history", b"one")),
        CommandResult::Ok
    );
    // Another node, or an older token on the right node, is refused.
    assert_rejected(
        db.apply(checkpoint(2, token, "history", b"x")),
        "no longer holds",
    );
    assert_rejected(
        db.apply(checkpoint(1, token - 1, "history", b"x")),
        "stale fencing token",
    );
    let stored = &db.checkpoints[&model::ResourceId("app".into())]["history"];
    assert_eq!(stored.data, b"one");
    assert_eq!(stored.fencing_token, token);
}

/// Issue 12: an instance whose node lost the resource (its grant withdrawn, then granted
/// to another node under a newer token) cannot overwrite its successor's checkpoint.
#[test]
fn a_checkpoint_under_an_old_token_is_refused_after_the_resource_moved_r12() {
    use crate::resources::AssignmentChange;
    let (mut db, old_token) = db_with_app_on_node_1();
    assert_eq!(
        db.apply(checkpoint(1, old_token, "h", b"old")),
        CommandResult::Ok
    );
    let app = model::ResourceId("app".into());
    db.apply(Command::ChangeAssignments {
        changes: vec![AssignmentChange::Lost {
            node: NodeId(1),
            resource: app.clone(),
        }],
    });
    let CommandResult::Tokens(tokens) = db.apply(Command::ChangeAssignments {
        changes: vec![AssignmentChange::Assign {
            node: NodeId(2),
            resource: app.clone(),
        }],
    }) else {
        panic!("a grant returns its token");
    };
    let new_token = tokens[0];
    assert!(new_token > old_token);
    assert_eq!(
        db.checkpoints[&app]["h"].data, b"old",
        "present for the successor"
    );
    assert_eq!(
        db.apply(checkpoint(2, new_token, "h", b"new")),
        CommandResult::Ok
    );
    assert_rejected(
        db.apply(checkpoint(1, old_token, "h", b"stale")),
        "stale fencing token",
    );
    assert_eq!(db.checkpoints[&app]["h"].data, b"new");
}

#[test]
fn checkpoints_are_bounded_and_go_with_their_resource() {
    use crate::limits::{CHECKPOINT_BYTES_MAX, CHECKPOINT_TOTAL_BYTES_MAX};
    let (mut db, token) = db_with_app_on_node_1();
    let big = vec![7u8; CHECKPOINT_BYTES_MAX + 1];
    assert_rejected(
        db.apply(checkpoint(1, token, "big", &big)),
        "above the limit of 65536",
    );
    assert_rejected(db.apply(checkpoint(1, token, "a/b", b"x")), "is not valid");
    let full = vec![1u8; CHECKPOINT_BYTES_MAX];
    let count = CHECKPOINT_TOTAL_BYTES_MAX / CHECKPOINT_BYTES_MAX;
    for n in 0..count {
        let name = format!("part{n}");
        assert_eq!(
            db.apply(checkpoint(1, token, &name, &full)),
            CommandResult::Ok
        );
    }
    assert_rejected(
        db.apply(checkpoint(1, token, "one-more", b"x")),
        "per resource",
    );
    // Overwriting one in place stays within the limit.
    assert_eq!(
        db.apply(checkpoint(1, token, "part0", b"small")),
        CommandResult::Ok
    );
    let app = model::ResourceId("app".into());
    assert_eq!(
        db.apply(Command::DeleteResource { id: app.clone() }),
        CommandResult::Ok
    );
    assert!(!db.checkpoints.contains_key(&app));
}

// --- mon ---

/// An operator's accepted write is an event naming the operator; a refused one is not.
#[test]
fn audited_writes_name_their_operator_only_when_accepted() {
    let mut db = ClusterDb::default();
    let audited = |command: Command| Command::Audited {
        actor: "alice".into(),
        at_ms: 5_000,
        command: Box::new(command),
    };
    let put = Command::Put {
        key: "k".into(),
        value: "v".into(),
    };
    assert_eq!(db.apply(audited(put)), CommandResult::Revision(1));
    let refused = Command::DeleteResource {
        id: model::ResourceId("nope".into()),
    };
    assert!(matches!(
        db.apply(audited(refused)),
        CommandResult::Rejected(_)
    ));
    let kinds: Vec<&EventKind> = db.events.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [&EventKind::OperatorAction {
            actor: "alice".into(),
            action: "put k".into()
        }]
    );
    assert_eq!(db.events[0].at_ms, 5_000);
    assert_eq!(db.events[0].kind.severity(), model::Severity::Info);
    let nested = audited(audited(Command::AllocateNodeId));
    assert!(matches!(db.apply(nested), CommandResult::Rejected(_)));
}

/// A recipient starts at the next event, keeps its cursor when replaced, and its cursor
/// only moves forward.
#[test]
fn alert_cursors_start_at_the_next_event_and_never_go_back() {
    let mut db = ClusterDb::default();
    db.apply(Command::RecordEvents {
        at_ms: 1,
        events: vec![EventKind::MasterElected {
            node: NodeId(1),
            term: 1,
        }],
    });
    let alert = crate::AlertConfig {
        name: "hook".into(),
        target: crate::AlertTarget::Webhook {
            url: "http://127.0.0.1:9/".into(),
        },
        kinds: Vec::new(),
        severity_min: model::Severity::Info,
        timeout_ms: 1_000,
    };
    assert_eq!(
        db.apply(Command::PutAlert {
            alert: alert.clone()
        }),
        CommandResult::Ok
    );
    assert_eq!(db.monitoring.alerts["hook"].next_seq, 1);
    let advance = |next_seq| Command::AlertDelivered {
        name: "hook".into(),
        next_seq,
    };
    db.apply(advance(7));
    db.apply(advance(3));
    assert_eq!(db.monitoring.alerts["hook"].next_seq, 7);
    db.apply(Command::PutAlert { alert });
    assert_eq!(db.monitoring.alerts["hook"].next_seq, 7, "kept on replace");
    let bad = crate::AlertConfig {
        name: "bad".into(),
        target: crate::AlertTarget::Webhook {
            url: "ftp://x".into(),
        },
        kinds: vec!["disk".into()],
        severity_min: model::Severity::Info,
        timeout_ms: 1_000,
    };
    assert!(matches!(
        db.apply(Command::PutAlert { alert: bad }),
        CommandResult::Rejected(_)
    ));
}

// --- servers ---
/// A database with the virtual service `web` (servers a and b) and the process `app`.
fn db_with_a_service() -> ClusterDb {
    let mut db = ClusterDb::at_current_format();
    let mut web = samples::resource("web");
    web.type_name = "lb".into();
    web.clone = None;
    web.params = std::collections::BTreeMap::from([
        ("listen".to_string(), "127.0.0.1:80".to_string()),
        (
            "servers".to_string(),
            "a=127.0.0.1:81,b=127.0.0.1:82".to_string(),
        ),
    ]);
    let mut app = samples::resource("app");
    app.clone = None;
    for resource in [web, app] {
        let created = db.apply(Command::PutResource {
            resource,
            create: true,
        });
        assert_eq!(created, CommandResult::Ok);
    }
    db
}

fn edit(resource: &str, edit: model::ServerEdit) -> Command {
    Command::EditServer {
        resource: model::ResourceId(resource.into()),
        edit,
    }
}

/// Two server edits proposed from the same view of the service both take effect (with a
/// read-modify-write of the whole resource, the second would undo the first).
#[test]
fn server_edits_apply_to_the_current_service_and_never_lose_one_another() {
    let mut db = db_with_a_service();
    let drain = edit("web", model::ServerEdit::Drain { server: "a".into() });
    let weigh = edit(
        "web",
        model::ServerEdit::Weight {
            server: "b".into(),
            weight: 0,
        },
    );
    assert_eq!(db.apply(drain), CommandResult::Ok);
    assert_eq!(db.apply(weigh), CommandResult::Ok);
    let params = &db.resources.resources[&model::ResourceId("web".into())].params;
    assert_eq!(params.get("draining").map(String::as_str), Some("a"));
    assert_eq!(params.get("weights").map(String::as_str), Some("b=0"));
}

#[test]
fn a_server_edit_of_a_missing_server_or_a_non_lb_resource_is_refused_unchanged() {
    let mut db = db_with_a_service();
    let before = db.resources.clone();
    let unknown = edit("web", model::ServerEdit::Drain { server: "z".into() });
    assert_rejected(
        db.apply(unknown),
        "no server \"z\" in this service; it has: a, b",
    );
    let not_lb = edit("app", model::ServerEdit::Drain { server: "a".into() });
    assert_rejected(db.apply(not_lb), "not a virtual service (lb)");
    let missing = edit("gone", model::ServerEdit::Drain { server: "a".into() });
    assert_rejected(db.apply(missing), "resource gone does not exist");
    assert_eq!(db.resources, before);
}

// --- upgrade ---
/// The format gate: a command of a newer format is refused (by `admits` before proposal
/// and by `apply` if it got into the log) until the cluster format allows it, the master's
/// `SetClusterFormat` always passes the gate, and the format never goes down.
#[test]
fn a_newer_format_is_written_only_once_the_cluster_format_allows_it() {
    let mut db = ClusterDb::default();
    assert_eq!(db.cluster_format(), crate::FORMAT_OLDEST);
    let raise = Command::SetClusterFormat {
        format: crate::FORMAT_CLUSTER_FORMAT,
    };
    let wrapped = Command::Audited {
        actor: "ops".into(),
        at_ms: 1,
        command: Box::new(raise.clone()),
    };
    let refused = db
        .admits(&wrapped)
        .expect_err("format 2 command at format 1");
    assert!(refused.contains("cluster format 2") && refused.contains("Upgrading"));
    assert_rejected(db.apply(wrapped.clone()), "needs cluster format 2");
    assert_eq!(db.format, 0, "a refused command changes nothing");
    assert!(
        db.admits(&raise).is_ok(),
        "the master's raise passes the gate"
    );
    assert_eq!(db.apply(raise), CommandResult::Ok);
    assert_eq!(db.cluster_format(), crate::FORMAT_CLUSTER_FORMAT);
    assert!(db.admits(&wrapped).is_ok());
    assert_rejected(
        db.apply(Command::SetClusterFormat { format: 1 }),
        "never goes down",
    );
    assert_eq!(db.cluster_format(), crate::FORMAT_CLUSTER_FORMAT);
}

/// What encluster 0.11.0 cannot decode waits for format 2 too: a fencing device, a server
/// edit, and an event of a kind it lacks (`RecordEvents` needs its events' highest
/// format), while events it knows are recorded at format 1.
#[test]
fn fencing_server_edits_and_new_event_kinds_wait_for_format_2() {
    let mut db = ClusterDb::default();
    let old_event = Command::RecordEvents {
        at_ms: 1,
        events: vec![EventKind::OperatorAction {
            actor: "ops".into(),
            action: "looked".into(),
        }],
    };
    assert_eq!(db.apply(old_event), CommandResult::Ok);
    let locked = EventKind::LoginLocked {
        user: "ops".into(),
        failures: 5,
        lockout_s: 30,
    };
    let new_event = Command::RecordEvents {
        at_ms: 2,
        events: vec![
            EventKind::OperatorAction {
                actor: "ops".into(),
                action: "looked".into(),
            },
            locked,
        ],
    };
    assert_rejected(db.apply(new_event.clone()), "needs cluster format 2");
    let remove = Command::RemoveFenceDevice {
        name: "ipmi".into(),
    };
    assert_rejected(db.apply(remove.clone()), "needs cluster format 2");
    let edit = edit("web", model::ServerEdit::Drain { server: "a".into() });
    assert_rejected(db.apply(edit.clone()), "needs cluster format 2");
    assert_eq!(db.events.len(), 1, "refused commands record nothing");
    let raise = Command::SetClusterFormat {
        format: crate::FORMAT_CLUSTER_FORMAT,
    };
    assert_eq!(db.apply(raise), CommandResult::Ok);
    for command in [new_event, remove, edit] {
        assert!(db.admits(&command).is_ok(), "{command}");
    }
}
