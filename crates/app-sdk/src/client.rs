//! The async client: one task owns the connection to the agent, reconnects when the agent
//! restarts, matches replies to requests and hands events to the application.

use crate::framing::LineReader;
use crate::limits::{
    EVENT_QUEUE_MAX, MESSAGE_BYTES_MAX, RECONNECT_FOR, RECONNECT_PAUSE_MAX, RECONNECT_PAUSE_MIN,
    REQUEST_TIMEOUT,
};
use crate::protocol::{
    AgentEvent, AgentMessage, Depth, ENV_SOCKET, ENV_TOKEN, Hello, Op, PROTOCOL_VERSION,
    ProtocolError, Request, codes, encode_line,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The environment does not say where the agent is (not started by encluster?).
    #[error("{0} is not set: the application must be started by encluster (or set it by hand)")]
    MissingEnv(&'static str),
    /// The agent's socket cannot be reached.
    #[error("cannot reach the agent at {path}: {source}")]
    Connect {
        /// The socket's path.
        path: PathBuf,
        /// Why it cannot be reached.
        source: std::io::Error,
    },
    /// The agent refused the request; `code` says why (see `protocol::codes`).
    #[error("the agent refused: {0}")]
    Refused(ProtocolError),
    /// The connection dropped before the answer came; the request may or may not have
    /// taken effect. The client reconnects by itself.
    #[error("the connection to the agent dropped before the answer came")]
    Disconnected,
    /// No answer within the request timeout.
    #[error("no answer from the agent within {0:?}")]
    Timeout(Duration),
    /// The client gave up on the agent (it stayed unreachable, or refused us).
    #[error("the client is closed: {0}")]
    Closed(String),
    /// The agent answered something this client cannot read.
    #[error("unreadable answer from the agent: {0}")]
    Protocol(String),
}

/// Something the agent told the application.
#[derive(Debug)]
pub enum Event {
    /// New parameters to check: answer with [`ParamsChange::accept`] or
    /// [`ParamsChange::reject`].
    ParamsChanged(ParamsChange),
    /// Drain and call [`App::stop_ready`]; the stop signal comes after `deadline` at the latest.
    PrepareStop {
        /// How long until the stop signal, at the latest.
        deadline: Duration,
    },
    /// Become the promoted instance, then say so with [`RoleChange::done`] (or
    /// [`RoleChange::failed`]): the answer is the result of the cluster's promote action.
    Promote(RoleChange),
    /// Become an unpromoted instance, then answer as for [`Event::Promote`].
    Demote(RoleChange),
    /// The node's lease is lost: stop serving now ([`App::lease_lost`] fires too).
    LeaseLost {
        /// Why, for logs.
        reason: String,
    },
}

/// A parameter change offered by the agent (validate-then-set).
#[derive(Debug)]
pub struct ParamsChange {
    /// The parameters as they would be.
    pub params: BTreeMap<String, String>,
    change: u64,
    app: App,
}

impl ParamsChange {
    /// The application has applied the new parameters.
    pub async fn accept(self) -> Result<(), Error> {
        let op = Op::ParamsAnswer {
            change: self.change,
            accept: true,
            reason: None,
        };
        self.app.request(op).await.map(drop)
    }

    /// The application cannot take them; `reason` is shown to the operator and the
    /// instance is restarted with the new parameters.
    pub async fn reject(self, reason: impl Into<String>) -> Result<(), Error> {
        let op = Op::ParamsAnswer {
            change: self.change,
            accept: false,
            reason: Some(reason.into()),
        };
        self.app.request(op).await.map(drop)
    }
}

/// A promote or demote asked by the agent, for a promotable resource; answer it once.
#[derive(Debug)]
pub struct RoleChange {
    change: u64,
    app: App,
}

impl RoleChange {
    /// The instance now runs in the asked role.
    pub async fn done(self) -> Result<(), Error> {
        self.answer(Ok(())).await
    }

    /// The instance could not change its role; `reason` is recorded as the failure of
    /// the cluster's action (a failed promote is retried elsewhere, a failed demote is
    /// recovered like a failed stop).
    pub async fn failed(self, reason: impl Into<String>) -> Result<(), Error> {
        self.answer(Err(reason.into())).await
    }

    /// Done or failed, as a `Result`.
    pub async fn answer(self, result: Result<(), String>) -> Result<(), Error> {
        let op = Op::RoleAnswer {
            change: self.change,
            done: result.is_ok(),
            reason: result.err(),
        };
        self.app.request(op).await.map(drop)
    }
}

/// A connection to this node's agent, as one instance of a resource. Cheap to clone; the
/// connection closes when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct App {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    outgoing: mpsc::Sender<Outgoing>,
    identity: watch::Receiver<Hello>,
    lease_lost: watch::Receiver<Option<String>>,
    events: Mutex<mpsc::Receiver<(u64, AgentEvent)>>,
    task: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Outgoing {
    op: Op,
    reply: oneshot::Sender<Result<serde_json::Value, Error>>,
}

impl App {
    /// Connects with the socket path and token encluster put in the environment
    /// (`ENCLUSTER_APP_SOCKET`, `ENCLUSTER_APP_TOKEN`) and says hello.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), app_sdk::Error> {
    /// let app = app_sdk::App::connect_from_env().await?;
    /// println!("I am {} with token {}", app.identity().instance, app.identity().fencing_token);
    /// # Ok(()) }
    /// ```
    pub async fn connect_from_env() -> Result<App, Error> {
        let socket = std::env::var_os(ENV_SOCKET).ok_or(Error::MissingEnv(ENV_SOCKET))?;
        let token = std::env::var(ENV_TOKEN).map_err(|_| Error::MissingEnv(ENV_TOKEN))?;
        App::connect(socket, token).await
    }

    /// Connects to the agent's socket at `socket` with an instance token and says hello.
    pub async fn connect(socket: impl AsRef<Path>, token: String) -> Result<App, Error> {
        let path = socket.as_ref().to_path_buf();
        let (connection, hello) = Connection::open(&path, &token).await?;
        let (outgoing, outgoing_rx) = mpsc::channel(EVENT_QUEUE_MAX);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE_MAX);
        let (identity_tx, identity) = watch::channel(hello);
        let (lease_tx, lease_lost) = watch::channel(None);
        let driver = Driver {
            path,
            token,
            outgoing: outgoing_rx,
            events: events_tx,
            identity: identity_tx,
            lease_lost: lease_tx,
            next_event: 0,
        };
        let task = tokio::spawn(driver.run(connection));
        Ok(App {
            shared: Arc::new(Shared {
                outgoing,
                identity,
                lease_lost,
                events: Mutex::new(events),
                task,
            }),
        })
    }

    /// Who this instance is: resource, node, instance name, fencing token, lease, and the
    /// parameters as of the last hello.
    pub fn identity(&self) -> Hello {
        self.shared.identity.borrow().clone()
    }

    /// The resource's current parameters.
    pub async fn params(&self) -> Result<BTreeMap<String, String>, Error> {
        let value = self.request(Op::Params).await?;
        serde_json::from_value(value).map_err(|error| Error::Protocol(error.to_string()))
    }

    /// Reports the result of the application's own health check at `depth`. An `Err`
    /// is a monitor failure: the cluster recovers the resource as for any failure.
    ///
    /// ```no_run
    /// # async fn run(app: app_sdk::App) -> Result<(), app_sdk::Error> {
    /// use app_sdk::Depth;
    /// app.report_health(Depth::LooksAlive, Ok(())).await?;
    /// app.report_health(Depth::IsAlive, Err("database unreachable".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn report_health(
        &self,
        depth: Depth,
        health: Result<(), String>,
    ) -> Result<(), Error> {
        let op = Op::Health {
            depth,
            healthy: health.is_ok(),
            reason: health.err(),
        };
        self.request(op).await.map(drop)
    }

    /// Stores a checkpoint (at most 64 KiB, 1 MiB per resource), replicated through the
    /// cluster. Refused (`Error::Refused` with code `refused`) once a newer instance holds
    /// the resource, so a stale instance can never overwrite its successor's state.
    ///
    /// ```no_run
    /// # async fn run(app: app_sdk::App) -> Result<(), app_sdk::Error> {
    /// app.checkpoint_put("history", b"last lines").await?;
    /// assert_eq!(app.checkpoint_get("history").await?.as_deref(), Some(&b"last lines"[..]));
    /// # Ok(()) }
    /// ```
    pub async fn checkpoint_put(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        crate::protocol::check_checkpoint(name, data.len())
            .map_err(|message| Error::Refused(ProtocolError::new(codes::REFUSED, message)))?;
        let op = Op::CheckpointPut {
            name: name.to_owned(),
            data: crate::base64::encode(data),
        };
        self.request(op).await.map(drop)
    }

    /// Reads a checkpoint; `None` if it was never written.
    pub async fn checkpoint_get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let op = Op::CheckpointGet {
            name: name.to_owned(),
        };
        let value = self.request(op).await?;
        match value.get("data") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => crate::base64::decode(text)
                .map(Some)
                .map_err(|error| Error::Protocol(error.to_string())),
            Some(other) => Err(Error::Protocol(format!("checkpoint data {other}"))),
        }
    }

    /// Sets this instance's promotion score, for a promotable resource: the cluster
    /// promotes only instances that set one, the highest first (clamped to ±1000000,
    /// Pacemaker's INFINITY); `None` clears it. Reaches the master after the instance's
    /// next monitor.
    ///
    /// ```no_run
    /// # async fn run(app: app_sdk::App) -> Result<(), app_sdk::Error> {
    /// use app_sdk::Event;
    /// app.set_promotion_score(Some(10)).await?;
    /// while let Some(event) = app.next_event().await {
    ///     match event {
    ///         Event::Promote(change) => change.done().await?, // now serve writes
    ///         Event::Demote(change) => change.done().await?, // now only follow
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn set_promotion_score(&self, score: Option<i64>) -> Result<(), Error> {
        self.request(Op::PromotionScore { score }).await.map(drop)
    }

    /// Says the application has drained after [`Event::PrepareStop`].
    pub async fn stop_ready(&self) -> Result<(), Error> {
        self.request(Op::StopReady).await.map(drop)
    }

    /// One round trip to the agent.
    pub async fn ping(&self) -> Result<(), Error> {
        self.request(Op::Ping).await.map(drop)
    }

    /// The next event from the agent; `None` once the client is closed.
    pub async fn next_event(&self) -> Option<Event> {
        let (change, event) = self.shared.events.lock().await.recv().await?;
        Some(match event {
            AgentEvent::ParamsChanged { params, .. } => Event::ParamsChanged(ParamsChange {
                params,
                change,
                app: self.clone(),
            }),
            AgentEvent::PrepareStop { deadline_ms } => Event::PrepareStop {
                deadline: Duration::from_millis(deadline_ms),
            },
            AgentEvent::Promote { .. } => Event::Promote(RoleChange {
                change,
                app: self.clone(),
            }),
            AgentEvent::Demote { .. } => Event::Demote(RoleChange {
                change,
                app: self.clone(),
            }),
            AgentEvent::LeaseLost { reason } => Event::LeaseLost { reason },
        })
    }

    /// Completes when this node's lease is lost (or the agent stayed unreachable for
    /// good), with the reason: the application must stop serving at once. Put it in a
    /// `select!` next to the work:
    ///
    /// ```no_run
    /// # async fn serve() {}
    /// # async fn run(app: app_sdk::App) {
    /// tokio::select! {
    ///     reason = app.lease_lost() => eprintln!("stopping: {reason}"),
    ///     () = serve() => {}
    /// }
    /// # }
    /// ```
    pub async fn lease_lost(&self) -> String {
        let mut lease_lost = self.shared.lease_lost.clone();
        match lease_lost.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().expect("waited for Some"),
            Err(_) => "the client is closed".to_owned(),
        }
    }

    /// Whether the lease is already lost.
    pub fn is_lease_lost(&self) -> bool {
        self.shared.lease_lost.borrow().is_some()
    }

    async fn request(&self, op: Op) -> Result<serde_json::Value, Error> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .outgoing
            .send(Outgoing { op, reply })
            .await
            .map_err(|_| Error::Closed("the connection task ended".to_owned()))?;
        match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Disconnected),
            Err(_) => Err(Error::Timeout(REQUEST_TIMEOUT)),
        }
    }
}

