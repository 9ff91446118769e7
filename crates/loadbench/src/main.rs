//! `loadbench`: HTTP/1.1 keep-alive load generator for Gatehouse benchmarks on
//! loopback, plus `loadbench hash-ceiling` (the argon2id login ceiling of this machine and
//! build). Not a test; see `loadbench --help`, `scripts/bench-foundation.sh` and
//! `scripts/bench-logins.sh`.

mod args;
mod ceiling;
mod http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::time::{timeout_at, Instant};

use args::{Args, Command, Target};
use http::Conn;

/// One error kind: how many times, and the first example's detail.
#[derive(Debug, Default, Clone)]
struct ErrorEntry {
    count: u64,
    example: String,
}

type Errors = BTreeMap<String, ErrorEntry>;

fn record_error(map: &mut Errors, kind: String, example: impl FnOnce() -> String) {
    let e = map.entry(kind).or_default();
    if e.count == 0 {
        e.example = example();
    }
    e.count += 1;
}

#[derive(Debug, Default)]
struct WorkerStats {
    /// Latencies of 2xx responses in the measured window, microseconds.
    latencies_us: Vec<u32>,
    errors: Errors,
    warmup_errors: Errors,
    warmup_ok: u64,
    /// Connections re-opened because the server closed one (or after an error).
    reconnects: u64,
}

#[derive(Debug)]
struct TargetResult {
    name: String,
    requests: u64,
    ok: u64,
    errors: u64,
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    reconnects: u64,
    warmup_ok: u64,
    error_kinds: Errors,
    warmup_error_kinds: Errors,
}

struct Plan {
    addr: SocketAddr,
    warmup_end: Instant,
    end: Instant,
    timeout: Duration,
}

/// A paced connection's schedule: its first send, then one every `interval`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    first: Instant,
    interval: Duration,
}

