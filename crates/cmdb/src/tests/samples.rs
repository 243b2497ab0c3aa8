//! Sample values of every persisted type, for the format fixtures in `formats`.
//!
//! Every field holds a value that shows in the encoding: options are `Some`, collections
//! hold two entries where they can, numbers are non-zero (several above one varint byte),
//! and every variant of an enum with data appears. The values need not make a valid
//! cluster (the resource sample is both unique and a clone); they pin a layout.
//!
//! A sample is frozen once its fixture is committed: changing it would change the fixture.
//! A new variant gets a new sample appended to its `*_samples` list (and so its own fixture);
//! the `first_*` lists inside larger samples stay as they are.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use model::{
    CloneOptions, ColocationConstraint, Event, EventKind, Group, GroupId, LocationConstraint,
    NodeConfig, NodeHealth, NodeId, NodeInfo, NodeRole, OrderConstraint, OrderKind, Resource,
    ResourceId, ResourceOptions, ResourceState, ResourceStatus, TargetRole,
};
use openraft::EntryPayload;
use openraft::entry::RaftEntry;
use openraft::vote::RaftLeaderId;

use crate::command::{Command, CommandResult};
use crate::db::{ClusterDb, ClusterMeta, NodeRecord, TokenKind, TokenRecord};
use crate::resources::{
    AssignmentChange, OperationEntry, OperationReport, ResourceDb, StoredConstraint,
};
use crate::sessions::{SessionRecord, Sessions};
use crate::types::{Entry, LogId, Membership, StoredMembership, Vote};

/// A time on the masters' clock, in milliseconds since the Unix epoch (a 6-byte varint).
pub(super) const AT_MS: u64 = 1_765_000_000_123;

fn id(name: &str) -> ResourceId {
    ResourceId(name.into())
}

fn node_info(n: u64) -> NodeInfo {
    NodeInfo {
        name: format!("node-{n}"),
        peer_addr: format!("10.0.0.{n}:7946"),
        api_addr: format!("10.0.0.{n}:7947"),
    }
}

/// A resource with every option away from its default.
pub(super) fn resource(name: &str) -> Resource {
    Resource {
        id: id(name),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "/usr/bin/web".into()),
            ("probe_tcp".into(), "127.0.0.1:8080".into()),
        ]),
        options: ResourceOptions {
            monitor_interval: Duration::from_millis(7_000),
            monitor_timeout: Duration::from_millis(3_000),
            start_timeout: Duration::from_millis(45_000),
            stop_timeout: Duration::from_millis(30_000),
            stickiness: -250,
            migration_threshold: 3,
            failure_timeout: Some(Duration::from_millis(600_000)),
            target_role: TargetRole::Stopped,
            drain: Duration::from_millis(1_500),
        },
        unique: true,
        clone: Some(CloneOptions { max: Some(4) }),
        utilization: BTreeMap::from([("cpu".into(), 2), ("memory".into(), 512)]),
    }
}

fn group() -> Group {
    Group {
        id: GroupId("web".into()),
        members: vec![id("web-vip"), id("web")],
    }
}

fn location() -> LocationConstraint {
    LocationConstraint {
        resource: id("web"),
        node: NodeId(2),
        score: -1_000_000,
        expires_at: Some(AT_MS + 60_000),
    }
}

/// One constraint of each kind, as in the first fixtures.
pub(super) fn first_constraints() -> Vec<StoredConstraint> {
    vec![
        StoredConstraint::Order(OrderConstraint {
            first: id("db"),
            then: id("web"),
            kind: OrderKind::Optional,
        }),
        StoredConstraint::Colocation(ColocationConstraint {
            resource: id("web"),
            with: id("db"),
            score: 500,
        }),
        StoredConstraint::Location(location()),
    ]
}

/// One sample per `StoredConstraint` variant; append for a new variant.
pub(super) fn constraint_samples() -> Vec<StoredConstraint> {
    first_constraints()
}

/// One change of each kind, as in the first fixtures.
pub(super) fn first_assignment_changes() -> Vec<AssignmentChange> {
    vec![
        AssignmentChange::Assign {
            node: NodeId(1),
            resource: id("web"),
        },
        AssignmentChange::Unassign {
            node: NodeId(2),
            resource: id("web"),
        },
        AssignmentChange::Lost {
            node: NodeId(3),
            resource: id("db"),
        },
    ]
}

