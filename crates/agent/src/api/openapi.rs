//! The OpenAPI 3.1 document of the REST API (issue 15), served at `GET /v1/openapi.json`.
//!
//! The schemas are derived from the `api` crate's types (`utoipa::ToSchema`), the same
//! types the handlers and the CLI serialize, so a field added there is in the document.
//! The operations are the table [`OPERATIONS`]: each route of [`super::access::ROUTES`]
//! with what it takes and answers. A unit test checks that the table and `ROUTES` name the
//! same routes both ways, and that the document kept in the repository
//! (`docs/openapi.json`) is this one; Schemathesis checks the live API against it.

use std::borrow::Cow;
use std::sync::OnceLock;

use ::api as wire;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use super::access::{Access, ROUTES};

/// Collected component schemas.
type Schemas = Vec<(String, RefOr<Schema>)>;

/// A body of a request or an answer.
#[derive(Clone, Copy)]
enum Body {
    /// None (an empty request).
    Empty,
    /// JSON of a type (the function adds its schemas and returns a reference).
    Json(fn(&mut Schemas) -> RefOr<Schema>),
    /// Text of a media type.
    Text(&'static str),
    /// No body, and the answer's status is 204.
    NoContent,
}

/// One operation: method, path pattern, what it does, its query, its request and its answer.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, Type, &'static str)],
    request: Body,
    ok: Body,
}

/// A JSON body of `T`.
fn json<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// A JSON array of `T`.
fn list<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    let item = json::<T>(schemas);
    ArrayBuilder::new().items(item).build().into()
}

/// Any JSON object (answers whose fields the API does not promise).
fn object(_: &mut Schemas) -> RefOr<Schema> {
    ObjectBuilder::new().build().into()
}

use Body::{Empty, Json, NoContent, Text};
use Type::{Boolean, Integer};
const S: Type = Type::String;

/// `?consistency=stale` for reads that are linearizable by default.
const CONSISTENCY: (&str, Type, &str) = (
    "consistency",
    S,
    "`linearizable` (the default) or `stale` (this node's copy)",
);
/// `?node=N`: the node whose figures to show.
const NODE: (&str, Type, &str) = ("node", Integer, "the node whose figures to show");
/// `?dry_run=true`: answer what the write would do and write nothing.
const DRY_RUN: (&str, Type, &str) = ("dry_run", Boolean, "answer and write nothing");
/// `?name=NAME` of a resource.
const NAME: (&str, Type, &str) = ("name", S, "a resource's name");

