//! The listener and the connections of the application protocol.
//!
//! Each connection is a task of the listener's `JoinSet`, at most
//! `APP_CONNECTIONS_MAX` at once (one more is told `busy` and closed), each request
//! answered in order. A connection must say `hello` within `HELLO_TIMEOUT`; bad lines are
//! answered with `bad_request` and the connection goes on; an over-long line is answered
//! with `too_large` and the connection is closed, as the reader cannot find the next line.

use super::registry::{self, in_process_tree, proc_parent_and_group, same_secret};
use super::{AppHub, depth_name};
use crate::limits::{APP_CONNECTIONS_MAX, APP_EVENTS_PER_CONNECTION_MAX, CHECKPOINT_APPLY_WAIT};
use app_sdk::framing::LineReader;
use app_sdk::limits::{HELLO_TIMEOUT, MESSAGE_BYTES_MAX};
use app_sdk::protocol::{
    AgentEvent, AgentMessage, Hello, Limits, Op, PROTOCOL_VERSION, ProtocolError, Reply, codes,
    encode_line, parse_request,
};
use model::ResourceId;
use serde_json::json;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Binds the socket (in a directory only this user can enter) and serves connections until
/// `shutdown`. An error binding is returned at once, before anything is served.
pub async fn serve(
    hub: Arc<AppHub>,
    shutdown: CancellationToken,
) -> std::io::Result<impl Future<Output = ()>> {
    let listener = bind(hub.socket_path())?;
    tracing::info!(socket = %hub.socket_path().display(), "Application protocol listening");
    Ok(accept_loop(hub, listener, shutdown))
}

fn bind(path: &std::path::Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().expect("the socket lives in a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn accept_loop(hub: Arc<AppHub>, listener: UnixListener, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(APP_CONNECTIONS_MAX));
    let mut connections = JoinSet::new();
    let mut next_connection: u64 = 1;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(error = %error, "Cannot accept an application connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    refuse_busy(&stream);
                    continue;
                };
                let id = next_connection;
                next_connection += 1;
                let hub = Arc::clone(&hub);
                let stop = shutdown.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = Connection::run(hub, stream, id) => {}
                    }
                });
            }
        }
    }
    connections.shutdown().await;
}

/// Tells a connection over the limit why it is closed, without waiting for it.
fn refuse_busy(stream: &UnixStream) {
    tracing::warn!(
        limit = APP_CONNECTIONS_MAX,
        "Too many application connections, refusing one"
    );
    let error = ProtocolError::new(
        codes::BUSY,
        format!(
            "the agent serves {APP_CONNECTIONS_MAX} application connections already; retry later"
        ),
    );
    let _ = stream.try_write(&encode_line(&Reply::error(0, error)));
}

/// The instance a connection speaks for, once it said hello.
#[derive(Clone)]
struct Bound {
    resource: ResourceId,
    fencing_token: u64,
}

struct Connection {
    hub: Arc<AppHub>,
    id: u64,
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    reader: LineReader,
    /// The events for this connection, once it said hello.
    pending_events: Option<mpsc::Receiver<AgentEvent>>,
}

enum Incoming {
    Line(Vec<u8>),
    TooLarge,
    Closed,
}

impl Connection {
    async fn run(hub: Arc<AppHub>, stream: UnixStream, id: u64) {
        let credentials = stream.peer_cred().ok();
        let (read, write) = stream.into_split();
        let mut connection = Connection {
            hub,
            id,
            read,
            write,
            reader: LineReader::new(MESSAGE_BYTES_MAX),
            pending_events: None,
        };
        let hello = tokio::time::timeout(HELLO_TIMEOUT, connection.hello(credentials)).await;
        let bound = match hello {
            Ok(Some(bound)) => bound,
            Ok(None) => return,
            Err(_) => {
                let error = ProtocolError::new(
                    codes::HELLO_FIRST,
                    format!("no hello within {} s; closing", HELLO_TIMEOUT.as_secs()),
                );
                let _ = connection
                    .send(&AgentMessage::Reply(Reply::error(0, error)))
                    .await;
                return;
            }
        };
        connection.serve(bound).await;
    }

