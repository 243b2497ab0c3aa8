//! Who a request acts for and whether its role may do what it asks (issue 14).
//!
//! A request is authenticated by a bearer API token (its label names the operator; its role
//! is the token's, admin for tokens made before roles) or by the `encluster_session` cookie
//! of a login session (the user's current role). Every route has an entry in [`ROUTES`]
//! with the permission it needs; a route without one is refused (and a unit test walks the
//! router to find it first). A request with the cookie that may change something (any
//! method but GET, HEAD and OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`;
//! a bearer token cannot be sent by a cross-site page, so it needs none.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use cmdb::TokenKind;
use model::{Millis, Permission, Role};

use super::{ApiState, ForwardRequest, bearer, error};
use crate::clock::now_ms;
use crate::limits::API_BODY_BYTES_MAX;

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (the handler checks what it needs itself: a join token, a password).
    Public,
    /// An authenticated request whose role has this permission.
    Needs(Permission),
}

use Access::{Needs, Public};
use Permission::{Admin, Operate, Read};

/// Every route of `api::router` with the access it needs, by method and path pattern.
pub(crate) const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/v1/health", Public),
    ("GET", "/v1/ca", Public),
    ("POST", "/v1/join", Public),
    ("GET", "/v1/status", Needs(Read)),
    ("GET", "/v1/nodes", Needs(Read)),
    ("DELETE", "/v1/nodes/{id}", Needs(Admin)),
    ("GET", "/v1/events", Needs(Read)),
    ("GET", "/v1/kv/{*key}", Needs(Read)),
    ("PUT", "/v1/kv/{*key}", Needs(Admin)),
    ("GET", "/v1/resources", Needs(Read)),
    ("POST", "/v1/resources", Needs(Admin)),
    ("DELETE", "/v1/resources", Needs(Admin)),
    ("GET", "/v1/resources/{name}", Needs(Read)),
    ("PUT", "/v1/resources/{name}", Needs(Admin)),
    ("DELETE", "/v1/resources/{name}", Needs(Admin)),
    ("GET", "/v1/resources/{name}/explain", Needs(Read)),
    ("POST", "/v1/resources/{name}/{action}", Needs(Operate)),
    // Adding and removing a real server changes the configuration; draining, enabling and
    // weighing one are runtime actions (`{action}` above), as HAProxy's `set server` is.
    ("POST", "/v1/resources/{name}/servers", Needs(Admin)),
    (
        "DELETE",
        "/v1/resources/{name}/servers/{server}",
        Needs(Admin),
    ),
    ("POST", "/v1/groups", Needs(Admin)),
    // An edit of a group or a constraint changes the configuration, as creating one does.
    ("PUT", "/v1/groups/{name}", Needs(Admin)),
    ("DELETE", "/v1/groups/{name}", Needs(Admin)),
    ("POST", "/v1/groups/{name}/move", Needs(Operate)),
    ("GET", "/v1/constraints", Needs(Read)),
    ("POST", "/v1/constraints", Needs(Admin)),
    ("PUT", "/v1/constraints/{id}", Needs(Admin)),
    ("DELETE", "/v1/constraints/{id}", Needs(Admin)),
    ("GET", "/v1/config", Needs(Read)),
    ("POST", "/v1/nodes/{id}/mode", Needs(Operate)),
    ("POST", "/v1/apply", Needs(Admin)),
    ("POST", "/v1/tokens/join", Needs(Admin)),
    ("GET", "/v1/lb/{name}/stats", Needs(Read)),
    ("GET", "/v1/metrics", Needs(Read)),
    ("GET", "/v1/metrics/query", Needs(Read)),
    ("GET", "/metrics", Needs(Read)),
    ("GET", "/v1/operations", Needs(Read)),
    ("GET", "/v1/types", Needs(Read)),
    ("GET", "/v1/types/{name}", Needs(Read)),
    ("POST", "/v1/types", Needs(Admin)),
    ("PUT", "/v1/types/{name}", Needs(Admin)),
    ("DELETE", "/v1/types/{name}", Needs(Admin)),
    ("GET", "/v1/incidents", Needs(Read)),
    ("GET", "/v1/alerts", Needs(Read)),
    ("POST", "/v1/alerts", Needs(Admin)),
    ("DELETE", "/v1/alerts/{name}", Needs(Admin)),
    ("POST", "/v1/alerts/{name}/test", Needs(Admin)),
    ("POST", "/v1/tokens/admin", Needs(Admin)),
    // --- fence --- Powering a node off is an administrator's act, as is testing a device.
    ("GET", "/v1/fence", Needs(Read)),
    ("POST", "/v1/fence", Needs(Admin)),
    ("GET", "/v1/fence/{name}", Needs(Read)),
    ("DELETE", "/v1/fence/{name}", Needs(Admin)),
    ("POST", "/v1/fence/{name}/test", Needs(Admin)),
    ("POST", "/v1/nodes/{id}/fence", Needs(Admin)),
    // --- witness --- The witness's certificate carries its private key.
    ("POST", "/v1/witness", Needs(Admin)),
    // --- users ---
    ("POST", "/v1/session", Public),
    ("GET", "/v1/session", Needs(Read)),
    ("DELETE", "/v1/session", Needs(Read)),
    ("GET", "/v1/users", Needs(Admin)),
    ("POST", "/v1/users", Needs(Admin)),
    ("DELETE", "/v1/users/{name}", Needs(Admin)),
    ("PUT", "/v1/users/{name}/password", Needs(Admin)),
    ("PUT", "/v1/users/{name}/role", Needs(Admin)),
    ("POST", "/v1/tokens", Needs(Admin)),
    // --- web ---
    ("GET", "/v1/stream", Needs(Read)),
    // --- rotate --- Certificates and tokens are an administrator's; anyone may see expiry.
    ("GET", "/v1/certs", Needs(Read)),
    ("POST", "/v1/certs/rotate", Needs(Admin)),
    ("POST", "/v1/certs/ca/begin", Needs(Admin)),
    ("POST", "/v1/certs/ca/finish", Needs(Admin)),
    ("GET", "/v1/tokens", Needs(Admin)),
    ("POST", "/v1/tokens/revoke", Needs(Admin)),
    ("POST", "/v1/tokens/rotate", Needs(Admin)),
    // --- openapi --- The document describes the API's shape, no data: anyone may read it.
    ("GET", "/v1/openapi.json", Public),
];

