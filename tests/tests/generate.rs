//! `learner generate` from the command line: a drop-in from a real recording passes
//! `systemd-analyze verify` for its unit and lowers its exposure; bad input gets one line.
use std::process::Command;

use learner::model::profile::{Profile, Recording};
use learner_tests::{TempDir, assert_clean, learner, privileged};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");

fn unit_file(dir: &TempDir, exec: &str) -> std::path::PathBuf {
    let unit = dir.join("learner-test.service");
    std::fs::write(
        &unit,
        format!("[Unit]\nDescription=learner test\n[Service]\nExecStart={exec}\n"),
    )
    .expect("unit file");
    unit
}

/// The two numbers of `--score`'s line: exposure without and with the drop-in.
fn exposures(stderr: &str) -> Vec<f64> {
    let scores: Vec<f64> = stderr
        .lines()
        .find(|l| l.contains("exposure of"))
        .expect("--score line")
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(scores.len(), 2, "{stderr}");
    scores
}

#[test]
fn generated_drop_in_verifies_and_scores_better() {
    let Some(_kernel) = privileged("generated_drop_in_verifies_and_scores_better") else {
        return;
    };
    let dir = TempDir::new("generate");
    let work = dir.join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let profile = dir.join("w.profile.yaml");
    let status = learner()
        .env_remove("LD_LIBRARY_PATH")
        .arg("run")
        .arg("-o")
        .arg(&profile)
        .args(["--", WORKLOAD, "observe", work.to_str().expect("utf-8")])
        .status()
        .expect("learner run");
    assert!(status.success());
    assert_clean("record");

    let unit = unit_file(&dir, WORKLOAD);
    let dropins = dir.join("learner-test.service.d");
    std::fs::create_dir(&dropins).expect("mkdir");
    let dropin = dropins.join("50-learner.conf");
    let out = learner()
        .arg("generate")
        .arg(&profile)
        .arg("-o")
        .arg(&dropin)
        .arg("--explain")
        .arg("--score")
        .arg(&unit)
        .output()
        .expect("learner generate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&dropin).expect("drop-in written");
    assert!(
        text.contains("[Service]\n") && text.contains("ProtectSystem=strict"),
        "{text}"
    );
    assert!(
        text.contains("# CapabilityBoundingSet: CAP_CHOWN: granted"),
        "--explain: {text}"
    );
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(&dropins).expect("dir").count(), 1);

    // Exposure before and after, as systemd-analyze security scores them.
    let scores = exposures(&stderr);
    assert!(
        scores[1] < scores[0],
        "the drop-in should lower exposure: {stderr}"
    );
    // The default (standard) margin allows more syscalls than `exact`, at no exposure.
    let exact = learner()
        .arg("generate")
        .arg(&profile)
        .args(["--margin", "exact", "--score"])
        .arg(&unit)
        .output()
        .expect("learner generate --margin exact");
    let exact_stderr = String::from_utf8_lossy(&exact.stderr);
    assert!(exact.status.success(), "{exact_stderr}");
    assert_eq!(exposures(&exact_stderr), scores, "{exact_stderr}\n{stderr}");
    let allowed = |text: &str| {
        text.lines()
            .rfind(|l| l.starts_with("SystemCallFilter="))
            .map_or(0, |l| l.split(' ').count())
    };
    let exact_text = String::from_utf8_lossy(&exact.stdout);
    assert!(
        allowed(&text) > allowed(&exact_text),
        "standard:\n{text}\nexact:\n{exact_text}"
    );
    assert!(text.contains(": margin, the "), "--explain: {text}");

    // systemd itself accepts every line: exit 0 and not a word of warning.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "verify: {complaints}"
    );

    // The same profile gives the same bytes.
    let again = learner()
        .arg("generate")
        .arg(&profile)
        .arg("--explain")
        .output()
        .expect("generate");
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);

    // An older target drops what it does not know.
    let old = learner()
        .arg("generate")
        .arg(&profile)
        .args(["--target-systemd", "239"])
        .output()
        .expect("generate");
    let old = String::from_utf8_lossy(&old.stdout);
    for d in [
        "ProtectKernelLogs=",
        "ProtectClock=",
        "ProtectHostname=",
        "ProtectProc=",
        "ProcSubset=",
        "RestrictSUIDSGID=",
    ] {
        assert!(!old.contains(d), "{d} on 239: {old}");
    }
}

