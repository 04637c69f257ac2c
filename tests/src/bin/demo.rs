//! `cargo xtask demo`: learner's main job on a real service. Boots the tests' disposable
//! systemd (see `learner_tests::guest`), records Debian's nginx there from a restart on under a
//! short load with a reload, generates the drop-in with its evidence, applies it with an HTTP
//! check, and prints the exposure before and after. The guest goes away at the end, also on
//! failure or Ctrl-C; nothing is installed on this machine.
//!
//! Usage: `LEARNER_BIN=target/debug/learner demo OUTDIR` (xtask passes both).
use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use learner_tests::{guest::Guest, learner, learner_bin, machine_turn};

/// How long `learner record` runs: long enough for a start-up, load and a reload.
const RECORD_FOR: &str = "8s";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn interrupted(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: demo OUTDIR");
        return ExitCode::from(2);
    };
    // A handler, not SIG_IGN: learner, started from here, must still get the terminal's
    // Ctrl-C (it then writes what it recorded), and the guest is torn down on the way out.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, interrupted as *const () as libc::sighandler_t) };
    }
    match demo(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(out: &Path) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the demo loads eBPF programs and boots a systemd: run it as root".into());
    }
    if !Path::new("/usr/sbin/nginx").exists() {
        return Err("Debian's nginx is not installed: `cargo xtask setup` installs it".into());
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let out = &std::fs::canonicalize(out).map_err(|e| format!("{}: {e}", out.display()))?;
    // A test's clean-state checks would trip over the demo's guest and programs.
    let _turn = machine_turn(|| step("waiting for the privileged tests running on this machine"))?;

    step("booting a disposable systemd (an overlay of this machine's root; nothing leaves it)");
    let started = Instant::now();
    let guest = Guest::try_boot("demo")?;
    let pid = guest.pid.to_string();
    let version = String::from_utf8_lossy(&guest.run(&["systemctl", "--version"]).stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    eprintln!(
        "   {version} is PID 1 of its namespaces (PID {pid} here), up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !guest.is_active("nginx.service") || guest.http_status("http://127.0.0.1/") != "200" {
        return Err("nginx.service is not serving in the guest".into());
    }
    interrupted_yet()?;

    let before = score(&guest)?;
    step(&format!(
        "nginx.service serves, with systemd's exposure {before} (systemd-analyze security; 10 is the worst)"
    ));

    let profile = out.join("nginx.profile.yaml");
    step(
        "recording nginx from a restart on, under load, with a reload half way, then through its life (restart, reload, crash, log rotation)",
    );
    let mut recording = learner();
    recording
        .args(["record", "nginx.service", "--restart", "--for", RECORD_FOR])
        .args(["--exercise", "all"])
        .arg("-o")
        .arg(&profile);
    show(&recording, &[]);
    let mut recording = recording
        .args(["--guest", &pid])
        .spawn()
        .map_err(|e| format!("cannot start learner: {e}"))?;
    let served = load(&guest);
    let recorded = recording
        .wait()
        .map_err(|e| format!("learner record: {e}"))?;
    interrupted_yet()?;
    if !recorded.success() {
        return Err(format!("learner record failed ({recorded})"));
    }
    eprintln!("   load: {served}");

    let dropin = out.join("hardening.conf");
    step("generating the tightest drop-in the recording permits, with the evidence for each line");
    let mut generate = learner();
    generate
        .arg("generate")
        .arg(&profile)
        .arg("--explain")
        .arg("-o")
        .arg(&dropin);
    show(&generate, &[]);
    succeed(&mut generate, "learner generate")?;
    let text =
        std::fs::read_to_string(&dropin).map_err(|e| format!("{}: {e}", dropin.display()))?;
    println!("{text}");
    interrupted_yet()?;

    step("applying it: install, restart, check nginx serves; roll back if not");
    let check = "curl -fsS -o /dev/null --max-time 5 http://127.0.0.1/";
    let mut apply = learner();
    apply.args(["apply", "nginx.service"]).arg(&dropin);
    show(&apply, &["--check", check]);
    // The check runs inside the guest, where nginx listens.
    apply.args([
        "--check",
        &format!("{} {check}", guest.nsenter()),
        "--guest",
        &pid,
    ]);
    succeed(&mut apply, "learner apply")?;
    let after = score(&guest)?;
    let not_found = guest.http_status("http://127.0.0.1/no-such-page");
    step(&format!(
        "nginx.service serves under the drop-in (a missing page still gets {not_found}); exposure {before} -> {after}"
    ));

    eprintln!(
        "\nfiles:\n   {}  the recording (what nginx did)\n   {}  the drop-in (installed in the guest as /etc/systemd/system/nginx.service.d/50-learner-hardening.conf)\n\
         on a real host: sudo learner record nginx.service --restart --for 10m, then the same generate and apply",
        profile.display(),
        dropin.display()
    );
    step("powering the guest off");
    drop(guest);
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n== {what}");
}

/// Prints a learner command line (and `more` arguments) as a user would type it on the host
/// it runs on: without the `--guest` that reaches the demo's systemd.
fn show(cmd: &Command, more: &[&str]) {
    let args: Vec<String> = cmd
        .get_args()
        .chain(more.iter().map(std::ffi::OsStr::new))
        .map(|a| {
            let a = a.to_string_lossy();
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect();
    let bin = learner_bin();
    let name = bin.file_name().unwrap_or_default().to_string_lossy();
    eprintln!("$ {name} {}", args.join(" "));
}

fn succeed(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{what}: {e}"))?;
    interrupted_yet()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn interrupted_yet() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err("interrupted; the guest is powered off".into())
    } else {
        Ok(())
    }
}

/// `learner score`'s exposure of nginx.service.
fn score(guest: &Guest) -> Result<String, String> {
    let out = learner()
        .args(["score", "nginx.service", "--guest", &guest.pid.to_string()])
        .output()
        .map_err(|e| format!("learner score: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .filter(|_| out.status.success())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "learner score failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
}

/// Load while `learner record` runs: waits for the restarted nginx, then pages and a 404
/// (wrk and curl inside the guest), a reload, and more pages. Returns what was served.
fn load(guest: &Guest) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    while guest.http_status("http://127.0.0.1/") != "200" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut requests = 0u64;
    let mut wrk = |guest: &Guest| {
        let out = guest.run(&["wrk", "-t1", "-c4", "-d2s", "http://127.0.0.1/"]);
        // "  12345 requests in 2.00s, ..."
        requests += String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    };
    wrk(guest);
    let missing = guest.http_status("http://127.0.0.1/no-such-page");
    let reload = guest.run(&["systemctl", "reload", "nginx.service"]);
    wrk(guest);
    format!(
        "{requests} requests (wrk), a missing page ({missing}), a reload ({})",
        if reload.status.success() {
            "done"
        } else {
            "failed"
        }
    )
}
