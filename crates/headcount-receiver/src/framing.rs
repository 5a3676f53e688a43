//! Where each HTTP/1.1 request begins and ends in the bytes a client sends, and the request
//! heads this receiver refuses before hyper reads them.
//!
//! hyper resolves ambiguous framing the lenient way the protocol allows: with both
//! `Transfer-Encoding: chunked` and `Content-Length` it drops the length and reads chunks, and a
//! `Content-Length` it cannot parse gets a bare 400 with an empty body. A request that a proxy in
//! front frames one way and the receiver another is how requests are smuggled, so every head is
//! read here first, with httparse (hyper's own parser), and an ambiguous one is refused with a
//! problem body. The watcher also follows the body framing, so the connection knows when a
//! request has been read whole (its read deadline ends) and finds the next head even when
//! requests are pipelined.

use axum::http::StatusCode;

/// Largest request head: a report's head is about 150 bytes; hyper alone would buffer 400 KiB.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header fields in a head (hyper's own default is 100).
const MAX_HEADERS: usize = 64;
/// Longest chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section after the last chunk.
const MAX_TRAILERS: usize = 8 * 1024;
/// hyper refuses a body length it cannot represent (`u64::MAX - 2` and above).
const MAX_BODY_LENGTH: u64 = u64::MAX - 2;

/// A request refused before it reached the routes: answered with a problem body, then the
/// connection is closed (the bytes after it cannot be trusted to start a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status code.
    pub status: StatusCode,
    /// The problem's stable `error` code.
    pub error: &'static str,
    /// One line for a person.
    pub message: String,
}

fn bad_request(message: &str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        message: message.to_owned(),
    }
}

fn head_too_large(message: &str) -> Refusal {
    Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        error: "invalid_request",
        message: message.to_owned(),
    }
}

#[derive(Debug)]
enum State {
    /// Reading a request head; the bytes so far (empty between requests).
    Head(Vec<u8>),
    /// This many body bytes are still to come.
    Body(u64),
    /// Reading a chunk-size line of a chunked body.
    ChunkSize(Vec<u8>),
    /// This many bytes of chunk data and its CRLF are still to come.
    ChunkData(u64),
    /// After the last chunk: trailer fields up to an empty line.
    Trailers(Vec<u8>),
    /// A head was refused: nothing after it is a request.
    Refused,
}

/// Follows the requests in one connection's byte stream.
#[derive(Debug)]
pub struct Framing {
    state: State,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Head(Vec::new()),
        }
    }
}

impl Framing {
    /// Whether a request has begun and is not yet read whole.
    pub fn reading(&self) -> bool {
        match &self.state {
            State::Head(buf) => !buf.is_empty(),
            State::Refused => false,
            State::Body(_) | State::ChunkSize(_) | State::ChunkData(_) | State::Trailers(_) => true,
        }
    }

    /// Takes the next bytes read from the client. An error refuses the request whose head they
    /// complete; the caller answers it and closes the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Refusal> {
        while !bytes.is_empty() {
            match self.step(bytes) {
                Ok(used) => bytes = &bytes[used..],
                Err(r) => {
                    self.state = State::Refused;
                    return Err(r);
                }
            }
        }
        Ok(())
    }

    /// Consumes what belongs to the current state from `bytes`; returns how much.
    fn step(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        Ok(match &mut self.state {
            State::Refused => bytes.len(),
            State::Head(buf) => match take_until_end(buf, bytes, MAX_HEAD_BYTES, head_end)? {
                Some(used) => {
                    self.state = body_of(buf)?;
                    used
                }
                None => bytes.len(),
            },
            // A body, or a chunk's data and its CRLF: counted off; then the next request's head,
            // or the next chunk's size line.
            State::Body(n) | State::ChunkData(n) => {
                let used = take(n, bytes.len());
                if *n == 0 {
                    self.state = match self.state {
                        State::Body(_) => State::Head(Vec::new()),
                        _ => State::ChunkSize(Vec::new()),
                    };
                }
                used
            }
            State::ChunkSize(buf) => match take_until_end(buf, bytes, MAX_CHUNK_LINE, line_end)? {
                Some(used) => {
                    let size = match httparse::parse_chunk_size(buf) {
                        Ok(httparse::Status::Complete((_, size))) => size,
                        _ => return Err(bad_request("a chunk size is invalid")),
                    };
                    self.state = if size == 0 {
                        State::Trailers(Vec::new())
                    } else {
                        // The data, then its CRLF (hyper checks that it is one).
                        State::ChunkData(size.saturating_add(2))
                    };
                    used
                }
                None => bytes.len(),
            },
            State::Trailers(buf) => match take_until_end(buf, bytes, MAX_TRAILERS, trailers_end)? {
                Some(used) => {
                    self.state = State::Head(Vec::new());
                    used
                }
                None => bytes.len(),
            },
        })
    }
}

