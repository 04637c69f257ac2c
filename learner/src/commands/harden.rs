//! `learner harden DIR`: every unit recorded in DIR gets its drop-in for this host, scored;
//! with `--apply` each is applied in turn (its check, its exercise, rollback on failure),
//! never two at once, and one report says what changed and why the rest was left alone.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::{
    commands::{apply, generate, score},
    model::profile::Profile,
    systemd::exercise::Exercise,
    util::{atomic_file, errors::one_line},
};

/// Written to DIR beside the profiles.
pub const REPORT_MD: &str = "harden-report.md";
pub const REPORT_JSON: &str = "harden-report.json";

#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    #[error("cannot read {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no profile (*.profile.yaml, *.yaml from learner record)")]
    NoProfiles(PathBuf),
    #[error("learner harden --apply must be run as root")]
    NotRoot,
    #[error("cannot write the report {path}: {source}")]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct HardenRequest {
    pub dir: PathBuf,
    pub apply: bool,
    pub exercise: Vec<Exercise>,
    /// `DIR/UNIT`: a shell script, run as the unit's check with `sh`.
    pub check_dir: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub guest: Option<u32>,
    pub quiet: bool,
}

/// What became of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitResult {
    /// Applied, and it passed its check and events: installed.
    Hardened,
    /// The drop-in is written and scored; not applied (no --apply).
    Generated,
    /// Applied and failed: rolled back, the unit as it was.
    RolledBack,
    /// Applied, failed, and the rollback failed too: see `why` for what to do by hand. No
    /// unit after it is applied.
    RollbackFailed,
    /// Left alone before any drop-in: see `why`.
    Skipped,
    /// Not reached: harden was interrupted before it.
    NotStarted,
}

impl UnitResult {
    fn text(self) -> &'static str {
        match self {
            UnitResult::Hardened => "hardened",
            UnitResult::Generated => "generated",
            UnitResult::RolledBack => "rolled back",
            UnitResult::RollbackFailed => "ROLLBACK FAILED",
            UnitResult::Skipped => "skipped",
            UnitResult::NotStarted => "not started",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub unit: String,
    pub profiles: Vec<String>,
    /// `systemd-analyze security` now, and with the drop-in (as installed, or as it would be).
    pub exposure_before: Option<f64>,
    pub exposure_after: Option<f64>,
    /// The directives the drop-in sets.
    pub directives: Vec<String>,
    pub dropin: Option<String>,
    pub result: UnitResult,
    pub why: Option<String>,
}

impl UnitReport {
    /// A row with nothing scored or generated yet.
    fn new(unit: &str, paths: &[PathBuf], result: UnitResult, why: Option<String>) -> Self {
        UnitReport {
            unit: unit.to_owned(),
            profiles: paths.iter().map(|p| file_name(p)).collect(),
            exposure_before: None,
            exposure_after: None,
            directives: vec![],
            dropin: None,
            result,
            why,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub mean: Option<f64>,
    pub median: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: String,
    pub applied: bool,
    pub interrupted: bool,
    pub units: Vec<UnitReport>,
    /// Over the units scored: now, and with each hardened (or, without --apply, generated)
    /// unit's drop-in, the others as they are.
    pub before: Summary,
    pub after: Summary,
}

static TERMINATED: AtomicBool = AtomicBool::new(false);

extern "C" fn terminated(_: libc::c_int) {
    TERMINATED.store(true, Ordering::Relaxed);
}

/// Ctrl-C is held pending, for learner and for the commands apply runs (systemctl, the check:
/// the terminal sends it to the whole process group): a unit's apply always ends hardened or
/// as it was, and harden reads it between units. SIGTERM, which `timeout` uses on the check,
/// is caught instead.
fn hold_interrupts() {
    // SAFETY: plain signal-mask and handler calls with valid arguments; the handler only
    // stores to an atomic.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGTERM, terminated as *const () as libc::sighandler_t);
    }
}

/// Whether a Ctrl-C (held pending) or a SIGTERM came.
fn interrupted() -> bool {
    // SAFETY: sigpending fills the set it is given.
    let pending = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGINT) == 1
    };
    pending || TERMINATED.load(Ordering::Relaxed)
}

/// Profile paths by the unit they recorded.
type ByUnit = BTreeMap<String, Vec<PathBuf>>;

