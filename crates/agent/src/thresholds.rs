//! Threshold rules on this node's own series (issue 13, point 6c). Every node checks the
//! cmdb's rules against its newest samples once a second, after sampling: a gauge by its
//! value, a counter by its rate per second since the previous sample. A rule that fires
//! or resolves (with `monitor::threshold`'s hysteresis) becomes a `Threshold` event, which
//! the master then delivers to the recipients like any other event. Checking where the
//! samples are costs no network, and a down node's rules simply stop.

use std::collections::BTreeMap;

use cmdb::{AlertTarget, ClusterDb};
use model::{EventKind, NodeId};
use monitor::threshold::{Hysteresis, Rule, Transition};
use monitor::{Kind, SeriesKey};

/// The rules' states on this node's series.
#[derive(Default)]
pub struct Thresholds {
    states: BTreeMap<(String, SeriesKey), Hysteresis>,
    previous: BTreeMap<SeriesKey, (u64, f64)>,
}

/// The threshold rules stored in the cmdb, parsed (a rule that no longer parses is skipped;
/// the API parsed it before storing it).
pub fn rules_of(db: &ClusterDb) -> Vec<(String, Rule)> {
    db.monitoring
        .alerts
        .values()
        .filter_map(|record| match &record.config.target {
            AlertTarget::Rule { expr } => Rule::parse(expr)
                .ok()
                .map(|rule| (record.config.name.clone(), rule)),
            _ => None,
        })
        .collect()
}

impl Thresholds {
    /// Checks `rules` against the samples `latest` taken at `at_ms`; the events of the rules
    /// that fired or resolved on `node`.
    pub fn check(
        &mut self,
        rules: &[(String, Rule)],
        latest: &[(SeriesKey, Kind, f64)],
        at_ms: u64,
        node: NodeId,
    ) -> Vec<EventKind> {
        self.states
            .retain(|(name, _), _| rules.iter().any(|(rule, _)| rule == name));
        let mut events = Vec::new();
        for (key, kind, raw) in latest {
            let value = match kind {
                Kind::Gauge => Some(*raw),
                Kind::Counter => self.rate(key, at_ms, *raw),
            };
            let Some(value) = value else { continue };
            for (name, rule) in rules {
                if !rule.matches(&key.name, &key.labels) {
                    continue;
                }
                let state = self.states.entry((name.clone(), key.clone())).or_default();
                let Some(transition) = state.observe(rule, at_ms, value) else {
                    continue;
                };
                events.push(EventKind::Threshold {
                    rule: name.clone(),
                    node,
                    series: series_text(key),
                    value: format!("{value:.4}"),
                    firing: transition == Transition::Fired,
                });
            }
        }
        events
    }

    /// A counter's rate per second since its previous sample; none at the first sample or
    /// after a reset.
    fn rate(&mut self, key: &SeriesKey, at_ms: u64, total: f64) -> Option<f64> {
        let previous = self.previous.insert(key.clone(), (at_ms, total))?;
        let (before_ms, before) = previous;
        if at_ms <= before_ms || total < before {
            return None;
        }
        Some((total - before) * 1000.0 / (at_ms - before_ms) as f64)
    }
}

/// The health of the real servers this node directs, as last seen, so each change becomes
/// one `ServerHealth` event (a director's events, issue 13 point 5). A server first seen
/// unhealthy is reported; one first seen healthy is not news.
#[derive(Default)]
pub struct Directors {
    healthy: BTreeMap<(String, String), bool>,
}

impl Directors {
    /// The events of the health changes in `services` (this node's data plane) on `node`;
    /// services and servers no longer directed are forgotten.
    pub fn check(&mut self, services: &[lb::ServiceSnapshot], node: NodeId) -> Vec<EventKind> {
        let mut seen = BTreeMap::new();
        let mut events = Vec::new();
        for service in services {
            for server in &service.servers {
                let key = (service.name.clone(), server.name.clone());
                let before = self.healthy.get(&key).copied();
                if before != Some(server.healthy) && (before.is_some() || !server.healthy) {
                    events.push(EventKind::ServerHealth {
                        node,
                        service: service.name.clone(),
                        server: server.name.clone(),
                        healthy: server.healthy,
                    });
                }
                seen.insert(key, server.healthy);
            }
        }
        self.healthy = seen;
        events
    }
}

fn series_text(key: &SeriesKey) -> String {
    if key.labels.is_empty() {
        return key.name.clone();
    }
    let labels: Vec<String> = key.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", key.name, labels.join(","))
}

#[cfg(test)]
mod tests;
