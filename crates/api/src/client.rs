//! A typed HTTP client for the API, used by the CLI, tests and tools.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::alerts::{AlertSpec, AlertTestResult, Alerts, Incidents};
use crate::fencing::{FenceDeviceSpec, FenceDeviceView, FenceDevices, FenceResult};
use crate::resources::{
    ApplyResult, ClusterSpec, ConstraintSpec, Explanation, GroupSpec, MoveRequest, NodeModeRequest,
    ResourceSpec, ResourceUpdate, ResourceView,
};
use crate::types::{
    CaCert, ErrorBody, Events, Health, JoinRequest, JoinResponse, KvValue, KvWritten, NodeStatus,
    Status,
};

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the encluster API at {url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    /// The server answered with an error status.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// The answer was not the expected JSON.
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
    /// The request was not sent: the client would not address what it was given exactly.
    #[error("{message}")]
    Invalid { message: String },
}

impl ClientError {
    /// The HTTP status of an API error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client for one agent's API, or for several: then a request that cannot connect to
/// one (nothing sent, so safe for writes too) is sent to the next, and the client stays
/// with the one that answered. Cheap to clone; clones share the current address.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Every address, `base` first; more than one only with [`Client::with_fallbacks`].
    bases: Arc<[String]>,
    /// Index in `bases` of the address that answered last.
    current: Arc<std::sync::atomic::AtomicUsize>,
}

impl Client {
    /// A client for `base` (for example `https://127.0.0.1:7501`) that trusts the TLS
    /// configuration given (normally: only the cluster CA) and sends `token` as bearer.
    pub fn new(base: &str, tls: Arc<rustls::ClientConfig>, token: Option<String>) -> Client {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a reqwest client with a preconfigured rustls backend always builds");
        let base = base.trim_end_matches('/').to_string();
        Client {
            http,
            bases: Arc::from(vec![base.clone()]),
            base,
            token,
            current: Arc::default(),
        }
    }

    /// A client for every address of `bases` (the first is tried first): a request that
    /// cannot connect to one goes to the next. An answer, even an error, is final.
    pub fn with_fallbacks(
        bases: &[String],
        tls: Arc<rustls::ClientConfig>,
        token: Option<String>,
    ) -> Client {
        let first = bases.first().map(String::as_str).unwrap_or_default();
        let mut client = Client::new(first, tls, token);
        let bases: Vec<String> = bases
            .iter()
            .map(|base| base.trim_end_matches('/').to_string())
            .collect();
        if !bases.is_empty() {
            client.bases = Arc::from(bases);
        }
        client
    }

    /// The base URL this client talks to first.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The base URL that answered last (the first until one failed).
    pub fn current_base(&self) -> String {
        let index = self.current.load(std::sync::atomic::Ordering::Relaxed);
        self.bases[index % self.bases.len()].clone()
    }

