//! Names the kernel gives numbers: capabilities, errnos, address families, namespaces.

/// Capability names by number (linux/capability.h).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub fn capability(cap: u32) -> String {
    CAPABILITIES
        .get(cap as usize)
        .map_or_else(|| format!("CAP_{cap}"), |n| (*n).to_owned())
}

/// Errno names (asm-generic/errno-base.h and errno.h; the same numbers on x86_64 and aarch64).
const ERRNOS: &[&str] = &[
    "0",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
];

/// `ret` of a failed syscall (a negative errno) as a name: `-13` is `EACCES`.
pub fn errno(ret: i64) -> String {
    let n = ret.unsigned_abs();
    match n {
        0..=40 => ERRNOS[n as usize].to_owned(),
        61 => "ENODATA".into(),
        75 => "EOVERFLOW".into(),
        88 => "ENOTSOCK".into(),
        95 => "EOPNOTSUPP".into(),
        97 => "EAFNOSUPPORT".into(),
        98 => "EADDRINUSE".into(),
        99 => "EADDRNOTAVAIL".into(),
        101 => "ENETUNREACH".into(),
        103 => "ECONNABORTED".into(),
        104 => "ECONNRESET".into(),
        110 => "ETIMEDOUT".into(),
        111 => "ECONNREFUSED".into(),
        115 => "EINPROGRESS".into(),
        _ => format!("E{n}"),
    }
}

/// A signal that ended a process, as an outcome: `killed by SIGSYS`.
pub fn signal(signo: i32) -> String {
    let name = match signo {
        9 => "SIGKILL".to_owned(),
        31 => "SIGSYS".to_owned(),
        n => format!("signal {n}"),
    };
    format!("killed by {name}")
}

/// Address family names (linux/socket.h), as `RestrictAddressFamilies=` spells them.
pub fn address_family(family: u64) -> String {
    let name = match family {
        0 => "AF_UNSPEC",
        1 => "AF_UNIX",
        2 => "AF_INET",
        3 => "AF_AX25",
        4 => "AF_IPX",
        5 => "AF_APPLETALK",
        9 => "AF_X25",
        10 => "AF_INET6",
        15 => "AF_KEY",
        16 => "AF_NETLINK",
        17 => "AF_PACKET",
        29 => "AF_CAN",
        30 => "AF_TIPC",
        31 => "AF_BLUETOOTH",
        38 => "AF_ALG",
        40 => "AF_VSOCK",
        44 => "AF_XDP",
        45 => "AF_MCTP",
        _ => return format!("AF_{family}"),
    };
    name.to_owned()
}

/// Socket type names; SOCK_NONBLOCK and SOCK_CLOEXEC are masked off.
pub fn socket_type(ty: u64) -> String {
    let name = match ty & 0xf {
        1 => "SOCK_STREAM",
        2 => "SOCK_DGRAM",
        3 => "SOCK_RAW",
        4 => "SOCK_RDM",
        5 => "SOCK_SEQPACKET",
        6 => "SOCK_DCCP",
        10 => "SOCK_PACKET",
        other => return format!("SOCK_{other}"),
    };
    name.to_owned()
}

/// Namespace types in clone/unshare/setns flags, as `RestrictNamespaces=` spells them.
pub fn namespaces(flags: u64) -> Vec<&'static str> {
    const TYPES: &[(u64, &str)] = &[
        (0x0000_0080, "time"),
        (0x0002_0000, "mnt"),
        (0x0200_0000, "cgroup"),
        (0x0400_0000, "uts"),
        (0x0800_0000, "ipc"),
        (0x1000_0000, "user"),
        (0x2000_0000, "pid"),
        (0x4000_0000, "net"),
    ];
    TYPES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, name)| name)
        .collect()
}

/// Scheduling policy names (linux/sched.h), SCHED_RESET_ON_FORK masked off.
/// Netlink protocol names (linux/netlink.h).
pub fn netlink_protocol(protocol: u64) -> String {
    let name = match protocol {
        0 => "NETLINK_ROUTE",
        2 => "NETLINK_USERSOCK",
        4 => "NETLINK_SOCK_DIAG",
        5 => "NETLINK_NFLOG",
        6 => "NETLINK_XFRM",
        7 => "NETLINK_SELINUX",
        8 => "NETLINK_ISCSI",
        9 => "NETLINK_AUDIT",
        10 => "NETLINK_FIB_LOOKUP",
        11 => "NETLINK_CONNECTOR",
        12 => "NETLINK_NETFILTER",
        13 => "NETLINK_IP6_FW",
        14 => "NETLINK_DNRTMSG",
        15 => "NETLINK_KOBJECT_UEVENT",
        16 => "NETLINK_GENERIC",
        18 => "NETLINK_SCSITRANSPORT",
        19 => "NETLINK_ECRYPTFS",
        20 => "NETLINK_RDMA",
        21 => "NETLINK_CRYPTO",
        22 => "NETLINK_SMC",
        other => return format!("NETLINK_{other}"),
    };
    name.to_owned()
}

/// A scheduling policy's name, with `|SCHED_RESET_ON_FORK` when that flag is ORed in
/// (RestrictRealtime= refuses every such value).
pub fn sched_policy(policy: u64) -> String {
    let base = sched_policy_name(policy & !0x4000_0000);
    match policy & 0x4000_0000 {
        0 => base,
        _ => format!("{base}|SCHED_RESET_ON_FORK"),
    }
}

fn sched_policy_name(policy: u64) -> String {
    let name = match policy {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        7 => "SCHED_EXT",
        other => return format!("SCHED_{other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(capability(1), "CAP_DAC_OVERRIDE");
        assert_eq!(capability(21), "CAP_SYS_ADMIN");
        assert_eq!(capability(40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(capability(99), "CAP_99");
        assert_eq!(errno(-13), "EACCES");
        assert_eq!(errno(-30), "EROFS");
        assert_eq!(errno(-97), "EAFNOSUPPORT");
        assert_eq!(address_family(10), "AF_INET6");
        assert_eq!(socket_type(1 | 0o4000 | 0o2000000), "SOCK_STREAM");
        assert_eq!(namespaces(0x4000_0000 | 0x0002_0000), ["mnt", "net"]);
        assert_eq!(
            sched_policy(1 | 0x4000_0000),
            "SCHED_FIFO|SCHED_RESET_ON_FORK"
        );
        assert_eq!(netlink_protocol(15), "NETLINK_KOBJECT_UEVENT");
        assert_eq!(netlink_protocol(31), "NETLINK_31");
    }

    #[test]
    fn errno_table_matches_libc() {
        for (n, name) in [
            (libc::EPERM, "EPERM"),
            (libc::EROFS, "EROFS"),
            (libc::ELOOP, "ELOOP"),
        ] {
            assert_eq!(errno(-i64::from(n)), name);
        }
    }
}
