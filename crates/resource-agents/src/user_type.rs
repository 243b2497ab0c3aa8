//! The resource agent of a user-defined type (`model::UserType`): the type's command, run
//! and supervised by the node's process supervisor (the `process` agent's code, shared),
//! with the instance's parameters in its environment and the type's two health checks.
//!
//! An instance's environment is built in one place, [`instance_environment`]: every
//! parameter as `OCF_RESKEY_<name>` and `ENCLUSTER_PARAM_<name>`, the type's own `env`,
//! the instance's identity (`ENCLUSTER_RESOURCE`, `ENCLUSTER_NODE`,
//! `ENCLUSTER_FENCING_TOKEN`, `ENCLUSTER_STATE_DIR`), and whatever extra variables the
//! caller adds. The checks run with the same environment.
//!
//! A monitor of depth 0 runs the cheap check (LooksAlive), a deeper one the thorough check
//! (IsAlive); both first require the process to be alive. A start succeeds once the process
//! runs and its thorough check passes. Every agent of a user type shares one supervisor, so
//! a changed definition (a new agent) keeps supervising the children the old one started.
//!
//! A promotable type's role programs (`model::RolePrograms`) promote, demote and notify its
//! instances, each run with the instance's environment like a check, exit status 0 meaning
//! done. Whether an instance runs promoted is the `promoted` file in its state directory,
//! written after a successful promote and removed by a demote, a start and a stop; the
//! lease watchdog of a promoted role runs the demote program through a small script
//! (`demote-program`) written next to it. An instance sets its promotion score by writing
//! it to `$ENCLUSTER_PROMOTION_SCORE_FILE` (or with the application protocol).

use std::collections::BTreeMap;
use std::sync::Arc;

use model::{
    ActionSpec, HealthCheck, HealthProbe, ParamSchema, RoleProgram, RolePrograms, TypeClass,
    TypeInfo, UserType,
};
use tokio::sync::broadcast;

use crate::operation::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use crate::process::ProcessAgent;
use crate::process::config::ProcessConfig;
use crate::process::probe::Probe;

