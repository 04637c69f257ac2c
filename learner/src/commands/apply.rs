//! `learner apply UNIT DROPIN`: install a drop-in, restart the unit, prove it still works,
//! and put everything back when it does not. A job (a oneshot unit) is run once and judged by
//! how its run ended. Exercised events are judged against how the unit behaves without the
//! drop-in: its profile's recorded events, or a baseline taken on the spot.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use crate::{
    model::profile::{Profile, ProfileError},
    policy::denials::{self, Denial},
    recording::unit::{Background, RecordRequest},
    systemd::exercise::{self, Ending, Exercise, Judgement, Outcome, Phase, Step, Waits},
    systemd::manager::{Systemd, SystemdError, UnitInfo},
    util::host,
    util::progress,
};

/// The longest the check is retried (and an infinite unit timeout waited for) unless
/// `--timeout` says otherwise: TimeoutStartSec's default.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(90);

/// Between two tries of a check that has not passed yet.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// learner's drop-in name: the unit's other drop-ins are never touched.
pub const DROPIN_NAME: &str = "50-learner-hardening.conf";

/// What a rollback that could not finish asks of the user (and how callers tell it).
const BY_HAND: &str = "yourself";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("learner apply must be run as root")]
    NotRoot,
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error("cannot read drop-in {path}: {source}")]
    ReadDropin {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a drop-in: it has no [Service] section")]
    NotADropin(PathBuf),
    #[error("cannot install the drop-in at {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{unit} is {state}: wait until it has finished, then apply")]
    Busy { unit: String, state: String },
    #[error("{unit} {why}; {rollback}")]
    Failed {
        unit: String,
        step: String,
        why: String,
        rollback: String,
    },
    #[error(
        "{unit} {why}, and fails it without the drop-in too: the check is bad (or the service does not work on its own), not the drop-in, which was not kept: {rollback}"
    )]
    BadCheck {
        unit: String,
        why: String,
        rollback: String,
    },
    #[error(
        "{unit} {why}, and still fails it without the drop-in, though it passed the check under the drop-in before that: what the drop-in did may outlive it (RemoveIPC= removing the shared memory of another service of its user at a stop, say), so it is not cleared, and it was not kept: {rollback}; look at what the service depends on, and restart that"
    )]
    Outlived {
        unit: String,
        step: String,
        why: String,
        rollback: String,
    },
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("{path} is a recording of {recorded}, not of {unit}")]
    OtherUnit {
        path: PathBuf,
        recorded: String,
        unit: String,
    },
}

impl ApplyError {
    /// Whether the rollback after a failure failed too, leaving the unit for the user to
    /// mend by hand (see `roll_back`).
    pub fn rollback_failed(&self) -> bool {
        match self {
            ApplyError::Failed { rollback, .. }
            | ApplyError::BadCheck { rollback, .. }
            | ApplyError::Outlived { rollback, .. } => rollback.contains(BY_HAND),
            _ => false,
        }
    }

    /// 2 for a bad check (nothing is known about the drop-in), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ApplyError::BadCheck { .. } => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub unit: String,
    pub dropin: PathBuf,
    pub check: Option<String>,
    /// How long the check is retried after each start until it passes, and how long to wait
    /// where the unit sets no timeout; `None`: the unit's TimeoutStartSec, at most
    /// [`DEFAULT_LIMIT`].
    pub timeout: Option<Duration>,
    pub guest: Option<u32>,
    /// Events to drive the unit through under the drop-in, the check after each.
    pub exercise: Vec<Exercise>,
    /// Profiles whose recorded events are the unit's baseline; none given: the profiles the
    /// drop-in's header names, when they lie beside it.
    pub profiles: Vec<PathBuf>,
    /// No progress on stderr while the exercise steps run.
    pub quiet: bool,
}

#[derive(Debug)]
pub struct Applied {
    pub installed: PathBuf,
    pub exposure_before: Option<f64>,
    pub exposure_after: Option<f64>,
    /// A job's run under the drop-in, how it went.
    pub job: Option<String>,
    pub steps: Vec<Step>,
}

/// Known ways a sandbox breaks a service, as the journal shows them, and the directive to look
/// at for each.
const HINTS: &[(&str, &str)] = &[
    (
        "226/NAMESPACE",
        "the mount namespace could not be set up: a ReadWritePaths entry missing without `-`, or ProtectSystem/PrivateTmp/ProtectHome",
    ),
    (
        "Read-only file system",
        "ProtectSystem=strict: a path written is not in ReadWritePaths",
    ),
    (
        "Permission denied",
        "a capability removed by CapabilityBoundingSet (CAP_DAC_OVERRIDE, CAP_CHOWN...), or ProtectHome",
    ),
    (
        "Operation not permitted",
        "a syscall denied by SystemCallFilter, or a capability removed by CapabilityBoundingSet",
    ),
    ("Address family not supported", "RestrictAddressFamilies"),
    ("status=31/SYS", "SystemCallFilter killed the process"),
    ("Bad system call", "SystemCallFilter killed the process"),
    (
        "218/CAPABILITIES",
        "CapabilityBoundingSet or AmbientCapabilities could not be applied",
    ),
    (
        "Function not implemented",
        "a syscall unknown to the filter (SystemCallFilter)",
    ),
];

