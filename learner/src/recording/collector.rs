//! Turns the kernel side's events into observations.
//!
//! Paths arrive as the process passed them. A relative one comes with what the kernel side
//! knew it to be relative to at the time of the call (a working directory or a directory fd,
//! named by the call that set it: see `learner_common::base`), so it resolves here even
//! after the process has exited; only what the recording never saw set up (a process's
//! working directory before it was recorded, an fd it already had) is read from /proc, when
//! the recording finds the process running and again when a call uses it, and what cannot
//! be resolved is counted, never dropped silently. The kernel sends one event
//! per distinct observation and counts the repeats under its key; [`Collector::add_repeats`]
//! adds those counts where the first one went.
use std::{
    collections::{BTreeMap, HashMap},
    ffi::CString,
    os::unix::ffi::OsStrExt as _,
    path::Path,
    sync::Arc,
};

use learner_common::{
    CapabilityEvent, EventTag, IN_PAGE_FAULT, IoUringEvent, MovedEvent, NO_SYSCALL, RefusedEvent,
    STR_LEN, SyscallEvent, base,
};

use crate::model::observations::{
    IN_PAGE_FAULT_NAME, KEPT_BY_CAPSET, KEPT_BY_ROOT_CAPSET, OVERRIDDEN_CREDENTIALS, PTRACE_ACCESS,
};
use crate::{
    model::credentials::IdentitySlot,
    model::names,
    model::observations::{Access, Fact, Observations, Slot},
    model::syscalls::Arch,
};

mod foreign_credentials;
#[cfg(test)]
mod throughput;

const O_ACCMODE: u64 = 0o3;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const O_PATH: u64 = 0o10000000;
const O_TMPFILE_DIR: u64 = 0o20000000;
const O_DIRECTORY_OR_PATH: u64 = learner_common::O_DIRECTORY_OR_PATH;
const S_ISUID_ISGID: u64 = 0o6000;
/// Calls that only look their path up (metadata, a link's target, a watch on it).
const LOOKUPS: &[&str] = &[
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "readlink",
    "readlinkat",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "inotify_add_watch",
    "fanotify_mark",
];
/// access(2)'s mode bit for "may I write".
const W_OK: u64 = 2;
const SHM_EXEC: u64 = 0o100000;

/// Everything the events of one recording added up to.
pub struct Collector {
    arch: Arch,
    pub observations: Observations,
    /// What each deduplication key's first event added, to repeat for its later copies: keys
    /// of events since the last deduplication turn, and of the turn before. The kernel's
    /// counts for a key arrive at the second turn after its event at the latest (each map
    /// counts for one turn and is drained at the next), so older keys are let go: kept for
    /// the whole recording, they held every distinct path twice more.
    by_key: KeyMap<Kept>,
    by_key_before: KeyMap<Kept>,
    /// Keys whose first event missed something (a path that could not be resolved): their
    /// copies miss it too, and are counted with it. Two turns, as `by_key`.
    missed_keys: KeyMap<String>,
    missed_keys_before: KeyMap<String>,
    /// The kernel's counts of keys whose first event has not been read yet (the session
    /// reads a bounded batch of events between two turns, so a burst's counts may come
    /// first): added when it comes; what never comes is lost ([`Self::unmatched_counts`]).
    early: KeyMap<u64>,
    /// Content bases (see `learner_common::base`) -> the directory or file they name, learnt
    /// from the call that made each: working directories and directory opens for the whole
    /// recording, other opens (an fd that fchmod or ftruncate may use) for two turns of
    /// [`FILE_BASES_TURN`] entries, so the table stays bounded on a path-heavy service.
    dir_bases: KeyMap<String>,
    file_bases: KeyMap<String>,
    file_bases_before: KeyMap<String>,
    /// Each process's working directory when it was first seen (`base::ORIGIN`): known for
    /// the command `learner run` starts, read from /proc for the others, once.
    origins: HashMap<u32, Option<String>>,
    /// Each thread's own process and thread ids in its innermost PID namespace (`NSpid:` of
    /// /proc/PID/task/TID/status), by host (tgid, tid); None when its /proc is the host's
    /// (no namespace of its own, or one without a /proc of its own). A service in a PID
    /// namespace with its own /proc (a container, a guest, PrivatePIDs=) names itself
    /// `/proc/<its pid there>`, which the host numbers differently. Looked up only for a
    /// `/proc/<pid>` path that is not the caller's by host numbering; forgotten at its exit.
    namespace_ids: HashMap<(u32, u32), Option<(u32, u32)>>,
    /// What each fd of a process the recording found running named then (`/proc/PID/fd`):
    /// an fd opened before the recording is read from /proc when a call uses it, but a
    /// process that uses it as it stops (varnishd removing its shared-memory files) is gone
    /// by then.
    found_fds: HashMap<(u32, u32), String>,
    /// Processes found running in a chroot of their own, with the base made up for their
    /// root (a content base: see `learner_common::base`), for the session to give the
    /// kernel side, which only learns a root from a chroot it sees.
    roots_found: Vec<(u32, u64)>,
    /// The unit's RootDirectory=, whose paths are the unit's own as they are (see
    /// [`Self::set_unit_root`]).
    unit_root: Option<String>,
    /// `/proc/PID/root` of the recorded system's service manager, once known.
    manager_root: Option<String>,
    /// Per syscall number, which arguments are its strings (for telling an unreadable
    /// string from an absent one).
    string_args: Vec<[Option<u8>; 2]>,
    /// Observations the events carried but the collector could not complete, by
    /// `syscall: what`: counted, so a profile says what it is missing.
    pub missed: BTreeMap<String, u64>,
    /// What the event being handled missed, if anything.
    event_missed: Option<String>,
    /// Whether the ring buffer may hold events not read yet (see [`Self::early`]).
    events_pending: bool,
    /// The last event's comm, as sent and as text.
    last_comm: Option<([u8; 16], Arc<str>)>,
    /// Events received.
    pub events: u64,
    /// Events that were too short or had an unknown tag.
    pub malformed: u64,
    /// Events from systemd's own set-up of a unit's process, before it execs the service:
    /// not the service's behaviour, and not subject to its sandbox (see [`is_service_manager`]).
    pub service_manager_events: u64,
    /// Recorded processes moved to another cgroup, in the order seen, for the session to
    /// name (it knows where cgroups are).
    pub moves: Vec<Move>,
    /// Each capability event's credentials, capability and syscall, by deduplication key, and
    /// how many checks it stands for: for [`Self::attribute_overridden_credentials`].
    cap_checks: HashMap<u64, CapCheck>,
    /// Credentials seen overriding a process's own (a check under another uid than the
    /// process's): overlayfs's copy of its mounter's, used by every process it copies up for.
    overriding: std::collections::HashSet<u64>,
    /// Of those, the ones seen overriding during a lookup that creates nothing (see
    /// [`foreign_credentials::mounters`]): a filesystem's own, alive as long as its mount.
    mounters: std::collections::HashSet<u64>,
    /// Each thread's capability events in the order they came, by credentials' address and
    /// deduplication key (by thread: glibc's setuid gives each thread credentials of its own).
    cap_sequence: HashMap<u32, Vec<(u64, u64)>>,
    /// Every capability event of the service in the order they came: process, thread and
    /// credentials' address (see [`shared_between_processes`]).
    cap_order: Vec<(u32, u32, u64)>,
    /// Threads that switched their own ids (set*id, capset), with the count of their execs
    /// before the switch: each change is a new struct, often at the address of the one just
    /// freed, so their addresses come and go by themselves; none of their checks after it is
    /// told apart by address. An exec gives a thread one new struct, which stays its own
    /// until it switches again, so a switch before it (systemd's executor sets every
    /// service's capabilities) says nothing of the checks after it.
    changed_since_exec: std::collections::HashSet<(u32, u32)>,
    /// Per thread, the execs it made (successful execve and execveat events).
    execs: HashMap<u32, u32>,
    /// Per thread, its process and what each capability check tells about its credentials
    /// (see [`foreign_credentials`]).
    cred_marks: HashMap<u32, (u32, Vec<foreign_credentials::Mark>)>,
    /// Per thread, the kernel side's count of its calls that may change its credentials, as
    /// its last capability check carried it.
    cred_generations: HashMap<u32, u64>,
    /// The host's mount namespace (`/proc/N/ns/mnt`'s link of the recorded system's service
    /// manager, or learner's own), which a mount is compared with (see [`Self::host_mount`]).
    host_mount_namespace: Option<std::path::PathBuf>,
    /// Whether a process of the service made or joined a mount namespace: until then, every
    /// mount of the service is in the namespace it started in.
    mount_namespace_made: bool,
    /// Whether systemd's executor made the unit a mount namespace of its own: the service's
    /// mounts are then in it, never the host's.
    unit_mount_namespace: bool,
}

/// The file a debugging variable names, opened for appending; none when it is unset (or the
/// file cannot be opened).
fn debug_file(var: &str) -> Option<std::sync::Mutex<std::fs::File>> {
    let path = std::env::var_os(var)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
        .map(std::sync::Mutex::new)
}

/// `LEARNER_DEBUG_CAPABILITIES=FILE`: each distinct capability check as it came (process,
/// thread, comm, credentials' address, ids, capability, syscall, result), appended to FILE:
/// for studying whose credentials a kernel path checks with.
fn debug_capability(ev: &CapabilityEvent, during: &str, own: Option<u32>) {
    use std::io::Write as _;
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| debug_file("LEARNER_DEBUG_CAPABILITIES"));
    if let Some(file) = file
        && let Ok(mut f) = file.lock()
    {
        let _ = writeln!(
            f,
            "{} {} {} {} {:#x} uid={} own={:?} {} {} ret={} key={:#x} nr={}",
            std::process::id(),
            ev.tgid,
            ev.pid,
            c_str(&ev.comm),
            ev.cred,
            ev.uid,
            own,
            names::capability(ev.cap),
            during,
            ev.ret,
            ev.key,
            ev.syscall
        );
    }
}

/// `LEARNER_DEBUG_CREDENTIALS=FILE`: each thread's credential marks in order, and which keys
/// were judged foreign or own: for studying why a check was (not) told apart.
fn debug_judgement(
    marks: &HashMap<u32, (u32, Vec<foreign_credentials::Mark>)>,
    foreign: &std::collections::HashSet<u64>,
    own: &std::collections::HashSet<u64>,
) {
    use std::io::Write as _;
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    let Some(file) = FILE.get_or_init(|| debug_file("LEARNER_DEBUG_CREDENTIALS")) else {
        return;
    };
    let Ok(mut f) = file.lock() else { return };
    let _ = writeln!(
        f,
        "== {} judged: {} foreign, {} own",
        std::process::id(),
        foreign.len(),
        own.len()
    );
    let mut threads: Vec<_> = marks.iter().collect();
    threads.sort_by_key(|(pid, _)| **pid);
    for (pid, (tgid, marks)) in threads {
        let _ = write!(f, "{tgid}/{pid}:");
        for m in marks {
            let _ = match m {
                foreign_credentials::Mark::Own(c) => write!(f, " own={c:#x}"),
                foreign_credentials::Mark::Switch => write!(f, " |"),
                foreign_credentials::Mark::Check { cred, key, path } => write!(
                    f,
                    " {}{cred:#x}:{key:#x}{}",
                    if *path { "p" } else { "" },
                    if foreign.contains(key) {
                        "=F"
                    } else if own.contains(key) {
                        "=O"
                    } else {
                        ""
                    }
                ),
            };
        }
        let _ = writeln!(f);
    }
}

/// `LEARNER_DEBUG_BASES=FILE`: each path resolved through an fd the kernel side never saw
/// opened (read from /proc as the event is read), and each one not resolved, appended to
/// FILE with the call, its process and what /proc says the fd is now: for finding which
/// calls leave fds learner cannot follow.
fn debug_base(ev: &SyscallEvent, name: &str, b: u64, resolved: Option<&str>) {
    use std::io::Write as _;
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    if resolved.is_some() && (b & base::TAG == 0 || b & base::FD == 0) {
        return;
    }
    let file = FILE.get_or_init(|| debug_file("LEARNER_DEBUG_BASES"));
    let Some(file) = file else { return };
    let now = if b & base::TAG != 0 && b & base::FD != 0 {
        let (tgid, fd) = ((b >> 32) & 0x3fff_ffff, b as u32);
        std::fs::read_link(format!("/proc/{tgid}/fd/{fd}")).map_or_else(
            |e| format!("fd {fd}: {e}"),
            |l| format!("fd {fd}: {}", l.display()),
        )
    } else {
        String::new()
    };
    if let Ok(mut f) = file.lock() {
        let _ = writeln!(
            f,
            "{} {} {} {name} args={:x?} ret={} base={b:#x} resolved={resolved:?} {now}",
            ev.tgid,
            ev.pid,
            c_str(&ev.comm),
            &ev.args[..3],
            ev.ret,
        );
    }
}

/// How many capabilities this kernel has (cap_last_cap + 1), read once.
fn capabilities_there_are() -> u32 {
    static COUNT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(40)
            .min(63)
            + 1
    })
}

/// A set*id call or capset: what a thread does to its own credentials back and forth while
/// it runs (an exec, once, starts a program afresh).
fn switches_ids(syscall: &str) -> bool {
    crate::model::credentials::ID_CHANGES.contains(&syscall) || syscall == "capset"
}

/// Moves up to `n` of `from` to `(overridden credentials)`; returns how many moved.
fn reattribute(during: &mut BTreeMap<String, u64>, from: &str, n: u64) -> u64 {
    let Some(have) = during.get_mut(from) else {
        return 0;
    };
    let take = n.min(*have);
    *have -= take;
    if *have == 0 {
        during.remove(from);
    }
    *during.entry(OVERRIDDEN_CREDENTIALS.to_owned()).or_default() += take;
    take
}

/// The keys of checks made with credentials a thread used only between two checks with its
/// own: a thread's own credentials change only for good (exec, setuid: new ones, never the
/// old ones back), so credentials that come and go inside a run of its own are the kernel's,
/// lent for one operation (overlayfs creating a file with a copy of its mounter's, fsuid
/// set). Its own are the ones most of its checks ran with, of those not known to be lent.
fn interleaved(
    sequence: &HashMap<u32, Vec<(u64, u64)>>,
    lent: &std::collections::HashSet<u64>,
) -> Vec<u64> {
    let mut keys = Vec::new();
    for events in sequence.values() {
        let mut counts: HashMap<u64, usize> = HashMap::new();
        // Credentials known to be lent are no one's own, however often they came.
        for (cred, _) in events.iter().filter(|(c, _)| !lent.contains(c)) {
            *counts.entry(*cred).or_default() += 1;
        }
        let Some((&own, _)) = counts
            .iter()
            .max_by_key(|(cred, n)| (**n, std::cmp::Reverse(**cred)))
        else {
            continue;
        };
        let first = events.iter().position(|(c, _)| *c == own);
        let last = events.iter().rposition(|(c, _)| *c == own);
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        keys.extend(
            events[first..last]
                .iter()
                .filter(|(c, _)| *c != own)
                .map(|(_, k)| *k),
        );
    }
    keys
}

/// Deduplication keys and content bases are hashes the kernel side made already: SipHash
/// over them again was a twentieth of the collector's time. Folded so that every bit counts
/// in the bucket (keys all have their lowest bit set).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// What a deduplication key's first event added, to add again for its copies.
struct Kept {
    slots: Vec<Slot>,
    ret: i64,
    comm: Arc<str>,
}

