//! The parsers of what operators type, shared by the CLI and the agent's API, so that a
//! value is accepted or refused the same way, with the same message, wherever it is given:
//! durations (`10m`, `10minutes`, `1h 30m`), names of resources, groups and nodes, and
//! references to a node by name or id.
//!
//! Pure functions over strings; no IO.

use std::fmt;
use std::time::Duration;

use crate::NodeId;

#[cfg(test)]
mod tests;

/// The longest name of a resource, group or node.
pub const NAME_LENGTH_MAX: usize = 63;

/// A text that is not a duration. The `Display` text is the one message every parser of
/// durations gives, in the CLI and on the server alike.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration: write it like 500ms, 10s, 5m, 10minutes or 1h30m")]
pub struct InvalidDuration {
    /// What was given.
    pub text: String,
}

/// Parses a duration: a bare non-negative integer meaning seconds (as in Pacemaker), or a
/// sequence of `<number><unit>` parts, optionally separated by spaces (`1h30m`, `1h 30m`).
///
/// Units: `ms` (`msec`, `millis`, `milliseconds`), `s` (`sec`, `secs`, `second`,
/// `seconds`), `m` (`min`, `mins`, `minute`, `minutes`), `h` (`hr`, `hrs`, `hour`,
/// `hours`), `d` (`day`, `days`). Overflow is refused.
pub fn parse_duration_text(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration {
        text: text.to_owned(),
    };
    let value = text.trim();
    if value.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total_ms: u64 = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = unit_ms(&rest[..unit_len].to_ascii_lowercase()).ok_or_else(invalid)?;
        rest = rest[unit_len..].trim_start();
        let part = number.checked_mul(unit_ms).ok_or_else(invalid)?;
        total_ms = total_ms.checked_add(part).ok_or_else(invalid)?;
    }
    Ok(Duration::from_millis(total_ms))
}

fn unit_ms(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    })
}

/// What a name is given for, to say so in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A resource's name.
    Resource,
    /// A group's name.
    Group,
    /// A node's name.
    Node,
    /// A user-defined resource type's name.
    Type,
    /// A user's name (issue 14).
    User,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Resource => "resource",
            NameKind::Group => "group",
            NameKind::Node => "node",
            NameKind::Type => "type",
            NameKind::User => "user",
        })
    }
}

/// A name that cannot be used: the message says what is wrong and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{kind} name {text:?} {why}: use 1 to {NAME_LENGTH_MAX} ASCII letters, digits, '-', '_' \
     or '.', starting with a letter or digit"
)]
pub struct InvalidName {
    /// What the name was for.
    pub kind: NameKind,
    /// The name given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks the name of a resource, group or node.
///
/// Names become path segments of the API's URLs and names of directories on the nodes,
/// so `.` and `..` (which URLs and file systems treat specially), `/`, spaces, control
/// characters and a leading `-` (which reads as a command-line flag) are refused.
pub fn check_name(kind: NameKind, text: &str) -> Result<(), InvalidName> {
    let invalid = |why| {
        Err(InvalidName {
            kind,
            text: text.to_owned(),
            why,
        })
    };
    if text.is_empty() {
        return invalid("is empty");
    }
    if text.len() > NAME_LENGTH_MAX {
        return invalid("is too long");
    }
    if text == "." || text == ".." {
        return invalid("is reserved (it means a directory)");
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid("does not start with a letter or digit");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !text.chars().all(allowed) {
        return invalid("contains a character that is not allowed");
    }
    Ok(())
}

/// A node reference that matches no node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no node {text:?} in the cluster; the nodes are {}",
    known_nodes(known)
)]
pub struct UnknownNode {
    /// What was given.
    pub text: String,
    /// The nodes there are, as `(id, name)`.
    pub known: Vec<(NodeId, String)>,
}

fn known_nodes(known: &[(NodeId, String)]) -> String {
    if known.is_empty() {
        return "unknown".to_owned();
    }
    let labels: Vec<String> = known
        .iter()
        .map(|(id, name)| format!("{id} ({name})"))
        .collect();
    labels.join(", ")
}

/// Finds the node `text` refers to, by name first, then by id (`node2` or `2`), among
/// `nodes` given as `(id, name)`.
pub fn resolve_node<'a>(
    text: &str,
    nodes: impl IntoIterator<Item = (NodeId, &'a str)>,
) -> Result<NodeId, UnknownNode> {
    let text = text.trim();
    let nodes: Vec<(NodeId, &str)> = nodes.into_iter().collect();
    if let Some((id, _)) = nodes.iter().find(|(_, name)| *name == text) {
        return Ok(*id);
    }
    if let Ok(number) = text.parse::<u64>()
        && let Some((id, _)) = nodes.iter().find(|(id, _)| id.0 == number)
    {
        return Ok(*id);
    }
    Err(UnknownNode {
        text: text.to_owned(),
        known: nodes
            .into_iter()
            .map(|(id, name)| (id, name.to_owned()))
            .collect(),
    })
}
