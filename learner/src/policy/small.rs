//! The small directives: UMask=, RemoveIPC=, PrivateIPC=, PrivateUsers=, KeyringMode=,
//! PrivatePIDs=, and the values newer systemd added to toggles that exist since long
//! (ProtectControlGroups=strict, PrivateTmp=disconnected). Each is a [`Toggle`] like the rest;
//! a value newer than the target systemd is skipped by [`value_since`].
use std::collections::BTreeMap;

use super::{Choice, Toggle, facts, kept_capability, listing};
use crate::{
    model::observations::{Access, Seen},
    model::profile::Profile,
};

/// Values that came after their directive: (directive, value, first systemd that knows it).
/// Absent from v256's sources (namespace.h, load-fragment-gperf.gperf.in), present in 257.
const VALUE_SINCE: &[(&str, &str, u32)] = &[
    ("ProtectControlGroups", "strict", 257),
    ("PrivateTmp", "disconnected", 257),
];

/// The first systemd that knows `value` of `directive`, when it is newer than the directive.
pub fn value_since(directive: &str, value: &str) -> Option<u32> {
    VALUE_SINCE
        .iter()
        .find(|(d, v, _)| *d == directive && *v == value)
        .map(|(_, _, since)| *since)
}

/// SysV IPC and POSIX message queue calls: what an IPC namespace separates, and what
/// RemoveIPC= removes at stop (with POSIX shared memory in /dev/shm).
const IPC_SYSCALLS: &[&str] = &[
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "ipc",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
];

fn called(p: &Profile, names: &[&str]) -> Option<String> {
    let seen: Vec<String> = names
        .iter()
        .filter_map(|n| Some(format!("{n} ({}x)", p.syscalls.get(*n)?)))
        .collect();
    (!seen.is_empty()).then(|| format!("called {}", seen.join(", ")))
}

/// What an IPC namespace would cut off: SysV objects and POSIX queues are per namespace, so
/// ones shared with other processes (a key another program also uses) would not be found.
fn ipc_used(p: &Profile) -> Option<String> {
    called(p, IPC_SYSCALLS)
}

/// RemoveIPC=yes removes, when the unit's last process of its user stops, every SysV object,
/// POSIX queue and /dev/shm file owned by the unit's user or group (clean_ipc_internal() in
/// clean-ipc.c; never for root). What the service leaves there for its next start, or for
/// another program, would be gone.
fn ipc_kept(p: &Profile) -> Option<String> {
    ipc_used(p).or_else(|| {
        let made: BTreeMap<String, Seen> = p
            .observations
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/dev/shm/") || path.starts_with("/dev/mqueue/"))
            .filter_map(|(path, a)| {
                let s = a.get(&Access::Create).or_else(|| a.get(&Access::Mknod))?;
                (s.ok > 0).then(|| (path.clone(), s.clone()))
            })
            .collect();
        listing(&made, "created")
    })
}

/// RemoveIPC= removes what the unit's user owns, whoever made it: with that user shared (a
/// pooler running as `postgres` beside PostgreSQL), the other's shared memory is gone at the
/// unit's stop, and the database refuses every login.
fn user_shared(p: &Profile) -> Option<String> {
    let unit = p.unit.as_ref()?;
    (!unit.user_shared_with.is_empty()).then(|| {
        let user = unit.settings.get("User").map_or("", String::as_str);
        format!(
            "its user {user} (or its group) also ran processes of {} while it was recorded",
            unit.user_shared_with.join(", ")
        )
    })
}

