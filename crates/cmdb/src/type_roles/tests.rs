//! The role programs of user types: set with their type in one entry, refused for a type
//! that is not promotable with the fix named, removed by the older type commands (which
//! define a type without programs) and with the type, and gated by cluster format 3.
//!
//! Method: apply commands to a cluster database at this build's format (or at format 2)
//! and compare results and the stored programs.

use std::collections::BTreeMap;

use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;
use crate::tests::samples::{promotable_type, role_programs};

fn put(definition: model::UserType, roles: model::RolePrograms, create: bool) -> Command {
    Command::PutTypeWithRoles {
        definition: Box::new(definition),
        roles: Box::new(roles),
        create,
    }
}

#[test]
fn a_type_and_its_role_programs_are_set_in_one_entry() {
    let mut db = ClusterDb::at_current_format();
    let result = db.apply(put(promotable_type(), role_programs(), true));
    assert_eq!(result, CommandResult::Ok);
    assert_eq!(db.roles_of("pg"), role_programs());
    assert_eq!(db.types_with_roles()[0].roles, role_programs());
    // An update without programs removes them.
    let result = db.apply(put(promotable_type(), Default::default(), false));
    assert_eq!(result, CommandResult::Ok);
    assert!(db.type_roles.is_empty());
}

#[test]
fn role_programs_of_a_type_that_is_not_promotable_are_refused_and_change_nothing() {
    let mut db = ClusterDb::at_current_format();
    let mut unique = promotable_type();
    unique.kind = model::TypeKind::Unique;
    let result = db.apply(put(unique, role_programs(), true));
    let CommandResult::Rejected(reason) = result else {
        panic!("accepted: {result:?}");
    };
    assert!(
        reason.starts_with(
            "type pg: promote, demote, notify: type pg is of kind unique, and only instances \
             of a promotable type are promoted: give it kind promotable (--kind promotable)"
        ),
        "{reason}"
    );
    assert!(db.resources.types.is_empty());
    assert!(db.type_roles.is_empty());
}

#[test]
fn older_type_commands_and_a_delete_remove_the_programs() {
    let mut db = ClusterDb::at_current_format();
    assert_eq!(
        db.apply(put(promotable_type(), role_programs(), true)),
        CommandResult::Ok
    );
    let old_put = Command::PutType {
        definition: Box::new(promotable_type()),
        create: false,
    };
    assert_eq!(db.apply(old_put), CommandResult::Ok);
    assert!(
        db.type_roles.is_empty(),
        "PutType defines a type without programs"
    );
    assert_eq!(
        db.apply(put(promotable_type(), role_programs(), false)),
        CommandResult::Ok
    );
    let delete = Command::DeleteType { name: "pg".into() };
    assert_eq!(db.apply(delete), CommandResult::Ok);
    assert!(db.type_roles.is_empty());
}

#[test]
fn apply_with_roles_sets_each_listed_types_programs_all_or_nothing() {
    let mut db = ClusterDb::at_current_format();
    let replace = |roles: BTreeMap<String, model::RolePrograms>| Command::ReplaceConfigWithRoles {
        types: vec![promotable_type()],
        roles,
        resources: Vec::new(),
        groups: Vec::new(),
        constraints: Vec::new(),
        promotable: BTreeMap::new(),
    };
    let stray = BTreeMap::from([("other".to_owned(), role_programs())]);
    let CommandResult::Rejected(reason) = db.apply(replace(stray)) else {
        panic!("programs for an undefined type were accepted");
    };
    assert_eq!(
        reason,
        "type other: role programs for a type the file does not define"
    );
    assert!(db.resources.types.is_empty(), "nothing half-applied");
    let roles = BTreeMap::from([("pg".to_owned(), role_programs())]);
    assert_eq!(db.apply(replace(roles)), CommandResult::Ok);
    assert_eq!(db.roles_of("pg"), role_programs());
    assert_eq!(db.apply(replace(BTreeMap::new())), CommandResult::Ok);
    assert!(db.type_roles.is_empty());
}

#[test]
fn role_programs_wait_for_cluster_format_3() {
    let mut db = ClusterDb {
        format: crate::FORMAT_CLUSTER_FORMAT,
        ..ClusterDb::default()
    };
    let command = put(promotable_type(), role_programs(), true);
    let refusal = db
        .admits(&command)
        .expect_err("format 2 cannot hold role programs");
    assert!(refusal.contains("needs cluster format 3"), "{refusal}");
    assert!(matches!(db.apply(command), CommandResult::Rejected(_)));
    assert!(db.type_roles.is_empty());
}
