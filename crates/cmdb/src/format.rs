//! The cluster format: which persisted formats the whole cluster may write (issue 17).
//!
//! A node of a newer version reads everything an older one wrote (`codec`'s decoder
//! branches), but an older node cannot read what only a newer one knows: a `Command`
//! variant appended after its release, or a snapshot layout with fields it lacks. So a
//! rolling upgrade must not write either until every node runs a version that reads it.
//!
//! Every node reports the highest cluster format it can write ([`FORMAT_CURRENT`]) in its
//! heartbeat; a node that reports none predates formats and counts as [`FORMAT_OLDEST`].
//! The master raises the cluster's format in the cmdb (`Command::SetClusterFormat`) only
//! once every member reports at least that format, and the format never goes down. Then:
//!
//! * a command is proposed only if [`Command::format_required`] is at most the cluster's
//!   format ([`ClusterDb::admits`]; the API, forwarded writes and the master loop check it
//!   before `client_write`), and `ClusterDb::apply` refuses one that is not, so a replica
//!   never holds a state an older member could not have reached;
//! * the snapshot layout follows the cluster's format (`codec::encode_db` writes
//!   [`snapshot_layout`]), so a snapshot sent to, or left on the disk of, a node that is
//!   upgraded later is one it can read.
//!
//! Adding a format: give [`FORMAT_CURRENT`] the next number, name it in
//! `Command::format_required` for every new variant and in `snapshot_layout` for the new
//! layout byte, and document it in ARCHITECTURE.md "Persisted formats". The compiler asks
//! for a new variant's format, since `format_required` has no wildcard arm.

use crate::command::Command;
use crate::db::ClusterDb;

/// Cluster format 1: everything encluster 0.11.0 (1cb5a14) writes; snapshot layout 8.
pub const FORMAT_OLDEST: u32 = 1;
/// Cluster format 2: adds `Command::SetClusterFormat`, fencing devices, server edits, the
/// certificate and token commands, in-place edits of groups and constraints
/// (`UpdateGroup`, `UpdateConstraint`), the events `Fencing`, `LoginLocked` and
/// `CertExpiring`, and snapshot layout 9 (fencing devices, the cluster format and
/// certificate records in the cluster database).
pub const FORMAT_CLUSTER_FORMAT: u32 = 2;
/// Cluster format 3: adds the role programs of user types (`PutTypeWithRoles`,
/// `ReplaceConfigWithRoles`) and snapshot layout 10 (`ClusterDb.type_roles`).
pub const FORMAT_TYPE_ROLES: u32 = 3;
/// The highest cluster format this build can write, which its heartbeats report.
pub const FORMAT_CURRENT: u32 = FORMAT_TYPE_ROLES;

/// The snapshot layout byte (`codec::encode_db`) a cluster of `format` writes.
pub(crate) fn snapshot_layout(format: u32) -> u8 {
    if format >= FORMAT_TYPE_ROLES {
        crate::codec::FORMAT_DB_V10
    } else if format >= FORMAT_CLUSTER_FORMAT {
        crate::codec::FORMAT_DB_V9
    } else {
        crate::codec::FORMAT_DB_V8
    }
}

impl Command {
    /// The lowest cluster format in which this command may be written: every member of a
    /// cluster of that format decodes it. No wildcard arm, so a new variant must name one.
    pub fn format_required(&self) -> u32 {
        match self {
            Command::Session { command, .. } | Command::Audited { command, .. } => {
                command.format_required()
            }
            Command::RecordEvents { events, .. } => events
                .iter()
                .map(event_format_required)
                .max()
                .unwrap_or(FORMAT_OLDEST),
            Command::Put { .. }
            | Command::Delete { .. }
            | Command::InitCluster { .. }
            | Command::AddToken { .. }
            | Command::AllocateNodeId
            | Command::UpsertNode { .. }
            | Command::RemoveNode { .. }
            | Command::SetNodeHealth { .. }
            | Command::PutResource { .. }
            | Command::DeleteResource { .. }
            | Command::PutGroup { .. }
            | Command::DeleteGroup { .. }
            | Command::AddConstraint { .. }
            | Command::SetMove { .. }
            | Command::SetNodeConfig { .. }
            | Command::SetTargetRole { .. }
            | Command::Cleanup { .. }
            | Command::ChangeAssignments { .. }
            | Command::RecordOperation { .. }
            | Command::ReplaceConfig { .. }
            | Command::RemoveConstraint { .. }
            | Command::SetBans { .. }
            | Command::SetManaged { .. }
            | Command::PutType { .. }
            | Command::DeleteType { .. }
            | Command::ReplaceConfigWithTypes { .. }
            | Command::PutCheckpoint { .. }
            | Command::PutAlert { .. }
            | Command::RemoveAlert { .. }
            | Command::AlertDelivered { .. }
            | Command::ReplaceAlerts { .. }
            | Command::SetPromotionScore { .. }
            | Command::PutPromotable { .. }
            | Command::UseJoinToken { .. }
            | Command::AddUser { .. }
            | Command::SetPassword { .. }
            | Command::SetUserRole { .. }
            | Command::RemoveUser { .. }
            | Command::OpenLogin { .. }
            | Command::CloseLogin { .. }
            | Command::AddRoleToken { .. }
            | Command::ReplaceConfigPromotable { .. } => FORMAT_OLDEST,
            // --- fence, servers ---
            Command::PutFenceDevice { .. }
            | Command::RemoveFenceDevice { .. }
            | Command::ReplaceFenceDevices { .. }
            | Command::EditServer { .. } => FORMAT_CLUSTER_FORMAT,
            // --- upgrade ---
            Command::SetClusterFormat { .. } => FORMAT_CLUSTER_FORMAT,
            // --- rotate ---
            Command::RotateCerts { .. }
            | Command::BeginCaChange { .. }
            | Command::FinishCaChange { .. }
            | Command::ReportNodeCert { .. }
            | Command::CertExpiryWarned { .. }
            | Command::RevokeTokens { .. }
            | Command::ReplaceToken { .. } => FORMAT_CLUSTER_FORMAT,
            // --- edit ---
            Command::UpdateGroup { .. } | Command::UpdateConstraint { .. } => FORMAT_CLUSTER_FORMAT,
            // --- roles ---
            Command::PutTypeWithRoles { .. } | Command::ReplaceConfigWithRoles { .. } => {
                FORMAT_TYPE_ROLES
            }
        }
    }
}

