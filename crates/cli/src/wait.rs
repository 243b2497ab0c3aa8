//! `--wait`: polling the API until a move, start, stop, cleanup or drain is done, with
//! progress on one updating line (a terminal) or one line per change (a pipe or a log).
//!
//! Whether the goal is reached and what the progress line says are pure functions of the
//! resource views (`Goal::check`); only `wait_for` does IO and reads the clock.

use std::io::IsTerminal;
use std::time::Duration;

use api::ClientError;

use crate::commands::Output;
use crate::config::Target;
use crate::errors::explain;
use crate::limits::PROGRESS_NAMES_MAX;
use crate::views::{NodeNames, Phase, instance_phase, node_label, resource_summary, running_nodes};

/// What `--wait` waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Every resource runs on `node` and is active nowhere else (`move --to`).
    RunningOn { resources: Vec<String>, node: u64 },
    /// Every resource runs, and is active on none of `from` (`move` without `--to`).
    MovedAway {
        resources: Vec<String>,
        from: Vec<u64>,
    },
    /// The resource runs and nothing is starting or stopping (`start`).
    Running { resource: String },
    /// The resource runs nowhere and nothing is stopping (`stop`).
    Stopped { resource: String },
    /// No failures are left, and it runs unless it is disabled (`cleanup`).
    Cleaned { resource: String },
    /// No resource runs or changes on the node (`node standby`).
    Drained { node: u64 },
    /// Every resource runs where the scheduler places it, and nothing is starting or
    /// stopping (`move --clear`, `resource clear`).
    Placed { resources: Vec<String> },
}

/// One look at the cluster: whether the goal is reached and what to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) done: bool,
    pub(crate) summary: String,
    /// The resources not there yet, whose `explain` a timeout shows.
    pub(crate) pending: Vec<String>,
}

/// Where the scheduler places each resource (`explain`'s nodes), for `Goal::Placed`.
pub(crate) type Placements = std::collections::BTreeMap<String, Vec<u64>>;

impl Goal {
    /// The resources to fetch: one (`GET /v1/resources/{name}`) or all (`GET /v1/resources`).
    fn single_resource(&self) -> Option<&str> {
        match self {
            Goal::RunningOn { resources, .. }
            | Goal::MovedAway { resources, .. }
            | Goal::Placed { resources }
                if resources.len() == 1 =>
            {
                Some(&resources[0])
            }
            Goal::Running { resource }
            | Goal::Stopped { resource }
            | Goal::Cleaned { resource } => Some(resource),
            _ => None,
        }
    }

    /// What is awaited, for the timeout message: `web to run on node2`.
    pub(crate) fn describe(&self, names: &NodeNames) -> String {
        match self {
            Goal::RunningOn { resources, node } => {
                format!(
                    "{} to run on {}",
                    resources.join(", "),
                    node_label(*node, names)
                )
            }
            Goal::MovedAway { resources, from } => {
                let from: Vec<String> = from.iter().map(|node| node_label(*node, names)).collect();
                format!(
                    "{} to run away from {}",
                    resources.join(", "),
                    from.join(", ")
                )
            }
            Goal::Running { resource } => format!("{resource} to run"),
            Goal::Stopped { resource } => format!("{resource} to stop"),
            Goal::Cleaned { resource } => format!("the failures of {resource} to clear"),
            Goal::Drained { node } => format!("{} to drain", node_label(*node, names)),
            Goal::Placed { resources } => {
                format!(
                    "{} to run where the scheduler places it",
                    resources.join(", ")
                )
            }
        }
    }

    /// The resources whose placement `check_placed` needs.
    pub(crate) fn placed_resources(&self) -> Option<&[String]> {
        match self {
            Goal::Placed { resources } => Some(resources),
            _ => None,
        }
    }

    /// `check` for `Goal::Placed`, given where the scheduler places each resource.
    pub(crate) fn check_placed(
        &self,
        views: &[api::ResourceView],
        placements: &Placements,
        names: &NodeNames,
    ) -> Check {
        let resources = self.placed_resources().unwrap_or_default();
        check_each(resources, views, names, |view| {
            let mut running = running_nodes(view);
            running.sort_unstable();
            let placed = placements.get(&view.spec.name).cloned().unwrap_or_default();
            settled(view) && running == placed
        })
    }