fn hints(journal: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in journal.lines() {
        for (needle, hint) in HINTS {
            if line.contains(needle) {
                out.push(format!("  {line}\n    -> {hint}"));
            }
        }
    }
    out
}

fn run_check(check: &str, timeout: Duration) -> Result<(), String> {
    let out = Command::new("timeout")
        .arg(format!("{:.1}s", timeout.as_secs_f64().max(0.5)))
        .args(["sh", "-c", check])
        .output()
        .map_err(|e| format!("check could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "failed its check `{check}` ({}{})",
            out.status,
            err.lines()
                .next()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))
    }
}

/// Runs `check` until it passes or `limit` has passed: a service is often active well before
/// it answers (a JVM that listens 10-20 s after its start). A job's check runs once: its run
/// is over. Returns how long it took and how many tries.
fn wait_for_check(check: &str, limit: Duration, retry: bool) -> Result<(Duration, u32), String> {
    let begun = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let left = limit.saturating_sub(begun.elapsed());
        match run_check(check, left) {
            Ok(()) => return Ok((begun.elapsed(), tries)),
            Err(why) if !retry => return Err(why),
            Err(why) if begun.elapsed() + CHECK_INTERVAL >= limit => {
                return Err(format!(
                    "{why}, tried {tries} times for {:.1}s",
                    begun.elapsed().as_secs_f64()
                ));
            }
            Err(_) => std::thread::sleep(CHECK_INTERVAL),
        }
    }
}

/// Prints what went wrong in the failing step: the journal, the directive each known message
/// points at, and what the sandbox denied.
fn report_failure(unit: &str, why: &str, journal: &str, denials: &[String]) {
    eprintln!("learner: {unit} {why}. What the journal says:");
    for line in journal
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        eprintln!("  {line}");
    }
    let hints = hints(journal);
    if !hints.is_empty() {
        eprintln!("learner: likely causes:");
        for h in hints {
            eprintln!("{h}");
        }
    }
    if !denials.is_empty() {
        eprintln!("learner: what the drop-in denied meanwhile (directive; fix):");
        for d in denials {
            eprintln!("  {d}");
        }
    }
}

/// How to get `unit` going again by hand, for the state it was left in.
fn recovery(unit: &str, now: &UnitInfo) -> String {
    if matches!(
        now.active_state.as_str(),
        "activating" | "deactivating" | "reloading"
    ) {
        format!(
            "systemd is still working on it ({}): watch `systemctl status {unit}`; once it has settled, `systemctl start {unit}`",
            now.sub_state
        )
    } else {
        format!(
            "`journalctl -u {unit} -n 50` says why; `systemctl start {unit}` once that is fixed"
        )
    }
}

