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