    async fn next_line(&mut self) -> Incoming {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match self.reader.next_line() {
                Ok(Some(line)) => return Incoming::Line(line),
                Ok(None) => {}
                Err(_) => return Incoming::TooLarge,
            }
            match self.read.read(&mut buffer).await {
                Ok(0) | Err(_) => return Incoming::Closed,
                Ok(read) => self.reader.push(&buffer[..read]),
            }
        }
    }

    async fn send(&mut self, message: &AgentMessage) -> std::io::Result<()> {
        self.write.write_all(&encode_line(message)).await
    }

    async fn reply(&mut self, id: u64, result: Result<serde_json::Value, ProtocolError>) -> bool {
        let reply = match result {
            Ok(value) => Reply::ok(id, value),
            Err(error) => Reply::error(id, error),
        };
        self.send(&AgentMessage::Reply(reply)).await.is_ok()
    }

    async fn too_large(&mut self) {
        let error = ProtocolError::new(
            codes::TOO_LARGE,
            format!(
                "a message is longer than {MESSAGE_BYTES_MAX} bytes; closing (keep checkpoints \
                 under 64 KiB)"
            ),
        );
        let _ = self.reply(0, Err(error)).await;
    }

    /// Reads lines until a hello succeeds (`Some`) or the connection ends (`None`).
    async fn hello(&mut self, credentials: Option<tokio::net::unix::UCred>) -> Option<Bound> {
        loop {
            let line = match self.next_line().await {
                Incoming::Line(line) => line,
                Incoming::TooLarge => {
                    self.too_large().await;
                    return None;
                }
                Incoming::Closed => return None,
            };
            let request = match parse_request(&line) {
                Ok(request) => request,
                Err((id, error)) => {
                    self.reply(id, Err(error)).await.then_some(())?;
                    continue;
                }
            };
            let Op::Hello { version, token } = request.op else {
                let error = ProtocolError::new(codes::HELLO_FIRST, "say hello first");
                self.reply(request.id, Err(error)).await.then_some(())?;
                continue;
            };
            match self.authenticate(version, &token, credentials) {
                Ok((bound, hello)) => {
                    let value = serde_json::to_value(hello).expect("hello serializes");
                    self.reply(request.id, Ok(value)).await.then_some(())?;
                    return Some(bound);
                }
                Err(error) => {
                    tracing::warn!(reason = %error.message, "Application hello refused");
                    self.reply(request.id, Err(error)).await.then_some(())?;
                }
            }
        }
    }

    fn authenticate(
        &mut self,
        version: u32,
        token: &str,
        credentials: Option<tokio::net::unix::UCred>,
    ) -> Result<(Bound, Hello), ProtocolError> {
        let unauthorized = |why: &str| ProtocolError::new(codes::UNAUTHORIZED, why.to_owned());
        let credentials = check_peer(version, credentials)?;
        let mut instances = self
            .hub
            .instances
            .lock()
            .expect("app lock is never poisoned");
        let instance = instances
            .values_mut()
            .find(|instance| same_secret(&instance.record.token, token))
            .ok_or_else(|| {
                unauthorized(
                    "no instance running on this node has this token (ENCLUSTER_APP_TOKEN)",
                )
            })?;
        if let (Some(leader), Some(pid)) = (
            registry::instance_leader(&instance.state_dir),
            credentials.pid(),
        ) {
            let pid = u32::try_from(pid).unwrap_or(0);
            if !in_process_tree(pid, leader, proc_parent_and_group) {
                return Err(unauthorized(&format!(
                    "process {pid} is not part of the instance's process tree (led by {leader})"
                )));
            }
        }
        let (events, events_rx) = mpsc::channel(APP_EVENTS_PER_CONNECTION_MAX);
        instance.connections.insert(self.id, events);
        if !instance.record.spoke {
            instance.record.spoke = true;
            if let Err(error) = registry::write_record(&instance.state_dir, &instance.record) {
                tracing::warn!(error = %error, "Cannot record that the application speaks");
            }
        }
        self.pending_events = Some(events_rx);
        let record = &instance.record;
        let hello = hello_of(&self.hub, record);
        tracing::info!(instance = %hello.instance, "Application said hello");
        let bound = Bound {
            resource: record.resource.clone(),
            fencing_token: record.fencing_token,
        };
        Ok((bound, hello))
    }
}