/// Counts down `remaining` by what is available; returns how much was taken.
fn take(remaining: &mut u64, available: usize) -> usize {
    let used = available.min(usize::try_from(*remaining).unwrap_or(usize::MAX));
    *remaining -= used as u64;
    used
}

/// Appends `bytes` to `buf` up to the end `find_end` locates; returns how many of `bytes` that
/// took when the end was found (`buf` then holds exactly the part), `None` when all of `bytes`
/// went in and the end is still to come, or a refusal past `max` bytes.
fn take_until_end(
    buf: &mut Vec<u8>,
    bytes: &[u8],
    max: usize,
    find_end: fn(&[u8], usize) -> Option<usize>,
) -> Result<Option<usize>, Refusal> {
    let before = buf.len();
    let room = max.saturating_sub(before);
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    // An end is at most 3 bytes long: search only where one could newly be.
    match find_end(buf, before.saturating_sub(2)) {
        Some(end) => {
            buf.truncate(end);
            Ok(Some(end.saturating_sub(before)))
        }
        None if buf.len() >= max => Err(head_too_large(
            "the request head (or a chunk line or the trailers) is too large",
        )),
        None => Ok(None),
    }
}

/// The index of the first `\n` of `\n\r\n` or `\n\n` at or after `from`, plus the marker.
fn blank_line(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| match &buf[i..] {
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        [b'\n', b'\n', ..] => Some(i + 2),
        _ => None,
    })
}

/// Index just past the empty line that ends a head (`\r\n\r\n`, or bare `\n\n` as httparse
/// allows). httparse skips empty lines before the request line; so does this.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    blank_line(buf, from.max(start))
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i + 1)
}

/// The end of the trailer section: an empty line at once, or after some fields.
fn trailers_end(buf: &[u8], from: usize) -> Option<usize> {
    match buf {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n', ..] => Some(1),
        [b'\r'] | [] => None,
        _ => blank_line(buf, from),
    }
}

/// Checks a complete head and says how its body is framed.
fn body_of(head: &[u8]) -> Result<State, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad_request("the request head is incomplete")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(head_too_large("the request has too many header fields"));
        }
        Err(_) => return Err(bad_request("the request head is not valid HTTP/1.1")),
    }
    let named = |name: &str| -> Vec<&[u8]> {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    let lengths = named("content-length");
    let encodings = named("transfer-encoding");
    match (encodings.as_slice(), lengths.as_slice()) {
        ([], []) => Ok(State::Head(Vec::new())),
        ([_, ..], [_, ..]) => Err(bad_request(
            "a request must not have both Transfer-Encoding and Content-Length",
        )),
        ([encoding], []) => {
            if req.version != Some(1) {
                Err(bad_request("HTTP/1.0 has no Transfer-Encoding"))
            } else if trim(encoding).eq_ignore_ascii_case(b"chunked") {
                Ok(State::ChunkSize(Vec::new()))
            } else {
                Err(bad_request(
                    "the only Transfer-Encoding accepted is chunked",
                ))
            }
        }
        ([_, _, ..], []) => Err(bad_request("Transfer-Encoding is given more than once")),
        ([], [length]) => match content_length(length)? {
            0 => Ok(State::Head(Vec::new())),
            n => Ok(State::Body(n)),
        },
        ([], [_, _, ..]) => Err(bad_request("Content-Length is given more than once")),
    }
}

/// A Content-Length value: digits only. Digits too many for any body are 413, like any body
/// over the limit; anything else is 400.
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let digits = trim(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad_request("Content-Length is not a number"));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n <= MAX_BODY_LENGTH)
        .ok_or_else(|| Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: "too_large",
            message: format!(
                "the declared Content-Length is {} digits long, the limit is {} bytes",
                digits.len(),
                headcount_report::MAX_REPORT_BYTES
            ),
        })
}