#[test]
fn bad_input_gets_one_line_and_a_failure() {
    let dir = TempDir::new("generate-errors");
    let malformed = dir.join("bad.profile.yaml");
    std::fs::write(&malformed, "schema: 1\nprovenance: [not, a, map]\n").expect("write");
    let future = dir.join("future.profile.yaml");
    std::fs::write(&future, "schema: 9\n").expect("write");
    for (args, needle) in [
        (
            vec![malformed.to_str().unwrap()],
            "is not a learner profile",
        ),
        (vec![future.to_str().unwrap()], "schema 9"),
        (
            vec!["/no/such.profile.yaml"],
            "cannot read profile /no/such.profile.yaml",
        ),
        (
            vec![malformed.to_str().unwrap(), "--target-systemd", "100"],
            "systemd 239 to 257",
        ),
    ] {
        let out = learner()
            .arg("generate")
            .args(&args)
            .output()
            .expect("learner");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        // Each cause once: the read error used to repeat its OS error.
        assert!(
            stderr.matches("(os error").count() <= 1,
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing half-written to stdout");
    }
}

fn recorded(lost_events: u64) -> Profile {
    Profile {
        recording: Recording {
            syscall_source: "raw_tracepoint/sys_enter".into(),
            lost_events,
            startup_seen: Some(true),
            exercised: ["restart", "reload", "crash", "logrotate"]
                .map(|e| (e.to_owned(), format!("{e}: passed after 1.0s: ok")))
                .into(),
            ..Default::default()
        },
        syscalls: ["read", "write", "exit_group"]
            .map(|s| (s.to_owned(), 1))
            .into(),
        unit: Some(learner::model::unit::UnitRecord::default()),
        ..Profile::example("app.service")
    }
}

/// A profile of a learner that did not record the unit's settings: the drop-in would reset
/// the unit's grants unseen, so generate says so, and takes them from a unit file instead.
#[test]
fn a_profile_without_the_units_settings_takes_them_from_its_unit_file() {
    use learner::model::observations::Slot;
    let dir = TempDir::new("generate-unit-file");
    let mut old = recorded(0);
    old.unit = None;
    old.observations.add(
        &Slot::Capability {
            name: "CAP_NET_BIND_SERVICE".into(),
            granted: true,
            during: "bind".into(),
        },
        0,
        "web",
        1,
    );
    let profile = dir.join("old.profile.yaml");
    old.write_atomic(&profile).expect("write");
    let unit = dir.join("web.service");
    std::fs::write(
        &unit,
        "[Service]\nUser=www-data\nAmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW\nReadWritePaths=/var/log/web\nExecStart=/usr/bin/web\n",
    )
    .expect("write");
    let generate = |args: &[&str]| {
        let out = learner()
            .arg("generate")
            .arg(&profile)
            .args(["--target-systemd", "252", "--explain"])
            .args(args)
            .output()
            .expect("learner generate");
        assert!(out.status.success(), "{}", learner_tests::text(&out));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (dropin, stderr) = generate(&[]);
    assert!(
        stderr.contains("record(s) no settings of the unit") && stderr.contains("--unit-file"),
        "{stderr}"
    );
    assert!(!dropin.contains("AmbientCapabilities=CAP"), "{dropin}");
    let (dropin, stderr) = generate(&["--unit-file", unit.to_str().unwrap()]);
    assert!(!stderr.contains("no settings of the unit"), "{stderr}");
    assert!(
        dropin.contains("\nAmbientCapabilities=\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"),
        "{dropin}"
    );
    assert!(
        dropin.contains("# AmbientCapabilities: CAP_NET_RAW: never granted in the recording"),
        "{dropin}"
    );
    assert!(
        dropin.contains("# ReadWritePaths: /var/log/web: the unit's, not used by the recording: kept (standard margin"),
        "{dropin}"
    );
    assert!(dropin.contains("-/var/log/web"), "{dropin}");
    let out = learner()
        .arg("generate")
        .arg(&profile)
        .args(["--unit-file", "/no/such.service"])
        .output()
        .expect("learner generate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read the unit file /no/such.service"),
        "{stderr}"
    );
}

#[test]
fn lost_events_are_a_warning_naming_the_profile_that_lost_them() {
    let dir = TempDir::new("generate-lost");
    let whole = dir.join("whole.profile.yaml");
    let lossy = dir.join("lossy.profile.yaml");
    recorded(0).write_atomic(&whole).expect("write");
    recorded(7).write_atomic(&lossy).expect("write");
    let generate = |profiles: &[&std::path::Path]| {
        let out = learner()
            .arg("generate")
            .args(profiles)
            .args(["--target-systemd", "252"])
            .output()
            .expect("learner generate");
        assert!(out.status.success(), "{}", learner_tests::text(&out));
        assert!(!out.stdout.is_empty(), "a drop-in all the same");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = generate(&[&whole]);
    assert!(stderr.is_empty(), "nothing lost, nothing to say: {stderr}");
    let stderr = generate(&[&whole, &lossy]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "learner: warning: {} is incomplete (7 events lost)",
            lossy.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("record it again"), "{stderr}");
    assert!(!stderr.contains("whole.profile.yaml"), "{stderr}");
    // Observations an event carried but the collector could not complete count the same.
    let mut missing = recorded(0);
    missing
        .recording
        .missed
        .insert("openat: relative path not resolved".into(), 2);
    let missed = dir.join("missed.profile.yaml");
    missing.write_atomic(&missed).expect("write");
    let stderr = generate(&[&whole, &missed]);
    assert!(
        stderr.starts_with(&format!(
            "learner: warning: {} is incomplete (2 observations missed (openat: relative path not resolved 2))",
            missed.display()
        )),
        "{stderr}"
    );
}

#[test]
fn json_output_holds_each_directive_and_the_same_drop_in() {
    let dir = TempDir::new("generate-json");
    let profile = dir.join("app.profile.yaml");
    recorded(0).write_atomic(&profile).expect("write");
    let run = |args: &[&str]| {
        let out = learner()
            .arg("generate")
            .arg(&profile)
            .args(["--target-systemd", "252"])
            .args(args)
            .output()
            .expect("learner generate");
        assert!(out.status.success(), "{}", learner_tests::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&[]);
    let json = learner_tests::json_output("generate", run(&["--format", "json"]).as_bytes());
    assert_eq!(json["target_systemd"], 252);
    assert_eq!(json["dropin"], serde_json::json!(text));
    assert_eq!(json["warnings"], serde_json::json!([]));
    let directives = json["directives"].as_array().expect("directives");
    let filter = directives
        .iter()
        .find(|d| d["directive"] == "SystemCallFilter")
        .expect("SystemCallFilter");
    // Every line of each directive is a line of the drop-in, and each has its evidence.
    for d in directives {
        for line in d["lines"].as_array().expect("lines") {
            let line = line.as_str().expect("a line");
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(
            !d["evidence"].as_array().expect("evidence").is_empty(),
            "{d}"
        );
    }
    assert!(!filter["lines"].as_array().unwrap().is_empty());
}

#[test]
fn a_bad_command_line_is_one_line_and_exit_2() {
    for args in [
        vec!["record", "x.service", "--exercise", "bogus"],
        vec!["generate"],
        vec!["frobnicate"],
        vec!["diff", "only-one.yaml"],
    ] {
        let out = learner().args(&args).output().expect("learner");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("learner: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("Usage:"), "{args:?}: {stderr}");
    }
    let out = learner().args(["generate"]).output().expect("learner");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("<PROFILE>"),
        "the missing argument is named"
    );
    let help = learner()
        .args(["generate", "--help"])
        .output()
        .expect("learner");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"));
}

#[test]
fn a_closed_pipe_ends_diff_quietly() {
    use std::process::Stdio;
    let dir = TempDir::new("diff-pipe");
    let old = dir.join("old.profile.yaml");
    let new = dir.join("new.profile.yaml");
    recorded(0).write_atomic(&old).expect("write");
    let mut grown = recorded(0);
    for i in 0..2000 {
        grown
            .observations
            .paths
            .entry(format!("/srv/data/file-{i}"))
            .or_default();
    }
    grown.syscalls.insert("openat".into(), 1);
    grown.write_atomic(&new).expect("write");
    let mut child = learner()
        .arg("diff")
        .arg(&old)
        .arg(&new)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("learner");
    // Read nothing and close: the next write of diff's output meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.status.success() || stderr.is_empty(), "{stderr}");
}
