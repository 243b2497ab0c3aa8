//! HTTP/1.x heads parsed in place, for requests from clients and responses from real servers.
//!
//! The head stays in the connection's read buffer and each header field is a pair of spans into
//! it, tagged with the few names the proxy acts on, so that parsing allocates nothing once a
//! connection's field list has grown to its working size. Lines may end in CRLF or in a bare LF
//! (RFC 9112 section 2.2); anything else that is not a valid head is an error, never a panic.

/// A range of bytes of the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Heads are bounded far below 4 GiB by the callers' limits.
        let start = u32::try_from(start).expect("head offsets fit in u32");
        let end = u32::try_from(end).expect("head offsets fit in u32");
        Span { start, end }
    }

    pub(crate) fn of(self, buffer: &[u8]) -> &[u8] {
        &buffer[self.start as usize..self.end as usize]
    }
}

/// The header names the proxy looks at; every other name is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Connection,
    ContentLength,
    Date,
    Expect,
    Host,
    KeepAlive,
    ProxyAuthorization,
    Te,
    Trailer,
    TransferEncoding,
    Upgrade,
    XForwardedFor,
    XForwardedProto,
    Other,
}

impl Name {
    pub(crate) fn classify(name: &[u8]) -> Name {
        let known: &[(&[u8], Name)] = match name.len() {
            2 => &[(b"te", Name::Te)],
            4 => &[(b"host", Name::Host), (b"date", Name::Date)],
            6 => &[(b"expect", Name::Expect)],
            7 => &[(b"upgrade", Name::Upgrade), (b"trailer", Name::Trailer)],
            10 => &[
                (b"connection", Name::Connection),
                (b"keep-alive", Name::KeepAlive),
            ],
            14 => &[(b"content-length", Name::ContentLength)],
            15 => &[(b"x-forwarded-for", Name::XForwardedFor)],
            17 => &[
                (b"transfer-encoding", Name::TransferEncoding),
                (b"x-forwarded-proto", Name::XForwardedProto),
            ],
            19 => &[(b"proxy-authorization", Name::ProxyAuthorization)],
            _ => &[],
        };
        known
            .iter()
            .find(|(text, _)| name.eq_ignore_ascii_case(text))
            .map_or(Name::Other, |(_, known)| *known)
    }

    /// Whether the field ends at this hop (RFC 9110 section 7.6.1), as the proxy has always
    /// treated it: Proxy-Authorization is for this proxy too.
    pub(crate) fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            Name::Connection
                | Name::KeepAlive
                | Name::ProxyAuthorization
                | Name::Te
                | Name::Trailer
                | Name::TransferEncoding
                | Name::Upgrade
        )
    }
}

/// One header field line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
    pub(crate) known: Name,
}

/// A request head: request line and fields.
#[derive(Debug, Default)]
pub(crate) struct RequestHead {
    pub(crate) method: Span,
    pub(crate) target: Span,
    pub(crate) http10: bool,
    pub(crate) fields: Vec<Field>,
}

/// A response head: status line and fields.
#[derive(Debug, Default)]
pub(crate) struct ResponseHead {
    pub(crate) http10: bool,
    pub(crate) status: u16,
    /// The status code and reason phrase, as sent.
    pub(crate) status_text: Span,
    pub(crate) fields: Vec<Field>,
}

/// Why a head is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("more than {0} header fields")]
    TooManyFields(usize),
    #[error("malformed head: {0}")]
    Malformed(&'static str),
}

/// The length of the head at the start of `buffer` including its empty line, once it is
/// complete; the search starts at `from` (a previous search ended at the buffer's length, and
/// may have missed an end that straddles it by up to two bytes).
pub(crate) fn head_end(buffer: &[u8], from: usize) -> Option<usize> {
    let mut at = from.saturating_sub(2);
    loop {
        let lf = at + buffer.get(at..)?.iter().position(|byte| *byte == b'\n')?;
        match buffer.get(lf + 1..lf + 3) {
            Some([b'\n', _]) => return Some(lf + 2),
            Some(b"\r\n") => return Some(lf + 3),
            None if buffer.get(lf + 1) == Some(&b'\n') => return Some(lf + 2),
            _ => at = lf + 1,
        }
    }
}

/// Parses the complete request head `buffer[..len]` into `head`.
pub(crate) fn parse_request(
    buffer: &[u8],
    len: usize,
    fields_max: usize,
    head: &mut RequestHead,
) -> Result<(), HeadError> {
    let malformed = HeadError::Malformed;
    let mut lines = Lines {
        buffer,
        at: 0,
        end: len,
    };
    let (start, end) = lines.next().ok_or(malformed("empty head"))?;
    let line = &buffer[start..end];
    let method_len = line
        .iter()
        .position(|byte| *byte == b' ')
        .ok_or(malformed("request line without target"))?;
    if method_len == 0 || !line[..method_len].iter().all(|byte| is_tchar(*byte)) {
        return Err(malformed("bad method"));
    }
    let rest = &line[method_len + 1..];
    let target_len = rest
        .iter()
        .position(|byte| *byte == b' ')
        .ok_or(malformed("request line without version"))?;
    if target_len == 0
        || !rest[..target_len]
            .iter()
            .all(|byte| (0x21..0x7f).contains(byte))
    {
        return Err(malformed("bad request target"));
    }
    head.http10 = match &rest[target_len + 1..] {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Err(malformed("bad http version")),
    };
    head.method = Span::new(start, start + method_len);
    let target_start = start + method_len + 1;
    head.target = Span::new(target_start, target_start + target_len);
    parse_fields(buffer, lines, fields_max, &mut head.fields)
}

