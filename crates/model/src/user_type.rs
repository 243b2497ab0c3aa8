//! Resource types defined by operators as data (MSCS's "new resource type", without a DLL):
//! a name, a parameter schema, how an instance runs, two health checks at two depths, and
//! timeouts. They live in the cmdb; the `resource-agents` crate runs them.
//!
//! [`UserType::check`] is the one validation of a definition, a pure function: the API,
//! the CLI's dry runs and the cmdb's state machine all give the same answers. Checks that
//! need the file system (that the command exists on a node) are made where the definition
//! arrives, by the resource agent.
//!
//! Persisted in the Raft log and in snapshots: fields are only appended, enums only gain
//! variants at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{NameKind, ParamKind, ParamSchema, check_name};

#[cfg(test)]
mod tests;

/// The names of the built-in types, which a user type may not take.
pub const BUILTIN_TYPE_NAMES: [&str; 3] = ["process", "vip", "lb"];
/// The shortest interval of a health check.
pub const CHECK_INTERVAL_MIN: Duration = Duration::from_millis(100);
/// The longest interval of a health check.
pub const CHECK_INTERVAL_MAX: Duration = Duration::from_secs(24 * 3600);
/// The longest timeout of any operation of a user type.
pub const TYPE_TIMEOUT_MAX: Duration = Duration::from_secs(3600);
/// The most parameters a user type may declare.
pub const TYPE_PARAM_COUNT_MAX: usize = 64;
/// The most arguments or environment variables of one command.
pub const TYPE_COMMAND_ITEMS_MAX: usize = 64;
/// The default interval of the cheap check (LooksAlive).
pub const LOOKS_ALIVE_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// The default interval of the thorough check (IsAlive).
pub const IS_ALIVE_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// The default timeout of a promote, demote or notify program.
pub const ROLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);

/// A resource type defined by an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserType {
    /// The name given as a resource's type; not a built-in name, not `ocf:...`.
    pub name: String,
    /// One line for operators: what an instance of this type is.
    pub description: String,
    /// The parameters an instance takes; `reload` is `Some("reload")` exactly when
    /// [`UserType::reload`] is set, so reloadable parameters change without a restart.
    pub schema: ParamSchema,
    /// How an instance runs: one supervised process.
    pub run: CommandSpec,
    /// Applies reloadable parameters to a running instance: run with the new parameters in
    /// its environment; exit status 0 means applied. `None`: every change restarts.
    pub reload: Option<CommandSpec>,
    /// The cheap, frequent check (MSCS's LooksAlive); by default, that the process lives.
    pub looks_alive: HealthCheck,
    /// The thorough, rarer check (MSCS's IsAlive).
    pub is_alive: HealthCheck,
    /// How long a start may take (including the first IsAlive passing).
    pub start_timeout: Duration,
    /// How long a stop may take before the process group is killed.
    pub stop_timeout: Duration,
    /// How a resource of this type runs when its definition does not say.
    pub kind: TypeKind,
}

/// A program with its arguments and environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// An absolute path, or a name looked up in `PATH` on the node.
    pub command: String,
    /// Its arguments, one word each.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
}

/// One program that changes an instance's role or tells it of one: run with the
/// instance's environment (as its checks are), exit status 0 meaning done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleProgram {
    /// The program, its arguments and its own environment.
    pub command: CommandSpec,
    /// How long it may run before it is killed and counts as failed.
    pub timeout: Duration,
}

/// The programs that promote, demote and notify the instances of a promotable user type
/// whose application does not speak the application protocol (one connected through it
/// is asked instead, and these do not run for it).
///
/// Kept by the cmdb beside the type, in a table of its own (cluster format 3), because
/// [`UserType`]'s persisted layout is fixed: a new field there would change every record
/// that holds a type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePrograms {
    /// Promotes a running instance (OCF's `promote`).
    pub promote: Option<RoleProgram>,
    /// Demotes a promoted instance (OCF's `demote`); also what the lease watchdog runs
    /// when the agent cannot demote in time.
    pub demote: Option<RoleProgram>,
    /// Told of the clone's starts, stops, promotions and demotions, before and after each,
    /// with Pacemaker's `OCF_RESKEY_CRM_meta_notify_*` variables (OCF's `notify`).
    pub notify: Option<RoleProgram>,
}

