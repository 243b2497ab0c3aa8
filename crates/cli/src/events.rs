//! `events`: the newest events, then with `--follow` a long-polling loop for new ones.
//!
//! The follow loop's decisions (what to print, when to warn, how long to back off) live in
//! the sans-IO `Follower`, so tests drive them without a server or a clock.

use std::collections::VecDeque;
use std::time::Duration;

use api::ClientError;

use crate::commands::Output;
use crate::config::Target;
use crate::errors::{explain, explain_transport, transport_cause};
use crate::limits::{
    EVENT_PAGES_MAX, EVENTS_LAST_MAX, FOLLOW_BACKOFF_MAX, FOLLOW_BACKOFF_MIN, FOLLOW_WAIT_MS,
};
use crate::render::{render_event_json, render_event_line};

/// `events [--follow] [--json] [--last N]`.
pub(crate) async fn run_events(
    client: &api::Client,
    target: &Target,
    follow: bool,
    json: bool,
    last: usize,
) -> anyhow::Result<()> {
    let (events, next) = fetch_last(client, last)
        .await
        .map_err(|error| explain(error, target))?;
    let mut output = Output::stdout();
    for event in &events {
        output.line(&render(event, json))?;
    }
    if !follow {
        return Ok(());
    }
    follow_from(client, target, next, json, &mut output).await
}

fn render(event: &api::Event, json: bool) -> String {
    if json {
        render_event_json(event)
    } else {
        render_event_line(event)
    }
}

/// The newest `last` events, oldest first, and the `since` that asks for newer ones.
///
/// The agent answers a page at a time, oldest first, with `next` just after the page, so the
/// CLI pages from the start of the (bounded) event log until an answer is empty and keeps
/// the newest `last`. With the agent's page as large as its event log that is two requests.
pub(crate) async fn fetch_last(
    client: &api::Client,
    last: usize,
) -> Result<(Vec<api::Event>, u64), ClientError> {
    let last = last.min(EVENTS_LAST_MAX);
    let mut kept = VecDeque::new();
    let mut answer = client.events(0, 0).await?;
    for _ in 0..EVENT_PAGES_MAX {
        let since = answer.next;
        let done = answer.events.is_empty();
        keep_last(&mut kept, answer.events, 0, last);
        if done {
            break;
        }
        answer = client.events(since, 0).await?;
        // An agent whose `next` does not advance would otherwise be asked forever.
        if answer.next <= since {
            keep_last(&mut kept, answer.events, since, last);
            break;
        }
    }
    Ok((kept.into(), answer.next))
}

/// Appends the events at or after `since` and drops the oldest beyond `last`.
pub(crate) fn keep_last(
    kept: &mut VecDeque<api::Event>,
    events: Vec<api::Event>,
    since: u64,
    last: usize,
) {
    kept.extend(events.into_iter().filter(|event| event.seq >= since));
    while kept.len() > last {
        kept.pop_front();
    }
}

async fn follow_from(
    client: &api::Client,
    target: &Target,
    since: u64,
    json: bool,
    output: &mut Output,
) -> anyhow::Result<()> {
    let mut follower = Follower::new(since);
    loop {
        let answer = tokio::select! {
            answer = client.events(follower.since(), FOLLOW_WAIT_MS) => answer,
            result = interrupted() => return result,
        };
        let delay = match answer {
            Ok(answer) => {
                let step = follower.on_answer(answer);
                if let Some(notice) = step.notice {
                    eprintln!("{notice}");
                }
                for event in &step.events {
                    output.line(&render(event, json))?;
                }
                if output.is_closed() {
                    return Ok(());
                }
                continue;
            }
            Err(error) if is_retryable(&error) => {
                let problem = match &error {
                    ClientError::Transport { url, source } => {
                        explain_transport(url, transport_cause(source), target)
                    }
                    other => other.to_string(),
                };
                let step = follower.on_failure(&problem);
                if let Some(warning) = step.warning {
                    eprintln!("{warning}");
                }
                step.delay
            }
            Err(error) => return Err(explain(error, target)),
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            result = interrupted() => return result,
        }
    }
}

/// Waits for Ctrl-C, the normal end of `--follow`.
///
/// A runtime without signal support would make `ctrl_c` fail at once, which must not look
/// like a clean end.
async fn interrupted() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen for Ctrl-C to end --follow: {error}"))
}

/// Transport errors and server-side errors (an election, a restarting agent) pass; a
/// refused token or a bad request does not, so those end the command.
fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Transport { .. } => true,
        ClientError::Api { status, .. } => *status >= 500,
        ClientError::Decode { .. } | ClientError::Invalid { .. } => false,
    }
}

/// The state of `events --follow` between requests.
#[derive(Debug)]
pub(crate) struct Follower {
    since: u64,
    backoff: Duration,
    failing: bool,
}

/// What to do with one answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AnswerStep {
    /// New events to print, oldest first.
    pub(crate) events: Vec<api::Event>,
    /// A line for stderr when the API answers again after failures.
    pub(crate) notice: Option<String>,
}

/// What to do after a failed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FailureStep {
    /// A line for stderr, only for the first failure of an outage.
    pub(crate) warning: Option<String>,
    /// How long to wait before the next request.
    pub(crate) delay: Duration,
}

impl Follower {
    pub(crate) fn new(since: u64) -> Follower {
        Follower {
            since,
            backoff: FOLLOW_BACKOFF_MIN,
            failing: false,
        }
    }

    /// The `since` of the next request.
    pub(crate) fn since(&self) -> u64 {
        self.since
    }

    /// Keeps only events not printed yet, which matters when another agent answered after
    /// a reconnection, and moves `since` on.
    pub(crate) fn on_answer(&mut self, answer: api::Events) -> AnswerStep {
        let since = self.since;
        let events: Vec<api::Event> = answer
            .events
            .into_iter()
            .filter(|event| event.seq >= since)
            .collect();
        let newest_printed = events.last().map(|event| event.seq + 1);
        self.since = answer.next.max(newest_printed.unwrap_or(since)).max(since);
        self.backoff = FOLLOW_BACKOFF_MIN;
        let notice = std::mem::replace(&mut self.failing, false).then(|| "reconnected".to_string());
        AnswerStep { events, notice }
    }

    /// Warns once per outage and doubles the pause up to `FOLLOW_BACKOFF_MAX`.
    pub(crate) fn on_failure(&mut self, problem: &str) -> FailureStep {
        let warning = (!self.failing).then(|| format!("warning: {problem}; retrying"));
        self.failing = true;
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(FOLLOW_BACKOFF_MAX);
        FailureStep { warning, delay }
    }
}
