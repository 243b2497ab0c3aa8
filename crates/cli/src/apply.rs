//! `apply -f cluster.toml`: read the declared cluster, show the agent's diff, ask, apply.
//!
//! The agent replaces the whole resource configuration with the file's, so anything missing
//! from the file is removed; the diff says so before anything changes. Parsing, the diff
//! text and the confirmation decision are pure functions, tested without a terminal.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};

use crate::commands::Output;
use crate::config::Target;
use crate::errors::explain_invalid;
use crate::limits::{ANSWER_BYTES_MAX, CLUSTER_FILE_BYTES_MAX};

/// Reads and parses a cluster file.
pub(crate) fn load_cluster_file(path: &Path) -> anyhow::Result<api::ClusterSpec> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the cluster file {}", path.display()))?;
    let mut text = String::new();
    file.take(CLUSTER_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the cluster file {}", path.display()))?;
    if text.len() as u64 > CLUSTER_FILE_BYTES_MAX {
        bail!(
            "the cluster file {} is larger than {} KiB, the most the API accepts",
            path.display(),
            CLUSTER_FILE_BYTES_MAX / 1024
        );
    }
    parse_cluster_file(&text)
        .with_context(|| format!("{} is not a valid cluster file", path.display()))
}

/// Parses the TOML of a cluster file; an error names the line, the column and the problem.
///
/// Parameters are strings on the wire, but `port = 8080` is what people write in TOML, so
/// numbers and booleans in `params` tables are accepted as their text.
pub(crate) fn parse_cluster_file(text: &str) -> anyhow::Result<api::ClusterSpec> {
    let error = match toml::from_str(text) {
        Ok(spec) => return Ok(spec),
        Err(error) => error,
    };
    // Only the direct parse has positions, so its error is the one reported.
    if let Some(spec) = parse_with_text_params(text) {
        return Ok(spec);
    }
    Err(describe_toml_error(text, &error))
}

