//! Tests of the validation of user type definitions: each bad definition gets the one
//! message that names its field and the fix, and a good one passes.

use super::*;
use crate::{ParamSpec, TypeClass};

fn chat() -> UserType {
    let mut definition = UserType::new("chat", "/usr/bin/env");
    definition.schema = ParamSchema::new(vec![
        ParamSpec::new("MaxUser", ParamKind::Integer, "most clients")
            .with_range(Some(1), Some(10))
            .with_default("5"),
        ParamSpec::new(
            "mode",
            ParamKind::Enum(vec!["a".into(), "b".into()]),
            "mode",
        ),
    ]);
    definition
}

fn check(definition: &UserType, expected: &[&str]) {
    let problems = definition.check().err().unwrap_or_default();
    assert_eq!(problems, expected);
}

#[test]
fn a_valid_definition_passes() {
    check(&chat(), &[]);
}

#[test]
fn min_above_max_is_refused() {
    let mut definition = chat();
    definition.schema.params[0].min = Some(11);
    check(
        &definition,
        &[
            "param MaxUser: min 11 is greater than max 10: swap them",
            "param MaxUser: the default is invalid: MaxUser: 5 is below the minimum 11",
        ],
    );
}

#[test]
fn default_outside_its_range_is_refused() {
    let mut definition = chat();
    definition.schema.params[0].default = Some("11".into());
    check(
        &definition,
        &["param MaxUser: the default is invalid: MaxUser: 11 is above the maximum 10"],
    );
}

#[test]
fn built_in_and_ocf_names_are_refused() {
    for name in ["process", "vip", "lb"] {
        let mut definition = chat();
        definition.name = name.into();
        check(
            &definition,
            &[&format!(
                "name: {name:?} is a built-in type: choose another name"
            )],
        );
    }
    let mut definition = chat();
    definition.name = "ocf:heartbeat:Dummy".into();
    check(
        &definition,
        &[
            "name: \"ocf:heartbeat:Dummy\" is an OCF type name (ocf:<provider>:<agent>): \
           choose a name without ':'",
        ],
    );
}

#[test]
fn empty_and_relative_commands_are_refused() {
    let mut definition = chat();
    definition.run.command = String::new();
    check(
        &definition,
        &["command: the command is empty: give a program to run"],
    );
    definition.run.command = "bin/chat".into();
    check(
        &definition,
        &[
            "command: \"bin/chat\" is a relative path: give an absolute path or a name looked \
           up in PATH",
        ],
    );
}

#[test]
fn bad_intervals_and_timeouts_are_refused() {
    let mut definition = chat();
    definition.looks_alive.interval = Duration::ZERO;
    definition.is_alive.timeout = Duration::ZERO;
    check(
        &definition,
        &[
            "looks_alive.interval: 0s must be from 100ms to 86400s",
            "is_alive.timeout: 0s must be longer than zero and at most 3600s",
        ],
    );
}

#[test]
fn reloadable_parameters_need_a_reload_command() {
    let mut definition = chat();
    definition.schema.params[0].reloadable = true;
    check(
        &definition,
        &[
            "params: MaxUser reloadable but the type has no reload command: give one, or make \
           them restart the instance",
        ],
    );
}

#[test]
fn parameter_names_must_fit_an_environment_variable() {
    let mut definition = chat();
    definition.schema.params[1].name = "max-user".into();
    check(
        &definition,
        &[
            "param \"max-user\": a parameter name is part of an environment variable's name: \
           use ASCII letters, digits and '_', not starting with a digit",
        ],
    );
}

#[test]
fn unknown_kind_is_refused_with_the_known_ones() {
    assert_eq!(
        TypeKind::parse("singleton"),
        Err("kind: \"singleton\" is not one of unique, clone, promotable".to_owned())
    );
    assert_eq!(TypeKind::parse("clone"), Ok(TypeKind::Clone));
}

#[test]
fn min_and_max_apply_only_to_numbers() {
    let mut definition = chat();
    definition.schema.params[1].max = Some(3);
    check(
        &definition,
        &[
            "param mode: min and max apply only to integer and port parameters, not to one \
           of a, b",
        ],
    );
}

#[test]
fn parameters_reach_the_environment_under_both_prefixes() {
    let params = BTreeMap::from([("MaxUser".to_owned(), "7".to_owned())]);
    assert_eq!(
        param_environment(&params),
        vec![
            ("OCF_RESKEY_MaxUser".to_owned(), "7".to_owned()),
            ("ENCLUSTER_PARAM_MaxUser".to_owned(), "7".to_owned()),
        ]
    );
    assert_eq!(TypeClass::User.as_str(), "user");
}

fn program(command: &str) -> RoleProgram {
    RoleProgram {
        command: CommandSpec {
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
        },
        timeout: ROLE_TIMEOUT_DEFAULT,
    }
}

fn check_roles(definition: &UserType, roles: &RolePrograms, expected: &[&str]) {
    let problems = roles.check(definition).err().unwrap_or_default();
    assert_eq!(problems, expected);
}

#[test]
fn role_programs_of_a_promotable_type_pass() {
    let mut definition = chat();
    definition.kind = TypeKind::Promotable;
    let roles = RolePrograms {
        promote: Some(program("/bin/promote")),
        demote: Some(program("/bin/demote")),
        notify: Some(program("notify")),
    };
    check_roles(&definition, &roles, &[]);
    check_roles(&chat(), &RolePrograms::default(), &[]);
}

#[test]
fn role_programs_of_a_type_that_is_not_promotable_are_refused_with_the_fix() {
    let roles = RolePrograms {
        promote: Some(program("/bin/promote")),
        demote: Some(program("/bin/demote")),
        notify: None,
    };
    check_roles(
        &chat(),
        &roles,
        &[
            "promote, demote: type chat is of kind unique, and only instances of a promotable \
           type are promoted: give it kind promotable (--kind promotable), or drop promote \
           and demote",
        ],
    );
}

#[test]
fn promote_without_demote_and_bad_programs_are_refused() {
    let mut definition = chat();
    definition.kind = TypeKind::Promotable;
    let mut bad = program("bin/promote");
    bad.timeout = Duration::ZERO;
    let roles = RolePrograms {
        promote: Some(bad),
        demote: None,
        notify: None,
    };
    check_roles(
        &definition,
        &roles,
        &[
            "promote and demote go together: give both, since a promoted instance must be \
             demotable",
            "promote: \"bin/promote\" is a relative path: give an absolute path or a name \
             looked up in PATH",
            "promote.timeout: 0s must be longer than zero and at most 3600s",
        ],
    );
}