    /// `POST /v1/tokens/join`: stores the hash of a new join token (admin only).
    pub async fn add_join_token(&self, request: &crate::NewJoinToken) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/tokens/join")).json(request);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/tokens/admin`: store the hash of an admin token for the operator `label`.
    pub async fn add_admin_token(&self, request: &crate::NewJoinToken) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/tokens/admin")).json(request);
        self.send_ignoring_body(request).await
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/v1/health").await
    }

    /// `GET /v1/ca`.
    pub async fn ca(&self) -> Result<CaCert, ClientError> {
        self.get("/v1/ca").await
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    // --- upgrade ---
    /// `GET /v1/status?local=true`: the answering node's own view from its replica, never
    /// the master's.
    pub async fn status_local(&self) -> Result<Status, ClientError> {
        self.get("/v1/status?local=true").await
    }

    /// `GET /v1/nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, ClientError> {
        self.get("/v1/nodes").await
    }

    /// `DELETE /v1/nodes/{id}`.
    pub async fn remove_node(&self, id: u64) -> Result<(), ClientError> {
        let request = self.http.delete(self.url(&format!("/v1/nodes/{id}")));
        self.send::<serde_json::Value>(request).await.map(|_| ())
    }

    /// `GET /v1/events?since=N&wait_ms=W`: events from `since`; with `wait_ms`, the server
    /// holds the request until an event arrives or the wait ends (for `--follow`).
    pub async fn events(&self, since: u64, wait_ms: u64) -> Result<Events, ClientError> {
        self.get(&format!("/v1/events?since={since}&wait_ms={wait_ms}"))
            .await
    }

    /// `GET /v1/kv/{key}`; `stale` allows a local, possibly stale read.
    pub async fn kv_get(&self, key: &str, stale: bool) -> Result<KvValue, ClientError> {
        valid_key(key)?;
        let consistency = if stale { "stale" } else { "linearizable" };
        let key = encode_key(key);
        self.get(&format!("/v1/kv/{key}?consistency={consistency}"))
            .await
    }

    /// `PUT /v1/kv/{key}`.
    pub async fn kv_put(&self, key: &str, value: &str) -> Result<KvWritten, ClientError> {
        valid_key(key)?;
        let path = format!("/v1/kv/{}", encode_key(key));
        let request = self.http.put(self.url(&path)).body(value.to_string());
        self.send(request).await
    }

    /// `PUT /v1/kv/{key}` as write `seq` of `session`: applied at most once, however
    /// often it is sent (see `session`).
    pub async fn kv_put_once(
        &self,
        key: &str,
        value: &str,
        session: u64,
        seq: u64,
    ) -> Result<KvWritten, ClientError> {
        valid_key(key)?;
        let path = format!("/v1/kv/{}", encode_key(key));
        let request = self
            .http
            .put(self.url(&path))
            .header(crate::SESSION_HEADER, format!("{session:016x}"))
            .header(crate::SEQ_HEADER, seq.to_string())
            .body(value.to_string());
        self.send(request).await
    }

    /// `GET /v1/lb/{name}/stats`: a virtual service's counters from its director.
    pub async fn lb_stats(&self, name: &str) -> Result<crate::LbStats, ClientError> {
        self.get(&format!("/v1/lb/{}/stats", encode_key(name)))
            .await
    }

    /// `GET /v1/lb/{name}/stats?node=N`: the counters of one node running the service (a
    /// service with several VIPs runs on several nodes, each with counters of its own).
    pub async fn lb_stats_on(&self, name: &str, node: u64) -> Result<crate::LbStats, ClientError> {
        self.get(&format!("/v1/lb/{}/stats?node={node}", encode_key(name)))
            .await
    }

    /// `GET /v1/operations[?resource=NAME]`: the operation log, oldest first, of one
    /// resource or of all; `stale` reads the answering node's own replica.
    pub async fn operations(
        &self,
        resource: Option<&str>,
        stale: bool,
    ) -> Result<crate::Operations, ClientError> {
        let consistency = if stale { "stale" } else { "linearizable" };
        let mut path = format!("/v1/operations?consistency={consistency}");
        if let Some(resource) = resource {
            path.push_str(&format!("&resource={}", encode_key(resource)));
        }
        self.get(&path).await
    }

    /// `POST /v1/join` with the join token as bearer.
    pub async fn join(&self, request: &JoinRequest) -> Result<JoinResponse, ClientError> {
        let request = self.http.post(self.url("/v1/join")).json(request);
        self.send(request).await
    }

    /// `GET /v1/resources`: every resource with its instances.
    pub async fn resources(&self) -> Result<Vec<ResourceView>, ClientError> {
        self.get("/v1/resources").await
    }

    /// `GET /v1/resources/{name}`. A name that a URL path cannot carry (`.` or `..`, from
    /// before such names were refused) is asked for as `GET /v1/resources?name=NAME`.
    pub async fn resource(&self, name: &str) -> Result<ResourceView, ClientError> {
        if !is_dot_segment(name) {
            return self.get(&resource_path(name, "")).await;
        }
        let path = format!("/v1/resources?name={}", encode_segment(name));
        let views: Vec<ResourceView> = self.get(&path).await?;
        views.into_iter().next().ok_or_else(|| ClientError::Api {
            status: 404,
            message: format!("resource {name:?} does not exist"),
        })
    }

    /// `POST /v1/resources`: creates a resource; the agent validates it against its type's
    /// parameter schema and answers 400 with every problem joined by `; `.
    pub async fn create_resource(&self, spec: &ResourceSpec) -> Result<ResourceView, ClientError> {
        let request = self.http.post(self.url("/v1/resources")).json(spec);
        self.send(request).await
    }

    /// `PUT /v1/resources/{name}`: replaces a resource's configuration.
    pub async fn update_resource(
        &self,
        name: &str,
        spec: &ResourceSpec,
    ) -> Result<ResourceView, ClientError> {
        let request = self.http.put(self.url(&resource_path(name, ""))).json(spec);
        self.send(request).await
    }

    /// `PUT /v1/resources/{name}`, with what the update does to running instances; with
    /// `dry_run`, nothing is written and the answer says what the update would do.
    pub async fn update_resource_change(
        &self,
        name: &str,
        spec: &ResourceSpec,
        dry_run: bool,
    ) -> Result<ResourceUpdate, ClientError> {
        let mut url = self.url(&resource_path(name, ""));
        if dry_run {
            url.push_str("?dry_run=true");
        }
        let request = self.http.put(url).json(spec);
        self.send(request).await
    }

    /// `DELETE /v1/resources/{name}`, or `DELETE /v1/resources?name=NAME` for a name that
    /// a URL path cannot carry (`.` or `..`).
    pub async fn delete_resource(&self, name: &str) -> Result<(), ClientError> {
        let path = if is_dot_segment(name) {
            format!("/v1/resources?name={}", encode_segment(name))
        } else {
            resource_path(name, "")
        };
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    /// `POST /v1/resources/{name}/move`: a temporary preference for a node, or away from
    /// where it runs.
    pub async fn move_resource(
        &self,
        name: &str,
        request: &MoveRequest,
    ) -> Result<ResourceView, ClientError> {
        let request = self
            .http
            .post(self.url(&resource_path(name, "/move")))
            .json(request);
        self.send(request).await
    }

    // --- servers ---
    /// `POST /v1/resources/{service}/{action}` with `action` drain, enable or weight: an
    /// operator's runtime change of one real server of a virtual service.
    pub async fn server_action(
        &self,
        service: &str,
        action: &str,
        request: &crate::ServerAction,
    ) -> Result<ResourceView, ClientError> {
        let path = resource_path(service, &format!("/{action}"));
        self.send(self.http.post(self.url(&path)).json(request))
            .await
    }

    /// `POST /v1/resources/{service}/servers`: add a real server.
    pub async fn add_server(
        &self,
        service: &str,
        request: &crate::NewServer,
    ) -> Result<ResourceView, ClientError> {
        let path = resource_path(service, "/servers");
        self.send(self.http.post(self.url(&path)).json(request))
            .await
    }

    /// `DELETE /v1/resources/{service}/servers/{server}`: remove a real server.
    pub async fn remove_server(
        &self,
        service: &str,
        server: &str,
    ) -> Result<ResourceView, ClientError> {
        let path = resource_path(service, &format!("/servers/{}", encode_segment(server)));
        self.send(self.http.delete(self.url(&path))).await
    }

    /// `POST /v1/resources/{name}/start`: sets the target role to started.
    pub async fn start_resource(&self, name: &str) -> Result<ResourceView, ClientError> {
        self.post_empty(&resource_path(name, "/start")).await
    }

    /// `POST /v1/resources/{name}/stop`: sets the target role to stopped.
    pub async fn stop_resource(&self, name: &str) -> Result<ResourceView, ClientError> {
        self.post_empty(&resource_path(name, "/stop")).await
    }

    /// `POST /v1/resources/{name}/cleanup`: forgets fail counts and failures.
    pub async fn cleanup_resource(&self, name: &str) -> Result<ResourceView, ClientError> {
        self.post_empty(&resource_path(name, "/cleanup")).await
    }

    /// `GET /v1/resources/{name}/explain`: why it runs where it runs, or why it is stopped.
    pub async fn explain_resource(&self, name: &str) -> Result<Explanation, ClientError> {
        self.get(&resource_path(name, "/explain")).await
    }

    /// `POST /v1/groups`.
    pub async fn create_group(&self, spec: &GroupSpec) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/groups")).json(spec);
        self.send_ignoring_body(request).await
    }

    /// `PUT /v1/groups/{name}`: changes a group in place (its members and their order),
    /// taking the spec `create_group` takes; answers the group as stored.
    pub async fn update_group(
        &self,
        name: &str,
        spec: &GroupSpec,
    ) -> Result<GroupSpec, ClientError> {
        let path = format!("/v1/groups/{}", encode_segment(name));
        self.send(self.http.put(self.url(&path)).json(spec)).await
    }

    /// `DELETE /v1/groups/{name}`.
    pub async fn delete_group(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/groups/{}", encode_segment(name));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    /// `POST /v1/groups/{name}/move`.
    pub async fn move_group(&self, name: &str, request: &MoveRequest) -> Result<(), ClientError> {
        let path = format!("/v1/groups/{}/move", encode_segment(name));
        let request = self.http.post(self.url(&path)).json(request);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/constraints`.
    pub async fn add_constraint(&self, spec: &ConstraintSpec) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/constraints")).json(spec);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/nodes/{id}/mode`: standby, online, maintenance or ready.
    pub async fn set_node_mode(
        &self,
        id: u64,
        request: &NodeModeRequest,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/nodes/{id}/mode");
        let request = self.http.post(self.url(&path)).json(request);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/apply?dry_run=...`: the changes that make the cluster match `spec`; with
    /// `dry_run`, nothing is changed.
    pub async fn apply(
        &self,
        spec: &ClusterSpec,
        dry_run: bool,
    ) -> Result<ApplyResult, ClientError> {
        let path = format!("/v1/apply?dry_run={dry_run}");
        let request = self.http.post(self.url(&path)).json(spec);
        self.send(request).await
    }

    /// `GET /v1/types`: the resource types the answering node knows.
    pub async fn types(&self) -> Result<crate::TypeList, ClientError> {
        self.get("/v1/types").await
    }

    /// `GET /v1/types/{name}`: a resource type's parameters and actions.
    pub async fn resource_type(&self, name: &str) -> Result<crate::TypeDetail, ClientError> {
        self.get(&format!("/v1/types/{}", encode_segment(name)))
            .await
    }

    // --- types ---
    /// `POST /v1/types`: defines a resource type.
    pub async fn create_type(
        &self,
        spec: &crate::TypeSpec,
    ) -> Result<crate::TypeDetail, ClientError> {
        self.send(self.http.post(self.url("/v1/types")).json(spec))
            .await
    }

    /// `PUT /v1/types/{name}`: changes a resource type; refused while it would make one of
    /// its resources invalid.
    pub async fn update_type(
        &self,
        spec: &crate::TypeSpec,
    ) -> Result<crate::TypeDetail, ClientError> {
        let path = format!("/v1/types/{}", encode_segment(&spec.name));
        self.send(self.http.put(self.url(&path)).json(spec)).await
    }

    /// `DELETE /v1/types/{name}`: deletes a resource type no resource uses.
    pub async fn delete_type(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/types/{}", encode_segment(name));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    // --- mon ---
    /// `GET /v1/incidents`.
    pub async fn incidents(&self) -> Result<Incidents, ClientError> {
        self.get("/v1/incidents").await
    }

    /// `GET /v1/alerts`.
    pub async fn alerts(&self) -> Result<Alerts, ClientError> {
        self.get("/v1/alerts").await
    }

    /// `POST /v1/alerts`: add or replace an alert recipient or rule.
    pub async fn put_alert(&self, spec: &AlertSpec) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/alerts")).json(spec);
        self.send_ignoring_body(request).await
    }

    /// `DELETE /v1/alerts/{name}`.
    pub async fn remove_alert(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/alerts/{}", encode_segment(name));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    /// `POST /v1/alerts/{name}/test`: the master sends one test alert to the recipient.
    pub async fn test_alert(&self, name: &str) -> Result<AlertTestResult, ClientError> {
        self.post_empty(&format!("/v1/alerts/{}/test", encode_segment(name)))
            .await
    }

    // --- users ---
    /// `GET /v1/session`: who this client acts for (its token's label and role).
    pub async fn session(&self) -> Result<crate::SessionInfo, ClientError> {
        self.get("/v1/session").await
    }

    /// `GET /v1/users` (admin only).
    pub async fn users(&self) -> Result<Vec<crate::UserInfo>, ClientError> {
        self.get("/v1/users").await
    }

    /// `POST /v1/users`: add a user (admin only).
    pub async fn add_user(&self, request: &crate::NewUser) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/users")).json(request);
        self.send_ignoring_body(request).await
    }

    /// `PUT /v1/users/{name}/password`: set a user's password; its sessions end.
    pub async fn set_password(
        &self,
        name: &str,
        request: &crate::NewPassword,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/users/{}/password", encode_segment(name));
        let request = self.http.put(self.url(&path)).json(request);
        self.send_ignoring_body(request).await
    }

    /// `PUT /v1/users/{name}/role`: change a user's role.
    pub async fn set_user_role(
        &self,
        name: &str,
        request: &crate::NewRole,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/users/{}/role", encode_segment(name));
        let request = self.http.put(self.url(&path)).json(request);
        self.send_ignoring_body(request).await
    }

    /// `DELETE /v1/users/{name}`: remove a user; its sessions end on every node.
    pub async fn remove_user(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/users/{}", encode_segment(name));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    // --- fence ---
    /// `GET /v1/fence`: fencing devices and history.
    pub async fn fence_devices(&self) -> Result<FenceDevices, ClientError> {
        self.get("/v1/fence").await
    }

    /// `GET /v1/fence/{name}`.
    pub async fn fence_device(&self, name: &str) -> Result<FenceDeviceView, ClientError> {
        self.get(&format!("/v1/fence/{}", encode_segment(name)))
            .await
    }

    /// `POST /v1/fence`: add or replace a fencing device.
    pub async fn put_fence_device(&self, spec: &FenceDeviceSpec) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/fence")).json(spec);
        self.send_ignoring_body(request).await
    }

    /// `DELETE /v1/fence/{name}`.
    pub async fn remove_fence_device(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/fence/{}", encode_segment(name));
        self.send_ignoring_body(self.http.delete(self.url(&path)))
            .await
    }

    /// `POST /v1/tokens`: store the hash of an API token bound to a role (admin only).
    pub async fn add_role_token(&self, request: &crate::NewRoleToken) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/tokens")).json(request);
        self.send_ignoring_body(request).await
    }

    /// `POST /v1/fence/{name}/test`: the master runs the device's `monitor`.
    pub async fn test_fence_device(&self, name: &str) -> Result<FenceResult, ClientError> {
        self.post_empty(&format!("/v1/fence/{}/test", encode_segment(name)))
            .await
    }

    /// `POST /v1/nodes/{node}/fence`: the master fences the node (by name or id).
    pub async fn fence_node(&self, node: &str) -> Result<FenceResult, ClientError> {
        self.post_empty(&format!("/v1/nodes/{}/fence", encode_segment(node)))
            .await
    }

    // --- rotate ---
    /// `GET /v1/certs`: every node's certificate, the CA and a CA change in progress.
    pub async fn certs(&self) -> Result<crate::CertStatus, ClientError> {
        self.get("/v1/certs").await
    }

    /// `POST /v1/certs/rotate`: every node renews its certificate.
    pub async fn rotate_certs(
        &self,
        request: &crate::RotateCerts,
    ) -> Result<crate::RotateAnswer, ClientError> {
        self.send(self.http.post(self.url("/v1/certs/rotate")).json(request))
            .await
    }

    /// `POST /v1/certs/ca/begin`: trust a new CA beside the cluster CA.
    pub async fn begin_ca_change(
        &self,
        request: &crate::BeginCaChange,
    ) -> Result<crate::CaChangeAnswer, ClientError> {
        self.send(self.http.post(self.url("/v1/certs/ca/begin")).json(request))
            .await
    }

    /// `POST /v1/certs/ca/finish`: the new CA replaces the old.
    pub async fn finish_ca_change(&self) -> Result<crate::CaChangeAnswer, ClientError> {
        self.post_empty("/v1/certs/ca/finish").await
    }

    /// `GET /v1/tokens`: the stored tokens, without secrets.
    pub async fn tokens(&self) -> Result<Vec<crate::TokenView>, ClientError> {
        self.get("/v1/tokens").await
    }

    /// `POST /v1/tokens/revoke`: the named tokens stop working on every node.
    pub async fn revoke_tokens(
        &self,
        request: &crate::RevokeTokens,
    ) -> Result<crate::RevokedTokens, ClientError> {
        self.send(self.http.post(self.url("/v1/tokens/revoke")).json(request))
            .await
    }

    /// `POST /v1/tokens/rotate`: replace the API token labelled `label`.
    pub async fn rotate_token(&self, request: &crate::RotateToken) -> Result<(), ClientError> {
        let request = self.http.post(self.url("/v1/tokens/rotate")).json(request);
        self.send_ignoring_body(request).await
    }

    // --- witness ---
    /// `POST /v1/witness`: a certificate for the cluster's witness (admin only).
    pub async fn add_witness(&self) -> Result<crate::WitnessBundle, ClientError> {
        self.post_empty("/v1/witness").await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(self.url(path))).await
    }

    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.post(self.url(path))).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let bytes = self.send_bytes(request).await?;
        serde_json::from_slice(&bytes).map_err(|error| ClientError::Decode {
            url: self.base.clone(),
            detail: error.to_string(),
        })
    }

    /// For calls whose answer carries nothing the caller needs: an empty body (204) or any
    /// JSON is fine, only the status counts.
    async fn send_ignoring_body(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(), ClientError> {
        self.send_bytes(request).await.map(|_| ())
    }

    /// Sends the request with the bearer token; a non-2xx answer becomes `ClientError::Api`
    /// with the agent's `{"error": ...}` message.
    async fn send_bytes(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let (url, response) = self.send_to_one(request).await?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Transport { url, source })?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|body| body.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Api { status, message });
        }
        Ok(bytes.to_vec())
    }
}

impl Client {
    /// Sends `request` to the current address and, when it cannot connect there, to each
    /// other address in turn; returns the address that answered and its answer.
    async fn send_to_one(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(String, reqwest::Response), ClientError> {
        use std::sync::atomic::Ordering;
        let (http, request) = request.build_split();
        let mut request = request.map_err(|source| ClientError::Transport {
            url: self.base.clone(),
            source,
        })?;
        let path = match request.url().query() {
            Some(query) => format!("{}?{query}", request.url().path()),
            None => request.url().path().to_string(),
        };
        let start = self.current.load(Ordering::Relaxed);
        let count = self.bases.len();
        for step in 0..count {
            let index = (start + step) % count;
            let url = self.bases[index].clone();
            let retry = match step + 1 < count {
                true => request.try_clone(),
                false => None,
            };
            let target = format!("{url}{path}");
            if let Ok(parsed) = target.parse() {
                *request.url_mut() = parsed;
            }
            match http.execute(request).await {
                Ok(response) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok((url, response));
                }
                // Nothing was sent when the connection failed, so the next may have it.
                Err(source) if source.is_connect() && retry.is_some() => {
                    request = retry.expect("checked above");
                }
                // Every address refused: name them all.
                Err(source) if source.is_connect() && count > 1 => {
                    let url = self.bases.join(", ");
                    return Err(ClientError::Transport { url, source });
                }
                Err(source) => return Err(ClientError::Transport { url, source }),
            }
        }
        unreachable!("the last address either answers or returns its error")
    }
}

/// The path of a resource, or of one of its actions (`suffix` like `/move`).
fn resource_path(name: &str, suffix: &str) -> String {
    format!("/v1/resources/{}{suffix}", encode_segment(name))
}

/// Whether `name` is a segment that every URL parser removes or resolves (`.` and `..`,
/// also when percent-encoded), so it cannot be sent as a path segment at all.
fn is_dot_segment(name: &str) -> bool {
    name == "." || name == ".."
}

/// Percent-encode one path segment: everything but unreserved characters, `/` included,
/// so a name always stays one segment.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A key that cannot be addressed exactly is refused before anything is sent.
fn valid_key(key: &str) -> Result<(), ClientError> {
    crate::check_kv_key(key).map_err(|message| ClientError::Invalid { message })
}

/// Percent-encode a key for the URL path; `/` stays, so `a/b` reads naturally in logs.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

mod changes;
mod metrics;
pub use metrics::MetricQuery;

#[cfg(test)]
mod tests;
