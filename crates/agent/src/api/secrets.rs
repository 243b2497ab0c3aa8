//! Secrets in answers are for administrators: a viewer or an operator reads the cluster's
//! configuration with the values of secret parameters hidden (a fence device's `password`,
//! a database agent's `replication_passwd`, an SNMP `community`) and a webhook's URL
//! without its credentials and query, as an operator of Pacemaker's ACLs would deny them
//! the CIB's secrets. A layer inside `access::authorize` rewrites the JSON answers of
//! principals without the `admin` permission; what an administrator reads is unchanged,
//! so `config export` round-trips for them.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use model::Permission;
use serde_json::Value;

use super::access::Principal;
use super::error;

/// What a hidden value reads as.
pub(crate) const HIDDEN: &str = "(hidden)";

/// Largest answer rewritten (a status of thousands of resources fits).
const ANSWER_BYTES_MAX: usize = 64 << 20;

/// Whether a parameter's name says its value is a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "credential",
        "community",
        "private",
        "apikey",
        "api_key",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A URL without the user and password and without the query (where tokens travel).
pub(crate) fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    let hidden = host.len() != authority.len() || url.contains(['?', '#']);
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    let marker = if hidden {
        format!(" {HIDDEN}")
    } else {
        String::new()
    };
    format!("{scheme}{host}{path}{marker}")
}

/// Hide the secrets in one JSON answer, in place.
pub(crate) fn hide(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                match (key.as_str(), inner) {
                    ("params", Value::Object(params)) => {
                        for (name, param) in params.iter_mut() {
                            if is_secret_name(name) && param.is_string() {
                                *param = Value::String(HIDDEN.into());
                            }
                        }
                    }
                    ("webhook" | "url", Value::String(url)) => *url = without_credentials(url),
                    (_, inner) => hide(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide),
        _ => {}
    }
}

/// The layer: answers to a principal without `admin` have their secrets hidden.
pub(crate) async fn hide_for_non_admins(request: Request, next: Next) -> Response {
    let admin = (request.extensions().get::<Principal>())
        .is_none_or(|principal| principal.role.permissions().contains(&Permission::Admin));
    let response = next.run(request).await;
    let json = (response.headers().get(header::CONTENT_TYPE))
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"));
    if admin || !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ANSWER_BYTES_MAX).await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the answer was too large to hide its secrets in; ask an administrator",
        );
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    hide(&mut value);
    let body = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameters_are_hidden_wherever_they_sit() {
        let mut answer = serde_json::json!({
            "resources": [{"spec": {"name": "db", "params": {
                "replication_passwd": "s3cret", "binary": "/usr/bin/mysqld"}}}],
            "fence": {"devices": [{"name": "ipmi", "params": {
                "ip": "10.0.0.9", "password": "admin", "snmp_community": "public"}}]},
            "alerts": [{"name": "hook", "webhook": "https://bot:pw@hooks.example/x?token=t"}],
        });
        hide(&mut answer);
        let text = answer.to_string();
        for secret in ["s3cret", "\"admin\"", "public", "bot", "pw@", "token=t"] {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
        for kept in [
            "/usr/bin/mysqld",
            "10.0.0.9",
            "https://hooks.example/x (hidden)",
        ] {
            assert!(text.contains(kept), "{kept} hidden in {text}");
        }
    }

    #[test]
    fn a_url_without_credentials_is_left_as_it_is() {
        let plain = "http://127.0.0.1:9093/api/v2/alerts";
        assert_eq!(without_credentials(plain), plain);
    }
}
