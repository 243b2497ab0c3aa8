//! The resource-type catalog: `GET /v1/types` and `GET /v1/types/{name}`, and the resource
//! agents the API validates parameters with.
//!
//! Built-in types (`process`, `vip`, `lb`) describe themselves in code. OCF types are the
//! executable scripts under `$OCF_ROOT/resource.d/<provider>/<agent>` on the node that
//! answers; an OCF agent's description comes from its `meta-data` action and is cached
//! until the script changes (its size or modification time), so a package upgrade is seen
//! without an agent restart. User-defined types (class `user`) come from the cmdb and are
//! listed beside these (`user_types.rs` creates, changes and deletes them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::{ParamKind, TypeClass, TypeInfo};
use resource_agents::{MetaError, ResourceAgent};

use super::{ApiState, error};
use crate::limits::{OCF_AGENTS_MAX, TYPE_CACHE_MAX};

/// The built-in types, in the order `type list` shows them, with their one-line description.
const BUILTIN: [(&str, &str); 3] = [
    (
        "process",
        "any program, supervised: restarted in place on failure, with optional TCP or HTTP \
         health probes",
    ),
    (
        "vip",
        "a virtual IP address held by one node: a claim on one host (loopback), or an \
         address with gratuitous ARP on real hosts (netlink)",
    ),
    (
        "lb",
        "a load-balanced virtual service (TCP or HTTP) on the director that holds its VIP",
    ),
];

/// An OCF agent with the identity of the script it was made for.
struct Cached {
    stamp: (u64, Option<SystemTime>),
    agent: Arc<dyn ResourceAgent>,
    /// Its one-line description, once its meta-data was read.
    description: Option<String>,
}

/// The resource agents the API uses to check and describe types, by type name.
pub(crate) struct TypeCatalog {
    ocf_root: PathBuf,
    ocf_agents: Mutex<HashMap<String, Cached>>,
}

impl TypeCatalog {
    /// A catalog looking for OCF agents under `ocf_root`.
    pub(crate) fn new(ocf_root: PathBuf) -> TypeCatalog {
        TypeCatalog {
            ocf_root,
            ocf_agents: Mutex::new(HashMap::new()),
        }
    }

    /// Where OCF agents are looked for.
    pub(crate) fn ocf_root(&self) -> &Path {
        &self.ocf_root
    }

    /// The resource agent for a type other than `lb`, an OCF one cached while its script
    /// is unchanged; the error is the message an operator reads.
    pub(crate) fn agent(&self, type_name: &str) -> Result<Arc<dyn ResourceAgent>, String> {
        let unknown = || {
            format!(
                "type: {type_name:?} is unknown; use process, vip, lb or \
                 ocf:<provider>:<agent> (e.g. ocf:heartbeat:Dummy); `encluster type list` \
                 shows every type"
            )
        };
        let Some(ocf_type) = resource_agents::OcfType::parse(type_name) else {
            return resource_agents::builtin(type_name, &self.ocf_root).map_err(|_| unknown());
        };
        let script = self
            .ocf_root
            .join("resource.d")
            .join(&ocf_type.provider)
            .join(&ocf_type.agent);
        let stamp = std::fs::metadata(&script)
            .map(|meta| (meta.len(), meta.modified().ok()))
            .unwrap_or((0, None));
        let mut agents = self
            .ocf_agents
            .lock()
            .expect("type cache lock is never poisoned");
        if let Some(cached) = agents.get(type_name).filter(|c| c.stamp == stamp) {
            return Ok(cached.agent.clone());
        }
        let agent = resource_agents::builtin(type_name, &self.ocf_root).map_err(|_| unknown())?;
        if agents.len() >= TYPE_CACHE_MAX {
            agents.clear();
        }
        let cached = Cached {
            stamp,
            agent: agent.clone(),
            description: None,
        };
        agents.insert(type_name.to_owned(), cached);
        Ok(agent)
    }

    /// The description of `type_name`.
    async fn describe(&self, type_name: &str) -> Result<TypeInfo, (StatusCode, String)> {
        let described = if type_name == "lb" {
            let lb = crate::lb_agent::schema();
            Ok(builtin_info("lb", lb))
        } else {
            let agent = self
                .agent(type_name)
                .map_err(|message| (StatusCode::NOT_FOUND, message))?;
            agent.describe().await
        };
        let mut info = described.map_err(|error| match error {
            MetaError::NotInstalled { .. } => (StatusCode::NOT_FOUND, error.to_string()),
            MetaError::Unusable { .. } => (StatusCode::BAD_GATEWAY, error.to_string()),
        })?;
        match BUILTIN.iter().find(|(name, _)| *name == type_name) {
            Some((_, description)) => info.description = (*description).to_owned(),
            None => self.remember_description(type_name, &info.description),
        }
        Ok(info)
    }

