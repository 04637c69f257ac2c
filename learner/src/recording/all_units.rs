//! Every service unit of a system manager recorded at once (`learner record --all`): one set
//! of programs on the manager's system.slice, with syscalls counted and events deduplicated
//! per cgroup in the kernel, and each event handed to its unit's own collector here, so each
//! unit gets the profile a recording of it alone would have.
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use learner_common::{CapabilityEvent, EventTag, IoUringEvent, MovedEvent, SyscallEvent};
use tokio::io::unix::AsyncFd;

use crate::{
    model::{profile::Recording, syscalls::Arch},
    recording::{
        cgroup_names::CgroupNames,
        collector::Collector,
        network::system_reaches_beyond,
        recorder::{SyscallCounts, SyscallRecorder},
        session::{
            self, DEDUP_ROTATION, DEDUP_TURN_EVENTS, EVENTS_PER_TURN, EventRing, EventSink,
            FOLLOW_INTERVAL, Outcome, SessionError,
        },
    },
    systemd::{cgroup::CgroupRef, manager::Systemd},
    util::{
        host,
        progress::{Mode, Progress, Status},
    },
};

/// Units left out unless named in `--include`: the manager's core (recording them records
/// every other unit's logging and bus traffic a second time) and learner's own.
pub const CORE_UNITS: &[&str] = &[
    "systemd-journald.service",
    "systemd-udevd.service",
    "systemd-logind.service",
    "dbus.service",
    "dbus-broker.service",
    "learner-*.service",
    "learner.service",
];

