//! Events judged by how the unit behaves without the drop-in (issue 28), on a real systemd
//! (a disposable guest): a service whose every stop ends with status 64 is recorded and
//! applied through its whole life; a service that answers its check 8 s after it is active;
//! a check that never passes; and a unit whose stop never ends (TimeoutStopSec=infinity,
//! SIGTERM ignored) rolled back within its bound.
use std::{
    path::Path,
    process::Output,
    time::{Duration, Instant},
};

use learner::model::profile::Profile;
use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

const DROPIN: &str = "50-learner-hardening.conf";

fn apply(guest: &Guest, unit: &str, dropin: &Path, extra: &[&str]) -> Output {
    let out = learner()
        .args(["apply", unit])
        .arg(dropin)
        .args(["--guest", &guest.pid.to_string()])
        .args(extra)
        .output()
        .expect("learner apply");
    eprintln!("learner apply {unit} {extra:?}:\n{}", text(&out));
    out
}

/// Ends with status 64 on SIGTERM (as a cache server's manager does on every stop, with or
/// without a drop-in, `STOP_STATUS` aside); SIGHUP is its reload; it logs each start.
const STOP64: &str = r#"#!/bin/sh
trap 'exit ${STOP_STATUS:-64}' TERM
trap 'echo reloaded >> /var/log/learner-stop64/stop64.log' HUP
echo started >> /var/log/learner-stop64/stop64.log
touch /run/learner-stop64/ready
while :; do sleep 1 & wait $!; done
"#;

#[test]
fn a_stop_that_always_ends_with_status_64_is_the_units_own() {
    let Some(_kernel) = privileged("a_stop_that_always_ends_with_status_64_is_the_units_own")
    else {
        return;
    };
    let dir = TempDir::new("baseline-stop64");
    let guest = Guest::boot("baseline-stop64");
    let pid = guest.pid.to_string();
    let unit = "learner-stop64.service";
    guest.write_mode("/usr/local/bin/learner-stop64", STOP64, 0o755);
    guest.write_mode(&format!("/etc/systemd/system/{unit}"),
        "[Service]\nRuntimeDirectory=learner-stop64\nExecStart=/usr/local/bin/learner-stop64\nExecReload=/bin/kill -HUP $MAINPID\n",
        0o644,
    );
    guest.write_mode("/etc/logrotate.d/learner-stop64",
        &format!(
            "/var/log/learner-stop64/stop64.log {{\n\tmissingok\n\trotate 1\n\tpostrotate\n\t\tsystemctl reload {unit}\n\tendscript\n}}\n"
        ),
        0o644,
    );
    guest.sh(&format!(
        "mkdir -p /var/log/learner-stop64 && systemctl daemon-reload && systemctl start {unit}"
    ));
    let check = format!("{} test -e /run/learner-stop64/ready", guest.nsenter());

    // Recorded through its whole life: every event carried out, each outcome kept.
    let profile = dir.join("stop64.profile.yaml");
    let out = learner()
        .args([
            "record",
            unit,
            "--restart",
            "--for",
            "1s",
            "--exercise",
            "all",
        ])
        .args(["--guest", &pid, "-o"])
        .arg(&profile)
        .output()
        .expect("learner record");
    let said = text(&out);
    eprintln!("learner record:\n{said}");
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("restart: passed") && said.contains("ends with status 64 (Result=exit-code)"),
        "{said}"
    );
    let p = Profile::load(&profile).expect("profile");
    for event in ["restart", "reload", "crash", "logrotate"] {
        let how = p.recording.exercised.get(event);
        assert!(
            how.is_some_and(|h| h.contains("passed")),
            "{event}: {how:?}"
        );
        let phases = &p.recording.baseline[event].phases;
        assert!(
            phases.last().is_some_and(|ph| ph.ended == "clean"),
            "{event}: {phases:?}"
        );
    }
    let restart = &p.recording.baseline["restart"].phases;
    assert_eq!(
        (
            restart[0].phase.as_str(),
            restart[0].ended.as_str(),
            restart[0].status
        ),
        ("stop", "exit-code", Some(64)),
        "{restart:?}"
    );
    assert_eq!(restart[1].phase, "start");
    assert_eq!(p.recording.baseline["reload"].phases[0].ended, "clean");
    let crash = &p.recording.baseline["crash"].phases;
    assert_eq!(
        (crash[0].phase.as_str(), crash[0].ended.as_str()),
        ("kill", "clean")
    );
    assert_eq!(p.recording.baseline["logrotate"].phases[0].phase, "rotate");
    assert_eq!(p.recording.startup_seen, Some(true));

    // Its drop-in, applied through the same events: the profile beside it (named in its
    // header) says that the stop ends with status 64 anyway.
    let dropin = dir.join("stop64.conf");
    let generated = learner_tests::generate_dropin(&profile, &dropin, &[]);
    assert!(generated.contains("stop64.profile.yaml"), "{generated}");
    let out = apply(
        &guest,
        unit,
        &dropin,
        &["--exercise", "all", "--check", &check],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}\n{generated}");
    assert!(
        said.contains(&format!("as recorded in {}", profile.display())),
        "{said}"
    );
    assert!(
        said.contains(
            "restart: as without the drop-in (as recorded): stop ends with status 64 (Result=exit-code)"
        ),
        "{said}"
    );
    assert!(
        said.contains("through restart, reload, crash, logrotate"),
        "{said}"
    );
    assert!(guest.is_active(unit));

    // A drop-in without a profile: apply takes the baseline itself, for the unclean stop only.
    let plain = dir.join("plain.conf");
    std::fs::write(&plain, "[Service]\nNoNewPrivileges=yes\nPrivateTmp=yes\n").expect("write");
    let out = apply(
        &guest,
        unit,
        &plain,
        &["--exercise", "restart", "--check", &check],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("taking that now"), "{said}");
    assert!(
        said.contains(
            "restart: as without the drop-in (taken just now): stop ends with status 64 (Result=exit-code)"
        ),
        "{said}"
    );
    assert!(guest.is_active(unit));

    // A drop-in that changes how the stop ends is worse: refused and rolled back.
    let worse = dir.join("worse.conf");
    std::fs::write(&worse, "[Service]\nEnvironment=STOP_STATUS=65\n").expect("write");
    let out = learner()
        .args(["apply", unit])
        .arg(&worse)
        .args(["--guest", &pid, "--exercise", "restart", "--check", &check])
        .arg("--profile")
        .arg(&profile)
        .output()
        .expect("learner apply");
    let said = text(&out);
    eprintln!("learner apply (worse):\n{said}");
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "is worse in the restart step under the drop-in: stop ends with status 65 (Result=exit-code); without the drop-in it ends with status 64 (Result=exit-code)"
        ),
        "{said}"
    );
    assert!(
        said.contains("the drop-in was replaced by the one there before"),
        "{said}"
    );
    assert!(said.contains("the unit is active again"), "{said}");
    assert!(guest.is_active(unit));
    let installed = std::fs::read_to_string(format!(
        "/proc/{pid}/root/etc/systemd/system/{unit}.d/{DROPIN}"
    ))
    .expect("the drop-in before");
    assert!(installed.contains("NoNewPrivileges=yes"), "{installed}");
    drop(guest);
    assert_clean("baseline-stop64");
}

