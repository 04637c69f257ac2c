//! Types and constants shared by learner's eBPF programs and its user-space collector.
//!
//! Everything here is `#[repr(C)]` with explicit padding so both sides agree on the layout
//! byte for byte; `aya::Pod` is implemented only with the `user` feature, so the eBPF build
//! never pulls in aya.
#![no_std]

/// Syscall ids `0..SYSCALL_SLOTS` are counted one slot each. Every table we know (x86_64,
/// aarch64) stays below 512; the head-room is for future calls.
pub const SYSCALL_SLOTS: u32 = 1024;

/// The extra slot after the per-syscall ones, where ids outside `0..SYSCALL_SLOTS` are counted
/// (x32 calls carry bit 30; a negative id is what ptrace-injected skips look like).
pub const SLOT_OUT_OF_RANGE: u32 = SYSCALL_SLOTS;

/// Length of [`map::SYSCALL_COUNTS`]: one slot per syscall id plus [`SLOT_OUT_OF_RANGE`].
pub const SYSCALL_COUNT_SLOTS: u32 = SYSCALL_SLOTS + 1;

/// Most cgroups the exact-match fallback program can follow at once (the target and its
/// descendants, which user space adds as they appear).
pub const MAX_EXACT_CGROUPS: u32 = 4096;

/// Names of the maps, as the eBPF object defines them.
/// Globals of the object's `.rodata`, set when it is loaded (`EbpfLoader::override_global`).
pub mod global {
    /// `u8`: 1 (the default) lets the programs match the target's subtree with
    /// `bpf_get_current_ancestor_cgroup_id`; 0 makes them match exact cgroup ids only, for
    /// the exact probe. Read-only once loaded, so the verifier knows the value and never
    /// checks the branch not taken: with 0, the programs load on kernels whose tracing
    /// programs lack that helper (Debian 11's 5.10).
    pub const SUBTREE: &str = "SUBTREE";
}

pub mod map {
    /// `Array<Target>` with one element: which cgroup subtree to record.
    pub const TARGET: &str = "TARGET";
    /// `PerCpuArray<u64>` with [`crate::SYSCALL_COUNT_SLOTS`] elements: calls per syscall id.
    pub const SYSCALL_COUNTS: &str = "SYSCALL_COUNTS";
    /// Per CPU, calls by cgroup and syscall slot, when every unit is recorded at once
    /// ([`crate::Target::all`]): those no row of [`CGROUP_ROWS`] takes.
    pub const CGROUP_COUNTS: &str = "CGROUP_COUNTS";
    /// `HashMap<u64, u32>`: cgroup id -> its row of [`CGROUP_ROWS`], given by the kernel side
    /// the first time it counts a call of the cgroup, when a row is free.
    pub const CGROUP_ROW_OF: &str = "CGROUP_ROW_OF";
    /// `Queue<u32>`: rows of [`CGROUP_ROWS`] no cgroup has; user space fills it and gives
    /// back the rows of cgroups that are gone, zeroed.
    pub const FREE_CGROUP_ROWS: &str = "FREE_CGROUP_ROWS";
    /// `PerCpuArray<u64>`: rows of [`crate::CGROUP_ROW_SLOTS`] counters, calls by syscall id of
    /// the cgroup that has the row; what no row takes goes to [`CGROUP_COUNTS`].
    pub const CGROUP_ROWS: &str = "CGROUP_ROWS";
    /// `HashMap<u64, u8>`: cgroup ids recorded by the exact-match fallback program.
    pub const EXACT_CGROUPS: &str = "EXACT_CGROUPS";
    /// `Array<Shape>` with [`crate::SYSCALL_SLOTS`] elements: which syscalls to trace, how.
    pub const SHAPES: &str = "SHAPES";
    /// `RingBuf`: events to user space.
    pub const EVENTS: &str = "EVENTS";
    /// `PerCpuArray<u64>` with one element: events the ring buffer had no room for.
    pub const LOST: &str = "LOST";
    /// `HashMap<u64, u64>`: deduplication key -> identical events suppressed since the
    /// first; one of two that take turns (see `Target::dedup_map`).
    pub const DEDUP: &str = "DEDUP";
    pub const DEDUP_B: &str = "DEDUP_B";
    /// `HashMap<u64, SyscallEvent>`: pid_tgid -> the traced syscall awaiting its exit.
    pub const PENDING: &str = "PENDING";
    pub const PENDING_EXEC: &str = "PENDING_EXEC";
    pub const ENTERED: &str = "ENTERED";
    /// Bumped whenever a recorded task enters a syscall that may change its comm.
    pub const COMM_GENERATION: &str = "COMM_GENERATION";
    /// `HashMap<u32, u32>`: thread id -> [`task_state`] of each task a recorded task forked
    /// (and each one user space found in the target), so one that leaves the cgroup is still
    /// known as the service's.
    pub const TASKS: &str = "TASKS";
    /// `Array<u32>` with one element: non-zero once some task was followed out of the target
    /// cgroup; until then nobody else on the machine pays for the [`TASKS`] lookup.
    pub const FOLLOWING: &str = "FOLLOWING";
    /// `PerCpuArray<u64>` with [`crate::task_stat::COUNT`] elements: see [`crate::task_stat`].
    pub const TASK_STATS: &str = "TASK_STATS";
    /// `Array<Calibration>` with one element: see [`crate::Calibration`].
    pub const CALIBRATION: &str = "CALIBRATION";
    /// `LruHashMap<u32, u64>`: tgid -> the [`crate::base`] of its working directory.
    pub const CWD_BASE: &str = "CWD_BASE";
    /// Per process, the base of its root directory once it chrooted (absolute paths are
    /// below it); user space seeds it for processes found already chrooted.
    pub const ROOT_BASE: &str = "ROOT_BASE";
    /// `LruHashMap<u64, u64>`: (tgid << 32 | fd) -> the [`crate::base`] of what the fd opened.
    pub const FD_BASE: &str = "FD_BASE";
    /// `LruHashMap<u32, u32>`: task id -> the process (tgid) that forked it, so an fd the
    /// child inherited is found under its parent.
    pub const PARENT: &str = "PARENT";
    /// `LruHashMap<u64, [u64; 2]>`: pid_tgid -> the capability (low half) and `opts` (high
    /// half), and the credentials' address, of a `cap_capable` call the kprobe saw enter,
    /// for its kretprobe.
    pub const CAP_CALLS: &str = "CAP_CALLS";
}

