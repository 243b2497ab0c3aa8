//! Fencing devices (issue 16): a fence agent from Debian's `fence-agents` package with its
//! parameters, the nodes it can power off, and the fencing level it belongs to.
//!
//! Like Pacemaker's stonith resources with `pcmk_host_map` and a fencing topology, but
//! simpler: each device names the nodes it covers (each with the agent's `plug`, its port
//! or VM name for that node), and a level number. To fence a node, the devices covering
//! it are tried level by level, lowest first; a level succeeds when every device of it
//! powered the node off (so two power supplies are two devices of one level), and a level
//! that fails hands over to the next.
//!
//! Plain data and pure checks only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::input::{NameKind, check_name};

/// The most fencing devices a cluster keeps.
pub const FENCE_DEVICE_COUNT_MAX: usize = 64;
/// The most nodes one device covers.
pub const FENCE_HOST_COUNT_MAX: usize = 256;
/// The longest a fence agent may run for one action (fence-agents' own `power_timeout`
/// defaults to 20 s and `shell_timeout` to 3 s; Pacemaker's `stonith-timeout` is 60 s).
pub const FENCE_TIMEOUT_MAX: Duration = Duration::from_secs(120);
/// The timeout a device gets when none is given.
pub const FENCE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);
/// The highest fencing level.
pub const FENCE_LEVEL_MAX: u32 = 9;

/// Parameters the cluster sets itself on every call, never the operator.
pub const FENCE_RESERVED_PARAMS: [&str; 4] = ["action", "plug", "port", "nodename"];

/// The fence action that powers a node off for good (`off`), or off and on again
/// (`reboot`); both leave it holding nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceAction {
    /// Power off and leave off.
    Off,
    /// Power off, then on again.
    Reboot,
}

impl FenceAction {
    /// The `action=` word fence agents read.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Off => "off",
            FenceAction::Reboot => "reboot",
        }
    }

    /// Parses `off` or `reboot`.
    pub fn parse(text: &str) -> Result<FenceAction, String> {
        match text {
            "off" => Ok(FenceAction::Off),
            "reboot" => Ok(FenceAction::Reboot),
            other => Err(format!("fence action {other:?} is not one of off, reboot")),
        }
    }
}

impl std::fmt::Display for FenceAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a fencing attempt stands, in its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceOutcome {
    /// The devices are being tried.
    Started,
    /// A level powered the node off: it holds nothing any more.
    Confirmed,
    /// Every level failed or timed out: nothing is known about the node.
    Failed,
}

impl std::fmt::Display for FenceOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FenceOutcome::Started => "started",
            FenceOutcome::Confirmed => "confirmed",
            FenceOutcome::Failed => "failed",
        })
    }
}

/// A fencing device: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceDevice {
    /// The device's name, unique in the cluster.
    pub name: String,
    /// The fence agent: a program name under the agents' directory (`fence_ipmilan`), or
    /// an absolute path to one speaking the same protocol.
    pub agent: String,
    /// The agent's parameters (`key=value` lines on its standard input), checked against
    /// the schema of its meta-data.
    pub params: BTreeMap<String, String>,
    /// The nodes it covers, by name, each with the `plug` the agent gets for it (the node
    /// name itself when the map gives none, as Pacemaker's `pcmk_host_list`).
    pub hosts: BTreeMap<String, String>,
    /// Its fencing level: lower levels are tried first.
    pub level: u32,
    /// How long one action of the agent may run before it counts as failed.
    pub timeout: Duration,
    /// What fencing does to a node.
    pub action: FenceAction,
}

impl FenceDevice {
    /// The plug that stands for `node_name` on this device, if it covers the node.
    pub fn plug_for(&self, node_name: &str) -> Option<&str> {
        self.hosts.get(node_name).map(String::as_str)
    }

    /// Checks what needs no schema: the name, the agent, levels, timeouts and hosts.
    pub fn check(&self) -> Result<(), String> {
        check_name(NameKind::Resource, &self.name)
            .map_err(|error| format!("fence device name: {error}"))?;
        check_agent(&self.agent)?;
        if !(1..=FENCE_LEVEL_MAX).contains(&self.level) {
            return Err(format!(
                "fence device {}: level {} is not between 1 and {FENCE_LEVEL_MAX}",
                self.name, self.level
            ));
        }
        if self.timeout.is_zero() || self.timeout > FENCE_TIMEOUT_MAX {
            return Err(format!(
                "fence device {}: timeout {:?} is not between 1 ms and {:?}",
                self.name, self.timeout, FENCE_TIMEOUT_MAX
            ));
        }
        if self.hosts.is_empty() {
            return Err(format!(
                "fence device {} covers no node: give --hosts node1,node2 (or node:plug)",
                self.name
            ));
        }
        if self.hosts.len() > FENCE_HOST_COUNT_MAX {
            return Err(format!(
                "fence device {} covers {} nodes, more than {FENCE_HOST_COUNT_MAX}",
                self.name,
                self.hosts.len()
            ));
        }
        for (host, plug) in &self.hosts {
            check_name(NameKind::Node, host)
                .map_err(|error| format!("fence device {}: host: {error}", self.name))?;
            if plug.is_empty() || plug.contains(['\n', '=', '\0']) {
                return Err(format!(
                    "fence device {}: plug {plug:?} of {host} is empty or holds '=' or a newline",
                    self.name
                ));
            }
        }
        for (key, value) in &self.params {
            if FENCE_RESERVED_PARAMS.contains(&key.as_str()) {
                return Err(format!(
                    "fence device {}: parameter {key} is set by the cluster on every call; \
                     give the node's plug in --hosts node:plug instead",
                    self.name
                ));
            }
            if key.is_empty() || key.contains(['\n', '=', '\0']) || value.contains(['\n', '\0']) {
                return Err(format!(
                    "fence device {}: parameter {key:?} has a name or value that cannot be \
                     one key=value line",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

fn check_agent(agent: &str) -> Result<(), String> {
    let bare = agent.starts_with("fence_")
        && agent[6..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let path = agent.starts_with('/') && !agent.contains("/../") && !agent.contains('\0');
    if (bare && agent.len() > 6) || path {
        Ok(())
    } else {
        Err(format!(
            "fence agent {agent:?} is neither a fence_* program name nor an absolute path"
        ))
    }
}

/// Parses a host map: `node1,node2` or `node1:plug1;node2:plug2` (Pacemaker's
/// `pcmk_host_list` and `pcmk_host_map`; commas, semicolons and spaces all separate).
pub fn parse_host_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut hosts = BTreeMap::new();
    for entry in text
        .split([',', ';', ' '])
        .filter(|entry| !entry.is_empty())
    {
        let (host, plug) = entry.split_once(':').unwrap_or((entry, entry));
        if host.is_empty() || plug.is_empty() {
            return Err(format!("host map entry {entry:?} is not NODE or NODE:PLUG"));
        }
        if hosts.insert(host.to_string(), plug.to_string()).is_some() {
            return Err(format!("host map names {host} twice"));
        }
    }
    Ok(hosts)
}

/// The levels that can fence `node_name`, lowest first, each with its devices by name.
pub fn fence_levels<'a>(
    devices: impl IntoIterator<Item = &'a FenceDevice>,
    node_name: &str,
) -> Vec<Vec<&'a FenceDevice>> {
    let mut levels: BTreeMap<u32, Vec<&FenceDevice>> = BTreeMap::new();
    for device in devices {
        if device.plug_for(node_name).is_some() {
            levels.entry(device.level).or_default().push(device);
        }
    }
    levels.into_values().collect()
}

#[cfg(test)]
mod tests;