    /// Whether `views` (the answer to the poll) show the goal reached, and a summary line.
    pub(crate) fn check(&self, views: &[api::ResourceView], names: &NodeNames) -> Check {
        match self {
            Goal::RunningOn { resources, node } => check_each(resources, views, names, |view| {
                settled(view) && running_nodes(view) == [*node]
            }),
            Goal::MovedAway { resources, from } => check_each(resources, views, names, |view| {
                let running = running_nodes(view);
                settled(view) && !running.is_empty() && running.iter().all(|n| !from.contains(n))
            }),
            Goal::Running { resource } => {
                check_each(std::slice::from_ref(resource), views, names, |view| {
                    settled(view) && !running_nodes(view).is_empty()
                })
            }
            Goal::Stopped { resource } => {
                check_each(std::slice::from_ref(resource), views, names, |view| {
                    view.instances.iter().all(|i| !instance_phase(i).is_busy())
                })
            }
            Goal::Cleaned { resource } => {
                check_each(std::slice::from_ref(resource), views, names, is_clean)
            }
            Goal::Drained { node } => check_drained(*node, views, names),
            Goal::Placed { .. } => self.check_placed(views, &Placements::new(), names),
        }
    }
}

/// Nothing is starting, stopping, recovering or unknown: every busy instance runs.
fn settled(view: &api::ResourceView) -> bool {
    view.instances.iter().all(|instance| {
        let phase = instance_phase(instance);
        phase == Phase::Running || !phase.is_busy()
    })
}

fn is_clean(view: &api::ResourceView) -> bool {
    let no_failures = view
        .instances
        .iter()
        .all(|instance| instance.fail_count == 0 && instance.last_failure.is_none());
    let disabled = view.spec.target_role.as_deref() == Some("stopped");
    no_failures && settled(view) && (disabled || !running_nodes(view).is_empty())
}

fn check_each(
    resources: &[String],
    views: &[api::ResourceView],
    names: &NodeNames,
    reached: impl Fn(&api::ResourceView) -> bool,
) -> Check {
    let mut pending = Vec::new();
    let mut parts = Vec::new();
    for name in resources {
        match views.iter().find(|view| &view.spec.name == name) {
            Some(view) => {
                if !reached(view) {
                    pending.push(name.clone());
                }
                parts.push(resource_summary(view, names));
            }
            None => {
                pending.push(name.clone());
                parts.push(format!("{name}: not found"));
            }
        }
    }
    Check {
        done: pending.is_empty(),
        summary: join_limited(&parts, "; "),
        pending,
    }
}

fn check_drained(node: u64, views: &[api::ResourceView], names: &NodeNames) -> Check {
    let busy: Vec<&api::ResourceView> = views
        .iter()
        .filter(|view| {
            view.instances
                .iter()
                .any(|i| i.node == node && instance_phase(i).is_busy())
        })
        .collect();
    let pending: Vec<String> = busy.iter().map(|view| view.spec.name.clone()).collect();
    let active: Vec<String> = busy
        .iter()
        .filter_map(|view| {
            let instance = view.instances.iter().find(|i| i.node == node)?;
            Some(format!(
                "{} ({})",
                view.spec.name,
                instance_phase(instance).word()
            ))
        })
        .collect();
    let label = node_label(node, names);
    if active.is_empty() {
        return Check {
            done: true,
            summary: format!("{label}: drained, no resource is active there"),
            pending,
        };
    }
    Check {
        done: false,
        pending,
        summary: format!(
            "{label}: {} still active: {}",
            active.len(),
            join_limited(&active, ", ")
        ),
    }
}

fn join_limited(parts: &[String], separator: &str) -> String {
    let mut text = parts
        .iter()
        .take(PROGRESS_NAMES_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(separator);
    if parts.len() > PROGRESS_NAMES_MAX {
        text.push_str(&format!(" and {} more", parts.len() - PROGRESS_NAMES_MAX));
    }
    text
}

/// The progress line: elapsed seconds, `waiting:` (or `done:`), then the summary.
pub(crate) fn progress_line(elapsed: Duration, summary: &str, done: bool) -> String {
    let word = if done { "done" } else { "waiting" };
    format!("{:.1}s  {word}: {summary}", elapsed.as_secs_f64())
}

/// The first line of a wait: what it waits for and how long at most.
pub(crate) fn waiting_line(goal: &Goal, names: &NodeNames, timeout: Duration) -> String {
    format!(
        "waiting for {} (at most {})",
        goal.describe(names),
        humantime::format_duration(timeout)
    )
}

/// Remembers the last summary shown, so a pipe gets a line only when something changed.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    last: Option<String>,
}

impl Watcher {
    /// Whether `summary` differs from the previous one (the first always does).
    pub(crate) fn changed(&mut self, summary: &str) -> bool {
        if self.last.as_deref() == Some(summary) {
            return false;
        }
        self.last = Some(summary.to_string());
        true
    }

    /// The last summary seen, for the timeout message.
    pub(crate) fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }
}

