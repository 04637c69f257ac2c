//! `learner watch` on a real service under a real systemd (a disposable guest), against a
//! candidate drop-in that lacks one ReadWritePaths= entry and one capability: the write and
//! the privileged call are each reported once, within 2 s, with directive and fix; what the
//! drop-in permits never is; the watch follows the unit through three restarts; a watcher
//! killed with SIGKILL and started again with its state file repeats no report.
use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use learner_tests::{ChildGuard, TempDir, assert_no_programs, guest::Guest, learner, privileged};

const UNIT: &str = "learner-watch.service";
const MESSAGE_ID: &str = "36bc78ec5789485ea20c2b847b732093";

/// While /run/learner-watch-go exists, writes in ok/ (permitted) and denied/ (not), and gives
/// ok/c to another owner (CAP_CHOWN, not in the candidate's bounding set; a file nothing
/// writes, since root writing another's file checks CAP_FOWNER too); while
/// /run/learner-watch-go2 exists, writes in denied2/ too.
const SERVICE: &str = "[Unit]
Description=learner watch test
[Service]
ExecStart=/bin/sh -c 'while :; do if [ -e /run/learner-watch-go ]; then echo a > /var/lib/learner-watch/ok/y; echo b > /var/lib/learner-watch/denied/x; chown 1 /var/lib/learner-watch/ok/c; fi; if [ -e /run/learner-watch-go2 ]; then echo c > /var/lib/learner-watch/denied2/z; fi; sleep 0.2; done'
";

/// Lacks ReadWritePaths= for denied/ and CAP_CHOWN. CAP_SYS_ADMIN is permitted: on the
/// guest's overlay root, lookups and creations check it with the overlay's own credentials,
/// which the recording does not always tell from the service's (record and verify alike).
const CANDIDATE: &str = "[Service]
ProtectSystem=strict
ReadWritePaths=/var/lib/learner-watch/ok
CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_SYS_ADMIN
PrivateTmp=yes
";

/// A running watcher: its stdout lines as they come, with when they came.
struct Watcher {
    child: ChildGuard,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl Watcher {
    fn start(guest: &Guest, dropin: &str, state: &str, textfile: &str) -> Watcher {
        let mut child: Child = learner()
            .args([
                "watch",
                UNIT,
                "--dropin",
                dropin,
                "--state",
                state,
                "--textfile",
                textfile,
                "--format",
                "json",
                "--guest",
                &guest.pid.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("learner watch");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("watcher: {line}");
                if line.starts_with("learner: watching ") {
                    let _ = ready_tx.send(());
                }
            }
        });
        // Attached, and a first judgement made: from here on what the unit does is seen.
        ready
            .recv_timeout(Duration::from_secs(30))
            .expect("the watcher never said it was watching");
        Watcher {
            child: ChildGuard(child),
            lines,
        }
    }

    /// The JSON lines that came within `wait`.
    fn collect(&self, wait: Duration) -> Vec<(Instant, serde_json::Value)> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => out.push((
                    at,
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
                )),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }
}

fn denials(lines: &[(Instant, serde_json::Value)]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["event"] == "would-deny")
        .collect()
}

