//! Monitoring state in the cmdb (issue 13, points 5 and 6): alert recipients and threshold
//! rules with each recipient's delivery cursor, and the incident book.
//!
//! A recipient's cursor is the sequence number of the first event not yet delivered (or
//! given up) to it. The master advances it after each delivery, so a new master resumes
//! where the old one left off and never sends a delivered alert again; an alert delivered
//! but not yet recorded when the master died is sent again with the same id, which the
//! payload carries so a receiver can drop the repeat.

use std::collections::BTreeMap;

use model::Severity;
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::incidents::Incidents;
use crate::limits::{ALERT_TEXT_BYTES_MAX, ALERT_TIMEOUT_MS_MAX, ALERTS_MAX};

/// Where an alert goes, or the rule that raises one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertTarget {
    /// An executable run with Pacemaker's alert-agent environment; `recipient` is
    /// `CRM_alert_recipient` (for the sample agents, a file path).
    Executable { path: String, recipient: String },
    /// An HTTP(S) URL that gets Alertmanager's webhook body.
    Webhook { url: String },
    /// A threshold rule on a metric series (`monitor::Rule` syntax), firing events.
    Rule { expr: String },
}

/// One configured alert: a recipient with its filters, or a threshold rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertConfig {
    /// Its name (unique).
    pub name: String,
    /// Where alerts go, or the rule.
    pub target: AlertTarget,
    /// Pacemaker's kinds it wants (`node`, `resource`, `fencing`, `attribute`); empty for
    /// all.
    pub kinds: Vec<String>,
    /// The least severity it wants.
    pub severity_min: Severity,
    /// How long one delivery may take.
    pub timeout_ms: u64,
}

impl AlertConfig {
    /// Why this config cannot be stored, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let long = |text: &str| text.len() > ALERT_TEXT_BYTES_MAX;
        if self.name.is_empty() || long(&self.name) {
            return Err(format!(
                "an alert name must be 1 to {ALERT_TEXT_BYTES_MAX} bytes"
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > ALERT_TIMEOUT_MS_MAX {
            return Err(format!(
                "alert {}: the timeout must be between 1 ms and {} s",
                self.name,
                ALERT_TIMEOUT_MS_MAX / 1000
            ));
        }
        let words = ["node", "resource", "fencing", "attribute"];
        if let Some(kind) = self.kinds.iter().find(|k| !words.contains(&k.as_str())) {
            return Err(format!(
                "alert {}: unknown kind {kind:?}; use node, resource, fencing or attribute",
                self.name
            ));
        }
        match &self.target {
            AlertTarget::Executable { path, recipient } => {
                if !path.starts_with('/') || long(path) || long(recipient) {
                    return Err(format!(
                        "alert {}: the executable must be an absolute path",
                        self.name
                    ));
                }
            }
            AlertTarget::Webhook { url } => {
                let scheme = url.starts_with("http://") || url.starts_with("https://");
                if !scheme || long(url) {
                    return Err(format!(
                        "alert {}: a webhook must be an http:// or https:// URL",
                        self.name
                    ));
                }
            }
            AlertTarget::Rule { expr } => {
                if expr.trim().is_empty() || long(expr) {
                    return Err(format!("alert {}: the rule is empty", self.name));
                }
            }
        }
        Ok(())
    }

    /// Whether this is a recipient (not a rule).
    pub fn is_recipient(&self) -> bool {
        !matches!(self.target, AlertTarget::Rule { .. })
    }
}

/// A stored alert with its delivery cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The configuration.
    pub config: AlertConfig,
    /// The first event not yet delivered (or given up) to this recipient.
    pub next_seq: u64,
}

/// Alerts and incidents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MonitorDb {
    /// Alert recipients and rules by name.
    pub alerts: BTreeMap<String, AlertRecord>,
    /// The incident book.
    pub incidents: Incidents,
}

impl MonitorDb {
    /// Add or replace an alert; a new recipient starts with the next event, a replaced one
    /// keeps its cursor.
    pub(crate) fn put_alert(&mut self, config: AlertConfig, next_event_seq: u64) -> CommandResult {
        if let Err(reason) = config.check() {
            return CommandResult::Rejected(reason);
        }
        if self.alerts.len() >= ALERTS_MAX && !self.alerts.contains_key(&config.name) {
            return CommandResult::Rejected(format!(
                "too many alerts (limit {ALERTS_MAX}); remove one first"
            ));
        }
        let next_seq = self
            .alerts
            .get(&config.name)
            .map_or(next_event_seq, |record| record.next_seq);
        self.alerts
            .insert(config.name.clone(), AlertRecord { config, next_seq });
        CommandResult::Ok
    }

    /// Replace every alert at once, all or nothing; a kept name keeps its cursor.
    pub(crate) fn replace_alerts(
        &mut self,
        alerts: Vec<AlertConfig>,
        next_event_seq: u64,
    ) -> CommandResult {
        if alerts.len() > ALERTS_MAX {
            return CommandResult::Rejected(format!("too many alerts (limit {ALERTS_MAX})"));
        }
        let mut replaced = BTreeMap::new();
        for config in alerts {
            if let Err(reason) = config.check() {
                return CommandResult::Rejected(reason);
            }
            if replaced.contains_key(&config.name) {
                return CommandResult::Rejected(format!("alert {} is given twice", config.name));
            }
            let next_seq = self
                .alerts
                .get(&config.name)
                .map_or(next_event_seq, |record| record.next_seq);
            replaced.insert(config.name.clone(), AlertRecord { config, next_seq });
        }
        self.alerts = replaced;
        CommandResult::Ok
    }

    /// Remove an alert.
    pub(crate) fn remove_alert(&mut self, name: &str) -> CommandResult {
        match self.alerts.remove(name) {
            Some(_) => CommandResult::Ok,
            None => CommandResult::Rejected(format!("no alert named {name}")),
        }
    }

    /// Move a recipient's cursor forward (never back: a late write of an old master
    /// cannot make a delivered alert undelivered).
    pub(crate) fn advance(&mut self, name: &str, next_seq: u64) -> CommandResult {
        match self.alerts.get_mut(name) {
            Some(record) => {
                record.next_seq = record.next_seq.max(next_seq);
                CommandResult::Ok
            }
            None => CommandResult::Rejected(format!("no alert named {name}")),
        }
    }
}
