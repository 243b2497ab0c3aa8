//! User types in the state machine: what is refused, with which words, and that a refused
//! command leaves the database exactly as it was.
//!
//! Method: apply commands to a `ClusterDb` as the log would and compare the whole database
//! before and after each refusal.

use model::{ParamKind, ParamSchema, ParamSpec, Resource, ResourceId, TypeKind, UserType};
use std::collections::BTreeMap;

use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;

fn chat_type(max: i64) -> UserType {
    let mut definition = UserType::new("chat", "/bin/sh");
    definition.schema = ParamSchema::new(vec![
        ParamSpec::new("MaxUser", ParamKind::Integer, "most clients")
            .with_range(Some(1), Some(max)),
    ]);
    definition
}

fn chat(name: &str, max_user: &str) -> Resource {
    Resource {
        id: ResourceId(name.into()),
        type_name: "chat".into(),
        params: [("MaxUser".to_owned(), max_user.to_owned())].into(),
        options: Default::default(),
        unique: true,
        clone: None,
        utilization: Default::default(),
    }
}

fn put_type(definition: UserType, create: bool) -> Command {
    Command::PutType {
        definition: Box::new(definition),
        create,
    }
}

fn put(resource: Resource, create: bool) -> Command {
    Command::PutResource { resource, create }
}

/// The database with the chat type (MaxUser 1 to 10) and two resources of it.
fn db_with_chats() -> ClusterDb {
    let mut db = ClusterDb::default();
    assert_eq!(db.apply(put_type(chat_type(10), true)), CommandResult::Ok);
    assert_eq!(db.apply(put(chat("c1", "8"), true)), CommandResult::Ok);
    assert_eq!(db.apply(put(chat("c2", "10"), true)), CommandResult::Ok);
    db
}

/// Applies `command`, expects it refused with `reason`, and the database unchanged.
fn check_refused(db: &mut ClusterDb, command: Command, reason: &str) {
    let before = db.clone();
    assert_eq!(
        db.apply(command),
        CommandResult::Rejected(reason.to_owned())
    );
    assert_eq!(*db, before, "a refused command changed the database");
}

#[test]
fn max_user_11_is_refused_with_nothing_changed() {
    let mut db = db_with_chats();
    check_refused(
        &mut db,
        put(chat("c3", "11"), true),
        "resource c3: MaxUser: 11 is above the maximum 10",
    );
    check_refused(
        &mut db,
        put(chat("c1", "11"), false),
        "resource c1: MaxUser: 11 is above the maximum 10",
    );
}

#[test]
fn changing_a_type_revalidates_its_resources_and_names_each() {
    let mut db = db_with_chats();
    check_refused(
        &mut db,
        put_type(chat_type(7), false),
        "type chat cannot change that way, it would make its resources invalid: resource \
         c1: MaxUser: 8 is above the maximum 7; resource c2: MaxUser: 10 is above the \
         maximum 7",
    );
    assert_eq!(db.apply(put_type(chat_type(12), false)), CommandResult::Ok);
    assert_eq!(db.resources.types["chat"], chat_type(12));
}

#[test]
fn deleting_a_type_in_use_names_its_resources() {
    let mut db = db_with_chats();
    let delete = || Command::DeleteType {
        name: "chat".into(),
    };
    check_refused(
        &mut db,
        delete(),
        "type chat is used by c1, c2: delete them or change their type first",
    );
    for id in ["c1", "c2"] {
        let command = Command::DeleteResource {
            id: ResourceId(id.into()),
        };
        assert_eq!(db.apply(command), CommandResult::Ok);
    }
    assert_eq!(db.apply(delete()), CommandResult::Ok);
    assert!(db.resources.types.is_empty());
}

#[test]
fn invalid_definitions_and_duplicates_are_refused() {
    let mut db = db_with_chats();
    let mut bad = chat_type(10);
    bad.schema.params[0].min = Some(20);
    check_refused(
        &mut db,
        put_type(bad, false),
        "type chat: param MaxUser: min 20 is greater than max 10: swap them",
    );
    check_refused(
        &mut db,
        put_type(chat_type(10), true),
        "type chat already exists: change it with `encluster type update`",
    );
    let mut other = chat_type(10);
    other.name = "other".into();
    check_refused(
        &mut db,
        put_type(other, false),
        "type other does not exist: define it with `encluster type create`",
    );
}

#[test]
fn apply_with_types_is_all_or_nothing() {
    let mut db = db_with_chats();
    let refused = Command::ReplaceConfigWithTypes {
        types: vec![chat_type(9)],
        resources: vec![chat("c1", "8"), chat("c3", "11")],
        groups: Vec::new(),
        constraints: Vec::new(),
    };
    check_refused(
        &mut db,
        refused,
        "resource c3: MaxUser: 11 is above the maximum 9",
    );
    let accepted = Command::ReplaceConfigWithTypes {
        types: vec![chat_type(9)],
        resources: vec![chat("c1", "8")],
        groups: Vec::new(),
        constraints: Vec::new(),
    };
    assert_eq!(db.apply(accepted), CommandResult::Ok);
    assert_eq!(db.resources.types["chat"], chat_type(9));
    assert_eq!(db.resources.resources.len(), 1);
}

#[test]
fn apply_makes_resources_of_a_promotable_type_promotable_all_or_nothing() {
    let mut db = ClusterDb::default();
    let mut definition = chat_type(10);
    definition.kind = TypeKind::Promotable;
    let mut clone = chat("c1", "2");
    clone.unique = false;
    clone.clone = Some(model::CloneOptions { max: None });
    // A promotable resource must be a clone: refused, and nothing written (not the type).
    let refused = Command::ReplaceConfigPromotable {
        types: vec![definition.clone()],
        resources: vec![clone.clone(), chat("c2", "2")],
        groups: Vec::new(),
        constraints: Vec::new(),
        promotable: BTreeMap::from([(ResourceId("c2".into()), 1)]),
    };
    let before = db.clone();
    assert!(matches!(db.apply(refused), CommandResult::Rejected(_)));
    assert_eq!(db, before);
    let accepted = Command::ReplaceConfigPromotable {
        types: vec![definition],
        resources: vec![clone],
        groups: Vec::new(),
        constraints: Vec::new(),
        promotable: BTreeMap::from([(ResourceId("c1".into()), 1)]),
    };
    assert_eq!(db.apply(accepted), CommandResult::Ok);
    assert_eq!(
        db.resources.promotable.get(&ResourceId("c1".into())),
        Some(&1)
    );
    assert_eq!(db.resources.types["chat"].kind, TypeKind::Promotable);
}