/// The access a route needs; HEAD is a GET without its body.
pub(crate) fn access_of(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, access)| *access)
}

/// Who a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The user's name or the token's label.
    pub(crate) name: String,
    /// What it may do.
    pub(crate) role: Role,
    /// The login session, when the request came with the cookie.
    pub(crate) login: Option<Login>,
}

/// A login session a request came with.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The cookie's secret (to derive the CSRF token and the stored hash).
    pub(crate) secret: String,
    /// When it ends.
    pub(crate) expires_at_ms: Millis,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("secret", &"<secret>")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl Principal {
    /// The refusal of what the role lacks, naming both.
    pub(crate) fn lacks(&self, permission: Permission) -> Option<Response> {
        if self.role.allows(permission) {
            return None;
        }
        let who = match self.login {
            Some(_) => format!("user {:?}", self.name),
            None => format!("token {:?}", self.name),
        };
        Some(error(
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {:?} permission; {who} has role {}",
                permission.name(),
                self.role
            ),
        ))
    }
}

/// Why a request is not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unauthenticated {
    /// Neither a token nor a cookie.
    Missing,
    /// A bearer token that is no API token.
    BadToken,
    /// A cookie of no open login session (ended, expired, or not yet on this replica).
    NoSession,
    // --- rotate ---
    /// A bearer token that was revoked or replaced.
    Revoked,
}

impl Unauthenticated {
    pub(crate) fn response(self) -> Response {
        let message = match self {
            Unauthenticated::Missing => {
                "missing API token: send `Authorization: Bearer <API token>` (the CLI reads \
                 --token or ENCLUSTER_TOKEN), or log in (POST /v1/session)"
            }
            Unauthenticated::BadToken => {
                "the API token was refused: use a token printed by `encluster init` or \
                 `encluster token create`"
            }
            Unauthenticated::NoSession => "your session has ended or expired; log in again",
            Unauthenticated::Revoked => {
                "the API token was revoked or replaced (`encluster token revoke` or \
                 `encluster token rotate`): use the new token `encluster token rotate` \
                 printed, or ask an administrator for one (`encluster token create`)"
            }
        };
        error(StatusCode::UNAUTHORIZED, message)
    }
}

/// The secret of the session cookie, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let prefix = format!("{}=", ::api::SESSION_COOKIE);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(prefix.as_str()))
}

