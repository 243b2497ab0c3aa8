//! The promoted role of a promotable resource as a resource of its own (see
//! `model::promotable`): the executor runs it like any unique resource, and this agent
//! turns its operations into the role operations of the resource's own agent: start is
//! `promote`, stop is `demote`, monitor is the monitor of the promoted role (OCF exit code
//! 8). The operations run on the resource's own instance: its id (the role's id without
//! `:promoted`) and its state directory.

use std::sync::Arc;

use model::{ParamSchema, TypeInfo};

use crate::operation::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use crate::watchdog::{self, Fence};

/// Runs the promoted role of the resources of one type.
pub struct PromotedRole {
    type_name: String,
    inner: Arc<dyn ResourceAgent>,
}

impl PromotedRole {
    /// The role agent over `inner`, the agent of the promotable resource's type.
    pub fn new(inner: Arc<dyn ResourceAgent>) -> PromotedRole {
        let type_name = format!(
            "{}{}",
            model::promotable::ROLE_TYPE_PREFIX,
            inner.type_name()
        );
        PromotedRole { type_name, inner }
    }
}

/// The request for the resource's own instance that a role request stands for.
fn instance_request(request: &OperationRequest) -> OperationRequest {
    let mut instance = request.clone();
    if let Some(base) = model::promotable::base_of(&request.resource) {
        if let Some(parent) = request.state_dir.parent() {
            instance.state_dir = parent.join(&base.0);
        }
        instance.resource = base;
    }
    instance.unique = false;
    instance
}

impl ResourceAgent for PromotedRole {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        self.inner.meta()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TypeInfo, MetaError>> {
        self.inner.describe()
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.inner.validate(&instance_request(request)).await })
    }

    /// Promotes, then guards the promotion with a lease watchdog that demotes if the
    /// agent hangs while its lease ends (the watchdog keeps its records in the role's own
    /// state directory, where the executor looks for them).
    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let instance = instance_request(request);
            if let Some(demote) = self.inner.demote_command(&instance) {
                // Armed before the promotion, so no moment is unguarded.
                if let Err(error) = watchdog::start(&request.state_dir, &Fence::Run(demote)) {
                    let reason = format!("cannot start the lease watchdog: {error}");
                    return Outcome::failed(Severity::Hard, reason);
                }
            }
            self.inner.promote(&instance).await
        })
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            watchdog::settle(&request.state_dir).await;
            watchdog::stop(&request.state_dir);
            self.inner.demote(&instance_request(request)).await
        })
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.inner
                .monitor_promoted(&instance_request(request))
                .await
        })
    }

    fn notifies(&self, params: &std::collections::BTreeMap<String, String>) -> bool {
        self.inner.notifies(params)
    }
}
