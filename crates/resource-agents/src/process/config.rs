//! The parameters of the `process` resource type, and their parsing into a launch plan.

use super::probe::Probe;
use model::{ParamKind, ParamSchema, ParamSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `process` type's schema.
pub(crate) fn schema() -> ParamSchema {
    ParamSchema::new(vec![
        ParamSpec::new(
            "command",
            ParamKind::String,
            "the program to run: an absolute path, or a name looked up in PATH (no \
             arguments: they go in args)",
        )
        .required(),
        ParamSpec::new(
            "args",
            ParamKind::String,
            "its arguments, quoted as in a shell ('-c' 'echo hi'), or a JSON array of \
             strings ([\"-c\", \"echo hi\"]); stored as shell words",
        ),
        ParamSpec::new(
            "env",
            ParamKind::String,
            "extra environment variables as KEY=VALUE pairs separated by ';'",
        ),
        ParamSpec::new(
            "cwd",
            ParamKind::Path,
            "the working directory, an absolute path (default: the resource's state \
             directory)",
        ),
        ParamSpec::new(
            "probe_tcp",
            ParamKind::String,
            "host:port that must accept a TCP connection for the process to count as healthy",
        ),
        ParamSpec::new(
            "probe_http",
            ParamKind::String,
            "http://host:port/path that must answer 2xx or 3xx for the process to count as healthy",
        ),
        ParamSpec::new(
            "remote_failure",
            ParamKind::Enum(vec!["recover".into(), "warn".into()]),
            "what the probe failing from a majority of the other nodes while it passes here \
             does: recover (a failure, recovered as usual) or warn (an event and status only)",
        )
        .with_default("warn"),
        ParamSpec::new(
            "notify",
            ParamKind::Boolean,
            "the process speaks systemd's notify protocol: it gets NOTIFY_SOCKET, and its start \
             completes only at READY=1",
        )
        .with_default("false"),
        ParamSpec::new(
            "watchdog",
            ParamKind::Duration,
            "with notify: the process must send WATCHDOG=1 at least this often (it gets \
             WATCHDOG_USEC), or it counts as failed",
        ),
    ])
}

/// Everything needed to launch and probe the process, parsed from its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessConfig {
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) probes: Vec<Probe>,
    /// systemd's notify protocol: readiness at `READY=1`.
    pub(crate) notify: bool,
    /// With `notify`: the longest silence between `WATCHDOG=1` messages.
    pub(crate) watchdog: Option<std::time::Duration>,
}

impl ProcessConfig {
    /// Parses parameters that already passed the schema. Each problem is a sentence.
    pub(crate) fn parse(params: &BTreeMap<String, String>) -> Result<ProcessConfig, Vec<String>> {
        let mut problems = Vec::new();
        let command = params.get("command").cloned().unwrap_or_default();
        let args = match params.get("args") {
            Some(text) => parse_args(text).unwrap_or_else(|why| {
                problems.push(why);
                Vec::new()
            }),
            None => Vec::new(),
        };
        let env = match params.get("env") {
            Some(text) => parse_env(text).unwrap_or_else(|why| {
                problems.push(why);
                Vec::new()
            }),
            None => Vec::new(),
        };
        let mut probes = Vec::new();
        if let Some(text) = params.get("probe_tcp") {
            probes.push(Probe::tcp(text));
        }
        if let Some(text) = params.get("probe_http") {
            probes.push(Probe::http(text));
        }
        let probes = probes
            .into_iter()
            .filter_map(|probe| probe.map_err(|why| problems.push(why)).ok())
            .collect();
        let cwd = params.get("cwd").map(PathBuf::from);
        let notify = params
            .get("notify")
            .and_then(|text| model::parse_bool(text))
            .unwrap_or(false);
        let watchdog = params
            .get("watchdog")
            .and_then(|text| model::parse_duration(text));
        if watchdog.is_some() && !notify {
            problems.push(
                "watchdog: needs notify=true (the watchdog is fed with WATCHDOG=1 on \
                 NOTIFY_SOCKET)"
                    .to_owned(),
            );
        }
        if watchdog.is_some_and(|interval| interval.is_zero()) {
            problems.push("watchdog: must be longer than zero".to_owned());
        }
        if problems.is_empty() {
            Ok(ProcessConfig {
                command,
                args,
                env,
                cwd,
                probes,
                notify,
                watchdog,
            })
        } else {
            Err(problems)
        }
    }
}

/// Splits `args`: a JSON array of strings when it starts with `[`, else shell words
/// (quotes and backslashes as in a POSIX shell, no expansion).
pub(crate) fn parse_args(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|error| format!("args: {trimmed:?} is not a JSON array of strings ({error})"))
    } else {
        shlex::split(trimmed).ok_or_else(|| {
            format!(
                "args: {trimmed:?} has an unclosed quote or a trailing backslash: quote \
                 arguments as in a shell ('a b' c) or give a JSON array ([\"a b\", \"c\"])"
            )
        })
    }
}

/// The canonical text of `args`: shell words, each quoted only when it needs it.
pub(crate) fn canonical_args(args: &[String]) -> Result<String, String> {
    shlex::try_join(args.iter().map(String::as_str))
        .map_err(|error| format!("args: an argument cannot be passed to a program ({error})"))
}

/// Checks a `process` resource's parameters as far as they can be checked before it runs
/// (on the node that received the create or update) and returns them with `args` in its
/// canonical form. Every problem is a sentence naming the parameter and the fix.
pub(crate) fn prepare(
    params: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let filled = schema()
        .validate(params)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let config = ProcessConfig::parse(&filled)?;
    let mut problems = Vec::new();
    if let Err(problem) = check_command(&config.command) {
        problems.push(problem);
    }
    if let Some(cwd) = &config.cwd {
        if !cwd.is_absolute() {
            problems.push(format!(
                "cwd: {:?} is not an absolute path: start it with /",
                cwd.display()
            ));
        } else if !cwd.is_dir() {
            problems.push(format!(
                "cwd: {} is not a directory on this node (the one that checked): create it \
                 on every node that may run the resource",
                cwd.display()
            ));
        }
    }
    let mut prepared = params.clone();
    if params.contains_key("args") {
        match canonical_args(&config.args) {
            Ok(text) => {
                prepared.insert("args".to_owned(), text);
            }
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(prepared)
    } else {
        Err(problems)
    }
}

/// `command` must be one program: an absolute path or a name, executable on this node.
fn check_command(command: &str) -> Result<(), String> {
    if command.trim() != command || command.contains(char::is_whitespace) {
        let mut words = command.split_whitespace();
        let program = words.next().unwrap_or_default();
        let rest: Vec<&str> = words.collect();
        return Err(format!(
            "command: {command:?} is a command line: give the program alone and its \
             arguments in args, like --param command={program} --param args={:?}",
            rest.join(" ")
        ));
    }
    if command.contains('/') && !command.starts_with('/') {
        return Err(format!(
            "command: {command:?} is a relative path: give an absolute path or a name looked \
             up in PATH"
        ));
    }
    if super::find_command(command).is_none() {
        let what = if command.starts_with('/') {
            format!("{command} is not an executable file")
        } else {
            format!("no executable {command:?} in PATH")
        };
        return Err(format!(
            "command: {what} on this node (the one that checked): install it on every node \
             that may run the resource"
        ));
    }
    Ok(())
}

/// Parses `KEY=VALUE;KEY2=VALUE2`. Empty items are ignored; values may contain `=`.
pub(crate) fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for item in text
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("env: {item:?} is not KEY=VALUE"))?;
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(format!("env: {key:?} is not a valid variable name"));
        }
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}
