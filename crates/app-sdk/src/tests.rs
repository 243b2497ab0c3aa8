//! Unit tests of the protocol: framing, parsing, encoding and the client against a small
//! in-test agent on a socket pair directory (no encluster agent involved).

use crate::framing::{LineReader, TooLarge};
use crate::protocol::{
    AgentEvent, AgentMessage, Depth, Op, ProtocolError, Reply, Request, codes, encode_line,
    parse_request,
};

fn lines(reader: &mut LineReader) -> Vec<Result<Vec<u8>, TooLarge>> {
    let mut out = Vec::new();
    loop {
        match reader.next_line() {
            Ok(Some(line)) => out.push(Ok(line)),
            Ok(None) => return out,
            Err(error) => {
                out.push(Err(error));
                return out;
            }
        }
    }
}

#[test]
fn lines_split_across_reads_are_joined() {
    let mut reader = LineReader::new(16);
    reader.push(b"{\"a\"");
    assert!(lines(&mut reader).is_empty());
    reader.push(b":1}\r\n{}\n{");
    assert_eq!(
        lines(&mut reader),
        vec![Ok(b"{\"a\":1}".to_vec()), Ok(b"{}".to_vec())]
    );
    assert_eq!(reader.buffered(), 1);
}

#[test]
fn a_line_over_the_limit_is_refused_and_dropped() {
    let mut reader = LineReader::new(8);
    reader.push(b"0123456789");
    assert_eq!(lines(&mut reader), vec![Err(TooLarge { limit: 8 })]);
    assert_eq!(reader.buffered(), 0);
    // Exactly at the limit (newline included) is still fine.
    let mut reader = LineReader::new(8);
    reader.push(b"0123456\n");
    assert_eq!(lines(&mut reader), vec![Ok(b"0123456".to_vec())]);
}

#[test]
fn a_long_line_with_its_newline_in_one_read_is_still_refused() {
    let mut reader = LineReader::new(8);
    reader.push(b"0123456789\nok\n");
    assert_eq!(lines(&mut reader), vec![Err(TooLarge { limit: 8 })]);
}

fn check_parse(line: &str, expected: Result<Request, (u64, &str)>) {
    let parsed = parse_request(line.as_bytes()).map_err(|(id, error)| (id, error.code));
    let expected = expected.map_err(|(id, code)| (id, code.to_owned()));
    assert_eq!(parsed, expected, "{line}");
}

#[test]
fn requests_parse_from_their_documented_form() {
    check_parse(
        r#"{"id":1,"op":"hello","version":1,"token":"t"}"#,
        Ok(Request {
            id: 1,
            op: Op::Hello {
                version: 1,
                token: "t".into(),
            },
        }),
    );
    check_parse(
        r#"{"id":2,"op":"health","depth":"is_alive","healthy":false,"reason":"db down"}"#,
        Ok(Request {
            id: 2,
            op: Op::Health {
                depth: Depth::IsAlive,
                healthy: false,
                reason: Some("db down".into()),
            },
        }),
    );
    check_parse(
        r#"{"id":3,"op":"ping"}"#,
        Ok(Request {
            id: 3,
            op: Op::Ping,
        }),
    );
    check_parse(
        r#"{"id":4,"op":"params_answer","change":9,"accept":true}"#,
        Ok(Request {
            id: 4,
            op: Op::ParamsAnswer {
                change: 9,
                accept: true,
                reason: None,
            },
        }),
    );
}

