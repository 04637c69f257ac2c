//! `cargo xtask pack [SERVICE...]`: re-records, regenerates and re-verifies the profile pack
//! of `profiles/`. For each service it boots the tests' disposable systemd (see
//! `learner_tests::guest`), records the packaged unit from a restart on while
//! `profiles/SERVICE/load.sh load` loads it and then through its whole life (`--exercise all`),
//! generates a drop-in with `--explain`, applies the shipped drop-in with `--exercise all` and
//! `load.sh check` as the check, scores the unit without and with it, and compares the fresh
//! recording with the shipped profile (`learner diff --fail-on looser`). One service at a time,
//! each holding the machine's privileged-test lock while its guest lives; the guest is powered
//! off after each, also on failure or Ctrl-C. With `--jobs N`, N services at once, each in its
//! own guests, all under one turn of the lock, every package installed before the first boots.
//!
//! With `--update` the fresh recording is merged into the shipped profile (a union: each run
//! adds what that run happened to see), the drop-in regenerated from it, applied the same way,
//! and both written to `profiles/SERVICE/` only when the apply passed.
//!
//! Progress on stderr (`learner_tests::pack_progress`): per service the step running, the time
//! spent and what is left; a live line on a terminal, a plain line every 30 s elsewhere,
//! nothing with `--quiet`.
//!
//! Usage: `LEARNER_BIN=target/debug/learner pack [--update] [--quiet] [--jobs N] PROFILES OUTDIR
//! [SERVICE...]` (xtask passes them). Exit 0 when every service verified, 1 when one did not, 2 on bad usage.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Output, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use learner::util::progress::Mode;
use learner_tests::{guest::Guest, learner, machine_turn, pack_progress::Pace, text};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn interrupted(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// `profiles/SERVICE/pack.conf`: `key=value` lines, `#` comments.
struct Service {
    name: String,
    dir: PathBuf,
    unit: String,
    /// Debian packages the service needs (the first one's version is reported).
    packages: Vec<String>,
    /// `learner record --for`.
    record_for: String,
    /// `--exercise` of record and apply: `all` unless the packaged unit itself fails an event.
    exercise: String,
    /// `learner apply --timeout`: how long the check after each start may take to pass
    /// (cron's first jobs after a start come at the next whole minute).
    timeout: String,
    /// What the verification here leaves out, said with its result.
    note: Option<String>,
    /// Why the service cannot be verified here: listed, never run or shipped as verified.
    unverified: Option<String>,
    /// `unverified` came as `unshipped=`: not the machine's limit, a drop-in that would
    /// confine more than any recording sees (a job runner's every later job).
    unshipped: bool,
}

impl Service {
    fn load(profiles: &Path, name: &str) -> Result<Service, String> {
        let dir = profiles.join(name);
        let conf = dir.join("pack.conf");
        let text =
            std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{}:{}: not key=value", conf.display(), n + 1))?;
            keys.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        let unit = keys
            .remove("unit")
            .ok_or_else(|| format!("{}: no unit=", conf.display()))?;
        Ok(Service {
            name: name.to_owned(),
            unit,
            packages: keys
                .remove("packages")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            record_for: keys.remove("record").unwrap_or_else(|| "6s".into()),
            exercise: keys.remove("exercise").unwrap_or_else(|| "all".into()),
            timeout: keys.remove("timeout").unwrap_or_else(|| "60s".into()),
            note: keys.remove("note"),
            unshipped: keys.contains_key("unshipped"),
            unverified: keys
                .remove("unverified")
                .or_else(|| keys.remove("unshipped")),
            dir,
        })
    }

    /// The unit and every unit its packages ship (not templates): none may have run in the
    /// pack's guests before load.sh setup starts them, though this machine may enable them.
    fn units(&self) -> Vec<String> {
        let mut units = vec![self.unit.clone()];
        // And the package of the unit's file (a template's for an instance): postgresql@
        // comes with postgresql-common, which pack.conf need not name.
        let file = match self.unit.split_once('@') {
            Some((base, rest)) => format!(
                "{base}@.{}",
                rest.rsplit_once('.').map_or("service", |(_, kind)| kind)
            ),
            None => self.unit.clone(),
        };
        let mut packages = self.packages.clone();
        for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
            if let Ok(out) = Command::new("dpkg")
                .args(["-S", &format!("{dir}/{file}")])
                .output()
                && let Some((owner, _)) = String::from_utf8_lossy(&out.stdout).split_once(':')
            {
                packages.push(owner.trim().to_owned());
            }
        }
        for package in &packages {
            let Ok(out) = Command::new("dpkg").args(["-L", package]).output() else {
                continue;
            };
            for file in String::from_utf8_lossy(&out.stdout).lines() {
                let in_unit_dir = file.starts_with("/lib/systemd/system/")
                    || file.starts_with("/usr/lib/systemd/system/");
                let name = file.rsplit('/').next().unwrap_or_default();
                let kind = [".service", ".socket", ".timer", ".path"]
                    .iter()
                    .any(|k| name.ends_with(k));
                if in_unit_dir && kind && !name.contains("@.") && !units.iter().any(|u| u == name) {
                    units.push(name.to_owned());
                }
            }
        }
        units
    }

    fn load_sh(&self) -> PathBuf {
        self.dir.join("load.sh")
    }

    fn profile(&self) -> PathBuf {
        self.dir.join(format!("{}.profile.yaml", self.name))
    }

    fn dropin(&self) -> PathBuf {
        self.dir.join("hardening.conf")
    }
}

