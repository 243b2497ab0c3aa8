//! Reads the config structs out of crates/agent/src/config.rs: each struct's doc comment,
//! and each field's name, type, doc comment and whether serde fills it in when absent.
//!
//! A line-based reader for rustfmt-formatted code, not a Rust parser: it knows `///` docs,
//! `#[serde(...)]` attributes, `pub struct Name {` and `pub name: Type,`, and fails with the
//! line when a struct's field is in any other shape.

/// A struct of the config file: a table.
pub(crate) struct Struct {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) fields: Vec<Field>,
}

/// A setting, or a table inside a table.
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) kind: Kind,
    /// No serde default and not an `Option`: the file must give it.
    pub(crate) required: bool,
}

/// What a field holds, in the file's terms.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Path,
    Integer,
    Bool,
    Duration,
    Table(String),
    OptionalTable(String),
    TableArray(String),
}

impl Kind {
    fn of(rust_type: &str) -> Option<Kind> {
        let kind = match rust_type {
            "String" => Kind::String,
            "PathBuf" => Kind::Path,
            "u64" | "usize" | "u32" | "u16" | "i32" | "i64" => Kind::Integer,
            "bool" => Kind::Bool,
            "Duration" => Kind::Duration,
            other => {
                if let Some(inner) = other.strip_prefix("Option<") {
                    Kind::OptionalTable(inner.strip_suffix('>')?.to_owned())
                } else if let Some(inner) = other.strip_prefix("Vec<") {
                    Kind::TableArray(inner.strip_suffix('>')?.to_owned())
                } else if other.chars().all(|c| c.is_ascii_alphanumeric()) {
                    Kind::Table(other.to_owned())
                } else {
                    return None;
                }
            }
        };
        Some(kind)
    }

    /// The type as an operator writes it.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Path => "path (string)",
            Kind::Integer => "integer",
            Kind::Bool => "boolean",
            Kind::Duration => "duration (string such as `300ms`, `2s`, `1m 30s`)",
            Kind::Table(_) | Kind::OptionalTable(_) | Kind::TableArray(_) => "table",
        }
    }

    /// A plausible value of a required setting, for the minimal config.
    pub(crate) fn sample(&self, name: &str) -> toml::Value {
        match self {
            Kind::Integer => toml::Value::Integer(1),
            Kind::Bool => toml::Value::Boolean(false),
            Kind::Duration => toml::Value::String("1s".into()),
            _ if name.ends_with("_addr") || name == "address" => {
                toml::Value::String("127.0.0.1:7500".into())
            }
            _ => toml::Value::String(name.to_owned()),
        }
    }
}

/// The struct called `name`.
pub(crate) fn find<'a>(structs: &'a [Struct], name: &str) -> anyhow::Result<&'a Struct> {
    structs
        .iter()
        .find(|item| item.name == name)
        .ok_or_else(|| anyhow::anyhow!("no struct {name} in the config source"))
}

/// Every `pub struct` with its fields.
pub(crate) fn parse(text: &str) -> anyhow::Result<Vec<Struct>> {
    let mut structs = Vec::new();
    let mut doc = Vec::new();
    let mut has_default = false;
    let mut current: Option<Struct> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_owned());
        } else if line.starts_with("#[serde(") {
            has_default |= line.contains("default");
        } else if let Some(rest) = line.strip_prefix("pub struct ") {
            let name = rest.trim_end_matches(" {").trim().to_owned();
            current = Some(Struct {
                name,
                doc: doc.join(" "),
                fields: Vec::new(),
            });
        } else if line == "}" {
            structs.extend(current.take());
        } else if let (Some(item), Some(rest)) = (current.as_mut(), line.strip_prefix("pub ")) {
            let field = field(rest, &doc, has_default)
                .ok_or_else(|| anyhow::anyhow!("line {}: cannot read {line:?}", index + 1))?;
            item.fields.push(field);
        } else if line.starts_with("//") || line.starts_with("#[") {
            continue;
        }
        if !line.starts_with("///") && !line.starts_with("#[") {
            doc.clear();
            has_default = false;
        }
    }
    Ok(structs)
}

fn field(declaration: &str, doc: &[String], has_default: bool) -> Option<Field> {
    let (name, rust_type) = declaration.trim_end_matches(',').split_once(": ")?;
    let kind = Kind::of(rust_type.trim())?;
    let optional = matches!(kind, Kind::OptionalTable(_));
    Some(Field {
        name: name.trim().to_owned(),
        doc: doc.join(" "),
        kind,
        required: !has_default && !optional,
    })
}
