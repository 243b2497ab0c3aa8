//! The Prometheus text rendering of the counters; every metric of this crate is defined here.
//!
//! Labels are the service and server names only, never client addresses, so the series count
//! is bounded by the configuration.

use std::fmt::Write;

use crate::counters::{LATENCY_BOUNDS_MICROS, LbSnapshot, ServerSnapshot, ServiceSnapshot};

type ServiceField = fn(&ServiceSnapshot) -> u64;
type ServerField = fn(&ServerSnapshot) -> u64;

const SERVICE_METRICS: &[(&str, &str, &str, ServiceField)] = &[
    (
        "lb_connections_active",
        "gauge",
        "Client connections open now.",
        |s| s.connections_active,
    ),
    (
        "lb_connections_total",
        "counter",
        "Client connections accepted.",
        |s| s.connections_total,
    ),
    (
        "lb_connections_rejected_total",
        "counter",
        "Client connections refused by limits or for lack of a server.",
        |s| s.connections_rejected,
    ),
    (
        "lb_received_bytes_total",
        "counter",
        "Bytes received from clients.",
        |s| s.bytes_in,
    ),
    (
        "lb_sent_bytes_total",
        "counter",
        "Bytes sent to clients.",
        |s| s.bytes_out,
    ),
    (
        "lb_requests_total",
        "counter",
        "HTTP requests received.",
        |s| s.requests_total,
    ),
    (
        "lb_errors_total",
        "counter",
        "Failed connects and proxy errors.",
        |s| s.errors_total,
    ),
    (
        "lb_sorry_total",
        "counter",
        "Connections sent to the sorry server.",
        |s| s.sorry_total,
    ),
];

const SERVER_METRICS: &[(&str, &str, &str, ServerField)] = &[
    (
        "lb_server_connections_active",
        "gauge",
        "Connections (HTTP: requests) in flight to the server.",
        |s| s.connections_active,
    ),
    (
        "lb_server_connections_total",
        "counter",
        "Connections to the server.",
        |s| s.connections_total,
    ),
    (
        "lb_server_sent_bytes_total",
        "counter",
        "Bytes sent to the server.",
        |s| s.bytes_in,
    ),
    (
        "lb_server_received_bytes_total",
        "counter",
        "Bytes received from the server.",
        |s| s.bytes_out,
    ),
    (
        "lb_server_requests_total",
        "counter",
        "HTTP requests sent to the server.",
        |s| s.requests_total,
    ),
    (
        "lb_server_errors_total",
        "counter",
        "Failed connects and requests.",
        |s| s.errors_total,
    ),
    (
        "lb_server_healthy",
        "gauge",
        "1 when the health check passes.",
        |s| u64::from(s.healthy),
    ),
    (
        "lb_server_health_checks_failed_total",
        "counter",
        "Failed health checks.",
        |s| s.health_checks_failed,
    ),
    ("lb_server_weight", "gauge", "Configured weight.", |s| {
        u64::from(s.weight)
    }),
    (
        "lb_server_drained",
        "gauge",
        "1 when draining with no connection left.",
        |s| u64::from(s.drained),
    ),
];

/// Renders the snapshot in the Prometheus text exposition format.
pub fn render_prometheus(snapshot: &LbSnapshot) -> String {
    let mut out = String::new();
    for (name, kind, help, field) in SERVICE_METRICS {
        header(&mut out, name, kind, help);
        for service in &snapshot.services {
            let value = field(service);
            writeln!(
                out,
                "{name}{{service=\"{}\"}} {value}",
                escape(&service.name)
            )
            .expect("writing to a string cannot fail");
        }
    }
    for (name, kind, help, field) in SERVER_METRICS {
        header(&mut out, name, kind, help);
        for service in &snapshot.services {
            for server in &service.servers {
                let value = field(server);
                writeln!(
                    out,
                    "{name}{{service=\"{}\",server=\"{}\"}} {value}",
                    escape(&service.name),
                    escape(&server.name)
                )
                .expect("writing to a string cannot fail");
            }
        }
    }
    response_times(&mut out, snapshot);
    out
}

/// `lb_server_response_seconds`: each server's response times as a Prometheus histogram.
fn response_times(out: &mut String, snapshot: &LbSnapshot) {
    let name = "lb_server_response_seconds";
    let help = "Response times: HTTP to the response head, TCP the connect time.";
    header(out, name, "histogram", help);
    for service in &snapshot.services {
        for server in &service.servers {
            let labels = format!(
                "service=\"{}\",server=\"{}\"",
                escape(&service.name),
                escape(&server.name)
            );
            let latency = &server.response_time;
            let mut cumulative = 0;
            for (i, count) in latency.counts.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BOUNDS_MICROS
                    .get(i)
                    .map_or("+Inf".to_owned(), |micros| {
                        (*micros as f64 / 1e6).to_string()
                    });
                writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}")
                    .expect("writing to a string cannot fail");
            }
            let sum = latency.sum_micros as f64 / 1e6;
            writeln!(
                out,
                "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {cumulative}"
            )
            .expect("writing to a string cannot fail");
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}")
        .expect("writing to a string cannot fail");
}

/// Names are validated to a safe alphabet; escaping still guards the format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