/// What a relative path is relative to, as the kernel side names it at the time of the call:
/// user space resolves these, so a process that has exited by the time its event is read
/// (a short-lived child writing through its working directory) loses nothing.
///
/// A value is 0 (the path is absolute, or there is none), a *content* base (bit 63 clear:
/// a hash of the base it was opened relative to and its spelling; the event that made it
/// carries it in [`SyscallEvent::made`], so user space learns its path), or a *tag* (bit 63
/// set) that user space resolves itself from the process it names.
pub mod base {
    /// Set on tags; content bases never have it.
    pub const TAG: u64 = 1 << 63;
    /// With [`TAG`]: the working directory process `tgid` had when it was first seen, which
    /// user space reads from /proc or knows (the command it started): `TAG | tgid`.
    pub const ORIGIN: u64 = TAG;
    /// With [`TAG`]: an fd the kernel side never saw opened: `TAG | FD | tgid << 32 | fd`.
    pub const FD: u64 = 1 << 62;
    /// Set on every content base, so none is 0.
    pub const CONTENT: u64 = 1;
    /// An fd that names no path (a memfd, a socket, a pipe, a mount attached nowhere): the fd
    /// number may have named a file before, which calls on it now do not touch. Neither
    /// [`ORIGIN`] (whose low bits are a tgid) nor [`FD`].
    pub const NO_PATH: u64 = TAG | 1 << 61;

    pub const fn origin(tgid: u32) -> u64 {
        ORIGIN | tgid as u64
    }

    pub const fn unknown_fd(tgid: u32, fd: u32) -> u64 {
        TAG | FD | ((tgid as u64 & 0x3fff_ffff) << 32) | fd as u64
    }
}

