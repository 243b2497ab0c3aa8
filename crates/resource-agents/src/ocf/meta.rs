//! Turns an OCF agent's meta-data XML into the resource type's description: its
//! parameter schema, its one-line description and its actions.
//!
//! Each `<parameter name required unique>` becomes a [`ParamSpec`]: its `<content type
//! default>` gives the kind and default (`select` with `<option value>` children becomes
//! an enum), its `<shortdesc>` (or else `<longdesc>`) the description. Unknown content
//! types become strings, so a newer agent never becomes unusable; a parameter declared
//! twice keeps its first declaration. Each `<action name timeout interval depth>` of
//! `<actions>` becomes an [`ActionSpec`]; a time that does not parse is left out rather
//! than refusing the whole agent.
//!
//! Reload, as Pacemaker reads it: an agent advertising the `reload-agent` action (OCF 1.1)
//! reloads the parameters marked `reloadable="1"`; one advertising only `reload` (the
//! OCF 1.0 convention) reloads every parameter that is not `unique`. Any other change
//! needs a restart (`model::change_effect`).

use super::xml::{self, Element};
use model::{ActionSpec, ParamKind, ParamSchema, ParamSpec, TypeClass, TypeInfo};

/// The parameter that turns on clone-wide notifications (Pacemaker's meta `notify`).
pub(crate) const NOTIFY_PARAM: &str = "notify";

/// Parses meta-data into a schema; the error says what is wrong with the document.
#[cfg(test)]
pub(crate) fn schema_from_meta_data(document: &str) -> Result<ParamSchema, String> {
    type_info_from_meta_data("ocf:test:test", document).map(|info| info.schema)
}

/// Parses the meta-data of the OCF type `type_name` into its description.
pub(crate) fn type_info_from_meta_data(
    type_name: &str,
    document: &str,
) -> Result<TypeInfo, String> {
    let root = xml::parse(document)?;
    if root.name != "resource-agent" {
        return Err(format!(
            "root element is <{}>, not <resource-agent>",
            root.name
        ));
    }
    let action_names: Vec<&str> = root
        .element("actions")
        .into_iter()
        .flat_map(|list| list.elements("action"))
        .filter_map(|action| action.attribute("name"))
        .collect();
    let reload = ["reload-agent", "reload"]
        .into_iter()
        .find(|name| action_names.contains(name));
    let mut specs: Vec<ParamSpec> = Vec::new();
    let parameters = root
        .element("parameters")
        .into_iter()
        .flat_map(|list| list.elements("parameter"));
    for parameter in parameters {
        let mut spec = param_spec(parameter)?;
        let reloadable = match reload {
            Some("reload-agent") => parameter.attribute("reloadable").is_some_and(is_true),
            Some(_) => !spec.unique,
            None => false,
        };
        if reloadable {
            spec = spec.reloadable();
        }
        if specs.iter().all(|known| known.name != spec.name) {
            specs.push(spec);
        }
    }
    let actions = root
        .element("actions")
        .into_iter()
        .flat_map(|list| list.elements("action"))
        .filter_map(action_spec)
        .collect();
    let description = root
        .element("shortdesc")
        .map(|short| collapse(&short.text()))
        .filter(|short| !short.is_empty())
        .or_else(|| root.element("longdesc").map(|long| collapse(&long.text())))
        .unwrap_or_default();
    // Pacemaker's clone meta attribute `notify`, as a parameter of every OCF agent that
    // offers a `notify` action (unless it declares a `notify` of its own).
    let notifies = type_name.starts_with("ocf:") && action_names.contains(&"notify");
    if notifies && specs.iter().all(|known| known.name != NOTIFY_PARAM) {
        specs.push(ParamSpec::new(
            NOTIFY_PARAM,
            ParamKind::Boolean,
            "for a clone: tell every active instance of each start, stop, promotion and \
                 demotion, before and after (Pacemaker's clone meta attribute notify)",
        ));
    }
    let schema = ParamSchema::new(specs);
    let schema = match reload {
        Some(action) => schema.with_reload(action),
        None => schema,
    };
    Ok(TypeInfo {
        name: type_name.to_owned(),
        class: TypeClass::Ocf,
        description,
        schema,
        actions,
    })
}

fn action_spec(action: &Element) -> Option<ActionSpec> {
    let name = action.attribute("name").filter(|name| !name.is_empty())?;
    let time = |attribute: &str| action.attribute(attribute).and_then(model::parse_duration);
    Some(ActionSpec {
        name: name.to_owned(),
        timeout: time("timeout"),
        interval: time("interval"),
        depth: action
            .attribute("depth")
            .and_then(|d| d.trim().parse().ok()),
    })
}

fn param_spec(parameter: &Element) -> Result<ParamSpec, String> {
    let name = parameter
        .attribute("name")
        .filter(|name| !name.is_empty())
        .ok_or("a <parameter> has no name")?;
    let content = parameter.element("content");
    let kind = content.map_or(ParamKind::String, content_kind);
    let description = describe(parameter);
    let mut spec = ParamSpec::new(name, kind, description);
    if content.is_some_and(|content| content.attribute("type") == Some("nonnegative_integer")) {
        spec = spec.with_range(Some(0), None);
    }
    if let Some(default) = content.and_then(|content| content.attribute("default")) {
        spec = spec.with_default(default);
    }
    if parameter.attribute("required").is_some_and(is_true) {
        spec = spec.required();
    }
    if parameter.attribute("unique").is_some_and(is_true) {
        spec = spec.unique();
    }
    Ok(spec)
}

fn content_kind(content: &Element) -> ParamKind {
    match content.attribute("type").unwrap_or("string") {
        "integer" | "nonnegative_integer" => ParamKind::Integer,
        "boolean" => ParamKind::Boolean,
        "time" | "timeout" | "duration" => ParamKind::Duration,
        "port" => ParamKind::Port,
        "select" => {
            let options: Vec<String> = content
                .elements("option")
                .filter_map(|option| option.attribute("value"))
                .map(str::to_owned)
                .collect();
            if options.is_empty() {
                ParamKind::String
            } else {
                ParamKind::Enum(options)
            }
        }
        _ => ParamKind::String,
    }
}

fn describe(parameter: &Element) -> String {
    let text = |name: &str| {
        parameter
            .element(name)
            .map(|element| collapse(&element.text()))
    };
    text("shortdesc")
        .filter(|short| !short.is_empty())
        .or_else(|| text("longdesc"))
        .unwrap_or_default()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_true(value: &str) -> bool {
    matches!(value.trim(), "1" | "true" | "yes")
}