/// Who the request acts for, from its bearer token or else its session cookie.
pub(crate) fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
    now_ms: Millis,
) -> Result<Principal, Unauthenticated> {
    if let Some(token) = bearer(headers) {
        let hash = auth::token_hash(token);
        return state.shared.read(|db| {
            let record = db
                .tokens
                .get(&hash)
                .filter(|record| record.kind == TokenKind::Admin)
                .ok_or(if db.certs.revoked.contains_key(&hash) {
                    Unauthenticated::Revoked
                } else {
                    Unauthenticated::BadToken
                })?;
            let name = if record.label.is_empty() {
                "admin token".to_owned()
            } else {
                record.label.clone()
            };
            let role = db.users.token_role(&hash);
            Ok(Principal {
                name,
                role,
                login: None,
            })
        });
    }
    let secret = session_cookie(headers).ok_or(Unauthenticated::Missing)?;
    if !auth::is_login_secret(secret) {
        return Err(Unauthenticated::NoSession);
    }
    let hash = auth::token_hash(secret);
    state.shared.read(|db| {
        let (user, role, record) = db
            .users
            .login(&hash, now_ms)
            .ok_or(Unauthenticated::NoSession)?;
        Ok(Principal {
            name: user.to_owned(),
            role,
            login: Some(Login {
                secret: secret.to_owned(),
                expires_at_ms: record.expires_at_ms,
            }),
        })
    })
}

/// Whether a method may change state (and so needs the CSRF token with a cookie).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF check of a request that came with the session cookie.
fn csrf_refusal(login: &Login, method: &Method, headers: &HeaderMap) -> Option<Response> {
    if !changes_state(method) {
        return None;
    }
    let Some(given) = headers.get(::api::CSRF_HEADER) else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "missing X-CSRF-Token header: a request with the session cookie that changes \
             something must carry the csrf value that login (or GET /v1/session) returned",
        ));
    };
    let matches = given
        .to_str()
        .is_ok_and(|given| auth::csrf_matches(&login.secret, given));
    (!matches).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "the X-CSRF-Token header does not belong to this session; \
             reload the page (GET /v1/session) to get the current one",
        )
    })
}

/// The middleware on every route: find the route's access, authenticate, check the CSRF
/// token and the permission, and hand the principal to the handler.
pub(crate) async fn authorize(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let Some(access) = access_of(request.method(), &path) else {
        let allowed: Vec<&str> = (ROUTES.iter())
            .filter(|(_, p, _)| *p == path)
            .map(|(m, _, _)| *m)
            .collect();
        if !allowed.is_empty() {
            // A known path with another method: what the router would answer, without
            // ever reaching a handler.
            let message = format!(
                "{} is not allowed on {path}; use {}",
                request.method(),
                allowed.join(" or ")
            );
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, message);
            if let Ok(value) = axum::http::HeaderValue::from_str(&allowed.join(", ")) {
                response
                    .headers_mut()
                    .insert(axum::http::header::ALLOW, value);
            }
            return response;
        }
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "{} {path} has no permission declared (api/access.rs ROUTES); refused",
                request.method()
            ),
        );
    };
    let permission = match access {
        Public => return next.run(request).await,
        Needs(permission) => permission,
    };
    if state.shared.read(|db| db.meta.name.is_empty()) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is still starting (no master has stored its identity yet); retry",
        );
    }
    let principal = match authenticate(&state, request.headers(), now_ms()) {
        Ok(principal) => principal,
        Err(Unauthenticated::NoSession) => return ask_master(&state, request).await,
        Err(refused) => return refused.response(),
    };
    if let Some(login) = &principal.login
        && let Some(refused) = csrf_refusal(login, request.method(), request.headers())
    {
        return refused;
    }
    if let Some(refused) = principal.lacks(permission) {
        return refused;
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// A session this replica does not know may have opened a moment ago on the master: the
/// master decides (a node that knows no master, or the master itself, refuses).
async fn ask_master(state: &ApiState, request: Request) -> Response {
    let Some((master, api_addr)) = super::master_api(state) else {
        return Unauthenticated::NoSession.response();
    };
    if state.raft.is_leader() {
        return Unauthenticated::NoSession.response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, API_BODY_BYTES_MAX).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    };
    let forwarded = ForwardRequest {
        method: parts.method.clone(),
        path_and_query: super::path_of(&parts.uri),
        headers: &parts.headers,
        body,
        write: None,
    };
    match super::forward(state, master, &api_addr, &forwarded).await {
        Ok(response) | Err(response) => response,
    }
}

#[cfg(test)]
mod tests;
