//! `encluster type create|update|delete` for user-defined resource types, from flags, a
//! TOML file, or both (flags win), and the table `type show` prints for them.
//!
//! Building the definition from flags and rendering it are pure functions, tested without
//! an agent; the agent checks the definition itself and names every problem.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use comfy_table::{Table, presets};

use crate::commands::Output;
use crate::config::Target;
use crate::errors::explain;
use crate::limits::CLUSTER_FILE_BYTES_MAX;

/// How a user type is defined on the command line; every flag is optional on `update`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TypeDefineArgs {
    /// A TOML file with the type's fields (as in a `[[type]]` section of a cluster file),
    /// or a cluster file with one `[[type]]`; flags override its fields.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// One line: what an instance of the type is.
    #[arg(long)]
    pub description: Option<String>,
    /// The program an instance runs: an absolute path or a name in PATH.
    #[arg(long)]
    pub command: Option<String>,
    /// One argument of the program (repeat for more; replaces the file's arguments).
    #[arg(long = "arg", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// An environment variable of the instance, KEY=VALUE (repeat for more).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// A parameter: NAME:KIND followed by comma-separated attributes, e.g.
    /// `MaxUser:integer,1..10,default=5,reloadable`. Kinds: string, integer, boolean,
    /// duration, ip_address, port, path, enum (with `choices=a|b|c`). Attributes: MIN..MAX,
    /// min=N, max=N, default=V, required, reloadable, unique, description=TEXT (last).
    /// On update, a parameter of the same name is replaced.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// Remove a parameter (update only).
    #[arg(long = "remove-param")]
    pub remove_params: Vec<String>,
    /// How a resource of the type runs by default: unique, clone or promotable.
    #[arg(long)]
    pub kind: Option<String>,
    /// How long a start may take, e.g. 30s.
    #[arg(long)]
    pub start_timeout: Option<String>,
    /// How long a stop may take before the process group is killed.
    #[arg(long)]
    pub stop_timeout: Option<String>,
    /// The cheap check (LooksAlive): alive, tcp:HOST:PORT, http://HOST:PORT/PATH, or
    /// command:PROGRAM (its arguments with --looks-alive-arg).
    #[arg(long)]
    pub looks_alive: Option<String>,
    /// An argument of the LooksAlive command (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub looks_alive_arg: Vec<String>,
    /// How often LooksAlive runs, e.g. 5s.
    #[arg(long)]
    pub looks_alive_interval: Option<String>,
    /// How long one LooksAlive may take.
    #[arg(long)]
    pub looks_alive_timeout: Option<String>,
    /// The thorough check (IsAlive), in the same forms as --looks-alive.
    #[arg(long)]
    pub is_alive: Option<String>,
    /// An argument of the IsAlive command (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub is_alive_arg: Vec<String>,
    /// How often IsAlive runs, e.g. 1m.
    #[arg(long)]
    pub is_alive_interval: Option<String>,
    /// How long one IsAlive may take.
    #[arg(long)]
    pub is_alive_timeout: Option<String>,
    /// A program that applies reloadable parameters to a running instance (exit 0: done).
    #[arg(long)]
    pub reload: Option<String>,
    /// An argument of the reload program (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub reload_arg: Vec<String>,
    /// For a promotable type: the program that promotes a running instance whose
    /// application is not connected (exit 0: done); give --demote with it.
    #[arg(long)]
    pub promote: Option<String>,
    /// An argument of the promote program (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub promote_arg: Vec<String>,
    /// For a promotable type: the program that demotes a promoted instance.
    #[arg(long)]
    pub demote: Option<String>,
    /// An argument of the demote program (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub demote_arg: Vec<String>,
    /// For a promotable type: the program told of the clone's starts, stops, promotions
    /// and demotions (Pacemaker's notify variables in its environment).
    #[arg(long)]
    pub notify: Option<String>,
    /// An argument of the notify program (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    pub notify_arg: Vec<String>,
    /// How long each of the promote, demote and notify programs given may run, e.g. 30s.
    #[arg(long)]
    pub role_timeout: Option<String>,
    /// Drop the promote, demote and notify programs (update only).
    #[arg(long, conflicts_with_all = ["promote", "demote", "notify"])]
    pub no_role_programs: bool,
}

