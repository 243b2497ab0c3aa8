//! Edits of a virtual service's real servers (`lb` resources), applied to its parameters
//! (`servers`, `weights`, `draining`, `disabled`) as one step of the state machine, so that
//! two edits arriving at once never lose one another (a read-modify-write of the whole
//! resource would). Runtime edits (drain, enable, weight) are an operator's, as HAProxy's
//! `set server` is; adding and removing a server changes the configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Permission;

/// One edit of a virtual service's real servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEdit {
    /// Add a real server at `addr` (`host:port`), with a weight (1 when absent).
    Add {
        server: String,
        addr: String,
        weight: Option<u32>,
    },
    /// Remove a real server (drain it first to let its connections finish).
    Remove { server: String },
    /// Stop sending new connections to a server; in-flight ones finish.
    Drain { server: String },
    /// Send new connections to a drained or disabled server again.
    Enable { server: String },
    /// Change a server's weight (0 takes no new connections).
    Weight { server: String, weight: u32 },
}

impl ServerEdit {
    /// The server the edit is about.
    pub fn server(&self) -> &str {
        match self {
            ServerEdit::Add { server, .. }
            | ServerEdit::Remove { server }
            | ServerEdit::Drain { server }
            | ServerEdit::Enable { server }
            | ServerEdit::Weight { server, .. } => server,
        }
    }

    /// What the edit needs: an operator's runtime change, or an administrator's.
    pub fn permission(&self) -> Permission {
        match self {
            ServerEdit::Add { .. } | ServerEdit::Remove { .. } => Permission::Admin,
            ServerEdit::Drain { .. } | ServerEdit::Enable { .. } | ServerEdit::Weight { .. } => {
                Permission::Operate
            }
        }
    }

    /// The parameters after the edit, or why it cannot be made (the words name the
    /// server and what to do instead).
    pub fn apply(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        let get = |key: &str| params.get(key).map(String::as_str).unwrap_or_default();
        let mut servers = pairs(get("servers"));
        let mut weights = pairs(get("weights"));
        let mut draining = split(get("draining"));
        let mut disabled = split(get("disabled"));
        let known = servers.iter().any(|(name, _)| name == self.server());
        if !known && !matches!(self, ServerEdit::Add { .. }) {
            let names: Vec<&str> = servers.iter().map(|(name, _)| name.as_str()).collect();
            return Err(format!(
                "no server {:?} in this service; it has: {}",
                self.server(),
                names.join(", ")
            ));
        }
        match self {
            ServerEdit::Add {
                server,
                addr,
                weight,
            } => {
                if known {
                    return Err(format!(
                        "server {server:?} already exists; remove it first or change its weight"
                    ));
                }
                servers.push((server.clone(), addr.clone()));
                if let Some(weight) = weight {
                    weights.push((server.clone(), weight.to_string()));
                }
            }
            ServerEdit::Remove { server } => {
                servers.retain(|(name, _)| name != server);
                weights.retain(|(name, _)| name != server);
                draining.retain(|name| name != server);
                disabled.retain(|name| name != server);
                if servers.is_empty() {
                    return Err("cannot remove the last server; delete the service instead".into());
                }
            }
            ServerEdit::Drain { server } => {
                if !draining.contains(server) {
                    draining.push(server.clone());
                }
            }
            ServerEdit::Enable { server } => {
                draining.retain(|name| name != server);
                disabled.retain(|name| name != server);
            }
            ServerEdit::Weight { server, weight } => {
                weights.retain(|(name, _)| name != server);
                weights.push((server.clone(), weight.to_string()));
            }
        }
        let mut params = params.clone();
        params.insert("servers".into(), join_pairs(&servers));
        for (key, value) in [
            ("weights", join_pairs(&weights)),
            ("draining", draining.join(",")),
            ("disabled", disabled.join(",")),
        ] {
            if value.is_empty() {
                params.remove(key);
            } else {
                params.insert(key.into(), value);
            }
        }
        Ok(params)
    }
}

/// The names of a comma-separated list, trimmed, empty ones dropped.
pub fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `name=value` items of a comma-separated list.
pub fn pairs(text: &str) -> Vec<(String, String)> {
    split(text)
        .into_iter()
        .filter_map(|item| {
            item.split_once('=')
                .map(|(key, value)| (key.trim().into(), value.trim().into()))
        })
        .collect()
}

fn join_pairs(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("listen".to_string(), "127.0.0.1:80".to_string()),
            (
                "servers".to_string(),
                "a=127.0.0.1:81,b=127.0.0.1:82".to_string(),
            ),
        ])
    }

    #[test]
    fn drain_enable_and_weight_change_only_their_lists() {
        let drained = ServerEdit::Drain { server: "a".into() }
            .apply(&service())
            .expect("a is known");
        assert_eq!(drained["draining"], "a");
        assert_eq!(drained["servers"], service()["servers"]);
        let weighted = ServerEdit::Weight {
            server: "b".into(),
            weight: 0,
        }
        .apply(&drained)
        .expect("b is known");
        assert_eq!(weighted["weights"], "b=0");
        let enabled = ServerEdit::Enable { server: "a".into() }
            .apply(&weighted)
            .expect("a is known");
        assert!(!enabled.contains_key("draining"));
        assert_eq!(enabled["weights"], "b=0");
    }

    #[test]
    fn add_and_remove_keep_the_lists_consistent() {
        let added = ServerEdit::Add {
            server: "c".into(),
            addr: "127.0.0.1:83".into(),
            weight: Some(3),
        }
        .apply(&service())
        .expect("c is new");
        assert_eq!(
            added["servers"],
            "a=127.0.0.1:81,b=127.0.0.1:82,c=127.0.0.1:83"
        );
        assert_eq!(added["weights"], "c=3");
        let drained = ServerEdit::Drain { server: "c".into() }
            .apply(&added)
            .expect("c is known");
        let removed = ServerEdit::Remove { server: "c".into() }
            .apply(&drained)
            .expect("c is known");
        assert_eq!(removed, service());
    }

    #[test]
    fn bad_edits_name_the_server_and_the_fix() {
        let unknown = ServerEdit::Drain { server: "z".into() }.apply(&service());
        assert_eq!(
            unknown,
            Err("no server \"z\" in this service; it has: a, b".into())
        );
        let twice = ServerEdit::Add {
            server: "a".into(),
            addr: "127.0.0.1:9".into(),
            weight: None,
        }
        .apply(&service());
        assert!(twice.expect_err("a exists").contains("remove it first"));
        let last = ServerEdit::Remove { server: "a".into() }
            .apply(&service())
            .and_then(|params| ServerEdit::Remove { server: "b".into() }.apply(&params));
        assert!(
            last.expect_err("b is the last")
                .contains("delete the service")
        );
    }

    #[test]
    fn runtime_edits_are_an_operators_and_membership_an_administrators() {
        let drain = ServerEdit::Drain { server: "a".into() };
        assert_eq!(drain.permission(), Permission::Operate);
        let remove = ServerEdit::Remove { server: "a".into() };
        assert_eq!(remove.permission(), Permission::Admin);
    }
}
