//! `learner run -- CMD`: records a command and exits with its exit code; the recording itself
//! is in `recording::command`.
use std::process::ExitCode;

use super::{Format, recording_json, with_signals};
use crate::recording::command::{self, RunReport};

/// `run --format json`: what was written, the command's exit code, and what the recording
/// saw and missed.
pub fn to_json(report: &RunReport) -> serde_json::Value {
    let r = &report.profile.recording;
    let mut map = recording_json(&report.profile);
    map.insert(
        "command".into(),
        serde_json::json!(report.profile.provenance.command),
    );
    map.insert(
        "profile".into(),
        report.profile_path.display().to_string().into(),
    );
    map.insert("exit_code".into(), report.exit_code.into());
    map.insert(
        "leftover_processes_killed".into(),
        r.leftover_processes_killed.into(),
    );
    serde_json::Value::Object(map)
}

pub fn run(request: command::RunRequest, format: Format) -> ExitCode {
    let outcome = with_signals(|signals| command::run(request, signals));
    match outcome {
        Ok(Ok(report)) => {
            if format.is_json() {
                super::print_json(&to_json(&report));
            }
            let r = &report.profile.recording;
            eprintln!(
                "learner: wrote {}: {} distinct syscalls, {} lost events; the command exited with {}",
                report.profile_path.display(),
                report.profile.syscalls.len(),
                r.lost_events,
                report.exit_code,
            );
            ExitCode::from(u8::try_from(report.exit_code).unwrap_or(command::EXIT_LEARNER_FAILED))
        }
        Ok(Err(e)) => {
            eprintln!("learner: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::from(command::EXIT_LEARNER_FAILED)
        }
    }
}