/// What a traced call does to the bases of later calls ([`Shape::base_effect`]).
pub mod base_effect {
    pub const NONE: u8 = 0;
    /// An open: the returned fd's base is the path opened.
    pub const OPENS_FD: u8 = 1;
    /// chdir: the working directory becomes the path.
    pub const CHDIR: u8 = 2;
    /// fchdir: the working directory becomes the fd's.
    pub const FCHDIR: u8 = 3;
    /// dup, dup2, dup3: the new fd (the result) names what the old one did. Sends no event.
    pub const DUP: u8 = 4;
    /// memfd_create, socket, accept, fsopen, fspick, fsmount: the returned fd names no path
    /// ([`super::base::NO_PATH`]), whatever its number named before it was closed (or closed
    /// by an exec), here or in a parent.
    pub const NO_PATH_FD: u8 = 5;
    /// chroot: the root directory becomes the path, so the process's absolute paths are
    /// relative to it from then on (as are its children's).
    pub const CHROOT: u8 = 6;
    /// pipe, pipe2: the two fds the call wrote to the array at argument 0 name no path, as
    /// [`NO_PATH_FD`]'s. Sends no event.
    pub const PIPE_FDS: u8 = 7;
}

/// Names of the programs, as the eBPF object defines them. The kernel keeps only the first
/// 15 bytes of a program's name, and all of ours start with [`program::PREFIX`], so a test can
/// find any that were left loaded.
pub mod program {
    pub const PREFIX: &str = "learner_";
    /// `sys_enter` raw tracepoint that matches the target subtree by ancestor id (Linux 5.7+).
    pub const SYS_ENTER_SUBTREE: &str = "learner_sys_enter_subtree";
    /// `sys_enter` raw tracepoint that matches exact cgroup ids from a hash map (Linux 4.18+).
    pub const SYS_ENTER_EXACT: &str = "learner_sys_enter_exact";
    /// `raw_tracepoint/sys_enter`, doing nothing: what any program there costs, for the
    /// benchmark.
    pub const SYS_ENTER_FLOOR: &str = "learner_sys_enter_floor";
    /// `syscalls/sys_enter_*` tracepoints of syscalls with N arguments: `ENTER_ARGS[N]`.
    pub const ENTER_ARGS: [&str; 7] = [
        "learner_enter0",
        "learner_enter1",
        "learner_enter2",
        "learner_enter3",
        "learner_enter4",
        "learner_enter5",
        "learner_enter6",
    ];
    /// `syscalls/sys_exit_*` tracepoints of every traced syscall.
    pub const EXIT: &str = "learner_exit";
    /// `capability/cap_capable` tracepoint.
    pub const CAP_CAPABLE: &str = "learner_cap_capable";
    /// kprobe on the kernel's `cap_capable()`, where the tracepoint is missing (before about
    /// Linux 6.14): notes the capability and options per thread.
    pub const CAP_KPROBE: &str = "learner_cap_kprobe";
    /// kretprobe on `cap_capable()`: adds the result and sends the event.
    pub const CAP_KRETPROBE: &str = "learner_cap_kretprobe";
    /// `exceptions/page_fault_user` (x86): marks the task as inside a page fault.
    pub const PAGE_FAULT: &str = "learner_page_fault";
    /// `raw_syscalls/sys_exit`, attached by `learner check` only.
    pub const REFUSED: &str = "learner_refused";
    /// `sched/sched_process_fork`, by the offset of `child_pid` in its record (20 since
    /// Linux 6.x stores the comms as `__data_loc`, 44 before).
    pub const FORK_CHILD_AT_20: &str = "learner_fork_20";
    pub const FORK_CHILD_AT_44: &str = "learner_fork_44";
    /// `cgroup/cgroup_attach_task`, by the offset of `pid` (24 since `dst_id` became a u64,
    /// 20 before).
    pub const MOVED_PID_AT_24: &str = "learner_moved_24";
    pub const MOVED_PID_AT_20: &str = "learner_moved_20";
    /// `io_uring/io_uring_submit_req` (`io_uring_submit_sqe` before Linux 6.0), by the
    /// offset of `opcode` in its record (32 since 5.19, 24 in 5.14 to 5.18, 16 before).
    pub const IO_URING_OP_AT_32: &str = "learner_iou_32";
    pub const IO_URING_OP_AT_24: &str = "learner_iou_24";
    pub const IO_URING_OP_AT_16: &str = "learner_iou_16";
    /// `sched/sched_process_exit`: forgets the task.
    pub const TASK_EXIT: &str = "learner_task_exit";
    /// `sys_enter` raw tracepoint, attached for a moment to measure cgroup levels.
    pub const CALIBRATE: &str = "learner_calibrate";
}