/// The number in `..., 8.3s after it was active` of the check's line.
fn waited(said: &str) -> f64 {
    let line = said
        .lines()
        .find(|l| l.contains("passed its check under the drop-in"))
        .unwrap_or_else(|| panic!("no check line:\n{said}"));
    let (head, _) = line.split_once("s after it was active").expect("the wait");
    head.rsplit(' ').next().unwrap().parse().expect("seconds")
}

#[test]
fn the_check_waits_for_a_service_that_answers_late() {
    let Some(_kernel) = privileged("the_check_waits_for_a_service_that_answers_late") else {
        return;
    };
    let dir = TempDir::new("baseline-late");
    let guest = Guest::boot("baseline-late");
    let unit = "learner-late.service";
    guest.write_mode(&format!("/etc/systemd/system/{unit}"),
        "[Service]\nRuntimeDirectory=learner-late\nExecStart=/bin/sh -c 'sleep 8; touch /run/learner-late/ready; exec sleep infinity'\n",
        0o644,
    );
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {unit}"
    ));
    let dropin = dir.join("late.conf");
    std::fs::write(&dropin, "[Service]\nNoNewPrivileges=yes\n").expect("write");
    let check = format!("{} test -e /run/learner-late/ready", guest.nsenter());
    let out = apply(&guest, unit, &dropin, &["--check", &check]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    // 8 s from its start, less the 0.5 s apply watches it stay active before the check.
    let wait = waited(&said);
    assert!((7.0..30.0).contains(&wait), "{wait}: {said}");

    // A check that passes neither with the drop-in nor without: a bad check, not the drop-in.
    let never = format!("{} test -e /run/learner-late/never", guest.nsenter());
    let out = apply(
        &guest,
        unit,
        &dropin,
        &["--check", &never, "--timeout", "2s"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("fails it without the drop-in too: the check is bad"),
        "{said}"
    );
    assert!(
        said.contains("tried") && said.contains("times for"),
        "{said}"
    );
    drop(guest);
    assert_clean("baseline-late");
}

#[test]
fn rollback_kills_a_unit_whose_stop_never_ends() {
    let Some(_kernel) = privileged("rollback_kills_a_unit_whose_stop_never_ends") else {
        return;
    };
    let dir = TempDir::new("baseline-stuck");
    let guest = Guest::boot("baseline-stuck");
    let unit = "learner-stuck.service";
    // SIGTERM ignored (by the shell and, inherited, its sleeps), and systemd told to wait
    // for ever: only a SIGKILL ends a stop.
    guest.write_mode(&format!("/etc/systemd/system/{unit}"),
        "[Service]\nExecStart=/bin/sh -c 'trap \"\" TERM; while :; do sleep 1; done'\nTimeoutStopSec=infinity\n",
        0o644,
    );
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {unit}"
    ));
    let dropin = dir.join("stuck.conf");
    std::fs::write(&dropin, "[Service]\nNoNewPrivileges=yes\n").expect("write");
    // Fails only while the drop-in is there: the drop-in's fault, rolled back.
    let check = format!(
        "! {} test -e /etc/systemd/system/{unit}.d/{DROPIN}",
        guest.nsenter()
    );
    let started = Instant::now();
    let out = apply(
        &guest,
        unit,
        &dropin,
        &["--check", &check, "--timeout", "3s"],
    );
    let took = started.elapsed();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("killing it (SIGKILL"), "{said}");
    assert!(
        said.contains("its stop does not end in time: learner killed it (SIGKILL)")
            && said.contains("the unit is active again"),
        "{said}"
    );
    assert!(
        said.contains("without the drop-in it passes the check"),
        "{said}"
    );
    assert!(guest.is_active(unit));
    assert!(
        !Path::new(&format!(
            "/proc/{}/root/etc/systemd/system/{unit}.d/{DROPIN}",
            guest.pid
        ))
        .exists()
    );
    // Two stops bounded by --timeout (3 s) plus slack (5 s) each, then killed; the check's
    // 3 s; starts; attaching and detaching the denial watch.
    eprintln!("apply with two stuck stops took {took:?}");
    assert!(took < Duration::from_secs(45), "{took:?}");
    drop(guest);
    assert_clean("baseline-stuck");
}

