//! `generate --identity` end to end, in the guest systemd: a service that uses root only to
//! become another user (a wrapper that keeps its state under /var/lib as root, then starts
//! Debian's memcached with `-u memcache`), recorded from its start, generated with
//! `--identity`, applied with a check that stores and reads a value, restarted and still
//! serving, and scored. The same drop-in without its StateDirectory= fails under apply and is
//! rolled back, the service serving again as before.
use std::process::Output;

use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

const UNIT: &str = "learner-identity.service";
const PORT: u16 = 11411;

/// A memcached round trip inside the guest: set a value, read it back.
fn check_command(guest: &Guest) -> String {
    format!(
        "{} bash -c 'exec 3<>/dev/tcp/127.0.0.1/{PORT}; printf \"set k 0 0 2\\r\\nok\\r\\nget k\\r\\nquit\\r\\n\" >&3; grep -q \"^ok\" <&3'",
        guest.nsenter()
    )
}

fn serves(guest: &Guest) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &check_command(guest)])
        .status()
        .is_ok_and(|s| s.success())
}

fn apply(guest: &Guest, dropin: &std::path::Path) -> Output {
    let out = learner()
        .args(["apply", UNIT])
        .arg(dropin)
        .args(["--guest", &guest.pid.to_string()])
        .args(["--check", &check_command(guest)])
        .output()
        .expect("learner apply");
    eprintln!("learner apply:\n{}", text(&out));
    out
}

fn score(guest: &Guest, dropin: &std::path::Path) -> f64 {
    let out = learner()
        .args([
            "score",
            UNIT,
            "--format",
            "json",
            "--guest",
            &guest.pid.to_string(),
        ])
        .arg("--dropin")
        .arg(dropin)
        .output()
        .expect("learner score");
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    eprintln!("score: {j}");
    j["exposure_with_dropin"].as_f64().expect("an exposure")
}

#[test]
fn a_service_that_uses_root_only_to_drop_privileges_runs_as_its_user() {
    let Some(_kernel) = privileged("identity") else {
        return;
    };
    assert!(
        std::path::Path::new("/usr/bin/memcached").exists(),
        "`cargo xtask setup` installs memcached"
    );
    let dir = TempDir::new("identity");
    let guest = Guest::boot("identity");
    let pid = guest.pid.to_string();
    // The wrapper writes its own state as root (a directory under /var/lib it creates), then
    // hands over to memcached, which switches to memcache itself before it listens.
    guest.write_mode("/usr/local/sbin/learner-identity",
        &format!(
            "#!/bin/sh\nset -e\nmkdir -p /var/lib/learner-identity\ndate > /var/lib/learner-identity/last-start\nexec /usr/bin/memcached -u memcache -l 127.0.0.1 -p {PORT} -U 0 -m 16\n"
        ),
        0o755,
    );
    guest.write_mode(
        &format!("/etc/systemd/system/{UNIT}"),
        "[Service]\nExecStart=/usr/local/sbin/learner-identity\n",
        0o644,
    );
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {UNIT}"
    ));
    assert!(guest.is_active(UNIT), "the service starts as root");

    let profile = dir.join("identity.profile.yaml");
    let recorder = learner()
        .args([
            "record",
            UNIT,
            "--restart",
            "--for",
            "3s",
            "--guest",
            &pid,
            "-o",
        ])
        .arg(&profile)
        .spawn()
        .expect("learner record");
    let mut recorder = recorder;
    // Exercised while recorded, through the whole window: the instance before the restart
    // answers the first calls.
    let mut served = 0;
    while recorder.try_wait().expect("wait").is_none() {
        served += u32::from(serves(&guest));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert!(recorder.wait().expect("wait").success(), "learner record");
    assert!(served > 0, "memcached never served while recorded");
    let recorded = learner::model::profile::Profile::load(&profile).expect("the profile");
    assert!(
        recorded.syscalls.contains_key("accept4") || recorded.syscalls.contains_key("accept"),
        "the recorded instance served"
    );
    let identity = &recorded.observations.identity;
    eprintln!("{identity:#?}");
    assert!(
        identity.switches.keys().any(|s| s.starts_with("setuid ")),
        "memcached's setuid is recorded: {:?}",
        identity.switches
    );
    assert!(identity.names.values().any(|n| n == "memcache"));

    // Without --identity nothing changes who it runs as.
    let plain = learner_tests::generate_dropin(&profile, &dir.join("plain.conf"), &["--explain"]);
    assert!(
        !plain.contains("User=") && !plain.contains("DynamicUser="),
        "{plain}"
    );
    let dropin = dir.join("identity.conf");
    let generated = learner_tests::generate_dropin(&profile, &dropin, &["--identity", "--explain"]);
    eprintln!("{generated}");
    assert!(
        generated.contains("\nDynamicUser=yes\n") || generated.contains("\nUser=memcache\n"),
        "{generated}"
    );
    assert!(
        generated.contains("\nStateDirectory=learner-identity\n"),
        "{generated}"
    );
    assert!(
        !generated
            .lines()
            .any(|l| l.starts_with("ReadWritePaths=") && l.contains("/var/lib/learner-identity")),
        "the state directory is not in ReadWritePaths too:\n{generated}"
    );
    for cap in ["CAP_SETUID", "CAP_SETGID"] {
        assert!(
            generated.contains(&format!(
                "# CapabilityBoundingSet: identity: {cap}: used to switch ids only"
            )),
            "{generated}"
        );
        assert!(
            !generated
                .lines()
                .any(|l| l.starts_with("CapabilityBoundingSet=") && l.contains(cap)),
            "{generated}"
        );
    }

    let out = apply(&guest, &dropin);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    // It runs as a non-root user now, and serves; and again after a restart.
    let main = guest.sh(&format!("systemctl show -p MainPID --value {UNIT}"));
    let uid = guest.sh(&format!("ps -o uid= -p {}", main.trim()));
    assert_ne!(uid.trim(), "0", "memcached runs as root still");
    guest.sh(&format!("systemctl restart {UNIT}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !serves(&guest) {
        assert!(
            std::time::Instant::now() < deadline,
            "not serving after a restart"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let exposure = score(&guest, &dropin);
    eprintln!("exposure with the identity drop-in: {exposure}");
    assert!(exposure <= 1.5, "exposure {exposure} above 1.5");

    // Without the directory its root part writes to, the service fails: rolled back, and it
    // serves as it did before apply (the good drop-in back in place).
    let broken = dir.join("broken.conf");
    std::fs::write(
        &broken,
        generated.replace("\nStateDirectory=learner-identity\n", "\n"),
    )
    .expect("write");
    let out = apply(&guest, &broken);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(serves(&guest), "serving again after the rollback");
    let installed = std::fs::read_to_string(format!(
        "/proc/{}/root/etc/systemd/system/{UNIT}.d/50-learner-hardening.conf",
        guest.pid
    ))
    .expect("the drop-in before");
    assert_eq!(installed, generated, "the identity drop-in is back");

    drop(guest);
    assert_clean("after the identity test");
}