#[test]
fn reports_each_would_be_denial_once_across_restarts_of_the_unit_and_of_itself() {
    let Some(_kernel) = privileged("reports_each_would_be_denial_once") else {
        return;
    };
    let dir = TempDir::new("watch");
    let guest = Guest::boot("watch");
    guest.write(&format!("/etc/systemd/system/{UNIT}"), SERVICE);
    guest.sh(&format!(
        "mkdir -p /var/lib/learner-watch/ok /var/lib/learner-watch/denied /var/lib/learner-watch/denied2 && cd /var/lib/learner-watch && touch ok/c ok/y denied/x denied2/z && systemctl daemon-reload && systemctl start {UNIT}"
    ));
    assert!(guest.is_active(UNIT));
    let dropin = dir.join("candidate.conf");
    std::fs::write(&dropin, CANDIDATE).unwrap();
    let dropin = dropin.to_str().unwrap().to_owned();
    let state = dir.join("watch.state");
    let state = state.to_str().unwrap().to_owned();
    let textfile = dir.join("watch.prom");
    let textfile = textfile.to_str().unwrap().to_owned();

    let watcher = Watcher::start(&guest, &dropin, &state, &textfile);
    // Nothing happens yet that the candidate denies.
    let quiet = watcher.collect(Duration::from_millis(1500));
    assert!(denials(&quiet).is_empty(), "{quiet:?}");

    let go = Instant::now();
    guest.sh("touch /run/learner-watch-go");
    // Written and chowned five times a second: still one report each.
    let lines = watcher.collect(Duration::from_secs(4));
    let reported = denials(&lines);
    // Kept at once with each new report: the checks behind them, for a failure's message.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("the state file"))
            .expect("JSON");
    eprintln!(
        "capability checks so far: {:#}",
        saved["profile"]["capabilities"]
    );
    let fixes: Vec<&str> = reported
        .iter()
        .map(|d| d["fix"].as_str().unwrap())
        .collect();
    assert_eq!(
        fixes.len(),
        2,
        "one report for the write and one for the capability: {reported:#?}"
    );
    let write = reported
        .iter()
        .find(|d| d["directive"] == "ProtectSystem=strict")
        .unwrap_or_else(|| panic!("no write reported: {reported:#?}"));
    assert_eq!(
        write["fix"], "add ReadWritePaths=-/var/lib/learner-watch/denied",
        "{write:#}"
    );
    assert!(
        write["operation"]
            .as_str()
            .unwrap()
            .ends_with(" /var/lib/learner-watch/denied/x"),
        "{write:#}"
    );
    assert_eq!(write["processes"], serde_json::json!(["sh"]), "{write:#}");
    let cap = reported
        .iter()
        .find(|d| d["directive"] == "CapabilityBoundingSet")
        .unwrap_or_else(|| panic!("no capability reported: {reported:#?}"));
    assert_eq!(cap["fix"], "add CapabilityBoundingSet=CAP_CHOWN", "{cap:#}");
    assert_eq!(cap["processes"], serde_json::json!(["chown"]), "{cap:#}");
    for (at, line) in &lines {
        if line["event"] == "would-deny" {
            let after = at.duration_since(go);
            assert!(
                after < Duration::from_secs(2),
                "reported {after:?} after it began: {line}"
            );
        }
    }

    // Three restarts: the watch goes on, repeating nothing, and sees what comes after them.
    for _ in 0..3 {
        guest.sh(&format!("systemctl restart {UNIT}"));
        assert!(guest.is_active(UNIT));
        std::thread::sleep(Duration::from_millis(500));
    }
    let after_restarts = watcher.collect(Duration::from_secs(2));
    assert!(denials(&after_restarts).is_empty(), "{after_restarts:?}");
    let go2 = Instant::now();
    guest.sh("touch /run/learner-watch-go2");
    let lines = watcher.collect(Duration::from_secs(3));
    let reported = denials(&lines);
    assert_eq!(reported.len(), 1, "{reported:#?}");
    assert_eq!(
        reported[0]["fix"], "add ReadWritePaths=-/var/lib/learner-watch/denied2",
        "{:#}",
        reported[0]
    );
    let at = lines
        .iter()
        .find(|(_, l)| l["event"] == "would-deny")
        .map(|(at, _)| *at)
        .expect("reported");
    assert!(at.duration_since(go2) < Duration::from_secs(2));

    // Killed outright: no summary, no save on the way out.
    let Watcher { mut child, lines } = watcher;
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
    drop(lines);

    // Started again with its state, the unit still doing all three: nothing is repeated.
    let watcher = Watcher::start(&guest, &dropin, &state, &textfile);
    let quiet = watcher.collect(Duration::from_secs(3));
    assert!(denials(&quiet).is_empty(), "repeated: {quiet:#?}");
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(watcher.child.pid(), libc::SIGINT) };
    let last = watcher.collect(Duration::from_secs(15));
    let Watcher { mut child, .. } = watcher;
    let status = child.0.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "something would have been denied");
    let summary = &last.last().expect("a summary").1;
    assert_eq!(summary["event"], "summary", "{summary:#}");
    assert_eq!(summary["would_deny"], 3, "{summary:#}");
    assert_eq!(summary["new"], 0, "{summary:#}");
    assert_eq!(summary["lost_events"], 0, "{summary:#}");
    let prom = std::fs::read_to_string(&textfile).expect("the textfile");
    assert!(
        prom.contains(&format!(
            "learner_watch_would_deny_total{{unit=\"{UNIT}\"}} 3\n"
        )),
        "{prom}"
    );

    // Each report is in the unit's journal too, under learner's MESSAGE_ID.
    let journal = guest.sh(&format!(
        "journalctl --no-pager -o cat MESSAGE_ID={MESSAGE_ID} LEARNER_UNIT={UNIT}"
    ));
    assert_eq!(journal.lines().count(), 3, "{journal}");
    for fix in [
        "add ReadWritePaths=-/var/lib/learner-watch/denied",
        "add ReadWritePaths=-/var/lib/learner-watch/denied2",
        "add CapabilityBoundingSet=CAP_CHOWN",
    ] {
        assert!(
            journal.lines().any(|l| l.ends_with(fix)),
            "no `{fix}` in the journal:\n{journal}"
        );
    }
    drop(guest);
    assert_no_programs("watch");
}

