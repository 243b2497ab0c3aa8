//! User-defined resource types over the API: `POST /v1/types`, `PUT /v1/types/{name}` and
//! `DELETE /v1/types/{name}`, and the conversion between `api::TypeSpec` and
//! `model::UserType` (which `apply -f` and `config export` use too).
//!
//! A definition is checked here with `UserType::check` (and its role programs with
//! `RolePrograms::check`) and, on the node that received it, that its programs exist; the
//! state machine checks it again, with every resource of the type, and refuses
//! deterministically. A type with promote, demote or notify programs is written as
//! `PutTypeWithRoles` (cluster format 3), one without as `PutType`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb::Command;
use model::{
    CommandSpec, HealthCheck, HealthProbe, IS_ALIVE_INTERVAL_DEFAULT, LOOKS_ALIVE_INTERVAL_DEFAULT,
    ParamKind, ParamSchema, ParamSpec, RoleProgram, RolePrograms, TypeKind, TypeWithRoles,
    UserType,
};

use super::resources::{Call, propose_all};
use super::{ApiState, error};

/// The stored user type called `name`, from this node's replica.
pub(crate) fn stored(state: &ApiState, name: &str) -> Option<UserType> {
    state
        .shared
        .read(|db| db.resources.types.get(name).cloned())
}

/// The stored role programs of the user type `name` (empty if none).
pub(crate) fn stored_roles(state: &ApiState, name: &str) -> RolePrograms {
    state.shared.read(|db| db.roles_of(name))
}

/// Every stored user type, by name.
pub(crate) fn all_stored(state: &ApiState) -> BTreeMap<String, UserType> {
    state.shared.read(|db| db.resources.types.clone())
}

/// Checks a spec and builds the definition with its role programs; every problem is
/// reported.
pub(crate) fn to_user_type(spec: &::api::TypeSpec) -> Result<TypeWithRoles, Vec<String>> {
    let mut problems = Vec::new();
    let mut definition = UserType::new(spec.name.clone(), spec.command.clone());
    definition.description = spec.description.clone();
    definition.run.args = spec.args.clone();
    definition.run.env = spec.env.clone();
    if let Some(kind) = &spec.kind {
        match TypeKind::parse(kind) {
            Ok(kind) => definition.kind = kind,
            Err(problem) => problems.push(problem),
        }
    }
    let timeout = |field: &str, text: &Option<String>, problems: &mut Vec<String>| {
        text.as_ref()
            .and_then(|text| duration(field, text, problems))
    };
    if let Some(d) = timeout("start_timeout", &spec.start_timeout, &mut problems) {
        definition.start_timeout = d;
    }
    if let Some(d) = timeout("stop_timeout", &spec.stop_timeout, &mut problems) {
        definition.stop_timeout = d;
    }
    let looks = spec.looks_alive.as_ref();
    definition.looks_alive = check(
        "looks_alive",
        looks,
        LOOKS_ALIVE_INTERVAL_DEFAULT,
        &mut problems,
    );
    let is = spec.is_alive.as_ref();
    definition.is_alive = check("is_alive", is, IS_ALIVE_INTERVAL_DEFAULT, &mut problems);
    definition.reload = spec.reload.as_ref().map(|command| CommandSpec {
        command: command.clone(),
        args: spec.reload_args.clone(),
        env: BTreeMap::new(),
    });
    let params: Vec<ParamSpec> = spec
        .params
        .iter()
        .filter_map(|param| param_spec(param).map_err(|p| problems.push(p)).ok())
        .collect();
    definition.schema = ParamSchema {
        params,
        reload: definition.reload.as_ref().map(|_| "reload".to_owned()),
    };
    if let Err(found) = definition.check() {
        problems.extend(found);
    }
    let roles = RolePrograms {
        promote: role("promote", spec.promote.as_ref(), &mut problems),
        demote: role("demote", spec.demote.as_ref(), &mut problems),
        notify: role("notify", spec.notify.as_ref(), &mut problems),
    };
    if let Err(found) = roles.check(&definition) {
        problems.extend(found);
    }
    if problems.is_empty() {
        Ok(TypeWithRoles { definition, roles })
    } else {
        Err(problems)
    }
}

fn role(
    field: &str,
    spec: Option<&::api::RoleSpec>,
    problems: &mut Vec<String>,
) -> Option<RoleProgram> {
    let spec = spec?;
    let timeout = match &spec.timeout {
        Some(text) => duration(&format!("{field}.timeout"), text, problems)?,
        None => model::ROLE_TIMEOUT_DEFAULT,
    };
    Some(RoleProgram {
        command: CommandSpec {
            command: spec.command.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
        },
        timeout,
    })
}