/// One open connection, after a successful hello.
struct Connection {
    stream: UnixStream,
    reader: LineReader,
}

impl Connection {
    async fn open(path: &Path, token: &str) -> Result<(Connection, Hello), Error> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| Error::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let mut connection = Connection {
            stream,
            reader: LineReader::new(MESSAGE_BYTES_MAX),
        };
        let hello = Request {
            id: 0,
            op: Op::Hello {
                version: PROTOCOL_VERSION,
                token: token.to_owned(),
            },
        };
        connection
            .send(&hello)
            .await
            .map_err(|_| Error::Disconnected)?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, connection.next_reply()).await;
        let value = answer.map_err(|_| Error::Timeout(REQUEST_TIMEOUT))??;
        let hello = serde_json::from_value(value).map_err(|e| Error::Protocol(e.to_string()))?;
        Ok((connection, hello))
    }

    async fn send(&mut self, request: &Request) -> std::io::Result<()> {
        self.stream.write_all(&encode_line(request)).await
    }

    /// Reads until the hello's reply (no events can come before it).
    async fn next_reply(&mut self) -> Result<serde_json::Value, Error> {
        loop {
            match self.next_message().await? {
                AgentMessage::Reply(reply) => return reply_result(reply),
                AgentMessage::Event(_) => continue,
            }
        }
    }

    async fn next_message(&mut self) -> Result<AgentMessage, Error> {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let line = self
                .reader
                .next_line()
                .map_err(|error| Error::Protocol(error.to_string()))?;
            if let Some(line) = line {
                return serde_json::from_slice(&line)
                    .map_err(|error| Error::Protocol(error.to_string()));
            }
            let read = self
                .stream
                .read(&mut buffer)
                .await
                .map_err(|_| Error::Disconnected)?;
            if read == 0 {
                return Err(Error::Disconnected);
            }
            self.reader.push(&buffer[..read]);
        }
    }
}