/// Every operation of the API, in the order of `access::ROUTES`.
const OPERATIONS: &[Op] = &[
    op(
        "GET",
        "/v1/health",
        "This node's health",
        &[],
        Empty,
        Json(json::<wire::Health>),
    ),
    op(
        "GET",
        "/v1/ca",
        "The cluster's CA certificate",
        &[],
        Empty,
        Json(json::<wire::CaCert>),
    ),
    op(
        "POST",
        "/v1/join",
        "Join with a join token (the bearer) and a CSR",
        &[],
        Json(json::<wire::JoinRequest>),
        Json(json::<wire::JoinResponse>),
    ),
    op(
        "GET",
        "/v1/status",
        "The cluster's status",
        &[("local", Boolean, "this node's own view")],
        Empty,
        Json(json::<wire::Status>),
    ),
    op(
        "GET",
        "/v1/nodes",
        "The nodes",
        &[],
        Empty,
        Json(list::<wire::NodeStatus>),
    ),
    op(
        "DELETE",
        "/v1/nodes/{id}",
        "Remove a node (by name or id)",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "GET",
        "/v1/events",
        "Events from a sequence number, waiting for one up to wait_ms",
        &[
            ("since", Integer, "first event"),
            ("wait_ms", Integer, "longest wait"),
            ("limit", Integer, "most events"),
        ],
        Empty,
        Json(json::<wire::Events>),
    ),
    op(
        "GET",
        "/v1/kv/{*key}",
        "A key's value",
        &[CONSISTENCY],
        Empty,
        Json(json::<wire::KvValue>),
    ),
    op(
        "PUT",
        "/v1/kv/{*key}",
        "Set a key (the body is the value, UTF-8)",
        &[],
        Text("text/plain"),
        Json(json::<wire::KvWritten>),
    ),
    op(
        "GET",
        "/v1/resources",
        "Every resource with its instances",
        &[NAME],
        Empty,
        Json(list::<wire::ResourceView>),
    ),
    op(
        "POST",
        "/v1/resources",
        "Create a resource",
        &[],
        Json(json::<wire::ResourceSpec>),
        Json(json::<wire::ResourceView>),
    ),
    op(
        "DELETE",
        "/v1/resources",
        "Delete the resource `?name=` names",
        &[NAME],
        Empty,
        Json(object),
    ),
    op(
        "GET",
        "/v1/resources/{name}",
        "A resource",
        &[],
        Empty,
        Json(json::<wire::ResourceView>),
    ),
    op(
        "PUT",
        "/v1/resources/{name}",
        "Replace a resource's configuration",
        &[DRY_RUN],
        Json(json::<wire::ResourceSpec>),
        Json(json::<wire::ResourceUpdate>),
    ),
    op(
        "DELETE",
        "/v1/resources/{name}",
        "Delete a resource",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "GET",
        "/v1/resources/{name}/explain",
        "Why a resource runs where it runs",
        &[],
        Empty,
        Json(json::<wire::Explanation>),
    ),
    op(
        "POST",
        "/v1/resources/{name}/{action}",
        "start, stop, cleanup, move, ban or clear; for a virtual service also drain, \
         enable or weight a server (body: ServerAction)",
        &[],
        Json(object),
        Json(json::<wire::ResourceView>),
    ),
    op(
        "POST",
        "/v1/resources/{name}/servers",
        "Add a real server to a virtual service",
        &[],
        Json(json::<wire::NewServer>),
        Json(json::<wire::ResourceView>),
    ),
    op(
        "DELETE",
        "/v1/resources/{name}/servers/{server}",
        "Remove a real server from a virtual service",
        &[],
        Empty,
        Json(json::<wire::ResourceView>),
    ),
    op(
        "POST",
        "/v1/groups",
        "Create a group",
        &[],
        Json(json::<wire::GroupSpec>),
        Json(object),
    ),
    op(
        "PUT",
        "/v1/groups/{name}",
        "Change a group's members and their order in place (members that stay keep running)",
        &[],
        Json(json::<wire::GroupSpec>),
        Json(json::<wire::GroupSpec>),
    ),
    op(
        "DELETE",
        "/v1/groups/{name}",
        "Delete a group",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "POST",
        "/v1/groups/{name}/move",
        "Move a group",
        &[],
        Json(json::<wire::MoveRequest>),
        Json(object),
    ),
    op(
        "GET",
        "/v1/constraints",
        "The constraints",
        &[],
        Empty,
        Json(list::<wire::ConstraintView>),
    ),
    op(
        "POST",
        "/v1/constraints",
        "Add a constraint",
        &[],
        Json(json::<wire::ConstraintSpec>),
        Json(object),
    ),
    op(
        "PUT",
        "/v1/constraints/{id}",
        "Replace a declared constraint in place; answers it under its new id",
        &[],
        Json(json::<wire::ConstraintSpec>),
        Json(json::<wire::ConstraintView>),
    ),
    op(
        "DELETE",
        "/v1/constraints/{id}",
        "Remove a constraint",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "GET",
        "/v1/config",
        "The cluster's configuration, as `apply` takes it",
        &[],
        Empty,
        Json(json::<wire::ClusterSpec>),
    ),
    op(
        "POST",
        "/v1/nodes/{id}/mode",
        "Set a node's mode",
        &[],
        Json(json::<wire::NodeModeRequest>),
        Json(object),
    ),
    op(
        "POST",
        "/v1/apply",
        "Make the cluster match a configuration",
        &[DRY_RUN],
        Json(json::<wire::ClusterSpec>),
        Json(json::<wire::ApplyResult>),
    ),
    op(
        "POST",
        "/v1/tokens/join",
        "Store a join token's hash",
        &[],
        Json(json::<wire::NewJoinToken>),
        Json(object),
    ),
    op(
        "GET",
        "/v1/lb/{name}/stats",
        "A virtual service's counters",
        &[NODE],
        Empty,
        Json(json::<wire::LbStats>),
    ),
    op(
        "GET",
        "/v1/metrics",
        "A node's series",
        &[NODE],
        Empty,
        Json(json::<wire::MetricList>),
    ),
    op(
        "GET",
        "/v1/metrics/query",
        "A series' points",
        &[
            ("name", S, "the series"),
            ("label", S, "KEY=VALUE, repeated"),
            ("from", Integer, "start, ms"),
            ("to", Integer, "end, ms"),
            ("step", Integer, "step, ms"),
            (
                "consolidation",
                S,
                "min, avg, max or last: that function's values alone",
            ),
            NODE,
        ],
        Empty,
        Json(json::<wire::MetricRange>),
    ),
    op(
        "GET",
        "/metrics",
        "This node's series in the Prometheus text format",
        &[],
        Empty,
        Text("text/plain"),
    ),
    op(
        "GET",
        "/v1/operations",
        "The operation log",
        &[("resource", S, "one resource's"), CONSISTENCY],
        Empty,
        Json(json::<wire::Operations>),
    ),
    op(
        "GET",
        "/v1/types",
        "The resource types",
        &[],
        Empty,
        Json(json::<wire::TypeList>),
    ),
    op(
        "GET",
        "/v1/types/{name}",
        "A resource type",
        &[],
        Empty,
        Json(json::<wire::TypeDetail>),
    ),
    op(
        "POST",
        "/v1/types",
        "Define a resource type",
        &[],
        Json(json::<wire::TypeSpec>),
        Json(json::<wire::TypeDetail>),
    ),
    op(
        "PUT",
        "/v1/types/{name}",
        "Change a resource type",
        &[],
        Json(json::<wire::TypeSpec>),
        Json(json::<wire::TypeDetail>),
    ),
    op(
        "DELETE",
        "/v1/types/{name}",
        "Delete a resource type",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "GET",
        "/v1/incidents",
        "Open and recent incidents",
        &[],
        Empty,
        Json(json::<wire::Incidents>),
    ),
    op(
        "GET",
        "/v1/alerts",
        "Alert recipients and rules",
        &[],
        Empty,
        Json(json::<wire::Alerts>),
    ),
    op(
        "POST",
        "/v1/alerts",
        "Add or replace an alert",
        &[],
        Json(json::<wire::AlertSpec>),
        Json(object),
    ),
    op(
        "DELETE",
        "/v1/alerts/{name}",
        "Remove an alert",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "POST",
        "/v1/alerts/{name}/test",
        "Send a test alert",
        &[],
        Empty,
        Json(json::<wire::AlertTestResult>),
    ),
    op(
        "POST",
        "/v1/tokens/admin",
        "Store an admin token's hash",
        &[],
        Json(json::<wire::NewJoinToken>),
        Json(object),
    ),
    op(
        "GET",
        "/v1/fence",
        "Fencing devices and history",
        &[],
        Empty,
        Json(json::<wire::FenceDevices>),
    ),
    op(
        "POST",
        "/v1/fence",
        "Add or replace a fencing device",
        &[],
        Json(json::<wire::FenceDeviceSpec>),
        Json(object),
    ),
    op(
        "GET",
        "/v1/fence/{name}",
        "A fencing device",
        &[],
        Empty,
        Json(json::<wire::FenceDeviceView>),
    ),
    op(
        "DELETE",
        "/v1/fence/{name}",
        "Remove a fencing device",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "POST",
        "/v1/fence/{name}/test",
        "Run a device's monitor",
        &[],
        Empty,
        Json(json::<wire::FenceResult>),
    ),
    // --- witness ---
    op(
        "POST",
        "/v1/witness",
        "Issue a certificate for the cluster's witness",
        &[],
        Empty,
        Json(json::<wire::WitnessBundle>),
    ),
    op(
        "POST",
        "/v1/nodes/{id}/fence",
        "Fence a node",
        &[],
        Empty,
        Json(json::<wire::FenceResult>),
    ),
    op(
        "POST",
        "/v1/session",
        "Log in",
        &[],
        Json(json::<wire::LoginRequest>),
        Json(json::<wire::SessionInfo>),
    ),
    op(
        "GET",
        "/v1/session",
        "Who the request acts for",
        &[],
        Empty,
        Json(json::<wire::SessionInfo>),
    ),
    op("DELETE", "/v1/session", "Log out", &[], Empty, NoContent),
    op(
        "GET",
        "/v1/users",
        "The users",
        &[],
        Empty,
        Json(list::<wire::UserInfo>),
    ),
    op(
        "POST",
        "/v1/users",
        "Add a user",
        &[],
        Json(json::<wire::NewUser>),
        Json(object),
    ),
    op(
        "DELETE",
        "/v1/users/{name}",
        "Remove a user",
        &[],
        Empty,
        Json(object),
    ),
    op(
        "PUT",
        "/v1/users/{name}/password",
        "Set a user's password",
        &[],
        Json(json::<wire::NewPassword>),
        Json(object),
    ),
    op(
        "PUT",
        "/v1/users/{name}/role",
        "Change a user's role",
        &[],
        Json(json::<wire::NewRole>),
        Json(object),
    ),
    op(
        "POST",
        "/v1/tokens",
        "Store the hash of a token bound to a role",
        &[],
        Json(json::<wire::NewRoleToken>),
        Json(object),
    ),
    op(
        "GET",
        "/v1/stream",
        "Server-sent events of the cluster's state",
        &[],
        Empty,
        Text("text/event-stream"),
    ),
    // --- rotate ---
    op(
        "GET",
        "/v1/certs",
        "Every node's certificate, the CA and a CA change in progress",
        &[],
        Empty,
        Json(json::<wire::CertStatus>),
    ),
    op(
        "POST",
        "/v1/certs/rotate",
        "Every node renews its certificate",
        &[],
        Json(json::<wire::RotateCerts>),
        Json(json::<wire::RotateAnswer>),
    ),
    op(
        "POST",
        "/v1/certs/ca/begin",
        "Trust a new CA beside the cluster CA; nodes move to it",
        &[],
        Json(json::<wire::BeginCaChange>),
        Json(json::<wire::CaChangeAnswer>),
    ),
    op(
        "POST",
        "/v1/certs/ca/finish",
        "The new CA replaces the old, which is trusted no more",
        &[],
        Empty,
        Json(json::<wire::CaChangeAnswer>),
    ),
    op(
        "GET",
        "/v1/tokens",
        "The stored tokens, without secrets",
        &[],
        Empty,
        Json(list::<wire::TokenView>),
    ),
    op(
        "POST",
        "/v1/tokens/revoke",
        "Revoke tokens on every node",
        &[],
        Json(json::<wire::RevokeTokens>),
        Json(json::<wire::RevokedTokens>),
    ),
    op(
        "POST",
        "/v1/tokens/rotate",
        "Replace an API token by a new one with its label and role",
        &[],
        Json(json::<wire::RotateToken>),
        Json(object),
    ),
    // --- openapi ---
    op(
        "GET",
        "/v1/openapi.json",
        "This document",
        &[],
        Empty,
        Json(object),
    ),
];

