//! `cargo xtask bench`'s watch and whole-host rows: nginx.service in a guest systemd under
//! `wrk`, unrecorded, recorded (`learner record`), watched (`learner watch` against a drop-in
//! that permits what it does) and recorded with every other unit (`learner record --all`, 20
//! busy units besides), the modes alternating within each round; and a million getppid calls
//! in a unit of their own, unrecorded, recorded alone and among the twenty. Prints markdown
//! tables (medians) on stdout. Run by the bench, which holds the machine's lock.
//!
//! Usage: watchcost ROUNDS SECONDS
use std::{
    io::{BufRead as _, BufReader},
    process::{Child, ExitCode, Stdio},
    sync::mpsc,
    time::Duration,
};

use learner_tests::{guest::Guest, learner};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Unrecorded,
    Recorded,
    Watched,
    All,
}

const MODES: [Mode; 4] = [Mode::Unrecorded, Mode::Recorded, Mode::Watched, Mode::All];

/// Busy units started beside nginx for [`Mode::All`]: each reads a file twenty times a
/// second, so the whole-host recorder has twenty units' events to sort.
const BUSY_UNITS: usize = 19;

/// getppid calls per measurement.
const GETPPID_CALLS: u64 = 1_000_000;

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Unrecorded => "unrecorded",
            Mode::Recorded => "learner record",
            Mode::Watched => "learner watch",
            Mode::All => "learner record --all (nginx and 19 busy units)",
        }
    }
}

/// Permits everything nginx does under load: nothing is reported, so the row is the cost of
/// watching, not of reporting.
const PERMISSIVE: &str = "[Service]\nProtectSystem=full\n";

/// learner attached to nginx.service for one round, stopped (SIGINT, as Ctrl-C) when dropped.
struct Attached(Child);

