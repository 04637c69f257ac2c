//! `cargo xtask bench`: what recording costs the recorded program, side by side with the
//! ptrace approach (strace -f), in one run: alternating rounds, medians, ratios.
use std::{
    ffi::OsStr,
    fmt::Write as _,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// nginx's throughput varies by several percent between runs here: five rounds' medians
/// are steadier than three.
const ROUNDS: usize = 5;
const NGINX_PORT: u16 = 18080;
const SYSCALLS: u64 = 1_000_000;
/// strace costs ~100 µs a syscall here: fewer calls keep its rounds in seconds; the report
/// compares time per syscall.
const SYSCALLS_STRACED: u64 = 50_000;
const STRESS_FILES: u64 = 200_000;
const STRESS_REPEATS: u64 = 1_000_000;
/// The merged profile `generate` is timed on: this many recordings, each of files spread over
/// subdirectories few enough that nothing folds (observations::FOLD_ENTRIES, FOLD_TREE).
const MERGED_PROFILES: u64 = 4;
const MERGED_FILES: u64 = 9_000;
const MERGED_SPREAD: u64 = 10;
/// The watch row's rounds: few and short, since each boots nothing but attaches learner to a
/// unit in the one guest, and the row compares watching with recording, not with strace.
const WATCH_ROUNDS: usize = 3;
const WATCH_SECONDS: u64 = 5;

/// A part of the benchmark that runs alone (`cargo xtask bench --only NAME`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Section {
    /// Distinct files created, then one opened many times: the collector's throughput and
    /// memory.
    PathHeavy,
    /// Short-lived children writing through relative paths and directory fds, the collector
    /// unlimited and starved: recorded, or counted as missed.
    Relative,
    /// nginx.service in a guest systemd, unrecorded, recorded and watched (`learner watch`).
    Watch,
    /// What each of learner's kernel programs costs a run, next to the empty program's.
    Programs,
    /// A million stats by path (traced lookups) and a million fstats (skipped at entry).
    Lookups,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Native,
    /// An empty program on `sys_enter`: what the kernel charges any syscall recorder.
    Floor,
    /// learner counting syscalls only (`LEARNER_NO_OBSERVE=1`).
    Counting,
    /// Unrecorded, while learner records an idle process elsewhere: what its probes cost
    /// every process on the machine.
    Elsewhere,
    /// As [`Mode::Elsewhere`], but the recorded process has a child it moved out of its
    /// cgroup, which learner follows: from then on every task pays a hash lookup.
    Following,
    Learner,
    Strace,
}

impl Mode {
    const ALL: [Mode; 7] = [
        Mode::Native,
        Mode::Floor,
        Mode::Counting,
        Mode::Elsewhere,
        Mode::Following,
        Mode::Learner,
        Mode::Strace,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Native => "unrecorded",
            Mode::Floor => "empty sys_enter program",
            Mode::Counting => "learner, counting only",
            Mode::Elsewhere => "unrecorded, learner recording another process",
            Mode::Following => "unrecorded, learner following a process that left its cgroup",
            Mode::Learner => "learner",
            Mode::Strace => "strace -f",
        }
    }

    fn index(self) -> usize {
        Mode::ALL.iter().position(|m| *m == self).expect("mode")
    }
}

/// Writes a markdown table with a row per mode: its name, then `cells(mode's index)`.
fn mode_table(
    report: &mut String,
    header: &[&str],
    cells: impl Fn(usize) -> Vec<String>,
) -> Result<()> {
    writeln!(report, "| | {} |", header.join(" | "))?;
    writeln!(report, "|{}", "---|".repeat(header.len() + 1))?;
    for m in Mode::ALL {
        writeln!(
            report,
            "| {} | {} |",
            m.name(),
            cells(m.index()).join(" | ")
        )?;
    }
    writeln!(report)?;
    Ok(())
}

/// learner recording an idle shell while it lives (for [`Mode::Elsewhere`]), and for
/// [`Mode::Following`] a child of it that moved to a scratch cgroup of its own.
struct Elsewhere(Child, Option<PathBuf>);

impl Elsewhere {
    /// `env`: learner's diagnostics, for the per-program row.
    fn start(bins: &Bins, mode: Mode, env: &[(&str, &OsStr)]) -> Result<Option<Self>> {
        let (script, moved) = match mode {
            Mode::Elsewhere => ("echo recording; exec sleep 3600".to_owned(), None),
            Mode::Following => {
                let mounts = std::fs::read_to_string("/proc/self/mounts")?;
                let root = mounts
                    .lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>())
                    .find(|f| f.get(2) == Some(&"cgroup2"))
                    .and_then(|f| f.get(1).map(PathBuf::from))
                    .context("no cgroup2 mount")?;
                let moved = root.join(format!("learner-bench-moved-{}", std::process::id()));
                std::fs::create_dir_all(&moved)?;
                (
                    format!(
                        "sh -c 'echo $$ > {}/cgroup.procs && echo recording && exec sleep 3600'; exec sleep 3600",
                        moved.display()
                    ),
                    Some(moved),
                )
            }
            _ => return Ok(None),
        };
        let mut cmd = Command::new(&bins.learner);
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .arg("run")
            .arg("-o")
            .arg(bins.dir.join("elsewhere.profile.yaml"))
            .args(["--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start learner elsewhere")?;
        // The command runs once the probes are attached.
        let mut line = String::new();
        let stdout = child.stdout.take().context("stdout")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let guard = Self(child, moved);
        anyhow::ensure!(
            line.trim() == "recording",
            "learner elsewhere did not start"
        );
        Ok(Some(guard))
    }
}

