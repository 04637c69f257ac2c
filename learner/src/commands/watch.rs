//! `learner watch UNIT --dropin DROPIN`: shadow mode. Records the live unit as `record` does
//! (no restart, following its restarts) and judges what it does, every second, against the
//! unit's settings plus the candidate drop-in, as `verify` does; each would-be denial is
//! reported once, on stdout and to the journal. Exits 0 when nothing would have been denied,
//! 1 when something would (or events were lost, which could hide it), 2 on trouble.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::{Format, with_signals};
use crate::{
    model::profile::Profile,
    policy::{filter_groups::SyscallGroups, unit_file::Assignment, verify},
    recording::unit::{self, RecordRequest, SnapshotRequest},
};

/// learner's own MESSAGE_ID for would-be denials: `journalctl MESSAGE_ID=...` finds them all,
/// whatever the unit.
pub const MESSAGE_ID: &str = "36bc78ec5789485ea20c2b847b732093";

/// How often what the unit did is judged: a would-be denial is reported within about this.
const EVALUATE_EVERY: Duration = Duration::from_secs(1);
/// How often the state file is written with the observations so far (and at once when
/// something new is reported, and on stop).
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// The state file's format.
const STATE_VERSION: u32 = 1;

pub struct WatchRequest {
    pub unit: String,
    pub dropin: PathBuf,
    pub duration: Option<Duration>,
    pub state: Option<PathBuf>,
    /// A Prometheus textfile (node-exporter's textfile collector) kept up to date.
    pub textfile: Option<PathBuf>,
    pub guest: Option<u32>,
    /// Apply the drop-in (`learner apply`) once the unit has been watched this long with no
    /// would-be denial and no event lost.
    pub promote_after: Option<Duration>,
    /// Passed to `learner apply` when promoting.
    pub check: Option<String>,
    pub exercise: Vec<crate::systemd::exercise::Exercise>,
}

/// One would-be denial, as reported (stdout, journal, state file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `denied`, `fails-to-start` or `ignored` (verify's kinds of gap).
    pub kind: String,
    /// Processes (comm) seen doing it; empty when the recording does not say (syscalls).
    pub processes: Vec<String>,
    /// What was done (`create /var/lib/app/x`, `capability CAP_CHOWN granted`).
    pub operation: String,
    /// The directive of the unit plus the drop-in that would deny it.
    pub directive: String,
    /// The smallest change that permits it.
    pub fix: String,
    /// When it was first seen (RFC 3339).
    pub first_seen: String,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind.as_str(), self.processes.is_empty()) {
            ("denied", true) => write!(f, "{}: {}; {}", self.operation, self.directive, self.fix),
            ("denied", false) => write!(
                f,
                "{}: {}: {}; {}",
                self.processes.join(","),
                self.operation,
                self.directive,
                self.fix
            ),
            _ => write!(f, "{}: {}; {}", self.directive, self.operation, self.fix),
        }
    }
}

/// What a watch keeps across restarts of itself (`--state`).
#[derive(Debug, Serialize, Deserialize)]
struct State {
    version: u32,
    unit: String,
    dropin: String,
    /// Everything reported so far: never reported again.
    reported: Vec<Report>,
    /// Everything observed so far, paths folded as in a profile (so bounded as a profile is).
    profile: Option<Profile>,
}

/// An observation's text without its count (`write /x 3x` -> `write /x`): the count grows
/// while the denial stays the same.
fn without_count(observation: &str) -> &str {
    match observation.rsplit_once(' ') {
        Some((rest, n))
            if n.len() > 1
                && n.ends_with('x')
                && n[..n.len() - 1].bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => observation,
    }
}