fn reply_result(reply: crate::protocol::Reply) -> Result<serde_json::Value, Error> {
    match (reply.ok, reply.error) {
        (_, Some(error)) => Err(Error::Refused(error)),
        (Some(value), None) => Ok(value),
        (None, None) => Ok(serde_json::Value::Null),
    }
}

/// The task that owns the connection.
struct Driver {
    path: PathBuf,
    token: String,
    outgoing: mpsc::Receiver<Outgoing>,
    events: mpsc::Sender<(u64, AgentEvent)>,
    identity: watch::Sender<Hello>,
    lease_lost: watch::Sender<Option<String>>,
    next_event: u64,
}

impl Driver {
    async fn run(mut self, mut connection: Connection) {
        loop {
            if !self.serve(&mut connection).await {
                return;
            }
            match self.reconnect().await {
                Ok(fresh) => connection = fresh,
                Err(why) => {
                    tracing::warn!(error = %why, "Giving up on the encluster agent");
                    self.lease_lost
                        .send_replace(Some(format!("agent unreachable: {why}")));
                    return;
                }
            }
        }
    }

    /// Serves one connection until it drops (`true`: reconnect) or the app is gone.
    async fn serve(&mut self, connection: &mut Connection) -> bool {
        let mut pending: HashMap<u64, oneshot::Sender<Result<serde_json::Value, Error>>> =
            HashMap::new();
        let mut next_id: u64 = 1;
        loop {
            tokio::select! {
                outgoing = self.outgoing.recv() => {
                    let Some(Outgoing { op, reply }) = outgoing else { return false };
                    let id = next_id;
                    next_id += 1;
                    if connection.send(&Request { id, op }).await.is_err() {
                        let _ = reply.send(Err(Error::Disconnected));
                        return true;
                    }
                    pending.insert(id, reply);
                }
                message = connection.next_message() => match message {
                    Ok(AgentMessage::Reply(reply)) => {
                        if let Some(waiter) = pending.remove(&reply.id) {
                            let _ = waiter.send(reply_result(reply));
                        }
                    }
                    Ok(AgentMessage::Event(event)) => self.deliver(event),
                    // Dropped waiters learn of it as `Disconnected`.
                    Err(_) => return true,
                },
            }
        }
    }

