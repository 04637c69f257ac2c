//! Driving a unit through the events of its life (restart, reload, crash, log rotation), one
//! at a time, and waiting as long as the unit's own timeouts allow until it is active again.
//! Each event is a list of phases (stop, kill, reload, rotate, start) with how each ended;
//! [`judge`] compares them with the same event's phases without a drop-in. `learner record
//! --exercise` keeps those as the unit's baseline, `learner apply --exercise` runs the events
//! under a new drop-in; nothing here knows who watches the unit meanwhile.
use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use crate::systemd::manager::{JobEnd, Systemd, UnitInfo};

/// One event of a service's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exercise {
    /// Stop, then start: ExecStop, the shutdown work, and the next start-up.
    Restart,
    /// `systemctl reload`, when the unit can reload.
    Reload,
    /// SIGKILL to every process of the unit, then start (unless systemd restarts it): the
    /// recovery paths (journal replay, stale pid and socket files).
    Crash,
    /// The unit's own /etc/logrotate.d entry, forced.
    Logrotate,
}

impl Exercise {
    pub const ALL: [Exercise; 4] = [
        Exercise::Restart,
        Exercise::Reload,
        Exercise::Crash,
        Exercise::Logrotate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Exercise::Restart => "restart",
            Exercise::Reload => "reload",
            Exercise::Crash => "crash",
            Exercise::Logrotate => "logrotate",
        }
    }
}

impl fmt::Display for Exercise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExerciseError {
    #[error(
        "no exercise given: expected a comma-separated list of restart, reload, crash, logrotate, or all"
    )]
    Empty,
    #[error("empty item in exercise list `{0}`")]
    EmptyItem(String),
    #[error("unknown exercise `{0}`: expected restart, reload, crash, logrotate or all")]
    Unknown(String),
}

impl FromStr for Exercise {
    type Err = ExerciseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Exercise::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| ExerciseError::Unknown(s.to_owned()))
    }
}

/// `restart,crash` or `all`: the events in the order given, each once (`all` is every event in
/// the order of [`Exercise::ALL`]).
pub fn parse_list(text: &str) -> Result<Vec<Exercise>, ExerciseError> {
    if text.trim().is_empty() {
        return Err(ExerciseError::Empty);
    }
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim) {
        let items = match item {
            "" => return Err(ExerciseError::EmptyItem(text.to_owned())),
            "all" => Exercise::ALL.to_vec(),
            name => vec![name.parse()?],
        };
        for e in items {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// What a wait may add to the unit's own timeouts: systemctl's and the poll's latency.
const SLACK: Duration = Duration::from_secs(5);

/// A started service must still be the same run this much later to count as working.
const SETTLE: Duration = Duration::from_millis(500);

/// How long a unit whose processes were sent SIGKILL may take to be stopped.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How long the unit's transitions may take, from its own TimeoutStartSec, TimeoutStopSec and
/// RestartSec; `fallback` stands in for a timeout that is infinite (a oneshot job's default,
/// a unit that may take for ever to stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    pub start: Duration,
    /// None: TimeoutStopSec=infinity.
    pub stop: Option<Duration>,
    pub fallback: Duration,
    pub restart_delay: Duration,
}

impl Waits {
    pub fn of(info: &UnitInfo, fallback: Duration) -> Self {
        Self {
            start: info.timeout_start.unwrap_or(fallback),
            stop: info.timeout_stop,
            fallback,
            restart_delay: info.restart_delay.unwrap_or_default(),
        }
    }

    /// A stop: ExecStop, SIGTERM, SIGKILL and ExecStopPost each get TimeoutStopSec
    /// (service_enter_signal arms timeout_stop_usec for every stop state). systemctl returns
    /// as soon as the job is done, so this only bounds a unit that hangs. With
    /// TimeoutStopSec=infinity systemd would wait for ever: learner waits the fallback, then
    /// kills (see [`stop`]).
    pub fn stop_limit(&self) -> Duration {
        match self.stop {
            Some(stop) => stop * 4 + SLACK,
            None => self.fallback + SLACK,
        }
    }

    /// A start: TimeoutStartSec, and a start that fails is stopped like any other.
    pub fn start_limit(&self) -> Duration {
        self.start + self.stop_limit()
    }
}

/// How one event went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out: the unit is up again afterwards (how each phase ended is in the phases).
    Passed,
    /// Not applicable to this unit (no ExecReload, no logrotate entry); `detail` says why.
    Skipped,
    /// Not carried out: the unit did not come up again (or could not be driven at all).
    Failed,
}

