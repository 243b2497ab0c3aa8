//! Runs the protocol conformance scenarios (`clients/conformance/scenarios.json`) with the
//! Rust SDK, as an instance started by encluster; the twin of
//! `clients/python/conformance.py`, with the same output and the same control loop (see
//! there), so `tests/it/app.rs` checks both clients against one list.

use app_sdk::protocol::{AgentMessage, ENV_SOCKET, Op, Request, encode_line};
use app_sdk::{App, Depth, Error, Event};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let app = App::connect_from_env().await.expect("hello");
    let path = std::env::var("CONFORMANCE_SCENARIOS").expect("CONFORMANCE_SCENARIOS");
    let text = std::fs::read_to_string(&path).expect("read the scenarios");
    let scenarios: Value = serde_json::from_str(&text).expect("scenarios are JSON");
    let mut passed = true;
    for step in scenarios["steps"].as_array().expect("steps") {
        let (ok, detail) = check(&app, step).await;
        passed &= ok;
        let line = json!({"name": step["name"], "ok": ok, "detail": detail});
        println!("CONFORMANCE {line}");
    }
    println!("CONFORMANCE-DONE {}", if passed { "pass" } else { "fail" });
    serve(&app).await;
}

fn expand(value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return value.clone();
    };
    if let Some(name) = text.strip_prefix('$') {
        return Value::String(std::env::var(name).unwrap_or_default());
    }
    let mut text = text.to_owned();
    for (name, value) in std::env::vars().filter(|(name, _)| name.starts_with("CONFORMANCE_")) {
        text = text.replace(&format!("${name}"), &value);
    }
    Value::String(text)
}

/// What a failed step's error code is: the protocol's, or the client's own.
fn code(error: &Error) -> String {
    match error {
        Error::Refused(error) => error.code.clone(),
        Error::Disconnected => "disconnected".into(),
        Error::Timeout(_) => "timeout".into(),
        other => format!("other: {other}"),
    }
}

async fn run_step(app: &App, step: &Value) -> Result<Value, Error> {
    let text = |key: &str| step[key].as_str().unwrap_or_default().to_owned();
    Ok(match step["op"].as_str().unwrap_or_default() {
        "identity" => {
            let identity = serde_json::to_value(app.identity()).expect("identity is JSON");
            match &identity[text("field").as_str()] {
                Value::Number(number) => Value::String(number.to_string()),
                other => other.clone(),
            }
        }
        "params" => app
            .params()
            .await?
            .get(&text("key"))
            .map_or(Value::Null, |value| Value::String(value.clone())),
        "ping" => app.ping().await.map(|()| Value::Null)?,
        "health" => {
            let depth: Depth = serde_json::from_value(step["depth"].clone()).expect("depth");
            let health = if step["healthy"].as_bool() == Some(true) {
                Ok(())
            } else {
                Err("told".into())
            };
            app.report_health(depth, health)
                .await
                .map(|()| Value::Null)?
        }
        "checkpoint_put" => {
            let data = match step["size"].as_u64() {
                Some(size) => vec![b'x'; size as usize],
                None => expand(&step["data"])
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            };
            app.checkpoint_put(&text("checkpoint"), &data)
                .await
                .map(|()| Value::Null)?
        }
        "checkpoint_get" => match app.checkpoint_get(&text("checkpoint")).await? {
            Some(data) => Value::String(String::from_utf8_lossy(&data).into_owned()),
            None => Value::Null,
        },
        "raw" => raw(step).await?,
        other => panic!("unknown step op {other:?}"),
    })
}

/// One step on a connection of its own, speaking the protocol by hand.
async fn raw(step: &Value) -> Result<Value, Error> {
    let socket = std::env::var(ENV_SOCKET).expect("socket");
    let stream = UnixStream::connect(&socket)
        .await
        .map_err(|_| Error::Disconnected)?;
    let (read, mut write) = stream.into_split();
    let line = if let Some(token) = step.get("hello_token") {
        let op = Op::Hello {
            version: step["version"].as_u64().unwrap_or(1) as u32,
            token: expand(token).as_str().unwrap_or_default().to_owned(),
        };
        encode_line(&Request { id: 1, op })
    } else if let Some(repeat) = step["repeat"].as_u64() {
        let mut line = vec![b'x'; repeat as usize];
        line.push(b'\n');
        line
    } else {
        format!("{}\n", step["line"].as_str().unwrap_or_default()).into_bytes()
    };
    // The agent may answer and close before it read all of a long line.
    let _ = write.write_all(&line).await;
    let mut answer = String::new();
    let mut reader = BufReader::new(read);
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut answer)).await;
    read.map_err(|_| Error::Timeout(Duration::from_secs(10)))?
        .map_err(|_| Error::Disconnected)?;
    match serde_json::from_str::<AgentMessage>(&answer) {
        Ok(AgentMessage::Reply(reply)) => match reply.error {
            Some(error) => Err(Error::Refused(error)),
            None => Ok(reply.ok.unwrap_or(Value::Null)),
        },
        _ => Err(Error::Protocol(format!("not a reply: {answer:?}"))),
    }
}

async fn check(app: &App, step: &Value) -> (bool, String) {
    let expected_error = step["error"].as_str();
    match (run_step(app, step).await, expected_error) {
        (Err(error), Some(expected)) if code(&error) == expected => {
            (true, format!("refused as expected: {error}"))
        }
        (Err(error), _) => (false, format!("unexpected error {}: {error}", code(&error))),
        (Ok(got), Some(expected)) => (false, format!("expected error {expected}, got {got}")),
        (Ok(got), None) => match step.get("equals") {
            Some(equals) if expand(equals) != got => {
                (false, format!("expected {}, got {got}", expand(equals)))
            }
            _ => (true, format!("got {got}")),
        },
    }
}

