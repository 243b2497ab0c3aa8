//! The resource-agent trait and the values that go in and out of an operation.

use model::{ActionSpec, ParamSchema, ResourceId, TypeClass, TypeInfo};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::broadcast;

/// A boxed future, so that `dyn ResourceAgent` works without the async-trait crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One kind of resource: knows how to validate, start, stop and monitor it on this node.
///
/// Operations are idempotent, as in OCF: starting a running resource and stopping a
/// stopped one both succeed. Each returns within the request's timeout (plus a small
/// margin for killing what it started) and reports failure as an [`Outcome`], never as
/// a panic or an error.
pub trait ResourceAgent: Send + Sync {
    /// The resource type this agent implements, for example `process` or `ocf:heartbeat:Dummy`.
    fn type_name(&self) -> &str;

    /// The parameter schema of the type. OCF agents read it from their meta-data, so it
    /// can fail; callers validate parameters with [`ParamSchema::validate`] before storing
    /// a resource.
    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>>;

    /// The type's description for operators (`encluster type show`): what it is, its
    /// parameters and its operations. The default describes a built-in type by its schema.
    fn describe(&self) -> BoxFuture<'_, Result<TypeInfo, MetaError>> {
        Box::pin(async {
            let schema = self.meta().await?;
            Ok(TypeInfo {
                name: self.type_name().to_owned(),
                class: TypeClass::Builtin,
                description: String::new(),
                schema,
                actions: ["start", "stop", "monitor"]
                    .into_iter()
                    .map(|name| ActionSpec {
                        name: name.to_owned(),
                        timeout: None,
                        interval: None,
                        depth: None,
                    })
                    .collect(),
            })
        })
    }

    /// Checks that the resource could run here: its parameters against the schema and,
    /// for OCF, the agent's own `validate-all`. `Ok` means valid.
    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome>;

    /// Starts the resource. `Ok` means it runs (and answers its probe, if it has one).
    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome>;

    /// Stops the resource. `Ok` means nothing of it runs any more; stopping a resource
    /// that does not run is `Ok`.
    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome>;

    /// Checks the resource: `Ok` if it runs and is healthy, `NotRunning` if it is cleanly
    /// stopped, `Failed` if it runs badly or died without being stopped.
    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome>;

    /// Applies changed parameters (`request.params` holds the new ones) to the running
    /// resource without a restart. Asked only for changes the schema marks reloadable
    /// (see [`ParamSchema::reload`]); a failure makes the executor restart the resource.
    fn reload<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let _ = request;
        Box::pin(async { Outcome::failed(Severity::Soft, "this resource type cannot reload") })
    }

    /// Names resources whose processes this agent saw end, as soon as it sees it, so the
    /// executor can run a monitor at once instead of waiting for the next interval. Also
    /// fires after a stop, and may drop names when the reader lags, so it only hints:
    /// the monitor decides. `None` for agents that cannot tell.
    fn exit_events(&self) -> Option<broadcast::Receiver<ResourceId>> {
        None
    }

    /// Checks, on the node that receives a create or update, what the schema cannot (that
    /// a program exists, that a directory is absolute, that a list parses) and returns the
    /// parameters in the canonical form to store. Every problem is a sentence naming the
    /// parameter and the fix. The default checks nothing more and changes nothing.
    fn prepare(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Vec<String>> {
        Ok(params.clone())
    }

    // --- promo ---
    /// Promotes the running instance (OCF `promote`). `Ok` means it runs promoted. Types
    /// that cannot be promoted fail hard.
    fn promote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let _ = request;
        Box::pin(async { Outcome::failed(Severity::Hard, "this resource type cannot promote") })
    }

    /// Demotes a promoted instance (OCF `demote`). `Ok` means it no longer runs promoted;
    /// demoting an instance that is not promoted, or not running, is `Ok`.
    fn demote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let _ = request;
        Box::pin(async { Outcome::Ok })
    }

    /// The command that demotes the instance, with its environment, for the lease
    /// watchdog to run if the agent hangs while its lease ends; `None` if there is none.
    fn demote_command(&self, request: &OperationRequest) -> Option<crate::watchdog::RunFence> {
        let _ = request;
        None
    }

    /// Checks the promoted role: `Ok` if the instance runs promoted, `NotRunning` if it
    /// runs unpromoted or not at all, `Failed` if it failed in its promoted role.
    fn monitor_promoted<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let _ = request;
        Box::pin(async { Outcome::NotRunning })
    }

    // --- notify ---
    /// Whether the instances of a resource with `params` take clone-wide notifications
    /// ([`Self::notify`]): OCF agents whose resource says `notify=true` (Pacemaker's clone
    /// meta attribute), user types with a notify program. The default: no.
    fn notifies(&self, params: &BTreeMap<String, String>) -> bool {
        let _ = params;
        false
    }

    /// Tells the running instance of a clone of a start, stop, promotion or demotion in
    /// the clone (OCF's `notify`): `request.env` holds Pacemaker's
    /// `OCF_RESKEY_CRM_meta_notify_*` variables ([`crate::notify_environment`]). A failure
    /// is logged and reported, never fatal, as in Pacemaker. The default does nothing.
    fn notify<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let _ = request;
        Box::pin(async { Outcome::Ok })
    }

    // --- status ---
    /// The last status text the running instance of `resource` gave of itself (systemd's
    /// `STATUS=`), if it gave one; `None` for agents that cannot tell. Must return at once.
    fn status_text(&self, resource: &ResourceId) -> Option<String> {
        let _ = resource;
        None
    }
}

