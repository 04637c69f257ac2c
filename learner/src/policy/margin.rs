//! The syscall margin: where a service used one syscall of a family of alternatives, the
//! rest of that family, as long as this costs no exposure.
//!
//! A recording sees the calls one run made. Another run takes other paths: a database flushes
//! with sync_file_range only during a checkpoint or crash recovery, a library reads with
//! preadv where the recorded path used read, an event loop falls back from epoll to poll.
//! Denying the sibling of a call the service already makes protects nothing that the
//! sandbox's other directives do not guard already (files by ProtectSystem and
//! ReadWritePaths, privileges by the capability set), and breaks the service later.
//!
//! `systemd-analyze security` scores an allow-list only by whether it includes any member of
//! the groups in [`SCORED_GROUPS`]; no family member is in one of them (checked for every
//! target's table by the tests, and again when the margin is applied), so the standard
//! margin never changes the exposure.
use std::collections::BTreeSet;

use super::filter_groups::SyscallGroups;
use crate::{model::observations::Access, model::profile::Profile, model::syscalls::Arch};

/// How far the syscall allow-list goes beyond what was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Margin {
    /// The observed calls' families of alternatives, where no scored group is touched.
    #[default]
    Standard,
    /// Only what was observed (and the calls a recording cannot see).
    Exact,
}

/// The groups `systemd-analyze security` scores a SystemCallFilter by: the
/// `SystemCallFilter=~@...` entries of `security_assessor_table` in
/// src/analyze/analyze-security.c, as of systemd 252 (the same eleven as `systemd-analyze
/// security` 252 lists).
pub const SCORED_GROUPS: &[&str] = &[
    "@clock",
    "@cpu-emulation",
    "@debug",
    "@module",
    "@mount",
    "@obsolete",
    "@privileged",
    "@raw-io",
    "@reboot",
    "@resources",
    "@swap",
];

/// Syscalls that do one job in different ways: seeing one means the service does that job,
/// and another build, library version or code path may use any of the others.
pub struct Family {
    pub name: &'static str,
    pub members: &'static [&'static str],
    pub reason: &'static str,
}