/// A part of an event: what the unit was asked to do, or what was done to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhaseKind {
    Stop,
    Kill,
    Reload,
    Rotate,
    Start,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 5] = [
        PhaseKind::Stop,
        PhaseKind::Kill,
        PhaseKind::Reload,
        PhaseKind::Rotate,
        PhaseKind::Start,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Stop => "stop",
            PhaseKind::Kill => "kill",
            PhaseKind::Reload => "reload",
            PhaseKind::Rotate => "rotate",
            PhaseKind::Start => "start",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How a phase ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// As asked: a stop with Result=success, a start active and staying so, a reload within
    /// the same run, a rotation that exited 0, a kill that ended the unit by SIGKILL.
    Clean,
    /// The unit's run ended otherwise: systemd's Result= and how its main process ended
    /// (code 1 exited with `status`, 2 killed and 3 dumped by signal `status`).
    Run {
        result: String,
        code: i32,
        status: i32,
    },
    /// The phase did not do what was asked; the words say how (without times, so that two
    /// runs can be compared).
    Failed(String),
}

impl Ending {
    /// How the unit's last run ended, as `systemctl show` tells after it.
    pub fn of_run(info: &UnitInfo) -> Self {
        if info.result.is_empty() || info.result == "success" {
            Ending::Clean
        } else {
            Ending::Run {
                result: info.result.clone(),
                code: info.exec_main_code,
                status: info.exec_main_status,
            }
        }
    }

    pub fn is_clean(&self) -> bool {
        *self == Ending::Clean
    }
}

/// A signal's name, for the common ones.
fn signal_name(n: i32) -> String {
    let name = match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        31 => "SIGSYS",
        _ => return format!("signal {n}"),
    };
    format!("{name} ({n})")
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Clean => f.write_str("ends cleanly"),
            Ending::Run {
                result,
                code: 1,
                status,
            } => write!(f, "ends with status {status} (Result={result})"),
            Ending::Run {
                result,
                code: 2 | 3,
                status,
            } => write!(f, "ends by {} (Result={result})", signal_name(*status)),
            Ending::Run { result, .. } => write!(f, "ends with Result={result}"),
            Ending::Failed(why) => f.write_str(why),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub kind: PhaseKind,
    pub ending: Ending,
    pub took: Duration,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.ending)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub exercise: Exercise,
    pub outcome: Outcome,
    /// What happened, or why it failed or was skipped.
    pub detail: String,
    pub took: Duration,
    /// Each phase and how it ended, in order; none when skipped.
    pub phases: Vec<Phase>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Passed => "passed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
        };
        write!(
            f,
            "{}: {outcome} after {:.1}s: {}",
            self.exercise,
            self.took.as_secs_f64(),
            self.detail
        )
    }
}

/// How an event under a drop-in compares with the same event without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Every phase ended cleanly, or as it did without the drop-in: those phases, in words.
    AsBefore(Vec<String>),
    /// A phase did not end cleanly, and there is no baseline to compare it with.
    NoBaseline(String),
    /// A phase ended worse than without the drop-in: how.
    Worse(String),
}

/// Compares an event's phases under a drop-in with the unit's own (`baseline`, when known).
/// A phase that ended cleanly passes; one that did not passes only when the same phase ended
/// the same way without the drop-in (a service whose stop always ends with status 64).
pub fn judge(phases: &[Phase], baseline: Option<&[Phase]>) -> Judgement {
    let mut same = Vec::new();
    let mut seen: Vec<PhaseKind> = Vec::new();
    for phase in phases {
        // The n-th phase of a kind is compared with the baseline's n-th of that kind.
        let nth = seen.iter().filter(|k| **k == phase.kind).count();
        seen.push(phase.kind);
        if phase.ending.is_clean() {
            continue;
        }
        let Some(baseline) = baseline else {
            return Judgement::NoBaseline(phase.to_string());
        };
        let before = baseline.iter().filter(|b| b.kind == phase.kind).nth(nth);
        match before {
            Some(b) if b.ending == phase.ending => same.push(phase.to_string()),
            Some(b) => {
                return Judgement::Worse(format!("{phase}; without the drop-in it {}", b.ending));
            }
            None => {
                return Judgement::Worse(format!(
                    "{phase}; without the drop-in there was no {}",
                    phase.kind.name()
                ));
            }
        }
    }
    Judgement::AsBefore(same)
}

