//! Users, login sessions and token roles in the state machine: what each command does,
//! what it refuses, and that sessions end with their user or password on every replica
//! alike (the state is a pure function of the log).

use model::Role;

use crate::command::{Command, CommandResult};
use crate::db::{ClusterDb, TokenKind};
use crate::limits::LOGINS_PER_USER_MAX;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const AT: u64 = 1_700_000_000_000;

fn digest(n: u64) -> String {
    format!("{n:064x}")
}

fn add(db: &mut ClusterDb, name: &str, role: Role) -> CommandResult {
    db.apply(Command::AddUser {
        name: name.into(),
        role,
        password_hash: HASH.into(),
        at_ms: AT,
    })
}

fn open(db: &mut ClusterDb, n: u64, user: &str, at_ms: u64) -> CommandResult {
    db.apply(Command::OpenLogin {
        hash: digest(n),
        user: user.into(),
        expires_at_ms: at_ms + 1_000,
        at_ms,
    })
}

fn rejected(result: CommandResult) -> String {
    match result {
        CommandResult::Rejected(reason) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_user_is_added_once_with_a_hash_and_a_valid_name() {
    let mut db = ClusterDb::default();
    assert_eq!(add(&mut db, "ann", Role::Viewer), CommandResult::Ok);
    assert!(rejected(add(&mut db, "ann", Role::Admin)).contains("exists"));
    assert_eq!(db.users.users["ann"].role, Role::Viewer);
    assert!(rejected(add(&mut db, "-x", Role::Admin)).starts_with("user name \"-x\""));
    let plain = db.apply(Command::AddUser {
        name: "bob".into(),
        role: Role::Admin,
        password_hash: "hunter2".into(),
        at_ms: AT,
    });
    assert!(rejected(plain).contains("argon2id"));
    assert!(!db.users.users.contains_key("bob"));
}

#[test]
fn a_session_is_known_until_it_expires_and_carries_the_current_role() {
    let mut db = ClusterDb::default();
    add(&mut db, "ann", Role::Viewer);
    assert_eq!(open(&mut db, 1, "ann", AT), CommandResult::Ok);
    let role = |db: &ClusterDb, now| db.users.login(&digest(1), now).map(|(_, role, _)| role);
    assert_eq!(role(&db, AT + 999), Some(Role::Viewer));
    assert_eq!(role(&db, AT + 1_000), None, "expired at its end");
    db.apply(Command::SetUserRole {
        name: "ann".into(),
        role: Role::Operator,
    });
    assert_eq!(role(&db, AT), Some(Role::Operator));
    assert!(rejected(open(&mut db, 2, "nobody", AT)).contains("does not exist"));
    // An expired session is dropped when the next one opens.
    open(&mut db, 3, "ann", AT + 5_000);
    assert!(!db.users.logins.contains_key(&digest(1)));
}

#[test]
fn logout_new_password_and_removal_end_sessions() {
    let mut db = ClusterDb::default();
    add(&mut db, "ann", Role::Viewer);
    add(&mut db, "bob", Role::Viewer);
    open(&mut db, 1, "ann", AT);
    open(&mut db, 2, "ann", AT);
    open(&mut db, 3, "bob", AT);
    assert_eq!(
        db.apply(Command::CloseLogin { hash: digest(1) }),
        CommandResult::Ok
    );
    assert!(!db.users.logins.contains_key(&digest(1)));
    db.apply(Command::SetPassword {
        name: "ann".into(),
        password_hash: HASH.into(),
        at_ms: AT + 1,
    });
    assert!(
        !db.users.logins.contains_key(&digest(2)),
        "a new password ends sessions"
    );
    assert_eq!(
        db.apply(Command::RemoveUser { name: "bob".into() }),
        CommandResult::Ok
    );
    assert!(db.users.logins.is_empty());
    assert!(rejected(db.apply(Command::RemoveUser { name: "bob".into() })).contains("bob"));
}

#[test]
fn one_users_sessions_are_bounded_and_the_oldest_gives_way() {
    let mut db = ClusterDb::default();
    add(&mut db, "ann", Role::Viewer);
    let count = LOGINS_PER_USER_MAX as u64 + 3;
    for n in 0..count {
        open(&mut db, n, "ann", AT + n);
    }
    assert_eq!(db.users.logins.len(), LOGINS_PER_USER_MAX);
    assert!(!db.users.logins.contains_key(&digest(0)));
    assert!(db.users.logins.contains_key(&digest(count - 1)));
}

#[test]
fn a_token_has_its_role_and_older_tokens_are_admin() {
    let mut db = ClusterDb::default();
    db.apply(Command::AddToken {
        hash: digest(7),
        kind: TokenKind::Admin,
        label: "ops".into(),
        at_ms: AT,
    });
    db.apply(Command::AddRoleToken {
        hash: digest(8),
        role: Role::Viewer,
        label: "grafana".into(),
        at_ms: AT,
    });
    assert_eq!(db.users.token_role(&digest(7)), Role::Admin);
    assert_eq!(db.users.token_role(&digest(8)), Role::Viewer);
    assert_eq!(db.tokens[&digest(8)].kind, TokenKind::Admin);
    assert_eq!(db.tokens[&digest(8)].label, "grafana");
}

#[test]
fn a_login_is_audited_in_its_users_name_without_its_secret() {
    let mut db = ClusterDb::default();
    add(&mut db, "ann", Role::Viewer);
    let audited = Command::Audited {
        actor: "ann".into(),
        at_ms: AT,
        command: Box::new(Command::OpenLogin {
            hash: digest(1),
            user: "ann".into(),
            expires_at_ms: AT + 10,
            at_ms: AT,
        }),
    };
    assert_eq!(db.apply(audited), CommandResult::Ok);
    let last = db.events.back().expect("an event").kind.describe();
    assert_eq!(last, "ann: log in as ann");
}
