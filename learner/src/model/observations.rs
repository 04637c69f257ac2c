//! What a recorded service did, beyond syscall counts: the paths it touched and how, the
//! sockets it opened, the capability checks it passed or failed, and the argument facts that
//! single directives depend on. Observations only; which directive values they permit is the
//! generator's business.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::Bound,
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

use crate::model::names;

/// The syscalls that load and unload kernel modules. A kernel built without module support
/// (no /proc/modules) does not implement them: they fail with ENOSYS, load nothing, and have no
/// tracepoints, so only their counts are recorded (`recording.module_support: false`).
pub const MODULE_SYSCALLS: [&str; 3] = ["init_module", "finit_module", "delete_module"];

/// How often something was seen, by which processes, and how it ended.
/// `during` of a capability check made while a page fault of the task was handled.
pub const IN_PAGE_FAULT_NAME: &str = "(page fault)";

/// `during` of a capability check made with credentials other than the process's own.
pub const OVERRIDDEN_CREDENTIALS: &str = "(overridden credentials)";

/// `during` of a capability a process that was not root kept in its permitted set with
/// capset(): held for later use, which no check shows until then (and a bounding set without
/// it makes the capset fail, or the program's own capget check).
pub const KEPT_BY_CAPSET: &str = "(kept by capset, not root)";

/// `during` of a capability a root process asked capset() to keep in its permitted set, a
/// set of its own choosing (runc handing a container its capabilities, named or dnsmasq
/// keeping a few before dropping root). A root process's permitted set is the bounding set:
/// without it in there, the capset fails (EPERM), whether or not a check ever shows it.
pub const KEPT_BY_ROOT_CAPSET: &str = "(kept by capset, as root)";

/// `during` of CAP_SYS_PTRACE kept for a root process's access to a ptrace-checked entry of
/// another process's `/proc/PID`: let in with no check while it held every capability, asked
/// for CAP_SYS_PTRACE once a bounding set leaves it fewer than its target holds.
pub const PTRACE_ACCESS: &str = "(another process's /proc entry, as root)";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub count: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed, by errno name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// Process names (comm) that did it.
    pub by: Comms,
}

/// Process names (comm), sorted and unique, each shared by every observation that names it.
/// A vector, not a set, and exactly as long as needed: an observation has one or two, and
/// 200k paths once took 400 MiB as sets of owned strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Vec<String>")]
pub struct Comms(Vec<Arc<str>>);

/// The one shared copy of `comm`: a service has a handful of process names, repeated in
/// every observation.
fn intern(comm: &str) -> Arc<str> {
    static NAMES: Mutex<BTreeSet<Arc<str>>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = names.get(comm) {
        return name.clone();
    }
    let name: Arc<str> = Arc::from(comm);
    names.insert(name.clone());
    name
}

impl Comms {
    pub fn insert(&mut self, comm: &str) {
        if let Err(at) = self.0.binary_search_by(|c| (**c).cmp(comm)) {
            self.0.reserve_exact(1);
            self.0.insert(at, intern(comm));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| &**c)
    }

    pub fn contains(&self, comm: &str) -> bool {
        self.0.binary_search_by(|c| (**c).cmp(comm)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, comma-separated, as evidence lists them.
    pub fn joined(&self) -> String {
        self.iter().collect::<Vec<_>>().join(",")
    }
}

impl From<Vec<String>> for Comms {
    fn from(v: Vec<String>) -> Self {
        let mut comms = Self::default();
        comms.extend(v);
        comms
    }
}

impl<const N: usize> From<[String; N]> for Comms {
    fn from(a: [String; N]) -> Self {
        Vec::from(a).into()
    }
}

impl Extend<String> for Comms {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for comm in iter {
            self.insert(&comm);
        }
    }
}

impl<'a> Extend<&'a str> for Comms {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, iter: I) {
        for comm in iter {
            self.insert(comm);
        }
    }
}

impl Serialize for Comms {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// The kinds of access to one path, each with what was seen, in [`Access`] order. A vector
/// for the same reason as [`Comms`]; it reads and writes as a map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "BTreeMap<Access, Seen>")]
pub struct Accesses(Vec<(Access, Seen)>);

impl Accesses {
    /// Adds everything `other` saw.
    pub fn merge(&mut self, other: &Accesses) {
        for (access, seen) in other {
            self.entry_or_default(*access).merge(seen);
        }
    }

    pub fn get(&self, access: &Access) -> Option<&Seen> {
        self.0.iter().find(|(a, _)| a == access).map(|(_, s)| s)
    }

    pub fn contains_key(&self, access: &Access) -> bool {
        self.get(access).is_some()
    }