/// A service with its place in the order named (the table's).
type Numbered<'a> = (usize, &'a Service);

/// One line of the table.
struct Row {
    service: String,
    package: String,
    systemd: String,
    before: String,
    after: String,
    result: String,
    /// The rest of a failure's story, after `result`'s first line: shown again at the end,
    /// where a CI log's tail keeps it.
    detail: String,
    ok: bool,
    /// Why a service that ran nothing is listed: `unverified=`'s limit of this machine or
    /// `unshipped=`'s policy.
    listed_as: &'static str,
    /// From the machine's turn on: the wait for other checkouts' tests is not the pack's.
    started: Option<Instant>,
    secs: f64,
}

impl Row {
    /// `service`'s row before anything ran.
    fn of(service: &Service) -> Self {
        Row {
            service: service.name.clone(),
            package: package_version(service),
            systemd: String::new(),
            before: "-".into(),
            after: "-".into(),
            result: String::new(),
            detail: String::new(),
            ok: true,
            listed_as: match service.unshipped {
                true => "not shipped",
                false => "limit of this machine",
            },
            started: None,
            secs: 0.0,
        }
    }

    /// A failure: its first line as the result, the rest as the detail.
    fn failed(&mut self, e: &str) {
        let (first, rest) = e.split_once('\n').unwrap_or((e, ""));
        self.ok = false;
        self.result = first.trim_end_matches(':').into();
        self.detail = rest.into();
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let update = if let Some(i) = args.iter().position(|a| a == "--update") {
        args.remove(i);
        true
    } else {
        false
    };
    let quiet = if let Some(i) = args.iter().position(|a| a == "--quiet") {
        args.remove(i);
        true
    } else {
        false
    };
    let jobs = match args.iter().position(|a| a == "--jobs") {
        Some(i) => {
            let n = args.get(i + 1).and_then(|n| n.parse::<usize>().ok());
            match n {
                Some(n) if n > 0 => {
                    args.drain(i..=i + 1);
                    n
                }
                _ => {
                    eprintln!("pack: --jobs takes a number of services at once, 1 or more");
                    return ExitCode::from(2);
                }
            }
        }
        None => 1,
    };
    if args.len() < 2 {
        eprintln!("usage: pack [--update] [--quiet] [--jobs N] PROFILES OUTDIR [SERVICE...]");
        return ExitCode::from(2);
    }
    let profiles = PathBuf::from(&args[0]);
    let out = PathBuf::from(&args[1]);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, interrupted as *const () as libc::sighandler_t) };
    }
    match pack(&profiles, &out, &args[2..], update, quiet, jobs) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pack: {e}");
            ExitCode::from(2)
        }
    }
}

