//! `learner apply` on a real systemd (a disposable guest): a oneshot job judged by its run
//! (Debian's logrotate.service), a unit whose stop takes longer than 30 s, and `--exercise`
//! catching a drop-in that breaks only in crash recovery.
use std::{
    process::Output,
    time::{Duration, Instant},
};

use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

const DROPIN: &str = "50-learner-hardening.conf";

fn show(guest: &Guest, unit: &str, properties: &str) -> String {
    guest.sh(&format!("systemctl show --property={properties} -- {unit}"))
}

fn apply(guest: &Guest, unit: &str, dropin: &std::path::Path, extra: &[&str]) -> Output {
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

#[test]
fn a_oneshot_job_is_judged_by_its_run_and_rolled_back_as_it_was() {
    let Some(_kernel) = privileged("a_oneshot_job_is_judged_by_its_run") else {
        return;
    };
    assert!(
        std::path::Path::new("/lib/systemd/system/logrotate.service").exists(),
        "`cargo xtask setup` installs logrotate"
    );
    let dir = TempDir::new("apply-logrotate");
    let guest = Guest::boot("apply-job");
    let pid = guest.pid.to_string();
    let unit = "logrotate.service";
    let timer = "logrotate.timer";
    // The guest masks the timer; loaded (not started), it references the job, so systemd
    // keeps the job's last result instead of unloading it after each run.
    guest.sh(&format!(
        "rm /run/systemd/system/{timer} && systemctl daemon-reload"
    ));
    let timer_before = show(&guest, timer, "LoadState,ActiveState,UnitFileState");
    assert!(timer_before.contains("LoadState=loaded"), "{timer_before}");
    assert_eq!(show(&guest, unit, "Type"), "Type=oneshot\n");

    // Record one run (the recording ends with the job), generate, apply.
    let profile = dir.join("logrotate.profile.yaml");
    let out = learner()
        .args([
            "record",
            unit,
            "--restart",
            "--format",
            "json",
            "--guest",
            &pid,
            "-o",
        ])
        .arg(&profile)
        .output()
        .expect("learner record");
    assert!(out.status.success(), "{}", text(&out));
    let json = learner_tests::json_output("record", &out.stdout);
    assert_eq!(json["unit"], unit, "{json}");
    assert_eq!(json["profile"], profile.display().to_string(), "{json}");
    assert_eq!(json["ended_because"], "the unit stopped", "{json}");
    let dropin = dir.join("logrotate.conf");
    let generated = learner_tests::generate_dropin(&profile, &dropin, &[]);
    assert!(
        generated.contains("-/var/lib/logrotate"),
        "the state file's directory is writable:\n{generated}"
    );

    let out = apply(&guest, unit, &dropin, &["--format", "json"]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    let json = learner_tests::json_output("apply", &out.stdout);
    assert_eq!(json["applied"], true, "{json}");
    assert!(
        json["job"]
            .as_str()
            .is_some_and(|j| j.contains("succeeded")),
        "{json}"
    );
    assert!(
        text(&out).contains("succeeded (Result=success, ExecMainStatus=0)"),
        "{}",
        text(&out)
    );
    // The run under the drop-in really happened and succeeded.
    assert_eq!(
        show(&guest, unit, "Result,ExecMainStatus,ActiveState"),
        "Result=success\nExecMainStatus=0\nActiveState=inactive\n"
    );
    assert!(
        show(&guest, unit, "DropInPaths").contains(DROPIN),
        "the drop-in stays"
    );

    // Without its state directory in ReadWritePaths the job fails: refused, put back as it was.
    guest.sh(&format!(
        "rm /etc/systemd/system/{unit}.d/{DROPIN} && systemctl daemon-reload"
    ));
    let before = show(&guest, unit, "ActiveState,SubState,Result,DropInPaths");
    let broken = dir.join("broken.conf");
    let without: String = generated
        .lines()
        .map(|l| match l.strip_prefix("ReadWritePaths=") {
            Some(paths) if !paths.is_empty() => {
                let kept: Vec<&str> = paths
                    .split_whitespace()
                    .filter(|p| *p != "-/var/lib/logrotate")
                    .collect();
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("ReadWritePaths={}", kept.join(" "))
                }
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(without, generated.trim_end());
    std::fs::write(&broken, format!("{without}\n")).expect("write");
    let out = apply(&guest, unit, &broken, &["--format", "json"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let json = learner_tests::json_output("apply", &out.stdout);
    assert_eq!(json["applied"], false, "{json}");
    assert!(
        json["failure"]["rollback"]
            .as_str()
            .is_some_and(|r| r.contains("a job, not run again")),
        "{json}"
    );
    assert!(
        said.contains("ran and failed") && said.contains("Result=exit-code"),
        "{said}"
    );
    assert!(
        said.contains("/var/lib/logrotate") && said.contains("Read-only file system"),
        "the EROFS write is named:\n{said}"
    );
    assert!(
        said.contains("logrotate: write /var/lib/logrotate/status -> EROFS")
            && said.contains("ProtectSystem=strict; add ReadWritePaths=-/var/lib/logrotate"),
        "the denial and its fix are shown:\n{said}"
    );
    assert!(said.contains("a job, not run again"), "{said}");
    assert!(
        !std::path::Path::new(&format!(
            "/proc/{pid}/root/etc/systemd/system/{unit}.d/{DROPIN}"
        ))
        .exists(),
        "the drop-in is removed"
    );
    assert_eq!(
        show(&guest, unit, "ActiveState,SubState,Result,DropInPaths"),
        before,
        "the unit is as it was (and systemd reloaded)"
    );
    assert_eq!(
        show(&guest, timer, "LoadState,ActiveState,UnitFileState"),
        timer_before
    );
    drop(guest);
    assert_clean("apply-job");
}

#[test]
fn waits_follow_a_stop_longer_than_30s() {
    let Some(_kernel) = privileged("waits_follow_a_stop_longer_than_30s") else {
        return;
    };
    let dir = TempDir::new("apply-slow");
    let guest = Guest::boot("apply-slow");
    let unit = "learner-slow-stop.service";
    guest.write(&format!("/etc/systemd/system/{unit}"),
        "[Service]\nExecStart=/bin/sh -c 'while :; do sleep 1; done'\nExecStop=/bin/sleep 31\nTimeoutStopSec=60\n",
    );
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {unit}"
    ));
    let dropin = dir.join("slow.conf");
    std::fs::write(&dropin, "[Service]\nNoNewPrivileges=yes\n").expect("write");
    // The check fails while the drop-in is there, so both the apply's restart and the
    // rollback's wait out a 31 s stop.
    let check = format!(
        "! {} test -e /etc/systemd/system/{unit}.d/{DROPIN}",
        guest.nsenter()
    );
    let started = Instant::now();
    let out = apply(
        &guest,
        unit,
        &dropin,
        &["--check", &check, "--timeout", "2s"],
    );
    let took = started.elapsed();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("failed its check `{check}`")),
        "{said}"
    );
    assert!(said.contains("the unit is active again"), "{said}");
    assert!(
        said.contains("without the drop-in it passes the check"),
        "{said}"
    );
    assert!(guest.is_active(unit));
    assert!(
        took >= Duration::from_secs(62),
        "two stops of 31 s were waited for: {took:?}"
    );
    drop(guest);
    assert_clean("apply-slow");
}

/// A service that leaves a marker in its runtime directory while it runs, removed after a
/// clean stop (`$SERVICE_RESULT`, not a trap: a signal can beat the trap's installation); its
/// ExecStartPre "recovers" after a crash (marker left) by writing to /var/lib/learner-ex. A
/// drop-in without that directory passes every start except the one after a crash.
const RECOVERING: &str = "[Service]
RuntimeDirectory=learner-ex
RuntimeDirectoryPreserve=yes
ExecStartPre=/bin/sh -c 'if [ -e /run/learner-ex/running ]; then echo recovering after a crash; date > /var/lib/learner-ex/recovered; fi'
ExecStart=/bin/sh -c 'touch /run/learner-ex/running; exec sleep infinity'
ExecStopPost=/bin/sh -c 'if [ \"$SERVICE_RESULT\" = success ]; then rm -f /run/learner-ex/running; fi'
";

#[test]
fn exercise_finds_a_drop_in_that_breaks_only_after_a_crash() {
    let Some(_kernel) = privileged("exercise_finds_a_drop_in_that_breaks_only_after_a_crash")
    else {
        return;
    };
    let dir = TempDir::new("apply-exercise");
    let guest = Guest::boot("apply-exercise");
    let unit = "learner-recovering.service";
    guest.write(&format!("/etc/systemd/system/{unit}"), RECOVERING);
    // Its log rotation restarts it; the entry is found by its script naming the unit.
    guest.write("/etc/logrotate.d/learner-recovering",
        &format!(
            "/var/log/learner-ex.log {{\n\tmissingok\n\trotate 1\n\tpostrotate\n\t\tsystemctl try-restart {unit}\n\tendscript\n}}\n"
        ),
    );
    guest.sh(&format!(
            "mkdir -p /var/lib/learner-ex && echo line > /var/log/learner-ex.log && systemctl daemon-reload && systemctl start {unit}"
        ),
    );
    let check = format!("{} test -e /run/learner-ex/running", guest.nsenter());
    let sandbox = "[Service]\nProtectSystem=strict\nPrivateTmp=yes\nNoNewPrivileges=yes\n";

    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        format!("{sandbox}ReadWritePaths=-/var/lib/learner-ex\n"),
    )
    .expect("w");
    let out = apply(
        &guest,
        unit,
        &good,
        &[
            "--exercise",
            "restart,crash,reload,logrotate",
            "--check",
            &check,
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("restart: passed"), "{said}");
    assert!(said.contains("crash: passed"), "{said}");
    assert!(
        said.contains("reload: skipped after")
            && said.contains(&format!("{unit} has no ExecReload")),
        "{said}"
    );
    assert!(
        said.contains("logrotate: passed after")
            && said.contains(&format!(
            "rotated with /etc/logrotate.d/learner-recovering (found by its scripts name {unit})"
        )),
        "{said}"
    );
    assert!(
        std::path::Path::new(&format!(
            "/proc/{}/root/var/log/learner-ex.log.1",
            guest.pid
        ))
        .exists(),
        "the log was rotated"
    );
    assert!(said.contains("through restart, crash, logrotate"), "{said}");
    assert!(guest.is_active(unit));

    // Without /var/lib/learner-ex: the start and the restart pass, the crash recovery fails.
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, sandbox).expect("write");
    let out = apply(
        &guest,
        unit,
        &bad,
        &["--exercise", "restart,crash", "--check", &check],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("restart: passed"), "{said}");
    assert!(said.contains("crash: FAILED"), "{said}");
    assert!(said.contains("failed the crash step: killed"), "{said}");
    assert!(
        said.contains("recovering after a crash"),
        "the step's journal:\n{said}"
    );
    assert!(said.contains("Read-only file system"), "{said}");
    assert!(
        said.contains("create /var/lib/learner-ex/recovered -> EROFS")
            && said.contains("ProtectSystem=strict; add ReadWritePaths=-/var/lib/learner-ex"),
        "the step's denial, with its fix:\n{said}"
    );
    assert!(said.contains("the unit is active again"), "{said}");
    assert!(guest.is_active(unit));
    // Rolled back to the drop-in that was there before: the good one.
    let installed = std::fs::read_to_string(format!(
        "/proc/{}/root/etc/systemd/system/{unit}.d/{DROPIN}",
        guest.pid
    ))
    .expect("the previous drop-in");
    assert!(installed.contains("ReadWritePaths=-/var/lib/learner-ex"));

    // A unit that cannot be brought back (its start refuses once the check has run): the
    // rollback says what state it is in and how to recover.
    let poisoned = "learner-poisoned.service";
    guest.write(&format!("/etc/systemd/system/{poisoned}"),
        "[Service]\nExecStartPre=/bin/sh -c 'test ! -e /run/learner-poison'\nExecStart=/bin/sh -c 'while :; do sleep 1; done'\n",
    );
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {poisoned}"
    ));
    let poison = format!("{} touch /run/learner-poison; false", guest.nsenter());
    let out = apply(
        &guest,
        poisoned,
        &good,
        &["--check", &poison, "--timeout", "2s"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "the drop-in was removed, but {poisoned} is NOT active again: it failed to start: it is failed (Result=exit-code)"
        )) && said.contains(&format!("To recover: `journalctl -u {poisoned} -n 50` says why; `systemctl start {poisoned}`")),
        "{said}"
    );

    // Bad lists are one line of complaint.
    let out = apply(&guest, unit, &good, &["--exercise", "restart,reboot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unknown exercise `reboot`"),
        "{}",
        text(&out)
    );
    drop(guest);
    assert_clean("apply-exercise");
}
