//! `GET /v1/constraints`, `PUT` and `DELETE /v1/constraints/{id}`: every declared
//! constraint and every preference left by `resource move` and `resource ban`, each with
//! an id derived from its content (as pcs names its constraints), the edit of a declared
//! one in place, and the command that removes one.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb::{Command, ResourceDb, StoredConstraint};
use model::{Constraint, LocationConstraint, OrderKind, ResourceId, SCORE_INFINITY, score_display};

use super::resources::{Call, parse, propose_all, to_constraint};
use super::{ApiState, error};

/// Where a listed constraint lives, which decides how it is removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Declared: `constraint add` or `apply -f`.
    Declared(StoredConstraint),
    /// One of the preferences of a move, kept under `key` (a resource or a group).
    Move { key: ResourceId, position: usize },
    /// One of the bans kept under `key`.
    Ban { key: ResourceId, position: usize },
}

/// One constraint with its id and origin.
pub(crate) struct Entry {
    pub(crate) view: ::api::ConstraintView,
    pub(crate) origin: Origin,
}

/// The constraint as the API writes it.
pub(crate) fn to_constraint_spec(constraint: &Constraint) -> ::api::ConstraintSpec {
    match constraint {
        Constraint::Order(order) => ::api::ConstraintSpec::Order {
            first: order.first.0.clone(),
            then: order.then.0.clone(),
            kind: match order.kind {
                OrderKind::Mandatory => None,
                OrderKind::Optional => Some("optional".to_owned()),
            },
        },
        Constraint::Colocation(colocation) => ::api::ConstraintSpec::Colocation {
            resource: colocation.resource.0.clone(),
            with: colocation.with.0.clone(),
            score: score_display(colocation.score),
        },
        Constraint::Location(location) => ::api::ConstraintSpec::Location {
            resource: location.resource.0.clone(),
            node: location.node.0,
            score: score_display(location.score),
        },
    }
}

fn declared_id(constraint: &Constraint) -> String {
    match constraint {
        Constraint::Order(order) => format!("order-{}-{}-{}", order.first, order.then, order.kind),
        Constraint::Colocation(colocation) => format!(
            "colocation-{}-{}-{}",
            colocation.resource,
            colocation.with,
            score_display(colocation.score)
        ),
        Constraint::Location(location) => format!(
            "location-{}-{}-{}",
            location.resource,
            location.node,
            score_display(location.score)
        ),
    }
}

fn preference_id(word: &str, location: &LocationConstraint) -> String {
    format!("cli-{word}-{}-on-{}", location.resource, location.node)
}

/// Every constraint, move and ban, declared ones first, each id unique.
pub(crate) fn entries(db: &ResourceDb) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut push = |id: String, constraint: Constraint, expires: Option<u64>, origin: Origin| {
        let word = match origin {
            Origin::Declared(_) => "constraint",
            Origin::Move { .. } => "move",
            Origin::Ban { .. } => "ban",
        };
        entries.push(Entry {
            view: ::api::ConstraintView {
                id,
                origin: word.to_owned(),
                constraint: to_constraint_spec(&constraint),
                expires_at_ms: expires,
            },
            origin,
        });
    };
    for stored in &db.constraints {
        let constraint = Constraint::from(stored.clone());
        let id = declared_id(&constraint);
        push(id, constraint, None, Origin::Declared(stored.clone()));
    }
    for (key, moves) in &db.moves {
        for (position, location) in moves.iter().enumerate() {
            let word = if location.score >= SCORE_INFINITY {
                "prefer"
            } else {
                "avoid"
            };
            let origin = Origin::Move {
                key: key.clone(),
                position,
            };
            let constraint = Constraint::Location(location.clone());
            push(
                preference_id(word, location),
                constraint,
                location.expires_at,
                origin,
            );
        }
    }
    for (key, bans) in &db.bans {
        for (position, location) in bans.iter().enumerate() {
            let origin = Origin::Ban {
                key: key.clone(),
                position,
            };
            let constraint = Constraint::Location(location.clone());
            push(
                preference_id("ban", location),
                constraint,
                location.expires_at,
                origin,
            );
        }
    }
    make_unique(&mut entries);
    entries
}