/// Puts `unit` back as it was before apply: the drop-in restored, systemd reloaded, and the
/// unit in its old state (active again, or left inactive). Says what it left.
fn roll_back(
    systemd: &Systemd,
    unit: &str,
    before: &UnitInfo,
    restore: impl FnOnce() -> std::io::Result<()>,
    had_previous: bool,
    fallback: Duration,
) -> String {
    let removed = if had_previous {
        "the drop-in was replaced by the one there before"
    } else {
        "the drop-in was removed"
    };
    let by_hand = |what: String| {
        format!(
            "{what}: remove {} {BY_HAND}, then `systemctl daemon-reload` and `systemctl restart {unit}`",
            systemd.dropin_dir(unit).join(DROPIN_NAME).display()
        )
    };
    if let Err(e) = restore() {
        return by_hand(format!("the drop-in could NOT be removed ({e})"));
    }
    if let Err(e) = systemd.systemctl(&["daemon-reload"]) {
        return by_hand(format!(
            "the drop-in was removed, but systemd could NOT reload ({e})"
        ));
    }
    let now = match systemd.show(unit) {
        Ok(now) => now,
        Err(e) => {
            return by_hand(format!(
                "the drop-in was removed, but {unit} cannot be read ({e})"
            ));
        }
    };
    let waits = Waits::of(&now, fallback);
    let was_active = matches!(before.active_state.as_str(), "active" | "reloading");
    if before.is_job() || !was_active {
        // Nothing was running before: nothing is run again. A failed run under the drop-in is
        // forgotten unless the unit had failed before too.
        if !now.is_down() {
            let _ = exercise::stop(systemd, unit, &waits);
        }
        if before.active_state != "failed" {
            let _ = systemd.systemctl(&["reset-failed", "--", unit]);
        }
        let after = systemd
            .show(unit)
            .map(|i| i.describe())
            .unwrap_or_else(|e| e.to_string());
        let kind = if before.is_job() {
            "a job, not run again (its timer, if any, untouched)"
        } else {
            "not started again: it was not running before"
        };
        return format!(
            "{removed} and systemd reloaded; {unit} is {kind}: it is {after}, as before it was {}",
            before.describe()
        );
    }
    // It ran before: it runs again, without the drop-in. A stop that is not clean (it ran
    // under the drop-in) does not matter; the start does. A stop that does not end (a unit
    // that ignores SIGTERM with TimeoutStopSec=infinity, or one still stopping from the failed
    // step) is killed once its bound has passed.
    let mut removed = removed.to_owned();
    if !now.is_down() {
        let stopped = exercise::stop(systemd, unit, &waits);
        if let Ending::Failed(why) = &stopped.ending {
            removed = format!(
                "{removed}; its stop {why}, after {:.1}s,",
                stopped.took.as_secs_f64()
            );
        }
    }
    match exercise::start(systemd, unit, &waits) {
        Ok(()) => format!("{removed} and the unit is active again"),
        Err(e) => {
            let now = systemd.show(unit).unwrap_or_default();
            format!(
                "{removed}, but {unit} is NOT active again: it {e}. To recover: {}",
                recovery(unit, &now)
            )
        }
    }
}

/// A `learner check` recording while the drop-in is in place, so that a failing step is shown
/// with what the sandbox denied during it. Best effort: apply works without it (a kernel
/// without the probes `check` needs).
struct DenialWatch<'a> {
    systemd: &'a Systemd,
    unit: String,
    recording: Option<Background>,
    /// Denials seen before the current step, with their outcome then.
    before_step: denials::Judged,
    /// What the unit's recorded life saw fail every time: refused under the drop-in too, it is
    /// as without it, not its doing (squid asks for CAP_NET_ADMIN after it gave up root, with
    /// or without a drop-in; tinyproxy cannot create its log in root's /var/log/tinyproxy).
    denied_anyway: denials::DeniedAnyway,
    /// The recording's counters, for the progress line.
    live: std::sync::Arc<progress::Live>,
}

impl<'a> DenialWatch<'a> {
    fn start(
        systemd: &'a Systemd,
        unit: &str,
        guest: Option<u32>,
        denied_anyway: denials::DeniedAnyway,
    ) -> Self {
        let live = std::sync::Arc::new(progress::Live::default());
        let recording = Background::start(RecordRequest {
            unit: unit.to_owned(),
            duration: None,
            restart: false,
            wait: false,
            output: None,
            guest,
            check: true,
            exercise: Vec::new(),
            quiet: true,
            live: Some(live.clone()),
        })
        .map_err(|e| eprintln!("learner: warning: cannot watch for denials ({e}); a failure will show the journal only"))
        .ok();
        Self {
            systemd,
            unit: unit.to_owned(),
            recording,
            before_step: denials::Judged::default(),
            denied_anyway,
            live,
        }
    }

    fn judge(&self, obs: &crate::model::observations::Observations) -> denials::Judged {
        match self
            .systemd
            .properties(&self.unit, denials::SANDBOX_PROPERTIES)
        {
            Ok(text) => denials::judge(obs, &denials::Sandbox::parse(&text), &self.denied_anyway),
            Err(_) => denials::Judged::default(),
        }
    }

    /// A new step begins: what was denied until now is not its doing.
    fn mark(&mut self) {
        if let Some(obs) = self.recording.as_ref().and_then(Background::snapshot) {
            self.before_step = self.judge(&obs);
        }
    }

    /// The denials of the current step so far, still watching, and what was refused in it as
    /// it fails without the drop-in too (`PROCESSES: OPERATION -> OUTCOME`, without a fix:
    /// none would help).
    fn so_far(&self) -> (Vec<String>, Vec<String>) {
        let Some(obs) = self.recording.as_ref().and_then(Background::snapshot) else {
            return (Vec::new(), Vec::new());
        };
        let now = self.judge(&obs);
        let as_without = Self::new_since(now.as_without, &self.before_step.as_without)
            .map(|d| {
                format!(
                    "{}: {} -> {}",
                    d.processes.join(","),
                    d.operation,
                    d.outcome
                )
            })
            .collect();
        (self.since_mark(now.denials), as_without)
    }

