//! `cargo xtask bench explain`: how `quarry explain`'s time grows with the number of ARG, ENV
//! and RUN lines. Each file is explained against itself with one ENV line added at the top (so
//! every step runs again and every reason is worked out). Figures only: the ratio per doubling
//! shows the growth (about 2 is linear, about 4 quadratic); nothing here asserts a time.

use std::time::{Duration, Instant};

use anyhow::bail;
use quarry_buildkit::explain::{Options, Side, explain};

const SIZES: [usize; 4] = [5_000, 10_000, 20_000, 40_000];
const KINDS: [&str; 4] = ["ENV", "ARG", "RUN", "ENV+RUN"];

/// `n` lines of one kind after a FROM, then a RUN.
fn dockerfile(kind: &str, n: usize) -> String {
    let mut df = String::from("FROM debian:bookworm\n");
    for i in 0..n {
        let line = match kind {
            "ENV" => format!("ENV V{i}=value{i}\n"),
            "ARG" => format!("ARG V{i}=value{i}\n"),
            "RUN" => format!("RUN echo {i}\n"),
            _ if i % 2 == 0 => format!("ENV V{i}=value{i}\n"),
            _ => format!("RUN echo {i}\n"),
        };
        df.push_str(&line);
    }
    df.push_str("RUN true\n");
    df
}

/// The fastest of three runs.
fn time(old: &str, new: &str) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let side = |text| Side { text, origin: "Dockerfile".to_owned(), ..Side::default() };
        let start = Instant::now();
        let e = explain(&side(old), &side(new), &Options::default())?;
        best = best.min(start.elapsed());
        std::hint::black_box(e);
    }
    Ok(best)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask bench explain");
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: a debug build; `cargo run --release -p xtask -- bench explain` gives release figures"
        );
    }
    println!("quarry explain: time by number of lines (fastest of 3; ratio to the size before)");
    println!("{:<8} {:>7} {:>10} {:>7}", "lines", "n", "ms", "ratio");
    for kind in KINDS {
        let mut before: Option<Duration> = None;
        for n in SIZES {
            let old = dockerfile(kind, n);
            let new = old.replacen('\n', "\nENV FIRST=1\n", 1);
            let t = time(&old, &new)?;
            let ratio = before
                .map_or_else(|| "-".to_owned(), |b| format!("{:.2}", t.as_secs_f64() / b.as_secs_f64()));
            println!("{kind:<8} {n:>7} {:>10.1} {ratio:>7}", t.as_secs_f64() * 1000.0);
            before = Some(t);
        }
    }
    Ok(())
}
