//! The browser UI (Cluman), embedded in the binary and served by every agent at `/`.
//!
//! The assets under `assets/` are compiled in with `include_bytes!`, so every node serves
//! the same UI and nothing is fetched from anywhere else. The UI is a pure client of the
//! public REST API (`/v1/...`): this crate must never grow an endpoint of its own or read
//! cluster state; whatever the UI does, the API and the CLI can do too.
//!
//! Every answer carries a Content-Security-Policy that allows only this origin's own
//! scripts and styles (no inline script, no `eval`), and the assets build every element
//! with `textContent`, never `innerHTML` (`tests.rs` checks both).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: its URL path under `/ui/`, its media type and its bytes.
pub struct Asset {
    /// The path after `/ui/`, e.g. `app.js`.
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file.
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

/// The page every URL of the UI loads; its script reads the route from the fragment.
pub const INDEX_HTML: &[u8] = include_bytes!("../assets/index.html");

/// Every file of the UI but the page itself.
pub const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("live.js", JS),
    asset!("forms.js", JS),
    asset!("pages/dashboard.js", JS),
    asset!("pages/nodes.js", JS),
    asset!("pages/resources.js", JS),
    asset!("pages/resource_form.js", JS),
    asset!("pages/groups.js", JS),
    asset!("pages/services.js", JS),
    asset!("pages/graphs.js", JS),
    asset!("pages/events.js", JS),
    asset!("pages/types.js", JS),
    asset!("pages/users.js", JS),
    asset!("style.css", CSS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/LICENSE-uPlot", "text/plain; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The policy of every UI answer: only this origin's scripts, styles, images and API; no
/// inline script or style element, no framing, no plugins, no form posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every UI answer carries besides its media type.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    // Assets change only with the binary; revalidate instead of trusting a stale copy
    // after an upgrade.
    ("cache-control", "no-cache"),
];

/// The embedded file at `path` (under `/ui/`), if there is one.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// The bytes a browser downloads on its first visit: the page plus every asset it loads
/// at start (all of them: the pages are modules imported by `app.js`).
pub fn first_load_bytes() -> usize {
    INDEX_HTML.len() + ASSETS.iter().map(|asset| asset.bytes.len()).sum::<usize>()
}

fn with_headers(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    response
}

async fn index() -> Response {
    with_headers("text/html; charset=utf-8", INDEX_HTML)
}

async fn file(Path(path): Path<String>) -> Response {
    match asset(&path) {
        Some(asset) => with_headers(asset.content_type, asset.bytes),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI file {path:?}"),
        )
            .into_response(),
    }
}

/// The UI's routes: `/` (the page) and `/ui/{file}` (its assets). They need no
/// authentication: the page only holds code; every datum comes from the API, which
/// checks the caller on each request.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/ui/{*path}", get(file))
}

#[cfg(test)]
mod tests;
