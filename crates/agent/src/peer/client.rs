//! The peer-channel client: HTTP/2 over mTLS with this node's certificate.

use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

/// Why a peer request failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer could not be reached (connection refused, timeout, TLS refused).
    #[error("peer {addr} unreachable: {source}")]
    Unreachable {
        addr: String,
        source: reqwest::Error,
    },
    /// The peer answered with an error.
    #[error("peer {addr} answered {status}: {message}")]
    Remote {
        addr: String,
        status: u16,
        message: String,
    },
    /// The answer could not be decoded.
    #[error("peer {addr} sent an undecodable answer: {detail}")]
    Decode { addr: String, detail: String },
}

/// A pooled client for the peer channel. Cheap to clone.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
}

impl PeerClient {
    /// A client presenting this node's certificate and trusting only the cluster CA.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> PeerClient {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .expect("a reqwest client with a preconfigured rustls backend always builds");
        PeerClient { http }
    }

    /// POST a postcard body to `https://addr/path` and decode the postcard answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        let body = postcard::to_stdvec(request).map_err(|error| PeerError::Decode {
            addr: addr.to_string(),
            detail: error.to_string(),
        })?;
        let response = self
            .http
            .post(format!("https://{addr}{path}"))
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|source| PeerError::Unreachable {
                addr: addr.to_string(),
                source,
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| PeerError::Unreachable {
                addr: addr.to_string(),
                source,
            })?;
        if status != 200 {
            let message = String::from_utf8_lossy(&bytes).into_owned();
            return Err(PeerError::Remote {
                addr: addr.to_string(),
                status,
                message,
            });
        }
        postcard::from_bytes(&bytes).map_err(|error| PeerError::Decode {
            addr: addr.to_string(),
            detail: error.to_string(),
        })
    }
}
