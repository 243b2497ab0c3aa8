//! Every route of the API router has the permission it needs, and the refusals say which.
//!
//! Method: the router is read from its source (`api.rs`, `fn router`): every `.route(..)`
//! call with the methods of its method router. Each must have an entry in `ROUTES`, each
//! entry a route, and a route outside the authorizing layer must be public. So a route
//! added without a permission fails here before it can fail closed at run time.

use std::collections::BTreeSet;

use axum::http::Method;

use super::{Access, Login, Principal, ROUTES, access_of, csrf_refusal};

/// `(method, path, inside the authorizing layer)` of every route `fn router` registers.
fn routes_in_source() -> Vec<(String, String, bool)> {
    let source = include_str!("../../api.rs");
    let start = source
        .find("pub fn router(")
        .expect("api.rs defines fn router");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("fn router ends")];
    let layer = body
        .find(".route_layer(")
        .expect("the protected routes have a layer");
    let mut routes = Vec::new();
    let mut rest = body;
    let mut offset = 0;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        let arguments = &call[..closing_paren(call)];
        let path = arguments
            .split('"')
            .nth(1)
            .expect("a route's first argument is its path literal");
        let methods = methods_of(&arguments[arguments.find(',').expect("two arguments")..]);
        assert!(
            !methods.is_empty(),
            "route {path:?}: no method found in {arguments:?}"
        );
        for method in methods {
            routes.push((method, path.to_owned(), offset + at < layer));
        }
        let consumed = at + ".route(".len() + arguments.len();
        offset += consumed;
        rest = &rest[consumed..];
    }
    assert!(
        !body.contains(".nest("),
        "nested routers are not walked here; add them"
    );
    routes
}

/// The index of the parenthesis that closes the call whose arguments `text` starts with.
fn closing_paren(text: &str) -> usize {
    let mut depth = 0usize;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' if depth == 0 => return index,
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {text:?}");
}

/// The HTTP methods a method-router expression names (`get(..).post(..)`).
fn methods_of(expression: &str) -> Vec<String> {
    let mut methods = Vec::new();
    for method in [
        "get", "post", "put", "delete", "patch", "head", "options", "any",
    ] {
        let call = format!("{method}(");
        let mut rest = expression;
        while let Some(at) = rest.find(&call) {
            let before = expression.len() - rest.len() + at;
            let boundary = expression[..before]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            assert!(
                !(boundary && method == "any"),
                "a route with `any` cannot have one permission per method"
            );
            if boundary {
                methods.push(method.to_uppercase());
            }
            rest = &rest[at + call.len()..];
        }
    }
    methods
}

#[test]
fn every_route_of_the_router_has_a_permission_and_every_permission_a_route() {
    let routes = routes_in_source();
    let mut missing = Vec::new();
    for (method, path, protected) in &routes {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        match access_of(&method, path) {
            None => missing.push(format!("{method} {path}")),
            Some(access) if !protected => assert_eq!(
                access,
                Access::Public,
                "{method} {path} is outside the authorizing layer but not public"
            ),
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a permission in api/access.rs ROUTES: {missing:?}"
    );
    let registered: BTreeSet<(String, String)> = routes
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let mut declared = BTreeSet::new();
    for (method, path, _) in ROUTES {
        let key = ((*method).to_owned(), (*path).to_owned());
        assert!(
            declared.insert(key.clone()),
            "{method} {path} declared twice"
        );
        assert!(
            registered.contains(&key),
            "{method} {path} has a permission but no route"
        );
    }
}

#[test]
fn the_walk_finds_the_methods_of_a_route() {
    assert_eq!(
        methods_of(
            ", get(resources::list).post(resources::create).delete(resources::delete_named)"
        ),
        ["GET", "POST", "DELETE"]
    );
    assert_eq!(
        methods_of(", axum::routing::put(user_types::update).delete(user_types::delete)"),
        ["PUT", "DELETE"]
    );
    assert_eq!(
        access_of(&Method::HEAD, "/v1/status"),
        access_of(&Method::GET, "/v1/status")
    );
    assert_eq!(access_of(&Method::PATCH, "/v1/status"), None);
}

fn principal(role: model::Role, login: bool) -> Principal {
    Principal {
        name: "ann".into(),
        role,
        login: login.then(|| Login {
            secret: "ab".repeat(32),
            expires_at_ms: 1,
        }),
    }
}

async fn message(response: axum::response::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let body: ::api::ErrorBody = serde_json::from_slice(&bytes).expect("error body");
    (status, body.error)
}

#[tokio::test]
async fn a_refusal_names_the_permission_and_the_role() {
    use model::{Permission, Role};
    let refused = principal(Role::Viewer, true).lacks(Permission::Operate);
    let (status, text) = message(refused.expect("refused")).await;
    assert_eq!(status, 403);
    assert_eq!(
        text,
        "this needs the \"operate\" permission; user \"ann\" has role viewer"
    );
    let refused = principal(Role::Operator, false).lacks(Permission::Admin);
    let (_, text) = message(refused.expect("refused")).await;
    assert_eq!(
        text,
        "this needs the \"admin\" permission; token \"ann\" has role operator"
    );
    assert!(
        principal(Role::Operator, true)
            .lacks(Permission::Operate)
            .is_none()
    );
}

#[tokio::test]
async fn a_cookie_change_needs_its_own_csrf_token_and_a_read_none() {
    let login = principal(model::Role::Admin, true).login.expect("login");
    let mut headers = axum::http::HeaderMap::new();
    assert!(csrf_refusal(&login, &Method::GET, &headers).is_none());
    let (status, text) =
        message(csrf_refusal(&login, &Method::POST, &headers).expect("no header")).await;
    assert_eq!(status, 403);
    assert!(text.starts_with("missing X-CSRF-Token header"), "{text}");
    let other = auth::csrf_token(&"cd".repeat(32));
    headers.insert(::api::CSRF_HEADER, other.parse().expect("header"));
    let (_, text) = message(csrf_refusal(&login, &Method::DELETE, &headers).expect("wrong")).await;
    assert!(text.contains("does not belong to this session"), "{text}");
    let own = auth::csrf_token(&login.secret);
    headers.insert(::api::CSRF_HEADER, own.parse().expect("header"));
    assert!(csrf_refusal(&login, &Method::PUT, &headers).is_none());
}