/// The profiles in `dir`, by the unit they recorded (several of one unit are merged, as
/// `generate` merges them); files that are no profile of a unit are reported apart.
fn profiles_by_unit(dir: &Path) -> Result<(ByUnit, Vec<UnitReport>), HardenError> {
    let read = std::fs::read_dir(dir).map_err(|source| HardenError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut units = ByUnit::new();
    let mut others = Vec::new();
    for path in files {
        let partial = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".partial.yaml"));
        let why = match Profile::load(&path) {
            // What `record` kept of a recording it would not make a profile (it said why).
            Ok(p) if partial => format!(
                "{}: a partial recording, kept for a look, no profile (record said why when it wrote it)",
                p.provenance.unit.as_deref().unwrap_or("a unit")
            ),
            Err(e) => one_line(&e),
            Ok(p) => match p.provenance.unit {
                Some(unit) => {
                    units.entry(unit).or_default().push(path);
                    continue;
                }
                None => "a recording of a command (learner run), not of a unit".into(),
            },
        };
        let row = UnitReport::new(
            "",
            std::slice::from_ref(&path),
            UnitResult::Skipped,
            Some(why),
        );
        others.push(row);
    }
    if units.is_empty() {
        return Err(HardenError::NoProfiles(dir.to_owned()));
    }
    Ok((units, others))
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Why a unit's recordings make no drop-in worth applying (or, `applying`, worth a restart of
/// the unit under it), if they do not.
fn unfit(profiles: &[Profile], applying: bool) -> Option<String> {
    if let Some(incomplete) = profiles.iter().find_map(|p| p.recording.incomplete()) {
        return Some(format!(
            "its recording is incomplete ({incomplete}): a drop-in from it would have holes; record it again"
        ));
    }
    if profiles.iter().all(|p| p.syscalls.is_empty()) {
        return Some(
            "it never ran while recorded (a oneshot or a timer's job outside the window): record it with --wait across a run".into(),
        );
    }
    if profiles
        .iter()
        .all(|p| p.recording.main_process_seen == Some(false))
    {
        return Some(
            "its main program (ExecStart=) was never seen being executed while recorded".into(),
        );
    }
    // Applying restarts the unit: what it does only while starting must be in the profile
    // (`record --all` without --restart records units already running).
    if applying
        && profiles
            .iter()
            .all(|p| p.recording.startup_seen != Some(true))
    {
        return Some(
            "its start-up was not recorded, and applying restarts it: record it with --restart (record --all --restart)".into(),
        );
    }
    None
}

/// The directives a drop-in sets (resets aside), in its order, each once.
fn directives(dropin: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in crate::policy::unit_file::service_assignments(dropin, "drop-in") {
        if !a.value.trim().is_empty() && !out.contains(&a.key) {
            out.push(a.key);
        }
    }
    out
}