/// A second constraint with the same id gets `-2`, a third `-3`.
fn make_unique(entries: &mut [Entry]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for entry in entries.iter_mut() {
        let count = seen.entry(entry.view.id.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            entry.view.id = format!("{}-{count}", entry.view.id);
        }
    }
}

/// The command that removes `origin` from the database.
pub(crate) fn removal(db: &ResourceDb, origin: &Origin) -> Command {
    let without = |list: Option<&Vec<LocationConstraint>>, position: usize| {
        let mut list = list.cloned().unwrap_or_default();
        if position < list.len() {
            list.remove(position);
        }
        list
    };
    match origin {
        Origin::Declared(constraint) => Command::RemoveConstraint {
            constraint: constraint.clone(),
        },
        Origin::Move { key, position } => Command::SetMove {
            resource: key.clone(),
            constraints: without(db.moves.get(key), *position),
        },
        Origin::Ban { key, position } => Command::SetBans {
            resource: key.clone(),
            constraints: without(db.bans.get(key), *position),
        },
    }
}

pub(crate) async fn list(State(state): State<ApiState>) -> Json<Vec<::api::ConstraintView>> {
    let views = state.shared.read(|db| {
        entries(&db.resources)
            .into_iter()
            .map(|entry| entry.view)
            .collect()
    });
    Json(views)
}

pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    call: Call,
) -> Response {
    let command = state.shared.read(|db| {
        let entries = entries(&db.resources);
        let entry = entries.iter().find(|entry| entry.view.id == id)?;
        Some(removal(&db.resources, &entry.origin))
    });
    let Some(command) = command else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no constraint {id:?}; `encluster constraint list` shows the ids"),
        );
    };
    propose_all(&state, &call, vec![command], move |_| {
        Json(serde_json::json!({ "removed": id })).into_response()
    })
    .await
}

/// `PUT /v1/constraints/{id}`: the declared constraint `id` replaced in place by the one
/// in the body (`POST /v1/constraints`'s spec), by one `Command::UpdateConstraint`, checked
/// there exactly as an added one is. The command names the old constraint by its content,
/// so an edit of one that changed meanwhile is refused, not applied to the new one. Moves
/// and bans are changed by moving and banning again. Answers the constraint as listed,
/// under its new id.
pub(crate) async fn update(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    call: Call,
) -> Response {
    let spec: ::api::ConstraintSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    let new = match to_constraint(spec) {
        Ok(constraint) => StoredConstraint::from(constraint),
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    let origin = state.shared.read(|db| {
        let entries = entries(&db.resources);
        let entry = entries.into_iter().find(|entry| entry.view.id == id)?;
        Some(entry.origin)
    });
    let old = match origin {
        Some(Origin::Declared(old)) => old,
        Some(Origin::Move { key, .. }) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "{id} is a move of {key} (`resource move`), not a declared constraint: \
                     move {key} again to replace it, or clear it with `encluster resource \
                     move {key} --clear`"
                ),
            );
        }
        Some(Origin::Ban { key, .. }) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "{id} is a ban of {key} (`resource ban`), not a declared constraint: ban \
                     {key} again to replace it, or lift it with `encluster resource clear \
                     {key}`"
                ),
            );
        }
        None => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no constraint {id:?}; `encluster constraint list` shows the ids"),
            );
        }
    };
    let command = Command::UpdateConstraint {
        old,
        new: new.clone(),
    };
    propose_all(&state, &call, vec![command], |state| {
        let view = state.shared.read(|db| {
            let entries = entries(&db.resources);
            let declared = Origin::Declared(new.clone());
            let entry = entries.into_iter().find(|entry| entry.origin == declared)?;
            Some(entry.view)
        });
        match view {
            Some(view) => Json(view).into_response(),
            None => error(
                StatusCode::CONFLICT,
                format!("constraint {new} was changed again before this answer"),
            ),
        }
    })
    .await
}