impl RolePrograms {
    /// Whether no program is given.
    pub fn is_empty(&self) -> bool {
        self.promote.is_none() && self.demote.is_none() && self.notify.is_none()
    }

    /// The programs given, with their field names.
    pub fn programs(&self) -> Vec<(&'static str, &RoleProgram)> {
        [
            ("promote", &self.promote),
            ("demote", &self.demote),
            ("notify", &self.notify),
        ]
        .into_iter()
        .filter_map(|(field, program)| program.as_ref().map(|program| (field, program)))
        .collect()
    }

    /// Checks the programs of `definition`'s type: every problem is a sentence naming the
    /// field and the fix. Pure, like [`UserType::check`].
    pub fn check(&self, definition: &UserType) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let given: Vec<&str> = self.programs().iter().map(|(field, _)| *field).collect();
        if !given.is_empty() && definition.kind != TypeKind::Promotable {
            problems.push(format!(
                "{}: type {} is of kind {}, and only instances of a promotable type are \
                 promoted: give it kind promotable (--kind promotable), or drop {}",
                given.join(", "),
                definition.name,
                definition.kind.as_str(),
                given.join(" and ")
            ));
        }
        if self.promote.is_some() != self.demote.is_some() {
            problems.push(
                "promote and demote go together: give both, since a promoted instance must \
                 be demotable"
                    .into(),
            );
        }
        for (field, program) in self.programs() {
            check_command(field, &program.command, &mut problems);
            check_timeout(&format!("{field}.timeout"), program.timeout, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// A user type as the nodes run it: its definition and its role programs, which the cmdb
/// keeps apart (see [`RolePrograms`]). Not persisted as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeWithRoles {
    /// The type's definition.
    pub definition: UserType,
    /// Its promote, demote and notify programs, if any.
    pub roles: RolePrograms,
}

/// One health check: what it checks, how often, and for how long at most.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What the check does.
    pub probe: HealthProbe,
    /// How often it runs while an instance is active.
    pub interval: Duration,
    /// How long one check may take before it counts as failed.
    pub timeout: Duration,
}

/// What a health check does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthProbe {
    /// The instance's process is alive (and not a zombie).
    Alive,
    /// A command, run with the instance's environment: exit status 0 means healthy.
    Command(CommandSpec),
    /// `host:port` accepts a TCP connection.
    Tcp(String),
    /// `http://host:port/path` answers 2xx or 3xx.
    Http(String),
}

/// How resources of a type run by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeKind {
    /// One instance cluster-wide, under the node's lease.
    Unique,
    /// One instance on every eligible node.
    Clone,
    /// Several instances, some promoted: through the application protocol when the
    /// instance's application is connected, else through the type's role programs
    /// ([`RolePrograms`]).
    Promotable,
}

impl TypeKind {
    /// The word the API, the CLI and files use.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeKind::Unique => "unique",
            TypeKind::Clone => "clone",
            TypeKind::Promotable => "promotable",
        }
    }

    /// Parses the word; the error is the message an operator reads.
    pub fn parse(text: &str) -> Result<TypeKind, String> {
        match text {
            "unique" => Ok(TypeKind::Unique),
            "clone" => Ok(TypeKind::Clone),
            "promotable" => Ok(TypeKind::Promotable),
            other => Err(format!(
                "kind: {other:?} is not one of unique, clone, promotable"
            )),
        }
    }
}

impl HealthCheck {
    /// The default check at the given interval: the process is alive.
    pub fn alive(interval: Duration) -> HealthCheck {
        HealthCheck {
            probe: HealthProbe::Alive,
            interval,
            timeout: Duration::from_secs(20),
        }
    }
}

