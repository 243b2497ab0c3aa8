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
            "the program to run: a path, or a name looked up in PATH",
        )
        .required(),
        ParamSpec::new(
            "args",
            ParamKind::String,
            "its arguments, split on whitespace; or a JSON array of strings such as \
             [\"-c\", \"echo hi\"] when an argument contains spaces",
        ),
        ParamSpec::new(
            "env",
            ParamKind::String,
            "extra environment variables as KEY=VALUE pairs separated by ';'",
        ),
        ParamSpec::new(
            "cwd",
            ParamKind::Path,
            "the working directory (default: the resource's state directory)",
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
        if problems.is_empty() {
            Ok(ProcessConfig {
                command,
                args,
                env,
                cwd,
                probes,
            })
        } else {
            Err(problems)
        }
    }
}

/// Splits `args`: a JSON array of strings when it starts with `[`, else on whitespace.
pub(crate) fn parse_args(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|error| format!("args: {trimmed:?} is not a JSON array of strings ({error})"))
    } else {
        Ok(trimmed.split_whitespace().map(str::to_owned).collect())
    }
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