/// Its start refuses while a marker of an unclean stop is there: after a crash it cannot come
/// up again.
const FRAGILE: &str = "[Service]
RuntimeDirectory=learner-fragile
RuntimeDirectoryPreserve=yes
ExecStartPre=/bin/sh -c 'test ! -e /run/learner-fragile/running'
ExecStart=/bin/sh -c 'touch /run/learner-fragile/running; exec sleep infinity'
ExecStopPost=/bin/sh -c 'if [ \"$SERVICE_RESULT\" = success ]; then rm -f /run/learner-fragile/running; fi'
";

#[test]
fn a_recording_whose_event_cannot_be_carried_out_is_not_a_profile() {
    let Some(_kernel) =
        privileged("a_recording_whose_event_cannot_be_carried_out_is_not_a_profile")
    else {
        return;
    };
    let dir = TempDir::new("baseline-fragile");
    let guest = Guest::boot("baseline-fragile");
    let unit = "learner-fragile.service";
    guest.write_mode(&format!("/etc/systemd/system/{unit}"), FRAGILE, 0o644);
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {unit}"
    ));
    let profile = dir.join("fragile.profile.yaml");
    let out = learner()
        .args(["record", unit, "--exercise", "restart,crash,logrotate"])
        .args(["--guest", &guest.pid.to_string(), "-o"])
        .arg(&profile)
        .output()
        .expect("learner record");
    let said = text(&out);
    eprintln!("learner record:\n{said}");
    assert_eq!(out.status.code(), Some(1), "{said}");
    // The restart (a clean stop) was carried out; the crash was not, and nothing after it.
    assert!(said.contains("restart: passed"), "{said}");
    let last = said.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!(
            "{unit} could not be driven through its crash: killed"
        )) && last.contains("failed to start")
            && last.contains("(logrotate not exercised)")
            && last.contains("fragile.profile.partial.yaml"),
        "{said}"
    );
    assert!(!profile.exists());
    let partial = Profile::load(&dir.join("fragile.profile.partial.yaml")).expect("partial");
    assert!(partial.recording.exercised["crash"].contains("FAILED"));
    assert!(partial.recording.baseline.contains_key("restart"));
    assert!(!partial.recording.baseline.contains_key("crash"));
    drop(guest);
    assert_clean("baseline-fragile");
}
