//! Profile lifecycle (issue 5), from hand-made profiles: `learner diff` between a workload's
//! v1 and v2 shows exactly what changed at both levels with diff(1)'s exit codes, and
//! `learner merge` is a commutative, associative union that never touches its inputs.
use std::{collections::BTreeMap, path::Path};

use learner::{
    observations::{Access, Observations, Slot},
    profile::{Profile, Provenance, Recording, SCHEMA},
};
use learner_tests::{TempDir, learner};

fn profile(host: &str, slots: &[Slot], syscalls: &[&str]) -> Profile {
    let mut observations = Observations::default();
    for s in slots {
        observations.add(s, 0, "app", 1);
    }
    observations.derive_path_facts("/sys/fs/cgroup");
    Profile {
        schema: SCHEMA,
        provenance: Provenance {
            learner_version: "0.1.0".into(),
            hostname: host.into(),
            kernel: "6.1.0".into(),
            arch: "x86_64".into(),
            systemd: Some(252),
            started: format!("2026-11-28T10:00:0{}Z", host.len() % 10),
            ended: "2026-11-28T10:10:00Z".into(),
            command: None,
            unit: Some("app.service".into()),
        },
        recording: Recording {
            syscall_source: "raw_tracepoint/sys_enter".into(),
            startup_seen: Some(true),
            instances: Some(1),
            ..Default::default()
        },
        syscalls: syscalls.iter().map(|s| (s.to_string(), 1)).collect(),
        unknown_syscalls: BTreeMap::new(),
        observations,
        merged_from: vec![],
    }
}

fn v1() -> Profile {
    profile(
        "v1",
        &[
            Slot::Path("/etc/app.conf".into(), Access::Read),
            Slot::Path("/var/log/app/app.log".into(), Access::Write),
            Slot::Socket("AF_INET/SOCK_STREAM".into()),
        ],
        &["read", "write", "openat", "socket", "bind"],
    )
}

/// v2 writes into one new directory and opens one new family.
fn v2() -> Profile {
    let mut p = v1();
    p.observations.add(
        &Slot::Path("/srv/app/cache".into(), Access::Create),
        0,
        "app",
        1,
    );
    p.observations
        .add(&Slot::Socket("AF_INET6/SOCK_STREAM".into()), 0, "app", 1);
    p
}

/// v1 with `n` spool files: more than a directory keeps (FOLD_ENTRIES) fold into one path.
fn with_spool(n: u32) -> Profile {
    let mut p = v1();
    for i in 0..n {
        let file = Slot::Path(format!("/var/spool/app/m{i}"), Access::Create);
        p.observations.add(&file, 0, "app", 1);
    }
    p
}

#[test]
fn diff_compares_a_folded_directory_folded() {
    let dir = TempDir::new("diff-folded");
    let few = with_spool(learner::observations::FOLD_ENTRIES - 100);
    let many = with_spool(learner::observations::FOLD_ENTRIES + 100);
    assert!(many.observations.paths.contains_key("/var/spool/app/*"));
    assert!(!few.observations.paths.contains_key("/var/spool/app/*"));
    let (a, b) = (
        write(&dir, "few.yaml", &few),
        write(&dir, "many.yaml", &many),
    );
    // The same directory, the same accesses, the same drop-in: no hundreds of paths gone.
    for (old, new) in [(&a, &b), (&b, &a)] {
        let (code, text) = diff(old, new, &[]);
        assert_eq!((code, text.trim()), (0, "no differences"));
    }
}

fn write(dir: &TempDir, name: &str, p: &Profile) -> std::path::PathBuf {
    let path = dir.join(name);
    p.write_atomic(&path).expect("write profile");
    path
}

