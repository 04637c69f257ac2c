//! One recording, whatever its target (a command's cgroup or a unit's): attaches the probes,
//! pumps events into the collector while the caller waits for its own end condition, and
//! turns what was seen into a profile.
use std::{
    io,
    path::Path,
    time::{Duration, SystemTime},
};

use tokio::io::unix::AsyncFd;

use crate::{
    model::observations::{MODULE_SYSCALLS, Observations},
    model::profile::{Profile, Provenance, Recording, SCHEMA},
    model::syscalls::Arch,
    recording::collector::Collector,
    recording::network::system_reaches_beyond,
    recording::recorder::{PROGRAM_STATS_ENV, RecorderError, SyscallCounts, SyscallRecorder},
    systemd::cgroup::CgroupRef,
    systemd::seccomp_log::KernelLog,
    util::host,
};

/// Environment variable that turns observations off (syscall counts only): a diagnostic for
/// measuring what each part of a recording costs.
pub const NO_OBSERVE_ENV: &str = "LEARNER_NO_OBSERVE";

/// How often the exact-match fallback looks for new child cgroups.
pub(crate) const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// How often the kernel's deduplication maps take turns (see `rotate_dedup`).
pub(crate) const DEDUP_ROTATION: Duration = Duration::from_millis(250);
/// Distinct events since the last deduplication turn that bring the next turn forward: the
/// collector keeps each one until the turn after, and at 100,000 events a second the 250 ms
/// turns alone held 15 MB of them.
pub(crate) const DEDUP_TURN_EVENTS: usize = 4096;
/// Most events read at a deduplication turn before it takes the kernel's counts: with a
/// backlog, reading it all first held every distinct event of a burst until the next turn
/// (109 MiB on the bench's path-heavy row). Counts that come before their event wait for it
/// (see `Collector::set_events_pending`).
pub(crate) const EVENTS_PER_TURN: usize = 4 * DEDUP_TURN_EVENTS;

pub(crate) type EventRing = aya::maps::RingBuf<aya::maps::MapData>;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Recorder(#[from] RecorderError),
    #[error("reading events from the kernel: {0}")]
    Events(io::Error),
    #[error("cannot read the kernel log (/dev/kmsg) for seccomp kills: {0}")]
    KernelLog(io::Error),
}

pub struct Session {
    pub recorder: SyscallRecorder,
    pub target: CgroupRef,
    pub collector: Collector,
    events: Option<AsyncFd<EventRing>>,
    follow: tokio::time::Interval,
    rotate: tokio::time::Interval,
    lost: u64,
    deduplicated: u64,
    /// New instances whose processes ran their own program before they were followed.
    late_instances: u64,
    /// Follows the target's cgroup as systemd makes it again (see [`Self::follow_creations`]).
    follower: Option<crate::recording::follower::CreationFollower>,
    /// For `learner check`: where the kernel logs the processes a seccomp filter kills.
    kernel_log: Option<KernelLog>,
    /// Where each of the collector's moves went, named while the cgroup still exists (a
    /// login's session scope is gone when the login ends).
    move_paths: Vec<Option<std::path::PathBuf>>,
    /// The recorded system's root as seen from here (`/`, or a guest's `/proc/N/root`).
    system_root: std::path::PathBuf,
}

/// What a finished session saw.
pub struct Outcome {
    pub counts: SyscallCounts,
    pub observations: Observations,
    pub recording: Recording,
}

impl Session {
    /// Attaches to `target` and starts observing; with `refused`, syscalls refused before
    /// they ran are reported too (`learner check`). `unit_root`: the recorded unit's
    /// RootDirectory=, if any. Must run inside a tokio runtime.
    pub fn start(
        target: CgroupRef,
        arch: Arch,
        refused: bool,
        unit_root: Option<String>,
    ) -> Result<Self, SessionError> {
        let mut recorder = SyscallRecorder::attach(&target)?;
        let mut collector = Collector::new(arch);
        collector.set_unit_root(unit_root);
        // A root a running process chrooted into must be the kernel side's before the
        // observation programs' first event.
        for pid in target.processes() {
            collector.note_running(pid as u32);
        }
        recorder.seed_roots(&collector.take_roots_found())?;
        observe(&mut recorder, arch)?;
        for pid in target.processes() {
            // Where each running process is now, and what its fds name, read again now that
            // the programs observe (a chdir while they attached was seen by neither): a
            // relative path it uses later is resolved against these until it changes
            // directory or reopens the fd (which is recorded), also once it is gone.
            collector.note_running(pid as u32);
        }
        recorder.seed_roots(&collector.take_roots_found())?;
        let kernel_log = if refused {
            // Opened before the probe, so no kill after it is missed.
            let log = KernelLog::from_now().map_err(SessionError::KernelLog)?;
            recorder.report_refused()?;
            Some(log)
        } else {
            None
        };
        let events = events_of(&mut recorder)?;
        Ok(Self {
            recorder,
            target,
            collector,
            events,
            follow: tokio::time::interval(FOLLOW_INTERVAL),
            rotate: tokio::time::interval(DEDUP_ROTATION),
            lost: 0,
            deduplicated: 0,
            late_instances: 0,
            follower: None,
            kernel_log,
            move_paths: Vec::new(),
            system_root: "/".into(),
        })
    }

