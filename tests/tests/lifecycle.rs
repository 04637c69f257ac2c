//! Profile lifecycle (issue 5), from hand-made profiles: `learner diff` between a workload's
//! v1 and v2 shows exactly what changed at both levels with diff(1)'s exit codes, and
//! `learner merge` is a commutative, associative union that never touches its inputs.
use std::path::Path;

use learner::{
    model::observations::{Access, Observations, Slot},
    model::profile::{Profile, Recording},
};
use learner_tests::{TempDir, learner};

fn profile(host: &str, slots: &[Slot], syscalls: &[&str]) -> Profile {
    let mut observations = Observations::default();
    for s in slots {
        observations.add(s, 0, "app", 1);
    }
    observations.derive_path_facts("/sys/fs/cgroup");
    let mut p = Profile {
        recording: Recording {
            syscall_source: "raw_tracepoint/sys_enter".into(),
            startup_seen: Some(true),
            instances: Some(1),
            ..Default::default()
        },
        syscalls: syscalls.iter().map(|s| (s.to_string(), 1)).collect(),
        observations,
        ..Profile::example("app.service")
    };
    p.provenance.hostname = host.into();
    p.provenance.started = format!("2026-11-28T10:00:0{}Z", host.len() % 10);
    p
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
    // As a recording has it: the mode the create asked for (private, so UMask=0077 stays).
    p.observations.add(
        &Slot::Fact(
            learner::model::observations::Fact::CreatedMode,
            "/srv/app file 0600".into(),
        ),
        0,
        "app",
        1,
    );
    p.observations
        .add(&Slot::Socket("AF_NETLINK/SOCK_RAW".into()), 0, "app", 1);
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
    let few = with_spool(learner::model::observations::FOLD_ENTRIES - 100);
    let many = with_spool(learner::model::observations::FOLD_ENTRIES + 100);
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

/// The drop-in changes of a `diff --format json`, as `(directive, old, new, effect)`.
fn changes(d: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    d["dropin"]
        .as_array()
        .expect("dropin")
        .iter()
        .map(|c| {
            (
                s(&c["directive"]),
                s(&c["old"]),
                s(&c["new"]),
                s(&c["effect"]),
            )
        })
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn diff_judges_by_the_drop_in() {
    let dir = TempDir::new("diff");
    let (a, b) = (write(&dir, "v1.yaml", &v1()), write(&dir, "v2.yaml", &v2()));
    let (code, out) = diff(&a, &b, &["--format", "json", "--fail-on", "looser"]);
    assert_eq!(code, 1, "{out}");
    let d = json(&out);
    // Exactly the writable directory (so /srv is no longer inaccessible) and the family,
    // each looser, each with its cause.
    assert_eq!(
        changes(&d),
        [
            ("ReadWritePaths", "", "/srv/app", "looser"),
            ("InaccessiblePaths", "/srv", "", "looser"),
            ("RestrictAddressFamilies", "", "AF_NETLINK", "looser"),
        ]
        .map(|(a, b, c, e)| (a.to_owned(), b.to_owned(), c.to_owned(), e.to_owned())),
        "{out}"
    );
    assert_eq!(
        d["dropin"][0]["because"],
        serde_json::json!(["app: create /srv/app/cache 1x"])
    );
    assert_eq!(
        d["dropin"][1]["because"],
        serde_json::json!(["app: create /srv/app/cache 1x"])
    );
    assert_eq!(
        d["dropin"][2]["because"],
        serde_json::json!(["app: socket AF_NETLINK/SOCK_RAW 1x"])
    );
    assert_eq!(d["looser"], true);
    assert_eq!(d["target_systemd"], 252);
    // Both observations are accounted for by the drop-in; the create's private mode changes
    // no directive (UMask=0077 stays) and is information.
    assert_eq!(
        d["information"],
        serde_json::json!({"added": {"facts": ["created_modes: /srv/app file 0600"]}, "removed": {}}),
        "{out}"
    );

    let (code, text) = diff(&a, &b, &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("looser  + ReadWritePaths: /srv/app (app: create /srv/app/cache 1x)")
            && text.contains("looser  + RestrictAddressFamilies: AF_NETLINK"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");

    // The same profile against itself.
    let (code, text) = diff(&a, &a, &[]);
    assert_eq!((code, text.trim()), (0, "no differences"));
    // Only OLD permitted more: tighter, a difference, but nothing looser.
    let (code, out) = diff(&b, &a, &["--format", "json"]);
    assert_eq!(code, 1);
    assert!(
        changes(&json(&out)).iter().all(|c| c.3 == "tighter"),
        "{out}"
    );
    assert_eq!(diff(&b, &a, &["--fail-on", "looser"]).0, 0);
    // `new-needs` is the old name of the same gate.
    assert_eq!(diff(&b, &a, &["--fail-on", "new-needs"]).0, 0);
    assert_eq!(diff(&a, &b, &["--fail-on", "new-needs"]).0, 1);
    // Trouble is 2.
    std::fs::write(dir.join("bad.yaml"), "schema: 1\n").expect("write");
    assert_eq!(diff(&a, &dir.join("bad.yaml"), &[]).0, 2);
}

#[test]
fn diff_keeps_what_changes_no_directive_as_information() {
    let dir = TempDir::new("diff-info");
    // v2 reads one more config file, and nothing else.
    let mut reads = v1();
    reads.observations.add(
        &Slot::Path("/etc/app.d/extra.conf".into(), Access::Read),
        0,
        "app",
        1,
    );
    let (a, b) = (
        write(&dir, "v1.yaml", &v1()),
        write(&dir, "v2.yaml", &reads),
    );
    let (code, out) = diff(&a, &b, &["--format", "json", "--fail-on", "looser"]);
    assert_eq!(code, 0, "{out}");
    let d = json(&out);
    assert_eq!(d["dropin"], serde_json::json!([]), "{out}");
    assert_eq!(d["looser"], false);
    assert_eq!(
        d["information"]["added"],
        serde_json::json!({"paths": ["/etc/app.d/extra.conf (read)"]}),
        "{out}"
    );
    let (code, text) = diff(&a, &b, &["--fail-on", "looser"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("information (observations that change no directive):")
            && text.contains("+ paths: /etc/app.d/extra.conf (read)"),
        "{text}"
    );
    // Any difference still fails `--fail-on any`.
    assert_eq!(diff(&a, &b, &[]).0, 1);

    // One new syscall is one item, not a rewritten line of fifty names (with the exact
    // margin: the standard one adds the call's family, chmod and fchmodat2, as generate does).
    let mut calls = v1();
    calls.syscalls.insert("fchmodat".into(), 3);
    let c = write(&dir, "calls.yaml", &calls);
    let (code, out) = diff(
        &a,
        &c,
        &[
            "--format",
            "json",
            "--fail-on",
            "looser",
            "--margin",
            "exact",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let d = json(&out);
    let items: Vec<(String, String, String, String)> = changes(&d);
    // fchmodat2 comes with it: glibc tries it first (the policy's fallback rule).
    assert_eq!(
        items,
        [
            ("SystemCallFilter", "", "fchmodat", "looser"),
            ("SystemCallFilter", "", "fchmodat2", "looser"),
        ]
        .map(|(a, b, c, e)| (a.to_owned(), b.to_owned(), c.to_owned(), e.to_owned())),
        "{out}"
    );
    assert_eq!(
        d["dropin"][0]["because"],
        serde_json::json!(["called fchmodat 3x"])
    );
    assert_eq!(
        d["dropin"][1]["because"],
        serde_json::json!(["fchmodat2: added, glibc tries it before fchmodat"])
    );
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
            .contains_key("AF_NETLINK/SOCK_RAW")
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

fn verify(dropin: &Path, profile: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = learner()
        .arg("verify")
        .arg(dropin)
        .arg(profile)
        .args(["--target-systemd", "252"])
        .args(extra)
        .output()
        .expect("learner verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_gates_last_releases_drop_in_against_this_ones_recording() {
    let dir = TempDir::new("verify");
    let (a, b) = (write(&dir, "v1.yaml", &v1()), write(&dir, "v2.yaml", &v2()));
    let dropin = dir.join("v1.conf");
    let out = learner()
        .arg("generate")
        .arg(&a)
        .args(["--target-systemd", "252", "-o"])
        .arg(&dropin)
        .output()
        .expect("generate");
    assert!(out.status.success());
    // v1's drop-in permits v1, not v2: exactly the new directory and the new family.
    assert_eq!(verify(&dropin, &a, &[]).0, 0);
    let (code, text, said) = verify(&dropin, &b, &[]);
    assert_eq!(code, 1, "{text}{said}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "app: create /srv/app/cache 1x: ProtectSystem=strict; add ReadWritePaths=-/srv/app",
            "app: socket AF_NETLINK/SOCK_RAW 1x: RestrictAddressFamilies; add RestrictAddressFamilies=AF_NETLINK",
        ],
        "{said}"
    );
    let (_, json, _) = verify(&dropin, &b, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["permitted"], false);
    assert_eq!(v["target_systemd"], 252);
    assert_eq!(v["gaps"][0]["kind"], "denied");
    assert_eq!(
        v["gaps"][1]["fix"],
        "add RestrictAddressFamilies=AF_NETLINK"
    );
    // Each fix is a line to append: with both, v2 is permitted.
    let mut fixed = std::fs::read_to_string(&dropin).expect("drop-in");
    for line in text.lines() {
        let fix = line.rsplit_once("; add ").expect("a fix").1;
        fixed.push_str(&format!("{fix}\n"));
    }
    let fixed_path = dir.join("fixed.conf");
    std::fs::write(&fixed_path, fixed).expect("write");
    let (code, text, said) = verify(&fixed_path, &b, &[]);
    assert_eq!((code, text.as_str()), (0, ""), "{said}");
    // The unit's own settings count: its family deny-list applies unless the drop-in resets
    // the option, as systemd merges them.
    let unit = dir.join("app.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/usr/bin/app\nRestrictAddressFamilies=~AF_NETLINK\n",
    )
    .expect("write");
    let unit_arg = unit.to_string_lossy().into_owned();
    let (code, text, _) = verify(&fixed_path, &b, &["--unit-file", &unit_arg]);
    assert_eq!(
        code, 0,
        "the drop-in's reset drops the unit's deny-list: {text}"
    );
    let partial = dir.join("partial.conf");
    std::fs::write(&partial, "[Service]\nPrivateTmp=yes\n").expect("write");
    let (code, text, _) = verify(&partial, &b, &["--unit-file", &unit_arg]);
    assert_eq!(code, 1);
    assert_eq!(
        text.trim(),
        "app: socket AF_NETLINK/SOCK_RAW 1x: RestrictAddressFamilies; add RestrictAddressFamilies=AF_NETLINK"
    );
    // Trouble is 2, in one line.
    for (dropin, profile) in [
        (dir.join("missing.conf"), b.clone()),
        (unit.clone(), dir.join("missing.yaml")),
        (a.clone(), b.clone()),
    ] {
        let (code, _, said) = verify(&dropin, &profile, &[]);
        assert_eq!(code, 2, "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
}
