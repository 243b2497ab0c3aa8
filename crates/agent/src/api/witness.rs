//! `POST /v1/witness` (admin): a certificate for the cluster's witness, issued by the
//! cluster CA, with what `encluster witness serve` needs (issue 16). Every call issues a
//! new one; the witness keeps its grants by cluster, not by certificate.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiState, error};

pub(crate) async fn add(State(state): State<ApiState>) -> Response {
    let meta = state.shared.read(|db| db.meta.clone());
    if meta.ca_key_pem.is_empty() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has not applied the cluster's identity yet; retry in a moment",
        );
    }
    match crate::witness::issue_bundle(&meta) {
        Ok(bundle) => Json(bundle).into_response(),
        Err(problem) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot issue the witness certificate: {problem:#}"),
        ),
    }
}
