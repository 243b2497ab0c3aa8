//! The `ocf` resource agent: runs an existing OCF resource agent script, unmodified.
//!
//! A type `ocf:<provider>:<agent>` runs `$OCF_ROOT/resource.d/<provider>/<agent>` with
//! the environment of the OCF resource agent API, as Pacemaker's `services_ocf.c` does:
//! `OCF_ROOT`, `OCF_FUNCTIONS_DIR`, `OCF_RA_VERSION_MAJOR/MINOR`, `OCF_RESOURCE_INSTANCE`,
//! `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `OCF_RESKEY_<name>` for every parameter,
//! `OCF_RESKEY_CRM_meta_timeout` and `_interval` in milliseconds, `OCF_CHECK_LEVEL=0`,
//! and `HA_RSCTMP` pointing at the resource's state directory, where many agents keep
//! their state. Only the parameters the operator gave are passed: the script applies its
//! own defaults, which may depend on the environment (Dummy's state file does).
//! Each action runs in its own process group, and the group is killed on timeout.

mod exit;
mod meta;
pub(crate) use meta::type_info_from_meta_data;
mod promotion;

pub(crate) use promotion::SCORE_FILE;
pub use promotion::{promotion_score, set_promotion_score};
mod xml;

#[cfg(test)]
mod tests;

