//! What each directive's evidence comes from, and which of those sources a recording lacked.
//!
//! A directive is only as good as what the recording could see: `CapabilityBoundingSet=`
//! from capability checks, `ReadWritePaths=` from the arguments of the file syscalls, and so
//! on. Where a source was missing (a kernel without the `capability/cap_capable` tracepoint,
//! a traced syscall without its tracepoint, no process tree), "nothing observed" means
//! "nothing could be observed": every directive that depends on that source is left unset,
//! and the drop-in and stderr say why. The dependencies are data ([`DEPENDS`]); a directive
//! not listed there depends on everything.
use std::collections::BTreeSet;

use super::{Decision, Policy};
use crate::model::{io_uring, profile::Profile};

/// What a directive's evidence needs, besides the syscall counts (which every recording has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Capability checks: what was granted, to whom.
    Capabilities,
    /// The arguments of these traced syscalls (paths, sockets, flags).
    Calls(&'static [&'static str]),
}

use Needs::{Calls, Capabilities};

/// Calls that name files: paths, their accesses, modes, executables.
const FILES: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "mknod",
    "mknodat",
    "execve",
    "execveat",
    "statfs",
    // Lookups (a path kept in view) and extended attributes (a write).
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "inotify_add_watch",
    "fanotify_mark",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    // A unix socket bound at a path is a file the service creates.
    "bind",
];
/// Calls that make sockets and name addresses.
const SOCKETS: &[&str] = &["socket", "socketpair", "bind", "connect"];
/// Calls that name peers (IPAddressAllow=, abstract sockets).
const PEERS: &[&str] = &[
    "accept", "accept4", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
];
const MEMORY: &[&str] = &["mmap", "mprotect", "pkey_mprotect", "shmat"];
const NAMESPACE_CALLS: &[&str] = &["clone", "clone3", "unshare", "setns"];
const CLOCK: &[&str] = &["clock_settime", "clock_adjtime", "adjtimex", "settimeofday"];
const MODULES: &[&str] = &crate::model::observations::MODULE_SYSCALLS;
const KEYRINGS: &[&str] = &["keyctl", "add_key", "request_key"];
/// Credential changes (User=, PrivateUsers=).
const IDS: &[&str] = crate::model::credentials::ID_CHANGES;

/// Each directive and what its evidence comes from. Directives that only read syscall
/// counts need nothing; a directive that is not listed needs every source.
pub const DEPENDS: &[(&str, &[Needs])] = &[
    ("ProtectSystem", &[Calls(FILES)]),
    ("ReadWritePaths", &[Calls(FILES)]),
    ("ProtectHome", &[Calls(FILES), Calls(SOCKETS)]),
    ("PrivateTmp", &[Calls(FILES), Calls(SOCKETS)]),
    // It drops CAP_MKNOD and CAP_SYS_RAWIO.
    ("PrivateDevices", &[Calls(FILES), Capabilities]),
    ("DevicePolicy", &[Calls(FILES)]),
    ("DeviceAllow", &[Calls(FILES)]),
    ("ProtectKernelTunables", &[Calls(FILES)]),
    // Each drops the capabilities of what it protects.
    (
        "ProtectKernelModules",
        &[Calls(FILES), Calls(MODULES), Capabilities],
    ),
    (
        "ProtectKernelLogs",
        &[Calls(FILES), Calls(&["syslog"]), Capabilities],
    ),
    ("ProtectClock", &[Calls(FILES), Calls(CLOCK), Capabilities]),
    (
        "ProtectControlGroups",
        &[Calls(FILES), Calls(NAMESPACE_CALLS)],
    ),
    (
        "ProtectHostname",
        &[Calls(&["sethostname", "setdomainname"])],
    ),
    ("ProtectProc", &[Calls(FILES)]),
    ("ProcSubset", &[Calls(FILES)]),
    ("PrivateMounts", &[]),
    ("InaccessiblePaths", &[Calls(FILES)]),
    ("NoExecPaths", &[Calls(FILES)]),
    ("ExecPaths", &[Calls(FILES)]),
    ("NoNewPrivileges", &[Calls(FILES)]),
    ("RestrictSUIDSGID", &[Calls(FILES)]),
    ("LockPersonality", &[Calls(&["personality"])]),
    (
        "RestrictRealtime",
        &[Calls(&["sched_setscheduler", "sched_setattr"])],
    ),
    ("MemoryDenyWriteExecute", &[Calls(MEMORY)]),
    ("UMask", &[Calls(FILES)]),
    ("RemoveIPC", &[Calls(FILES)]),
    ("PrivateIPC", &[]),
    // Kept capabilities and id changes forbid it.
    ("PrivateUsers", &[Calls(FILES), Calls(IDS), Capabilities]),
    ("KeyringMode", &[Calls(KEYRINGS)]),
    ("PrivatePIDs", &[Calls(FILES)]),
    ("RestrictNamespaces", &[Calls(NAMESPACE_CALLS)]),
    ("CapabilityBoundingSet", &[Capabilities]),
    ("AmbientCapabilities", &[Capabilities]),
    ("PrivateNetwork", &[Calls(SOCKETS), Calls(PEERS)]),
    ("RestrictAddressFamilies", &[Calls(SOCKETS)]),
    ("IPAddressAllow", &[Calls(SOCKETS), Calls(PEERS)]),
    ("IPAddressDeny", &[Calls(SOCKETS), Calls(PEERS)]),
    ("SocketBindAllow", &[Calls(SOCKETS)]),
    ("SocketBindDeny", &[Calls(SOCKETS)]),
    ("SystemCallArchitectures", &[]),
    ("SystemCallFilter", &[]),
    ("SystemCallErrorNumber", &[]),
    // --identity: a non-root service keeps only the capabilities it was seen using, and
    // needs every write it makes given to it.
    ("User", &[Calls(FILES), Calls(IDS), Capabilities]),
    ("Group", &[Calls(FILES), Calls(IDS), Capabilities]),
    ("DynamicUser", &[Calls(FILES), Calls(IDS), Capabilities]),
];

