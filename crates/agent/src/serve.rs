//! Serving an axum router over TLS, with the client's node id (if it presented a node
//! certificate) attached to every request as an extension.

use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::debug;

use crate::limits::HANDSHAKE_TIMEOUT;

/// The authenticated peer of a connection: the node id from its certificate, if any.
#[derive(Clone, Copy, Debug)]
pub struct PeerIdentity(pub Option<u64>);

/// Accept TLS connections until `shutdown`; each connection is served on its own task,
/// owned by a `JoinSet` that is dropped (aborting them) when the loop ends.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, remote)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        connections.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let tls_stream = match handshake.await {
                Ok(Ok(tls_stream)) => tls_stream,
                Ok(Err(error)) => {
                    debug!(%remote, %error, "TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let identity = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| auth::node_id_from_cert_der(cert.as_ref()))
                .map(|id| id.0);
            let router = router.layer(axum::Extension(PeerIdentity(identity)));
            let service = hyper::service::service_fn(move |request| {
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                .await;
        });
    }
}