/// Credentials used by two processes at once: a process's own credentials are its alone
/// (a fork gets a copy, only threads share them), so credentials one process used, then
/// another, then the first again, were alive in both and belong to neither: the kernel's,
/// lent (overlayfs copying files up with one copy of its mounter's, for every process). A
/// freed struct's address may come back as another process's own, but not while the first
/// still uses it. Threads that switched their own ids are left out (their addresses come and
/// go by themselves).
fn shared_between_processes(
    order: &[(u32, u32, u64)],
    changed: &std::collections::HashSet<u32>,
) -> std::collections::HashSet<u64> {
    // Per credentials: the processes that used them, in turn, repeats folded.
    let mut turns: HashMap<u64, Vec<u32>> = HashMap::new();
    for &(tgid, pid, cred) in order {
        if changed.contains(&pid) || changed.contains(&tgid) {
            continue;
        }
        let seq = turns.entry(cred).or_default();
        if seq.last() != Some(&tgid) {
            seq.push(tgid);
        }
    }
    turns
        .into_iter()
        .filter(|(_, seq)| {
            let mut seen = std::collections::HashSet::new();
            // A process whose turn comes again after another's.
            seq.iter().any(|t| !seen.insert(*t))
        })
        .map(|(cred, _)| cred)
        .collect()
}

/// One distinct capability check, for telling overridden credentials apart at the end.
#[derive(Debug, Clone)]
struct CapCheck {
    cred: u64,
    /// The thread that made it.
    pid: u32,
    /// How many execs the thread had made before it (see [`Collector::changed_since_exec`]).
    execs: u32,
    cap: String,
    during: String,
    granted: bool,
    checks: u64,
}

/// A recorded process the kernel saw moved to another cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub pid: u32,
    /// Its name when the move was seen (read from /proc; empty if it was gone already).
    pub comm: String,
    pub mover: String,
    pub dst_id: u64,
}

/// The real uid of process `tgid`, while it lives.
fn own_uid(tgid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tgid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `comm` is systemd's forked executor setting up a unit's process: systemd names it
/// `(name)` until it execs the service (systemd-executor on v255+). It applies the sandbox
/// itself, so what it does is no evidence of what the service needs. systemd 255+ spawns the
/// executor through its fd (`/proc/self/fd/N`), so the kernel names it `N`: a comm of 1 to 3
/// digits (seen as `16` on Debian 13's 257).
pub fn is_service_manager(comm: &str) -> bool {
    (comm.starts_with('(') && comm.ends_with(')'))
        || comm.starts_with("systemd-executo")
        || ((1..=3).contains(&comm.len()) && comm.bytes().all(|b| b.is_ascii_digit()))
}

/// The capabilities a successful capset() left in the permitted set: kept on purpose, by a
/// process that dropped root (it holds them for later use, which no check shows until then)
/// or by root itself choosing a set (runc giving a container its capabilities): a bounding
/// set without them makes the capset fail.
fn capset_slots(ev: &SyscallEvent) -> Vec<Slot> {
    let (uid, _) = crate::model::credentials::credentials(ev.uid_gid);
    if ev.ret != 0 {
        return Vec::new();
    }
    // Most capabilities there are: no choice of its own. A tool passing on what it was given
    // (setpriv --reuid keeps root's whole set, less what the bounding set took, across the
    // switch and writes it back), or root writing back what capget gave it; a process
    // keeping some on purpose keeps a few (containerd's default set for a container is 14).
    if ev.extra[0].count_ones() * 2 > capabilities_there_are() {
        return Vec::new();
    }
    let during = match uid {
        0 => KEPT_BY_ROOT_CAPSET,
        _ => KEPT_BY_CAPSET,
    };
    (0..64)
        .filter(|bit| ev.extra[0] & (1u64 << bit) != 0)
        .map(|bit| Slot::Capability {
            name: names::capability(bit),
            granted: true,
            during: during.to_owned(),
        })
        .collect()
}

/// mount(2)'s flag for a bind mount, whose source is a path.
const MS_BIND: u64 = 4096;
/// mount(2)'s flags that change a mount already there (remount), or only its propagation,
/// and add none.
const MS_CHANGES_ONLY: u64 = 32 | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20);
/// mount(2)'s flag for moving a mount.
const MS_MOVE: u64 = 8192;

/// Entries of `/proc/PID` the kernel lets a process open or read only past its ptrace access
/// check (environ, mem, the fds, the namespaces, root, cwd, exe, maps...).
const PTRACE_CHECKED_PROC_ENTRIES: &[&str] = &[
    "auxv",
    "cwd",
    "environ",
    "exe",
    "fd",
    "fdinfo",
    "io",
    "map_files",
    "maps",
    "mem",
    "numa_maps",
    "ns",
    "pagemap",
    "personality",
    "root",
    "smaps",
    "smaps_rollup",
    "stack",
    "syscall",
    "timers",
    "wchan",
];

/// A root process that reached a ptrace-checked entry of another process's `/proc/PID`
/// (dockerd binding a container's /proc/PID/ns/net) was let in without a capability check
/// because it held every capability the target held. Under a bounding set narrower than the
/// target's permitted set, the kernel asks for CAP_SYS_PTRACE instead, which the recording
/// never saw asked for: the drop-in itself would make the need.
fn add_ptrace_access_slots(ev: &SyscallEvent, slots: &mut Vec<Slot>) {
    if ev.ret < 0 || crate::model::credentials::credentials(ev.uid_gid).0 != 0 {
        return;
    }
    let reaches = slots.iter().any(|slot| {
        let Slot::Path(path, _) = slot else {
            return false;
        };
        let Some(rest) = path.strip_prefix("/proc/[pid]/") else {
            return false;
        };
        let mut parts = rest.split('/');
        let mut entry = parts.next().unwrap_or("");
        if entry == "task" {
            // /proc/PID/task/TID/ENTRY: the same check, on the thread.
            entry = parts.nth(1).unwrap_or("");
        }
        PTRACE_CHECKED_PROC_ENTRIES.contains(&entry)
    });
    if reaches {
        slots.push(Slot::Capability {
            name: "CAP_SYS_PTRACE".to_owned(),
            granted: true,
            during: PTRACE_ACCESS.to_owned(),
        });
    }
}

fn c_string(bytes: &[u8]) -> String {
    c_str(bytes).into_owned()
}