/// A source the recording lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blind {
    /// No capability checks (the profile's `capability_source`).
    Capabilities(String),
    /// No arguments of any traced syscall: no observation source at all.
    AllCalls(String),
    /// No arguments of this traced syscall.
    Call(String, String),
    /// Processes that left the cgroup were not followed, and the service did something that
    /// may have moved one: what they did afterwards is missing, whatever it was.
    ProcessTree(String),
    /// io_uring requests ran whose operations were not recorded: any of them may have done
    /// the work of a traced call (opened, renamed, connected) unseen.
    IoUring(String),
}

impl Blind {
    /// Whether a directive with `needs` depends on what this source would have shown.
    fn hides(&self, needs: Option<&[Needs]>) -> bool {
        let Some(needs) = needs else {
            return true;
        };
        match self {
            Blind::ProcessTree(_) => true,
            Blind::Capabilities(_) => needs.contains(&Capabilities),
            Blind::AllCalls(_) => needs.iter().any(|n| matches!(n, Calls(_))),
            Blind::Call(name, _) => needs
                .iter()
                .any(|n| matches!(n, Calls(calls) if calls.contains(&name.as_str()))),
            Blind::IoUring(_) => needs.iter().any(
                |n| matches!(n, Calls(calls) if io_uring::stand_ins().any(|c| calls.contains(&c))),
            ),
        }
    }

    /// What the recording could not see, and why.
    pub fn describe(&self) -> String {
        match self {
            Blind::Capabilities(why) => format!("no capability checks ({why})"),
            Blind::AllCalls(why) => format!("no syscall arguments (paths, sockets, ...) ({why})"),
            Blind::Call(name, why) => format!("no arguments of {name} ({why})"),
            Blind::ProcessTree(why) => {
                format!("nothing of the processes that left the unit's cgroup ({why})")
            }
            Blind::IoUring(why) => {
                format!("no paths or addresses of its io_uring requests ({why})")
            }
        }
    }
}

fn needs_of(directive: &str) -> Option<&'static [Needs]> {
    DEPENDS
        .iter()
        .find(|(d, _)| *d == directive)
        .map(|(_, needs)| *needs)
}

/// The skipped probe's name: what comes before the first `:`.
fn probe_name(skipped: &str) -> &str {
    skipped.split(':').next().unwrap_or(skipped).trim()
}

