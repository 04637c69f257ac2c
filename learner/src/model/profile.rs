//! The profile: what a recorded service did, as a YAML file users keep in git and diff.
//!
//! It holds observations only, never policy: which directives they permit is decided later,
//! from the profile, by the generator.
use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{model::observations::Observations, util::atomic_file::PendingFile};

/// The profile format's version. Bumped when a field changes meaning or is removed.
/// 2: netlink sockets carry their protocol (`AF_NETLINK/SOCK_RAW/NETLINK_ROUTE`), and
/// scheduling facts show `|SCHED_RESET_ON_FORK`.
pub const SCHEMA: u32 = 2;
/// The oldest schema learner still reads (see [`Profile::lacks`]).
pub const OLDEST_SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot write profile {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read profile {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a learner profile: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{path} has profile schema {found}; this learner reads schemas {OLDEST_SCHEMA} to {SCHEMA}"
    )]
    Schema { path: PathBuf, found: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub schema: u32,
    pub provenance: Provenance,
    pub recording: Recording,
    /// `learner record`: the unit's files and settings as the manager reported them; None
    /// for `learner run` and for profiles of a learner that did not record them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::model::unit::UnitRecord>,
    /// Every syscall the recorded processes entered, by name, with how often.
    pub syscalls: BTreeMap<String, u64>,
    /// Syscall numbers that learner's table for `provenance.arch` has no name for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown_syscalls: BTreeMap<u32, u64>,
    /// Paths, sockets, capability checks, argument facts, processes.
    #[serde(flatten)]
    pub observations: Observations,
    /// For a merged profile (`learner merge`): where each input was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<Provenance>,
}

/// Where, when and of what the profile was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub learner_version: String,
    pub hostname: String,
    pub kernel: String,
    /// Syscall ABI of the recorded processes (`uname -m` spelling).
    pub arch: String,
    /// The installed systemd's version, when there is one.
    pub systemd: Option<u32>,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: String,
    /// The command recorded by `learner run` (argv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The unit recorded by `learner record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// How the recording was made, and how complete it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// The kernel hook and cgroup matching the syscall counts came from.
    pub syscall_source: String,
    /// Where paths, sockets and argument facts came from; empty when nowhere.
    #[serde(default)]
    pub observation_source: String,
    /// Where capability checks came from, or why they were not observed.
    #[serde(default)]
    pub capability_source: String,
    /// Probes the kernel could not attach, with why: what they would have seen is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_probes: Vec<String>,
    /// Whether the recording kernel had module support. Without it the module syscalls have
    /// no probes and can only fail, so `facts.module_loading` stays empty and only their
    /// counts under `syscalls` show that the service tried; nothing is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_support: Option<bool>,
    /// Traced syscalls the recording kernel does not have (no tracepoint, numbered above every
    /// syscall it has: fchmodat2 before Linux 6.6). A call can only fail with ENOSYS, and
    /// the syscall counter still counts it: nothing is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_on_this_kernel: Vec<String>,
    /// Events the kernel side could not deliver. Syscall counts are aggregated in the kernel
    /// and cannot be lost; observations travel as events and can be.
    pub lost_events: u64,
    /// Observations that events carried but could not be completed, by `syscall: what`
    /// (a relative path whose directory was never seen, a path or peer address that could
    /// not be read), each with how often: the drop-in knows nothing of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missed: BTreeMap<String, u64>,
    /// `learner record`: new instances (a restart, a crash) whose processes were already
    /// running their own program when the recording followed the instance's new cgroup:
    /// what each did first is missing (its start-up was recorded once before, or the
    /// recording says it was not).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub instances_followed_late: u64,
    /// Events received, and identical ones the kernel counted instead of sending.
    #[serde(default)]
    pub events: u64,
    #[serde(default)]
    pub deduplicated_events: u64,
    /// Syscalls whose number was outside the kernel-side table (x32 or invalid numbers).
    pub out_of_range_syscalls: u64,
    /// Exit code of the command (`learner run`), 128+N when signal N ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Processes still in the cgroup when the command exited; learner killed them.
    #[serde(default)]
    pub leftover_processes_killed: u64,
    /// `learner record`: whether the unit's start-up was recorded (with --restart), or only
    /// what it did from the moment recording began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_seen: Option<bool>,
    /// `learner record`: how many instances of the unit (cgroups, one per start) were followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    /// Events from systemd's own set-up of the unit's processes (comm `(name)`), left out of
    /// the observations: systemd applies the sandbox there, it is not the service.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub service_manager_events: u64,
    /// Processes of the service that were moved to a cgroup outside the recorded one (a
    /// login's session scope, a `systemd-run --scope`), and recorded there from then on:
    /// `NAME (moved by MOVER) -> CGROUP`, with how often.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub followed_processes: BTreeMap<String, u64>,
    /// Tasks forked while the kernel's task table was full: had one left the cgroup, it
    /// would not have been followed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_tasks: u64,
    /// `learner record --exercise`: each event the unit was driven through while recorded,
    /// and how it went (`restart: passed after 3.1s: ...`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exercised: BTreeMap<String, String>,
    /// `learner record --exercise`: how each event went, phase by phase, as the unit behaves
    /// on its own; `apply --exercise` holds the same events under a drop-in against it. Absent
    /// in profiles recorded before it (or without --exercise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: BTreeMap<String, EventBaseline>,
    /// `learner record --restart`: whether the unit's main program (ExecStart) was seen
    /// being executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_process_seen: Option<bool>,
    /// Whether the recorded system (its PID 1's network namespace) had a default route through
    /// an interface other than loopback. Without one (a test machine, a container without a
    /// network) nothing beyond this host could be reached: names did not resolve, and what
    /// the service would reach on a networked host was not seen. Absent in profiles of a
    /// learner that did not look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_beyond_loopback: Option<bool>,
    /// What the recording cost learner itself: CPU seconds and peak memory (MiB).
    #[serde(default)]
    pub collector_cpu_seconds: f64,
    #[serde(default)]
    pub collector_peak_mib: f64,
}