/// A NUL-terminated string in `bytes`, borrowed unless it is not UTF-8.
fn c_str(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

impl Collector {
    pub fn new(arch: Arch) -> Self {
        Self {
            arch,
            observations: Observations::recording(),
            by_key: KeyMap::default(),
            by_key_before: KeyMap::default(),
            missed_keys: KeyMap::default(),
            missed_keys_before: KeyMap::default(),
            early: KeyMap::default(),
            dir_bases: KeyMap::default(),
            file_bases: KeyMap::default(),
            file_bases_before: KeyMap::default(),
            origins: HashMap::new(),
            namespace_ids: HashMap::new(),
            found_fds: HashMap::new(),
            roots_found: Vec::new(),
            unit_root: None,
            manager_root: None,
            string_args: string_args(arch),
            missed: BTreeMap::new(),
            event_missed: None,
            events_pending: false,
            last_comm: None,
            events: 0,
            malformed: 0,
            service_manager_events: 0,
            moves: Vec::new(),
            cap_checks: HashMap::new(),
            overriding: std::collections::HashSet::new(),
            mounters: std::collections::HashSet::new(),
            cap_sequence: HashMap::new(),
            cap_order: Vec::new(),
            changed_since_exec: std::collections::HashSet::new(),
            execs: HashMap::new(),
            cred_marks: HashMap::new(),
            cred_generations: HashMap::new(),
            // PID 1's, or (refused: it may hold capabilities learner lacks, as a container
            // runtime's init does) learner's own, which runs in the host's.
            host_mount_namespace: std::fs::read_link("/proc/1/ns/mnt")
                .or_else(|_| std::fs::read_link("/proc/self/ns/mnt"))
                .ok(),
            mount_namespace_made: false,
            unit_mount_namespace: false,
        }
    }

    /// The name of syscall `nr` on the recorded architecture.
    pub fn syscall_name(&self, nr: u32) -> Option<String> {
        self.arch.syscall_name(nr).map(str::to_owned)
    }

    /// Handles one event as read from the ring buffer.
    pub fn handle(&mut self, bytes: &[u8]) {
        self.events += 1;
        let tag = bytes
            .get(..4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")));
        match tag.and_then(EventTag::from_u32) {
            Some(EventTag::Syscall) if bytes.len() >= size_of::<SyscallEvent>() => {
                // SAFETY: length checked; SyscallEvent is plain data, any bytes are valid.
                let ev: SyscallEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let comm = self.comm(&ev.comm);
                self.event_missed = None;
                if let Some(name) = self.arch.syscall_name(ev.nr) {
                    if switches_ids(name) {
                        self.note_changed_credentials(ev.pid);
                    }
                    let exec = (name == "execve" || name == "execveat") && ev.ret == 0;
                    if exec {
                        *self.execs.entry(ev.pid).or_default() += 1;
                    }
                    if crate::model::credentials::switches_credentials(name) {
                        self.cred_marks
                            .entry(ev.pid)
                            .or_insert_with(|| (ev.tgid, Vec::new()))
                            .1
                            .push(foreign_credentials::Mark::Switch);
                    }
                    if exec && ev.pid != ev.tgid {
                        // A thread other than the main one takes the main one's id as it
                        // execs (the kernel's de_thread): the program goes on under that.
                        *self.execs.entry(ev.tgid).or_default() += 1;
                        let marks = &mut self
                            .cred_marks
                            .entry(ev.tgid)
                            .or_insert_with(|| (ev.tgid, Vec::new()))
                            .1;
                        if marks.last() != Some(&foreign_credentials::Mark::Switch) {
                            marks.push(foreign_credentials::Mark::Switch);
                        }
                    }
                }
                let mut slots = self.syscall_slots(&ev);
                self.add_identity_slots(&ev, &mut slots);
                add_ptrace_access_slots(&ev, &mut slots);
                let missed = self.event_missed.take();
                if let Some(what) = missed
                    && !is_service_manager(&comm)
                {
                    *self.missed.entry(what.clone()).or_default() += 1;
                    if ev.key != 0 {
                        self.missed_keys.insert(ev.key, what);
                    }
                }
                self.record(ev.key, slots, ev.ret, comm);
            }
            Some(EventTag::Capability) if bytes.len() >= size_of::<CapabilityEvent>() => {
                // SAFETY: as above.
                let ev: CapabilityEvent =
                    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let during = if ev.syscall == NO_SYSCALL {
                    "?".to_owned()
                } else if ev.syscall == IN_PAGE_FAULT {
                    IN_PAGE_FAULT_NAME.to_owned()
                } else {
                    self.arch
                        .syscall_name(ev.syscall)
                        .map_or_else(|| format!("#{}", ev.syscall), str::to_owned)
                };
                // Checked with credentials that are not the process's own (overlayfs acting
                // with its mounter's): what they allow says nothing of the service's needs.
                // A process that changes its own credentials (setuid...) has other ones by
                // the time /proc is read: those checks are its own.
                let changes_credentials = crate::model::credentials::changes_credentials(&during);
                // The kernel side notes the uid as the syscall entered; /proc is the fallback,
                // and too late for a process that has exited by now.
                let own = if ev.own_uid_known != 0 {
                    Some(ev.own_uid)
                } else {
                    own_uid(ev.tgid)
                };
                let syscall = during.clone();
                let during = match own {
                    Some(uid) if uid != ev.uid && !changes_credentials => {
                        if ev.cred != 0 {
                            self.overriding.insert(ev.cred);
                            // Only against the uid the kernel side noted as the call
                            // entered: /proc's, read later, may be the process's next one.
                            if ev.own_uid_known != 0 && foreign_credentials::mounters(&syscall) {
                                self.mounters.insert(ev.cred);
                            }
                        }
                        OVERRIDDEN_CREDENTIALS.to_owned()
                    }
                    _ => during,
                };
                let name = names::capability(ev.cap);
                debug_capability(&ev, &during, own);
                let mark = foreign_credentials::mark(
                    ev.cap,
                    &syscall,
                    during == OVERRIDDEN_CREDENTIALS,
                    ev.cred,
                    ev.key,
                );
                // The kernel side counts the thread's calls that may change its credentials:
                // a new count starts a stretch, even when the call's own event was
                // deduplicated away.
                let switched = self
                    .cred_generations
                    .insert(ev.pid, ev.generation)
                    .is_some_and(|g| g != ev.generation);
                if switched || mark.is_some() {
                    let marks = &mut self
                        .cred_marks
                        .entry(ev.pid)
                        .or_insert_with(|| (ev.tgid, Vec::new()))
                        .1;
                    if switched && marks.last() != Some(&foreign_credentials::Mark::Switch) {
                        marks.push(foreign_credentials::Mark::Switch);
                    }
                    marks.extend(mark);
                }
                if switches_ids(&during) {
                    self.note_changed_credentials(ev.pid);
                }
                if ev.cred != 0
                    && ev.key != 0
                    && during != OVERRIDDEN_CREDENTIALS
                    && !changes_credentials
                {
                    // A key comes again when its check repeats after the deduplication maps
                    // took turns: one more check of the same kind, not a new one (replacing
                    // it lost the first's count, which then stayed the service's need).
                    self.cap_checks
                        .entry(ev.key)
                        .and_modify(|c| c.checks += 1)
                        .or_insert_with(|| CapCheck {
                            cred: ev.cred,
                            pid: ev.pid,
                            execs: self.execs.get(&ev.pid).copied().unwrap_or(0),
                            cap: name.clone(),
                            during: during.clone(),
                            granted: ev.ret == 0,
                            checks: 1,
                        });
                    if !is_service_manager(&c_string(&ev.comm)) {
                        self.cap_sequence
                            .entry(ev.pid)
                            .or_default()
                            .push((ev.cred, ev.key));
                        self.cap_order.push((ev.tgid, ev.pid, ev.cred));
                    }
                }
                let unprivileged = match own {
                    Some(uid) if uid != 0 && during != OVERRIDDEN_CREDENTIALS => {
                        Some(Slot::Identity(IdentitySlot::UnprivilegedCapability(
                            format!("{name} as {uid} during {during}"),
                        )))
                    }
                    _ => None,
                };
                let slot = Slot::Capability {
                    name,
                    granted: ev.ret == 0,
                    during,
                };
                let slots = std::iter::once(slot).chain(unprivileged).collect();
                let comm = self.comm(&ev.comm);
                self.record(ev.key, slots, i64::from(ev.ret), comm);
            }
            Some(EventTag::Refused) if bytes.len() >= size_of::<RefusedEvent>() => {
                // SAFETY: as above.
                let ev: RefusedEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let name = self
                    .arch
                    .syscall_name(ev.nr)
                    .map_or_else(|| format!("#{}", ev.nr), str::to_owned);
                let comm = self.comm(&ev.comm);
                self.record(ev.key, vec![Slot::Refused(name)], ev.ret, comm);
            }
            Some(EventTag::IoUring) if bytes.len() >= size_of::<IoUringEvent>() => {
                // SAFETY: as above.
                let ev: IoUringEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let comm = self.comm(&ev.comm);
                let op = crate::model::io_uring::name(ev.opcode);
                self.record(ev.key, vec![Slot::IoUring(op)], 0, comm);
            }
            Some(EventTag::Moved) if bytes.len() >= size_of::<MovedEvent>() => {
                // SAFETY: as above.
                let ev: MovedEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let comm = std::fs::read_to_string(format!("/proc/{}/comm", ev.pid))
                    .map(|c| c.trim_end().to_owned())
                    .unwrap_or_default();
                self.moves.push(Move {
                    pid: ev.pid,
                    comm,
                    mover: c_string(&ev.mover_comm),
                    dst_id: ev.dst_id,
                });
            }
            _ => self.malformed += 1,
        }
    }

    /// An event's comm, shared with the last event's when it is the same (a busy process
    /// sends event after event): kept with each key.
    fn comm(&mut self, raw: &[u8; 16]) -> Arc<str> {
        if let Some((last, name)) = &self.last_comm
            && last == raw
        {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(c_str(raw).as_ref());
        self.last_comm = Some((*raw, name.clone()));
        name
    }

    fn record(&mut self, key: u64, mut slots: Vec<Slot>, ret: i64, comm: Arc<str>) {
        if is_service_manager(&comm) {
            // Only its exec of the service's program belongs to the service.
            // Its exec of a program with file capabilities or set-uid is the service's too:
            // under NoNewPrivileges= that exec gains nothing.
            slots.retain(|s| {
                matches!(
                    s,
                    Slot::Exec { .. }
                        | Slot::Path(_, Access::Exec)
                        | Slot::Fact(Fact::PrivilegedExec, _)
                )
            });
            self.service_manager_events += 1;
        }
        for slot in &slots {
            self.observations.add(slot, ret, &comm, 1);
        }
        if key != 0 {
            self.by_key.insert(key, Kept { slots, ret, comm });
            if !self.early.is_empty()
                && let Some(copies) = self.early.remove(&key)
            {
                self.add_copies(key, copies);
            }
        }
    }

    /// Distinct events since the last [`Self::add_repeats`], each kept until the one after.
    pub fn keys_waiting(&self) -> usize {
        self.by_key.len()
    }

    /// Adds the repeats the kernel counted (`dedup`: key -> copies after the first). Call it
    /// after reading the events sent before the counts were taken. Returns how many events
    /// were lost with their first copy: counted by the kernel, never seen.
    pub fn add_repeats(&mut self, dedup: &HashMap<u64, u64>) -> u64 {
        let lost = self.add_counts(dedup);
        // Swapped and cleared rather than replaced: the tables keep their room for the next
        // turn instead of growing again from nothing.
        std::mem::swap(&mut self.by_key, &mut self.by_key_before);
        self.by_key.clear();
        std::mem::swap(&mut self.missed_keys, &mut self.missed_keys_before);
        self.missed_keys.clear();
        lost
    }

    fn add_counts(&mut self, dedup: &HashMap<u64, u64>) -> u64 {
        let mut lost = 0;
        for (&key, &copies) in dedup {
            if !self.by_key.contains_key(&key) && !self.by_key_before.contains_key(&key) {
                // A capability check's is known for the whole recording: its event came.
                let came = match self.cap_checks.get_mut(&key) {
                    Some(check) => {
                        check.checks += copies;
                        true
                    }
                    None => false,
                };
                if self.events_pending && !came {
                    // Its event may still be in the ring buffer.
                    *self.early.entry(key).or_default() += copies;
                } else {
                    lost += copies + 1;
                }
                continue;
            }
            self.add_copies(key, copies);
        }
        lost
    }

    /// Adds `copies` of the event that brought `key`, kept in `by_key`.
    fn add_copies(&mut self, key: u64, copies: u64) {
        if let Some(check) = self.cap_checks.get_mut(&key) {
            check.checks += copies;
        }
        // Most keys were never repeated (every distinct path has its entry, at 0): their
        // first event added everything already.
        if copies == 0 {
            return;
        }
        let Some(kept) = self
            .by_key
            .get(&key)
            .or_else(|| self.by_key_before.get(&key))
        else {
            return;
        };
        if let Some(what) = self
            .missed_keys
            .get(&key)
            .or_else(|| self.missed_keys_before.get(&key))
        {
            *self.missed.entry(what.clone()).or_default() += copies;
        }
        for slot in &kept.slots {
            self.observations.add(slot, kept.ret, &kept.comm, copies);
        }
    }

    /// Adds `copies` the kernel counted for `key` before its event came, now that it has: a
    /// recording of every unit at once holds such counts until it knows whose they are.
    pub fn add_counted_before(&mut self, key: u64, copies: u64) {
        self.add_copies(key, copies);
    }

    /// Says whether events may be waiting unread when counts are added: then a count whose
    /// event has not come yet waits for it, rather than being lost.
    pub fn set_events_pending(&mut self, pending: bool) {
        self.events_pending = pending;
    }

    /// Counts whose event never came (every event read): lost, with their copies.
    pub fn unmatched_counts(&mut self) -> u64 {
        self.early.drain().map(|(_, copies)| copies + 1).sum()
    }

    /// Notes that thread `pid` switched its own credentials (an id change, capset).
    fn note_changed_credentials(&mut self, pid: u32) {
        let execs = self.execs.get(&pid).copied().unwrap_or(0);
        self.changed_since_exec.insert((pid, execs));
    }

    /// Moves the checks made with credentials that overrode some process's own to
    /// `(overridden credentials)`: a root process's overridden checks (overlayfs copying a
    /// file up with its mounter's root credentials) have its own uid, so only the address of
    /// the credentials, seen overriding in another check, tells them apart. For the end of a
    /// recording, once every event is in.
    pub fn attribute_overridden_credentials(&mut self) -> u64 {
        let mut caps = std::mem::take(&mut self.observations.capabilities);
        let moved = self.attribute_overridden_in(&mut caps);
        self.observations.capabilities = caps;
        moved
    }

    /// [`Self::attribute_overridden_credentials`] applied to `caps`, a copy of the
    /// observations' capability checks (a snapshot's, the recording going on).
    pub fn attribute_overridden_in(
        &self,
        caps: &mut std::collections::BTreeMap<String, crate::model::observations::CapabilityChecks>,
    ) -> u64 {
        let mut keys: std::collections::HashSet<u64> = self
            .cap_checks
            .iter()
            .filter(|(_, c)| self.overriding.contains(&c.cred))
            .map(|(k, _)| *k)
            .collect();
        // Threads that ever switched their own ids, exec or not.
        let changed: std::collections::HashSet<u32> = self
            .changed_since_exec
            .iter()
            .map(|(pid, _)| *pid)
            .collect();
        let steady: HashMap<u32, Vec<(u64, u64)>> = self
            .cap_sequence
            .iter()
            .filter(|(pid, _)| !changed.contains(pid))
            .map(|(pid, seq)| (*pid, seq.clone()))
            .collect();
        let shared = shared_between_processes(&self.cap_order, &changed);
        let lent: std::collections::HashSet<u64> =
            self.overriding.union(&shared).copied().collect();
        keys.extend(interleaved(&steady, &lent));
        keys.extend(
            self.cap_checks
                .iter()
                .filter(|(_, c)| shared.contains(&c.cred))
                .map(|(k, _)| *k),
        );
        keys.retain(|k| {
            self.cap_checks
                .get(k)
                .is_some_and(|c| !self.changed_since_exec.contains(&(c.pid, c.execs)))
        });
        // Judged stretch by stretch of each thread's own credentials, so a thread's switches
        // need no exclusion here; and a check known to use its thread's own stays, whatever
        // the rules by address said.
        // Processes a thread of which changed its ids after its last exec.
        let switched: std::collections::HashSet<u32> = self
            .changed_since_exec
            .iter()
            .filter(|(pid, execs)| self.execs.get(pid).copied().unwrap_or(0) == *execs)
            .filter_map(|(pid, _)| self.cred_marks.get(pid).map(|(tgid, _)| *tgid))
            .collect();
        let (foreign, own) = foreign_credentials::judge(&self.cred_marks, &lent, &switched);
        debug_judgement(&self.cred_marks, &foreign, &own);
        keys.extend(foreign);
        // A mounter's credentials live as long as the mount: no process's own can share
        // their address meanwhile, whatever the process switched.
        keys.extend(
            self.cap_checks
                .iter()
                .filter(|(_, c)| self.mounters.contains(&c.cred))
                .map(|(k, _)| *k),
        );
        // A check during access() runs with credentials derived from the caller's, its
        // capabilities included: a need, unless made with credentials seen overriding a
        // process's own (overlayfs's mounter's, reading its xattrs as the lookup goes).
        keys.retain(|k| {
            !own.contains(k)
                && self.cap_checks.get(k).is_some_and(|c| {
                    !foreign_credentials::derived(&c.during) || self.overriding.contains(&c.cred)
                })
        });
        let mut moved = 0;
        for key in keys {
            let Some(check) = self.cap_checks.get(&key) else {
                continue;
            };
            let Some(checks) = caps.get_mut(&check.cap) else {
                continue;
            };
            let took = reattribute(&mut checks.during, &check.during, check.checks);
            if check.granted {
                reattribute(&mut checks.granted_during, &check.during, check.checks);
            }
            moved += took;
        }
        moved
    }

    /// Who made the call, the ids a set*id call switched to, and for each write whether root
    /// made it: the evidence `generate --identity` needs.
    fn add_identity_slots(&self, ev: &SyscallEvent, slots: &mut Vec<Slot>) {
        use std::fmt::Write as _;
        let (uid, gid) = crate::model::credentials::credentials(ev.uid_gid);
        let calls = slots.len();
        let mut credentials = String::with_capacity(21);
        let _ = write!(credentials, "{uid}:{gid}");
        slots.push(Slot::Identity(IdentitySlot::Credentials(credentials)));
        if let Some(name) = self.arch.syscall_name(ev.nr)
            && let Some(desc) = crate::model::credentials::switch(name, &ev.args)
        {
            slots.push(Slot::Identity(IdentitySlot::Switch(desc)));
        }
        for i in 0..calls {
            if let Slot::Path(path, access) = &slots[i]
                && access.writes()
            {
                let mut target = crate::model::observations::writable_path(path, *access);
                if ["/run", "/var/lib", "/var/cache", "/var/log"].contains(&target.as_str()) {
                    // /var/lib/x made or removed: a directory directive could provide it.
                    target = path.clone();
                }
                slots.push(Slot::Identity(if uid == 0 {
                    IdentitySlot::RootWrite(target)
                } else {
                    IdentitySlot::UserWrite(format!("{uid} {target}"))
                }));
            }
        }
    }

    fn syscall_slots(&mut self, ev: &SyscallEvent) -> Vec<Slot> {
        let Some(name) = self.arch.syscall_name(ev.nr) else {
            return Vec::new();
        };
        let tgid = ev.tgid;
        let a = ev.args;
        // Borrowed from the event: a path is copied once, normalised.
        let s0 = (ev.string_len[0] > 0).then(|| c_str(&ev.strings[0]));
        let s1 = (ev.string_len[1] > 0).then(|| c_str(&ev.strings[1]));
        let (s0, s1) = (s0.as_deref(), s1.as_deref());
        let mut out = Vec::with_capacity(8);
        let path_at = |me: &mut Self, i: usize, path: Option<&str>| -> Option<String> {
            me.path(ev, name, i, path)
        };
        match name {
            "open" | "openat" | "openat2" | "creat" => {
                let (flags, mode) = match name {
                    "open" => (a[1], a[2]),
                    "openat" => (a[2], a[3]),
                    "openat2" => (ev.extra[0], ev.extra[1]),
                    _ => (0o1 | O_CREAT | O_TRUNC, a[1]),
                };
                let path = path_at(self, 0, s0);
                if let Some(path) = path {
                    if ev.made != 0 {
                        self.learn_base(ev.made, &path, flags & O_DIRECTORY_OR_PATH != 0);
                    }
                    for access in open_accesses(flags) {
                        out.push(Slot::Path(path.clone(), access));
                    }
                    if flags & (O_CREAT | O_TMPFILE_DIR) != 0 && mode & S_ISUID_ISGID != 0 {
                        out.push(Slot::Fact(Fact::SuidSgidMode, format!("{path} via {name}")));
                    }
                    if flags & O_TMPFILE_DIR != 0 {
                        out.push(created_mode(&path, "tmpfile", mode));
                    } else if flags & O_CREAT != 0 {
                        out.push(created_mode(parent_dir(&path), "file", mode));
                    }
                }
            }
            // systemd's executor setting up the unit's mount namespace: it moves the new root
            // (/run/systemd/unit-root) onto / and chroot(".")s there, so the unit's root is
            // still / (RootDirectory= aside), not the spelling it had.
            "chroot" if is_service_manager(&c_string(&ev.comm)) && ev.made != 0 => {
                self.learn_base(ev.made, "/", true);
            }
            "chroot" if is_service_manager(&c_string(&ev.comm)) => {}
            "chdir" | "fchdir" | "chroot" => {
                if let Some(path) = path_at(self, 0, s0) {
                    if ev.made != 0 {
                        self.learn_base(ev.made, &path, true);
                    }
                    // Looked up and entered: InaccessiblePaths= there would refuse it.
                    out.push(Slot::Path(path, Access::Read));
                }
            }
            // The fd names the tree at the path (a detached copy of it with OPEN_TREE_CLONE):
            // what is done through it is done there. Usually a directory; kept for good.
            "open_tree" | "open_tree_attr" => {
                if let Some(path) = path_at(self, 0, s0) {
                    if ev.made != 0 {
                        self.learn_base(ev.made, &path, true);
                    }
                    // Looked up: InaccessiblePaths= there would refuse it.
                    out.push(Slot::Path(path, Access::Read));
                }
            }
            "mkdir" | "mkdirat" | "mknod" | "mknodat" => {
                let mode = if name.ends_with("at") { a[2] } else { a[1] };
                let path = path_at(self, 0, s0);
                if let Some(path) = path {
                    let access = if name.starts_with("mkdir") {
                        Access::Create
                    } else {
                        Access::Mknod
                    };
                    out.push(Slot::Path(path.clone(), access));
                    let kind = if access == Access::Create {
                        "dir"
                    } else {
                        "node"
                    };
                    out.push(created_mode(parent_dir(&path), kind, mode));
                    if mode & S_ISUID_ISGID != 0 {
                        out.push(Slot::Fact(Fact::SuidSgidMode, format!("{path} via {name}")));
                    }
                }
            }
            "unlink" | "rmdir" | "unlinkat" => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Delete)))
            }
            "rename" | "renameat" | "renameat2" => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Rename)));
                out.extend(path_at(self, 1, s1).map(|p| Slot::Path(p, Access::Rename)));
            }
            "link" | "symlink" | "linkat" | "symlinkat" => {
                out.extend(path_at(self, 1, s1).map(|p| Slot::Path(p, Access::Link)))
            }
            "chmod" | "fchmod" | "fchmodat" | "fchmodat2" => {
                let mode = if matches!(name, "chmod" | "fchmod") {
                    a[1]
                } else {
                    a[2]
                };
                let path = path_at(self, 0, s0);
                if let Some(path) = path {
                    out.push(Slot::Path(path.clone(), Access::Attr));
                    if mode & S_ISUID_ISGID != 0 {
                        out.push(Slot::Fact(Fact::SuidSgidMode, format!("{path} via {name}")));
                    }
                }
            }
            "chown" | "lchown" | "utime" | "utimes" | "fchown" | "fchownat" | "utimensat"
            | "futimesat" => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Attr)));
            }
            "truncate" | "ftruncate" => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Truncate)))
            }
            // What is mounted there is read: the sandbox must leave it in view.
            "statfs" => out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Read))),
            // An empty path is the fd itself (an fstat whose "" the kernel side could not read
            // at entry): its file was recorded when opened, or came with the process (fd 0 of
            // a short-lived one, gone before its fd could be read from /proc).
            _ if LOOKUPS.contains(&name) && s0 == Some("") => {}
            _ if LOOKUPS.contains(&name) => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Lookup)))
            }
            // access(W_OK) that succeeded: the service asked whether it may write there, and
            // a read-only sandbox would answer EROFS (a daemon that then picks another place,
            // or gives up). One that failed found no more than a lookup does, and so does one
            // of a socket, fifo or device node: the kernel answers those without looking at
            // the mount (do_faccessat's special_file), read-only or not (Erlang asks of every
            // file it looks at, sd_notify's socket included).
            "access" | "faccessat" | "faccessat2" => {
                let mode = if name == "access" { a[1] } else { a[2] };
                let asks_write = mode & W_OK != 0 && ev.ret == 0;
                out.extend(path_at(self, 0, s0).map(|p| {
                    let access = if asks_write && !self.is_special_file(&p) {
                        Access::Write
                    } else {
                        Access::Lookup
                    };
                    Slot::Path(p, access)
                }))
            }
            "setxattr" | "lsetxattr" | "fsetxattr" | "removexattr" | "lremovexattr"
            | "fremovexattr" => {
                out.extend(path_at(self, 0, s0).map(|p| Slot::Path(p, Access::Attr)))
            }
            "execve" | "execveat" => {
                let path = path_at(self, 0, s0);
                // The path may be unreadable to BPF; a successful exec's image names it.
                let path = path.or_else(|| {
                    let exe = std::fs::read_link(format!("/proc/{tgid}/exe")).ok()?;
                    let path = (ev.ret == 0).then(|| normalize(&exe, tgid, tgid))?;
                    // Found after all: nothing is missing.
                    self.event_missed = None;
                    Some(path)
                });
                if let Some(path) = path {
                    out.push(Slot::Path(path.clone(), Access::Exec));
                    if ev.ret == 0 {
                        if let Some(why) = privileged_file(&self.in_manager_root(&path)) {
                            out.push(Slot::Fact(Fact::PrivilegedExec, format!("{path} ({why})")));
                        }
                    }
                    // As for the path: after a successful exec its argv is the new image's.
                    let argv0 = s1.map(str::to_owned).or_else(|| {
                        let cmdline = std::fs::read(format!("/proc/{tgid}/cmdline")).ok()?;
                        (ev.ret == 0).then(|| c_string(&cmdline))
                    });
                    out.push(Slot::Exec {
                        path,
                        argv0: argv0.unwrap_or_default(),
                    });
                }
            }
            "socket" | "socketpair" => {
                let mut desc = format!(
                    "{}/{}",
                    names::address_family(a[0]),
                    names::socket_type(a[1])
                );
                // A netlink socket's protocol says what it talks to (schema 2).
                if a[0] == libc::AF_NETLINK as u64 {
                    desc = format!("{desc}/{}", names::netlink_protocol(a[2]));
                }
                out.push(if name == "socket" {
                    Slot::Socket(desc)
                } else {
                    Slot::SocketPair(desc)
                });
            }
            "bind" | "connect" => {
                let len = ev.string_len[1] as usize;
                if self.string_unreadable(ev, 1) {
                    self.miss(format!("{name}: address unreadable"));
                }
                if let Some((desc, unix_path)) =
                    describe_sockaddr(&ev.strings[1][..len.min(ev.strings[1].len())])
                {
                    if let Some(p) = unix_path.and_then(|p| self.path(ev, name, 1, Some(&p))) {
                        let access = if name == "bind" {
                            Access::Bind
                        } else {
                            Access::Connect
                        };
                        out.push(Slot::Path(p, access));
                    }
                    out.push(if name == "bind" {
                        Slot::Bind(desc)
                    } else {
                        Slot::Connect(desc)
                    });
                }
            }
            "accept" | "accept4" | "recvfrom" | "recvmsg" | "recvmmsg" => {
                let len = ev.string_len[1] as usize;
                if len == 0 && ev.ret >= 0 {
                    // The kernel wrote a peer's address, and it could not be read back.
                    self.miss(format!("{name}: peer unreadable"));
                }
                if let Some(host) = describe_sockaddr(&ev.strings[1][..len.min(STR_LEN)])
                    .and_then(|(desc, _)| peer_host(&desc))
                {
                    out.push(if name.starts_with("accept") {
                        Slot::Accepted(host)
                    } else {
                        Slot::ReceivedFrom(host)
                    });
                }
            }
            "sendto" | "sendmsg" | "sendmmsg" => {
                let len = ev.string_len[1] as usize;
                if let Some((desc, unix_path)) =
                    describe_sockaddr(&ev.strings[1][..len.min(STR_LEN)])
                {
                    // A datagram to a unix socket's path reaches that path, as connect() does.
                    if let Some(p) = unix_path.and_then(|p| self.path(ev, name, 1, Some(&p))) {
                        out.push(Slot::Path(p, Access::Connect));
                    }
                    out.push(Slot::SentTo(desc));
                }
            }
            "mmap" => out.push(Slot::Fact(
                Fact::WriteExecuteMemory,
                "mmap PROT_WRITE|PROT_EXEC".into(),
            )),
            "mprotect" | "pkey_mprotect" => {
                out.push(Slot::Fact(
                    Fact::WriteExecuteMemory,
                    format!("{name} PROT_EXEC"),
                ));
            }
            "shmat" if a[2] & SHM_EXEC != 0 => {
                out.push(Slot::Fact(
                    Fact::WriteExecuteMemory,
                    "shmat SHM_EXEC".into(),
                ));
            }
            "clone" | "clone3" | "fork" | "vfork" => {
                out.push(Slot::Fork);
                let flags = match name {
                    "clone" => a[0],
                    "clone3" => ev.extra[0],
                    _ => 0,
                };
                for ns in names::namespaces(flags) {
                    self.note_namespace(ev, ns);
                    out.push(Slot::Fact(Fact::Namespace, format!("{ns} via {name}")));
                }
            }
            "exit" | "exit_group" => {
                self.forget_namespace_ids(ev.tgid, ev.pid, name == "exit_group");
                out.push(Slot::Exit);
            }
            "capset" => out.extend(capset_slots(ev)),
            "mount" => {
                if a[3] & MS_BIND != 0
                    && s0.is_some_and(|s| s.starts_with('/'))
                    && let Some(p) = path_at(self, 0, s0)
                {
                    out.push(Slot::Path(p, Access::Read));
                }
                if ev.ret == 0 && a[3] & MS_CHANGES_ONLY == 0 && self.host_mount(ev, name) {
                    let what = if a[3] & MS_BIND != 0 {
                        "bind mount".to_owned()
                    } else if a[3] & MS_MOVE != 0 {
                        "mount move".to_owned()
                    } else {
                        format!("mount of {}", s0.unwrap_or("?"))
                    };
                    out.push(Slot::Fact(Fact::HostMount, what));
                }
            }
            "move_mount" if ev.ret == 0 && self.host_mount(ev, name) => {
                out.push(Slot::Fact(Fact::HostMount, "move_mount".into()));
            }
            "unshare" => {
                for ns in names::namespaces(a[0]) {
                    self.note_namespace(ev, ns);
                    out.push(Slot::Fact(Fact::Namespace, format!("{ns} via unshare")));
                }
            }
            "setns" => {
                let types = names::namespaces(a[1]);
                if types.is_empty() {
                    self.note_namespace(ev, "mnt");
                    out.push(Slot::Fact(Fact::Namespace, "any via setns".into()));
                }
                for ns in types {
                    self.note_namespace(ev, ns);
                    out.push(Slot::Fact(Fact::Namespace, format!("{ns} via setns")));
                }
            }
            "personality" => out.push(Slot::Fact(Fact::Personality, format!("{:#x}", a[0] as u32))),
            "sched_setscheduler" => out.push(Slot::Fact(
                Fact::Scheduling,
                format!("{} via {name}", names::sched_policy(a[1])),
            )),
            "sched_setattr" => out.push(Slot::Fact(
                Fact::Scheduling,
                format!("{} via {name}", names::sched_policy(ev.extra[0])),
            )),
            "sethostname" | "setdomainname" => {
                out.push(Slot::Fact(Fact::HostnameChange, name.into()))
            }
            "clock_settime" | "clock_adjtime" | "adjtimex" | "settimeofday" => {
                out.push(Slot::Fact(Fact::ClockChange, name.into()));
            }
            "init_module" | "finit_module" | "delete_module" => {
                out.push(Slot::Fact(Fact::ModuleLoading, name.into()));
            }
            "syslog" => out.push(Slot::Fact(
                Fact::KernelLog,
                format!("syslog action {}", a[0]),
            )),
            "keyctl" => out.push(Slot::Fact(
                Fact::KeyManagement,
                format!("keyctl operation {}", a[0]),
            )),
            "add_key" | "request_key" => out.push(Slot::Fact(Fact::KeyManagement, name.into())),
            _ => {}
        }
        out
    }

    /// String `i` of `ev` (`s`) as an absolute, normalised path, resolved against what the
    /// kernel side said it was relative to; with no string, the fd the call acts on. None
    /// when the call names no path; when it names one that cannot be had (unreadable, or
    /// relative to something never seen), that is noted for [`Self::missed`].
    fn path(&mut self, ev: &SyscallEvent, name: &str, i: usize, s: Option<&str>) -> Option<String> {
        let path = self.path_by_host_ids(ev, name, i, s)?;
        let Some(rest) = path.strip_prefix("/proc/[pid]") else {
            return Some(path);
        };
        // Maybe the caller's own /proc entry, as its PID namespace numbers it. Unknown (it
        // has exited): another process's, as before.
        let Some(ids) = self.namespace_ids(ev.tgid, ev.pid) else {
            return Some(path);
        };
        match self.proc_pid_named(ev, i, s) {
            Some(n) if n == ids.0 || n == ids.1 => Some(format!("/proc/self{rest}")),
            _ => Some(path),
        }
    }

    /// The pid a `/proc/<pid>` path of string `i` names, as the caller wrote it (absolute,
    /// or relative to a directory under /proc), before normalisation hid it.
    fn proc_pid_named(&mut self, ev: &SyscallEvent, i: usize, s: Option<&str>) -> Option<u32> {
        let joined = match s {
            Some(p) if p.starts_with('/') && ev.base[i] == 0 => p.to_owned(),
            _ => {
                let dir = self.base_path(ev.base[i])?;
                format!("{dir}/{}", s.unwrap_or(""))
            }
        };
        let rest = joined.trim_start_matches('/').strip_prefix("proc/")?;
        rest.trim_start_matches('/').split('/').next()?.parse().ok()
    }

    /// [`Self::namespace_ids`]'s lookup, cached per thread (host numbering) while it runs.
    fn namespace_ids(&mut self, tgid: u32, tid: u32) -> Option<(u32, u32)> {
        if let Some(known) = self.namespace_ids.get(&(tgid, tid)) {
            return *known;
        }
        let found = namespace_view(tgid, tid)?;
        if self.namespace_ids.len() > 65_536 {
            self.namespace_ids.clear();
        }
        self.namespace_ids.insert((tgid, tid), found);
        found
    }

    /// Forgets what [`Self::namespace_ids`] knew of a thread that exits (all of its
    /// process's with exit_group): its ids may be reused by another.
    fn forget_namespace_ids(&mut self, tgid: u32, tid: u32, whole_process: bool) {
        if self.namespace_ids.is_empty() {
            return;
        }
        if whole_process {
            self.namespace_ids.retain(|&(g, _), _| g != tgid);
        } else {
            self.namespace_ids.remove(&(tgid, tid));
        }
    }

    fn path_by_host_ids(
        &mut self,
        ev: &SyscallEvent,
        name: &str,
        i: usize,
        s: Option<&str>,
    ) -> Option<String> {
        let (tgid, tid) = (ev.tgid, ev.pid);
        match s {
            Some(p) if p.starts_with('/') && ev.base[i] == 0 => {
                return Some(normalize_joined(&[p], tgid, tid));
            }
            Some(p) if p.starts_with('/') => {
                // A chrooted process: the path is below its root.
                let Some(root) = self.base_path(ev.base[i]) else {
                    self.miss(format!("{name}: path in a chroot not resolved"));
                    return None;
                };
                // `..` stops at the chroot's root, as the kernel's lookup does.
                let inside = normalize_joined(&[p], tgid, tid);
                return Some(normalize_joined(&[&root, &inside], tgid, tid));
            }
            None if self.string_unreadable(ev, i) => {
                self.miss(format!("{name}: path unreadable"));
                return None;
            }
            _ => {}
        }
        let relative = s.unwrap_or("");
        let b = ev.base[i];
        if b == 0 || b == base::NO_PATH {
            // Nothing to resolve against: an absent path (utimensat's NULL without an fd), or
            // an fd that is no file (ftruncate of a memfd).
            return None;
        }
        let dir = self.base_path(b);
        debug_base(ev, name, b, dir.as_deref());
        let Some(dir) = dir else {
            self.miss(format!("{name}: relative path not resolved"));
            return None;
        };
        Some(normalize_joined(&[&dir, relative], tgid, tid))
    }

    fn miss(&mut self, what: String) {
        self.event_missed.get_or_insert(what);
    }

    /// Whether string `i` of the event was passed (a non-NULL pointer) but could not be read.
    fn string_unreadable(&self, ev: &SyscallEvent, i: usize) -> bool {
        let arg = self
            .string_args
            .get(ev.nr as usize)
            .and_then(|args| args[i]);
        matches!(arg, Some(a) if ev.args[usize::from(a)] != 0 && ev.string_len[i] == 0)
    }

    /// The directory or file a base names.
    fn base_path(&mut self, b: u64) -> Option<String> {
        if b & base::TAG == 0 {
            return self
                .dir_bases
                .get(&b)
                .or_else(|| self.file_bases.get(&b))
                .or_else(|| self.file_bases_before.get(&b))
                .cloned();
        }
        if b & base::FD != 0 {
            let tgid = ((b >> 32) & 0x3fff_ffff) as u32;
            let fd = b as u32;
            return proc_link(&format!("/proc/{tgid}/fd/{fd}"), tgid)
                .or_else(|| self.found_fds.get(&(tgid, fd)).cloned());
        }
        self.origin(b as u32)
    }

    /// Where process `tgid` was when it was first seen; read from /proc once (call it for
    /// the processes a recording finds running, before they can move).
    pub fn origin(&mut self, tgid: u32) -> Option<String> {
        self.origins
            .entry(tgid)
            .or_insert_with(|| proc_link(&format!("/proc/{tgid}/cwd"), tgid))
            .clone()
    }

    /// Reads where process `tgid` is now as its origin, and what its fds name (a process
    /// found running, whose working directory was set and fds opened before the recording
    /// followed it).
    pub fn note_running(&mut self, tgid: u32) {
        let now = proc_link(&format!("/proc/{tgid}/cwd"), tgid);
        self.origins.insert(tgid, now);
        // A process that chrooted before the recording (haproxy into /var/lib/haproxy) names
        // absolute paths below its root, which the kernel side cannot know by itself.
        if let Some(root) = proc_link(&format!("/proc/{tgid}/root"), tgid)
            && root != "/"
            && self.unit_root.as_deref() != Some(root.as_str())
        {
            let b = found_root_base(tgid);
            self.dir_bases.insert(b, root);
            self.roots_found.push((tgid, b));
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{tgid}/fd")) else {
            return;
        };
        for entry in fds.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(path) = proc_link(&format!("/proc/{tgid}/fd/{fd}"), tgid) {
                self.found_fds.insert((tgid, fd), path);
            }
        }
    }

    /// Sets the host's mount namespace to that of the recorded system's service manager,
    /// `manager` (PID 1, or a guest's init as seen from here).
    pub fn set_host_manager(&mut self, manager: u32) {
        self.host_mount_namespace = std::fs::read_link(format!("/proc/{manager}/ns/mnt")).ok();
        self.manager_root = Some(format!("/proc/{manager}/root"));
    }

    /// `path` as the recorded system's service manager sees it (a guest's files are in its
    /// own tree, not learner's).
    /// Whether `path` is a socket, fifo or device node (as the service manager sees it).
    fn is_special_file(&self, path: &str) -> bool {
        use std::os::unix::fs::FileTypeExt as _;
        std::fs::metadata(self.in_manager_root(path)).is_ok_and(|m| {
            let t = m.file_type();
            t.is_socket() || t.is_fifo() || t.is_char_device() || t.is_block_device()
        })
    }

    fn in_manager_root(&self, path: &str) -> String {
        match &self.manager_root {
            Some(root) if std::fs::metadata(root).is_ok() => format!("{root}{path}"),
            _ => path.to_owned(),
        }
    }

    /// Notes that `ev` made or joined a namespace of type `ns`.
    fn note_namespace(&mut self, ev: &SyscallEvent, ns: &str) {
        if ns != "mnt" {
            return;
        }
        if is_service_manager(&c_string(&ev.comm)) {
            self.unit_mount_namespace = true;
        } else {
            self.mount_namespace_made = true;
        }
    }

    /// Whether `ev`, a successful `syscall`, mounted in the host's mount namespace. systemd's
    /// executor setting up the unit's namespace never does. A process already gone is taken
    /// to be in the namespace the service started in: the unit's own when the executor was
    /// seen making one, else the host's (unless its unit gives it one, which the policy
    /// knows) while no process of the service has made or joined another; after that, it is
    /// counted as missed.
    fn host_mount(&mut self, ev: &SyscallEvent, syscall: &str) -> bool {
        if is_service_manager(&c_string(&ev.comm)) {
            return false;
        }
        let Some(host) = &self.host_mount_namespace else {
            self.miss(format!("{syscall}: the host's mount namespace unreadable"));
            return false;
        };
        match std::fs::read_link(format!("/proc/{}/ns/mnt", ev.pid)) {
            Ok(ns) => ns == *host,
            Err(_) if !self.mount_namespace_made => !self.unit_mount_namespace,
            Err(_) => {
                self.miss(format!(
                    "{syscall}: mount namespace unreadable (process gone)"
                ));
                false
            }
        }
    }

    /// The recorded unit's RootDirectory=: a process found in it is not a process that
    /// chrooted itself, and its paths are the unit's as they are (its drop-in's paths are
    /// too), as with the root systemd's executor sets up.
    pub fn set_unit_root(&mut self, root: Option<String>) {
        self.unit_root = root.filter(|r| !r.is_empty() && r != "/");
    }

    /// The roots found by [`Self::note_running`] since the last call, for the kernel side's
    /// `ROOT_BASE` (by process).
    pub fn take_roots_found(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.roots_found)
    }

    /// Notes that process `tgid` starts (or started) in `dir`: `learner run` knows where the
    /// command starts, and a recording of running processes reads it before they can move.
    pub fn set_origin(&mut self, tgid: u32, dir: &Path) {
        self.origins.insert(tgid, Some(normalize(dir, tgid, tgid)));
    }

    /// Notes what content base `b` names: a working directory or directory fd for good, a
    /// file's fd for a while.
    fn learn_base(&mut self, b: u64, path: &str, directory: bool) {
        if directory {
            self.dir_bases.insert(b, path.to_owned());
            return;
        }
        if self.file_bases.len() >= FILE_BASES_TURN {
            // Swapped and cleared, so the table keeps its room.
            std::mem::swap(&mut self.file_bases, &mut self.file_bases_before);
            self.file_bases.clear();
        }
        self.file_bases.insert(b, path.to_owned());
    }
}

