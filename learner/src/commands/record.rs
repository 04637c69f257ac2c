//! `learner record UNIT`: records a running unit and writes its profile; the recording itself
//! is in `recording::unit`.
use std::process::ExitCode;

use super::{Format, recording_json, with_signals};
use crate::recording::unit::{self, RecordReport};

/// `record --format json`: what was written and what the recording saw and missed.
pub fn to_json(report: &RecordReport) -> serde_json::Value {
    let p = &report.profile;
    let mut map = recording_json(p);
    let r = &p.recording;
    map.insert("unit".into(), p.provenance.unit.clone().into());
    map.insert(
        "profile".into(),
        report
            .profile_path
            .as_ref()
            .map(|path| path.display().to_string())
            .into(),
    );
    map.insert("ended_because".into(), report.ended_because.into());
    map.insert("startup_seen".into(), r.startup_seen.into());
    map.insert("instances".into(), r.instances.into());
    map.insert("exercised".into(), serde_json::json!(r.exercised));
    serde_json::Value::Object(map)
}

pub fn run(request: unit::RecordRequest, format: Format) -> ExitCode {
    let outcome = with_signals(|signals| unit::record(request, signals));
    match outcome.and_then(|r| r.map_err(anyhow::Error::from)) {
        Ok(report) => {
            let p = &report.profile;
            if format.is_json() {
                super::print_json(&to_json(&report));
            }
            eprintln!(
                "learner: wrote {} ({}): {} syscalls, {} paths, {} capabilities, {} lost events{}",
                report
                    .profile_path
                    .as_deref()
                    .unwrap_or(std::path::Path::new("-"))
                    .display(),
                report.ended_because,
                p.syscalls.len(),
                p.observations.paths.len(),
                p.observations.capabilities.len(),
                p.recording.lost_events,
                if p.recording.startup_seen == Some(false) {
                    "; start-up not seen (use --restart)"
                } else {
                    ""
                },
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// `record --all`: every unit at once, a profile of each into a directory; a line per unit
/// on stderr, and with `--format json` the report on stdout. Exit 0 when every unit recorded
/// got a profile, 1 when one got none (its row says why), 2 when the recording failed.
pub fn run_all(request: crate::recording::all_units::AllRequest, format: Format) -> ExitCode {
    use crate::recording::all_units::record_all;
    let outcome = with_signals(|signals| {
        record_all(request, async move {
            let _ = signals.next().await;
        })
    });
    match outcome.and_then(|r| r.map_err(anyhow::Error::from)) {
        Ok(report) => {
            if format.is_json() {
                super::print_json(&serde_json::to_value(&report).unwrap_or_default());
            }
            for row in &report.units {
                match (&row.profile, &row.why) {
                    (Some(path), None) => eprintln!(
                        "learner: {}: wrote {}: {} syscalls, {} paths{}",
                        row.unit,
                        path.display(),
                        row.syscalls,
                        row.paths,
                        if row.startup_seen {
                            ""
                        } else {
                            "; start-up not seen (use --restart)"
                        }
                    ),
                    (_, Some(why)) => eprintln!(
                        "learner: {}: no profile: {why}{}",
                        row.unit,
                        row.profile
                            .as_ref()
                            .map(|p| format!(" (what was seen is in {})", p.display()))
                            .unwrap_or_default()
                    ),
                    (None, None) => {}
                }
            }
            let left_out: Vec<&str> = report.left_out.keys().map(String::as_str).collect();
            eprintln!(
                "learner: recorded {} units into {} ({}): {} events, {} lost{}{}",
                report.units.len(),
                report.dir.display(),
                report.ended_because,
                report.events,
                report.lost_events,
                if report.unattributed_events > 0 {
                    format!(
                        ", {} of a cgroup gone before it was named (every unit's recording counts them missed)",
                        report.unattributed_events
                    )
                } else {
                    String::new()
                },
                if left_out.is_empty() {
                    String::new()
                } else {
                    format!("; left out: {}", left_out.join(", "))
                },
            );
            if report.units.iter().any(|r| r.why.is_some()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::from(2)
        }
    }
}
