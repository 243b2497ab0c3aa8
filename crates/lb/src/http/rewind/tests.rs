//! The replayed prefix comes first, then the socket's own bytes; writes go straight through.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Rewind;

#[tokio::test]
async fn replayed_bytes_come_before_the_ones_still_on_the_socket() {
    let (near, mut far) = tokio::io::duplex(64);
    let mut rewind = Rewind::new(Bytes::from_static(b"GET / HT"), near);
    far.write_all(b"TP/1.1\r\n\r\n").await.expect("write");
    drop(far);
    let mut all = Vec::new();
    rewind.read_to_end(&mut all).await.expect("read");
    assert_eq!(all, b"GET / HTTP/1.1\r\n\r\n");
}

#[tokio::test]
async fn a_small_read_buffer_gets_the_replay_in_pieces() {
    let (near, _far) = tokio::io::duplex(64);
    let mut rewind = Rewind::new(Bytes::from_static(b"abcdef"), near);
    let mut piece = [0; 4];
    assert_eq!(rewind.read(&mut piece).await.expect("read"), 4);
    assert_eq!(&piece, b"abcd");
    assert_eq!(rewind.read(&mut piece).await.expect("read"), 2);
    assert_eq!(&piece[..2], b"ef");
}

#[tokio::test]
async fn writes_reach_the_inner_stream() {
    let (near, mut far) = tokio::io::duplex(64);
    let mut rewind = Rewind::new(Bytes::from_static(b"x"), near);
    rewind.write_all(b"reply").await.expect("write");
    let mut got = [0; 5];
    far.read_exact(&mut got).await.expect("read");
    assert_eq!(&got, b"reply");
}