#[derive(Debug, thiserror::Error)]
pub enum AllError {
    #[error("learner must run as root to load eBPF programs")]
    NotRoot,
    #[error("unsupported architecture {0}")]
    UnknownArch(&'static str),
    #[error(transparent)]
    Systemd(#[from] crate::systemd::manager::SystemdError),
    #[error("no system.slice at {0}: is this a systemd host?")]
    NoSlice(PathBuf),
    #[error("cannot watch the cgroups below {path}: {source}")]
    Watch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot write into {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which units `record --all` records.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Selection {
    /// Excluded ones never; with `--include`, only those it names; otherwise every one but
    /// the core ([`CORE_UNITS`]), which only an `--include` of its exact name brings in.
    pub fn selects(&self, unit: &str) -> bool {
        if self.exclude.iter().any(|p| glob(p, unit)) {
            return false;
        }
        let core = CORE_UNITS.iter().any(|p| glob(p, unit));
        if core {
            return self.include.iter().any(|p| p == unit);
        }
        self.include.is_empty() || self.include.iter().any(|p| glob(p, unit))
    }
}

/// Shell-style matching of a unit name: `*` any run, `?` any one character.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Where an event's cgroup belongs.
#[derive(Clone, Copy)]
enum Place {
    /// A recorded unit's (its index).
    Unit(usize),
    /// A unit not recorded, or a slice: the event is dropped.
    Elsewhere,
    /// Not below the slice (a process that left its unit's cgroup), or gone before it was
    /// named: the event goes by its process.
    Unknown,
}

/// One recorded unit's part of the events.
pub struct UnitPart {
    pub unit: String,
    /// The cgroup it was first seen in (its processes are noted from there down).
    path: PathBuf,
    pub collector: Collector,
    /// Its cgroups seen, and whether each was made while recording.
    pub cgroups: BTreeMap<u64, bool>,
}

/// Hands each event to its unit's collector, and each count of repeats to the unit whose
/// event it counts.
pub struct Router {
    arch: Arch,
    names: CgroupNames,
    selection: Selection,
    pub parts: Vec<UnitPart>,
    by_name: HashMap<String, usize>,
    by_cgroup: HashMap<u64, Place>,
    /// Each process's unit (none: a unit not recorded), by its events in a unit's cgroup:
    /// for its events once it has left the slice. Let go when it exits.
    by_tgid: HashMap<u32, Option<usize>>,
    /// exit_group's number: the process's last event.
    exit_group: Option<u32>,
    /// Whose each deduplication key is (none: dropped), for two turns as the collectors keep
    /// theirs; a capability check's for the whole recording, as the collector keeps those.
    keys: HashMap<u64, Option<usize>>,
    keys_before: HashMap<u64, Option<usize>>,
    cap_keys: HashMap<u64, Option<usize>>,
    /// Counts whose event has not been read yet (see `Collector::set_events_pending`).
    early: HashMap<u64, u64>,
    events_pending: bool,
    pub events: u64,
    pub malformed: u64,
    /// Events of no recorded unit that could be told: a cgroup gone before it was named, of
    /// a process never seen in a unit.
    pub unattributed: u64,
    /// Events of units not recorded, by unit (or slice path).
    pub left_out: BTreeMap<String, u64>,
    /// Each running unit's RootDirectory= (see `Collector::set_unit_root`).
    unit_roots: HashMap<String, String>,
    /// The recorded system's service manager, when it is a guest's init (see
    /// `Collector::set_host_manager`).
    guest_manager: Option<u32>,
}

impl Router {
    pub fn new(arch: Arch, names: CgroupNames, selection: Selection) -> Self {
        Self {
            arch,
            names,
            selection,
            parts: Vec::new(),
            by_name: HashMap::new(),
            by_cgroup: HashMap::new(),
            by_tgid: HashMap::new(),
            exit_group: arch.syscall_number("exit_group"),
            keys: HashMap::new(),
            keys_before: HashMap::new(),
            cap_keys: HashMap::new(),
            early: HashMap::new(),
            events_pending: false,
            events: 0,
            malformed: 0,
            unattributed: 0,
            left_out: BTreeMap::new(),
            unit_roots: HashMap::new(),
            guest_manager: None,
        }
    }

    /// The unit part of `unit`, made on first sight: its running processes are noted as a
    /// single recording notes its target's.
    fn part(&mut self, unit: &str, path: &Path) -> usize {
        if let Some(&i) = self.by_name.get(unit) {
            return i;
        }
        let mut collector = Collector::new(self.arch);
        collector.set_unit_root(self.unit_roots.get(unit).cloned());
        if let Some(manager) = self.guest_manager {
            collector.set_host_manager(manager);
        }
        for pid in
            crate::systemd::cgroup::CgroupRef::at(Path::new("/"), path.to_owned()).processes()
        {
            collector.note_running(pid as u32);
        }
        self.parts.push(UnitPart {
            unit: unit.to_owned(),
            path: path.to_owned(),
            collector,
            cgroups: BTreeMap::new(),
        });
        self.by_name.insert(unit.to_owned(), self.parts.len() - 1);
        self.parts.len() - 1
    }

    /// Makes the part of every selected unit that runs now, its processes noted (where each
    /// is, what its fds name, a root it chrooted into): before the programs observe, as a
    /// single recording notes its target's.
    pub fn note_units_running(&mut self, unit_roots: HashMap<String, String>) {
        self.unit_roots = unit_roots;
        let mut cgroups = self.names.all();
        // A unit's own cgroup before its children: its part notes the whole subtree.
        cgroups.sort_by_key(|(_, named)| named.path.components().count());
        for (_, named) in cgroups {
            if let Some(unit) = named.unit.filter(|u| self.selection.selects(u)) {
                self.part(&unit, &named.path);
            }
        }
    }

    /// Notes the running processes of every part again, now that the programs observe: a
    /// chdir while they attached was seen by neither.
    pub fn note_again(&mut self) {
        for part in &mut self.parts {
            let cgroup = crate::systemd::cgroup::CgroupRef::at(Path::new("/"), part.path.clone());
            for pid in cgroup.processes() {
                part.collector.note_running(pid as u32);
            }
        }
    }

    /// The roots of processes found chrooted (see `Collector::take_roots_found`).
    pub fn take_roots_found(&mut self) -> Vec<(u32, u64)> {
        self.parts
            .iter_mut()
            .flat_map(|p| p.collector.take_roots_found())
            .collect()
    }

    fn place(&mut self, cgroup: u64) -> Place {
        if let Some(&place) = self.by_cgroup.get(&cgroup) {
            return place;
        }
        let place = match self.names.get(cgroup) {
            None => Place::Unknown,
            Some(named) => match named.unit {
                Some(unit) if self.selection.selects(&unit) => {
                    let i = self.part(&unit, &named.path);
                    // Its own cgroup, not one it made below it (Delegate=): an instance.
                    if named.path.file_name().is_some_and(|n| *n == *unit) {
                        self.parts[i]
                            .cgroups
                            .insert(cgroup, named.made_while_recording);
                    }
                    Place::Unit(i)
                }
                Some(_) | None => Place::Elsewhere,
            },
        };
        self.by_cgroup.insert(cgroup, place);
        place
    }

    /// The units each cgroup id of `counts` belongs to (counts of cgroups of no recorded
    /// unit are left out, and those never named are returned apart).
    pub fn counts_by_unit(
        &mut self,
        counts: HashMap<u64, SyscallCounts>,
    ) -> (HashMap<usize, SyscallCounts>, u64) {
        let mut out: HashMap<usize, SyscallCounts> = HashMap::new();
        let mut unnamed = 0;
        for (cgroup, c) in counts {
            match self.place(cgroup) {
                Place::Unit(i) => add_into(out.entry(i).or_default(), c),
                Place::Elsewhere => {}
                Place::Unknown => {
                    unnamed += c.by_number.values().sum::<u64>() + c.out_of_range;
                }
            }
        }
        (out, unnamed)
    }

    /// Adds the repeats the kernel counted to the units whose events they repeat; returns
    /// how many were lost with their first copy.
    pub fn add_repeats(&mut self, dedup: &HashMap<u64, u64>) -> u64 {
        let mut per_unit: Vec<HashMap<u64, u64>> = vec![HashMap::new(); self.parts.len()];
        let mut lost = 0;
        for (&key, &copies) in dedup {
            let owner = self
                .keys
                .get(&key)
                .or_else(|| self.keys_before.get(&key))
                .or_else(|| self.cap_keys.get(&key));
            match owner {
                Some(Some(i)) => {
                    per_unit[*i].insert(key, copies);
                }
                // A dropped event's repeats.
                Some(None) => {}
                None if self.events_pending => *self.early.entry(key).or_default() += copies,
                None => lost += copies + 1,
            }
        }
        for (part, repeats) in self.parts.iter_mut().zip(&per_unit) {
            lost += part.collector.add_repeats(repeats);
        }
        self.keys_before = std::mem::take(&mut self.keys);
        lost
    }

    pub fn set_events_pending(&mut self, pending: bool) {
        self.events_pending = pending;
    }

    /// Counts whose event never came: lost, with their copies.
    pub fn unmatched_counts(&mut self) -> u64 {
        let mut lost: u64 = self.early.drain().map(|(_, copies)| copies + 1).sum();
        for part in &mut self.parts {
            lost += part.collector.unmatched_counts();
        }
        lost
    }

    pub fn keys_waiting(&self) -> usize {
        self.keys.len()
    }
}

/// Reads a plain event of type `T` at the start of `bytes`, when they hold one.
fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    // SAFETY: length checked; the events are plain data, any bytes are valid.
    (bytes.len() >= size_of::<T>())
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

/// The process a thread belongs to, while it lives (a move names the thread).
fn tgid_of(tid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid)
}

impl Router {
    /// A recorded process moved to another cgroup (a login's session scope, a transient
    /// scope): its sandbox goes with it, and so does its unit. The destination is that unit's
    /// from now on, unless it is a unit's own cgroup.
    fn moved(&mut self, bytes: &[u8], ev: &MovedEvent) {
        let tgid = tgid_of(ev.pid);
        let owner = match self.by_tgid.get(&tgid) {
            Some(owner) => *owner,
            None => {
                // Its unit is not known: it made no event before it moved.
                self.unattributed += 1;
                return;
            }
        };
        if !matches!(self.place(ev.dst_id), Place::Unit(_)) {
            let place = owner.map_or(Place::Elsewhere, Place::Unit);
            self.by_cgroup.insert(ev.dst_id, place);
        }
        if let Some(i) = owner {
            self.parts[i].collector.handle(bytes);
        }
    }
}

impl EventSink for Router {
    fn handle(&mut self, bytes: &[u8]) {
        self.events += 1;
        let tag = bytes
            .get(..4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")));
        // The cgroup, the process, the deduplication key, whether it is a capability check's
        // (whose key the collector keeps for the whole recording), and whether the process
        // ends with it.
        let (cgroup, tgid, key, capability, exits) = match tag.and_then(EventTag::from_u32) {
            Some(EventTag::Syscall) => match read::<SyscallEvent>(bytes) {
                Some(ev) => (
                    ev.cgroup,
                    ev.tgid,
                    ev.key,
                    false,
                    Some(ev.nr) == self.exit_group,
                ),
                None => {
                    self.malformed += 1;
                    return;
                }
            },
            Some(EventTag::Capability) => match read::<CapabilityEvent>(bytes) {
                Some(ev) => (ev.cgroup, ev.tgid, ev.key, true, false),
                None => {
                    self.malformed += 1;
                    return;
                }
            },
            Some(EventTag::IoUring) => match read::<IoUringEvent>(bytes) {
                Some(ev) => (ev.cgroup, ev.tgid, ev.key, false, false),
                None => {
                    self.malformed += 1;
                    return;
                }
            },
            Some(EventTag::Moved) => match read::<MovedEvent>(bytes) {
                Some(ev) => return self.moved(bytes, &ev),
                None => {
                    self.malformed += 1;
                    return;
                }
            },
            _ => {
                self.malformed += 1;
                return;
            }
        };
        let place = self.place(cgroup);
        let owner = match place {
            Place::Unit(i) => Some(i),
            Place::Elsewhere => None,
            // Outside the slice and not where a recorded process was seen moving to: by its
            // process, if it was seen in a unit.
            Place::Unknown => match self.by_tgid.get(&tgid) {
                Some(&owner) => owner,
                None => {
                    self.unattributed += 1;
                    None
                }
            },
        };
        if key != 0 {
            let keys = if capability {
                &mut self.cap_keys
            } else {
                &mut self.keys
            };
            keys.insert(key, owner);
        }
        if exits {
            // Its pid may be another process's next.
            self.by_tgid.remove(&tgid);
        } else if !matches!(place, Place::Unknown) {
            self.by_tgid.insert(tgid, owner);
        }
        let Some(i) = owner else {
            // A count that came before this event is dropped with it, not lost.
            if key != 0 {
                self.early.remove(&key);
            }
            if let Place::Elsewhere = place {
                let name = self
                    .names
                    .get(cgroup)
                    .and_then(|n| n.unit)
                    .unwrap_or_else(|| "(a slice or scope)".into());
                *self.left_out.entry(name).or_default() += 1;
            }
            return;
        };
        let collector = &mut self.parts[i].collector;
        collector.handle(bytes);
        if key != 0
            && !self.early.is_empty()
            && let Some(copies) = self.early.remove(&key)
        {
            collector.add_counted_before(key, copies);
        }
    }
}

/// What `record --all` was asked.
#[derive(Debug, Clone)]
pub struct AllRequest {
    pub dir: PathBuf,
    pub duration: Option<Duration>,
    pub selection: Selection,
    /// Restart each recorded unit that runs, one at a time, once the probes are on: its
    /// start-up is then in its profile.
    pub restart: bool,
    pub guest: Option<u32>,
    pub quiet: bool,
}

/// One unit's row of what `record --all` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnitRecorded {
    pub unit: String,
    /// The profile written: `UNIT.profile.yaml`, or `UNIT.profile.partial.yaml` for a
    /// recording that cannot be a profile (then `why` says why).
    pub profile: Option<PathBuf>,
    pub syscalls: usize,
    pub paths: usize,
    pub events: u64,
    pub startup_seen: bool,
    pub why: Option<String>,
}

impl UnitRecorded {
    /// A unit that ran, selected, yet made not one syscall while recorded.
    fn unseen(unit: String) -> Self {
        Self {
            unit,
            profile: None,
            syscalls: 0,
            paths: 0,
            events: 0,
            startup_seen: false,
            why: Some("not one syscall of it was seen while recorded: no profile".into()),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AllReport {
    pub dir: PathBuf,
    pub ended_because: &'static str,
    pub units: Vec<UnitRecorded>,
    /// Units that ran but are not recorded (excluded, or the manager's core), by events seen.
    pub left_out: BTreeMap<String, u64>,
    pub events: u64,
    pub lost_events: u64,
    pub unattributed_events: u64,
    /// Running units selected but not below system.slice (so not recorded).
    pub outside_slice: Vec<String>,
}

/// The service unit this process runs in, if it runs in one.
fn own_unit() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    path.split('/')
        .find(|c| c.ends_with(".service"))
        .map(str::to_owned)
}

/// The running service units of the manager, by `systemctl list-units`.
fn running_services(systemd: &Systemd) -> Result<Vec<String>, AllError> {
    let out = systemd.systemctl(&[
        "list-units",
        "--type=service",
        "--state=running",
        "--plain",
        "--no-legend",
        "--no-pager",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|u| u.ends_with(".service"))
        .map(str::to_owned)
        .collect())
}

/// Records every selected unit for the duration (or until `stop`), and writes a profile of
/// each into the request's directory.
pub async fn record_all(
    req: AllRequest,
    stop: impl std::future::Future<Output = ()>,
) -> Result<AllReport, AllError> {
    if !host::is_root() {
        return Err(AllError::NotRoot);
    }
    let arch = Arch::native().ok_or(AllError::UnknownArch(std::env::consts::ARCH))?;
    let systemd = Systemd::new(req.guest)?;
    let slice = systemd.system_slice();
    if !slice.is_dir() {
        return Err(AllError::NoSlice(slice));
    }
    std::fs::create_dir_all(&req.dir).map_err(|source| AllError::Output {
        path: req.dir.clone(),
        source,
    })?;
    let mut selection = req.selection.clone();
    // learner itself, when it runs from a unit of this manager (a CI runner's, systemd-run's):
    // recording its own reading of events would feed itself.
    if req.guest.is_none()
        && let Some(own) = own_unit()
    {
        selection.exclude.push(own);
    }
    let listed: Vec<String> = running_services(&systemd)?
        .into_iter()
        .filter(|u| selection.selects(u))
        .collect();
    let target = CgroupRef::at(&systemd.cgroup_mount, slice.clone());
    let mut recorder = SyscallRecorder::attach_all(&target).map_err(SessionError::from)?;
    let names =
        CgroupNames::start(&slice, recorder.exact_ids()).map_err(|source| AllError::Watch {
            path: slice.clone(),
            source,
        })?;
    // Units of other slices (user@UID in user-UID.slice, machines, a unit's own Slice=) are
    // not below the recorder: never restarted, listed apart.
    let in_slice: std::collections::BTreeSet<String> = names
        .all()
        .into_iter()
        .filter_map(|(_, n)| n.unit)
        .collect();
    let (running, outside_slice): (Vec<String>, Vec<String>) =
        listed.into_iter().partition(|u| in_slice.contains(u));
    if !outside_slice.is_empty() {
        eprintln!(
            "learner: not recorded, not in system.slice: {}",
            outside_slice.join(", ")
        );
    }
    let mut router = Router::new(arch, names, selection);
    router.guest_manager = req.guest;
    // Their RootDirectory=, as a single recording of each would know it.
    let unit_roots = running
        .iter()
        .filter_map(|u| {
            let root = systemd.show(u).ok()?.root_directory;
            (!root.is_empty()).then(|| (u.clone(), root))
        })
        .collect();
    router.note_units_running(unit_roots);
    recorder
        .seed_roots(&router.take_roots_found())
        .map_err(SessionError::from)?;
    session::observe(&mut recorder, arch)?;
    router.note_again();
    recorder
        .seed_roots(&router.take_roots_found())
        .map_err(SessionError::from)?;
    let events = session::events_of(&mut recorder)?;
    let mut host = HostSession {
        recorder,
        target,
        router,
        events,
        follow: tokio::time::interval(FOLLOW_INTERVAL),
        rotate: tokio::time::interval(DEDUP_ROTATION),
        prune: tokio::time::interval(PRUNE_COUNTS),
        pruned: HashMap::new(),
        pruned_unnamed: 0,
        lost: 0,
        deduplicated: 0,
        unfollowed: None,
    };
    let started = SystemTime::now();
    let begun = std::time::Instant::now();
    let mut progress = Progress::new(
        format!("recording {} units", running.len()),
        Mode::for_stderr(req.quiet),
    );
    // Restarted one at a time, each waited for: a host's services restarted all at once
    // would start in an order and a load they never meet otherwise.
    let mut restarts: std::collections::VecDeque<String> = if req.restart {
        running.iter().cloned().collect()
    } else {
        Default::default()
    };
    let mut restart_job: Option<tokio::task::JoinHandle<(String, Result<(), String>)>> = None;
    let mut restart_failures: BTreeMap<String, String> = BTreeMap::new();
    let restart = |unit: String| {
        let systemd = systemd.clone();
        tokio::task::spawn_blocking(move || {
            let done = systemd
                .systemctl(&["restart", "--", &unit])
                .map(|_| ())
                .map_err(|e| e.to_string());
            (unit, done)
        })
    };
    if let Some(unit) = restarts.pop_front() {
        progress.say(&format!("learner: restarting {unit}"));
        restart_job = Some(restart(unit));
    }
    let mut up_at = (!req.restart || running.is_empty()).then(tokio::time::Instant::now);
    let far = || tokio::time::Instant::now() + Duration::from_secs(1 << 30);
    let deadline =
        tokio::time::sleep_until(up_at.zip(req.duration).map_or_else(far, |(up, d)| up + d));
    tokio::pin!(deadline);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let ended_because = loop {
        tokio::select! {
            _ = &mut deadline, if up_at.is_some() && req.duration.is_some() => break "the duration elapsed",
            _ = &mut stop => break "interrupted",
            done = async { restart_job.as_mut().expect("guarded").await }, if restart_job.is_some() => {
                restart_job = None;
                let (unit, done) = done.expect("restart task");
                if let Err(e) = done {
                    restart_failures.insert(unit, e);
                }
                match restarts.pop_front() {
                    Some(unit) => {
                        progress.say(&format!("learner: restarting {unit}"));
                        restart_job = Some(restart(unit));
                    }
                    None => {
                        let now = tokio::time::Instant::now();
                        up_at = Some(now);
                        if let Some(d) = req.duration {
                            deadline.as_mut().reset(now + d);
                        }
                    }
                }
            }
            _ = tick.tick() => {
                let (events, lost) = host.counters();
                progress.update(&Status {
                    elapsed: begun.elapsed(),
                    remaining: up_at.zip(req.duration).map(|(up, d)| d.saturating_sub(up.elapsed())),
                    events,
                    processes: 0,
                    lost,
                    doing: Some(format!("{} units seen", host.router.parts.len())),
                });
            }
            pumped = host.pump() => pumped?,
        }
    };
    progress.finish();
    let ended = SystemTime::now();
    let finished = host.finish(&systemd)?;
    let mut rows = Vec::new();
    for mut part in finished.parts {
        let unit = part.unit.clone();
        let made = part.made_while_recording;
        part.outcome.recording.startup_seen = Some(made);
        part.outcome.recording.instances = Some(part.instances);
        let events = part.outcome.recording.events;
        let counts = &part.outcome.counts;
        if events == 0 && counts.by_number.is_empty() && counts.out_of_range == 0 {
            // Running, and idle all along: nothing to learn from.
            rows.push(UnitRecorded::unseen(unit));
            continue;
        }
        let mut profile =
            crate::recording::session::build_profile(arch, started, ended, part.outcome);
        let info = systemd.show(&unit).ok();
        let cgroup = info.as_ref().map(|i| systemd.cgroup_path(i));
        crate::recording::unit::describe_unit(&systemd, &unit, cgroup.as_deref(), &mut profile);
        if let Some(warning) = info
            .as_ref()
            .and_then(|i| i.syscall_filter.recording_warning(&unit))
        {
            eprintln!("{warning}");
        }
        if made && let Some(main) = info.as_ref().and_then(|i| i.exec_start.first()) {
            profile.recording.main_process_seen = Some(crate::recording::unit::main_program_seen(
                &systemd, main, &profile,
            ));
        }
        let mut why = restart_failures
            .get(&unit)
            .map(|e| format!("its restart failed ({e})"));
        if why.is_none()
            && let Some(what) = profile.recording.incomplete()
        {
            why = Some(format!(
                "its recording is incomplete ({what}): a drop-in from it could be too tight"
            ));
        }
        if why.is_none() && profile.recording.main_process_seen == Some(false) {
            why = Some("its main program (ExecStart=) was never seen being executed".into());
        }
        let path = req.dir.join(format!("{unit}.profile.yaml"));
        let path = match why {
            Some(_) => crate::model::profile::partial_path(&path),
            None => path,
        };
        let pending =
            crate::model::profile::PendingProfile::create(&path).map_err(|e| AllError::Output {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        pending.commit(&profile).map_err(|e| AllError::Output {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        rows.push(UnitRecorded {
            unit,
            profile: Some(path),
            syscalls: profile.syscalls.len(),
            paths: profile.observations.paths.len(),
            events,
            startup_seen: made,
            why,
        });
    }
    // Units that ran and were selected, yet never seen at all.
    for unit in running {
        if !rows.iter().any(|r| r.unit == unit) {
            rows.push(UnitRecorded::unseen(unit));
        }
    }
    rows.sort_by(|a, b| a.unit.cmp(&b.unit));
    Ok(AllReport {
        dir: req.dir,
        ended_because,
        units: rows,
        left_out: finished.left_out,
        events: finished.events,
        lost_events: finished.lost,
        unattributed_events: finished.unattributed,
        outside_slice,
    })
}

/// How often the counts of cgroups that are gone are taken out of the kernel's table.
const PRUNE_COUNTS: Duration = Duration::from_secs(10);

/// Adds counts by unit to others.
fn add_counts(to: &mut HashMap<usize, SyscallCounts>, from: HashMap<usize, SyscallCounts>) {
    for (unit, c) in from {
        add_into(to.entry(unit).or_default(), c);
    }
}

fn add_into(sum: &mut SyscallCounts, c: SyscallCounts) {
    for (nr, n) in c.by_number {
        *sum.by_number.entry(nr).or_default() += n;
    }
    sum.out_of_range += c.out_of_range;
}

/// One unit's share of a finished recording of every unit.
struct FinishedPart {
    unit: String,
    outcome: Outcome,
    made_while_recording: bool,
    instances: u64,
}

struct Finished {
    parts: Vec<FinishedPart>,
    left_out: BTreeMap<String, u64>,
    events: u64,
    lost: u64,
    unattributed: u64,
}

/// A recording of every unit: as `session::Session`, with a router for a collector.
struct HostSession {
    recorder: SyscallRecorder,
    target: CgroupRef,
    router: Router,
    events: Option<AsyncFd<EventRing>>,
    follow: tokio::time::Interval,
    rotate: tokio::time::Interval,
    /// When the counts of cgroups that are gone are taken out of the kernel's table.
    prune: tokio::time::Interval,
    /// Those counts, by unit, and the calls of cgroups that could not be placed.
    pruned: HashMap<usize, SyscallCounts>,
    pruned_unnamed: u64,
    lost: u64,
    deduplicated: u64,
    /// Why new cgroups stopped being added to the exact-id probe's table, if they did.
    unfollowed: Option<String>,
}

impl HostSession {
    async fn pump(&mut self) -> Result<(), SessionError> {
        let following = self.recorder.needs_following();
        tokio::select! {
            ready = session::readable(&mut self.events) => {
                let mut guard = ready.map_err(SessionError::Events)?;
                if !session::drain(guard.get_inner_mut(), &mut self.router, DEDUP_TURN_EVENTS) {
                    guard.clear_ready();
                }
            }
            _ = self.rotate.tick() => self.dedup_turn()?,
            _ = self.prune.tick() => self.prune_counts()?,
            _ = self.follow.tick(), if following && self.unfollowed.is_none() => {
                // A full table of cgroup ids: new cgroups go unrecorded from now on, which
                // every unit's recording says (see `finish`), rather than ending it.
                if let Err(e) = self.recorder.follow(&self.target) {
                    self.unfollowed = Some(e.to_string());
                }
            }
        }
        // Units first seen now (started while recording, or idle until now) may have
        // processes found chrooted.
        let roots = self.router.take_roots_found();
        self.recorder.seed_roots(&roots)?;
        if self.router.keys_waiting() >= DEDUP_TURN_EVENTS {
            self.dedup_turn()?;
            self.rotate.reset();
        }
        Ok(())
    }

    /// Takes the counts of cgroups that are gone out of the kernel's table, by unit.
    fn prune_counts(&mut self) -> Result<(), SessionError> {
        let names = &self.router.names;
        // A cgroup never named (outside the slice) stays: it may be alive.
        let gone = |id: u64| {
            names.known(id).is_some_and(|n| {
                crate::systemd::cgroup::cgroup_id(&n.path).map_or(true, |now| now != id)
            })
        };
        let taken = self.recorder.take_gone_cgroup_counts(gone)?;
        self.recorder.forget_gone_cgroups(gone)?;
        let (by_unit, unnamed) = self.router.counts_by_unit(taken);
        add_counts(&mut self.pruned, by_unit);
        self.pruned_unnamed += unnamed;
        Ok(())
    }

    fn dedup_turn(&mut self) -> Result<(), SessionError> {
        let more = match self.events.as_mut() {
            Some(events) => session::drain(events.get_mut(), &mut self.router, EVENTS_PER_TURN),
            None => false,
        };
        self.router.set_events_pending(more);
        let repeats = self.recorder.rotate_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.router.add_repeats(&repeats);
        Ok(())
    }

    fn counters(&self) -> (u64, u64) {
        let lost = self.lost + self.recorder.lost_events().unwrap_or(0) + self.router.malformed;
        (self.router.events, lost)
    }

    /// Ends the recording and splits it by unit. What the kernel lost cannot be told by
    /// unit: each unit's recording carries the host's count, so none passes for whole.
    fn finish(mut self, systemd: &Systemd) -> Result<Finished, SessionError> {
        self.recorder.stop()?;
        if let Some(events) = self.events.as_mut() {
            session::drain(events.get_mut(), &mut self.router, usize::MAX);
        }
        self.router.set_events_pending(false);
        let repeats = self.recorder.drain_all_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.router.add_repeats(&repeats)
            + self.router.unmatched_counts()
            + self.recorder.lost_events()?
            + self.router.malformed;
        let (mut counts, mut unnamed_calls) =
            self.router.counts_by_unit(self.recorder.cgroup_counts()?);
        add_counts(&mut counts, std::mem::take(&mut self.pruned));
        unnamed_calls += self.pruned_unnamed;
        let skipped_runs = self.recorder.skipped_runs();
        let untracked = self.recorder.task_stats()?.1;
        let system_root = systemd.path_in_guest(Path::new("/"));
        let routes = system_reaches_beyond(&system_root);
        let skipped = session::lossy_skips(
            self.recorder
                .skipped
                .iter()
                .chain(&self.recorder.observation.skipped),
            host::module_support(),
        );
        let (cpu, peak) = session::own_usage();
        let cgroup_root = systemd.cgroup_mount.to_string_lossy().into_owned();
        let unattributed = self.router.unattributed;
        let mut parts = Vec::new();
        for (i, part) in std::mem::take(&mut self.router.parts)
            .into_iter()
            .enumerate()
        {
            let UnitPart {
                unit,
                mut collector,
                cgroups,
                ..
            } = part;
            let mut missed = collector.missed.clone();
            if skipped_runs > 0 {
                *missed
                    .entry("kernel: learner's programs skipped (BPF recursion protection)".into())
                    .or_default() += skipped_runs;
            }
            // Another unit's or this one's: either way this one may lack them.
            if unattributed > 0 {
                *missed
                    .entry("events of a cgroup gone before it could be named".into())
                    .or_default() += unattributed;
            }
            if let Some(why) = &self.unfollowed {
                *missed
                    .entry(format!("cgroups made later not recorded ({why})"))
                    .or_default() += 1;
            }
            if unnamed_calls > 0 {
                *missed
                    .entry("syscalls of a cgroup gone before it could be named".into())
                    .or_default() += unnamed_calls;
            }
            let recording = Recording {
                syscall_source: self.recorder.source(),
                observation_source: self.recorder.observation.source.clone(),
                capability_source: self.recorder.observation.capability_source.clone(),
                skipped_probes: skipped.clone(),
                module_support: Some(host::module_support()),
                not_on_this_kernel: self.recorder.observation.not_on_this_kernel.clone(),
                lost_events: self.lost,
                missed,
                events: collector.events,
                service_manager_events: collector.service_manager_events,
                untracked_tasks: untracked,
                routes_beyond_loopback: routes,
                collector_cpu_seconds: cpu,
                collector_peak_mib: peak,
                ..Default::default()
            };
            collector.attribute_overridden_credentials();
            let mut observations = collector.observations;
            crate::recording::resolve::add_resolved_paths(&mut observations, &system_root);
            observations.derive_path_facts(&cgroup_root);
            let counts = counts.remove(&i).unwrap_or_default();
            let mut recording = recording;
            recording.out_of_range_syscalls = counts.out_of_range;
            parts.push(FinishedPart {
                unit,
                made_while_recording: cgroups.values().any(|&made| made),
                instances: cgroups.len() as u64,
                outcome: Outcome {
                    counts,
                    observations,
                    recording,
                },
            });
        }
        Ok(Finished {
            parts,
            left_out: std::mem::take(&mut self.router.left_out),
            events: self.router.events,
            lost: self.lost,
            unattributed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::observations::Access;
    use std::os::unix::fs::MetadataExt as _;

    /// An openat of `path` by process `tgid` in the cgroup whose id is `cgroup`, with its
    /// deduplication key, as the kernel side sends it.
    fn opened(path: &str, tgid: u32, cgroup: u64, key: u64) -> Vec<u8> {
        // SAFETY: plain data; all zeroes is a valid event.
        let mut ev: SyscallEvent = unsafe { std::mem::zeroed() };
        ev.tag = EventTag::Syscall as u32;
        ev.nr = Arch::X86_64.syscall_number("openat").expect("openat");
        ev.pid = tgid;
        ev.tgid = tgid;
        ev.ret = 3;
        ev.args = [-100i64 as u64, 0, 0, 0, 0, 0];
        ev.strings[0][..path.len()].copy_from_slice(path.as_bytes());
        ev.string_len[0] = path.len() as u32 + 1;
        ev.comm[..3].copy_from_slice(b"svc");
        ev.key = key;
        ev.cgroup = cgroup;
        // SAFETY: reading the plain data as bytes.
        unsafe {
            std::slice::from_raw_parts(
                (&ev as *const SyscallEvent).cast::<u8>(),
                size_of::<SyscallEvent>(),
            )
        }
        .to_vec()
    }

    fn reads(router: &Router, unit: &str, path: &str) -> Option<u64> {
        let part = router.parts.iter().find(|p| p.unit == unit)?;
        part.collector
            .observations
            .paths
            .get(path)
            .and_then(|a| a.get(&Access::Read))
            .map(|seen| seen.count)
    }

    #[test]
    fn each_event_and_each_repeat_goes_to_its_units_collector() {
        // a's process: a pid no process here has (a move is looked up in /proc).
        const A: u32 = 4_100_010;
        // A cgroup tree stands in for system.slice: a cgroup's id is its directory's inode.
        let root = std::env::temp_dir().join(format!("learner-router-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in [
            "a.service",
            "b.service/delegated",
            "system-x.slice/x@1.service",
            "systemd-journald.service",
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        let id = |dir: &str| std::fs::metadata(root.join(dir)).expect("stat").ino();
        let names = CgroupNames::start(&root, None).expect("names");
        let mut r = Router::new(Arch::X86_64, names, Selection::default());
        // The same file opened in three units: each its own first copy (the kernel side
        // keys them apart by cgroup).
        r.handle(&opened("/etc/x", A, id("a.service"), 11));
        r.handle(&opened("/etc/x", 20, id("b.service/delegated"), 21));
        r.handle(&opened("/etc/x", 30, id("system-x.slice/x@1.service"), 31));
        // The core is left out, its repeats too.
        r.handle(&opened("/etc/x", 40, id("systemd-journald.service"), 41));
        // A process of a that left the slice: known by its process.
        r.handle(&opened("/etc/y", A, u64::MAX - 5, 12));
        // A cgroup nobody could name, of a process never seen: counted, in nobody's.
        r.handle(&opened("/etc/z", 99, u64::MAX - 6, 13));
        // A unit started while recording.
        std::fs::create_dir(root.join("c.service")).expect("mkdir");
        r.handle(&opened("/etc/x", 50, id("c.service"), 51));
        let lost = r.add_repeats(&[(11, 2), (21, 0), (31, 1), (41, 7), (12, 1), (13, 4)].into());
        assert_eq!(lost, 0, "a dropped event's repeats are not lost");
        assert_eq!(reads(&r, "a.service", "/etc/x"), Some(3));
        assert_eq!(reads(&r, "a.service", "/etc/y"), Some(2));
        assert_eq!(reads(&r, "b.service", "/etc/x"), Some(1));
        assert_eq!(reads(&r, "x@1.service", "/etc/x"), Some(2));
        assert_eq!(reads(&r, "c.service", "/etc/x"), Some(1));
        assert!(!r.parts.iter().any(|p| p.unit == "systemd-journald.service"));
        assert_eq!(r.left_out.get("systemd-journald.service"), Some(&1));
        assert_eq!(r.unattributed, 1);
        let made = |unit: &str| {
            r.parts
                .iter()
                .find(|p| p.unit == unit)
                .map(|p| p.cgroups.values().any(|&m| m))
        };
        assert_eq!(made("a.service"), Some(false));
        assert_eq!(made("c.service"), Some(true));
        // A process of a moved to a login's scope outside the slice: the scope is a's from
        // then on, also for a child it forks there (a pid never seen).
        let moved = {
            // SAFETY: plain data; all zeroes is a valid event.
            let mut ev: MovedEvent = unsafe { std::mem::zeroed() };
            ev.tag = EventTag::Moved as u32;
            ev.pid = A;
            ev.dst_id = u64::MAX - 8;
            // SAFETY: reading the plain data as bytes.
            unsafe {
                std::slice::from_raw_parts(
                    (&ev as *const MovedEvent).cast::<u8>(),
                    size_of::<MovedEvent>(),
                )
            }
            .to_vec()
        };
        r.handle(&moved);
        r.handle(&opened("/etc/v", 77, u64::MAX - 8, 14));
        assert_eq!(reads(&r, "a.service", "/etc/v"), Some(1));
        assert_eq!(r.unattributed, 1);
        // A count whose event is still unread waits for it; one whose event never comes is
        // lost with it; one whose event is dropped (the core's) is dropped with it.
        r.set_events_pending(true);
        assert_eq!(r.add_repeats(&[(61, 2), (62, 1), (63, 5)].into()), 0);
        r.handle(&opened("/etc/x", 40, id("systemd-journald.service"), 63));
        r.handle(&opened("/etc/w", 20, id("b.service/delegated"), 61));
        assert_eq!(reads(&r, "b.service", "/etc/w"), Some(3));
        r.set_events_pending(false);
        assert_eq!(r.unmatched_counts(), 2);
        // Counts by cgroup add up by unit.
        let counts = [
            (id("b.service"), [(0, 2)]),
            (id("b.service/delegated"), [(0, 3)]),
            (id("systemd-journald.service"), [(0, 9)]),
            (u64::MAX - 7, [(0, 4)]),
            (u64::MAX - 8, [(0, 6)]),
        ]
        .into_iter()
        .map(|(id, c)| {
            (
                id,
                SyscallCounts {
                    by_number: c.into(),
                    out_of_range: 0,
                },
            )
        })
        .collect();
        let (by_unit, unnamed) = r.counts_by_unit(counts);
        let b = r
            .parts
            .iter()
            .position(|p| p.unit == "b.service")
            .expect("b");
        assert_eq!(by_unit[&b].by_number[&0], 5);
        let a = r
            .parts
            .iter()
            .position(|p| p.unit == "a.service")
            .expect("a");
        assert_eq!(
            by_unit[&a].by_number[&0], 6,
            "the scope a's process moved to"
        );
        assert_eq!(by_unit.len(), 2);
        assert_eq!(unnamed, 4);
        drop(r);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn globs_match_unit_names() {
        assert!(glob("*", "nginx.service"));
        assert!(glob("postgresql@*.service", "postgresql@15-main.service"));
        assert!(glob("ngin?.service", "nginx.service"));
        assert!(!glob("nginx", "nginx.service"));
        assert!(!glob("*.socket", "nginx.service"));
    }

    #[test]
    fn the_core_is_left_out_unless_named() {
        let all = Selection::default();
        assert!(all.selects("nginx.service"));
        assert!(!all.selects("systemd-journald.service"));
        assert!(!all.selects("learner-watch@nginx.service"));
        let excluding = Selection {
            exclude: vec!["redis*".into()],
            ..Default::default()
        };
        assert!(!excluding.selects("redis-server.service"));
        assert!(excluding.selects("nginx.service"));
        let only = Selection {
            include: vec!["nginx.service".into(), "systemd-journald.service".into()],
            ..Default::default()
        };
        assert!(only.selects("nginx.service"));
        assert!(only.selects("systemd-journald.service"));
        assert!(!only.selects("redis-server.service"));
        // A glob never brings the core in.
        let globbed = Selection {
            include: vec!["*".into()],
            ..Default::default()
        };
        assert!(globbed.selects("nginx.service"));
        assert!(!globbed.selects("dbus.service"));
    }
}
