//! `learner record UNIT`: record a systemd service by its cgroup, without wrapping or editing
//! it; with --restart from its start-up on, following each new instance's cgroup.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use tokio::io::unix::AsyncFd;

use crate::{
    model::profile::{PendingProfile, ProfileError},
    model::syscalls::Arch,
    recording::packages,
    recording::session::{Session, SessionError, build_profile},
    systemd::cgroup::CgroupRef,
    systemd::cgroup_watch::CgroupWatch,
    systemd::manager::{Systemd, SystemdError},
    util::host,
    util::progress::{Mode, Progress, Status},
    util::signals::SignalStream,
};

/// A unit inactive this many state polls in a row (one a second) has stopped for good.
const INACTIVE_POLLS_TO_END: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("learner record must be run as root: it loads eBPF programs")]
    NotRoot,
    #[error("no syscall table for this architecture ({0})")]
    UnknownArch(&'static str),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error(
        "unit {unit} is not running ({state}): start it, or use --restart, or --wait to record it from its next start"
    )]
    NotRunning { unit: String, state: String },
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("watching {path} for the unit's new cgroup: {source}")]
    Watch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{unit} did not come up within {waited}s of the restart (it is {state}); nothing was recorded of its running service{partial}"
    )]
    NeverUp {
        unit: String,
        state: String,
        waited: u64,
        partial: String,
    },
    #[error(
        "{unit} did not start in the {waited}s it was waited for; nothing was recorded{partial}"
    )]
    NeverStarted {
        unit: String,
        waited: u64,
        partial: String,
    },
    #[error(
        "{unit} could not be driven through its {event}: {why}; the recording is not a profile{skipped}{partial}"
    )]
    NotExercised {
        unit: String,
        event: String,
        why: String,
        skipped: String,
        partial: String,
    },
    #[error("the recording of {unit} is broken: {why}; not a profile{partial}")]
    Broken {
        unit: String,
        why: String,
        partial: String,
    },
}

/// Why a finished recording cannot be a profile, if it cannot: a unit that was up while
/// recorded yet left no syscall was not seen at all (a wrong cgroup level, a probe that
/// matched nothing), and a restart whose main program was never executed saw no start-up.
fn broken(
    profile: &crate::model::profile::Profile,
    was_up: bool,
    main_seen: Option<bool>,
    check: bool,
) -> Option<String> {
    if was_up && profile.syscalls.is_empty() && profile.unknown_syscalls.is_empty() {
        return Some("the unit ran, yet not one syscall of it was seen".into());
    }
    if main_seen == Some(false) {
        return Some("its main program (ExecStart=) was never seen being executed".into());
    }
    // A check reports what it saw refused and says what it lost; a profile must be whole.
    if !check && let Some(what) = profile.recording.incomplete() {
        return Some(format!(
            "it is incomplete ({what}), and a drop-in from it could be too tight"
        ));
    }
    None
}

#[derive(Debug, Clone)]
pub struct RecordRequest {
    pub unit: String,
    pub duration: Option<Duration>,
    pub restart: bool,
    /// A unit that is not running is recorded from its next start instead of refused.
    pub wait: bool,
    pub output: Option<PathBuf>,
    /// Record a unit of the systemd in this process's namespaces (a container's).
    pub guest: Option<u32>,
    /// `learner check`: report syscalls refused before they ran, and write the profile only
    /// when `output` names a file.
    pub check: bool,
    /// Events to drive the unit through after `duration` (or once it is up, without one),
    /// still recording.
    pub exercise: Vec<crate::systemd::exercise::Exercise>,
    /// No progress on stderr.
    pub quiet: bool,
    /// Where a recording in another thread publishes its counters each second.
    pub live: Option<std::sync::Arc<crate::util::progress::Live>>,
}

/// How long the recording goes on after the last exercise: what the service does right
/// after it is active again (reopening, recovering) belongs to the event.
const SETTLE_AFTER_EXERCISE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct RecordReport {
    /// Where the profile went; none for a check without `-o`.
    pub profile_path: Option<PathBuf>,
    pub profile: crate::model::profile::Profile,
    pub ended_because: &'static str,
}

