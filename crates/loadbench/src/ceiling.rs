//! `loadbench hash-ceiling`: how many logins per second this machine and this build can do
//! at most, if every core did nothing but the one argon2id verification a login costs.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use accounts::{Password, PasswordHasher};

use crate::args::CeilingArgs;

const PASSWORD: &str = "correct horse battery staple";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The build this binary came from, as recorded by build.rs.
fn build_line() -> String {
    let rustflags = env!("LOADBENCH_RUSTFLAGS");
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
        rustflags,
        if cfg!(target_feature = "avx2") {
            "yes"
        } else {
            "no (argon2 0.5 picks its AVX2 block function at run time)"
        },
        avx2_runtime,
    )
}

pub async fn run(a: CeilingArgs) -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let params = PasswordHasher::default_params();
    println!(
        "hash-ceiling: argon2id m={} KiB t={} p={} (accounts::PasswordHasher::default_params), \
         timed as PasswordHasher::verify (what one login does)",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );
    println!("{}", build_line());

    let password =
        Password::new_checked(PASSWORD.to_string()).expect("the bench password is valid");
    let one = PasswordHasher::new(params.clone(), 1);
    let stored = one.hash(&password).await;
    for _ in 0..a.warmup {
        one.verify(Some(stored.clone()), &password).await;
    }
    let mut times = Vec::with_capacity(a.iterations);
    for _ in 0..a.iterations {
        let t0 = Instant::now();
        let ok = one.verify(Some(stored.clone()), &password).await;
        times.push(t0.elapsed());
        if !ok {
            eprintln!("hash-ceiling: verifying the right password failed");
            return ExitCode::from(1);
        }
    }
    let total: Duration = times.iter().sum();
    let mean = total / u32::try_from(times.len()).unwrap_or(u32::MAX);
    times.sort_unstable();
    let median = times[times.len() / 2];
    let ceiling = cores as f64 / mean.as_secs_f64();
    println!(
        "one hash ({} sequential on 1 thread, {} warm-up discarded): mean {:.2} ms, median {:.2} ms, min {:.2} ms, max {:.2} ms",
        a.iterations,
        a.warmup,
        ms(mean),
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    println!(
        "ceiling: {ceiling:.1} logins/s = {cores} cores (available_parallelism) / {:.2} ms",
        ms(mean)
    );

    // Check: do `cores` hashes at once really run `cores` times as fast? (Shared caches,
    // memory bandwidth, and vCPUs that are not whole cores say otherwise.)
    let pool = PasswordHasher::new(params, cores);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(cores);
    for _ in 0..cores {
        let (pool, stored, password) = (pool.clone(), stored.clone(), password.clone());
        let n = a.iterations;
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                pool.verify(Some(stored.clone()), &password).await;
            }
        }));
    }
    for t in tasks {
        if t.await.is_err() {
            eprintln!("hash-ceiling: a hashing task panicked");
            return ExitCode::from(1);
        }
    }
    let parallel = (cores * a.iterations) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "check: {cores} threads hashing at once: {parallel:.1} hashes/s = {:.2} of the ceiling",
        parallel / ceiling
    );
    println!(
        "result: one_hash_ms={:.3} cores={cores} ceiling_per_s={ceiling:.1} parallel_per_s={parallel:.1}",
        ms(mean)
    );
    ExitCode::SUCCESS
}