    /// The entry for `access`, created empty when missing.
    pub fn entry_or_default(&mut self, access: Access) -> &mut Seen {
        let at = match self.0.binary_search_by(|(a, _)| a.cmp(&access)) {
            Ok(at) => at,
            Err(at) => {
                self.0.reserve_exact(1);
                self.0.insert(at, (access, Seen::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Access, &Seen)> {
        self.0.iter().map(|(a, s)| (a, s))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Access> {
        self.0.iter().map(|(a, _)| a)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<Access, Seen>> for Accesses {
    fn from(m: BTreeMap<Access, Seen>) -> Self {
        Self(m.into_iter().collect())
    }
}

impl std::ops::Index<&Access> for Accesses {
    type Output = Seen;

    fn index(&self, access: &Access) -> &Seen {
        self.get(access).expect("no such access")
    }
}

impl<'a> IntoIterator for &'a Accesses {
    type Item = (&'a Access, &'a Seen);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Access, Seen)>,
        fn(&'a (Access, Seen)) -> (&'a Access, &'a Seen),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(a, s)| (a, s))
    }
}

impl Serialize for Accesses {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(a, s)| (a, s)))
    }
}

impl Seen {
    pub fn add(&mut self, ret: i64, comm: &str, n: u64) {
        self.count += n;
        if ret < 0 {
            *self.errors.entry(names::errno(ret)).or_default() += n;
        } else {
            self.ok += n;
        }
        self.by.insert(comm);
    }

    pub fn merge(&mut self, other: &Seen) {
        self.count += other.count;
        self.ok += other.ok;
        for (e, n) in &other.errors {
            *self.errors.entry(e.clone()).or_default() += n;
        }
        self.by.extend(other.by.iter());
    }
}

/// Kinds of access to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    /// Created, or opened with O_CREAT (may have created it).
    Create,
    Delete,
    /// Renamed from or to this path.
    Rename,
    /// chmod, chown, utimes.
    Attr,
    Truncate,
    /// A hard or symbolic link created at this path.
    Link,
    Mknod,
    Exec,
    /// bind() of a unix socket at this path.
    Bind,
    /// connect() to a unix socket at this path.
    Connect,
    /// Looked up without reading or writing it: stat, access, readlink, getxattr, an inotify
    /// watch. The path must stay in view (InaccessiblePaths=, ProtectHome=, PrivateTmp=), but
    /// no device is opened and nothing is written.
    Lookup,
}

impl Access {
    /// The access's name as profiles spell it (`read`, `create`, ...).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether the access needs the path's file system to be writable.
    pub fn writes(self) -> bool {
        !matches!(self, Self::Read | Self::Exec | Self::Connect | Self::Lookup)
    }
}

/// One capability as the service's checks met it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityChecks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<Seen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<Seen>,
    /// The syscall in progress at each check ("?" when unknown), so that known noise (e.g.
    /// CAP_SYS_ADMIN checked while mmap accounts memory) can be told from a need.
    pub during: BTreeMap<String, u64>,
    /// `during` of the granted checks alone: what was granted only as noise (overlayfs acting
    /// with its mounter's credentials) is then told apart from denials made during a real
    /// operation. Empty in profiles of older learners, where `during` stands for both.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub granted_during: BTreeMap<String, u64>,
}

/// Argument facts, each a map from what exactly was seen to how often.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding PROT_EXEC, shmat with
    /// SHM_EXEC (MemoryDenyWriteExecute).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write_execute_memory: BTreeMap<String, Seen>,
    /// Namespace types created or joined: `net via unshare` (RestrictNamespaces).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, Seen>,
    /// personality() calls by persona value (LockPersonality).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub personality: BTreeMap<String, Seen>,
    /// Scheduling policies set: `SCHED_FIFO via sched_setscheduler` (RestrictRealtime).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scheduling: BTreeMap<String, Seen>,
    /// Files given S_ISUID/S_ISGID modes (RestrictSUIDSGID).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suid_sgid_modes: BTreeMap<String, Seen>,
    /// Execs of set-uid/set-gid files or files with capabilities (NoNewPrivileges).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub privileged_execs: BTreeMap<String, Seen>,
    /// sethostname/setdomainname (ProtectHostname).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hostname_changes: BTreeMap<String, Seen>,
    /// clock_settime, clock_adjtime, adjtimex, settimeofday (ProtectClock).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clock_changes: BTreeMap<String, Seen>,
    /// init_module, finit_module, delete_module (ProtectKernelModules); see [`MODULE_SYSCALLS`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub module_loading: BTreeMap<String, Seen>,
    /// syslog() by action, /dev/kmsg, /proc/kmsg (ProtectKernelLogs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel_logs: BTreeMap<String, Seen>,
    /// Writes under /proc/sys, /sys and other kernel tunables (ProtectKernelTunables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel_tunable_writes: BTreeMap<String, Seen>,
    /// Writes under the cgroup file system (ProtectControlGroups).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cgroup_writes: BTreeMap<String, Seen>,
    /// Device nodes other than the pseudo-devices PrivateDevices keeps (PrivateDevices).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub devices: BTreeMap<String, Seen>,
    /// Paths under /home, /root, /run/user (ProtectHome).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub home: BTreeMap<String, Seen>,
    /// Paths under /tmp and /var/tmp (PrivateTmp).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tmp: BTreeMap<String, Seen>,
    /// Entries under /tmp and /var/tmp that a recording's service read or wrote but never
    /// tried to make, link or delete in that recording: there before it began (an
    /// earlier run's state, such as ZooKeeper's data in /tmp/zookeeper, or another
    /// program's). Derived per recording and kept through merges, where another recording's
    /// creation of the same file would make it look like the service's own scratch:
    /// PrivateTmp= would start every run without it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tmp_found: BTreeMap<String, Seen>,
    /// Other processes' /proc/PID entries (ProtectProc).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_processes_proc: BTreeMap<String, Seen>,
    /// /proc files that belong to no process (ProcSubset=pid).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proc_system_files: BTreeMap<String, Seen>,
    /// Permission bits asked for when creating: `DIR file 0644` for an O_CREAT open or creat
    /// in DIR, `dir` for mkdir, `node` for mknod, `tmpfile` for O_TMPFILE (DIR is the path
    /// opened), before the umask applies (UMask). Keyed by directory, not file: temp and
    /// spool names are random.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub created_modes: BTreeMap<String, Seen>,
    /// keyctl (by operation), add_key, request_key by the service itself (KeyringMode).
    /// None: not recorded (a profile from before it was), which the policy takes as used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_management: Option<BTreeMap<String, Seen>>,
    /// Mounts made in the host's mount namespace (by what was mounted: `mount of overlay`,
    /// `bind mount`), which reach every other process of the host; mounts in a namespace
    /// the service made itself are not here. None: not recorded (a profile from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts: Option<BTreeMap<String, Seen>>,
}

/// The process tree, aggregated by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processes {
    /// Programs executed, by path, with the argv[0] they were given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub execs: BTreeMap<String, Exec>,
    /// fork/vfork/clone/clone3 calls (threads included), by caller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forks: BTreeMap<String, Seen>,
    /// exit/exit_group calls, by caller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exits: BTreeMap<String, Seen>,
    /// Programs executed (by the path in `execs`) that no package of the recorded system
    /// owns: a site's hook scripts, CGI programs, local builds. What they do is the host's
    /// own and changes with it, unseen by the drop-in. Checked at the recording's end
    /// against the system's package database; empty where it has none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unpackaged: BTreeMap<String, Seen>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    #[serde(flatten)]
    pub seen: Seen,
    pub argv0: BTreeSet<String>,
}