/// Wakes when something is made in the directory a unit's cgroup lives in (which may not
/// exist yet: see [`CgroupWatch`]), on the recording's loop.
struct AsyncCgroupWatch(AsyncFd<CgroupWatch>);

impl AsyncCgroupWatch {
    fn new(dir: &Path) -> std::io::Result<Self> {
        let watch = CgroupWatch::new(dir)?;
        // SAFETY: the watch owns its inotify fd, open and the same until the watch is dropped.
        unsafe { AsyncFd::register_with_interest(watch, tokio::io::Interest::READABLE) }
            .map(Self)
            .map_err(std::io::Error::from)
    }

    async fn changed(&mut self) -> std::io::Result<()> {
        let mut guard = self.0.readable_mut().await?;
        // What matters here is that something appeared, not its name.
        guard.get_inner_mut().drain()?;
        guard.clear_ready();
        Ok(())
    }
}

/// Whether two paths name one file (a symlinked /sbin, a hard link).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

pub async fn record(
    req: RecordRequest,
    signals: SignalStream,
) -> Result<RecordReport, RecordError> {
    record_until(
        req,
        true,
        async move {
            let _ = signals.next().await;
        },
        None,
    )
    .await
}

/// Asks a recording for what it has observed so far, as a profile (syscall counts,
/// observations, events received and lost) without the unit's settings.
pub type SnapshotRequest = tokio::sync::oneshot::Sender<crate::model::profile::Profile>;

/// Records `req.unit` (running or not; following its restarts and stops) until `stop`
/// completes or `req.duration` elapses, answering `snapshots` meanwhile: `learner watch`.
pub async fn record_with_snapshots(
    req: RecordRequest,
    stop: impl std::future::Future<Output = ()>,
    snapshots: tokio::sync::mpsc::UnboundedReceiver<SnapshotRequest>,
) -> Result<RecordReport, RecordError> {
    record_until(req, false, stop, Some(snapshots)).await
}