/// PrivateUsers=yes: a user namespace mapping root and the unit's own user and group to
/// themselves and every other id to nobody (setup_private_users() in execute.c, checked at
/// 252). Every capability then holds in that namespace only, never against the host's
/// objects: the network namespace (binding a port below 1024, CAP_NET_*), files owned by
/// unmapped users (CAP_DAC_*, CAP_CHOWN, CAP_FOWNER), the kernel (CAP_SYS_*). So any kept
/// capability forbids it, as does changing ids. Peers of a unix socket it serves that run
/// under other ids appear as nobody (SO_PEERCRED, SCM_CREDENTIALS), which breaks a server
/// that authorizes clients by uid; so do other processes' owners in their /proc status.
fn needs_host_users(p: &Profile) -> Option<String> {
    let kept: Vec<&str> = p
        .observations
        .capabilities
        .keys()
        .filter(|c| kept_capability(p, c))
        .map(String::as_str)
        .collect();
    if !kept.is_empty() {
        return Some(format!(
            "{} granted, and in a user namespace no capability applies to the host's objects",
            kept.join(", ")
        ));
    }
    // In a user namespace only the unit's user and root are mapped, setgroups() is disabled
    // ("deny" in /proc/PID/setgroups, setup_private_users() in execute.c), and ids outside
    // the map fail with EINVAL.
    if let Some(why) = called(p, crate::model::credentials::ID_CHANGES) {
        return Some(format!("{why}: only root and the unit's user are mapped"));
    }
    let served: BTreeMap<String, Seen> = p
        .observations
        .paths
        .iter()
        .filter_map(|(path, a)| {
            let s = a.get(&Access::Bind)?;
            (s.ok > 0).then(|| (path.clone(), s.clone()))
        })
        .collect();
    if let Some(why) = listing(&served, "bound unix socket") {
        return Some(format!(
            "{why}: clients under other users would appear as nobody to it"
        ));
    }
    // Another process's owner, as its status says it (Uid:, Gid:): under users other than
    // root and its own, nobody. A monitoring agent counting a user's processes (zabbix's
    // proc.num[,USER], ps -u) would count none, silently. A stat of /proc/PID alone is
    // mostly a liveness check, which still works.
    let owners: BTreeMap<String, Seen> = p
        .observations
        .paths
        .iter()
        .filter(|(path, _)| path.starts_with("/proc/[pid]/") && path.ends_with("/status"))
        .filter_map(|(path, a)| {
            let s = a.get(&Access::Read)?;
            (s.ok > 0).then(|| (path.clone(), s.clone()))
        })
        .collect();
    listing(&owners, "read")
        .map(|why| format!("{why}: other users' processes would appear to it as nobody's"))
}