/// Everything observed beyond syscall counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observations {
    /// Absolute paths and each kind of access to them.
    #[serde(default)]
    pub paths: BTreeMap<String, Accesses>,
    /// socket() by `FAMILY/TYPE` (RestrictAddressFamilies applies to these).
    #[serde(default)]
    pub sockets: BTreeMap<String, Seen>,
    /// socketpair() by `FAMILY/TYPE`; RestrictAddressFamilies does not restrict these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub socketpairs: BTreeMap<String, Seen>,
    /// bind() addresses: `AF_INET 0.0.0.0:80`, `AF_UNIX /run/x.sock`, `AF_UNIX @abstract`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binds: BTreeMap<String, Seen>,
    /// connect() addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connects: BTreeMap<String, Seen>,
    #[serde(default)]
    pub capabilities: BTreeMap<String, CapabilityChecks>,
    #[serde(default)]
    pub facts: Facts,
    #[serde(default)]
    pub processes: Processes,
    /// Syscalls refused before they ran (a seccomp filter), by name; seen by `learner check`
    /// only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused_syscalls: BTreeMap<String, Seen>,
    /// Who the service ran as and what that took (User=, DynamicUser=; `generate --identity`).
    #[serde(
        default,
        skip_serializing_if = "crate::model::credentials::Identity::is_empty"
    )]
    pub identity: crate::model::credentials::Identity,
    /// Network peers beyond connect(); None in a profile recorded before learner recorded
    /// them (the policy then cannot tell a client from a server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Peers>,
    /// io_uring operations submitted, by name (see `model::io_uring`); None in a profile
    /// recorded before learner recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_uring: Option<BTreeMap<String, Seen>>,
    /// Distinct paths recorded per directory, for folding.
    #[serde(skip)]
    entries: EntryCounts,
}

/// Who the service talked to, besides the connect() addresses in [`Observations::connects`].
/// Addresses as [`Observations::binds`] writes them; a peer's (accepted, received from)
/// without its port, which changes with every connection: `AF_INET 127.0.0.1`,
/// `AF_INET6 ::1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {
    /// accept()/accept4() peers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accepted: BTreeMap<String, Seen>,
    /// recvfrom()/recvmsg()/recvmmsg() sources (the first message of a recvmmsg batch).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub received_from: BTreeMap<String, Seen>,
    /// sendto()/sendmsg()/sendmmsg() destinations, with their ports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent_to: BTreeMap<String, Seen>,
}

/// A directory with more distinct entries than this is recorded as one `DIR/*` path: temp,
/// spool and session directories name their files at random, and a path each would grow the
/// recording (and every diff) without bound.
pub const FOLD_ENTRIES: u32 = 1000;
/// A directory two or more levels deep with more distinct paths anywhere below it than this
/// is recorded as one `DIR/**` path (hashed cache trees: few entries per directory, many in
/// all).
pub const FOLD_TREE: u32 = 10_000;

/// The directory a folded path (`DIR/*`, `DIR/**`) stands for.
pub fn folded_dir(path: &str) -> Option<&str> {
    path.strip_suffix("/**")
        .or_else(|| path.strip_suffix("/*"))
        .map(|d| if d.is_empty() { "/" } else { d })
}

/// The path that must be writable for `access` to `path`: the file itself for a write to its
/// contents or attributes, its directory when an entry comes or goes, and a folded
/// directory whole (any of its entries may be written).
pub fn writable_path(path: &str, access: Access) -> String {
    if let Some(dir) = folded_dir(path) {
        return dir.to_owned();
    }
    match access {
        Access::Write | Access::Truncate | Access::Attr => path.to_owned(),
        _ => parent(path).unwrap_or(path).to_owned(),
    }
}

fn parent(path: &str) -> Option<&str> {
    match path.rsplit_once('/')? {
        ("", "") => None,
        ("", _) => Some("/"),
        (dir, _) => Some(dir),
    }
}

/// The folded path (`DIR/*`, `DIR/**`) of `dir`, allocated once at its size: it is looked up
/// for every path an event adds.
fn folded_key_of(dir: &str, suffix: &str) -> String {
    let dir = dir.trim_end_matches('/');
    let mut key = String::with_capacity(dir.len() + suffix.len());
    key.push_str(dir);
    key.push_str(suffix);
    key
}

thread_local! {
    /// The folded path being looked up, built here rather than allocated at each event.
    static FOLDED_LOOKUP: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `f` of the folded path (`DIR/*`, `DIR/**`) of `dir`.
fn folded_lookup<T>(dir: &str, suffix: &str, f: impl FnOnce(&str) -> T) -> T {
    folded_lookup_after("", dir, suffix, f)
}

/// `f` of `prefix` and the folded path of `dir` (a user write's `UID DIR/*`).
fn folded_lookup_after<T>(prefix: &str, dir: &str, suffix: &str, f: impl FnOnce(&str) -> T) -> T {
    FOLDED_LOOKUP.with_borrow_mut(|key| {
        key.clear();
        key.push_str(prefix);
        key.push_str(dir.trim_end_matches('/'));
        key.push_str(suffix);
        f(key)
    })
}

/// `map[key]`, made if missing: the key is copied only when it is new, not at every event
/// that adds to it.
pub(crate) fn entry_mut<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("present")
}

