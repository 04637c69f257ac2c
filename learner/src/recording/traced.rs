//! The syscalls whose arguments learner records, and how the kernel side reads each.
//!
//! Syscall counts cover every call; these are the ones whose arguments decide a directive:
//! paths (ProtectSystem, ReadWritePaths, ...), socket families, namespace flags and so on.
use learner_common::{Shape, base_effect, extra, shape_flags, string_kind};

/// One traced syscall. Argument indices are 0-based here; the kernel side takes them 1-based.
#[derive(Clone, Copy, Debug)]
pub struct Traced {
    pub name: &'static str,
    /// The name of its `syscalls/sys_enter_*` tracepoint: the kernel's `SYSCALL_DEFINE` name,
    /// which for a few calls is not the syscall's (x86_64's stat is `newstat`).
    pub tracepoint: &'static str,
    /// How many arguments the kernel's `SYSCALL_DEFINEn` gives it (same on every ABI).
    pub nargs: u8,
    /// The arguments that are user strings (paths), kept in `strings[0]` and `strings[1]`.
    pub strings: [Option<u8>; 2],
    pub string1_kind: u8,
    pub extra: u8,
    pub flags: u8,
    /// Arguments that tell otherwise identical calls apart (flags, modes, families).
    pub key_args: &'static [u8],
    /// 1-based index of the open flags argument (`OPEN_FLAGS_IN_EXTRA` for openat2).
    pub open_flags_arg: u8,
    /// The directory fd argument each string is relative to (0-based; `*at` calls), or the fd
    /// the call acts on when it has no string (fchmod).
    pub dirfds: [Option<u8>; 2],
    /// What the call does to later calls' bases: see `learner_common::base_effect`.
    pub base_effect: u8,
}

const fn t(
    name: &'static str,
    nargs: u8,
    s0: Option<u8>,
    s1: Option<u8>,
    key: &'static [u8],
) -> Traced {
    Traced {
        name,
        tracepoint: name,
        nargs,
        strings: [s0, s1],
        string1_kind: string_kind::STRING,
        extra: extra::NONE,
        flags: 0,
        key_args: key,
        open_flags_arg: 0,
        dirfds: [None, None],
        base_effect: base_effect::NONE,
    }
}

/// An `*at` call: string 0 (and string 1, for the two-path calls) relative to these fds.
const fn at(mut t: Traced, d0: u8, d1: Option<u8>) -> Traced {
    t.dirfds = [Some(d0), d1];
    t
}

/// A call on the fd in argument `fd` (no path).
const fn on_fd(mut t: Traced, fd: u8) -> Traced {
    t.dirfds = [Some(fd), None];
    t
}

/// symlinkat: only string 1 (the link) is relative to a directory fd.
const fn with_dirfd1(mut t: Traced, fd: u8) -> Traced {
    t.dirfds = [None, Some(fd)];
    t
}

const fn with_effect(mut t: Traced, effect: u8) -> Traced {
    t.base_effect = effect;
    t
}

const fn with_open_flags(mut t: Traced, arg: u8) -> Traced {
    t.open_flags_arg = arg;
    t
}

const fn with_extra(mut t: Traced, extra: u8) -> Traced {
    t.extra = extra;
    t
}

const fn with_flags(mut t: Traced, flags: u8) -> Traced {
    t.flags = flags;
    t
}

/// A call whose tracepoint is named `tracepoint`.
const fn defined_as(mut t: Traced, tracepoint: &'static str) -> Traced {
    t.tracepoint = tracepoint;
    t
}

/// A lookup whose empty path names its fd (fstat is newfstatat(fd, "", AT_EMPTY_PATH)) or
/// nothing (stat(""): ENOENT): not traced then.
const fn lookup(t: Traced) -> Traced {
    with_flags(t, shape_flags::EMPTY_PATH_IS_FD)
}

