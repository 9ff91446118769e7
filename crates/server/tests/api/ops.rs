//! `/healthz`, `/readyz`, `/metrics`, request ids, the OpenAPI document and unknown routes.

use std::sync::Arc;

use gatehouse::http::AppState;
use gatehouse::metrics::Metrics;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::helpers::{assert_problem, TestApp};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

const METRICS_TOKEN: &str = "metrics-scraper-token";

fn with_metrics_token(state: &mut AppState) {
    state.metrics_token = Some(Arc::new(SecretString::from(METRICS_TOKEN)));
}

#[tokio::test]
async fn anonymous_callers_cannot_read_metrics_on_the_service_port() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "no metrics on the service port by default");
    assert!(!r.text().await.unwrap().contains("http_requests_total"));
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health stays public");

    // With a token setting, only its bearer reads them.
    let app = TestApp::spawn_with_state(|_| {}, with_metrics_token).await;
    for auth in [None, Some("Bearer wrong-token"), Some(METRICS_TOKEN)] {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_separate_metrics_address_serves_metrics_and_nothing_else() {
    let app = TestApp::spawn().await;
    let state = AppState::new(app.accounts.clone(), Metrics::new(app.accounts.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gatehouse::http::serve_metrics(listener, state, async {
        let _ = stopped.await;
    }));
    let r = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("gatehouse_password_hash_queue_length"));
    for path in ["/auth/v1/me", "/healthz", "/admin"] {
        let r = app
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    drop(stop);
}

#[cfg(feature = "freechat")]
#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_the_token_cache() {
    let app = TestApp::spawn_with_state(|_| {}, with_metrics_token).await;
    let alice = app.user("alice").await;
    for _ in 0..3 {
        assert_eq!(
            app.status_with("/api/v1/account/details", &alice.token)
                .await,
            200
        );
    }
    assert_eq!(app.status_with("/auth/v1/me", "garbage").await, 401);
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/account/details",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/auth/v1/me",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_count{method="GET",route="/api/v1/account/details"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_token_cache_hits_total 2"),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_token_cache_misses_total 1"),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_password_hash_queue_length 0"),
        "{text}"
    );
    assert!(!text.contains(&alice.token), "no secret in metrics");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36);
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_native_route() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/auth/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (p, method) in [
        ("/auth/v1/login", "post"),
        ("/auth/v1/login/second-factor", "post"),
        ("/auth/v1/logout", "post"),
        ("/auth/v1/session/reauthenticate", "post"),
        ("/auth/v1/me", "get"),
        ("/auth/v1/me", "patch"),
        ("/auth/v1/me/picture", "put"),
        ("/auth/v1/pictures/{id}", "get"),
        ("/auth/v1/me/second-factor", "get"),
        ("/auth/v1/me/second-factor", "post"),
        ("/auth/v1/me/second-factor", "delete"),
        ("/auth/v1/me/second-factor/confirm", "post"),
        ("/auth/v1/me/second-factor/recovery-codes", "post"),
        ("/auth/v1/files", "get"),
        ("/auth/v1/files", "post"),
        ("/auth/v1/files/{id}", "get"),
        ("/auth/v1/files/{id}", "delete"),
        ("/auth/v1/chunks", "get"),
        ("/auth/v1/chunks", "post"),
        ("/auth/v1/chunks/{id}", "delete"),
        ("/auth/v1/tokens", "get"),
        ("/auth/v1/tokens", "post"),
        ("/auth/v1/tokens/{id}", "get"),
        ("/auth/v1/tokens/{id}", "delete"),
        ("/auth/v1/tokens/{id}/disable", "post"),
        ("/auth/v1/tokens/{id}/enable", "post"),
        ("/auth/v1/tokens/{id}/rotate", "post"),
        ("/auth/v1/signup", "post"),
        ("/auth/v1/verify-email", "post"),
        ("/auth/v1/verify-email/resend", "post"),
        ("/auth/v1/password/forgot", "post"),
        ("/auth/v1/password/reset", "post"),
        ("/auth/v1/password/change", "post"),
        ("/auth/v1/sessions", "get"),
        ("/auth/v1/sessions", "delete"),
        ("/auth/v1/sessions/end-others", "post"),
        ("/auth/v1/sessions/{id}", "delete"),
        ("/auth/v1/admin/audit", "get"),
        ("/auth/v1/admin/users", "get"),
        ("/auth/v1/admin/users", "post"),
        ("/auth/v1/admin/users/{id}", "get"),
        ("/auth/v1/admin/users/{id}", "patch"),
        ("/auth/v1/admin/users/{id}", "delete"),
        ("/auth/v1/admin/users/{id}/disable", "post"),
        ("/auth/v1/admin/users/{id}/enable", "post"),
        ("/auth/v1/admin/users/{id}/roles", "get"),
        ("/auth/v1/admin/users/{id}/roles", "put"),
        ("/auth/v1/admin/users/{id}/reset-password", "post"),
        ("/auth/v1/admin/users/{id}/reset-second-factor", "post"),
        ("/auth/v1/admin/users/{id}/sessions", "delete"),
        ("/auth/v1/admin/users/{id}/tokens", "delete"),
        ("/auth/v1/admin/roles", "get"),
        ("/auth/v1/admin/roles", "post"),
        ("/auth/v1/admin/roles/{id}", "put"),
        ("/auth/v1/admin/roles/{id}", "delete"),
        ("/auth/v1/orgs", "get"),
        ("/auth/v1/orgs", "post"),
        ("/auth/v1/orgs/{id}", "get"),
        ("/auth/v1/orgs/{id}", "patch"),
        ("/auth/v1/orgs/{id}", "delete"),
        ("/auth/v1/orgs/{id}/members", "get"),
        ("/auth/v1/orgs/{id}/short-reset-codes", "put"),
        ("/auth/v1/orgs/{id}/members/{user_id}", "put"),
        ("/auth/v1/orgs/{id}/members/{user_id}", "delete"),
    ] {
        assert!(
            paths.get(p).and_then(|o| o.get(method)).is_some(),
            "{method} {p} missing"
        );
    }
    let documented: usize = paths.values().map(|o| o.as_object().unwrap().len()).sum();
    assert_eq!(documented, 64, "a route was added without its test here");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_openapi_document_declares_real_path_parameters_and_problem_json_errors() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/auth/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut errors = 0;
    let mut ids = std::collections::HashSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operationId {id} is taken"
            );
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "path" {
                    let name = parameter["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: `{name}` is declared in the path but is not in it"
                    );
                }
            }
            // Every operation can meet a database that does not answer (database_outage.rs
            // shows the 503 on the wire).
            let unavailable = &operation["responses"]["503"];
            assert_eq!(
                unavailable["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path}: no 503 problem declared"
            );
            assert_eq!(
                unavailable["headers"]["Retry-After"]["schema"]["type"], "integer",
                "{method} {path}: the 503 without Retry-After"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                errors += 1;
                if let Some(content) = response["content"].as_object() {
                    let types: Vec<&String> = content.keys().collect();
                    assert_eq!(
                        types,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(
        errors > 100,
        "{errors} error responses: the walk saw the document"
    );
    // What the document declares is what is sent.
    let r = app.client.get(app.url("/auth/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// One HTTP/1.1 exchange on `stream`; returns the head of the answer (status line, headers).
#[cfg(feature = "freechat")]
async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if rest.len() >= length || n == 0 {
                return head.to_ascii_lowercase();
            }
        }
        assert!(n > 0, "connection closed mid-answer");
    }
}

#[cfg(feature = "freechat")]
#[tokio::test]
async fn a_refused_request_with_an_unread_body_says_connection_close() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let put = |token: &str| {
        let body = r#"{"nickname":"Al"}"#;
        format!(
            "PUT /api/v1/account/details HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // Refused before the body was read: the server will not reuse the connection, and says so.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = exchange(&mut stream, &put("gh_dead")).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");

    // A request whose body was read keeps the connection alive for the next one.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = exchange(&mut stream, &put(&alice.token)).await;
    assert!(
        head.starts_with("http/1.1 200") && !head.contains("connection: close"),
        "{head}"
    );
    let head = exchange(&mut stream, &put(&alice.token)).await;
    assert!(
        head.starts_with("http/1.1 200"),
        "the same connection served a second request: {head}"
    );
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn_with_state(|_| {}, with_metrics_token).await;
    let scrape = || async {
        app.client
            .get(app.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await.len();
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i:03}").as_bytes()).unwrap();
        let r = app
            .client
            .request(method, app.url(&format!("/no/such/path/{i}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = scrape().await;
    assert!(!text.contains("INVENTED"), "a raw method became a label");
    assert!(!text.contains("/no/such/path"), "a raw path became a label");
    assert!(
        text.contains(r#"http_requests_total{method="other",route="unmatched",status="404"} 200"#)
            || text.contains(
                r#"http_requests_total{method="other",route="unmatched",status="405"} 200"#
            ),
        "{text}"
    );
    // One new series for the whole attack (plus the scrapes), not one per request.
    assert!(
        text.len() < before + 4096,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
}

/// The metrics text (plain format) as the scraper with the token reads it.
async fn scrape(app: &TestApp) -> String {
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the sample `name` (with its labels, as written) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[cfg(feature = "cloudsmith")]
#[tokio::test]
async fn metrics_follow_sign_in_outcomes_on_every_surface() {
    let app =
        TestApp::spawn_with_state(|c| c.throttle.login_per_account = 2, with_metrics_token).await;
    app.user("alice").await;
    let login = |password: &str| {
        app.client
            .post(app.url("/auth/v1/login"))
            .json(&serde_json::json!({"login": "alice", "password": password}))
            .send()
    };
    assert_eq!(login(crate::helpers::PASSWORD).await.unwrap().status(), 200);
    assert_eq!(login("wrong password").await.unwrap().status(), 401);
    // HTTP basic on a dialect is a sign-in too.
    let basic = app
        .client
        .get(app.url("/v1/user/self/"))
        .basic_auth("alice", Some("another wrong one"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(login("third wrong").await.unwrap().status(), 429);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"gatehouse_sign_ins_total{outcome="success"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"gatehouse_sign_ins_total{outcome="failure"}"#),
        2.0
    );
    assert_eq!(
        sample(&text, r#"gatehouse_sign_ins_total{outcome="throttled"}"#),
        1.0
    );
    assert!(!text.contains(crate::helpers::PASSWORD));
}

#[tokio::test]
async fn metrics_show_the_outbox_depth_its_oldest_age_and_delivery_failures() {
    use accounts::testkit::memory_mailer::SimulatedFailure;
    use accounts::testkit::MemoryMailer;
    let app = TestApp::spawn_with_state(|_| {}, with_metrics_token).await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"gatehouse_outbox_messages{status="queued"}"#),
        0.0
    );
    assert_eq!(
        sample(&text, "gatehouse_outbox_oldest_queued_age_seconds"),
        0.0
    );

    let r = app
        .client
        .post(app.url("/auth/v1/signup"))
        .json(&serde_json::json!({
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password": crate::helpers::PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    app.clock.advance(chrono::Duration::seconds(90));
    let mailer = MemoryMailer::new();
    mailer.set_outage(Some(SimulatedFailure::Temporary));
    app.accounts.deliver_mail(&mailer, 10).await.unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"gatehouse_outbox_messages{status="queued"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, "gatehouse_outbox_oldest_queued_age_seconds"),
        90.0
    );
    assert_eq!(sample(&text, "gatehouse_mail_delivery_failures_total"), 1.0);

    mailer.set_outage(None);
    app.clock.advance(chrono::Duration::hours(1));
    app.accounts.deliver_mail(&mailer, 10).await.unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"gatehouse_outbox_messages{status="queued"}"#),
        0.0
    );
    assert_eq!(
        sample(&text, r#"gatehouse_outbox_messages{status="sent"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, "gatehouse_outbox_oldest_queued_age_seconds"),
        0.0
    );
}

#[tokio::test]
async fn metrics_describe_the_process_the_build_and_the_hashing_pool() {
    let app = TestApp::spawn_with_state(|_| {}, with_metrics_token).await;
    let text = scrape(&app).await;
    // Every family has its HELP and TYPE under the name its samples carry.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| text.contains(&format!("# TYPE {f} histogram")))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# HELP {family} "))
                && text.contains(&format!("# TYPE {family} ")),
            "{family} undescribed:\n{text}"
        );
    }
    let build = format!(
        r#"gatehouse_build_info{{version="{}",commit="#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&build), "{text}");
    assert!(sample(&text, "process_resident_memory_bytes") > 1e6);
    assert!(sample(&text, "process_open_fds") >= 3.0);
    assert!(sample(&text, "process_cpu_seconds_total") > 0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    let started = sample(&text, "process_start_time_seconds");
    assert!(started <= now && started > now - 86_400.0, "{started}");
    assert_eq!(sample(&text, "gatehouse_password_hash_busy_threads"), 0.0);
    assert!(sample(&text, "gatehouse_password_hash_threads") >= 1.0);

    // A scraper that asks for OpenMetrics gets it.
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(r.text().await.unwrap().trim_end().ends_with("# EOF"));
}