/// Per directory: distinct direct entries, distinct paths anywhere below. Bookkeeping of one
/// recording, never compared or written.
#[derive(Debug, Clone, Default)]
struct EntryCounts(HashMap<Box<str>, (u32, u32)>);

impl PartialEq for EntryCounts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for EntryCounts {}

/// A place in [`Observations`] that an event adds to; kept per deduplication key, so counts
/// the kernel folded can be added where the first event went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Path(String, Access),
    Socket(String),
    SocketPair(String),
    Bind(String),
    Connect(String),
    Capability {
        name: String,
        granted: bool,
        during: String,
    },
    Fact(Fact, String),
    Exec {
        path: String,
        argv0: String,
    },
    Fork,
    Exit,
    Refused(String),
    Identity(crate::model::credentials::IdentitySlot),
    Accepted(String),
    ReceivedFrom(String),
    SentTo(String),
    /// An io_uring operation, by name.
    IoUring(String),
}

/// The argument facts recorded from syscall arguments (the rest derive from paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    WriteExecuteMemory,
    Namespace,
    Personality,
    Scheduling,
    SuidSgidMode,
    PrivilegedExec,
    HostnameChange,
    ClockChange,
    ModuleLoading,
    KernelLog,
    CreatedMode,
    KeyManagement,
    HostMount,
}

fn merge_map(into: &mut BTreeMap<String, Seen>, from: &BTreeMap<String, Seen>) {
    for (k, seen) in from {
        into.entry(k.clone()).or_default().merge(seen);
    }
}

/// [`merge_map`] for a fact older profiles do not record (None): recorded only when both are.
fn merge_recorded(
    into: &mut Option<BTreeMap<String, Seen>>,
    from: &Option<BTreeMap<String, Seen>>,
) {
    match (into.as_mut(), from) {
        (Some(mine), Some(theirs)) => merge_map(mine, theirs),
        _ => *into = None,
    }
}

impl Observations {
    /// Empty, for a recording made now: with the facts this learner records and older
    /// profiles may lack marked as recorded.
    pub fn recording() -> Self {
        let mut o = Self::default();
        o.facts.key_management = Some(BTreeMap::new());
        o.facts.host_mounts = Some(BTreeMap::new());
        // Recorded from now on, even when none are seen.
        o.peers = Some(Default::default());
        o.io_uring = Some(BTreeMap::new());
        o
    }

    /// Adds everything `other` observed: the union, with counts summed.
    pub fn merge(&mut self, other: &Observations) {
        // Each side's own: a profile from before the fact was recorded has none, and once
        // the paths are merged another recording's creation would hide it.
        for (path, seen) in self.tmp_found() {
            self.facts.tmp_found.entry(path).or_insert(seen);
        }
        for (path, seen) in other.tmp_found() {
            if !other.facts.tmp_found.contains_key(&path) {
                self.facts.tmp_found.entry(path).or_default().merge(&seen);
            }
        }
        for (path, accesses) in &other.paths {
            self.path_entry(path).merge(accesses);
        }
        merge_map(&mut self.sockets, &other.sockets);
        merge_map(&mut self.socketpairs, &other.socketpairs);
        merge_map(&mut self.binds, &other.binds);
        merge_map(&mut self.connects, &other.connects);
        for (cap, checks) in &other.capabilities {
            let mine = self.capabilities.entry(cap.clone()).or_default();
            for (slot, theirs) in [
                (&mut mine.granted, &checks.granted),
                (&mut mine.denied, &checks.denied),
            ] {
                if let Some(theirs) = theirs {
                    slot.get_or_insert_with(Seen::default).merge(theirs);
                }
            }
            for (during, n) in &checks.during {
                *mine.during.entry(during.clone()).or_default() += n;
            }
            for (during, n) in &checks.granted_during {
                *mine.granted_during.entry(during.clone()).or_default() += n;
            }
        }
        let (f, g) = (&mut self.facts, &other.facts);
        for (mine, theirs) in [
            (&mut f.write_execute_memory, &g.write_execute_memory),
            (&mut f.namespaces, &g.namespaces),
            (&mut f.personality, &g.personality),
            (&mut f.scheduling, &g.scheduling),
            (&mut f.suid_sgid_modes, &g.suid_sgid_modes),
            (&mut f.privileged_execs, &g.privileged_execs),
            (&mut f.hostname_changes, &g.hostname_changes),
            (&mut f.clock_changes, &g.clock_changes),
            (&mut f.module_loading, &g.module_loading),
            (&mut f.kernel_logs, &g.kernel_logs),
            (&mut f.kernel_tunable_writes, &g.kernel_tunable_writes),
            (&mut f.cgroup_writes, &g.cgroup_writes),
            (&mut f.devices, &g.devices),
            (&mut f.home, &g.home),
            (&mut f.tmp, &g.tmp),
            (&mut f.tmp_found, &g.tmp_found),
            (&mut f.other_processes_proc, &g.other_processes_proc),
            (&mut f.proc_system_files, &g.proc_system_files),
            (&mut f.created_modes, &g.created_modes),
        ] {
            merge_map(mine, theirs);
        }
        // Recorded only when both were: a union with a profile that did not record them
        // cannot say none were made.
        merge_recorded(&mut f.key_management, &g.key_management);
        merge_recorded(&mut f.host_mounts, &g.host_mounts);
        merge_recorded(&mut self.io_uring, &other.io_uring);
        for (path, exec) in &other.processes.execs {
            let mine = self.processes.execs.entry(path.clone()).or_default();
            mine.seen.merge(&exec.seen);
            mine.argv0.extend(exec.argv0.iter().cloned());
        }
        merge_map(&mut self.processes.forks, &other.processes.forks);
        merge_map(&mut self.processes.exits, &other.processes.exits);
        merge_map(&mut self.processes.unpackaged, &other.processes.unpackaged);
        merge_map(&mut self.refused_syscalls, &other.refused_syscalls);
        self.identity.merge(&other.identity);
        // Peers are known only if every part recorded them.
        self.peers = match (self.peers.take(), &other.peers) {
            (Some(mut mine), Some(theirs)) => {
                merge_map(&mut mine.accepted, &theirs.accepted);
                merge_map(&mut mine.received_from, &theirs.received_from);
                merge_map(&mut mine.sent_to, &theirs.sent_to);
                Some(mine)
            }
            _ => None,
        };
    }

