//! Unit tests of the `process` agent's parameter parsing and probes' text handling.
//! Running real processes is left to the integration tests.

use super::config::{ProcessConfig, canonical_args, parse_args, parse_env, prepare};
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

#[test]
fn args_are_split_as_a_shell_splits_them_regression_issue_11() {
    assert_eq!(
        parse_args(r#"-c 'echo "a b"' "c d" e\ f"#),
        Ok(vec![
            "-c".into(),
            r#"echo "a b""#.into(),
            "c d".into(),
            "e f".into()
        ])
    );
    let error = parse_args("-c 'unclosed").expect_err("an open quote");
    assert!(error.contains("unclosed quote"), "{error}");
}

#[test]
fn args_are_stored_as_shell_words_whatever_form_they_came_in() {
    let words = |text: &str| canonical_args(&parse_args(text).expect("parses"));
    assert_eq!(words(r#"["a b", "c"]"#), Ok("'a b' c".to_string()));
    assert_eq!(words("'a b'   c"), Ok("'a b' c".to_string()));
    assert_eq!(
        words("-m http.server 8000"),
        Ok("-m http.server 8000".to_string())
    );
    // The canonical form reads back as the same arguments.
    let stored = words(r#"["it's", "$HOME", ""]"#).expect("quotable");
    assert_eq!(
        parse_args(&stored),
        Ok(vec!["it's".into(), "$HOME".into(), String::new()])
    );
}

/// `prepare`'s problems for `pairs` plus a valid command, or its prepared parameters.
fn check_prepare(pairs: &[(&str, &str)]) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut given = params(pairs);
    given
        .entry("command".into())
        .or_insert_with(|| "/bin/sh".into());
    prepare(&given)
}

fn check_refused(pairs: &[(&str, &str)], expected: &str) {
    let problems = check_prepare(pairs).expect_err("refused");
    assert!(
        problems.iter().any(|problem| problem.contains(expected)),
        "{expected:?} in {problems:#?}"
    );
}

#[test]
fn what_can_only_fail_is_refused_before_it_is_stored_regression_issue_11() {
    check_refused(
        &[("env", "1BAD=x")],
        r#"env: "1BAD" is not a valid variable name"#,
    );
    check_refused(
        &[("probe_http", "http://127.0.0.1:80/\r\nX: y")],
        "probe_http: \"http://127.0.0.1:80/\\r\\nX: y\" contains a line break",
    );
    check_refused(
        &[("cwd", "tmp")],
        "cwd: \"tmp\" is not an absolute path: start it with /",
    );
    check_refused(
        &[("cwd", "/no/such/dir/here")],
        "cwd: /no/such/dir/here is not a directory on this node",
    );
    check_refused(
        &[("command", "touch /tmp/x")],
        "command: \"touch /tmp/x\" is a command line: give the program alone and its \
         arguments in args, like --param command=touch --param args=\"/tmp/x\"",
    );
    check_refused(
        &[("command", "no-such-program-anywhere")],
        "command: no executable \"no-such-program-anywhere\" in PATH on this node",
    );
    check_refused(
        &[("command", "/no/such/program")],
        "/no/such/program is not an executable",
    );
    check_refused(&[("command", "bin/sh")], "is a relative path");
    check_refused(&[("probe_tcp", "nowhere")], "probe_tcp: ");
}

#[test]
fn prepared_parameters_keep_what_was_given_with_args_canonical() {
    let prepared = check_prepare(&[
        ("command", "sh"),
        ("args", r#"["-c", "echo hi"]"#),
        ("cwd", "/"),
    ])
    .expect("valid");
    assert_eq!(
        prepared,
        params(&[("command", "sh"), ("args", "-c 'echo hi'"), ("cwd", "/")])
    );
}

#[test]
fn notify_messages_parse_as_systemd_sends_them() {
    use super::notify::{Notice, parse};
    use std::time::Duration;
    assert_eq!(
        parse(b"READY=1\nSTATUS=Serving 3 clients\nWATCHDOG=1\nEXTEND_TIMEOUT_USEC=2500000"),
        vec![
            Notice::Ready,
            Notice::Status("Serving 3 clients".into()),
            Notice::Watchdog,
            Notice::ExtendTimeout(Duration::from_micros(2_500_000)),
        ]
    );
    assert_eq!(
        parse(b"WATCHDOG=trigger\nSTOPPING=1"),
        vec![Notice::WatchdogTrigger, Notice::Stopping]
    );
    // Unknown keys, bad values and garbage are ignored, as systemd does.
    assert_eq!(
        parse(b"MAINPID=12\nREADY=0\nEXTEND_TIMEOUT_USEC=soon\n\xff\xfe"),
        vec![]
    );
    let long = format!("STATUS={}", "x".repeat(2000));
    let [Notice::Status(status)] = &parse(long.as_bytes())[..] else {
        panic!("one status");
    };
    assert_eq!(status.len(), crate::limits::NOTIFY_STATUS_BYTES_MAX);
}
