//! `gatehouse healthcheck`: one GET of the readiness URL over plain HTTP/1.1, for systemd
//! and container health checks (no curl needed in the image). 200 is healthy; anything
//! else, or no answer within 5 s, is not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the whole probe may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// `/readyz` on the `listen` address; an unspecified address (0.0.0.0, ::) is asked on
/// loopback.
pub fn default_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

/// Succeeds when `url` (`http://HOST[:PORT]/PATH`) answers 200.
pub async fn probe(url: &str) -> anyhow::Result<()> {
    let rest = url.strip_prefix("http://").with_context(|| {
        "only http:// URLs are probed; point --url at the server's own listen address"
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        anyhow::bail!("{url:?} names no host");
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let status = tokio::time::timeout(DEADLINE, async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: gatehouse-healthcheck\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .with_context(|| "the answer is not HTTP")?;
        anyhow::Ok(status)
    })
    .await
    .with_context(|| format!("no answer within {} s", DEADLINE.as_secs()))??;
    if status != 200 {
        anyhow::bail!("answered {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_probed_on_loopback() {
        assert_eq!(
            default_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/readyz"
        );
        assert_eq!(
            default_url("[::]:80".parse().unwrap()),
            "http://[::1]:80/readyz"
        );
        assert_eq!(
            default_url("10.0.0.5:9000".parse().unwrap()),
            "http://10.0.0.5:9000/readyz"
        );
    }
}
