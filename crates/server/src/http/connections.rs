//! Connections: the accept loop with its connection limit, and the header, body and idle
//! timeouts that keep slow or stalled clients from holding the server. Owns nothing about
//! requests' meaning (the router does).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use super::problem::ApiError;

/// How long a client may take and how many connections all clients together may hold.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A request's line and headers must arrive within this time of the connection being ready
    /// for them (just opened, or done with its previous request), else it is closed.
    pub header_read_timeout: Duration,
    /// A request's body must arrive in full within this time of its headers, else the answer
    /// is 408 and the connection is closed.
    pub body_read_timeout: Duration,
    /// A connection on which no byte moved either way for this long, while none of its
    /// requests was being handled, is closed (a client that stopped reading its answer).
    pub idle_timeout: Duration,
    /// Connections open at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Open files the process keeps besides connections (database pool, files, logs).
const FILES_KEPT_BESIDES_CONNECTIONS: usize = 128;

/// How often the "connection limit reached" warning may repeat.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Accepts connections (at most `max_connections` at once) and serves `router` on each until
/// `shutdown` resolves; then stops accepting, lets in-flight requests finish and returns when
/// every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limit = connection_limit(options.max_connections);
    let slots = Arc::new(Semaphore::new(limit));
    // Dropping the sender tells every connection to finish its request and close.
    let (stop, stopping) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_at: Option<Instant> = None;
    loop {
        if slots.available_permits() == 0
            && warned_at.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_EVERY)
        {
            tracing::warn!(
                limit,
                "connection limit reached; new connections wait in the listen backlog"
            );
            warned_at = Some(Instant::now());
        }
        // A free slot first: until then new connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let options = options.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            serve_connection(stream, remote, router, &options, stopping).await;
            drop(slot);
        });
    }
    tracing::info!("not accepting connections; waiting for in-flight requests");
    drop(listener);
    drop(stop);
    // Every connection holds a slot until it closes.
    let all = u32::try_from(limit).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// `max_connections`, lowered when the process may not open that many files besides what it
/// keeps open anyway: running out of descriptors would fail database connections and file
/// reads too, and would stop the accept loop rather than queue connections.
fn connection_limit(configured: usize) -> usize {
    let configured = configured.max(1);
    let Some(open_files) = open_files_limit() else {
        return configured;
    };
    let room = open_files
        .saturating_sub(FILES_KEPT_BESIDES_CONNECTIONS)
        .max(1);
    if configured > room {
        tracing::warn!(
            configured,
            open_files,
            using = room,
            "the connection limit is above what the open-files limit (ulimit -n) allows; \
             raise the open-files limit to use it"
        );
        room
    } else {
        configured
    }
}

/// The soft limit on open files, where the system says (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    options: &ServeOptions,
    mut stopping: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let body_read_timeout = options.body_read_timeout;
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(
                request,
                remote,
                router.clone(),
                Arc::clone(&activity),
                body_read_timeout,
            )
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut stop_requested = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stopping.changed(), if !stop_requested => {
                // Finish the request in flight, if any, then close.
                connection.as_mut().graceful_shutdown();
                stop_requested = true;
            }
            () = activity.idle_for(options.idle_timeout) => {
                tracing::debug!("closing an idle connection");
                break;
            }
        }
    }
}

/// Runs one request through the router, with the client's address and a body deadline; a body
/// that missed it gets 408 and the connection closes.
async fn handle(
    request: Request<Incoming>,
    remote: SocketAddr,
    router: Router,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
) -> Result<Response, Infallible> {
    let _busy = activity.busy();
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(body_read_timeout)),
            timed_out: Arc::clone(&timed_out),
        })
    });
    request.extensions_mut().insert(ConnectInfo(remote));
    let response = router.oneshot(request).await?;
    if timed_out.load(Ordering::Relaxed) {
        let mut response = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    Ok(response)
}

/// When a connection last moved a byte, and how many of its requests are being handled.
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Resolves once nothing has moved for `limit` while no request was being handled.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let quiet = self.quiet_for();
            if quiet >= limit && self.busy.load(Ordering::Relaxed) == 0 {
                return;
            }
            // A handler at work is not idleness: look again a full period later.
            let wait = limit
                .checked_sub(quiet)
                .filter(|w| !w.is_zero())
                .unwrap_or(limit);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A request being handled; the connection counts as active again when it ends.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting every byte that moves.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive in full before its deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