async fn worker(
    plan: Arc<Plan>,
    request: Vec<u8>,
    pace: Option<Pace>,
    conn: Conn,
    start: Arc<Barrier>,
) -> WorkerStats {
    let mut st = WorkerStats::default();
    let mut conn = Some(conn);
    let mut next = pace.map(|p| p.first);
    // When the previous response arrived (paced mode).
    let mut prev_done: Option<Instant> = None;
    start.wait().await;
    loop {
        // Paced: wait for the scheduled time. A request that is late because the previous
        // response came after its scheduled time counts from that time (the wait is the
        // server's doing); one that is late only because tokio's timer has millisecond
        // granularity counts from when it was sent.
        let scheduled = match next {
            Some(t) if t >= plan.end => break,
            Some(t) => {
                tokio::time::sleep_until(t).await;
                Some(t)
            }
            None => None,
        };
        if let (Some(t), Some(p)) = (next, pace) {
            next = Some(t + p.interval);
        }
        if Instant::now() >= plan.end {
            break;
        }
        let mut c = match conn.take() {
            Some(c) => c,
            None => match timeout_at(plan.end, Conn::connect(plan.addr)).await {
                Err(_) => break,
                Ok(Ok(c)) => {
                    st.reconnects += 1;
                    c
                }
                Ok(Err(e)) => {
                    let map = if Instant::now() >= plan.warmup_end {
                        &mut st.errors
                    } else {
                        &mut st.warmup_errors
                    };
                    record_error(map, format!("connect: {e}"), String::new);
                    // Do not hot-loop on a dead server.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        let from = match scheduled {
            Some(t) if prev_done.is_some_and(|d| d > t) => t,
            _ => t0,
        };
        let deadline = (t0 + plan.timeout).min(plan.end);
        let res = timeout_at(deadline, c.request(&request)).await;
        let elapsed = from.elapsed();
        prev_done = Some(Instant::now());
        let measured = from >= plan.warmup_end;
        let map = if measured {
            &mut st.errors
        } else {
            &mut st.warmup_errors
        };
        match res {
            Err(_) if deadline == plan.end => break, // in flight when the run ended
            Err(_) => record_error(
                map,
                format!("timeout (> {:.1}s)", plan.timeout.as_secs_f64()),
                String::new,
            ),
            Ok(Err(e)) => record_error(map, format!("{:?}: {e}", e.kind()), String::new),
            Ok(Ok(resp)) => {
                if (200..300).contains(&resp.status) {
                    if measured {
                        let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
                        st.latencies_us.push(us);
                    } else {
                        st.warmup_ok += 1;
                    }
                } else {
                    record_error(map, format!("HTTP {}", resp.status), || {
                        String::from_utf8_lossy(&resp.snippet).replace(['\r', '\n'], " ")
                    });
                }
                if resp.keep_alive {
                    conn = Some(c);
                }
            }
        }
    }
    st
}

fn merge_errors(into: &mut Errors, from: Errors) {
    for (k, v) in from {
        let e = into.entry(k).or_default();
        if e.count == 0 {
            e.example = v.example;
        }
        e.count += v.count;
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[idx]) / 1000.0
}

/// The request connection `i` of `target` sends: `{i}` in the body becomes `i`.
fn request_for(args: &Args, target: &Target, i: usize) -> Vec<u8> {
    let path = format!("{}{}", args.url.base_path, target.path);
    let header = target
        .header
        .as_ref()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    let body = target
        .body
        .as_ref()
        .map(|b| b.replace("{i}", &i.to_string()));
    http::build_request(
        &target.method,
        &args.url.authority,
        &path,
        header,
        body.as_deref().map(str::as_bytes),
    )
}

/// Runs `targets` at the same time (one shared warm-up and measured window).
async fn run_group(
    args: &Args,
    addr: SocketAddr,
    targets: &[&Target],
) -> Result<Vec<TargetResult>, String> {
    // Open every connection first so the clock starts with all of them ready.
    let mut conns = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        for i in 0..t.connections {
            let c = tokio::time::timeout(Duration::from_secs(5), Conn::connect(addr))
                .await
                .map_err(|_| format!("connect to {addr}: timed out"))?
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            conns.push((ti, i, c));
        }
    }

    let barrier = Arc::new(Barrier::new(conns.len() + 1));
    // Workers block on the barrier until `start`, so all begin together.
    let start = Instant::now() + Duration::from_millis(50);
    let plan = Arc::new(Plan {
        addr,
        warmup_end: start + args.warmup,
        end: start + args.warmup + args.duration,
        timeout: args.timeout,
    });
    let mut handles = Vec::with_capacity(conns.len());
    for (ti, i, c) in conns {
        let t = targets[ti];
        // Connection i of n sends every n/rate seconds, offset by i/rate: evenly spread.
        let pace = t.rate.map(|rate| Pace {
            first: start + Duration::from_secs_f64(i as f64 / rate),
            interval: Duration::from_secs_f64(t.connections as f64 / rate),
        });
        let req = request_for(args, t, i);
        let h = tokio::spawn(worker(plan.clone(), req, pace, c, barrier.clone()));
        handles.push((ti, h));
    }
    tokio::time::sleep_until(start).await;
    barrier.wait().await;

    let mut per_target: Vec<WorkerStats> = targets.iter().map(|_| WorkerStats::default()).collect();
    for (ti, h) in handles {
        let st = h.await.map_err(|e| format!("worker panicked: {e}"))?;
        let all = &mut per_target[ti];
        all.latencies_us.extend_from_slice(&st.latencies_us);
        all.reconnects += st.reconnects;
        all.warmup_ok += st.warmup_ok;
        merge_errors(&mut all.errors, st.errors);
        merge_errors(&mut all.warmup_errors, st.warmup_errors);
    }
    Ok(targets
        .iter()
        .zip(per_target)
        .map(|(t, mut all)| {
            all.latencies_us.sort_unstable();
            let lat = &all.latencies_us;
            let ok = lat.len() as u64;
            let errors: u64 = all.errors.values().map(|e| e.count).sum();
            TargetResult {
                name: t.name.clone(),
                requests: ok + errors,
                ok,
                errors,
                rps: ok as f64 / args.duration.as_secs_f64(),
                p50: percentile_ms(lat, 0.50),
                p90: percentile_ms(lat, 0.90),
                p99: percentile_ms(lat, 0.99),
                max: lat.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0),
                reconnects: all.reconnects,
                warmup_ok: all.warmup_ok,
                error_kinds: all.errors,
                warmup_error_kinds: all.warmup_errors,
            }
        })
        .collect())
}