/// An [`Op`] (a function so that the table stays one line an operation).
const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, Type, &'static str)],
    request: Body,
    ok: Body,
) -> Op {
    Op {
        method,
        path,
        summary,
        query,
        request,
        ok,
    }
}

/// The errors every operation may answer, all as `ErrorBody`: status, name, meaning.
const ERRORS: &[(StatusCode, &str, &str)] = &[
    (
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "the request is malformed or invalid",
    ),
    (
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "no or a refused token, session or password",
    ),
    (
        StatusCode::FORBIDDEN,
        "Forbidden",
        "the role lacks the permission, or no CSRF token",
    ),
    (StatusCode::NOT_FOUND, "NotFound", "no such object"),
    (
        StatusCode::CONFLICT,
        "Conflict",
        "the change conflicts with the cluster's state",
    ),
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        "TooLarge",
        "the body is larger than the API's limit",
    ),
    (
        StatusCode::TOO_MANY_REQUESTS,
        "TooMany",
        "too many attempts or connections",
    ),
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "no master, or no quorum, right now",
    ),
];

/// The path as OpenAPI writes it (`{*key}` is `{key}`).
pub(crate) fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn content(body: Body, schemas: &mut Schemas) -> Option<(&'static str, Content)> {
    match body {
        Empty | NoContent => None,
        Json(schema) => Some(("application/json", Content::new(Some(schema(schemas))))),
        Text(media) => Some((media, Content::new(Some(String::schema())))),
    }
}

