//! Parameter schemas of resource types, and the validation of a resource's parameters.
//!
//! A resource type (built in, or an OCF resource agent's meta-data) declares which
//! parameters it takes: their kind, whether they are required, their default and range.
//! Every create or update is checked here before anything is stored, so an operator sees
//! every problem at once, in plain words, for example `MaxUser: 11 is above the maximum 10`.
//! This module is pure: no IO, so the API, the CLI and the tests all get the same answers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// The parameters a resource type accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSchema {
    /// The parameters, in the order the resource type declares them.
    pub params: Vec<ParamSpec>,
    /// The operation that applies changed parameters to a running instance without a
    /// restart (OCF's `reload-agent` or `reload`), if the type has one; only parameters
    /// marked [`ParamSpec::reloadable`] may change that way (see `crate::change_effect`).
    #[serde(default)]
    pub reload: Option<String>,
}

/// One parameter of a resource type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The parameter's name, as the operator writes it (case-sensitive).
    pub name: String,
    /// What values are accepted.
    pub kind: ParamKind,
    /// A resource of this type cannot be created without it.
    pub required: bool,
    /// The value used when the operator gives none; filled in by [`ParamSchema::validate`].
    pub default: Option<String>,
    /// The smallest accepted value, for integers and ports.
    pub min: Option<i64>,
    /// The largest accepted value, for integers and ports.
    pub max: Option<i64>,
    /// One line for the operator: what the parameter does.
    pub description: String,
    /// No two resources of this type may have the same value (OCF's `unique="1"`).
    ///
    /// Checking it needs the whole configuration, so [`ParamSchema::validate`] does not:
    /// the caller that holds the configuration does.
    pub unique: bool,
    /// A change of this parameter can be applied to a running instance by the type's
    /// reload operation (OCF 1.1's `reloadable="1"`; for OCF 1.0 agents with `reload`,
    /// every parameter that is not `unique`).
    #[serde(default)]
    pub reloadable: bool,
}

/// The kinds of values a parameter can hold. Values always travel as strings; the kind
/// says which strings are valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Any text.
    String,
    /// A signed 64-bit decimal integer.
    Integer,
    /// `true`/`false`, also `yes`/`no`, `on`/`off` and `1`/`0` (as Pacemaker accepts).
    Boolean,
    /// Exactly one of the listed words.
    Enum(Vec<String>),
    /// A duration such as `500ms`, `10s`, `2m`, `1h30m`; a bare number means seconds.
    Duration,
    /// An IPv4 or IPv6 address.
    IpAddr,
    /// A TCP or UDP port, 1 to 65535.
    Port,
    /// A file system path: not empty and without NUL bytes.
    Path,
}

/// One problem with a resource's parameters. The `Display` text is what operators read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent or empty.
    #[error("{param}: required parameter is missing")]
    Missing { param: String },
    /// The schema does not know this parameter, perhaps a typo of `suggestion`.
    #[error("{}", unknown_message(param, suggestion.as_deref(), known))]
    Unknown {
        param: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// The value of an integer parameter is not an integer.
    #[error("{param}: {value:?} is not an integer")]
    NotInteger { param: String, value: String },
    /// The value is below the schema's minimum.
    #[error("{param}: {value} is below the minimum {min}")]
    BelowMinimum { param: String, value: i64, min: i64 },
    /// The value is above the schema's maximum.
    #[error("{param}: {value} is above the maximum {max}")]
    AboveMaximum { param: String, value: i64, max: i64 },
    /// The value of a boolean parameter is not a boolean word.
    #[error("{param}: {value:?} is not a boolean (use true or false)")]
    NotBoolean { param: String, value: String },
    /// The value is not one of an enum's words.
    #[error("{param}: {value:?} is not one of {}", allowed.join(", "))]
    NotInEnum {
        param: String,
        value: String,
        allowed: Vec<String>,
    },
    /// The value is not a duration.
    #[error("{param}: {value:?} is not a duration (for example 500ms, 10s, 2m, 1h)")]
    NotDuration { param: String, value: String },
    /// The value is not an IP address.
    #[error("{param}: {value:?} is not an IP address")]
    NotIpAddr { param: String, value: String },
    /// The value is not a port number. Numbers are shown bare, anything else quoted.
    #[error("{param}: {} is not a valid port (1-65535)", port_shown(value))]
    NotPort { param: String, value: String },
    /// The value is not a usable path.
    #[error("{param}: {value:?} is not a valid path ({reason})")]
    NotPath {
        param: String,
        value: String,
        reason: &'static str,
    },
}

