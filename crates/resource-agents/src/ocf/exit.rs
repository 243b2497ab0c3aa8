//! What an OCF agent's exit code means, following the OCF resource agent API and
//! Pacemaker's recovery types: 1 soft, 2 to 5 hard, 6 fatal.

use crate::operation::{Outcome, Severity};

/// The actions this crate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Stop,
    Monitor,
    MetaData,
    ValidateAll,
    Reload,
    ReloadAgent,
    Promote,
    Demote,
    Notify,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::MetaData => "meta-data",
            Action::ValidateAll => "validate-all",
            Action::Reload => "reload",
            Action::ReloadAgent => "reload-agent",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
        }
    }
}

/// Maps an exit code of `action` to an outcome; `detail` is the agent's own words
/// (its `ocf-exit-reason` or the tail of its output), possibly empty.
pub(crate) fn outcome_of(action: Action, code: i32, detail: &str) -> Outcome {
    let failed = |severity: Severity, meaning: &str| {
        let mut reason = format!(
            "{} failed: {meaning} (OCF exit code {code})",
            action.as_str()
        );
        if !detail.is_empty() {
            reason.push_str(": ");
            reason.push_str(detail);
        }
        Outcome::failed(severity, reason)
    };
    match code {
        // 8 is "running promoted" and 190/191 "degraded": all run, which is what we ask.
        0 | 8 | 190 | 191 => Outcome::Ok,
        1 => failed(Severity::Soft, "generic error"),
        2 => failed(Severity::Hard, "invalid arguments for this node"),
        3 => failed(Severity::Hard, "action not implemented"),
        4 => failed(Severity::Hard, "insufficient privileges"),
        5 => failed(
            Severity::Hard,
            "required software is not installed on this node",
        ),
        6 => failed(Severity::Fatal, "the resource is not configured correctly"),
        7 => match action {
            Action::Monitor => Outcome::NotRunning,
            // Stopping aims at "not running", so an agent that says so has succeeded; so
            // does demoting, which aims at "not promoted".
            Action::Stop | Action::Demote => Outcome::Ok,
            _ => failed(Severity::Soft, "the resource is not running"),
        },
        9 => failed(Severity::Soft, "the resource failed in its promoted role"),
        _ => failed(Severity::Soft, "unknown exit code"),
    }
}

/// Maps an exit code of a monitor of the promoted role: 8 (running promoted) is the role
/// running, 0 and 7 (running unpromoted, not running) the role not running, 9 (failed
/// promoted) and the rest as for any monitor.
pub(crate) fn promoted_outcome_of(code: i32, detail: &str) -> Outcome {
    match code {
        8 => Outcome::Ok,
        0 | 7 => Outcome::NotRunning,
        _ => outcome_of(Action::Monitor, code, detail),
    }
}

/// The agent's own explanation: the last `ocf-exit-reason:` line it printed (as
/// `ocf_exit_reason` in ocf-shellfuncs writes), else the last lines of stderr, else of
/// stdout.
pub(crate) fn detail_of(stderr: &str, stdout: &str) -> String {
    let reason = stderr.lines().rev().find_map(|line| {
        let (_, reason) = line.split_once("ocf-exit-reason:")?;
        Some(reason.trim()).filter(|reason| !reason.is_empty())
    });
    match reason {
        Some(reason) => reason.to_owned(),
        None if !stderr.trim().is_empty() => crate::child::last_lines(stderr, 3),
        None => crate::child::last_lines(stdout, 3),
    }
}