impl Recording {
    /// What the recording is missing, said in one phrase (`3 events lost, 2 observations
    /// missed (openat: relative path not resolved 2)`); None when it is complete.
    pub fn incomplete(&self) -> Option<String> {
        let missed: u64 = self.missed.values().sum();
        let mut parts = Vec::new();
        if self.lost_events > 0 {
            parts.push(format!("{} events lost", self.lost_events));
        }
        if missed > 0 {
            let kinds: Vec<String> = self
                .missed
                .iter()
                .map(|(what, n)| format!("{what} {n}"))
                .collect();
            parts.push(format!(
                "{missed} observations missed ({})",
                kinds.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// How one event of the unit's life went while it was recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventBaseline {
    /// The event did not apply to the unit (no ExecReload, no logrotate entry): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Its phases in order (a restart: stop, start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseBaseline>,
}

/// One phase of an event (`stop`, `kill`, `reload`, `rotate`, `start`) and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseBaseline {
    pub phase: String,
    /// `clean`; systemd's Result= (`exit-code`, `signal`, `timeout`, ...) for a run that
    /// ended otherwise; or `failed` when the phase did not do what was asked.
    pub ended: String,
    /// The main process's exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The signal that ended the main process, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// What went wrong, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    pub seconds: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The `capability_source` of a recording through the tracepoint.
pub const CAPABILITY_TRACEPOINT: &str = "tracepoint capability/cap_capable";

impl Default for Recording {
    /// A recording on which every observation source worked (what fixtures start from); a
    /// real recording names its sources itself.
    fn default() -> Self {
        Self {
            syscall_source: String::new(),
            observation_source: "syscalls/sys_enter_* and sys_exit_* tracepoints".into(),
            capability_source: CAPABILITY_TRACEPOINT.into(),
            skipped_probes: Vec::new(),
            not_on_this_kernel: Vec::new(),
            module_support: None,
            lost_events: 0,
            missed: BTreeMap::new(),
            instances_followed_late: 0,
            events: 0,
            deduplicated_events: 0,
            out_of_range_syscalls: 0,
            exit_code: None,
            leftover_processes_killed: 0,
            startup_seen: None,
            instances: None,
            service_manager_events: 0,
            followed_processes: BTreeMap::new(),
            untracked_tasks: 0,
            exercised: BTreeMap::new(),
            baseline: BTreeMap::new(),
            main_process_seen: None,
            routes_beyond_loopback: Some(true),
            collector_cpu_seconds: 0.0,
            collector_peak_mib: 0.0,
        }
    }
}

impl Recording {
    /// Whether capability checks were observed: `capability_source` names a source (empty is
    /// a recording without observations; `none: ...` says why there was none).
    pub fn capabilities_observed(&self) -> bool {
        !self.capability_source.is_empty() && !self.capability_source.starts_with("none")
    }
}

impl Profile {
    /// A profile of `unit` (schema [`SCHEMA`]) recorded on a made-up host (`h`, Linux 6.1.0,
    /// x86_64, systemd 252) from 10:00 to 10:10 on 2026-11-28, with nothing in it yet: the
    /// fixture tests build on, here and in the tests crate.
    #[doc(hidden)]
    pub fn example(unit: &str) -> Self {
        Self {
            schema: SCHEMA,
            provenance: Provenance {
                learner_version: "0.1.0".into(),
                hostname: "h".into(),
                kernel: "6.1.0".into(),
                arch: "x86_64".into(),
                systemd: Some(252),
                started: "2026-11-28T10:00:00Z".into(),
                ended: "2026-11-28T10:10:00Z".into(),
                command: None,
                unit: Some(unit.into()),
            },
            recording: Recording::default(),
            unit: None,
            syscalls: BTreeMap::new(),
            unknown_syscalls: BTreeMap::new(),
            observations: Observations::recording(),
            merged_from: Vec::new(),
        }
    }

    /// What this profile's schema did not record, which the generator then assumes the worst
    /// of. Empty for the current schema.
    pub fn lacks(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.schema < 2 {
            out.push(
                "netlink protocols (every AF_NETLINK socket is taken to need the host's network)",
            );
            out.push("SCHED_RESET_ON_FORK in scheduling policies (RestrictRealtime= refuses it)");
        }
        out
    }

    /// Writes the profile so that `path` holds either the old file or the whole new one.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ProfileError> {
        PendingProfile::create(path)?.commit(self)
    }

    /// Reads and checks a profile.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a profile's text; `path` is only for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let malformed = |message: String| ProfileError::Malformed {
            path: path.to_owned(),
            message,
        };
        // Check the schema first, so a future format gets the right error, not a field one.
        // Read on its own, the rest skipped: a generic YAML tree of a large profile took ten
        // times the memory of the profile itself.
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<u64>,
        }
        let schema = serde_yaml::from_str::<SchemaOnly>(text)
            .map_err(|e| malformed(e.to_string()))?
            .schema
            .ok_or_else(|| malformed("no `schema` number".into()))?;
        if !(u64::from(OLDEST_SCHEMA)..=u64::from(SCHEMA)).contains(&schema) {
            return Err(ProfileError::Schema {
                path: path.to_owned(),
                found: u32::try_from(schema).unwrap_or(u32::MAX),
            });
        }
        serde_yaml::from_str(text).map_err(|e| malformed(e.to_string()))
    }
}