/// The message of a wait that ran out of time.
pub(crate) fn timeout_message(
    goal: &Goal,
    names: &NodeNames,
    timeout: Duration,
    last: Option<&str>,
    why: &[(String, Vec<String>)],
) -> String {
    let last = last.unwrap_or("no answer from the API");
    let hint = match goal.single_resource() {
        Some(resource) => {
            format!("`encluster resource show {resource}` and `encluster explain {resource}`")
        }
        None => "`encluster resource list` and `encluster explain NAME`".to_string(),
    };
    let mut message = format!(
        "timed out after {} waiting for {}; last seen: {last}; it may still get there: \
        see {hint}",
        humantime::format_duration(timeout),
        goal.describe(names)
    );
    for (resource, reasons) in why {
        message.push_str(&format!("\nwhy {resource} is not there yet (explain):"));
        for reason in reasons {
            message.push_str(&format!("\n  {reason}"));
        }
    }
    message
}

/// How to wait: poll interval and timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitConfig {
    pub(crate) poll: Duration,
    pub(crate) timeout: Duration,
}

/// Polls until `goal` is reached, printing progress; an error after the timeout.
///
/// A transport error or a server error (a master change during a failover) is shown and
/// retried until the timeout; a refused request (4xx) ends the wait at once.
pub(crate) async fn wait_for(
    client: &api::Client,
    target: &Target,
    goal: &Goal,
    names: &NodeNames,
    config: WaitConfig,
) -> anyhow::Result<()> {
    let tty = std::io::stdout().is_terminal();
    let mut output = Output::stdout();
    output.line(&waiting_line(goal, names, config.timeout))?;
    let mut watcher = Watcher::default();
    let mut pending = Vec::new();
    let start = tokio::time::Instant::now();
    loop {
        let summary = match poll(client, goal, names).await {
            Ok(check) => {
                if check.done {
                    if watcher.changed(&check.summary) || tty {
                        let line = progress_line(start.elapsed(), &check.summary, true);
                        show(&mut output, tty, &line, true)?;
                    }
                    return Ok(());
                }
                pending = check.pending;
                check.summary
            }
            Err(error) if error.status().is_some_and(|status| status < 500) => {
                return Err(explain(error, target));
            }
            Err(error) => format!("cannot ask the API ({error}); retrying"),
        };
        if watcher.changed(&summary) || tty {
            let line = progress_line(start.elapsed(), &summary, false);
            show(&mut output, tty, &line, false)?;
        }
        if start.elapsed() >= config.timeout {
            if tty {
                output.text("\n")?;
            }
            let why = explanations(client, &pending).await;
            let message = timeout_message(goal, names, config.timeout, watcher.last(), &why);
            anyhow::bail!("{message}");
        }
        tokio::time::sleep(config.poll).await;
    }
}

/// One look at the cluster for `goal`.
async fn poll(client: &api::Client, goal: &Goal, names: &NodeNames) -> Result<Check, ClientError> {
    let views = fetch(client, goal).await?;
    let Some(resources) = goal.placed_resources() else {
        return Ok(goal.check(&views, names));
    };
    let mut placements = Placements::new();
    for resource in resources {
        let explanation = client.explain_resource(resource).await?;
        placements.insert(resource.clone(), explanation.nodes);
    }
    Ok(goal.check_placed(&views, &placements, names))
}

/// `explain`'s reasons for the first few resources that did not get there; a resource
/// the API cannot explain just has none.
async fn explanations(client: &api::Client, pending: &[String]) -> Vec<(String, Vec<String>)> {
    let mut why = Vec::new();
    for resource in pending.iter().take(PROGRESS_NAMES_MAX) {
        if let Ok(explanation) = client.explain_resource(resource).await {
            why.push((resource.clone(), explanation.reasons));
        }
    }
    why
}

async fn fetch(client: &api::Client, goal: &Goal) -> Result<Vec<api::ResourceView>, ClientError> {
    match goal.single_resource() {
        Some(name) => client.resource(name).await.map(|view| vec![view]),
        None => client.resources().await,
    }
}

/// On a terminal the line is redrawn in place; elsewhere each line is printed once.
fn show(output: &mut Output, tty: bool, line: &str, last: bool) -> anyhow::Result<()> {
    output.text(&progress_text(tty, line, last))
}

/// The bytes that show one progress line: on a terminal, return to the line's start, clear
/// it and write over it, ending the line only after the last one.
pub(crate) fn progress_text(tty: bool, line: &str, last: bool) -> String {
    match (tty, last) {
        (true, false) => format!("\r\x1b[2K{line}"),
        (true, true) => format!("\r\x1b[2K{line}\n"),
        (false, _) => format!("{line}\n"),
    }
}