/// The resource agent of one user-defined type, built from its definition.
pub struct UserTypeAgent {
    definition: UserType,
    roles: RolePrograms,
    supervisor: Arc<ProcessAgent>,
    /// One lock per instance (by state directory): its promote and demote run one at a
    /// time, also when the role's demote and the instance's stop (which demotes first)
    /// come at once, as the executor runs the role and the instance as two resources.
    role_locks: std::sync::Mutex<BTreeMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

/// The file whose presence says that an instance runs promoted (by its role programs).
const PROMOTED_FILE: &str = "promoted";
/// The script the lease watchdog of a promoted role runs: the demote program.
const DEMOTE_SCRIPT: &str = "demote-program";

impl UserTypeAgent {
    /// An agent running `definition`'s instances under `supervisor`, the node's one
    /// process supervisor for user types, without role programs.
    pub fn new(definition: UserType, supervisor: Arc<ProcessAgent>) -> UserTypeAgent {
        UserTypeAgent {
            definition,
            roles: RolePrograms::default(),
            supervisor,
            role_locks: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The same agent with the type's promote, demote and notify programs.
    pub fn with_roles(mut self, roles: RolePrograms) -> UserTypeAgent {
        self.roles = roles;
        self
    }

    /// The definition this agent runs.
    pub fn definition(&self) -> &UserType {
        &self.definition
    }

    /// The parameters with defaults filled in, or a fatal outcome naming every problem.
    fn params(&self, request: &OperationRequest) -> Result<BTreeMap<String, String>, Outcome> {
        self.definition
            .schema
            .validate(&request.params)
            .map_err(|errors| crate::operation::invalid_params(&errors))
    }

    /// What the supervisor runs, with the probe of `check` (none for "alive").
    fn launch(
        &self,
        request: &OperationRequest,
        check: &HealthCheck,
    ) -> Result<ProcessConfig, Outcome> {
        let params = self.params(request)?;
        let env = instance_environment(&self.definition, request, &params, &request.env);
        let probe = match &check.probe {
            HealthProbe::Alive => None,
            HealthProbe::Command(command) => Some(Probe::Command {
                command: command.command.clone(),
                args: command.args.clone(),
                env: with_own_env(&env, &command.env),
                cwd: request.state_dir.clone(),
            }),
            HealthProbe::Tcp(address) => Some(Probe::tcp(address).map_err(fatal)?),
            HealthProbe::Http(url) => Some(Probe::http(url).map_err(fatal)?),
        };
        Ok(ProcessConfig {
            command: self.definition.run.command.clone(),
            args: self.definition.run.args.clone(),
            env,
            cwd: None,
            probes: probe.into_iter().collect(),
            notify: false,
            watchdog: None,
        })
    }

    /// The check a monitor of `depth` runs.
    fn check(&self, depth: u32) -> &HealthCheck {
        if depth == 0 {
            &self.definition.looks_alive
        } else {
            &self.definition.is_alive
        }
    }

    async fn reload_inner(&self, request: &OperationRequest) -> Outcome {
        let Some(reload) = &self.definition.reload else {
            return Outcome::failed(Severity::Soft, "this type has no reload command");
        };
        let params = match self.params(request) {
            Ok(params) => params,
            Err(outcome) => return outcome,
        };
        let env = instance_environment(&self.definition, request, &params, &request.env);
        let probe = Probe::Command {
            command: reload.command.clone(),
            args: reload.args.clone(),
            env: with_own_env(&env, &reload.env),
            cwd: request.state_dir.clone(),
        };
        match probe.check(request.timeout).await {
            Ok(()) => Outcome::Ok,
            Err(reason) => Outcome::failed(Severity::Soft, format!("reload: {reason}")),
        }
    }

    /// Runs a role program with the instance's environment (and `request.env`, which
    /// carries a notification's variables), for at most its own timeout and the request's.
    async fn run_role(
        &self,
        field: &str,
        program: &RoleProgram,
        request: &OperationRequest,
    ) -> Outcome {
        let params = match self.params(request) {
            Ok(params) => params,
            Err(outcome) => return outcome,
        };
        let env = instance_environment(&self.definition, request, &params, &request.env);
        let probe = Probe::Command {
            command: program.command.command.clone(),
            args: program.command.args.clone(),
            env: with_own_env(&env, &program.command.env),
            cwd: request.state_dir.clone(),
        };
        if let Err(error) = std::fs::create_dir_all(&request.state_dir) {
            let dir = request.state_dir.display();
            return Outcome::failed(Severity::Hard, format!("cannot create {dir}: {error}"));
        }
        match probe.check(program.timeout.min(request.timeout)).await {
            Ok(()) => Outcome::Ok,
            Err(reason) => Outcome::failed(Severity::Soft, format!("{field}: {reason}")),
        }
    }

    /// The lock of the instance whose state directory is `request`'s.
    async fn role_lock(&self, request: &OperationRequest) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .role_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(locks.entry(request.state_dir.clone()).or_default())
        };
        lock.lock_owned().await
    }

    async fn promote_inner(&self, request: &OperationRequest) -> Outcome {
        let _one_at_a_time = self.role_lock(request).await;
        let Some(promote) = &self.roles.promote else {
            return Outcome::failed(
                Severity::Hard,
                format!(
                    "type {} has no promote program and no application of the instance is \
                     connected: give the type --promote and --demote programs",
                    self.definition.name
                ),
            );
        };
        let outcome = self.run_role("promote", promote, request).await;
        if outcome.is_ok()
            && let Err(error) = std::fs::write(request.state_dir.join(PROMOTED_FILE), b"")
        {
            let reason = format!("promoted, but cannot record it: {error}");
            return Outcome::failed(Severity::Soft, reason);
        }
        outcome
    }

    async fn demote_inner(&self, request: &OperationRequest) -> Outcome {
        let _one_at_a_time = self.role_lock(request).await;
        let marker = request.state_dir.join(PROMOTED_FILE);
        if !marker.exists() {
            // Never promoted here (or demoted already): demoting it is a no-op.
            return Outcome::Ok;
        }
        let outcome = match &self.roles.demote {
            Some(demote) => self.run_role("demote", demote, request).await,
            None => Outcome::Ok,
        };
        if outcome.is_ok() {
            forget_promotion(&request.state_dir);
        }
        outcome
    }

    async fn monitor_promoted_inner(&self, request: &OperationRequest) -> Outcome {
        if self.roles.promote.is_none() {
            return Outcome::NotRunning;
        }
        let running = match self.launch(request, &self.definition.looks_alive) {
            Ok(config) => self.supervisor.monitor_with(request, &config).await,
            Err(outcome) => outcome,
        };
        match running {
            Outcome::Ok if request.state_dir.join(PROMOTED_FILE).exists() => Outcome::Ok,
            Outcome::Ok | Outcome::NotRunning => Outcome::NotRunning,
            other => other,
        }
    }