/// Parses the complete response head `buffer[..len]` into `head`.
pub(crate) fn parse_response(
    buffer: &[u8],
    len: usize,
    fields_max: usize,
    head: &mut ResponseHead,
) -> Result<(), HeadError> {
    let malformed = HeadError::Malformed;
    let mut lines = Lines {
        buffer,
        at: 0,
        end: len,
    };
    let (start, end) = lines.next().ok_or(malformed("empty head"))?;
    let line = &buffer[start..end];
    head.http10 = match line.get(..9) {
        Some(b"HTTP/1.1 ") => false,
        Some(b"HTTP/1.0 ") => true,
        _ => return Err(malformed("bad status line")),
    };
    let code = line.get(9..12).ok_or(malformed("bad status line"))?;
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(malformed("bad status code"));
    }
    let reason = line.get(12..).unwrap_or_default();
    if reason.first().is_some_and(|byte| *byte != b' ') || !reason.iter().all(|b| is_vchar(*b)) {
        return Err(malformed("bad reason phrase"));
    }
    head.status = code
        .iter()
        .fold(0, |status, digit| status * 10 + u16::from(digit - b'0'));
    head.status_text = Span::new(start + 9, end);
    parse_fields(buffer, lines, fields_max, &mut head.fields)
}

fn parse_fields(
    buffer: &[u8],
    lines: Lines<'_>,
    fields_max: usize,
    fields: &mut Vec<Field>,
) -> Result<(), HeadError> {
    let malformed = HeadError::Malformed;
    fields.clear();
    for (start, end) in lines {
        if start == end {
            return Ok(());
        }
        if fields.len() >= fields_max {
            return Err(HeadError::TooManyFields(fields_max));
        }
        let line = &buffer[start..end];
        // A folded line (obs-fold) may be rejected with 400 (RFC 9112 section 5.2).
        let colon = line
            .iter()
            .position(|byte| !is_tchar(*byte))
            .ok_or(malformed("header line without colon"))?;
        if colon == 0 || line[colon] != b':' {
            return Err(malformed("bad header name"));
        }
        let value = &line[colon + 1..];
        if !value.iter().all(|byte| is_vchar(*byte)) {
            return Err(malformed("bad header value"));
        }
        let leading = value.iter().take_while(|byte| is_space(**byte)).count();
        let trailing = value[leading..]
            .iter()
            .rev()
            .take_while(|byte| is_space(**byte))
            .count();
        let value_start = start + colon + 1 + leading;
        fields.push(Field {
            name: Span::new(start, start + colon),
            value: Span::new(value_start, end - trailing),
            known: Name::classify(&line[..colon]),
        });
    }
    Err(malformed("head without an empty line"))
}

/// Line boundaries (without the line ending) of the first `end` bytes of a buffer.
struct Lines<'a> {
    buffer: &'a [u8],
    at: usize,
    end: usize,
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let rest = self.buffer.get(self.at..self.end)?;
        let length = rest.iter().position(|byte| *byte == b'\n')?;
        let start = self.at;
        self.at += length + 1;
        let end = match length {
            0 => start,
            _ if rest[length - 1] == b'\r' => start + length - 1,
            _ => start + length,
        };
        Some((start, end))
    }
}

/// A token character (RFC 9110 section 5.6.2).
fn is_tchar(byte: u8) -> bool {
    CLASSES[byte as usize] & TCHAR != 0
}

/// A byte allowed in a field value or reason phrase: visible, space, tab or obs-text.
fn is_vchar(byte: u8) -> bool {
    CLASSES[byte as usize] & VCHAR != 0
}

const TCHAR: u8 = 1;
const VCHAR: u8 = 2;

/// The character classes of every byte, looked up once per byte of a head: the parser's
/// inner loops are over these tables.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut classes = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let mut tchar = b.is_ascii_alphanumeric();
        let mut at = 0;
        while at < symbols.len() {
            tchar |= symbols[at] == b;
            at += 1;
        }
        let vchar = b == b'\t' || (b >= 0x20 && b != 0x7f);
        classes[byte] = if tchar { TCHAR } else { 0 } | if vchar { VCHAR } else { 0 };
        byte += 1;
    }
    classes
}

fn is_space(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// The comma-separated elements of a field value, trimmed, empty ones skipped.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|byte| *byte == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
}

/// A Content-Length value: digits only, at most 19 of them so that it fits in a `u64`.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        value
            .iter()
            .fold(0, |length, digit| length * 10 + u64::from(digit - b'0')),
    )
}

#[cfg(test)]
mod tests;