/// Whether the service did something that can move a process to another cgroup: talk to
/// the system bus (pam_systemd asks logind for a session scope, `systemd-run --scope` asks
/// systemd) or write a cgroup's process list itself.
fn could_move_processes(p: &Profile) -> Option<String> {
    const BUS: &[&str] = &[
        "/run/dbus/system_bus_socket",
        "/var/run/dbus/system_bus_socket",
        "/run/systemd/private",
    ];
    let o = &p.observations;
    if let Some(bus) = o
        .connects
        .keys()
        .find(|k| BUS.iter().any(|b| k.ends_with(b)))
    {
        return Some(format!("it connected to {bus}"));
    }
    // A write there moves a process into that cgroup: into the recorded one (`learner run`
    // joining its command to it, a service delegating to its own children) leaves nothing.
    let recorded = |path: &str| {
        path.split('/').any(|part| {
            part.starts_with("learner-run-") || p.provenance.unit.as_deref() == Some(part)
        })
    };
    o.paths
        .iter()
        .find(|(path, a)| {
            (path.ends_with("/cgroup.procs") || path.ends_with("/cgroup.threads"))
                && !recorded(path)
                && a.iter().any(|(k, s)| k.writes() && s.ok > 0)
        })
        .map(|(path, _)| format!("it wrote {path}"))
}

/// Every source `p`'s recording lacked. A merged profile carries each part's (see
/// `Profile::merged`).
pub fn blind_spots(p: &Profile) -> Vec<Blind> {
    let r = &p.recording;
    let mut out = Vec::new();
    if !r.capabilities_observed() {
        out.push(Blind::Capabilities(match r.capability_source.as_str() {
            "" => "not recorded".to_owned(),
            s => s.strip_prefix("none: ").unwrap_or(s).to_owned(),
        }));
    }
    if r.observation_source.is_empty() {
        let why = r
            .skipped_probes
            .iter()
            .find(|s| probe_name(s) == "observations")
            .cloned()
            .unwrap_or_else(|| "not recorded".to_owned());
        out.push(Blind::AllCalls(why));
    }
    let arch = crate::model::syscalls::Arch::from_name(&p.provenance.arch)
        .unwrap_or(crate::model::syscalls::Arch::X86_64);
    let mut calls = BTreeSet::new();
    for s in &r.skipped_probes {
        let name = probe_name(s);
        if arch.syscall_number(name).is_some() && calls.insert(name) {
            let why = s[name.len()..].trim_start_matches(':').trim();
            out.push(Blind::Call(name.to_owned(), why.to_owned()));
        }
    }
    io_uring_blind_spots(p, &mut calls, &mut out);
    // Without the process tree a moved process drops out of the recording; nothing moved one
    // unless the service did something that moves processes (or that could not be seen).
    if let Some(skip) = r
        .skipped_probes
        .iter()
        .find(|s| probe_name(s) == "process tree")
    {
        let moved = could_move_processes(p).or_else(|| {
            (r.observation_source.is_empty()
                || ["connect", "openat", "open"]
                    .iter()
                    .any(|c| calls.contains(c)))
            .then(|| "whether it moved any could not be seen".to_owned())
        });
        if let Some(moved) = moved {
            out.push(Blind::ProcessTree(format!("{skip}; {moved}")));
        }
    }
    out
}