fn diff(old: &Path, new: &Path, extra: &[&str]) -> (i32, String) {
    let out = learner()
        .arg("diff")
        .arg(old)
        .arg(new)
        .args(["--target-systemd", "252"])
        .args(extra)
        .output()
        .expect("learner diff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn diff_shows_exactly_what_changed() {
    let dir = TempDir::new("diff");
    let (a, b) = (write(&dir, "v1.yaml", &v1()), write(&dir, "v2.yaml", &v2()));
    let (code, json) = diff(&a, &b, &["--format", "json"]);
    assert_eq!(code, 1, "{json}");
    let d: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        d["new_needs"],
        serde_json::json!({"families": ["AF_INET6"], "paths": ["/srv/app/cache (create)"]}),
        "{json}"
    );
    assert_eq!(d["no_longer_needed"], serde_json::json!({}));
    // At the drop-in level: the writable directory and the new family, nothing else.
    let added: Vec<&str> = d["dropin_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let removed: Vec<&str> = d["dropin_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        added,
        [
            "ReadWritePaths=-/srv/app -/var/log/app",
            "RestrictAddressFamilies=AF_INET AF_INET6"
        ],
        "{json}"
    );
    assert_eq!(
        removed,
        [
            "ReadWritePaths=-/var/log/app",
            "RestrictAddressFamilies=AF_INET"
        ],
        "{json}"
    );

    let (code, text) = diff(&a, &b, &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("NEW needs what OLD did not:")
            && text.contains("+ AF_INET6")
            && text.contains("+ RestrictAddressFamilies=AF_INET AF_INET6"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");

    // The same profile against itself.
    let (code, text) = diff(&a, &a, &[]);
    assert_eq!((code, text.trim()), (0, "no differences"));
    // Only OLD needed more: a difference, but no new need.
    assert_eq!(diff(&b, &a, &[]).0, 1);
    assert_eq!(diff(&b, &a, &["--fail-on", "new-needs"]).0, 0);
    assert_eq!(diff(&a, &b, &["--fail-on", "new-needs"]).0, 1);
    // Trouble is 2.
    std::fs::write(dir.join("bad.yaml"), "schema: 1\n").expect("write");
    assert_eq!(diff(&a, &dir.join("bad.yaml"), &[]).0, 2);
}

#[test]
fn merge_is_a_union_that_leaves_its_inputs_alone() {
    let dir = TempDir::new("merge");
    let c = profile(
        "c",
        &[Slot::Path("/run/app.pid".into(), Access::Create)],
        &["unlink"],
    );
    let (a, b, c) = (
        write(&dir, "a.yaml", &v1()),
        write(&dir, "b.yaml", &v2()),
        write(&dir, "c.yaml", &c),
    );
    let before: Vec<Vec<u8>> = [&a, &b, &c]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let merge = |inputs: &[&Path], out: &str| {
        let status = learner()
            .arg("merge")
            .args(inputs)
            .arg("-o")
            .arg(dir.join(out))
            .status()
            .expect("merge");
        assert!(status.success());
        Profile::load(&dir.join(out)).expect("merged")
    };
    let ab = merge(&[&a, &b], "ab.yaml");
    let ba = merge(&[&b, &a], "ba.yaml");
    assert_eq!(ab.observations, ba.observations, "commutative");
    assert_eq!(ab.syscalls, ba.syscalls);
    let ab_c = merge(&[&dir.join("ab.yaml"), &c], "ab_c.yaml");
    let bc = merge(&[&b, &c], "bc.yaml");
    let a_bc = merge(&[&a, &dir.join("bc.yaml")], "a_bc.yaml");
    assert_eq!(ab_c.observations, a_bc.observations, "associative");
    assert_eq!(ab_c.syscalls, a_bc.syscalls);
    // A union: everything each one saw, counts added.
    assert!(ab_c.observations.paths.contains_key("/run/app.pid"));
    assert!(
        ab_c.observations
            .sockets
            .contains_key("AF_INET6/SOCK_STREAM")
    );
    assert_eq!(
        ab.observations.paths["/etc/app.conf"][&Access::Read].count,
        2
    );
    // Each input's provenance is kept, flattened through nested merges.
    let hosts: Vec<&str> = ab_c
        .merged_from
        .iter()
        .map(|p| p.hostname.as_str())
        .collect();
    assert_eq!(hosts, ["v1", "v1", "c"], "v2() keeps v1's provenance");
    assert_eq!(bc.merged_from.len(), 2);
    // Inputs untouched, and merge refuses to write over one.
    let after: Vec<Vec<u8>> = [&a, &b, &c]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);
    let out = learner()
        .arg("merge")
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(&a)
        .output()
        .expect("merge");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is an input"));
    assert_eq!(std::fs::read(&a).unwrap(), before[0]);
}