fn role_wire(program: &RoleProgram) -> ::api::RoleSpec {
    ::api::RoleSpec {
        command: program.command.command.clone(),
        args: program.command.args.clone(),
        env: program.command.env.clone(),
        timeout: Some(humantime::format_duration(program.timeout).to_string()),
    }
}

fn duration(field: &str, text: &str, problems: &mut Vec<String>) -> Option<Duration> {
    match model::parse_duration_text(text) {
        Ok(duration) => Some(duration),
        Err(invalid) => {
            problems.push(format!("{field}: {invalid}"));
            None
        }
    }
}

fn check(
    field: &str,
    spec: Option<&::api::CheckSpec>,
    interval_default: Duration,
    problems: &mut Vec<String>,
) -> HealthCheck {
    let mut check = HealthCheck::alive(interval_default);
    let Some(spec) = spec else {
        return check;
    };
    if let Some(text) = &spec.interval
        && let Some(interval) = duration(&format!("{field}.interval"), text, problems)
    {
        check.interval = interval;
    }
    if let Some(text) = &spec.timeout
        && let Some(timeout) = duration(&format!("{field}.timeout"), text, problems)
    {
        check.timeout = timeout;
    }
    check.probe = match (&spec.command, &spec.tcp, &spec.http) {
        (None, None, None) => HealthProbe::Alive,
        (Some(command), None, None) => HealthProbe::Command(CommandSpec {
            command: command.clone(),
            args: spec.args.clone(),
            env: BTreeMap::new(),
        }),
        (None, Some(address), None) => HealthProbe::Tcp(address.clone()),
        (None, None, Some(url)) => HealthProbe::Http(url.clone()),
        _ => {
            problems.push(format!(
                "{field}: give at most one of command, tcp and http (none checks that the \
                 process lives)"
            ));
            HealthProbe::Alive
        }
    };
    check
}

fn param_spec(param: &::api::TypeParameter) -> Result<ParamSpec, String> {
    let kind = match param.kind.as_str() {
        "string" => ParamKind::String,
        "integer" => ParamKind::Integer,
        "boolean" => ParamKind::Boolean,
        "enum" => ParamKind::Enum(param.choices.clone()),
        "duration" => ParamKind::Duration,
        "ip_address" => ParamKind::IpAddr,
        "port" => ParamKind::Port,
        "path" => ParamKind::Path,
        other => {
            return Err(format!(
                "param {}: kind {other:?} is not one of string, integer, boolean, enum, \
                 duration, ip_address, port, path",
                param.name
            ));
        }
    };
    if !param.choices.is_empty() && !matches!(kind, ParamKind::Enum(_)) {
        return Err(format!(
            "param {}: choices are only for kind \"enum\"",
            param.name
        ));
    }
    Ok(ParamSpec {
        name: param.name.clone(),
        kind,
        required: param.required,
        default: param.default.clone(),
        min: param.min,
        max: param.max,
        description: param.description.clone(),
        unique: param.unique,
        reloadable: param.reloadable,
    })
}

/// The spec of a stored definition with its role programs, as `type show --json` and
/// `config export` give it.
pub(crate) fn to_type_spec(definition: &UserType, roles: &RolePrograms) -> ::api::TypeSpec {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    let check = |check: &HealthCheck| {
        let mut spec = ::api::CheckSpec {
            interval: Some(show(check.interval)),
            timeout: Some(show(check.timeout)),
            ..Default::default()
        };
        match &check.probe {
            HealthProbe::Alive => {}
            HealthProbe::Command(command) => {
                spec.command = Some(command.command.clone());
                spec.args = command.args.clone();
            }
            HealthProbe::Tcp(address) => spec.tcp = Some(address.clone()),
            HealthProbe::Http(url) => spec.http = Some(url.clone()),
        }
        spec
    };
    ::api::TypeSpec {
        name: definition.name.clone(),
        description: definition.description.clone(),
        command: definition.run.command.clone(),
        args: definition.run.args.clone(),
        env: definition.run.env.clone(),
        kind: Some(definition.kind.as_str().to_owned()),
        start_timeout: Some(show(definition.start_timeout)),
        stop_timeout: Some(show(definition.stop_timeout)),
        looks_alive: Some(check(&definition.looks_alive)),
        is_alive: Some(check(&definition.is_alive)),
        reload: definition.reload.as_ref().map(|r| r.command.clone()),
        reload_args: definition
            .reload
            .as_ref()
            .map(|r| r.args.clone())
            .unwrap_or_default(),
        params: definition.schema.params.iter().map(param_wire).collect(),
        promote: roles.promote.as_ref().map(role_wire),
        demote: roles.demote.as_ref().map(role_wire),
        notify: roles.notify.as_ref().map(role_wire),
    }
}

