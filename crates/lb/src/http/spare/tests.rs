//! The spare-buffer stack: buffers come back empty and are reused; empty, oversized and
//! surplus ones are not kept.

use super::{count, give, take};
use crate::limits::{SPARE_BUFFER_LEN_MAX, SPARE_BUFFERS_MAX};

#[test]
fn a_given_buffer_comes_back_empty_with_its_capacity() {
    let before = count();
    let mut buffer = Vec::with_capacity(4096);
    buffer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let address = buffer.as_ptr();
    give(buffer);
    assert_eq!(count(), before + 1);
    let again = take();
    assert!(again.is_empty());
    assert_eq!(again.as_ptr(), address, "the same allocation is reused");
    assert!(again.capacity() >= 4096);
    assert_eq!(count(), before);
}

#[test]
fn empty_oversized_and_surplus_buffers_are_freed() {
    // Each test runs on its own thread, so this stack starts empty.
    give(Vec::new());
    give(Vec::with_capacity(SPARE_BUFFER_LEN_MAX + 1));
    assert_eq!(count(), 0);
    for _ in 0..SPARE_BUFFERS_MAX + 5 {
        give(Vec::with_capacity(64));
    }
    assert_eq!(count(), SPARE_BUFFERS_MAX);
    assert_eq!(take().capacity(), 64);
}
