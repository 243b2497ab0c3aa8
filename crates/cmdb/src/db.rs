//! The cluster database itself: plain data plus a deterministic `apply`.

use std::collections::{BTreeMap, VecDeque};

use model::{Event, EventKind, Millis, NodeHealth, NodeId, NodeInfo};
use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::limits::{
    ACTOR_BYTES_MAX, EVENTS_MAX, EVENTS_PER_COMMAND_MAX, KEY_BYTES_MAX, KEYS_MAX, TOKENS_MAX,
    VALUE_BYTES_MAX,
};
use crate::monitoring::MonitorDb;
use crate::resources::ResourceDb;
use crate::sessions::{Admission, Sessions};

/// The cluster's identity, set once at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterMeta {
    /// The cluster's name.
    pub name: String,
    /// The cluster CA certificate (public).
    pub ca_cert_pem: String,
    /// The cluster CA private key; replicated so that any master can admit a joining node.
    /// Never served by the API.
    pub ca_key_pem: String,
    /// When the cluster was created.
    pub created_at_ms: Millis,
}

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// An API token: full access, or the role `UserDb::token_roles` gives it (issue 14).
    Admin,
    /// Admits a new node.
    Join,
}

/// A stored token: only its SHA-256 hash is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// What the token allows.
    pub kind: TokenKind,
    /// A note for the operator.
    pub label: String,
    /// When it was created.
    pub created_at_ms: Millis,
}

/// What the cluster records about a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// How to reach it.
    pub info: NodeInfo,
    /// Health as last recorded by a master.
    pub health: NodeHealth,
    /// When `health` last changed.
    pub health_since_ms: Millis,
    /// When the node was added.
    pub joined_at_ms: Millis,
}

/// The key/value table: key to (value, revision). A persistent map, so that the copy a
/// snapshot takes on the apply path costs O(1) however many keys there are (a `BTreeMap`
/// of 200,000 keys of 256 bytes took 53-212 ms to copy here, stalling every write meanwhile;
/// this map, under a microsecond, and each insert costs about 0.7 µs more); it
/// serialises exactly as a `BTreeMap` does, so the snapshot format is unchanged.
pub type KvTable = imbl::OrdMap<String, (String, u64)>;

/// The replicated state. Everything here is a pure function of the applied log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterDb {
    /// The cluster's identity; empty until `InitCluster`.
    pub meta: ClusterMeta,
    /// Key/value table for tests and tools: key to (value, revision).
    pub kv: KvTable,
    /// Revision of the last key/value change.
    pub kv_revision: u64,
    /// Known nodes.
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    /// The next id `AllocateNodeId` hands out; ids are never reused.
    pub next_node_id: u64,
    /// Token hashes to their records.
    pub tokens: BTreeMap<String, TokenRecord>,
    /// The newest events, oldest first.
    pub events: VecDeque<Event>,
    /// The sequence number the next event gets.
    pub next_event_seq: u64,
    /// Resources: configuration, status, assignments, operation log.
    pub resources: ResourceDb,
    /// Client sessions, for exactly-once writes.
    pub sessions: Sessions,
    // --- app ---
    /// Application checkpoints, per resource and name.
    pub checkpoints: crate::checkpoints::Checkpoints,
    // --- mon ---
    /// Alert recipients, threshold rules, delivery cursors and incidents.
    pub monitoring: MonitorDb,
    // --- users ---
    /// Users, login sessions and the roles of API tokens.
    pub users: crate::users::UserDb,
    // --- fence ---
    /// Fencing devices and the history of fencing attempts.
    pub fencing: crate::fencing::FenceDb,
    // --- upgrade ---
    /// The cluster format (`format`): 0 (read as 1) until the master first raises it.
    pub format: u32,
    // --- rotate ---
    /// Certificates (renewals, a CA change, each node's certificate) and revoked tokens.
    pub certs: crate::certs::CertDb,
    // --- roles ---
    /// The promote, demote and notify programs of user types, by type name (only types
    /// that have some); beside `ResourceDb::types`, whose layout is fixed (`type_roles`).
    pub type_roles: BTreeMap<String, model::RolePrograms>,
}

