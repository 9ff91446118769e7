//! Which surfaces a server answers (`surfaces` setting, the dialects' Cargo features) and how a
//! server started on port 0 tells a harness its address.

use std::path::Path;
use std::process::Stdio;

use reqwest::Method;

use crate::helpers::TestApp;

/// One request per surface beside the native API, sent without a credential: a served
/// surface answers it with anything but 404.
fn probes() -> Vec<(&'static str, Method, &'static str)> {
    vec![
        ("pages", Method::GET, "/signin"),
        ("freechat", Method::GET, "/api/v1/account/details"),
        ("alsid", Method::GET, "/api/users/whoami"),
        ("glowmarkt", Method::GET, "/api/v0-1/user"),
        ("cloudsmith", Method::GET, "/v1/user/self/"),
        ("trieve", Method::PUT, "/api/user"),
    ]
}

async fn status(client: &reqwest::Client, base: &str, method: Method, path: &str) -> u16 {
    client
        .request(method, format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The names of the surfaces this test binary's server was built with.
fn built_in() -> Vec<&'static str> {
    use gatehouse::http::surfaces::Surface;
    Surface::ALL
        .into_iter()
        .filter(|s| s.built_in())
        .map(Surface::name)
        .collect()
}

#[tokio::test]
async fn by_default_every_surface_built_in_is_served_and_no_other() {
    let app = TestApp::spawn().await;
    let built_in = built_in();
    for (surface, method, path) in probes() {
        let status = status(&app.client, &app.base, method, path).await;
        if built_in.contains(&surface) {
            assert_ne!(status, 404, "{surface} is built in: {path}");
        } else {
            assert_eq!(status, 404, "{surface} is not built in: {path}");
        }
    }
}

fn serve_command(data: &Path, extra: &[&str]) -> tokio::process::Command {
    let mut command = crate::helpers::serve_command(data);
    command.args(extra);
    command
}

#[tokio::test]
async fn with_surfaces_native_every_vendor_path_and_page_answers_404() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, base) =
        crate::helpers::serve_on_free_port(serve_command(dir.path(), &["--surfaces", "native"]))
            .await;
    let client = reqwest::Client::new();
    for (surface, method, path) in probes() {
        assert_eq!(
            status(&client, &base, method, path).await,
            404,
            "{surface}: {path}"
        );
    }
    assert_eq!(
        status(&client, &base, Method::GET, "/auth/v1/openapi.json").await,
        200
    );
    // No setup page without the pages, so no setup link is written.
    assert!(!dir.path().join("setup-link").exists());
}

#[cfg(feature = "glowmarkt")]
#[tokio::test]
async fn a_list_serves_exactly_the_surfaces_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, base) = crate::helpers::serve_on_free_port(serve_command(
        dir.path(),
        &["--surfaces", "native,glowmarkt"],
    ))
    .await;
    let client = reqwest::Client::new();
    for (surface, method, path) in probes() {
        let status = status(&client, &base, method, path).await;
        if surface == "glowmarkt" {
            assert_ne!(status, 404, "{surface}: {path}");
        } else {
            assert_eq!(status, 404, "{surface}: {path}");
        }
    }
}

#[test]
fn unknown_surfaces_and_a_list_without_native_are_refused_by_check_config_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    for (list, said) in [
        ("native,ftp", "\"ftp\" is not a surface"),
        ("pages", "\"native\" must be listed"),
    ] {
        for command in ["check-config", "serve"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .args([command, "--listen", "127.0.0.1:0", "--surfaces", list])
                .arg("--data-dir")
                .arg(dir.path())
                .env_remove("GATEHOUSE_DATABASE_URL")
                .env_remove("GATEHOUSE_CONFIG")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains(said) && stderr.contains("`surfaces`"),
                "{command} --surfaces {list}: {stderr}"
            );
        }
    }
}

#[cfg(not(feature = "trieve"))]
#[test]
fn a_dialect_left_out_of_the_build_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check-config", "--surfaces", "native,trieve"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("\"trieve\" is not built into this binary"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_on_port_0_reports_the_address_it_bound_and_links_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = crate::helpers::serve_on_free_port(serve_command(&data, &[])).await;
    let address = std::fs::read_to_string(data.join("listening")).unwrap();
    let address: std::net::SocketAddr = address.trim().parse().unwrap();
    assert_ne!(address.port(), 0);
    assert_eq!(base, format!("http://{address}"));
    // The default public URL is the bound address, not `127.0.0.1:0`: the first-run setup
    // link (written to a file, since no terminal reads the log) leads to this server.
    let link = std::fs::read_to_string(data.join("setup-link")).unwrap();
    assert!(link.starts_with(&format!("{base}/setup?token=")), "{link}");
    let setup = reqwest::get(link.trim()).await.unwrap();
    assert_eq!(setup.status(), 200);

    // A clean stop takes the file away: it never names an address nobody holds.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(stopped.success());
    assert!(!data.join("listening").exists());
    let log = {
        use tokio::io::AsyncReadExt as _;
        let mut text = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        text
    };
    assert!(
        log.contains(&format!("Gatehouse is listening on {address}")),
        "{log}"
    );
}
