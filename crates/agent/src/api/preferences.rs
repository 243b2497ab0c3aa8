//! The operator's temporary placement preferences: `resource move` / `group move` (to a
//! node, or away from where it runs), `resource ban`, and `resource clear` / `move --clear`
//! that lift them, as pcs's `cli-prefer-*` and `cli-ban-*` constraints.
//!
//! A preference on a group member applies to the whole group, so the preferences of a
//! group and of its members are kept under the group's name: a new move of the group (or of
//! any member) replaces its earlier move, and never leaves two `INFINITY` preferences for
//! different nodes behind.

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb::{Command, ResourceDb};
use model::{GroupId, LocationConstraint, Millis, NodeId, ResourceId, SCORE_INFINITY};

use super::constraints::{Origin, entries};
use super::resources::{Call, propose_all};
use super::{ApiState, error};
use crate::clock::now_ms;

/// Where the preferences of `name` are kept, and every name whose own older preferences
/// the key's replace: a group (by name or through a member) is kept under its name.
pub(crate) fn preference_key(db: &ResourceDb, name: &ResourceId) -> (ResourceId, Vec<ResourceId>) {
    let group = match db.groups.get(&GroupId(name.0.clone())) {
        Some(group) if !db.resources.contains_key(name) => Some(group),
        _ => db
            .groups
            .values()
            .find(|group| group.members.contains(name)),
    };
    match group {
        Some(group) => {
            let key = ResourceId(group.id.0.clone());
            let mut names = group.members.clone();
            names.push(key.clone());
            (key, names)
        }
        None => (name.clone(), vec![name.clone()]),
    }
}

fn parse<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Response> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))
}

/// The expiry of a preference that lasts `for_duration` from now.
fn expiry(for_duration: Option<&str>) -> Result<Option<Millis>, Response> {
    let Some(text) = for_duration else {
        return Ok(None);
    };
    // The shared parser, so the CLI and the server accept and refuse the same texts with
    // the same message.
    match model::parse_duration_text(text) {
        Ok(d) if !d.is_zero() => Ok(Some(
            now_ms() + u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2),
        )),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("for: {text:?} must be longer than zero"),
        )),
        Err(invalid) => Err(error(StatusCode::BAD_REQUEST, format!("for: {invalid}"))),
    }
}

fn check_node(state: &ApiState, node: u64, field: &str) -> Result<NodeId, Response> {
    if state.shared.read(|db| db.nodes.contains_key(&NodeId(node))) {
        Ok(NodeId(node))
    } else {
        Err(error(
            StatusCode::BAD_REQUEST,
            format!("{field}: node {node} is not a member"),
        ))
    }
}

/// A move is an `INFINITY` preference for a node, or `-INFINITY` for every node where it
/// runs; it replaces the earlier move of the resource or group, and `clear` removes it.
pub(crate) fn move_commands(
    state: &ApiState,
    body: &Bytes,
    name: &ResourceId,
) -> Result<Vec<Command>, Response> {
    let request: ::api::MoveRequest = parse(body)?;
    if request.clear && (request.to.is_some() || request.for_duration.is_some()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "clear: a cleared move has no target or duration; give clear alone",
        ));
    }
    let expires_at = expiry(request.for_duration.as_deref())?;
    let (key, names) = state.shared.read(|db| preference_key(&db.resources, name));
    let constraints = match (request.clear, request.to) {
        (true, _) => Vec::new(),
        (false, Some(node)) => vec![LocationConstraint {
            resource: key.clone(),
            node: check_node(state, node, "to")?,
            score: SCORE_INFINITY,
            expires_at,
        }],
        (false, None) => away(state, &key, &names, expires_at)?,
    };
    let mut commands: Vec<Command> = state.shared.read(|db| {
        names
            .iter()
            .filter(|other| **other != key && db.resources.moves.contains_key(*other))
            .map(|other| Command::SetMove {
                resource: other.clone(),
                constraints: Vec::new(),
            })
            .collect()
    });
    commands.push(Command::SetMove {
        resource: key,
        constraints,
    });
    Ok(commands)
}

