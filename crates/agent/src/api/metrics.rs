//! `GET /v1/metrics` (a node's series) and `GET /v1/metrics/query` (one series over a
//! range). Every node keeps its own series, so any node answers for any other by
//! forwarding to it (`node=N`); a node that cannot be reached answers 503 naming it, its
//! series unavailable until it is back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use model::NodeId;
use monitor::{Range, SeriesKey};

use super::{ApiState, ForwardRequest, error, forward};
use crate::clock::now_ms;

/// The default range of a query: the last ten minutes.
const DEFAULT_RANGE_MS: u64 = 10 * 60 * 1_000;

/// The query string, as pairs: `label` may repeat.
type Pairs = Query<Vec<(String, String)>>;

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses the optional number `key`; the error names it and shows an example.
fn number(pairs: &[(String, String)], key: &str, example: &str) -> Result<Option<u64>, Response> {
    match value(pairs, key).map(str::parse::<u64>) {
        None => Ok(None),
        Some(Ok(number)) => Ok(Some(number)),
        Some(Err(_)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{key} must be a whole number, for example {key}={example}"),
        )),
    }
}

/// Answers here, or forwards to the node asked for. `None` means "answer here".
async fn elsewhere(
    state: &ApiState,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Option<Response>, Response> {
    let Some(node) = number(pairs, "node", "2")? else {
        return Ok(None);
    };
    if node == state.node_id || value(pairs, "local") == Some("1") {
        return Ok(None);
    }
    let api_addr = state
        .shared
        .read(|db| db.nodes.get(&NodeId(node)).map(|n| n.info.api_addr.clone()));
    let Some(api_addr) = api_addr else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no node {node}; `encluster status` lists the nodes"),
        ));
    };
    let query = uri.query().unwrap_or("");
    let request = ForwardRequest {
        method: Method::GET,
        path_and_query: format!("{}?{query}&local=1", uri.path()),
        headers,
        body: Bytes::new(),
        write: None,
    };
    match forward(state, node, &api_addr, &request).await {
        Ok(answer) => Ok(Some(answer)),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node {node} cannot be reached; its series are unavailable until it is back"),
        )),
    }
}

/// This node's series when the request is for this node; otherwise the answer of the node
/// it is for, or why there is none.
async fn here(
    state: &ApiState,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Arc<crate::metrics::Metrics>, Response> {
    if let Some(answer) = elsewhere(state, pairs, headers, uri).await? {
        return Err(answer);
    }
    kept(state)
}

/// This node's series, or a 404 saying it keeps none.
fn kept(state: &ApiState) -> Result<Arc<crate::metrics::Metrics>, Response> {
    state
        .metrics
        .clone()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "this node keeps no metrics"))
}

fn wire_name(key: &SeriesKey) -> ::api::SeriesName {
    ::api::SeriesName {
        name: key.name.clone(),
        labels: key.labels.iter().cloned().collect(),
    }
}

/// `GET /v1/metrics[?node=N]`.
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(pairs): Pairs,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let metrics = match here(&state, &pairs, &headers, &uri).await {
        Ok(metrics) => metrics,
        Err(answer) => return answer,
    };
    let series = metrics.keys().iter().map(wire_name).collect();
    Json(::api::MetricList {
        node: state.node_id,
        series,
    })
    .into_response()
}

/// `GET /v1/metrics/query?name=..&label=k=v&node=N&from=ms&to=ms&step=ms`, and
/// `consolidation=min|avg|max|last` for that function's values alone (`values`).
pub(crate) async fn query(
    State(state): State<ApiState>,
    Query(pairs): Pairs,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let metrics = match here(&state, &pairs, &headers, &uri).await {
        Ok(metrics) => metrics,
        Err(answer) => return answer,
    };
    let (key, range) = match parse_query(&pairs) {
        Ok(parsed) => parsed,
        Err(answer) => return answer,
    };
    let consolidation = match consolidation(&pairs) {
        Ok(consolidation) => consolidation,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let fetched = {
        let key = key.clone();
        tokio::task::spawn_blocking(move || metrics.fetch(&key, range)).await
    };
    let fetched = match fetched {
        Ok(Ok(fetched)) => fetched,
        Ok(Err(monitor::MonitorError::UnknownSeries(_))) => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "node {} has no series {} with labels {:?}; `encluster metrics list` \
                     shows them",
                    state.node_id, key.name, key.labels
                ),
            );
        }
        Ok(Err(problem)) => return error(StatusCode::BAD_REQUEST, problem.to_string()),
        Err(join) => return error(StatusCode::INTERNAL_SERVER_ERROR, join.to_string()),
    };
    let points: Vec<Option<::api::MetricPoint>> = fetched
        .points
        .iter()
        .map(|p| {
            (!p.avg.is_nan()).then_some(::api::MetricPoint {
                min: p.min,
                avg: p.avg,
                max: p.max,
                last: p.last,
            })
        })
        .collect();
    let values = match consolidation {
        Some(function) => points
            .iter()
            .map(|point| point.map(|point| function.of(&point)))
            .collect(),
        None => Vec::new(),
    };
    Json(::api::MetricRange {
        node: state.node_id,
        series: wire_name(&key),
        step_ms: fetched.step_ms,
        start_ms: fetched.start_ms,
        points,
        consolidation: consolidation.map(|function| function.name().to_owned()),
        values,
    })
    .into_response()
}

/// A consolidation function, as rrdtool's `fetch` takes one (`MIN`, `AVERAGE`, `MAX`,
/// `LAST`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Consolidation {
    Min,
    Avg,
    Max,
    Last,
}

