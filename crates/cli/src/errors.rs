//! Turning API client errors into messages that name the problem and the fix.

use std::error::Error as StdError;

use api::ClientError;

use crate::config::{Origin, Target};

/// What went wrong underneath a transport error, as far as the CLI can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportCause {
    /// Nothing listens at the address.
    Refused,
    /// The server's certificate is not signed by the configured cluster CA (or not for
    /// this address).
    Certificate,
    /// The connection or the answer took too long.
    Timeout,
    /// Anything else: reset connections, DNS failures and the like.
    Other,
}

/// Explains a failed API call.
///
/// A transport error keeps its sources (the OS or TLS reason) after the explanation; an
/// answer from the agent already carries the agent's own message.
pub(crate) fn explain(error: ClientError, target: &Target) -> anyhow::Error {
    match error {
        ClientError::Transport { url, source } => {
            let message = explain_transport(&url, transport_cause(&source), target);
            anyhow::Error::new(source).context(message)
        }
        // The agent's own 401 message names the token too, so only the CLI's fix is shown.
        ClientError::Api { status: 401, .. } => {
            anyhow::anyhow!("{}", explain_unauthorized(target.token_origin.as_ref()))
        }
        ClientError::Api {
            status: 403,
            message,
        } => anyhow::anyhow!(
            "the API token is not allowed to do this ({message}): use a token whose role \
            allows it (the admin token printed by `encluster init`, or one from \
            `encluster token create --role`)"
        ),
        ClientError::Api { status, message } => anyhow::anyhow!(
            "the agent at {} refused the request: {message} (HTTP {status})",
            target.api
        ),
        ClientError::Decode { url, detail } => anyhow::anyhow!(
            "the answer from {url} is not what this CLI expects ({detail}): \
            is it an encluster agent of the same version?"
        ),
        ClientError::Invalid { message } => anyhow::anyhow!("nothing was sent: {message}"),
    }
}

/// Explains a failed create, update or apply: a 400 carries every schema problem joined by
/// `; `, shown one per line; other errors are explained as usual.
pub(crate) fn explain_invalid(error: ClientError, target: &Target, what: &str) -> anyhow::Error {
    match error {
        ClientError::Api {
            status: 400,
            message,
        } => {
            let problems: Vec<String> = message
                .split("; ")
                .map(|problem| format!("  - {problem}"))
                .collect();
            anyhow::anyhow!(
                "the agent refused {what}, nothing was changed:\n{}",
                problems.join("\n")
            )
        }
        error => explain(error, target),
    }
}

/// The message for a transport error, naming the fix for its cause.
pub(crate) fn explain_transport(url: &str, cause: TransportCause, target: &Target) -> String {
    match cause {
        TransportCause::Refused => {
            format!("cannot reach the encluster API at {url}: is the agent running?")
        }
        TransportCause::Certificate => {
            let fix = match &target.ca_origin {
                Origin::Argument => "--ca / ENCLUSTER_CA".to_string(),
                Origin::File(path) => format!("`ca` in {}", path.display()),
            };
            format!(
                "the API at {url} presented a certificate that the cluster CA in {} does not \
                vouch for: check {fix} and --api (is it this cluster's agent?)",
                target.ca.display()
            )
        }
        TransportCause::Timeout => {
            format!("the encluster API at {url} did not answer in time: is the agent overloaded?")
        }
        TransportCause::Other => {
            format!("cannot reach the encluster API at {url}: check --api and the network")
        }
    }
}

fn explain_unauthorized(token_origin: Option<&Origin>) -> String {
    match token_origin {
        None => "the API needs a token: pass --token, set ENCLUSTER_TOKEN or put \
            token = \"...\" in the CLI config file (the admin token printed by `encluster init`)"
            .to_string(),
        Some(Origin::Argument) => "the API token was refused: check --token / ENCLUSTER_TOKEN \
            (the admin token printed by `encluster init`)"
            .to_string(),
        Some(Origin::File(path)) => format!(
            "the API token from {} was refused: fix `token` there or pass --token / \
            ENCLUSTER_TOKEN (the admin token printed by `encluster init`)",
            path.display()
        ),
    }
}

/// Finds the cause of a transport error by walking its sources.
///
/// `std::io::Error::source` skips the error it wraps, and the TLS error sits inside two
/// nested IO errors, so an IO error's next link is its inner error (`get_ref`).
pub(crate) fn transport_cause(error: &(dyn StdError + 'static)) -> TransportCause {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut cause = TransportCause::Other;
    while let Some(error) = current {
        if is_certificate_error(error) {
            return TransportCause::Certificate;
        }
        let io_error = error.downcast_ref::<std::io::Error>();
        match io_error.map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => return TransportCause::Refused,
            Some(std::io::ErrorKind::TimedOut) => cause = TransportCause::Timeout,
            _ if error.to_string().contains("timed out") => cause = TransportCause::Timeout,
            _ => {}
        }
        current = match io_error.and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => error.source(),
        };
    }
    cause
}

fn is_certificate_error(error: &(dyn StdError + 'static)) -> bool {
    matches!(
        error.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}