/// Every directory of PROFILES with a pack.conf, sorted.
fn all_services(profiles: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(profiles)
        .map_err(|e| format!("{}: {e}", profiles.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("pack.conf").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

fn pack(
    profiles: &Path,
    out: &Path,
    names: &[String],
    update: bool,
    quiet: bool,
    jobs: usize,
) -> Result<bool, String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the pack loads eBPF programs and boots a systemd: run it as root".into());
    }
    let profiles =
        std::fs::canonicalize(profiles).map_err(|e| format!("{}: {e}", profiles.display()))?;
    let names = if names.is_empty() {
        all_services(&profiles)?
    } else {
        names.to_vec()
    };
    let services = names
        .iter()
        .map(|n| Service::load(&profiles, n))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let out = std::fs::canonicalize(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let started = Instant::now();
    let total = services.len();
    let skipped_total = services.iter().filter(|s| s.unverified.is_some()).count();
    let mut pace = Pace::start(
        services.iter().filter(|s| s.unverified.is_none()).count(),
        Mode::for_stderr(quiet),
    );
    // Several guests at once share one turn of the machine, taken before the first; then
    // their packages are installed, before any boots (a guest's root is an overlay of this
    // machine's, which an install would change under it).
    pace.at_once(jobs);
    let mut not_installed = BTreeMap::new();
    let shared_turn = match jobs > 1 {
        true => {
            let turn = machine_turn(|| {
                pace.say("pack: waiting for the privileged tests running on this machine")
            })?;
            for service in services.iter().filter(|s| s.unverified.is_none()) {
                if let Err(e) = install(service) {
                    not_installed.insert(service.name.clone(), e);
                }
            }
            Some(turn)
        }
        false => None,
    };
    // A service whose packages a later one's install removed (vsftpd and proftpd-basic
    // conflict) runs after the others, alone, its packages installed again first.
    let (services, alone): (Vec<Numbered>, Vec<Numbered>) =
        services.iter().enumerate().partition(|(_, s)| {
            shared_turn.is_none()
                || s.unverified.is_some()
                || not_installed.contains_key(&s.name)
                || installed(s)
        });
    let next = std::sync::atomic::AtomicUsize::new(0);
    let verifying = std::sync::atomic::AtomicUsize::new(0);
    let rows = std::sync::Mutex::new(Vec::new());
    let run =
        |service: &Service, own_turn: bool, install_failed: Option<&String>| match install_failed {
            Some(e) => failed_row(service, e.clone()),
            None => run_one(service, &out, update, &pace, &verifying, own_turn),
        };
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some(&(i, service)) = services.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        return;
                    }
                    let row = run(
                        service,
                        shared_turn.is_none(),
                        not_installed.get(&service.name),
                    );
                    rows.lock().unwrap().push((i, row));
                }
            });
        }
    });
    for (i, service) in alone {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        let failed = install(service).err();
        let row = run(service, false, failed.as_ref());
        rows.lock().unwrap().push((i, row));
    }
    drop(shared_turn);
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = rows.into_iter().map(|(_, row)| row).collect();
    // The table may go to the same terminal.
    pace.finish();
    print_table(&rows);
    print_headline(&rows, total);
    eprintln!(
        "pack: {} service(s) in {:.0} s; logs and fresh recordings in {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    // Services not run (an interruption) count as failed.
    let failed = rows.iter().filter(|r| !r.ok).count() + total - rows.len();
    let skipped = skipped_total;
    let passed = rows.iter().filter(|r| r.ok).count().saturating_sub(skipped);
    // The plain closing line CI's log readers count.
    println!("pack: {passed} passed, {failed} failed, {skipped} skipped");
    Ok(failed == 0)
}

/// One service of the pack: its row, verified (or failed) as `verify` says, or listed when
/// `unverified=`. With `own_turn`, it waits for the machine's turn itself.
fn run_one(
    service: &Service,
    out: &Path,
    update: bool,
    pace: &Pace,
    verifying: &std::sync::atomic::AtomicUsize,
    own_turn: bool,
) -> Row {
    let t = Instant::now();
    let mut row = Row::of(service);
    if let Some(why) = &service.unverified {
        row.result = match service.unshipped {
            true => format!("no drop-in shipped: {why}"),
            false => format!("not verified here: {why}"),
        };
    } else {
        let dir = out.join(&service.name);
        let _ = std::fs::remove_dir_all(&dir);
        pace.say(&format!("\n== pack: {} ({})", service.name, service.unit));
        pace.service(verifying.fetch_add(1, Ordering::Relaxed), &service.name);
        let verified = std::fs::create_dir_all(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .and_then(|()| verify(service, &dir, update, &mut row, pace, own_turn));
        if let Err(e) = verified {
            // The table gets the first line; the whole story goes to stderr.
            pace.say(&e);
            row.failed(&e);
        }
    }
    row.secs = row.started.unwrap_or(t).elapsed().as_secs_f64();
    if service.unverified.is_none() {
        pace.done(Duration::from_secs_f64(row.secs));
    }
    pace.say(&format!(
        "== pack: {}: {} ({:.0} s)",
        row.service, row.result, row.secs
    ));
    row
}

/// The row of a service whose packages could not be installed.
fn failed_row(service: &Service, e: String) -> Row {
    let mut row = Row::of(service);
    row.failed(&e);
    row
}

fn print_table(rows: &[Row]) {
    println!(
        "| service | package | systemd | exposure before | after | result | seconds (lock waits aside) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} |",
            r.service, r.package, r.systemd, r.before, r.after, r.result, r.secs
        );
    }
}