impl ParamError {
    /// The name of the parameter the problem is about.
    pub fn param(&self) -> &str {
        match self {
            ParamError::Missing { param }
            | ParamError::Unknown { param, .. }
            | ParamError::NotInteger { param, .. }
            | ParamError::BelowMinimum { param, .. }
            | ParamError::AboveMaximum { param, .. }
            | ParamError::NotBoolean { param, .. }
            | ParamError::NotInEnum { param, .. }
            | ParamError::NotDuration { param, .. }
            | ParamError::NotIpAddr { param, .. }
            | ParamError::NotPort { param, .. }
            | ParamError::NotPath { param, .. } => param,
        }
    }
}

fn unknown_message(param: &str, suggestion: Option<&str>, known: &[String]) -> String {
    let hint = match suggestion {
        Some(suggestion) => format!(" (did you mean {suggestion}?)"),
        None => String::new(),
    };
    if known.is_empty() {
        return format!("{param}: unknown parameter{hint}; this type takes no parameters");
    }
    format!(
        "{param}: unknown parameter{hint}; known parameters: {}",
        known.join(", ")
    )
}

fn port_shown(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

impl ParamSpec {
    /// An optional parameter without default or range; refine it with the builder methods.
    pub fn new(name: impl Into<String>, kind: ParamKind, description: impl Into<String>) -> Self {
        ParamSpec {
            name: name.into(),
            kind,
            required: false,
            default: None,
            min: None,
            max: None,
            description: description.into(),
            unique: false,
            reloadable: false,
        }
    }

    /// Marks the parameter as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the value used when the operator gives none.
    pub fn with_default(mut self, default: impl Into<String>) -> Self {
        self.default = Some(default.into());
        self
    }

    /// Sets the inclusive range of an integer or port parameter.
    pub fn with_range(mut self, min: Option<i64>, max: Option<i64>) -> Self {
        self.min = min;
        self.max = max;
        self
    }

    /// Marks the parameter as unique among resources of its type.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Marks the parameter as changeable by the type's reload operation.
    pub fn reloadable(mut self) -> Self {
        self.reloadable = true;
        self
    }

    /// Checks one value against this parameter's kind and range.
    pub fn check_value(&self, value: &str) -> Result<(), ParamError> {
        let param = || self.name.clone();
        match &self.kind {
            ParamKind::String => Ok(()),
            ParamKind::Integer => {
                let number = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ParamError::NotInteger {
                        param: param(),
                        value: value.into(),
                    })?;
                self.check_range(number)
            }
            ParamKind::Boolean => {
                parse_bool(value)
                    .map(|_| ())
                    .ok_or_else(|| ParamError::NotBoolean {
                        param: param(),
                        value: value.into(),
                    })
            }
            ParamKind::Enum(allowed) => {
                if allowed.iter().any(|word| word == value) {
                    Ok(())
                } else {
                    let allowed = allowed.clone();
                    Err(ParamError::NotInEnum {
                        param: param(),
                        value: value.into(),
                        allowed,
                    })
                }
            }
            ParamKind::Duration => {
                parse_duration(value)
                    .map(|_| ())
                    .ok_or_else(|| ParamError::NotDuration {
                        param: param(),
                        value: value.into(),
                    })
            }
            ParamKind::IpAddr => value
                .trim()
                .parse::<std::net::IpAddr>()
                .map(|_| ())
                .map_err(|_| ParamError::NotIpAddr {
                    param: param(),
                    value: value.into(),
                }),
            ParamKind::Port => {
                let port = value.trim().parse::<u16>().ok().filter(|port| *port != 0);
                let port = port.ok_or_else(|| ParamError::NotPort {
                    param: param(),
                    value: value.into(),
                })?;
                self.check_range(i64::from(port))
            }
            ParamKind::Path => check_path(value).map_err(|reason| ParamError::NotPath {
                param: param(),
                value: value.into(),
                reason,
            }),
        }
    }

    fn check_range(&self, value: i64) -> Result<(), ParamError> {
        if let Some(min) = self.min
            && value < min
        {
            return Err(ParamError::BelowMinimum {
                param: self.name.clone(),
                value,
                min,
            });
        }
        if let Some(max) = self.max
            && value > max
        {
            return Err(ParamError::AboveMaximum {
                param: self.name.clone(),
                value,
                max,
            });
        }
        Ok(())
    }
}

