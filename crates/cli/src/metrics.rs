//! `encluster metrics`: the series a node keeps, and one series over a range as a table or
//! a one-line sparkline.

use anyhow::bail;

use crate::commands::Output;
use crate::errors::explain;
use crate::render::render_json;
use crate::resource_commands::Session;

/// `encluster metrics ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum MetricsCommand {
    /// The series a node keeps (the answering node's, or --node's).
    List {
        /// The node whose series to list (any node answers for any other).
        #[arg(long)]
        node: Option<u64>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// One series over a range: a sparkline with its min, mean and max, or --table.
    Show {
        /// The series' name, e.g. host_load1 (`encluster metrics list` shows them).
        name: String,
        /// A label of the series, KEY=VALUE; repeat for several.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// The node whose series it is (default: the answering node).
        #[arg(long)]
        node: Option<u64>,
        /// How far back, e.g. 10m, 1h, 2d.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        /// The finest step wanted, e.g. 10s (default: the finest kept for the range).
        #[arg(long, value_parser = humantime::parse_duration)]
        step: Option<std::time::Duration>,
        /// One line per point instead of a sparkline.
        #[arg(long)]
        table: bool,
        /// Show one consolidation function of each point: min, avg, max or last (as
        /// rrdtool's fetch takes one); by default the sparkline shows the means and the
        /// table all four.
        #[arg(long, value_name = "FUNCTION")]
        consolidation: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run_metrics(
    session: &Session<'_>,
    command: MetricsCommand,
) -> anyhow::Result<()> {
    let mut output = Output::stdout();
    match command {
        MetricsCommand::List { node, json } => {
            let list = session
                .client
                .metrics(node)
                .await
                .map_err(|e| explain(e, session.target))?;
            if json {
                return output.text(&render_json(&list));
            }
            for series in &list.series {
                output.line(&series_label(series))?;
            }
            Ok(())
        }
        MetricsCommand::Show {
            name,
            labels,
            node,
            since,
            step,
            table,
            consolidation,
            json,
        } => {
            let mut pairs = Vec::new();
            for label in &labels {
                let Some((key, value)) = label.split_once('=') else {
                    bail!("--label {label:?} must be KEY=VALUE, for example --label mode=user");
                };
                pairs.push((key.to_owned(), value.to_owned()));
            }
            let to = crate::resource_commands::now_ms();
            let query = api::MetricQuery {
                name,
                labels: pairs,
                node,
                from_ms: Some(to.saturating_sub(since.as_millis() as u64)),
                to_ms: Some(to),
                step_ms: step.map(|step| step.as_millis() as u64),
                consolidation,
            };
            let range = session
                .client
                .metric_range(&query)
                .await
                .map_err(|e| explain(e, session.target))?;
            let text = match (json, table) {
                (true, _) => render_json(&range),
                (false, true) => render_table(&range),
                (false, false) => render_sparkline(&range),
            };
            output.text(&text)
        }
    }
}

fn series_label(series: &api::SeriesName) -> String {
    if series.labels.is_empty() {
        return series.name.clone();
    }
    let labels: Vec<String> = series
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{}{{{}}}", series.name, labels.join(","))
}

/// Each point's value as shown: the asked consolidation's (`values`), else the mean.
fn shown(range: &api::MetricRange) -> Vec<Option<f64>> {
    if range.consolidation.is_some() {
        return range.values.clone();
    }
    range.points.iter().map(|p| p.map(|p| p.avg)).collect()
}

/// The series, its step, a sparkline of the means (or of the asked consolidation; `·`
/// where unknown), min, mean and max.
pub(crate) fn render_sparkline(range: &api::MetricRange) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values = shown(range);
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let function = range
        .consolidation
        .as_deref()
        .map(|name| format!(", {name} of each"))
        .unwrap_or_default();
    let head = format!(
        "{} on node {} ({} points of {} s{function})",
        series_label(&range.series),
        range.node,
        values.len(),
        range.step_ms as f64 / 1_000.0
    );
    if known.is_empty() {
        return format!("{head}\nno data in this range\n");
    }
    let low = known.iter().copied().fold(f64::INFINITY, f64::min);
    let high = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    let line: String = values
        .iter()
        .map(|value| match value {
            None => '·',
            Some(_) if high <= low => BARS[0],
            Some(v) => BARS[(((v - low) / (high - low)) * 7.0).round() as usize],
        })
        .collect();
    format!("{head}\n{line}\nmin {low:.3}  mean {mean:.3}  max {high:.3}\n")
}

fn render_table(range: &api::MetricRange) -> String {
    if let Some(name) = &range.consolidation {
        let mut out = format!("{:<14} {:>14}\n", "START_MS", name.to_uppercase());
        for (index, value) in range.values.iter().enumerate() {
            let start = range.start_ms + index as u64 * range.step_ms;
            match value {
                Some(v) => out.push_str(&format!("{start:<14} {v:>14.3}\n")),
                None => out.push_str(&format!("{start:<14} {:>14}\n", "-")),
            }
        }
        return out;
    }
    let mut out = format!(
        "{:<14} {:>14} {:>14} {:>14}\n",
        "START_MS", "MIN", "MEAN", "MAX"
    );
    for (index, point) in range.points.iter().enumerate() {
        let start = range.start_ms + index as u64 * range.step_ms;
        match point {
            Some(p) => out.push_str(&format!(
                "{start:<14} {:>14.3} {:>14.3} {:>14.3}\n",
                p.min, p.avg, p.max
            )),
            None => out.push_str(&format!(
                "{start:<14} {:>14} {:>14} {:>14}\n",
                "-", "-", "-"
            )),
        }
    }
    out
}
