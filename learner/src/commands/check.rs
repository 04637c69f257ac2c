//! `learner check UNIT`: records a unit that runs under a sandbox and reports what the sandbox
//! denied. Exits 0 when nothing was, 1 when something was, 2 on trouble. With `--baseline`
//! profiles of the unit's life without it, a capability denied there too, or a path operation
//! that never succeeded there, is not counted.
use std::{path::PathBuf, process::ExitCode};

use super::{Format, with_signals};
use crate::{model::profile::Profile, policy::denials, recording::unit, systemd::manager::Systemd};

/// `check --format json`: one array, an object per denial.
pub fn to_json(denials: &[denials::Denial]) -> serde_json::Value {
    serde_json::json!(denials)
}

/// What the `baseline` profiles (the unit's life without the sandbox) saw fail every time
/// (see [`denials::DeniedAnyway`]); an error for a profile that cannot be read or is of
/// another unit.
fn denied_without_sandbox(
    baseline: &[PathBuf],
    unit: &str,
) -> anyhow::Result<denials::DeniedAnyway> {
    let mut out = denials::DeniedAnyway::default();
    for path in baseline {
        let profile = Profile::load(path)?;
        let recorded = profile.provenance.unit.as_deref().unwrap_or_default();
        if recorded != unit {
            anyhow::bail!(
                "{} is a profile of {}, not of {unit}: not its baseline",
                path.display(),
                if recorded.is_empty() {
                    "a command"
                } else {
                    recorded
                }
            );
        }
        out.add(&profile.observations);
    }
    Ok(out)
}

pub fn run(request: unit::RecordRequest, format: Format, baseline: &[PathBuf]) -> ExitCode {
    let result = (|| -> anyhow::Result<bool> {
        if !crate::util::host::is_root() {
            anyhow::bail!("learner check must be run as root: it loads eBPF programs");
        }
        // Read first: a bad profile is said before a recording is spent.
        let anyway = denied_without_sandbox(baseline, &request.unit)?;
        let systemd = Systemd::new(request.guest)?;
        let sandbox = denials::Sandbox::parse(
            &systemd.properties(&request.unit, denials::SANDBOX_PROPERTIES)?,
        );
        let unit = request.unit.clone();
        let report = with_signals(|signals| unit::record(request, signals))??;
        let denials::Judged {
            denials,
            as_without,
        } = denials::judge(&report.profile.observations, &sandbox, &anyway);
        for d in &as_without {
            eprintln!(
                "learner: as without the sandbox (the baseline saw it fail too): {} by {}",
                d.operation,
                d.processes.join(",")
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::Slot;

    #[test]
    fn a_baseline_gives_the_capabilities_denied_without_the_sandbox() {
        let dir = std::env::temp_dir().join(format!("learner-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut squid = Profile::example("squid.service");
        let cap = |name: &str, granted| Slot::Capability {
            name: name.to_owned(),
            granted,
            during: "setsockopt".to_owned(),
        };
        // CAP_NET_ADMIN only ever denied; CAP_SETUID granted too.
        squid
            .observations
            .add(&cap("CAP_NET_ADMIN", false), -1, "squid", 2);
        squid
            .observations
            .add(&cap("CAP_SETUID", false), -1, "squid", 1);
        squid
            .observations
            .add(&cap("CAP_SETUID", true), 0, "squid", 1);
        let path = dir.join("squid.profile.yaml");
        squid.write_atomic(&path).unwrap();
        let anyway = denied_without_sandbox(std::slice::from_ref(&path), "squid.service").unwrap();
        assert_eq!(anyway.summary(3), "CAP_NET_ADMIN");
        // Another unit's life is no baseline, nor is a file that is not a profile.
        let err = denied_without_sandbox(std::slice::from_ref(&path), "nginx.service").unwrap_err();
        assert!(err.to_string().contains("not of nginx.service"), "{err}");
        let junk = dir.join("junk.yaml");
        std::fs::write(&junk, "not: [a profile").unwrap();
        assert!(denied_without_sandbox(&[junk], "squid.service").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
