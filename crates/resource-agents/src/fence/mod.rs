//! Fence agents (issue 16): runs an agent from Debian's `fence-agents` package unmodified,
//! or any program speaking its protocol, and reads its meta-data into a parameter schema.
//!
//! The protocol (fence-agents' `FenceAgentAPI.md`, what Pacemaker's fenced speaks): the
//! agent reads `key=value` lines on standard input, one of them `action=` (`off`, `on`,
//! `reboot`, `status`, `monitor`, `list`, `metadata`) and, for a device with several
//! outlets, `plug=`; it exits 0 on success. `status` exits 0 when the plug is on, 2 when it
//! is off and anything else when it cannot tell; every other action exits non-zero on
//! failure (1 generic, 5 a timeout of its own, 3 login denied, and so on: `exit_meaning`).
//! A run that overruns its device's timeout has its process group killed and counts as
//! failed; nothing is ever concluded from a run that did not exit 0 (or 2 for `status`).
//!
//! This module is the IO edge; which device to try next is the sans-IO [`levels`].

pub mod levels;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use model::fence::FENCE_RESERVED_PARAMS;
use model::{ParamSchema, TypeInfo};
use tokio::process::Command;

use crate::child::{RunEnd, run_bounded_with_input};

/// Where Debian installs fence agents.
pub const FENCE_AGENT_DIR: &str = "/usr/sbin";
/// How long reading an agent's meta-data may take.
pub const FENCE_METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of an agent's output kept (meta-data of the largest agents is ~40 KB).
const FENCE_OUTPUT_BYTES_MAX: usize = 256 * 1024;

/// The program of a device's `agent`: a bare `fence_*` name under [`FENCE_AGENT_DIR`], or
/// the absolute path given.
pub fn fence_agent_path(agent: &str) -> PathBuf {
    if agent.starts_with('/') {
        PathBuf::from(agent)
    } else {
        PathBuf::from(FENCE_AGENT_DIR).join(agent)
    }
}

/// One call of a fence agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceCall {
    /// The agent (see [`fence_agent_path`]).
    pub agent: String,
    /// `action=`: off, on, reboot, status, monitor, list or metadata.
    pub action: String,
    /// The device's parameters.
    pub params: BTreeMap<String, String>,
    /// `plug=`, for actions on one node.
    pub plug: Option<String>,
    /// Killed (and failed) after this long.
    pub timeout: Duration,
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceEnd {
    /// The agent exited with this code.
    Exited(i32),
    /// Killed by a signal (not by us).
    Killed(String),
    /// It overran its timeout and was killed.
    TimedOut,
    /// It could not be started.
    NotStarted(String),
}

/// A call's end with the tail of its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceAnswer {
    /// How it ended.
    pub end: FenceEnd,
    /// Its standard output (the meta-data, `list`'s plugs, `Status: OFF`).
    pub stdout: String,
    /// The last lines of its standard error.
    pub stderr: String,
}

impl FenceCall {
    /// What the agent reads on standard input.
    pub fn input(&self) -> String {
        let mut input = format!("action={}\n", self.action);
        if let Some(plug) = &self.plug {
            input.push_str(&format!("plug={plug}\n"));
        }
        for (key, value) in &self.params {
            input.push_str(&format!("{key}={value}\n"));
        }
        input
    }

    /// Runs the agent; never an error: a failure to start is an answer too.
    pub async fn run(&self) -> FenceAnswer {
        let mut command = Command::new(fence_agent_path(&self.agent));
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        let input = Some(self.input().into_bytes());
        match run_bounded_with_input(command, input, self.timeout, FENCE_OUTPUT_BYTES_MAX).await {
            Err(error) => FenceAnswer {
                end: FenceEnd::NotStarted(format!(
                    "cannot run {}: {error}",
                    fence_agent_path(&self.agent).display()
                )),
                stdout: String::new(),
                stderr: String::new(),
            },
            Ok(result) => {
                let end = match result.end {
                    RunEnd::TimedOut => FenceEnd::TimedOut,
                    RunEnd::Exited(status) => match status.code() {
                        Some(code) => FenceEnd::Exited(code),
                        None => FenceEnd::Killed(crate::child::describe_exit(&status)),
                    },
                };
                let stderr = crate::child::last_lines(&result.stderr, 5);
                FenceAnswer {
                    end,
                    stdout: result.stdout,
                    stderr,
                }
            }
        }
    }
}

/// What a fence agent's exit code means (fencing.py's `EC_*`).
pub fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "generic error",
        2 => "bad arguments (or, for status, off)",
        3 => "login denied",
        4 => "connection lost",
        5 => "timed out",
        6 => "timed out waiting for power on",
        7 => "timed out waiting for power off",
        8 => "unable to obtain the plug status",
        10 => "password missing",
        11 => "invalid privileges",
        _ => "error",
    }
}

/// Reads `agent`'s meta-data (`action=metadata`) into its description and parameter
/// schema; the error says what went wrong, for the operator.
pub async fn fence_type_info(agent: &str) -> Result<TypeInfo, String> {
    let call = FenceCall {
        agent: agent.to_string(),
        action: "metadata".into(),
        params: BTreeMap::new(),
        plug: None,
        timeout: FENCE_METADATA_TIMEOUT,
    };
    let answer = call.run().await;
    match &answer.end {
        FenceEnd::Exited(0) => {}
        FenceEnd::NotStarted(error) => {
            return Err(format!(
                "{error}; is the fence-agents package installed on this node?"
            ));
        }
        other => {
            return Err(format!(
                "fence agent {agent} answered action=metadata with {other:?}: {}",
                answer.stderr
            ));
        }
    }
    fence_type_info_from_meta_data(agent, &answer.stdout)
}

/// Parses a fence agent's meta-data (the OCF resource-agent layout) and leaves out the
/// parameters the cluster sets on every call (`action`, `plug`, `port`, `nodename`) and
/// those that only make sense on a command line.
pub fn fence_type_info_from_meta_data(agent: &str, document: &str) -> Result<TypeInfo, String> {
    let mut info = crate::ocf::type_info_from_meta_data(&format!("stonith:{agent}"), document)
        .map_err(|error| format!("meta-data of fence agent {agent}: {error}"))?;
    let kept = info
        .schema
        .params
        .iter()
        .filter(|spec| {
            let name = spec.name.as_str();
            !FENCE_RESERVED_PARAMS.contains(&name)
                && !["help", "version", "help_ext", "separator"].contains(&name)
        })
        .cloned()
        .collect();
    info.schema = ParamSchema::new(kept);
    Ok(info)
}

#[cfg(test)]
mod tests;