/// Most tasks (threads) [`map::TASKS`] tracks at once; a fork beyond it is counted in
/// [`task_stat::UNTRACKED`].
pub const MAX_TASKS: u32 = 1 << 15;

/// Values in [`map::TASKS`].
pub mod task_state {
    /// Forked by a recorded task, or found in the target: recorded while in the cgroup.
    pub const MEMBER: u32 = 1;
    /// Moved to a cgroup outside the target, or forked by such a task: recorded wherever it
    /// is, because the unit's sandbox (seccomp, bounding set, mounts) goes with it.
    pub const FOLLOWED: u32 = 2;
}

/// Counters in [`map::TASK_STATS`].
pub mod task_stat {
    /// Tasks moved to another cgroup while recorded (a login's session scope, a
    /// `systemd-run --scope`), followed from then on.
    pub const MOVED: u32 = 0;
    /// Forks that [`crate::map::TASKS`] had no room for: if such a task leaves the cgroup,
    /// it is not followed.
    pub const UNTRACKED: u32 = 1;
    pub const COUNT: u32 = 2;
}

/// A recorded process that was moved to another cgroup (and is followed there from now on).
/// Sent once per move, not deduplicated: moves are rare, and each one matters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MovedEvent {
    pub tag: u32,
    /// The moved process (thread-group leader), as the host numbers it.
    pub pid: u32,
    /// The cgroup it went to, and that cgroup's absolute level.
    pub dst_id: u64,
    pub dst_level: u32,
    /// Who moved it (systemd, or the task itself).
    pub mover_pid: u32,
    pub mover_comm: [u8; 16],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields, no implicit padding (4+4+8+4+4+16).
unsafe impl aya::Pod for MovedEvent {}

/// Deepest cgroup level the calibration reads.
pub const MAX_CGROUP_LEVELS: usize = 32;

/// Measures the absolute level of cgroups inside a cgroup namespace, where a path's depth
/// below the mount is not its level in the hierarchy (`bpf_get_current_ancestor_cgroup_id`
/// takes the absolute one). The calibration program fills `ancestors` for the first task it
/// sees in cgroup `cgroup_id`, then sets `done`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    pub cgroup_id: u64,
    pub done: u64,
    /// The task's ancestor at each level; 0 past its own level.
    pub ancestors: [u64; MAX_CGROUP_LEVELS],
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            cgroup_id: 0,
            done: 0,
            ancestors: [0; MAX_CGROUP_LEVELS],
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only u64 fields.
unsafe impl aya::Pod for Calibration {}

/// Which cgroup subtree the programs record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// cgroup v2 id (the inode number of its directory) of the subtree's root; 0 records nothing.
    pub cgroup_id: u64,
    /// Depth of that cgroup below the cgroup2 root, which is level 0.
    pub level: u32,
    /// Non-zero: observe (paths, sockets, capabilities...) too, not only count syscalls.
    pub observe: u32,
    /// Which of [`map::DEDUP`] (0) and [`map::DEDUP_B`] (1) counts repeats now. User space
    /// flips it and drains the other, so neither fills up.
    pub dedup_map: u32,
    /// Syscall numbers after which a task's comm may differ (execve, execveat, prctl), so
    /// the cached "is this systemd's executor" verdict is recomputed; `u32::MAX` when the
    /// architecture lacks one.
    pub comm_changing: [u32; 3],
    /// Non-zero: `learner check` is on, and syscalls refused before they ran are reported.
    pub check: u32,
    /// Non-zero: the exact-id probe counts, so `learner_refused` must match cgroups the same
    /// way (a task in a child cgroup not followed yet enters nothing it could see).
    pub exact: u32,
    /// Non-zero: syscalls are counted. Set in the same write as `observe`, once every
    /// observation program is attached: a call counted before then would be in the profile
    /// with nothing of what it did (its path, its socket).
    pub counting: u32,
    /// Non-zero: every unit below the target is recorded at once (`record --all`): syscalls
    /// are counted per cgroup in [`map::CGROUP_COUNTS`], and events are deduplicated per
    /// cgroup, so that each unit gets its own first copy of what another one did too.
    pub all: u32,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only integer fields, no implicit padding.
