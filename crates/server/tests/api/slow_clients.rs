//! Slow and stalled clients over real TCP: the header, body and idle timeouts, the connection
//! limit, and graceful shutdown letting an in-flight request finish.

use std::time::{Duration, Instant};

use gatehouse::http::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Opens a connection and sends the start of a request line, never the rest.
async fn stalled(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /healthz HTT").await.unwrap();
    stream
}

/// Reads until the server closes the connection; the bytes it sent before, or `None` when it
/// is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

async fn healthz_within(app: &TestApp, within: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder().timeout(within).build().unwrap();
    match client.get(app.url("/healthz")).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(format!("/healthz did not answer within {within:?}: {e}")),
    }
}

#[tokio::test]
async fn three_hundred_stalled_requests_do_not_starve_healthz() {
    let app = TestApp::spawn().await;
    let addr = addr(&app);
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(stalled(&addr).await);
    }
    let started = Instant::now();
    assert_eq!(healthz_within(&app, Duration::from_secs(2)).await, Ok(200));
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_serving(ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let mut stream = stalled(&addr(&app)).await;
    let started = Instant::now();
    let answer = closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answer.is_some(),
        "a stalled request head was still open after 5 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_408_and_closed() {
    let app = TestApp::spawn_serving(ServeOptions {
        body_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let addr = addr(&app);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    // The head in full, then 10 of the 100 promised bytes.
    let head = format!(
        "POST /auth/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"login\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("a stalled request body was still open after 5 s");
    let answer = answer.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_still_ends_at_the_body_timeout() {
    let app = TestApp::spawn_serving(ServeOptions {
        body_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let addr = addr(&app);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /auth/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 200 ms never leaves the connection idle, but the body has a deadline.
    while started.elapsed() < Duration::from_secs(4) {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = closed_within(&mut stream, Duration::from_secs(2))
        .await
        .expect("a trickled body was still open after 6 s");
    assert!(
        answer.to_ascii_lowercase().starts_with("http/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_serving(ServeOptions {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let addr = addr(&app);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answer = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle kept-alive connection was still open after 5 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_in_the_backlog_until_a_slot_frees() {
    let app = TestApp::spawn_serving(ServeOptions {
        header_read_timeout: Duration::from_secs(2),
        max_connections: 20,
        ..ServeOptions::default()
    })
    .await;
    let addr = addr(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(stalled(&addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Every slot is taken: the next connection is not served ...
    assert!(
        healthz_within(&app, Duration::from_millis(800))
            .await
            .is_err(),
        "a 21st connection was served while 20 of 20 slots were taken"
    );
    // ... until the stalled ones time out and free their slots.
    assert_eq!(healthz_within(&app, Duration::from_secs(4)).await, Ok(200));
    drop(held);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let mut app = TestApp::spawn().await;
    let addr = addr(&app);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"login":"nobody","password":"wrong guess"}"#;
    let head = format!(
        "POST /auth/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server = app.shut_down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.is_finished(), "the server stopped mid-request");
    stream.write_all(body.as_bytes()).await.unwrap();
    let answer = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the in-flight request's connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(&addr).await.is_err());
}