impl Consolidation {
    fn name(self) -> &'static str {
        match self {
            Consolidation::Min => "min",
            Consolidation::Avg => "avg",
            Consolidation::Max => "max",
            Consolidation::Last => "last",
        }
    }

    fn of(self, point: &::api::MetricPoint) -> f64 {
        match self {
            Consolidation::Min => point.min,
            Consolidation::Avg => point.avg,
            Consolidation::Max => point.max,
            Consolidation::Last => point.last,
        }
    }
}

/// The `consolidation` parameter: absent, or one of the four functions (rrdtool's names
/// too, in any case); anything else is an error that lists them.
fn consolidation(pairs: &[(String, String)]) -> Result<Option<Consolidation>, String> {
    let Some(asked) = value(pairs, "consolidation") else {
        return Ok(None);
    };
    let function = match asked.to_ascii_lowercase().as_str() {
        "min" => Consolidation::Min,
        "avg" | "average" | "mean" => Consolidation::Avg,
        "max" => Consolidation::Max,
        "last" => Consolidation::Last,
        _ => {
            return Err(format!(
                "consolidation {asked:?} is none of min, avg, max and last \
                 (for example consolidation=max)"
            ));
        }
    };
    Ok(Some(function))
}

fn parse_query(pairs: &[(String, String)]) -> Result<(SeriesKey, Range), Response> {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, message);
    let Some(name) = value(pairs, "name") else {
        return Err(bad(
            "name is required, for example name=host_load1; `encluster metrics list` \
             shows the series"
                .into(),
        ));
    };
    let mut labels = BTreeMap::new();
    for (key, label) in pairs.iter().filter(|(k, _)| k == "label") {
        let Some((k, v)) = label.split_once('=') else {
            return Err(bad(format!(
                "label {label:?} must be key=value, for example label=mode=user (was {key})"
            )));
        };
        labels.insert(k.to_owned(), v.to_owned());
    }
    let now = now_ms();
    let to = number(pairs, "to", "1733500000000")?.unwrap_or(now);
    let from = number(pairs, "from", "1733499400000")?
        .unwrap_or_else(|| to.saturating_sub(DEFAULT_RANGE_MS));
    let step = number(pairs, "step", "10000")?.unwrap_or(0);
    let key = SeriesKey {
        name: name.to_owned(),
        labels: labels.into_iter().collect(),
    };
    let range = Range {
        from_ms: from,
        to_ms: to,
        step_ms: step,
        now_ms: now,
    };
    Ok((key, range))
}

/// `GET /metrics`: this node's last samples in the Prometheus text format, labelled with
/// the node's name.
pub(crate) async fn prometheus(State(state): State<ApiState>) -> Response {
    let metrics = match kept(&state) {
        Ok(metrics) => metrics,
        Err(answer) => return answer,
    };
    let text =
        monitor::prometheus::render(metrics.latest(), &metrics.histograms(), &metrics.node_name);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            monitor::prometheus::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{Consolidation, consolidation, parse_query};

    /// What a malformed range query is answered: its status and message.
    async fn refusal(query: &[(&str, &str)]) -> (u16, String) {
        let pairs: Vec<(String, String)> = (query.iter())
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let Err(answer) = parse_query(&pairs) else {
            panic!("{query:?} was accepted")
        };
        let status = answer.status().as_u16();
        let body = axum::body::to_bytes(answer.into_body(), 4096).await;
        (status, String::from_utf8_lossy(&body.expect("body")).into_owned())
    }

    #[tokio::test]
    async fn a_malformed_range_query_is_refused_naming_the_parameter_and_a_fix() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "name is required, for example name=host_load1"),
            (&[("name", "host_load1"), ("from", "yesterday")], "from must be a whole number"),
            (&[("name", "host_load1"), ("to", "-5")], "to must be a whole number"),
            (&[("name", "host_load1"), ("step", "1e3")], "step must be a whole number"),
            (&[("name", "host_load1"), ("label", "mode")], "must be key=value"),
        ];
        for (query, expected) in cases {
            let (status, message) = refusal(query).await;
            assert_eq!(status, 400, "{query:?}");
            assert!(message.contains(expected), "{query:?}: {message}");
        }
        let fine = [("name".to_owned(), "host_load1".to_owned())];
        assert!(parse_query(&fine).is_ok());
    }

    fn pairs(value: &str) -> Vec<(String, String)> {
        vec![("consolidation".to_owned(), value.to_owned())]
    }

    #[test]
    fn a_consolidation_is_one_of_four_functions_by_our_name_or_rrdtools() {
        assert_eq!(consolidation(&[]), Ok(None));
        for (asked, function) in [
            ("min", Consolidation::Min),
            ("AVERAGE", Consolidation::Avg),
            ("avg", Consolidation::Avg),
            ("Max", Consolidation::Max),
            ("LAST", Consolidation::Last),
        ] {
            assert_eq!(consolidation(&pairs(asked)), Ok(Some(function)), "{asked}");
        }
        let refused = consolidation(&pairs("median")).expect_err("not a function");
        assert!(
            refused.contains("\"median\"") && refused.contains("min, avg, max and last"),
            "{refused}"
        );
        let point = ::api::MetricPoint {
            min: 1.0,
            avg: 2.0,
            max: 3.0,
            last: 2.5,
        };
        let values: Vec<f64> = [
            Consolidation::Min,
            Consolidation::Avg,
            Consolidation::Max,
            Consolidation::Last,
        ]
        .iter()
        .map(|function| function.of(&point))
        .collect();
        assert_eq!(values, [1.0, 2.0, 3.0, 2.5]);
    }
}
