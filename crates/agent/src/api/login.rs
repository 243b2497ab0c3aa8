//! `/v1/session`: log in, say who a request acts for, log out (issue 14).
//!
//! A login is decided on the master (forwarded there like a write): it keeps the book of
//! failed logins ([`throttle`]), checks the password against the user's argon2id hash off
//! the async runtime (at most `PASSWORD_CHECKS_MAX` at once), and opens the session in the
//! cmdb, so every node knows it. The secret goes back only in the `encluster_session`
//! cookie; the body carries the user, role, permissions, CSRF token and expiry. A logout
//! removes the session from the cmdb, which ends it on every node.

mod throttle;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cmdb::{Command, CommandResult};
use tokio::sync::Semaphore;

use super::access::Principal;
use super::{ApiState, ForwardRequest, WriteId, error, on_master, propose};
use crate::clock::{boot_ms, now_ms};
use crate::limits::{LOGIN_LIFETIME_DEFAULT, LOGIN_LIFETIME_MAX, PASSWORD_CHECKS_MAX};
use throttle::LoginThrottle;

/// What logins share on a node: the failure book (used while it is master) and the bound
/// on password checks running at once.
pub(crate) struct LoginGate {
    throttle: Mutex<LoginThrottle>,
    checks: Semaphore,
}

impl LoginGate {
    pub(crate) fn new() -> Arc<LoginGate> {
        Arc::new(LoginGate {
            throttle: Mutex::new(LoginThrottle::default()),
            checks: Semaphore::new(PASSWORD_CHECKS_MAX),
        })
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        self.throttle.lock().expect("login throttle lock poisoned")
    }

    /// Whether `password` matches `hash`; with no hash (no such user) a dummy hash is
    /// checked, so an unknown name takes as long as a wrong password.
    async fn verify(&self, password: &str, hash: Option<String>) -> bool {
        let _permit = self
            .checks
            .acquire()
            .await
            .expect("the password-check semaphore is never closed");
        let password = password.to_owned();
        let check = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => auth::verify_password(&password, &hash),
            None => {
                let _ = auth::verify_password(&password, dummy_hash());
                false
            }
        });
        check.await.unwrap_or(false)
    }
}

/// A hash of no one's password, made once, for logins under unknown names.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| auth::hash_password(&auth::generate_login_secret()))
}

/// `POST /v1/session`: log in with a user name and password.
pub(crate) async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ::api::LoginRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("bad login request: {e}; expected {{\"user\": ..., \"password\": ...}}"),
            );
        }
    };
    let lifetime = match request.lifetime_s {
        None => LOGIN_LIFETIME_DEFAULT,
        Some(seconds) if (1..=LOGIN_LIFETIME_MAX.as_secs()).contains(&seconds) => {
            Duration::from_secs(seconds)
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "lifetime_s: must be 1 to {} seconds",
                    LOGIN_LIFETIME_MAX.as_secs()
                ),
            );
        }
    };
    let mut write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    // The session is opened in the user's name: the event says who logged in.
    write.actor = Some(
        request
            .user
            .chars()
            .take(cmdb::ACTOR_BYTES_MAX / 4)
            .collect(),
    );
    let forward = ForwardRequest {
        method: Method::POST,
        path_and_query: "/v1/session".into(),
        headers: &headers,
        body: body.clone(),
        write: Some(&write),
    };
    on_master(&state, &forward, || {
        login_here(&state, &write, &request, lifetime)
    })
    .await
}

