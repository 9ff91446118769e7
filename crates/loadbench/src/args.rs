//! Hand-rolled command-line parsing (no extra dependencies).

use std::time::Duration;

pub const USAGE: &str = "\
loadbench: HTTP/1.1 keep-alive load generator for loopback benchmarks.

USAGE:
    loadbench --url http://127.0.0.1:PORT --target NAME=[METHOD:]PATH[@HEADER:VALUE] [--target ...] [OPTIONS]
    loadbench hash-ceiling [--iterations N] [--warmup N]

OPTIONS:
    --url URL                Base URL, http:// only; the host must resolve to a loopback address.
                             A path in the URL (e.g. http://127.0.0.1:8080/base) prefixes every target.
    --target NAME=[METHOD:]PATH[@HEADER:VALUE]
                             A target; repeatable. METHOD defaults to GET (e.g. POST:/auth/v1/login).
                             Everything after the first '@' is one extra request header, split at
                             its first ':' (e.g. details=/api/v1/account/details@Authorization:Bearer gh_x).
    --body NAME=TEXT         Request body of target NAME (needs a METHOD other than GET/HEAD). Every
                             `{i}` in TEXT becomes the connection's index within that target (0, 1, ...),
                             so each connection can e.g. log in as its own user:
                               --target 'login=POST:/auth/v1/login'
                               --body 'login={\"login\":\"bench{i}\",\"password\":\"...\"}'
                             Content-Length is set; Content-Type is application/json unless the
                             target's header sets Content-Type.
    --connections N | NAME=N Concurrent keep-alive connections: N for every target (default 64),
                             NAME=N for one target (repeatable, overrides N).
    --rate NAME=R            Pace target NAME at R requests/s in total over its connections (each
                             connection sends on a fixed schedule, ~1 ms timer resolution). A request
                             held up because the previous response came after its scheduled time
                             counts its latency from that time, so slow responses are not hidden.
                             Default: closed loop, each connection sends its next request as soon as
                             it has a response.
    --concurrent             Run all targets at the same time (one shared warm-up and measured window)
                             instead of one after another.
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

HASH-CEILING:
    Times N argon2id hashes in a row on one thread with accounts::PasswordHasher::default_params()
    (through the core's hasher on one thread, the code and memory reuse of the server's hashing
    threads: argon2-rust with the SIMD code it picks; after a few discarded warm-up hashes) and
    prints the time of one hash and the ceiling = cores / time of one hash (logins/s); then, as
    checks, the rate of `cores` threads hashing at once, and N hashes through
    PasswordHasher::verify (the call a login makes) with their page faults. Build it with the
    same profile and RUSTFLAGS as the server it is compared with (it prints the ones it was
    built with).
    --iterations N           Timed hashes (default 50).
    --warmup N               Discarded hashes first (default 3).
";

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub method: String,
    pub path: String,
    pub header: Option<(String, String)>,
    /// Body template; `{i}` is replaced with the connection index.
    pub body: Option<String>,
    pub connections: usize,
    /// Total requests per second over all connections; `None` = closed loop.
    pub rate: Option<f64>,
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
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    pub threads: Option<usize>,
    pub concurrent: bool,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeilingArgs {
    pub iterations: usize,
    pub warmup: usize,
}

#[derive(Debug, Clone)]
pub enum Command {
    Load(Args),
    HashCeiling(CeilingArgs),
}

/// `Ok(None)` means help was requested.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Option<Command>, String> {
    let mut it = argv.into_iter().peekable();
    if it.peek().map(String::as_str) == Some("hash-ceiling") {
        it.next();
        return Ok(parse_ceiling(it)?.map(Command::HashCeiling));
    }
    Ok(parse_load(it)?.map(Command::Load))
}

/// Splits `--flag=value` and fetches the value of `--flag value`.
struct Flags<I: Iterator<Item = String>> {
    it: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    /// The next flag and, for `--flag=value`, its inline value.
    fn next_flag(&mut self) -> Option<(String, Option<String>)> {
        let arg = self.it.next()?;
        Some(match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        })
    }

    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .it
                .next()
                .ok_or_else(|| format!("{flag} needs a value")),
        }
    }
}

fn parse_ceiling(argv: impl Iterator<Item = String>) -> Result<Option<CeilingArgs>, String> {
    let mut a = CeilingArgs {
        iterations: 50,
        warmup: 3,
    };
    let mut f = Flags { it: argv };
    while let Some((flag, inline)) = f.next_flag() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--iterations" | "-n" => {
                a.iterations = parse_num(&flag, &f.value(&flag, inline)?)?;
                if a.iterations == 0 {
                    return Err("--iterations must be at least 1".into());
                }
            }
            "--warmup" => a.warmup = parse_num(&flag, &f.value(&flag, inline)?)?,
            other => return Err(format!("hash-ceiling: unknown argument: {other}")),
        }
    }
    Ok(Some(a))
}