/// The permission bits asked for at creation that matter to others: `mask` of group and
/// other bits. A socket bound at a path gets 0777 minus the umask, and connecting needs
/// write permission on it: other users' clients could not connect. A profile with creates
/// in a directory but no mode recorded for it (an older learner) is not taken as permission.
fn created_for_others(p: &Profile, mask: u32) -> Option<String> {
    let modes = &facts(p).created_modes;
    // Modes are keyed by directory: those in /dev are O_CREAT opens of nodes that always
    // exist (`cmd > /dev/null`), unless something else there was created.
    let dev_creates = p.observations.paths.iter().any(|(path, a)| {
        path.strip_prefix("/dev/").is_some_and(|n| !n.contains('/'))
            && !super::ALWAYS_IN_DEV.contains(&path.as_str())
            && a.get(&Access::Create).is_some_and(|s| s.ok > 0)
    });
    let wanted: BTreeMap<String, Seen> = modes
        .iter()
        .filter(|(key, s)| {
            s.ok > 0
                && (dev_creates || !key.starts_with("/dev "))
                && key
                    .rsplit_once(' ')
                    .and_then(|(_, m)| u32::from_str_radix(m, 8).ok())
                    .is_some_and(|m| m & mask != 0)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(why) = listing(&wanted, "created") {
        return Some(format!(
            "{why}, asking for access by group or others (other services or users may read it)"
        ));
    }
    let bound: BTreeMap<String, Seen> = p
        .observations
        .paths
        .iter()
        .filter_map(|(path, a)| {
            let s = a.get(&Access::Bind)?;
            (s.ok > 0).then(|| (path.clone(), s.clone()))
        })
        .collect();
    if let Some(why) = listing(&bound, "bound unix socket") {
        return Some(format!(
            "{why}: its mode comes from the umask, and clients need write permission on it"
        ));
    }
    // Modes are keyed by directory: a created entry whose directory has none was recorded
    // without them.
    let unrecorded = p.observations.paths.iter().find(|(path, a)| {
        [Access::Create, Access::Mknod]
            .iter()
            .any(|k| a.get(k).is_some_and(|s| s.ok > 0))
            && !path.starts_with("/dev/")
            && {
                let dir = match path.rsplit_once('/') {
                    Some(("", _)) | None => "/",
                    Some((dir, _)) => dir,
                };
                !modes.keys().any(|k| {
                    k.starts_with(&format!("{dir} ")) || k.starts_with(&format!("{path} "))
                })
            }
    });
    unrecorded.map(|(path, _)| {
        format!("created {path}, and the profile does not record the mode it asked for")
    })
}

/// KeyringMode=private gives the service a session keyring of its own, linked to no user
/// keyring. It is already the default for system services; set, it overrides a unit's
/// `shared` or `inherit`. systemd's executor itself calls keyctl and add_key before the exec
/// (joining the session keyring, adding the invocation id key: setup_keyring() in
/// execute.c), in the syscall counts but not in the fact, which is the service's own.
fn keys_used(p: &Profile) -> Option<String> {
    match &facts(p).key_management {
        None => Some("the profile does not record key management calls".into()),
        Some(calls) => listing(calls, "called"),
    }
}

/// Calls that act on other processes by pid. Their targets are not recorded, so any of them
/// may name a process outside a PID namespace, which it could not see.
const PID_CALLS: &[&str] = &[
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
];

/// PrivatePIDs=yes (257+) makes the service's first process PID 1 of a new PID namespace.
/// Other processes are invisible; a PID 1 gets no signal from outside that it has no handler
/// for (SIGTERM from systemd's stop included: the stop waits for TimeoutStopSec, then
/// SIGKILL); and when it exits, the kernel kills every process of the namespace, so a
/// service whose first process forks and exits (Type=forking) dies with it.
fn needs_host_pids(p: &Profile) -> Option<String> {
    listing(&facts(p).other_processes_proc, "read")
        .or_else(|| called(p, PID_CALLS).map(|w| format!("{w} (targets are not recorded)")))
        .or_else(|| {
            (!p.syscalls.contains_key("rt_sigaction")).then(|| {
                "no signal handler was installed: as PID 1 it would ignore systemd's SIGTERM"
                    .to_owned()
            })
        })
        .or_else(|| {
            let forks = &p.observations.processes.forks;
            p.observations
                .processes
                .exits
                .keys()
                .find(|comm| forks.contains_key(*comm))
                .map(|comm| {
                    format!("{comm} forked and exited: the namespace dies with its first process")
                })
        })
}

/// ProtectControlGroups=strict (257+): a cgroup namespace, and its own subtree mounted
/// read-only at /sys/fs/cgroup. Paths read there, and /proc/PID/cgroup, would show another
/// tree than the one recorded.
pub(super) fn cgroup_namespace(p: &Profile) -> Option<String> {
    listing(&facts(p).cgroup_writes, "wrote").or_else(|| {
        let read: BTreeMap<String, Seen> = p
            .observations
            .paths
            .iter()
            .filter(|(path, _)| {
                path.as_str() == "/sys/fs/cgroup"
                    || path.starts_with("/sys/fs/cgroup/")
                    || (path.starts_with("/proc/") && path.ends_with("/cgroup"))
            })
            .filter_map(|(path, a)| {
                let mut seen = Seen::default();
                for (_, s) in a.iter() {
                    seen.merge(s);
                }
                (seen.ok > 0).then(|| (path.clone(), seen))
            })
            .collect();
        listing(&read, "read").map(|w| format!("{w}, which a cgroup namespace shows otherwise"))
    })
}

/// PrivateTmp=disconnected (257+): /tmp and /var/tmp are a tmpfs of the service's own,
/// in memory and shared with no other unit (JoinsNamespaceOf= included). Anything written
/// there would take memory, and what /var/tmp holds is meant to be on disk.
pub(super) fn tmp_on_disk(p: &Profile) -> Option<String> {
    super::tmp_shared(p).or_else(|| {
        super::used_under(p, &["/tmp", "/var/tmp"], Access::writes, "wrote")
            .map(|w| format!("{w}: a disconnected /tmp is kept in memory"))
    })
}

/// The directives of this module, in the drop-in's order.
pub(super) const TOGGLES: &[Toggle] = &[
    Toggle {
        directive: "UMask",
        since: 0,
        choices: &[
            Choice {
                value: "0077",
                forbidden_by: |p| created_for_others(p, 0o044),
            },
            Choice {
                value: "0027",
                forbidden_by: |p| created_for_others(p, 0o004),
            },
        ],
    },
    Toggle {
        directive: "KeyringMode",
        since: 235,
        choices: &[Choice {
            value: "private",
            forbidden_by: keys_used,
        }],
    },
    Toggle {
        directive: "RemoveIPC",
        since: 232,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| ipc_kept(p).or_else(|| user_shared(p)),
        }],
    },
    Toggle {
        directive: "PrivateIPC",
        since: 248,
        choices: &[Choice {
            value: "yes",
            forbidden_by: ipc_used,
        }],
    },
    Toggle {
        directive: "PrivateUsers",
        since: 232,
        choices: &[Choice {
            value: "yes",
            forbidden_by: needs_host_users,
        }],
    },
    Toggle {
        directive: "PrivatePIDs",
        since: 257,
        choices: &[Choice {
            value: "yes",
            forbidden_by: needs_host_pids,
        }],
    },
];

#[cfg(test)]
#[path = "small_tests.rs"]
mod tests;