impl ClusterDb {
    /// Apply one committed command. Deterministic, and never panics on bad input: an invalid
    /// command is refused with `CommandResult::Rejected`.
    pub fn apply(&mut self, command: Command) -> CommandResult {
        if let Err(reason) = self.admits(&command) {
            return rejected(reason);
        }
        match command {
            Command::Put { key, value } => self.put(key, value),
            Command::Delete { key } => {
                if self.kv.remove(&key).is_some() {
                    self.kv_revision += 1;
                }
                CommandResult::Revision(self.kv_revision)
            }
            Command::InitCluster {
                name,
                ca_cert_pem,
                ca_key_pem,
                at_ms,
            } => {
                if !self.meta.name.is_empty() {
                    return rejected(format!(
                        "cluster {:?} is already initialised",
                        self.meta.name
                    ));
                }
                self.meta = ClusterMeta {
                    name,
                    ca_cert_pem,
                    ca_key_pem,
                    created_at_ms: at_ms,
                };
                CommandResult::Ok
            }
            Command::AddToken {
                hash,
                kind,
                label,
                at_ms,
            } => {
                if self.tokens.len() >= TOKENS_MAX && !self.tokens.contains_key(&hash) {
                    return rejected(format!("too many tokens (limit {TOKENS_MAX})"));
                }
                // An admin or join token has no role of its own (issue 14).
                self.users.token_roles.remove(&hash);
                self.tokens.insert(
                    hash,
                    TokenRecord {
                        kind,
                        label,
                        created_at_ms: at_ms,
                    },
                );
                CommandResult::Ok
            }
            Command::UseJoinToken { hash } => {
                if self
                    .tokens
                    .get(&hash)
                    .is_none_or(|record| record.kind != TokenKind::Join)
                {
                    return rejected(
                        "the join token was used already or never issued; \
                         issue one per node with `encluster token join`"
                            .into(),
                    );
                }
                self.tokens.remove(&hash);
                CommandResult::Ok
            }
            Command::AllocateNodeId => {
                let id = NodeId(self.next_node_id.max(1));
                self.next_node_id = id.0 + 1;
                CommandResult::NodeId(id)
            }
            Command::UpsertNode { id, info, at_ms } => self.upsert_node(id, info, at_ms),
            Command::RemoveNode { id } => {
                if self.nodes.remove(&id).is_none() {
                    return rejected(format!("node {id} is not a member"));
                }
                CommandResult::Ok
            }
            Command::RecordEvents { at_ms, events } => {
                if events.len() > EVENTS_PER_COMMAND_MAX {
                    return rejected(format!(
                        "{} events in one command (limit {EVENTS_PER_COMMAND_MAX})",
                        events.len()
                    ));
                }
                for kind in events {
                    self.push_event(at_ms, kind);
                }
                CommandResult::Ok
            }
            Command::SetNodeHealth { at_ms, changes } => self.set_node_health(at_ms, changes),
            Command::Session {
                session,
                seq,
                floor,
                at_ms,
                command,
            } => self.apply_once(session, seq, floor, at_ms, *command),
            Command::PutCheckpoint {
                resource,
                node,
                fencing_token,
                name,
                data,
                at_ms,
            } => {
                let write = crate::checkpoints::CheckpointWrite {
                    resource,
                    node,
                    fencing_token,
                    name,
                    data,
                    at_ms,
                };
                crate::checkpoints::put(&mut self.checkpoints, &self.resources, write)
            }
            Command::Audited {
                actor,
                at_ms,
                command,
            } => self.apply_audited(actor, at_ms, *command),
            alert @ (Command::PutAlert { .. }
            | Command::RemoveAlert { .. }
            | Command::AlertDelivered { .. }
            | Command::ReplaceAlerts { .. }) => self.apply_alert_command(alert),
            user @ (Command::AddUser { .. }
            | Command::SetPassword { .. }
            | Command::SetUserRole { .. }
            | Command::RemoveUser { .. }
            | Command::OpenLogin { .. }
            | Command::CloseLogin { .. }
            | Command::AddRoleToken { .. }) => self.apply_user_command(user),
            Command::PutFenceDevice { device } => self.fencing.put(device),
            Command::RemoveFenceDevice { name } => self.fencing.remove(&name),
            Command::ReplaceFenceDevices { devices } => self.fencing.replace(devices),
            Command::SetClusterFormat { format } => self.set_cluster_format(format),
            // --- rotate ---
            Command::RotateCerts { validity_s, .. } => self.rotate_certs(validity_s),
            Command::BeginCaChange {
                ca_cert_pem,
                ca_key_pem,
                fingerprint,
                at_ms,
            } => self.begin_ca_change(crate::certs::NextCa {
                cert_pem: ca_cert_pem,
                key_pem: ca_key_pem,
                fingerprint,
                begun_at_ms: at_ms,
            }),
            Command::FinishCaChange { at_ms } => self.finish_ca_change(at_ms),
            Command::ReportNodeCert { node, cert } => self.report_node_cert(node, cert),
            Command::CertExpiryWarned {
                subject,
                expires_at_ms,
                fix,
                at_ms,
            } => self.cert_expiry_warned(subject, expires_at_ms, fix, at_ms),
            Command::RevokeTokens { hashes, at_ms } => self.revoke_tokens(hashes, at_ms),
            Command::ReplaceToken { old, new, at_ms } => self.replace_token(&old, new, at_ms),
            // --- roles ---
            Command::PutTypeWithRoles {
                definition,
                roles,
                create,
            } => self.put_type_with_roles(*definition, *roles, create),
            Command::ReplaceConfigWithRoles {
                types,
                roles,
                resources,
                groups,
                constraints,
                promotable,
            } => {
                let config = crate::type_roles::ConfigWithRoles {
                    types,
                    roles,
                    resources,
                    groups,
                    constraints,
                    promotable,
                };
                let result = self.replace_config_with_roles(config);
                crate::checkpoints::retain_configured(&mut self.checkpoints, &self.resources);
                result
            }
            other => {
                let replaced = crate::type_roles::types_replaced(&other);
                let removes = matches!(
                    other,
                    Command::DeleteResource { .. }
                        | Command::ReplaceConfig { .. }
                        | Command::ReplaceConfigWithTypes { .. }
                        | Command::ReplaceConfigPromotable { .. }
                );
                let result = self.apply_resource_command(other);
                if removes {
                    crate::checkpoints::retain_configured(&mut self.checkpoints, &self.resources);
                }
                if !matches!(result, CommandResult::Rejected(_)) {
                    // The older type commands define a type without role programs.
                    for name in replaced {
                        self.type_roles.remove(&name);
                    }
                }
                result
            }
        }
    }