/// The headline: how many of the pack's services kept working through their life under their
/// drop-in, at what exposure, and why each other one did not.
fn print_headline(rows: &[Row], total: usize) {
    let verified: Vec<&Row> = rows.iter().filter(|r| r.ok && r.after != "-").collect();
    println!(
        "pack: {} of {total} services verified through their life and on a fresh host",
        verified.len()
    );
    let before = median(verified.iter().filter_map(|r| r.before.parse().ok()));
    let after = median(verified.iter().filter_map(|r| r.after.parse().ok()));
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "pack: median exposure of those {}: {before:.2} as packaged -> {after:.2} with the drop-ins",
            verified.len()
        );
    }
    for r in rows.iter().filter(|r| !(r.ok && r.after != "-")) {
        // `unverified=` says what the test machine lacks, `unshipped=` why no drop-in should
        // be; a failure is learner's to explain.
        let class = if r.ok { r.listed_as } else { "FAILED" };
        println!("pack: not verified: {} ({class}): {}", r.service, r.result);
        for line in r.detail.lines().take(12) {
            println!("pack:   {line}");
        }
    }
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn package_version(service: &Service) -> String {
    let Some(package) = service.packages.first() else {
        return "-".into();
    };
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            format!("{package} {}", String::from_utf8_lossy(&o.stdout).trim())
        }
        _ => format!("{package} (not installed)"),
    }
}

/// Saves a command's output as DIR/NAME.log and says whether it succeeded.
fn logged(dir: &Path, name: &str, out: &Output) -> bool {
    let _ = std::fs::write(dir.join(format!("{name}.log")), text(out));
    out.status.success()
}

fn interrupted_yet() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// The last lines of a log, to show why a step failed.
fn tail(out: &Output, lines: usize) -> String {
    let all = text(out);
    let v: Vec<&str> = all.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Whether every package `service` needs is installed on this machine now.
fn installed(service: &Service) -> bool {
    if service.packages.is_empty() {
        return true;
    }
    Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}\\n"])
        .args(&service.packages)
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .all(|l| l == "installed")
        })
}