    fn deliver(&mut self, event: AgentEvent) {
        let key = match &event {
            AgentEvent::ParamsChanged { change, .. }
            | AgentEvent::Promote { change }
            | AgentEvent::Demote { change } => *change,
            _ => {
                self.next_event += 1;
                self.next_event
            }
        };
        if let AgentEvent::LeaseLost { reason } = &event {
            self.lease_lost.send_replace(Some(reason.clone()));
        }
        if self.events.try_send((key, event)).is_err() {
            tracing::warn!("Application event queue full, dropping an event");
        }
    }

    /// Tries again with a growing pause until the agent answers or [`RECONNECT_FOR`]
    /// passes. A refused hello (the instance is gone) ends the client at once.
    async fn reconnect(&mut self) -> Result<Connection, Error> {
        let give_up = tokio::time::Instant::now() + RECONNECT_FOR;
        let mut pause = RECONNECT_PAUSE_MIN;
        loop {
            match Connection::open(&self.path, &self.token).await {
                Ok((connection, hello)) => {
                    let instance = &hello.instance;
                    tracing::info!(instance = %instance, "Reconnected to the encluster agent");
                    self.identity.send_replace(hello);
                    return Ok(connection);
                }
                Err(Error::Refused(error)) if error.code != codes::BUSY => {
                    return Err(Error::Refused(error));
                }
                Err(error) if tokio::time::Instant::now() + pause >= give_up => return Err(error),
                Err(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECONNECT_PAUSE_MAX);
        }
    }
}