/// One sample per `AssignmentChange` variant; append for a new variant.
pub(super) fn assignment_change_samples() -> Vec<AssignmentChange> {
    first_assignment_changes()
}

fn node_config() -> NodeConfig {
    NodeConfig {
        id: NodeId(2),
        standby: true,
        maintenance: true,
        capacity: BTreeMap::from([("cpu".into(), 8), ("memory".into(), 16_384)]),
    }
}

fn operation_report() -> OperationReport {
    OperationReport {
        resource: id("web"),
        operation: "start".into(),
        fencing_token: 300,
        ok: true,
        state_after: ResourceState::Failed,
        reason: Some("probe 127.0.0.1:8080 refused".into()),
        started_at: AT_MS - 2_000,
        finished_at: AT_MS - 1_000,
    }
}

/// One event of each kind, as in the first fixtures.
pub(super) fn first_event_kinds() -> Vec<EventKind> {
    vec![
        EventKind::NodeHealth {
            node: NodeId(2),
            from: NodeHealth::Suspect,
            to: NodeHealth::Down,
            silence_ms: 1_500,
        },
        EventKind::NodeJoined {
            node: NodeId(3),
            name: "node-3".into(),
        },
        EventKind::NodeRemoved {
            node: NodeId(4),
            reason: "removed by the operator".into(),
        },
        EventKind::NodeRole {
            node: NodeId(3),
            role: NodeRole::Learner,
            reason: "voters shrink to 3".into(),
        },
        EventKind::MasterElected {
            node: NodeId(1),
            term: 130,
        },
        EventKind::QuorumForced {
            node: NodeId(1),
            voters: vec![NodeId(1), NodeId(2)],
        },
        EventKind::ResourceAction {
            resource: id("web"),
            node: NodeId(1),
            action: "start".into(),
            reason: "due to node availability".into(),
        },
    ]
}

/// One sample per `EventKind` variant; append for a new variant.
pub(super) fn event_kind_samples() -> Vec<EventKind> {
    let mut kinds = first_event_kinds();
    // --- mon ---
    kinds.extend([
        EventKind::OperatorAction {
            actor: "ops".into(),
            action: "put resource web".into(),
        },
        EventKind::AlertFailed {
            recipient: "pager".into(),
            event: 1_004,
            attempts: 5,
            error: "webhook http://pager:9093/ answered 500".into(),
        },
        EventKind::Threshold {
            rule: "disk-full".into(),
            node: NodeId(2),
            series: "host_disk_used_ratio".into(),
            value: "0.93".into(),
            firing: true,
        },
        EventKind::ServerHealth {
            node: NodeId(1),
            service: "web".into(),
            server: "a".into(),
            healthy: false,
        },
        // --- remote ---
        EventKind::RemoteView {
            target: "resource:web".into(),
            node: NodeId(1),
            verdict: "unreachable".into(),
            observers: 2,
            reachable: 0,
        },
        // --- fence ---
        EventKind::Fencing {
            node: NodeId(2),
            outcome: model::fence::FenceOutcome::Confirmed,
            reason: "lost".into(),
            detail: "ipmi: off (exit 0)".into(),
        },
        // --- lockout ---
        EventKind::LoginLocked {
            user: "ann".into(),
            failures: 6,
            lockout_s: 30,
        },
        // --- rotate ---
        EventKind::CertExpiring {
            subject: "node n2".into(),
            expires_at_ms: AT_MS + 86_400_000,
            fix: "encluster cert rotate".into(),
        },
    ]);
    kinds
}

/// One result of each kind, as in the first fixtures.
pub(super) fn first_command_results() -> Vec<CommandResult> {
    vec![
        CommandResult::Ok,
        CommandResult::Revision(1_000),
        CommandResult::NodeId(NodeId(5)),
        CommandResult::Rejected("key must be 1 to 1024 bytes".into()),
        CommandResult::Tokens(vec![300, 301]),
    ]
}

/// One sample per `CommandResult` variant; append for a new variant.
pub(super) fn command_result_samples() -> Vec<CommandResult> {
    first_command_results()
}

/// One sample per `Command` variant; append for a new variant.
pub(super) fn command_samples() -> Vec<Command> {
    let mut commands = cluster_commands();
    commands.extend(resource_commands());
    commands
}

