//! Error explanations: each names the problem and where to fix it.
//!
//! Errors are built by hand here; `fake_agent` checks the same paths over real connections.

use std::path::PathBuf;

use api::ClientError;
use expect_test::expect;

use crate::config::{Origin, Target};
use crate::errors::{TransportCause, explain, transport_cause};

fn target(token_origin: Option<Origin>) -> Target {
    Target {
        api: "https://127.0.0.11:7511".to_string(),
        apis: vec!["https://127.0.0.11:7511".to_string()],
        token: token_origin.as_ref().map(|_| "enc_api_x".to_string()),
        token_origin,
        ca: PathBuf::from("/etc/encluster/ca.pem"),
        ca_origin: Origin::File(PathBuf::from("/etc/encluster/cli.toml")),
    }
}

fn api_error(status: u16, message: &str) -> ClientError {
    ClientError::Api {
        status,
        message: message.to_string(),
    }
}

#[test]
fn unauthorized_names_where_the_token_came_from() {
    let file = Some(Origin::File(PathBuf::from(
        "/home/u/.config/encluster/cli.toml",
    )));
    let messages: Vec<String> = [None, Some(Origin::Argument), file]
        .into_iter()
        .map(|origin| explain(api_error(401, "bad token"), &target(origin)))
        .map(|error| super::wrap(&format!("{error:#}")))
        .collect();
    expect![[r#"
        the API needs a token: pass --token, set ENCLUSTER_TOKEN or put token = "..." in
        the CLI config file (the admin token printed by `encluster init`)

        the API token was refused: check --token / ENCLUSTER_TOKEN (the admin token
        printed by `encluster init`)

        the API token from /home/u/.config/encluster/cli.toml was refused: fix `token`
        there or pass --token / ENCLUSTER_TOKEN (the admin token printed by `encluster
        init`)"#]]
    .assert_eq(&messages.join("\n\n"));
}

#[test]
fn other_answers_carry_the_agents_message() {
    let target = target(Some(Origin::Argument));
    let errors = [
        api_error(403, "read-only token"),
        api_error(503, "no master"),
        ClientError::Decode {
            url: "https://h:1".to_string(),
            detail: "missing field".to_string(),
        },
    ];
    let messages: Vec<String> = errors
        .into_iter()
        .map(|error| super::wrap(&format!("{:#}", explain(error, &target))))
        .collect();
    expect![[r#"
        the API token is not allowed to do this (read-only token): use a token whose
        role allows it (the admin token printed by `encluster init`, or one from
        `encluster token create --role`)

        the agent at https://127.0.0.11:7511 refused the request: no master (HTTP 503)

        the answer from https://h:1 is not what this CLI expects (missing field): is it
        an encluster agent of the same version?"#]]
    .assert_eq(&messages.join("\n\n"));
}

/// An error with a source, like hyper's error around the connector's IO error.
#[derive(Debug)]
struct Wrapper(std::io::Error);

impl std::fmt::Display for Wrapper {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("client error (Connect)")
    }
}

impl std::error::Error for Wrapper {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn nested(inner: std::io::Error) -> Wrapper {
    Wrapper(std::io::Error::other(inner))
}

#[test]
fn transport_cause_looks_inside_nested_io_errors() {
    use std::io::{Error, ErrorKind};
    let certificate = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    let cases = [
        (
            nested(Error::new(ErrorKind::InvalidData, certificate)),
            TransportCause::Certificate,
        ),
        (
            nested(Error::from(ErrorKind::ConnectionRefused)),
            TransportCause::Refused,
        ),
        (
            nested(Error::from(ErrorKind::TimedOut)),
            TransportCause::Timeout,
        ),
        (
            nested(Error::from(ErrorKind::ConnectionReset)),
            TransportCause::Other,
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(transport_cause(&error), expected, "{error:?}");
    }
}