    /// A process killed by a seccomp filter when it called `syscall`: a refused syscall whose
    /// outcome is the signal (`SIGSYS`).
    pub fn add_seccomp_kill(&mut self, syscall: &str, signal: i32, comm: &str) {
        let seen = self.refused_syscalls.entry(syscall.to_owned()).or_default();
        seen.count += 1;
        *seen.errors.entry(names::signal(signal)).or_default() += 1;
        seen.by.insert(comm);
    }

    /// Adds `n` occurrences that ended with `ret`, by `comm`, to `slot`.
    pub fn add(&mut self, slot: &Slot, ret: i64, comm: &str, n: u64) {
        match slot {
            Slot::Path(path, access) => self
                .path_entry(path)
                .entry_or_default(*access)
                .add(ret, comm, n),
            Slot::Socket(s) => entry_mut(&mut self.sockets, s).add(ret, comm, n),
            Slot::SocketPair(s) => entry_mut(&mut self.socketpairs, s).add(ret, comm, n),
            Slot::Bind(s) => entry_mut(&mut self.binds, s).add(ret, comm, n),
            Slot::Connect(s) => entry_mut(&mut self.connects, s).add(ret, comm, n),
            Slot::Capability {
                name,
                granted,
                during,
            } => {
                let checks = entry_mut(&mut self.capabilities, name);
                let seen = if *granted {
                    &mut checks.granted
                } else {
                    &mut checks.denied
                };
                seen.get_or_insert_with(Seen::default).add(ret, comm, n);
                *entry_mut(&mut checks.during, during) += n;
                if *granted {
                    *entry_mut(&mut checks.granted_during, during) += n;
                }
            }
            Slot::Fact(fact, detail) => entry_mut(self.fact_map(*fact), detail).add(ret, comm, n),
            Slot::Exec { path, argv0 } => {
                let exec = entry_mut(&mut self.processes.execs, path);
                exec.seen.add(ret, comm, n);
                if !argv0.is_empty() {
                    exec.argv0.insert(argv0.clone());
                }
            }
            Slot::Fork => entry_mut(&mut self.processes.forks, comm).add(ret, comm, n),
            Slot::Exit => entry_mut(&mut self.processes.exits, comm).add(ret, comm, n),
            Slot::Refused(name) => entry_mut(&mut self.refused_syscalls, name).add(ret, comm, n),
            Slot::Identity(slot) => {
                // A write's path under the entry its path was recorded under: a crowded
                // directory is one folded entry there too, not one per file.
                if self.add_folded_write(slot, ret, comm, n) {
                    return;
                }
                let folded = match slot {
                    crate::model::credentials::IdentitySlot::RootWrite(p) => self
                        .folded_key(p)
                        .map(crate::model::credentials::IdentitySlot::RootWrite),
                    crate::model::credentials::IdentitySlot::UserWrite(k) => {
                        k.split_once(' ').and_then(|(uid, p)| {
                            self.folded_key(p).map(|f| {
                                crate::model::credentials::IdentitySlot::UserWrite(format!(
                                    "{uid} {f}"
                                ))
                            })
                        })
                    }
                    _ => None,
                };
                self.identity
                    .add(folded.as_ref().unwrap_or(slot), ret, comm, n)
            }
            Slot::Accepted(peer) | Slot::ReceivedFrom(peer) | Slot::SentTo(peer) => {
                let peers = self.peers.get_or_insert_with(Peers::default);
                let map = match slot {
                    Slot::Accepted(_) => &mut peers.accepted,
                    Slot::ReceivedFrom(_) => &mut peers.received_from,
                    _ => &mut peers.sent_to,
                };
                entry_mut(map, peer).add(ret, comm, n)
            }
            Slot::IoUring(op) => {
                entry_mut(self.io_uring.get_or_insert_with(BTreeMap::new), op).add(ret, comm, n)
            }
        }
    }

    /// The entry `path` is recorded under: its own, or a folded one once its directory has
    /// too many (see [`FOLD_ENTRIES`], [`FOLD_TREE`]).
    pub fn path_entry(&mut self, path: &str) -> &mut Accesses {
        if self.paths.contains_key(path) {
            return self.paths.get_mut(path).expect("present");
        }
        // Where most new paths of a busy service go: a crowded directory folded already
        // (as `place` finds it, without making its key at every event).
        if let Some(dir) = parent(path)
            && !path.ends_with("/**")
            && folded_lookup(dir, "/*", |key| self.paths.contains_key(key))
        {
            return folded_lookup(dir, "/*", |key| self.paths.get_mut(key)).expect("present");
        }
        let key = self.place(path);
        self.paths.entry(key).or_default()
    }

    /// Adds a write in a crowded directory to its folded entry (`DIR/*`), as [`Self::add`]
    /// would through [`Self::folded_key`], without making the key at every event; false when
    /// the write is not one.
    fn add_folded_write(
        &mut self,
        slot: &crate::model::credentials::IdentitySlot,
        ret: i64,
        comm: &str,
        n: u64,
    ) -> bool {
        use crate::model::credentials::IdentitySlot;
        let (prefix, path, map) = match slot {
            IdentitySlot::RootWrite(p) => ("", p.as_str(), &mut self.identity.root_writes),
            IdentitySlot::UserWrite(k) => match k.split_once(' ') {
                Some((uid, p)) => (&k[..uid.len() + 1], p, &mut self.identity.user_writes),
                None => return false,
            },
            _ => return false,
        };
        if self.paths.contains_key(path) {
            return false;
        }
        let Some(dir) = parent(path) else {
            return false;
        };
        if !folded_lookup(dir, "/*", |key| self.paths.contains_key(key)) {
            return false;
        }
        folded_lookup_after(prefix, dir, "/*", |key| {
            entry_mut(map, key).add(ret, comm, n)
        });
        true
    }