/// Checks the version and the peer's user (the agent's, or root).
fn check_peer(
    version: u32,
    credentials: Option<tokio::net::unix::UCred>,
) -> Result<tokio::net::unix::UCred, ProtocolError> {
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::new(
            codes::VERSION,
            format!("this agent speaks protocol version {PROTOCOL_VERSION}, not {version}"),
        ));
    }
    let unauthorized = |why: String| ProtocolError::new(codes::UNAUTHORIZED, why);
    let credentials =
        credentials.ok_or_else(|| unauthorized("cannot read the peer's credentials".into()))?;
    let our_uid = nix::unistd::geteuid().as_raw();
    if credentials.uid() != our_uid && credentials.uid() != 0 {
        return Err(unauthorized(format!(
            "peer runs as uid {}, not as the agent's uid {our_uid}",
            credentials.uid()
        )));
    }
    Ok(credentials)
}

/// The answer to a successful hello.
fn hello_of(hub: &AppHub, record: &registry::InstanceRecord) -> Hello {
    let lease_ms = (*hub.lease.borrow())
        .map(|valid_until| valid_until.0.saturating_sub(crate::clock::boot_ms().0));
    Hello {
        protocol: PROTOCOL_VERSION,
        resource: record.resource.0.clone(),
        node: hub.node_name.clone(),
        instance: format!(
            "{}@{}#{}",
            record.resource, hub.node_name, record.fencing_token
        ),
        fencing_token: record.fencing_token,
        unique: record.unique,
        lease_ms,
        params: record.params.clone(),
        limits: Limits::current(),
    }
}

impl Connection {
    /// Answers requests and forwards events until the connection or the instance ends.
    async fn serve(mut self, bound: Bound) {
        let Some(mut events) = self.pending_events.take() else {
            return;
        };
        // The request being answered, if any: events (above all `lease_lost`) go out while
        // it waits on the cluster; the next line is read only once it is answered, so
        // replies keep the order of the requests.
        let mut answering: Option<Answering> = None;
        loop {
            tokio::select! {
                event = events.recv() => {
                    // The instance stopped (its senders are gone): nothing more to say.
                    let Some(event) = event else { break };
                    if self.send(&AgentMessage::Event(event)).await.is_err() {
                        break;
                    }
                }
                (id, result) = async { answering.as_mut().expect("guarded").await },
                    if answering.is_some() =>
                {
                    answering = None;
                    if !self.reply(id, result).await {
                        break;
                    }
                }
                incoming = self.next_line(), if answering.is_none() => {
                    let line = match incoming {
                        Incoming::Line(line) => line,
                        Incoming::TooLarge => {
                            self.too_large().await;
                            break;
                        }
                        Incoming::Closed => break,
                    };
                    match parse_request(&line) {
                        Ok(request) => {
                            let (hub, bound) = (Arc::clone(&self.hub), bound.clone());
                            answering = Some(Box::pin(async move {
                                (request.id, hub.handle(&bound, request.op).await)
                            }));
                        }
                        Err((id, error)) => {
                            if !self.reply(id, Err(error)).await {
                                break;
                            }
                        }
                    }
                }
            }
        }
        self.hub.with_instance(&bound.resource, |instance| {
            instance.connections.remove(&self.id);
        });
    }
}

/// A request being answered: its id and, when done, its result.
type Answering =
    std::pin::Pin<Box<dyn Future<Output = (u64, Result<serde_json::Value, ProtocolError>)> + Send>>;

