//! Users, login sessions and role-bound API tokens (issue 14): the wire types of
//! `/v1/session`, `/v1/users` and `/v1/tokens`.
//!
//! A browser logs in with `POST /v1/session` and gets the `encluster_session` cookie
//! (`Secure; HttpOnly; SameSite=Strict`) and a CSRF token; every state-changing request it
//! makes with the cookie carries the token in [`CSRF_HEADER`]. Tools use bearer tokens,
//! which need no CSRF token. Roles are `viewer`, `operator` and `admin`.

use serde::{Deserialize, Serialize};

/// The cookie that carries a login session's secret.
pub const SESSION_COOKIE: &str = "encluster_session";
/// The header that carries a login session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `POST /v1/session` request: log in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The user's name.
    pub user: String,
    /// The user's password.
    pub password: String,
    /// How long the session should last, in seconds, if shorter than the server's default
    /// (8 hours; at most 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<u64>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user", &self.user)
            .field("password", &"<secret>")
            .field("lifetime_s", &self.lifetime_s)
            .finish()
    }
}

/// `POST` and `GET /v1/session`: who the request acts for and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The user's name, or the API token's label.
    pub user: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// What the role allows: `read`, `operate`, `admin`.
    pub permissions: Vec<String>,
    /// The CSRF token to send in `X-CSRF-Token` with every state-changing request; empty
    /// for a bearer token, which needs none.
    pub csrf: String,
    /// When the login session ends (ms since the Unix epoch); 0 for a bearer token.
    pub expires_at_ms: u64,
    /// `session` (the cookie) or `token` (a bearer token).
    #[serde(default)]
    pub via: String,
}

/// One user, as `GET /v1/users` lists it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user's name.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// When the user was added (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// When the password was last set.
    pub password_set_at_ms: u64,
    /// Login sessions open now.
    pub sessions: usize,
}

/// `POST /v1/users` request: add a user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// The name, like a node's: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// The password (8 to 1024 bytes); the server stores only its argon2id hash.
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password", &"<secret>")
            .finish()
    }
}

/// `PUT /v1/users/{name}/password` request: set a user's password (ends its sessions).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    /// The new password.
    pub password: String,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword { password: <secret> }")
    }
}

/// `PUT /v1/users/{name}/role` request: change a user's role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewRole {
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// `POST /v1/tokens` request: store a new API token bound to a role, of which only the hash
/// travels (the CLI makes the secret and prints it once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewRoleToken {
    /// SHA-256 of the token, 64 lower-case hex digits.
    pub hash: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// The operator or tool it is for; names its changes in the event log. Unique.
    pub label: String,
}