/// The lowest cluster format in which an event of this kind may be recorded (an event is
/// part of the commands that record it). No wildcard arm, as for commands.
pub fn event_format_required(kind: &model::EventKind) -> u32 {
    use model::EventKind;
    match kind {
        EventKind::NodeHealth { .. }
        | EventKind::NodeJoined { .. }
        | EventKind::NodeRemoved { .. }
        | EventKind::NodeRole { .. }
        | EventKind::MasterElected { .. }
        | EventKind::QuorumForced { .. }
        | EventKind::ResourceAction { .. }
        | EventKind::OperatorAction { .. }
        | EventKind::AlertFailed { .. }
        | EventKind::Threshold { .. }
        | EventKind::ServerHealth { .. }
        | EventKind::RemoteView { .. } => FORMAT_OLDEST,
        EventKind::Fencing { .. }
        | EventKind::LoginLocked { .. }
        | EventKind::CertExpiring { .. } => FORMAT_CLUSTER_FORMAT,
    }
}

impl ClusterDb {
    /// The cluster's format: what every member can read. A database from before formats
    /// (layout 8 and older) is format 1.
    pub fn cluster_format(&self) -> u32 {
        self.format.max(FORMAT_OLDEST)
    }

    /// How many nodes the cmdb registers: [`crate::limits::NODES_MAX`] from format 2,
    /// [`crate::limits::NODES_MAX_FORMAT_1`] before, which is what 0.11.0 replicas apply.
    pub fn nodes_max(&self) -> usize {
        if self.cluster_format() >= FORMAT_CLUSTER_FORMAT {
            crate::limits::NODES_MAX
        } else {
            crate::limits::NODES_MAX_FORMAT_1
        }
    }

    /// The gate every proposal goes through: `Err` (for the operator) when `command` needs
    /// a newer cluster format than the cluster has, that is when a member might run an
    /// encluster too old to read it. `SetClusterFormat` itself is the master's to propose,
    /// once every member reported the format it raises to.
    pub fn admits(&self, command: &Command) -> Result<(), String> {
        let required = command.format_required();
        let format = self.cluster_format();
        if required <= format || matches!(command, Command::SetClusterFormat { .. }) {
            return Ok(());
        }
        Err(format!(
            "`{command}` needs cluster format {required}, but the cluster is at format \
             {format}: a node still runs an older encluster. Upgrade every node (README \
             \"Upgrading\"); the master raises the format once all of them report it"
        ))
    }

    /// An empty database at this build's format, as a new cluster's is once its master
    /// wrote `SetClusterFormat` after `InitCluster`.
    #[cfg(test)]
    pub(crate) fn at_current_format() -> ClusterDb {
        ClusterDb {
            format: FORMAT_CURRENT,
            ..ClusterDb::default()
        }
    }

    /// `SetClusterFormat`: raise the format; it never goes down.
    pub(crate) fn set_cluster_format(&mut self, format: u32) -> crate::CommandResult {
        if format < self.cluster_format() {
            return crate::CommandResult::Rejected(format!(
                "the cluster format is {} and never goes down (asked {format})",
                self.cluster_format()
            ));
        }
        self.format = format;
        crate::CommandResult::Ok
    }
}