/// Permits everything the service does while no trigger file exists.
const PERMISSIVE: &str = "[Service]
ProtectSystem=full
NoNewPrivileges=yes
";

#[test]
fn promotes_a_quiet_drop_in_and_never_one_that_would_deny() {
    let Some(_kernel) = privileged("promotes_a_quiet_drop_in") else {
        return;
    };
    let dir = TempDir::new("watch-promote");
    let guest = Guest::boot("watch-promote");
    guest.write(&format!("/etc/systemd/system/{UNIT}"), SERVICE);
    guest.sh(&format!(
        "mkdir -p /var/lib/learner-watch/ok /var/lib/learner-watch/denied /var/lib/learner-watch/denied2 && touch /var/lib/learner-watch/ok/c /run/learner-watch-go && systemctl daemon-reload && systemctl start {UNIT}"
    ));
    let watch = |dropin: &str, after: &str, more: &[&str]| {
        let path = dir.join(&format!("{after}.conf"));
        std::fs::write(&path, dropin).unwrap();
        let check = format!("{} systemctl is-active --quiet {UNIT}", guest.nsenter());
        let out = learner()
            .args(["watch", UNIT, "--dropin", path.to_str().unwrap()])
            .args(["--promote-after", after, "--check", &check])
            .args(more)
            .args(["--guest", &guest.pid.to_string()])
            .output()
            .expect("learner watch");
        eprintln!("{}", learner_tests::text(&out));
        out
    };
    let installed = format!("/etc/systemd/system/{UNIT}.d/50-learner-hardening.conf");

    // Would deny: watched, reported, never applied.
    let out = watch(CANDIDATE, "3s", &["--for", "6s"]);
    assert_eq!(out.status.code(), Some(1), "{}", learner_tests::text(&out));
    assert!(
        !guest.run(&["test", "-e", &installed]).status.success(),
        "applied a drop-in that would deny"
    );

    // Quiet for 20 s: applied, and the unit serves under it.
    guest.sh("rm /run/learner-watch-go");
    let begun = Instant::now();
    let out = watch(PERMISSIVE, "20s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", learner_tests::text(&out));
    assert!(begun.elapsed() >= Duration::from_secs(20));
    assert!(guest.run(&["test", "-e", &installed]).status.success());
    assert!(guest.is_active(UNIT));
    let shown = guest.sh(&format!("systemctl show -p ProtectSystem {UNIT}"));
    assert_eq!(shown.trim(), "ProtectSystem=full");
    drop(guest);
    assert_no_programs("watch-promote");
}

/// The shipped template unit and the learned hardening beside it (learner/systemd/).
const TEMPLATE: &str = include_str!("../../learner/systemd/learner-watch@.service");
const TEMPLATE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../learner/systemd");

/// A small service for the template to watch: writes in ok/ always, in denied/ while
/// /run/shadowed-go exists.
const SHADOWED: &str = "[Unit]
Description=watched by learner-watch@shadowed
[Service]
ExecStart=/bin/sh -c 'while :; do echo a > /var/lib/shadowed/ok/y; if [ -e /run/shadowed-go ]; then echo b > /var/lib/shadowed/denied/x; fi; sleep 0.2; done'
";

/// The candidate for shadowed.service: lacks ReadWritePaths= for denied/.
const SHADOWED_CANDIDATE: &str = "[Service]
ProtectSystem=strict
ReadWritePaths=/var/lib/shadowed/ok
PrivateTmp=yes
";