    /// Handles whatever is due next: events, a deduplication turn, new child cgroups. Never
    /// completes on its own for long: select on it beside the end condition.
    pub async fn pump(&mut self) -> Result<(), SessionError> {
        let following = self.recorder.needs_following();
        tokio::select! {
            ready = readable(&mut self.events) => {
                let mut guard = ready.map_err(SessionError::Events)?;
                // A batch at a time, so a turn comes between two when a burst fills the
                // ring; the ring stays ready while it has more.
                if !drain(guard.get_inner_mut(), &mut self.collector, DEDUP_TURN_EVENTS) {
                    guard.clear_ready();
                }
                self.name_moves();
            }
            _ = self.rotate.tick() => self.dedup_turn()?,
            _ = self.follow.tick(), if following => self.recorder.follow(&self.target)?,
        }
        if self.collector.keys_waiting() >= DEDUP_TURN_EVENTS {
            self.dedup_turn()?;
            self.rotate.reset();
        }
        Ok(())
    }

    /// Brings observations up to date: waiting events and the counts of repeated ones.
    pub fn flush(&mut self) -> Result<(), SessionError> {
        if let Some(events) = self.events.as_mut() {
            drain(events.get_mut(), &mut self.collector, usize::MAX);
        }
        // A turn drains the map that was idle: two turns drain both.
        self.dedup_turn()?;
        self.dedup_turn()?;
        self.rotate.reset();
        Ok(())
    }

    /// What was seen so far, the probes still attached: syscall counts, observations as the
    /// collector has them (paths not yet resolved through symlinks), and the recording's
    /// sources and losses so far.
    pub fn snapshot(&mut self) -> Result<Outcome, SessionError> {
        self.flush()?;
        let (events, lost, _) = self.counters();
        let recording = Recording {
            syscall_source: self.recorder.source(),
            observation_source: self.recorder.observation.source.clone(),
            capability_source: self.recorder.observation.capability_source.clone(),
            skipped_probes: lossy_skips(
                self.recorder
                    .skipped
                    .iter()
                    .chain(&self.recorder.observation.skipped),
                crate::util::host::module_support(),
            ),
            module_support: Some(crate::util::host::module_support()),
            not_on_this_kernel: self.recorder.observation.not_on_this_kernel.clone(),
            lost_events: lost,
            missed: self.collector.missed.clone(),
            events,
            deduplicated_events: self.deduplicated,
            routes_beyond_loopback: system_reaches_beyond(&self.system_root),
            ..Default::default()
        };
        let mut observations = self.collector.observations.clone();
        // Checks made with a mounter's credentials (overlayfs) are noise, as at the end.
        self.collector
            .attribute_overridden_in(&mut observations.capabilities);
        Ok(Outcome {
            counts: self.recorder.syscall_counts()?,
            observations,
            recording,
        })
    }

    /// Takes the counts of deduplicated events from the kernel.
    fn dedup_turn(&mut self) -> Result<(), SessionError> {
        // Events first: a count applies to the key its first event brought (one that comes
        // before its event waits for it).
        let more = match self.events.as_mut() {
            Some(events) => drain(events.get_mut(), &mut self.collector, EVENTS_PER_TURN),
            None => false,
        };
        self.collector.set_events_pending(more);
        let repeats = self.recorder.rotate_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.collector.add_repeats(&repeats);
        Ok(())
    }

    /// The recorded system's root as seen from here, when it is a guest's (`/proc/N/root`):
    /// where recorded symlinks are followed, and whose network the recording judges (see
    /// `recording::network`).
    pub fn set_system_root(&mut self, root: std::path::PathBuf) {
        self.system_root = root;
    }