fn show(systemd: &Systemd, unit: &str) -> Result<UnitInfo, String> {
    systemd.show(unit).map_err(|e| e.to_string())
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Stops `unit` as `systemctl stop` does, waiting as long as its TimeoutStopSec allows. A stop
/// that has not ended by then (TimeoutStopSec=infinity and a process that ignores SIGTERM, a
/// hung ExecStop) is ended with SIGKILL to every process of the unit, so that this always
/// returns. The phase says how the stop ended: cleanly, with the status systemd recorded
/// (which is how the service stops, with or without a drop-in: the caller judges), or killed.
pub fn stop(systemd: &Systemd, unit: &str, waits: &Waits) -> Phase {
    let begun = Instant::now();
    let limit = waits.stop_limit();
    let ending = match systemd.systemctl_job(&["stop", "--", unit], limit) {
        Err(e) => Ending::Failed(format!("could not be asked: {e}")),
        Ok(JobEnd::TimedOut) => kill_stuck(systemd, unit, limit),
        Ok(JobEnd::Done { ok, stderr }) => match show(systemd, unit) {
            Err(e) => Ending::Failed(e),
            Ok(info) if info.is_down() => Ending::of_run(&info),
            Ok(info) if !ok => {
                Ending::Failed(format!("fails: {stderr} (it is {})", info.describe()))
            }
            Ok(info) => Ending::Failed(format!("leaves it {}", info.describe())),
        },
    };
    Phase {
        kind: PhaseKind::Stop,
        ending,
        took: begun.elapsed(),
    }
}

/// A stop that did not end within `waited`: SIGKILL to every process of the unit, then a
/// short wait for systemd to see it stopped.
fn kill_stuck(systemd: &Systemd, unit: &str, waited: Duration) -> Ending {
    let state = show(systemd, unit)
        .map(|i| i.describe())
        .unwrap_or_else(|e| e);
    eprintln!(
        "learner: {unit} was still {state} after {} of stopping: killing it (SIGKILL to all its processes)",
        secs(waited)
    );
    if let Err(e) = systemd.systemctl(&["kill", "--signal=SIGKILL", "--", unit]) {
        return Ending::Failed(format!(
            "does not end, and the kill failed: {e} (it is {state})"
        ));
    }
    let begun = Instant::now();
    loop {
        match show(systemd, unit) {
            Ok(now) if now.is_down() => {
                return Ending::Failed(
                    "does not end in time: learner killed it (SIGKILL)".to_owned(),
                );
            }
            Ok(now) if begun.elapsed() > KILL_WAIT => {
                return Ending::Failed(format!(
                    "does not end, not even after SIGKILL: it is {}",
                    now.describe()
                ));
            }
            Err(e) => return Ending::Failed(e),
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Starts `unit` and waits until it is active and stays so (see [`settle`]), as long as its
/// TimeoutStartSec allows.
pub fn start(systemd: &Systemd, unit: &str, waits: &Waits) -> Result<(), String> {
    let limit = waits.start_limit();
    let end = systemd
        .systemctl_job(&["start", "--", unit], limit)
        .map_err(|e| e.to_string())?;
    match end {
        JobEnd::TimedOut => Err(format!(
            "was still {} after {} of starting",
            show(systemd, unit)?.describe(),
            secs(limit)
        )),
        JobEnd::Done { ok: false, .. } => Err(format!(
            "failed to start: it is {}",
            show(systemd, unit)?.describe()
        )),
        JobEnd::Done { ok: true, .. } => settle(systemd, unit),
    }
}

/// [`start`] as a phase.
fn start_phase(systemd: &Systemd, unit: &str, waits: &Waits) -> Phase {
    let begun = Instant::now();
    let ending = match start(systemd, unit, waits) {
        Ok(()) => Ending::Clean,
        Err(why) => Ending::Failed(why),
    };
    Phase {
        kind: PhaseKind::Start,
        ending,
        took: begun.elapsed(),
    }
}

/// The unit is active, and still the same run a moment later: a service that dies right
/// after starting (and one systemd restarts at once) is not working.
pub fn settle(systemd: &Systemd, unit: &str) -> Result<(), String> {
    let first = show(systemd, unit)?;
    if !matches!(first.active_state.as_str(), "active" | "reloading") {
        return Err(format!("is {}", first.describe()));
    }
    std::thread::sleep(SETTLE);
    let again = show(systemd, unit)?;
    if again.invocation_id != first.invocation_id {
        return Err(format!(
            "died right after starting and was started again: it is {}",
            again.describe()
        ));
    }
    if !matches!(again.active_state.as_str(), "active" | "reloading") {
        return Err(format!("did not stay active: it is {}", again.describe()));
    }
    Ok(())
}

/// Runs a job (a oneshot unit) once and judges the run by how it ended: `Result=success` and
/// `ExecMainStatus=0` pass. `systemctl start` of a oneshot returns when its run has ended.
pub fn run_job(systemd: &Systemd, unit: &str, waits: &Waits) -> Result<String, String> {
    let before = show(systemd, unit)?;
    let cursor = systemd.journal_cursor();
    let begun = Instant::now();
    let limit = waits.start_limit();
    let end = systemd
        .systemctl_job(&["start", "--", unit], limit)
        .map_err(|e| e.to_string())?;
    let took = secs(begun.elapsed());
    let info = show(systemd, unit)?;
    let ok = match end {
        JobEnd::TimedOut => {
            return Err(format!(
                "was still {} after {} of running",
                info.describe(),
                secs(limit)
            ));
        }
        JobEnd::Done { ok, .. } => ok,
    };
    // systemd unloads an inactive unit nothing references (a job whose timer is not loaded)
    // right after its run; a failed one stays loaded.
    let new_run = info.invocation_id != before.invocation_id
        || info.inactive_exit_us != before.inactive_exit_us;
    if new_run || !ok {
        return if ok && info.result == "success" && info.exec_main_status == 0 {
            Ok(format!(
                "ran in {took} and succeeded (Result=success, ExecMainStatus=0)"
            ))
        } else {
            Err(format!("ran and failed: it is {}", info.describe()))
        };
    }
    let journal = systemd.journal_after(unit, cursor.as_deref());
    if journal.is_empty() || journal.contains("skipped because") {
        return Err(format!(
            "was not run (a Condition of the unit failed, or it is masked?): it is {}",
            info.describe()
        ));
    }
    Ok(format!(
        "ran in {took} and succeeded (its job completed; systemd unloaded the unit right after, as nothing references it)"
    ))
}

/// Drives `unit` through one event, whatever each of its phases ends like (as systemd's own
/// `systemctl restart` goes on to the start after a stop that failed), and makes sure the unit
/// is up again afterwards, starting it when the event left it stopped. The event fails only
/// when the unit cannot be brought up again. `fallback` bounds a wait the unit sets no
/// timeout for.
pub fn drive(systemd: &Systemd, unit: &str, exercise: Exercise, fallback: Duration) -> Step {
    let begun = Instant::now();
    let mut phases = Vec::new();
    let (outcome, detail) = match show(systemd, unit) {
        Err(e) => (Outcome::Failed, e),
        Ok(info) => {
            let waits = Waits::of(&info, fallback);
            let result = if info.is_job() {
                job_event(systemd, unit, exercise, &waits, &mut phases)
            } else {
                match exercise {
                    Exercise::Restart => restart(systemd, unit, &waits, &mut phases),
                    Exercise::Reload => reload(systemd, unit, &info, &waits, &mut phases),
                    Exercise::Crash => crash(systemd, unit, &info, &waits, &mut phases),
                    Exercise::Logrotate => logrotate(systemd, unit, &info, &waits, &mut phases),
                }
                .and_then(|done| up_again(systemd, unit, &waits, done, &mut phases))
            };
            match result {
                Ok(Done::Passed(d)) => (Outcome::Passed, d),
                Ok(Done::Skipped(d)) => (Outcome::Skipped, d),
                Err(d) => (Outcome::Failed, d),
            }
        }
    };
    Step {
        exercise,
        outcome,
        detail,
        took: begun.elapsed(),
        phases,
    }
}

enum Done {
    Passed(String),
    Skipped(String),
}

/// After an event the unit must be up for the next one: an event that left it stopped (a
/// reload that ended the service, a rotation whose script stopped it) is followed by a start.
fn up_again(
    systemd: &Systemd,
    unit: &str,
    waits: &Waits,
    done: Done,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    let Done::Passed(detail) = done else {
        return Ok(done);
    };
    let now = show(systemd, unit)?;
    if now.is_up() {
        return Ok(Done::Passed(detail));
    }
    let started = start_phase(systemd, unit, waits);
    let took = started.took;
    let ending = started.ending.clone();
    phases.push(started);
    match ending {
        Ending::Failed(why) => Err(format!(
            "{detail}; it was left {}, and then it {why}",
            now.describe()
        )),
        _ => Ok(Done::Passed(format!(
            "{detail}; it was left {}, so learner started it: active again {} later",
            now.describe(),
            secs(took)
        ))),
    }
}

/// A job is not running between its runs: a restart is one more run; the rest do not apply.
fn job_event(
    systemd: &Systemd,
    unit: &str,
    exercise: Exercise,
    waits: &Waits,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    match exercise {
        Exercise::Restart => {
            let begun = Instant::now();
            let ran = run_job(systemd, unit, waits);
            phases.push(Phase {
                kind: PhaseKind::Start,
                ending: match &ran {
                    Ok(_) => Ending::Clean,
                    Err(why) => Ending::Failed(why.clone()),
                },
                took: begun.elapsed(),
            });
            ran.map(Done::Passed)
        }
        other => Ok(Done::Skipped(format!(
            "{unit} is a job (Type=oneshot), not a running service: nothing to {other}"
        ))),
    }
}

/// `systemctl restart`: a stop, then a start, whatever the stop ended like.
fn restart(
    systemd: &Systemd,
    unit: &str,
    waits: &Waits,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    let stopped = stop(systemd, unit, waits);
    let how = match &stopped.ending {
        Ending::Clean => format!("stopped in {}", secs(stopped.took)),
        other => format!("stopped in {}; the run {other}", secs(stopped.took)),
    };
    phases.push(stopped);
    let started = start_phase(systemd, unit, waits);
    let (ending, took) = (started.ending.clone(), started.took);
    phases.push(started);
    match ending {
        Ending::Failed(why) => Err(format!("{how}; then it {why}")),
        _ => Ok(Done::Passed(format!(
            "{how}, active again {} later",
            secs(took)
        ))),
    }
}

fn reload(
    systemd: &Systemd,
    unit: &str,
    info: &UnitInfo,
    waits: &Waits,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    if !info.can_reload {
        return Ok(Done::Skipped(format!("{unit} has no ExecReload")));
    }
    if !info.is_up() {
        return Err(format!("{unit} is not active: it is {}", info.describe()));
    }
    let begun = Instant::now();
    let limit = waits.start_limit();
    let end = systemd
        .systemctl_job(&["reload", "--", unit], limit)
        .map_err(|e| e.to_string())?;
    // A service that dies of its reload signal is seen dead (or restarted) once settled.
    let _ = settle(systemd, unit);
    let mut after = show(systemd, unit)?;
    let same_run = after.invocation_id == info.invocation_id && after.is_up();
    if !same_run {
        after = wait_settled(systemd, unit, waits.stop_limit())?;
    }
    let ending = match end {
        JobEnd::TimedOut => Ending::Failed(format!(
            "does not end within {}: it is {}",
            secs(limit),
            after.describe()
        )),
        _ if !same_run => match Ending::of_run(&after) {
            Ending::Clean => Ending::Failed(format!(
                "ends the run (systemd started it again): it is {}",
                after.describe()
            )),
            ended => ended,
        },
        JobEnd::Done { ok: false, stderr } => Ending::Failed(format!("fails: {stderr}")),
        JobEnd::Done { ok: true, .. } => Ending::Clean,
    };
    let detail = match &ending {
        Ending::Clean => "reloaded, still the same run".to_owned(),
        other => format!("the reload {other}"),
    };
    phases.push(Phase {
        kind: PhaseKind::Reload,
        ending,
        took: begun.elapsed(),
    });
    Ok(Done::Passed(detail))
}

fn crash(
    systemd: &Systemd,
    unit: &str,
    info: &UnitInfo,
    waits: &Waits,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    if !info.is_up() {
        return Err(format!("{unit} is not active: it is {}", info.describe()));
    }
    // Every process of the unit: `all` is systemctl kill's default (the option naming it was
    // renamed from --kill-who to --kill-whom in v252).
    systemd
        .systemctl(&["kill", "--signal=SIGKILL", "--", unit])
        .map_err(|e| e.to_string())?;
    let begun = Instant::now();
    let limit = waits.stop_limit() + waits.restart_delay + waits.start_limit();
    // How the killed run ended, once seen (systemd resets it when it starts the unit again).
    let mut ended: Option<UnitInfo> = None;
    let kill_phase = |ended: &Option<UnitInfo>| Phase {
        kind: PhaseKind::Kill,
        ending: match ended.as_ref().map(Ending::of_run) {
            // SIGKILL is what was sent.
            Some(Ending::Run {
                code: 2 | 3,
                status: 9,
                ..
            })
            | None => Ending::Clean,
            Some(other) => other,
        },
        took: begun.elapsed(),
    };
    loop {
        let now = show(systemd, unit)?;
        if after_kill(info, &now) == AfterKill::ActiveWithoutProcess {
            // Nothing will end or restart it: restarted, as an administrator would.
            phases.push(kill_phase(&ended));
            phases.push(stop(systemd, unit, waits));
            let started = start_phase(systemd, unit, waits);
            let (ending, took) = (started.ending.clone(), started.took);
            phases.push(started);
            return match ending {
                Ending::Failed(why) => Err(format!(
                    "killed; it stayed {} (RemainAfterExit=yes), and after a stop it {why}",
                    now.describe()
                )),
                _ => Ok(Done::Passed(format!(
                    "killed; it stayed {} with nothing running (RemainAfterExit=yes): stopped and started, active again {} later",
                    now.describe(),
                    secs(took)
                ))),
            };
        }
        if now.invocation_id != info.invocation_id && now.active_state == "active" {
            phases.push(kill_phase(&ended));
            let settled = settle(systemd, unit);
            phases.push(Phase {
                kind: PhaseKind::Start,
                ending: settled
                    .as_ref()
                    .map_or_else(|e| Ending::Failed(e.clone()), |()| Ending::Clean),
                took: begun.elapsed(),
            });
            settled.map_err(|e| format!("killed; systemd restarted it, but it {e}"))?;
            return Ok(Done::Passed(format!(
                "killed; systemd restarted it itself (Restart={}) {} later",
                now.restart,
                secs(begun.elapsed())
            )));
        }
        let down = matches!(now.active_state.as_str(), "failed" | "inactive");
        if down || now.sub_state.starts_with("auto-restart") {
            ended = Some(now.clone());
        }
        // A dead unit systemd will not restart (v254+ passes through *-before-auto-restart
        // on its way to auto-restart).
        if down && !now.sub_state.ends_with("before-auto-restart") {
            let killed = now.describe();
            phases.push(kill_phase(&ended));
            let started = start_phase(systemd, unit, waits);
            let (ending, took) = (started.ending.clone(), started.took);
            phases.push(started);
            return match ending {
                Ending::Failed(why) => Err(format!("killed ({killed}); then it {why}")),
                _ => Ok(Done::Passed(format!(
                    "killed ({killed}), then started, active again {} later",
                    secs(took)
                ))),
            };
        }
        if begun.elapsed() > limit {
            return Err(format!(
                "{unit} was still {} {} after the kill",
                now.describe(),
                secs(limit)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a crash's SIGKILL has led to, as far as the crash needs to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterKill {
    /// Still active with no process left: RemainAfterExit=yes keeps it "active (exited)"
    /// (the units systemd makes for init scripts have it, exim4's among them), and systemd
    /// neither ends nor restarts it; waiting for that would last the whole limit.
    ActiveWithoutProcess,
    /// Anything else: the crash's loop tells down, restarted and pending apart.
    Other,
}

/// `before`: the unit as it ran when it was killed; `now`: as it is since.
fn after_kill(before: &UnitInfo, now: &UnitInfo) -> AfterKill {
    if now.remain_after_exit
        && now.invocation_id == before.invocation_id
        && now.active_state == "active"
        && now.sub_state == "exited"
        && now.main_pid == 0
    {
        AfterKill::ActiveWithoutProcess
    } else {
        AfterKill::Other
    }
}

/// The unit's logrotate entry, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogrotateEntry {
    pub path: PathBuf,
    pub found_by: String,
}

/// `{ path=/usr/sbin/nginx ; argv[]=... }`: the first command's program.
fn exec_start_program(exec_start: &str) -> Option<&str> {
    let rest = exec_start.split_once("path=")?.1;
    let end = rest.find([' ', ';', '}']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|p| p.starts_with('/'))
}

/// Whether a logrotate entry's scripts (prerotate, postrotate, ...) name `unit`: its full name,
/// or its name without the type (`nginx` for nginx.service, `postgresql` too for
/// postgresql@15-main.service) as a word.
pub fn scripts_name_unit(entry: &str, unit: &str) -> bool {
    let stem = unit.rsplit_once('.').map_or(unit, |(s, _)| s);
    let template = stem.split_once('@').map(|(t, _)| t);
    let mut names = vec![unit, stem];
    names.extend(template);
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@' | '.');
    let mut in_script = false;
    for line in entry.lines() {
        let trimmed = line.trim();
        match trimmed {
            "endscript" => in_script = false,
            "prerotate" | "postrotate" | "firstaction" | "lastaction" | "preremove" => {
                in_script = true
            }
            _ if in_script
                && trimmed
                    .split(|c: char| !word(c))
                    .any(|w| names.contains(&w.trim_end_matches('.'))) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// Finds the /etc/logrotate.d entry of `unit`: one its ExecStart program's package ships, else
/// one whose scripts name the unit.
pub fn logrotate_entry(systemd: &Systemd, unit: &str) -> Option<LogrotateEntry> {
    let exec = systemd.property(unit, "ExecStart").unwrap_or_default();
    if let Some(program) = exec_start_program(&exec) {
        let mut candidates = vec![program.to_owned()];
        // Merged /usr: dpkg knows some programs by their /bin or /sbin path only.
        if let Some(short) = program.strip_prefix("/usr") {
            candidates.push(short.to_owned());
        }
        let owners = systemd.package_owners(&candidates);
        for path in candidates {
            let packages = owners.get(&path).map_or("", String::as_str);
            for package in packages.split(", ").filter(|p| !p.is_empty()) {
                let Ok(files) = systemd.run("dpkg", &["-L", package]) else {
                    continue;
                };
                let files = String::from_utf8_lossy(&files.stdout).into_owned();
                if let Some(entry) = files
                    .lines()
                    .find(|f| f.starts_with("/etc/logrotate.d/") && f.len() > 17)
                    .filter(|f| systemd.path_in_guest(Path::new(f)).is_file())
                {
                    return Some(LogrotateEntry {
                        path: entry.into(),
                        found_by: format!("package {package}, which ships {path}"),
                    });
                }
            }
        }
    }
    let dir = systemd.path_in_guest(Path::new("/etc/logrotate.d"));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries.into_iter().find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        let name = p.file_name()?;
        scripts_name_unit(&text, unit).then(|| LogrotateEntry {
            path: Path::new("/etc/logrotate.d").join(name),
            found_by: format!("its scripts name {unit}"),
        })
    })
}

fn logrotate(
    systemd: &Systemd,
    unit: &str,
    info: &UnitInfo,
    waits: &Waits,
    phases: &mut Vec<Phase>,
) -> Result<Done, String> {
    let Some(entry) = logrotate_entry(systemd, unit) else {
        return Ok(Done::Skipped(format!(
            "no /etc/logrotate.d entry belongs to {unit}'s package or names it in its scripts"
        )));
    };
    if !info.is_up() {
        return Err(format!("{unit} is not active: it is {}", info.describe()));
    }
    let text = std::fs::read_to_string(systemd.path_in_guest(&entry.path))
        .map_err(|e| format!("cannot read {}: {e}", entry.path.display()))?;
    // A config of that entry alone, with its own state file: the rest of the machine's logs
    // and logrotate's real state are left alone.
    let base = format!("/run/learner-logrotate-{}", std::process::id());
    let (conf, state) = (format!("{base}.conf"), format!("{base}.status"));
    std::fs::write(systemd.path_in_guest(Path::new(&conf)), text)
        .map_err(|e| format!("cannot write {conf}: {e}"))?;
    let begun = Instant::now();
    let out = systemd.run("logrotate", &["-f", "-s", &state, &conf]);
    for f in [&conf, &state] {
        let _ = std::fs::remove_file(systemd.path_in_guest(Path::new(f)));
    }
    let out = out.map_err(|e| e.to_string())?;
    let ending = if out.status.success() {
        Ending::Clean
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The config is a copy under a new name each run: name the entry instead.
        let first = stderr
            .lines()
            .next()
            .unwrap_or("")
            .replace(&conf, "(entry)");
        Ending::Failed(format!(
            "fails: logrotate -f {} ended with {}: {first}",
            entry.path.display(),
            out.status,
        ))
    };
    let mut detail = match &ending {
        Ending::Clean => format!(
            "rotated with {} (found by {})",
            entry.path.display(),
            entry.found_by
        ),
        other => format!("the rotation {other}"),
    };
    phases.push(Phase {
        kind: PhaseKind::Rotate,
        ending,
        took: begun.elapsed(),
    });
    // The entry's postrotate may have reloaded, restarted or stopped the unit: wait for it
    // to settle either way.
    let begun = Instant::now();
    let now = wait_settled(systemd, unit, waits.start_limit())?;
    if now.is_down() {
        detail = format!("{detail}; the unit stopped after it");
        phases.push(Phase {
            kind: PhaseKind::Stop,
            ending: Ending::of_run(&now),
            took: begun.elapsed(),
        });
    } else if !now.is_up() {
        return Err(format!(
            "after logrotate -f {}, {unit} is {}",
            entry.path.display(),
            now.describe()
        ));
    } else {
        settle(systemd, unit).map_err(|e| format!("after the rotation {unit} {e}"))?;
    }
    Ok(Done::Passed(detail))
}

/// Waits until `unit` is up or down, not on its way (activating, deactivating, reloading, or
/// waiting to be restarted), for at most `limit`; returns its state then.
fn wait_settled(systemd: &Systemd, unit: &str, limit: Duration) -> Result<UnitInfo, String> {
    let begun = Instant::now();
    loop {
        let now = show(systemd, unit)?;
        let between = now.sub_state.starts_with("auto-restart");
        if (now.active_state == "active" || now.is_down()) && !between || begun.elapsed() > limit {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_unit_that_stays_active_without_a_process_is_told_apart() {
        // exim4.service, systemd's unit for Debian's init script: Type=forking, no main PID,
        // RemainAfterExit=yes. Killed, it stays "active (exited)" and nothing restarts it.
        let unit = |sub: &str, pid: u32, remain: &str| {
            UnitInfo::parse(&format!(
                "Id=exim4.service\nActiveState=active\nSubState={sub}\nMainPID={pid}\nType=forking\nRemainAfterExit={remain}\nInvocationID=a1\n"
            ))
        };
        let before = unit("running", 0, "yes");
        assert_eq!(
            after_kill(&before, &unit("exited", 0, "yes")),
            AfterKill::ActiveWithoutProcess
        );
        // Not yet seen empty by systemd, a unit without RemainAfterExit, a new run.
        assert_eq!(after_kill(&before, &before), AfterKill::Other);
        assert_eq!(
            after_kill(&before, &unit("exited", 0, "no")),
            AfterKill::Other
        );
        let mut again = unit("exited", 0, "yes");
        again.invocation_id = "b2".into();
        assert_eq!(after_kill(&before, &again), AfterKill::Other);
    }

    fn phase(kind: PhaseKind, ending: Ending) -> Phase {
        Phase {
            kind,
            ending,
            took: Duration::from_millis(200),
        }
    }

    fn exited(result: &str, status: i32) -> Ending {
        Ending::Run {
            result: result.into(),
            code: 1,
            status,
        }
    }

    #[test]
    fn an_unclean_stop_passes_only_as_the_unit_stops_anyway() {
        // A JVM's 143, a cache's 64: how the service stops, with or without a drop-in.
        let restart = |stop: Ending| {
            vec![
                phase(PhaseKind::Stop, stop),
                phase(PhaseKind::Start, Ending::Clean),
            ]
        };
        let with = restart(exited("exit-code", 64));
        let without = restart(exited("exit-code", 64));
        assert_eq!(
            judge(&with, Some(&without)),
            Judgement::AsBefore(vec![
                "stop ends with status 64 (Result=exit-code)".to_owned()
            ])
        );
        assert_eq!(
            judge(&with, None),
            Judgement::NoBaseline("stop ends with status 64 (Result=exit-code)".into())
        );
        // Clean phases need no baseline.
        assert_eq!(
            judge(&restart(Ending::Clean), None),
            Judgement::AsBefore(vec![])
        );
        // A stop that ended cleanly without the drop-in, or with another status, or killed
        // by SIGSYS (a seccomp filter): worse.
        let Judgement::Worse(why) = judge(&with, Some(&restart(Ending::Clean))) else {
            panic!()
        };
        assert_eq!(
            why,
            "stop ends with status 64 (Result=exit-code); without the drop-in it ends cleanly"
        );
        let sigsys = restart(Ending::Run {
            result: "signal".into(),
            code: 2,
            status: 31,
        });
        let Judgement::Worse(why) = judge(&sigsys, Some(&without)) else {
            panic!()
        };
        assert!(why.starts_with("stop ends by SIGSYS (31)"), "{why}");
        assert!(matches!(
            judge(&restart(exited("exit-code", 143)), Some(&without)),
            Judgement::Worse(_)
        ));
        // The second stop of an event is compared with the second one before.
        let twice = |second: Ending| {
            vec![
                phase(PhaseKind::Stop, Ending::Clean),
                phase(PhaseKind::Stop, second),
            ]
        };
        assert_eq!(
            judge(
                &twice(exited("exit-code", 1)),
                Some(&twice(exited("exit-code", 1)))
            ),
            Judgement::AsBefore(vec!["stop ends with status 1 (Result=exit-code)".into()])
        );
        assert!(matches!(
            judge(
                &twice(exited("exit-code", 1)),
                Some(&[phase(PhaseKind::Stop, exited("exit-code", 1))])
            ),
            Judgement::Worse(_)
        ));
    }

    #[test]
    fn how_a_run_ended() {
        let info = |result: &str, code: i32, status: i32| UnitInfo {
            result: result.into(),
            exec_main_code: code,
            exec_main_status: status,
            ..Default::default()
        };
        assert_eq!(Ending::of_run(&info("success", 1, 0)), Ending::Clean);
        assert_eq!(
            Ending::of_run(&info("exit-code", 1, 64)).to_string(),
            "ends with status 64 (Result=exit-code)"
        );
        assert_eq!(
            Ending::of_run(&info("signal", 2, 9)).to_string(),
            "ends by SIGKILL (9) (Result=signal)"
        );
        assert_eq!(
            Ending::of_run(&info("timeout", 0, 0)).to_string(),
            "ends with Result=timeout"
        );
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse_list("crash, restart,crash").unwrap(),
            [Exercise::Crash, Exercise::Restart]
        );
        assert_eq!(parse_list("all").unwrap(), Exercise::ALL);
        assert_eq!(
            parse_list("reload,all").unwrap(),
            [
                Exercise::Reload,
                Exercise::Restart,
                Exercise::Crash,
                Exercise::Logrotate
            ]
        );
        assert_eq!(parse_list(" "), Err(ExerciseError::Empty));
        assert_eq!(
            parse_list("restart,,crash"),
            Err(ExerciseError::EmptyItem("restart,,crash".into()))
        );
        let e = parse_list("restart,reboot").unwrap_err();
        assert_eq!(e, ExerciseError::Unknown("reboot".into()));
        assert!(
            e.to_string()
                .contains("restart, reload, crash, logrotate or all")
        );
    }

    #[test]
    fn waits_follow_the_unit() {
        let info = UnitInfo {
            timeout_start: Some(Duration::from_secs(10)),
            timeout_stop: None,
            ..Default::default()
        };
        let w = Waits::of(&info, Duration::from_secs(60));
        assert_eq!(w.start, Duration::from_secs(10));
        assert_eq!(w.stop, None);
        // TimeoutStopSec=infinity: the fallback bounds the stop, once (then learner kills).
        assert!(w.stop_limit() > Duration::from_secs(60));
        assert!(w.stop_limit() < Duration::from_secs(120));
        assert!(w.start_limit() > w.stop_limit());
        let finite = Waits::of(
            &UnitInfo {
                timeout_stop: Some(Duration::from_secs(10)),
                ..Default::default()
            },
            Duration::from_secs(60),
        );
        assert!(finite.stop_limit() >= Duration::from_secs(40));
    }

    #[test]
    fn finds_the_exec_start_program() {
        assert_eq!(
            exec_start_program(
                "{ path=/usr/sbin/nginx ; argv[]=/usr/sbin/nginx -g daemon on; ; ignore_errors=no ; start_time=[n/a] }"
            ),
            Some("/usr/sbin/nginx")
        );
        assert_eq!(exec_start_program(""), None);
    }

    #[test]
    fn entries_naming_the_unit() {
        let nginx = "/var/log/nginx/*.log {\n\tdaily\n\tpostrotate\n\t\tinvoke-rc.d nginx rotate >/dev/null 2>&1\n\tendscript\n}\n";
        assert!(scripts_name_unit(nginx, "nginx.service"));
        assert!(!scripts_name_unit(nginx, "nginx-debug.service"));
        // A name outside the scripts (the log path) does not count.
        assert!(!scripts_name_unit(
            "/var/log/redis/*.log {\n\tweekly\n}\n",
            "redis.service"
        ));
        let pg = "/var/log/x {\n postrotate\n  systemctl reload postgresql@15-main.service\n endscript\n}\n";
        assert!(scripts_name_unit(pg, "postgresql@15-main.service"));
    }
}