unsafe impl aya::Pod for Target {}

/// A key of [`map::CGROUP_COUNTS`]: a cgroup's id and a syscall slot (as in
/// [`map::SYSCALL_COUNTS`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CgroupSyscall {
    pub cgroup: u64,
    pub slot: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields, the padding explicit.
unsafe impl aya::Pod for CgroupSyscall {}

/// Entries of [`map::CGROUP_COUNTS`]: distinct syscalls of every cgroup a whole-host
/// recording sees (a unit restarted gets a new cgroup); calls of an entry that found no room
/// are counted lost.
pub const CGROUP_COUNT_ENTRIES: u32 = 1 << 15;

/// Syscall ids `0..CGROUP_ROW_SLOTS` are counted in a cgroup's row of [`map::CGROUP_ROWS`]
/// (every id of x86_64 and aarch64 today); others, as a cgroup without a row, in
/// [`map::CGROUP_COUNTS`].
pub const CGROUP_ROW_SLOTS: u32 = 512;

/// [`CurrentSyscall::cgroup_row`] for a cgroup without a row.
pub const NO_CGROUP_ROW: u64 = 0;

/// Bytes kept of each user string (paths, argv[0]) and of a socket address.
pub const STR_LEN: usize = 256;

/// Events sent through [`map::EVENTS`]. The tag comes first in every event, so user space
/// reads it before it knows the event's type.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTag {
    Syscall = 1,
    Capability = 2,
    Refused = 3,
    Moved = 4,
    IoUring = 5,
}

impl EventTag {
    pub fn from_u32(tag: u32) -> Option<Self> {
        match tag {
            1 => Some(Self::Syscall),
            2 => Some(Self::Capability),
            3 => Some(Self::Refused),
            4 => Some(Self::Moved),
            5 => Some(Self::IoUring),
            _ => None,
        }
    }
}

/// How the enter program reads one traced syscall: which arguments are user strings and what
/// else to read from user memory. User space fills [`map::SHAPES`] by syscall number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Non-zero: this syscall is traced.
    pub traced: u8,
    /// Argument index + 1 of the user string for `strings[0]` and `strings[1]`; 0 for none.
    pub string_arg: [u8; 2],
    /// What `strings[1]` holds when `string_arg[1]` is set: see [`string_kind`].
    pub string1_kind: u8,
    /// What to read into `extra`: see [`extra`].
    pub extra: u8,
    /// See [`shape_flags`].
    pub flags: u8,
    /// Bit i set: argument i is part of the deduplication key.
    pub key_args: u8,
    /// 1-based index of an open's flags argument, [`OPEN_FLAGS_IN_EXTRA`] for openat2's
    /// `open_how.flags`, 0 for none. Opens of directories (O_DIRECTORY, O_PATH) keep the
    /// returned fd in their key, so user space learns every fd a later `*at` call may use.
    pub open_flags_arg: u8,
    /// 1-based index of the directory fd each string is relative to (`*at` calls), 0 for the
    /// working directory. With no string in that slot, the fd itself is what the call acts on
    /// (fchmod, ftruncate, fchdir).
    pub dirfd_arg: [u8; 2],
    /// See [`base_effect`].
    pub base_effect: u8,
    pub _pad: u8,
}

/// [`Shape::open_flags_arg`] for flags read into `extra[0]`.
pub const OPEN_FLAGS_IN_EXTRA: u8 = 7;
/// Open flags that make the returned fd a directory handle for `*at` calls.
pub const O_DIRECTORY_OR_PATH: u64 = 0o200000 | 0o10000000;

#[cfg(feature = "user")]
// SAFETY: repr(C), only u8 fields.
unsafe impl aya::Pod for Shape {}