fn parse_load(argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut url = None;
    let mut connections = 64usize;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::from_secs(2);
    let mut timeout = Duration::from_secs(10);
    let mut threads = None;
    let mut concurrent = false;
    let mut targets = Vec::new();
    // Per-target settings, applied once every target is known.
    let mut bodies: Vec<(String, String)> = Vec::new();
    let mut conns_for: Vec<(String, usize)> = Vec::new();
    let mut rates: Vec<(String, f64)> = Vec::new();

    let mut f = Flags { it: argv };
    while let Some((flag, inline)) = f.next_flag() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--concurrent" => {
                if inline.is_some() {
                    return Err("--concurrent takes no value".into());
                }
                concurrent = true;
            }
            "--url" => url = Some(parse_url(&f.value(&flag, inline)?)?),
            "--connections" | "-c" => {
                let v = f.value(&flag, inline)?;
                match v.split_once('=') {
                    Some((name, n)) => {
                        let n = parse_num(&flag, n)?;
                        if n == 0 {
                            return Err("--connections must be at least 1".into());
                        }
                        conns_for.push((name.trim().to_string(), n));
                    }
                    None => {
                        connections = parse_num(&flag, &v)?;
                        if connections == 0 {
                            return Err("--connections must be at least 1".into());
                        }
                    }
                }
            }
            "--body" => {
                let v = f.value(&flag, inline)?;
                let (name, text) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--body must be NAME=TEXT, got {v:?}"))?;
                bodies.push((name.trim().to_string(), text.to_string()));
            }
            "--rate" => {
                let v = f.value(&flag, inline)?;
                let (name, r) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--rate must be NAME=REQ_PER_SEC, got {v:?}"))?;
                let r: f64 = r
                    .trim()
                    .parse()
                    .map_err(|_| format!("--rate: not a number: {r:?}"))?;
                if !r.is_finite() || r <= 0.0 || r > 1e7 {
                    return Err(format!("--rate: out of range: {r}"));
                }
                rates.push((name.trim().to_string(), r));
            }
            "--duration-secs" | "-d" => duration = parse_secs(&flag, &f.value(&flag, inline)?)?,
            "--warmup-secs" => warmup = parse_secs(&flag, &f.value(&flag, inline)?)?,
            "--timeout-secs" => timeout = parse_secs(&flag, &f.value(&flag, inline)?)?,
            "--threads" => {
                let n: usize = parse_num(&flag, &f.value(&flag, inline)?)?;
                if n == 0 {
                    return Err("--threads must be at least 1".into());
                }
                threads = Some(n);
            }
            "--target" | "-t" => targets.push(parse_target(&f.value(&flag, inline)?)?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }

    let url = url.ok_or("--url is required")?;
    if targets.is_empty() {
        return Err("at least one --target is required".into());
    }
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|o| o.name == t.name) {
            return Err(format!("--target: name {:?} used twice", t.name));
        }
    }
    if duration.is_zero() {
        return Err("--duration-secs must be > 0".into());
    }
    if timeout.is_zero() {
        return Err("--timeout-secs must be > 0".into());
    }
    for t in &mut targets {
        t.connections = connections;
    }
    let find = |flag: &str, name: &str| -> Result<usize, String> {
        targets
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| format!("{flag}: no --target named {name:?}"))
    };
    let mut with_body = Vec::new();
    for (name, body) in bodies {
        with_body.push((find("--body", &name)?, body));
    }
    let mut with_conns = Vec::new();
    for (name, n) in conns_for {
        with_conns.push((find("--connections", &name)?, n));
    }
    let mut with_rate = Vec::new();
    for (name, r) in rates {
        with_rate.push((find("--rate", &name)?, r));
    }
    for (i, body) in with_body {
        let t = &mut targets[i];
        if t.method == "GET" || t.method == "HEAD" {
            return Err(format!(
                "--body: target {:?} is a {}; give it a method, e.g. {}=POST:{}",
                t.name, t.method, t.name, t.path
            ));
        }
        t.body = Some(body);
    }
    for (i, n) in with_conns {
        targets[i].connections = n;
    }
    for (i, r) in with_rate {
        targets[i].rate = Some(r);
    }
    Ok(Some(Args {
        url,
        duration,
        warmup,
        timeout,
        threads,
        concurrent,
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
        .ok_or_else(|| format!("--target must be NAME=[METHOD:]PATH[@HEADER:VALUE], got {s:?}"))?;
    let name = name.trim();
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(format!(
            "--target: empty name or whitespace in name in {s:?}"
        ));
    }
    let (path, header) = match rest.split_once('@') {
        Some((p, h)) => {
            let (hn, hv) = h
                .split_once(':')
                .ok_or_else(|| format!("--target: header must be HEADER:VALUE in {s:?}"))?;
            let hn = hn.trim();
            let hv = hv.trim();
            if !is_token(hn) {
                return Err(format!("--target: bad header name {hn:?}"));
            }
            if hv.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err("--target: header value contains a line break".into());
            }
            (p, Some((hn.to_string(), hv.to_string())))
        }
        None => (rest, None),
    };
    let (method, path) = if path.starts_with('/') {
        ("GET", path)
    } else {
        match path.split_once(':') {
            Some((m, p)) if is_token(m) && m.bytes().all(|b| b.is_ascii_uppercase()) => (m, p),
            _ => {
                return Err(format!(
                    "--target: path must start with '/' (optionally after METHOD:), got {path:?}"
                ))
            }
        }
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
        method: method.to_string(),
        path: path.to_string(),
        header,
        body: None,
        connections: 64,
        rate: None,
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn load(v: &[&str]) -> Result<Args, String> {
        match parse(sv(v))? {
            Some(Command::Load(a)) => Ok(a),
            other => panic!("not a load command: {other:?}"),
        }
    }

    #[test]
    fn parses_full_command_line() {
        let a = load(&[
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
        ])
        .unwrap();
        assert_eq!(a.url.host, "127.0.0.1");
        assert_eq!(a.url.port, 18080);
        assert_eq!(a.url.base_path, "");
        assert!(!a.concurrent);
        assert_eq!(a.duration, Duration::from_millis(1500));
        assert!(a.warmup.is_zero());
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.targets[1].method, "GET");
        assert_eq!(a.targets[1].path, "/api/v1/account/details");
        assert_eq!(a.targets[1].connections, 8);
        assert_eq!(a.targets[1].rate, None);
        assert_eq!(
            a.targets[1].header,
            Some(("Authorization".into(), "Bearer gh_abc".into()))
        );
    }

    #[test]
    fn concurrent_post_with_body_connections_and_rate() {
        let a = load(&[
            "--url=http://127.0.0.1:1",
            "--concurrent",
            "--body",
            r#"login={"login":"u{i}","password":"p=w"}"#,
            "--target",
            "login=POST:/auth/v1/login",
            "--target",
            "probe=/x@Authorization:Bearer a:b@c",
            "--connections",
            "16",
            "--connections=probe=4",
            "--rate",
            "probe=200",
        ])
        .unwrap();
        assert!(a.concurrent);
        let (login, probe) = (&a.targets[0], &a.targets[1]);
        assert_eq!(
            (login.method.as_str(), login.path.as_str()),
            ("POST", "/auth/v1/login")
        );
        assert_eq!(
            login.body.as_deref(),
            Some(r#"{"login":"u{i}","password":"p=w"}"#)
        );
        assert_eq!((login.connections, login.rate), (16, None));
        assert_eq!((probe.connections, probe.rate), (4, Some(200.0)));
        assert_eq!(
            probe.header,
            Some(("Authorization".into(), "Bearer a:b@c".into()))
        );
    }

    #[test]
    fn per_target_settings_need_a_known_target() {
        let base = ["--url", "http://127.0.0.1:1", "--target", "a=POST:/a"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            load(&v)
        };
        assert!(with(&["--body", "b=x"]).is_err());
        assert!(with(&["--rate", "b=1"]).is_err());
        assert!(with(&["--connections", "b=1"]).is_err());
        assert!(with(&["--rate", "a=0"]).is_err());
        assert!(with(&["--connections", "a=0"]).is_err());
        assert!(with(&["--target", "a=/dup"]).is_err());
        assert!(with(&["--body", "a={}"]).is_ok());
        // A body needs a method that carries one.
        assert!(load(&["--url", "http://127.0.0.1:1", "-t", "g=/g", "--body", "g=x"]).is_err());
    }

    #[test]
    fn hash_ceiling_command() {
        match parse(sv(&["hash-ceiling", "--iterations=20", "--warmup", "1"])).unwrap() {
            Some(Command::HashCeiling(c)) => assert_eq!(
                c,
                CeilingArgs {
                    iterations: 20,
                    warmup: 1
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(parse(sv(&["hash-ceiling", "--url", "x"])).is_err());
        assert!(parse(sv(&["hash-ceiling", "--help"])).unwrap().is_none());
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
        assert!(parse_target("x=post:/a").is_err());
        assert!(parse_target("x=POST:relative").is_err());
        assert!(parse_target("x=/a@NoColon").is_err());
        assert!(parse_target("x=/a@Bad Name:v").is_err());
        let t = parse_target("x=DELETE:/a/b").unwrap();
        assert_eq!((t.method.as_str(), t.path.as_str()), ("DELETE", "/a/b"));
    }
}
