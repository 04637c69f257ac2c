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
