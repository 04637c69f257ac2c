//! `learner harden DIR` on a real systemd (the disposable guest): three units recorded into one
//! directory, two packaged services (nginx, redis-server) and one that starts writing where
//! its recording never did; `harden --apply` hardens the two, rolls the third back with its
//! reason, and its report's figures are what `systemd-analyze security` says of each.
use std::time::Duration;

use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

/// A service whose life changes after its recording: once /etc/harden-flaky exists it writes
/// to /var/lib/harden-flaky, which its recording never did, and exits when it cannot.
const FLAKY: &str = "\
[Unit]
Description=learner harden test: writes only once told to
[Service]
ExecStart=/bin/sh -c 'while :; do if [ -e /etc/harden-flaky ]; then date >> /var/lib/harden-flaky/out || exit 1; fi; sleep 0.2; done'
";

/// `learner record UNIT --restart --for 6s` into `dir/UNIT.profile.yaml`, with `load` run in
/// the guest meanwhile.
fn record(guest: &Guest, dir: &std::path::Path, unit: &str, load: &str) {
    let profile = dir.join(format!("{unit}.profile.yaml"));
    let mut recording = learner()
        .args(["record", unit, "--restart", "--for", "6s", "--quiet"])
        .args(["--guest", &guest.pid.to_string(), "-o"])
        .arg(&profile)
        .spawn()
        .expect("learner record");
    // The load is for the restarted unit: wait for learner to have attached and restarted it
    // (a new main process, active), however long loading its programs took.
    let main_pid = || guest.sh(&format!("systemctl show -p MainPID --value {unit}"));
    let before = main_pid();
    let start = std::time::Instant::now();
    while !(main_pid() != before && guest.is_active(unit)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{unit} was not restarted by learner record"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    guest.sh(load);
    assert!(recording.wait().expect("record").success(), "record {unit}");
}

#[test]
fn harden_applies_each_unit_in_turn_and_rolls_back_the_one_that_fails() {
    let Some(_kernel) =
        privileged("harden_applies_each_unit_in_turn_and_rolls_back_the_one_that_fails")
    else {
        return;
    };
    let dir = TempDir::new("harden");
    let guest = Guest::boot("harden");
    guest.write("/etc/systemd/system/harden-flaky.service", FLAKY);
    guest.sh("mkdir -p /var/lib/harden-flaky && systemctl daemon-reload && systemctl start harden-flaky.service");
    for unit in [
        "nginx.service",
        "redis-server.service",
        "harden-flaky.service",
    ] {
        assert!(guest.is_active(unit), "{unit} is not running in the guest");
    }
    record(
        &guest,
        dir.path(),
        "nginx.service",
        "for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1/; done",
    );
    record(
        &guest,
        dir.path(),
        "redis-server.service",
        "redis-benchmark -q -n 1000 -t set,get -P 4 >/dev/null",
    );
    record(&guest, dir.path(), "harden-flaky.service", "sleep 1");

    // Without --apply: drop-ins written and scored, nothing installed.
    let out = learner()
        .arg("harden")
        .arg(dir.path())
        .args([
            "--guest",
            &guest.pid.to_string(),
            "--quiet",
            "--format",
            "json",
        ])
        .output()
        .expect("learner harden");
    assert!(out.status.success(), "{}", text(&out));
    let dry = learner_tests::json_output("harden", &out.stdout);
    let units = dry["units"].as_array().expect("units");
    assert_eq!(units.len(), 3, "{dry}");
    assert!(units.iter().all(|u| u["result"] == "generated"), "{dry}");
    assert!(dir.join("nginx.service.hardening.conf").exists());
    assert!(
        !std::path::Path::new(&format!(
            "/proc/{}/root/etc/systemd/system/nginx.service.d/50-learner-hardening.conf",
            guest.pid
        ))
        .exists()
    );

    // Now the flaky service starts writing, as its recording never did.
    guest.sh("touch /etc/harden-flaky");
    let checks = dir.join("checks");
    std::fs::create_dir(&checks).expect("mkdir checks");
    let ns = guest.nsenter();
    for (unit, check) in [
        (
            "nginx.service",
            format!("{ns} curl -fsS -o /dev/null --max-time 5 http://127.0.0.1/"),
        ),
        (
            "redis-server.service",
            format!("{ns} redis-cli ping | grep -qx PONG"),
        ),
        (
            "harden-flaky.service",
            format!("{ns} systemctl is-active --quiet harden-flaky.service"),
        ),
    ] {
        std::fs::write(checks.join(unit), check + "\n").expect("write check");
    }
    let out = learner()
        .arg("harden")
        .arg(dir.path())
        .args(["--apply", "--exercise", "restart", "--timeout", "15s"])
        .arg("--check-dir")
        .arg(&checks)
        .args([
            "--guest",
            &guest.pid.to_string(),
            "--quiet",
            "--format",
            "json",
        ])
        .output()
        .expect("learner harden --apply");
    // One unit rolled back: exit 1, the others hardened all the same.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = learner_tests::json_output("harden", &out.stdout);
    let by_unit = |name: &str| {
        report["units"]
            .as_array()
            .expect("units")
            .iter()
            .find(|u| u["unit"] == name)
            .unwrap_or_else(|| panic!("{name} not in {report}"))
            .clone()
    };
    for unit in ["nginx.service", "redis-server.service"] {
        let u = by_unit(unit);
        assert_eq!(u["result"], "hardened", "{u}");
        let (before, after) = (
            u["exposure_before"].as_f64().expect("before"),
            u["exposure_after"].as_f64().expect("after"),
        );
        assert!(after < before, "{u}");
        // The report's figure is systemd's own for the unit as it now runs.
        let now = guest.exposure(unit);
        assert!(
            (now - after).abs() < 0.05,
            "{unit}: report {after}, systemd {now}"
        );
        assert!(guest.is_active(unit), "{unit} not active after harden");
    }
    let flaky = by_unit("harden-flaky.service");
    assert_eq!(flaky["result"], "rolled-back", "{flaky}");
    assert!(
        flaky["why"].as_str().is_some_and(|w| !w.is_empty()),
        "{flaky}"
    );
    assert!(
        !std::path::Path::new(&format!(
            "/proc/{}/root/etc/systemd/system/harden-flaky.service.d/50-learner-hardening.conf",
            guest.pid
        ))
        .exists(),
        "the failed drop-in was left installed"
    );
    assert!(
        guest.is_active("harden-flaky.service"),
        "rolled back but not running"
    );
    assert_eq!(
        guest.exposure("harden-flaky.service"),
        flaky["exposure_before"].as_f64().expect("before")
    );
    // The summary: the rolled-back unit counts as it is.
    let median_before = report["before"]["median"].as_f64().expect("median");
    let median_after = report["after"]["median"].as_f64().expect("median");
    assert!(median_after < median_before, "{report}");
    let md = std::fs::read_to_string(dir.join("harden-report.md")).expect("report");
    assert!(
        md.contains("| harden-flaky.service |") && md.contains("rolled back"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("harden-report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(json, report);
    drop(guest);
    assert_clean("after harden");
}
