//! One recording, whatever its target (a command's cgroup or a unit's): attaches the probes,
//! pumps events into the collector while the caller waits for its own end condition, and
//! turns what was seen into a profile.
use std::{io, time::Duration};

use tokio::io::unix::AsyncFd;

use crate::{
    cgroup::CgroupRef,
    collector::Collector,
    observations::Observations,
    profile::Recording,
    recorder::{RecorderError, SyscallCounts, SyscallRecorder},
    seccomp_log::KernelLog,
    syscalls::Arch,
};

/// Environment variable that turns observations off (syscall counts only): a diagnostic for
/// measuring what each part of a recording costs.
pub const NO_OBSERVE_ENV: &str = "LEARNER_NO_OBSERVE";

/// How often the exact-match fallback looks for new child cgroups.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// How often the kernel's deduplication maps take turns (see `rotate_dedup`).
const DEDUP_ROTATION: Duration = Duration::from_millis(250);
/// Distinct events since the last deduplication turn that bring the next turn forward: the
/// collector keeps each one until the turn after, and at 100,000 events a second the 250 ms
/// turns alone held 15 MB of them.
const DEDUP_TURN_EVENTS: usize = 4096;

type EventRing = aya::maps::RingBuf<aya::maps::MapData>;

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
    /// For `learner check`: where the kernel logs the processes a seccomp filter kills.
    kernel_log: Option<KernelLog>,
}

/// What a finished session saw.
pub struct Outcome {
    pub counts: SyscallCounts,
    pub observations: Observations,
    pub recording: Recording,
}

impl Session {
    /// Attaches to `target` and starts observing; with `refused`, syscalls refused before
    /// they ran are reported too (`learner check`). Must run inside a tokio runtime.
    pub fn start(target: CgroupRef, arch: Arch, refused: bool) -> Result<Self, SessionError> {
        let mut recorder = SyscallRecorder::attach(&target)?;
        // Diagnostic: count syscalls only, to measure what observing costs.
        if std::env::var_os(NO_OBSERVE_ENV).is_none() {
            recorder.observe(arch)?;
        }
        let kernel_log = if refused {
            // Opened before the probe, so no kill after it is missed.
            let log = KernelLog::from_now().map_err(SessionError::KernelLog)?;
            recorder.report_refused()?;
            Some(log)
        } else {
            None
        };
        let skipped: Vec<&String> = recorder
            .skipped
            .iter()
            .chain(&recorder.observation.skipped)
            .collect();
        if !skipped.is_empty() {
            let names: Vec<&str> = skipped
                .iter()
                .map(|s| s.split(':').next().unwrap_or(s))
                .collect();
            eprintln!(
                "learner: warning: {} probe(s) not attached ({}); the profile's recording.skipped_probes says why",
                skipped.len(),
                names.join(", ")
            );
        }
        let events = match recorder.take_events() {
            // SAFETY: the ring buffer owns its fd, which stays open and unchanged inside.
            Some(ring) => Some(
                unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
                    .map_err(|e| SessionError::Events(e.into()))?,
            ),
            None => None,
        };
        Ok(Self {
            recorder,
            target,
            collector: Collector::new(arch),
            events,
            follow: tokio::time::interval(FOLLOW_INTERVAL),
            rotate: tokio::time::interval(DEDUP_ROTATION),
            lost: 0,
            deduplicated: 0,
            kernel_log,
        })
    }