fn cluster_commands() -> Vec<Command> {
    vec![
        Command::Put {
            key: "config/web".into(),
            value: "blue".into(),
        },
        Command::Delete {
            key: "config/old".into(),
        },
        Command::InitCluster {
            name: "prod".into(),
            ca_cert_pem: "-----BEGIN CERTIFICATE-----".into(),
            ca_key_pem: "-----BEGIN PRIVATE KEY-----".into(),
            at_ms: AT_MS,
        },
        Command::AddToken {
            hash: "9f86d081884c7d65".into(),
            kind: TokenKind::Join,
            label: "rack 2".into(),
            at_ms: AT_MS,
        },
        Command::AllocateNodeId,
        Command::UpsertNode {
            id: NodeId(3),
            info: node_info(3),
            at_ms: AT_MS,
        },
        Command::RemoveNode { id: NodeId(4) },
        Command::RecordEvents {
            at_ms: AT_MS,
            events: first_event_kinds(),
        },
        Command::SetNodeHealth {
            at_ms: AT_MS,
            changes: vec![
                (NodeId(2), NodeHealth::Suspect, 400),
                (NodeId(3), NodeHealth::Down, 1_500),
            ],
        },
        Command::Session {
            session: 0x9e37_79b9_7f4a_7c15,
            seq: 42,
            floor: 40,
            at_ms: AT_MS,
            command: Box::new(Command::Put {
                key: "config/web".into(),
                value: "green".into(),
            }),
        },
    ]
}

