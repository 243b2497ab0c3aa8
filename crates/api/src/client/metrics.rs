//! The client's calls of the metrics API.

use super::{Client, ClientError};

/// What one range query asks (`GET /v1/metrics/query`).
#[derive(Clone, Debug, Default)]
pub struct MetricQuery {
    /// The series' name.
    pub name: String,
    /// Its labels, `key=value`.
    pub labels: Vec<(String, String)>,
    /// The node that keeps it; the answering node when `None`.
    pub node: Option<u64>,
    /// Start (ms since the epoch); ten minutes before `to` when `None`.
    pub from_ms: Option<u64>,
    /// End; now when `None`.
    pub to_ms: Option<u64>,
    /// The finest step wanted (ms); the finest there is when `None`.
    pub step_ms: Option<u64>,
    /// One consolidation function (`min`, `avg`, `max` or `last`, as rrdtool's `fetch`
    /// takes one) whose value per point the answer also gives in `values`.
    pub consolidation: Option<String>,
}

impl Client {
    /// `GET /v1/metrics[?node=N]`: the series a node keeps.
    pub async fn metrics(&self, node: Option<u64>) -> Result<crate::MetricList, ClientError> {
        match node {
            Some(node) => self.get(&format!("/v1/metrics?node={node}")).await,
            None => self.get("/v1/metrics").await,
        }
    }

    /// `GET /v1/metrics/query`: one series over a range.
    pub async fn metric_range(
        &self,
        query: &MetricQuery,
    ) -> Result<crate::MetricRange, ClientError> {
        let mut pairs: Vec<(&str, String)> = vec![("name", query.name.clone())];
        for (key, value) in &query.labels {
            pairs.push(("label", format!("{key}={value}")));
        }
        for (key, value) in [
            ("node", query.node),
            ("from", query.from_ms),
            ("to", query.to_ms),
            ("step", query.step_ms),
        ] {
            if let Some(value) = value {
                pairs.push((key, value.to_string()));
            }
        }
        if let Some(consolidation) = &query.consolidation {
            pairs.push(("consolidation", consolidation.clone()));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", encode_value(value)))
            .collect();
        self.get(&format!("/v1/metrics/query?{}", query.join("&")))
            .await
    }
}

/// `value` for a query string: every byte but the unreserved ones as `%XX`.
fn encode_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