    fn apply_resource_command(&mut self, command: Command) -> CommandResult {
        let resources = &mut self.resources;
        match command {
            Command::PutResource { resource, create } => {
                resources.put_resource(resource, create, None)
            }
            Command::DeleteResource { id } => resources.delete_resource(&id),
            Command::EditServer { resource, edit } => resources.edit_server(&resource, &edit),
            Command::PutGroup { group } => resources.try_config(|db| {
                db.groups.insert(group.id.clone(), group);
            }),
            Command::DeleteGroup { id } => resources.delete_group(&id),
            // --- edit ---
            Command::UpdateGroup { group } => resources.update_group(group),
            Command::UpdateConstraint { old, new } => resources.update_constraint(&old, new),
            Command::AddConstraint { constraint } => {
                resources.try_config(|db| db.constraints.push(constraint))
            }
            Command::SetMove {
                resource,
                constraints,
            } => resources.try_config(|db| {
                if constraints.is_empty() {
                    db.moves.remove(&resource);
                } else {
                    db.moves.insert(resource, constraints);
                }
            }),
            Command::SetNodeConfig { node } => {
                resources.node_config.insert(node.id, node);
                CommandResult::Ok
            }
            Command::SetTargetRole { resource, role } => resources.set_target_role(&resource, role),
            Command::Cleanup { resource, node } => {
                resources.cleanup(&resource, node);
                CommandResult::Ok
            }
            Command::ChangeAssignments { changes } => {
                CommandResult::Tokens(resources.change_assignments(changes))
            }
            Command::RecordOperation {
                node,
                report,
                at_ms,
            } => {
                let failure = resources.record(node, report.clone(), at_ms);
                if let Some(event) = failure {
                    self.push_event(at_ms, event);
                }
                self.monitoring.incidents.on_report(node, &report, at_ms);
                CommandResult::Ok
            }
            Command::ReplaceConfig {
                resources: list,
                groups,
                constraints,
            } => resources.replace_config(list, groups, constraints),
            Command::RemoveConstraint { constraint } => resources.remove_constraint(&constraint),
            Command::SetBans {
                resource,
                constraints,
            } => resources.set_bans(resource, constraints),
            Command::SetManaged { resource, managed } => resources.set_managed(resource, managed),
            command @ (Command::PutType { .. }
            | Command::DeleteType { .. }
            | Command::ReplaceConfigWithTypes { .. }) => resources.apply_type_command(command),
            // --- promo ---
            Command::SetPromotionScore {
                node,
                resource,
                score,
            } => resources.set_promotion_score(node, resource, score),
            Command::PutPromotable {
                resource,
                create,
                promoted_max,
            } => resources.put_resource(*resource, create, Some(promoted_max)),
            // --- more12 ---
            Command::ReplaceConfigPromotable {
                types,
                resources: list,
                groups,
                constraints,
                promotable,
            } => resources.replace_config_promotable(types, list, groups, constraints, promotable),
            other => rejected(format!("command {other} is not a resource command")),
        }
    }

