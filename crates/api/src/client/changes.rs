//! The client calls that list, edit and undo changes: constraints with their ids, bans,
//! clearing moves and bans, and (un)managing a resource.

use super::{Client, ClientError, encode_key, resource_path};
use crate::{BanRequest, ClearRequest, Cleared, ConstraintSpec, ConstraintView, ResourceView};

impl Client {
    /// `GET /v1/constraints`: every declared constraint and every move and ban, with ids.
    pub async fn constraints(&self) -> Result<Vec<ConstraintView>, ClientError> {
        self.get("/v1/constraints").await
    }

    /// `DELETE /v1/constraints/{id}`: removes one constraint, move or ban by its id.
    pub async fn remove_constraint(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/constraints/{}", encode_key(id));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    /// `PUT /v1/constraints/{id}`: replaces a declared constraint in place by `spec`;
    /// answers it as listed, under its new id.
    pub async fn update_constraint(
        &self,
        id: &str,
        spec: &ConstraintSpec,
    ) -> Result<ConstraintView, ClientError> {
        let path = format!("/v1/constraints/{}", encode_key(id));
        self.send(self.http.put(self.url(&path)).json(spec)).await
    }

    /// `POST /v1/resources/{name}/ban`: keeps a resource or group off a node.
    pub async fn ban_resource(&self, name: &str, request: &BanRequest) -> Result<(), ClientError> {
        let request = self
            .http
            .post(self.url(&resource_path(name, "/ban")))
            .json(request);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/resources/{name}/clear`: removes the moves and bans of a resource or group.
    pub async fn clear_resource(
        &self,
        name: &str,
        request: &ClearRequest,
    ) -> Result<Cleared, ClientError> {
        let request = self
            .http
            .post(self.url(&resource_path(name, "/clear")))
            .json(request);
        self.send(request).await
    }

    /// `POST /v1/resources/{name}/unmanage` (`managed` false) or `/manage`.
    pub async fn set_managed(
        &self,
        name: &str,
        managed: bool,
    ) -> Result<ResourceView, ClientError> {
        let action = if managed { "/manage" } else { "/unmanage" };
        self.post_empty(&resource_path(name, action)).await
    }
}

impl Client {
    /// `GET /v1/config`: the declared cluster, as `apply` takes it (`config export`).
    pub async fn config(&self) -> Result<crate::ClusterSpec, ClientError> {
        self.get("/v1/config").await
    }
}