const fn with_kind(mut t: Traced, kind: u8) -> Traced {
    t.string1_kind = kind;
    t
}

/// A call that names the address it sends to (`kind` says where that address is).
const fn destination(t: Traced, kind: u8) -> Traced {
    with_flags(with_kind(t, kind), shape_flags::ADDRESS_SET)
}

/// A call whose address the kernel fills in with a peer's: kept without its port.
const fn peer(t: Traced, kind: u8) -> Traced {
    with_flags(
        with_kind(t, kind),
        shape_flags::ADDRESS_SET | shape_flags::PEER_HOST,
    )
}

const P0: Option<u8> = Some(0);
const P1: Option<u8> = Some(1);
const P2: Option<u8> = Some(2);
const P3: Option<u8> = Some(3);
const P4: Option<u8> = Some(4);
const NO: Option<u8> = None;

/// Every traced syscall. Names missing from a kernel (or an architecture) are skipped.
pub const TRACED: &[Traced] = &[
    // Files: opens by their flags and mode. Directory fds are never part of a key: the kernel
    // side keys relative paths by what they are relative to (see `learner_common::base`).
    with_effect(
        with_open_flags(t("open", 3, P0, NO, &[1, 2]), 2),
        base_effect::OPENS_FD,
    ),
    with_effect(
        with_open_flags(at(t("openat", 4, P1, NO, &[2, 3]), 0, None), 3),
        base_effect::OPENS_FD,
    ),
    with_effect(
        with_open_flags(
            with_extra(at(t("openat2", 4, P1, NO, &[]), 0, None), extra::OPEN_HOW),
            learner_common::OPEN_FLAGS_IN_EXTRA,
        ),
        base_effect::OPENS_FD,
    ),
    with_effect(t("creat", 2, P0, NO, &[1]), base_effect::OPENS_FD),
    with_effect(t("chdir", 1, P0, NO, &[]), base_effect::CHDIR),
    with_effect(on_fd(t("fchdir", 1, NO, NO, &[]), 0), base_effect::FCHDIR),
    // A chrooted process's absolute paths are below its new root (postfix's smtpd, sshd's
    // privilege-separated child, vsftpd).
    with_effect(t("chroot", 1, P0, NO, &[]), base_effect::CHROOT),
    // A bind mount's source is a path looked up now (dockerd binding a container's
    // /proc/PID/ns/net: the kernel checks ptrace access there); other sources are names
    // ("tmpfs", "proc"), which the collector leaves alone.
    t("mount", 5, P0, NO, &[3]),
    // Only so the kernel side knows what a duplicated fd names (touch: open, dup2 onto 0,
    // then futimens(0)); they send no event.
    with_effect(on_fd(t("dup", 1, NO, NO, &[]), 0), base_effect::DUP),
    with_effect(on_fd(t("dup2", 2, NO, NO, &[]), 0), base_effect::DUP),
    with_effect(on_fd(t("dup3", 3, NO, NO, &[]), 0), base_effect::DUP),
    // fcntl only when it duplicates (F_DUPFD, F_DUPFD_CLOEXEC): rm -r and find walk a tree
    // through such copies of the directory fds they opened, then unlinkat relative to them.
    with_flags(
        with_effect(on_fd(t("fcntl", 3, NO, NO, &[]), 0), base_effect::DUP),
        shape_flags::DUPFD_CMD_ARG1,
    ),
    t("mkdir", 2, P0, NO, &[1]),
    at(t("mkdirat", 3, P1, NO, &[2]), 0, None),
    t("unlink", 1, P0, NO, &[]),
    at(t("unlinkat", 3, P1, NO, &[2]), 0, None),
    t("rmdir", 1, P0, NO, &[]),
    t("rename", 2, P0, P1, &[]),
    at(t("renameat", 4, P1, P3, &[]), 0, Some(2)),
    at(t("renameat2", 5, P1, P3, &[4]), 0, Some(2)),
    t("link", 2, P0, P1, &[]),
    at(t("linkat", 5, P1, P3, &[4]), 0, Some(2)),
    t("symlink", 2, P0, P1, &[]),
    // The target (string 0) is the link's content, not a path looked up now.
    with_dirfd1(t("symlinkat", 3, P0, P2, &[]), 1),
    t("chmod", 2, P0, NO, &[1]),
    on_fd(t("fchmod", 2, NO, NO, &[1]), 0),
    at(t("fchmodat", 3, P1, NO, &[2]), 0, None),
    at(t("fchmodat2", 4, P1, NO, &[2, 3]), 0, None),
    t("chown", 3, P0, NO, &[]),
    t("lchown", 3, P0, NO, &[]),
    on_fd(t("fchown", 3, NO, NO, &[]), 0),
    at(t("fchownat", 5, P1, NO, &[]), 0, None),
    t("truncate", 2, P0, NO, &[]),
    on_fd(t("ftruncate", 2, NO, NO, &[]), 0),
    // A file system's size asked by path (collectd's df, the node exporter's filesystem
    // collector): hidden by InaccessiblePaths= or ProtectHome=, the path reports the empty
    // node mounted over it, silently.
    t("statfs", 2, P0, NO, &[]),
    // Lookups: the path's metadata, its access bits, a link's target, a watch on it. Nothing
    // is read or written, but InaccessiblePaths=, ProtectHome=, PrivateTmp=, ProcSubset= and
    // PrivateDevices= change what such a call finds (a file there, or ENOENT or EACCES).
    defined_as(lookup(t("stat", 2, P0, NO, &[])), "newstat"),
    defined_as(lookup(t("lstat", 2, P0, NO, &[])), "newlstat"),
    lookup(at(t("newfstatat", 4, P1, NO, &[]), 0, None)),
    lookup(at(t("statx", 5, P1, NO, &[]), 0, None)),
    // The mode is kept: access(W_OK) asks whether a write would be let through.
    t("access", 2, P0, NO, &[1]),
    lookup(at(t("faccessat", 3, P1, NO, &[2]), 0, None)),
    lookup(at(t("faccessat2", 4, P1, NO, &[2]), 0, None)),
    t("readlink", 3, P0, NO, &[]),
    lookup(at(t("readlinkat", 4, P1, NO, &[]), 0, None)),
    t("getxattr", 4, P0, NO, &[]),
    t("lgetxattr", 4, P0, NO, &[]),
    t("listxattr", 3, P0, NO, &[]),
    t("llistxattr", 3, P0, NO, &[]),
    // inotify watches the path (incron, config reloaders), and fails on a hidden one.
    t("inotify_add_watch", 3, P1, NO, &[]),
    at(t("fanotify_mark", 5, P4, NO, &[]), 3, None),
    // Extended attributes written: as chmod, they need a writable file system.
    t("setxattr", 5, P0, NO, &[]),
    t("lsetxattr", 5, P0, NO, &[]),
    on_fd(t("fsetxattr", 5, NO, NO, &[]), 0),
    t("removexattr", 2, P0, NO, &[]),
    t("lremovexattr", 2, P0, NO, &[]),
    on_fd(t("fremovexattr", 2, NO, NO, &[]), 0),
    t("utime", 2, P0, NO, &[]),
    t("utimes", 2, P0, NO, &[]),
    at(t("utimensat", 4, P1, NO, &[]), 0, None),
    at(t("futimesat", 3, P1, NO, &[]), 0, None),
    t("mknod", 3, P0, NO, &[1, 2]),
    at(t("mknodat", 4, P1, NO, &[2, 3]), 0, None),
    with_kind(t("execve", 3, P0, P1, &[]), string_kind::ARGV0),
    with_kind(
        at(t("execveat", 5, P1, P2, &[]), 0, None),
        string_kind::ARGV0,
    ),
    // An fd that names no file: only so the kernel side forgets what its number named.
    with_effect(t("memfd_create", 2, NO, NO, &[1]), base_effect::NO_PATH_FD),
    // Likewise for both ends of a pipe; they send no event.
    with_effect(t("pipe", 1, NO, NO, &[]), base_effect::PIPE_FDS),
    with_effect(t("pipe2", 2, NO, NO, &[]), base_effect::PIPE_FDS),
    // The new mount API (runc, systemd). open_tree's fd names the tree at its path (with
    // OPEN_TREE_CLONE a detached copy of it, the same inodes under the same mount flags, so
    // ReadOnlyPaths= still holds there): calls through it act on that path, as through an
    // O_PATH open.
    with_effect(
        at(t("open_tree", 3, P1, NO, &[2]), 0, None),
        base_effect::OPENS_FD,
    ),
    with_effect(
        at(t("open_tree_attr", 5, P1, NO, &[2]), 0, None),
        base_effect::OPENS_FD,
    ),
    // fsmount's fd is a new mount attached nowhere (runc's private procfs): what lies below
    // it has no path in any tree the unit's path directives shape, so calls through it
    // constrain no directive (what decides on them is CAP_SYS_ADMIN and the mount calls,
    // both recorded). fsopen's and fspick's fds are filesystem contexts, for fsconfig and
    // fsmount only. None names a path, whatever its number named before.
    with_effect(t("fsmount", 3, NO, NO, &[1, 2]), base_effect::NO_PATH_FD),
    with_effect(t("fsopen", 2, NO, NO, &[1]), base_effect::NO_PATH_FD),
    with_effect(t("fspick", 3, NO, NO, &[2]), base_effect::NO_PATH_FD),
    // move_mount attaches a mount (fsmount's, open_tree's) to a tree: in the host's mount
    // namespace, a mount every other process sees (the collector's host mounts).
    t("move_mount", 5, NO, NO, &[4]),
    // Sockets.
    with_effect(t("socket", 3, NO, NO, &[0, 1, 2]), base_effect::NO_PATH_FD),
    t("socketpair", 4, NO, NO, &[0, 1, 2]),
    with_kind(t("bind", 3, NO, P1, &[]), string_kind::SOCKADDR),
    with_kind(t("connect", 3, NO, P1, &[]), string_kind::SOCKADDR),
    // Peers: who connected, where datagrams went and came from (IPAddressAllow=). Only
    // calls that name an address are traced (send()/recv() on a connected socket do not).
    with_effect(
        peer(t("accept", 3, NO, P1, &[]), string_kind::SOCKADDR_LEN_AT),
        base_effect::NO_PATH_FD,
    ),
    with_effect(
        peer(t("accept4", 4, NO, P1, &[]), string_kind::SOCKADDR_LEN_AT),
        base_effect::NO_PATH_FD,
    ),
    peer(t("recvfrom", 6, NO, P4, &[]), string_kind::SOCKADDR_LEN_AT),
    peer(t("recvmsg", 3, NO, P1, &[]), string_kind::MSGHDR),
    peer(t("recvmmsg", 5, NO, P1, &[]), string_kind::MSGHDR),
    destination(t("sendto", 6, NO, P4, &[]), string_kind::SOCKADDR),
    destination(t("sendmsg", 3, NO, P1, &[]), string_kind::MSGHDR),
    destination(t("sendmmsg", 4, NO, P1, &[]), string_kind::MSGHDR),
    // Memory that is writable and executable (MemoryDenyWriteExecute).
    with_flags(t("mmap", 6, NO, NO, &[2]), shape_flags::PROT_WX_ARG2),
    with_flags(t("mprotect", 3, NO, NO, &[2]), shape_flags::PROT_EXEC_ARG2),
    with_flags(
        t("pkey_mprotect", 4, NO, NO, &[2]),
        shape_flags::PROT_EXEC_ARG2,
    ),
    t("shmat", 3, NO, NO, &[2]),
    // Processes and namespaces.
    t("clone", 5, NO, NO, &[0]),
    with_extra(t("clone3", 2, NO, NO, &[]), extra::CLONE3_FLAGS),
    t("fork", 0, NO, NO, &[]),
    t("vfork", 0, NO, NO, &[]),
    with_flags(t("exit", 1, NO, NO, &[]), shape_flags::AT_ENTER),
    with_flags(t("exit_group", 1, NO, NO, &[]), shape_flags::AT_ENTER),
    t("unshare", 1, NO, NO, &[0]),
    t("setns", 2, NO, NO, &[1]),
    t("personality", 1, NO, NO, &[0]),
    t("sched_setscheduler", 3, NO, NO, &[1]),
    with_extra(t("sched_setattr", 3, NO, NO, &[]), extra::SCHED_ATTR_POLICY),
    // Host-wide state.
    t("sethostname", 2, P0, NO, &[]),
    t("setdomainname", 2, P0, NO, &[]),
    t("clock_settime", 2, NO, NO, &[0]),
    t("clock_adjtime", 2, NO, NO, &[0]),
    t("adjtimex", 1, NO, NO, &[]),
    t("settimeofday", 2, NO, NO, &[]),
    t("init_module", 3, NO, NO, &[]),
    t("finit_module", 3, NO, NO, &[]),
    t("delete_module", 2, P0, NO, &[]),
    t("syslog", 3, NO, NO, &[0]),
    // Kernel keyrings (KeyringMode): traced so that systemd's own calls before the exec
    // (joining the session keyring, adding the invocation id) are told from the service's.
    t("keyctl", 5, NO, NO, &[0]),
    t("add_key", 5, NO, NO, &[]),
    t("request_key", 4, NO, NO, &[]),
    // Credentials: the ids a process switches to (User=, DynamicUser=).
    t("setuid", 1, NO, NO, &[0]),
    t("setgid", 1, NO, NO, &[0]),
    t("setreuid", 2, NO, NO, &[0, 1]),
    t("setregid", 2, NO, NO, &[0, 1]),
    t("setresuid", 3, NO, NO, &[0, 1, 2]),
    t("setresgid", 3, NO, NO, &[0, 1, 2]),
    t("setgroups", 2, NO, NO, &[0]),
    // The capabilities a process keeps for itself (dnsmasq keeps CAP_NET_ADMIN for DHCP
    // after dropping root): held, not checked, so the capability tracepoint never sees them.
    with_extra(t("capset", 2, NO, NO, &[]), extra::CAPSET_PERMITTED),
];

