//! `learner apply UNIT DROPIN`: install a drop-in, restart the unit, prove it still works,
//! and put everything back when it does not. A job (a oneshot unit) is run once and judged by
//! how its run ended.
use std::{path::PathBuf, process::Command, time::Duration};

use crate::{
    policy::denials::{self, Denial},
    recording::unit::{Background, RecordRequest},
    systemd::exercise::{self, Exercise, Outcome, Step, Waits},
    systemd::manager::{Systemd, SystemdError, UnitInfo},
    util::host,
};

/// learner's drop-in name: the unit's other drop-ins are never touched.
pub const DROPIN_NAME: &str = "50-learner-hardening.conf";

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
}

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub unit: String,
    pub dropin: PathBuf,
    pub check: Option<String>,
    /// How long the check may take, and how long to wait where the unit sets no timeout.
    pub timeout: Duration,
    pub guest: Option<u32>,
    /// Events to drive the unit through under the drop-in, the check after each.
    pub exercise: Vec<Exercise>,
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
        .arg(format!("{}s", timeout.as_secs().max(1)))
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

/// Prints what went wrong in the failing step: the journal, the directive each known message
/// points at, and what the sandbox denied.
fn report_failure(
    systemd: &Systemd,
    unit: &str,
    why: &str,
    cursor: Option<&str>,
    denials: &[String],
) {
    let journal = systemd.journal_after(unit, cursor);
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
    let hints = hints(&journal);
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
            "{what}: remove {} yourself, then `systemctl daemon-reload` and `systemctl restart {unit}`",
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
        if now.is_active() {
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
    // under the drop-in) does not matter; the start does.
    if now.is_active() {
        let _ = exercise::stop(systemd, unit, &waits);
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
    before_step: Vec<Denial>,
}

impl<'a> DenialWatch<'a> {
    fn start(systemd: &'a Systemd, unit: &str, guest: Option<u32>) -> Self {
        let recording = Background::start(RecordRequest {
            unit: unit.to_owned(),
            duration: None,
            restart: false,
            output: None,
            guest,
            check: true,
            exercise: Vec::new(),
        })
        .map_err(|e| eprintln!("learner: warning: cannot watch for denials ({e}); a failure will show the journal only"))
        .ok();
        Self {
            systemd,
            unit: unit.to_owned(),
            recording,
            before_step: Vec::new(),
        }
    }

    fn denials(&self, obs: &crate::model::observations::Observations) -> Vec<Denial> {
        match self
            .systemd
            .properties(&self.unit, denials::SANDBOX_PROPERTIES)
        {
            Ok(text) => denials::denials(obs, &denials::Sandbox::parse(&text)),
            Err(_) => Vec::new(),
        }
    }

    /// A new step begins: what was denied until now is not its doing.
    fn mark(&mut self) {
        if let Some(obs) = self.recording.as_ref().and_then(Background::snapshot) {
            self.before_step = self.denials(&obs);
        }
    }

    /// Stops watching; the denials of the current step (new ones, or ones seen more often).
    fn finish(&mut self) -> Vec<String> {
        let Some(recording) = self.recording.take() else {
            return Vec::new();
        };
        let report = match recording.finish() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("learner: warning: watching for denials failed: {e}");
                return Vec::new();
            }
        };
        let key = |d: &Denial| {
            (
                d.processes.clone(),
                d.operation.clone(),
                d.directive.clone(),
            )
        };
        self.denials(&report.profile.observations)
            .into_iter()
            .filter(|d| {
                !self
                    .before_step
                    .iter()
                    .any(|b| key(b) == key(d) && b.outcome == d.outcome)
            })
            .map(|d| d.to_string())
            .collect()
    }
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
    let exposure_before = systemd.exposure(&unit);

    let dir = systemd.dropin_dir(&unit);
    let installed = dir.join(DROPIN_NAME);
    let previous = std::fs::read_to_string(&installed).ok();
    let install = |content: &str| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        crate::util::atomic_file::write(&installed, content.as_bytes())
    };
    install(&text).map_err(|source| ApplyError::Install {
        path: installed.clone(),
        source,
    })?;
    let mut watch = DenialWatch::start(&systemd, &unit, req.guest);

    let mut cursor = systemd.journal_cursor();
    let mut steps = Vec::new();
    let mut job = None;
    let mut failure: Option<(String, String)> = None;
    let check = |label: &str| -> Result<(), (String, String)> {
        match &req.check {
            Some(c) => run_check(c, req.timeout)
                .map_err(|why| (label.to_owned(), format!("{why} {label}"))),
            None => Ok(()),
        }
    };
    let first = (|| -> Result<(), (String, String)> {
        systemd
            .systemctl(&["daemon-reload"])
            .map_err(|e| ("the reload".to_owned(), e.to_string()))?;
        let info = systemd
            .show(&unit)
            .map_err(|e| ("the reload".to_owned(), e.to_string()))?;
        let waits = Waits::of(&info, req.timeout);
        if info.is_job() {
            let ran = exercise::run_job(&systemd, &unit, &waits)
                .map_err(|why| ("its run under the drop-in".to_owned(), why))?;
            eprintln!("learner: {unit} {ran}");
            job = Some(ran);
        } else {
            if matches!(before.active_state.as_str(), "active" | "reloading") {
                exercise::stop(&systemd, &unit, &waits).map_err(|why| {
                    let step = "the stop before the drop-in's first start";
                    (step.to_owned(), format!("{why} (in {step})"))
                })?;
            }
            exercise::start(&systemd, &unit, &waits).map_err(|why| {
                let step = "the first start under the drop-in";
                (step.to_owned(), format!("{why} (in {step})"))
            })?;
        }
        check("under the drop-in")
    })();
    if let Err(f) = first {
        failure = Some(f);
    }
    if failure.is_none() {
        for &event in &req.exercise {
            watch.mark();
            cursor = systemd.journal_cursor();
            let step = exercise::drive(&systemd, &unit, event, req.timeout);
            eprintln!("learner: {step}");
            let outcome = step.outcome;
            let detail = step.detail.clone();
            steps.push(step);
            match outcome {
                Outcome::Failed => {
                    failure = Some((
                        format!("the {event} step"),
                        format!("failed the {event} step: {detail}"),
                    ));
                    break;
                }
                Outcome::Skipped => {}
                Outcome::Passed => {
                    if let Err(f) = check(&format!("after {event}")) {
                        failure = Some(f);
                        break;
                    }
                }
            }
        }
    }
    if let Some((step, why)) = failure {
        let denials = watch.finish();
        report_failure(&systemd, &unit, &why, cursor.as_deref(), &denials);
        // Put back what was there: the previous learner drop-in, or none.
        let restore = || match &previous {
            Some(old) => install(old),
            None => std::fs::remove_file(&installed),
        };
        let rollback = roll_back(
            &systemd,
            &unit,
            &before,
            restore,
            previous.is_some(),
            req.timeout,
        );
        return Err(ApplyError::Failed {
            unit,
            step,
            why,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_directive() {
        let journal = "nginx.service: Failed at step NAMESPACE spawning /usr/sbin/nginx: No such file or directory\nnginx.service: Main process exited, code=exited, status=226/NAMESPACE\nopen() \"/run/nginx.pid\" failed (30: Read-only file system)\n";
        let h = hints(journal).join("\n");
        assert!(h.contains("ReadWritePaths entry missing"), "{h}");
        assert!(h.contains("not in ReadWritePaths"), "{h}");
        assert!(hints("all good").is_empty());
    }
}