/// The mean and the median of `values`.
pub fn summary(values: &[f64]) -> Summary {
    if values.is_empty() {
        return Summary {
            mean: None,
            median: None,
        };
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Summary {
        mean: Some(round(v.iter().sum::<f64>() / n as f64)),
        median: Some(round(median)),
    }
}

impl Report {
    pub fn new(dir: &Path, applied: bool, interrupted: bool, units: Vec<UnitReport>) -> Report {
        let scored: Vec<&UnitReport> = units
            .iter()
            .filter(|u| u.exposure_before.is_some())
            .collect();
        let before: Vec<f64> = scored.iter().filter_map(|u| u.exposure_before).collect();
        let after: Vec<f64> = scored
            .iter()
            .map(|u| match u.result {
                UnitResult::Hardened | UnitResult::Generated => {
                    u.exposure_after.or(u.exposure_before).unwrap_or_default()
                }
                _ => u.exposure_before.unwrap_or_default(),
            })
            .collect();
        Report {
            dir: dir.display().to_string(),
            applied,
            interrupted,
            before: summary(&before),
            after: summary(&after),
            units,
        }
    }

    pub fn markdown(&self) -> String {
        let show = |e: Option<f64>| e.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let mut out = format!(
            "# learner harden {}\n\n| unit | exposure before | after | directives | result | why |\n|---|---|---|---|---|---|\n",
            self.dir
        );
        for u in &self.units {
            let unit = if u.unit.is_empty() {
                u.profiles.join(", ")
            } else {
                u.unit.clone()
            };
            out.push_str(&format!(
                "| {unit} | {} | {} | {} | {} | {} |\n",
                show(u.exposure_before),
                show(u.exposure_after),
                u.directives.len(),
                u.result.text(),
                u.why
                    .as_deref()
                    .unwrap_or("")
                    .replace('|', "\\|")
                    .replace('\n', " "),
            ));
        }
        let count = |r: UnitResult| self.units.iter().filter(|u| u.result == r).count();
        out.push_str(&format!(
            "\nMean exposure {} -> {}, median {} -> {} over {} scored units ({}). {} hardened, {} generated, {} rolled back, {} skipped, {} not started{}{}.\n",
            show(self.before.mean),
            show(self.after.mean),
            show(self.before.median),
            show(self.after.median),
            self.units.iter().filter(|u| u.exposure_before.is_some()).count(),
            if self.applied {
                "after: as applied"
            } else {
                "after: with each generated drop-in, none applied"
            },
            count(UnitResult::Hardened),
            count(UnitResult::Generated),
            count(UnitResult::RolledBack),
            count(UnitResult::Skipped),
            count(UnitResult::NotStarted),
            if self.interrupted {
                " (interrupted: the units not started are as they were)"
            } else {
                ""
            },
            match count(UnitResult::RollbackFailed) {
                0 => String::new(),
                n => format!("; {n} ROLLBACK FAILED: see why, and mend by hand"),
            },
        ));
        out
    }
}

/// One unit: its drop-in generated, written beside the profiles and scored, and with
/// --apply applied.
fn harden_unit(req: &HardenRequest, unit: &str, paths: &[PathBuf]) -> UnitReport {
    let mut report = UnitReport::new(unit, paths, UnitResult::Skipped, None);
    let profiles: Vec<Profile> = match paths.iter().map(|p| Profile::load(p)).collect() {
        Ok(p) => p,
        Err(e) => {
            report.why = Some(one_line(&e));
            return report;
        }
    };
    if let Ok(s) = score::score(unit, None, req.guest) {
        report.exposure_before = Some(s.exposure);
    }
    if let Some(why) = unfit(&profiles, req.apply) {
        report.why = Some(why);
        return report;
    }
    let generated = match generate::generate(&generate::GenerateRequest {
        profiles: paths.to_vec(),
        target_systemd: None,
        explain: true,
        margin: crate::policy::margin::Margin::Standard,
        identity: false,
        unit_file: None,
        score_unit_file: None,
    }) {
        Ok(g) => g,
        Err(e) => {
            report.why = Some(format!("generate: {}", one_line(&e)));
            return report;
        }
    };
    let dropin = req.dir.join(format!("{unit}.hardening.conf"));
    if let Err(e) = atomic_file::write(&dropin, generated.text.as_bytes()) {
        report.why = Some(format!("cannot write {}: {e}", dropin.display()));
        return report;
    }
    report.dropin = Some(file_name(&dropin));
    report.directives = directives(&generated.text);
    if let Ok(s) = score::score(unit, Some(&dropin), req.guest) {
        report.exposure_after = s.exposure_with_dropin;
    }
    if !req.apply {
        report.result = UnitResult::Generated;
        return report;
    }
    let check = req
        .check_dir
        .as_ref()
        .map(|d| d.join(unit))
        .filter(|c| c.is_file())
        .map(|c| format!("sh '{}'", c.display().to_string().replace('\'', "'\\''")));
    match apply::apply(&apply::ApplyRequest {
        unit: unit.to_owned(),
        dropin,
        check,
        timeout: req.timeout,
        guest: req.guest,
        exercise: req.exercise.clone(),
        profiles: paths.to_vec(),
        quiet: true,
    }) {
        Ok(applied) => {
            report.result = UnitResult::Hardened;
            report.exposure_after = applied.exposure_after.or(report.exposure_after);
        }
        Err(e) => {
            report.why = Some(one_line(&e));
            report.exposure_after = report.exposure_before;
            report.result = match &e {
                // The unit still fails without the drop-in: the host is not as it was, and
                // the next unit must not be tried on it.
                e if e.rollback_failed() || matches!(e, apply::ApplyError::Outlived { .. }) => {
                    UnitResult::RollbackFailed
                }
                // Stopped, and started again without it.
                apply::ApplyError::Failed { .. }
                | apply::ApplyError::BadCheck { .. }
                | apply::ApplyError::Install { .. } => UnitResult::RolledBack,
                // Refused before anything was changed.
                _ => UnitResult::Skipped,
            };
        }
    }
    report
}

pub fn harden(req: &HardenRequest) -> Result<Report, HardenError> {
    if req.apply && unsafe { libc::geteuid() } != 0 {
        return Err(HardenError::NotRoot);
    }
    let (units, mut reports) = profiles_by_unit(&req.dir)?;
    hold_interrupts();
    let total = units.len();
    let mut stop: Option<&str> = None;
    for (n, (unit, paths)) in units.iter().enumerate() {
        if stop.is_none() && interrupted() {
            stop = Some("interrupted before it");
        }
        if let Some(why) = stop {
            reports.push(UnitReport::new(
                unit,
                paths,
                UnitResult::NotStarted,
                Some(why.into()),
            ));
            continue;
        }
        if !req.quiet {
            eprintln!(
                "learner: harden {}/{total} {unit}: {}",
                n + 1,
                if req.apply {
                    "generating, applying"
                } else {
                    "generating"
                }
            );
        }
        let r = harden_unit(req, unit, paths);
        if !req.quiet {
            eprintln!(
                "learner: harden {}/{total} {unit}: {}{}",
                n + 1,
                r.result.text(),
                r.why
                    .as_deref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            );
        }
        if r.result == UnitResult::RollbackFailed {
            stop = Some("a rollback before it failed: nothing more is applied");
        }
        reports.push(r);
    }
    let report = Report::new(&req.dir, req.apply, interrupted(), reports);
    for (name, text) in [
        (REPORT_MD, report.markdown()),
        (
            REPORT_JSON,
            serde_json::to_string_pretty(&report).expect("plain data") + "\n",
        ),
    ] {
        let path = req.dir.join(name);
        atomic_file::write(&path, text.as_bytes())
            .map_err(|source| HardenError::Report { path, source })?;
    }
    Ok(report)
}

/// Exit 0 when no unit was rolled back (skipped ones are reported), 1 when one was or harden
/// was interrupted, 2 when nothing could be done or a rollback failed.
pub fn run(req: &HardenRequest, format: super::Format) -> ExitCode {
    match harden(req) {
        Ok(report) => {
            if format.is_json() {
                super::print_json(&serde_json::to_value(&report).expect("plain data"));
            } else {
                print!("{}", report.markdown());
            }
            let is = |r: UnitResult| report.units.iter().any(|u| u.result == r);
            if is(UnitResult::RollbackFailed) {
                return ExitCode::from(2);
            }
            ExitCode::from(u8::from(is(UnitResult::RolledBack) || report.interrupted))
        }
        Err(e) => {
            eprintln!("learner: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, before: Option<f64>, after: Option<f64>, result: UnitResult) -> UnitReport {
        UnitReport {
            unit: name.into(),
            profiles: vec![format!("{name}.profile.yaml")],
            exposure_before: before,
            exposure_after: after,
            directives: vec!["ProtectSystem".into()],
            dropin: None,
            result,
            why: (result == UnitResult::RolledBack).then(|| "fails | its check".into()),
        }
    }

    #[test]
    fn mean_and_median_count_failed_units_as_they_were() {
        let r = Report::new(
            Path::new("/d"),
            true,
            false,
            vec![
                unit("a.service", Some(9.6), Some(2.0), UnitResult::Hardened),
                unit("b.service", Some(9.2), Some(3.0), UnitResult::RolledBack),
                unit("c.service", Some(8.0), Some(1.0), UnitResult::Hardened),
                unit("d.service", None, None, UnitResult::Skipped),
            ],
        );
        assert_eq!(r.before.mean, Some(8.93));
        assert_eq!(r.before.median, Some(9.2));
        // b stays at 9.2: it was rolled back.
        assert_eq!(r.after.mean, Some(4.07));
        assert_eq!(r.after.median, Some(2.0));
        let md = r.markdown();
        assert!(
            md.contains("| b.service | 9.2 | 3.0 | 1 | rolled back | fails \\| its check |"),
            "{md}"
        );
        assert!(
            md.contains("2 hardened, 0 generated, 1 rolled back, 1 skipped"),
            "{md}"
        );
        assert_eq!(summary(&[]).median, None);
        assert_eq!(summary(&[1.0, 2.0]).median, Some(1.5));
    }

    #[test]
    fn directives_are_the_keys_with_values_each_once() {
        let d = "# ProtectSystem: why\n[Service]\nProtectSystem=strict\nReadWritePaths=\nReadWritePaths=-/run\nIPAddressDeny=\n";
        assert_eq!(directives(d), ["ProtectSystem", "ReadWritePaths"]);
    }

    #[test]
    fn an_incomplete_or_idle_recording_is_unfit() {
        let mut p = Profile::example("a.service");
        p.syscalls.insert("read".into(), 1);
        p.recording.startup_seen = Some(true);
        assert_eq!(unfit(std::slice::from_ref(&p), true), None);
        // Running when recorded: a drop-in, but no restart under it.
        let mut running = p.clone();
        running.recording.startup_seen = Some(false);
        assert_eq!(unfit(std::slice::from_ref(&running), false), None);
        assert!(
            unfit(std::slice::from_ref(&running), true).is_some_and(|w| w.contains("start-up"))
        );
        // One recording with it is enough.
        assert_eq!(unfit(&[running, p.clone()], true), None);
        p.recording.lost_events = 3;
        assert!(
            unfit(std::slice::from_ref(&p), false).is_some_and(|w| w.contains("3 events lost"))
        );
        let mut idle = Profile::example("b.service");
        idle.syscalls.clear();
        assert!(unfit(&[idle], false).is_some_and(|w| w.contains("never ran")));
        let mut unseen = Profile::example("c.service");
        unseen.syscalls.insert("read".into(), 1);
        unseen.recording.main_process_seen = Some(false);
        assert!(unfit(&[unseen], false).is_some_and(|w| w.contains("main program")));
    }
}