/// Kinds of the second string slot.
pub mod string_kind {
    /// A NUL-terminated string.
    pub const STRING: u8 = 0;
    /// A `struct sockaddr` whose length is the argument after the pointer.
    pub const SOCKADDR: u8 = 1;
    /// `argv`: the pointer array is read and its first string kept.
    pub const ARGV0: u8 = 2;
    /// A `struct sockaddr` the kernel writes (accept, recvfrom): the argument after the
    /// pointer points to its length. Read at exit, and only after a success.
    pub const SOCKADDR_LEN_AT: u8 = 3;
    /// A `struct msghdr` (or the first of an `mmsghdr` array): its `msg_name` (offset 0)
    /// and `msg_namelen` (offset 8) give the address. Read at exit.
    pub const MSGHDR: u8 = 4;
}

/// Values read from user memory into `SyscallEvent::extra`.
pub mod extra {
    pub const NONE: u8 = 0;
    /// clone3: `clone_args.flags` (u64 at offset 0 of the struct at arg 0).
    pub const CLONE3_FLAGS: u8 = 1;
    /// openat2: `open_how.flags` and `open_how.mode` (the struct at arg 2).
    pub const OPEN_HOW: u8 = 2;
    /// sched_setattr: `sched_attr.sched_policy` (u32 at offset 4 of the struct at arg 1).
    pub const SCHED_ATTR_POLICY: u8 = 3;
    /// capset: the permitted set asked for, caps 0-31 in the low half of `extra[0]` and
    /// 32-63 in its high half (from the second `__user_cap_data_struct`, which only header
    /// versions 2 and 3 have), and the header's version in `extra[1]`.
    pub const CAPSET_PERMITTED: u8 = 4;
    /// `_LINUX_CAPABILITY_VERSION_1`: a single, 32-bit `__user_cap_data_struct`.
    pub const CAPABILITY_VERSION_1: u32 = 0x1998_0330;
}

/// Predicates and behaviour per traced syscall.
pub mod shape_flags {
    /// The syscall does not return (exit, exit_group): send the event at entry.
    pub const AT_ENTER: u8 = 1;
    /// Only interesting when arg 2 (prot) has PROT_EXEC (mprotect, pkey_mprotect).
    pub const PROT_EXEC_ARG2: u8 = 2;
    /// Only interesting when arg 2 (prot) has both PROT_WRITE and PROT_EXEC (mmap).
    pub const PROT_WX_ARG2: u8 = 4;
    /// Only interesting when the socket address argument (`string_arg[1]`; for
    /// [`crate::string_kind::MSGHDR`] its `msg_name`) is not NULL: `recv()`/`send()` on a
    /// connected socket are recvfrom/sendto without one, and far too many to trace.
    pub const ADDRESS_SET: u8 = 8;
    /// The address is a peer's: its port (and IPv6 flow label) is zeroed before the event is
    /// deduplicated, so each client's ephemeral port does not make a new event.
    pub const PEER_HOST: u8 = 16;
    /// Only interesting when arg 1 (cmd) duplicates the fd, F_DUPFD or F_DUPFD_CLOEXEC
    /// (fcntl): the many other fcntl calls are not traced.
    pub const DUPFD_CMD_ARG1: u8 = 32;
    /// The call may change its thread's own credentials (set*id, capset, execve, unshare,
    /// keyctl): entering it starts a new [`crate::ThreadCall::generation`].
    pub const CREDENTIAL_SWITCH: u8 = 64;
    /// An empty path (`string_arg[0]` starts with NUL) names the fd the call is relative to
    /// (fstat is newfstatat(fd, "", AT_EMPTY_PATH) in glibc): that file was recorded when it
    /// was opened, and such calls are far too many to trace, so they are skipped at entry.
    pub const EMPTY_PATH_IS_FD: u8 = 128;
}

