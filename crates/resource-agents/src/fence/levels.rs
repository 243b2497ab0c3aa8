//! Which fence device to run next, as a sans-IO state machine: a [`FenceRun`] is built
//! from the levels that cover a node (`model::fence::fence_levels`), hands out one
//! [`FenceCall`] at a time and is told how each ended; the runtime does the calls.
//!
//! Pacemaker's fencing topology: levels are tried lowest first; a level succeeds when
//! every one of its devices succeeded (two power supplies, two devices), so its devices
//! run in order and the first failure ends the level; a failed level hands over to the
//! next; when none is left, fencing failed. Success is an exit of 0 from `off` or
//! `reboot` (fence-agents wait for the power state themselves, and exit non-zero when it
//! does not come); a timeout, a kill or any other exit is a failure. It never concludes
//! more than the answers say.

use model::FenceDevice;

use super::{FenceAnswer, FenceCall, FenceEnd, exit_meaning};

/// What the run needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceNext {
    /// Run this call of this device, then give its answer to [`FenceRun::answer`].
    Call {
        /// The device's name.
        device: String,
        /// The call.
        call: FenceCall,
    },
    /// A level powered the node off; what each device answered.
    Confirmed(String),
    /// Every level failed (or none covers the node); what each device answered.
    Failed(String),
}

/// One fencing of one node through its levels: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceRun {
    levels: Vec<Vec<(String, FenceCall)>>,
    level: usize,
    device: usize,
    log: Vec<String>,
    done: Option<bool>,
}

impl FenceRun {
    /// A run over `levels` (lowest first) for the node `node_name`.
    pub fn new(levels: &[Vec<&FenceDevice>], node_name: &str) -> FenceRun {
        let levels = levels
            .iter()
            .map(|level| {
                level
                    .iter()
                    .map(|device| {
                        let call = FenceCall {
                            agent: device.agent.clone(),
                            action: device.action.as_str().to_string(),
                            params: device.params.clone(),
                            plug: device.plug_for(node_name).map(str::to_string),
                            timeout: device.timeout,
                        };
                        (device.name.clone(), call)
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|level| !level.is_empty())
            .collect();
        FenceRun {
            levels,
            level: 0,
            device: 0,
            log: Vec::new(),
            done: None,
        }
    }

    /// What to do now.
    pub fn next(&self) -> FenceNext {
        match self.done {
            Some(true) => return FenceNext::Confirmed(self.log.join("; ")),
            Some(false) => return FenceNext::Failed(self.log.join("; ")),
            None => {}
        }
        let Some((device, call)) = self
            .levels
            .get(self.level)
            .and_then(|level| level.get(self.device))
        else {
            let detail = if self.log.is_empty() {
                "no fence device covers the node".to_string()
            } else {
                self.log.join("; ")
            };
            return FenceNext::Failed(detail);
        };
        FenceNext::Call {
            device: device.clone(),
            call: call.clone(),
        }
    }

    /// The answer to the call [`Self::next`] handed out.
    pub fn answer(&mut self, answer: &FenceAnswer) {
        let Some(level) = self.levels.get(self.level) else {
            return;
        };
        let Some((device, call)) = level.get(self.device) else {
            return;
        };
        let ok = answer.end == FenceEnd::Exited(0);
        self.log.push(format!(
            "level {} {device}: {} {}",
            self.level + 1,
            call.action,
            describe(answer)
        ));
        if !ok {
            self.level += 1;
            self.device = 0;
            if self.level >= self.levels.len() {
                self.done = Some(false);
            }
            return;
        }
        self.device += 1;
        if self.device >= level.len() {
            self.done = Some(true);
        }
    }
}

/// An answer in a few words, for events and incidents.
pub fn describe(answer: &FenceAnswer) -> String {
    let why = answer.stderr.lines().last().unwrap_or("").trim();
    let end = match &answer.end {
        FenceEnd::Exited(0) => "succeeded".to_string(),
        FenceEnd::Exited(code) => format!("failed (exit {code}, {})", exit_meaning(*code)),
        FenceEnd::Killed(how) => format!("failed ({how})"),
        FenceEnd::TimedOut => "timed out".to_string(),
        FenceEnd::NotStarted(error) => format!("failed ({error})"),
    };
    if why.is_empty() || answer.end == FenceEnd::Exited(0) {
        end
    } else {
        format!("{end}: {why}")
    }
}
