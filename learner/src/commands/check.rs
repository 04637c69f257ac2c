//! `learner check UNIT`: records a unit that runs under a sandbox and reports what the sandbox
//! denied. Exits 0 when nothing was, 1 when something was, 2 on trouble.
use std::process::ExitCode;

use super::{Format, with_signals};
use crate::{policy::denials, recording::unit, systemd::manager::Systemd};

/// `check --format json`: one array, an object per denial.
pub fn to_json(denials: &[denials::Denial]) -> serde_json::Value {
    serde_json::json!(denials)
}

pub fn run(request: unit::RecordRequest, format: Format) -> ExitCode {
    let result = (|| -> anyhow::Result<bool> {
        if !crate::util::host::is_root() {
            anyhow::bail!("learner check must be run as root: it loads eBPF programs");
        }
        let systemd = Systemd::new(request.guest)?;
        let sandbox = denials::Sandbox::parse(
            &systemd.properties(&request.unit, denials::SANDBOX_PROPERTIES)?,
        );
        let unit = request.unit.clone();
        let report = with_signals(|signals| unit::record(request, signals))??;
        let denials = denials::denials(&report.profile.observations, &sandbox);
        match format {
            Format::Json => super::print_json(&to_json(&denials)),
            Format::Text => {
                for d in &denials {
                    println!("{d}");
                }
            }
        }
        let lost = report.profile.recording.lost_events;
        eprintln!(
            "learner: checked {} ({}): {} denied operation(s){}{}",
            unit,
            report.ended_because,
            denials.len(),
            if lost > 0 {
                format!(", {lost} events lost (denials may be missing)")
            } else {
                String::new()
            },
            report
                .profile_path
                .map(|p| format!("; profile written to {}", p.display()))
                .unwrap_or_default(),
        );
        Ok(!denials.is_empty())
    })();
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::from(2)
        }
    }
}