/// Names are native x86_64 and aarch64 ones; a name the profile's ABI lacks is skipped.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "sync",
        members: &[
            "fsync",
            "fdatasync",
            "sync_file_range",
            "syncfs",
            "sync",
            "msync",
        ],
        reason: "flushing data to disk; which call depends on settings and code path (PostgreSQL's wal_sync_method, sync_file_range during checkpoints and crash recovery)",
    },
    Family {
        name: "read",
        members: &["read", "pread64", "readv", "preadv", "preadv2"],
        reason: "reading a descriptor: plain, positional and vectored reads, chosen by the I/O layer",
    },
    Family {
        name: "write",
        members: &["write", "pwrite64", "writev", "pwritev", "pwritev2"],
        reason: "writing a descriptor: plain, positional and vectored writes, chosen by the I/O layer",
    },
    Family {
        name: "close",
        members: &["close", "close_range"],
        reason: "closing descriptors: closefrom() and spawning libraries use close_range where the kernel has it",
    },
    Family {
        name: "dup",
        members: &["dup", "dup2", "dup3"],
        reason: "duplicating a descriptor",
    },
    Family {
        name: "pipe",
        members: &["pipe", "pipe2"],
        reason: "creating a pipe, with or without flags",
    },
    Family {
        name: "copy",
        members: &["sendfile", "copy_file_range"],
        reason: "copying between descriptors in the kernel; programs try one and fall back to the other",
    },
    Family {
        name: "poll",
        members: &[
            "poll",
            "ppoll",
            "select",
            "pselect6",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
        ],
        reason: "waiting for descriptors: event loops and libraries pick poll, select or epoll by build and situation",
    },
    Family {
        name: "eventfd",
        members: &["eventfd", "eventfd2"],
        reason: "creating an eventfd, with or without flags",
    },
    Family {
        name: "signal handling",
        members: &[
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigpending",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "sigaltstack",
            "signalfd",
            "signalfd4",
        ],
        reason: "handling signals: installing, blocking and waiting for them, often only on shutdown or reload",
    },
    Family {
        name: "signal sending",
        members: &[
            "kill",
            "tgkill",
            "tkill",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
        ],
        reason: "sending a signal: kill(), raise() and pthread_kill() (tgkill), sigqueue()",
    },
    Family {
        name: "timers",
        members: &[
            "alarm",
            "setitimer",
            "getitimer",
            "timer_create",
            "timer_settime",
            "timer_gettime",
            "timer_getoverrun",
            "timer_delete",
            "timerfd_create",
            "timerfd_settime",
            "timerfd_gettime",
        ],
        reason: "timers: alarm and interval timers, POSIX timers and timerfds are alternatives, and a timer once set is read, rearmed and deleted",
    },
    Family {
        name: "process creation",
        members: &["clone", "clone3", "fork", "vfork"],
        reason: "starting a process or thread: fork(), posix_spawn() and pthread_create() use these by glibc version",
    },
    Family {
        name: "process waiting",
        members: &["wait4", "waitid"],
        reason: "waiting for a child: waitpid() is wait4, waitid() and newer libraries use waitid",
    },
    Family {
        name: "exec",
        members: &["execve", "execveat"],
        reason: "running a program: fexecve() uses execveat",
    },
    Family {
        name: "accept",
        members: &["accept", "accept4"],
        reason: "accepting a connection, with or without flags",
    },
    Family {
        name: "receive",
        members: &["recvfrom", "recvmsg", "recvmmsg"],
        reason: "receiving from a socket: recv(), recvfrom(), recvmsg() and batched recvmmsg()",
    },
    Family {
        name: "send",
        members: &["sendto", "sendmsg", "sendmmsg"],
        reason: "sending on a socket: send(), sendto(), sendmsg() and batched sendmmsg(), which the resolver uses",
    },
    Family {
        name: "open",
        members: &["open", "openat", "creat"],
        reason: "opening a file: glibc's open() is openat, static and older binaries call open",
    },
    Family {
        name: "file status",
        members: &["stat", "fstat", "lstat", "newfstatat", "statx"],
        reason: "reading a file's status: which call stat() makes depends on the glibc version",
    },
    Family {
        name: "access",
        members: &["access", "faccessat", "faccessat2"],
        reason: "checking access to a file",
    },
    Family {
        name: "readlink",
        members: &["readlink", "readlinkat"],
        reason: "reading a symbolic link",
    },
    Family {
        name: "directory entry",
        members: &[
            "unlink",
            "unlinkat",
            "rmdir",
            "rename",
            "renameat",
            "renameat2",
            "mkdir",
            "mkdirat",
            "link",
            "linkat",
            "symlink",
            "symlinkat",
        ],
        reason: "changing directory entries (ReadWritePaths decides where): one that makes or removes some renames or links others on other paths (libpulse renames only when its old link dangles)",
    },
    Family {
        name: "chmod",
        members: &["chmod", "fchmod", "fchmodat", "fchmodat2"],
        reason: "changing a file's mode (RestrictSUIDSGID filters set-uid modes apart)",
    },
    Family {
        name: "timestamps",
        members: &["utime", "utimes", "utimensat", "futimesat"],
        reason: "setting a file's timestamps",
    },
    Family {
        name: "truncate",
        members: &["truncate", "ftruncate"],
        reason: "truncating a file by name or by descriptor",
    },
    Family {
        name: "directory listing",
        members: &["getdents", "getdents64"],
        reason: "reading a directory",
    },
    Family {
        name: "chdir",
        members: &["chdir", "fchdir"],
        reason: "changing the working directory by name or by descriptor",
    },
    Family {
        name: "statfs",
        members: &["statfs", "fstatfs"],
        reason: "reading a file system's status by name or by descriptor",
    },
    Family {
        name: "xattr reading",
        members: &[
            "getxattr",
            "lgetxattr",
            "fgetxattr",
            "listxattr",
            "llistxattr",
            "flistxattr",
        ],
        reason: "reading extended attributes (ACLs, capabilities, SELinux labels)",
    },
    Family {
        name: "xattr writing",
        members: &[
            "setxattr",
            "lsetxattr",
            "fsetxattr",
            "removexattr",
            "lremovexattr",
            "fremovexattr",
        ],
        reason: "writing extended attributes; copying a file sets and removes them",
    },
    Family {
        name: "inotify",
        members: &[
            "inotify_init",
            "inotify_init1",
            "inotify_add_watch",
            "inotify_rm_watch",
        ],
        reason: "watching files: a watch added is removed later, often only on reload or shutdown",
    },
    Family {
        name: "memory mapping",
        members: &["mmap", "munmap", "mremap", "madvise"],
        reason: "managing memory: malloc and realloc use mremap and madvise for large blocks, by allocation size",
    },
    Family {
        name: "memory locking",
        members: &["mlock", "mlock2", "munlock", "mlockall", "munlockall"],
        reason: "locking memory: what is locked is unlocked later",
    },
    Family {
        name: "SysV shared memory",
        members: &["shmget", "shmat", "shmdt", "shmctl"],
        reason: "a shared memory segment is created, attached, detached and removed, the last often only at shutdown",
    },
    Family {
        name: "SysV semaphores",
        members: &["semget", "semop", "semtimedop", "semctl"],
        reason: "a semaphore set is created, used and removed, the last often only at shutdown",
    },
    Family {
        name: "SysV message queues",
        members: &["msgget", "msgsnd", "msgrcv", "msgctl"],
        reason: "a message queue is created, used and removed, the last often only at shutdown",
    },
    Family {
        name: "POSIX message queues",
        members: &[
            "mq_open",
            "mq_unlink",
            "mq_timedsend",
            "mq_timedreceive",
            "mq_notify",
            "mq_getsetattr",
        ],
        reason: "a message queue is opened, used and unlinked, the last often only at shutdown",
    },
    Family {
        name: "Linux AIO",
        members: &[
            "io_setup",
            "io_destroy",
            "io_submit",
            "io_cancel",
            "io_getevents",
            "io_pgetevents",
        ],
        reason: "asynchronous I/O contexts are set up, used, cancelled and destroyed together",
    },
    Family {
        name: "read-ahead",
        members: &["fadvise64", "readahead"],
        reason: "prefetching a file: posix_fadvise() or readahead()",
    },
];

