//! Unit tests of the `process` agent's parameter parsing and probes' text handling.
//! Running real processes is left to the integration tests.

use super::config::{ProcessConfig, parse_args, parse_env};
use super::probe::{Probe, parse_status_code};
use super::term_grace;
use std::collections::BTreeMap;
use std::time::Duration;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn args_split_on_whitespace() {
    assert_eq!(
        parse_args("  -m  http.server 8080 "),
        Ok(vec!["-m".into(), "http.server".into(), "8080".into()])
    );
}

#[test]
fn args_as_json_array_keep_spaces_inside_arguments() {
    assert_eq!(
        parse_args(r#"["-c", "trap '' TERM; sleep 100"]"#),
        Ok(vec!["-c".into(), "trap '' TERM; sleep 100".into()])
    );
}

#[test]
fn args_with_broken_json_are_rejected() {
    let error = parse_args(r#"["-c", 3]"#).expect_err("3 is not a string");
    assert!(error.starts_with("args: "), "{error}");
}

#[test]
fn env_pairs_are_split_on_semicolons_and_first_equals() {
    assert_eq!(
        parse_env("A=1; B=x=y ;;C="),
        Ok(vec![
            ("A".into(), "1".into()),
            ("B".into(), "x=y".into()),
            ("C".into(), "".into())
        ])
    );
}

#[test]
fn env_items_without_equals_or_with_bad_names_are_rejected() {
    assert_eq!(
        parse_env("A=1;oops"),
        Err("env: \"oops\" is not KEY=VALUE".into())
    );
    assert_eq!(
        parse_env("1A=1"),
        Err("env: \"1A\" is not a valid variable name".into())
    );
}

#[test]
fn http_probe_url_is_split_into_address_host_and_path() {
    let probe = Probe::http("http://127.0.0.1:8080/health?x=1").expect("valid url");
    assert_eq!(
        probe,
        Probe::Http {
            url: "http://127.0.0.1:8080/health?x=1".into(),
            address: "127.0.0.1:8080".into(),
            host: "127.0.0.1:8080".into(),
            path: "/health?x=1".into(),
        }
    );
    let probe = Probe::http("http://localhost").expect("valid url");
    assert!(matches!(probe, Probe::Http { ref address, ref path, .. }
            if address == "localhost:80" && path == "/"));
    let probe = Probe::http("http://[::1]").expect("valid url");
    assert!(matches!(probe, Probe::Http { ref address, .. } if address == "[::1]:80"));
}

#[test]
fn https_and_bad_probe_addresses_are_rejected() {
    assert!(
        Probe::http("https://x/")
            .expect_err("https")
            .contains("https is not supported")
    );
    assert!(
        Probe::tcp("127.0.0.1")
            .expect_err("no port")
            .contains("is not host:port")
    );
    assert!(
        Probe::tcp("127.0.0.1:0")
            .expect_err("port 0")
            .contains("no valid port")
    );
    assert!(
        Probe::tcp(":80")
            .expect_err("no host")
            .contains("has no host")
    );
}

#[test]
fn every_parameter_problem_is_reported() {
    let problems = ProcessConfig::parse(&params(&[
        ("command", "x"),
        ("args", "[1]"),
        ("env", "nope"),
        ("probe_tcp", "x"),
    ]))
    .expect_err("three problems");
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn status_codes_are_read_from_http_status_lines() {
    assert_eq!(parse_status_code("HTTP/1.0 200 OK"), Some(200));
    assert_eq!(parse_status_code("HTTP/1.1 302 Found"), Some(302));
    assert_eq!(parse_status_code("SSH-2.0-OpenSSH"), None);
    assert_eq!(parse_status_code(""), None);
}

#[test]
fn stop_grace_leaves_time_for_sigkill_but_never_less_than_half() {
    assert_eq!(term_grace(Duration::from_secs(20)), Duration::from_secs(18));
    assert_eq!(term_grace(Duration::from_secs(2)), Duration::from_secs(1));
}
