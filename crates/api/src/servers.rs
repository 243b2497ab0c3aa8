//! Request bodies of the server edits of a virtual service: `POST
//! /v1/resources/{name}/drain|enable|weight` (an operator's runtime change, like HAProxy's
//! `set server`) and `POST|DELETE /v1/resources/{name}/servers` (an administrator's).

use serde::{Deserialize, Serialize};

/// `POST /v1/resources/{name}/drain|enable|weight`: which server, and its new weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerAction {
    /// The server's name.
    pub server: String,
    /// The new weight (`weight` only; 0 takes no new connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// `POST /v1/resources/{name}/servers`: a real server to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// The server's name, unique in the service.
    pub server: String,
    /// `host:port`.
    pub addr: String,
    /// Its weight (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}
