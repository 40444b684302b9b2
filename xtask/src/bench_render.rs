//! `cargo xtask bench render`: the wall time of a whole `quarry` process, the way a user or a
//! script meets it: `quarry --version`, and `quarry render` of five extensions, each next to a
//! process that does nothing (`true`) timed in the same run. Runs are interleaved (one of each
//! in turn, after a warm-up), so drift in the machine's speed touches all three alike. Figures
//! only: nothing here asserts a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask bench render [--runs N] [--quarry PATH]";
/// Runs of each command that are not counted.
const WARM_UP: usize = 20;
/// The render timed: five extensions, two of them with builders of their own and dependencies.
const RENDER: &[&str] = &["render", "ubuntu:24.04", "--cargo", "--npm", "--pixi", "--uv", "--ros-jazzy"];

#[derive(Debug)]
struct Options {
    runs: usize,
    quarry: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options { runs: 200, quarry: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                options.runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--runs needs a number above 0\n{USAGE}"))?;
            }
            "--quarry" => options.quarry = Some(it.next().context(USAGE)?.into()),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(options)
}

/// The release `quarry` binary, built (or found up to date) by cargo.
pub(crate) fn release_binary() -> anyhow::Result<PathBuf> {
    let root = crate::workspace();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("bench: cargo build --release -p quarry-cli --bin quarry");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "quarry-cli", "--bin", "quarry"])
        .current_dir(&root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("quarry"))
}

/// One command to time, run in `dir` with nothing on stdin, stdout or stderr.
struct Timed {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    times: Vec<Duration>,
}

impl Timed {
    fn new(label: &str, program: &Path, args: &[&str]) -> Timed {
        Timed {
            label: label.to_owned(),
            program: program.to_path_buf(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            times: Vec::new(),
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(dir)
            // No user file and no project file: the figures are quarry's own.
            .env("XDG_CONFIG_HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs once; the wall time from spawn to exit.
    fn once(&self, dir: &Path) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let status =
            self.command(dir).status().with_context(|| format!("cannot run `{}`", self.program.display()))?;
        let elapsed = start.elapsed();
        if !status.success() {
            bail!("`{}` failed ({status})", self.label);
        }
        Ok(elapsed)
    }
}

/// The `q`-quantile of sorted times.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    let at = ((last as f64) * q).round() as usize;
    sorted.get(at.min(last)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let quarry = match &options.quarry {
        Some(path) => path.clone(),
        None => release_binary()?,
    };
    if !quarry.is_file() {
        bail!("there is no quarry binary at `{}`", quarry.display());
    }
    let dir = std::env::temp_dir().join(format!("quarry-bench-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let result = measure(&quarry, &dir, options.runs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(quarry: &Path, dir: &Path, runs: usize) -> anyhow::Result<()> {
    let nothing = ["/bin/true", "/usr/bin/true"].into_iter().map(Path::new).find(|p| p.is_file());
    let Some(nothing) = nothing else { bail!("no `true` program in /bin or /usr/bin") };
    let mut timed = [
        Timed::new("true (does nothing)", nothing, &[]),
        Timed::new("quarry --version", quarry, &["--version"]),
        Timed::new(&format!("quarry {}", RENDER.join(" ")), quarry, RENDER),
    ];
    // A render that fails would time an error message: show why instead.
    let check = timed[2].command(dir).stderr(Stdio::piped()).output().context("cannot run quarry")?;
    if !check.status.success() {
        bail!("`{}` failed:\n{}", timed[2].label, String::from_utf8_lossy(&check.stderr));
    }
    for round in 0..WARM_UP + runs {
        for t in &mut timed {
            let elapsed = t.once(dir)?;
            if round >= WARM_UP {
                t.times.push(elapsed);
            }
        }
    }
    println!("binary: {}", quarry.display());
    println!(
        "wall time of a whole process, {runs} runs of each (interleaved, after {WARM_UP} warm-up runs); \
         `over true` is the median minus true's median"
    );
    println!(
        "{:<66} {:>8} {:>8} {:>8} {:>10} {:>7}",
        "command", "median", "p90", "min", "over true", "ratio"
    );
    for t in &mut timed {
        t.times.sort();
    }
    let base = quantile(&timed[0].times, 0.5);
    for t in &timed {
        let median = quantile(&t.times, 0.5);
        println!(
            "{:<66} {:>5.2} ms {:>5.2} ms {:>5.2} ms {:>7.2} ms {:>6.2}x",
            t.label,
            ms(median),
            ms(quantile(&t.times, 0.9)),
            ms(quantile(&t.times, 0.0)),
            ms(median) - ms(base),
            median.as_secs_f64() / base.as_secs_f64().max(f64::MIN_POSITIVE),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn quantiles_of_sorted_times() {
        let times: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(super::quantile(&times, 0.0), Duration::from_millis(1));
        assert_eq!(super::quantile(&times, 0.5), Duration::from_millis(6));
        assert_eq!(super::quantile(&times, 0.9), Duration::from_millis(9));
        assert_eq!(super::quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(super::parse(&args(&["--runs", "50"])).unwrap().runs, 50);
        assert!(super::parse(&args(&["--runs", "0"])).is_err());
        assert!(super::parse(&args(&["--fast"])).is_err());
    }
}