fn operation(op: &Op, schemas: &mut Schemas) -> Operation {
    let mut builder = OperationBuilder::new()
        .summary(Some(op.summary))
        .operation_id(Some(format!("{} {}", op.method, openapi_path(op.path))));
    for segment in op.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let parameter = ParameterBuilder::new()
                .name(name.trim_start_matches('*'))
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(String::schema()));
            builder = builder.parameter(parameter);
        }
    }
    for (name, kind, description) in op.query {
        let parameter = ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(*description))
            .schema(Some(ObjectBuilder::new().schema_type(kind.clone())));
        builder = builder.parameter(parameter);
    }
    if let Some((media, content)) = content(op.request, schemas) {
        let body = RequestBodyBuilder::new().content(media, content);
        builder = builder.request_body(Some(body.build()));
    }
    let mut ok = ResponseBuilder::new().description("done");
    if let Some((media, content)) = content(op.ok, schemas) {
        ok = ok.content(media, content);
    }
    let status = match op.ok {
        NoContent => "204",
        _ => "200",
    };
    builder = builder.response(status, ok);
    for (status, name, _) in ERRORS {
        let answer = Ref::new(format!("#/components/responses/{name}"));
        builder = builder.response(status.as_str(), RefOr::Ref(answer));
    }
    if let Some((_, _, Access::Public)) = ROUTES
        .iter()
        .find(|(m, p, _)| *m == op.method && *p == op.path)
    {
        builder = builder.securities(Some([SecurityRequirement::default()]));
    }
    builder.build()
}

