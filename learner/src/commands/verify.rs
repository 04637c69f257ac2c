//! `learner verify DROPIN PROFILE...`: whether a drop-in, on top of its unit's settings,
//! permits everything the profiles observed. Exits 0 yes, 1 no, 2 on trouble.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;

use super::{Format, generate};
use crate::{
    model::profile::Profile,
    policy::{
        unit_file::{self, Assignment},
        verify,
    },
    systemd::Systemd,
};

pub struct VerifyRequest {
    pub dropin: PathBuf,
    pub profiles: Vec<PathBuf>,
    pub unit: Option<String>,
    pub unit_file: Option<PathBuf>,
    pub target_systemd: Option<u32>,
    pub guest: Option<u32>,
}

/// `verify --format json`.
pub fn to_json(verdict: &verify::Verdict, systemd: u32) -> serde_json::Value {
    serde_json::json!({
        "target_systemd": systemd,
        "permitted": verdict.gaps.is_empty() && verdict.unjudged.is_empty(),
        "gaps": verdict.gaps,
        "unchecked": verdict.unchecked,
        "unjudged": verdict.unjudged,
        "cautions": verdict.cautions,
    })
}

/// The systemd version a drop-in is judged for (`wanted`, else the local one), and the local
/// one.
pub fn target_systemd(wanted: Option<u32>) -> anyhow::Result<(u32, Option<u32>)> {
    let local = crate::util::host::systemd_version();
    let systemd = wanted.or(local).ok_or(generate::GenerateError::NoTarget)?;
    if !(generate::OLDEST_SYSTEMD..=generate::NEWEST_SYSTEMD).contains(&systemd) {
        return Err(generate::GenerateError::TargetOutOfRange(systemd).into());
    }
    Ok((systemd, local))
}

/// The settings `dropin` is deployed on top of, then its own, in systemd's order: the unit's
/// (from its systemd, or from `unit_file`; `recorded()` without either), and the root its
/// paths are looked up under.
pub fn deployed_settings(
    dropin: &Path,
    unit: Option<&str>,
    unit_file: Option<&Path>,
    guest: Option<u32>,
    recorded: impl FnOnce() -> Vec<Assignment>,
) -> anyhow::Result<(Vec<Assignment>, PathBuf)> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let dropin_text = read(dropin)?;
    if !dropin_text.lines().any(|l| l.trim() == "[Service]") {
        anyhow::bail!("{} has no [Service] section", dropin.display());
    }
    // The unit's own settings come first; the drop-in being verified replaces one of the
    // same name and is read last.
    let mut root = PathBuf::from("/");
    let mut unit_files = vec![];
    if let Some(unit) = unit {
        let systemd = Systemd::new(guest)?;
        unit_files = systemd.unit_files(unit)?;
        unit_files.retain(|f| f.file_name() != dropin.file_name());
        root = systemd.root.clone();
    } else if let Some(file) = unit_file {
        unit_files.push(file.to_owned());
    }
    let mut assignments = match unit_files.is_empty() && unit.is_none() {
        true => recorded(),
        false => vec![],
    };
    for file in &unit_files {
        assignments.extend(unit_file::service_assignments(
            &read(file)?,
            &file.display().to_string(),
        ));
    }
    assignments.extend(unit_file::service_assignments(
        &dropin_text,
        &dropin.display().to_string(),
    ));
    Ok((assignments, root))
}

pub fn run(args: &VerifyRequest, format: Format) -> ExitCode {
    let result = (|| -> anyhow::Result<(verify::Verdict, u32)> {
        let profiles = args
            .profiles
            .iter()
            .map(|p| Profile::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        let profile = Profile::merged(&profiles).expect("at least one profile");
        let (systemd, local) = target_systemd(args.target_systemd)?;
        let (assignments, root) = deployed_settings(
            &args.dropin,
            args.unit.as_deref(),
            args.unit_file.as_deref(),
            args.guest,
            // Without either, the settings the profiles recorded.
            || crate::policy::unit_settings::of_profile(&profile),
        )?;
        let groups = crate::policy::filter_groups::SyscallGroups::for_version(systemd, local);
        let exists = |path: &str| root.join(path.trim_start_matches('/')).exists();
        let verdict = verify::verify(&profile, &assignments, systemd, &groups, &exists);
        Ok((verdict, systemd))
    })();
    let (verdict, systemd) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("learner: {e:#}");
            return ExitCode::from(2);
        }
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&verdict, systemd)).expect("plain data")
        ),
        Format::Text => {
            for gap in &verdict.gaps {
                println!("{gap}");
            }
        }
    }
    for u in &verdict.unchecked {
        eprintln!("learner: not checked: {u}");
    }
    let counts: Vec<String> = verify::summary(&verdict)
        .into_iter()
        .map(|(kind, n)| {
            let kind = match kind {
                verify::GapKind::FailsToStart => "keep the unit from starting",
                verify::GapKind::Ignored => "ignored by the target",
                verify::GapKind::Denied => "denied observations",
            };
            format!("{n} {kind}")
        })
        .collect();
    for u in &verdict.unjudged {
        eprintln!("learner: cannot judge: {u}");
    }
    for c in &verdict.cautions {
        eprintln!("learner: caution: {c}");
    }
    if verdict.gaps.is_empty() && !verdict.unjudged.is_empty() {
        eprintln!(
            "learner: {} permits what the profiles observed, but they cannot judge {} of its settings: their recordings could not see what those restrict",
            args.dropin.display(),
            verdict.unjudged.len()
        );
        ExitCode::from(1)
    } else if verdict.gaps.is_empty() {
        eprintln!(
            "learner: {} permits everything the profiles observed",
            args.dropin.display()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "learner: {} does not permit what the profiles observed: {}",
            args.dropin.display(),
            counts.join(", ")
        );
        ExitCode::from(1)
    }
}