/// Records until `stop` completes (or `--for` elapses; or, with `end_when_stopped`, the unit
/// has stayed inactive). Snapshots asked for on `snapshots` are answered meanwhile.
async fn record_until(
    req: RecordRequest,
    end_when_stopped: bool,
    stop: impl std::future::Future<Output = ()>,
    mut snapshots: Option<tokio::sync::mpsc::UnboundedReceiver<SnapshotRequest>>,
) -> Result<RecordReport, RecordError> {
    if !host::is_root() {
        return Err(RecordError::NotRoot);
    }
    let arch = Arch::native().ok_or(RecordError::UnknownArch(std::env::consts::ARCH))?;
    let systemd = Systemd::new(req.guest)?;
    let info = systemd.show(&req.unit)?;
    let not_running = !info.is_active() || info.control_group.is_empty();
    // Recorded from its next start, as a restart's would be: --for counts from then.
    let waiting = !req.restart && req.wait && not_running;
    if !req.restart && !waiting && end_when_stopped && not_running {
        return Err(RecordError::NotRunning {
            unit: info.id.clone(),
            state: info.active_state.clone(),
        });
    }
    // `check` reports what the filter refuses: no warning there.
    if let Some(warning) = info.syscall_filter.recording_warning(&info.id)
        && !req.check
    {
        eprintln!("{warning}");
    }
    let output = match (&req.output, req.check) {
        (Some(path), _) => Some(path.clone()),
        (None, false) => Some(PathBuf::from(format!("{}.profile.yaml", info.id))),
        (None, true) => None,
    };
    let pending = output.as_deref().map(PendingProfile::create).transpose()?;

    let path = systemd.cgroup_path(&info);
    let target = CgroupRef::at(&systemd.cgroup_mount, path.clone());
    let parent = path.parent().unwrap_or(&systemd.cgroup_mount).to_owned();
    let mut watch = AsyncCgroupWatch::new(&parent).map_err(|source| RecordError::Watch {
        path: parent.clone(),
        source,
    })?;
    let mut instances = u64::from(target.id != 0);
    let mut session = Session::start(target, arch, req.check, Some(info.root_directory.clone()))?;
    session.set_system_root(systemd.path_in_guest(Path::new("/")));
    if let Some(manager) = req.guest {
        session.set_guest_manager(manager);
    }
    session.follow_creations();
    if waiting {
        eprintln!(
            "learner: {} is not running: recording it from its next start",
            info.id
        );
    }
    let started = SystemTime::now();
    let begun = Instant::now();
    // systemctl runs on the blocking pool: the loop below must answer the inotify event of the
    // new instance's cgroup at once, or the instance's first syscalls go unrecorded.
    let blocking = |args: Vec<String>| {
        let systemd = systemd.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if args[0] == "show" {
                systemd.show(args[1]).map(Some)
            } else {
                systemd.systemctl(&args).map(|_| None)
            }
        })
    };
    // Attached first, so the new instance's first syscalls are seen.
    let mut restart_job = req.restart.then(|| {
        blocking(
            ["restart", "--no-block", "--", &info.id]
                .map(String::from)
                .to_vec(),
        )
    });
    let mut state_job = None;

    // --for counts from the moment the unit is up: with --restart, that is once the new
    // instance is (a slow stop, then a slow start, come first).
    let instances_before = instances;
    let from_start = req.restart || waiting;
    let mut up_at: Option<tokio::time::Instant> = (!from_start).then(tokio::time::Instant::now);
    let mut was_up = !from_start && info.is_up();
    // How long systemd itself would wait for the restart: its stop and start timeouts (none
    // when either is infinity: systemd would wait for ever too).
    let patience = info
        .timeout_stop
        .zip(info.timeout_start)
        .map(|(stop, start)| stop + start + Duration::from_secs(5));
    let oneshot = info.service_type == "oneshot";
    // Without --for, exercises start once the unit is up.
    let exercising = !req.exercise.is_empty();
    let deadline_of = |up: Option<tokio::time::Instant>| match (up, req.duration) {
        (Some(up), Some(d)) => Some(up + d),
        (Some(up), None) if exercising => Some(up),
        _ => None,
    };
    let sleep_deadline = tokio::time::sleep_until(
        deadline_of(up_at)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1 << 30)),
    );
    tokio::pin!(sleep_deadline);
    let mut state_tick = tokio::time::interval(Duration::from_secs(1));
    let what = if req.check { "checking" } else { "recording" };
    let mut progress = Progress::new(
        format!("{what} {}", info.id),
        match end_when_stopped {
            true => Mode::for_stderr(req.quiet),
            false => Mode::Quiet,
        },
    );
    let exercise_count = req.exercise.len();
    let mut down = 0;
    let mut last_state = info.active_state.clone();
    let mut never_up = false;
    let mut started_again = false;
    let mut to_exercise: std::collections::VecDeque<_> = req.exercise.iter().copied().collect();
    let mut exercise_job: Option<tokio::task::JoinHandle<crate::systemd::exercise::Step>> = None;
    let mut exercised: Vec<crate::systemd::exercise::Step> = Vec::new();
    let mut exercises_done = req.exercise.is_empty();
    let mut exercising_now: Option<crate::systemd::exercise::Exercise> = None;
    let drive = |event| {
        let systemd = systemd.clone();
        let unit = info.id.clone();
        tokio::task::spawn_blocking(move || {
            crate::systemd::exercise::drive(&systemd, &unit, event, Duration::from_secs(90))
        })
    };
    tokio::pin!(stop);
    let mut interrupted = false;
    let ended_because = loop {
        tokio::select! {
            _ = &mut sleep_deadline, if deadline_of(up_at).is_some() && exercise_job.is_none() => {
                if exercises_done {
                    break if exercised.is_empty() { "the duration elapsed" } else { "the unit was exercised" };
                }
                match to_exercise.pop_front() {
                    Some(event) => {
                        progress.say(&format!("learner: exercising {}: {event}", info.id));
                        exercising_now = Some(event);
                        exercise_job = Some(drive(event));
                    }
                    None => exercises_done = true,
                }
            }
            done = async { exercise_job.as_mut().expect("guarded").await }, if exercise_job.is_some() => {
                exercise_job = None;
                exercising_now = None;
                let step = done.expect("exercise task");
                progress.say(&format!("learner: {step}"));
                let carried_out = step.outcome != crate::systemd::exercise::Outcome::Failed;
                exercised.push(step);
                if interrupted {
                    break "interrupted";
                }
                // The unit is down and does not come up: the rest cannot be driven.
                if !carried_out {
                    break "an event could not be carried out";
                }
                match to_exercise.pop_front() {
                    Some(event) => {
                        progress.say(&format!("learner: exercising {}: {event}", info.id));
                        exercising_now = Some(event);
                        exercise_job = Some(drive(event));
                    }
                    None => {
                        exercises_done = true;
                        up_at = Some(tokio::time::Instant::now());
                        sleep_deadline.as_mut().reset(tokio::time::Instant::now() + SETTLE_AFTER_EXERCISE);
                    }
                }
            }
            _ = &mut stop, if !interrupted => {
                if exercise_job.is_none() {
                    break "interrupted";
                }
                // The exercise's thread cannot be cancelled, and the process would wait for it
                // anyway (with signals blocked): let it finish, still recorded, rather than
                // leave the unit half-restarted by a thread nobody watches.
                progress.say("learner: interrupted; the exercise under way finishes first, then the recording ends");
                interrupted = true;
                to_exercise.clear();
            }
            asked = async { snapshots.as_mut().expect("guarded").recv().await }, if snapshots.is_some() => {
                match asked {
                    Some(reply) => {
                        let _ = reply.send(build_profile(arch, started, SystemTime::now(), session.snapshot()?));
                    }
                    None => snapshots = None,
                }
            }
            changed = watch.changed() => {
                changed.map_err(|source| RecordError::Watch { path: parent.clone(), source })?;
                instances += u64::from(session.follow_recreated()?);
            }
            _ = state_tick.tick() => {
                // A missed inotify event must not lose a restarted instance.
                instances += u64::from(session.follow_recreated()?);
                if state_job.is_none() {
                    state_job = Some(blocking(vec!["show".into(), info.id.clone()]));
                }
                // Waiting for a start nobody asked for here has no such bound.
                if req.restart && up_at.is_none() && patience.is_some_and(|p| begun.elapsed() > p) {
                    never_up = true;
                    break "the unit never came up";
                }
                let (events, lost, processes) = session.counters();
                if let Some(live) = &req.live {
                    live.set(events, lost, processes);
                }
                let doing = match (up_at, exercising_now) {
                    (None, _) => Some(format!("waiting for {} ({last_state})", info.id)),
                    (_, Some(event)) => Some(format!(
                        "exercising {event} ({}/{exercise_count})",
                        exercised.len() + 1
                    )),
                    _ => None,
                };
                progress.update(&Status {
                    elapsed: begun.elapsed(),
                    // The exercises and the settling after them come after --for.
                    remaining: up_at
                        .zip(req.duration)
                        .filter(|_| exercise_job.is_none() && exercised.is_empty())
                        .map(|(up, d)| d.saturating_sub(up.elapsed())),
                    events,
                    processes,
                    lost,
                    doing,
                });
            }
            done = async { state_job.as_mut().expect("guarded").await }, if state_job.is_some() => {
                state_job = None;
                let state = done.expect("systemctl show task")?.expect("show gives a unit");
                last_state = state.active_state.clone();
                // A oneshot job may come and go between two looks at its cgroup.
                started_again |= !state.invocation_id.is_empty() && state.invocation_id != info.invocation_id;
                let new_instance = !from_start || instances > instances_before || started_again;
                // A oneshot job is never "active": its run is the start-up.
                if new_instance && (state.is_up() || (oneshot && state.is_active())) {
                    was_up = true;
                    if up_at.is_none() {
                        let now = tokio::time::Instant::now();
                        up_at = Some(now);
                        if let Some(d) = deadline_of(up_at) {
                            sleep_deadline.as_mut().reset(d);
                        }
                    }
                }
                // Only stopped counts: a unit still deactivating (a proxy draining its
                // clients) or activating is not.
                // An exercise stops and kills the unit on purpose.
                down = if state.is_down() && exercise_job.is_none() { down + 1 } else { 0 };
                if end_when_stopped && down >= INACTIVE_POLLS_TO_END && new_instance {
                    break "the unit stopped";
                }
            }
            done = async { restart_job.as_mut().expect("guarded").await }, if restart_job.is_some() => {
                restart_job = None;
                done.expect("systemctl restart task")?;
            }
            pumped = session.pump() => pumped?,
        }
    };
    progress.finish();
    let ended = SystemTime::now();
    let mut outcome = session.finish(&systemd.cgroup_mount.to_string_lossy())?;
    let new_instance = instances > instances_before || started_again;
    // A start exercised under the recording (a restart's, a crash's) is a start-up recorded.
    let exercised_start = exercised.iter().any(|step| {
        step.phases.iter().any(|phase| {
            phase.kind == crate::systemd::exercise::PhaseKind::Start && phase.ending.is_clean()
        })
    });
    outcome.recording.startup_seen = Some((from_start && new_instance) || exercised_start);
    outcome.recording.instances = Some(instances);
    outcome.recording.exercised = exercised
        .iter()
        .map(|step| (step.exercise.name().to_owned(), step.to_string()))
        .collect();
    outcome.recording.baseline = exercised
        .iter()
        .filter_map(|step| {
            crate::recording::baseline::of_step(step)
                .map(|kept| (step.exercise.name().to_owned(), kept))
        })
        .collect();
    let mut profile = build_profile(arch, started, ended, outcome);
    describe_unit(&systemd, &info.id, Some(&path), &mut profile);
    let main_seen = (from_start && new_instance && !req.check)
        .then(|| info.exec_start.first())
        .flatten()
        .map(|main| main_program_seen(&systemd, main, &profile));
    profile.recording.main_process_seen = main_seen;
    let not_carried_out = exercised
        .iter()
        .find(|step| step.outcome == crate::systemd::exercise::Outcome::Failed);
    let trouble = if let Some(step) = not_carried_out {
        let done: Vec<&str> = exercised.iter().map(|s| s.exercise.name()).collect();
        let skipped: Vec<&str> = req
            .exercise
            .iter()
            .map(|e| e.name())
            .filter(|e| !done.contains(e))
            .collect();
        Some(RecordError::NotExercised {
            unit: info.id.clone(),
            event: step.exercise.name().to_owned(),
            why: step.detail.clone(),
            skipped: if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} not exercised)", skipped.join(", "))
            },
            partial: String::new(),
        })
    } else if waiting && !new_instance {
        Some(RecordError::NeverStarted {
            unit: info.id.clone(),
            waited: begun.elapsed().as_secs(),
            partial: String::new(),
        })
    } else if never_up {
        Some(RecordError::NeverUp {
            unit: info.id.clone(),
            state: last_state,
            waited: begun.elapsed().as_secs(),
            partial: String::new(),
        })
    } else {
        broken(&profile, was_up, main_seen, req.check).map(|why| RecordError::Broken {
            unit: info.id.clone(),
            why,
            partial: String::new(),
        })
    };
    if let Some(mut trouble) = trouble {
        // Kept for a look, never under the profile's name.
        if let Some(mut pending) = pending {
            let partial = crate::model::profile::partial_path(pending.path());
            pending.redirect(&partial);
            if pending.commit(&profile).is_ok() {
                let note = format!(" (what was seen is in {})", partial.display());
                match &mut trouble {
                    RecordError::NeverUp { partial, .. }
                    | RecordError::NeverStarted { partial, .. }
                    | RecordError::Broken { partial, .. }
                    | RecordError::NotExercised { partial, .. } => *partial = note,
                    _ => {}
                }
            }
        }
        return Err(trouble);
    }
    if let Some(pending) = pending {
        pending.commit(&profile)?;
    }
    Ok(RecordReport {
        profile_path: output,
        profile,
        ended_because,
    })
}

