//! The small directives (small.rs) against hand-made profiles: evidence present gives the
//! value it forces, absent the tightest, and versions that do not know a value never see it.

use crate::policy::{Policy, filter_groups::SyscallGroups, margin::Margin, resolve};
use crate::{
    model::observations::{Access, Fact, Slot},
    model::profile::Profile,
};

/// A profile with nothing in it that forbids any of them: a signal handler installed (what
/// PrivatePIDs= asks for), nothing created, no capability.
fn bare() -> Profile {
    Profile {
        syscalls: ["read", "write", "openat", "close", "rt_sigaction"]
            .map(|s| (s.to_owned(), 1))
            .into(),
        ..Profile::example("svc.service")
    }
}

fn with(mut p: Profile, slots: &[Slot]) -> Profile {
    for s in slots {
        p.observations.add(s, 0, "svc", 1);
    }
    p.observations.derive_path_facts("/sys/fs/cgroup");
    p
}

fn calling(mut p: Profile, calls: &[&str]) -> Profile {
    for c in calls {
        p.syscalls.insert((*c).into(), 3);
    }
    p
}

fn path(path: &str, access: Access) -> Slot {
    Slot::Path(path.into(), access)
}

fn mode(detail: &str) -> Slot {
    Slot::Fact(Fact::CreatedMode, detail.into())
}

fn policy(p: &Profile, systemd: u32) -> Policy {
    resolve(
        p,
        systemd,
        &SyscallGroups::for_version(systemd, None),
        Margin::Exact,
    )
}

const TIGHTEST_257: &[(&str, &str)] = &[
    ("UMask", "0077"),
    ("KeyringMode", "private"),
    ("RemoveIPC", "yes"),
    ("PrivateIPC", "yes"),
    ("PrivateUsers", "yes"),
    ("PrivatePIDs", "yes"),
    ("ProtectControlGroups", "strict"),
    ("PrivateTmp", "disconnected"),
];

#[test]
fn each_is_tightest_without_evidence() {
    let p = policy(&bare(), 257);
    for (directive, value) in TIGHTEST_257 {
        assert_eq!(p.value(directive), Some(*value), "{directive}");
        let e = &p.decision(directive).unwrap().evidence;
        assert!(!e.is_empty(), "{directive}: no evidence");
    }
}