    /// The folded entry that already covers `path`, if one does.
    fn folded_key(&self, path: &str) -> Option<String> {
        if self.paths.contains_key(path) {
            return None;
        }
        let dir = parent(path)?;
        let beside = folded_key_of(dir, "/*");
        if self.paths.contains_key(&beside) {
            return Some(beside);
        }
        let mut up = Some(dir);
        while let Some(d) = up {
            let below = folded_key_of(d, "/**");
            if self.paths.contains_key(&below) {
                return Some(below);
            }
            up = parent(d);
        }
        None
    }

    /// Where a path not yet recorded goes; folds a directory that has become crowded.
    fn place(&mut self, path: &str) -> String {
        let Some(dir) = parent(path) else {
            return path.to_owned();
        };
        let beside = folded_key_of(dir, "/*");
        if !path.ends_with("/**") && self.paths.contains_key(&beside) {
            return beside;
        }
        let mut up = Some(dir);
        while let Some(d) = up {
            let below = folded_key_of(d, "/**");
            if self.paths.contains_key(&below) {
                return below;
            }
            up = parent(d);
        }
        if folded_dir(path).is_some() {
            // A folded path from another profile (merge): it takes in what it covers.
            self.fold(path);
            return path.to_owned();
        }
        self.paths.insert(path.to_owned(), Accesses::default());
        let counts = &mut self.entries.0;
        let direct = counts.entry(dir.into()).or_default();
        direct.0 += 1;
        let crowded = direct.0 > FOLD_ENTRIES;
        let mut fold_below = None;
        let mut up = Some(dir);
        while let Some(d) = up {
            let c = counts.entry(d.into()).or_default();
            c.1 += 1;
            if fold_below.is_none() && c.1 > FOLD_TREE && d.matches('/').count() >= 2 {
                fold_below = Some(d);
            }
            up = parent(d);
        }
        let (folded_dir, key) = match (crowded, fold_below) {
            (true, _) => (dir, beside),
            (false, Some(d)) => (d, format!("{d}/**")),
            (false, None) => return path.to_owned(),
        };
        let folded_dir = folded_dir.to_owned();
        let moved = self.fold(&key);
        // The folded paths are one path now, for every directory above them too.
        let mut up = Some(folded_dir.as_str());
        while let Some(d) = up {
            if let Some(c) = self.entries.0.get_mut(d) {
                c.1 = c.1.saturating_sub(moved.saturating_sub(1));
            }
            up = parent(d);
        }
        key
    }

    /// Whether any path was folded.
    pub fn has_folded_paths(&self) -> bool {
        self.paths.keys().any(|k| folded_dir(k).is_some())
    }

    /// Folds what `other` folded, so that two recordings compare path by path.
    pub fn fold_as(&mut self, other: &Observations) {
        for key in other.paths.keys().filter(|k| folded_dir(k).is_some()) {
            if !self.paths.contains_key(key) {
                self.fold(key);
            }
        }
    }

    /// Moves every recorded path that folded `key` covers into it; returns how many.
    fn fold(&mut self, key: &str) -> u32 {
        let dir = folded_dir(key)
            .expect("a folded path")
            .trim_end_matches('/');
        let prefix = format!("{dir}/");
        let whole_tree = key.ends_with("/**");
        let covered: Vec<String> = self
            .paths
            .range(prefix.clone()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(&prefix))
            .filter(|p| *p != key && (whole_tree || !p[prefix.len()..].contains('/')))
            .cloned()
            .collect();
        if covered.is_empty() && !self.paths.contains_key(key) {
            return 0;
        }
        let mut folded = self.paths.remove(key).unwrap_or_default();
        let moved = covered.len() as u32;
        for p in covered {
            if let Some(accesses) = self.paths.remove(&p) {
                folded.merge(&accesses);
            }
        }
        self.paths.insert(key.to_owned(), folded);
        self.identity.fold(&prefix, whole_tree, key);
        moved
    }

    fn fact_map(&mut self, fact: Fact) -> &mut BTreeMap<String, Seen> {
        let f = &mut self.facts;
        match fact {
            Fact::WriteExecuteMemory => &mut f.write_execute_memory,
            Fact::Namespace => &mut f.namespaces,
            Fact::Personality => &mut f.personality,
            Fact::Scheduling => &mut f.scheduling,
            Fact::SuidSgidMode => &mut f.suid_sgid_modes,
            Fact::PrivilegedExec => &mut f.privileged_execs,
            Fact::HostnameChange => &mut f.hostname_changes,
            Fact::ClockChange => &mut f.clock_changes,
            Fact::ModuleLoading => &mut f.module_loading,
            Fact::KernelLog => &mut f.kernel_logs,
            Fact::CreatedMode => &mut f.created_modes,
            Fact::KeyManagement => f.key_management.get_or_insert_with(BTreeMap::new),
            Fact::HostMount => f.host_mounts.get_or_insert_with(BTreeMap::new),
        }
    }