impl AppHub {
    /// Answers one request of a connection bound to an instance.
    async fn handle(&self, bound: &Bound, op: Op) -> Result<serde_json::Value, ProtocolError> {
        match op {
            Op::Hello { .. } => Err(ProtocolError::new(
                codes::BAD_REQUEST,
                "this connection already said hello",
            )),
            Op::Ping => Ok(json!({})),
            Op::Params => self.current(bound, |instance| {
                serde_json::to_value(&instance.record.params).expect("a map serializes")
            }),
            Op::ParamsAnswer {
                change,
                accept,
                reason,
            } => self.params_answer(bound, change, accept, reason),
            Op::RoleAnswer {
                change,
                done,
                reason,
            } => self.role_answer(bound, change, done, reason),
            Op::PromotionScore { score } => self.promotion_score(bound, score).await,
            Op::Health {
                depth,
                healthy,
                reason,
            } => self.health(bound, depth, healthy, reason),
            Op::CheckpointPut { name, data } => self.checkpoint_put(bound, name, &data).await,
            Op::CheckpointGet { name } => {
                self.current(bound, |_| ())?;
                let stored = self.shared.read(|db| {
                    db.checkpoints
                        .get(&bound.resource)
                        .and_then(|named| named.get(&name))
                        .map(|checkpoint| (checkpoint.data.clone(), checkpoint.fencing_token))
                });
                Ok(match stored {
                    Some((data, token)) => json!({
                        "data": app_sdk::base64::encode(&data),
                        "fencing_token": token,
                    }),
                    None => json!({ "data": null }),
                })
            }
            Op::StopReady => {
                let waiter = self.current(bound, |instance| instance.stop_ready.take())?;
                if let Some(waiter) = waiter {
                    let _ = waiter.send(());
                }
                Ok(json!({}))
            }
        }
    }

    fn params_answer(
        &self,
        bound: &Bound,
        change: u64,
        accept: bool,
        reason: Option<String>,
    ) -> Result<serde_json::Value, ProtocolError> {
        let answer = if accept {
            Ok(())
        } else {
            Err(reason.unwrap_or_else(|| "rejected without a reason".to_owned()))
        };
        let waiter = self.current(bound, |instance| instance.offers.remove(&change))?;
        let waiter = waiter.ok_or_else(|| {
            let message = format!("no parameter change {change} waits for an answer");
            ProtocolError::new(codes::BAD_REQUEST, message)
        })?;
        let _ = waiter.send(answer);
        Ok(json!({}))
    }

    fn role_answer(
        &self,
        bound: &Bound,
        change: u64,
        done: bool,
        reason: Option<String>,
    ) -> Result<serde_json::Value, ProtocolError> {
        let answer = if done {
            Ok(())
        } else {
            Err(reason.unwrap_or_else(|| "failed without a reason".to_owned()))
        };
        let waiter = self.current(bound, |instance| instance.offers.remove(&change))?;
        let waiter = waiter.ok_or_else(|| {
            let message = format!("no promote or demote {change} waits for an answer");
            ProtocolError::new(codes::BAD_REQUEST, message)
        })?;
        let _ = waiter.send(answer);
        Ok(json!({}))
    }

    /// Stores the instance's promotion score where its node's agent reads it after each
    /// operation (as encluster's `crm_attribute` does for OCF agents), and sends it to the
    /// master at once (`SetPromotionScore`): a monitor that changes nothing reports nothing.
    async fn promotion_score(
        &self,
        bound: &Bound,
        score: Option<i64>,
    ) -> Result<serde_json::Value, ProtocolError> {
        let limit = model::SCORE_INFINITY;
        if let Some(score) = score.filter(|score| !(-limit..=limit).contains(score)) {
            let message = format!("promotion score {score} is not from -{limit} to {limit}");
            return Err(ProtocolError::new(codes::BAD_REQUEST, message));
        }
        let state_dir = self.current(bound, |instance| instance.state_dir.clone())?;
        resource_agents::set_promotion_score(&state_dir, score).map_err(|error| {
            let message = format!("cannot store the promotion score: {error}");
            ProtocolError::new(codes::UNAVAILABLE, message)
        })?;
        let command = cmdb::Command::SetPromotionScore {
            node: self.node,
            resource: bound.resource.clone(),
            score,
        };
        match crate::resources::propose(&self.raft, &self.shared, &self.peer_client, &command).await
        {
            Ok(cmdb::CommandResult::Rejected(reason)) => {
                Err(ProtocolError::new(codes::REFUSED, reason))
            }
            Ok(_) => Ok(json!({})),
            Err(error) => Err(ProtocolError::new(
                codes::UNAVAILABLE,
                format!("the promotion score could not reach the master ({error}); retry"),
            )),
        }
    }

