//! `resource log`: the cluster's operation log as a table, one row per start, stop or
//! reported monitor, with the node, the fencing token and how long it took.
//!
//! Rendering is pure (no clock, no IO), so the table is pinned by snapshot tests.

use crate::render::format_time;

/// The `resource log` table, oldest first as the API answers. Times are UTC times of day
/// with milliseconds (the JSON has the full timestamps); the result comes last, since a
/// failure reason can be long.
pub(crate) fn render_operations(operations: &[api::OperationRecord]) -> String {
    if operations.is_empty() {
        return "no operations recorded\n".to_string();
    }
    let header = [
        "STARTED", "TOOK", "NODE", "RESOURCE", "OP", "TOKEN", "STATE", "RESULT",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for record in operations {
        rows.push(vec![
            time_of_day(record.started_at_ms),
            took(record),
            node_text(record),
            record.resource.clone(),
            record.operation.clone(),
            record.fencing_token.to_string(),
            record.state_after.clone(),
            result_text(record),
        ]);
    }
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// `HH:MM:SS.mmm` of an RFC 3339 UTC time.
fn time_of_day(at_ms: u64) -> String {
    let full = format_time(at_ms);
    full.split_once('T')
        .map(|(_, time)| time.trim_end_matches('Z').to_string())
        .unwrap_or(full)
}

fn node_text(record: &api::OperationRecord) -> String {
    if record.node_name.is_empty() {
        format!("node {}", record.node)
    } else {
        record.node_name.clone()
    }
}

/// The duration; a stop whose instance had already ended (an outside watchdog fenced it)
/// finished before it started, which says so instead of a negative time.
fn took(record: &api::OperationRecord) -> String {
    match record.finished_at_ms.checked_sub(record.started_at_ms) {
        Some(took_ms) => format!("{took_ms} ms"),
        None => {
            let earlier_ms = record.started_at_ms - record.finished_at_ms;
            format!("ended {earlier_ms} ms before")
        }
    }
}

fn result_text(record: &api::OperationRecord) -> String {
    match (&record.reason, record.ok) {
        (_, true) => "ok".to_string(),
        (Some(reason), false) => format!("failed: {reason}"),
        (None, false) => "failed".to_string(),
    }
}

#[cfg(test)]
mod tests;
