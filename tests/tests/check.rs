//! `learner check` on a real service under a real systemd (a disposable guest): a drop-in too
//! tight in three ways (a path, a capability, a syscall) is reported in those three ways,
//! each with its fix; with every reported fix applied, nothing is reported.
use std::process::Output;

use learner_tests::{assert_no_programs, guest::Guest, learner, privileged, text};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");
const UNIT: &str = "learner-check.service";
const DROPIN: &str = "/etc/systemd/system/learner-check.service.d/50-sandbox.conf";

/// Too tight for `workload sandboxed`: /var/lib/learner-check is read-only, CAP_CHOWN is
/// not in the bounding set, and its marker syscall (getpriority) is filtered out.
const TIGHT: &str = "[Service]
ProtectSystem=strict
PrivateTmp=yes
CapabilityBoundingSet=CAP_DAC_OVERRIDE
SystemCallFilter=@system-service
SystemCallFilter=~getpriority
SystemCallErrorNumber=EPERM
";

fn install(guest: &Guest, dropin: &str) {
    let script = format!(
        "mkdir -p /etc/systemd/system/{UNIT}.d && printf '%s' '{dropin}' > {DROPIN} && systemctl daemon-reload && systemctl restart {UNIT}"
    );
    let out = guest.run(&["sh", "-c", &script]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        guest.is_active(UNIT),
        "{UNIT} did not start under\n{dropin}"
    );
}

fn check(guest: &Guest) -> Output {
    learner()
        .args([
            "check",
            UNIT,
            "--for",
            "3s",
            "--guest",
            &guest.pid.to_string(),
        ])
        .output()
        .expect("learner check")
}

/// The drop-in line each reported fix asks for (`add X=Y` -> `X=Y`).
fn fixes(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| l.rsplit_once("; add "))
        .map(|(_, fix)| fix.to_owned())
        .collect()
}

#[test]
fn reports_what_a_tight_sandbox_denies_and_nothing_once_fixed() {
    let Some(_kernel) = privileged("reports_what_a_tight_sandbox_denies") else {
        return;
    };
    let guest = Guest::boot("check");
    // Into the guest's own file system: the build may live under /tmp (a clean clone does),
    // which is the guest's own tmpfs, and private to the unit besides.
    let program = "/usr/local/bin/learner-check-workload";
    std::fs::copy(WORKLOAD, format!("/proc/{}/root{program}", guest.pid))
        .expect("copy the workload into the guest");
    let unit = format!(
        "[Unit]\nDescription=learner check test\n[Service]\nExecStart={program} sandboxed /var/lib/learner-check\n"
    );
    let setup = guest.run(&[
        "sh",
        "-c",
        &format!(
            "mkdir -p /var/lib/learner-check && printf '%s' '{unit}' > /etc/systemd/system/{UNIT} && systemctl daemon-reload"
        ),
    ]);
    assert!(setup.status.success(), "{}", text(&setup));
    install(&guest, TIGHT);

    let out = check(&guest);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("learner check under the tight drop-in:\n{}", text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for expected in [
        "syscall getpriority -> EPERM",
        "SystemCallFilter; add SystemCallFilter=getpriority",
        "create /var/lib/learner-check/x -> EROFS",
        "ProtectSystem=strict; add ReadWritePaths=-/var/lib/learner-check",
        "capability CAP_CHOWN -> denied",
        "CapabilityBoundingSet; add CapabilityBoundingSet=CAP_CHOWN",
    ] {
        assert!(report.contains(expected), "no `{expected}` in\n{report}");
    }
    assert_eq!(report.lines().count(), 3, "one line per denial:\n{report}");
    assert!(
        // The kernel keeps 15 bytes of a program's name.
        report.lines().all(|l| l.starts_with("learner-check-w: ")),
        "every denial names the process:\n{report}"
    );

    // Every fix applied: the service runs unhindered and the check is clean.
    let fixed = format!("{TIGHT}{}\n", fixes(&report).join("\n"));
    install(&guest, &fixed);
    let out = check(&guest);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nwith the fixes applied:\n{fixed}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
    // The fixes really took: the file the tight sandbox refused now exists.
    let made = guest.run(&["test", "-f", "/var/lib/learner-check/x"]);
    assert!(made.status.success(), "the write is still refused\n{fixed}");

    // A filter that kills (no SystemCallErrorNumber=): the process dies inside the filter,
    // before any tracepoint; the kernel's log of the kill names the syscall.
    let killing = "[Service]
ProtectSystem=strict
PrivateTmp=yes
ReadWritePaths=/var/lib/learner-check
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE
SystemCallFilter=@system-service
SystemCallFilter=~getpriority
";
    let write = guest.run(&[
        "sh",
        "-c",
        &format!("printf '%s' '{killing}' > {DROPIN} && systemctl daemon-reload"),
    ]);
    assert!(write.status.success(), "{}", text(&write));
    let out = learner()
        .args([
            "check",
            UNIT,
            "--restart",
            "--for",
            "4s",
            "--guest",
            &guest.pid.to_string(),
        ])
        .output()
        .expect("learner check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("learner check under a killing filter:\n{}", text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        report.contains(
            "syscall getpriority -> killed by SIGSYS 1x: SystemCallFilter; add SystemCallFilter=getpriority"
        ),
        "{report}"
    );
    assert_eq!(report.lines().count(), 1, "{report}");

    // Trouble is one line and exit 2, never a clean bill of health.
    let out = learner()
        .args([
            "check",
            "no-such-unit.service",
            "--for",
            "1s",
            "--guest",
            &guest.pid.to_string(),
        ])
        .output()
        .expect("learner check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-unit.service"), "{stderr}");
    drop(guest);
    assert_no_programs("check");
}