#[test]
fn garbage_is_a_bad_request_that_keeps_the_id_when_it_can() {
    check_parse("not json", Err((0, codes::BAD_REQUEST)));
    check_parse(r#"{"id":7,"op":"fly"}"#, Err((7, codes::BAD_REQUEST)));
    check_parse(r#"{"op":"ping"}"#, Err((0, codes::BAD_REQUEST)));
    check_parse(r#"{"id":8,"op":"hello"}"#, Err((8, codes::BAD_REQUEST)));
    let (_, error) = parse_request(b"\xff\xfe").expect_err("not UTF-8");
    assert!(
        error.message.contains("docs/app-protocol.md"),
        "{}",
        error.message
    );
}

#[test]
fn agent_messages_round_trip_as_replies_and_events() {
    let messages = [
        AgentMessage::Reply(Reply::ok(1, serde_json::json!({}))),
        AgentMessage::Reply(Reply::error(
            2,
            ProtocolError::new(codes::REFUSED, "stale token"),
        )),
        AgentMessage::Event(AgentEvent::PrepareStop { deadline_ms: 500 }),
        AgentMessage::Event(AgentEvent::LeaseLost {
            reason: "lease ended".into(),
        }),
        AgentMessage::Event(AgentEvent::Promote { change: 3 }),
    ];
    for message in messages {
        let line = encode_line(&message);
        assert_eq!(line.last(), Some(&b'\n'));
        let parsed: AgentMessage = serde_json::from_slice(&line[..line.len() - 1]).expect("parses");
        assert_eq!(parsed, message);
    }
    let text = String::from_utf8(encode_line(&AgentEvent::Demote { change: 4 })).expect("utf-8");
    assert_eq!(text, "{\"event\":\"demote\",\"change\":4}\n");
    // A version-1 event without `change` still reads.
    let bare: AgentEvent = serde_json::from_str("{\"event\":\"promote\"}").expect("parses");
    assert_eq!(bare, AgentEvent::Promote { change: 0 });
}

#[test]
fn base64_round_trips_every_length_and_refuses_garbage() {
    use crate::base64::{decode, encode};
    assert_eq!(encode(b""), "");
    assert_eq!(encode(b"f"), "Zg==");
    assert_eq!(encode(b"fo"), "Zm8=");
    assert_eq!(encode(b"foo"), "Zm9v");
    assert_eq!(encode(b"foobar"), "Zm9vYmFy");
    let data: Vec<u8> = (0..=255u8).collect();
    for len in 0..data.len() {
        assert_eq!(decode(&encode(&data[..len])).as_deref(), Ok(&data[..len]));
    }
    assert!(decode("Zg=").is_err());
    assert!(decode("Z===").is_err());
    assert!(decode("Zg==Zg==").is_err());
    assert!(decode("Z!==").is_err());
}

#[test]
fn checkpoint_names_and_sizes_are_checked() {
    use crate::limits::CHECKPOINT_BYTES_MAX;
    use crate::protocol::check_checkpoint;
    assert_eq!(check_checkpoint("history.v1", CHECKPOINT_BYTES_MAX), Ok(()));
    let too_big = check_checkpoint("history", CHECKPOINT_BYTES_MAX + 1).expect_err("too big");
    assert!(too_big.contains("above the limit of 65536"), "{too_big}");
    assert!(check_checkpoint("", 1).is_err());
    assert!(check_checkpoint("a/b", 1).is_err());
    assert!(check_checkpoint(&"x".repeat(65), 1).is_err());
}

/// A minimal agent at the SDK's boundary (the socket), for the client's own behaviour:
/// it answers `hello` and `ping`, and sends what the test tells it to.
mod fake_agent {
    use crate::protocol::{AgentMessage, Hello, Limits, Reply, encode_line};
    use std::collections::BTreeMap;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};

    pub(super) fn hello(token: u64) -> Hello {
        Hello {
            protocol: 1,
            resource: "chat".into(),
            node: "node1".into(),
            instance: format!("chat@node1#{token}"),
            fencing_token: token,
            unique: true,
            lease_ms: Some(900),
            params: BTreeMap::from([("MaxUser".into(), "10".into())]),
            limits: Limits::current(),
        }
    }

    /// Accepts one connection and answers its hello with `token`.
    pub(super) async fn accept(listener: &UnixListener, token: u64) -> BufReader<UnixStream> {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("hello line");
        let request = crate::protocol::parse_request(line.trim_end().as_bytes()).expect("hello");
        let reply = Reply::ok(
            request.id,
            serde_json::to_value(hello(token)).expect("json"),
        );
        send(&mut stream, &AgentMessage::Reply(reply)).await;
        stream
    }

    pub(super) async fn send(stream: &mut BufReader<UnixStream>, message: &AgentMessage) {
        stream
            .get_mut()
            .write_all(&encode_line(message))
            .await
            .expect("send");
    }

    /// Answers the next request with `{}`.
    pub(super) async fn answer(stream: &mut BufReader<UnixStream>) {
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("request line");
        let request = crate::protocol::parse_request(line.trim_end().as_bytes()).expect("request");
        let reply = Reply::ok(request.id, serde_json::json!({}));
        send(stream, &AgentMessage::Reply(reply)).await;
    }
}

#[tokio::test]
async fn lease_loss_is_a_future_the_application_awaits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let (app, mut agent) = tokio::join!(
        crate::App::connect(&path, "secret".into()),
        fake_agent::accept(&listener, 7)
    );
    let app = app.expect("connect");
    assert_eq!(app.identity().fencing_token, 7);
    assert!(!app.is_lease_lost());
    let event = AgentEvent::LeaseLost {
        reason: "node1 lost its lease".into(),
    };
    fake_agent::send(&mut agent, &AgentMessage::Event(event)).await;
    assert_eq!(app.lease_lost().await, "node1 lost its lease");
    assert!(app.is_lease_lost());
    assert!(matches!(
        app.next_event().await,
        Some(crate::Event::LeaseLost { .. })
    ));
}

#[tokio::test]
async fn the_client_reconnects_when_the_agent_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let (app, agent) = tokio::join!(
        crate::App::connect(&path, "secret".into()),
        fake_agent::accept(&listener, 7)
    );
    let app = app.expect("connect");
    // The agent goes away (its socket too) and comes back.
    drop(agent);
    drop(listener);
    std::fs::remove_file(&path).expect("remove the socket");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind again");
    let mut agent = fake_agent::accept(&listener, 7).await;
    let (pinged, ()) = tokio::join!(app.ping(), fake_agent::answer(&mut agent));
    pinged.expect("a ping after the reconnect");
    assert!(!app.is_lease_lost());
}