fn check_path(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.contains('\0') {
        return Err("it contains a NUL byte");
    }
    Ok(())
}

impl ParamSchema {
    /// A schema with the given parameters.
    pub fn new(params: Vec<ParamSpec>) -> Self {
        let schema = ParamSchema {
            params,
            reload: None,
        };
        assert!(
            schema.names_are_distinct(),
            "parameter names in a schema must be distinct"
        );
        schema
    }

    /// The same schema, whose reloadable parameters the type applies with `action`.
    pub fn with_reload(mut self, action: impl Into<String>) -> Self {
        self.reload = Some(action.into());
        self
    }

    /// The specification of the parameter called `name`, if the schema has one.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|spec| spec.name == name)
    }

    /// Checks `params` against the schema and returns them with defaults filled in.
    ///
    /// Collects every problem instead of stopping at the first, so an operator can fix
    /// them all in one go. Problems come in schema order, then unknown names in order.
    /// Defaults are taken as declared and not checked: OCF meta-data often holds
    /// defaults such as `""` that the agent itself interprets.
    pub fn validate(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Vec<ParamError>> {
        let mut errors = Vec::new();
        let mut filled = BTreeMap::new();
        for spec in &self.params {
            match params.get(&spec.name) {
                Some(value) if spec.required && value.trim().is_empty() => {
                    errors.push(ParamError::Missing {
                        param: spec.name.clone(),
                    });
                }
                Some(value) => match spec.check_value(value) {
                    Ok(()) => {
                        filled.insert(spec.name.clone(), value.clone());
                    }
                    Err(error) => errors.push(error),
                },
                None if spec.required => {
                    errors.push(ParamError::Missing {
                        param: spec.name.clone(),
                    });
                }
                None => {
                    if let Some(default) = &spec.default {
                        filled.insert(spec.name.clone(), default.clone());
                    }
                }
            }
        }
        for name in params.keys().filter(|name| self.get(name).is_none()) {
            errors.push(self.unknown(name));
        }
        if errors.is_empty() {
            Ok(filled)
        } else {
            Err(errors)
        }
    }

    fn unknown(&self, name: &str) -> ParamError {
        let known: Vec<String> = self.params.iter().map(|spec| spec.name.clone()).collect();
        let suggestion = closest_name(name, &known);
        ParamError::Unknown {
            param: name.to_owned(),
            suggestion,
            known,
        }
    }

    fn names_are_distinct(&self) -> bool {
        let mut names: Vec<&str> = self.params.iter().map(|spec| spec.name.as_str()).collect();
        names.sort_unstable();
        names.windows(2).all(|pair| pair[0] != pair[1])
    }
}

/// The known name closest to `name`, if it is close enough to be a likely typo: equal
/// ignoring case, or within an edit distance of about a third of the name's length.
fn closest_name(name: &str, known: &[String]) -> Option<String> {
    let lower = name.to_lowercase();
    if let Some(same) = known
        .iter()
        .find(|candidate| candidate.to_lowercase() == lower)
    {
        return Some(same.clone());
    }
    let threshold = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|candidate| (edit_distance(&lower, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

/// Edit distance over chars where a swap of two neighbours counts as one edit, as typos
/// such as `mdoe` for `mode` do (optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

/// Parses a boolean parameter value the way Pacemaker's `crm_is_true` does.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "1" => Some(true),
        "false" | "no" | "off" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a duration parameter value with the one parser of durations
/// ([`crate::parse_duration_text`]); `None` for anything else, including overflow.
pub fn parse_duration(value: &str) -> Option<Duration> {
    crate::input::parse_duration_text(value).ok()
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::String => f.write_str("string"),
            ParamKind::Integer => f.write_str("integer"),
            ParamKind::Boolean => f.write_str("boolean"),
            ParamKind::Enum(words) => write!(f, "one of {}", words.join(", ")),
            ParamKind::Duration => f.write_str("duration"),
            ParamKind::IpAddr => f.write_str("IP address"),
            ParamKind::Port => f.write_str("port"),
            ParamKind::Path => f.write_str("path"),
        }
    }
}
