//! Wire types of the metrics API: `GET /v1/metrics` and `GET /v1/metrics/query`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One series of a node: its name and labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeriesName {
    /// Prometheus-style name, e.g. `host_cpu_seconds`.
    pub name: String,
    /// Labels beside the node, e.g. `{"mode": "user"}`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `GET /v1/metrics[?node=N]`: the series a node keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricList {
    /// The node that keeps them.
    pub node: u64,
    /// Its series, sorted by name and labels.
    pub series: Vec<SeriesName>,
}

/// `GET /v1/metrics/query?name=..&label=k=v&node=N&from=ms&to=ms&step=ms[&consolidation=
/// min|avg|max|last]`: one series over a range. Point `i` covers `start_ms + i * step_ms`
/// to the next; `null` where nothing is known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricRange {
    /// The node whose series this is.
    pub node: u64,
    /// The series.
    pub series: SeriesName,
    /// Milliseconds one point covers (the archive's step).
    pub step_ms: u64,
    /// Start of the first point (ms since the epoch).
    pub start_ms: u64,
    /// The points.
    pub points: Vec<Option<MetricPoint>>,
    /// The consolidation function asked for (`consolidation=`), if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidation: Option<String>,
    /// With `consolidation`: that function's value of each point (`null` where unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Option<f64>>,
}

/// One consolidated point: the values of its step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricPoint {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
    /// Last.
    pub last: f64,
}