    /// Apply a client's write unless it was applied before (then answer as the first time).
    fn apply_once(
        &mut self,
        session: u64,
        seq: u64,
        floor: u64,
        at_ms: Millis,
        command: Command,
    ) -> CommandResult {
        if matches!(command, Command::Session { .. }) {
            return rejected("a session write cannot wrap another session write".into());
        }
        match self.sessions.admit(session, seq, floor, at_ms) {
            Admission::Duplicate(result) => result,
            Admission::Apply => {
                let result = self.apply(command);
                self.sessions.record(session, seq, floor, &result);
                result
            }
        }
    }

    fn apply_alert_command(&mut self, command: Command) -> CommandResult {
        let next = self.next_event_seq;
        let alerts = &mut self.monitoring;
        match command {
            Command::PutAlert { alert } => alerts.put_alert(alert, next),
            Command::RemoveAlert { name } => alerts.remove_alert(&name),
            Command::AlertDelivered { name, next_seq } => alerts.advance(&name, next_seq),
            Command::ReplaceAlerts { alerts: list } => alerts.replace_alerts(list, next),
            other => rejected(format!("command {other} is not an alert command")),
        }
    }

    // --- users ---
    fn apply_user_command(&mut self, command: Command) -> CommandResult {
        let users = &mut self.users;
        match command {
            Command::AddUser {
                name,
                role,
                password_hash,
                at_ms,
            } => users.add_user(name, role, password_hash, at_ms),
            Command::SetPassword {
                name,
                password_hash,
                at_ms,
            } => users.set_password(&name, password_hash, at_ms),
            Command::SetUserRole { name, role } => users.set_role(&name, role),
            Command::RemoveUser { name } => users.remove_user(&name),
            Command::OpenLogin {
                hash,
                user,
                expires_at_ms,
                at_ms,
            } => users.open_login(hash, user, expires_at_ms, at_ms),
            Command::CloseLogin { hash } => users.close_login(&hash),
            Command::AddRoleToken {
                hash,
                role,
                label,
                at_ms,
            } => {
                if self.tokens.len() >= TOKENS_MAX && !self.tokens.contains_key(&hash) {
                    return rejected(format!("too many tokens (limit {TOKENS_MAX})"));
                }
                let record = TokenRecord {
                    kind: TokenKind::Admin,
                    label,
                    created_at_ms: at_ms,
                };
                self.tokens.insert(hash.clone(), record);
                users.token_roles.insert(hash, role);
                CommandResult::Ok
            }
            other => rejected(format!("command {other} is not a user command")),
        }
    }