    /// Stops watching; the denials of the current step (new ones, or ones seen more often).
    fn finish(&mut self) -> Vec<String> {
        let Some(recording) = self.recording.take() else {
            return Vec::new();
        };
        match recording.finish() {
            Ok(report) => self.since_mark(self.judge(&report.profile.observations).denials),
            Err(e) => {
                eprintln!("learner: warning: watching for denials failed: {e}");
                Vec::new()
            }
        }
    }

    /// The denials of `now` that are new since the mark (or seen more often).
    fn since_mark(&self, now: Vec<Denial>) -> Vec<String> {
        Self::new_since(now, &self.before_step.denials)
            .map(|d| d.to_string())
            .collect()
    }

    fn new_since(now: Vec<Denial>, before: &[Denial]) -> impl Iterator<Item = Denial> {
        let key = |d: &Denial| {
            (
                d.processes.clone(),
                d.operation.clone(),
                d.directive.clone(),
            )
        };
        now.into_iter().filter(move |d| {
            !before
                .iter()
                .any(|b| key(b) == key(d) && b.outcome == d.outcome)
        })
    }
}

/// The unit's own behaviour in each event, and where it came from.
#[derive(Debug, Default)]
struct Baselines {
    events: BTreeMap<Exercise, Vec<Phase>>,
    from: String,
    /// What the recorded life saw fail every time (see [`DenialWatch`]).
    denied_anyway: denials::DeniedAnyway,
}

/// The profiles the drop-in's header names (`# Generated by learner 0.1.0 for systemd 252
/// from a.profile.yaml (a.service), b.profile.yaml (a.service)`), as files beside it.
fn named_profiles(dropin: &Path, text: &str) -> Vec<PathBuf> {
    let Some(sources) = text
        .lines()
        .find(|l| l.starts_with("# Generated by learner "))
        .and_then(|l| l.split_once(" from "))
        .map(|(_, sources)| sources)
    else {
        return Vec::new();
    };
    let dir = dropin.parent().unwrap_or(Path::new("."));
    sources
        .split(", ")
        .map(|s| s.split_once(" (").map_or(s, |(name, _)| name).trim())
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .collect()
}

/// Reads the baseline of each event from the profiles given (an error when one cannot be
/// read or is of another unit), or else from those the drop-in names (skipped when they do
/// not fit, with a word).
fn baselines(req: &ApplyRequest, text: &str, unit: &str) -> Result<Baselines, ApplyError> {
    let given = !req.profiles.is_empty();
    let paths = if given {
        req.profiles.clone()
    } else {
        named_profiles(&req.dropin, text)
    };
    let mut out = Baselines::default();
    let mut used = Vec::new();
    for path in paths {
        let profile = match Profile::load(&path) {
            Ok(p) => p,
            Err(e) if given => return Err(e.into()),
            Err(e) => {
                eprintln!("learner: warning: {e}; not used as the unit's baseline");
                continue;
            }
        };
        let recorded = profile.provenance.unit.clone().unwrap_or_default();
        if recorded != unit {
            if given {
                return Err(ApplyError::OtherUnit {
                    path,
                    recorded,
                    unit: unit.to_owned(),
                });
            }
            continue;
        }
        let mut any = false;
        out.denied_anyway.add(&profile.observations);
        for (name, baseline) in &profile.recording.baseline {
            if let Ok(event) = name.parse::<Exercise>() {
                any = true;
                out.events
                    .entry(event)
                    .or_insert_with(|| crate::recording::baseline::phases(baseline));
            }
        }
        if any {
            used.push(path.display().to_string());
        }
    }
    out.from = used.join(", ");
    Ok(out)
}

/// A step that failed, with what the journal and the sandbox said while it ran.
struct Failure {
    step: String,
    why: String,
    journal: String,
    denials: Option<Vec<String>>,
    /// The check failed (and nothing else did): perhaps the check is what is wrong.
    check: bool,
    /// The check had passed under the drop-in before this failure (after an event).
    passed_before: bool,
}

/// The unit's behaviour in `event` without the drop-in, taken now: the drop-in out, the unit
/// restarted without it and driven through the event, then the drop-in back and the unit
/// restarted under it.
fn take_baseline(
    systemd: &Systemd,
    unit: &str,
    event: Exercise,
    fallback: Duration,
    restore: &dyn Fn() -> std::io::Result<()>,
    reinstall: &dyn Fn() -> std::io::Result<()>,
    ticking: &dyn Fn() -> progress::Ticker,
) -> Result<Step, String> {
    let restart = |label: &str| -> Result<(), String> {
        systemd
            .systemctl(&["daemon-reload"])
            .map_err(|e| e.to_string())?;
        let info = systemd.show(unit).map_err(|e| e.to_string())?;
        let waits = Waits::of(&info, fallback);
        let _ = exercise::stop(systemd, unit, &waits);
        exercise::start(systemd, unit, &waits).map_err(|e| format!("{label}, it {e}"))
    };
    restore().map_err(|e| format!("the drop-in could not be taken out: {e}"))?;
    restart("without the drop-in")?;
    let ticker = ticking();
    let base = exercise::drive(systemd, unit, event, fallback);
    drop(ticker);
    eprintln!("learner: without the drop-in, {base}");
    reinstall().map_err(|e| format!("the drop-in could not be put back: {e}"))?;
    restart("with the drop-in back")?;
    if base.outcome == Outcome::Failed {
        return Err(format!(
            "without the drop-in, {unit} cannot be driven through its {event} either: {}",
            base.detail
        ));
    }
    Ok(base)
}

