//! Driving a unit through the events of its life (restart, reload, crash, log rotation), one
//! at a time, and waiting as long as the unit's own timeouts allow until it is active again.
//! `learner apply --exercise` runs them under a new drop-in; nothing here knows who watches
//! the unit meanwhile, so a recording can drive the same events.
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

/// How long the unit's transitions may take, from its own TimeoutStartSec, TimeoutStopSec and
/// RestartSec; `fallback` stands in for a timeout that is infinite (a oneshot job's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    pub start: Duration,
    pub stop: Duration,
    pub restart_delay: Duration,
}

impl Waits {
    pub fn of(info: &UnitInfo, fallback: Duration) -> Self {
        Self {
            start: info.timeout_start.unwrap_or(fallback),
            stop: info.timeout_stop.unwrap_or(fallback),
            restart_delay: info.restart_delay.unwrap_or_default(),
        }
    }

    /// A stop: ExecStop, SIGTERM, SIGKILL and ExecStopPost each get TimeoutStopSec
    /// (service_enter_signal arms timeout_stop_usec for every stop state). systemctl returns
    /// as soon as the job is done, so this only bounds a unit that hangs.
    pub fn stop_limit(&self) -> Duration {
        self.stop * 4 + SLACK
    }

    /// A start: TimeoutStartSec, and a start that fails is stopped like any other.
    pub fn start_limit(&self) -> Duration {
        self.start + self.stop_limit()
    }
}

/// How one event went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Not applicable to this unit (no ExecReload, no logrotate entry); `detail` says why.
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub exercise: Exercise,
    pub outcome: Outcome,
    /// What happened, or why it failed or was skipped.
    pub detail: String,
    pub took: Duration,
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