/// Adds to a unit's profile its settings, as the manager has them (what the drop-in will be
/// added to), the packages of its files, and the owners of its paths. Asked once the probes
/// are gone, so that nothing delays the attach and the restart.
pub(crate) fn describe_unit(
    systemd: &Systemd,
    unit: &str,
    cgroup: Option<&Path>,
    profile: &mut crate::model::profile::Profile,
) {
    profile.provenance.unit = Some(unit.to_owned());
    profile.unit = match systemd.unit_as_it_runs(unit, crate::model::unit::PROPERTIES) {
        Ok((files, shown)) => {
            let assignments: Vec<_> = files
                .iter()
                .flat_map(|(path, _, text)| {
                    crate::policy::unit_file::service_assignments(text, path)
                        .into_iter()
                        .map(move |a| (a.key, a.value, path.clone()))
                })
                .collect();
            let mut record = crate::model::unit::UnitRecord::from_show(
                files
                    .into_iter()
                    .map(|(path, sha256, _)| crate::model::unit::UnitFile { path, sha256 })
                    .collect(),
                &shown,
            );
            record.note_written_no(
                assignments
                    .iter()
                    .map(|(k, v, f)| (k.as_str(), v.as_str(), f.as_str())),
            );
            // The files as they are now; the manager runs them as it last loaded them (a
            // daemon-reload may be pending): only a `no` it runs too.
            let settings = &record.settings;
            record
                .written_no
                .retain(|key, _| settings.get(key).is_none_or(|v| v.trim() == "no"));
            Some(record)
        }
        Err(e) => {
            eprintln!(
                "learner: warning: cannot read {unit}'s settings ({e}): the profile lacks them"
            );
            None
        }
    };
    if let Some(record) = profile.unit.as_mut() {
        let mut paths: Vec<String> = record.files.iter().map(|f| f.path.clone()).collect();
        paths.extend(crate::model::unit::package_candidates(
            &profile.observations,
        ));
        record.packages = systemd.package_owners(&paths);
        // The programs it ran, asked apart (rpm's answer is all or nothing), kept as the ones
        // nobody owns.
        let execs = &profile.observations.processes.execs;
        let asked = packages::names_to_ask(&systemd.path_in_guest(Path::new("/")), execs);
        let names: Vec<String> = asked.values().flatten().cloned().collect();
        let owners = systemd.package_owners(&names);
        profile.observations.processes.unpackaged = packages::unpackaged(execs, &asked, &owners);
        record.user_shared_with = cgroup
            .map(|own| user_shared_with(systemd, own, &record.settings))
            .unwrap_or_default();
        let existed: Vec<String> = crate::model::unit::found_existing(&profile.observations);
        profile
            .observations
            .identity
            .note_existing(&systemd.path_in_guest(Path::new("/")), existed.into_iter());
    }
    // Owners as the unit's system has them (a guest's root, seen from here).
    profile
        .observations
        .identity
        .resolve(&systemd.path_in_guest(Path::new("/")));
}