    /// The recorded system's service manager when it is a guest's init (see
    /// `Collector::set_host_manager`).
    pub fn set_guest_manager(&mut self, manager: u32) {
        self.collector.set_host_manager(manager);
    }

    /// Follows the target's cgroup from the moment systemd makes it again (a unit's restart),
    /// from a thread of its own; [`Self::follow_recreated`] still does the rest.
    pub fn follow_creations(&mut self) {
        self.follower = self.recorder.follow_creations(&self.target);
    }

    /// Follows the target's cgroup once systemd has recreated it (a restarted unit gets a new
    /// one, with a new id). Returns whether it found a new instance.
    pub fn follow_recreated(&mut self) -> Result<bool, SessionError> {
        let id = crate::systemd::cgroup::cgroup_id(&self.target.path).unwrap_or(0);
        if id == 0 || id == self.target.id {
            return Ok(false);
        }
        // The creation follower's verdict, when it followed this one.
        let by_follower = self.follower.as_ref().and_then(|f| f.followed(id));
        self.target.id = id;
        self.recorder.retarget(&self.target)?;
        let processes = self.target.processes();
        for &pid in &processes {
            // Where each is now and what its fds name, should one have set its working
            // directory or opened an fd unseen.
            self.collector.note_running(pid as u32);
        }
        self.recorder
            .seed_roots(&self.collector.take_roots_found())?;
        if let Some(late) = by_follower {
            self.late_instances += u64::from(late);
            return Ok(true);
        }
        // Followed from user space once systemd made the cgroup: under load, a process of
        // the new instance may be running its own program by now, its start-up unrecorded.
        let early = processes
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim_end().to_owned())
            .filter(|comm| !crate::recording::collector::is_service_manager(comm))
            .count() as u64;
        // Said, not fatal: the first instance's start-up is recorded from the restart (or
        // the recording says it was not), so this is a repeat of it (a crash recovery's may
        // differ, which is why generate warns).
        self.late_instances += u64::from(early > 0);
        Ok(true)
    }

    /// Finds the cgroups of moves not named yet.
    fn name_moves(&mut self) {
        if self.move_paths.len() == self.collector.moves.len() {
            return;
        }
        let mount = crate::systemd::cgroup::cgroup2_mount().ok();
        for m in &self.collector.moves[self.move_paths.len()..] {
            let path = mount
                .as_deref()
                .and_then(|root| crate::systemd::cgroup::find_by_id(root, m.dst_id));
            self.move_paths.push(path);
        }
    }

    /// The processes that were moved out of the target's subtree, by name and destination
    /// (moves within it, to a delegated child cgroup, change nothing).
    fn followed_processes(&mut self) -> std::collections::BTreeMap<String, u64> {
        self.name_moves();
        let mount = crate::systemd::cgroup::cgroup2_mount().unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        for (m, path) in self.collector.moves.iter().zip(&self.move_paths) {
            let shown = match path {
                Some(path) if path.starts_with(&self.target.path) => continue,
                Some(path) => format!("/{}", path.strip_prefix(&mount).unwrap_or(path).display()),
                None => format!("cgroup id {} (gone)", m.dst_id),
            };
            let name = if m.comm.is_empty() {
                format!("pid {}", m.pid)
            } else {
                m.comm.clone()
            };
            *out.entry(format!("{name} (moved by {}) -> {shown}", m.mover))
                .or_default() += 1;
        }
        out
    }

    /// For a progress line: events drained so far, events lost so far (the kernel's count
    /// read now, with those lost with their first copy and those the collector could not
    /// read), and the processes in the recorded cgroup now.
    pub fn counters(&self) -> (u64, u64, u64) {
        let lost = self.lost + self.recorder.lost_events().unwrap_or(0) + self.collector.malformed;
        (
            self.collector.events,
            lost,
            self.target.processes().len() as u64,
        )
    }

    /// Ends the recording: nothing in the target may run any more (or what it does now is
    /// not part of it). Detaches the probes.
    /// Symlinks in the recorded paths are followed in the recorded system's root (see
    /// [`Self::set_system_root`]).
    pub fn finish(mut self, cgroup_root: &str) -> Result<Outcome, SessionError> {
        // Before stopping: the runs after are the switch's, not the recording's.
        if let Some(path) = std::env::var_os(PROGRAM_STATS_ENV) {
            write_program_stats(&self.recorder, Path::new(&path));
        }
        self.recorder.stop()?;
        if let Some(events) = self.events.as_mut() {
            drain(events.get_mut(), &mut self.collector, usize::MAX);
        }
        self.collector.set_events_pending(false);
        let counts = self.recorder.syscall_counts()?;
        let repeats = self.recorder.drain_all_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.collector.add_repeats(&repeats)
            + self.collector.unmatched_counts()
            + self.recorder.lost_events()?
            + self.collector.malformed;
        let skipped_runs = self.recorder.skipped_runs();
        if skipped_runs > 0 {
            *self
                .collector
                .missed
                .entry("kernel: learner's programs skipped (BPF recursion protection)".into())
                .or_default() += skipped_runs;
        }
        if let Some(log) = self.kernel_log.as_mut() {
            // Only processes of the target: their threads were seen entering syscalls.
            let ours = self.recorder.entered_tgids()?;
            for kill in log.seccomp_kills() {
                if !ours.contains(&kill.pid) {
                    continue;
                }
                let name = self
                    .collector
                    .syscall_name(kill.syscall)
                    .unwrap_or_else(|| format!("#{}", kill.syscall));
                self.collector
                    .observations
                    .add_seccomp_kill(&name, kill.signal, &kill.comm);
            }
        }
        let module_support = crate::util::host::module_support();
        let skipped = lossy_skips(
            self.recorder
                .skipped
                .iter()
                .chain(&self.recorder.observation.skipped),
            module_support,
        );
        let recording = Recording {
            syscall_source: self.recorder.source(),
            observation_source: self.recorder.observation.source.clone(),
            capability_source: self.recorder.observation.capability_source.clone(),
            skipped_probes: skipped,
            module_support: Some(module_support),
            not_on_this_kernel: self.recorder.observation.not_on_this_kernel.clone(),
            lost_events: self.lost,
            missed: self.collector.missed.clone(),
            instances_followed_late: self.late_instances,
            events: self.collector.events,
            deduplicated_events: self.deduplicated,
            out_of_range_syscalls: counts.out_of_range,
            exit_code: None,
            leftover_processes_killed: 0,
            startup_seen: None,
            instances: None,
            service_manager_events: self.collector.service_manager_events,
            followed_processes: self.followed_processes(),
            untracked_tasks: self.recorder.task_stats()?.1,
            main_process_seen: None,
            routes_beyond_loopback: system_reaches_beyond(&self.system_root),
            exercised: Default::default(),
            baseline: Default::default(),
            collector_cpu_seconds: 0.0,
            collector_peak_mib: 0.0,
        };
        let mut recording = recording;
        let (cpu, peak) = own_usage();
        recording.collector_cpu_seconds = cpu;
        recording.collector_peak_mib = peak;
        drop(self.events);
        drop(self.recorder);
        self.collector.attribute_overridden_credentials();
        let mut observations = self.collector.observations;
        crate::recording::resolve::add_resolved_paths(&mut observations, &self.system_root);
        observations.derive_path_facts(cgroup_root);
        Ok(Outcome {
            counts,
            observations,
            recording,
        })
    }
}