fn resource_commands() -> Vec<Command> {
    vec![
        Command::PutResource {
            resource: resource("web"),
            create: true,
        },
        Command::DeleteResource { id: id("old") },
        Command::PutGroup { group: group() },
        Command::DeleteGroup {
            id: GroupId("old".into()),
        },
        Command::AddConstraint {
            constraint: StoredConstraint::Location(location()),
        },
        Command::SetMove {
            resource: id("web"),
            constraints: vec![location()],
        },
        Command::SetNodeConfig {
            node: node_config(),
        },
        Command::SetTargetRole {
            resource: id("web"),
            role: TargetRole::Stopped,
        },
        Command::Cleanup {
            resource: id("web"),
            node: Some(NodeId(2)),
        },
        Command::ChangeAssignments {
            changes: first_assignment_changes(),
        },
        Command::RecordOperation {
            node: NodeId(2),
            report: operation_report(),
            at_ms: AT_MS,
        },
        Command::ReplaceConfig {
            resources: vec![resource("db"), resource("web")],
            groups: vec![group()],
            constraints: first_constraints(),
        },
        Command::RemoveConstraint {
            constraint: first_constraints().remove(0),
        },
        Command::SetBans {
            resource: id("db"),
            constraints: vec![ban()],
        },
        Command::SetManaged {
            resource: id("db"),
            managed: false,
        },
        // --- types ---
        Command::PutType {
            definition: Box::new(user_type()),
            create: true,
        },
        Command::DeleteType {
            name: "chat".into(),
        },
        Command::ReplaceConfigWithTypes {
            types: vec![user_type()],
            resources: vec![resource("db")],
            groups: vec![group()],
            constraints: first_constraints(),
        },
        Command::PutCheckpoint {
            resource: id("db"),
            node: NodeId(2),
            fencing_token: 7,
            name: "history".into(),
            data: b"line one\nline two\n".to_vec(),
            at_ms: AT_MS,
        },
        // --- mon ---
        Command::Audited {
            actor: "ops".into(),
            at_ms: AT_MS,
            command: Box::new(Command::DeleteResource { id: id("old") }),
        },
        Command::PutAlert {
            alert: alert_config(),
        },
        Command::RemoveAlert {
            name: "pager".into(),
        },
        Command::AlertDelivered {
            name: "pager".into(),
            next_seq: 1_005,
        },
        Command::ReplaceAlerts {
            alerts: vec![alert_config()],
        },
        // --- promo ---
        Command::SetPromotionScore {
            node: NodeId(2),
            resource: id("db"),
            score: Some(10),
        },
        Command::PutPromotable {
            resource: Box::new(resource("db")),
            create: true,
            promoted_max: 1,
        },
        // --- hostile ---
        Command::UseJoinToken {
            hash: "ab".repeat(32),
        },
        // --- users ---
        Command::AddUser {
            name: "ann".into(),
            role: model::Role::Operator,
            password_hash: PASSWORD_HASH.into(),
            at_ms: AT_MS,
        },
        Command::SetPassword {
            name: "ann".into(),
            password_hash: PASSWORD_HASH.into(),
            at_ms: AT_MS + 1,
        },
        Command::SetUserRole {
            name: "ann".into(),
            role: model::Role::Viewer,
        },
        Command::RemoveUser { name: "ann".into() },
        Command::OpenLogin {
            hash: LOGIN_HASH.into(),
            user: "ann".into(),
            expires_at_ms: AT_MS + 3_600_000,
            at_ms: AT_MS,
        },
        Command::CloseLogin {
            hash: LOGIN_HASH.into(),
        },
        Command::AddRoleToken {
            hash: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
            role: model::Role::Viewer,
            label: "grafana".into(),
            at_ms: AT_MS,
        },
        // --- more12 ---
        Command::ReplaceConfigPromotable {
            types: vec![user_type()],
            resources: vec![resource("db")],
            groups: vec![group()],
            constraints: first_constraints(),
            promotable: BTreeMap::from([(id("db"), 1)]),
        },
        // --- fence ---
        Command::PutFenceDevice {
            device: fence_device(),
        },
        Command::RemoveFenceDevice {
            name: "ipmi".into(),
        },
        Command::ReplaceFenceDevices {
            devices: vec![fence_device()],
        },
        // --- servers ---
        Command::EditServer {
            resource: id("web"),
            edit: model::ServerEdit::Weight {
                server: "a".into(),
                weight: 3,
            },
        },
        // --- upgrade ---
        Command::SetClusterFormat { format: 2 },
        // --- rotate ---
        Command::RotateCerts {
            validity_s: Some(86_400),
            at_ms: AT_MS,
        },
        Command::BeginCaChange {
            ca_cert_pem: "-----BEGIN CERTIFICATE-----".into(),
            ca_key_pem: "-----BEGIN PRIVATE KEY-----".into(),
            fingerprint: CA_FINGERPRINT.into(),
            at_ms: AT_MS,
        },
        Command::FinishCaChange { at_ms: AT_MS },
        Command::ReportNodeCert {
            node: NodeId(2),
            cert: node_cert(),
        },
        Command::CertExpiryWarned {
            subject: "CA".into(),
            expires_at_ms: AT_MS + 86_400_000,
            fix: "encluster cert ca begin".into(),
            at_ms: AT_MS,
        },
        Command::RevokeTokens {
            hashes: vec![LOGIN_HASH.into()],
            at_ms: AT_MS,
        },
        Command::ReplaceToken {
            old: LOGIN_HASH.into(),
            new: CA_FINGERPRINT.into(),
            at_ms: AT_MS,
        },
        // --- edit ---
        Command::UpdateGroup {
            group: Group {
                id: GroupId("web".into()),
                members: vec![id("web"), id("web-vip"), id("db")],
            },
        },
        Command::UpdateConstraint {
            old: first_constraints().remove(0),
            new: StoredConstraint::Colocation(ColocationConstraint {
                resource: id("db"),
                with: id("web"),
                score: -1_000_000,
            }),
        },
        // --- roles ---
        Command::PutTypeWithRoles {
            definition: Box::new(promotable_type()),
            roles: Box::new(role_programs()),
            create: true,
        },
        Command::ReplaceConfigWithRoles {
            types: vec![promotable_type()],
            roles: BTreeMap::from([("pg".to_owned(), role_programs())]),
            resources: vec![resource("db")],
            groups: vec![group()],
            constraints: first_constraints(),
            promotable: BTreeMap::from([(id("db"), 1)]),
        },
    ]
}

// --- roles ---
/// A promotable user type, whose instances a promote and a demote program change.
pub(crate) fn promotable_type() -> model::UserType {
    let mut definition = model::UserType::new("pg", "/usr/bin/pg");
    definition.kind = model::TypeKind::Promotable;
    definition
}

/// Promote, demote and notify programs, one with arguments and environment.
pub(crate) fn role_programs() -> model::RolePrograms {
    let program = |command: &str, timeout_s| model::RoleProgram {
        command: model::CommandSpec {
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
        },
        timeout: std::time::Duration::from_secs(timeout_s),
    };
    let mut promote = program("/usr/bin/pg-promote", 30);
    promote.command.args = vec!["--fast".into()];
    promote.command.env = BTreeMap::from([("PGDATA".to_owned(), "/srv/pg".to_owned())]);
    model::RolePrograms {
        promote: Some(promote),
        demote: Some(program("/usr/bin/pg-demote", 20)),
        notify: Some(program("pg-notify", 5)),
    }
}