    /// The demote program as one executable the lease watchdog can run with a single
    /// argument: a script in the state directory that runs the program with its arguments.
    fn demote_script(&self, request: &OperationRequest) -> Option<crate::watchdog::RunFence> {
        use std::os::unix::fs::PermissionsExt;
        let demote = self.roles.demote.as_ref()?;
        let params = self.params(request).ok()?;
        let words = std::iter::once(demote.command.command.as_str())
            .chain(demote.command.args.iter().map(String::as_str));
        let line = shlex::try_join(words).ok()?;
        let script = request.state_dir.join(DEMOTE_SCRIPT);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&request.state_dir)?;
            let temporary = request.state_dir.join(format!("{DEMOTE_SCRIPT}.tmp"));
            std::fs::write(&temporary, format!("#!/bin/sh\nexec {line}\n"))?;
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))?;
            std::fs::rename(&temporary, &script)
        };
        if let Err(error) = write() {
            tracing::warn!(%error, "Cannot write the demote program for the lease watchdog");
            return None;
        }
        let env = instance_environment(&self.definition, request, &params, &request.env);
        Some(crate::watchdog::RunFence {
            program: script,
            argument: "demote".into(),
            env: with_own_env(&env, &demote.command.env),
        })
    }

    fn validate_inner(&self, request: &OperationRequest) -> Outcome {
        if let Err(outcome) = self.params(request) {
            return outcome;
        }
        let roles = self.roles.programs();
        let role_commands = roles
            .iter()
            .map(|(field, program)| (*field, &program.command));
        for (field, command) in self.definition.commands().into_iter().chain(role_commands) {
            if crate::process::find_command(&command.command).is_none() {
                return Outcome::failed(
                    Severity::Hard,
                    format!("{field}: command not found: {}", command.command),
                );
            }
        }
        Outcome::Ok
    }
}

fn fatal(reason: String) -> Outcome {
    Outcome::failed(Severity::Fatal, reason)
}

/// Removes the record of a promotion: a new or stopped instance is never promoted.
fn forget_promotion(state_dir: &std::path::Path) {
    match std::fs::remove_file(state_dir.join(PROMOTED_FILE)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(%error, "Cannot remove the record of a promotion");
        }
        _ => {}
    }
}

/// The environment of an instance of `definition` and of its checks: the parameters (with
/// defaults filled in) under both prefixes, the type's `env`, the instance's identity, then
/// `extra` (for example what the application protocol adds), later entries winning.
pub fn instance_environment(
    definition: &UserType,
    request: &OperationRequest,
    params: &BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = model::param_environment(params);
    env.extend(definition.run.env.clone());
    env.push(("OCF_RESOURCE_INSTANCE".into(), request.resource.0.clone()));
    env.push(("ENCLUSTER_RESOURCE".into(), request.resource.0.clone()));
    env.push(("ENCLUSTER_TYPE".into(), definition.name.clone()));
    env.push(("ENCLUSTER_NODE".into(), request.node_name.clone()));
    let token = request.fencing_token.to_string();
    env.push(("ENCLUSTER_FENCING_TOKEN".into(), token));
    let state_dir = request.state_dir.display().to_string();
    env.push(("ENCLUSTER_STATE_DIR".into(), state_dir));
    if definition.kind == model::TypeKind::Promotable {
        let file = request.state_dir.join(crate::ocf::SCORE_FILE);
        let file = file.display().to_string();
        env.push(("ENCLUSTER_PROMOTION_SCORE_FILE".into(), file));
    }
    env.extend(extra.iter().cloned());
    env
}

/// The instance's environment with a check's own variables on top.
fn with_own_env(env: &[(String, String)], own: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut all = env.to_vec();
    all.extend(own.iter().map(|(key, value)| (key.clone(), value.clone())));
    all
}

