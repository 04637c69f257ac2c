//! io_uring's operations (`enum io_uring_op`, include/uapi/linux/io_uring.h): their names,
//! and the syscall each does the work of where that syscall's arguments decide a directive.
//! A request runs inside the kernel without its syscall, so no syscall tracepoint sees its
//! path or address: a recording knows only that it ran.

/// By opcode: the operation's name (the kernel's own, as its tracepoints print it) and the
/// traced syscall whose arguments it carries unseen, if any. Operations on an fd the service
/// opened (read, write, fsync, ...) carry nothing a directive depends on.
const OPS: &[(&str, Option<&str>)] = &[
    ("NOP", None),
    ("READV", None),
    ("WRITEV", None),
    ("FSYNC", None),
    ("READ_FIXED", None),
    ("WRITE_FIXED", None),
    ("POLL_ADD", None),
    ("POLL_REMOVE", None),
    ("SYNC_FILE_RANGE", None),
    ("SENDMSG", Some("sendmsg")),
    ("RECVMSG", Some("recvmsg")),
    ("TIMEOUT", None),
    ("TIMEOUT_REMOVE", None),
    ("ACCEPT", Some("accept4")),
    ("ASYNC_CANCEL", None),
    ("LINK_TIMEOUT", None),
    ("CONNECT", Some("connect")),
    ("FALLOCATE", None),
    ("OPENAT", Some("openat")),
    ("CLOSE", None),
    ("FILES_UPDATE", None),
    ("STATX", Some("statx")),
    ("READ", None),
    ("WRITE", None),
    ("FADVISE", None),
    ("MADVISE", None),
    // With a destination address (since Linux 6.0), a sendto.
    ("SEND", Some("sendto")),
    // On an unconnected socket, a recvfrom whose sender is not seen.
    ("RECV", Some("recvfrom")),
    ("OPENAT2", Some("openat2")),
    ("EPOLL_CTL", None),
    ("SPLICE", None),
    ("PROVIDE_BUFFERS", None),
    ("REMOVE_BUFFERS", None),
    ("TEE", None),
    ("SHUTDOWN", None),
    ("RENAMEAT", Some("renameat")),
    ("UNLINKAT", Some("unlinkat")),
    ("MKDIRAT", Some("mkdirat")),
    ("SYMLINKAT", Some("symlinkat")),
    ("LINKAT", Some("linkat")),
    ("MSG_RING", None),
    ("FSETXATTR", Some("fsetxattr")),
    ("SETXATTR", Some("setxattr")),
    ("FGETXATTR", None),
    ("GETXATTR", Some("getxattr")),
    ("SOCKET", Some("socket")),
    ("URING_CMD", None),
    ("SEND_ZC", Some("sendto")),
    ("SENDMSG_ZC", Some("sendmsg")),
    ("READ_MULTISHOT", None),
    ("WAITID", None),
    ("FUTEX_WAIT", None),
    ("FUTEX_WAKE", None),
    ("FUTEX_WAITV", None),
    ("FIXED_FD_INSTALL", None),
    ("FTRUNCATE", Some("ftruncate")),
    ("BIND", Some("bind")),
    // A listener's clients are its peers, as accept's: unseen, it is no client.
    ("LISTEN", Some("accept4")),
    ("RECV_ZC", Some("recvfrom")),
    ("EPOLL_WAIT", None),
    ("READV_FIXED", None),
    ("WRITEV_FIXED", None),
    ("PIPE", None),
    ("NOP128", None),
    ("URING_CMD128", None),
];

/// The operation's name, or `#N` for one newer than learner.
pub fn name(opcode: u32) -> String {
    OPS.get(opcode as usize)
        .map_or_else(|| format!("#{opcode}"), |(name, _)| (*name).to_owned())
}

/// What an operation named `name` does unseen: `Some(Some(syscall))` the work of that
/// traced syscall, `Some(None)` nothing a directive depends on, None an operation learner
/// does not know (it may do anything).
pub fn stands_for(name: &str) -> Option<Option<&'static str>> {
    OPS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Every traced syscall some operation does the work of (some more than once).
pub fn stand_ins() -> impl Iterator<Item = &'static str> {
    OPS.iter().filter_map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_name_the_kernel_s_operations() {
        // Spot checks against include/uapi/linux/io_uring.h.
        assert_eq!(name(0), "NOP");
        assert_eq!(name(18), "OPENAT");
        assert_eq!(name(22), "READ");
        assert_eq!(name(28), "OPENAT2");
        assert_eq!(name(35), "RENAMEAT");
        assert_eq!(name(45), "SOCKET");
        assert_eq!(name(56), "BIND");
        assert_eq!(name(62), "PIPE");
        assert_eq!(name(200), "#200");
    }

    #[test]
    fn an_unknown_operation_is_told_from_a_harmless_one() {
        assert_eq!(stands_for("OPENAT"), Some(Some("openat")));
        assert_eq!(stands_for("READ"), Some(None));
        assert_eq!(stands_for("#200"), None);
        assert!(stand_ins().any(|c| c == "connect"));
    }
}
