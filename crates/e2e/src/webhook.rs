//! The request side of the tiny HTTP/1.1 webhook receivers the alert tests and benchmarks
//! run on loopback: enough of HTTP to take one POST's body, no more.

use tokio::io::AsyncReadExt;

/// The answer a receiver gives to every request it took.
pub const OK_EMPTY: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// The body of one HTTP request read from `stream` (by its `content-length`; none is an
/// empty body); `None` when the peer closed or failed before the whole request arrived.
pub async fn request_body(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        if buffer.len() >= end + 4 + length {
            return Some(buffer[end + 4..end + 4 + length].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_body_split_across_reads_is_taken_whole_by_its_length() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let head = "POST /hook HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello";
            stream.write_all(head.as_bytes()).await.expect("head");
            stream.flush().await.expect("flush");
            tokio::task::yield_now().await;
            stream.write_all(b" world").await.expect("rest");
            stream
        });
        let (mut stream, _) = listener.accept().await.expect("accept");
        let body = super::request_body(&mut stream).await;
        assert_eq!(body.as_deref(), Some(&b"hello world"[..]));
        drop(client.await.expect("client"));
        let (mut closed, _) = {
            let connect = tokio::net::TcpStream::connect(addr);
            let (accepted, connected) = tokio::join!(listener.accept(), connect);
            drop(connected.expect("connect"));
            accepted.expect("accept")
        };
        assert_eq!(super::request_body(&mut closed).await, None);
    }
}