impl Traced {
    /// The kernel side's description of this syscall.
    pub fn shape(&self) -> Shape {
        let one_based = |s: Option<u8>| s.map_or(0, |i| i + 1);
        Shape {
            traced: 1,
            string_arg: [one_based(self.strings[0]), one_based(self.strings[1])],
            string1_kind: self.string1_kind,
            extra: self.extra,
            flags: self.flags
                | if crate::model::credentials::switches_credentials(self.name) {
                    shape_flags::CREDENTIAL_SWITCH
                } else {
                    0
                },
            key_args: self.key_args.iter().fold(0, |bits, &i| bits | (1 << i)),
            open_flags_arg: self.open_flags_arg,
            dirfd_arg: [one_based(self.dirfds[0]), one_based(self.dirfds[1])],
            base_effect: self.base_effect,
            _pad: 0,
        }
    }

    pub fn by_name(name: &str) -> Option<&'static Traced> {
        TRACED.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_that_may_change_credentials_start_a_generation_on_the_kernel_side() {
        let flagged = |name: &str| {
            Traced::by_name(name).expect(name).shape().flags & shape_flags::CREDENTIAL_SWITCH != 0
        };
        for name in [
            "setresuid",
            "setgid",
            "setgroups",
            "capset",
            "execve",
            "unshare",
        ] {
            assert!(flagged(name), "{name}");
        }
        for name in ["openat", "mmap", "clone", "connect"] {
            assert!(!flagged(name), "{name}");
        }
    }