    /// Apply an operator's write and, when it is accepted, record who did what.
    fn apply_audited(&mut self, actor: String, at_ms: Millis, command: Command) -> CommandResult {
        if matches!(command, Command::Session { .. } | Command::Audited { .. }) {
            return rejected("an audited write cannot wrap a session or audited write".into());
        }
        if actor.is_empty() || actor.len() > ACTOR_BYTES_MAX {
            return rejected(format!("an actor must be 1 to {ACTOR_BYTES_MAX} bytes"));
        }
        let action = command.to_string();
        let result = self.apply(command);
        if !matches!(result, CommandResult::Rejected(_)) {
            self.push_event(at_ms, EventKind::OperatorAction { actor, action });
        }
        result
    }

    fn put(&mut self, key: String, value: String) -> CommandResult {
        if key.is_empty() || key.len() > KEY_BYTES_MAX {
            return rejected(format!("key must be 1 to {KEY_BYTES_MAX} bytes"));
        }
        if value.len() > VALUE_BYTES_MAX {
            return rejected(format!("value is above {VALUE_BYTES_MAX} bytes"));
        }
        if self.kv.len() >= KEYS_MAX && !self.kv.contains_key(&key) {
            return rejected(format!("too many keys (limit {KEYS_MAX})"));
        }
        self.kv_revision += 1;
        self.kv.insert(key, (value, self.kv_revision));
        CommandResult::Revision(self.kv_revision)
    }

    fn upsert_node(&mut self, id: NodeId, info: NodeInfo, at_ms: Millis) -> CommandResult {
        if id.0 == 0 {
            return rejected("node id 0 is reserved".to_string());
        }
        if let Some(other) = self
            .nodes
            .iter()
            .find(|(k, r)| **k != id && r.info.name == info.name)
        {
            return rejected(format!(
                "node name {:?} is taken by node {}",
                info.name, other.0
            ));
        }
        self.next_node_id = self.next_node_id.max(id.0 + 1);
        match self.nodes.get_mut(&id) {
            Some(record) => record.info = info,
            None => {
                let nodes_max = self.nodes_max();
                if self.nodes.len() >= nodes_max {
                    return rejected(format!("too many nodes (limit {nodes_max})"));
                }
                let name = info.name.clone();
                let record = NodeRecord {
                    info,
                    health: NodeHealth::Online,
                    health_since_ms: at_ms,
                    joined_at_ms: at_ms,
                };
                self.nodes.insert(id, record);
                self.push_event(at_ms, EventKind::NodeJoined { node: id, name });
            }
        }
        CommandResult::Ok
    }

    fn set_node_health(
        &mut self,
        at_ms: Millis,
        changes: Vec<(NodeId, NodeHealth, u64)>,
    ) -> CommandResult {
        if changes.len() > EVENTS_PER_COMMAND_MAX {
            return rejected(format!("{} changes in one command", changes.len()));
        }
        for (node, health, silence_ms) in changes {
            let Some(record) = self.nodes.get_mut(&node) else {
                continue;
            };
            if record.health == health {
                continue;
            }
            let from = record.health;
            record.health = health;
            record.health_since_ms = at_ms;
            self.push_event(
                at_ms,
                EventKind::NodeHealth {
                    node,
                    from,
                    to: health,
                    silence_ms,
                },
            );
        }
        CommandResult::Ok
    }

    pub(crate) fn push_event(&mut self, at_ms: Millis, kind: EventKind) {
        let event = Event {
            seq: self.next_event_seq,
            at_ms,
            kind,
        };
        self.monitoring.incidents.on_event(&event);
        self.fencing.on_event(&event, &self.monitoring.incidents);
        self.events.push_back(event);
        self.next_event_seq += 1;
        while self.events.len() > EVENTS_MAX {
            self.events.pop_front();
        }
        debug_assert!(self.events.len() <= EVENTS_MAX, "event log over its bound");
    }

    /// Events with a sequence number of at least `from_seq`, oldest first, at most `limit`.
    pub fn events_since(&self, from_seq: u64, limit: usize) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.seq >= from_seq)
            .take(limit)
            .cloned()
            .collect()
    }
}

fn rejected(reason: String) -> CommandResult {
    CommandResult::Rejected(reason)
}
