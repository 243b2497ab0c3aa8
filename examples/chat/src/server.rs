//! The chat server: every line a client sends goes to every other client.
//!
//! A line is delivered only after it is in the `history` checkpoint (the last
//! [`HISTORY_LINES`] lines, replicated through Raft and fenced), so a line anyone has seen
//! survives a move or a crash of the node: the next instance replays the history to every
//! client that connects. Lines that arrive while a checkpoint is being written are written
//! together in the next one.
//!
//! `MaxUser` (1 to 10) is applied live: the agent offers a changed value through the
//! application protocol and the server checks it, applies it and accepts it
//! (validate-then-set); a lowered value refuses new clients at once and keeps the
//! connected ones. Without the protocol (not started by encluster) the server runs alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app_sdk::{App, Depth, Event};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How many lines the history keeps (and a new client is shown).
pub const HISTORY_LINES: usize = 100;
/// The longest line, in bytes: 100 of them fit in one 64 KiB checkpoint.
pub const LINE_BYTES_MAX: usize = 512;
// A full history of the longest lines fits in one checkpoint.
const _: () =
    assert!(HISTORY_LINES * (LINE_BYTES_MAX + 1) <= app_sdk::limits::CHECKPOINT_BYTES_MAX);
/// The range of `MaxUser`.
pub const MAX_USER_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
const CHECKPOINT: &str = "history";
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How long the history may stay unsaved before the server reports itself unhealthy.
const UNSAVED_MAX: Duration = Duration::from_secs(30);

/// The room: its clients, its history and its limit.
struct Room {
    max_user: AtomicU32,
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, mpsc::UnboundedSender<Arc<str>>>>,
    history: Mutex<VecDeque<String>>,
    draining: AtomicBool,
    node: String,
    /// Since when the history could not be saved (no master, or fenced), if it cannot.
    unsaved_since: Mutex<Option<tokio::time::Instant>>,
}

/// One line from a client, to be saved and then delivered.
struct Said {
    from: u64,
    line: String,
}

/// Runs the server on `listen` until the listener fails or the node's lease is lost.
pub async fn serve(listen: &str, max_user: u32) -> Result<(), String> {
    check_max_user(&max_user.to_string())?;
    let app = if std::env::var_os(app_sdk::protocol::ENV_SOCKET).is_some() {
        Some(App::connect_from_env().await.map_err(|e| e.to_string())?)
    } else {
        None
    };
    let history = match &app {
        Some(app) => {
            let data = app
                .checkpoint_get(CHECKPOINT)
                .await
                .map_err(|e| format!("cannot read the history checkpoint: {e}"))?;
            parse_history(&data.unwrap_or_default())
        }
        None => VecDeque::new(),
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let room = Arc::new(Room {
        max_user: AtomicU32::new(max_user),
        next_id: AtomicU64::new(1),
        clients: Mutex::new(BTreeMap::new()),
        history: Mutex::new(history),
        draining: AtomicBool::new(false),
        unsaved_since: Mutex::new(None),
        node: std::env::var("ENCLUSTER_NODE").unwrap_or_else(|_| "this node".into()),
    });
    eprintln!("chat: listening on {listen}, MaxUser {max_user}");
    let (said_tx, said_rx) = mpsc::unbounded_channel();
    tokio::spawn(deliver(room.clone(), app.clone(), said_rx));
    let accept = accept_loop(listener, room.clone(), said_tx);
    match app {
        Some(app) => {
            tokio::spawn(report_health(app.clone(), room.clone()));
            tokio::select! {
                result = accept => result,
                reason = app.lease_lost() => Err(format!("stop serving: {reason}")),
                () = events(app.clone(), room) => Ok(()),
            }
        }
        None => accept.await,
    }
}

/// `MaxUser` as given, or why it is refused.
pub fn check_max_user(text: &str) -> Result<u32, String> {
    let value: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("MaxUser: {text:?} is not an integer from 1 to 10"))?;
    if value > *MAX_USER_RANGE.end() {
        return Err(format!("MaxUser: {value} is above the maximum 10"));
    }
    if value < *MAX_USER_RANGE.start() {
        return Err(format!("MaxUser: {value} is below the minimum 1"));
    }
    Ok(value)
}

fn parse_history(data: &[u8]) -> VecDeque<String> {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let skip = lines.len().saturating_sub(HISTORY_LINES);
    lines.into_iter().skip(skip).collect()
}

async fn accept_loop(
    listener: TcpListener,
    room: Arc<Room>,
    said: mpsc::UnboundedSender<Said>,
) -> Result<(), String> {
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        crate::keepalive(&stream);
        tokio::spawn(client(stream, room.clone(), said.clone()));
    }
}

