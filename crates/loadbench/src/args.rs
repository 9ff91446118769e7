//! Hand-rolled command-line parsing (no extra dependencies).

use std::time::Duration;

pub const USAGE: &str = "\
loadbench: HTTP/1.1 keep-alive load generator for loopback benchmarks.

USAGE:
    loadbench --url http://127.0.0.1:PORT --target NAME=PATH[@HEADER:VALUE] [--target ...] [OPTIONS]

OPTIONS:
    --url URL                Base URL, http:// only; the host must resolve to a loopback address.
                             A path in the URL (e.g. http://127.0.0.1:8080/base) prefixes every target.
    --target NAME=PATH[@HEADER:VALUE]
                             A GET target; repeatable, run one after another in the order given.
                             Everything after the first '@' is one extra request header, split at
                             its first ':' (e.g. details=/api/v1/account/details@Authorization:Bearer gh_x).
    --connections N          Concurrent keep-alive connections per target (default 64).
    --duration-secs S        Measured seconds per target (default 10; fractions allowed).
    --warmup-secs S          Warm-up seconds per target, samples discarded (default 2).
    --timeout-secs S         Per-request timeout, counted as an error (default 10).
    --threads N              Tokio worker threads (default: available CPUs).
    -h, --help               Show this help.

OUTPUT:
    requests = 2xx responses + errors in the measured window (requests still in
               flight when the window closes are not counted);
    errors   = non-2xx responses, I/O or protocol errors, timeouts in that window;
    req/s, p50..max are computed over the 2xx responses only.
    Errors during warm-up are reported too. Exit status: 0 clean, 1 any error, 2 bad usage.
";

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub path: String,
    pub header: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Url {
    /// Host as written (without brackets for IPv6), used for resolution.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written, used for the Host header.
    pub authority: String,
    /// Path prefix without trailing slash ("" when none).
    pub base_path: String,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub url: Url,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    pub threads: Option<usize>,
    pub targets: Vec<Target>,
}

/// `Ok(None)` means help was requested.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut url = None;
    let mut connections = 64usize;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::from_secs(2);
    let mut timeout = Duration::from_secs(10);
    let mut threads = None;
    let mut targets = Vec::new();

    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--url" => url = Some(parse_url(&value(&flag)?)?),
            "--connections" | "-c" => {
                connections = parse_num(&flag, &value(&flag)?)?;
                if connections == 0 {
                    return Err("--connections must be at least 1".into());
                }
            }
            "--duration-secs" | "-d" => duration = parse_secs(&flag, &value(&flag)?)?,
            "--warmup-secs" => warmup = parse_secs(&flag, &value(&flag)?)?,
            "--timeout-secs" => timeout = parse_secs(&flag, &value(&flag)?)?,
            "--threads" => {
                let n: usize = parse_num(&flag, &value(&flag)?)?;
                if n == 0 {
                    return Err("--threads must be at least 1".into());
                }
                threads = Some(n);
            }
            "--target" | "-t" => targets.push(parse_target(&value(&flag)?)?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }

    let url = url.ok_or("--url is required")?;
    if targets.is_empty() {
        return Err("at least one --target is required".into());
    }
    if duration.is_zero() {
        return Err("--duration-secs must be > 0".into());
    }
    if timeout.is_zero() {
        return Err("--timeout-secs must be > 0".into());
    }
    Ok(Some(Args {
        url,
        connections,
        duration,
        warmup,
        timeout,
        threads,
        targets,
    }))
}

fn parse_num(flag: &str, v: &str) -> Result<usize, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{flag}: not a non-negative integer: {v:?}"))
}

fn parse_secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{flag}: not a number of seconds: {v:?}"))?;
    if !s.is_finite() || !(0.0..=86_400.0).contains(&s) {
        return Err(format!("{flag}: out of range: {v:?}"));
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn parse_url(s: &str) -> Result<Url, String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must start with http:// (got {s:?})"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--url has no host: {s:?}"));
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        // [v6]:port
        let (h, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("--url: bad IPv6 host in {s:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("--url: bad port in {s:?}"))?,
            None if tail.is_empty() => 80,
            None => return Err(format!("--url: bad authority in {s:?}")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("--url: bad port in {s:?}"))?,
            ),
            None => (authority.to_string(), 80),
        }
    };
    if path.contains('?') || path.contains('#') {
        return Err(format!("--url: no query or fragment allowed: {s:?}"));
    }
    Ok(Url {
        host,
        port,
        authority: authority.to_string(),
        base_path: path.trim_end_matches('/').to_string(),
    })
}

pub fn parse_target(s: &str) -> Result<Target, String> {
    let (name, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("--target must be NAME=PATH[@HEADER:VALUE], got {s:?}"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("--target: empty name in {s:?}"));
    }
    let (path, header) = match rest.split_once('@') {
        Some((p, h)) => {
            let (hn, hv) = h
                .split_once(':')
                .ok_or_else(|| format!("--target: header must be HEADER:VALUE in {s:?}"))?;
            let hn = hn.trim();
            let hv = hv.trim();
            let valid_name = !hn.is_empty()
                && hn
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
                return Err(format!("--target: bad header name {hn:?}"));
            }
            if hv.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err("--target: header value contains a line break".into());
            }
            (p, Some((hn.to_string(), hv.to_string())))
        }
        None => (rest, None),
    };
    if !path.starts_with('/') {
        return Err(format!("--target: path must start with '/', got {path:?}"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("--target: path contains whitespace: {path:?}"));
    }
    Ok(Target {
        name: name.to_string(),
        path: path.to_string(),
        header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_full_command_line() {
        let a = parse(sv(&[
            "--url",
            "http://127.0.0.1:18080",
            "--connections=8",
            "--duration-secs",
            "1.5",
            "--warmup-secs",
            "0",
            "--target",
            "healthz=/healthz",
            "--target",
            "details=/api/v1/account/details@Authorization:Bearer gh_abc",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.url.host, "127.0.0.1");
        assert_eq!(a.url.port, 18080);
        assert_eq!(a.url.base_path, "");
        assert_eq!(a.connections, 8);
        assert_eq!(a.duration, Duration::from_millis(1500));
        assert!(a.warmup.is_zero());
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.targets[1].path, "/api/v1/account/details");
        assert_eq!(
            a.targets[1].header,
            Some(("Authorization".into(), "Bearer gh_abc".into()))
        );
    }

    #[test]
    fn url_variants() {
        let u = parse_url("http://[::1]:9000/base/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.base_path, "/base");
        assert_eq!(u.authority, "[::1]:9000");
        let u = parse_url("http://localhost").unwrap();
        assert_eq!(u.port, 80);
        assert!(parse_url("https://x").is_err());
    }

    #[test]
    fn bad_targets() {
        assert!(parse_target("nopath").is_err());
        assert!(parse_target("x=relative").is_err());
        assert!(parse_target("x=/a@NoColon").is_err());
        assert!(parse_target("x=/a@Bad Name:v").is_err());
    }
}