async fn login_here(
    state: &ApiState,
    write: &WriteId,
    request: &::api::LoginRequest,
    lifetime: Duration,
) -> Option<Response> {
    let user = request.user.as_str();
    if let Err(wait) = state.logins.throttle().check(user, boot_ms()) {
        return Some(locked(user, wait));
    }
    let hash = state.shared.read(|db| {
        db.users
            .users
            .get(user)
            .map(|record| record.password_hash.clone())
    });
    if !state.logins.verify(&request.password, hash).await {
        let (lockout, failures) = state.logins.throttle().failure(user, boot_ms());
        tracing::warn!(user, lockout_s = lockout.as_secs(), "Login refused");
        if !lockout.is_zero() {
            // The lockout is an event (alerts see it); a failed write only loses the event.
            let event = model::EventKind::LoginLocked {
                user: user.chars().take(cmdb::ACTOR_BYTES_MAX / 4).collect(),
                failures,
                lockout_s: lockout.as_secs(),
            };
            let record = Command::RecordEvents {
                at_ms: now_ms(),
                events: vec![event],
            };
            if let Some(Err(_)) | None = propose(state, record).await {
                tracing::warn!(user, "Could not record the lockout event");
            }
        }
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    }
    state.logins.throttle().success(user);
    let secret = auth::generate_login_secret();
    let at_ms = now_ms();
    let expires_at_ms = at_ms.saturating_add(lifetime.as_millis() as u64);
    let open = Command::OpenLogin {
        hash: auth::token_hash(&secret),
        user: user.to_owned(),
        expires_at_ms,
        at_ms,
    };
    match propose(state, write.command(0, open)).await? {
        Ok(CommandResult::Rejected(_)) => {
            // The user was removed between the check and the write.
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ));
        }
        Ok(_) => {}
        Err(response) => return Some(response),
    }
    tracing::info!(user, "User logged in");
    let role = state
        .shared
        .read(|db| db.users.users.get(user).map(|record| record.role))?;
    let principal = Principal {
        name: user.to_owned(),
        role,
        login: Some(super::access::Login {
            secret: secret.clone(),
            expires_at_ms,
        }),
    };
    let cookie = session_cookie(&secret, lifetime.as_secs());
    Some(
        (
            [(header::SET_COOKIE, cookie)],
            Json(session_info(&principal)),
        )
            .into_response(),
    )
}

fn locked(user: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_millis() > 0);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "too many failed logins for user {user:?}: try again in {seconds} s \
             (ask an admin to check the events if this was not you)"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The cookie that carries a session's secret, or ends it (`max_age_s` 0).
fn session_cookie(secret: &str, max_age_s: u64) -> HeaderValue {
    let cookie = format!(
        "{}={secret}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}",
        ::api::SESSION_COOKIE
    );
    HeaderValue::from_str(&cookie).expect("a hex secret and numbers make a valid header")
}

/// What `/v1/session` says about a principal.
fn session_info(principal: &Principal) -> ::api::SessionInfo {
    let (csrf, expires_at_ms, via) = match &principal.login {
        Some(login) => (
            auth::csrf_token(&login.secret),
            login.expires_at_ms,
            "session",
        ),
        None => (String::new(), 0, "token"),
    };
    ::api::SessionInfo {
        user: principal.name.clone(),
        role: principal.role.name().to_owned(),
        permissions: principal
            .role
            .permissions()
            .iter()
            .map(|permission| permission.name().to_owned())
            .collect(),
        csrf,
        expires_at_ms,
        via: via.to_owned(),
    }
}

/// `GET /v1/session`: who this request acts for.
pub(crate) async fn show(Extension(principal): Extension<Principal>) -> Response {
    Json(session_info(&principal)).into_response()
}

/// `DELETE /v1/session`: log out; the session ends on every node and the cookie is cleared.
pub(crate) async fn logout(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let cleared = || {
        (
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, session_cookie("", 0))],
        )
            .into_response()
    };
    let Some(login) = principal.login else {
        // A bearer token is no session: nothing to end.
        return cleared();
    };
    let write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let forward = ForwardRequest {
        method: Method::DELETE,
        path_and_query: "/v1/session".into(),
        headers: &headers,
        body: Bytes::new(),
        write: Some(&write),
    };
    let hash = auth::token_hash(&login.secret);
    on_master(&state, &forward, || async {
        let close = Command::CloseLogin { hash: hash.clone() };
        Some(match propose(&state, write.command(0, close)).await? {
            Ok(_) => {
                tracing::info!(user = %principal.name, "User logged out");
                cleared()
            }
            Err(response) => response,
        })
    })
    .await
}