    #[test]
    fn argument_indices_fit_the_argument_count() {
        for t in TRACED {
            for i in t
                .strings
                .iter()
                .flatten()
                .chain(t.key_args)
                .chain(t.dirfds.iter().flatten())
            {
                assert!(*i < t.nargs, "{}: argument {i} of {}", t.name, t.nargs);
            }
            if matches!(
                t.string1_kind,
                string_kind::SOCKADDR | string_kind::SOCKADDR_LEN_AT
            ) {
                let i = t.strings[1].expect("sockaddr slot");
                assert!(
                    i + 1 < t.nargs,
                    "{}: sockaddr needs its length argument",
                    t.name
                );
            }
        }
    }

    #[test]
    fn traced_names_are_syscalls() {
        let arch = crate::model::syscalls::Arch::X86_64;
        for t in TRACED {
            assert!(
                arch.syscall_number(t.name).is_some(),
                "{} is no x86_64 syscall",
                t.name
            );
        }
    }

    #[test]
    fn mount_api_fds_are_followed() {
        // open_tree(dirfd, path, flags): its fd is the path's, as an open's.
        let s = Traced::by_name("open_tree").unwrap().shape();
        assert_eq!(s.string_arg, [2, 0]);
        assert_eq!(s.dirfd_arg, [1, 0]);
        assert_eq!(s.base_effect, base_effect::OPENS_FD);
        for name in ["fsmount", "fsopen", "fspick"] {
            let s = Traced::by_name(name).unwrap().shape();
            assert_eq!(s.base_effect, base_effect::NO_PATH_FD, "{name}");
            assert_eq!(s.string_arg, [0, 0], "{name}");
        }
    }