/// The other cgroups with a process running as the unit's User= or its group (Group=, else
/// the user's own), whose IPC objects RemoveIPC= would remove too (not root, not a dynamic
/// user: those are never shared), by name; empty when it has none or it cannot be told.
fn user_shared_with(
    systemd: &Systemd,
    own: &Path,
    settings: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    use crate::model::credentials::accounts;
    let user = settings.get("User").map(String::as_str).unwrap_or_default();
    if user.is_empty() || settings.get("DynamicUser").is_some_and(|v| v == "yes") {
        return vec![];
    }
    let read = |file: &str| {
        std::fs::read_to_string(systemd.path_in_guest(Path::new(file))).unwrap_or_default()
    };
    let passwd = read("/etc/passwd");
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (Some(uid), None),
        Err(_) => accounts(&passwd)
            .find(|(name, ..)| *name == user)
            .map_or((None, None), |(_, u, g)| (Some(u), g)),
    };
    let group = settings
        .get("Group")
        .map(String::as_str)
        .unwrap_or_default();
    let gid = match group {
        "" => primary,
        g => g.parse().ok().or_else(|| {
            accounts(&read("/etc/group"))
                .find(|(name, ..)| *name == g)
                .map(|(_, gid, _)| gid)
        }),
    };
    let Some(uid) = uid.filter(|u| *u != 0) else {
        return vec![];
    };
    let gid = gid.filter(|g| *g != 0);
    crate::systemd::cgroup::processes_as(&systemd.manager_cgroup(), own, uid, gid)
        .into_iter()
        .collect()
}