/// Calls a facility's other code paths make, added once the service uses that facility at
/// all: a recording reaches the paths its load and configuration took, and a feature switched
/// on later (an include directory, a BFD session, an outgoing link) calls its neighbours.
/// None is in a scored group; what they reach is guarded by the sandbox's other directives
/// (files by ProtectSystem= and ReadWritePaths=, signals by uid and the capability set).
pub struct Companion {
    pub name: &'static str,
    /// Any of these calls seen brings the members.
    pub after: &'static [&'static str],
    /// A file written (a path's write or create that succeeded) brings them too.
    pub after_writes: bool,
    pub members: &'static [&'static str],
    pub reason: &'static str,
}

pub const COMPANIONS: &[Companion] = &[
    Companion {
        name: "socket",
        after: &[
            "socket",
            "socketpair",
            "accept",
            "accept4",
            "connect",
            "bind",
            "listen",
        ],
        after_writes: false,
        members: &[
            "getsockopt",
            "setsockopt",
            "getsockname",
            "getpeername",
            "shutdown",
        ],
        reason: "a socket's options, addresses and shutdown: a non-blocking connect's result is read with getsockopt(SO_ERROR) (ngircd's outgoing server links, curl in a script), and options are set and read by code path",
    },
    Companion {
        name: "directory",
        after: &["open", "openat", "openat2", "creat"],
        after_writes: false,
        members: &["getdents", "getdents64", "chdir", "fchdir"],
        reason: "listing a directory and changing into one: an include glob or a conf.d directory is read only once it has entries (BIRD's include, ngircd's IncludeDir), a script changes directory",
    },
    Companion {
        name: "thread and child",
        after: &["clone", "clone3", "fork", "vfork"],
        after_writes: false,
        members: &[
            "pipe", "pipe2", "eventfd", "eventfd2", "kill", "tgkill", "tkill", "wait4", "waitid",
        ],
        reason: "waking, stopping and reaping threads and children: a pipe or an eventfd between event loops (BIRD's BFD sessions), a signal to a child that hangs (OpenSMTPD's delivery agents), waiting for it",
    },
    Companion {
        name: "written file",
        after: &["ftruncate", "truncate", "fallocate", "flock"],
        after_writes: true,
        members: &["ftruncate", "truncate", "fallocate", "flock"],
        reason: "sizing and locking a file it writes: preallocation falls back to truncating where a file system has no fallocate (Transmission's downloads), lock files by flock()",
    },
];

