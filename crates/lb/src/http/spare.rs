//! Spare byte buffers, one stack per thread, so that a kept-alive HTTP client connection
//! holds no buffer while it waits for its next request.
//!
//! A connection takes its buffers when a request's first byte arrives and gives them back
//! when it has answered and nothing more is buffered, as HAProxy does with its buffer pools:
//! memory follows the requests in flight, not the connections held open, and a busy
//! connection still allocates nothing per request. A buffer that grew past
//! `SPARE_BUFFER_LEN_MAX`, or one more than `SPARE_BUFFERS_MAX` on this thread, is freed.

use std::cell::RefCell;

use crate::limits::{SPARE_BUFFER_LEN_MAX, SPARE_BUFFERS_MAX};

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of this thread, empty, or a new one without capacity.
pub(crate) fn take() -> Vec<u8> {
    SPARE
        .with_borrow_mut(|spare| spare.pop())
        .unwrap_or_default()
}

/// Gives `buffer` back for another connection on this thread (its bytes are dropped).
pub(crate) fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > SPARE_BUFFER_LEN_MAX {
        return;
    }
    buffer.clear();
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < SPARE_BUFFERS_MAX {
            spare.push(buffer);
        }
    });
}

/// How many spare buffers this thread holds.
#[cfg(test)]
pub(crate) fn count() -> usize {
    SPARE.with_borrow(Vec::len)
}

#[cfg(test)]
mod tests;
