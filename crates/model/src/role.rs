//! Roles and permissions: what a user or an API token may do through the API, the CLI and
//! the web UI alike (issue 14).
//!
//! Three roles, each a superset of the one before: `viewer` reads, `operator` also runs the
//! cluster (moves, starts and stops, node modes, drains, cleanups, bans), `admin` also
//! changes the configuration, users and tokens. Every API route needs one permission.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role of a user or an API token. Persisted in the cmdb: variants are only appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Reads, and carries out runtime actions.
    Operator,
    /// Everything.
    Admin,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Read the cluster's state, configuration, events and metrics.
    Read,
    /// Runtime actions: move, start and stop, standby, online and maintenance, drain,
    /// cleanup, ban and clear.
    Operate,
    /// Change the configuration, users, tokens and membership.
    Admin,
}

/// Every role, from the least to the most allowed.
pub const ROLES: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

impl Role {
    /// The permissions this role has, in order.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Viewer => &[Permission::Read],
            Role::Operator => &[Permission::Read, Permission::Operate],
            Role::Admin => &[Permission::Read, Permission::Operate, Permission::Admin],
        }
    }

    /// Whether this role has `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// The role's name as operators type it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The least role that has `permission`.
    pub fn least_with(permission: Permission) -> Role {
        match permission {
            Permission::Read => Role::Viewer,
            Permission::Operate => Role::Operator,
            Permission::Admin => Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role name that is none of the roles.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("role {text:?} is unknown: use viewer, operator or admin")]
pub struct UnknownRole {
    /// What was given.
    pub text: String,
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Role, UnknownRole> {
        ROLES
            .into_iter()
            .find(|role| role.name() == text.trim())
            .ok_or_else(|| UnknownRole {
                text: text.to_owned(),
            })
    }
}

impl Permission {
    /// The permission's name, as the API's refusals and the session's list say it.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Operate => "operate",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_the_permissions_of_the_roles_below_it() {
        for (index, role) in ROLES.into_iter().enumerate() {
            for lower in &ROLES[..index] {
                for permission in lower.permissions() {
                    assert!(role.allows(*permission), "{role} lacks {permission}");
                }
            }
        }
        assert!(!Role::Viewer.allows(Permission::Operate));
        assert!(!Role::Operator.allows(Permission::Admin));
    }

    #[test]
    fn role_names_parse_back_and_others_are_refused() {
        for role in ROLES {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
            assert_eq!(
                Role::least_with(*role.permissions().last().expect("one")),
                role
            );
        }
        let refused = "root".parse::<Role>().expect_err("no such role");
        assert_eq!(
            refused.to_string(),
            "role \"root\" is unknown: use viewer, operator or admin"
        );
    }
}