use crate::child::{RunEnd, run_bounded};
use crate::limits::{META_DATA_BYTES_MAX, META_DATA_TIMEOUT, OUTPUT_TAIL_BYTES};
use crate::operation::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use exit::{Action, detail_of, outcome_of};
use model::{ParamSchema, TypeInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The parts of a type name `ocf:<provider>:<agent>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OcfType {
    /// For example `heartbeat`.
    pub provider: String,
    /// For example `Dummy`.
    pub agent: String,
}

impl OcfType {
    /// Parses `ocf:<provider>:<agent>`; `None` if the name has another shape or its parts
    /// could escape the OCF directory.
    pub fn parse(type_name: &str) -> Option<OcfType> {
        let mut parts = type_name.split(':');
        let (class, provider, agent) = (parts.next()?, parts.next()?, parts.next()?);
        let safe = |part: &str| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (class == "ocf" && parts.next().is_none() && safe(provider) && safe(agent)).then(|| {
            OcfType {
                provider: provider.to_owned(),
                agent: agent.to_owned(),
            }
        })
    }
}

/// What to tell an operator whose OCF agent is missing: where it was looked for, and the
/// Debian package that usually provides it.
pub(crate) fn not_installed_message(type_name: &str, root: &Path) -> String {
    let short = type_name.strip_prefix("ocf:").unwrap_or(type_name);
    let package = match short.split(':').next() {
        Some("heartbeat") => {
            "install Debian's resource-agents package (apt install resource-agents)"
        }
        Some("pacemaker") => {
            "install Debian's pacemaker-resource-agents package \
             (apt install pacemaker-resource-agents)"
        }
        _ => "install the package that provides it",
    };
    let dir = root.join("resource.d");
    format!(
        "OCF agent {short} not found in {}; {package}",
        dir.display()
    )
}

/// Whether the resource asks for clone-wide notifications (`notify=true`).
fn notifies(request: &OperationRequest) -> bool {
    notifies_by(&request.params)
}

fn notifies_by(params: &BTreeMap<String, String>) -> bool {
    params
        .get(meta::NOTIFY_PARAM)
        .and_then(|value| model::parse_bool(value))
        .unwrap_or(false)
}

/// Runs one OCF resource agent script. Its description is read once from its meta-data.
pub struct OcfAgent {
    type_name: String,
    ocf_type: OcfType,
    ocf_root: PathBuf,
    info: OnceCell<TypeInfo>,
    /// One lock per instance (by state directory): the actions of one instance run one at
    /// a time, as in Pacemaker, also when the executor runs the instance and its promoted
    /// role, two resources to it, at once (Stateful rewrites its state file in place, so a
    /// monitor during a promote would read it half-written).
    instances: std::sync::Mutex<BTreeMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl OcfAgent {
    /// An agent for `ocf_type`, found under `ocf_root` (usually `/usr/lib/ocf`). Whether
    /// the script exists is checked when it runs: a missing script is a hard failure of
    /// that node, not of the type.
    pub fn new(ocf_type: OcfType, ocf_root: &Path) -> Self {
        let type_name = format!("ocf:{}:{}", ocf_type.provider, ocf_type.agent);
        OcfAgent {
            type_name,
            ocf_type,
            ocf_root: ocf_root.to_path_buf(),
            info: OnceCell::new(),
            instances: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The script this agent runs.
    pub fn script(&self) -> PathBuf {
        self.ocf_root
            .join("resource.d")
            .join(&self.ocf_type.provider)
            .join(&self.ocf_type.agent)
    }

    fn command(&self, action: Action) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.script());
        command.arg(action.as_str());
        // Variables from our own environment must not leak into the agent's parameters.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OCF_") {
                command.env_remove(key);
            }
        }
        command
            .env("OCF_ROOT", &self.ocf_root)
            .env("OCF_FUNCTIONS_DIR", self.ocf_root.join("lib/heartbeat"))
            .env("OCF_RA_VERSION_MAJOR", "1")
            .env("OCF_RA_VERSION_MINOR", "1")
            .env("OCF_RESOURCE_TYPE", &self.ocf_type.agent)
            .env("OCF_RESOURCE_PROVIDER", &self.ocf_type.provider)
            .env("OCF_CHECK_LEVEL", "0");
        command
    }

    /// Runs `action` for a resource and maps the result to an outcome.
    async fn run(&self, action: Action, request: &OperationRequest) -> Outcome {
        match self.run_code(action, request).await {
            Ok((code, detail)) => outcome_of(action, code, &detail),
            Err(outcome) => outcome,
        }
    }

    /// Runs `action` for a resource: its exit code and the agent's own words, or the
    /// outcome when it did not exit with a code (not installed, timed out, killed).
    async fn run_code(
        &self,
        action: Action,
        request: &OperationRequest,
    ) -> Result<(i32, String), Outcome> {
        let lock = {
            let mut instances = self
                .instances
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(instances.entry(request.state_dir.clone()).or_default())
        };
        let outcome = {
            let _one_at_a_time = lock.lock().await;
            self.run_code_inner(action, request).await
        };
        let action = action.as_str();
        match &outcome {
            Ok((code, _)) => {
                tracing::debug!(resource = %request.resource, action, code, "OCF action done");
            }
            Err(outcome) => {
                tracing::debug!(resource = %request.resource, action, %outcome, "OCF action done");
            }
        }
        outcome
    }

    async fn run_code_inner(
        &self,
        action: Action,
        request: &OperationRequest,
    ) -> Result<(i32, String), Outcome> {
        if !self.script().is_file() {
            let missing = not_installed_message(&self.type_name, &self.ocf_root);
            return Err(Outcome::failed(
                Severity::Hard,
                format!("on this node: {missing}"),
            ));
        }
        if let Some(bad) = request.params.keys().find(|name| !is_env_name(name)) {
            return Err(Outcome::failed(
                Severity::Fatal,
                format!("parameter name {bad:?} cannot be passed to an OCF agent"),
            ));
        }
        if let Err(error) = std::fs::create_dir_all(&request.state_dir) {
            let dir = request.state_dir.display();
            return Err(Outcome::failed(
                Severity::Hard,
                format!("cannot create {dir}: {error}"),
            ));
        }
        let mut command = self.instance_command(action, request);
        if self.promotable().await {
            promotion::environment(&mut command, &request.state_dir)
                .map_err(|reason| Outcome::failed(Severity::Hard, reason))?;
        }
        let result = match run_bounded(command, request.timeout, OUTPUT_TAIL_BYTES).await {
            Ok(result) => result,
            Err(error) => return Err(spawn_failure(&self.script(), &error)),
        };
        match result.end {
            RunEnd::TimedOut => Err(Outcome::Timeout),
            RunEnd::Exited(status) => match status.code() {
                Some(code) => Ok((code, detail_of(&result.stderr, &result.stdout))),
                None => Err(Outcome::failed(
                    Severity::Soft,
                    format!(
                        "{} {}",
                        action.as_str(),
                        crate::child::describe_exit(&status)
                    ),
                )),
            },
        }
    }

    /// The command of `action` for the instance of `request`, with its environment.
    fn instance_command(
        &self,
        action: Action,
        request: &OperationRequest,
    ) -> tokio::process::Command {
        let mut command = self.command(action);
        let interval = if action == Action::Monitor {
            request.interval
        } else {
            Duration::ZERO
        };
        command
            .env("OCF_RESOURCE_INSTANCE", &request.resource.0)
            .env(
                "OCF_RESKEY_CRM_meta_timeout",
                request.timeout.as_millis().to_string(),
            )
            .env(
                "OCF_RESKEY_CRM_meta_interval",
                interval.as_millis().to_string(),
            )
            .env("OCF_RESKEY_CRM_meta_on_node", &request.node_name)
            .env("HA_RSCTMP", &request.state_dir)
            .current_dir(&request.state_dir);
        for (name, value) in &request.params {
            command.env(format!("OCF_RESKEY_{name}"), value);
        }
        if notifies(request) {
            command.env("OCF_RESKEY_CRM_meta_notify", "true");
        }
        command
    }

    /// Whether the agent's meta-data offers `promote`: such an agent gets encluster's
    /// `crm_attribute` in `HA_SBIN_DIR` and the resource's state directory as `HA_VARRUN`.
    async fn promotable(&self) -> bool {
        self.describe()
            .await
            .is_ok_and(|info| info.actions.iter().any(|a| a.name == "promote"))
    }

    /// Stops the instance; one still promoted (the agent's stop answers 8, as Stateful's
    /// does) is demoted first, as Pacemaker always demotes before it stops.
    async fn stop_demoting(&self, request: &OperationRequest) -> Outcome {
        match self.run_code(Action::Stop, request).await {
            Ok((8, _)) => {
                let demoted = self.run(Action::Demote, request).await;
                if !demoted.is_ok() {
                    return demoted;
                }
                self.run(Action::Stop, request).await
            }
            Ok((code, detail)) => outcome_of(Action::Stop, code, &detail),
            Err(outcome) => outcome,
        }
    }

    async fn load_info(&self) -> Result<TypeInfo, MetaError> {
        let script = self.script();
        if !script.is_file() {
            return Err(MetaError::NotInstalled {
                type_name: self.type_name.clone(),
                root: self.ocf_root.clone(),
            });
        }
        let unusable = |reason: String| MetaError::Unusable {
            type_name: self.type_name.clone(),
            reason,
        };
        let result = run_bounded(
            self.command(Action::MetaData),
            META_DATA_TIMEOUT,
            META_DATA_BYTES_MAX,
        )
        .await
        .map_err(|error| unusable(format!("cannot run {}: {error}", script.display())))?;
        match result.end {
            RunEnd::Exited(status) if status.success() => {}
            RunEnd::Exited(status) => {
                return Err(unusable(format!(
                    "meta-data {}",
                    crate::child::describe_exit(&status)
                )));
            }
            RunEnd::TimedOut => {
                return Err(unusable(format!("no answer within {META_DATA_TIMEOUT:?}")));
            }
        }
        meta::type_info_from_meta_data(&self.type_name, &result.stdout).map_err(unusable)
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn spawn_failure(script: &Path, error: &std::io::Error) -> Outcome {
    let script = script.display();
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => Outcome::failed(
            Severity::Hard,
            format!("OCF resource agent {script} is not executable"),
        ),
        std::io::ErrorKind::NotFound => Outcome::failed(
            Severity::Hard,
            format!("OCF resource agent {script} or its interpreter is not installed"),
        ),
        _ => Outcome::failed(Severity::Soft, format!("cannot run {script}: {error}")),
    }
}

impl ResourceAgent for OcfAgent {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(self.describe().await?.schema) })
    }

    fn describe(&self) -> BoxFuture<'_, Result<TypeInfo, MetaError>> {
        Box::pin(async {
            self.info
                .get_or_try_init(|| self.load_info())
                .await
                .cloned()
        })
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.meta().await {
                Ok(schema) => {
                    if let Err(errors) = schema.validate(&request.params) {
                        return crate::operation::invalid_params(&errors);
                    }
                }
                Err(error @ MetaError::NotInstalled { .. }) => {
                    return Outcome::failed(Severity::Hard, format!("on this node: {error}"));
                }
                Err(error @ MetaError::Unusable { .. }) => {
                    return Outcome::failed(Severity::Hard, error.to_string());
                }
            }
            self.run(Action::ValidateAll, request).await
        })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(Action::Start, request))
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.stop_demoting(request))
    }

    fn promote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let outcome = self.run(Action::Promote, request).await;
            // With clone-wide notifications the executor tells every instance instead.
            if outcome.is_ok() && !notifies(request) {
                // Pacemaker's post-promote notification, to this instance only.
                let notify = promotion::notify_request(request, "post", "promote");
                let _ = self.run(Action::Notify, &notify).await;
            }
            outcome
        })
    }

    fn demote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(Action::Demote, request))
    }

    fn notifies(&self, params: &BTreeMap<String, String>) -> bool {
        notifies_by(params)
    }

    /// Runs `notify` with the notification's variables (`request.env`) on top.
    fn notify<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mut notify = request.clone();
            for (name, value) in &request.env {
                if let Some(param) = name.strip_prefix("OCF_RESKEY_") {
                    notify.params.insert(param.to_owned(), value.clone());
                }
            }
            self.run(Action::Notify, &notify).await
        })
    }

    fn demote_command(&self, request: &OperationRequest) -> Option<crate::watchdog::RunFence> {
        let mut command = self.instance_command(Action::Demote, request);
        command
            .env("HA_SBIN_DIR", request.state_dir.join("sbin"))
            .env("HA_VARRUN", &request.state_dir);
        let env = command
            .as_std()
            .get_envs()
            .filter_map(|(key, value)| {
                let value = value?.to_str()?.to_owned();
                Some((key.to_str()?.to_owned(), value))
            })
            .collect();
        Some(crate::watchdog::RunFence {
            program: self.script(),
            argument: Action::Demote.as_str().to_owned(),
            env,
        })
    }

    fn monitor_promoted<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.run_code(Action::Monitor, request).await {
                Ok((code, detail)) => exit::promoted_outcome_of(code, &detail),
                Err(outcome) => outcome,
            }
        })
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(Action::Monitor, request))
    }

    /// Runs `reload-agent` or `reload`, whichever the meta-data advertises.
    fn reload<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let action = match self.meta().await.map(|schema| schema.reload) {
                Ok(Some(action)) if action == "reload-agent" => Action::ReloadAgent,
                Ok(Some(_)) => Action::Reload,
                Ok(None) | Err(_) => {
                    return Outcome::failed(Severity::Soft, "the agent cannot reload");
                }
            };
            self.run(action, request).await
        })
    }
}
