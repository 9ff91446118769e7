//! `loadbench hash-ceiling`: how many logins per second this machine and this build can do
//! at most, if every core did nothing but the one argon2id verification a login costs. The
//! verification is the core's own (`PasswordHasher::blocking`, the code and memory reuse of the
//! server's hashing threads), so the ceiling is that of the implementation the server runs.

use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use accounts::password::{BlockingHasher, Verified};
use accounts::{Password, PasswordHasher};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::args::CeilingArgs;

const PASSWORD: &str = "correct horse battery staple";
const SALT: &[u8] = b"gatehouse-bench-salt";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Minor page faults of this process so far (Linux; 0 elsewhere).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; minflt is field 10 overall.
            let rest = s.rsplit_once(')')?.1.to_owned();
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The build this binary came from, as recorded by build.rs.
fn build_line() -> String {
    let avx2_runtime = {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            if std::is_x86_feature_detected!("avx2") {
                "yes"
            } else {
                "no"
            }
        }
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
        {
            "n/a"
        }
    };
    format!(
        "build: profile={} opt-level={} debug-assertions={} RUSTFLAGS=\"{}\" avx2: compiled-in={} cpu-has={}",
        env!("LOADBENCH_PROFILE"),
        env!("LOADBENCH_OPT_LEVEL"),
        if cfg!(debug_assertions) { "on" } else { "off" },
        env!("LOADBENCH_RUSTFLAGS"),
        if cfg!(target_feature = "avx2") {
            "yes"
        } else {
            "no (argon2-rust and argon2 0.5 pick their SIMD code at run time)"
        },
        avx2_runtime,
    )
}

/// Durations of `n` verifications of `stored` on this thread by the core's hasher: the code a
/// login runs, without the pool's queue and thread hand-off.
fn core_verifications(hasher: &mut BlockingHasher, stored: &str, n: usize) -> Vec<Duration> {
    let password = Password::for_login(PASSWORD.to_string());
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let verified = hasher.check(Some(stored), &password);
            let elapsed = t0.elapsed();
            assert_eq!(verified, Verified::Yes, "the right password verifies");
            elapsed
        })
        .collect()
}

/// For comparison: durations of `n` hashes by RustCrypto `argon2` called directly on this
/// thread, one memory block reused throughout.
fn rustcrypto_hashes(params: &Params, n: usize) -> Vec<Duration> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            argon
                .hash_password_into_with_memory(PASSWORD.as_bytes(), SALT, &mut out, &mut memory)
                .expect("argon2 hashes with valid parameters");
            t0.elapsed()
        })
        .collect()
}

/// (mean, median, min, max)
fn stats(mut times: Vec<Duration>) -> (Duration, Duration, Duration, Duration) {
    let total: Duration = times.iter().sum();
    let mean = total / u32::try_from(times.len()).unwrap_or(u32::MAX);
    times.sort_unstable();
    (
        mean,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
    )
}