/// Entries of file bases kept per turn (two turns are kept): an fd is used by fchmod or
/// ftruncate soon after its open, and a path-heavy service opens hundreds of thousands.
const FILE_BASES_TURN: usize = 16_384;

/// A /proc link (an fd's or the working directory) as a path; None for what has none (a
/// socket, a pipe) or a process gone.
fn proc_link(link: &str, tgid: u32) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    let text = target.to_string_lossy();
    // A memfd reads as `/memfd:NAME (deleted)`: no path either.
    if !text.starts_with('/') || text.starts_with("/memfd:") {
        return None;
    }
    Some(normalize(
        Path::new(text.trim_end_matches(" (deleted)")),
        tgid,
        tgid,
    ))
}

/// The content base standing for the root of process `tgid`, found already chrooted: not a
/// hash of a path (the kernel side's are), but made the same shape, so every path call reads
/// it as it reads a root the kernel saw made.
fn found_root_base(tgid: u32) -> u64 {
    let mixed = (0x726f_6f74_0000_0000u64 | u64::from(tgid)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed & !base::TAG) | base::CONTENT
}

/// Per syscall number, the arguments that are its strings.
fn string_args(arch: Arch) -> Vec<[Option<u8>; 2]> {
    let mut out = Vec::new();
    for t in crate::recording::traced::TRACED {
        if let Some(nr) = arch.syscall_number(t.name) {
            let nr = nr as usize;
            if out.len() <= nr {
                out.resize(nr + 1, [None, None]);
            }
            out[nr] = t.strings;
        }
    }
    out
}