impl UserType {
    /// A unique type running `command`, with no parameters and the default checks.
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> UserType {
        UserType {
            name: name.into(),
            description: String::new(),
            schema: ParamSchema::new(Vec::new()),
            run: CommandSpec {
                command: command.into(),
                args: Vec::new(),
                env: BTreeMap::new(),
            },
            reload: None,
            looks_alive: HealthCheck::alive(LOOKS_ALIVE_INTERVAL_DEFAULT),
            is_alive: HealthCheck::alive(IS_ALIVE_INTERVAL_DEFAULT),
            start_timeout: Duration::from_secs(20),
            stop_timeout: Duration::from_secs(20),
            kind: TypeKind::Unique,
        }
    }

    /// Checks the definition and returns every problem, each a sentence naming the field
    /// and the fix. Pure: whether the command exists on a node is checked elsewhere.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        check_type_name(&self.name, &mut problems);
        check_schema(&self.schema, &mut problems);
        if self.reload.is_none() && self.schema.params.iter().any(|spec| spec.reloadable) {
            let names: Vec<&str> = reloadable_names(&self.schema);
            problems.push(format!(
                "params: {} reloadable but the type has no reload command: give one, or \
                 make them restart the instance",
                names.join(", ")
            ));
        }
        if self.reload.is_some() != self.schema.reload.is_some() {
            problems.push(
                "schema.reload must be set exactly when the type has a reload command".into(),
            );
        }
        check_command("command", &self.run, &mut problems);
        if let Some(reload) = &self.reload {
            check_command("reload", reload, &mut problems);
        }
        check_health("looks_alive", &self.looks_alive, &mut problems);
        check_health("is_alive", &self.is_alive, &mut problems);
        check_timeout("start_timeout", self.start_timeout, &mut problems);
        check_timeout("stop_timeout", self.stop_timeout, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The commands whose program must exist on the node: run, reload and a command check.
    pub fn commands(&self) -> Vec<(&'static str, &CommandSpec)> {
        let mut commands = vec![("command", &self.run)];
        if let Some(reload) = &self.reload {
            commands.push(("reload", reload));
        }
        for (field, check) in [
            ("looks_alive", &self.looks_alive),
            ("is_alive", &self.is_alive),
        ] {
            if let HealthProbe::Command(command) = &check.probe {
                commands.push((field, command));
            }
        }
        commands
    }
}

fn reloadable_names(schema: &ParamSchema) -> Vec<&str> {
    schema
        .params
        .iter()
        .filter(|spec| spec.reloadable)
        .map(|spec| spec.name.as_str())
        .collect()
}

fn check_type_name(name: &str, problems: &mut Vec<String>) {
    if BUILTIN_TYPE_NAMES.contains(&name) {
        problems.push(format!(
            "name: {name:?} is a built-in type: choose another name"
        ));
    } else if name.to_ascii_lowercase().starts_with("ocf:") {
        problems.push(format!(
            "name: {name:?} is an OCF type name (ocf:<provider>:<agent>): choose a name \
             without ':'"
        ));
    } else if let Err(invalid) = check_name(NameKind::Type, name) {
        problems.push(format!("name: {invalid}"));
    }
}

/// A parameter name becomes part of an environment variable's name.
fn valid_variable_suffix(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_schema(schema: &ParamSchema, problems: &mut Vec<String>) {
    if schema.params.len() > TYPE_PARAM_COUNT_MAX {
        problems.push(format!(
            "params: {} parameters, more than the {TYPE_PARAM_COUNT_MAX} a type may declare",
            schema.params.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for spec in &schema.params {
        let name = &spec.name;
        if !valid_variable_suffix(name) {
            problems.push(format!(
                "param {name:?}: a parameter name is part of an environment variable's \
                 name: use ASCII letters, digits and '_', not starting with a digit"
            ));
        }
        if !seen.insert(name.as_str()) {
            problems.push(format!("param {name}: declared twice"));
        }
        let ranged = matches!(spec.kind, ParamKind::Integer | ParamKind::Port);
        if !ranged && (spec.min.is_some() || spec.max.is_some()) {
            problems.push(format!(
                "param {name}: min and max apply only to integer and port parameters, \
                 not to {}",
                spec.kind
            ));
        }
        if let (Some(min), Some(max)) = (spec.min, spec.max)
            && min > max
        {
            problems.push(format!(
                "param {name}: min {min} is greater than max {max}: swap them"
            ));
        }
        if let ParamKind::Enum(words) = &spec.kind
            && words.is_empty()
        {
            problems.push(format!("param {name}: an enum needs at least one value"));
        }
        if let Some(default) = &spec.default
            && let Err(error) = spec.check_value(default)
        {
            problems.push(format!("param {name}: the default is invalid: {error}"));
        }
        if spec.required && spec.default.is_some() {
            problems.push(format!(
                "param {name}: a required parameter cannot have a default (drop one of them)"
            ));
        }
    }
}

fn check_command(field: &str, command: &CommandSpec, problems: &mut Vec<String>) {
    let program = &command.command;
    if program.trim().is_empty() {
        problems.push(format!(
            "{field}: the command is empty: give a program to run"
        ));
    } else if program.contains(char::is_whitespace) {
        problems.push(format!(
            "{field}: {program:?} is a command line: give the program alone and its \
             arguments as args"
        ));
    } else if program.contains('/') && !program.starts_with('/') {
        problems.push(format!(
            "{field}: {program:?} is a relative path: give an absolute path or a name \
             looked up in PATH"
        ));
    }
    if command.args.len() > TYPE_COMMAND_ITEMS_MAX || command.env.len() > TYPE_COMMAND_ITEMS_MAX {
        problems.push(format!(
            "{field}: at most {TYPE_COMMAND_ITEMS_MAX} arguments and {TYPE_COMMAND_ITEMS_MAX} \
             environment variables"
        ));
    }
    if command.args.iter().any(|arg| arg.contains('\0')) {
        problems.push(format!("{field}: an argument contains a NUL byte"));
    }
    for key in command.env.keys() {
        if !valid_variable_suffix(key) {
            problems.push(format!(
                "{field}: env {key:?} is not a valid variable name (letters, digits, '_')"
            ));
        } else if key.starts_with("OCF_RESKEY_") || key.starts_with("ENCLUSTER_") {
            problems.push(format!(
                "{field}: env {key} is set by encluster itself: choose another name"
            ));
        }
    }
}

fn check_health(field: &str, check: &HealthCheck, problems: &mut Vec<String>) {
    if check.interval < CHECK_INTERVAL_MIN || check.interval > CHECK_INTERVAL_MAX {
        problems.push(format!(
            "{field}.interval: {} must be from {} to {}",
            show(check.interval),
            show(CHECK_INTERVAL_MIN),
            show(CHECK_INTERVAL_MAX)
        ));
    }
    check_timeout(&format!("{field}.timeout"), check.timeout, problems);
    match &check.probe {
        HealthProbe::Alive => {}
        HealthProbe::Command(command) => check_command(field, command, problems),
        HealthProbe::Tcp(address) => {
            let valid = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                problems.push(format!(
                    "{field}.tcp: {address:?} is not host:port, like 127.0.0.1:8080"
                ));
            }
        }
        HealthProbe::Http(url) => {
            if !url.starts_with("http://") || url.chars().any(|c| c.is_whitespace()) {
                problems.push(format!(
                    "{field}.http: {url:?} is not a URL like http://127.0.0.1:8080/health \
                     (https is not supported)"
                ));
            }
        }
    }
}

fn check_timeout(field: &str, timeout: Duration, problems: &mut Vec<String>) {
    if timeout.is_zero() || timeout > TYPE_TIMEOUT_MAX {
        problems.push(format!(
            "{field}: {} must be longer than zero and at most {}",
            show(timeout),
            show(TYPE_TIMEOUT_MAX)
        ));
    }
}

fn show(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The environment variables that carry a resource's parameters to its programs: each
/// parameter as `OCF_RESKEY_<name>` (as OCF agents read them) and `ENCLUSTER_PARAM_<name>`.
pub fn param_environment(params: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut variables = Vec::with_capacity(params.len() * 2);
    for (name, value) in params {
        variables.push((format!("OCF_RESKEY_{name}"), value.clone()));
        variables.push((format!("ENCLUSTER_PARAM_{name}"), value.clone()));
    }
    variables
}
