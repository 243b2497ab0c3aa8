//! HTTP mode: each request picks a real server, goes out over a keep-alive pool with
//! X-Forwarded-For and X-Forwarded-Proto, is retried elsewhere when the connect fails, and an
//! Upgrade (WebSocket) is passed through as bytes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::activity::Activity;
use crate::counters::{ServerLease, ServiceCounters};
use crate::limits;
use crate::metered::Metered;
use crate::pool::Pool;
use crate::service::{self, Choice, ServiceShared};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
pub(crate) type HttpClient = Client<HttpConnector, ProxyBody>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

pub(crate) fn new_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(limits::CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(limits::UPSTREAM_IDLE_TIMEOUT)
        .pool_max_idle_per_host(limits::UPSTREAM_IDLE_PER_SERVER_MAX)
        .build(connector)
}

/// Serves one client connection until it closes or stays idle for the idle timeout.
pub(crate) async fn serve(shared: Arc<ServiceShared>, stream: TcpStream, peer: SocketAddr) {
    let idle_timeout = shared.pool().config.idle_timeout;
    let activity = Arc::new(Activity::new());
    let metered = Metered::new(stream, Arc::clone(&shared.counters), Arc::clone(&activity));
    let handler_shared = Arc::clone(&shared);
    let handler = hyper::service::service_fn(move |request| {
        handle(Arc::clone(&handler_shared), peer, request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits::HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(metered), handler)
        .with_upgrades();
    tokio::select! {
        served = connection => if let Err(error) = served {
            tracing::debug!(service = %shared.name, %peer, %error, "Http connection failed");
        },
        () = activity.idle_for(idle_timeout) => {
            tracing::debug!(service = %shared.name, %peer, "Http connection idle");
        }
    }
}

async fn handle(
    shared: Arc<ServiceShared>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    shared
        .counters
        .requests_total
        .fetch_add(1, Ordering::Relaxed);
    let pool = shared.pool();
    if is_upgrade(request.headers()) {
        return Ok(upgrade(&shared, &pool, peer, request).await);
    }
    let (mut parts, body) = request.into_parts();
    prepare_headers(&mut parts.headers, peer, false);
    let mut body = RequestBody::new(body).await;
    let mut tried = Vec::new();
    for _ in 0..limits::CONNECT_ATTEMPTS_MAX {
        let (addr, lease) = match shared.choose(&pool, peer.ip(), &tried) {
            Choice::Server(picked) => {
                tried.push(picked.index);
                (pool.servers[picked.index].config.addr, Some(picked.lease))
            }
            Choice::Sorry(addr) => {
                shared.counters.sorry_total.fetch_add(1, Ordering::Relaxed);
                (addr, None)
            }
            Choice::Unavailable => break,
        };
        let Some(upstream_body) = body.take(lease.as_ref()) else {
            break;
        };
        let mut upstream = Request::new(upstream_body);
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = upstream_uri(addr, &parts.uri);
        *upstream.headers_mut() = parts.headers.clone();
        if let Some(lease) = &lease {
            lease
                .counters
                .requests_total
                .fetch_add(1, Ordering::Relaxed);
        }
        match shared.http_client.request(upstream).await {
            Ok(response) => return Ok(relay_response(response, lease)),
            Err(error) => {
                count_error(&shared.counters, lease.as_ref());
                tracing::debug!(service = %shared.name, %addr, %error, "Upstream request failed");
                if !error.is_connect() || lease.is_none() {
                    return Ok(error_response(StatusCode::BAD_GATEWAY));
                }
            }
        }
    }
    shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
    Ok(error_response(StatusCode::SERVICE_UNAVAILABLE))
}

/// A request body: small bodies are buffered so that a failed connect can be retried on
/// another server; larger ones stream and get one attempt.
enum RequestBody {
    Replayable(Bytes),
    Stream(Option<Incoming>),
}

impl RequestBody {
    async fn new(body: Incoming) -> RequestBody {
        let exact = body.size_hint().exact();
        if body.is_end_stream() {
            return RequestBody::Replayable(Bytes::new());
        }
        match exact {
            Some(len) if len <= limits::RETRY_BODY_LEN_MAX => match body.collect().await {
                Ok(collected) => RequestBody::Replayable(collected.to_bytes()),
                Err(_) => RequestBody::Stream(None),
            },
            _ => RequestBody::Stream(Some(body)),
        }
    }

    fn take(&mut self, lease: Option<&ServerLease>) -> Option<ProxyBody> {
        let counters = lease.map(|lease| Arc::clone(&lease.counters));
        match self {
            RequestBody::Replayable(bytes) => {
                if let Some(counters) = &counters {
                    counters
                        .bytes_in
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Some(
                    Full::new(bytes.clone())
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
            }
            RequestBody::Stream(body) => {
                let body = body.take()?;
                let counted = body.map_frame(move |frame| {
                    if let (Some(counters), Some(data)) = (&counters, frame.data_ref()) {
                        counters
                            .bytes_in
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    frame
                });
                Some(counted.map_err(BoxError::from).boxed_unsync())
            }
        }
    }
}

/// Streams the response back, counting its bytes and holding the server's slot until the
/// body ends.
fn relay_response(response: Response<Incoming>, lease: Option<ServerLease>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    remove_hop_headers(&mut parts.headers, false);
    let meter = ResponseMeter { lease };
    let body = body.map_frame(move |frame| meter.count(frame));
    Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
}

struct ResponseMeter {
    lease: Option<ServerLease>,
}

impl ResponseMeter {
    fn count(&self, frame: Frame<Bytes>) -> Frame<Bytes> {
        if let (Some(lease), Some(data)) = (&self.lease, frame.data_ref()) {
            lease
                .counters
                .bytes_out
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    }
}

/// Passes an Upgrade request to one server on its own connection and, on 101, splices the
/// two upgraded connections together.
async fn upgrade(
    shared: &Arc<ServiceShared>,
    pool: &Pool,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, body) = request.into_parts();
    prepare_headers(&mut parts.headers, peer, true);
    let Some((stream, lease)) = connect_any(shared, pool, peer).await else {
        shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
        return error_response(StatusCode::SERVICE_UNAVAILABLE);
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await;
    let Ok((mut sender, connection)) = handshake else {
        count_error(&shared.counters, lease.as_ref());
        return error_response(StatusCode::BAD_GATEWAY);
    };
    shared.tasks.spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let upstream = Request::from_parts(parts, body.map_err(BoxError::from).boxed_unsync());
    let mut response = match sender.send_request(upstream).await {
        Ok(response) => response,
        Err(_) => {
            count_error(&shared.counters, lease.as_ref());
            return error_response(StatusCode::BAD_GATEWAY);
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let server_upgrade = hyper::upgrade::on(&mut response);
        let kill = shared.kill.clone();
        shared.tasks.spawn(async move {
            let tunnel = async {
                let (client, server) = tokio::join!(client_upgrade, server_upgrade);
                let (Ok(client), Ok(server)) = (client, server) else {
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut server = TokioIo::new(server);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            };
            tokio::select! {
                () = kill.cancelled() => {}
                () = tunnel => {}
            }
            drop(lease);
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, empty_body());
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
}

/// Connects to a chosen server (or the sorry server), trying others when a connect fails.
async fn connect_any(
    shared: &ServiceShared,
    pool: &Pool,
    peer: SocketAddr,
) -> Option<(TcpStream, Option<ServerLease>)> {
    let mut tried = Vec::new();
    for _ in 0..limits::CONNECT_ATTEMPTS_MAX {
        let (addr, lease) = match shared.choose(pool, peer.ip(), &tried) {
            Choice::Server(picked) => {
                tried.push(picked.index);
                (pool.servers[picked.index].config.addr, Some(picked.lease))
            }
            Choice::Sorry(addr) => (addr, None),
            Choice::Unavailable => return None,
        };
        match service::connect(addr).await {
            Ok(stream) => return Some((stream, lease)),
            Err(_) if lease.is_some() => count_error(&shared.counters, lease.as_ref()),
            Err(_) => return None,
        }
    }
    None
}

fn count_error(counters: &ServiceCounters, lease: Option<&ServerLease>) {
    counters.errors_total.fetch_add(1, Ordering::Relaxed);
    if let Some(lease) = lease {
        lease.counters.errors_total.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Drops hop-by-hop headers (keeping Connection and Upgrade for an upgrade), then appends the
/// client address to X-Forwarded-For and sets X-Forwarded-Proto.
pub(crate) fn prepare_headers(headers: &mut HeaderMap, peer: SocketAddr, upgrade: bool) {
    remove_hop_headers(headers, upgrade);
    let client = peer.ip().to_string();
    let forwarded = match headers
        .get(&X_FORWARDED_FOR)
        .and_then(|value| value.to_str().ok())
    {
        Some(previous) => format!("{previous}, {client}"),
        None => client,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
}

fn remove_hop_headers(headers: &mut HeaderMap, upgrade: bool) {
    if !upgrade {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    headers.remove("keep-alive");
    headers.remove(header::PROXY_AUTHORIZATION);
    headers.remove(header::TE);
    headers.remove(header::TRAILER);
    headers.remove(header::TRANSFER_ENCODING);
}

fn upstream_uri(addr: SocketAddr, original: &Uri) -> Uri {
    let path = original.path_and_query().map_or("/", |path| path.as_str());
    Uri::builder()
        .scheme("http")
        .authority(addr.to_string())
        .path_and_query(path)
        .build()
        .expect("a socket address and a parsed path make a valid uri")
}

fn error_response(status: StatusCode) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{status}\n"))).map_err(|never| match never {});
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}