/// In `guest`: the template as the packages install it (learner at /usr/bin/learner, here
/// the build under test), `hardened` with its learned drop-in, shadowed.service running, its
/// candidate in /etc/learner/watch, and node-exporter's textfile directory.
fn install_template(guest: &Guest, hardened: bool) {
    let root = format!("/proc/{}/root", guest.pid);
    // A copy, not a link: the guest has a /tmp of its own, and a checkout under /tmp (CI's)
    // would not be there.
    std::fs::copy(
        learner_tests::learner_bin(),
        format!("{root}/usr/bin/learner"),
    )
    .expect("learner in the guest");
    guest.write("/lib/systemd/system/learner-watch@.service", TEMPLATE);
    if hardened {
        let conf = std::fs::read_to_string(format!(
            "{TEMPLATE_DIR}/learner-watch@.service.d/hardening.conf"
        ))
        .expect("the shipped hardening");
        guest.write(
            "/lib/systemd/system/learner-watch@.service.d/hardening.conf",
            &conf,
        );
    }
    guest.write("/etc/systemd/system/shadowed.service", SHADOWED);
    guest.write("/etc/learner/watch/shadowed.conf", SHADOWED_CANDIDATE);
    // A host has /dev/kmsg (where the watch reads seccomp's kills); the guest's /dev lacks it.
    guest.sh(
        "mknod -m 600 /dev/kmsg c 1 11 && mkdir -p /var/lib/shadowed/ok /var/lib/shadowed/denied /var/lib/prometheus/node-exporter && touch /var/lib/shadowed/ok/y /var/lib/shadowed/denied/x && systemctl daemon-reload && systemctl start shadowed.service",
    );
    assert!(guest.is_active("shadowed.service"));
}