/// Admits a client (or refuses it with a line saying why), replays the history to it and
/// then passes its lines on and writes it the others'.
async fn client(stream: TcpStream, room: Arc<Room>, said: mpsc::UnboundedSender<Said>) {
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Arc<str>>();
    let admitted = {
        let mut clients = room.clients.lock().expect("never poisoned");
        let max = room.max_user.load(Ordering::SeqCst);
        if room.draining.load(Ordering::SeqCst) {
            Err("* refused: the chat is moving; reconnect in a moment\n".to_owned())
        } else if clients.len() >= max as usize {
            Err(format!(
                "* refused: the room is full ({max} users, MaxUser {max}); try again later\n"
            ))
        } else {
            let id = room.next_id.fetch_add(1, Ordering::SeqCst);
            clients.insert(id, tx);
            // The greeting and history are queued under the lock, before any new line.
            let history = room.history.lock().expect("never poisoned");
            let users = clients.len();
            let welcome = format!(
                "* welcome to chat on {}: {users} of {max} users; {} earlier lines follow\n",
                room.node,
                history.len()
            );
            let mut text = welcome;
            for line in history.iter() {
                text.push_str(line);
                text.push('\n');
            }
            let _ = clients[&id].send(text.into());
            Ok(id)
        }
    };
    let id = match admitted {
        Ok(id) => id,
        Err(line) => {
            let _ = write.write_all(line.as_bytes()).await;
            return;
        }
    };
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if write.write_all(text.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    read_lines(read, id, &room, &said).await;
    room.clients.lock().expect("never poisoned").remove(&id);
    writer.abort();
}

async fn read_lines(
    read: tokio::net::tcp::OwnedReadHalf,
    id: u64,
    room: &Room,
    said: &mpsc::UnboundedSender<Said>,
) {
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim_end_matches('\r').to_owned();
        if line.len() > LINE_BYTES_MAX {
            let note = format!("* not sent: a line has at most {LINE_BYTES_MAX} bytes\n");
            if let Some(tx) = room.clients.lock().expect("never poisoned").get(&id) {
                let _ = tx.send(note.into());
            }
            continue;
        }
        if said.send(Said { from: id, line }).is_err() {
            return;
        }
    }
}

/// Saves lines in the history checkpoint, then delivers them to everyone else. Lines that
/// wait meanwhile go out together after the next write.
async fn deliver(room: Arc<Room>, app: Option<App>, mut said: mpsc::UnboundedReceiver<Said>) {
    while let Some(first) = said.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = said.try_recv() {
            batch.push(more);
        }
        let snapshot = {
            let mut history = room.history.lock().expect("never poisoned");
            for said in &batch {
                history.push_back(said.line.clone());
            }
            while history.len() > HISTORY_LINES {
                history.pop_front();
            }
            history.iter().fold(String::new(), |mut text, line| {
                text.push_str(line);
                text.push('\n');
                text
            })
        };
        if let Some(app) = &app {
            let saved = app.checkpoint_put(CHECKPOINT, snapshot.as_bytes()).await;
            let mut unsaved = room.unsaved_since.lock().expect("never poisoned");
            if let Err(error) = saved {
                // Fenced (another instance took over) or no master now: not delivered.
                eprintln!("chat: cannot save the history, lines not delivered: {error}");
                unsaved.get_or_insert_with(tokio::time::Instant::now);
                continue;
            }
            *unsaved = None;
        }
        let clients = room.clients.lock().expect("never poisoned");
        for said in &batch {
            let text: Arc<str> = format!("{}\n", said.line).into();
            for (id, tx) in clients.iter() {
                if *id != said.from {
                    let _ = tx.send(text.clone());
                }
            }
        }
    }
}

/// Answers the agent: parameter changes (validate-then-set) and the drain before a stop.
async fn events(app: App, room: Arc<Room>) {
    while let Some(event) = app.next_event().await {
        match event {
            Event::ParamsChanged(change) => {
                let value = change.params.get("MaxUser").map(String::as_str);
                match check_max_user(value.unwrap_or("5")) {
                    Ok(max) => {
                        room.max_user.store(max, Ordering::SeqCst);
                        eprintln!("chat: MaxUser is now {max}");
                        let _ = change.accept().await;
                    }
                    Err(reason) => {
                        let _ = change.reject(reason).await;
                    }
                }
            }
            Event::PrepareStop { .. } => {
                // Every delivered line is already saved: refuse newcomers and close every
                // connection now (each writer ends and sends FIN), while the VIP is still
                // here, so the clients reconnect at once to the next instance.
                room.draining.store(true, Ordering::SeqCst);
                room.clients.lock().expect("never poisoned").clear();
                let _ = app.stop_ready().await;
            }
            Event::LeaseLost { .. } | Event::Promote(_) | Event::Demote(_) => {}
        }
    }
}

/// Reports both depths every few seconds: LooksAlive that the server runs, IsAlive that
/// it could save its history within the last [`UNSAVED_MAX`].
async fn report_health(app: App, room: Arc<Room>) {
    loop {
        let _ = app.report_health(Depth::LooksAlive, Ok(())).await;
        let since = *room.unsaved_since.lock().expect("never poisoned");
        let saving = match since {
            Some(since) if since.elapsed() > UNSAVED_MAX => Err(format!(
                "the history could not be saved for {:?}",
                since.elapsed()
            )),
            _ => Ok(()),
        };
        let _ = app.report_health(Depth::IsAlive, saving).await;
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_user_is_an_integer_from_1_to_10() {
        assert_eq!(check_max_user("10"), Ok(10));
        assert_eq!(check_max_user(" 1 "), Ok(1));
        assert_eq!(
            check_max_user("11"),
            Err("MaxUser: 11 is above the maximum 10".to_owned())
        );
        assert_eq!(
            check_max_user("0"),
            Err("MaxUser: 0 is below the minimum 1".to_owned())
        );
        assert!(check_max_user("many").is_err_and(|e| e.contains("not an integer")));
    }

    #[test]
    fn the_history_keeps_the_last_100_lines() {
        let text: String = (1..=150).map(|n| format!("line {n}\n")).collect();
        let history = parse_history(text.as_bytes());
        assert_eq!(history.len(), HISTORY_LINES);
        assert_eq!(history.front().map(String::as_str), Some("line 51"));
        assert_eq!(history.back().map(String::as_str), Some("line 150"));
    }
}