fn method(name: &str) -> HttpMethod {
    match name {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        other => unreachable!("no route uses {other}"),
    }
}

/// The document.
pub(crate) fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let mut paths = PathsBuilder::new();
    for op in OPERATIONS {
        let item = PathItem::new(method(op.method), operation(op, &mut schemas));
        paths = paths.path(openapi_path(op.path), item);
    }
    let error = json::<wire::ErrorBody>(&mut schemas);
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    let bearer = SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
    let mut components = ComponentsBuilder::new();
    for (_, name, description) in ERRORS {
        let answer = ResponseBuilder::new()
            .description(*description)
            .content("application/json", Content::new(Some(error.clone())));
        components = components.response(*name, answer.build());
    }
    let components = components
        .schemas_from_iter(schemas)
        .security_scheme("bearer", bearer)
        .build();
    let info = InfoBuilder::new()
        .title("encluster")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The REST API every encluster node serves over HTTPS. Errors are `{\"error\": \
             \"...\"}`. Authenticate with `Authorization: Bearer <API token>` or a login \
             session's cookie.",
        ));
    OpenApiBuilder::new()
        .info(info)
        .paths(paths)
        .components(Some(components))
        .security(Some([SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]))
        .build()
}

/// The document as pretty JSON (what `GET /v1/openapi.json` answers and the repository keeps).
pub(crate) fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut text = document()
            .to_pretty_json()
            .expect("an OpenAPI document always serializes");
        text.push('\n');
        text
    })
}

/// `GET /v1/openapi.json`.
pub(crate) async fn serve() -> Response {
    let body: Cow<'static, str> = Cow::Borrowed(document_json());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests;
