//! The warnings `learner record` and `learner run` print appear when they are true and not
//! otherwise: a unit without SystemCallFilter= (which systemctl shows as `~`) gets none, a
//! deny-list or allow-list gets one that counts its syscalls; a kernel without module
//! support records that as a fact instead of warning about the module syscalls' probes.
use std::path::Path;

use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, record_run, text};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");
const UNIT: &str = "learner-warn.service";

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("learner: warning:"))
        .collect()
}

/// Installs `dropin` (none when empty) for the unit and restarts it.
fn configure(guest: &Guest, dropin: &str) {
    let dir = format!("/etc/systemd/system/{UNIT}.d");
    let script = format!(
        "rm -rf {dir} && mkdir -p {dir} && printf '%s' '[Service]\n{dropin}' > {dir}/50-filter.conf && systemctl daemon-reload && systemctl restart {UNIT}"
    );
    let out = guest.run(&["sh", "-c", &script]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(guest.is_active(UNIT), "{UNIT} under {dropin}");
}

fn shown_filter(guest: &Guest) -> String {
    let out = guest.run(&["systemctl", "show", "-p", "SystemCallFilter", "--", UNIT]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `learner record UNIT --for 1s [extra]`'s stderr; the recording must succeed.
fn record(guest: &Guest, dir: &TempDir, extra: &[&str]) -> String {
    let out = learner()
        .args([
            "record",
            UNIT,
            "--for",
            "1s",
            "--guest",
            &guest.pid.to_string(),
        ])
        .args(extra)
        .arg("-o")
        .arg(dir.join("warn.profile.yaml"))
        .output()
        .expect("learner record");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn record_warns_only_about_a_real_syscall_filter() {
    let Some(_kernel) = privileged("record_warns_only_about_a_real_syscall_filter") else {
        return;
    };
    let dir = TempDir::new("warnings-record");
    let guest = Guest::boot("warnings");
    // Busy, not idle: a recording of a unit that made no syscall at all is refused.
    let setup = guest.run(&[
        "sh",
        "-c",
        &format!(
            "printf '%s' '[Unit]\nDescription=learner warning test\n[Service]\nExecStart=/bin/sh -c \"while :; do sleep 0.2; done\"\n' > /etc/systemd/system/{UNIT} && systemctl daemon-reload"
        ),
    ]);
    assert!(setup.status.success(), "{}", text(&setup));

    // No filter: systemd shows an empty deny-list, and learner says nothing.
    configure(&guest, "");
    assert_eq!(shown_filter(&guest), "SystemCallFilter=~");
    let stderr = record(&guest, &dir, &[]);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    // Without --restart the start-up is missing, and the summary says how to get it.
    assert!(
        stderr.contains("; start-up not seen (use --restart)"),
        "{stderr}"
    );
    let stderr = record(&guest, &dir, &["--restart"]);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    assert!(!stderr.contains("start-up not seen"), "{stderr}");

    // A deny-list: how many it refuses, and which.
    configure(&guest, "SystemCallFilter=~getpriority setpriority\n");
    let stderr = record(&guest, &dir, &[]);
    let found = warnings(&stderr);
    assert_eq!(found.len(), 1, "{stderr}");
    assert!(
        found[0].contains(&format!(
            "{UNIT}'s SystemCallFilter= refuses 2 syscalls (getpriority, setpriority): those calls never reach learner's probes"
        )),
        "{stderr}"
    );
    assert!(
        found[0].contains(&format!("`learner check {UNIT}`")),
        "{stderr}"
    );

    // An allow-list: how many it allows, as systemd expanded it.
    configure(&guest, "SystemCallFilter=@system-service\n");
    let allowed = shown_filter(&guest)
        .strip_prefix("SystemCallFilter=")
        .expect("shown")
        .split_whitespace()
        .count();
    assert!(allowed > 100, "@system-service expands: {allowed}");
    let stderr = record(&guest, &dir, &[]);
    let found = warnings(&stderr);
    assert_eq!(found.len(), 1, "{stderr}");
    assert!(
        found[0].contains(&format!(
            "{UNIT}'s SystemCallFilter= allows only {allowed} syscalls: calls to any other never reach"
        )),
        "{stderr}"
    );
    drop(guest);
    assert_clean("record warnings");
}

#[test]
fn no_module_support_is_a_fact_of_the_profile_not_a_warning() {
    let Some(_kernel) = privileged("no_module_support_is_a_fact_of_the_profile") else {
        return;
    };
    let dir = TempDir::new("warnings-modules");
    let (code, stderr, profile) = record_run(dir.path(), &[], &[WORKLOAD, "modules"]);
    assert_eq!(code, 0, "{stderr}");
    let p = profile.expect("profile");
    let support = Path::new("/proc/modules").exists();
    assert_eq!(p.recording.module_support, Some(support));
    assert_eq!(
        p.syscalls.get("finit_module"),
        Some(&1),
        "counted either way"
    );
    let module_skips: Vec<&String> = p
        .recording
        .skipped_probes
        .iter()
        .filter(|s| s.contains("_module"))
        .collect();
    if support {
        // The probe sees the call: the fact, with its failure.
        let seen = &p.observations.facts.module_loading["finit_module"];
        assert_eq!(seen.errors.get("EBADF"), Some(&1), "{seen:?}");
    } else {
        // Nothing lost: no tracepoint, but the call can only fail, and it is counted.
        assert!(module_skips.is_empty(), "{module_skips:?}");
        assert!(warnings(&stderr).is_empty(), "{stderr}");
        assert!(p.observations.facts.module_loading.is_empty());
    }
    // Either way the service tried: the drop-in must not forbid it.
    let path = dir.join("out.profile.yaml");
    let out = learner()
        .arg("generate")
        .arg(&path)
        .args(["--target-systemd", "252", "--explain"])
        .output()
        .expect("learner generate");
    let dropin = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!dropin.contains("ProtectKernelModules=yes"), "{dropin}");
    assert!(dropin.contains("called finit_module"), "{dropin}");
    assert_clean("module recording");
}