pub fn apply(req: &ApplyRequest) -> Result<Applied, ApplyError> {
    if !host::is_root() {
        return Err(ApplyError::NotRoot);
    }
    let text = std::fs::read_to_string(&req.dropin).map_err(|source| ApplyError::ReadDropin {
        path: req.dropin.clone(),
        source,
    })?;
    if !text.lines().any(|l| l.trim() == "[Service]") {
        return Err(ApplyError::NotADropin(req.dropin.clone()));
    }
    let systemd = Systemd::new(req.guest)?;
    let before = systemd.show(&req.unit)?;
    let unit = before.id.clone();
    if matches!(
        before.active_state.as_str(),
        "activating" | "deactivating" | "reloading"
    ) {
        // A job in progress (a timer's run, a restart) would run under the old settings.
        return Err(ApplyError::Busy {
            unit,
            state: before.describe(),
        });
    }
    let baselines = if req.exercise.is_empty() {
        Baselines::default()
    } else {
        baselines(req, &text, &unit)?
    };
    if !baselines.events.is_empty() {
        let events: Vec<&str> = baselines.events.keys().map(|e| e.name()).collect();
        eprintln!(
            "learner: how {unit} goes through {} without the drop-in: as recorded in {}",
            events.join(", "),
            baselines.from
        );
    }
    let exposure_before = systemd.exposure(&unit);
    let fallback = req.timeout.unwrap_or(DEFAULT_LIMIT);
    let check_limit = |info: &UnitInfo| {
        req.timeout.unwrap_or_else(|| {
            info.timeout_start
                .unwrap_or(DEFAULT_LIMIT)
                .min(DEFAULT_LIMIT)
        })
    };

    let dir = systemd.dropin_dir(&unit);
    let installed = dir.join(DROPIN_NAME);
    let previous = std::fs::read_to_string(&installed).ok();
    let install = |content: &str| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        crate::util::atomic_file::write(&installed, content.as_bytes())
    };
    // Put back what was there: the previous learner drop-in, or none.
    let restore = || match &previous {
        Some(old) => install(old),
        None => match std::fs::remove_file(&installed) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    };
    if !before.is_job() && !before.is_down() {
        // Stopped before the drop-in is in place: after a daemon-reload the running
        // instance's ExecStop= would already run under it (pg_ctlcluster, as root, was refused
        // its switch to postgres by a drop-in learnt for the server). How this stop ends is
        // not the drop-in's doing, only that it ends.
        let stopped = exercise::stop(&systemd, &unit, &Waits::of(&before, fallback));
        if !stopped.ending.is_clean() {
            eprintln!(
                "learner: {unit}, as it ran before apply: {stopped}, after {:.1}s",
                stopped.took.as_secs_f64()
            );
        }
    }
    if let Err(source) = install(&text) {
        // It was stopped for the install: it runs again as it was, without the drop-in.
        if !before.is_job() && !before.is_down() {
            let _ = exercise::start(&systemd, &unit, &Waits::of(&before, fallback));
        }
        return Err(ApplyError::Install {
            path: installed.clone(),
            source,
        });
    }
    if !baselines.denied_anyway.is_empty() {
        eprintln!(
            "learner: failed without the drop-in too, as recorded (not the drop-in's doing if refused under it): {}",
            baselines.denied_anyway.summary(3)
        );
    }
    let mut watch = DenialWatch::start(&systemd, &unit, req.guest, baselines.denied_anyway.clone());

    let mut cursor = systemd.journal_cursor();
    let mut steps = Vec::new();
    let mut job = None;
    let mut is_job = false;
    let mut limit = fallback;
    let fail = |step: String, why: String, cursor: &Option<String>| Failure {
        journal: systemd.journal_after(&unit, cursor.as_deref()),
        step,
        why,
        denials: None,
        check: false,
        passed_before: false,
    };
    let check = |label: &str, limit: Duration, is_job: bool| -> Result<(), (String, String)> {
        let Some(c) = &req.check else {
            return Ok(());
        };
        match wait_for_check(c, limit, !is_job) {
            Ok((took, tries)) if !is_job => {
                eprintln!(
                    "learner: {unit} passed its check {label}, {:.1}s after it was active ({tries} {})",
                    took.as_secs_f64(),
                    if tries == 1 { "try" } else { "tries" }
                );
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(why) => Err((label.to_owned(), format!("{why} {label}"))),
        }
    };
    let first = (|| -> Result<(), (String, String)> {
        systemd
            .systemctl(&["daemon-reload"])
            .map_err(|e| ("the reload".to_owned(), e.to_string()))?;
        let info = systemd
            .show(&unit)
            .map_err(|e| ("the reload".to_owned(), e.to_string()))?;
        let waits = Waits::of(&info, fallback);
        limit = check_limit(&info);
        is_job = info.is_job();
        if info.is_job() {
            let ran = exercise::run_job(&systemd, &unit, &waits)
                .map_err(|why| ("its run under the drop-in".to_owned(), why))?;
            eprintln!("learner: {unit} {ran}");
            job = Some(ran);
        } else {
            exercise::start(&systemd, &unit, &waits).map_err(|why| {
                let step = "the first start under the drop-in";
                (step.to_owned(), format!("{why} (in {step})"))
            })?;
        }
        Ok(())
    })();
    let mut failure = first.err().map(|(step, why)| fail(step, why, &cursor));
    if failure.is_none()
        && let Err((step, why)) = check("under the drop-in", limit, is_job)
    {
        failure = Some(Failure {
            check: true,
            ..fail(step, why, &cursor)
        });
    }
    if failure.is_none() {
        for (i, &event) in req.exercise.iter().enumerate() {
            watch.mark();
            cursor = systemd.journal_cursor();
            let ticker = progress::Ticker::start(
                progress::Progress::new(
                    format!("applying to {unit}"),
                    progress::Mode::for_stderr(req.quiet),
                ),
                format!("exercising {event} ({}/{})", i + 1, req.exercise.len()),
                Some(watch.live.clone()),
            );
            let step = exercise::drive(&systemd, &unit, event, fallback);
            drop(ticker);
            eprintln!("learner: {step}");
            let outcome = step.outcome;
            let detail = step.detail.clone();
            let phases = step.phases.clone();
            steps.push(step);
            match outcome {
                Outcome::Failed => {
                    failure = Some(fail(
                        format!("the {event} step"),
                        format!("failed the {event} step: {detail}"),
                        &cursor,
                    ));
                    break;
                }
                Outcome::Skipped => continue,
                Outcome::Passed => {}
            }
            // What the step showed, before a baseline run adds its own.
            let journal = systemd.journal_after(&unit, cursor.as_deref());
            let (denied, as_without) = watch.so_far();
            let worse = |why: String| Failure {
                step: format!("the {event} step"),
                why: format!("is worse in the {event} step under the drop-in: {why}"),
                journal: journal.clone(),
                denials: Some(denied.clone()),
                check: false,
                passed_before: false,
            };
            let mut source = "as recorded".to_owned();
            let mut judgement =
                exercise::judge(&phases, baselines.events.get(&event).map(Vec::as_slice));
            if let Judgement::NoBaseline(what) = &judgement {
                eprintln!(
                    "learner: {event} under the drop-in: {what}; no profile says how {unit} goes through it without the drop-in: taking that now (the drop-in out, {event} again, the drop-in back)"
                );
                // As long as the step itself: it shows the same way.
                let ticking = || {
                    progress::Ticker::start(
                        progress::Progress::new(
                            format!("applying to {unit}"),
                            progress::Mode::for_stderr(req.quiet),
                        ),
                        format!(
                            "exercising {event} ({}/{}) without the drop-in",
                            i + 1,
                            req.exercise.len()
                        ),
                        Some(watch.live.clone()),
                    )
                };
                match take_baseline(
                    &systemd,
                    &unit,
                    event,
                    fallback,
                    &restore,
                    &|| install(&text),
                    &ticking,
                ) {
                    Ok(base) => {
                        source = "taken just now".to_owned();
                        judgement = exercise::judge(&phases, Some(&base.phases));
                    }
                    Err(why) => {
                        failure = Some(Failure {
                            why: format!("failed the {event} step: {what}, and {why}"),
                            ..worse(String::new())
                        });
                        break;
                    }
                }
            }
            match judgement {
                Judgement::Worse(why) | Judgement::NoBaseline(why) => {
                    failure = Some(worse(why));
                    break;
                }
                Judgement::AsBefore(same) if !same.is_empty() && !denied.is_empty() => {
                    failure = Some(worse(format!(
                        "{}, as without the drop-in, but the drop-in denied operations meanwhile",
                        same.join("; ")
                    )));
                    break;
                }
                Judgement::AsBefore(same) => {
                    for s in same {
                        eprintln!("learner: {event}: as without the drop-in ({source}): {s}");
                    }
                    for d in denied {
                        eprintln!("learner: warning: during {event} the drop-in denied: {d}");
                    }
                    for d in as_without {
                        eprintln!(
                            "learner: during {event}, refused as it fails without the drop-in too (never succeeded in the recorded life; not the drop-in's doing): {d}"
                        );
                    }
                }
            }
            if let Err((step, why)) = check(&format!("after {event}"), limit, is_job) {
                failure = Some(Failure {
                    check: true,
                    passed_before: true,
                    ..fail(step, why, &cursor)
                });
                break;
            }
        }
    }
    if let Some(failure) = failure {
        let finished = watch.finish();
        let denials = failure.denials.unwrap_or(finished);
        report_failure(&unit, &failure.why, &failure.journal, &denials);
        let rollback = roll_back(
            &systemd,
            &unit,
            &before,
            restore,
            previous.is_some(),
            fallback,
        );
        // A check that fails without the drop-in too judges nothing about the drop-in.
        let back = systemd.show(&unit).map(|i| i.is_up()).unwrap_or(false);
        if failure.check
            && back
            && !is_job
            && let Some(c) = &req.check
        {
            let limit = systemd
                .show(&unit)
                .map(|i| check_limit(&i))
                .unwrap_or(fallback);
            // A check that passed under the drop-in, then failed after an event, judged the
            // service fine with it: failing still without it says the harm outlived it.
            return match wait_for_check(c, limit, true) {
                Err(_) if failure.passed_before => Err(ApplyError::Outlived {
                    unit,
                    step: failure.step,
                    why: failure.why,
                    rollback,
                }),
                Err(_) => Err(ApplyError::BadCheck {
                    unit,
                    why: failure.why,
                    rollback,
                }),
                Ok((took, _)) => Err(ApplyError::Failed {
                    unit,
                    step: failure.step,
                    why: failure.why,
                    rollback: format!(
                        "{rollback}; without the drop-in it passes the check ({:.1}s after it was active)",
                        took.as_secs_f64()
                    ),
                }),
            };
        }
        return Err(ApplyError::Failed {
            unit,
            step: failure.step,
            why: failure.why,
            rollback,
        });
    }
    drop(watch);
    Ok(Applied {
        installed,
        exposure_before,
        exposure_after: systemd.exposure(&unit),
        job,
        steps,
    })
}