/// Starts observing (or, for the diagnostic [`NO_OBSERVE_ENV`], counting syscalls only).
pub(crate) fn observe(recorder: &mut SyscallRecorder, arch: Arch) -> Result<(), SessionError> {
    if std::env::var_os(NO_OBSERVE_ENV).is_none() {
        recorder.observe(arch)?;
    } else {
        recorder.start()?;
    }
    trim_heap();
    Ok(())
}

/// Says what the recording cannot see on this kernel (probes skipped, no capability source),
/// and takes its event ring, registered for the recording's loop.
pub(crate) fn events_of(
    recorder: &mut SyscallRecorder,
) -> Result<Option<AsyncFd<EventRing>>, SessionError> {
    let skipped = lossy_skips(
        recorder.skipped.iter().chain(&recorder.observation.skipped),
        crate::util::host::module_support(),
    );
    if let Some(warning) = skipped_warning(&skipped) {
        eprintln!("{warning}");
    }
    if let Some(warning) = capability_warning(&recorder.observation.capability_source) {
        eprintln!("{warning}");
    }
    match recorder.take_events() {
        // SAFETY: the ring buffer owns its fd, which stays open and unchanged inside.
        Some(ring) => Ok(Some(
            unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
                .map_err(|e| SessionError::Events(e.into()))?,
        )),
        None => Ok(None),
    }
}

