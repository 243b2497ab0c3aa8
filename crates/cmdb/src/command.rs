//! Commands: every change to the cluster database is one of these, through the Raft log.
//!
//! Persisted format: variants are only ever appended, never reordered or removed, because
//! postcard encodes the variant index (see `codec` for the version header).

use model::{EventKind, Millis, NodeId, NodeInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::db::TokenKind;
use crate::resources::{AssignmentChange, OperationReport, StoredConstraint};

/// A change to the cluster database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Set a key of the key/value table.
    Put { key: String, value: String },
    /// Remove a key of the key/value table.
    Delete { key: String },
    /// Set the cluster's identity once, at bootstrap. Later attempts are rejected.
    InitCluster {
        name: String,
        ca_cert_pem: String,
        ca_key_pem: String,
        at_ms: Millis,
    },
    /// Store the hash of an API or join token.
    AddToken {
        hash: String,
        kind: TokenKind,
        label: String,
        at_ms: Millis,
    },
    /// Reserve the next node id (ids are never reused).
    AllocateNodeId,
    /// Add or update a node's address record.
    UpsertNode {
        id: NodeId,
        info: NodeInfo,
        at_ms: Millis,
    },
    /// Forget a node.
    RemoveNode { id: NodeId },
    /// Append events to the bounded event log; `at_ms` is the master's clock.
    RecordEvents {
        at_ms: Millis,
        events: Vec<EventKind>,
    },
    /// Record health transitions decided by the master's failure detector, with their events.
    SetNodeHealth {
        at_ms: Millis,
        changes: Vec<(NodeId, model::NodeHealth, u64)>,
    },
    /// Create (`create`) or replace a resource; refused if the result is not a valid config.
    PutResource {
        resource: model::Resource,
        create: bool,
    },
    /// Delete a resource and the constraints and group memberships naming it.
    DeleteResource { id: model::ResourceId },
    /// Create or replace a group.
    PutGroup { group: model::Group },
    /// Delete a group (its members stay, ungrouped).
    DeleteGroup { id: model::GroupId },
    /// Add a constraint.
    AddConstraint { constraint: StoredConstraint },
    /// Replace the temporary preferences of `resource move` (empty clears them).
    SetMove {
        resource: model::ResourceId,
        constraints: Vec<model::LocationConstraint>,
    },
    /// Set a node's standby, maintenance and capacity.
    SetNodeConfig { node: model::NodeConfig },
    /// Start or stop a resource (its target role).
    SetTargetRole {
        resource: model::ResourceId,
        role: model::TargetRole,
    },
    /// Forget a resource's failures, on one node or all.
    Cleanup {
        resource: model::ResourceId,
        node: Option<NodeId>,
    },
    /// The master's assignment changes; new grants get increasing fencing tokens.
    ChangeAssignments { changes: Vec<AssignmentChange> },
    /// An executor's report of an operation.
    RecordOperation {
        node: NodeId,
        report: OperationReport,
        at_ms: Millis,
    },
    /// Replace the declared resources, groups and constraints at once (`apply -f`).
    ReplaceConfig {
        resources: Vec<model::Resource>,
        groups: Vec<model::Group>,
        constraints: Vec<StoredConstraint>,
    },
    /// A client's write, applied at most once: a duplicate of `(session, seq)` is answered
    /// with the first result (see `sessions`). `floor` is the lowest sequence number the
    /// client still waits for; `at_ms` is the proposing master's clock, for expiry.
    Session {
        session: u64,
        seq: u64,
        floor: u64,
        at_ms: Millis,
        command: Box<Command>,
    },
    /// Remove one declared constraint equal to this one (`constraint remove`).
    RemoveConstraint { constraint: StoredConstraint },
    /// Replace the bans of `resource ban` on a resource or group (empty lifts them).
    SetBans {
        resource: model::ResourceId,
        constraints: Vec<model::LocationConstraint>,
    },
    /// Leave a resource alone (`managed: false`) or manage it again.
    SetManaged {
        resource: model::ResourceId,
        managed: bool,
    },
    // --- types ---
    /// Create (`create`) or replace a user-defined resource type; refused if the definition
    /// is invalid or would make a resource of the type invalid (each one named).
    PutType {
        definition: Box<model::UserType>,
        create: bool,
    },
    /// Delete a user-defined resource type; refused while resources use it.
    DeleteType { name: String },
    /// `apply -f` with types: create or replace `types` (others stay), then replace the
    /// declared resources, groups and constraints, all or nothing.
    ReplaceConfigWithTypes {
        types: Vec<model::UserType>,
        resources: Vec<model::Resource>,
        groups: Vec<model::Group>,
        constraints: Vec<StoredConstraint>,
    },
    // --- app ---
    /// Store an application checkpoint for `resource`, written by its instance on `node`
    /// under `fencing_token`; refused unless that node holds the resource's grant under
    /// exactly that token (see `checkpoints`).
    PutCheckpoint {
        resource: model::ResourceId,
        node: NodeId,
        fencing_token: u64,
        name: String,
        data: Vec<u8>,
        at_ms: Millis,
    },
    // --- mon ---
    /// An operator's write through the API: `command` is applied, and when it is accepted
    /// an `OperatorAction` event names `actor` (the API token's label) and what it did.
    Audited {
        actor: String,
        at_ms: Millis,
        command: Box<Command>,
    },
    /// Add or replace an alert recipient or threshold rule.
    PutAlert {
        alert: crate::monitoring::AlertConfig,
    },
    /// Remove an alert recipient or threshold rule.
    RemoveAlert { name: String },
    /// The master delivered (or gave up on) every alert before event `next_seq` to `name`.
    AlertDelivered { name: String, next_seq: u64 },
    /// Replace every alert recipient and rule at once (`apply -f`); those whose name stays
    /// keep their delivery cursor.
    ReplaceAlerts {
        alerts: Vec<crate::monitoring::AlertConfig>,
    },
    // --- promo ---
    /// The promotion score `node`'s instance of a promotable resource set for itself
    /// (`crm_attribute --promotion -v`), or its removal (`-D`, `None`).
    SetPromotionScore {
        node: NodeId,
        resource: model::ResourceId,
        score: Option<i64>,
    },
    /// Create or replace a promotable resource: a clone of which at most `promoted_max`
    /// instances are promoted at once (`PutResource` plus the count, in one entry).
    PutPromotable {
        resource: Box<model::Resource>,
        create: bool,
        promoted_max: u32,
    },
    // --- hostile ---
    /// Spend the join token with this hash: it admits one node, so it is removed; a token
    /// that is no (longer a) join token is rejected, and the join with it refused.
    UseJoinToken { hash: String },
    // --- users ---
    /// Add a user with a role and an argon2id password hash; refused if the name is taken.
    AddUser {
        name: String,
        role: model::Role,
        password_hash: String,
        at_ms: Millis,
    },
    /// Replace a user's password hash; ends every login session of the user.
    SetPassword {
        name: String,
        password_hash: String,
        at_ms: Millis,
    },
    /// Change a user's role; its sessions carry the new role at once.
    SetUserRole { name: String, role: model::Role },
    /// Remove a user and end its login sessions on every node.
    RemoveUser { name: String },
    /// Open a login session for `user`, stored as the SHA-256 of its secret (`hash`); drops
    /// the sessions expired at `at_ms` (the master's clock).
    OpenLogin {
        hash: String,
        user: String,
        expires_at_ms: Millis,
        at_ms: Millis,
    },
    /// End a login session (logout); an unknown one is already ended.
    CloseLogin { hash: String },
    /// Store the hash of an API token bound to a role (`encluster token create --role`).
    AddRoleToken {
        hash: String,
        role: model::Role,
        label: String,
        at_ms: Millis,
    },
    // --- more12 ---
    /// `apply -f` of a file whose promotable resources differ from the stored ones:
    /// `ReplaceConfigWithTypes` (with no types, just the configuration) that also makes
    /// exactly the resources in `promotable` promotable, with their counts, all or nothing.
    ReplaceConfigPromotable {
        types: Vec<model::UserType>,
        resources: Vec<model::Resource>,
        groups: Vec<model::Group>,
        constraints: Vec<StoredConstraint>,
        promotable: BTreeMap<model::ResourceId, u32>,
    },
    // --- fence ---
    /// Add or replace a fencing device.
    PutFenceDevice { device: model::FenceDevice },
    /// Remove a fencing device.
    RemoveFenceDevice { name: String },
    /// Replace every fencing device at once (`apply -f`).
    ReplaceFenceDevices { devices: Vec<model::FenceDevice> },
    // --- servers ---
    /// Edit the real servers of a virtual service (an `lb` resource) in one step: drain,
    /// enable or weigh one (an operator's runtime change), or add or remove one.
    EditServer {
        resource: model::ResourceId,
        edit: model::ServerEdit,
    },
    // --- upgrade ---
    /// Raise the cluster format (`format`): the master writes it once every member node
    /// reports that it can write `format`; it never goes down. Format 2 and later only.
    SetClusterFormat { format: u32 },
    // --- rotate ---
    /// `encluster cert rotate`: every node renews its certificate (answers the new
    /// generation); `validity_s` is the new certificates' validity (`None`: the default).
    RotateCerts {
        validity_s: Option<u64>,
        at_ms: Millis,
    },
    /// `encluster cert ca begin`: trust a new CA beside the cluster CA; nodes then renew
    /// their certificates from it. Refused while another change is in progress.
    BeginCaChange {
        ca_cert_pem: String,
        ca_key_pem: String,
        fingerprint: String,
        at_ms: Millis,
    },
    /// `encluster cert ca finish`: the new CA replaces the old, which is trusted no more.
    /// Refused unless a change is in progress and every member has a new-CA certificate.
    FinishCaChange { at_ms: Millis },
    /// A node's report of its own certificate and trust.
    ReportNodeCert {
        node: NodeId,
        cert: crate::certs::NodeCert,
    },
    /// The master warned that a certificate expires soon: records an event, once per
    /// subject and expiry.
    CertExpiryWarned {
        subject: String,
        expires_at_ms: Millis,
        fix: String,
        at_ms: Millis,
    },
    /// Revoke stored tokens (all or none): they stop working on every node.
    RevokeTokens { hashes: Vec<String>, at_ms: Millis },
    /// Rotate a token: `old` stops working and `new` gets its kind, label and role.
    ReplaceToken {
        old: String,
        new: String,
        at_ms: Millis,
    },
    // --- edit ---
    /// Change an existing group in place: its members and their order become `group`'s.
    /// Refused, changing nothing, if the group does not exist or the result is invalid.
    /// Members that stay keep running; see `ResourceDb::update_group`.
    UpdateGroup { group: model::Group },
    /// Replace the declared constraint equal to `old` by `new`, in its place in the list.
    /// Refused, changing nothing, if `old` is not declared or the result is invalid.
    UpdateConstraint {
        old: StoredConstraint,
        new: StoredConstraint,
    },
    // --- roles ---
    /// `PutType` with the type's promote, demote and notify programs (`roles`, which
    /// replace the stored ones; empty removes them). Refused, changing nothing, if the
    /// programs are invalid or the type is not promotable. Cluster format 3.
    PutTypeWithRoles {
        definition: Box<model::UserType>,
        roles: Box<model::RolePrograms>,
        create: bool,
    },
    /// `apply -f` whose types carry role programs: `ReplaceConfigPromotable`, and each of
    /// `types` gets the programs `roles` names for it (none if it names none), all or
    /// nothing. Cluster format 3.
    ReplaceConfigWithRoles {
        types: Vec<model::UserType>,
        roles: BTreeMap<String, model::RolePrograms>,
        resources: Vec<model::Resource>,
        groups: Vec<model::Group>,
        constraints: Vec<StoredConstraint>,
        promotable: BTreeMap<model::ResourceId, u32>,
    },
}