/// One traced syscall: arguments at entry, result at exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SyscallEvent {
    pub tag: u32,
    /// Syscall number.
    pub nr: u32,
    /// Thread id and process id (tgid).
    pub pid: u32,
    pub tgid: u32,
    /// The syscall's return value: negative errno on failure.
    pub ret: i64,
    /// Deduplication key; 0 when the event was not deduplicated. Later identical events only
    /// increment [`map::DEDUP`] under this key.
    pub key: u64,
    /// The raw arguments; only as many as the syscall has are set.
    pub args: [u64; 6],
    /// Values read from user memory, per [`Shape::extra`].
    pub extra: [u64; 2],
    /// Lengths of the strings, including the NUL (0: none or unreadable).
    pub string_len: [u32; 2],
    pub comm: [u8; 16],
    pub strings: [[u8; STR_LEN]; 2],
    /// `bpf_get_current_uid_gid()` (uid low, gid high) when the event was built: at the
    /// syscall's exit (a set*id call's new ids), at entry for exec, exit and exit_group.
    pub uid_gid: u64,
    /// What each string is relative to (see [`base`]); 0 for an absolute path.
    pub base: [u64; 2],
    /// The content base this call gave an fd or the working directory (see
    /// [`Shape::base_effect`]), 0 for none: later calls name it in their `base`.
    pub made: u64,
    /// The cgroup the task was in when the event was built (its id): which unit it is of,
    /// when several are recorded at once.
    pub cgroup: u64,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields and arrays, sizes chosen so no padding is implied.
unsafe impl aya::Pod for SyscallEvent {}

/// One capability check, from the `capability/cap_capable` tracepoint.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CapabilityEvent {
    pub tag: u32,
    pub cap: u32,
    /// 0: granted; negative errno: denied.
    pub ret: i32,
    /// The syscall in progress (from the per-CPU record of the last `sys_enter`), or
    /// [`NO_SYSCALL`] when unknown.
    pub syscall: u32,
    pub pid: u32,
    pub tgid: u32,
    /// The uid and gid of the credentials the check ran with: they differ from the
    /// process's own when the kernel overrides them (overlayfs acts with its mounter's).
    pub uid: u32,
    pub gid: u32,
    /// The process's own uid, as its syscall entered (before the kernel could override the
    /// credentials); valid when `own_uid_known` is non-zero.
    pub own_uid: u32,
    pub own_uid_known: u32,
    pub key: u64,
    pub comm: [u8; 16],
    /// `cap_capable()`'s `opts` (its [`CAP_OPT_NOAUDIT`] bit: a check whose failure the
    /// kernel does not log, the service only asking); valid when `opts_known` is non-zero
    /// (the kprobe path: the tracepoint does not carry it).
    pub opts: u32,
    pub opts_known: u32,
    /// The credentials the check ran with, as a kernel address (compared, never read): a
    /// process's own are its alone; overlayfs's are its mounter's copy, the same in every
    /// process that makes it copy a file up. 0 when unknown.
    pub cred: u64,
    /// As [`SyscallEvent::cgroup`].
    pub cgroup: u64,
    /// The thread's [`ThreadCall::generation`] at the check: a change means its own
    /// credentials may have changed since its previous check.
    pub generation: u64,
}

/// `CAP_OPT_NOAUDIT` of the kernel's `cap_capable()` options (include/linux/security.h,
/// Linux 5.1+).
pub const CAP_OPT_NOAUDIT: u32 = 1 << 1;

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields, no implied padding.
unsafe impl aya::Pod for CapabilityEvent {}

/// A syscall that left the kernel without having entered it: a seccomp filter refused it
/// before it ran (`learner check`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RefusedEvent {
    pub tag: u32,
    pub nr: u32,
    pub pid: u32,
    pub tgid: u32,
    /// What the caller got: the filter's errno, negated.
    pub ret: i64,
    pub key: u64,
    pub comm: [u8; 16],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields, no implied padding.
unsafe impl aya::Pod for RefusedEvent {}

/// An io_uring operation a recorded task submitted (once per operation, process name and,
/// recording every unit, cgroup). Its arguments (paths, addresses) are not in the
/// tracepoint's record: only which operations ran, which no syscall tracepoint sees.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringEvent {
    pub tag: u32,
    /// `enum io_uring_op` (include/uapi/linux/io_uring.h).
    pub opcode: u32,
    pub pid: u32,
    pub tgid: u32,
    pub key: u64,
    pub cgroup: u64,
    pub comm: [u8; 16],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields, no implied padding (4+4+4+4+8+8+16).
unsafe impl aya::Pod for IoUringEvent {}

/// Per thread, the syscall it is inside of, as `sys_enter` saw it (`learner check`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EnteredSyscall {
    pub pid_tgid: u64,
    /// [`NOT_IN_SYSCALL`] between syscalls.
    pub nr: u64,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), two u64.
unsafe impl aya::Pod for EnteredSyscall {}