/// What the service's io_uring requests did unseen: each operation that does a traced
/// call's work leaves that call blind (its path or address was not recorded), and so does
/// every such call when the operations themselves were not recorded (an older learner, a
/// kernel without the tracepoint) or one is newer than learner.
fn io_uring_blind_spots<'a>(p: &'a Profile, calls: &mut BTreeSet<&'a str>, out: &mut Vec<Blind>) {
    let r = &p.recording;
    // Counted even where the kernel had no io_uring (its calls failed there): a merge's
    // `not_on_this_kernel` is every part's, and a part that recorded operations elsewhere
    // must still be judged. A recording on such a kernel has recorded no operation.
    let used: Vec<String> = ["io_uring_setup", "io_uring_enter"]
        .iter()
        .filter_map(|c| {
            p.syscalls
                .get(*c)
                .filter(|n| **n > 0)
                .map(|n| format!("{c} {n}x"))
        })
        .collect();
    if used.is_empty() {
        return;
    }
    let used = used.join(", ");
    // Before Linux 5.12 the workers that run its requests, and the SQPOLL thread that
    // submits them, are kernel threads outside the unit's cgroup: their capability checks,
    // and SQPOLL's submissions, are not recorded.
    if let Some((major, minor)) = kernel_version(&p.provenance.kernel)
        && (major, minor) < (5, 12)
        && !r.not_on_this_kernel.iter().any(|c| c == "io_uring_setup")
    {
        let why = format!(
            "it used io_uring ({used}) on Linux {major}.{minor}, whose io_uring workers and SQPOLL thread are kernel threads outside the unit's cgroup"
        );
        out.push(Blind::IoUring(why.clone()));
        out.push(Blind::Capabilities(why));
        return;
    }
    let skipped = r
        .skipped_probes
        .iter()
        .find(|s| probe_name(s) == "io_uring");
    let ops = match (&p.observations.io_uring, skipped) {
        (Some(ops), None) => ops,
        (_, Some(skip)) => {
            let skip = skip["io_uring".len()..].trim_start_matches(':').trim();
            out.push(Blind::IoUring(format!("it used io_uring ({used}); {skip}")));
            return;
        }
        (None, None) => {
            out.push(Blind::IoUring(format!(
                "it used io_uring ({used}), and the profile does not record its operations (recorded by an older learner)"
            )));
            return;
        }
    };
    for (op, seen) in ops {
        match io_uring::stands_for(op) {
            Some(Some(call)) => {
                if calls.insert(call) {
                    out.push(Blind::Call(
                        call.to_owned(),
                        format!(
                            "io_uring {op} requests did its work unseen, {}x by {}",
                            seen.count,
                            seen.by.joined()
                        ),
                    ));
                }
            }
            Some(None) => {}
            None => out.push(Blind::IoUring(format!(
                "io_uring operation {op}, which learner does not know, ran {}x",
                seen.count
            ))),
        }
    }
}

/// `MAJOR.MINOR` of a kernel release (`6.1.0-27-amd64`).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Why `directive` cannot be judged from `p`, or None when every source it needs was there.
pub fn unknown(p: &Profile, directive: &str) -> Option<String> {
    unknown_in(&blind_spots(p), directive)
}

/// For `verify`: why a deployed `directive` cannot be judged from recordings with these
/// blind spots; None for settings the policy does not model (they are judged, or reported
/// unchecked, elsewhere).
pub fn unjudged(blind: &[Blind], directive: &str) -> Option<String> {
    needs_of(directive)?;
    unknown_in(blind, directive)
}

fn unknown_in(blind: &[Blind], directive: &str) -> Option<String> {
    let needs = needs_of(directive);
    blind
        .iter()
        .find(|b| b.hides(needs))
        .map(|b| format!("the recording could see {}", b.describe()))
}

/// Leaves every decision the recording could not see the evidence for unset, saying why.
pub fn apply(policy: &mut Policy, p: &Profile) {
    let blind = blind_spots(p);
    for d in policy.decisions.iter_mut() {
        if let Some(why) = unknown_in(&blind, d.directive) {
            blind_decision(d, why);
        }
    }
    if let Some(skip) = page_faults_missed(p)
        && let Some(d) = policy
            .decisions
            .iter_mut()
            .find(|d| d.directive == "CapabilityBoundingSet" && !d.lines.is_empty())
    {
        d.evidence.push(format!(
            "page faults were not observed ({skip}): a check during one (CAP_SYS_ADMIN, charging a growing stack) is blamed on the syscall before it, so it may be kept without need (looser, never tighter)"
        ));
    }
}

fn blind_decision(d: &mut Decision, why: String) {
    d.lines.clear();
    d.evidence = vec![format!(
        "not set: unknown, {why}: nothing shows what the service needs"
    )];
}

/// Why page faults were not marked, when they were not. Only which syscall a capability
/// check is blamed on depends on it: such a check is then taken for a need of the syscall
/// before, which keeps a capability that was noise. Looser, never wrong: not a blind spot.
fn page_faults_missed(p: &Profile) -> Option<&str> {
    p.recording
        .skipped_probes
        .iter()
        .find(|s| probe_name(s) == "page faults")
        .map(String::as_str)
}

