//! Certificate records, the two-step CA change and token revocation (issue 17).

use model::{NodeId, NodeInfo, Role};

use crate::certs::NodeCert;
use crate::command::{Command, CommandResult};
use crate::db::{ClusterDb, TokenKind};

const OLD: &str = "aaaaaaaaaaaaaaaa";
const NEW: &str = "bbbbbbbbbbbbbbbb";

fn cluster() -> ClusterDb {
    let mut db = ClusterDb::default();
    let init = Command::InitCluster {
        name: "c".into(),
        ca_cert_pem: "old cert".into(),
        ca_key_pem: "old key".into(),
        at_ms: 1,
    };
    assert_eq!(db.apply(init), CommandResult::Ok);
    // A new cluster starts at the current format, which these commands need.
    let format = Command::SetClusterFormat {
        format: crate::FORMAT_CURRENT,
    };
    assert_eq!(db.apply(format), CommandResult::Ok);
    for (id, name) in [(1, "n1"), (2, "n2")] {
        let info = NodeInfo {
            name: name.into(),
            peer_addr: format!("127.0.0.{id}:7000"),
            api_addr: format!("127.0.0.{id}:7001"),
        };
        db.apply(Command::UpsertNode {
            id: NodeId(id),
            info,
            at_ms: 1,
        });
    }
    db
}

fn report(db: &mut ClusterDb, node: u64, issuer: &str) -> CommandResult {
    let cert = NodeCert {
        fingerprint: format!("cert of {node}"),
        issuer: issuer.into(),
        not_after_ms: 10,
        generation: 0,
        trusted: vec![OLD.into(), NEW.into()],
    };
    db.apply(Command::ReportNodeCert {
        node: NodeId(node),
        cert,
    })
}

fn begin() -> Command {
    Command::BeginCaChange {
        ca_cert_pem: "new cert".into(),
        ca_key_pem: "new key".into(),
        fingerprint: NEW.into(),
        at_ms: 2,
    }
}

fn rejected(result: CommandResult) -> String {
    match result {
        CommandResult::Rejected(reason) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn finishing_a_ca_change_never_begun_is_refused_and_names_the_command_to_begin() {
    let mut db = cluster();
    let before = db.clone();
    let reason = rejected(db.apply(Command::FinishCaChange { at_ms: 3 }));
    assert!(reason.contains("encluster cert ca begin"), "{reason}");
    assert_eq!(db, before, "nothing changed");
}

#[test]
fn a_ca_change_finishes_only_once_every_member_has_a_new_ca_certificate() {
    let mut db = cluster();
    assert_eq!(db.apply(begin()), CommandResult::Ok);
    let again = rejected(db.apply(begin()));
    assert!(again.contains("already in progress"), "{again}");
    report(&mut db, 1, NEW);
    report(&mut db, 2, OLD);
    let before = db.clone();
    let reason = rejected(db.apply(Command::FinishCaChange { at_ms: 3 }));
    assert!(reason.contains("n2") && !reason.contains("n1"), "{reason}");
    assert_eq!(db, before, "nothing changed");
    report(&mut db, 2, NEW);
    let join = Command::AddToken {
        hash: "join".into(),
        kind: TokenKind::Join,
        label: "rack".into(),
        at_ms: 3,
    };
    db.apply(join);
    assert_eq!(
        db.apply(Command::FinishCaChange { at_ms: 4 }),
        CommandResult::Ok
    );
    assert_eq!(db.meta.ca_cert_pem, "new cert");
    assert_eq!(db.meta.ca_key_pem, "new key");
    assert!(db.certs.next_ca.is_none());
    assert!(
        !db.tokens.contains_key("join"),
        "a join token pins the old CA"
    );
    assert_eq!(db.certs.revoked["join"].reason, "CA replaced");
}

#[test]
fn a_report_of_a_node_that_is_no_member_is_refused() {
    let mut db = cluster();
    assert!(matches!(
        report(&mut db, 9, OLD),
        CommandResult::Rejected(_)
    ));
}

#[test]
fn revoking_tokens_is_all_or_nothing_and_remembers_why() {
    let mut db = cluster();
    for (hash, label) in [("a", "alice"), ("b", "bob")] {
        db.apply(Command::AddRoleToken {
            hash: hash.into(),
            role: Role::Operator,
            label: label.into(),
            at_ms: 1,
        });
    }
    let before = db.clone();
    let revoke = |hashes: &[&str]| Command::RevokeTokens {
        hashes: hashes.iter().map(|h| h.to_string()).collect(),
        at_ms: 5,
    };
    rejected(db.apply(revoke(&["a", "unknown"])));
    assert_eq!(db, before, "nothing changed");
    assert_eq!(db.apply(revoke(&["a"])), CommandResult::Ok);
    assert!(!db.tokens.contains_key("a"));
    assert!(!db.users.token_roles.contains_key("a"));
    assert_eq!(db.certs.revoked["a"].label, "alice");
    rejected(db.apply(revoke(&["a"])));
}

#[test]
fn a_rotated_token_keeps_its_label_and_role_and_the_old_one_stops() {
    let mut db = cluster();
    db.apply(Command::AddRoleToken {
        hash: "old".into(),
        role: Role::Operator,
        label: "alice".into(),
        at_ms: 1,
    });
    let replace = Command::ReplaceToken {
        old: "old".into(),
        new: "new".into(),
        at_ms: 6,
    };
    assert_eq!(db.apply(replace.clone()), CommandResult::Ok);
    assert_eq!(db.tokens["new"].label, "alice");
    assert_eq!(db.users.token_role("new"), Role::Operator);
    assert!(!db.tokens.contains_key("old"));
    assert_eq!(db.certs.revoked["old"].reason, "replaced");
    rejected(db.apply(replace));
}

#[test]
fn an_expiry_is_warned_about_once_with_an_event() {
    let mut db = cluster();
    let warn = |expires_at_ms| Command::CertExpiryWarned {
        subject: "node n1".into(),
        expires_at_ms,
        fix: "encluster cert rotate".into(),
        at_ms: 7,
    };
    let events = db.events.len();
    assert_eq!(db.apply(warn(100)), CommandResult::Ok);
    rejected(db.apply(warn(100)));
    assert_eq!(db.events.len(), events + 1);
    assert_eq!(
        db.apply(warn(200)),
        CommandResult::Ok,
        "a new expiry is warned again"
    );
}

#[test]
fn a_rotation_raises_the_generation_and_sets_the_validity() {
    let mut db = cluster();
    let rotate = Command::RotateCerts {
        validity_s: Some(60),
        at_ms: 1,
    };
    assert_eq!(db.apply(rotate), CommandResult::Revision(1));
    assert_eq!(db.certs.validity_s, Some(60));
}