    fn health(
        &self,
        bound: &Bound,
        depth: app_sdk::Depth,
        healthy: bool,
        reason: Option<String>,
    ) -> Result<serde_json::Value, ProtocolError> {
        let failed = self.current(bound, |instance| {
            if healthy {
                instance.health.remove(&depth);
                return false;
            }
            let reason = reason.unwrap_or_else(|| "no reason given".to_owned());
            let (resource, depth_text) = (&bound.resource, depth_name(depth));
            tracing::warn!(
                resource = %resource,
                depth = depth_text,
                reason = %reason,
                "Application reported a failure"
            );
            instance.health.insert(depth, reason);
            true
        })?;
        if failed {
            // Nobody listening only delays the verdict to the next monitor.
            let _ = self.health_events.send(bound.resource.clone());
        }
        Ok(json!({}))
    }

    /// Runs `f` on the connection's instance if it still runs under the same grant.
    fn current<T>(
        &self,
        bound: &Bound,
        f: impl FnOnce(&mut registry::Instance) -> T,
    ) -> Result<T, ProtocolError> {
        self.with_instance(&bound.resource, |instance| {
            (instance.record.fencing_token == bound.fencing_token).then(|| f(instance))
        })
        .flatten()
        .ok_or_else(|| {
            ProtocolError::new(
                codes::GONE,
                format!(
                    "the instance of {} under token {} no longer runs on this node",
                    bound.resource, bound.fencing_token
                ),
            )
        })
    }

    async fn checkpoint_put(
        &self,
        bound: &Bound,
        name: String,
        data: &str,
    ) -> Result<serde_json::Value, ProtocolError> {
        let refused = |message: String| ProtocolError::new(codes::REFUSED, message);
        let data = app_sdk::base64::decode(data)
            .map_err(|error| ProtocolError::new(codes::BAD_REQUEST, format!("data: {error}")))?;
        app_sdk::protocol::check_checkpoint(&name, data.len()).map_err(refused)?;
        let lease_lost = self.current(bound, |instance| instance.lease_lost)?;
        if lease_lost {
            return Err(refused(format!(
                "node {} lost its lease: this instance must stop serving",
                self.node_name
            )));
        }
        let command = cmdb::Command::PutCheckpoint {
            resource: bound.resource.clone(),
            node: self.node,
            fencing_token: bound.fencing_token,
            name: name.clone(),
            data: data.clone(),
            at_ms: crate::clock::now_ms(),
        };
        match crate::resources::propose(&self.raft, &self.shared, &self.peer_client, &command).await
        {
            Ok(cmdb::CommandResult::Rejected(reason)) => {
                let (resource, token) = (&bound.resource, bound.fencing_token);
                tracing::warn!(resource = %resource, token, reason = %reason, "Checkpoint refused");
                Err(refused(reason))
            }
            Ok(_) => {
                self.await_local_checkpoint(bound, &name, &data).await;
                Ok(json!({}))
            }
            Err(error) => Err(ProtocolError::new(
                codes::UNAVAILABLE,
                format!("the checkpoint could not reach the master ({error}); retry"),
            )),
        }
    }

    /// Waits (bounded) until this node's replica has applied the checkpoint, so a read
    /// that follows the write on this node sees it.
    async fn await_local_checkpoint(&self, bound: &Bound, name: &str, data: &[u8]) {
        let mut applied = self.shared.subscribe();
        let wait = async {
            loop {
                let present = self.shared.read(|db| {
                    db.checkpoints
                        .get(&bound.resource)
                        .and_then(|named| named.get(name))
                        .is_some_and(|c| c.fencing_token == bound.fencing_token && c.data == data)
                });
                if present || applied.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(CHECKPOINT_APPLY_WAIT, wait).await;
    }
}
