//! Sans-IO framing of newline-delimited messages with a size limit.
//!
//! Bytes go in as they arrive ([`LineReader::push`]); complete lines come out
//! ([`LineReader::next_line`]). A line longer than the limit is an error and the reader
//! keeps nothing of it, so a peer cannot make it grow without bound.

/// The line being read is longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message longer than {limit} bytes")]
pub struct TooLarge {
    /// The limit, newline included.
    pub limit: usize,
}

/// Collects bytes and hands out complete lines.
#[derive(Debug)]
pub struct LineReader {
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no newline.
    scanned: usize,
    limit: usize,
}

impl LineReader {
    /// A reader for lines of at most `limit` bytes, newline included.
    pub fn new(limit: usize) -> LineReader {
        assert!(limit > 0, "a line needs room for its newline");
        LineReader {
            buffer: Vec::new(),
            scanned: 0,
            limit,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete line without its newline (and without a `\r` before it), `None`
    /// if none is complete yet, or an error once more than `limit` bytes arrived without a
    /// newline. After the error the reader is empty; the caller should close the stream.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, TooLarge> {
        let found = self.buffer[self.scanned..]
            .iter()
            .position(|&byte| byte == b'\n')
            .map(|offset| self.scanned + offset);
        match found {
            Some(end) if end < self.limit => {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                Ok(Some(line))
            }
            Some(_) => self.overflow(),
            None if self.buffer.len() >= self.limit => self.overflow(),
            None => {
                self.scanned = self.buffer.len();
                Ok(None)
            }
        }
    }

    /// Bytes received and not yet handed out as a line.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn overflow(&mut self) -> Result<Option<Vec<u8>>, TooLarge> {
        self.buffer = Vec::new();
        self.scanned = 0;
        Err(TooLarge { limit: self.limit })
    }
}
