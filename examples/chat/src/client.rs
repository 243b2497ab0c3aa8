//! The chat client: stdin to the server, the server to stdout, reconnecting whenever the
//! connection drops (a moved or crashed server), so lines typed meanwhile are sent after.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long the client waits between connection attempts.
const RETRY: Duration = Duration::from_millis(100);

/// Talks to the chat at `address` until stdin ends; `Err` when the room refused us.
pub async fn connect(address: &str) -> Result<(), String> {
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut pending: Option<String> = None;
    let mut told = false;
    loop {
        let Ok(stream) = TcpStream::connect(address).await else {
            if !told {
                eprintln!("* cannot reach {address}; retrying");
                told = true;
            }
            tokio::time::sleep(RETRY).await;
            continue;
        };
        told = false;
        let _ = stream.set_nodelay(true);
        crate::keepalive(&stream);
        let (read, mut write) = stream.into_split();
        let mut incoming = BufReader::new(read).lines();
        loop {
            if let Some(line) = pending.take()
                && write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
            {
                pending = Some(line);
                break;
            }
            tokio::select! {
                line = lines.recv() => match line {
                    Some(line) => pending = Some(line),
                    None => return Ok(()),
                },
                got = incoming.next_line() => match got {
                    Ok(Some(text)) if text.starts_with("* refused: the room is full") => {
                        return Err(text);
                    }
                    Ok(Some(text)) => println!("{text}"),
                    _ => break,
                },
            }
        }
        eprintln!("* disconnected from {address}; reconnecting");
        tokio::time::sleep(RETRY).await;
    }
}