/// The result of applying a command. Invalid commands get `Rejected`, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CommandResult {
    /// Applied; nothing to report.
    #[default]
    Ok,
    /// A key/value write took effect at this revision.
    Revision(u64),
    /// The node id reserved by `AllocateNodeId`.
    NodeId(NodeId),
    /// The command was deterministically refused; the reason is for the operator.
    Rejected(String),
    /// The fencing tokens of new grants, in the order of the changes.
    Tokens(Vec<u64>),
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Put { key, .. } => write!(f, "put {key}"),
            Command::Delete { key } => write!(f, "delete {key}"),
            Command::InitCluster { name, .. } => write!(f, "init cluster {name}"),
            Command::AddToken { kind, label, .. } => write!(f, "add {kind:?} token {label}"),
            Command::AllocateNodeId => f.write_str("allocate node id"),
            Command::UpsertNode { id, .. } => write!(f, "upsert node {id}"),
            Command::RemoveNode { id } => write!(f, "remove node {id}"),
            Command::RecordEvents { events, .. } => write!(f, "record {} events", events.len()),
            Command::SetNodeHealth { changes, .. } => {
                write!(f, "set health of {} nodes", changes.len())
            }
            Command::PutResource { resource, .. } => write!(f, "put resource {}", resource.id),
            Command::DeleteResource { id } => write!(f, "delete resource {id}"),
            Command::PutGroup { group } => write!(f, "put group {}", group.id.0),
            Command::DeleteGroup { id } => write!(f, "delete group {}", id.0),
            Command::AddConstraint { .. } => f.write_str("add constraint"),
            Command::SetMove { resource, .. } => write!(f, "move {resource}"),
            Command::SetNodeConfig { node } => write!(f, "configure node {}", node.id),
            Command::SetTargetRole { resource, role } => write!(f, "{resource} target {role:?}"),
            Command::Cleanup { resource, .. } => write!(f, "cleanup {resource}"),
            Command::ChangeAssignments { changes } => {
                write!(f, "{} assignment changes", changes.len())
            }
            Command::RecordOperation { node, report, .. } => {
                write!(
                    f,
                    "record {} of {} on {node}",
                    report.operation, report.resource
                )
            }
            Command::ReplaceConfig { resources, .. } => {
                write!(f, "replace config ({} resources)", resources.len())
            }
            Command::Session {
                session,
                seq,
                command,
                ..
            } => write!(f, "{command} (session {session:016x} #{seq})"),
            Command::RemoveConstraint { .. } => f.write_str("remove constraint"),
            Command::SetBans { resource, .. } => write!(f, "ban {resource}"),
            Command::SetManaged { resource, managed } => {
                write!(f, "{resource} managed {managed}")
            }
            Command::PutType { definition, .. } => write!(f, "put type {}", definition.name),
            Command::DeleteType { name } => write!(f, "delete type {name}"),
            Command::SetPromotionScore {
                node,
                resource,
                score,
            } => write!(
                f,
                "set promotion score of {resource} on {node} to {score:?}"
            ),
            Command::PutPromotable { resource, .. } => {
                write!(f, "put promotable resource {}", resource.id)
            }
            Command::UseJoinToken { .. } => f.write_str("use a join token"),
            Command::ReplaceConfigWithTypes {
                types, resources, ..
            } => write!(
                f,
                "replace config ({} types, {} resources)",
                types.len(),
                resources.len()
            ),
            Command::PutCheckpoint {
                resource,
                name,
                fencing_token,
                ..
            } => write!(
                f,
                "checkpoint {resource}/{name} under token {fencing_token}"
            ),
            Command::Audited { actor, command, .. } => write!(f, "{command} (by {actor})"),
            Command::PutAlert { alert } => write!(f, "put alert {}", alert.name),
            Command::RemoveAlert { name } => write!(f, "remove alert {name}"),
            Command::AlertDelivered { name, next_seq } => {
                write!(f, "alerts to {name} delivered before event {next_seq}")
            }
            Command::ReplaceAlerts { alerts } => write!(f, "replace alerts ({})", alerts.len()),
            Command::AddUser { name, role, .. } => write!(f, "add user {name} ({role})"),
            Command::SetPassword { name, .. } => write!(f, "set the password of user {name}"),
            Command::SetUserRole { name, role } => write!(f, "make user {name} {role}"),
            Command::RemoveUser { name } => write!(f, "remove user {name}"),
            Command::OpenLogin { user, .. } => write!(f, "log in as {user}"),
            Command::CloseLogin { .. } => f.write_str("log out"),
            Command::AddRoleToken { role, label, .. } => {
                write!(f, "add {role} token {label}")
            }
            Command::ReplaceConfigPromotable {
                types,
                resources,
                promotable,
                ..
            } => write!(
                f,
                "replace config ({} types, {} resources, {} promotable)",
                types.len(),
                resources.len(),
                promotable.len()
            ),
            Command::PutFenceDevice { device } => write!(f, "put fence device {}", device.name),
            Command::RemoveFenceDevice { name } => write!(f, "remove fence device {name}"),
            Command::ReplaceFenceDevices { devices } => {
                write!(f, "replace fence devices ({})", devices.len())
            }
            Command::EditServer { resource, edit } => {
                write!(f, "edit server {} of {resource}", edit.server())
            }
            Command::SetClusterFormat { format } => {
                write!(f, "raise the cluster format to {format}")
            }
            // --- rotate ---
            Command::RotateCerts { .. } => f.write_str("rotate the node certificates"),
            Command::BeginCaChange { fingerprint, .. } => {
                write!(
                    f,
                    "begin a CA change to {}",
                    crate::certs::short(fingerprint)
                )
            }
            Command::FinishCaChange { .. } => f.write_str("finish the CA change"),
            Command::ReportNodeCert { node, .. } => write!(f, "report the certificate of {node}"),
            Command::CertExpiryWarned { subject, .. } => {
                write!(f, "warn that the certificate of {subject} expires")
            }
            Command::RevokeTokens { hashes, .. } => write!(f, "revoke {} tokens", hashes.len()),
            Command::ReplaceToken { .. } => f.write_str("rotate a token"),
            // --- edit ---
            Command::UpdateGroup { group } => {
                let members: Vec<&str> = group.members.iter().map(|m| m.0.as_str()).collect();
                write!(f, "update group {} to [{}]", group.id.0, members.join(", "))
            }
            Command::UpdateConstraint { old, new } => {
                write!(f, "update constraint {old} to {new}")
            }
            // --- roles ---
            Command::PutTypeWithRoles { definition, .. } => {
                write!(f, "put type {} with its role programs", definition.name)
            }
            Command::ReplaceConfigWithRoles {
                types,
                roles,
                resources,
                ..
            } => write!(
                f,
                "replace config ({} types, {} with role programs, {} resources)",
                types.len(),
                roles.len(),
                resources.len()
            ),
        }
    }
}

impl std::fmt::Display for CommandResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