// --- rotate ---
const CA_FINGERPRINT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn node_cert() -> crate::NodeCert {
    crate::NodeCert {
        fingerprint: LOGIN_HASH.into(),
        issuer: CA_FINGERPRINT.into(),
        not_after_ms: AT_MS + 86_400_000,
        generation: 2,
        trusted: vec![CA_FINGERPRINT.into()],
    }
}

fn certs() -> crate::CertDb {
    crate::CertDb {
        next_ca: Some(crate::NextCa {
            cert_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----".into(),
            fingerprint: CA_FINGERPRINT.into(),
            begun_at_ms: AT_MS - 5_000,
        }),
        generation: 2,
        validity_s: Some(86_400),
        nodes: BTreeMap::from([(NodeId(2), node_cert())]),
        warned: BTreeMap::from([("CA".to_owned(), AT_MS + 86_400_000)]),
        revoked: BTreeMap::from([(
            LOGIN_HASH.to_owned(),
            crate::RevokedToken {
                kind: TokenKind::Admin,
                label: "bob".into(),
                revoked_at_ms: AT_MS - 1_000,
                reason: "revoked".into(),
            },
        )]),
    }
}

// --- users ---
/// An argon2id PHC string of the shape `auth::hash_password` writes.
const PASSWORD_HASH: &str = concat!(
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$",
    "Ihs8K5M0MYzV2RoMx/7j0KkwYPkzQ+O8kbT8R6Y1yPs"
);
/// The SHA-256 of a login session's secret.
const LOGIN_HASH: &str = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";

/// Users, a login session and a token role.
fn users() -> crate::UserDb {
    crate::UserDb {
        users: BTreeMap::from([(
            "ann".to_owned(),
            crate::UserRecord {
                role: model::Role::Operator,
                password_hash: PASSWORD_HASH.into(),
                created_at_ms: AT_MS - 50_000,
                password_set_at_ms: AT_MS - 40_000,
            },
        )]),
        logins: BTreeMap::from([(
            LOGIN_HASH.to_owned(),
            crate::LoginRecord {
                user: "ann".into(),
                created_at_ms: AT_MS - 1_000,
                expires_at_ms: AT_MS + 3_600_000,
            },
        )]),
        token_roles: BTreeMap::from([("5e884898da280471".to_owned(), model::Role::Viewer)]),
    }
}

// --- fence ---
/// A fencing device covering two nodes, one under another plug name.
pub(super) fn fence_device() -> model::FenceDevice {
    model::FenceDevice {
        name: "ipmi".into(),
        agent: "fence_ipmilan".into(),
        params: BTreeMap::from([("ip".to_string(), "10.0.0.9".to_string())]),
        hosts: BTreeMap::from([
            ("node-1".to_string(), "node-1".to_string()),
            ("node-2".to_string(), "bmc2".to_string()),
        ]),
        level: 1,
        timeout: std::time::Duration::from_secs(20),
        action: model::FenceAction::Off,
    }
}

/// Fencing devices with one attempt in their history.
fn fencing() -> crate::FenceDb {
    crate::FenceDb {
        devices: BTreeMap::from([("ipmi".to_string(), fence_device())]),
        history: std::collections::VecDeque::from([crate::FenceRecord {
            node: NodeId(2),
            reason: "lost".into(),
            incident: Some(3),
            started_at: AT_MS - 900,
            finished_at: Some(AT_MS - 700),
            outcome: model::fence::FenceOutcome::Confirmed,
            detail: "ipmi: off (exit 0)".into(),
        }]),
    }
}

/// A user type with a parameter, a reload command and checks of two kinds.
fn user_type() -> model::UserType {
    let mut definition = model::UserType::new("chat", "/usr/bin/chat");
    definition.description = "a chat server".into();
    definition.schema = model::ParamSchema::new(vec![
        model::ParamSpec::new("MaxUser", model::ParamKind::Integer, "most clients")
            .with_range(Some(1), Some(10))
            .with_default("5")
            .reloadable(),
    ])
    .with_reload("reload");
    definition.run.args = vec!["--port".into(), "7000".into()];
    definition.run.env = BTreeMap::from([("LANG".to_owned(), "C".to_owned())]);
    definition.reload = Some(model::CommandSpec {
        command: "/usr/bin/chat-reload".into(),
        args: Vec::new(),
        env: BTreeMap::new(),
    });
    definition.looks_alive.probe = model::HealthProbe::Tcp("127.0.0.1:7000".into());
    definition.is_alive.probe = model::HealthProbe::Command(model::CommandSpec {
        command: "/usr/bin/chat-check".into(),
        args: vec!["--deep".into()],
        env: BTreeMap::new(),
    });
    definition.kind = model::TypeKind::Clone;
    definition
}