/// Reads a type file: the type's own fields, or a cluster file with exactly one `[[type]]`.
pub(crate) fn load_type_file(path: &Path) -> anyhow::Result<api::TypeSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the type file {}", path.display()))?;
    if text.len() as u64 > CLUSTER_FILE_BYTES_MAX {
        bail!("the type file {} is too large", path.display());
    }
    parse_type_file(&text).with_context(|| format!("{} is not a valid type file", path.display()))
}

/// Parses a type file's TOML (see [`load_type_file`]).
pub fn parse_type_file(text: &str) -> anyhow::Result<api::TypeSpec> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    if table.contains_key("type") {
        let spec = crate::apply::parse_cluster_file(text)?;
        let count = spec.types.len();
        return match <[api::TypeSpec; 1]>::try_from(spec.types) {
            Ok([only]) => Ok(only),
            Err(_) => bail!(
                "the file has {count} [[type]] sections: give one type, or apply the file \
                 with `encluster apply -f`"
            ),
        };
    }
    let mut wrapped = toml::Table::new();
    wrapped.insert(
        "type".into(),
        toml::Value::Array(vec![toml::Value::Table(table)]),
    );
    let wrapped = toml::to_string(&wrapped).expect("a TOML table always serializes");
    parse_type_file(&wrapped)
}

/// The definition to send: `base` (the stored one on update, or the file's), with the
/// file's fields and then the flags on top.
pub(crate) fn build_spec(
    name: &str,
    base: Option<api::TypeSpec>,
    args: &TypeDefineArgs,
    file: Option<api::TypeSpec>,
) -> Result<api::TypeSpec, String> {
    let mut spec = file.or(base).unwrap_or_default();
    spec.name = name.to_owned();
    let set = |field: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            field.clone_from(value);
        }
    };
    if let Some(description) = &args.description {
        spec.description.clone_from(description);
    }
    if let Some(command) = &args.command {
        spec.command.clone_from(command);
    }
    if !args.args.is_empty() {
        spec.args.clone_from(&args.args);
    }
    for pair in &args.env {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--env {pair:?}: give KEY=VALUE"))?;
        spec.env.insert(key.to_owned(), value.to_owned());
    }
    set(&mut spec.kind, &args.kind);
    set(&mut spec.start_timeout, &args.start_timeout);
    set(&mut spec.stop_timeout, &args.stop_timeout);
    set(&mut spec.reload, &args.reload);
    if !args.reload_arg.is_empty() {
        spec.reload_args.clone_from(&args.reload_arg);
    }
    apply_roles(&mut spec, args)?;
    let looks = (
        &args.looks_alive,
        &args.looks_alive_arg,
        &args.looks_alive_interval,
    );
    apply_check(
        &mut spec.looks_alive,
        looks,
        &args.looks_alive_timeout,
        "--looks-alive",
    )?;
    let is = (&args.is_alive, &args.is_alive_arg, &args.is_alive_interval);
    apply_check(&mut spec.is_alive, is, &args.is_alive_timeout, "--is-alive")?;
    for name in &args.remove_params {
        let before = spec.params.len();
        spec.params.retain(|param| &param.name != name);
        if spec.params.len() == before {
            return Err(format!(
                "--remove-param {name}: the type has no such parameter"
            ));
        }
    }
    for text in &args.params {
        let param = parse_param(text)?;
        match spec.params.iter_mut().find(|p| p.name == param.name) {
            Some(existing) => *existing = param,
            None => spec.params.push(param),
        }
    }
    if spec.command.is_empty() {
        return Err("--command: give the program an instance runs (or a file with -f)".into());
    }
    Ok(spec)
}

/// The promote, demote and notify flags on top of the spec's programs.
fn apply_roles(spec: &mut api::TypeSpec, args: &TypeDefineArgs) -> Result<(), String> {
    if args.no_role_programs {
        spec.promote = None;
        spec.demote = None;
        spec.notify = None;
    }
    let flags = [
        (
            &mut spec.promote,
            &args.promote,
            &args.promote_arg,
            "--promote",
        ),
        (&mut spec.demote, &args.demote, &args.demote_arg, "--demote"),
        (&mut spec.notify, &args.notify, &args.notify_arg, "--notify"),
    ];
    for (role, program, role_args, flag) in flags {
        if let Some(program) = program {
            *role = Some(api::RoleSpec {
                command: program.clone(),
                ..Default::default()
            });
        }
        if !role_args.is_empty() {
            let Some(role) = role.as_mut() else {
                return Err(format!("{flag}-arg: give the program with {flag}"));
            };
            role.args.clone_from(role_args);
        }
        if let (Some(role), Some(timeout)) = (role.as_mut(), &args.role_timeout)
            && program.is_some()
        {
            role.timeout = Some(timeout.clone());
        }
    }
    Ok(())
}