fn describe(t: &Target) -> String {
    let mut s = format!("{} = {} {}", t.name, t.method, t.path);
    if let Some((n, _)) = &t.header {
        s.push_str(&format!(" (+ {n} header)"));
    }
    if let Some(b) = &t.body {
        let per = if b.contains("{i}") {
            ", {i} = connection index"
        } else {
            ""
        };
        s.push_str(&format!(" (+ {}-byte body{per})", b.len()));
    }
    s.push_str(&format!(", {} connections", t.connections));
    match t.rate {
        Some(r) => s.push_str(&format!(", paced at {r} req/s")),
        None => s.push_str(", closed loop"),
    }
    s
}

async fn resolve_loopback(url: &args::Url) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| format!("{} resolved to no address", url.host))?;
    // This tool only ever targets a server on this machine.
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "refusing non-loopback target {} ({bad}): loadbench is for loopback only",
            url.host
        ));
    }
    Ok(addr)
}

fn print_errors(label: &str, kinds: &Errors) {
    for (kind, e) in kinds {
        if e.example.is_empty() {
            eprintln!("  {label}: {kind} x{}", e.count);
        } else {
            eprintln!(
                "  {label}: {kind} x{} (first body: {:?})",
                e.count, e.example
            );
        }
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

async fn run(args: Args) -> ExitCode {
    let addr = match resolve_loopback(&args.url).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadbench: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "loadbench: {} ({addr}), warmup {:.1}s + measured {:.1}s {}, {} targets",
        args.url.authority,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        if args.concurrent {
            "with all targets at once"
        } else {
            "per target, one after another"
        },
        args.targets.len()
    );

    let groups: Vec<Vec<&Target>> = if args.concurrent {
        vec![args.targets.iter().collect()]
    } else {
        args.targets.iter().map(|t| vec![t]).collect()
    };
    let mut results = Vec::new();
    let mut failed = false;
    for group in groups {
        if group.len() > 1 {
            println!("running concurrently:");
            for t in &group {
                println!("  {}", describe(t));
            }
        } else {
            println!("running {} ...", describe(group[0]));
        }
        match run_group(&args, addr, &group).await {
            Ok(rs) => {
                for r in rs {
                    if r.errors > 0 || !r.warmup_error_kinds.is_empty() {
                        eprintln!("ERRORS for target {}:", r.name);
                        print_errors("measured", &r.error_kinds);
                        print_errors("warmup", &r.warmup_error_kinds);
                        failed = true;
                    }
                    if r.ok == 0 {
                        eprintln!("ERROR: target {} had no successful responses", r.name);
                        failed = true;
                    }
                    results.push(r);
                }
            }
            Err(e) => {
                let names: Vec<&str> = group.iter().map(|t| t.name.as_str()).collect();
                eprintln!("ERROR: target {}: {e}", names.join(", "));
                failed = true;
            }
        }
    }

    let w = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!();
    println!(
        "{:<w$} {:>10} {:>7} {:>11} {:>8} {:>8} {:>8} {:>8}",
        "target", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for r in &results {
        println!(
            "{:<w$} {:>10} {:>7} {:>11.1} {:>8} {:>8} {:>8} {:>8}",
            r.name,
            r.requests,
            r.errors,
            r.rps,
            fmt_ms(r.p50),
            fmt_ms(r.p90),
            fmt_ms(r.p99),
            fmt_ms(r.max)
        );
    }
    if let Some(first) = results.first().filter(|_| !args.concurrent) {
        for r in &results[1..] {
            if first.rps > 0.0 {
                println!("ratio {}/{} = {:.2}", r.name, first.name, r.rps / first.rps);
            } else {
                println!("ratio {}/{} = n/a", r.name, first.name);
            }
        }
    }
    for r in &results {
        if r.reconnects > 0 {
            println!(
                "note: {}: {} reconnects (server closed the connection, or after an error)",
                r.name, r.reconnects
            );
        }
        if r.warmup_ok == 0 && !args.warmup.is_zero() {
            println!("note: {}: no successful warm-up responses", r.name);
        }
    }
    if failed {
        println!("RESULT: FAILED (errors above; numbers are not a clean measurement)");
        ExitCode::from(1)
    } else {
        println!("RESULT: ok (0 errors)");
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let command = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("loadbench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Command::Load(Args {
        threads: Some(n), ..
    }) = &command
    {
        builder.worker_threads(*n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadbench: cannot start tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match command {
        Command::Load(args) => rt.block_on(run(args)),
        Command::HashCeiling(args) => rt.block_on(ceiling::run(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.50), 50.0);
        assert_eq!(percentile_ms(&v, 0.90), 90.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&[7000], 0.99), 7.0);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }
}