/// Everything an operation needs to know; built by the executor from an assignment.
#[derive(Clone, Debug)]
pub struct OperationRequest {
    /// The resource the operation is about.
    pub resource: ResourceId,
    /// The resource's parameters, as stored (defaults are filled in by the agent).
    pub params: BTreeMap<String, String>,
    /// How long the operation may take before it counts as [`Outcome::Timeout`].
    pub timeout: Duration,
    /// For recurring monitors, their interval; zero for everything else (as in Pacemaker,
    /// where an interval of zero marks a one-shot operation or a probe).
    pub interval: Duration,
    /// A directory owned by this resource on this node, for pid files, logs and OCF's
    /// `HA_RSCTMP`. The agent creates it if missing. It must survive restarts of the
    /// agent process, so that a restarted agent can still stop what an earlier one started.
    pub state_dir: PathBuf,
    /// This node's name, given to scripts and recorded in claims.
    pub node_name: String,
    /// The fencing token of the assignment: newer assignments carry larger tokens.
    pub fencing_token: u64,
    /// Only one instance may run cluster-wide: such an instance must end with the node's
    /// lease, so agents that start something long-lived guard it with a watchdog.
    pub unique: bool,
    // --- types ---
    /// For monitors, how thorough the check is (OCF's `OCF_CHECK_LEVEL`): 0 for the cheap,
    /// frequent one (MSCS's LooksAlive), [`DEPTH_THOROUGH`] for the rarer, thorough one
    /// (IsAlive). Zero for every other operation.
    pub depth: u32,
    /// Extra environment for what a start launches, set by the executor (the application
    /// protocol's socket and instance token); empty for other operations. Agents that
    /// launch a program add it to the program's environment.
    pub env: Vec<(String, String)>,
}

/// The depth of a thorough monitor (IsAlive), as OCF's deepest common check level.
pub const DEPTH_THOROUGH: u32 = 10;

/// The result of an operation. A failure is a value with a reason, not a Rust error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The operation succeeded (for a monitor: the resource runs and is healthy).
    Ok,
    /// The resource is cleanly stopped (for a monitor or a probe).
    NotRunning,
    /// The operation failed; `reason` is for operators, `severity` for recovery.
    Failed { reason: String, severity: Severity },
    /// The operation did not finish within its timeout and was killed.
    Timeout,
}

/// How far a failure reaches, which decides the recovery (OCF's soft, hard and fatal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Transient: restart in place, counting towards the migration threshold.
    Soft,
    /// This node cannot run the resource (not installed, no permission): move it elsewhere.
    Hard,
    /// The configuration is wrong everywhere: stop trying until an operator fixes it.
    Fatal,
}

/// Why a resource type's schema could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// The agent's script is not installed on this node.
    #[error("{}", crate::ocf::not_installed_message(type_name, root))]
    NotInstalled {
        /// The type, `ocf:<provider>:<agent>`.
        type_name: String,
        /// The OCF root searched, usually `/usr/lib/ocf`.
        root: PathBuf,
    },
    /// The agent ran but did not produce usable meta-data.
    #[error("meta-data of {type_name} is unusable: {reason}")]
    Unusable { type_name: String, reason: String },
}

impl Outcome {
    /// A failure with a reason.
    pub fn failed(severity: Severity, reason: impl Into<String>) -> Outcome {
        Outcome::Failed {
            reason: reason.into(),
            severity,
        }
    }

    /// Whether this is [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::NotRunning => f.write_str("not running"),
            Outcome::Failed { reason, severity } => write!(f, "failed ({severity}): {reason}"),
            Outcome::Timeout => f.write_str("timed out"),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Soft => "soft",
            Severity::Hard => "hard",
            Severity::Fatal => "fatal",
        })
    }
}

/// The outcome for parameters the schema rejects: fatal, since the configuration itself
/// is wrong and no node would do better.
pub(crate) fn invalid_params(errors: &[model::ParamError]) -> Outcome {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Outcome::failed(
        Severity::Fatal,
        format!("invalid parameters: {}", messages.join("; ")),
    )
}