    /// The OCF types installed here, `ocf:<provider>:<agent>`, sorted, at most
    /// `OCF_AGENTS_MAX`.
    fn ocf_types(&self) -> Vec<String> {
        let mut names = Vec::new();
        let Ok(providers) = std::fs::read_dir(self.ocf_root.join("resource.d")) else {
            return names;
        };
        for provider in providers.flatten() {
            let Ok(scripts) = std::fs::read_dir(provider.path()) else {
                continue;
            };
            for script in scripts.flatten() {
                let name = format!(
                    "ocf:{}:{}",
                    provider.file_name().to_string_lossy(),
                    script.file_name().to_string_lossy()
                );
                if is_executable(&script.path()) && resource_agents::OcfType::parse(&name).is_some()
                {
                    names.push(name);
                }
            }
        }
        names.sort();
        names.truncate(OCF_AGENTS_MAX);
        names
    }

    /// The one-line description of an OCF type, if it was described already.
    fn cached_description(&self, type_name: &str) -> Option<String> {
        let agents = self
            .ocf_agents
            .lock()
            .expect("type cache lock is never poisoned");
        agents.get(type_name)?.description.clone()
    }

    fn remember_description(&self, type_name: &str, description: &str) {
        let mut agents = self
            .ocf_agents
            .lock()
            .expect("type cache lock is never poisoned");
        if let Some(cached) = agents.get_mut(type_name) {
            cached.description = Some(description.to_owned());
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn builtin_info(name: &str, schema: model::ParamSchema) -> TypeInfo {
    TypeInfo {
        name: name.to_owned(),
        class: TypeClass::Builtin,
        description: String::new(),
        schema,
        actions: ["start", "stop", "monitor"]
            .into_iter()
            .map(|action| model::ActionSpec {
                name: action.to_owned(),
                timeout: None,
                interval: None,
                depth: None,
            })
            .collect(),
    }
}

/// The wire form of a type's description.
pub(crate) fn type_detail(info: &TypeInfo) -> ::api::TypeDetail {
    let show = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let parameters = info
        .schema
        .params
        .iter()
        .map(|spec| {
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
            let (min, max) = match spec.kind {
                ParamKind::Port => (spec.min.or(Some(1)), spec.max.or(Some(65535))),
                _ => (spec.min, spec.max),
            };
            ::api::TypeParameter {
                name: spec.name.clone(),
                kind: kind.to_owned(),
                choices,
                required: spec.required,
                default: spec.default.clone(),
                min,
                max,
                unique: spec.unique,
                reloadable: spec.reloadable,
                description: spec.description.clone(),
            }
        })
        .collect();
    let actions = info
        .actions
        .iter()
        .map(|action| ::api::TypeAction {
            name: action.name.clone(),
            timeout: action.timeout.map(show),
            interval: action.interval.map(show),
            depth: action.depth,
        })
        .collect();
    ::api::TypeDetail {
        name: info.name.clone(),
        class: info.class.as_str().to_owned(),
        description: info.description.clone(),
        parameters,
        actions,
        definition: None,
    }
}

/// The description of the stored user type `name`, with its definition.
pub(crate) fn user_detail(state: &ApiState, name: &str) -> Option<::api::TypeDetail> {
    let definition = super::user_types::stored(state, name)?;
    let roles = super::user_types::stored_roles(state, name);
    let mut info = resource_agents::describe_user_type(&definition);
    for (action, program) in roles.programs() {
        info.actions.push(model::ActionSpec {
            name: action.to_owned(),
            timeout: Some(program.timeout),
            interval: None,
            depth: None,
        });
    }
    let mut detail = type_detail(&info);
    detail.definition = Some(super::user_types::to_type_spec(&definition, &roles));
    Some(detail)
}

/// `GET /v1/types`.
pub(crate) async fn list(State(state): State<ApiState>) -> Json<::api::TypeList> {
    let catalog = state.types.clone();
    let mut types: Vec<::api::TypeSummary> = BUILTIN
        .iter()
        .map(|(name, description)| ::api::TypeSummary {
            name: (*name).to_owned(),
            class: TypeClass::Builtin.as_str().to_owned(),
            description: (*description).to_owned(),
        })
        .collect();
    let scanned = tokio::task::spawn_blocking({
        let catalog = catalog.clone();
        move || catalog.ocf_types()
    })
    .await
    .unwrap_or_default();
    types.extend(scanned.into_iter().map(|name| ::api::TypeSummary {
        description: catalog.cached_description(&name).unwrap_or_default(),
        class: TypeClass::Ocf.as_str().to_owned(),
        name,
    }));
    let user = super::user_types::all_stored(&state);
    types.extend(user.into_values().map(|definition| ::api::TypeSummary {
        name: definition.name,
        class: TypeClass::User.as_str().to_owned(),
        description: definition.description,
    }));
    Json(::api::TypeList {
        types,
        node: state.node_id,
        ocf_root: catalog.ocf_root().display().to_string(),
    })
}

/// `GET /v1/types/{name}`.
pub(crate) async fn show(
    State(state): State<ApiState>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    if let Some(detail) = user_detail(&state, &name) {
        return Json(detail).into_response();
    }
    match state.types.describe(&name).await {
        Ok(info) => Json(type_detail(&info)).into_response(),
        Err((status, message)) => error(status, message),
    }
}