/// A profile from what a session saw. The caller fills in what was recorded (command, unit).
pub fn build_profile(
    arch: Arch,
    started: SystemTime,
    ended: SystemTime,
    outcome: Outcome,
) -> Profile {
    let mut syscalls = std::collections::BTreeMap::new();
    let mut unknown_syscalls = std::collections::BTreeMap::new();
    for (nr, count) in outcome.counts.by_number {
        match arch.syscall_name(nr) {
            Some(name) => {
                syscalls.insert(name.to_owned(), count);
            }
            None => {
                unknown_syscalls.insert(nr, count);
            }
        }
    }
    Profile {
        schema: SCHEMA,
        provenance: Provenance {
            learner_version: env!("CARGO_PKG_VERSION").to_owned(),
            hostname: host::hostname(),
            kernel: host::kernel_release(),
            arch: arch.name().to_owned(),
            systemd: host::systemd_version(),
            started: humantime::format_rfc3339_seconds(started).to_string(),
            ended: humantime::format_rfc3339_seconds(ended).to_string(),
            command: None,
            unit: None,
        },
        recording: outcome.recording,
        unit: None,
        syscalls,
        unknown_syscalls,
        observations: outcome.observations,
        merged_from: Vec::new(),
    }
}

/// The skipped probes (`NAME: why`) whose absence loses observations. Without module support
/// the module syscalls' probes lose nothing: those calls can only fail with ENOSYS, and the
/// syscall counter still counts them.
pub fn lossy_skips<'a>(
    skipped: impl IntoIterator<Item = &'a String>,
    module_support: bool,
) -> Vec<String> {
    skipped
        .into_iter()
        .filter(|s| {
            let probe = s.split(':').next().unwrap_or(s);
            module_support || !MODULE_SYSCALLS.contains(&probe)
        })
        .cloned()
        .collect()
}

/// The warning for probes that could not attach, with why: what they would have observed
/// is missing from the profile. Probes skipped for the same reason share it (one refused
/// program skips every syscall it serves). None when nothing is lost.
pub fn skipped_warning(lossy: &[String]) -> Option<String> {
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for skip in lossy {
        let (probe, reason) = skip.split_once(": ").unwrap_or((skip, ""));
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, probes)) => probes.push(probe),
            None => by_reason.push((reason, vec![probe])),
        }
    }
    let reasons: Vec<String> = by_reason
        .iter()
        .map(|(reason, probes)| match reason {
            &"" => probes.join(", "),
            _ => format!("{}: {reason}", probes.join(", ")),
        })
        .collect();
    (!lossy.is_empty()).then(|| {
        format!(
            "learner: warning: {} probe(s) could not attach, so what they observe is missing from this recording (the profile lists them under recording.skipped_probes): {}",
            lossy.len(),
            reasons.join("; ")
        )
    })
}

/// The warning for a recording without capability checks (`none: why`); None when a source
/// worked or observations are off altogether (said elsewhere).
pub fn capability_warning(source: &str) -> Option<String> {
    source.strip_prefix("none: ").map(|why| {
        format!(
            "learner: warning: capability checks are not observed ({why}): generate will leave CapabilityBoundingSet= and what rests on it unset"
        )
    })
}

/// Writes each program's runs and run time to `path` (see [`PROGRAM_STATS_ENV`]). A
/// diagnostic: when it fails the recording goes on, and says why.
fn write_program_stats(recorder: &SyscallRecorder, path: &Path) {
    let written = recorder.program_stats().and_then(|stats| {
        let json = serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| e.to_string())
    });
    if let Err(why) = written {
        eprintln!(
            "learner: {PROGRAM_STATS_ENV}: no statistics written to {}: {why}",
            path.display()
        );
    }
}

/// Hands the heap's free memory back to the kernel. Loading the programs parsed the
/// kernel's BTF (tens of MiB, freed by now); glibc would keep that memory, and the events'
/// would come on top of it for the whole recording.
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only gives back memory no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// learner's own CPU time (seconds) and peak resident memory (MiB) so far.
pub(crate) fn own_usage() -> (f64, f64) {
    // SAFETY: getrusage fills a local struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(u.ru_utime) + secs(u.ru_stime);
    (
        (cpu * 1000.0).round() / 1000.0,
        (u.ru_maxrss as f64 / 1024.0 * 10.0).round() / 10.0,
    )
}