    /// Handles whatever is due next: events, a deduplication turn, new child cgroups. Never
    /// completes on its own for long: select on it beside the end condition.
    pub async fn pump(&mut self) -> Result<(), SessionError> {
        let following = self.recorder.needs_following();
        tokio::select! {
            ready = readable(&mut self.events) => {
                let mut guard = ready.map_err(SessionError::Events)?;
                drain(guard.get_inner_mut(), &mut self.collector);
                guard.clear_ready();
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
        // A turn drains the map that was idle: two turns drain both.
        self.dedup_turn()?;
        self.dedup_turn()?;
        self.rotate.reset();
        Ok(())
    }

    /// Takes the counts of deduplicated events from the kernel.
    fn dedup_turn(&mut self) -> Result<(), SessionError> {
        // Events first: a count applies to the key its first event brought.
        if let Some(events) = self.events.as_mut() {
            drain(events.get_mut(), &mut self.collector);
        }
        let repeats = self.recorder.rotate_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.collector.add_repeats(&repeats);
        Ok(())
    }

    /// Follows the target's cgroup once systemd has recreated it (a restarted unit gets a new
    /// one, with a new id). Returns whether it found a new instance.
    pub fn follow_recreated(&mut self) -> Result<bool, SessionError> {
        let id = crate::cgroup::cgroup_id(&self.target.path).unwrap_or(0);
        if id == 0 || id == self.target.id {
            return Ok(false);
        }
        self.target.id = id;
        self.recorder.retarget(&self.target)?;
        Ok(true)
    }

    /// Distinct syscalls, paths, capabilities and families so far, and events lost, for a
    /// progress line.
    pub fn progress(&self) -> (usize, usize, usize, usize, u64) {
        let o = &self.collector.observations;
        let families: std::collections::BTreeSet<&str> = o
            .sockets
            .keys()
            .map(|k| k.split('/').next().unwrap_or(k))
            .collect();
        let syscalls = self
            .recorder
            .syscall_counts()
            .map(|c| c.by_number.len())
            .unwrap_or(0);
        (
            syscalls,
            o.paths.len(),
            o.capabilities.len(),
            families.len(),
            self.lost,
        )
    }

    /// Ends the recording: nothing in the target may run any more (or what it does now is
    /// not part of it). Detaches the probes.
    pub fn finish(mut self, cgroup_root: &str) -> Result<Outcome, SessionError> {
        if let Some(events) = self.events.as_mut() {
            drain(events.get_mut(), &mut self.collector);
        }
        let counts = self.recorder.syscall_counts()?;
        let repeats = self.recorder.drain_all_dedup()?;
        self.deduplicated += repeats.values().sum::<u64>();
        self.lost += self.collector.add_repeats(&repeats)
            + self.recorder.lost_events()?
            + self.collector.malformed;
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
        let mut skipped = self.recorder.skipped.clone();
        skipped.extend(self.recorder.observation.skipped.iter().cloned());
        let recording = Recording {
            syscall_source: self.recorder.source(),
            observation_source: self.recorder.observation.source.clone(),
            capability_source: self.recorder.observation.capability_source.clone(),
            skipped_probes: skipped,
            lost_events: self.lost,
            events: self.collector.events,
            deduplicated_events: self.deduplicated,
            out_of_range_syscalls: counts.out_of_range,
            exit_code: None,
            leftover_processes_killed: 0,
            startup_seen: None,
            instances: None,
            service_manager_events: self.collector.service_manager_events,
            collector_cpu_seconds: 0.0,
            collector_peak_mib: 0.0,
        };
        let mut recording = recording;
        let (cpu, peak) = own_usage();
        recording.collector_cpu_seconds = cpu;
        recording.collector_peak_mib = peak;
        drop(self.events);
        drop(self.recorder);
        let mut observations = self.collector.observations;
        observations.derive_path_facts(cgroup_root);
        Ok(Outcome {
            counts,
            observations,
            recording,
        })
    }
}

/// learner's own CPU time (seconds) and peak resident memory (MiB) so far.
fn own_usage() -> (f64, f64) {
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
async fn readable(
    events: &mut Option<AsyncFd<EventRing>>,
) -> io::Result<tokio::io::unix::AsyncFdReadyMutGuard<'_, EventRing>> {
    match events {
        Some(fd) => fd.readable_mut().await,
        None => std::future::pending().await,
    }
}

fn drain(ring: &mut EventRing, collector: &mut Collector) {
    while let Some(item) = ring.next() {
        collector.handle(&item);
    }
}