#[test]
fn evidence_forces_the_looser_value() {
    let created = |file: &str, m: &str| {
        let dir = file.rsplit_once('/').unwrap().0;
        vec![path(file, Access::Create), mode(&format!("{dir} file {m}"))]
    };
    let noise = Slot::Capability {
        name: "CAP_SYS_ADMIN".into(),
        granted: true,
        during: "mmap".into(),
    };
    let bind_cap = Slot::Capability {
        name: "CAP_NET_BIND_SERVICE".into(),
        granted: true,
        during: "bind".into(),
    };
    let cases: Vec<(&str, Profile, Option<&str>, &str)> = vec![
        // Files for the service alone, or asked for with group bits only.
        (
            "UMask",
            with(bare(), &created("/var/lib/svc/db", "0600")),
            Some("0077"),
            "nothing",
        ),
        (
            "UMask",
            with(bare(), &created("/var/lib/svc/db", "0640")),
            Some("0027"),
            "not 0077: created /var/lib/svc file 0640",
        ),
        (
            "UMask",
            with(bare(), &created("/run/svc.pid", "0644")),
            None,
            "not 0027: created /run file 0644",
        ),
        (
            "UMask",
            with(bare(), &[path("/run/svc.sock", Access::Bind)]),
            None,
            "bound unix socket /run/svc.sock",
        ),
        // Created, but no mode recorded for its directory: an older profile.
        (
            "UMask",
            with(bare(), &[path("/run/svc.pid", Access::Create)]),
            None,
            "does not record the mode",
        ),
        // A directory made with 0755: others may enter it.
        (
            "UMask",
            with(
                bare(),
                &[
                    path("/var/lib/svc/d", Access::Create),
                    mode("/var/lib/svc dir 0755"),
                ],
            ),
            None,
            "dir 0755",
        ),
        (
            "KeyringMode",
            with(
                bare(),
                &[Slot::Fact(Fact::KeyManagement, "keyctl operation 1".into())],
            ),
            None,
            "keyctl operation 1",
        ),
        (
            "RemoveIPC",
            calling(bare(), &["shmget"]),
            None,
            "called shmget (3x)",
        ),
        (
            "RemoveIPC",
            with(bare(), &[path("/dev/shm/svc", Access::Create)]),
            None,
            "created /dev/shm/svc",
        ),
        // POSIX shared memory is a tmpfs file: an IPC namespace does not separate it.
        (
            "PrivateIPC",
            with(bare(), &[path("/dev/shm/svc", Access::Create)]),
            Some("yes"),
            "nothing",
        ),
        (
            "PrivateIPC",
            calling(bare(), &["semget", "mq_open"]),
            None,
            "semget (3x), mq_open (3x)",
        ),
        (
            "PrivateUsers",
            with(bare(), &[bind_cap]),
            None,
            "CAP_NET_BIND_SERVICE granted",
        ),
        (
            "PrivateUsers",
            with(bare(), &[noise]),
            Some("yes"),
            "nothing",
        ),
        (
            "PrivateUsers",
            calling(bare(), &["setgroups"]),
            None,
            "only root and the unit's user are mapped",
        ),
        (
            "PrivateUsers",
            with(bare(), &[path("/run/svc.sock", Access::Bind)]),
            None,
            "would appear as nobody",
        ),
        // A monitoring agent looking at who runs other processes.
        (
            "PrivateUsers",
            with(bare(), &[path("/proc/[pid]/status", Access::Read)]),
            None,
            "other users' processes would appear to it as nobody's",
        ),
        // Its own status, another process's counters, or a liveness check (a stat of
        // /proc/PID) say nothing about owners.
        (
            "PrivateUsers",
            with(
                bare(),
                &[
                    path("/proc/self/status", Access::Read),
                    path("/proc/[pid]/stat", Access::Read),
                    path("/proc/[pid]", Access::Lookup),
                    path("/proc/[pid]/status", Access::Lookup),
                ],
            ),
            Some("yes"),
            "nothing",
        ),
        (
            "PrivatePIDs",
            calling(bare(), &["kill"]),
            None,
            "called kill (3x) (targets are not recorded)",
        ),
        (
            "PrivatePIDs",
            with(bare(), &[path("/proc/[pid]/status", Access::Read)]),
            None,
            "read /proc/[pid]/status",
        ),
        (
            "PrivatePIDs",
            Profile {
                syscalls: [("read".to_owned(), 1)].into(),
                ..bare()
            },
            None,
            "no signal handler",
        ),
        (
            "PrivatePIDs",
            with(bare(), &[Slot::Fork, Slot::Exit]),
            None,
            "svc forked and exited",
        ),
        (
            "ProtectControlGroups",
            with(
                bare(),
                &[path(
                    "/sys/fs/cgroup/system.slice/svc.service/memory.max",
                    Access::Read,
                )],
            ),
            Some("yes"),
            "which a cgroup namespace shows otherwise",
        ),
        (
            "ProtectControlGroups",
            with(bare(), &[path("/proc/self/cgroup", Access::Read)]),
            Some("yes"),
            "read /proc/self/cgroup",
        ),
        (
            "ProtectControlGroups",
            with(
                bare(),
                &[path("/sys/fs/cgroup/x/cgroup.procs", Access::Write)],
            ),
            None,
            "wrote",
        ),
        (
            "PrivateTmp",
            with(
                bare(),
                &[
                    path("/tmp/own", Access::Create),
                    path("/tmp/own", Access::Write),
                ],
            ),
            Some("yes"),
            "kept in memory",
        ),
        (
            "PrivateTmp",
            with(bare(), &[path("/tmp/.X11-unix/X0", Access::Connect)]),
            None,
            "used /tmp/.X11-unix/X0",
        ),
    ];
    for (directive, p, forced, why) in cases {
        let resolved = policy(&p, 257);
        let evidence = resolved.decision(directive).unwrap().evidence.join("\n");
        assert_eq!(resolved.value(directive), forced, "{directive}: {evidence}");
        if why != "nothing" {
            assert!(
                evidence.contains(why),
                "{directive}: {why} not in {evidence}"
            );
        }
    }
}

