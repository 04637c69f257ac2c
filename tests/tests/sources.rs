//! Observation sources a kernel may lack (issue 25), against real eBPF: the capability check
//! comes from the tracepoint or, without it, from a kprobe pair; where no source worked, the
//! profile says so and `generate` leaves what rests on it unset, warning on stderr and in the
//! drop-in, and `verify` does not judge it. Kernels without a source are simulated with
//! `LEARNER_DISABLE_PROBES`.
use learner::model::profile::Profile;
use learner_tests::{TempDir, assert_clean, learner, privileged, text};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");

/// Records the workload's observations with `disabled` probes.
fn record(tmp: &TempDir, disabled: &str) -> (String, Profile) {
    let work = tmp.join(&format!("work-{}", disabled.replace(',', "-")));
    std::fs::create_dir(&work).expect("mkdir");
    let (code, stderr, profile) = learner_tests::record_run(
        tmp.path(),
        &[("LEARNER_DISABLE_PROBES", disabled)],
        &[WORKLOAD, "observe", work.to_str().expect("utf-8")],
    );
    assert_eq!(code, 0, "learner failed: {stderr}");
    (stderr, profile.expect("profile"))
}

/// Whether the drop-in sets `directive` (a line of its own, not a comment).
fn sets(dropin: &str, directive: &str) -> bool {
    dropin
        .lines()
        .any(|l| l.starts_with(&format!("{directive}=")))
}

#[test]
fn capability_checks_come_from_a_working_source_or_nothing_rests_on_them() {
    let Some(_kernel) = privileged("capability_checks_come_from_a_working_source") else {
        return;
    };
    let tmp = TempDir::new("sources");

    // Without the tracepoint: the kprobe pair where the kernel has kprobes (with the same
    // checks the tracepoint gives), else none, and why, never a failed recording.
    let (stderr, p) = record(&tmp, "cap_capable");
    let source = &p.recording.capability_source;
    if source.starts_with("kprobe cap_capable") {
        for cap in ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"] {
            let checks = &p.observations.capabilities[cap];
            assert!(
                checks.granted.as_ref().is_some_and(|g| g.count > 0),
                "{cap}: {checks:?}"
            );
        }
    } else {
        assert!(
            source.starts_with("none: disabled by LEARNER_DISABLE_PROBES; kprobe cap_capable: ")
                && source.len() > 62,
            "{source}"
        );
        assert!(p.observations.capabilities.is_empty(), "{p:?}");
        assert!(
            stderr.contains("learner: warning: capability checks are not observed"),
            "{stderr}"
        );
    }
    assert!(!p.syscalls.is_empty() && p.observations.paths.len() > 5);

    // No capability source, no personality arguments, no page faults, no process tree.
    let (stderr, p) = record(
        &tmp,
        "cap_capable,cap_kprobe,personality,page_fault,process_tree",
    );
    assert_eq!(
        p.recording.capability_source,
        "none: disabled by LEARNER_DISABLE_PROBES; kprobe cap_capable: disabled by LEARNER_DISABLE_PROBES"
    );
    for probe in ["personality", "page faults", "process tree"] {
        assert!(
            p.recording
                .skipped_probes
                .iter()
                .any(|s| s.starts_with(&format!("{probe}: "))),
            "{probe}: {:?}",
            p.recording.skipped_probes
        );
    }
    assert!(
        stderr.contains("capability checks are not observed"),
        "{stderr}"
    );
    let profile = tmp.join("blind.profile.yaml");
    p.write_atomic(&profile).expect("write profile");

    let dropin = tmp.join("blind.conf");
    let out = learner()
        .arg("generate")
        .arg(&profile)
        .args(["--target-systemd", "252", "--explain", "-o"])
        .arg(&dropin)
        .output()
        .expect("learner generate");
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text_ = std::fs::read_to_string(&dropin).expect("drop-in");
    for unknown in [
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "PrivateUsers",
        "PrivateDevices",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectClock",
        "LockPersonality",
    ] {
        assert!(!sets(&text_, unknown), "{unknown} set:\n{text_}");
        assert!(
            text_.contains(&format!(
                "# {unknown}: not set: unknown, the recording could see"
            )),
            "{unknown} not explained:\n{text_}"
        );
    }
    // What the recording saw is still decided: syscalls, paths, socket families.
    for known in [
        "SystemCallFilter",
        "RestrictAddressFamilies",
        "ProtectSystem",
        "ReadWritePaths",
    ] {
        assert!(sets(&text_, known), "{known} not set:\n{text_}");
    }
    // Warned at the top of the drop-in and on stderr, without the process tree (nothing the
    // workload did could have moved a process).
    let head: Vec<&str> = text_.lines().take_while(|l| l.starts_with('#')).collect();
    for warned in [
        "could see no capability checks (disabled by LEARNER_DISABLE_PROBES",
        "could see no arguments of personality (disabled by LEARNER_DISABLE_PROBES)",
    ] {
        assert!(
            head.iter()
                .any(|l| l.starts_with("# learner: warning: ") && l.contains(warned)),
            "{warned}: {head:?}"
        );
        assert!(stderr.contains(warned), "{warned}: {stderr}");
    }
    assert!(!text_.contains("processes that left"), "{text_}");

    // verify: the profile cannot judge a bounding set, nor say the drop-in permits it all.
    let empty_set = tmp.join("caps.conf");
    std::fs::write(&empty_set, "[Service]\nCapabilityBoundingSet=\n").expect("write");
    let out = learner()
        .arg("verify")
        .arg(&empty_set)
        .arg(&profile)
        .args(["--target-systemd", "252"])
        .output()
        .expect("learner verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr.contains("cannot judge: CapabilityBoundingSet= (")
            && stderr.contains("they cannot judge 1 of its settings")
            && !stderr.contains("permits everything"),
        "{stderr}"
    );
    // The generated drop-in sets nothing it cannot judge.
    let out = learner()
        .arg("verify")
        .arg(&dropin)
        .arg(&profile)
        .args(["--target-systemd", "252"])
        .output()
        .expect("learner verify");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_clean("sources");
}