pub async fn run(a: CeilingArgs) -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let params = PasswordHasher::default_params();
    let hasher = PasswordHasher::new(params.clone(), 1);
    println!(
        "hash-ceiling: argon2id v0x13 m={} KiB t={} p={} (accounts::PasswordHasher::default_params)",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );
    println!("{}", build_line());
    println!(
        "implementation: {} (what accounts::PasswordHasher runs on this CPU)",
        hasher.implementation()
    );
    let password = Password::for_login(PASSWORD.to_string());
    let stored = hasher.hash(&password).await;
    let n = a.iterations;
    let warmup = a.warmup;

    // 1. The time of one hash: the core's verification on one thread.
    let (mut h, s) = (hasher.blocking(), stored.clone());
    let times = match tokio::task::spawn_blocking(move || {
        core_verifications(&mut h, &s, warmup);
        core_verifications(&mut h, &s, n)
    })
    .await
    {
        Ok(t) => t,
        Err(_) => {
            eprintln!("hash-ceiling: the hashing thread panicked");
            return ExitCode::from(1);
        }
    };
    let (mean, median, min, max) = stats(times);
    let ceiling = cores as f64 / mean.as_secs_f64();
    println!(
        "one hash ({n} in a row on 1 thread, PasswordHasher::blocking, {warmup} warm-up discarded): \
         mean {:.2} ms, median {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(mean),
        ms(median),
        ms(min),
        ms(max)
    );
    println!(
        "ceiling: {ceiling:.1} logins/s = {cores} cores (available_parallelism) / {:.2} ms",
        ms(mean)
    );

    // 2. Check: do `cores` hashes at once run `cores` times as fast? (Shared caches, memory
    //    bandwidth, and vCPUs that are not whole cores say otherwise.)
    //    Each thread starts and warms up first, then all start timing together at a barrier,
    //    so neither thread start-up nor the warm-up hash counts; the slowest thread's time is
    //    the time of the whole batch.
    let start = Arc::new(Barrier::new(cores));
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (mut h, s, start) = (hasher.blocking(), stored.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                core_verifications(&mut h, &s, 1);
                start.wait();
                let t0 = Instant::now();
                core_verifications(&mut h, &s, n);
                t0.elapsed()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in threads {
        match t.join() {
            Ok(took) => slowest = slowest.max(took),
            Err(_) => {
                eprintln!("hash-ceiling: a hashing thread panicked");
                return ExitCode::from(1);
            }
        }
    }
    let parallel = (cores * n) as f64 / slowest.as_secs_f64();
    println!(
        "check: {cores} threads hashing at once: {parallel:.1} hashes/s = {:.2} of the ceiling",
        parallel / ceiling
    );

    // 3. For comparison, the path a login takes: PasswordHasher::verify (the queue, a hashing
    //    thread with its own memory, the answer back to the async task), one at a time.
    for _ in 0..warmup {
        hasher.verify(Some(stored.clone()), &password).await;
    }
    let f0 = minor_faults();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let ok = hasher.verify(Some(stored.clone()), &password).await;
        times.push(t0.elapsed());
        if !ok {
            eprintln!("hash-ceiling: verifying the right password failed");
            return ExitCode::from(1);
        }
    }
    let faults = (minor_faults() - f0) / n as u64;
    let (v_mean, v_median, ..) = stats(times);
    println!(
        "via PasswordHasher::verify ({n} in a row): mean {:.2} ms, median {:.2} ms, {faults} page faults/hash \
         (a 19 MiB block is {} pages; the hashing threads keep theirs, so this should be 0)",
        ms(v_mean),
        ms(v_median),
        params_pages()
    );

    // 4. For comparison, RustCrypto argon2 called directly (the implementation for imported
    //    hashes, and what this service used before argon2-rust), memory block reused.
    let p = params.clone();
    let rust_times = match tokio::task::spawn_blocking(move || {
        rustcrypto_hashes(&p, warmup);
        rustcrypto_hashes(&p, n)
    })
    .await
    {
        Ok(t) => t,
        Err(_) => {
            eprintln!("hash-ceiling: the hashing thread panicked");
            return ExitCode::from(1);
        }
    };
    let (r_mean, r_median, r_min, _) = stats(rust_times);
    println!(
        "RustCrypto argon2 called directly ({n} in a row, memory block reused): mean {:.2} ms, median {:.2} ms, min {:.2} ms",
        ms(r_mean),
        ms(r_median),
        ms(r_min)
    );
    println!(
        "result: one_hash_ms={:.3} cores={cores} ceiling_per_s={ceiling:.1} parallel_per_s={parallel:.1} verify_ms={:.3} verify_faults={faults} rustcrypto_ms={:.3}",
        ms(mean),
        ms(v_mean),
        ms(r_mean)
    );
    ExitCode::SUCCESS
}

fn params_pages() -> usize {
    PasswordHasher::default_params().block_count() * std::mem::size_of::<Block>() / 4096
}