/// One warning per blind spot of `p`, naming the directives left unset for it.
pub fn warnings(p: &Profile) -> Vec<String> {
    blind_spots(p)
        .iter()
        .map(|b| {
            let unset: Vec<&str> = DEPENDS
                .iter()
                .filter(|(_, needs)| b.hides(Some(needs)))
                .map(|(d, _)| *d)
                .collect();
            let what = match b {
                Blind::ProcessTree(_) => "every directive".to_owned(),
                _ => unset
                    .iter()
                    .map(|d| format!("{d}="))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!(
                "the recording could see {}: {what} left unset (unknown, not \"not needed\")",
                b.describe()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::observations::Slot,
        policy::{filter_groups::SyscallGroups, margin::Margin, resolve},
    };

    fn granted(p: &mut Profile, cap: &str, during: &str) {
        let slot = Slot::Capability {
            name: cap.into(),
            granted: true,
            during: during.into(),
        };
        p.observations.add(&slot, 0, "nginx", 1);
    }

    fn nginx_like() -> Profile {
        let mut p = Profile {
            syscalls: ["read", "write", "openat", "setuid", "bind", "socket"]
                .map(|s| (s.to_owned(), 1))
                .into(),
            ..Profile::example("nginx.service")
        };
        granted(&mut p, "CAP_NET_BIND_SERVICE", "bind");
        p
    }

    fn policy(p: &Profile) -> Policy {
        let groups = SyscallGroups::for_version(252, None);
        resolve(p, 252, &groups, Margin::Standard)
    }

    fn unset(policy: &Policy, directive: &str) -> bool {
        policy
            .decision(directive)
            .is_none_or(|d| d.lines.is_empty())
    }

    #[test]
    fn every_directive_the_policy_writes_has_its_sources_listed() {
        let p = nginx_like();
        let mut policy = policy(&p);
        crate::policy::identity::apply(&mut policy, &p);
        for d in &policy.decisions {
            assert!(
                needs_of(d.directive).is_some(),
                "{} is not in DEPENDS",
                d.directive
            );
        }
    }

    #[test]
    fn without_capability_checks_no_directive_that_rests_on_them_is_set() {
        let mut p = nginx_like();
        assert!(!unset(&policy(&p), "CapabilityBoundingSet"));
        p.recording.capability_source =
            "none: this kernel has no capability/cap_capable tracepoint".into();
        // Nothing granted was seen: exactly what such a recording looks like.
        p.observations.capabilities.clear();
        let policy = policy(&p);
        for d in [
            "CapabilityBoundingSet",
            "AmbientCapabilities",
            "PrivateUsers",
            "PrivateDevices",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectClock",
        ] {
            assert!(unset(&policy, d), "{d}: {:?}", policy.decision(d));
        }
        let why = &policy.decision("CapabilityBoundingSet").unwrap().evidence[0];
        assert!(
            why.contains("no capability checks (this kernel has no capability/cap_capable"),
            "{why}"
        );
        // What did not rest on capability checks is still set.
        for d in [
            "ProtectSystem",
            "ReadWritePaths",
            "SystemCallFilter",
            "ProtectKernelTunables",
        ] {
            assert!(!unset(&policy, d), "{d}");
        }
        let warnings = warnings(&p);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("CapabilityBoundingSet=, AmbientCapabilities=")
                && warnings[0].contains("PrivateUsers="),
            "{warnings:?}"
        );
    }

    #[test]
    fn identity_is_not_proposed_without_capability_checks() {
        let mut p = nginx_like();
        p.recording.capability_source = String::new();
        let mut policy = policy(&p);
        crate::policy::identity::apply(&mut policy, &p);
        let user = policy.decision("User").expect("a User decision");
        assert!(user.lines.is_empty());
        assert!(
            user.evidence[0].contains("no capability checks"),
            "{user:?}"
        );
        assert!(unset(&policy, "CapabilityBoundingSet"));
    }

    #[test]
    fn without_observations_only_syscall_counts_decide() {
        let mut p = nginx_like();
        p.recording.observation_source = String::new();
        p.recording.skipped_probes = vec![
            "observations: no tracefs (mount -t tracefs nodev /sys/kernel/tracing failed)".into(),
        ];
        let policy = policy(&p);
        let set: Vec<&str> = policy
            .decisions
            .iter()
            .filter(|d| !d.lines.is_empty())
            .map(|d| d.directive)
            .collect();
        assert!(set.contains(&"SystemCallFilter"), "{set:?}");
        assert!(set.contains(&"CapabilityBoundingSet"), "{set:?}");
        for d in &set {
            assert!(
                needs_of(d).unwrap().iter().all(|n| !matches!(n, Calls(_))),
                "{d} rests on syscall arguments"
            );
        }
        assert!(unset(&policy, "ReadWritePaths") && unset(&policy, "ProtectSystem"));
        let why = &policy.decision("ProtectSystem").unwrap().evidence[0];
        assert!(why.contains("no tracefs"), "{why}");
    }

    #[test]
    fn a_missing_traced_syscall_hides_only_what_it_shows() {
        let mut p = nginx_like();
        p.recording.skipped_probes = vec![
            "personality: no syscalls/sys_enter_personality tracepoint".into(),
            // Syscall counting probes and module calls without module support: not blind.
            "subtree: needs raw tracepoints (EINVAL)".into(),
        ];
        let blind = blind_spots(&p);
        assert_eq!(
            blind,
            vec![Blind::Call(
                "personality".into(),
                "no syscalls/sys_enter_personality tracepoint".into()
            )]
        );
        let policy = policy(&p);
        assert!(unset(&policy, "LockPersonality"));
        assert!(!unset(&policy, "ProtectSystem"));
        assert!(!unset(&policy, "RestrictNamespaces"));
        p.recording.skipped_probes = vec!["openat: the kernel gives it 3 arguments".into()];
        let policy = super::super::resolve(
            &p,
            252,
            &SyscallGroups::for_version(252, None),
            Margin::Standard,
        );
        for d in [
            "ProtectSystem",
            "ReadWritePaths",
            "ProtectHome",
            "PrivateTmp",
        ] {
            assert!(unset(&policy, d), "{d}");
        }
        assert!(!unset(&policy, "LockPersonality"));
        assert!(!unset(&policy, "RestrictAddressFamilies"));
    }

    #[test]
    fn page_faults_only_add_a_note() {
        let mut p = nginx_like();
        p.recording.skipped_probes =
            vec!["page faults: exceptions/page_fault_user: not found".into()];
        assert!(blind_spots(&p).is_empty());
        let policy = policy(&p);
        let caps = policy.decision("CapabilityBoundingSet").unwrap();
        assert!(!caps.lines.is_empty());
        assert!(
            caps.evidence
                .iter()
                .any(|e| e.contains("page faults were not observed")),
            "{caps:?}"
        );
    }

    #[test]
    fn a_missing_process_tree_matters_only_where_a_process_could_have_moved() {
        let mut p = nginx_like();
        p.recording.skipped_probes = vec![
            "process tree: no sched/sched_process_fork or cgroup/cgroup_attach_task tracepoint of a known layout; processes that leave the cgroup are not followed".into(),
        ];
        assert!(blind_spots(&p).is_empty());
        assert!(!unset(&policy(&p), "ProtectSystem"));
        let slot = Slot::Connect("AF_UNIX /run/dbus/system_bus_socket".into());
        p.observations.add(&slot, 0, "sshd", 1);
        let blind = blind_spots(&p);
        assert!(
            matches!(&blind[..], [Blind::ProcessTree(why)] if why.contains("connected to AF_UNIX /run/dbus/system_bus_socket")),
            "{blind:?}"
        );
        let policy = policy(&p);
        for d in ["ProtectSystem", "CapabilityBoundingSet", "SystemCallFilter"] {
            assert!(unset(&policy, d), "{d}");
        }
        // Moving a process into the recorded cgroup, or below it, takes nothing away.
        let mut p = nginx_like();
        p.recording.skipped_probes = vec!["process tree: disabled".into()];
        for path in [
            "/sys/fs/cgroup/system.slice/nginx.service/worker/cgroup.procs",
            "/sys/fs/cgroup/learner-run-12/cgroup.procs",
        ] {
            let slot = Slot::Path(path.into(), crate::model::observations::Access::Write);
            p.observations.add(&slot, 0, "nginx", 1);
        }
        assert!(blind_spots(&p).is_empty(), "{:?}", blind_spots(&p));
    }

    #[test]
    fn a_merge_is_blind_where_any_part_was() {
        let seen = nginx_like();
        let mut blind = nginx_like();
        blind.recording.capability_source = "none: capability/cap_capable: EINVAL".into();
        blind.recording.skipped_probes =
            vec!["setns: no syscalls/sys_enter_setns tracepoint".into()];
        for parts in [[seen.clone(), blind.clone()], [blind, seen]] {
            let merged = Profile::merged(&parts).unwrap();
            let spots = blind_spots(&merged);
            assert_eq!(spots.len(), 2, "{spots:?}");
            assert!(matches!(&spots[0], Blind::Capabilities(w) if w.contains("EINVAL")));
            assert!(unset(&policy(&merged), "CapabilityBoundingSet"));
            assert!(unset(&policy(&merged), "RestrictNamespaces"));
        }
    }

    #[test]
    fn io_uring_requests_blind_what_they_did_and_nothing_else() {
        let ring = |ops: &[&str]| {
            let mut p = nginx_like();
            p.syscalls.insert("io_uring_enter".into(), 9);
            for op in ops {
                p.observations.add(&Slot::IoUring((*op).into()), 0, "db", 2);
            }
            p
        };
        // Reads and writes on the service's own fds: every directive is judged as before.
        let p = ring(&["READ", "WRITEV", "FSYNC"]);
        assert!(blind_spots(&p).is_empty(), "{:?}", blind_spots(&p));
        assert!(!unset(&policy(&p), "ProtectSystem"));
        // An OPENAT opened a path no syscall named: the file directives are unknown, the
        // network ones are not.
        let p = ring(&["READ", "OPENAT"]);
        let why = unknown(&p, "ReadWritePaths").expect("blind");
        assert!(
            why.contains("openat") && why.contains("OPENAT") && why.contains("2x by db"),
            "{why}"
        );
        assert!(unset(&policy(&p), "ProtectSystem"));
        assert!(unknown(&p, "RestrictAddressFamilies").is_none());
        // A CONNECT: the addresses are unknown, the paths are not.
        let p = ring(&["CONNECT"]);
        assert!(unknown(&p, "IPAddressDeny").is_some());
        assert!(unknown(&p, "ProtectSystem").is_none());
        // An operation newer than learner, or none recorded (an older profile, or the
        // tracepoint missing): anything an operation can do is unknown.
        let p = ring(&["#99"]);
        assert!(unknown(&p, "ProtectSystem").is_some_and(|w| w.contains("#99")));
        let mut p = ring(&[]);
        p.observations.io_uring = None;
        assert!(unknown(&p, "ReadWritePaths").is_some_and(|w| w.contains("older learner")));
        assert!(unknown(&p, "IPAddressDeny").is_some());
        assert!(unknown(&p, "CapabilityBoundingSet").is_none());
        let mut p = ring(&[]);
        p.recording.skipped_probes = vec!["io_uring: no io_uring/io_uring_submit_req or io_uring_submit_sqe tracepoint; what its requests open, rename or connect to is not known".into()];
        assert!(unknown(&p, "ProtectSystem").is_some_and(|w| w.contains("no io_uring/")));
        // No io_uring in the kernel: its calls failed, and nothing was recorded to have run.
        let mut q = ring(&[]);
        q.recording.not_on_this_kernel = vec!["io_uring_setup".into(), "io_uring_enter".into()];
        assert!(blind_spots(&q).is_empty(), "{:?}", blind_spots(&q));
        // Merged with a recording made where it ran an OPENAT, that list is the merge's too:
        // the operation still blinds.
        let merged = Profile::merged(&[q, ring(&["OPENAT"])]).unwrap();
        assert!(unknown(&merged, "ProtectSystem").is_some());
        // Before 5.12 the workers are kernel threads: capabilities are unknown too.
        let mut old = ring(&["READ"]);
        old.provenance.kernel = "5.10.0-33-amd64".into();
        assert!(unknown(&old, "CapabilityBoundingSet").is_some_and(|w| w.contains("5.10")));
        assert!(unknown(&old, "ProtectSystem").is_some());
        old.recording.not_on_this_kernel = vec!["io_uring_setup".into()];
        old.observations.io_uring = Some(Default::default());
        assert!(blind_spots(&old).is_empty(), "{:?}", blind_spots(&old));
        // Not used at all: the missing source does not matter.
        let mut p = nginx_like();
        p.observations.io_uring = None;
        assert!(blind_spots(&p).is_empty());
    }
}