/// How a thread numbers processes in the /proc it sees: Some(its own process and thread ids
/// in its innermost PID namespace) when that /proc is its namespace's, Some(None) when it is
/// the host's (no namespace of its own; or one, like `unshare --pid` without a /proc mounted
/// for it, still reading the host's, where /proc/1 is the host's init), None when unknown
/// (it has exited).
fn namespace_view(tgid: u32, tid: u32) -> Option<Option<(u32, u32)>> {
    let read = |path: String| std::fs::read_to_string(path).ok();
    let process = innermost_pid(&read(format!("/proc/{tgid}/status"))?)?;
    // A process's main thread has the process's ids: its status once is enough.
    let thread = match tid == tgid {
        true => process,
        false => innermost_pid(&read(format!("/proc/{tgid}/task/{tid}/status"))?)?,
    };
    if (process, thread) == (tgid, tid) {
        return Some(None);
    }
    // A /proc of another PID namespace has no `self` for learner, which is not in it.
    match std::fs::read_link(format!("/proc/{tgid}/root/proc/self")) {
        Ok(_) => Some(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Some((process, thread))),
        Err(_) => None,
    }
}

/// The last field of `NSpid:` in a /proc status: the id in the innermost PID namespace.
fn innermost_pid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// Lexical normalisation: no `.`, `..` or repeated slashes; `/proc/<own pid>` becomes
/// `/proc/self`, another process's `/proc/<pid>` becomes `/proc/[pid]`.
pub fn normalize(path: &Path, tgid: u32, tid: u32) -> String {
    normalize_joined(&[&path.to_string_lossy()], tgid, tid)
}

/// [`normalize`] of `parts` joined by slashes (a directory and a path relative to it),
/// built in place: one allocation, the result's, for each path of every event.
fn normalize_joined(parts: &[&str], tgid: u32, tid: u32) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for component in parts.iter().flat_map(|p| p.split('/')) {
        match component {
            "" | "." => {}
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
            }
            _ => {
                out.push('/');
                out.push_str(component);
            }
        }
    }
    if let Some(rest) = out.strip_prefix("/proc/") {
        let (second, after) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let own = if second == "thread-self" {
            Some(true)
        } else {
            second
                .parse::<u32>()
                .ok()
                .map(|pid| pid == tgid || pid == tid)
        };
        if let Some(own) = own {
            let pid = if own { "self" } else { "[pid]" };
            out = format!("/proc/{pid}{after}");
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The directory an entry is created in (`/` for a top-level one).
fn parent_dir(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    }
}

/// The permission bits a create asked for, before the umask (UMask=).
fn created_mode(dir: &str, kind: &str, mode: u64) -> Slot {
    use std::fmt::Write as _;
    // Sized up front: format! would grow it a few times, at every create.
    let mut detail = String::with_capacity(dir.len() + kind.len() + 8);
    let _ = write!(detail, "{dir} {kind} {:04o}", mode & 0o7777);
    Slot::Fact(Fact::CreatedMode, detail)
}

/// The kinds of access an open with `flags` asks for.
fn open_accesses(flags: u64) -> impl Iterator<Item = Access> {
    let path_only = flags & O_PATH != 0;
    let (first, second) = match flags & O_ACCMODE {
        _ if path_only => (Access::Read, None),
        0 => (Access::Read, None),
        1 => (Access::Write, None),
        _ => (Access::Read, Some(Access::Write)),
    };
    // O_TMPFILE names the directory an unnamed file is made in: a write to that directory
    // (its write access mode comes with it), not a create of the directory in its parent,
    // which would make the parent writable (/var/lib for updatedb's /var/lib/plocate).
    let create = (!path_only && flags & O_CREAT != 0 && flags & O_TMPFILE_DIR == 0)
        .then_some(Access::Create);
    let truncate = (!path_only && flags & O_TRUNC != 0).then_some(Access::Truncate);
    std::iter::once(first)
        .chain(second)
        .chain(create)
        .chain(truncate)
}

/// Describes a socket address; for a unix socket with a path, also returns the path.
fn describe_sockaddr(bytes: &[u8]) -> Option<(String, Option<String>)> {
    let family = u16::from_ne_bytes(bytes.get(..2)?.try_into().ok()?);
    let name = names::address_family(u64::from(family));
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    Some(match family as i32 {
        libc::AF_INET if bytes.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            (format!("{name} {ip}:{}", port(bytes)), None)
        }
        libc::AF_INET6 if bytes.len() >= 24 => {
            let octets: [u8; 16] = bytes[8..24].try_into().ok()?;
            let ip = std::net::Ipv6Addr::from(octets);
            (format!("{name} [{ip}]:{}", port(bytes)), None)
        }
        libc::AF_UNIX => {
            let path = bytes.get(2..).unwrap_or_default();
            match path.first() {
                None => (format!("{name} (unnamed)"), None),
                Some(0) => (format!("{name} @{}", c_string(&path[1..])), None),
                Some(_) => {
                    let p = c_string(path);
                    (format!("{name} {p}"), Some(p))
                }
            }
        }
        libc::AF_NETLINK if bytes.len() >= 12 => {
            let groups = u32::from_ne_bytes(bytes[8..12].try_into().ok()?);
            (format!("{name} groups={groups:#x}"), None)
        }
        _ => (name, None),
    })
}

/// The host of an IP peer's address (`AF_INET 1.2.3.4:0` -> `AF_INET 1.2.3.4`, `AF_INET6
/// [::1]:0` -> `AF_INET6 ::1`); None for other families, which IPAddressAllow= does not
/// filter.
fn peer_host(desc: &str) -> Option<String> {
    let (family, addr) = desc.split_once(' ')?;
    let (host, _port) = addr.rsplit_once(':')?;
    match family {
        "AF_INET" => Some(format!("{family} {host}")),
        "AF_INET6" => Some(format!(
            "{family} {}",
            host.trim_start_matches('[').trim_end_matches(']')
        )),
        _ => None,
    }
}

/// Why executing `path` could gain privileges: set-uid, set-gid, or file capabilities.
fn privileged_file(path: &str) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o4000 != 0 {
        return Some("set-uid");
    }
    if mode & 0o2000 != 0 {
        return Some("set-gid");
    }
    let c_path = CString::new(Path::new(path).as_os_str().as_bytes()).ok()?;
    let mut value = [0u8; 24];
    // SAFETY: getxattr writes at most the buffer's length.
    let size = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    let size = usize::try_from(size).ok()?;
    grants_capabilities(&value[..size.min(value.len())]).then_some("file capabilities")
}