fn kind_name(kind: verify::GapKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The judging side of a watch: what was reported, what was observed before this watcher
/// started, and where reports go.
pub struct Watcher {
    unit: String,
    dropin: String,
    format: Format,
    assignments: Vec<Assignment>,
    systemd: u32,
    groups: SyscallGroups,
    /// The unit's root, where the drop-in's paths are looked up and its journal listens.
    root: PathBuf,
    reported: Vec<Report>,
    keys: BTreeSet<String>,
    /// Reports of this watcher (not of an earlier one whose state it took over).
    new_reports: usize,
    /// What earlier watchers observed (from the state file).
    before: Option<Profile>,
    /// Everything observed so far, earlier watchers' included.
    latest: Option<Profile>,
    /// Events lost so far by this watcher's recording, as last said.
    lost_said: u64,
    said_unjudged: bool,
    journal: bool,
    state: Option<PathBuf>,
    saved_at: Instant,
    textfile: Option<PathBuf>,
    /// The textfile's text as last written: rewritten only when it changes.
    textfile_written: String,
    said_no_textfile_dir: bool,
}

impl Watcher {
    /// A watcher of `unit` against the settings `assignments` (the unit's, then the drop-in's),
    /// taking over the state in `state` when the file exists.
    pub fn new(
        unit: &str,
        dropin: &Path,
        format: Format,
        (assignments, root): (Vec<Assignment>, PathBuf),
        (systemd, local): (u32, Option<u32>),
        state: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let mut me = Self {
            unit: unit.to_owned(),
            dropin: dropin.display().to_string(),
            format,
            assignments,
            systemd,
            groups: SyscallGroups::for_version(systemd, local),
            root,
            reported: Vec::new(),
            keys: BTreeSet::new(),
            new_reports: 0,
            before: None,
            latest: None,
            lost_said: 0,
            said_unjudged: false,
            journal: true,
            state,
            saved_at: Instant::now(),
            textfile: None,
            textfile_written: String::new(),
            said_no_textfile_dir: false,
        };
        if let Some(path) = me.state.clone()
            && path.exists()
        {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let state: State = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a watch state", path.display()))?;
            if state.version != STATE_VERSION {
                anyhow::bail!(
                    "{} is a watch state of version {}, not {STATE_VERSION}",
                    path.display(),
                    state.version
                );
            }
            // Names may differ in spelling (nginx vs nginx.service): compare without suffix.
            let bare = |u: &str| u.trim_end_matches(".service").to_owned();
            if bare(&state.unit) != bare(unit) {
                anyhow::bail!(
                    "{} is the watch state of {}, not of {unit}",
                    path.display(),
                    state.unit
                );
            }
            for r in &state.reported {
                me.keys.insert(format!(
                    "{}\t{}",
                    r.kind,
                    report_key(&r.operation, &r.directive, &r.fix)
                ));
            }
            me.reported = state.reported;
            me.latest = state.profile.clone();
            me.before = state.profile;
        }
        Ok(me)
    }

    /// Judges what has been observed so far (`seen`: this watcher's recording) and reports
    /// what is new.
    pub fn evaluate(&mut self, seen: Profile) {
        let lost = seen.recording.lost_events;
        let profile = match &self.before {
            Some(before) => Profile::merged(&[before.clone(), seen]).expect("two profiles"),
            None => seen,
        };
        let exists = |path: &str| self.root.join(path.trim_start_matches('/')).exists();
        let verdict = verify::verify(
            &profile,
            &self.assignments,
            self.systemd,
            &self.groups,
            &exists,
        );
        if !self.said_unjudged {
            self.said_unjudged = true;
            for u in &verdict.unchecked {
                eprintln!("learner: not checked: {u}");
            }
            for u in &verdict.unjudged {
                eprintln!("learner: cannot judge: {u}");
            }
        }
        for gap in &verdict.gaps {
            let k = format!(
                "{}\t{}",
                kind_name(gap.kind),
                report_key(&gap.observation, &gap.directive, &gap.fix)
            );
            if !self.keys.insert(k) {
                continue;
            }
            let report = Report {
                kind: kind_name(gap.kind),
                processes: gap.processes.clone(),
                operation: without_count(&gap.observation).to_owned(),
                directive: gap.directive.clone(),
                fix: gap.fix.clone(),
                first_seen: now(),
            };
            self.emit(&report);
            self.reported.push(report);
            self.new_reports += 1;
        }
        if lost > self.lost_said {
            let line = format!(
                "{} events lost ({} in all): a would-be denial among them is not reported",
                lost - self.lost_said,
                lost
            );
            match self.format {
                Format::Json => super::print_json(&serde_json::json!({
                    "event": "lost",
                    "unit": self.unit,
                    "lost_events": lost - self.lost_said,
                    "lost_events_total": lost,
                    "at": now(),
                })),
                Format::Text => println!("learner: {}: {line}", self.unit),
            }
            self.journal_entry(&format!("{}: {line}", self.unit), "4", &[]);
            self.lost_said = lost;
        }
        self.latest = Some(profile);
    }

    fn emit(&self, report: &Report) {
        match self.format {
            Format::Json => super::print_json(&report_json(&self.unit, report)),
            Format::Text => println!("{report}"),
        }
        let message = format!(
            "{} would be denied under {}: {report}",
            self.unit, self.dropin
        );
        let processes = report.processes.join(",");
        self.journal_entry(
            &message,
            "4",
            &[
                ("LEARNER_KIND", &report.kind),
                ("LEARNER_PROCESSES", &processes),
                ("LEARNER_OPERATION", &report.operation),
                ("LEARNER_DIRECTIVE", &report.directive),
                ("LEARNER_FIX", &report.fix),
            ],
        );
    }

    /// One entry in the unit's journal; none, quietly, when no journal listens.
    fn journal_entry(&self, message: &str, priority: &str, extra: &[(&str, &str)]) {
        if !self.journal {
            return;
        }
        let mut fields = vec![
            ("MESSAGE", message),
            ("MESSAGE_ID", MESSAGE_ID),
            ("PRIORITY", priority),
            ("SYSLOG_IDENTIFIER", "learner"),
            ("LEARNER_UNIT", self.unit.as_str()),
            ("LEARNER_DROPIN", self.dropin.as_str()),
        ];
        fields.extend_from_slice(extra);
        let _ = crate::util::journal::send(&self.root, &fields);
    }

    /// Writes the state file when one is asked for and `force` or it is due.
    fn save(&mut self, force: bool) -> anyhow::Result<()> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        if !force && self.saved_at.elapsed() < SAVE_EVERY {
            return Ok(());
        }
        let state = State {
            version: STATE_VERSION,
            unit: self.unit.clone(),
            dropin: self.dropin.clone(),
            reported: self.reported.clone(),
            profile: self.latest.clone(),
        };
        let text = serde_json::to_vec(&state).context("cannot encode the watch state")?;
        crate::util::atomic_file::write(path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.saved_at = Instant::now();
        Ok(())
    }

    /// Rewrites the textfile, when one is asked for and its counters changed.
    fn write_textfile(&mut self) -> anyhow::Result<()> {
        let Some(path) = &self.textfile else {
            return Ok(());
        };
        let text = metrics(&self.unit, &self.reported, self.lost_said);
        if text == self.textfile_written {
            return Ok(());
        }
        // No collector's directory (node-exporter not installed, as the shipped template
        // cannot know): said once, and tried again at the next change.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            if !self.said_no_textfile_dir {
                self.said_no_textfile_dir = true;
                eprintln!(
                    "learner: warning: {} not written: no directory {} (node-exporter's textfile collector not installed?)",
                    path.display(),
                    dir.display()
                );
            }
            return Ok(());
        }
        crate::util::atomic_file::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.textfile_written = text;
        Ok(())
    }

    /// Would-be denials reported, by this watcher and by those whose state it took over.
    pub fn reported(&self) -> &[Report] {
        &self.reported
    }
}