impl Drop for Elsewhere {
    fn drop(&mut self) {
        // TERM, not INT: a background job of a shell without job control starts with SIGINT
        // ignored, and learner then never sees it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
        // The moved child is no longer in learner's cgroup, so learner leaves it running.
        if let Some(moved) = &self.1 {
            let procs = std::fs::read_to_string(moved.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            for _ in 0..100 {
                if std::fs::remove_dir(moved).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

struct Bins {
    target: PathBuf,
    learner: PathBuf,
    workload: PathBuf,
    dir: PathBuf,
}

impl Bins {
    /// `workload stress DIR FILES REPEATS SPREAD` under `learner run`, recorded to `profile`.
    fn stress(&self, profile: &Path, dir: &Path, counts: [u64; 3]) -> Command {
        let mut cmd = Command::new(&self.learner);
        cmd.arg("run")
            .arg("-o")
            .arg(profile)
            .arg("--")
            .arg(&self.workload)
            .arg("stress")
            .arg(dir)
            .args(counts.map(|n| n.to_string()));
        cmd
    }

    /// `cmd`, as `mode` runs it.
    fn command(&self, mode: Mode, cmd: &[&str], profile: &str) -> Command {
        let (program, args): (&str, Vec<String>) = match mode {
            Mode::Native | Mode::Elsewhere | Mode::Following => {
                (cmd[0], cmd[1..].iter().map(|s| s.to_string()).collect())
            }
            Mode::Floor | Mode::Counting | Mode::Learner => (
                self.learner.to_str().expect("utf-8"),
                ["run", "-o", &self.dir.join(profile).to_string_lossy(), "--"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(cmd.iter().map(|s| s.to_string()))
                    .collect(),
            ),
            Mode::Strace => (
                "strace",
                ["-f", "-qq", "-o", "/dev/null"]
                    .iter()
                    .chain(cmd)
                    .map(|s| s.to_string())
                    .collect(),
            ),
        };
        let mut c = Command::new(program);
        c.args(args).stdin(Stdio::null());
        match mode {
            Mode::Floor => {
                c.env("LEARNER_SYSCALL_PROBE", "floor")
                    .env("LEARNER_NO_OBSERVE", "1");
            }
            Mode::Counting => {
                c.env("LEARNER_NO_OBSERVE", "1");
            }
            _ => {}
        }
        c
    }
}

/// The paths a profile's `paths:` section records below `dir` (each a line `  PATH:`).
fn recorded_paths<'a>(profile: &'a str, dir: &Path) -> Vec<&'a str> {
    let prefix = format!("{}/", dir.display());
    profile
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

/// learner's diagnostic (learner/src/recording/recorder.rs): a file where a recording writes
/// each program's runs and run time, with the kernel's statistics on while it records.
const PROGRAM_STATS_ENV: &str = "LEARNER_PROGRAM_STATS";
/// The per-program row's rounds: each starts learner (loading its programs takes seconds), and
/// the kernel's own timing of each run is steadier than a workload's wall time.
const PROGRAM_ROUNDS: usize = 3;
/// The per-program row's file workload: enough opens to time the observation programs, few
/// enough files for a short round.
const PROGRAM_FILES: u64 = 20_000;
const PROGRAM_OPENS: u64 = 200_000;

/// A column of the per-program row: the getppid loop in one of the modes, or files created
/// and opened under learner.
#[derive(Clone, Copy)]
enum Scene {
    Syscalls(Mode),
    /// As [`Mode::Elsewhere`], the other process counted only: no observation tracepoints.
    ElsewhereCounting,
    Files,
}

impl Scene {
    const ALL: [Scene; 7] = [
        Scene::Syscalls(Mode::Floor),
        Scene::Syscalls(Mode::Counting),
        Scene::ElsewhereCounting,
        Scene::Syscalls(Mode::Elsewhere),
        Scene::Syscalls(Mode::Following),
        Scene::Syscalls(Mode::Learner),
        Scene::Files,
    ];

    fn name(self) -> String {
        match self {
            Scene::Syscalls(Mode::Floor) => "getppid, empty program".into(),
            Scene::Syscalls(Mode::Counting) => "getppid, counting only".into(),
            Scene::ElsewhereCounting => "getppid unrecorded, another counted only".into(),
            Scene::Syscalls(Mode::Elsewhere) => "getppid unrecorded, another recorded".into(),
            Scene::Syscalls(Mode::Following) => "getppid unrecorded, one followed".into(),
            Scene::Syscalls(mode) => format!("getppid, {}", mode.name()),
            Scene::Files => format!("{PROGRAM_FILES} files, {PROGRAM_OPENS} opens, learner"),
        }
    }
}

/// Each program's statistics from one run of learner: its name, runs and run time (ns).
type ProgramRound = Vec<(String, u64, u64)>;

/// The statistics learner wrote to `path`.
fn read_program_stats(path: &Path) -> Result<ProgramRound> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("learner wrote no statistics to {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).context("statistics JSON")?;
    let list = value.as_array().context("statistics: not a list")?;
    list.iter()
        .map(|p| {
            let name = p["program"].as_str().context("statistics: no program")?;
            let runs = p["runs"].as_u64().context("statistics: no runs")?;
            let ns = p["run_time_ns"]
                .as_u64()
                .context("statistics: no run time")?;
            Ok((name.to_owned(), runs, ns))
        })
        .collect()
}

/// One round of a scene: each program's runs and run time while it ran, and the workload's own
/// time per call (a getppid, or an open and close).
fn program_round(bins: &Bins, scene: Scene) -> Result<(ProgramRound, f64)> {
    let stats = bins.dir.join("programs.json");
    let _ = std::fs::remove_file(&stats);
    let syscalls = SYSCALLS.to_string();
    let getppid = [
        bins.workload.to_str().expect("utf-8"),
        "syscalls",
        &syscalls,
    ];
    let per_call = match scene {
        Scene::Syscalls(Mode::Elsewhere | Mode::Following) | Scene::ElsewhereCounting => {
            let (mode, env): (_, &[(&str, &OsStr)]) = match scene {
                Scene::Syscalls(mode) => (mode, &[(PROGRAM_STATS_ENV, stats.as_os_str())]),
                _ => (
                    Mode::Elsewhere,
                    &[
                        (PROGRAM_STATS_ENV, stats.as_os_str()),
                        ("LEARNER_NO_OBSERVE", OsStr::new("1")),
                    ],
                ),
            };
            let elsewhere = Elsewhere::start(bins, mode, env)?;
            let ran = stdout_number(bins.command(Mode::Native, &getppid, "unused"));
            // learner writes the statistics as it ends.
            drop(elsewhere);
            ran? / SYSCALLS as f64
        }
        Scene::Syscalls(mode) => {
            let mut cmd = bins.command(mode, &getppid, "programs.profile.yaml");
            cmd.env(PROGRAM_STATS_ENV, &stats);
            stdout_number(cmd)? / SYSCALLS as f64
        }
        Scene::Files => {
            let dir = bins.dir.join("programs-files");
            std::fs::create_dir_all(&dir)?;
            let profile = bins.dir.join("programs-files.profile.yaml");
            let mut cmd = bins.stress(&profile, &dir, [PROGRAM_FILES, PROGRAM_OPENS, 0]);
            cmd.env(PROGRAM_STATS_ENV, &stats);
            let ran = stdout_number(cmd);
            std::fs::remove_dir_all(&dir)?;
            ran? / (PROGRAM_FILES + PROGRAM_OPENS) as f64
        }
    };
    Ok((read_program_stats(&stats)?, per_call))
}

/// Each program's median runs and median run time per run, by scene, from rounds of
/// `(program, runs, run time)`: programs that never ran in a scene are left out of it.
fn program_medians(
    rounds: &[Vec<ProgramRound>],
) -> Vec<std::collections::BTreeMap<String, (f64, f64)>> {
    rounds
        .iter()
        .map(|scene_rounds| {
            let mut by_program: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> =
                Default::default();
            for round in scene_rounds {
                for (name, runs, ns) in round {
                    if *runs == 0 {
                        continue;
                    }
                    let entry = by_program.entry(name.clone()).or_default();
                    entry.0.push(*runs as f64);
                    entry.1.push(*ns as f64 / *runs as f64);
                }
            }
            by_program
                .into_iter()
                .map(|(name, (runs, ns))| (name, (median(runs), median(ns))))
                .collect()
        })
        .collect()
}

/// What each of learner's kernel programs costs a run (the kernel's own timing, statistics on
/// for this row only), the scenes alternating within each round: the getppid loop as the
/// syscall table's modes run it, and a file workload for the observation programs.
fn program_costs(bins: &Bins, report: &mut String) -> Result<()> {
    let n = Scene::ALL.len();
    let mut rounds: Vec<Vec<ProgramRound>> = vec![vec![]; n];
    let mut per_call: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..PROGRAM_ROUNDS {
        for k in 0..n {
            let i = (round + k) % n;
            let (stats, ns) = program_round(bins, Scene::ALL[i])?;
            per_call[i].push(ns);
            eprintln!(
                "xtask: bench: programs, {}: {} programs ran",
                Scene::ALL[i].name(),
                stats.iter().filter(|s| s.1 > 0).count()
            );
            rounds[i].push(stats);
        }
    }
    let medians = program_medians(&rounds);
    let programs: std::collections::BTreeSet<&String> =
        medians.iter().flat_map(|m| m.keys()).collect();
    writeln!(
        report,
        "## What each kernel program costs a run ({PROGRAM_ROUNDS} rounds, medians; runs, then ns per run)\n"
    )?;
    let names: Vec<String> = Scene::ALL.iter().map(|s| s.name()).collect();
    writeln!(report, "| program | {} |", names.join(" | "))?;
    writeln!(report, "|---|{}", "---|".repeat(n))?;
    for program in programs {
        let cells: Vec<String> = medians
            .iter()
            .map(|m| match m.get(program) {
                Some((runs, ns)) => format!("{runs:.0} x {ns:.0} ns"),
                None => String::new(),
            })
            .collect();
        writeln!(report, "| `{program}` | {} |", cells.join(" | "))?;
    }
    let walls: Vec<String> = per_call
        .into_iter()
        .map(|v| format!("{:.0} ns", median(v)))
        .collect();
    writeln!(
        report,
        "| the workload's own time per call (a getppid; an open and close) | {} |",
        walls.join(" | ")
    )?;
    writeln!(
        report,
        "\nThe kernel times each run while `kernel.bpf_stats_enabled` is on (learner turns it on for its recording with `{PROGRAM_STATS_ENV}`, the kernel turns it off as learner exits); the timing itself adds its two clock reads to every run, the empty program's included, so compare with that program. Runs count every task on the machine: the getppid loop's million and what else ran meanwhile.\n"
    )?;
    Ok(())
}

/// Directories `workload relative` writes in, in the starvation rows.
const RELATIVE_DIRS: usize = 400;

/// One `workload relative` run under `learner run`, the collector starved or not: how many
/// of its writes the profile (or the partial one) holds, what it counted as missed or lost,
/// and learner's exit code.
fn relative_round(bins: &Bins, starve: bool) -> Result<(usize, u64, i32)> {
    let dir = bins.dir.join("relative");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let profile = bins.dir.join("relative.profile.yaml");
    let partial = bins.dir.join("relative.profile.partial.yaml");
    let _ = std::fs::remove_file(&profile);
    let _ = std::fs::remove_file(&partial);
    let script = format!(
        "sleep 1; exec {} relative {} {RELATIVE_DIRS}",
        bins.workload.display(),
        dir.display()
    );
    let mut child = Command::new(&bins.learner)
        .arg("run")
        .arg("-o")
        .arg(&profile)
        .args(["--", "bash", "-c", &script])
        .stderr(Stdio::null())
        .spawn()?;
    let limit = if starve {
        Some(CpuLimit::put(child.id(), 5)?)
    } else {
        None
    };
    let status = child.wait()?;
    drop(limit);
    let text = std::fs::read_to_string(&profile).or_else(|_| std::fs::read_to_string(&partial))?;
    let prefix = format!("  {}/d", dir.display());
    let recorded = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter(|l| {
            ["/f:", "/g:", "/h:", "/j:", "/sub/i:"]
                .iter()
                .any(|e| l.ends_with(e))
        })
        .count();
    let mut counted = 0;
    let mut in_missed = false;
    for line in text.lines() {
        if let Some(n) = line.trim().strip_prefix("lost_events: ") {
            counted += n.parse::<u64>().unwrap_or(0);
        }
        if line == "  missed:" {
            in_missed = true;
        } else if in_missed && line.starts_with("    ") {
            counted += line
                .rsplit(": ")
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        } else {
            in_missed = false;
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok((recorded, counted, status.code().unwrap_or(-1)))
}

/// A process limited to a share of one CPU until dropped (cgroup v1's cpu controller where it
/// is mounted, cgroup v2's cpu.max else).
struct CpuLimit(PathBuf);

impl CpuLimit {
    fn put(pid: u32, percent: u32) -> Result<Self> {
        let name = format!("learner-bench-starved-{}", std::process::id());
        let quota = (percent * 1000).to_string();
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let dir = if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(&name);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cpu.cfs_period_us"), "100000")?;
            std::fs::write(dir.join("cpu.cfs_quota_us"), &quota)?;
            dir
        } else {
            let root = Path::new("/sys/fs/cgroup");
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let dir = root.join(&name);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cpu.max"), format!("{quota} 100000"))?;
            dir
        };
        let limit = Self(dir);
        std::fs::write(limit.0.join("cgroup.procs"), pid.to_string())?;
        Ok(limit)
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn stdout_number(mut cmd: Command) -> Result<f64> {
    let out = cmd.stderr(Stdio::null()).output().context("run")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .next_back()
        .with_context(|| format!("no number in output of {cmd:?}: {text}"))
}

/// Requests per second and p99 latency (ms) of `wrk --latency` output.
fn parse_wrk(text: &str) -> Option<(f64, f64)> {
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))?
        .split_whitespace()
        .nth(1)?;
    let ms = if let Some(v) = p99.strip_suffix("ms") {
        v.parse::<f64>().ok()?
    } else if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>().ok()? / 1000.0
    } else if let Some(v) = p99.strip_suffix('s') {
        v.parse::<f64>().ok()? * 1000.0
    } else {
        return None;
    };
    Some((rps, ms))
}

fn nginx_round(bins: &Bins, mode: Mode, conf: &Path) -> Result<(f64, f64)> {
    let pidfile = bins.dir.join("nginx.pid");
    let _ = std::fs::remove_file(&pidfile);
    let conf_s = conf.to_string_lossy().into_owned();
    let prefix = bins.dir.to_string_lossy().into_owned();
    let mut child: Child = bins
        .command(
            mode,
            &["/usr/sbin/nginx", "-c", &conf_s, "-p", &prefix],
            "nginx.profile.yaml",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start nginx")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", NGINX_PORT)).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("nginx ({}) did not listen", mode.name());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{NGINX_PORT}/index.html");
    let _ = Command::new("wrk")
        .args(["-t1", "-c20", "-d1s", &url])
        .output();
    let out = Command::new("wrk")
        .args(["-t1", "-c20", "-d5s", "--latency", &url])
        .output()
        .context("wrk")?;
    let result = parse_wrk(&String::from_utf8_lossy(&out.stdout)).context("parse wrk");
    // Graceful quit, as systemd would stop it; learner then writes its profile.
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        let _ = Command::new("kill").args(["-QUIT", pid.trim()]).status();
    }
    let _ = child.wait();
    result
}

/// Distinct files created, then one opened many times, under learner: the collector's
/// throughput and memory. Returns the events lost, the collector's peak memory (MiB) and
/// its harness's events a CPU second (NaN when it printed none).
fn path_heavy(bins: &Bins, report: &mut String) -> Result<(f64, f64, f64)> {
    let stress_dir = bins.dir.join("stress");
    std::fs::create_dir_all(&stress_dir)?;
    let profile = bins.dir.join("stress.profile.yaml");
    let elapsed_ns =
        stdout_number(bins.stress(&profile, &stress_dir, [STRESS_FILES, STRESS_REPEATS, 0]))?;
    // A recording that lost events is written as NAME.partial.yaml: the figures are in it.
    let partial = profile.with_file_name("stress.profile.partial.yaml");
    let text = std::fs::read_to_string(&profile).or_else(|_| std::fs::read_to_string(&partial))?;
    let _ = std::fs::remove_file(&partial);
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (events, lost, dedup, cpu, peak) = (
        field("events"),
        field("lost_events"),
        field("deduplicated_events"),
        field("collector_cpu_seconds"),
        field("collector_peak_mib"),
    );
    // Kept for comparing what two builds recorded of the same workload.
    let kept = bins.target.join("bench/path-heavy.profile.yaml");
    std::fs::create_dir_all(kept.parent().expect("a directory"))?;
    std::fs::write(&kept, &text)?;
    let folded = recorded_paths(&text, &stress_dir);
    let secs = elapsed_ns / 1e9;
    // The same run counting syscalls only: what learner's memory is before any event (the
    // loaded programs, the kernel's BTF, the ring buffer), for the collector's share.
    std::fs::remove_dir_all(&stress_dir)?;
    std::fs::create_dir_all(&stress_dir)?;
    let counting = bins.dir.join("stress-counting.profile.yaml");
    let mut cmd = bins.stress(&counting, &stress_dir, [STRESS_FILES, STRESS_REPEATS, 0]);
    cmd.env("LEARNER_NO_OBSERVE", "1");
    stdout_number(cmd)?;
    let counting_peak = std::fs::read_to_string(&counting)?
        .lines()
        .find_map(|l| l.trim().strip_prefix("collector_peak_mib: ")?.parse().ok())
        .unwrap_or(f64::NAN);
    writeln!(
        *report,
        "## Path-heavy: {STRESS_FILES} distinct files created, then one opened {STRESS_REPEATS} times (tmpfs)\n"
    )?;
    writeln!(
        *report,
        "| workload time | events sent | events/s handled | counted in the kernel | lost | collector CPU | events per collector CPU second | collector peak memory | counting only |\n|---|---|---|---|---|---|---|---|---|"
    )?;
    writeln!(
        *report,
        "| {secs:.2} s | {events:.0} | {:.0} | {dedup:.0} | {lost:.0} | {cpu:.2} s | {:.0} | {peak:.1} MiB | {counting_peak:.1} MiB |\n",
        events / secs,
        events / cpu
    )?;
    writeln!(
        *report,
        "The profile holds the directory as {} ({} bytes).\n",
        folded.join(", "),
        text.len()
    )?;
    // The collector alone (collector/throughput.rs): the same burst built in memory, its
    // handling timed in CPU seconds, without loading programs or the kernel's side.
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(bins.target.parent().expect("the workspace"))
        .args(["test", "--release", "-p", "learner", "--lib", "--"])
        .args(["--ignored", "--exact", "--nocapture"])
        .arg("recording::collector::throughput::path_heavy_burst")
        .output()?;
    let harness = String::from_utf8_lossy(&out.stdout);
    let line = harness
        .lines()
        .find(|l| l.starts_with("path-heavy burst:"))
        .unwrap_or("path-heavy burst: the harness printed nothing");
    writeln!(
        *report,
        "The collector's capacity ({}): {}\n",
        if out.status.success() {
            "its targets met"
        } else {
            "its targets NOT met"
        },
        line.trim_start_matches("path-heavy burst: ")
    )?;
    std::fs::remove_dir_all(&stress_dir)?;
    Ok((lost, peak, harness_rate(line).unwrap_or(f64::NAN)))
}

pub fn bench(workspace: &Path, only: Option<Section>) -> Result<()> {
    // The bench's recordings load BPF programs and make cgroups, which another checkout's
    // privileged test would find and fail on, and its timings need a quiet machine.
    let _turn = crate::machine_turn("bench")?;
    let target = workspace.join("target");
    let dir = PathBuf::from(format!("/dev/shm/learner-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("html")).context("bench dir")?;
    let bins = Bins {
        target: target.clone(),
        learner: target.join("release/learner"),
        workload: target.join("release/workload"),
        dir: dir.clone(),
    };
    let result = run_all(&bins, &target, only);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Short-lived children writing through relative paths and directory fds, with the collector
/// at full speed and starved (5% of a CPU): recorded, or counted as missed.
fn short_lived_writers(bins: &Bins, report: &mut String) -> Result<()> {
    writeln!(
        report,
        "## Short-lived writers ({RELATIVE_DIRS} directories x 5 writes by forked children through relative paths and directory fds)\n"
    )?;
    writeln!(
        report,
        "| collector | writes recorded | counted missed or lost | learner exit |\n|---|---|---|---|"
    )?;
    for starve in [false, true] {
        let (recorded, counted, code) = relative_round(bins, starve)?;
        writeln!(
            report,
            "| {} | {recorded} of {} | {counted} | {code} |",
            if starve { "5% of one CPU" } else { "unlimited" },
            RELATIVE_DIRS * 5
        )?;
    }
    writeln!(report)?;
    Ok(())
}

/// A million stats of one path (newfstatat, traced: each call runs the entry and exit
/// programs, the second and later ones only counted as duplicates) and a million fstats
/// (newfstatat with an empty path, skipped at entry), unrecorded, counted only and recorded,
/// the modes alternating.
fn lookups(bins: &Bins, report: &mut String) -> Result<()> {
    const MODES: [Mode; 4] = [Mode::Native, Mode::Counting, Mode::Elsewhere, Mode::Learner];
    let kinds = ["stat", "fstat"];
    let mut ns: Vec<[Vec<f64>; 2]> = MODES.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for round in 0..ROUNDS {
        for k in 0..MODES.len() {
            let m = (round + k) % MODES.len();
            let elsewhere = Elsewhere::start(bins, MODES[m], &[])?;
            for (i, kind) in kinds.iter().enumerate() {
                let total = stdout_number(bins.command(
                    MODES[m],
                    &[
                        bins.workload.to_str().expect("utf-8"),
                        "lookups",
                        kind,
                        &SYSCALLS.to_string(),
                    ],
                    "lookups.profile.yaml",
                ))?;
                ns[m][i].push(total / SYSCALLS as f64);
            }
            drop(elsewhere);
        }
    }
    let ns: Vec<[f64; 2]> = ns
        .into_iter()
        .map(|[a, b]| [median(a), median(b)])
        .collect();
    writeln!(
        report,
        "## A million stats by path and a million fstats, time per call\n\n| | stat ns | ratio | fstat ns | ratio |\n|---|---|---|---|---|"
    )?;
    for (m, mode) in MODES.iter().enumerate() {
        writeln!(
            report,
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} |",
            mode.name(),
            ns[m][0],
            ns[m][0] / ns[0][0],
            ns[m][1],
            ns[m][1] / ns[0][1]
        )?;
    }
    writeln!(
        report,
        "\nA recorded stat by path runs both observation programs (the string read, hashed and found a duplicate after the first); an fstat reads one byte of its empty path at entry and stops; an unrecorded process's calls stop at the cgroup test, but enter both programs all the same (every process on the machine pays that while learner records anything).\n"
    )?;
    Ok(())
}

/// nginx.service in a guest systemd under wrk, unrecorded, recorded and watched, the modes
/// alternating (the tests crate's `watchcost` program, which boots the guest; the bench holds
/// the machine's lock for it).
fn watch_cost(bins: &Bins, report: &mut String) -> Result<()> {
    let out = Command::new(bins.target.join("release/watchcost"))
        .env("LEARNER_BIN", &bins.learner)
        .env_remove("LD_LIBRARY_PATH")
        .args([WATCH_ROUNDS.to_string(), WATCH_SECONDS.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("watchcost")?;
    if !out.status.success() {
        bail!("watchcost failed");
    }
    report.push_str(&String::from_utf8_lossy(&out.stdout));
    writeln!(report)?;
    Ok(())
}

fn run_all(bins: &Bins, target: &Path, only: Option<Section>) -> Result<()> {
    let mut report = String::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    writeln!(
        report,
        "# learner benchmark\n\nKernel {}, {} cores. Each figure is the median of {ROUNDS} rounds, the modes alternating within each round.\n",
        host.trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    if only == Some(Section::Relative) {
        short_lived_writers(bins, &mut report)?;
        return write_report(target, &report);
    }
    if only == Some(Section::Programs) {
        program_costs(bins, &mut report)?;
        return write_report(target, &report);
    }
    if only == Some(Section::Watch) {
        watch_cost(bins, &mut report)?;
        return write_report(target, &report);
    }
    if only == Some(Section::Lookups) {
        lookups(bins, &mut report)?;
        return write_report(target, &report);
    }
    if only == Some(Section::PathHeavy) {
        let (lost, peak, rate) = path_heavy(bins, &mut report)?;
        path_heavy_targets(&mut report, lost, peak, rate)?;
        return write_report(target, &report);
    }

    // 1. nginx under wrk.
    std::fs::write(
        bins.dir.join("html/index.html"),
        "<html><body>".to_owned() + &"learner ".repeat(80) + "</body></html>\n",
    )?;
    let conf = bins.dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{ access_log {d}/access.log; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen 127.0.0.1:{NGINX_PORT}; root {d}/html; }} }}\n",
            d = bins.dir.display()
        ),
    )?;
    let n = Mode::ALL.len();
    let mut nginx: Vec<Vec<(f64, f64)>> = vec![vec![]; n];
    for round in 0..ROUNDS {
        for k in 0..n {
            let mode = Mode::ALL[(round + k) % n];
            let elsewhere = Elsewhere::start(bins, mode, &[])?;
            let r = nginx_round(bins, mode, &conf)?;
            drop(elsewhere);
            eprintln!(
                "xtask: bench: nginx, {}: {:.0} requests/s, p99 {:.2} ms",
                mode.name(),
                r.0,
                r.1
            );
            nginx[mode.index()].push(r);
        }
    }
    let rps: Vec<f64> = nginx
        .iter()
        .map(|v| median(v.iter().map(|r| r.0).collect()))
        .collect();
    let p99: Vec<f64> = nginx
        .iter()
        .map(|v| median(v.iter().map(|r| r.1).collect()))
        .collect();
    writeln!(
        report,
        "## nginx on loopback (wrk -t1 -c20 -d5s, 1 worker, access log on)\n"
    )?;
    mode_table(
        &mut report,
        &["requests/s", "ratio", "p99 (ms)", "p99 ratio"],
        |i| {
            vec![
                format!("{:.0}", rps[i]),
                format!("{:.3}", rps[i] / rps[0]),
                format!("{:.2}", p99[i]),
                format!("{:.2}", p99[i] / p99[0]),
            ]
        },
    )?;
    let learner = Mode::Learner.index();
    let nginx_cost = 1.0 - rps[learner] / rps[0];

    // 2. A million cheap syscalls; time per syscall, measured by the program itself.
    let mut per_call: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..ROUNDS {
        for k in 0..n {
            let mode = Mode::ALL[(round + k) % n];
            let calls = if mode == Mode::Strace {
                SYSCALLS_STRACED
            } else {
                SYSCALLS
            };
            let elsewhere = Elsewhere::start(bins, mode, &[])?;
            let ns = stdout_number(bins.command(
                mode,
                &[
                    bins.workload.to_str().expect("utf-8"),
                    "syscalls",
                    &calls.to_string(),
                ],
                "syscalls.profile.yaml",
            ))?;
            drop(elsewhere);
            per_call[mode.index()].push(ns / calls as f64);
        }
    }
    let ns: Vec<f64> = per_call.into_iter().map(median).collect();
    writeln!(
        report,
        "## A million getppid calls (strace: {SYSCALLS_STRACED}), time per call\n"
    )?;
    mode_table(&mut report, &["ns per call", "added ns", "ratio"], |i| {
        vec![
            format!("{:.0}", ns[i]),
            format!("{:+.0}", ns[i] - ns[0]),
            format!("{:.2}", ns[i] / ns[0]),
        ]
    })?;
    let floor = Mode::Floor.index();
    let elsewhere = Mode::Elsewhere.index();
    writeln!(
        report,
        "Any program on `sys_enter` puts every task on the machine on the kernel's slow syscall path: the empty program's row is the floor of every eBPF syscall recorder here. learner's own share is the difference to that row: {:+.0} ns per call, and {:.1}% of nginx's throughput. While learner records another process, an unrecorded program pays {:+.0} ns per call and nginx loses {:.1}% of its throughput: every process on the machine pays that while learner records anything.\n",
        ns[learner] - ns[floor],
        (rps[floor] - rps[learner]) / rps[0] * 100.0,
        ns[elsewhere] - ns[0],
        (1.0 - rps[elsewhere] / rps[0]) * 100.0
    )?;
    let following = Mode::Following.index();
    writeln!(
        report,
        "Once learner follows a process out of its cgroup (a login's session scope), every other task's syscall also looks itself up in the followed-task table: {:+.0} ns per call against recording another process, and {:+.1}% of nginx's throughput.\n",
        ns[following] - ns[elsewhere],
        (rps[following] - rps[elsewhere]) / rps[0] * 100.0
    )?;

    // 2a. Lookups: what tracing stat costs the recorded process.
    lookups(bins, &mut report)?;

    // 2b. What each kernel program costs a run.
    program_costs(bins, &mut report)?;

    // 3. Path-heavy: distinct files created, then one opened many times, under learner.
    let (lost, peak, rate) = path_heavy(bins, &mut report)?;

    // 4. generate on a large merged profile: several recordings of paths that do not fold.
    let mut merged = Vec::new();
    // Counted in the profiles, not assumed: a change to folding would show here.
    let mut paths = 0;
    for k in 0..MERGED_PROFILES {
        let root = bins.dir.join(format!("merged{k}"));
        let profile = bins.dir.join(format!("merged{k}.profile.yaml"));
        stdout_number(bins.stress(&profile, &root, [MERGED_FILES, 0, MERGED_SPREAD]))?;
        paths += recorded_paths(&std::fs::read_to_string(&profile)?, &root).len();
        std::fs::remove_dir_all(&root)?;
        merged.push(profile);
    }

    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&bins.learner)
        .arg("generate")
        .args(&merged)
        .arg("-o")
        .arg(bins.dir.join("merged.conf"))
        .output()?;
    let gen_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gen_kib: f64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or(f64::NAN);
    writeln!(
        report,
        "## learner generate on {MERGED_PROFILES} profiles merged ({paths} distinct paths, {MERGED_FILES} a recording in {MERGED_SPREAD} directories)\n\n{gen_secs:.2} s, {:.0} MiB peak.\n",
        gen_kib / 1024.0
    )?;

    // 5. Short-lived children writing through relative paths and directory fds.
    short_lived_writers(bins, &mut report)?;

    // 6. The cost of watching a unit, against recording it.
    watch_cost(bins, &mut report)?;

    writeln!(report, "## Targets\n")?;
    writeln!(
        report,
        "- nginx throughput cost at most 3%: {:.1}% ({}; the empty program alone: {:.1}%)",
        nginx_cost * 100.0,
        verdict(nginx_cost <= 0.03),
        (1.0 - rps[floor] / rps[0]) * 100.0
    )?;
    writeln!(
        report,
        "- syscall-heavy program at most 1.2x native: {:.2}x ({}; the empty program alone: {:.2}x)",
        ns[learner] / ns[0],
        verdict(ns[learner] / ns[0] <= 1.2),
        ns[floor] / ns[0]
    )?;
    path_heavy_targets(&mut report, lost, peak, rate)?;
    write_report(target, &report)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// The events a CPU second of the collector's harness line (`...: 417569 events/s; ...`).
fn harness_rate(line: &str) -> Option<f64> {
    line.split(" events/s")
        .next()?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

fn path_heavy_targets(report: &mut String, lost: f64, peak: f64, rate: f64) -> Result<()> {
    writeln!(
        report,
        "- collector at least 300,000 events a second on one core (its harness): {rate:.0} events/s ({})",
        verdict(rate >= 300_000.0)
    )?;
    writeln!(
        report,
        "- path-heavy: no lost events, or the loss reported exactly: {lost:.0} lost ({})",
        verdict(lost == 0.0)
    )?;
    writeln!(
        report,
        "- collector under 50 MiB: {peak:.1} MiB ({})",
        verdict(peak < 50.0)
    )?;
    Ok(())
}

fn write_report(target: &Path, report: &str) -> Result<()> {
    print!("{report}");
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("report.md"), report)?;
    eprintln!(
        "xtask: bench: report written to {}",
        dir.join("report.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_medians_are_per_scene_per_run_and_skip_programs_that_never_ran() {
        let stat = |name: &str, runs, ns| (name.to_owned(), runs, ns);
        let rounds = vec![
            vec![
                vec![stat("enter", 100, 1000), stat("exit", 0, 0)],
                vec![stat("enter", 300, 9000), stat("exit", 0, 0)],
                vec![stat("enter", 200, 4000), stat("exit", 0, 0)],
            ],
            vec![vec![stat("enter", 10, 50), stat("exit", 4, 400)]],
        ];
        let medians = program_medians(&rounds);
        assert_eq!(medians[0].get("enter"), Some(&(200.0, 20.0)));
        assert_eq!(medians[0].get("exit"), None);
        assert_eq!(medians[1].get("exit"), Some(&(4.0, 100.0)));
    }

    #[test]
    fn the_harness_rate_is_the_number_before_events_per_second() {
        let line = "14000 events in 0.034 s of CPU: 417569 events/s; RSS 3.5 MiB before, peak 19.0 MiB; lost 0";
        assert_eq!(harness_rate(line), Some(417_569.0));
        assert_eq!(harness_rate("the harness printed nothing"), None);
    }
}
