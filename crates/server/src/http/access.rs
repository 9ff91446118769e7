//! The access log: one INFO line per request, target `gatehouse::access`, with the method,
//! route template, status, latency, client address, user id and request id; never the URI,
//! which can hold a secret. Health probes are left out.
//!
//! `RUST_LOG` switches it like any target (`gatehouse::access=off`), but the line is not a
//! tracing event: formatting an event through the subscriber (span lookup, field visitors, a
//! fresh timestamp) cost the token-checked GET about 18 % of its throughput. The line is
//! written here, in the same text or JSON layout as the other lines, into the log output's
//! gathered buffer (see `telemetry`), with a timestamp whose seconds are formatted once per
//! second per thread.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use super::client_address::ClientAddress;
use crate::telemetry;

tokio::task_local! {
    /// The user the request authenticated as, noted by the extractors (see [`note_user`]).
    static USER: Cell<Option<Uuid>>;
}

/// Notes the authenticated user for the request's access line and its span, so every later
/// log line of the request has it.
pub fn note_user(accounts::UserId(id): accounts::UserId) {
    tracing::Span::current().record("user_id", tracing::field::display(id));
    // Outside a request (a test calling an extractor directly) there is no line to note it in.
    let _ = USER.try_with(|user| user.set(Some(id)));
}

/// What the line says about the request, taken before the handler consumes it.
struct Seen {
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<HeaderValue>,
    client: Option<IpAddr>,
}

/// The middleware: times the request and writes its line when the target is enabled.
pub async fn access_log(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>();
    let probe = route.is_some_and(|p| matches!(p.as_str(), "/healthz" | "/readyz"));
    let Some(output) = telemetry::access_output().filter(|_| !probe && enabled()) else {
        return next.run(req).await;
    };
    let seen = Seen {
        method: req.method().clone(),
        route: route.cloned(),
        request_id: req.headers().get("x-request-id").cloned(),
        client: req.extensions().get::<ClientAddress>().map(|c| c.0),
    };
    let started = Instant::now();
    let (response, user) = USER
        .scope(Cell::new(None), async {
            let response = next.run(req).await;
            (response, USER.with(Cell::get))
        })
        .await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    LINE.with_borrow_mut(|line| {
        line.clear();
        write_line(
            line,
            output.json,
            &seen,
            response.status().as_u16(),
            micros,
            user,
        );
        output.write(line);
    });
    response
}

/// Whether `RUST_LOG` lets access lines through (a cached callsite check).
fn enabled() -> bool {
    tracing::enabled!(target: "gatehouse::access", tracing::Level::INFO)
}

thread_local! {
    /// The line being written, reused so a request allocates nothing for its line.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// The current second and its RFC 3339 form (`2026-12-07T18:04:48`).
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `now` as RFC 3339 UTC with microseconds, the precision of the other log lines.
fn write_timestamp(line: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let formatted = chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        text.copy_from_slice(&formatted.as_bytes()[..19]);
        SECOND.set((secs, text));
    }
    line.extend_from_slice(&text);
    let _ = write!(line, ".{:06}Z", since.subsec_micros());
}

/// A JSON string (quotes and escapes), for values a client controls.
fn write_json_string(line: &mut Vec<u8>, value: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *line, value);
}

/// One access line, text or JSON, ending in a newline.
fn write_line(
    line: &mut Vec<u8>,
    json: bool,
    seen: &Seen,
    status: u16,
    micros: u64,
    user: Option<Uuid>,
) {
    let route = seen.route.as_ref().map_or("unmatched", MatchedPath::as_str);
    // Header values that are not visible ASCII are left out rather than escaped.
    let request_id = seen
        .request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let latency = format_args!("{}.{:03}", micros / 1000, micros % 1000);
    if json {
        line.extend_from_slice(b"{\"timestamp\":\"");
        write_timestamp(line, SystemTime::now());
        let _ = write!(
            line,
            "\",\"level\":\"INFO\",\"message\":\"request\",\"status\":{status},\"latency_ms\":{latency},\
             \"target\":\"gatehouse::access\",\"span\":{{\"method\":\"{}\",\"route\":",
            seen.method
        );
        write_json_string(line, route);
        line.extend_from_slice(b",\"request_id\":");
        write_json_string(line, request_id);
        if let Some(client) = seen.client {
            let _ = write!(line, ",\"client\":\"{client}\"");
        }
        if let Some(user) = user {
            let _ = write!(line, ",\"user_id\":\"{user}\"");
        }
        line.extend_from_slice(b",\"name\":\"request\"}}\n");
    } else {
        write_timestamp(line, SystemTime::now());
        let _ = write!(
            line,
            "  INFO request{{method={} route={route} request_id={request_id}",
            seen.method
        );
        if let Some(client) = seen.client {
            let _ = write!(line, " client={client}");
        }
        if let Some(user) = user {
            let _ = write!(line, " user_id={user}");
        }
        let _ = writeln!(
            line,
            "}}: gatehouse::access: request status={status} latency_ms={latency}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(request_id: &'static str) -> Seen {
        Seen {
            method: Method::GET,
            route: None,
            request_id: Some(HeaderValue::from_static(request_id)),
            client: Some("2001:db8::1".parse().unwrap()),
        }
    }

    #[test]
    fn a_request_id_with_quotes_cannot_forge_json_fields_in_the_access_line() {
        let mut line = Vec::new();
        let user = Uuid::new_v4();
        write_line(
            &mut line,
            true,
            &seen(r#"x","status":500,"user_id":"forged"#),
            204,
            1234,
            Some(user),
        );
        let parsed: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["status"], 204);
        assert_eq!(parsed["latency_ms"], 1.234);
        assert_eq!(parsed["target"], "gatehouse::access");
        assert_eq!(parsed["span"]["route"], "unmatched");
        assert_eq!(parsed["span"]["client"], "2001:db8::1");
        assert_eq!(parsed["span"]["user_id"], user.to_string());
        assert_eq!(
            parsed["span"]["request_id"],
            r#"x","status":500,"user_id":"forged"#
        );
        let stamp = parsed["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        );
        assert!(line.ends_with(b"}\n"));
    }

    #[test]
    fn text_lines_name_the_target_and_every_field() {
        let mut line = Vec::new();
        write_line(&mut line, false, &seen("abc"), 404, 7, None);
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text}"
        );
        for part in [
            "INFO request{method=GET route=unmatched request_id=abc client=2001:db8::1}",
            "gatehouse::access: request status=404 latency_ms=0.007",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains("user_id"), "{text}");
    }
}