/// Waits until the ring buffer has events; never, when there is none.
pub(crate) async fn readable(
    events: &mut Option<AsyncFd<EventRing>>,
) -> io::Result<tokio::io::unix::AsyncFdReadyMutGuard<'_, EventRing>> {
    match events {
        Some(fd) => fd.readable_mut().await,
        None => std::future::pending().await,
    }
}

/// Where events read from the ring buffer go: one recording's collector, or a router to
/// each unit's (`recording::all_units`).
pub(crate) trait EventSink {
    fn handle(&mut self, bytes: &[u8]);
}

impl EventSink for Collector {
    fn handle(&mut self, bytes: &[u8]) {
        Collector::handle(self, bytes);
    }
}

/// Reads at most `limit` waiting events; returns whether more may be waiting.
pub(crate) fn drain(ring: &mut EventRing, sink: &mut impl EventSink, limit: usize) -> bool {
    for _ in 0..limit {
        let Some(item) = ring.next() else {
            return false;
        };
        sink.handle(&item);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unknown_syscalls_apart() {
        let counts = crate::recording::recorder::SyscallCounts {
            by_number: [(0, 5), (1000, 2)].into(),
            out_of_range: 3,
        };
        let recording = crate::model::profile::Recording {
            out_of_range_syscalls: 3,
            ..Default::default()
        };
        let now = SystemTime::now();
        let outcome = Outcome {
            counts,
            observations: Default::default(),
            recording,
        };
        let p = build_profile(crate::model::syscalls::Arch::X86_64, now, now, outcome);
        assert_eq!(p.syscalls.get("read"), Some(&5));
        assert_eq!(p.unknown_syscalls.get(&1000), Some(&2));
        assert_eq!(p.recording.out_of_range_syscalls, 3);
    }

    fn skips(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_recording_without_capability_checks_is_warned_about() {
        assert_eq!(
            capability_warning("tracepoint capability/cap_capable"),
            None
        );
        assert_eq!(
            capability_warning("kprobe cap_capable (and kretprobe)"),
            None
        );
        // Observations off altogether (LEARNER_NO_OBSERVE): said by the caller, not here.
        assert_eq!(capability_warning(""), None);
        let w = capability_warning("none: no kprobes").expect("a warning");
        assert_eq!(
            w,
            "learner: warning: capability checks are not observed (no kprobes): generate will leave CapabilityBoundingSet= and what rests on it unset"
        );
    }

    #[test]
    fn module_probes_lose_nothing_without_module_support() {
        let skipped = skips(&[
            "init_module: no syscalls/sys_enter_init_module tracepoint",
            "finit_module: no syscalls/sys_enter_finit_module tracepoint",
            "delete_module: no syscalls/sys_enter_delete_module tracepoint",
        ]);
        let lossy = lossy_skips(&skipped, false);
        assert!(lossy.is_empty(), "{lossy:?}");
        assert_eq!(skipped_warning(&lossy), None);
    }

    #[test]
    fn other_missing_probes_are_warned_about_with_why() {
        let skipped = skips(&[
            "init_module: no syscalls/sys_enter_init_module tracepoint",
            "subtree: needs raw tracepoints, Linux 5.7+ (EINVAL)",
            "page faults: exceptions/page_fault_user: not found",
        ]);
        // With module support a missing module tracepoint is a real loss.
        assert_eq!(lossy_skips(&skipped, true), skipped);
        let lossy = lossy_skips(&skipped, false);
        assert_eq!(lossy, skipped[1..]);
        let warning = skipped_warning(&lossy).expect("a warning");
        assert!(
            warning.starts_with("learner: warning: 2 probe(s) could not attach"),
            "{warning}"
        );
        assert!(
            warning.ends_with(
                ": subtree: needs raw tracepoints, Linux 5.7+ (EINVAL); page faults: exceptions/page_fault_user: not found"
            ),
            "{warning}"
        );
    }

    #[test]
    fn probes_skipped_for_one_reason_share_it() {
        let refused = "the verifier refused it (Permission denied (os error 13)): R4 max value is outside of the allowed memory range";
        let skipped = vec![
            format!("open: {refused}"),
            format!("openat: {refused}"),
            "page faults: exceptions/page_fault_user: not found".to_owned(),
            format!("connect: {refused}"),
        ];
        let warning = skipped_warning(&skipped).expect("a warning");
        assert!(
            warning.contains(": 4 probe(s) could not attach"),
            "{warning}"
        );
        assert!(
            warning.ends_with(&format!(
                ": open, openat, connect: {refused}; page faults: exceptions/page_fault_user: not found"
            )),
            "{warning}"
        );
    }
}