/// Where a broken recording's data goes: beside the profile asked for, under a name that
/// says it is not one (`x.profile.yaml` -> `x.profile.partial.yaml`).
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = match name.strip_suffix(".yaml") {
        Some(stem) => format!("{stem}.partial.yaml"),
        None => format!("{name}.partial"),
    };
    path.with_file_name(partial)
}

/// A profile file about to be written. Its temporary file is created up front, so a recording
/// learns that its output cannot be written before it starts rather than after it ends.
#[derive(Debug)]
pub struct PendingProfile(PendingFile);

impl PendingProfile {
    pub fn create(path: &Path) -> Result<Self, ProfileError> {
        PendingFile::create(path)
            .map(Self)
            .map_err(|source| ProfileError::Write {
                path: path.to_owned(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Commits to `path` instead (in the same directory).
    pub fn redirect(&mut self, path: &Path) {
        self.0.redirect(path);
    }

    pub fn commit(self, profile: &Profile) -> Result<(), ProfileError> {
        let path = self.0.path().to_owned();
        let werr = |source| ProfileError::Write { path, source };
        let yaml = match serde_yaml::to_string(profile) {
            Ok(yaml) => yaml,
            Err(e) => return Err(werr(io::Error::other(e))),
        };
        self.0
            .commit(&[HEADER.as_bytes(), yaml.as_bytes()])
            .map_err(werr)
    }
}

impl Profile {
    /// The union of several profiles' observations, for generating one drop-in from staging
    /// runs, replicas and hosts. Provenance is the first profile's, its time span widened to
    /// cover all; `sources` says where each came from.
    pub fn merged(profiles: &[Profile]) -> Option<Profile> {
        let (first, rest) = profiles.split_first()?;
        let mut out = first.clone();
        let sources = |p: &Profile| {
            if p.merged_from.is_empty() {
                vec![p.provenance.clone()]
            } else {
                p.merged_from.clone()
            }
        };
        out.merged_from = sources(first);
        for p in rest {
            // The union knows only what every part recorded.
            out.schema = out.schema.min(p.schema);
            out.merged_from.extend(sources(p));
            for (name, n) in &p.syscalls {
                *out.syscalls.entry(name.clone()).or_default() += n;
            }
            for (nr, n) in &p.unknown_syscalls {
                *out.unknown_syscalls.entry(*nr).or_default() += n;
            }
            out.observations.merge(&p.observations);
            match (&mut out.unit, &p.unit) {
                (None, _) => out.unit = p.unit.clone(),
                // A user seen shared in any recording is shared.
                (Some(unit), Some(other)) => {
                    for name in &other.user_shared_with {
                        if !unit.user_shared_with.contains(name) {
                            unit.user_shared_with.push(name.clone());
                        }
                    }
                    unit.user_shared_with.sort();
                    // A unit's written `no` is known from any recording that read its files
                    // (older ones did not).
                    for (key, file) in &other.written_no {
                        unit.written_no
                            .entry(key.clone())
                            .or_insert_with(|| file.clone());
                    }
                }
                (Some(_), None) => {}
            }
            let r = &mut out.recording;
            r.lost_events += p.recording.lost_events;
            for (what, n) in &p.recording.missed {
                *r.missed.entry(what.clone()).or_default() += n;
            }
            r.instances_followed_late += p.recording.instances_followed_late;
            r.events += p.recording.events;
            r.deduplicated_events += p.recording.deduplicated_events;
            r.out_of_range_syscalls += p.recording.out_of_range_syscalls;
            if p.recording.module_support == Some(false) {
                r.module_support = Some(false);
            }
            r.untracked_tasks += p.recording.untracked_tasks;
            r.leftover_processes_killed += p.recording.leftover_processes_killed;
            r.service_manager_events += p.recording.service_manager_events;
            for (moved, n) in &p.recording.followed_processes {
                *r.followed_processes.entry(moved.clone()).or_default() += n;
            }
            // Seen in any part is seen in the union (a first start's recording merged with
            // a life's: the start-up in one, the exercised events in the other).
            let either = |a: Option<bool>, b: Option<bool>| match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
            };
            r.startup_seen = either(r.startup_seen, p.recording.startup_seen);
            r.main_process_seen = either(r.main_process_seen, p.recording.main_process_seen);
            // A part recorded without a network may have done there what a networked part
            // never did: the union is trusted only as far as every part is.
            r.routes_beyond_loopback =
                match (r.routes_beyond_loopback, p.recording.routes_beyond_loopback) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
            r.instances = match (r.instances, p.recording.instances) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            // Each event as the first part that carried it out tells it, a failed account
            // giving way to one that passed.
            for (event, how) in &p.recording.exercised {
                match r.exercised.get(event) {
                    Some(had) if !had.contains("FAILED") || how.contains("FAILED") => {}
                    _ => {
                        r.exercised.insert(event.clone(), how.clone());
                    }
                }
            }
            // Each event's baseline from the first profile that went through it.
            for (event, baseline) in &p.recording.baseline {
                r.baseline
                    .entry(event.clone())
                    .or_insert_with(|| baseline.clone());
            }
            // A source one part lacked is lacking in the union: what that part did there
            // is unknown.
            if r.capabilities_observed() && !p.recording.capabilities_observed() {
                r.capability_source = p.recording.capability_source.clone();
            }
            if p.recording.observation_source.is_empty() {
                r.observation_source.clear();
            }
            for skip in &p.recording.skipped_probes {
                if !r.skipped_probes.contains(skip) {
                    r.skipped_probes.push(skip.clone());
                }
            }
            // Absent where each part was recorded: nothing missing from that part.
            for name in &p.recording.not_on_this_kernel {
                if !r.not_on_this_kernel.contains(name) {
                    r.not_on_this_kernel.push(name.clone());
                }
            }
            // RFC 3339 UTC strings of one format order as the times do.
            if p.provenance.started < out.provenance.started {
                out.provenance.started = p.provenance.started.clone();
            }
            if p.provenance.ended > out.provenance.ended {
                out.provenance.ended = p.provenance.ended.clone();
            }
        }
        Some(out)
    }
}

const HEADER: &str =
    "# learner profile: what a recorded service did. Format: see learner's README.\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Profile {
        let mut p = Profile {
            recording: Recording {
                syscall_source: "raw_tracepoint/sys_enter".into(),
                exit_code: Some(0),
                ..Default::default()
            },
            syscalls: BTreeMap::from([("read".into(), 3), ("openat".into(), 1)]),
            unknown_syscalls: BTreeMap::from([(999, 2)]),
            ..Profile::example("")
        };
        p.provenance.started = "2026-11-28T20:00:00Z".into();
        p.provenance.ended = "2026-11-28T20:00:01Z".into();
        p.provenance.command = Some(vec!["true".into()]);
        p.provenance.unit = None;
        p
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("learner-profile-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.profile.yaml");
        let p = sample();
        p.write_atomic(&path).unwrap();
        assert_eq!(Profile::load(&path).unwrap(), p);
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_schema_1_and_says_what_it_lacks() {
        let mut old = sample();
        old.schema = 1;
        let yaml = serde_yaml::to_string(&old).unwrap();
        let p = Profile::parse(&yaml, Path::new("old.yaml")).unwrap();
        assert_eq!(p.schema, 1);
        assert!(p.lacks().iter().any(|l| l.contains("netlink")));
        assert!(sample().lacks().is_empty());
        // A merge with a schema 1 profile lacks what that one lacks.
        let merged = Profile::merged(&[sample(), old]).unwrap();
        assert_eq!(merged.schema, 1);
    }

    #[test]
    fn a_first_start_merged_with_a_life_keeps_what_either_went_through() {
        let mut first = sample();
        first.recording.startup_seen = Some(true);
        first.recording.main_process_seen = Some(true);
        first.recording.instances = Some(1);
        let mut life = sample();
        life.recording.startup_seen = Some(false);
        life.recording.instances = Some(4);
        life.recording.exercised = BTreeMap::from([
            ("restart".into(), "passed after 1.0s".into()),
            ("reload".into(), "FAILED after 0.2s".into()),
        ]);
        let mut again = sample();
        again.recording.exercised = BTreeMap::from([("reload".into(), "passed after 0.5s".into())]);
        let merged = Profile::merged(&[first, life, again]).unwrap();
        let r = &merged.recording;
        assert_eq!(r.startup_seen, Some(true));
        assert_eq!(r.main_process_seen, Some(true));
        assert_eq!(r.instances, Some(5));
        assert_eq!(r.exercised["restart"], "passed after 1.0s");
        assert_eq!(r.exercised["reload"], "passed after 0.5s");
    }

    #[test]
    fn syscalls_are_sorted_by_name() {
        let text = serde_yaml::to_string(&sample()).unwrap();
        let openat = text.find("openat:").unwrap();
        let read = text.find("read:").unwrap();
        assert!(openat < read, "{text}");
    }

    #[test]
    fn rejects_malformed_and_future_profiles() {
        let path = Path::new("x.yaml");
        let err = Profile::parse("not: [valid", path).unwrap_err();
        assert!(matches!(err, ProfileError::Malformed { .. }), "{err}");
        let err = Profile::parse("hello: 1\n", path).unwrap_err();
        assert!(err.to_string().contains("no `schema`"), "{err}");
        let err = Profile::parse("schema: 0\n", path).unwrap_err();
        assert!(
            matches!(err, ProfileError::Schema { found: 0, .. }),
            "{err}"
        );
        let err = Profile::parse("schema: 99\n", path).unwrap_err();
        assert!(
            matches!(err, ProfileError::Schema { found: 99, .. }),
            "{err}"
        );
        let mut yaml = serde_yaml::to_string(&sample()).unwrap();
        yaml = yaml.replace("syscalls:", "syscallz:");
        let err = Profile::parse(&yaml, path).unwrap_err();
        assert!(err.to_string().contains("syscalls"), "{err}");
    }
}