/// A parameter as it was defined (unlike `type show`, a port's range is not filled in, so
/// an exported type applies unchanged).
fn param_wire(spec: &ParamSpec) -> ::api::TypeParameter {
    let (kind, choices) = match &spec.kind {
        ParamKind::String => ("string", Vec::new()),
        ParamKind::Integer => ("integer", Vec::new()),
        ParamKind::Boolean => ("boolean", Vec::new()),
        ParamKind::Enum(words) => ("enum", words.clone()),
        ParamKind::Duration => ("duration", Vec::new()),
        ParamKind::IpAddr => ("ip_address", Vec::new()),
        ParamKind::Port => ("port", Vec::new()),
        ParamKind::Path => ("path", Vec::new()),
    };
    ::api::TypeParameter {
        name: spec.name.clone(),
        kind: kind.to_owned(),
        choices,
        required: spec.required,
        default: spec.default.clone(),
        min: spec.min,
        max: spec.max,
        unique: spec.unique,
        reloadable: spec.reloadable,
        description: spec.description.clone(),
    }
}

/// That every program of the definition exists here; each problem names the fix.
fn check_programs(defined: &TypeWithRoles) -> Result<(), Vec<String>> {
    let roles = defined.roles.programs();
    let role_commands = roles
        .iter()
        .map(|(field, program)| (*field, &program.command));
    let problems: Vec<String> = defined
        .definition
        .commands()
        .into_iter()
        .chain(role_commands)
        .filter(|(_, command)| !is_runnable(&command.command))
        .map(|(field, command)| {
            format!(
                "{field}: {:?} is not an executable program on this node (the one that \
                 checked): install it on every node that may run the type, or give its \
                 absolute path",
                command.command
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn is_runnable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &std::path::Path| {
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|search| {
        std::env::split_paths(&search).any(|dir| executable(&dir.join(program)))
    })
}

/// Checks a spec completely, as a create, an update and `apply -f` do.
pub(crate) fn checked(spec: &::api::TypeSpec) -> Result<TypeWithRoles, Vec<String>> {
    let definition = to_user_type(spec)?;
    check_programs(&definition)?;
    Ok(definition)
}

async fn put(state: &ApiState, call: Call, name: Option<String>, create: bool) -> Response {
    let mut spec: ::api::TypeSpec = match serde_json::from_slice(&call.body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad request body: {e}")),
    };
    if let Some(name) = name {
        if !spec.name.is_empty() && spec.name != name {
            let message = format!("name: body says {:?}, path says {name:?}", spec.name);
            return error(StatusCode::BAD_REQUEST, message);
        }
        spec.name = name;
    }
    let TypeWithRoles { definition, roles } = match checked(&spec) {
        Ok(defined) => defined,
        Err(problems) => return error(StatusCode::BAD_REQUEST, problems.join("; ")),
    };
    let name = definition.name.clone();
    // A type without role programs goes as `PutType`, which every cluster format takes
    // (and which removes programs it had).
    let command = if roles.is_empty() {
        Command::PutType {
            definition: Box::new(definition),
            create,
        }
    } else {
        Command::PutTypeWithRoles {
            definition: Box::new(definition),
            roles: Box::new(roles),
            create,
        }
    };
    propose_all(
        state,
        &call,
        vec![command],
        |state| match super::types::user_detail(state, &name) {
            Some(detail) => Json(detail).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("type {name} does not exist")),
        },
    )
    .await
}

/// `POST /v1/types`.
pub(crate) async fn create(State(state): State<ApiState>, call: Call) -> Response {
    put(&state, call, None, true).await
}

/// `PUT /v1/types/{name}`.
pub(crate) async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    put(&state, call, Some(name), false).await
}

/// `DELETE /v1/types/{name}`.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let command = Command::DeleteType { name: name.clone() };
    propose_all(&state, &call, vec![command], |_| {
        Json(serde_json::json!({ "deleted": name })).into_response()
    })
    .await
}