/// Without the optional white space around a field value.
fn trim(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const POST: &str = "POST /v1/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

    fn refusal(bytes: &[u8]) -> Refusal {
        Framing::default().feed(bytes).unwrap_err()
    }

    /// Feeds `bytes` in pieces of every size: the outcome must not depend on how TCP cut them.
    fn in_pieces(bytes: &[u8], check: impl Fn(&Framing, Result<(), Refusal>)) {
        for size in [1, 2, 3, 7, 64, bytes.len().max(1)] {
            let mut f = Framing::default();
            let mut r = Ok(());
            for piece in bytes.chunks(size) {
                r = f.feed(piece);
                if r.is_err() {
                    break;
                }
            }
            check(&f, r);
        }
    }

    #[test]
    fn a_request_with_a_length_ends_with_its_body() {
        let req = format!("{POST}Content-Length: 5\r\n\r\nhello");
        in_pieces(req.as_bytes(), |f, r| {
            assert_eq!(r, Ok(()));
            assert!(!f.reading());
        });
        let mut f = Framing::default();
        f.feed(&req.as_bytes()[..req.len() - 1]).unwrap();
        assert!(f.reading(), "one body byte is missing");
        let mut f = Framing::default();
        f.feed(b"G").unwrap();
        assert!(f.reading(), "a head has begun");
    }

    #[test]
    fn chunked_bodies_and_pipelined_requests_are_followed() {
        let chunked = format!(
            "{POST}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\n123\r\n0\r\nX-Trailer: 1\r\n\r\n"
        );
        let two = format!("{chunked}{POST}Content-Length: 2\r\n\r\nok");
        in_pieces(two.as_bytes(), |f, r| {
            assert_eq!(r, Ok(()));
            assert!(!f.reading());
        });
        let no_trailers = format!("{POST}Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
        in_pieces(no_trailers.as_bytes(), |f, r| {
            assert_eq!(r, Ok(()));
            assert!(!f.reading());
        });
        // A refused head hides behind an accepted one: it is still found.
        let smuggled = format!(
            "{POST}Content-Length: 2\r\n\r\nok{POST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        );
        in_pieces(smuggled.as_bytes(), |_, r| {
            assert_eq!(r.unwrap_err().status, StatusCode::BAD_REQUEST);
        });
        // GET without a body, twice, and empty lines between requests.
        let gets =
            "GET /v1/counts?window=daily HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        in_pieces(gets.as_bytes(), |f, r| {
            assert_eq!(r, Ok(()));
            assert!(!f.reading());
        });
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for (extra, needle) in [
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                "both Transfer-Encoding and Content-Length",
            ),
            (
                "Content-Length: 5\r\ntransfer-encoding: chunked\r\n",
                "both Transfer-Encoding and Content-Length",
            ),
            (
                "Content-Length: 5\r\nContent-Length: 5\r\n",
                "Content-Length is given more than once",
            ),
            ("Content-Length: 5, 5\r\n", "Content-Length is not a number"),
            ("Content-Length: +5\r\n", "Content-Length is not a number"),
            ("Content-Length: \r\n", "Content-Length is not a number"),
            (
                "Transfer-Encoding: gzip, chunked\r\n",
                "only Transfer-Encoding",
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "given more than once",
            ),
        ] {
            let r = refusal(format!("{POST}{extra}\r\n").as_bytes());
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra}");
            assert_eq!(r.error, "invalid_request");
            assert!(r.message.contains(needle), "{extra}: {}", r.message);
        }
        let r = refusal(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(r.message.contains("HTTP/1.0"), "{}", r.message);
        let r = refusal(b"NOT HTTP AT ALL\r\n\r\n");
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = refusal(format!("{POST}Transfer-Encoding: chunked\r\n\r\nzz\r\n").as_bytes());
        assert!(r.message.contains("chunk size"), "{}", r.message);
    }

    #[test]
    fn absurd_lengths_are_too_large_with_a_reason() {
        for length in ["1000000000000000000000000000000", "18446744073709551615"] {
            let r = refusal(format!("{POST}Content-Length: {length}\r\n\r\n").as_bytes());
            assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{length}");
            assert_eq!(r.error, "too_large");
            assert!(r.message.contains("digits long"), "{}", r.message);
        }
        // Large but representable: framed here, refused by the route with its size.
        let mut f = Framing::default();
        f.feed(format!("{POST}Content-Length: 1000000000000\r\n\r\n").as_bytes())
            .unwrap();
        assert!(f.reading());
    }

    #[test]
    fn heads_are_bounded() {
        let long = format!("{POST}X-Pad: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        in_pieces(long.as_bytes(), |_, r| {
            assert_eq!(
                r.unwrap_err().status,
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            );
        });
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let r = refusal(format!("{POST}{many}\r\n").as_bytes());
        assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // After a refusal nothing more is parsed.
        let mut f = Framing::default();
        assert!(f.feed(b"BAD\r\n\r\n").is_err());
        assert_eq!(f.feed(b"GET / HTTP/1.1\r\n"), Ok(()));
        assert!(!f.reading());
    }
}
