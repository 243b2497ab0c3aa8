//! Users, their login sessions, and the roles of API tokens (issue 14).
//!
//! A user has a role and an argon2id password hash (made by the API, which alone sees the
//! password; the cmdb only checks the hash's shape). A login session is stored as the
//! SHA-256 of its secret with its user and expiry, so a logout or a `user remove` on any
//! node revokes it on every node. An API token's role is kept beside the token table: a
//! token without an entry is an admin token, as every token was before roles existed.
//!
//! Expiry is judged by the reader with its own clock; expired sessions are dropped when a
//! new one opens, by the proposing master's timestamp, so every replica drops the same.

use std::collections::BTreeMap;

use model::{Millis, Role};
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::limits::{LOGINS_MAX, LOGINS_PER_USER_MAX, PASSWORD_HASH_BYTES_MAX, USERS_MAX};

/// A user of the API, the CLI and the web UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// What the user may do.
    pub role: Role,
    /// The argon2id hash of the password, as a PHC string. Never served by the API.
    pub password_hash: String,
    /// When the user was added.
    pub created_at_ms: Millis,
    /// When the password was last set.
    pub password_set_at_ms: Millis,
}

/// A login session, stored under the SHA-256 of its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRecord {
    /// Whose session it is.
    pub user: String,
    /// When it was opened (the master's clock).
    pub created_at_ms: Millis,
    /// When it ends (wall clock).
    pub expires_at_ms: Millis,
}

/// Users, login sessions and token roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserDb {
    /// Users by name.
    pub users: BTreeMap<String, UserRecord>,
    /// Login sessions by the SHA-256 of their secret (lower-case hex).
    pub logins: BTreeMap<String, LoginRecord>,
    /// Roles of API tokens by token hash; a token not listed is an admin token.
    pub token_roles: BTreeMap<String, Role>,
}

impl UserDb {
    /// The role of the API token with this hash (admin when none was given).
    pub fn token_role(&self, hash: &str) -> Role {
        self.token_roles.get(hash).copied().unwrap_or(Role::Admin)
    }

    /// The user and role of an unexpired login session.
    pub fn login(&self, hash: &str, now_ms: Millis) -> Option<(&str, Role, &LoginRecord)> {
        let login = self.logins.get(hash)?;
        if login.expires_at_ms <= now_ms {
            return None;
        }
        let user = self.users.get(&login.user)?;
        Some((login.user.as_str(), user.role, login))
    }

    pub(crate) fn add_user(
        &mut self,
        name: String,
        role: Role,
        password_hash: String,
        at_ms: Millis,
    ) -> CommandResult {
        if let Err(reason) = check_user_name(&name).and(check_hash(&password_hash)) {
            return CommandResult::Rejected(reason);
        }
        if self.users.contains_key(&name) {
            return CommandResult::Rejected(format!(
                "user {name:?} exists; change its password with `encluster user passwd {name}`"
            ));
        }
        if self.users.len() >= USERS_MAX {
            return CommandResult::Rejected(format!("too many users (limit {USERS_MAX})"));
        }
        let record = UserRecord {
            role,
            password_hash,
            created_at_ms: at_ms,
            password_set_at_ms: at_ms,
        };
        self.users.insert(name, record);
        CommandResult::Ok
    }

    /// A new password ends every session of the user: whoever knew the old one is out.
    pub(crate) fn set_password(
        &mut self,
        name: &str,
        password_hash: String,
        at_ms: Millis,
    ) -> CommandResult {
        if let Err(reason) = check_hash(&password_hash) {
            return CommandResult::Rejected(reason);
        }
        let Some(user) = self.users.get_mut(name) else {
            return unknown_user(name);
        };
        user.password_hash = password_hash;
        user.password_set_at_ms = at_ms;
        self.logins.retain(|_, login| login.user != name);
        CommandResult::Ok
    }

    pub(crate) fn set_role(&mut self, name: &str, role: Role) -> CommandResult {
        let Some(user) = self.users.get_mut(name) else {
            return unknown_user(name);
        };
        user.role = role;
        CommandResult::Ok
    }

    /// Removing a user ends its sessions on every node.
    pub(crate) fn remove_user(&mut self, name: &str) -> CommandResult {
        if self.users.remove(name).is_none() {
            return unknown_user(name);
        }
        self.logins.retain(|_, login| login.user != name);
        CommandResult::Ok
    }

    pub(crate) fn open_login(
        &mut self,
        hash: String,
        user: String,
        expires_at_ms: Millis,
        at_ms: Millis,
    ) -> CommandResult {
        if let Err(reason) = check_digest(&hash) {
            return CommandResult::Rejected(reason);
        }
        if !self.users.contains_key(&user) {
            return unknown_user(&user);
        }
        if expires_at_ms <= at_ms {
            return CommandResult::Rejected("a login session must end after it opens".into());
        }
        self.logins.retain(|_, login| login.expires_at_ms > at_ms);
        let of_user = |logins: &BTreeMap<String, LoginRecord>| {
            logins.values().filter(|login| login.user == user).count()
        };
        while of_user(&self.logins) >= LOGINS_PER_USER_MAX {
            self.drop_oldest(Some(&user));
        }
        while self.logins.len() >= LOGINS_MAX {
            self.drop_oldest(None);
        }
        let record = LoginRecord {
            user,
            created_at_ms: at_ms,
            expires_at_ms,
        };
        self.logins.insert(hash, record);
        CommandResult::Ok
    }

    /// Closing an unknown or expired session succeeds: the outcome is the same.
    pub(crate) fn close_login(&mut self, hash: &str) -> CommandResult {
        self.logins.remove(hash);
        CommandResult::Ok
    }

    /// The oldest session (of `user`, or of anyone) gives way to a new one.
    fn drop_oldest(&mut self, user: Option<&str>) {
        let oldest = self
            .logins
            .iter()
            .filter(|(_, login)| user.is_none_or(|user| login.user == user))
            .min_by_key(|(hash, login)| (login.created_at_ms, (*hash).clone()))
            .map(|(hash, _)| hash.clone());
        if let Some(hash) = oldest {
            self.logins.remove(&hash);
        }
    }
}

fn unknown_user(name: &str) -> CommandResult {
    CommandResult::Rejected(format!(
        "user {name:?} does not exist; see `encluster user list`"
    ))
}

/// The names the API accepts: those of resources and nodes (`model::check_name`).
fn check_user_name(name: &str) -> Result<(), String> {
    model::check_name(model::NameKind::User, name).map_err(|invalid| invalid.to_string())
}

fn check_hash(hash: &str) -> Result<(), String> {
    if !hash.starts_with("$argon2id$") || hash.len() > PASSWORD_HASH_BYTES_MAX {
        return Err("a password must be stored as an argon2id PHC string".into());
    }
    Ok(())
}

fn check_digest(hash: &str) -> Result<(), String> {
    let hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err("a login session is stored as 64 lower-case hex digits".into());
    }
    Ok(())
}