/// Whether a `security.capability` value (vfs_cap_data: a magic word, then permitted and
/// inheritable words, twice for 64 bits) grants anything. `setcap cap_x-epi` leaves one
/// that grants nothing (Debian's postinst for prometheus-blackbox-exporter answered "no").
fn grants_capabilities(value: &[u8]) -> bool {
    value
        .get(4..)
        .unwrap_or_default()
        .chunks(4)
        // Past the two pairs of words comes a v3 attribute's root uid: no capability.
        .take(4)
        .any(|w| w.iter().any(|b| *b != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::syscalls::Arch;

    /// What a CAP_SYS_ADMIN check during openat by an exited process is blamed on.
    fn capability_event(uid: u32, own_uid: Option<u32>, cred: u64, key: u64) -> CapabilityEvent {
        CapabilityEvent {
            tag: EventTag::Capability as u32,
            cap: 21,
            ret: 0,
            syscall: 83, // mkdir
            pid: u32::MAX - 1,
            tgid: u32::MAX - 1,
            uid,
            gid: 0,
            own_uid: own_uid.unwrap_or(0),
            own_uid_known: u32::from(own_uid.is_some()),
            key,
            comm: *b"nginx\0\0\0\0\0\0\0\0\0\0\0",
            opts: 0,
            opts_known: 0,
            cred,
            cgroup: 0,
            generation: 0,
        }
    }

    fn handle_event(c: &mut Collector, ev: &CapabilityEvent) {
        // SAFETY: plain data viewed as its bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (ev as *const CapabilityEvent).cast::<u8>(),
                size_of::<CapabilityEvent>(),
            )
        };
        c.handle(bytes);
    }

    #[test]
    fn the_innermost_pid_is_the_last_of_nspid() {
        let status = "Name:\tsh\nTgid:\t4242\nNSpid:\t4242\t17\t1\nPPid:\t1\n";
        assert_eq!(innermost_pid(status), Some(1));
        assert_eq!(innermost_pid("NSpid:\t99\n"), Some(99));
        assert_eq!(innermost_pid("Name:\tx\n"), None);
        // This process: no namespace of its own here, its /proc is the host's.
        let me = std::process::id();
        assert_eq!(namespace_view(me, me), Some(None));
        // A process that is gone: unknown, never taken for the caller's own.
        assert_eq!(namespace_view(u32::MAX - 1, u32::MAX - 1), None);
    }

    #[test]
    fn a_root_processs_checks_with_credentials_seen_overriding_are_overridden() {
        let mut c = Collector::new(Arch::X86_64);
        // The master (root) copies a directory up: overlayfs's root credentials, at 0xa.
        handle_event(&mut c, &capability_event(0, Some(0), 0xa, 11));
        // Its own check, with its own credentials at 0xb.
        handle_event(&mut c, &capability_event(0, Some(0), 0xb, 12));
        // A worker (uid 33) makes overlayfs copy up too: 0xa overrides.
        handle_event(&mut c, &capability_event(0, Some(33), 0xa, 13));
        // The master's copy-up repeated twice more (the kernel's count).
        c.add_repeats(&[(11, 2)].into());
        let during = |c: &Collector| c.observations.capabilities["CAP_SYS_ADMIN"].during.clone();
        assert_eq!(during(&c)["mkdir"], 4);
        assert_eq!(c.attribute_overridden_credentials(), 3);
        let after = during(&c);
        assert_eq!(after["mkdir"], 1, "{after:?}");
        assert_eq!(after[OVERRIDDEN_CREDENTIALS], 4, "{after:?}");
        let granted = &c.observations.capabilities["CAP_SYS_ADMIN"].granted_during;
        assert_eq!(granted.get("mkdir"), Some(&1), "{granted:?}");
    }

    #[test]
    fn a_mounters_check_sent_again_after_the_maps_took_turns_is_moved_whole() {
        // pg_ctlcluster (root, own credentials 0xa) opens a file overlayfs copies up with its
        // mounter's (0xf) twice, and the deduplication maps took turns in between: the same
        // key came twice. Under load that happened in CI, and one check stayed CAP_FOWNER's.
        const MMAP: u32 = 9;
        const OPENAT: u32 = 257;
        const CAP_FOWNER: u32 = 3;
        let mut c = Collector::new(Arch::X86_64);
        let copy_up = root_check(10, 0xf, CAP_FOWNER, OPENAT, 2);
        for ev in [root_check(10, 0xa, 21, MMAP, 1), copy_up, copy_up] {
            handle_event(&mut c, &ev);
        }
        // A postgres process (uid 101) shows 0xf lent.
        handle_event(&mut c, &check_as(20, 101, 0xf, CAP_FOWNER, 83, 3));
        let during = |c: &Collector| c.observations.capabilities["CAP_FOWNER"].during.clone();
        assert_eq!(during(&c)["openat"], 2);
        c.attribute_overridden_credentials();
        let after = during(&c);
        assert!(!after.contains_key("openat"), "{after:?}");
        assert_eq!(after[OVERRIDDEN_CREDENTIALS], 3, "{after:?}");
        let granted = &c.observations.capabilities["CAP_FOWNER"].granted_during;
        assert!(!granted.contains_key("openat"), "{granted:?}");
    }

    #[test]
    fn a_switch_whose_own_event_was_deduplicated_still_starts_a_stretch() {
        // proftpd's master: setresuid to a new struct (0xb) and back; the call's own event was
        // counted, not sent, but the kernel side's count of the thread's switches moved on
        // (generation 2). Its stat then makes overlayfs check with the mounter's (0xf).
        const MMAP: u32 = 9;
        const NEWFSTATAT: u32 = 262;
        let mut c = Collector::new(Arch::X86_64);
        let mut stat = root_check(10, 0xf, 21, NEWFSTATAT, 3);
        stat.generation = 2;
        let mut own = root_check(10, 0xb, 21, MMAP, 2);
        own.generation = 2;
        for ev in [root_check(10, 0xa, 21, MMAP, 1), own, stat] {
            handle_event(&mut c, &ev);
        }
        c.attribute_overridden_credentials();
        let during = &c.observations.capabilities["CAP_SYS_ADMIN"].during;
        // Taken for one stretch with two own addresses, nothing in it was judged.
        assert!(!during.contains_key("newfstatat"), "{during:?}");
        assert_eq!(during[OVERRIDDEN_CREDENTIALS], 1, "{during:?}");
    }

    #[test]
    fn an_access_check_with_the_mounters_credentials_is_not_the_callers() {
        // dnsmasq's root helper (never changing its ids) calls faccessat2 on the overlay
        // root: overlayfs reads its xattrs with its mounter's (0xf), seen overriding a
        // non-root process's own. A check with credentials derived from its own (0xd) stays.
        const FACCESSAT2: u32 = 439;
        let mut c = Collector::new(Arch::X86_64);
        handle_event(&mut c, &root_check(10, 0xf, 21, FACCESSAT2, 1));
        handle_event(&mut c, &root_check(10, 0xd, 1, FACCESSAT2, 2));
        handle_event(&mut c, &check_as(20, 101, 0xf, 21, 83, 3));
        c.attribute_overridden_credentials();
        let caps = &c.observations.capabilities;
        assert!(
            !caps["CAP_SYS_ADMIN"].during.contains_key("faccessat2"),
            "{caps:?}"
        );
        assert_eq!(caps["CAP_DAC_OVERRIDE"].during["faccessat2"], 1, "{caps:?}");
    }

    #[test]
    fn a_switch_before_an_exec_says_nothing_of_the_programs_checks() {
        // systemd's executor sets the capabilities (capset) of every service's process, then
        // execs it: the program's access() check with the mounter's credentials (0xf, seen
        // overriding a uid-999 process's own) is overlayfs's. A process that switched and
        // never exec'd keeps its check (its own addresses come and go).
        const CAPSET: u32 = 126;
        const FACCESSAT2: u32 = 439;
        let mut c = Collector::new(Arch::X86_64);
        for tgid in [10, 30] {
            handle_event(&mut c, &root_check(tgid, 0xa, 8, CAPSET, u64::from(tgid)));
        }
        let mut exec = event("execve", [0; 6], "/usr/bin/helper", 0, "helper");
        // SAFETY: the buffer holds one whole event.
        let ev = unsafe { &mut *(exec.as_mut_ptr() as *mut SyscallEvent) };
        (ev.pid, ev.tgid) = (10, 10);
        c.handle(&exec);
        handle_event(&mut c, &root_check(10, 0xf, 21, FACCESSAT2, 11));
        handle_event(&mut c, &root_check(30, 0xf, 21, FACCESSAT2, 31));
        handle_event(&mut c, &check_as(20, 999, 0xf, 21, 83, 3));
        c.attribute_overridden_credentials();
        let during = &c.observations.capabilities["CAP_SYS_ADMIN"].during;
        assert_eq!(during.get("faccessat2"), Some(&1), "{during:?}");
        assert_eq!(during[OVERRIDDEN_CREDENTIALS], 2, "{during:?}");
    }

    #[test]
    fn an_exec_by_a_thread_that_is_not_the_main_one_counts_for_the_main_one() {
        // A Go program's thread 11 execs: the program goes on as thread 10, the process's id.
        let mut c = Collector::new(Arch::X86_64);
        let mut exec = event("execve", [0; 6], "/usr/bin/helper", 0, "helper");
        // SAFETY: the buffer holds one whole event.
        let ev = unsafe { &mut *(exec.as_mut_ptr() as *mut SyscallEvent) };
        (ev.pid, ev.tgid) = (11, 10);
        c.handle(&exec);
        assert_eq!(c.execs.get(&10), Some(&1));
        assert_eq!(
            c.cred_marks[&10].1.last(),
            Some(&foreign_credentials::Mark::Switch)
        );
    }

    #[test]
    fn a_mounters_credentials_seen_in_a_lookup_are_foreign_in_a_switching_process() {
        // atd's job runner (root, no exec) switches its ids back and forth, with no memory
        // accounting between: no stretch of it knows its own address. Its unlink of the job
        // file makes overlayfs check with the mounter's (0xf), which a uid-1 process's stat
        // showed overriding. An address seen overriding only while a file was made (openat:
        // a short-lived copy) proves less: 0xe's check stays.
        const SETRESUID: u32 = 117;
        const UNLINK: u32 = 87;
        const NEWFSTATAT: u32 = 262;
        const OPENAT: u32 = 257;
        let mut c = Collector::new(Arch::X86_64);
        for ev in [
            root_check(10, 0xa, 7, SETRESUID, 1),
            root_check(10, 0xf, 21, UNLINK, 2),
            root_check(10, 0xe, 21, UNLINK, 3),
        ] {
            handle_event(&mut c, &ev);
        }
        for (cred, syscall, key) in [(0xf, NEWFSTATAT, 4), (0xe, OPENAT, 5)] {
            handle_event(&mut c, &check_as(20, 1, cred, 21, syscall, key));
        }
        c.attribute_overridden_credentials();
        let during = &c.observations.capabilities["CAP_SYS_ADMIN"].during;
        assert_eq!(during.get("unlink"), Some(&1), "{during:?}");
        assert_eq!(during[OVERRIDDEN_CREDENTIALS], 3, "{during:?}");
    }

    #[test]
    fn a_stack_growing_page_fault_tells_the_threads_own_credentials() {
        // A stretch whose only accounting check is a page fault (its mmap's key was sent in
        // an earlier stretch): the fault's check, in user mode, is with its own (0xb).
        const NEWFSTATAT: u32 = 262;
        let mut c = Collector::new(Arch::X86_64);
        let fault = root_check(10, 0xb, 21, learner_common::IN_PAGE_FAULT, 1);
        for ev in [fault, root_check(10, 0xf, 21, NEWFSTATAT, 2)] {
            handle_event(&mut c, &ev);
        }
        c.attribute_overridden_credentials();
        let during = &c.observations.capabilities["CAP_SYS_ADMIN"].during;
        assert!(!during.contains_key("newfstatat"), "{during:?}");
        assert_eq!(during[OVERRIDDEN_CREDENTIALS], 1, "{during:?}");
    }

    #[test]
    fn a_thread_switching_its_own_ids_keeps_its_checks() {
        // logrotate's `su` directive: seteuid away and back, each a new struct, the second
        // at the first's freed address; its CAP_SETUID check is its own.
        let mut c = Collector::new(Arch::X86_64);
        let mut setuid = capability_event(0, Some(0), 0xb, 1);
        setuid.cap = 7;
        setuid.syscall = 117; // setresuid
        handle_event(&mut c, &setuid);
        handle_event(&mut c, &capability_event(995, Some(995), 0xc, 2));
        handle_event(&mut c, &capability_event(0, Some(0), 0xb, 3));
        assert_eq!(c.attribute_overridden_credentials(), 0);
        assert!(
            c.observations.capabilities["CAP_SETUID"]
                .during
                .contains_key("setresuid")
        );
    }

    /// A root process's capability check: `tgid`, its credentials' address, the capability,
    /// the syscall (x86_64 number), the deduplication key.
    fn root_check(tgid: u32, cred: u64, cap: u32, syscall: u32, key: u64) -> CapabilityEvent {
        check_as(tgid, 0, cred, cap, syscall, key)
    }

    /// A capability check made with root's credentials at `cred` by process `tgid`, whose own
    /// uid is `own_uid` (another than 0: the credentials are seen overriding its own).
    fn check_as(
        tgid: u32,
        own_uid: u32,
        cred: u64,
        cap: u32,
        syscall: u32,
        key: u64,
    ) -> CapabilityEvent {
        let mut ev = capability_event(0, Some(own_uid), cred, key);
        ev.pid = tgid;
        ev.tgid = tgid;
        ev.cap = cap;
        ev.syscall = syscall;
        ev
    }

    #[test]
    fn a_mounters_credentials_in_two_short_lived_processes_are_not_their_needs() {
        // mosquitto's ExecStartPre mkdir and chown, one after the other (never alive at
        // once): each its own credentials (seen in mmap's accounting), and overlayfs's copy of
        // its mounter's (0xf) copying /var/log/mosquitto up.
        const MMAP: u32 = 9;
        const FCHOWNAT: u32 = 260;
        const MKDIR: u32 = 83;
        let mut c = Collector::new(Arch::X86_64);
        for ev in [
            root_check(10, 0xa, 21, MMAP, 1),
            root_check(10, 0xf, 21, MKDIR, 2),
            root_check(20, 0xb, 21, MMAP, 3),
            root_check(20, 0xb, 0, FCHOWNAT, 4),
            root_check(20, 0xf, 1, FCHOWNAT, 5),
            root_check(20, 0xf, 3, FCHOWNAT, 6),
        ] {
            handle_event(&mut c, &ev);
        }
        assert_eq!(c.attribute_overridden_credentials(), 3);
        let caps = &c.observations.capabilities;
        // chown's own CAP_CHOWN stays; the copy-up's checks are the mounter's.
        assert_eq!(caps["CAP_CHOWN"].during["fchownat"], 1);
        assert!(!caps["CAP_DAC_OVERRIDE"].during.contains_key("fchownat"));
        assert!(!caps["CAP_FOWNER"].during.contains_key("fchownat"));
        assert!(!caps["CAP_SYS_ADMIN"].during.contains_key("mkdir"));
    }

    #[test]
    fn a_check_with_the_threads_own_credentials_stays_whatever_its_address_was_before() {
        // 0xc was overlayfs's short-lived copy in process 10 (a check under another uid), then
        // freed, and came back as process 30's own: its CAP_NET_BIND_SERVICE is its need.
        const MMAP: u32 = 9;
        const BIND: u32 = 49;
        let mut c = Collector::new(Arch::X86_64);
        handle_event(&mut c, &check_as(10, 995, 0xc, 21, 83, 1));
        for ev in [
            root_check(30, 0xc, 21, MMAP, 2),
            root_check(30, 0xc, 10, BIND, 3),
        ] {
            handle_event(&mut c, &ev);
        }
        c.attribute_overridden_credentials();
        assert_eq!(
            c.observations.capabilities["CAP_NET_BIND_SERVICE"].during["bind"],
            1
        );
    }

    #[test]
    fn credentials_two_processes_use_in_turn_are_lent() {
        let mut c = Collector::new(Arch::X86_64);
        // Process 10 and process 20 each have their own (0xa, 0xb); overlayfs's copy of its
        // mounter's (0xf) comes to 10, then 20, then 10 again: alive in both, no one's own.
        for (tgid, cred, key) in [
            (10, 0xf, 1),
            (20, 0xb, 2),
            (20, 0xf, 3),
            (10, 0xa, 4),
            (10, 0xf, 5),
        ] {
            let mut ev = capability_event(0, Some(0), cred, key);
            ev.pid = tgid;
            ev.tgid = tgid;
            ev.cap = 21 + (key as u32 % 3);
            handle_event(&mut c, &ev);
        }
        // A freed struct's address that comes back as a later process's own: one turn
        // each, not lent.
        for (tgid, key) in [(30, 6), (40, 7)] {
            let mut ev = capability_event(0, Some(0), 0xc, key);
            ev.pid = tgid;
            ev.tgid = tgid;
            handle_event(&mut c, &ev);
        }
        assert_eq!(c.attribute_overridden_credentials(), 3);
        // Without the third turn, nothing tells 0xf apart.
        let order = [(10, 10, 0xf), (20, 20, 0xf), (20, 20, 0xb)];
        assert!(shared_between_processes(&order, &Default::default()).is_empty());
        // Nor for a process that switched its own ids.
        let order = [(10, 10, 0xf), (20, 20, 0xf), (10, 10, 0xf)];
        assert!(shared_between_processes(&order, &[10].into()).is_empty());
        assert_eq!(
            shared_between_processes(&order, &Default::default()),
            [0xf].into()
        );
    }

    #[test]
    fn credentials_lent_between_a_processs_own_checks_are_overridden() {
        let mut c = Collector::new(Arch::X86_64);
        // Its own (0xb) around two copies lent by overlayfs for one create each (0xc, 0xd).
        for (cred, key) in [(0xb, 1), (0xc, 2), (0xb, 3), (0xd, 4), (0xb, 5)] {
            let mut ev = capability_event(0, Some(0), cred, key);
            ev.cap = 21 + (key as u32 % 2);
            handle_event(&mut c, &ev);
        }
        // After its last own check, a new one for good (an exec): not lent.
        handle_event(&mut c, &capability_event(0, Some(0), 0xe, 6));
        assert_eq!(c.attribute_overridden_credentials(), 2);
        let caps = &c.observations.capabilities;
        let overridden: u64 = caps
            .values()
            .filter_map(|k| k.during.get(OVERRIDDEN_CREDENTIALS))
            .sum();
        assert_eq!(overridden, 2, "{caps:?}");
    }

    fn blamed_on(uid: u32, own_uid: Option<u32>) -> Vec<String> {
        // No such process (see capability_event): /proc cannot help.
        let mut ev = capability_event(uid, own_uid, 0, 0);
        ev.syscall = 257; // openat
        ev.comm = *b"redis-server\0\0\0\0";
        let mut c = Collector::new(Arch::X86_64);
        handle_event(&mut c, &ev);
        c.observations.capabilities["CAP_SYS_ADMIN"]
            .during
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn checks_with_overridden_credentials_are_told_apart_after_the_process_is_gone() {
        // overlayfs copying up with its mounter's (root's) credentials for uid 100.
        assert_eq!(blamed_on(0, Some(100)), [OVERRIDDEN_CREDENTIALS]);
        assert_eq!(blamed_on(100, Some(100)), ["openat"]);
        // Unknown at entry and gone from /proc: the syscall is all there is.
        assert_eq!(blamed_on(0, None), ["openat"]);
    }

    #[test]
    fn service_manager_names() {
        assert!(is_service_manager("(nginx)"));
        assert!(is_service_manager("(p-daemon)"));
        assert!(is_service_manager("systemd-executo"));
        // systemd 257's executor, spawned as /proc/self/fd/16.
        assert!(is_service_manager("16"));
        assert!(is_service_manager("7"));
        assert!(!is_service_manager("1234"));
        assert!(!is_service_manager("16a"));
        assert!(!is_service_manager(""));
        assert!(!is_service_manager("nginx"));
        assert!(!is_service_manager("(sd-pam"));
    }

    #[test]
    fn normalizes_paths_and_proc() {
        let n = |p: &str| normalize(Path::new(p), 100, 101);
        assert_eq!(
            n("/var//log/./nginx/../nginx/error.log"),
            "/var/log/nginx/error.log"
        );
        assert_eq!(n("/proc/100/status"), "/proc/self/status");
        assert_eq!(n("/proc/101/stat"), "/proc/self/stat");
        assert_eq!(n("/proc/thread-self/attr"), "/proc/self/attr");
        assert_eq!(n("/proc/1/cmdline"), "/proc/[pid]/cmdline");
        assert_eq!(n("/proc/meminfo"), "/proc/meminfo");
        assert_eq!(n("/"), "/");
    }

    #[test]
    fn open_flags() {
        let accesses = |flags| open_accesses(flags).collect::<Vec<_>>();
        assert_eq!(accesses(0), [Access::Read]);
        assert_eq!(
            accesses(0o1 | O_CREAT | O_TRUNC),
            [Access::Write, Access::Create, Access::Truncate]
        );
        assert_eq!(accesses(0o2), [Access::Read, Access::Write]);
        assert_eq!(accesses(O_PATH | 0o2), [Access::Read]);
    }

    #[test]
    fn sockaddrs() {
        let mut inet = vec![2u8, 0, 0, 80, 127, 0, 0, 1];
        inet.extend([0; 8]);
        assert_eq!(describe_sockaddr(&inet).unwrap().0, "AF_INET 127.0.0.1:80");
        let mut unix = vec![1u8, 0];
        unix.extend(b"/run/x.sock\0");
        assert_eq!(
            describe_sockaddr(&unix).unwrap(),
            ("AF_UNIX /run/x.sock".into(), Some("/run/x.sock".into()))
        );
        assert_eq!(
            peer_host("AF_INET 127.0.0.1:0").as_deref(),
            Some("AF_INET 127.0.0.1")
        );
        assert_eq!(
            peer_host("AF_INET6 [::ffff:10.0.0.1]:0").as_deref(),
            Some("AF_INET6 ::ffff:10.0.0.1")
        );
        assert_eq!(peer_host("AF_UNIX (unnamed)"), None);
        let abstract_ = [1u8, 0, 0, b'a', b'b'];
        assert_eq!(
            describe_sockaddr(&abstract_).unwrap(),
            ("AF_UNIX @ab".into(), None)
        );
    }

    /// `name`(args) by `comm`, returning `ret`, with `path` as its first string, as the kernel
    /// side sends it.
    fn event(name: &str, args: [u64; 6], path: &str, ret: i64, comm: &str) -> Vec<u8> {
        // SAFETY: plain data; all zeroes is a valid event.
        let mut ev: SyscallEvent = unsafe { std::mem::zeroed() };
        ev.tag = EventTag::Syscall as u32;
        ev.nr = Arch::X86_64.syscall_number(name).expect("x86_64 syscall");
        ev.pid = 1;
        ev.tgid = 1;
        ev.ret = ret;
        ev.args = args;
        ev.strings[0][..path.len()].copy_from_slice(path.as_bytes());
        ev.string_len[0] = path.len() as u32 + 1;
        ev.comm[..comm.len()].copy_from_slice(comm.as_bytes());
        // SAFETY: reading the plain data as bytes.
        unsafe {
            std::slice::from_raw_parts(
                (&ev as *const SyscallEvent).cast::<u8>(),
                size_of::<SyscallEvent>(),
            )
        }
        .to_vec()
    }

    /// `event` with the kernel side's bases, key and the base the call made.
    fn based(
        name: &str,
        args: [u64; 6],
        path: &str,
        ret: i64,
        (b, made, key): (u64, u64, u64),
    ) -> Vec<u8> {
        let mut bytes = event(name, args, path, ret, "sh");
        // SAFETY: as in `event`; the buffer holds one whole event.
        let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
        ev.base[0] = b;
        ev.made = made;
        ev.key = key;
        ev.tgid = 4_000_000;
        bytes
    }

    /// A capset() event of `comm` with `uid` (real and effective) leaving `permitted`.
    fn capset(comm: &str, uid: u64, permitted: u64, ret: i64) -> Vec<u8> {
        let mut bytes = event("capset", [0; 6], "", ret, comm);
        // SAFETY: as in `event`; the buffer holds one whole event.
        let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
        ev.string_len[0] = 0;
        ev.uid_gid = uid | (uid << 32);
        ev.extra = [permitted, 0x2008_0522];
        bytes
    }

    fn kept(c: &Collector) -> Vec<&str> {
        c.observations
            .capabilities
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn capabilities_kept_by_capset_are_needs_before_and_after_dropping_root() {
        // dnsmasq: as root it keeps CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID (a bounding set
        // without one of them fails that capset); after setuid(999) it sets its permitted set
        // to CAP_NET_ADMIN and CAP_NET_RAW, and checks it holds them, with no capability check
        // the tracepoint would see.
        let net = (1 << 12) | (1 << 13);
        let mut c = Collector::new(Arch::X86_64);
        c.handle(&capset("dnsmasq", 0, net | (1 << 7), 0));
        assert_eq!(kept(&c), ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETUID"]);
        c.handle(&capset("dnsmasq", 999, net | (1 << 34), 0));
        // A refused capset kept nothing.
        c.handle(&capset("dnsmasq", 999, 1 << 21, -1));
        // setpriv --reuid writing back root's whole set after the switch chose nothing (here
        // less CAP_SYS_MODULE and CAP_SYS_TIME, which a bounding set took).
        c.handle(&capset(
            "setpriv",
            999,
            (1u64 << 41) - 1 - (1 << 16) - (1 << 25),
            0,
        ));
        assert_eq!(
            kept(&c),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETUID", "CAP_SYSLOG"]
        );
        let admin = &c.observations.capabilities["CAP_NET_ADMIN"];
        assert_eq!(admin.granted.as_ref().map(|g| g.count), Some(2));
        assert_eq!(
            admin.during.keys().collect::<Vec<_>>(),
            [KEPT_BY_ROOT_CAPSET, KEPT_BY_CAPSET]
        );
        assert!(!crate::policy::is_capability_noise(
            "CAP_NET_ADMIN",
            admin,
            &c.observations
        ));
    }

    #[test]
    fn mounts_in_the_host_s_namespace_are_recorded_and_others_are_not() {
        let me = std::process::id();
        // No process has this pid (above the kernel's pid_max).
        let gone = 5_000_000;
        let call = |pid: u32, name: &str, flags: u64, source: &str, ret: i64| {
            let mut bytes = event(name, [flags, 0, 0, flags, 0, 0], source, ret, "dockerd");
            // SAFETY: as in `event`; the buffer holds one whole event.
            let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
            ev.pid = pid;
            ev.tgid = pid;
            bytes
        };
        let mounts = |c: &Collector| -> Vec<String> {
            let f = c.observations.facts.host_mounts.as_ref().expect("recorded");
            f.keys().cloned().collect()
        };
        let mut c = Collector::new(Arch::X86_64);
        c.set_host_manager(me);
        // A remount, a propagation change (MS_PRIVATE|MS_REC), a failed mount: nothing new.
        c.handle(&call(me, "mount", 32, "none", 0));
        c.handle(&call(me, "mount", (1 << 18) | (1 << 14), "none", 0));
        c.handle(&call(me, "mount", 0, "overlay", -1));
        assert_eq!(mounts(&c), Vec::<String>::new());
        c.handle(&call(me, "mount", 0, "overlay", 0));
        c.handle(&call(me, "mount", MS_BIND, "/var/lib/x", 0));
        // Gone before any process made a mount namespace: in the one the service started in.
        c.handle(&call(gone, "mount", 0, "tmpfs", 0));
        assert_eq!(
            mounts(&c),
            ["bind mount", "mount of overlay", "mount of tmpfs"]
        );
        // Once one made a namespace, a gone process's mount may be in it: missed, said.
        c.handle(&call(me, "unshare", 0x20000, "", 0));
        c.handle(&call(gone, "mount", 0, "proc", 0));
        assert!(!mounts(&c).contains(&"mount of proc".to_owned()));
        assert!(
            c.missed
                .keys()
                .any(|k| k.contains("mount namespace unreadable")),
            "{:?}",
            c.missed
        );
        // A process in another namespace than the host's (here: the host's is another one).
        c.host_mount_namespace = Some("mnt:[1]".into());
        c.handle(&call(me, "mount", 0, "sysfs", 0));
        assert!(!mounts(&c).contains(&"mount of sysfs".to_owned()));
    }

    #[test]
    fn systemd_s_executor_setting_up_a_units_namespace_mounts_nothing_for_the_host() {
        let gone = 5_000_000;
        let call = |comm: &str, name: &str, flags: u64, source: &str| {
            let mut bytes = event(name, [flags, 0, 0, flags, 0, 0], source, 0, comm);
            // SAFETY: as in `event`; the buffer holds one whole event.
            let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
            ev.pid = gone;
            ev.tgid = gone;
            bytes
        };
        let mut c = Collector::new(Arch::X86_64);
        // man-db's oneshot: the executor makes the unit's namespace (PrivateTmp's tmpfs), then
        // becomes `install`, gone at once; its own mount, also gone by then.
        c.handle(&call("(install)", "unshare", 0x20000, ""));
        c.handle(&call("(install)", "mount", 0, "tmpfs"));
        c.handle(&call("install", "mount", MS_BIND, "/var/cache/man"));
        let f = c.observations.facts.host_mounts.as_ref().expect("recorded");
        assert!(f.is_empty(), "{f:?}");
        assert!(c.missed.is_empty(), "{:?}", c.missed);
    }

    #[test]
    fn root_reaching_another_process_s_ptrace_checked_proc_entries_keeps_cap_sys_ptrace() {
        let opened = |path: &str, uid: u64, ret: i64| {
            let cwd = -100i64 as u64;
            let mut bytes = event("openat", [cwd, 0, 0, 0, 0, 0], path, ret, "dockerd");
            // SAFETY: as in `event`; the buffer holds one whole event.
            let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
            ev.uid_gid = uid | (uid << 32);
            bytes
        };
        let ptrace = |c: &Collector| {
            c.observations
                .capabilities
                .get("CAP_SYS_PTRACE")
                .and_then(|checks| checks.granted_during.get(PTRACE_ACCESS).copied())
        };
        let mut c = Collector::new(Arch::X86_64);
        // Not checked against the target's capabilities: its command line, status; its own
        // /proc entries; a refused open; a non-root process (the drop-in changes nothing of
        // what it holds).
        c.handle(&opened("/proc/1234/cmdline", 0, 3));
        c.handle(&opened("/proc/1234/status", 0, 3));
        c.handle(&opened("/proc/1/ns/net", 0, 3));
        c.handle(&opened("/proc/1234/ns/net", 0, -13));
        c.handle(&opened("/proc/1234/environ", 1000, 3));
        assert_eq!(ptrace(&c), None, "{:?}", c.observations.capabilities);
        // A mount whose source is a name, not a path.
        let mount = |source: &str, flags: u64| {
            let mut bytes = event("mount", [0, 0, 0, flags, 0, 0], source, 0, "dockerd");
            // SAFETY: as in `event`; the buffer holds one whole event.
            let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
            ev.uid_gid = 0;
            bytes
        };
        c.handle(&mount("tmpfs", 0));
        c.handle(&mount("/proc/1234/ns/net", 0));
        assert_eq!(ptrace(&c), None, "{:?}", c.observations.capabilities);
        assert!(!c.observations.paths.keys().any(|p| p.contains("tmpfs")));
        // dockerd opening a container's network namespace, and binding it (libnetwork's
        // sandbox); a thread's fd.
        c.handle(&opened("/proc/1234/ns/net", 0, 3));
        c.handle(&mount("/proc/1234/ns/net", MS_BIND));
        c.handle(&opened("/proc/1234/task/1240/fd/3", 0, 4));
        assert_eq!(ptrace(&c), Some(3));
        let checks = &c.observations.capabilities["CAP_SYS_PTRACE"];
        assert!(!crate::policy::grants_are_noise(
            "CAP_SYS_PTRACE",
            checks,
            &c.observations
        ));
    }

    #[test]
    fn a_set_root_hands_on_with_capset_is_needed_and_its_own_set_written_back_is_not() {
        let mut c = Collector::new(Arch::X86_64);
        // A root process writing back what capget gave it (everything, or all but what the
        // recording unit's bounding set took) chose nothing.
        c.handle(&capset("sudo", 0, (1u64 << 41) - 1, 0));
        c.handle(&capset("sudo", 0, (1u64 << 41) - 1 - (1 << 21), 0));
        assert!(kept(&c).is_empty());
        // runc, as root, giving a container containerd's default set: the drop-in's bounding
        // set must hold all of it, or every container fails to start ("unable to apply caps:
        // operation not permitted"), though no check of the container's ever used most.
        let default: [u32; 14] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
        let set = default.iter().fold(0u64, |s, bit| s | (1 << bit));
        c.handle(&capset("runc:[2:INIT]", 0, set, 0));
        let expected: Vec<String> = default.iter().map(|&b| names::capability(b)).collect();
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.sort();
        assert_eq!(kept(&c), expected);
        let chown = &c.observations.capabilities["CAP_CHOWN"];
        assert_eq!(
            chown.granted_during.keys().collect::<Vec<_>>(),
            [KEPT_BY_ROOT_CAPSET]
        );
        assert!(!crate::policy::grants_are_noise(
            "CAP_CHOWN",
            chown,
            &c.observations
        ));
    }

    #[test]
    fn relative_paths_resolve_against_what_the_kernel_named_after_the_process_is_gone() {
        let mut c = Collector::new(Arch::X86_64);
        let cwd = -100i64 as u64;
        let creat = 0o1 | O_CREAT | O_TRUNC;
        // chdir to an absolute path makes content base 11; a relative chdir from there, 12.
        c.handle(&based("chdir", [0; 6], "/var/spool/x", 0, (0, 11, 1)));
        c.handle(&based("chdir", [0; 6], "../y", 0, (11, 12, 2)));
        c.handle(&based(
            "openat",
            [cwd, 0, creat, 0o600, 0, 0],
            "f",
            3,
            (12, 13, 3),
        ));
        // A directory opened (O_DIRECTORY) is a base for good; a file's fd for fchmod.
        c.handle(&based(
            "openat",
            [cwd, 0, 0o200000, 0, 0, 0],
            "/srv/d",
            4,
            (0, 21, 4),
        ));
        c.handle(&based(
            "mkdirat",
            [4, 0, 0o700, 0, 0, 0],
            "new",
            0,
            (21, 0, 5),
        ));
        c.handle(&based("fchmod", [3, 0o640, 0, 0, 0, 0], "", 0, (13, 0, 6)));
        let paths: Vec<&str> = c.observations.paths.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "/srv/d",
                "/srv/d/new",
                "/var/spool/x",
                "/var/spool/y",
                "/var/spool/y/f"
            ]
        );
        assert!(c.observations.paths["/var/spool/y/f"].contains_key(&Access::Attr));
        assert!(c.missed.is_empty(), "{:?}", c.missed);

        // The origin of a process that is gone and was never noted, and an fd it had before
        // the recording: counted, with their copies the kernel counted.
        c.handle(&based(
            "openat",
            [cwd, 0, creat, 0, 0, 0],
            "g",
            5,
            (base::origin(4_000_000), 0, 7),
        ));
        let fd = base::unknown_fd(4_000_000, 9);
        c.handle(&based("unlinkat", [9, 0, 0, 0, 0, 0], "h", 0, (fd, 0, 8)));
        let lost = c.add_repeats(&[(7, 2), (8, 0)].into());
        assert_eq!(lost, 0);
        assert_eq!(
            c.missed,
            [
                ("openat: relative path not resolved".to_owned(), 3),
                ("unlinkat: relative path not resolved".to_owned(), 1)
            ]
            .into()
        );
        // Noted origins resolve.
        c.set_origin(4_000_000, Path::new("/opt/app"));
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "conf",
            6,
            (base::origin(4_000_000), 0, 9),
        ));
        assert!(c.observations.paths.contains_key("/opt/app/conf"));
    }

    #[test]
    fn calls_through_the_mount_apis_fds_resolve_or_name_no_path() {
        // runc's private /proc: open_tree(-EBADF, "/proc", OPEN_TREE_CLONE) gives fd 7
        // (content base 31), and openat2 looks up below it; a procfs of fsmount's, fd 8, is
        // attached nowhere, which the kernel side gives as NO_PATH.
        let mut c = Collector::new(Arch::X86_64);
        let clone = 1; // OPEN_TREE_CLONE
        c.handle(&based(
            "open_tree",
            [-9i64 as u64, 0, clone, 0, 0, 0],
            "/proc",
            7,
            (0, 31, 1),
        ));
        c.handle(&based(
            "openat2",
            [7, 0, 0, 24, 0, 0],
            "thread-self/fd/9",
            9,
            (31, 0, 2),
        ));
        c.handle(&based(
            "openat2",
            [8, 0, 0, 24, 0, 0],
            "self/status",
            10,
            (base::NO_PATH, 0, 3),
        ));
        c.handle(&based(
            "fchown",
            [8, 0, 0, 0, 0, 0],
            "",
            0,
            (base::NO_PATH, 0, 4),
        ));
        let paths: Vec<&str> = c.observations.paths.keys().map(String::as_str).collect();
        assert_eq!(paths, ["/proc", "/proc/self/fd/9"]);
        assert!(c.missed.is_empty(), "{:?}", c.missed);
    }

    #[test]
    fn an_fd_a_running_process_had_resolves_after_it_is_gone() {
        // varnishd, found running by `record --restart`, removes its shared-memory files
        // through the directory fd it opened before the recording as it stops: by the time
        // the event is read, /proc no longer has the process. Here a `sleep` whose stdin is
        // a directory, killed once noted.
        let mut c = Collector::new(Arch::X86_64);
        let dir = std::env::temp_dir().join(format!("learner-found-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let opened = std::fs::File::open(&dir).expect("open the directory");
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .stdin(opened)
            .spawn()
            .expect("sleep");
        let pid = child.id();
        c.note_running(pid);
        child.kill().expect("kill");
        child.wait().expect("wait");
        std::fs::remove_dir(&dir).expect("rmdir");
        let mut bytes = based("unlinkat", [0; 6], "_.index", 0, (0, 0, 1));
        // SAFETY: as in `event`; the buffer holds one whole event.
        let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
        (ev.tgid, ev.pid, ev.base[0]) = (pid, pid, base::unknown_fd(pid, 0));
        c.handle(&bytes);
        let want = format!("{}/_.index", dir.display());
        assert!(
            c.observations
                .paths
                .get(&want)
                .is_some_and(|a| a.contains_key(&Access::Delete)),
            "{want} not recorded: {:?}",
            c.observations.paths.keys().collect::<Vec<_>>()
        );
        assert!(c.missed.is_empty(), "{:?}", c.missed);
    }

    #[test]
    fn counts_that_come_before_their_event_wait_for_it() {
        let mut c = Collector::new(Arch::X86_64);
        let cwd = -100i64 as u64;
        // A burst not all read when the kernel's counts were taken.
        c.set_events_pending(true);
        assert_eq!(c.add_repeats(&[(5, 3), (6, 1)].into()), 0);
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/etc/x",
            3,
            (0, 0, 5),
        ));
        assert_eq!(c.observations.paths["/etc/x"][&Access::Read].count, 4);
        // Everything read: a count without its event is lost, with its first.
        c.set_events_pending(false);
        assert_eq!(c.add_repeats(&[(7, 2)].into()), 3);
        assert_eq!(c.unmatched_counts(), 2);
        assert_eq!(c.unmatched_counts(), 0);
    }

    #[test]
    fn a_chrooted_process_paths_are_below_its_root() {
        let mut c = Collector::new(Arch::X86_64);
        let cwd = -100i64 as u64;
        // postfix's smtpd: chroot to the queue, chdir("/") there (the kernel side bases both
        // the absolute "/" and later absolute paths on the root it made, 31).
        c.handle(&based(
            "chroot",
            [0; 6],
            "/var/spool/postfix",
            0,
            (0, 31, 1),
        ));
        c.handle(&based("chdir", [0; 6], "/", 0, (31, 32, 2)));
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/etc/localtime",
            3,
            (31, 0, 3),
        ));
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/../etc/hosts",
            3,
            (31, 0, 4),
        ));
        c.handle(&based(
            "unlinkat",
            [cwd, 0, 0, 0, 0, 0],
            "defer/0/A1",
            0,
            (32, 0, 5),
        ));
        // Outside any chroot an absolute path is what it says.
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/etc/passwd",
            3,
            (0, 0, 6),
        ));
        let paths: Vec<&str> = c.observations.paths.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "/etc/passwd",
                "/var/spool/postfix",
                "/var/spool/postfix/defer/0/A1",
                "/var/spool/postfix/etc/hosts",
                "/var/spool/postfix/etc/localtime",
            ]
        );
        assert!(c.missed.is_empty(), "{:?}", c.missed);
        // A root the recording never learned: counted, not taken for the real root.
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/etc/x",
            3,
            (77, 0, 7),
        ));
        assert!(!c.observations.paths.contains_key("/etc/x"));
        assert_eq!(
            c.missed,
            [("openat: path in a chroot not resolved".to_owned(), 1)].into()
        );
    }

    #[test]
    fn the_service_managers_chroot_into_the_units_namespace_keeps_paths_as_they_are() {
        let mut c = Collector::new(Arch::X86_64);
        let cwd = -100i64 as u64;
        // systemd 252's executor for a unit with PrivateTmp=: chdir to the staged root, move
        // it onto /, chroot("."), chdir("/"); then the service opens by absolute path.
        let executor = |name: &str, args: [u64; 6], path: &str, bases: (u64, u64, u64)| {
            let mut bytes = based(name, args, path, 0, bases);
            // SAFETY: as in `based`.
            let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
            ev.comm = [0; 16];
            ev.comm[..9].copy_from_slice(b"(dovecot)");
            bytes
        };
        c.handle(&executor(
            "chdir",
            [0; 6],
            "/run/systemd/unit-root",
            (0, 41, 1),
        ));
        c.handle(&executor("chroot", [0; 6], ".", (41, 42, 2)));
        c.handle(&executor("chdir", [0; 6], "/", (42, 43, 3)));
        c.handle(&based(
            "openat",
            [cwd, 0, 0, 0, 0, 0],
            "/var/lib/dovecot/x",
            3,
            (42, 0, 4),
        ));
        c.handle(&based("openat", [cwd, 0, 0, 0, 0, 0], "y", 3, (43, 0, 5)));
        assert!(
            c.observations.paths.contains_key("/var/lib/dovecot/x"),
            "{:?}",
            c.observations.paths.keys()
        );
        assert!(c.observations.paths.contains_key("/y"));
        assert!(
            !c.observations
                .paths
                .keys()
                .any(|p| p.starts_with("/run/systemd/unit-root/")),
            "{:?}",
            c.observations.paths.keys()
        );
        assert!(c.missed.is_empty(), "{:?}", c.missed);
    }

    #[test]
    fn creation_modes_and_key_calls_are_facts() {
        let mut c = Collector::new(Arch::X86_64);
        let cwd = -100i64 as u64;
        c.handle(&event(
            "openat",
            [cwd, 0, 0o1 | O_CREAT, 0o644, 0, 0],
            "/run/svc.pid",
            3,
            "svc",
        ));
        c.handle(&event(
            "openat",
            [cwd, 0, 0o2 | O_TMPFILE_DIR | 0o200000, 0o600, 0, 0],
            "/var/lib/svc",
            4,
            "svc",
        ));
        c.handle(&event(
            "mkdirat",
            [cwd, 0, 0o700, 0, 0, 0],
            "/var/lib/svc/d",
            0,
            "svc",
        ));
        c.handle(&event(
            "mknodat",
            [cwd, 0, 0o10640, 0, 0, 0],
            "/run/fifo",
            0,
            "svc",
        ));
        // An open without O_CREAT creates nothing: its mode argument is garbage.
        c.handle(&event(
            "openat",
            [cwd, 0, 0, 0o777, 0, 0],
            "/etc/svc.conf",
            5,
            "svc",
        ));
        c.handle(&event("keyctl", [1, 0, 0, 0, 0, 0], "", 0, "svc"));
        // systemd's executor joining the session keyring is not the service.
        c.handle(&event("keyctl", [1, 0, 0, 0, 0, 0], "", 0, "(svc)"));
        c.handle(&event("add_key", [0; 6], "", 7, "(svc)"));
        // The O_TMPFILE open wrote into /var/lib/svc; it created nothing in /var/lib.
        let tmpfile_dir = &c.observations.paths["/var/lib/svc"];
        assert!(tmpfile_dir.get(&Access::Write).is_some_and(|s| s.ok == 1));
        assert!(tmpfile_dir.get(&Access::Create).is_none());
        let f = &c.observations.facts;
        let keys: Vec<&str> = f.created_modes.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "/run file 0644",
                "/run node 0640",
                "/var/lib/svc dir 0700",
                "/var/lib/svc tmpfile 0600"
            ]
        );
        let keys = f.key_management.as_ref().expect("recorded");
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["keyctl operation 1"]);
        assert_eq!(
            keys["keyctl operation 1"].by.iter().collect::<Vec<_>>(),
            ["svc"]
        );
    }

    #[test]
    fn a_file_systems_size_asked_by_path_reads_the_path() {
        // collectd's df plugin on a host's /home: hidden, it would report the node over it.
        let mut c = Collector::new(Arch::X86_64);
        c.handle(&event("statfs", [0; 6], "/home", 0, "collectd"));
        c.handle(&event("statfs", [0; 6], "/srv/data", 0, "collectd"));
        for path in ["/home", "/srv/data"] {
            let read = c.observations.paths[path].get(&Access::Read);
            assert!(read.is_some_and(|s| s.ok == 1), "{path}");
        }
    }

    #[test]
    fn a_path_only_looked_up_is_kept_in_view_and_not_written() {
        // A stat of a config in /srv, a readlink in /home, a watch on /tmp: hidden by
        // InaccessiblePaths=, ProtectHome= or PrivateTmp=, each would find ENOENT or EACCES.
        let mut c = Collector::new(Arch::X86_64);
        c.handle(&event(
            "newfstatat",
            [0, 0, 0, 0, 0, 0],
            "/srv/app/override.conf",
            0,
            "app",
        ));
        c.handle(&event(
            "statx",
            [0, 0, 0, 0, 0, 0],
            "/etc/app.conf",
            -2,
            "app",
        ));
        c.handle(&event("readlink", [0; 6], "/home/u/current", 0, "app"));
        c.handle(&event(
            "inotify_add_watch",
            [3, 0, 0, 0, 0, 0],
            "/tmp/spool",
            0,
            "app",
        ));
        for (path, ok) in [
            ("/srv/app/override.conf", 1),
            ("/etc/app.conf", 0),
            ("/home/u/current", 1),
            ("/tmp/spool", 1),
        ] {
            let accesses = &c.observations.paths[path];
            assert_eq!(
                accesses.keys().copied().collect::<Vec<_>>(),
                [Access::Lookup],
                "{path}"
            );
            assert_eq!(accesses[&Access::Lookup].ok, ok, "{path}");
            assert!(!Access::Lookup.writes());
        }
    }

    #[test]
    fn asking_whether_a_write_would_pass_is_a_write_when_the_answer_was_yes() {
        const W_OK_R_OK: u64 = 6;
        let mut c = Collector::new(Arch::X86_64);
        c.handle(&event(
            "access",
            [0, W_OK_R_OK, 0, 0, 0, 0],
            "/var/lib/app",
            0,
            "app",
        ));
        c.handle(&event(
            "faccessat2",
            [0, 0, 2, 0, 0, 0],
            "/var/cache/app",
            0,
            "app",
        ));
        // Refused on the host already: the sandbox changes nothing.
        c.handle(&event(
            "access",
            [0, 2, 0, 0, 0, 0],
            "/etc/shadow",
            -13,
            "app",
        ));
        // Only whether it is there.
        c.handle(&event("access", [0, 0, 0, 0, 0, 0], "/etc/app.d", 0, "app"));
        let kinds = |p: &str| c.observations.paths[p].keys().copied().collect::<Vec<_>>();
        assert_eq!(kinds("/var/lib/app"), [Access::Write]);
        assert_eq!(kinds("/var/cache/app"), [Access::Write]);
        assert_eq!(kinds("/etc/shadow"), [Access::Lookup]);
        assert_eq!(kinds("/etc/app.d"), [Access::Lookup]);
    }

    #[test]
    fn asking_whether_a_socket_or_device_is_writable_is_a_lookup() {
        // The kernel answers W_OK of a special file without the mount's read-only flag: a
        // read-only sandbox answers the same.
        let dir = std::env::temp_dir().join(format!("learner-special-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("notify");
        let _listener = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        let mut c = Collector::new(Arch::X86_64);
        for p in [sock.to_str().unwrap(), "/dev/null", file.to_str().unwrap()] {
            c.handle(&event("access", [0, 2, 0, 0, 0, 0], p, 0, "beam.smp"));
        }
        let kinds = |p: &str| c.observations.paths[p].keys().copied().collect::<Vec<_>>();
        assert_eq!(kinds(sock.to_str().unwrap()), [Access::Lookup]);
        assert_eq!(kinds("/dev/null"), [Access::Lookup]);
        assert_eq!(kinds(file.to_str().unwrap()), [Access::Write]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extended_attributes_set_need_a_writable_file_system() {
        let mut c = Collector::new(Arch::X86_64);
        c.handle(&event("setxattr", [0; 6], "/srv/share/doc", 0, "smbd"));
        c.handle(&event("lremovexattr", [0; 6], "/srv/share/old", 0, "smbd"));
        c.handle(&event("getxattr", [0; 6], "/srv/share/new", 0, "smbd"));
        let kinds = |p: &str| c.observations.paths[p].keys().copied().collect::<Vec<_>>();
        assert_eq!(kinds("/srv/share/doc"), [Access::Attr]);
        assert_eq!(kinds("/srv/share/old"), [Access::Attr]);
        assert_eq!(kinds("/srv/share/new"), [Access::Lookup]);
    }

    #[test]
    fn a_capability_attribute_that_grants_nothing_is_no_privilege() {
        // `setcap cap_net_raw-epi` (Debian's postinst answered "no"): v2, all words zero.
        let mut none = vec![0, 0, 0, 2];
        none.extend([0; 16]);
        assert!(!grants_capabilities(&none));
        // `setcap cap_net_raw=ep`: effective flag, permitted bit 13.
        let mut raw = vec![1, 0, 0, 2, 0, 0x20, 0, 0];
        raw.extend([0; 12]);
        assert!(grants_capabilities(&raw));
        // A v3 attribute's root uid alone grants nothing.
        let mut v3 = vec![0, 0, 0, 3];
        v3.extend([0; 16]);
        v3.extend([0xe8, 3, 0, 0]);
        assert!(!grants_capabilities(&v3));
    }

    #[test]
    fn an_fstat_through_an_empty_path_is_no_lookup_and_misses_nothing() {
        // postconf's fstat(0) as newfstatat(0, "", AT_EMPTY_PATH), its "" unread at entry, by
        // a process gone before /proc/PID/fd/0 could be read.
        let mut c = Collector::new(Arch::X86_64);
        let mut bytes = event("newfstatat", [0, 1, 2, 0x1000, 0, 0], "", 0, "postconf");
        // SAFETY: the bytes are a SyscallEvent.
        let ev = unsafe { &mut *(bytes.as_mut_ptr() as *mut SyscallEvent) };
        ev.base[0] = learner_common::base::unknown_fd(u32::MAX - 7, 0);
        ev.tgid = u32::MAX - 7;
        c.handle(&bytes);
        assert!(
            c.observations.paths.is_empty(),
            "{:?}",
            c.observations.paths
        );
        assert!(c.missed.is_empty(), "{:?}", c.missed);
    }
}