/// Installs the service's packages where another service's replaced them (conflicting
/// packages, installed all at once before the run), by xtask's hidden `pack-install`, whose
/// binary xtask names in LEARNER_PACK_INSTALL; nothing when run without it, or when all are
/// there.
/// In the machine's turn: no other guest is booted on this root while apt changes it.
fn install(service: &Service) -> Result<(), String> {
    let Some(xtask) = std::env::var_os("LEARNER_PACK_INSTALL") else {
        return Ok(());
    };
    let out = Command::new(&xtask)
        .args(["pack-install", &service.name])
        .output()
        .map_err(|e| format!("{}: {e}", Path::new(&xtask).display()))?;
    if !out.status.success() {
        return Err(format!(
            "installing {}'s packages failed:\n{}",
            service.name,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn verify(
    service: &Service,
    dir: &Path,
    update: bool,
    row: &mut Row,
    pace: &Pace,
    own_turn: bool,
) -> Result<(), String> {
    let load_sh = service.load_sh();
    if !load_sh.exists() {
        return Err(format!("{} is missing", load_sh.display()));
    }
    // The guest and the recording's eBPF programs must not meet a privileged test's.
    pace.step(0);
    let _turn = match own_turn {
        true => Some(machine_turn(|| {
            pace.say("pack: waiting for the privileged tests running on this machine")
        })?),
        false => None,
    };
    row.started = Some(Instant::now());
    if own_turn {
        install(service)?;
    }
    pace.step(1);
    let guest = Guest::try_boot_holding(&format!("pack-{}", service.name), &service.units())?;
    let pid = guest.pid.to_string();
    row.systemd = String::from_utf8_lossy(&guest.run(&["systemctl", "--version"]).stdout)
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    let inside = copy_load_sh(&guest, service)?;
    let script = |mode: &str| format!("{} sh {inside} {mode}", guest.nsenter());
    let sh = |mode: &str| {
        Command::new("sh")
            .args(["-c", &script(mode)])
            .output()
            .map_err(|e| format!("sh: {e}"))
    };

    let journal = || {
        tail(
            &guest.run(&["journalctl", "-u", &service.unit, "-n", "30", "--no-pager"]),
            30,
        )
    };
    // The guest is a host where the service never ran: its first start, which load.sh setup
    // makes, is recorded too (what only a first start does: a key generated, a state file
    // copied into place), and merged into the profile below.
    let first = dir.join("first-start.profile.yaml");
    pace.step(2);
    let first_start = FirstStart::attach(&guest, &service.unit, &pid, &first)?;
    let setup = sh("setup")?;
    if !logged(dir, "setup", &setup) {
        return Err(format!(
            "load.sh setup failed:\n{}\n{}",
            tail(&setup, 15),
            journal()
        ));
    }
    let check = sh("check")?;
    if !logged(dir, "check-unhardened", &check) {
        return Err(format!(
            "load.sh check fails without any drop-in:\n{}\n{}",
            tail(&check, 15),
            journal()
        ));
    }
    let first_recorded = first_start.finish()?;
    if !logged(dir, "first-start", &first_recorded) {
        return Err(format!(
            "learner record --wait of the first start failed:\n{}",
            tail(&first_recorded, 15)
        ));
    }
    pace.step(3);
    row.before = score(&guest, &service.unit, None)?;
    interrupted_yet()?;
    pace.step(4);

    // Record: from a restart on, loaded during the window, then through its life.
    let fresh = dir.join("fresh.profile.yaml");
    let recording = learner()
        .args(["record", &service.unit, "--restart", "--for"])
        .arg(&service.record_for)
        .args(["--exercise", &service.exercise, "--guest", &pid, "-o"])
        .arg(&fresh)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("learner record: {e}"))?;
    // learner attaches, then restarts the unit; load.sh load waits for it to serve.
    std::thread::sleep(Duration::from_secs(2));
    let load = sh("load")?;
    logged(dir, "load", &load);
    let recorded = recording
        .wait_with_output()
        .map_err(|e| format!("learner record: {e}"))?;
    if !logged(dir, "record", &recorded) {
        return Err(format!("learner record failed:\n{}", tail(&recorded, 15)));
    }
    interrupted_yet()?;
    // An event the packaged unit fails without any drop-in says nothing about the drop-in.
    let p = learner::model::profile::Profile::load(&fresh).map_err(|e| format!("{e}"))?;
    if let Some((event, how)) = p
        .recording
        .exercised
        .iter()
        .find(|(_, how)| how.contains("FAILED"))
    {
        return Err(format!(
            "the packaged unit fails {event} without any drop-in: {how}"
        ));
    }

    pace.step(5);
    // This run's recordings together: the first start's and the life's.
    let this_run = dir.join("this-run.profile.yaml");
    let merged = learner()
        .arg("merge")
        .arg(&first)
        .arg(&fresh)
        .arg("-o")
        .arg(&this_run)
        .output()
        .map_err(|e| format!("learner merge: {e}"))?;
    if !logged(dir, "merge-this-run", &merged) {
        return Err(format!("learner merge failed:\n{}", tail(&merged, 10)));
    }

    // Compare with the shipped profile: a fresh recording must need nothing more.
    let shipped = service.profile().exists() && service.dropin().exists();
    let mut needs_more = None;
    if shipped {
        let diff = learner()
            .arg("diff")
            .arg(service.profile())
            .arg(&this_run)
            .args(["--fail-on", "looser"])
            .output()
            .map_err(|e| format!("learner diff: {e}"))?;
        logged(dir, "diff", &diff);
        match diff.status.code() {
            Some(0) => {}
            Some(1) => needs_more = Some(String::from_utf8_lossy(&diff.stdout).into_owned()),
            _ => return Err(format!("learner diff failed:\n{}", tail(&diff, 10))),
        }
    }

    // The profile and drop-in to apply: the shipped ones, or with --update the union of the
    // shipped profile and the fresh recording.
    let (profile, dropin) = if update || !shipped {
        // Named as shipped: the drop-in's header names the profile it came from.
        let profile = dir.join(format!("{}.profile.yaml", service.name));
        if shipped {
            let merge = learner()
                .arg("merge")
                .arg(service.profile())
                .arg(&this_run)
                .arg("-o")
                .arg(&profile)
                .output()
                .map_err(|e| format!("learner merge: {e}"))?;
            if !logged(dir, "merge", &merge) {
                return Err(format!("learner merge failed:\n{}", tail(&merge, 10)));
            }
        } else {
            std::fs::copy(&this_run, &profile).map_err(|e| format!("copy: {e}"))?;
        }
        let dropin = dir.join("hardening.conf");
        let generate = learner()
            .arg("generate")
            .arg(&profile)
            .arg("--explain")
            .arg("-o")
            .arg(&dropin)
            .output()
            .map_err(|e| format!("learner generate: {e}"))?;
        if !logged(dir, "generate", &generate) {
            return Err(format!("learner generate failed:\n{}", tail(&generate, 10)));
        }
        (profile, dropin)
    } else {
        // The fresh drop-in too, for a look at what changed.
        let _ = learner()
            .arg("generate")
            .arg(&this_run)
            .arg("--explain")
            .arg("-o")
            .arg(dir.join("fresh.conf"))
            .output();
        (service.profile(), service.dropin())
    };
    interrupted_yet()?;

    pace.step(6);
    let apply = learner()
        .args(["apply", &service.unit])
        .arg(&dropin)
        .args([
            "--exercise",
            &service.exercise,
            "--timeout",
            &service.timeout,
            "--guest",
            &pid,
        ])
        // How the packaged unit went through each event just now, without any drop-in.
        .arg("--profile")
        .arg(&fresh)
        .arg("--check")
        .arg(script("check"))
        .output()
        .map_err(|e| format!("learner apply: {e}"))?;
    let applied = logged(dir, "apply", &apply);
    pace.step(7);
    row.after = score(&guest, &service.unit, Some(&dropin))?;
    if !applied {
        return Err(format!(
            "drop-in does not verify (learner apply --exercise all failed; {}):\n{}",
            dir.join("apply.log").display(),
            tail(&apply, 25)
        ));
    }
    let after: f64 = row.after.parse().unwrap_or(f64::MAX);
    let before: f64 = row.before.parse().unwrap_or(0.0);
    if after > before {
        return Err(format!(
            "the drop-in raises the exposure: {} -> {}",
            row.before, row.after
        ));
    }
    drop(guest);
    pace.step(8);
    fresh_host(service, &dropin, dir)?;
    if update || !shipped {
        for (from, to) in [(&profile, service.profile()), (&dropin, service.dropin())] {
            std::fs::copy(from, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
        row.result = if shipped {
            "verified, on a fresh host too; profile merged and drop-in updated".into()
        } else {
            "verified, on a fresh host too; profile and drop-in written".into()
        };
        return Ok(());
    }
    if let Some(diff) = needs_more {
        // Only the looser lines: the information that follows them can run to hundreds of
        // lines and push them out of a CI log's tail, and diff.log stays on that machine.
        return Err(format!(
            "a fresh recording needs more than the shipped profile (learner diff: {}):\n{}",
            dir.join("diff.log").display(),
            looser_lines(&diff)
        ));
    }
    row.result = "verified, on a fresh host too".into();
    if let Some(note) = &service.note {
        row.result = format!("verified, on a fresh host too ({note})");
    }
    Ok(())
}

/// The lines of `learner diff`'s text that say what the new recording permits more.
fn looser_lines(diff: &str) -> String {
    let lines: Vec<&str> = diff
        .lines()
        .filter(|l| l.trim_start().starts_with("looser"))
        .collect();
    if lines.is_empty() {
        // Never an empty reason: then the whole text, as learner diff gave it.
        return diff.to_string();
    }
    lines.join("\n")
}

/// `learner record UNIT --wait` in the guest, attached before anything starts the unit.
struct FirstStart {
    child: Option<std::process::Child>,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl FirstStart {
    /// Starts the recording and returns once it waits for the unit's start.
    fn attach(guest: &Guest, unit: &str, pid: &str, out: &Path) -> Result<Self, String> {
        if guest.is_active(unit) {
            return Err(format!(
                "{unit} is running in the pack's guest before load.sh setup: its first start cannot be recorded (a unit of a package pack.conf does not name starts it at boot?)"
            ));
        }
        let mut child = learner()
            .args(["record", unit, "--wait", "--guest", pid, "-o"])
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("learner record --wait: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let me = Self {
            child: Some(child),
            stderr: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match me.stderr.recv_timeout(left) {
                Ok(line) if line.contains("recording it from its next start") => return Ok(me),
                Ok(line) => said.push(line),
                Err(_) => {
                    return Err(format!(
                        "learner record --wait did not start waiting for {unit}:\n{}",
                        said.join("\n")
                    ));
                }
            }
        }
    }

    /// Ends the recording (SIGINT, as Ctrl-C would) and returns how it ended.
    fn finish(mut self) -> Result<Output, String> {
        let child = self.child.take().expect("running");
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let mut out = child
            .wait_with_output()
            .map_err(|e| format!("learner record --wait: {e}"))?;
        // Until the reader has read the last line (the pipe closed with the process).
        let mut lines = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        out.stderr = lines.join("\n").into_bytes();
        Ok(out)
    }
}

impl Drop for FirstStart {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
        }
    }
}

/// Copies load.sh into the guest and returns its path there. A copy, because the checkout may
/// be where the guest has a file system of its own (a clean clone under /tmp), and the copy
/// goes with the guest.
fn copy_load_sh(guest: &Guest, service: &Service) -> Result<String, String> {
    let load_sh = service.load_sh();
    let inside = format!("/usr/local/lib/learner-pack-{}/load.sh", service.name);
    let host_side = PathBuf::from(format!("/proc/{}/root{inside}", guest.pid));
    std::fs::create_dir_all(host_side.parent().expect("a directory"))
        .and_then(|()| std::fs::copy(&load_sh, &host_side))
        .map_err(|e| format!("cannot copy {} into the guest: {e}", load_sh.display()))?;
    Ok(inside)
}

/// The drop-in on a host where the service never ran: a new guest (this machine's root as
/// the package left it, nothing the recording's guest created), the drop-in installed before
/// anything starts the unit, then `load.sh setup` (whose start of the unit is its first, under
/// the drop-in) and `load.sh check`. What a first start creates (state, cache and log
/// directories, a socket's parent, a generated key) must be allowed by the drop-in too.
fn fresh_host(service: &Service, dropin: &Path, dir: &Path) -> Result<(), String> {
    let guest = Guest::try_boot_holding(&format!("pack-{}-fresh", service.name), &service.units())?;
    let inside = copy_load_sh(&guest, service)?;
    let target = PathBuf::from(format!(
        "/proc/{}/root/etc/systemd/system/{}.d/50-learner-hardening.conf",
        guest.pid, service.unit
    ));
    std::fs::create_dir_all(target.parent().expect("a directory"))
        .and_then(|()| std::fs::copy(dropin, &target))
        .map_err(|e| format!("cannot install the drop-in in the fresh guest: {e}"))?;
    let reload = guest.run(&["systemctl", "daemon-reload"]);
    if !reload.status.success() {
        return Err(format!(
            "fresh host: daemon-reload failed: {}",
            tail(&reload, 5)
        ));
    }
    let journal = || {
        tail(
            &guest.run(&["journalctl", "-u", &service.unit, "-n", "30", "--no-pager"]),
            30,
        )
    };
    let sh = |mode: &str| guest.run(&["sh", &inside, mode]);
    let setup = sh("setup");
    logged(dir, "fresh-setup", &setup);
    let check = if setup.status.success() {
        sh("check")
    } else {
        setup
    };
    if !logged(dir, "fresh-check", &check) {
        return Err(format!(
            "breaks on a fresh host (its first start under the drop-in, setup then check):\n{}\n{}",
            tail(&check, 15),
            journal()
        ));
    }
    Ok(())
}

/// `learner score`'s exposure of UNIT in the guest, with DROPIN when given.
fn score(guest: &Guest, unit: &str, dropin: Option<&Path>) -> Result<String, String> {
    let mut cmd = learner();
    cmd.args([
        "score",
        unit,
        "--format",
        "json",
        "--guest",
        &guest.pid.to_string(),
    ]);
    if let Some(d) = dropin {
        cmd.arg("--dropin").arg(d);
    }
    let out = cmd.output().map_err(|e| format!("learner score: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("learner score {unit} failed: {}", tail(&out, 5)))?;
    let key = if dropin.is_some() {
        "exposure_with_dropin"
    } else {
        "exposure"
    };
    json[key]
        .as_f64()
        .map(|e| format!("{e:.1}"))
        .ok_or_else(|| format!("learner score {unit}: no {key}: {json}"))
}