/// The unit's counters in Prometheus's text format, for node-exporter's textfile collector:
/// would-be denials so far, when the last was first seen, events lost.
fn metrics(unit: &str, reported: &[Report], lost: u64) -> String {
    let unit = unit.replace('\\', "\\\\").replace('"', "\\\"");
    let last = reported
        .iter()
        .filter_map(|r| humantime::parse_rfc3339(&r.first_seen).ok())
        .max()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    format!(
        "# HELP learner_watch_would_deny_total Would-be denials learner watch reported, each once.
# TYPE learner_watch_would_deny_total counter
learner_watch_would_deny_total{{unit=\"{unit}\"}} {}
# HELP learner_watch_last_would_deny_timestamp_seconds When the last would-be denial was first seen (0: none yet).
# TYPE learner_watch_last_would_deny_timestamp_seconds gauge
learner_watch_last_would_deny_timestamp_seconds{{unit=\"{unit}\"}} {last}
# HELP learner_watch_lost_events_total Events the recording lost (a would-be denial among them goes unreported).
# TYPE learner_watch_lost_events_total counter
learner_watch_lost_events_total{{unit=\"{unit}\"}} {lost}
",
        reported.len()
    )
}

/// A report's identity (see [`key`]), from a gap's or a saved report's texts.
fn report_key(observation: &str, directive: &str, fix: &str) -> String {
    let operation = without_count(observation);
    // A write's path without the access: verify shows one line per path, whichever access
    // it picks, so a path first written and later created stays one would-be denial.
    let subject = match fix.starts_with("add ReadWritePaths=") {
        true => operation
            .split_once(' ')
            .map_or(operation, |(_, path)| path),
        false => operation,
    };
    format!("{directive}\t{fix}\t{subject}")
}

/// `watch --format json`: one would-be denial.
pub fn report_json(unit: &str, report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).expect("plain data");
    value["event"] = "would-deny".into();
    value["unit"] = unit.into();
    value
}

/// `watch --format json`: the last line.
pub fn summary_json(
    watcher: &Watcher,
    ended_because: &str,
    profile: &Profile,
) -> serde_json::Value {
    serde_json::json!({
        "event": "summary",
        "unit": watcher.unit,
        "dropin": watcher.dropin,
        "ended_because": ended_because,
        "would_deny": watcher.reported.len(),
        "new": watcher.new_reports,
        "events": profile.recording.events,
        "lost_events": watcher.lost_said,
        "missed": profile.recording.missed,
        "instances": profile.recording.instances,
        "state": watcher.state.as_ref().map(|p| p.display().to_string()),
    })
}

pub fn run(req: WatchRequest, format: Format) -> ExitCode {
    let result = (|| -> anyhow::Result<ExitCode> {
        if !crate::util::host::is_root() {
            anyhow::bail!("learner watch must be run as root: it loads eBPF programs");
        }
        let settings = super::verify::deployed_settings(
            &req.dropin,
            Some(&req.unit),
            None,
            req.guest,
            Vec::new,
        )?;
        let target = super::verify::target_systemd(None)?;
        let mut watcher = Watcher::new(
            &req.unit,
            &req.dropin,
            format,
            settings,
            target,
            req.state.clone(),
        )?;
        watcher.textfile = req.textfile.clone();
        watcher.write_textfile()?;
        let record = RecordRequest {
            unit: req.unit.clone(),
            duration: req.duration,
            restart: false,
            // A unit that is down now is watched from its next start.
            wait: true,
            output: None,
            guest: req.guest,
            // What the unit's current sandbox refuses is not the candidate's doing, and a
            // watch reports what it lost rather than refusing to judge.
            check: true,
            exercise: Vec::new(),
            quiet: true,
            live: None,
        };
        let began = Instant::now();
        let promote_after = req.promote_after;
        let (report, mut watcher, quiet_enough) = with_signals(|signals| async move {
            let (ask, asked) = tokio::sync::mpsc::unbounded_channel::<SnapshotRequest>();
            let (promote, promoted) = tokio::sync::oneshot::channel::<()>();
            let stop = async move {
                tokio::select! {
                    _ = signals.next() => {}
                    _ = promoted => {}
                }
            };
            let mut quiet_enough = false;
            let report = {
                let recording = unit::record_with_snapshots(record, stop, asked);
                let judging = async {
                    let mut tick = tokio::time::interval(EVALUATE_EVERY);
                    let mut first = true;
                    let watched_from = Instant::now();
                    loop {
                        tick.tick().await;
                        let (reply, answer) = tokio::sync::oneshot::channel();
                        if ask.send(reply).is_err() {
                            break;
                        }
                        let Ok(seen) = answer.await else { break };
                        if first {
                            first = false;
                            eprintln!(
                                "learner: watching {} as if {} were deployed",
                                watcher.unit, watcher.dropin
                            );
                        }
                        let before = watcher.new_reports;
                        watcher.evaluate(seen);
                        // A report is kept at once: a watcher killed before the minute is up
                        // must not repeat it.
                        if let Err(e) = watcher.save(watcher.new_reports > before) {
                            eprintln!("learner: warning: {e:#}");
                        }
                        if let Err(e) = watcher.write_textfile() {
                            eprintln!("learner: warning: {e:#}");
                        }
                        // Quiet long enough, and nothing lost that could hide a denial: the
                        // recording ends here, and the drop-in is applied after it.
                        if promote_after.is_some_and(|after| watched_from.elapsed() >= after)
                            && watcher.reported.is_empty()
                            && watcher.lost_said == 0
                        {
                            quiet_enough = true;
                            break;
                        }
                    }
                };
                tokio::pin!(recording);
                tokio::pin!(judging);
                // The recording ends the watch, or judging does when it is time to promote.
                let report = tokio::select! {
                    report = &mut recording => report,
                    () = &mut judging => {
                        let _ = promote.send(());
                        recording.await
                    }
                };
                report
            };
            (report, watcher, quiet_enough)
        })?;
        let report = report?;
        // The last second, with paths resolved as a profile has them.
        watcher.evaluate(report.profile.clone());
        watcher.save(true)?;
        watcher.write_textfile()?;
        let reported = watcher.reported().len();
        if format.is_json() {
            super::print_json(&summary_json(
                &watcher,
                report.ended_because,
                &report.profile,
            ));
        }
        eprintln!(
            "learner: watched {} for {}s ({}): {reported} would-be denial(s) under {} ({} new), {} events lost{}",
            watcher.unit,
            began.elapsed().as_secs(),
            if quiet_enough {
                "quiet long enough to promote"
            } else {
                report.ended_because
            },
            watcher.dropin,
            watcher.new_reports,
            watcher.lost_said,
            watcher
                .state
                .as_ref()
                .map(|p| format!("; state in {}", p.display()))
                .unwrap_or_default(),
        );
        if quiet_enough && reported == 0 && watcher.lost_said == 0 {
            eprintln!(
                "learner: nothing {} would deny was seen in {}s: applying it",
                watcher.dropin,
                began.elapsed().as_secs(),
            );
            let code = super::apply::run(
                &super::apply::ApplyRequest {
                    unit: req.unit.clone(),
                    dropin: req.dropin.clone(),
                    check: req.check.clone(),
                    timeout: None,
                    guest: req.guest,
                    exercise: req.exercise.clone(),
                    profiles: Vec::new(),
                    quiet: true,
                },
                format,
            );
            return Ok(code);
        }
        if reported == 0 && watcher.lost_said > 0 {
            eprintln!(
                "learner: nothing would have been denied that was seen, but {} events were lost",
                watcher.lost_said
            );
        }
        Ok(ExitCode::from(u8::from(
            reported > 0 || watcher.lost_said > 0,
        )))
    })();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{pack, scratch};
    use crate::policy::unit_file;

    const TIGHT: &str = "[Service]\nProtectSystem=strict\nCapabilityBoundingSet=\n";

    fn watcher(state: Option<PathBuf>) -> Watcher {
        let mut w = Watcher::new(
            "nginx.service",
            Path::new("h.conf"),
            Format::Json,
            (
                unit_file::service_assignments(TIGHT, "h.conf"),
                PathBuf::from("/nonexistent-root"),
            ),
            (252, None),
            state,
        )
        .unwrap();
        w.journal = false;
        w
    }

    #[test]
    fn counts_are_left_out_of_what_is_reported() {
        assert_eq!(without_count("write /var/x 12x"), "write /var/x");
        assert_eq!(
            without_count("capability CAP_CHOWN granted 1x"),
            "capability CAP_CHOWN granted"
        );
        assert_eq!(without_count("mount of /x"), "mount of /x");
        assert_eq!(without_count("ends with x"), "ends with x");
    }

    #[test]
    fn each_would_be_denial_is_reported_once_and_a_restarted_watcher_repeats_none() {
        let nginx = Profile::load(&pack("nginx")).unwrap();
        let state = scratch("state.json");
        let _ = std::fs::remove_file(&state);
        let mut w = watcher(Some(state.clone()));
        w.evaluate(nginx.clone());
        let first = w.reported().len();
        assert!(first > 0, "nginx writes under ProtectSystem=strict");
        // More of the same: the counts grow, nothing is new.
        let more = Profile::merged(&[nginx.clone(), nginx.clone()]).unwrap();
        w.evaluate(more);
        assert_eq!(w.reported().len(), first);
        assert_eq!(w.new_reports, first);
        w.save(true).unwrap();

        // Restarted with the state: nothing is reported again, and what earlier watchers saw
        // is still judged with what this one sees.
        let mut again = watcher(Some(state.clone()));
        assert_eq!(again.reported().len(), first);
        let mut empty = nginx.clone();
        empty.observations = Default::default();
        empty.syscalls.clear();
        again.evaluate(empty);
        assert_eq!(again.new_reports, 0);
        assert_eq!(again.reported().len(), first);
        // Something new still is.
        let mut new = nginx.clone();
        let checks = new
            .observations
            .capabilities
            .entry("CAP_SYS_TIME".into())
            .or_default();
        checks.granted = Some(crate::model::observations::Seen {
            count: 1,
            ok: 1,
            by: vec!["chronyd".to_owned()].into(),
            ..Default::default()
        });
        checks.during.insert("clock_settime".into(), 1);
        again.evaluate(new);
        let fresh: Vec<&Report> = again.reported()[first..].iter().collect();
        assert_eq!(fresh.len(), 1, "{fresh:?}");
        assert_eq!(fresh[0].fix, "add CapabilityBoundingSet=CAP_SYS_TIME");
        assert_eq!(fresh[0].processes, ["chronyd"]);
        std::fs::remove_file(&state).unwrap();
    }

    #[test]
    fn a_state_of_another_unit_is_refused() {
        let state = scratch("other.json");
        std::fs::write(
            &state,
            serde_json::to_vec(&State {
                version: STATE_VERSION,
                unit: "postgresql.service".into(),
                dropin: "h.conf".into(),
                reported: vec![],
                profile: None,
            })
            .unwrap(),
        )
        .unwrap();
        let err = Watcher::new(
            "nginx.service",
            Path::new("h.conf"),
            Format::Text,
            (vec![], PathBuf::from("/")),
            (252, None),
            Some(state.clone()),
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("postgresql.service"), "{err}");
        std::fs::remove_file(&state).unwrap();
    }

    #[test]
    fn watch_lines_fit_their_schema() {
        let nginx = Profile::load(&pack("nginx")).unwrap();
        let mut w = watcher(None);
        w.evaluate(nginx.clone());
        assert!(!w.reported().is_empty());
        for r in w.reported() {
            let json = report_json("nginx.service", r);
            assert_eq!(json["event"], "would-deny");
            super::super::schema::assert_valid("watch", &json);
        }
        let json = summary_json(&w, "the duration elapsed", &nginx);
        assert_eq!(json["would_deny"], w.reported().len());
        super::super::schema::assert_valid("watch", &json);
        let lost = serde_json::json!({"event": "lost", "unit": "nginx.service", "lost_events": 3, "lost_events_total": 5, "at": now()});
        super::super::schema::assert_valid("watch", &lost);
    }

    #[test]
    fn a_million_distinct_paths_fold_into_a_bounded_state_and_a_few_reports() {
        use crate::model::observations::{Access, Slot};
        let mut seen = Profile::load(&pack("nginx")).unwrap();
        let state = scratch("million.json");
        let _ = std::fs::remove_file(&state);
        let mut w = watcher(Some(state.clone()));
        // A busy service's day: a million distinct files made in 20 directories.
        for i in 0..1_000_000u32 {
            let slot = Slot::Path(format!("/var/lib/app/d{}/f{i}", i % 20), Access::Create);
            seen.observations.add(&slot, 0, "app", 1);
            if i % 250_000 == 0 {
                w.evaluate(seen.clone());
            }
        }
        w.evaluate(seen.clone());
        let app = w
            .reported()
            .iter()
            .filter(|r| r.fix.contains("/var/lib/app"))
            .count();
        assert!(app > 0 && app <= 40, "{app} reports for /var/lib/app");
        w.save(true).unwrap();
        let size = std::fs::metadata(&state).unwrap().len();
        eprintln!(
            "{app} reports for /var/lib/app, {} paths kept, state {size} bytes",
            w.latest.as_ref().unwrap().observations.paths.len()
        );
        assert!(size < 8 << 20, "the state is {size} bytes");
        std::fs::remove_file(&state).unwrap();
    }

    #[test]
    fn the_textfile_has_the_units_counters() {
        let none = metrics("a\"b.service", &[], 0);
        assert!(none.contains("learner_watch_would_deny_total{unit=\"a\\\"b.service\"} 0\n"));
        assert!(none.contains(
            "learner_watch_last_would_deny_timestamp_seconds{unit=\"a\\\"b.service\"} 0\n"
        ));
        let report = |at: &str| Report {
            kind: "denied".into(),
            processes: vec![],
            operation: "syscall x".into(),
            directive: "SystemCallFilter".into(),
            fix: "add SystemCallFilter=x".into(),
            first_seen: at.into(),
        };
        let two = metrics(
            "nginx.service",
            &[
                report("2026-12-05T16:00:00Z"),
                report("2026-12-05T16:00:10Z"),
            ],
            7,
        );
        assert!(two.contains("learner_watch_would_deny_total{unit=\"nginx.service\"} 2\n"));
        assert!(two.contains("learner_watch_last_would_deny_timestamp_seconds{unit=\"nginx.service\"} 1796486410\n"), "{two}");
        assert!(two.contains("learner_watch_lost_events_total{unit=\"nginx.service\"} 7\n"));
        // Every sample has its HELP and TYPE.
        assert_eq!(two.lines().filter(|l| l.starts_with("# TYPE")).count(), 3);
    }

    #[test]
    fn a_textfile_without_its_directory_is_skipped_until_the_directory_exists() {
        let dir = scratch("watch-textfile");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let collector = dir.join("node-exporter");
        let mut w = watcher(None);
        w.textfile = Some(collector.join("learner-watch-nginx.prom"));
        // The template names node-exporter's directory, which may not be there.
        w.write_textfile().unwrap();
        assert!(!collector.exists());
        std::fs::create_dir(&collector).unwrap();
        w.lost_said = 3;
        w.write_textfile().unwrap();
        let text = std::fs::read_to_string(collector.join("learner-watch-nginx.prom")).unwrap();
        assert!(text.contains("learner_watch_lost_events_total{unit=\"nginx.service\"} 3\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