pub const NOT_IN_SYSCALL: u64 = u64::MAX;

/// Byte offsets of `id` and `ret` in the `raw_syscalls/sys_exit` record; user space checks
/// them against the tracepoint's format before attaching.
pub const SYS_EXIT_ID_OFFSET: usize = 8;
pub const SYS_EXIT_RET_OFFSET: usize = 16;

/// `CapabilityEvent::syscall` when the syscall in progress is not known.
pub const NO_SYSCALL: u32 = u32::MAX;
/// `CapabilityEvent::syscall` for a check made while the kernel handled a page fault of the
/// task (a stack growing charges memory), not a syscall.
pub const IN_PAGE_FAULT: u32 = u32::MAX - 1;

/// What `sys_enter` last saw on a CPU: which task entered which syscall, and whether that
/// task is systemd's executor (whose calls are not counted).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentSyscall {
    pub pid_tgid: u64,
    pub nr: u64,
    /// The [`map::COMM_GENERATION`] the verdict was made in; [`NO_VERDICT`] for none. Reading
    /// a task's comm costs about as much as the rest of the counting program, so it is read
    /// again only when this task was not the last one here or some task may have renamed.
    pub verdict_generation: u64,
    /// Non-zero: the task is systemd's executor.
    pub manager: u64,
    /// `bpf_get_current_uid_gid()` as the syscall (or page fault) entered: the task's own
    /// credentials, which the kernel may override inside the call.
    pub uid_gid: u64,
    /// The cgroup whose row [`Self::cgroup_row`] is, when every unit is recorded at once: a
    /// cache, so that only a switch to another cgroup's task looks the row up.
    pub cgroup: u64,
    /// That cgroup's row of [`map::CGROUP_ROWS`] plus one; [`NO_CGROUP_ROW`] for none.
    pub cgroup_row: u64,
}

/// Per thread (slot: thread id modulo [`PENDING_ENTRIES`]), the syscall it entered last and
/// the credentials it entered with: what a capability check made inside it is blamed on. Per
/// thread, not per CPU: a task preempted and moved to another CPU inside a syscall would find
/// another task's record there, or an old one of its own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCall {
    pub pid_tgid: u64,
    pub nr: u64,
    pub uid_gid: u64,
    /// How many calls that may change a thread's own credentials (see
    /// [`shape_flags::CREDENTIAL_SWITCH`]) the slot's threads entered: a capability check's
    /// deduplication key holds it, so each stretch between two changes sends its own checks
    /// (the memory accounting ones that tell its own credentials' address included), even
    /// when the new credentials come back at an address the thread had before.
    pub generation: u64,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), four u64.
unsafe impl aya::Pod for ThreadCall {}

/// [`CurrentSyscall::verdict_generation`] when no verdict is cached.
pub const NO_VERDICT: u64 = u64::MAX;

#[cfg(feature = "user")]
// SAFETY: repr(C), seven u64.
unsafe impl aya::Pod for CurrentSyscall {}

/// Byte offsets in the `capability/cap_capable` record that the program reads; user space
/// checks them against the tracepoint's format before attaching.
pub const CAP_CAPABLE_CRED_OFFSET: usize = 8;
pub const CAP_CAPABLE_CAP_OFFSET: usize = 32;
pub const CAP_CAPABLE_RET_OFFSET: usize = 36;

/// Size of [`map::EVENTS`].
pub const EVENTS_BYTES: u32 = 16 << 20;
/// Entries of each of [`map::DEDUP`] and [`map::DEDUP_B`]: distinct observations
/// deduplicated in the kernel between two drains by user space.
pub const DEDUP_ENTRIES: u32 = 1 << 16;
/// Slots for traced syscalls in flight (indexed by thread id modulo this power of two).
pub const PENDING_ENTRIES: u32 = 1 << 16;
/// Execs in flight at once whose exit is awaited.
pub const PENDING_EXEC_ENTRIES: u32 = 1 << 10;

/// A traced call between its entry and its exit: what the exit cannot read any more.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PendingCall {
    /// The calling thread; 0 for a free slot.
    pub pid_tgid: u64,
    pub nr: u32,
    pub _pad: u32,
    pub args: [u64; 6],
    pub extra: [u64; 2],
}