/// An exercised step, as `apply --format json` gives it.
pub fn step_json(step: &Step) -> serde_json::Value {
    serde_json::json!({
        "event": step.exercise.name(),
        "outcome": match step.outcome {
            Outcome::Passed => "passed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        },
        "detail": step.detail,
        "seconds": step.took.as_secs_f64(),
        "phases": step.phases.iter().map(|p| serde_json::json!({
            "kind": p.kind.name(),
            "clean": p.ending.is_clean(),
            "ending": p.ending.to_string(),
            "seconds": p.took.as_secs_f64(),
        })).collect::<Vec<_>>(),
    })
}

/// `apply --format json`: what was installed and how the unit went under it, or, when the
/// drop-in failed, where and how it was rolled back. None for other errors (nothing was
/// changed), which are said on stderr only.
pub fn to_json(
    request: &ApplyRequest,
    result: &Result<Applied, ApplyError>,
) -> Option<serde_json::Value> {
    let mut out = serde_json::json!({
        "unit": request.unit,
        "dropin": request.dropin.display().to_string(),
    });
    let fields = match result {
        Ok(a) => serde_json::json!({
            "applied": true,
            "installed": a.installed.display().to_string(),
            "exposure_before": a.exposure_before,
            "exposure_after": a.exposure_after,
            "job": a.job,
            "checked": request.check.is_some(),
            "exercised": a.steps.iter().map(step_json).collect::<Vec<_>>(),
            "failure": null,
        }),
        Err(
            e @ (ApplyError::Failed {
                step,
                why,
                rollback,
                ..
            }
            | ApplyError::Outlived {
                step,
                why,
                rollback,
                ..
            }),
        ) => serde_json::json!({
            "applied": false,
            "failure": {
                "step": step,
                "why": why,
                "bad_check": false,
                "outlived": matches!(e, ApplyError::Outlived { .. }),
                "rollback": rollback,
                "exit_code": e.exit_code(),
            },
        }),
        Err(e @ ApplyError::BadCheck { why, rollback, .. }) => serde_json::json!({
            "applied": false,
            "failure": {
                "step": "the check",
                "why": why,
                "bad_check": true,
                "outlived": false,
                "rollback": rollback,
                "exit_code": e.exit_code(),
            },
        }),
        Err(_) => return None,
    };
    if let (Some(out), serde_json::Value::Object(fields)) = (out.as_object_mut(), fields) {
        out.extend(fields);
    }
    Some(out)
}

/// `learner apply`: applies, says how it went, and gives the exit code (0 applied, 1 the
/// drop-in failed and was rolled back, 2 the check is bad).
pub fn run(request: &ApplyRequest, format: super::Format) -> ExitCode {
    let result = apply(request);
    if format.is_json()
        && let Some(json) = to_json(request, &result)
    {
        super::print_json(&json);
    }
    match result {
        Ok(applied) => {
            let show = |e: Option<f64>| e.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}"));
            let passed: Vec<String> = applied
                .steps
                .iter()
                .filter(|s| s.outcome == Outcome::Passed)
                .map(|s| s.exercise.to_string())
                .collect();
            eprintln!(
                "learner: installed {}; {} {}{}{}; exposure {} -> {}",
                applied.installed.display(),
                request.unit,
                if applied.job.is_some() {
                    "ran under it and succeeded"
                } else {
                    "is active"
                },
                if request.check.is_some() {
                    " and passed its check"
                } else {
                    ""
                },
                if passed.is_empty() {
                    String::new()
                } else {
                    format!(", through {}", passed.join(", "))
                },
                show(applied.exposure_before),
                show(applied.exposure_after),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("learner: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tells_a_failure_whose_effects_outlived_the_drop_in_from_a_plain_one() {
        let request = ApplyRequest {
            unit: "a.service".into(),
            dropin: "/tmp/a.conf".into(),
            check: Some("true".into()),
            timeout: None,
            guest: None,
            exercise: vec![],
            profiles: vec![],
            quiet: true,
        };
        let failure =
            |e: ApplyError| to_json(&request, &Err(e)).expect("a failure")["failure"].clone();
        let plain = failure(ApplyError::Failed {
            unit: "a.service".into(),
            step: "restart".into(),
            why: "failed its check".into(),
            rollback: "removed".into(),
        });
        assert_eq!(plain["outlived"], false);
        assert_eq!(plain["exit_code"], 1);
        let outlived = failure(ApplyError::Outlived {
            unit: "a.service".into(),
            step: "restart".into(),
            why: "failed its check".into(),
            rollback: "removed".into(),
        });
        assert_eq!(outlived["outlived"], true);
        assert_eq!(outlived["bad_check"], false);
        assert_eq!(outlived["exit_code"], 1);
        let bad = failure(ApplyError::BadCheck {
            unit: "a.service".into(),
            why: "failed its check".into(),
            rollback: "removed".into(),
        });
        assert_eq!(
            (bad["bad_check"].clone(), bad["outlived"].clone()),
            (true.into(), false.into())
        );
        assert_eq!(bad["exit_code"], 2);
    }

    #[test]
    fn a_rollback_left_to_the_user_is_told_from_one_that_finished() {
        let failed = |rollback: String| ApplyError::Failed {
            unit: "a.service".into(),
            step: "start".into(),
            why: "failed".into(),
            rollback,
        };
        let by_hand = format!(
            "the drop-in could NOT be removed (EROFS): remove /etc/x.conf {BY_HAND}, then `systemctl daemon-reload`"
        );
        assert!(failed(by_hand).rollback_failed());
        assert!(
            !failed("the drop-in was removed and the unit is active again".into())
                .rollback_failed()
        );
        assert!(!ApplyError::NotRoot.rollback_failed());
    }

    #[test]
    fn hints_name_the_directive() {
        let journal = "nginx.service: Failed at step NAMESPACE spawning /usr/sbin/nginx: No such file or directory\nnginx.service: Main process exited, code=exited, status=226/NAMESPACE\nopen() \"/run/nginx.pid\" failed (30: Read-only file system)\n";
        let h = hints(journal).join("\n");
        assert!(h.contains("ReadWritePaths entry missing"), "{h}");
        assert!(h.contains("not in ReadWritePaths"), "{h}");
        assert!(hints("all good").is_empty());
    }

    #[test]
    fn finds_the_profiles_a_drop_in_names_beside_it() {
        let dir = std::env::temp_dir().join(format!("learner-apply-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.profile.yaml"), "schema: 2\n").unwrap();
        let dropin = dir.join("a.conf");
        let header = "# learner: warning: x\n# Generated by learner 0.1.0 for systemd 252 from a.profile.yaml (a.service), gone.profile.yaml (a.service)\n[Service]\n";
        assert_eq!(
            named_profiles(&dropin, header),
            [dir.join("a.profile.yaml")]
        );
        assert!(named_profiles(&dropin, "[Service]\nProtectSystem=strict\n").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