fn alert_config() -> crate::AlertConfig {
    crate::AlertConfig {
        name: "pager".into(),
        target: crate::AlertTarget::Webhook {
            url: "http://pager:9093/hook".into(),
        },
        kinds: vec!["node".into(), "resource".into()],
        severity_min: model::Severity::Warning,
        timeout_ms: 30_000,
    }
}

fn monitoring() -> crate::MonitorDb {
    let mut incidents = crate::Incidents::default();
    incidents.list.push_back(crate::Incident {
        id: 0,
        cause: crate::IncidentCause::NodeLost { node: NodeId(2) },
        detected_at: AT_MS - 2_000,
        down_at: Some(AT_MS - 1_800),
        lease_ended_at: Some(AT_MS - 1_100),
        resources: vec![crate::IncidentResource {
            resource: id("web"),
            stopped_at: Some(AT_MS - 1_100),
            started_on: Some(NodeId(1)),
            started_at: Some(AT_MS - 1_090),
            healthy_at: Some(AT_MS - 900),
            given_up: false,
        }],
        closed: true,
    });
    incidents.next_id = 1;
    let rule = crate::AlertConfig {
        name: "disk-full".into(),
        target: crate::AlertTarget::Rule {
            expr: "host_disk_used_ratio > 0.9 for 1m".into(),
        },
        kinds: Vec::new(),
        severity_min: model::Severity::Info,
        timeout_ms: 30_000,
    };
    let exec = crate::AlertConfig {
        name: "file".into(),
        target: crate::AlertTarget::Executable {
            path: "/usr/share/pacemaker/alerts/alert_file.sh.sample".into(),
            recipient: "/var/log/encluster-alerts.log".into(),
        },
        kinds: Vec::new(),
        severity_min: model::Severity::Info,
        timeout_ms: 30_000,
    };
    let alerts = [alert_config(), rule, exec]
        .into_iter()
        .map(|config| {
            let record = crate::AlertRecord {
                config,
                next_seq: 1_003,
            };
            (record.config.name.clone(), record)
        })
        .collect();
    crate::MonitorDb { alerts, incidents }
}

fn resource_db() -> ResourceDb {
    let status = ResourceStatus {
        state: ResourceState::Running,
        fail_count: 2,
        last_failure_at: Some(AT_MS - 5_000),
        last_failure: Some("monitor timed out".into()),
    };
    ResourceDb {
        resources: BTreeMap::from([(id("db"), resource("db")), (id("web"), resource("web"))]),
        groups: BTreeMap::from([(group().id, group())]),
        constraints: first_constraints(),
        moves: BTreeMap::from([(id("web"), vec![location()])]),
        node_config: BTreeMap::from([(NodeId(2), node_config())]),
        status: BTreeMap::from([(id("web"), BTreeMap::from([(NodeId(1), status)]))]),
        assignments: BTreeMap::from([(NodeId(1), BTreeMap::from([(id("web"), 300)]))]),
        next_fencing_token: 302,
        operations: VecDeque::from([OperationEntry {
            node: NodeId(1),
            report: operation_report(),
        }]),
        reported_tokens: BTreeMap::from([(id("web"), BTreeMap::from([(NodeId(1), 300)]))]),
        bans: BTreeMap::from([(id("db"), vec![ban()])]),
        unmanaged: BTreeSet::from([id("db")]),
        // --- types ---
        types: BTreeMap::from([("chat".to_owned(), user_type())]),
        // --- promo ---
        promotion_scores: BTreeMap::from([(id("db"), BTreeMap::from([(NodeId(2), 10)]))]),
        promotable: BTreeMap::from([(id("db"), 1)]),
    }
}

/// A ban of `db` from node 3 that expires.
fn ban() -> LocationConstraint {
    LocationConstraint {
        resource: id("db"),
        node: NodeId(3),
        score: -model::SCORE_INFINITY,
        expires_at: Some(AT_MS + 60_000),
    }
}

