//! Minimal HTTP/1.1 client connection: one request at a time, keep-alive,
//! Content-Length, chunked and read-to-close bodies.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head (status line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size / trailer line accepted.
const MAX_LINE: usize = 8 * 1024;
/// How much of a non-2xx body is kept for error reports.
const SNIPPET: usize = 200;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// First bytes of the body; only filled for non-2xx responses.
    pub snippet: Vec<u8>,
    /// Whether the connection may be reused for the next request.
    pub keep_alive: bool,
}

/// Builds the bytes of one request (built once per connection, reused). With a body,
/// Content-Length is added, and `Content-Type: application/json` unless `header` is a
/// Content-Type.
pub fn build_request(
    method: &str,
    authority: &str,
    path: &str,
    header: Option<(&str, &str)>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut s = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: gatehouse-loadbench\r\nAccept: */*\r\n"
    );
    if let Some((name, value)) = header {
        s.push_str(name);
        s.push_str(": ");
        s.push_str(value);
        s.push_str("\r\n");
    }
    if let Some(body) = body {
        if !header.is_some_and(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
            s.push_str("Content-Type: application/json\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut bytes = s.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[derive(Debug)]
pub struct Conn<S = TcpStream> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::new(stream))
    }
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Sends `req` and reads one full response.
    pub async fn request(&mut self, req: &[u8]) -> io::Result<Response> {
        if self.start != self.end {
            return Err(bad("unsolicited bytes from server before request"));
        }
        self.stream.write_all(req).await?;
        loop {
            let head_len = self.read_head().await?;
            let head = &self.buf[self.start..self.start + head_len];
            let (status, framing, keep_alive) = parse_head(head)?;
            self.start += head_len;
            if (100..200).contains(&status) {
                // Interim response (e.g. 100 Continue): the real one follows.
                continue;
            }
            let mut snippet = Vec::new();
            let capture = !(200..300).contains(&status);
            let snip = if capture { Some(&mut snippet) } else { None };
            let keep_alive = match framing {
                Framing::None => keep_alive,
                Framing::Length(n) => {
                    self.consume(n, snip).await?;
                    keep_alive
                }
                Framing::Chunked => {
                    self.consume_chunked(snip).await?;
                    keep_alive
                }
                Framing::UntilClose => {
                    self.consume_until_close(snip).await?;
                    false
                }
            };
            return Ok(Response {
                status,
                snippet,
                keep_alive,
            });
        }
    }

    /// Reads more bytes into the buffer; EOF is an error.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by server mid-response",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// Returns the length of the head including the final CRLFCRLF.
    async fn read_head(&mut self) -> io::Result<usize> {
        let mut scanned: usize = 0;
        loop {
            let avail = &self.buf[self.start..self.end];
            let from = scanned.saturating_sub(3);
            if let Some(i) = find(&avail[from..], b"\r\n\r\n") {
                return Ok(from + i + 4);
            }
            scanned = avail.len();
            if scanned > MAX_HEAD {
                return Err(bad("response head too large"));
            }
            self.fill().await?;
        }
    }

    /// Returns the line (without CRLF) as an owned string, consuming it.
    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = find(avail, b"\r\n") {
                let line = String::from_utf8_lossy(&avail[..i]).into_owned();
                self.start += i + 2;
                return Ok(line);
            }
            if avail.len() > MAX_LINE {
                return Err(bad("line too long in chunked body"));
            }
            self.fill().await?;
        }
    }

    async fn consume(&mut self, mut n: u64, mut snip: Option<&mut Vec<u8>>) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end {
                self.fill().await?;
            }
            let take = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
            if let Some(s) = snip.as_deref_mut() {
                keep_snippet(s, &self.buf[self.start..self.start + take]);
            }
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }

    async fn consume_chunked(&mut self, mut snip: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            let line = self.read_line().await?;
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_str, 16)
                .map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers, then an empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(());
            }
            self.consume(size, snip.as_deref_mut()).await?;
            if !self.read_line().await?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    }

    async fn consume_until_close(&mut self, mut snip: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            if let Some(s) = snip.as_deref_mut() {
                keep_snippet(s, &self.buf[self.start..self.end]);
            }
            self.start = 0;
            self.end = 0;
            let n = self.stream.read(&mut self.buf[..]).await?;
            if n == 0 {
                return Ok(());
            }
            self.end = n;
        }
    }
}

fn keep_snippet(s: &mut Vec<u8>, data: &[u8]) {
    let room = SNIPPET.saturating_sub(s.len());
    s.extend_from_slice(&data[..data.len().min(room)]);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> io::Result<(u16, Framing, bool)> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("bad status line {status_line:?}")));
    }
    let status: u16 = code
        .parse()
        .ok()
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| bad(format!("bad status code in {status_line:?}")))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for tok in value.split(',') {
                let tok = tok.trim();
                if tok.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if tok.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok((status, framing, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// Runs one request against a fake server that replies with `reply`
    /// (written in small pieces to exercise buffering), then optionally closes.
    async fn roundtrip(reply: &'static [u8], close: bool) -> (io::Result<Response>, Vec<u8>) {
        let (client, mut server) = duplex(64);
        let srv = tokio::spawn(async move {
            let mut req = Vec::new();
            let mut b = [0u8; 256];
            while find(&req, b"\r\n\r\n").is_none() {
                let n = server.read(&mut b).await.unwrap();
                req.extend_from_slice(&b[..n]);
            }
            for piece in reply.chunks(7) {
                server.write_all(piece).await.unwrap();
            }
            if !close {
                // Keep the stream open until the client is done.
                let _ = server.read(&mut b).await;
            }
            req
        });
        let mut conn = Conn::new(client);
        let req = build_request(
            "GET",
            "127.0.0.1:1",
            "/x",
            Some(("Authorization", "Bearer t")),
            None,
        );
        let res = conn.request(&req).await;
        drop(conn);
        (res, srv.await.unwrap())
    }

    #[tokio::test]
    async fn content_length() {
        let (r, req) = roundtrip(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
            false,
        )
        .await;
        let r = r.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.keep_alive);
        assert!(r.snippet.is_empty());
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("GET /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        assert!(req.contains("\r\nAuthorization: Bearer t\r\n"));
    }

    #[test]
    fn post_with_body() {
        let req = build_request("POST", "h:1", "/login", None, Some(br#"{"a":1}"#));
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "POST /login HTTP/1.1\r\nHost: h:1\r\nUser-Agent: gatehouse-loadbench\r\nAccept: */*\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
        let req = build_request(
            "PUT",
            "h",
            "/p",
            Some(("content-type", "text/plain")),
            Some(b"x"),
        );
        let req = String::from_utf8(req).unwrap();
        assert!(req.contains("\r\ncontent-type: text/plain\r\nContent-Length: 1\r\n\r\nx"));
        assert!(!req.contains("application/json"));
    }

    #[tokio::test]
    async fn chunked_error_body_is_captured() {
        let (r, _) = roundtrip(
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nnope\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
            false,
        )
        .await;
        let r = r.unwrap();
        assert_eq!(r.status, 401);
        assert!(r.keep_alive);
        assert_eq!(r.snippet, b"nope0123456789");
    }

    #[tokio::test]
    async fn http10_reads_until_close() {
        let (r, _) = roundtrip(b"HTTP/1.0 404 Not Found\r\n\r\nmissing", true).await;
        let r = r.unwrap();
        assert_eq!(r.status, 404);
        assert!(!r.keep_alive);
        assert_eq!(r.snippet, b"missing");
    }

    #[tokio::test]
    async fn connection_close_and_interim() {
        let (r, _) = roundtrip(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
        let r = r.unwrap();
        assert_eq!(r.status, 204);
        assert!(!r.keep_alive);
    }

    #[tokio::test]
    async fn truncated_body_is_an_error() {
        let (r, _) = roundtrip(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true).await;
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn garbage_is_an_error() {
        let (r, _) = roundtrip(b"SSH-2.0-OpenSSH\r\n\r\n", true).await;
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