#[test]
fn key_calls_not_recorded_are_taken_as_made() {
    let mut p = bare();
    p.observations.facts.key_management = None;
    // systemd's executor always calls these; counted, they say nothing of the service.
    let p = calling(p, &["keyctl", "add_key"]);
    let resolved = policy(&p, 257);
    assert_eq!(resolved.value("KeyringMode"), None);
    // Recorded, and none by the service: the counts are systemd's own.
    let mut recorded = p.clone();
    recorded.observations.facts.key_management = Some(Default::default());
    assert_eq!(policy(&recorded, 257).value("KeyringMode"), Some("private"));
    // A union with a profile that did not record them cannot say none were made.
    let merged = Profile::merged(&[recorded, p]).unwrap();
    assert_eq!(merged.observations.facts.key_management, None);
}

#[test]
fn versions_that_do_not_know_a_value_never_see_it() {
    let p = bare();
    // (version, directive, value or None for no line at all)
    for (systemd, directive, value) in [
        (256, "PrivatePIDs", None),
        (256, "ProtectControlGroups", Some("yes")),
        (256, "PrivateTmp", Some("yes")),
        (252, "ProtectControlGroups", Some("yes")),
        (252, "PrivateIPC", Some("yes")),
        (247, "PrivateIPC", None),
        (247, "PrivateUsers", Some("yes")),
        (239, "KeyringMode", Some("private")),
        (234, "KeyringMode", None),
        (234, "RemoveIPC", Some("yes")),
        (231, "RemoveIPC", None),
        (231, "PrivateUsers", None),
        (231, "UMask", Some("0077")),
    ] {
        let resolved = policy(&p, systemd);
        assert_eq!(resolved.value(directive), value, "{directive} on {systemd}");
        let evidence = resolved.decision(directive).unwrap().evidence.join("\n");
        assert!(
            value.is_some() || evidence.contains(&format!("systemd {systemd} does not know it")),
            "{directive} on {systemd}: {evidence}"
        );
    }
    // The 257 values are named as unknown to older ones, and never written.
    let old = policy(&p, 256);
    let text: Vec<&String> = old.decisions.iter().flat_map(|d| &d.lines).collect();
    for line in [
        "ProtectControlGroups=strict",
        "PrivateTmp=disconnected",
        "PrivatePIDs=yes",
    ] {
        assert!(!text.iter().any(|l| *l == line), "{line} on 256");
    }
    let e = old
        .decision("ProtectControlGroups")
        .unwrap()
        .evidence
        .join("\n");
    assert!(
        e.contains("not strict: systemd 256 does not know it (needs 257)"),
        "{e}"
    );
}

#[test]
fn remove_ipc_is_not_set_for_a_user_other_units_run_as_too() {
    // pgbouncer runs as postgres; PostgreSQL's postmaster does too, and its shared memory in
    // /dev/shm is the user's: RemoveIPC=yes removed it at pgbouncer's stop.
    let mut p = Profile::example("pgbouncer.service");
    p.unit = Some(crate::model::unit::UnitRecord {
        settings: [("User".to_owned(), "postgres".to_owned())].into(),
        ..Default::default()
    });
    assert_eq!(
        crate::policy::toggle_forbids("RemoveIPC", "yes", &p),
        Some(None)
    );
    p.unit.as_mut().unwrap().user_shared_with = vec!["postgresql@15-main.service".into()];
    assert_eq!(
        crate::policy::toggle_forbids("RemoveIPC", "yes", &p),
        Some(Some(
            "its user postgres (or its group) also ran processes of postgresql@15-main.service while it was recorded"
                .into()
        ))
    );
    // A merge keeps what any recording saw.
    let alone = Profile::example("pgbouncer.service");
    let merged = Profile::merged(&[alone, p]).unwrap();
    assert_eq!(
        merged.unit.unwrap().user_shared_with,
        ["postgresql@15-main.service"]
    );
}