    /// Fills the facts that follow from paths alone: which accesses fall where a directive
    /// draws its line. `cgroup_root` is where the cgroup2 hierarchy is mounted.
    pub fn derive_path_facts(&mut self, cgroup_root: &str) {
        let mut derived: Vec<(FactMap, String, Seen)> = Vec::new();
        for (path, accesses) in &self.paths {
            let mut all = Seen::default();
            let mut writes = Seen::default();
            for (access, seen) in accesses {
                all.merge(seen);
                if access.writes() {
                    writes.merge(seen);
                }
            }
            let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
            if writes.count > 0
                && (under("/proc/sys") || under("/sys") || path == "/proc/sysrq-trigger")
                && !under(cgroup_root)
                && !under("/sys/fs/selinux")
            {
                derived.push((
                    |f| &mut f.kernel_tunable_writes,
                    path.clone(),
                    writes.clone(),
                ));
            }
            if writes.count > 0 && (under(cgroup_root) || under("/sys/fs/cgroup")) {
                derived.push((|f| &mut f.cgroup_writes, path.clone(), writes.clone()));
            }
            if path == "/dev/kmsg" || path == "/proc/kmsg" {
                derived.push((|f| &mut f.kernel_logs, path.clone(), all.clone()));
            }
            if under("/dev") && !is_pseudo_device(path) {
                derived.push((|f| &mut f.devices, path.clone(), all.clone()));
            }
            if under("/home") || under("/root") || under("/run/user") {
                derived.push((|f| &mut f.home, path.clone(), all.clone()));
            }
            if under("/tmp") || under("/var/tmp") {
                derived.push((|f| &mut f.tmp, path.clone(), all.clone()));
            }
            if let Some(rest) = path.strip_prefix("/proc/") {
                let first = rest.split('/').next().unwrap_or("");
                if first == "[pid]" {
                    derived.push((|f| &mut f.other_processes_proc, path.clone(), all.clone()));
                } else if first != "self" && first != "thread-self" && !first.is_empty() {
                    derived.push((|f| &mut f.proc_system_files, path.clone(), all.clone()));
                }
            }
        }
        for (map, path, seen) in derived {
            map(&mut self.facts).entry(path).or_default().merge(&seen);
        }
        for (path, seen) in self.tmp_found() {
            self.facts.tmp_found.entry(path).or_default().merge(&seen);
        }
    }

    /// Entries (files, or directories with nothing seen below them) under /tmp and /var/tmp
    /// read or written successfully, with no attempt to make, link or delete them (a rename
    /// onto one alone does not count), nor below a directory the recording saw made: see
    /// [`Facts::tmp_found`]. A file the service makes
    /// when missing (O_CREAT), or cleans up, is not one it needs to find there.
    fn tmp_found(&self) -> Vec<(String, Seen)> {
        // A rename onto it alone does not make it the run's own: a state file read at start
        // and replaced atomically later is still found there first.
        let made = [
            Access::Create,
            Access::Mknod,
            Access::Link,
            Access::Bind,
            Access::Delete,
        ];
        let in_tmp = |path: &str| path.starts_with("/tmp/") || path.starts_with("/var/tmp/");
        // Below a directory this recording made, everything was made in it too.
        let made_dirs: Vec<&String> = self
            .paths
            .iter()
            .filter(|(path, a)| {
                in_tmp(path)
                    && [Access::Create, Access::Mknod]
                        .iter()
                        .any(|k| a.get(k).is_some_and(|s| s.ok > 0))
            })
            .map(|(path, _)| path)
            .collect();
        let mut found = Vec::new();
        for (path, accesses) in &self.paths {
            if !in_tmp(path)
                || made.iter().any(|a| accesses.get(a).is_some())
                || made_dirs.iter().any(|d| under(path, d))
            {
                continue;
            }
            let below = format!("{path}/");
            let has_below = self
                .paths
                .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|(next, _)| next.starts_with(&below));
            if has_below {
                continue;
            }
            let mut used = Seen::default();
            for access in [Access::Read, Access::Write] {
                if let Some(seen) = accesses.get(&access).filter(|s| s.ok > 0) {
                    used.merge(seen);
                }
            }
            if used.ok > 0 {
                found.push((path.clone(), used));
            }
        }
        found
    }
}

/// Whether `path` is `dir` or below it (every path is below `/`).
pub fn under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.starts_with(&format!("{dir}/"))
}

/// Picks one of the path-derived fact maps.
type FactMap = fn(&mut Facts) -> &mut BTreeMap<String, Seen>;

