//! `SmtpSink`: a small real SMTP server on 127.0.0.1 for tests. It speaks enough of RFC 5321
//! for a client such as lettre (greeting, EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing,
//! RSET, NOOP, QUIT; no AUTH, no TLS), keeps what it receives, and can be stopped and started
//! again on the same port to play a relay that is down. Plus a reader for the raw messages.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message after dot-unstuffing, CRLF line ends, without the final `.` line.
    pub raw: String,
}

impl ReceivedMail {
    /// The decoded `text/plain` part.
    pub fn text(&self) -> String {
        decoded_part(&self.raw, "text/plain").expect("a text/plain part")
    }
}

pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    running: Option<Running>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    rcpt_reply: Mutex<Option<String>>,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let mut sink = Self {
            port: 0,
            shared: Arc::default(),
            running: None,
        };
        sink.listen().await;
        sink
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`, plain.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Answers every `RCPT TO` with this line (e.g. `550 5.1.1 no such user`) instead of
    /// accepting it; `None` accepts again.
    pub fn reply_to_rcpt(&self, reply: Option<&str>) {
        *self.shared.rcpt_reply.lock().unwrap() = reply.map(str::to_owned);
    }

    /// Closes the listener and every open connection: clients now get "connection refused".
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.task.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    async fn listen(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        // The port was just ours: allow binding it again while old connections linger.
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .unwrap();
        let listener = socket.listen(64).unwrap();
        self.port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, Arc::clone(&self.shared), stopped));
        self.running = Some(Running { stop, task });
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(converse(stream, Arc::clone(&shared)));
                }
            }
            // Reap finished conversations so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// One SMTP session. Any I/O error ends it quietly.
async fn converse(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            from = None;
            to.clear();
            "250-sink.test\r\n250-8BITMIME\r\n250 PIPELINING".into()
        } else if upper.starts_with("HELO") {
            from = None;
            to.clear();
            "250 sink.test".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(path(&line["MAIL FROM:".len()..]));
            to.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".into()
            } else if let Some(reply) = shared.rcpt_reply.lock().unwrap().clone() {
                reply
            } else {
                to.push(path(&line["RCPT TO:".len()..]));
                "250 2.1.5 OK".into()
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 RCPT first".into()
            } else {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = String::new();
                loop {
                    let Some(line) = read_line(&mut lines).await? else {
                        return Ok(());
                    };
                    if line == "." {
                        break;
                    }
                    raw.push_str(line.strip_prefix('.').unwrap_or(&line));
                    raw.push_str("\r\n");
                }
                shared.received.lock().unwrap().push(ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    raw,
                });
                "250 2.0.0 OK queued".into()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK".into()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not implemented".into()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// A line without its line end; `None` at the end of the stream.
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes).await? == 0 {
        return Ok(None);
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `<a@b> BODY=8BITMIME` -> `a@b`.
fn path(argument: &str) -> String {
    let argument = argument.trim();
    match (argument.find('<'), argument.find('>')) {
        (Some(open), Some(close)) if open < close => argument[open + 1..close].to_owned(),
        _ => argument
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The first header `name` of a raw message (or of a part), unfolded.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value
}

/// The body of the first MIME part whose type is `content_type`, decoded from
/// quoted-printable when it says so. Enough for the messages Gatehouse writes.
pub fn decoded_part(raw: &str, content_type: &str) -> Option<String> {
    let boundary = header(raw, "Content-Type")?.split(';').find_map(|p| {
        p.trim()
            .strip_prefix("boundary=")
            .map(|b| b.trim_matches('"').to_owned())
    })?;
    let delimiter = format!("--{boundary}");
    raw.split(delimiter.as_str()).skip(1).find_map(|part| {
        let part = part.strip_prefix("\r\n")?;
        let kind = header(part, "Content-Type")?;
        if !kind.to_ascii_lowercase().starts_with(content_type) {
            return None;
        }
        let (_, body) = part.split_once("\r\n\r\n")?;
        let body = body.strip_suffix("\r\n").unwrap_or(body);
        let quoted = header(part, "Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        Some(if quoted {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        })
    })
}

fn decode_quoted_printable(body: &str) -> String {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