/// Every member of a scored group in `groups`.
pub fn scored_members(groups: &SyscallGroups) -> BTreeSet<String> {
    SCORED_GROUPS
        .iter()
        .filter_map(|g| groups.groups.get(*g))
        .flatten()
        .cloned()
        .collect()
}

/// Adds to `wanted` the families of the syscalls `p` observed (standard margin); returns one
/// line of evidence per family that added something, and what was added.
pub fn widen(
    p: &Profile,
    groups: &SyscallGroups,
    wanted: &mut BTreeSet<String>,
) -> (Vec<String>, BTreeSet<String>) {
    let mut evidence = Vec::new();
    let mut added = BTreeSet::new();
    let Some(arch) = Arch::from_name(&p.provenance.arch) else {
        evidence.push(format!(
            "no margin: learner has no syscall table for {}",
            p.provenance.arch
        ));
        return (evidence, added);
    };
    let scored = scored_members(groups);
    let default = groups.default_group();
    let seen_of = |calls: &[&'static str]| -> Vec<&'static str> {
        calls
            .iter()
            .copied()
            .filter(|m| p.syscalls.contains_key(*m))
            .collect()
    };
    // Adds the members the target and the ABI know, in no scored group, not allowed already
    // (by @default or the list); returns them.
    let mut admit = |members: &[&'static str]| -> Vec<&'static str> {
        let new: Vec<&str> = members
            .iter()
            .copied()
            .filter(|m| {
                arch.syscall_number(m).is_some()
                    && groups.known.contains(*m)
                    && !scored.contains(*m)
                    && !default.contains(*m)
                    && !wanted.contains(*m)
            })
            .collect();
        for m in &new {
            wanted.insert((*m).to_owned());
            added.insert((*m).to_owned());
        }
        new
    };
    for family in FAMILIES {
        let seen = seen_of(family.members);
        if seen.is_empty() {
            continue;
        }
        let new = admit(family.members);
        if !new.is_empty() {
            evidence.push(format!(
                "{}: margin, the {} family of {}: {}",
                new.join(" "),
                family.name,
                seen.join(" "),
                family.reason
            ));
        }
    }
    let wrote = p.observations.paths.values().any(|accesses| {
        accesses
            .iter()
            .any(|(a, seen)| matches!(a, Access::Write | Access::Create) && seen.ok > 0)
    });
    for companion in COMPANIONS {
        let seen = seen_of(companion.after);
        if seen.is_empty() && !(companion.after_writes && wrote) {
            continue;
        }
        let new = admit(companion.members);
        if new.is_empty() {
            continue;
        }
        let by = if seen.is_empty() {
            "a file written".to_owned()
        } else {
            seen.join(" ")
        };
        evidence.push(format!(
            "{}: margin, the {} calls after {by}: {}",
            new.join(" "),
            companion.name,
            companion.reason
        ));
    }
    evidence.push(format!(
        "{} syscalls added by the standard margin, none in a group systemd-analyze security scores (--margin exact: none)",
        added.len()
    ));
    (evidence, added)
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::Path};

    use super::*;
    use crate::policy::{Policy, render, resolve};

    /// A hand-made profile of `arch` that entered `syscalls`.
    fn profile(arch: &str, syscalls: &[&str]) -> Profile {
        let mut text = format!(
            "schema: 1\nprovenance:\n  learner_version: 0.1.0\n  hostname: h\n  kernel: 6.1.0\n  \
             arch: {arch}\n  systemd: 252\n  started: 2026-12-01T10:00:00Z\n  \
             ended: 2026-12-01T10:10:00Z\n  unit: svc.service\nrecording:\n  \
             syscall_source: hand-made\n  lost_events: 0\n  out_of_range_syscalls: 0\nsyscalls:\n"
        );
        for s in syscalls {
            text.push_str(&format!("  {s}: 1\n"));
        }
        Profile::parse(&text, Path::new("hand-made.profile.yaml")).expect("profile")
    }

    /// What PostgreSQL 15 made in a recording that saw no shutdown checkpoint and no crash
    /// recovery: fdatasync for the WAL, never sync_file_range or fsync.
    const POSTGRES: &[&str] = &[
        "accept",
        "bind",
        "brk",
        "clone",
        "close",
        "epoll_create1",
        "epoll_ctl",
        "epoll_wait",
        "exit_group",
        "fcntl",
        "fdatasync",
        "futex",
        "getpid",
        "kill",
        "listen",
        "lseek",
        "mmap",
        "munmap",
        "newfstatat",
        "openat",
        "pread64",
        "pwrite64",
        "read",
        "recvfrom",
        "rt_sigaction",
        "rt_sigprocmask",
        "sendto",
        "setsid",
        "shmat",
        "shmget",
        "socket",
        "unlink",
        "wait4",
        "write",
    ];

    /// Every syscall the allow-list of `policy` permits: its items, groups expanded, and
    /// @default.
    fn allowed(policy: &Policy, groups: &SyscallGroups) -> BTreeSet<String> {
        let mut all = groups.default_group();
        for item in policy.value("SystemCallFilter").expect("set").split(' ') {
            match groups.groups.get(item) {
                Some(members) => all.extend(members.iter().cloned()),
                None => {
                    all.insert(item.to_owned());
                }
            }
        }
        all
    }

    /// The scored groups an allow-list includes a member of: what systemd-analyze security
    /// counts against it (analyze-security.c, syscall_names_in_filter).
    fn scored_included(allowed: &BTreeSet<String>, groups: &SyscallGroups) -> Vec<&'static str> {
        SCORED_GROUPS
            .iter()
            .copied()
            .filter(|g| {
                groups
                    .groups
                    .get(*g)
                    .is_some_and(|m| m.iter().any(|s| allowed.contains(s)))
            })
            .collect()
    }

    #[test]
    fn a_service_that_links_and_removes_entries_may_rename_them() {
        // mpd's libpulse: symlink and unlink seen in a life whose /tmp persisted; under
        // PrivateTmp=yes its runtime link dangles on every start and it re-links it with a
        // rename, which an exact list refused (the unit then hung at its next start).
        let p = profile("x86_64", &["openat", "symlink", "unlink", "mkdir"]);
        let groups = SyscallGroups::for_version(252, None);
        let standard = allowed(&resolve(&p, 252, &groups, Margin::Standard), &groups);
        let exact = allowed(&resolve(&p, 252, &groups, Margin::Exact), &groups);
        for name in [
            "rename",
            "renameat",
            "renameat2",
            "linkat",
            "rmdir",
            "symlinkat",
        ] {
            assert!(standard.contains(name), "{name}");
            assert!(!exact.contains(name), "{name}");
        }
        // Opening files alone is no change of entries.
        let reader = profile("x86_64", &["openat", "read"]);
        let standard = allowed(&resolve(&reader, 252, &groups, Margin::Standard), &groups);
        assert!(!standard.contains("rename") && !standard.contains("unlink"));
    }

    #[test]
    fn postgresql_gets_the_sync_family_only_with_the_standard_margin() {
        let p = profile("x86_64", POSTGRES);
        let before = p.clone();
        let groups = SyscallGroups::for_version(252, None);
        let standard = allowed(&resolve(&p, 252, &groups, Margin::Standard), &groups);
        let exact = allowed(&resolve(&p, 252, &groups, Margin::Exact), &groups);
        for name in ["sync_file_range", "fsync", "syncfs"] {
            assert!(standard.contains(name), "standard lacks {name}");
            assert!(!exact.contains(name), "exact has {name}");
        }
        // Other families it touched.
        for name in [
            "preadv", "pwritev", "writev", "poll", "shmdt", "shmctl", "mremap",
        ] {
            assert!(standard.contains(name), "standard lacks {name}");
            assert!(!exact.contains(name), "exact has {name}");
        }
        // Nothing of a family it never touched, and nothing scored.
        for name in [
            "io_setup",
            "inotify_init1",
            "mlock",
            "semop",
            "setuid",
            "chown",
        ] {
            assert!(!standard.contains(name), "standard has {name}");
        }
        assert!(exact.is_subset(&standard));
        // The profile's observations are what they were.
        assert_eq!(p, before);
    }

    #[test]
    fn exact_is_todays_tightest_list() {
        let p = profile("x86_64", POSTGRES);
        let groups = SyscallGroups::for_version(252, None);
        let exact = resolve(&p, 252, &groups, Margin::Exact);
        let value = exact.value("SystemCallFilter").expect("set");
        let evidence = &exact
            .decision("SystemCallFilter")
            .expect("decided")
            .evidence;
        assert!(!value.contains("fsync"), "{value}");
        assert!(
            evidence.iter().all(|e| !e.contains("margin")),
            "{evidence:?}"
        );
    }

    #[test]
    fn no_family_member_is_in_a_scored_group() {
        // The tables of every target learner has (and a version between them).
        for version in [239, 245, 252, 254, 257] {
            let groups = SyscallGroups::for_version(version, None);
            let scored = scored_members(&groups);
            assert!(
                scored.contains("setuid") && scored.contains("mount"),
                "{version}"
            );
            for family in FAMILIES {
                for m in family.members {
                    assert!(
                        !scored.contains(*m),
                        "{m} ({} family) is scored on {version}",
                        family.name
                    );
                }
            }
        }
    }

    #[test]
    fn no_companion_is_scored_or_unknown() {
        for version in [239, 245, 252, 254, 257] {
            let groups = SyscallGroups::for_version(version, None);
            let scored = scored_members(&groups);
            for c in COMPANIONS {
                assert!(!c.reason.is_empty(), "{}", c.name);
                for m in c.members.iter().chain(c.after) {
                    assert!(
                        !scored.contains(*m),
                        "{m} ({}) is scored on {version}",
                        c.name
                    );
                    assert!(
                        Arch::X86_64.syscall_number(m).is_some()
                            || Arch::Aarch64.syscall_number(m).is_some(),
                        "{m}: no such syscall"
                    );
                }
            }
        }
    }

    #[test]
    fn a_facility_used_brings_the_calls_its_other_paths_make() {
        let groups = SyscallGroups::for_version(252, None);
        // ngircd: sockets, never a non-blocking connect's check (its outgoing links);
        // BIRD: a shell's clone in ExecStartPre, never BFD's wakeup pipe, and an include of
        // one file, never a glob's directory listing.
        let p = profile(
            "x86_64",
            &["socket", "bind", "listen", "accept", "openat", "clone"],
        );
        let standard = allowed(&resolve(&p, 252, &groups, Margin::Standard), &groups);
        let exact = allowed(&resolve(&p, 252, &groups, Margin::Exact), &groups);
        for m in ["getsockopt", "getdents64", "pipe2", "kill", "chdir"] {
            assert!(standard.contains(m), "{m}");
            assert!(!exact.contains(m), "{m} in the exact list");
        }
        // Nothing written, no sizing or locking.
        assert!(!standard.contains("ftruncate") && !standard.contains("flock"));
        // A file written (transmission's downloads): truncate and flock come too.
        let mut w = p.clone();
        w.observations.add(
            &crate::model::observations::Slot::Path("/var/lib/svc/data".into(), Access::Create),
            3,
            "svc",
            1,
        );
        let standard = allowed(&resolve(&w, 252, &groups, Margin::Standard), &groups);
        assert!(standard.contains("ftruncate") && standard.contains("flock"));
        // A service without sockets gets none of the socket calls.
        let q = profile("x86_64", &["openat", "read"]);
        let standard = allowed(&resolve(&q, 252, &groups, Margin::Standard), &groups);
        assert!(!standard.contains("getsockopt") && !standard.contains("pipe2"));
    }

    #[test]
    fn families_are_real_disjoint_names() {
        let known = SyscallGroups::for_version(252, None).known;
        let mut seen = BTreeSet::new();
        for family in FAMILIES {
            assert!(family.members.len() >= 2, "{}", family.name);
            assert!(!family.reason.is_empty(), "{}", family.name);
            for m in family.members {
                assert!(known.contains(*m), "{m}: unknown to systemd");
                assert!(
                    Arch::X86_64.syscall_number(m).is_some()
                        || Arch::Aarch64.syscall_number(m).is_some(),
                    "{m}: no such syscall"
                );
                assert!(seen.insert(*m), "{m} in two families");
            }
        }
    }

    #[test]
    fn the_margin_costs_no_exposure() {
        // One member of every family, a call that brings each companion, and calls that are scored (setuid: @privileged,
        // settimeofday: @clock, mount: @mount): those stay what they were.
        let mut calls: Vec<&str> = FAMILIES.iter().map(|f| f.members[0]).collect();
        calls.extend(COMPANIONS.iter().map(|c| c.after[0]));
        calls.extend(["setuid", "settimeofday", "mount"]);
        let p = profile("x86_64", &calls);
        for version in [239, 245, 252, 257] {
            let groups = SyscallGroups::for_version(version, None);
            let standard = allowed(&resolve(&p, version, &groups, Margin::Standard), &groups);
            let exact = allowed(&resolve(&p, version, &groups, Margin::Exact), &groups);
            assert!(
                standard.len() > exact.len() + 50,
                "{version}: too few added"
            );
            let (s, e) = (
                scored_included(&standard, &groups),
                scored_included(&exact, &groups),
            );
            assert_eq!(s, e, "{version}");
            assert!(e.contains(&"@privileged") && e.contains(&"@mount"), "{e:?}");
            assert!(!e.contains(&"@swap") && !e.contains(&"@reboot"), "{e:?}");
        }
    }

    #[test]
    fn only_names_the_target_and_the_abi_know() {
        // faccessat2 is unknown before systemd 247.
        let p = profile("x86_64", &["faccessat", "ppoll"]);
        for (version, has) in [(245, false), (252, true)] {
            let groups = SyscallGroups::for_version(version, None);
            let all = allowed(&resolve(&p, version, &groups, Margin::Standard), &groups);
            assert_eq!(all.contains("faccessat2"), has, "{version}");
            assert!(all.contains("access") && all.contains("poll"), "{version}");
        }
        // aarch64 has no poll, select or epoll_wait: only ppoll, pselect6 and epoll_pwait.
        let p = profile("aarch64", &["ppoll"]);
        let groups = SyscallGroups::for_version(252, None);
        let value = resolve(&p, 252, &groups, Margin::Standard)
            .value("SystemCallFilter")
            .expect("set")
            .to_owned();
        let items: Vec<&str> = value.split(' ').collect();
        for name in ["pselect6", "epoll_pwait", "epoll_ctl", "epoll_create1"] {
            assert!(items.contains(&name), "{name}: {value}");
        }
        for name in ["poll", "select", "epoll_wait", "epoll_create"] {
            assert!(!items.contains(&name), "{name}: {value}");
        }
    }

    #[test]
    fn explain_names_each_addition_and_why() {
        let p = profile("x86_64", POSTGRES);
        let groups = SyscallGroups::for_version(252, None);
        let explained = |margin| {
            render(
                &resolve(&p, 252, &groups, margin),
                &p,
                &["pg.profile.yaml".into()],
                &groups.source,
                true,
            )
        };
        let text = explained(Margin::Standard);
        let line = text
            .lines()
            .find(|l| l.starts_with("# SystemCallFilter: ") && l.contains("sync_file_range"))
            .unwrap_or_else(|| panic!("no margin line:\n{text}"));
        assert!(
            line.contains("fsync")
                && line.contains("the sync family of fdatasync")
                && line.contains("crash recovery"),
            "{line}"
        );
        // Every addition is named in one such line.
        let exact = allowed(&resolve(&p, 252, &groups, Margin::Exact), &groups);
        let standard = allowed(&resolve(&p, 252, &groups, Margin::Standard), &groups);
        let named: BTreeSet<&str> = text
            .lines()
            .filter(|l| l.contains(": margin, the "))
            .filter_map(|l| l.strip_prefix("# SystemCallFilter: ")?.split(':').next())
            .flat_map(|names| names.split(' '))
            .collect();
        let added: BTreeSet<&str> = standard.difference(&exact).map(String::as_str).collect();
        assert_eq!(named, added);
        assert!(
            text.contains(&format!(
                "# SystemCallFilter: {} syscalls added by the standard margin",
                added.len()
            )),
            "{text}"
        );
        assert!(!explained(Margin::Exact).contains("margin"));
    }
}