/// The text of a number or boolean.
fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        toml::Value::Boolean(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Parses again with every scalar in `[resource.params]` (and each type parameter's
/// `default`) turned into its text.
fn parse_with_text_params(text: &str) -> Option<api::ClusterSpec> {
    let mut table: toml::Table = toml::from_str(text).ok()?;
    // A type parameter's default is text on the wire, written `default = 5` in TOML.
    if let Some(toml::Value::Array(types)) = table.get_mut("type") {
        for definition in types.iter_mut() {
            let Some(toml::Value::Array(params)) = definition.get_mut("param") else {
                continue;
            };
            for param in params.iter_mut() {
                if let Some(value) = param.get_mut("default")
                    && let Some(text) = scalar_text(value)
                {
                    *value = toml::Value::String(text);
                }
            }
        }
    }
    if let Some(toml::Value::Array(resources)) = table.get_mut("resource") {
        for resource in resources.iter_mut() {
            let Some(toml::Value::Table(params)) = resource.get_mut("params") else {
                continue;
            };
            for (_, value) in params.iter_mut() {
                let text = match value {
                    toml::Value::Integer(number) => number.to_string(),
                    toml::Value::Float(number) => number.to_string(),
                    toml::Value::Boolean(flag) => flag.to_string(),
                    _ => continue,
                };
                *value = toml::Value::String(text);
            }
        }
    }
    toml::Value::Table(table).try_into().ok()
}

fn describe_toml_error(text: &str, error: &toml::de::Error) -> anyhow::Error {
    {
        let mut message = error.message().trim_end().to_string();
        if message.contains("expected a string") {
            message.push_str(
                " (quote it: names and durations are strings, like monitor_interval = \"10s\")",
            );
        }
        match error.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                let source = text.lines().nth(line - 1).unwrap_or_default().trim();
                anyhow::anyhow!("line {line}, column {column}: {message} (in `{source}`)")
            }
            None => anyhow::anyhow!("{message}"),
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The diff as the agent lists it, then a count of additions, changes and removals.
pub(crate) fn render_diff(changes: &[String]) -> String {
    if changes.is_empty() {
        return "no changes: the cluster already matches the file\n".to_string();
    }
    let mut text = String::new();
    for change in changes {
        text.push_str(change);
        text.push('\n');
    }
    let count = |prefix: char| changes.iter().filter(|c| c.starts_with(prefix)).count();
    text.push_str(&format!(
        "{}: {} to add, {} to change, {} to remove\n",
        plural(changes.len(), "change"),
        count('+'),
        count('~'),
        count('-')
    ));
    text
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// Whether to apply without asking, ask, or refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Confirmation {
    /// `--yes` was given.
    Proceed,
    /// Ask on the terminal.
    Ask,
    /// Nobody can answer, so nothing is changed.
    Refuse(String),
}

/// Decides from whether standard input is a terminal and whether `--yes` was given.
pub(crate) fn confirmation(stdin_is_tty: bool, yes: bool) -> Confirmation {
    match (yes, stdin_is_tty) {
        (true, _) => Confirmation::Proceed,
        (false, true) => Confirmation::Ask,
        (false, false) => Confirmation::Refuse(
            "standard input is not a terminal, so nobody can confirm: nothing was changed; \
            pass --yes to apply without asking, or --dry-run to only see the changes"
                .to_string(),
        ),
    }
}

/// Only an explicit yes applies; anything else, including an empty line, does not.
pub(crate) fn answer_is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The prompt for `count` changes.
pub(crate) fn prompt(count: usize) -> String {
    if count == 1 {
        "apply this change? [y/N] ".to_string()
    } else {
        format!("apply these {count} changes? [y/N] ")
    }
}

/// `apply -f FILE [--dry-run] [--yes]`.
pub(crate) async fn run_apply(
    client: &api::Client,
    target: &Target,
    file: &Path,
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let spec = load_cluster_file(file)?;
    let mut output = Output::stdout();
    let planned = client
        .apply(&spec, true)
        .await
        .map_err(|error| explain_invalid(error, target, "the cluster file"))?;
    output.text(&render_diff(&planned.changes))?;
    if dry_run {
        return output.line("dry run: nothing was changed");
    }
    if planned.changes.is_empty() {
        return Ok(());
    }
    match confirmation(std::io::stdin().is_terminal(), yes) {
        Confirmation::Proceed => {}
        Confirmation::Refuse(message) => bail!("{message}"),
        Confirmation::Ask => {
            if !ask(&prompt(planned.changes.len()))? {
                return output.line("nothing was changed");
            }
        }
    }
    let applied = client
        .apply(&spec, false)
        .await
        .map_err(|error| explain_invalid(error, target, "the cluster file"))?;
    output.line(&applied_message(&planned.changes, &applied))
}

/// What `apply` says after the change; it warns when the cluster changed in between.
pub(crate) fn applied_message(planned: &[String], applied: &api::ApplyResult) -> String {
    if !applied.applied {
        return "the agent made no changes".to_string();
    }
    let done = format!("applied {}", plural(applied.changes.len(), "change"));
    if applied.changes == planned {
        done
    } else {
        format!(
            "{done}\nwarning: the cluster changed after the diff above; these were applied:\n{}",
            render_diff(&applied.changes).trim_end()
        )
    }
}

fn ask(prompt: &str) -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr();
    stderr
        .write_all(prompt.as_bytes())
        .and_then(|()| stderr.flush())
        .context("cannot write the question to standard error")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .take(ANSWER_BYTES_MAX)
        .read_line(&mut answer)
        .context("cannot read the answer from standard input")?;
    Ok(answer_is_yes(&answer))
}

/// The cluster file that `config export` writes: `[[resource]]`, `[[group]]` and
/// `[[constraint]]` tables in the API's field names, the name (or type) first, unset and
/// default values left out, so that `apply -f` of it changes nothing.
pub(crate) fn render_cluster_file(spec: &api::ClusterSpec) -> anyhow::Result<String> {
    let mut text = String::from(
        "# The cluster as `encluster config export` wrote it; `encluster apply -f FILE` \
        makes the\n# cluster match it (what is not in the file is removed).\n",
    );
    // --- types ---
    if !spec.types.is_empty() {
        text.push_str(
            "\n# User-defined types, applied before the resources; a type the file does not \
             list is kept.\n",
        );
        #[derive(serde::Serialize)]
        struct Types<'a> {
            r#type: &'a [api::TypeSpec],
        }
        text.push_str(&toml::to_string(&Types {
            r#type: &spec.types,
        })?);
    }
    for resource in &spec.resources {
        write_table(
            &mut text,
            "resource",
            &serde_json::to_value(resource)?,
            &["name", "type"],
        );
    }
    for group in &spec.groups {
        write_table(&mut text, "group", &serde_json::to_value(group)?, &["name"]);
    }
    for constraint in &spec.constraints {
        write_table(
            &mut text,
            "constraint",
            &serde_json::to_value(constraint)?,
            &["type"],
        );
    }
    for alert in &spec.alerts {
        write_table(&mut text, "alert", &serde_json::to_value(alert)?, &["name"]);
    }
    // --- fence ---
    for device in &spec.fence {
        let value = serde_json::to_value(device)?;
        write_table(&mut text, "fence", &value, &["name", "agent"]);
    }
    Ok(text)
}

/// One `[[kind]]` table: `first` keys, then the other values, then sub-tables.
fn write_table(text: &mut String, kind: &str, value: &serde_json::Value, first: &[&str]) {
    let Some(object) = value.as_object() else {
        return;
    };
    text.push_str(&format!("\n[[{kind}]]\n"));
    let keys = first.iter().copied().chain(
        object
            .keys()
            .map(String::as_str)
            .filter(|k| !first.contains(k)),
    );
    let mut tables = Vec::new();
    for key in keys {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => {}
            // `clone = false` is the default; `unique = false` is not.
            Some(serde_json::Value::Bool(false)) if key == "clone" => {}
            Some(serde_json::Value::Object(map)) if map.is_empty() => {}
            Some(serde_json::Value::Object(map)) => tables.push((key, map)),
            Some(scalar) => {
                if let Some(toml_value) = to_toml(scalar) {
                    text.push_str(&format!("{key} = {toml_value}\n"));
                }
            }
        }
    }
    for (key, map) in tables {
        text.push_str(&format!("[{kind}.{key}]\n"));
        for (name, value) in map {
            if let Some(toml_value) = to_toml(value) {
                text.push_str(&format!("{} = {toml_value}\n", toml_key(name)));
            }
        }
    }
}

/// A key, quoted when TOML needs it.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

fn to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    Some(match value {
        serde_json::Value::String(text) => toml::Value::String(text.clone()),
        serde_json::Value::Bool(flag) => toml::Value::Boolean(*flag),
        serde_json::Value::Number(number) => toml::Value::Integer(number.as_i64()?),
        serde_json::Value::Array(items) => {
            toml::Value::Array(items.iter().filter_map(to_toml).collect())
        }
        serde_json::Value::Null | serde_json::Value::Object(_) => return None,
    })
}