/// The device nodes a `PrivateDevices=yes` /dev still has, and the directories it keeps.
pub fn is_pseudo_device(path: &str) -> bool {
    const KEPT: &[&str] = &[
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/ptmx",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/fd",
        "/dev/log",
        "/dev/core",
    ];
    const KEPT_DIRS: &[&str] = &[
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/hugepages",
        "/dev/fd",
    ];
    KEPT.contains(&path)
        || KEPT_DIRS
            .iter()
            .any(|d| path == *d || path.starts_with(&format!("{d}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_path(o: &mut Observations, path: &str, access: Access, comm: &str) {
        o.add(&Slot::Path(path.into(), access), 0, comm, 1);
    }

    #[test]
    fn writes_of_a_crowded_directory_fold_for_identity_too() {
        use crate::model::credentials::IdentitySlot;
        let mut o = Observations::default();
        for i in 0..FOLD_ENTRIES + 50 {
            let p = format!("/var/spool/app/m{i}");
            o.add(&Slot::Path(p.clone(), Access::Write), 0, "app", 1);
            let slot = if i % 2 == 0 {
                IdentitySlot::RootWrite(p)
            } else {
                IdentitySlot::UserWrite(format!("103 {p}"))
            };
            o.add(&Slot::Identity(slot), 0, "app", 1);
        }
        let roots: Vec<&str> = o.identity.root_writes.keys().map(String::as_str).collect();
        let users: Vec<&str> = o.identity.user_writes.keys().map(String::as_str).collect();
        assert_eq!(roots, ["/var/spool/app/*"]);
        assert_eq!(users, ["103 /var/spool/app/*"]);
        let total = o.identity.root_writes["/var/spool/app/*"].count
            + o.identity.user_writes["103 /var/spool/app/*"].count;
        assert_eq!(
            total,
            u64::from(FOLD_ENTRIES + 50),
            "every write kept, counted"
        );
    }

    #[test]
    fn a_crowded_directory_folds_into_one_path() {
        let mut o = Observations::default();
        add_path(&mut o, "/var/spool/app/sub/keep", Access::Write, "app");
        for i in 0..FOLD_ENTRIES {
            add_path(
                &mut o,
                &format!("/var/spool/app/m{i}"),
                Access::Create,
                "app",
            );
        }
        assert_eq!(o.paths.len(), FOLD_ENTRIES as usize + 1, "not crowded yet");
        add_path(&mut o, "/var/spool/app/last", Access::Write, "mover");
        add_path(&mut o, "/var/spool/app/m7", Access::Read, "app");
        let keys: Vec<&str> = o.paths.keys().map(String::as_str).collect();
        // A subdirectory's own entries are not the directory's.
        assert_eq!(keys, ["/var/spool/app/*", "/var/spool/app/sub/keep"]);
        let folded = &o.paths["/var/spool/app/*"];
        assert_eq!(folded[&Access::Create].count, u64::from(FOLD_ENTRIES));
        assert_eq!(folded[&Access::Write].count, 1);
        assert_eq!(folded[&Access::Read].count, 1);
        assert_eq!(
            folded[&Access::Write].by.iter().collect::<Vec<_>>(),
            ["mover"]
        );
    }

    #[test]
    fn a_hashed_cache_tree_folds_below_its_root() {
        let mut o = Observations::default();
        // Few files a directory, many in all: nginx's levels=1:2 cache, say.
        for i in 0..=FOLD_TREE {
            let path = format!("/var/cache/app/{}/{:02x}/f{i}", i % 16, i % 251);
            add_path(&mut o, &path, Access::Create, "app");
        }
        add_path(&mut o, "/var/cache/other", Access::Read, "app");
        let keys: Vec<&str> = o.paths.keys().map(String::as_str).collect();
        assert_eq!(keys, ["/var/cache/app/**", "/var/cache/other"]);
        assert_eq!(
            o.paths["/var/cache/app/**"][&Access::Create].count,
            u64::from(FOLD_TREE) + 1
        );
        add_path(&mut o, "/var/cache/app/3/new", Access::Delete, "app");
        assert_eq!(o.paths.len(), 2, "later paths below go to the folded one");
    }

    #[test]
    fn merging_folds_what_the_other_profile_folded() {
        let mut folded = Observations::default();
        add_path(&mut folded, "/tmp/x/*", Access::Create, "a");
        let mut plain = Observations::default();
        add_path(&mut plain, "/tmp/x/one", Access::Write, "b");
        add_path(&mut plain, "/tmp/x/deeper/two", Access::Write, "b");
        let mut m = plain.clone();
        m.merge(&folded);
        let keys: Vec<&str> = m.paths.keys().map(String::as_str).collect();
        assert_eq!(keys, ["/tmp/x/*", "/tmp/x/deeper/two"]);
        assert_eq!(m.paths["/tmp/x/*"].len(), 2);
        let mut other_way = folded.clone();
        other_way.merge(&plain);
        assert_eq!(other_way.paths, m.paths);
        // A wider fold takes in a narrower one.
        let mut tree = Observations::default();
        add_path(&mut tree, "/tmp/x/**", Access::Read, "c");
        m.merge(&tree);
        assert_eq!(m.paths.keys().collect::<Vec<_>>(), ["/tmp/x/**"]);
    }

    #[test]
    fn writable_path_of_each_access() {
        assert_eq!(
            writable_path("/var/lib/a/db", Access::Write),
            "/var/lib/a/db"
        );
        assert_eq!(writable_path("/var/lib/a/db", Access::Create), "/var/lib/a");
        assert_eq!(writable_path("/var/lib/a/*", Access::Write), "/var/lib/a");
        assert_eq!(writable_path("/var/lib/a/**", Access::Create), "/var/lib/a");
        assert_eq!(writable_path("/x", Access::Delete), "/");
    }

    #[test]
    fn seen_counts_outcomes() {
        let mut s = Seen::default();
        s.add(3, "nginx", 2);
        s.add(-13, "nginx", 1);
        s.add(-13, "worker", 4);
        assert_eq!((s.count, s.ok), (7, 2));
        assert_eq!(s.errors["EACCES"], 5);
        assert_eq!(s.by.len(), 2);
    }

    #[test]
    fn derives_path_facts() {
        let mut o = Observations::default();
        for (path, access) in [
            ("/proc/sys/net/core/somaxconn", Access::Write),
            ("/proc/sys/kernel/hostname", Access::Read),
            ("/sys/fs/cgroup/x/cgroup.procs", Access::Write),
            ("/dev/null", Access::Write),
            ("/dev/sda", Access::Read),
            ("/root/.profile", Access::Read),
            ("/tmp/x", Access::Create),
            ("/proc/[pid]/status", Access::Read),
            ("/proc/self/status", Access::Read),
            ("/proc/meminfo", Access::Read),
        ] {
            o.add(&Slot::Path(path.into(), access), 0, "svc", 1);
        }
        o.derive_path_facts("/sys/fs/cgroup");
        let f = &o.facts;
        let keys = |m: &BTreeMap<String, Seen>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&f.kernel_tunable_writes),
            ["/proc/sys/net/core/somaxconn"]
        );
        assert_eq!(keys(&f.cgroup_writes), ["/sys/fs/cgroup/x/cgroup.procs"]);
        assert_eq!(keys(&f.devices), ["/dev/sda"]);
        assert_eq!(keys(&f.home), ["/root/.profile"]);
        assert_eq!(keys(&f.tmp), ["/tmp/x"]);
        assert_eq!(keys(&f.other_processes_proc), ["/proc/[pid]/status"]);
        assert_eq!(
            keys(&f.proc_system_files),
            [
                "/proc/meminfo",
                "/proc/sys/kernel/hostname",
                "/proc/sys/net/core/somaxconn"
            ]
        );
    }
}
