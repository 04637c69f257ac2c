//! A drop-in that survives PostgreSQL's whole life, on Debian's own PostgreSQL 15 under a real
//! systemd (a disposable guest): recorded with `--exercise all` under pgbench, generated with
//! the default margin, applied with `--exercise all` and a psql check, and still recovering
//! from a SIGKILL under load afterwards. A drop-in from a recording that never saw a shutdown
//! or a crash, generated with `--margin exact`, must fail the same apply and be rolled back
//! with the database serving: the harness tells a drop-in that survives from one that does not.
use std::{
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use learner::model::profile::Profile;
use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

const UNIT: &str = "postgresql@15-main.service";

fn sh(guest: &Guest, script: &str) -> Output {
    guest.run(&["sh", "-c", script])
}

fn psql(guest: &Guest, sql: &str) -> Output {
    guest.run(&[
        "runuser", "-u", "postgres", "--", "psql", "-tAX", "-d", "bench", "-c", sql,
    ])
}

/// pgbench for `secs` seconds in the background; its failures (the server restarting under
/// it) are expected and not waited for.
fn pgbench(guest: &Guest, secs: u32) -> Child {
    Command::new("nsenter")
        .args(["-t", &guest.pid.to_string(), "-a"])
        .args([
            "runuser", "-u", "postgres", "--", "pgbench", "-n", "-c", "2",
        ])
        .args(["-T", &secs.to_string(), "bench"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pgbench")
}

fn serving(guest: &Guest) -> bool {
    for _ in 0..30 {
        let out = psql(guest, "select count(*) from pgbench_accounts");
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "200000" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

fn apply(guest: &Guest, dropin: &std::path::Path) -> Output {
    let out = learner()
        .args(["apply", UNIT])
        .arg(dropin)
        .args(["--guest", &guest.pid.to_string(), "--exercise", "all", "--check"])
        // Writes, then a read: each next event meets dirty buffers and fresh WAL, as a
        // database under load does.
        .arg(format!(
            "{ns} runuser -u postgres -- pgbench -n -t 200 -c 2 bench >/dev/null && {ns} runuser -u postgres -- psql -tAX -d bench -c 'select count(*) from pgbench_accounts' | grep -qx 200000",
            ns = guest.nsenter()
        ))
        .output()
        .expect("learner apply");
    eprintln!("learner apply --exercise all:\n{}", text(&out));
    out
}

fn generate(profile: &std::path::Path, margin: &str, out: &std::path::Path) -> String {
    learner_tests::generate_dropin(profile, out, &["--margin", margin, "--explain"])
}

#[test]
fn postgres_survives_its_whole_life_under_an_exercised_drop_in() {
    let Some(_kernel) = privileged("postgres_survives_its_whole_life_under_an_exercised_drop_in")
    else {
        return;
    };
    assert!(
        std::path::Path::new("/usr/lib/postgresql/15/bin/postgres").exists(),
        "`cargo xtask setup` installs postgresql"
    );
    let dir = TempDir::new("e2e-postgres");
    let guest = Guest::boot("postgres");
    let pid = guest.pid.to_string();
    let up = sh(&guest, &format!("systemctl start {UNIT}"));
    assert!(up.status.success(), "{}", text(&up));
    let init = sh(
        &guest,
        "runuser -u postgres -- createdb bench && runuser -u postgres -- pgbench -q -i -s 2 bench",
    );
    assert!(init.status.success(), "{}", text(&init));
    assert!(serving(&guest));

    // The exact drop-in first: learned from a clean start-up and a few idle seconds, as a
    // short staging run would be. (Recorded under load, the restart's own shutdown checkpoint
    // already shows sync_file_range: --restart records the old instance's stop too.)
    let clean = sh(&guest, &format!("systemctl restart {UNIT}"));
    assert!(clean.status.success(), "{}", text(&clean));
    let narrow = dir.join("narrow.profile.yaml");
    let out = learner()
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
        .arg(&narrow)
        .output()
        .expect("record");
    assert!(out.status.success(), "{}", text(&out));

    // Then the whole life: load during the window, then restart, reload, crash, logrotate.
    let whole = dir.join("whole.profile.yaml");
    let recording = learner()
        .args([
            "record",
            UNIT,
            "--restart",
            "--for",
            "6s",
            "--exercise",
            "all",
            "--guest",
            &pid,
            "-o",
        ])
        .arg(&whole)
        .stderr(Stdio::piped())
        .spawn()
        .expect("record --exercise");
    std::thread::sleep(Duration::from_secs(3));
    let load = pgbench(&guest, 30);
    let out = recording.wait_with_output().expect("record --exercise");
    drop(load);
    assert!(out.status.success(), "{}", text(&out));
    let p = Profile::load(&whole).expect("profile");
    for event in ["restart", "reload", "crash", "logrotate"] {
        let how = p.recording.exercised.get(event);
        assert!(
            how.is_some_and(|h| !h.contains("FAILED")),
            "{event}: {how:?}\n{}",
            text(&out)
        );
    }
    assert!(
        p.syscalls.contains_key("fdatasync") || p.syscalls.contains_key("fsync"),
        "{:?}",
        p.syscalls.keys().collect::<Vec<_>>()
    );

    // The exercised recording with the default margin survives the same events applied.
    let survives = dir.join("survives.conf");
    let generated = generate(&whole, "standard", &survives);
    assert!(
        !generated.contains("never saw"),
        "every event was exercised:\n{generated}"
    );
    let out = apply(&guest, &survives);
    assert!(out.status.success(), "{generated}");
    assert!(serving(&guest), "not serving under the drop-in");
    // And a crash under load after it: the database recovers and serves.
    let load = pgbench(&guest, 5);
    std::thread::sleep(Duration::from_secs(2));
    let kill = sh(
        &guest,
        &format!(
            "systemctl kill --kill-whom=all --signal=SIGKILL {UNIT}; sleep 1; systemctl start {UNIT}"
        ),
    );
    drop(load);
    assert!(kill.status.success(), "{}", text(&kill));
    assert!(
        serving(&guest),
        "no crash recovery under the drop-in:\n{generated}\n{}",
        String::from_utf8_lossy(
            &sh(&guest, &format!("journalctl -u {UNIT} -n 30 --no-pager")).stdout
        )
    );
    let removed = sh(
        &guest,
        &format!(
            "rm -f /etc/systemd/system/{UNIT}.d/50-learner-hardening.conf && systemctl daemon-reload && systemctl restart {UNIT}"
        ),
    );
    assert!(removed.status.success(), "{}", text(&removed));

    // The narrow drop-in fails somewhere in the same life, and is rolled back serving.
    let breaks = dir.join("breaks.conf");
    let mut narrow_dropin = generate(&narrow, "exact", &breaks);
    // What a recording that saw no checkpoint lacks: whether the short one happened to see a
    // background flush is chance, so its drop-in is made to lack it for sure. The first start
    // passes (the old instance stops before the drop-in is in place); the restart's shutdown
    // checkpoint fails with it (EPERM is a PANIC with data_sync_retry=off).
    narrow_dropin.push_str("SystemCallFilter=~sync_file_range\n");
    std::fs::write(&breaks, &narrow_dropin).expect("write the narrow drop-in");
    let out = apply(&guest, &breaks);
    assert!(
        !out.status.success(),
        "a drop-in that never saw a shutdown or a crash passed them:\n{narrow_dropin}"
    );
    assert!(guest.is_active(UNIT), "rollback left {UNIT} down");
    assert!(serving(&guest), "not serving after the rollback");
    let left = guest.run(&[
        "test",
        "-e",
        &format!("/etc/systemd/system/{UNIT}.d/50-learner-hardening.conf"),
    ]);
    assert!(
        !left.status.success(),
        "the failed drop-in was left installed"
    );

    drop(guest);
    assert_clean("e2e-postgres");
}