type CheckFlags<'a> = (&'a Option<String>, &'a Vec<String>, &'a Option<String>);

fn apply_check(
    check: &mut Option<api::CheckSpec>,
    (what, args, interval): CheckFlags<'_>,
    timeout: &Option<String>,
    flag: &str,
) -> Result<(), String> {
    if what.is_none() && args.is_empty() && interval.is_none() && timeout.is_none() {
        return Ok(());
    }
    let spec = check.get_or_insert_with(Default::default);
    if let Some(what) = what {
        spec.command = None;
        spec.tcp = None;
        spec.http = None;
        spec.args.clear();
        if let Some(program) = what.strip_prefix("command:") {
            spec.command = Some(program.to_owned());
        } else if let Some(address) = what.strip_prefix("tcp:") {
            spec.tcp = Some(address.to_owned());
        } else if what.starts_with("http://") {
            spec.http = Some(what.clone());
        } else if what != "alive" {
            return Err(format!(
                "{flag} {what:?}: give alive, tcp:HOST:PORT, http://HOST:PORT/PATH or \
                 command:PROGRAM"
            ));
        }
    }
    if !args.is_empty() {
        spec.args.clone_from(args);
    }
    if interval.is_some() {
        spec.interval.clone_from(interval);
    }
    if timeout.is_some() {
        spec.timeout.clone_from(timeout);
    }
    Ok(())
}

/// Parses `--param NAME:KIND[,attribute...]`.
pub(crate) fn parse_param(text: &str) -> Result<api::TypeParameter, String> {
    let usage = "write NAME:KIND followed by attributes, like MaxUser:integer,1..10,default=5";
    let (head, rest) = text.split_once(',').unwrap_or((text, ""));
    let (name, kind) = head
        .split_once(':')
        .ok_or_else(|| format!("--param {text:?}: {usage}"))?;
    let mut param = api::TypeParameter {
        name: name.trim().to_owned(),
        kind: kind.trim().to_owned(),
        ..Default::default()
    };
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(description) = rest.strip_prefix("description=") {
            param.description = description.to_owned();
            break;
        }
        let (attribute, tail) = rest.split_once(',').unwrap_or((rest, ""));
        rest = tail;
        let bad = || format!("--param {text:?}: attribute {attribute:?} is unknown; {usage}");
        let number = |value: &str| {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("--param {text:?}: {value:?} is not an integer"))
        };
        match attribute.trim().split_once('=') {
            Some(("min", value)) => param.min = Some(number(value)?),
            Some(("max", value)) => param.max = Some(number(value)?),
            Some(("default", value)) => param.default = Some(value.to_owned()),
            Some(("choices", value)) => {
                param.choices = value.split('|').map(str::to_owned).collect();
            }
            Some(_) => return Err(bad()),
            None => match attribute.trim() {
                "required" => param.required = true,
                "reloadable" => param.reloadable = true,
                "unique" => param.unique = true,
                range if range.contains("..") => {
                    let (min, max) = range.split_once("..").expect("checked");
                    param.min = (!min.is_empty()).then(|| number(min)).transpose()?;
                    param.max = (!max.is_empty()).then(|| number(max)).transpose()?;
                }
                _ => return Err(bad()),
            },
        }
    }
    Ok(param)
}