/// `-INFINITY` for every node where any of `names` is active.
fn away(
    state: &ApiState,
    key: &ResourceId,
    names: &[ResourceId],
    expires_at: Option<Millis>,
) -> Result<Vec<LocationConstraint>, Response> {
    let mut running: Vec<NodeId> = state.shared.read(|db| {
        names
            .iter()
            .filter_map(|name| db.resources.status.get(name))
            .flat_map(|nodes| nodes.iter())
            .filter(|(_, status)| status.state.is_active())
            .map(|(node, _)| *node)
            .collect()
    });
    running.sort_unstable();
    running.dedup();
    if running.is_empty() {
        return Err(error(
            StatusCode::CONFLICT,
            format!("{key} runs nowhere; give --to NODE"),
        ));
    }
    Ok(running
        .into_iter()
        .map(|node| LocationConstraint {
            resource: key.clone(),
            node,
            score: -SCORE_INFINITY,
            expires_at,
        })
        .collect())
}

/// A ban is a `-INFINITY` preference against one node, next to the other bans of the
/// resource or group; a new ban of the same node replaces the old one (and its expiry).
pub(crate) fn ban_commands(
    state: &ApiState,
    body: &Bytes,
    name: &ResourceId,
) -> Result<Vec<Command>, Response> {
    let request: ::api::BanRequest = parse(body)?;
    let node = check_node(state, request.node, "node")?;
    let expires_at = expiry(request.for_duration.as_deref())?;
    let (key, _) = state.shared.read(|db| preference_key(&db.resources, name));
    let mut bans = state
        .shared
        .read(|db| db.resources.bans.get(&key).cloned().unwrap_or_default());
    bans.retain(|ban| ban.node != node);
    bans.push(LocationConstraint {
        resource: key.clone(),
        node,
        score: -SCORE_INFINITY,
        expires_at,
    });
    Ok(vec![Command::SetBans {
        resource: key,
        constraints: bans,
    }])
}

/// `resource clear`: removes the moves and bans of a resource or group (only those naming
/// `node`, if given) and answers with their ids.
pub(crate) async fn clear(state: &ApiState, call: Call, name: &ResourceId) -> Response {
    let request: ::api::ClearRequest = match parse(&call.body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let (removed, commands) = state.shared.read(|db| {
        let resources = &db.resources;
        let (_, names) = preference_key(resources, name);
        let node = request.node.map(NodeId);
        let matches =
            |key: &ResourceId, list: Option<&Vec<LocationConstraint>>, position: usize| {
                names.contains(key)
                    && list
                        .and_then(|list| list.get(position))
                        .is_some_and(|l| node.is_none_or(|node| l.node == node))
            };
        let mut removed = Vec::new();
        for entry in entries(resources) {
            let hit = match &entry.origin {
                Origin::Move { key, position } => matches(key, resources.moves.get(key), *position),
                Origin::Ban { key, position } => matches(key, resources.bans.get(key), *position),
                Origin::Declared(_) => false,
            };
            if hit {
                removed.push(entry.view.id);
            }
        }
        let keep = |list: &Vec<LocationConstraint>| -> Vec<LocationConstraint> {
            list.iter()
                .filter(|l| node.is_some_and(|node| l.node != node))
                .cloned()
                .collect()
        };
        let mut commands = Vec::new();
        for key in &names {
            if let Some(list) = resources.moves.get(key) {
                let constraints = keep(list);
                if constraints.len() != list.len() {
                    let resource = key.clone();
                    commands.push(Command::SetMove {
                        resource,
                        constraints,
                    });
                }
            }
            if let Some(list) = resources.bans.get(key) {
                let constraints = keep(list);
                if constraints.len() != list.len() {
                    let resource = key.clone();
                    commands.push(Command::SetBans {
                        resource,
                        constraints,
                    });
                }
            }
        }
        (removed, commands)
    });
    propose_all(state, &call, commands, move |_| {
        Json(::api::Cleared {
            removed: removed.clone(),
        })
        .into_response()
    })
    .await
}