fn sessions() -> Sessions {
    let results = first_command_results()
        .into_iter()
        .zip(40..)
        .map(|(result, seq)| (seq, result))
        .collect();
    let busy = SessionRecord {
        floor: 40,
        results,
        last_ms: AT_MS,
    };
    let idle = SessionRecord {
        floor: 7,
        results: BTreeMap::from([(7, CommandResult::Revision(999))]),
        last_ms: AT_MS - 60_000,
    };
    Sessions {
        by_id: BTreeMap::from([(0x9e37_79b9_7f4a_7c15, busy), (3, idle)]),
        by_age: BTreeSet::from([(AT_MS - 60_000, 3), (AT_MS, 0x9e37_79b9_7f4a_7c15)]),
        clock_ms: AT_MS,
    }
}

/// A cluster database with every table filled.
pub(super) fn db() -> ClusterDb {
    let node = |n: u64, health| NodeRecord {
        info: node_info(n),
        health,
        health_since_ms: AT_MS - 1_000,
        joined_at_ms: AT_MS - 90_000,
    };
    let token = |kind, label: &str| TokenRecord {
        kind,
        label: label.into(),
        created_at_ms: AT_MS - 100_000,
    };
    let events = first_event_kinds().into_iter().zip(1_000..);
    ClusterDb {
        meta: ClusterMeta {
            name: "prod".into(),
            ca_cert_pem: "-----BEGIN CERTIFICATE-----".into(),
            ca_key_pem: "-----BEGIN PRIVATE KEY-----".into(),
            created_at_ms: AT_MS - 100_000,
        },
        kv: crate::KvTable::from_iter([
            ("config/db".to_string(), ("primary".to_string(), 7)),
            ("config/web".to_string(), ("blue".to_string(), 9)),
        ]),
        kv_revision: 9,
        nodes: BTreeMap::from([
            (NodeId(1), node(1, NodeHealth::Online)),
            (NodeId(2), node(2, NodeHealth::Suspect)),
        ]),
        next_node_id: 3,
        tokens: BTreeMap::from([
            ("5e884898da280471".into(), token(TokenKind::Admin, "ops")),
            ("9f86d081884c7d65".into(), token(TokenKind::Join, "rack 2")),
        ]),
        events: events
            .map(|(kind, seq)| Event {
                seq,
                at_ms: AT_MS - 10_000 + seq,
                kind,
            })
            .collect(),
        next_event_seq: 1_007,
        resources: resource_db(),
        sessions: sessions(),
        checkpoints: BTreeMap::from([(
            id("db"),
            BTreeMap::from([(
                "history".to_owned(),
                crate::Checkpoint {
                    data: b"line one\n".to_vec(),
                    fencing_token: 7,
                    node: NodeId(2),
                    at_ms: AT_MS - 2_000,
                },
            )]),
        )]),
        monitoring: monitoring(),
        users: users(),
        fencing: fencing(),
        format: 3,
        certs: certs(),
        type_roles: BTreeMap::from([("pg".to_owned(), role_programs())]),
    }
}

/// The id of log entry `index`, written in term 130 under node 1's leadership.
pub(super) fn log_id(index: u64) -> LogId {
    let leader = openraft::impls::leader_id_adv::LeaderId::new(130, 1).to_committed();
    LogId::new(leader, index)
}

/// A joint membership (voters {1, 2} then {1, 2, 3}) with a learner, 4.
pub(super) fn membership() -> Membership {
    let voters = vec![BTreeSet::from([1, 2]), BTreeSet::from([1, 2, 3])];
    let nodes: BTreeMap<u64, NodeInfo> = (1..=4).map(|n| (n, node_info(n))).collect();
    Membership::new(voters, nodes).expect("a valid joint membership")
}

/// The membership a snapshot stores, with the log id of the entry that set it.
pub(super) fn stored_membership() -> StoredMembership {
    StoredMembership::new(Some(log_id(1_200)), membership())
}

/// One log entry per payload kind; append for a new kind.
pub(super) fn entry_samples() -> Vec<Entry> {
    let put = Command::Put {
        key: "config/web".into(),
        value: "blue".into(),
    };
    vec![
        Entry::new(log_id(1_234), EntryPayload::Blank),
        Entry::new(log_id(1_235), EntryPayload::Normal(put)),
        Entry::new(log_id(1_236), EntryPayload::Membership(membership())),
    ]
}

/// A vote granted by a quorum: term 130, node 1.
pub(super) fn vote() -> Vote {
    Vote::new_committed(130, 1)
}