/// A user type as `type show` prints it: the definition, then the schema as a table.
pub(crate) fn render_user_type(detail: &api::TypeDetail) -> String {
    let mut text = format!("{} (user type)", detail.name);
    if !detail.description.is_empty() {
        text.push_str(&format!(": {}", detail.description));
    }
    text.push('\n');
    if let Some(spec) = &detail.definition {
        text.push_str(&definition_lines(spec));
    }
    if detail.parameters.is_empty() {
        text.push_str("parameters: none\n");
        return text;
    }
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "PARAMETER",
            "KIND",
            "RANGE",
            "DEFAULT",
            "REQUIRED",
            "ON CHANGE",
            "DESCRIPTION",
        ]);
    for parameter in &detail.parameters {
        let kind = match parameter.kind.as_str() {
            "enum" => format!("one of {}", parameter.choices.join("|")),
            kind => kind.replace('_', " "),
        };
        let range = match (parameter.min, parameter.max) {
            (None, None) => String::new(),
            (min, max) => format!(
                "{}..{}",
                min.map(|m| m.to_string()).unwrap_or_default(),
                max.map(|m| m.to_string()).unwrap_or_default()
            ),
        };
        table.add_row(vec![
            parameter.name.clone(),
            kind,
            range,
            parameter.default.clone().unwrap_or_default(),
            if parameter.required { "yes" } else { "" }.to_owned(),
            if parameter.reloadable {
                "live"
            } else {
                "restart"
            }
            .to_owned(),
            parameter.description.clone(),
        ]);
    }
    text.push_str(&table.to_string());
    text.push('\n');
    text
}

fn definition_lines(spec: &api::TypeSpec) -> String {
    let mut command = vec![spec.command.clone()];
    command.extend(spec.args.iter().cloned());
    let mut text = format!("command: {}\n", command.join(" "));
    for (key, value) in &spec.env {
        text.push_str(&format!("env: {key}={value}\n"));
    }
    let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "default".into());
    text.push_str(&format!(
        "kind: {}; start timeout {}; stop timeout {}\n",
        show(&spec.kind),
        show(&spec.start_timeout),
        show(&spec.stop_timeout)
    ));
    for (label, check) in [
        ("looks alive", &spec.looks_alive),
        ("is alive", &spec.is_alive),
    ] {
        let check = check.clone().unwrap_or_default();
        let what = match (&check.command, &check.tcp, &check.http) {
            (Some(command), _, _) => {
                let mut words = vec![command.clone()];
                words.extend(check.args.iter().cloned());
                format!("command {}", words.join(" "))
            }
            (_, Some(address), _) => format!("tcp {address}"),
            (_, _, Some(url)) => format!("http {url}"),
            _ => "the process lives".to_owned(),
        };
        text.push_str(&format!(
            "{label}: {what}, every {} (timeout {})\n",
            show(&check.interval),
            show(&check.timeout)
        ));
    }
    if let Some(reload) = &spec.reload {
        text.push_str(&format!("reload: {reload}\n"));
    }
    for (label, role) in [
        ("promote", &spec.promote),
        ("demote", &spec.demote),
        ("notify", &spec.notify),
    ] {
        if let Some(role) = role {
            let mut words = vec![role.command.clone()];
            words.extend(role.args.iter().cloned());
            let timeout = role.timeout.clone().unwrap_or_else(|| "default".into());
            text.push_str(&format!(
                "{label}: {} (timeout {timeout})\n",
                words.join(" ")
            ));
        }
    }
    text
}

/// `type create` and `type update`: build the definition, send it, show what was stored.
pub(crate) async fn define(
    client: &api::Client,
    target: &Target,
    name: &str,
    args: &TypeDefineArgs,
    create: bool,
) -> anyhow::Result<()> {
    let file = args.file.as_deref().map(load_type_file).transpose()?;
    if let Some(file) = &file
        && !file.name.is_empty()
        && file.name != name
    {
        bail!("the file defines type {:?}, not {name:?}", file.name);
    }
    let base = if create {
        None
    } else {
        let detail = client
            .resource_type(name)
            .await
            .map_err(|e| explain(e, target))?;
        match detail.definition {
            Some(definition) => Some(definition),
            None => bail!(
                "{name} is a {} type: only user types can be updated",
                detail.class
            ),
        }
    };
    let spec = build_spec(name, base, args, file).map_err(anyhow::Error::msg)?;
    let detail = if create {
        client.create_type(&spec).await
    } else {
        client.update_type(&spec).await
    }
    .map_err(|e| explain(e, target))?;
    let verb = if create { "created" } else { "updated" };
    let mut output = Output::stdout();
    output.text(&format!(
        "type {name} {verb}\n{}",
        render_user_type(&detail)
    ))
}

/// `type delete`.
pub(crate) async fn delete(
    client: &api::Client,
    target: &Target,
    name: &str,
) -> anyhow::Result<()> {
    client
        .delete_type(name)
        .await
        .map_err(|e| explain(e, target))?;
    Output::stdout().text(&format!("type {name} deleted\n"))
}