/// Whether the profile saw `main` (the unit's first ExecStart= program) executed.
pub(crate) fn main_program_seen(
    systemd: &Systemd,
    main: &str,
    profile: &crate::model::profile::Profile,
) -> bool {
    let main = systemd.path_in_guest(Path::new(main));
    profile.observations.processes.execs.keys().any(|exec| {
        let exec = systemd.path_in_guest(Path::new(exec));
        exec == main || same_file(&exec, &main)
    })
}

/// A recording in a thread of its own, for callers that are busy driving the unit meanwhile
/// (`learner apply`): it follows the unit through restarts and stops only when told.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    snapshots: Option<tokio::sync::mpsc::UnboundedSender<SnapshotRequest>>,
    thread: Option<std::thread::JoinHandle<Result<RecordReport, RecordError>>>,
}

impl Background {
    /// Starts recording `req.unit` (running or not; `req.restart` is ignored) and returns once
    /// the probes are attached.
    pub fn start(mut req: RecordRequest) -> Result<Self, RecordError> {
        req.restart = false;
        req.duration = None;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (snap_tx, snap_rx) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| RecordError::Session(SessionError::Events(e)))?;
            runtime.block_on(async move {
                let stop = async move {
                    let _ = stop_rx.await;
                };
                record_until(req, false, stop, Some(snap_rx)).await
            })
        });
        let mut me = Self {
            stop: Some(stop_tx),
            snapshots: Some(snap_tx.clone()),
            thread: Some(thread),
        };
        // The first snapshot is answered once the loop runs, that is once attached.
        let (tx, rx) = tokio::sync::oneshot::channel();
        if snap_tx.send(tx).is_err() || rx.blocking_recv().is_err() {
            return Err(me
                .join()
                .err()
                .unwrap_or(RecordError::Session(SessionError::Events(
                    std::io::Error::other("the recording ended at once"),
                ))));
        }
        Ok(me)
    }

    /// What was observed so far.
    pub fn snapshot(&self) -> Option<crate::model::observations::Observations> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.snapshots.as_ref()?.send(tx).ok()?;
        rx.blocking_recv().ok().map(|p| p.observations)
    }

    fn join(&mut self) -> Result<RecordReport, RecordError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.snapshots = None;
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(RecordError::Session(SessionError::Events(
                    std::io::Error::other("the recording thread panicked"),
                )))
            }),
            None => Err(RecordError::Session(SessionError::Events(
                std::io::Error::other("the recording has already ended"),
            ))),
        }
    }

    /// Stops recording and returns what was recorded.
    pub fn finish(mut self) -> Result<RecordReport, RecordError> {
        self.join()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_loop_wakes_as_a_unit_cgroup_appears_below_a_missing_slice() {
        // The loop's side of the watch: it wakes for the slice, then for the instance.
        let base = std::env::temp_dir().join(format!("learner-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let system = base.join("system.slice");
        std::fs::create_dir_all(&system).unwrap();
        let slice = system.join("system-openvpn.slice");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut watch = AsyncCgroupWatch::new(&slice).expect("watch");
            let wait = Duration::from_secs(2);
            std::fs::create_dir(&slice).unwrap();
            let woke = tokio::time::timeout(wait, watch.changed()).await;
            assert!(woke.is_ok_and(|r| r.is_ok()));
            assert_eq!(watch.0.get_ref().watched(), slice);
            std::fs::create_dir(slice.join("openvpn@pack.service")).unwrap();
            let woke = tokio::time::timeout(wait, watch.changed()).await;
            assert!(woke.is_ok_and(|r| r.is_ok()));
        });
        std::fs::remove_dir_all(&base).unwrap();
    }
}