fn show(systemd: &Systemd, unit: &str) -> Result<UnitInfo, String> {
    systemd.show(unit).map_err(|e| e.to_string())
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Stops `unit`, waiting as long as its TimeoutStopSec allows. A stop that leaves the unit
/// failed (ExecStop failed, a timeout, a kill) is a failure.
pub fn stop(systemd: &Systemd, unit: &str, waits: &Waits) -> Result<(), String> {
    let limit = waits.stop_limit();
    let end = systemd
        .systemctl_job(&["stop", "--", unit], limit)
        .map_err(|e| e.to_string())?;
    let info = show(systemd, unit)?;
    match end {
        JobEnd::TimedOut => Err(format!(
            "was still {} after {} of stopping",
            info.describe(),
            secs(limit)
        )),
        JobEnd::Done { ok: false, stderr } => Err(format!(
            "could not be stopped: {stderr} ({})",
            info.describe()
        )),
        JobEnd::Done { ok: true, .. } if info.result != "success" && !exited_on_sigterm(&info) => {
            Err(format!("did not stop cleanly: it is {}", info.describe()))
        }
        JobEnd::Done { ok: true, .. } => Ok(()),
    }
}

/// A main process that ended with status 143 (128 + SIGTERM) on stop: a JVM, or a shell
/// script, answering systemd's SIGTERM without SuccessExitStatus=143. systemd calls that a
/// failure, but it is how the service stops with or without a sandbox (a process killed for
/// a denied syscall ends by a signal, not with a status), so it is not the drop-in's doing.
fn exited_on_sigterm(info: &UnitInfo) -> bool {
    const CLD_EXITED: i32 = 1;
    info.result == "exit-code"
        && info.exec_main_code == CLD_EXITED
        && info.exec_main_status == 128 + libc::SIGTERM
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

/// Drives `unit` through one event and waits until it is active again. `fallback` bounds a
/// wait the unit sets no timeout for.
pub fn drive(systemd: &Systemd, unit: &str, exercise: Exercise, fallback: Duration) -> Step {
    let begun = Instant::now();
    let (outcome, detail) = match show(systemd, unit) {
        Err(e) => (Outcome::Failed, e),
        Ok(info) => {
            let waits = Waits::of(&info, fallback);
            let result = if info.is_job() {
                job_event(systemd, unit, exercise, &waits)
            } else {
                match exercise {
                    Exercise::Restart => restart(systemd, unit, &waits),
                    Exercise::Reload => reload(systemd, unit, &info, &waits),
                    Exercise::Crash => crash(systemd, unit, &info, &waits),
                    Exercise::Logrotate => logrotate(systemd, unit, &info, &waits),
                }
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
    }
}

enum Done {
    Passed(String),
    Skipped(String),
}

/// A job is not running between its runs: a restart is one more run; the rest do not apply.
fn job_event(
    systemd: &Systemd,
    unit: &str,
    exercise: Exercise,
    waits: &Waits,
) -> Result<Done, String> {
    match exercise {
        Exercise::Restart => run_job(systemd, unit, waits).map(Done::Passed),
        other => Ok(Done::Skipped(format!(
            "{unit} is a job (Type=oneshot), not a running service: nothing to {other}"
        ))),
    }
}

fn restart(systemd: &Systemd, unit: &str, waits: &Waits) -> Result<Done, String> {
    let begun = Instant::now();
    stop(systemd, unit, waits).map_err(|e| format!("stopping, it {e}"))?;
    let stopped = begun.elapsed();
    start(systemd, unit, waits).map_err(|e| format!("stopped; then it {e}"))?;
    Ok(Done::Passed(format!(
        "stopped in {}, active again {} later",
        secs(stopped),
        secs(begun.elapsed() - stopped)
    )))
}

fn reload(systemd: &Systemd, unit: &str, info: &UnitInfo, waits: &Waits) -> Result<Done, String> {
    if !info.can_reload {
        return Ok(Done::Skipped(format!("{unit} has no ExecReload")));
    }
    if info.active_state != "active" {
        return Err(format!("{unit} is not active: it is {}", info.describe()));
    }
    let limit = waits.start_limit();
    match systemd
        .systemctl_job(&["reload", "--", unit], limit)
        .map_err(|e| e.to_string())?
    {
        JobEnd::TimedOut => {
            return Err(format!(
                "{unit} was still {} after {} of reloading",
                show(systemd, unit)?.describe(),
                secs(limit)
            ));
        }
        JobEnd::Done { ok: false, stderr } => {
            return Err(format!(
                "the reload failed: {stderr} ({unit} is {})",
                show(systemd, unit)?.describe()
            ));
        }
        JobEnd::Done { ok: true, .. } => {}
    }
    let after = show(systemd, unit)?;
    if after.invocation_id != info.invocation_id {
        return Err(format!(
            "{unit} died during the reload and was started again: it is {}",
            after.describe()
        ));
    }
    settle(systemd, unit).map_err(|e| format!("after the reload {unit} {e}"))?;
    Ok(Done::Passed("reloaded, still the same run".into()))
}

fn crash(systemd: &Systemd, unit: &str, info: &UnitInfo, waits: &Waits) -> Result<Done, String> {
    if info.active_state != "active" {
        return Err(format!("{unit} is not active: it is {}", info.describe()));
    }
    // Every process of the unit: `all` is systemctl kill's default (the option naming it was
    // renamed from --kill-who to --kill-whom in v252).
    systemd
        .systemctl(&["kill", "--signal=SIGKILL", "--", unit])
        .map_err(|e| e.to_string())?;
    let begun = Instant::now();
    let limit = waits.stop_limit() + waits.restart_delay + waits.start_limit();
    loop {
        let now = show(systemd, unit)?;
        if now.invocation_id != info.invocation_id && now.active_state == "active" {
            settle(systemd, unit)
                .map_err(|e| format!("killed; systemd restarted it, but it {e}"))?;
            return Ok(Done::Passed(format!(
                "killed; systemd restarted it itself (Restart={}) {} later",
                now.restart,
                secs(begun.elapsed())
            )));
        }
        // A dead unit systemd will not restart (v254+ passes through *-before-auto-restart
        // on its way to auto-restart).
        if matches!(now.active_state.as_str(), "failed" | "inactive")
            && !now.sub_state.ends_with("before-auto-restart")
        {
            let ended = now.describe();
            start(systemd, unit, waits).map_err(|e| format!("killed ({ended}); then it {e}"))?;
            return Ok(Done::Passed(format!(
                "killed ({ended}), then started, active again {} later",
                secs(begun.elapsed())
            )));
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

/// Packages in a `dpkg -S` answer (`nginx-common, nginx: /usr/sbin/nginx`).
fn dpkg_owners(answer: &str) -> Vec<String> {
    answer
        .lines()
        .filter(|l| !l.starts_with("diversion by"))
        .filter_map(|l| l.split_once(": "))
        .flat_map(|(pkgs, _)| pkgs.split(", ").map(|p| p.trim().to_owned()))
        .collect()
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
        for path in candidates {
            let Ok(out) = systemd.run("dpkg", &["-S", &path]) else {
                continue;
            };
            for package in dpkg_owners(&String::from_utf8_lossy(&out.stdout)) {
                let Ok(files) = systemd.run("dpkg", &["-L", &package]) else {
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
) -> Result<Done, String> {
    let Some(entry) = logrotate_entry(systemd, unit) else {
        return Ok(Done::Skipped(format!(
            "no /etc/logrotate.d entry belongs to {unit}'s package or names it in its scripts"
        )));
    };
    if info.active_state != "active" {
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
    let out = systemd.run("logrotate", &["-f", "-s", &state, &conf]);
    for f in [&conf, &state] {
        let _ = std::fs::remove_file(systemd.path_in_guest(Path::new(f)));
    }
    let out = out.map_err(|e| e.to_string())?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "logrotate -f {} failed ({}): {}",
            entry.path.display(),
            out.status,
            stderr.lines().next().unwrap_or("")
        ));
    }
    // The entry's postrotate may have reloaded or restarted the unit: wait for it to settle.
    let begun = Instant::now();
    let limit = waits.start_limit();
    loop {
        let now = show(systemd, unit)?;
        if now.active_state == "active" {
            break;
        }
        if now.active_state == "failed" || begun.elapsed() > limit {
            return Err(format!(
                "after logrotate -f {}, {unit} is {}",
                entry.path.display(),
                now.describe()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    settle(systemd, unit).map_err(|e| format!("after the rotation {unit} {e}"))?;
    Ok(Done::Passed(format!(
        "rotated with {} (found by {})",
        entry.path.display(),
        entry.found_by
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_143_on_stop_is_how_the_service_stops() {
        let stopped = |result: &str, code: i32, status: i32| UnitInfo {
            result: result.into(),
            exec_main_code: code,
            exec_main_status: status,
            ..Default::default()
        };
        assert!(exited_on_sigterm(&stopped("exit-code", 1, 143)));
        // Killed by a signal (SIGSYS from a seccomp filter is 31), another status, a timeout:
        // each still a failed stop.
        assert!(!exited_on_sigterm(&stopped("signal", 2, 31)));
        assert!(!exited_on_sigterm(&stopped("exit-code", 1, 1)));
        assert!(!exited_on_sigterm(&stopped("timeout", 1, 143)));
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
        assert_eq!(w.stop, Duration::from_secs(60));
        assert!(w.stop_limit() > Duration::from_secs(60));
        assert!(w.start_limit() > w.stop_limit());
    }

    #[test]
    fn finds_the_program_and_its_packages() {
        assert_eq!(
            exec_start_program(
                "{ path=/usr/sbin/nginx ; argv[]=/usr/sbin/nginx -g daemon on; ; ignore_errors=no ; start_time=[n/a] }"
            ),
            Some("/usr/sbin/nginx")
        );
        assert_eq!(exec_start_program(""), None);
        assert_eq!(
            dpkg_owners("diversion by x from: /bin/sh\nnginx-common, nginx: /usr/sbin/nginx\n"),
            ["nginx-common", "nginx"]
        );
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