impl Attached {
    fn start(guest: &Guest, mode: Mode, dir: &std::path::Path) -> Result<Option<Self>, String> {
        let pid = guest.pid.to_string();
        let mut cmd = learner();
        match mode {
            Mode::Unrecorded => return Ok(None),
            Mode::Recorded => cmd
                .args(["record", "nginx.service", "--quiet", "-o"])
                .arg(dir.join("nginx.profile.yaml")),
            Mode::Watched => cmd
                .args(["watch", "nginx.service", "--dropin"])
                .arg(dir.join("permissive.conf")),
            Mode::All => cmd
                .args(["record", "--all", "--quiet", "-o"])
                .arg(dir.join("all")),
        };
        let recorders = learner_tests::learner_programs_loaded(learner_common::program::EXIT);
        let mut child = cmd
            .args(["--guest", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("learner: {e}"))?;
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let attached = Attached(child);
        match mode {
            // A watch says when it has attached and judged once.
            Mode::Watched => loop {
                match rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(line) if line.starts_with("learner: watching ") => break,
                    Ok(_) => {}
                    Err(_) => return Err("learner watch never said it was watching".into()),
                }
            },
            // record --quiet says nothing: its observation programs are the last loaded,
            // then it switches counting on.
            _ => {
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while learner_tests::learner_programs_loaded(learner_common::program::EXIT)
                    <= recorders
                {
                    if std::time::Instant::now() > deadline {
                        return Err(format!("{} never attached", mode.name()));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        Ok(Some(attached))
    }
}

/// CPU seconds a process (every thread of it) has used so far, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's closing parenthesis: state is field 3, utime and stime 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |t| t.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // SAFETY: sysconf with a constant name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// CPU seconds the guest's system.slice (nginx and the busy units, and the kernel programs'
/// runs in their tasks) has used so far: its cgroup's own accounting.
fn slice_cpu_seconds(guest: &Guest) -> f64 {
    let stat = std::fs::read_to_string(format!(
        "/proc/{}/root/sys/fs/cgroup/system.slice/cpu.stat",
        guest.pid
    ))
    .unwrap_or_default();
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0.0, |usec| usec / 1e6)
}

impl Drop for Attached {
    fn drop(&mut self) {
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

/// Requests per second and p99 (ms) of one `wrk` run inside the guest.
fn wrk(guest: &Guest, seconds: u64) -> Result<(f64, f64), String> {
    let url = "http://127.0.0.1/";
    let _ = guest.run(&["wrk", "-t1", "-c20", "-d1s", url]);
    let out = guest.run(&[
        "wrk",
        "-t1",
        "-c20",
        &format!("-d{seconds}s"),
        "--latency",
        url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("wrk: {text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("99%"))
        .map(str::trim)
        .and_then(|v| {
            if let Some(ms) = v.strip_suffix("ms") {
                ms.parse().ok()
            } else if let Some(us) = v.strip_suffix("us") {
                us.parse::<f64>().ok().map(|u| u / 1000.0)
            } else {
                v.strip_suffix('s')?.parse::<f64>().ok().map(|s| s * 1000.0)
            }
        })
        .unwrap_or(f64::NAN);
    Ok((rps, p99))
}

/// Nanoseconds per getppid call of the workload run as a unit of its own in the guest
/// (`bench-getppid.service`, written by `run`), recorded as `mode` says: alone (`learner record --wait`, which
/// ends once the unit has stopped) or among every unit (`learner record --all`).
fn getppid(guest: &Guest, mode: Mode, dir: &std::path::Path) -> Result<f64, String> {
    let pid = guest.pid.to_string();
    let recorder = match mode {
        Mode::Recorded => {
            let mut cmd = learner();
            cmd.args(["record", "bench-getppid.service", "--wait", "--quiet", "-o"])
                .arg(dir.join("getppid.profile.yaml"))
                .args(["--guest", &pid]);
            Some(cmd)
        }
        Mode::All => {
            let mut cmd = learner();
            cmd.args(["record", "--all", "--quiet", "-o"])
                .arg(dir.join("all-getppid"))
                .args(["--guest", &pid]);
            Some(cmd)
        }
        _ => None,
    };
    let attached = match recorder {
        Some(mut cmd) => {
            let before = learner_tests::learner_programs_loaded(learner_common::program::EXIT);
            let child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("learner: {e}"))?;
            let attached = Attached(child);
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while learner_tests::learner_programs_loaded(learner_common::program::EXIT) <= before {
                if std::time::Instant::now() > deadline {
                    return Err(format!("{} never attached", mode.name()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_secs(2));
            Some(attached)
        }
        None => None,
    };
    // The guest has no D-Bus for `systemd-run --wait --pipe`: the output goes to a file, and
    // the unit is waited for by its state.
    let _ = guest.run(&["rm", "-f", "/run/bench-getppid.out"]);
    let out = guest.run(&["systemctl", "start", "bench-getppid.service"]);
    if !out.status.success() {
        return Err(format!("getppid: {}", learner_tests::text(&out)));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = guest.sh("cat /run/bench-getppid.out 2>/dev/null");
        if !text.trim().is_empty() && !guest.is_active("bench-getppid.service") {
            break text;
        }
        if std::time::Instant::now() > deadline {
            return Err("getppid: the unit never ended".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(attached);
    let ns: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("getppid: {text}"))?;
    Ok(ns / GETPPID_CALLS as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(rounds: usize, seconds: u64) -> Result<String, String> {
    let dir = learner_tests::TempDir::new("watchcost");
    std::fs::write(dir.join("permissive.conf"), PERMISSIVE).map_err(|e| e.to_string())?;
    let guest = Guest::try_boot("watchcost")?;
    let started = guest.run(&["systemctl", "start", "nginx.service"]);
    if !started.status.success() || !guest.is_active("nginx.service") {
        return Err(format!(
            "nginx.service did not start in the guest: {}",
            learner_tests::text(&started)
        ));
    }
    for i in 0..BUSY_UNITS {
        let unit = format!("--unit=bench-busy-{i}");
        let out = guest.run(&[
            "systemd-run",
            &unit,
            "/bin/sh",
            "-c",
            "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done",
        ]);
        if !out.status.success() {
            return Err(format!("busy unit: {}", learner_tests::text(&out)));
        }
    }
    // The workload binary beside this one, copied in: the guest may not see this checkout.
    let workload = "/usr/local/lib/learner-bench/workload";
    let from = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("workload");
    let host_side = format!("/proc/{}/root{workload}", guest.pid);
    std::fs::create_dir_all(
        std::path::Path::new(&host_side)
            .parent()
            .expect("a directory"),
    )
    .and_then(|()| std::fs::copy(&from, &host_side))
    .map_err(|e| format!("cannot copy {} into the guest: {e}", from.display()))?;
    // A unit file, not a transient unit: `learner record --wait` needs it loaded before it
    // starts.
    guest.write(
        "/etc/systemd/system/bench-getppid.service",
        &format!(
            "[Service]\nExecStart={workload} syscalls {GETPPID_CALLS}\nStandardOutput=file:/run/bench-getppid.out\n"
        ),
    );
    let _ = guest.run(&["systemctl", "daemon-reload"]);
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MODES.len()];
    let mut calls: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
    // learner's and system.slice's CPU seconds during each wrk run.
    let mut cpu: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MODES.len()];
    for round in 0..rounds {
        for k in 0..MODES.len() {
            let i = (round + k) % MODES.len();
            let attached = Attached::start(&guest, MODES[i], dir.path())?;
            let learner_before = attached.as_ref().map(|a| cpu_seconds(a.0.id()));
            let slice_before = slice_cpu_seconds(&guest);
            let r = wrk(&guest, seconds)?;
            let slice_cpu = slice_cpu_seconds(&guest) - slice_before;
            let learner_cpu = match (&attached, learner_before) {
                (Some(a), Some(before)) => cpu_seconds(a.0.id()) - before,
                _ => 0.0,
            };
            drop(attached);
            cpu[i].push((learner_cpu, slice_cpu));
            if MODES[i] != Mode::Watched {
                let ns = getppid(&guest, MODES[i], dir.path())?;
                eprintln!(
                    "watchcost: round {}: getppid, {}: {ns:.0} ns per call",
                    round + 1,
                    MODES[i].name()
                );
                calls[i].push(ns);
            }
            eprintln!(
                "watchcost: round {}: {}: {:.0} requests/s, p99 {:.2} ms",
                round + 1,
                MODES[i].name(),
                r.0,
                r.1
            );
            results[i].push(r);
        }
    }
    drop(guest);
    let rps: Vec<f64> = results
        .iter()
        .map(|v| median(v.iter().map(|r| r.0).collect()))
        .collect();
    let p99: Vec<f64> = results
        .iter()
        .map(|v| median(v.iter().map(|r| r.1).collect()))
        .collect();
    let mut out = format!(
        "## Watching: nginx.service in a guest systemd (wrk -t1 -c20 -d{seconds}s, {rounds} rounds)\n\n| | requests/s | ratio | p99 (ms) | every round's requests/s | learner CPU s during wrk | system.slice CPU s during wrk |\n|---|---|---|---|---|---|---|\n"
    );
    for (i, mode) in MODES.iter().enumerate() {
        let each: Vec<String> = results[i].iter().map(|r| format!("{:.0}", r.0)).collect();
        out.push_str(&format!(
            "| {} | {:.0} | {:.3} | {:.2} | {} | {:.2} | {:.2} |\n",
            mode.name(),
            rps[i],
            rps[i] / rps[0],
            p99[i],
            each.join(", "),
            median(cpu[i].iter().map(|c| c.0).collect()),
            median(cpu[i].iter().map(|c| c.1).collect()),
        ));
    }
    out.push_str(&format!(
        "\nCPU seconds over each wrk run ({}s with its 1 s warm-up), medians: learner's own (every thread), and the guest's system.slice (nginx and the busy units, with the kernel programs' runs in their tasks).\n",
        seconds + 1
    ));
    out.push_str(&format!(
        "\nWatching against recording: {:.3}x the requests/s ({:+.1}% of the unrecorded throughput).\n",
        rps[2] / rps[1],
        (rps[2] - rps[1]) / rps[0] * 100.0
    ));
    out.push_str(&format!(
        "\nThe whole host against one unit: nginx at {:.3}x the requests/s recorded with every unit than recorded alone.\n",
        rps[3] / rps[1]
    ));
    let per_call: Vec<f64> = calls
        .iter()
        .map(|v| {
            if v.is_empty() {
                f64::NAN
            } else {
                median(v.clone())
            }
        })
        .collect();
    out.push_str(&format!(
        "\n## getppid in a unit of its own ({GETPPID_CALLS} calls, {rounds} rounds)\n\n| | ns per call | ratio |\n|---|---|---|\n| unrecorded | {:.0} | 1.000 |\n| recorded alone (`learner record --wait`) | {:.0} | {:.3} |\n| recorded among every unit (`learner record --all`) | {:.0} | {:.3} |\n\nAmong every unit against alone: {:.3}x the time per call.\n",
        per_call[0],
        per_call[1],
        per_call[1] / per_call[0],
        per_call[3],
        per_call[3] / per_call[0],
        per_call[3] / per_call[1],
    ));
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(rounds), Some(seconds)) = (
        args.first().and_then(|a| a.parse().ok()),
        args.get(1).and_then(|a| a.parse().ok()),
    ) else {
        eprintln!("usage: watchcost ROUNDS SECONDS");
        return ExitCode::from(2);
    };
    match run(rounds, seconds) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("watchcost: {e}");
            ExitCode::FAILURE
        }
    }
}