impl ResourceAgent for UserTypeAgent {
    fn type_name(&self) -> &str {
        &self.definition.name
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(self.definition.schema.clone()) })
    }

    fn describe(&self) -> BoxFuture<'_, Result<TypeInfo, MetaError>> {
        Box::pin(async {
            let mut info = describe(&self.definition);
            for (name, program) in self.roles.programs() {
                info.actions.push(ActionSpec {
                    name: name.to_owned(),
                    timeout: Some(program.timeout),
                    interval: None,
                    depth: None,
                });
            }
            Ok(info)
        })
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.validate_inner(request) })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            forget_promotion(&request.state_dir);
            match self.launch(request, &self.definition.is_alive) {
                Ok(config) => self.supervisor.start_with(request, &config).await,
                Err(outcome) => outcome,
            }
        })
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            // A promoted instance is demoted before it stops, as Pacemaker always does.
            let demoted = self.demote_inner(request).await;
            if !demoted.is_ok() {
                tracing::warn!(outcome = %demoted, "Demote before the stop failed");
            }
            let outcome = self.supervisor.stop_inner(request).await;
            if outcome.is_ok() {
                forget_promotion(&request.state_dir);
            }
            outcome
        })
    }

    fn promote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.promote_inner(request))
    }

    fn demote<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.demote_inner(request))
    }

    fn demote_command(&self, request: &OperationRequest) -> Option<crate::watchdog::RunFence> {
        self.demote_script(request)
    }

    fn monitor_promoted<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.monitor_promoted_inner(request))
    }

    fn notifies(&self, _params: &BTreeMap<String, String>) -> bool {
        self.roles.notify.is_some()
    }

    fn notify<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match &self.roles.notify {
                Some(notify) => self.run_role("notify", notify, request).await,
                None => Outcome::Ok,
            }
        })
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.launch(request, self.check(request.depth)) {
                Ok(config) => self.supervisor.monitor_with(request, &config).await,
                Err(outcome) => outcome,
            }
        })
    }

    fn reload<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.reload_inner(request))
    }

    fn exit_events(&self) -> Option<broadcast::Receiver<model::ResourceId>> {
        // The supervisor's events; the executor watches them once, not once per type.
        None
    }

    fn status_text(&self, resource: &model::ResourceId) -> Option<String> {
        self.supervisor.status_text(resource)
    }
}

/// A user type's description for `type show`: its schema, and its operations with the
/// checks' intervals and depths.
pub fn describe(definition: &UserType) -> TypeInfo {
    let action = |name: &str, timeout, interval, depth| ActionSpec {
        name: name.to_owned(),
        timeout: Some(timeout),
        interval,
        depth,
    };
    let looks = &definition.looks_alive;
    let is = &definition.is_alive;
    let mut actions = vec![
        action("start", definition.start_timeout, None, None),
        action("stop", definition.stop_timeout, None, None),
        action("monitor", looks.timeout, Some(looks.interval), Some(0)),
        action(
            "monitor",
            is.timeout,
            Some(is.interval),
            Some(crate::operation::DEPTH_THOROUGH),
        ),
    ];
    if definition.reload.is_some() {
        actions.push(action("reload", definition.start_timeout, None, None));
    }
    TypeInfo {
        name: definition.name.clone(),
        class: TypeClass::User,
        description: definition.description.clone(),
        schema: definition.schema.clone(),
        actions,
    }
}

/// Stands in for a resource type this node does not know, or not yet: a user type whose
/// definition has not reached the executor (an instance found after an agent restart may
/// have to be stopped first). It stops and monitors whatever the supervisor's pid file in
/// the state directory records, so nothing started earlier is forgotten, and refuses to
/// start.
pub struct UndefinedTypeAgent {
    type_name: String,
    /// Why the type is unknown, for the start's refusal.
    reason: String,
    supervisor: Arc<ProcessAgent>,
}

impl UndefinedTypeAgent {
    /// The stand-in for `type_name`, refusing starts with `reason`.
    pub fn new(
        type_name: impl Into<String>,
        reason: impl Into<String>,
        supervisor: Arc<ProcessAgent>,
    ) -> UndefinedTypeAgent {
        UndefinedTypeAgent {
            type_name: type_name.into(),
            reason: reason.into(),
            supervisor,
        }
    }
}

impl ResourceAgent for UndefinedTypeAgent {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async {
            Err(MetaError::Unusable {
                type_name: self.type_name.clone(),
                reason: self.reason.clone(),
            })
        })
    }

    fn validate<'a>(&'a self, _request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::failed(Severity::Fatal, self.reason.clone()) })
    }

    fn start<'a>(&'a self, _request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::failed(Severity::Fatal, self.reason.clone()) })
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(self.supervisor.stop_inner(request))
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        let alive_only = ProcessConfig {
            command: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            probes: Vec::new(),
            notify: false,
            watchdog: None,
        };
        Box::pin(async move { self.supervisor.monitor_with(request, &alive_only).await })
    }
}