    #[test]
    fn both_ends_of_a_pipe_name_no_path() {
        for name in ["pipe", "pipe2"] {
            let s = Traced::by_name(name).unwrap().shape();
            assert_eq!(s.base_effect, base_effect::PIPE_FDS, "{name}");
        }
    }

    #[test]
    fn shapes_are_one_based() {
        let s = Traced::by_name("openat").unwrap().shape();
        assert_eq!(s.string_arg, [2, 0]);
        assert_eq!(s.key_args, 0b1100);
        assert_eq!(s.dirfd_arg, [1, 0]);
        let s = Traced::by_name("renameat2").unwrap().shape();
        assert_eq!(s.dirfd_arg, [1, 3]);
    }

    #[test]
    fn fstat_through_an_empty_path_is_left_alone_and_named_lookups_are_traced() {
        for name in [
            "newfstatat",
            "statx",
            "faccessat",
            "faccessat2",
            "readlinkat",
        ] {
            let s = Traced::by_name(name).unwrap().shape();
            assert_ne!(s.flags & shape_flags::EMPTY_PATH_IS_FD, 0, "{name}");
            assert_eq!(s.string_arg, [2, 0], "{name}");
            assert_eq!(s.dirfd_arg, [1, 0], "{name}");
        }
        // Calls that write through an fd are never skipped.
        for name in ["fsetxattr", "fchmod", "utimensat", "openat"] {
            let s = Traced::by_name(name).unwrap().shape();
            assert_eq!(s.flags & shape_flags::EMPTY_PATH_IS_FD, 0, "{name}");
        }
    }

    #[test]
    fn tracepoints_carry_the_kernel_s_names() {
        assert_eq!(Traced::by_name("stat").unwrap().tracepoint, "newstat");
        assert_eq!(Traced::by_name("lstat").unwrap().tracepoint, "newlstat");
        assert_eq!(Traced::by_name("openat").unwrap().tracepoint, "openat");
    }
}