/// Polls `check` for up to `wait`; its last answer.
fn within(wait: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

const WATCHER: &str = "learner-watch@shadowed.service";
const PROM: &str = "/var/lib/prometheus/node-exporter/learner-watch-shadowed.prom";

/// The shipped template, with its learned hardening, started in a real systemd against a
/// small unit and a candidate lacking one path: the would-be denial reaches the journal
/// (learner's MESSAGE_ID) and the textfile, the state is kept in its StateDirectory, and a
/// stop is a clean end (exit 1, a finding, is not a failure).
#[test]
fn the_shipped_template_hardened_reports_to_the_journal_and_the_textfile() {
    let Some(_kernel) = privileged("the_shipped_template_hardened") else {
        return;
    };
    let guest = Guest::boot("watch-template");
    install_template(&guest, true);
    guest.sh(&format!("systemctl start {WATCHER}"));
    let started = within(Duration::from_secs(30), || {
        guest
            .sh(&format!(
                "journalctl --no-pager -o cat -u {WATCHER} | grep -c 'learner: watching' || true"
            ))
            .trim()
            != "0"
    });
    let log = |guest: &Guest| {
        guest.sh(&format!(
            "systemctl status --no-pager {WATCHER} || true; journalctl --no-pager -o cat -u {WATCHER}"
        ))
    };
    assert!(
        started,
        "the watcher never said it was watching:\n{}",
        log(&guest)
    );
    // Nothing denied yet: the textfile says 0.
    let prom = format!("/proc/{}/root{PROM}", guest.pid);
    assert!(
        within(Duration::from_secs(5), || std::fs::read_to_string(&prom)
            .is_ok_and(|t| t.contains(
                "learner_watch_would_deny_total{unit=\"shadowed.service\"} 0\n"
            ))),
        "no textfile at {PROM}:\n{}",
        log(&guest)
    );

    guest.sh("touch /run/shadowed-go");
    let fix = "add ReadWritePaths=-/var/lib/shadowed/denied";
    let journal = || {
        guest.sh(&format!(
            "journalctl --no-pager -o cat MESSAGE_ID={MESSAGE_ID} LEARNER_UNIT=shadowed.service"
        ))
    };
    assert!(
        within(Duration::from_secs(5), || journal()
            .lines()
            .any(|l| l.ends_with(fix))),
        "no `{fix}` in the journal:\n{}\n{}",
        journal(),
        log(&guest)
    );
    // Logged by the watcher's unit, with the fields `journalctl` filters on.
    let entry = guest.sh(&format!(
        "journalctl --no-pager -o verbose MESSAGE_ID={MESSAGE_ID} LEARNER_UNIT=shadowed.service"
    ));
    assert!(
        entry.contains(&format!("_SYSTEMD_UNIT={WATCHER}")),
        "{entry}"
    );
    assert!(
        entry.contains("LEARNER_DROPIN=/etc/learner/watch/shadowed.conf"),
        "{entry}"
    );
    assert!(
        within(Duration::from_secs(5), || std::fs::read_to_string(&prom)
            .is_ok_and(|t| t.contains(
                "learner_watch_would_deny_total{unit=\"shadowed.service\"} 1\n"
            ))),
        "{:?}",
        std::fs::read_to_string(&prom)
    );
    assert_eq!(journal().lines().count(), 1, "{}", journal());

    // Stopped: a summary, the state saved, and the unit inactive, not failed, though the
    // watch exits 1 (something would have been denied).
    guest.sh(&format!("systemctl stop {WATCHER}"));
    let state = guest.sh("cat /var/lib/learner/watch/shadowed.state");
    assert!(state.contains(fix), "{state}");
    let result = guest.sh(&format!(
        "systemctl show -p Result -p ActiveState {WATCHER}"
    ));
    assert!(
        result.contains("Result=success") && result.contains("ActiveState=inactive"),
        "{result}\n{}",
        log(&guest)
    );
    assert!(
        log(&guest).contains("(interrupted): 1 would-be denial(s)"),
        "{}",
        log(&guest)
    );
    assert_eq!(journal().lines().count(), 1, "repeated: {}", journal());
    drop(guest);
    assert_no_programs("watch-template");
}

/// The evidence behind the shipped hardening, and its check. The template, without its
/// hardening, is recorded from its start (`learner record --restart`) while it watches,
/// reports a would-be denial (journal, textfile, state), follows a restart of the watched
/// unit, and is restarted itself (a stop's last save, a start from its state); the shipped
/// drop-in permits all of it (`learner verify`). The recording and a drop-in generated from it
/// are left in target/watch-template/: how the shipped one was made (see README).
#[test]
fn the_shipped_hardening_permits_what_the_template_does() {
    let Some(_kernel) = privileged("the_shipped_hardening_permits") else {
        return;
    };
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/watch-template");
    std::fs::create_dir_all(&out_dir).unwrap();
    let profile = out_dir.join("learner-watch.profile.yaml");
    let generated = out_dir.join("hardening.conf");
    let _ = std::fs::remove_file(&profile);
    let guest = Guest::boot("watch-template-record");
    install_template(&guest, false);
    guest.sh(&format!("systemctl start {WATCHER}"));
    let mut record = ChildGuard(
        learner()
            .args(["record", WATCHER, "--restart", "--for", "30s", "--quiet"])
            .args(["--guest", &guest.pid.to_string(), "-o"])
            .arg(&profile)
            .spawn()
            .expect("learner record"),
    );
    // What the watcher does in a day, in 30 s.
    std::thread::sleep(Duration::from_secs(8));
    guest.sh("touch /run/shadowed-go");
    std::thread::sleep(Duration::from_secs(5));
    guest.sh("systemctl restart shadowed.service");
    std::thread::sleep(Duration::from_secs(5));
    guest.sh(&format!("systemctl restart {WATCHER}"));
    std::thread::sleep(Duration::from_secs(5));
    guest.sh("rm /run/shadowed-go; systemctl restart shadowed.service");
    let status = record.0.wait().expect("wait");
    assert!(status.success(), "learner record: {status}");
    let journal = guest.sh(&format!(
        "journalctl --no-pager -o cat MESSAGE_ID={MESSAGE_ID} LEARNER_UNIT=shadowed.service"
    ));
    let log = guest.sh(&format!("journalctl --no-pager -o cat -u {WATCHER}"));
    std::fs::write(out_dir.join("watcher.log"), &log).unwrap();
    drop(guest);
    assert_no_programs("watch-template-record");
    assert_eq!(
        journal.lines().count(),
        1,
        "the watcher reported: {journal}\nits log:\n{log}"
    );

    let out = learner()
        .args(["generate", "--explain", "-o"])
        .arg(&generated)
        .arg(&profile)
        .output()
        .expect("learner generate");
    assert!(out.status.success(), "{}", learner_tests::text(&out));
    let shipped = format!("{TEMPLATE_DIR}/learner-watch@.service.d/hardening.conf");
    let out = learner()
        .args(["verify", &shipped])
        .arg(&profile)
        .output()
        .expect("learner verify");
    assert!(
        out.status.success(),
        "the shipped hardening denies what the template does (a fresh one: {}):\n{}",
        generated.display(),
        learner_tests::text(&out)
    );
}