/// The control loop: events from the agent, commands from the `app-control` file.
async fn serve(app: &App) {
    let state_dir = std::env::var("ENCLUSTER_STATE_DIR").expect("state dir");
    let control = std::path::Path::new(&state_dir).join("app-control");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let demote_failure = std::sync::Mutex::new(None::<String>);
    loop {
        tokio::select! {
            _ = terminate.recv() => {
                // Like a well-behaved server: say what the agent said last, then go.
                let last = tokio::time::timeout(Duration::from_millis(200), app.next_event());
                if let Ok(Some(event)) = last.await {
                    print_event(&event);
                }
                println!("SIGTERM");
                return;
            }
            event = app.next_event() => match event {
                Some(Event::PrepareStop { deadline }) => {
                    println!("EVENT prepare_stop {}", deadline.as_millis());
                    let _ = app.stop_ready().await;
                    return;
                }
                Some(event @ Event::LeaseLost { .. }) => {
                    print_event(&event);
                    return;
                }
                Some(Event::ParamsChanged(change)) => {
                    println!("EVENT params_changed");
                    let _ = change.accept().await;
                }
                Some(Event::Promote(change)) => {
                    println!("EVENT promote");
                    let _ = change.done().await;
                }
                Some(Event::Demote(change)) => {
                    let failure = demote_failure.lock().expect("not poisoned").clone();
                    println!("EVENT demote {}", failure.as_deref().unwrap_or("done"));
                    let _ = change.answer(failure.map_or(Ok(()), Err)).await;
                }
                None => return,
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Ok(text) = std::fs::read_to_string(&control) {
                    let _ = std::fs::remove_file(&control);
                    run_control(app, &text, &demote_failure).await;
                }
            }
        }
    }
}

async fn run_control(app: &App, text: &str, demote_failure: &std::sync::Mutex<Option<String>>) {
    let mut words = text.splitn(3, char::is_whitespace);
    match (words.next(), words.next(), words.next()) {
        (Some("health-fail"), _, _) => {
            let reason = text
                .trim()
                .strip_prefix("health-fail")
                .unwrap_or_default()
                .trim();
            let reason = if reason.is_empty() {
                "told to fail"
            } else {
                reason
            }
            .to_owned();
            let _ = app.report_health(Depth::IsAlive, Err(reason)).await;
            println!("CONTROL health-fail ok");
        }
        (Some("checkpoint"), Some(name), Some(data)) => {
            match app.checkpoint_put(name, data.trim_end().as_bytes()).await {
                Ok(()) => println!("CONTROL checkpoint {name} ok"),
                Err(error) => println!("CONTROL checkpoint {name} error {} {error}", code(&error)),
            }
        }
        (Some("read"), Some(name), _) => match app.checkpoint_get(name.trim_end()).await {
            Ok(data) => {
                let data = String::from_utf8_lossy(&data.unwrap_or_default()).into_owned();
                println!("CONTROL read {} {data}", name.trim_end());
            }
            Err(error) => println!("CONTROL read {name} error {} {error}", code(&error)),
        },
        (Some("score"), Some(score), _) => match score.trim().parse::<i64>() {
            Ok(score) => match app.set_promotion_score(Some(score)).await {
                Ok(()) => println!("CONTROL score {score} ok"),
                Err(error) => println!("CONTROL score error {} {error}", code(&error)),
            },
            Err(_) => println!("CONTROL unknown {text:?}"),
        },
        (Some("demote-fail"), _, _) => {
            let reason = text
                .trim()
                .strip_prefix("demote-fail")
                .unwrap_or_default()
                .trim();
            let reason = if reason.is_empty() {
                "told to fail"
            } else {
                reason
            };
            *demote_failure.lock().expect("not poisoned") = Some(reason.to_owned());
            println!("CONTROL demote-fail ok");
        }
        (Some("bench"), Some(count), _) => bench(app, count.trim().parse().unwrap_or(1000)).await,
        _ => println!("CONTROL unknown {text:?}"),
    }
}

/// `bench N`: N round trips (`ping`), then N checkpoint writes of 1 KiB, each timed;
/// prints `BENCH <what> <count> p50_us=.. p99_us=..` lines, then `BENCH-DONE`.
async fn bench(app: &App, count: usize) {
    let count = count.max(1);
    let mut pings = Vec::with_capacity(count);
    for _ in 0..count {
        let began = std::time::Instant::now();
        if app.ping().await.is_err() {
            println!("BENCH-DONE error");
            return;
        }
        pings.push(began.elapsed());
    }
    let data = vec![b'x'; 1024];
    let mut writes = Vec::with_capacity(count);
    for _ in 0..count {
        let began = std::time::Instant::now();
        if let Err(error) = app.checkpoint_put("bench", &data).await {
            println!("BENCH-DONE error {error}");
            return;
        }
        writes.push(began.elapsed());
    }
    for (what, mut samples) in [("ping", pings), ("checkpoint_put_1k", writes)] {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_micros();
        println!(
            "BENCH {what} {count} p50_us={} p99_us={}",
            at(0.50),
            at(0.99)
        );
    }
    println!("BENCH-DONE");
}

fn print_event(event: &Event) {
    match event {
        Event::LeaseLost { reason } => println!("EVENT lease_lost {reason}"),
        Event::PrepareStop { deadline } => println!("EVENT prepare_stop {}", deadline.as_millis()),
        other => println!("EVENT {other:?}"),
    }
}
