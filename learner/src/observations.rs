//! What a recorded service did, beyond syscall counts: the paths it touched and how, the
//! sockets it opened, the capability checks it passed or failed, and the argument facts that
//! single directives depend on. Observations only; which directive values they permit is the
//! generator's business.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

use crate::names;

/// How often something was seen, by which processes, and how it ended.
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
        !matches!(self, Self::Read | Self::Exec | Self::Connect)
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
    /// init_module, finit_module, delete_module (ProtectKernelModules).
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
    /// Other processes' /proc/PID entries (ProtectProc).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_processes_proc: BTreeMap<String, Seen>,
    /// /proc files that belong to no process (ProcSubset=pid).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proc_system_files: BTreeMap<String, Seen>,
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
}

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
}

fn merge_map(into: &mut BTreeMap<String, Seen>, from: &BTreeMap<String, Seen>) {
    for (k, seen) in from {
        into.entry(k.clone()).or_default().merge(seen);
    }
}

impl Observations {
    /// Adds everything `other` observed: the union, with counts summed.
    pub fn merge(&mut self, other: &Observations) {
        for (path, accesses) in &other.paths {
            let mine = self.paths.entry(path.clone()).or_default();
            for (access, seen) in accesses {
                mine.entry_or_default(*access).merge(seen);
            }
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
            (&mut f.other_processes_proc, &g.other_processes_proc),
            (&mut f.proc_system_files, &g.proc_system_files),
        ] {
            merge_map(mine, theirs);
        }
        for (path, exec) in &other.processes.execs {
            let mine = self.processes.execs.entry(path.clone()).or_default();
            mine.seen.merge(&exec.seen);
            mine.argv0.extend(exec.argv0.iter().cloned());
        }
        merge_map(&mut self.processes.forks, &other.processes.forks);
        merge_map(&mut self.processes.exits, &other.processes.exits);
        merge_map(&mut self.refused_syscalls, &other.refused_syscalls);
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
                .paths
                .entry(path.clone())
                .or_default()
                .entry_or_default(*access)
                .add(ret, comm, n),
            Slot::Socket(s) => self.sockets.entry(s.clone()).or_default().add(ret, comm, n),
            Slot::SocketPair(s) => self
                .socketpairs
                .entry(s.clone())
                .or_default()
                .add(ret, comm, n),
            Slot::Bind(s) => self.binds.entry(s.clone()).or_default().add(ret, comm, n),
            Slot::Connect(s) => self
                .connects
                .entry(s.clone())
                .or_default()
                .add(ret, comm, n),
            Slot::Capability {
                name,
                granted,
                during,
            } => {
                let checks = self.capabilities.entry(name.clone()).or_default();
                let seen = if *granted {
                    &mut checks.granted
                } else {
                    &mut checks.denied
                };
                seen.get_or_insert_with(Seen::default).add(ret, comm, n);
                *checks.during.entry(during.clone()).or_default() += n;
            }
            Slot::Fact(fact, detail) => self
                .fact_map(*fact)
                .entry(detail.clone())
                .or_default()
                .add(ret, comm, n),
            Slot::Exec { path, argv0 } => {
                let exec = self.processes.execs.entry(path.clone()).or_default();
                exec.seen.add(ret, comm, n);
                if !argv0.is_empty() {
                    exec.argv0.insert(argv0.clone());
                }
            }
            Slot::Fork => self
                .processes
                .forks
                .entry(comm.to_owned())
                .or_default()
                .add(ret, comm, n),
            Slot::Exit => self
                .processes
                .exits
                .entry(comm.to_owned())
                .or_default()
                .add(ret, comm, n),
            Slot::Refused(name) => self
                .refused_syscalls
                .entry(name.clone())
                .or_default()
                .add(ret, comm, n),
        }
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
    }
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
