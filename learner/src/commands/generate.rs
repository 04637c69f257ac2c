//! `learner generate`: profiles in, a systemd drop-in out.
use std::{
    io,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;

use crate::{
    model::profile::{Profile, ProfileError},
    policy::{self, filter_groups::SyscallGroups},
    util::host,
};

/// The oldest and newest systemd learner generates for (RHEL 8 to current releases).
pub const OLDEST_SYSTEMD: u32 = 239;
pub const NEWEST_SYSTEMD: u32 = 257;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("no local systemd found to generate for: name one with --target-systemd VERSION")]
    NoTarget,
    #[error(
        "--target-systemd {0}: learner generates for systemd {OLDEST_SYSTEMD} to {NEWEST_SYSTEMD}"
    )]
    TargetOutOfRange(u32),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Score(#[from] crate::systemd::analyze::AnalyzeError),
    #[error("cannot read the unit file {path}: {source}")]
    UnitFile { path: PathBuf, source: io::Error },
    #[error(
        "{0} records no syscall: that recording saw nothing, and a drop-in from it would deny the service everything (record it again; check `recording` in the file)"
    )]
    Empty(PathBuf),
    #[error(
        "{unit}: {why}: no sandbox can confine the unit without confining every session and job it runs (their files, syscalls, capabilities, sudo), so learner gives it no drop-in"
    )]
    RunsUsersPrograms { unit: String, why: String },
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub profiles: Vec<PathBuf>,
    pub target_systemd: Option<u32>,
    pub explain: bool,
    pub margin: policy::margin::Margin,
    /// `--identity`: the identity directives too (see `policy::identity`).
    pub identity: bool,
    /// `--unit-file`: the unit whose settings the drop-in is added to, instead of those the
    /// profile recorded.
    pub unit_file: Option<PathBuf>,
    /// `--score`'s unit file: the unit's settings when the profiles recorded none and no
    /// `--unit-file` is given.
    pub score_unit_file: Option<PathBuf>,
}

/// The drop-in, and the data it came from.
#[derive(Debug)]
pub struct Generated {
    pub text: String,
    /// What the profiles may have missed, one line each; also at the top of `text`.
    pub warnings: Vec<String>,
    pub policy: policy::Policy,
    pub profile: Profile,
}

/// Loads and merges the profiles, then resolves and renders the drop-in.
pub fn generate(req: &GenerateRequest) -> Result<Generated, GenerateError> {
    let local = host::systemd_version();
    let systemd = req
        .target_systemd
        .or(local)
        .ok_or(GenerateError::NoTarget)?;
    if !(OLDEST_SYSTEMD..=NEWEST_SYSTEMD).contains(&systemd) {
        return Err(GenerateError::TargetOutOfRange(systemd));
    }
    let profiles = req
        .profiles
        .iter()
        .map(|p| Profile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    for (path, p) in req.profiles.iter().zip(&profiles) {
        if p.syscalls.is_empty() && p.unknown_syscalls.is_empty() {
            return Err(GenerateError::Empty(path.clone()));
        }
    }
    let warnings: Vec<String> = req
        .profiles
        .iter()
        .zip(&profiles)
        .flat_map(|(path, p)| {
            gaps(p)
                .into_iter()
                .map(move |g| format!("{}: {g}; the drop-in may be too tight", path.display()))
                .chain(lost_events_warning(path, p))
                .chain(late_instances_warning(path, p))
                .chain(
                    policy::sources::warnings(p)
                        .into_iter()
                        .map(move |w| format!("{}: {w}", path.display())),
                )
        })
        .collect();
    let mut warnings = warnings;
    warnings.extend(unexercised(&profiles));
    let profile = Profile::merged(&profiles).expect("at least one profile");
    if let Some(why) = policy::users::runs_users_programs(&profile) {
        return Err(GenerateError::RunsUsersPrograms {
            unit: profile
                .provenance
                .unit
                .clone()
                .unwrap_or_else(|| req.profiles[0].display().to_string()),
            why,
        });
    }
    warnings.extend(policy::verify::cautions(&profile));
    // The unit's own settings: the file named, else what the profiles recorded.
    let recorded = profiles.iter().any(|p| p.unit.is_some());
    let unit_file = req
        .unit_file
        .as_ref()
        .or(req.score_unit_file.as_ref().filter(|_| !recorded));
    let unit = match unit_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| GenerateError::UnitFile {
                path: path.clone(),
                source,
            })?;
            policy::unit_file::service_assignments(&text, &path.display().to_string())
        }
        None => {
            warnings.extend(unit_unknown(&req.profiles, &profiles));
            policy::unit_settings::of_profile(&profile)
        }
    };
    let groups = SyscallGroups::for_version(systemd, local);
    let mut policy = policy::resolve_on(&profile, &unit, systemd, &groups, req.margin);
    if req.identity {
        policy::identity::apply(&mut policy, &profile);
    }
    let sources: Vec<String> = req
        .profiles
        .iter()
        .zip(&profiles)
        .map(|(path, p)| {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            match (&p.provenance.unit, &p.provenance.command) {
                (Some(unit), _) => format!("{name} ({unit})"),
                (None, Some(cmd)) => format!("{name} (`{}`)", cmd.join(" ")),
                _ => name,
            }
        })
        .collect();
    let mut text = String::new();
    for w in &warnings {
        text.push_str(&format!("# learner: warning: {w}\n"));
    }
    text.push_str(&policy::render(
        &policy,
        &profile,
        &sources,
        &groups.source,
        req.explain,
    ));
    Ok(Generated {
        text,
        warnings,
        policy,
        profile,
    })
}

/// A unit's profile without the unit's settings (from a learner before they were recorded):
/// the drop-in's resets may take away what the unit grants (AmbientCapabilities=,
/// ReadWritePaths=), unseen.
fn unit_unknown(paths: &[PathBuf], profiles: &[Profile]) -> Option<String> {
    let lacking: Vec<String> = paths
        .iter()
        .zip(profiles)
        .filter(|(_, p)| p.provenance.unit.is_some() && p.unit.is_none())
        .map(|(path, _)| path.display().to_string())
        .collect();
    (!lacking.is_empty() && profiles.iter().all(|p| p.unit.is_none())).then(|| {
        format!(
            "{} record(s) no settings of the unit: the drop-in's resets may take away what the unit itself grants (AmbientCapabilities=, ReadWritePaths=); pass --unit-file, or record again",
            lacking.join(", ")
        )
    })
}

/// Events a recording lost carried observations the drop-in knows nothing of: a path
/// written, a capability used. Named per profile, so the user knows which to record again.
/// Instances followed only once their start-up had begun: what they did first (a crash
/// recovery's start-up, say) is not in the drop-in.
pub fn late_instances_warning(path: &Path, profile: &Profile) -> Option<String> {
    let late = profile.recording.instances_followed_late;
    (late > 0).then(|| {
        format!(
            "{}: {late} instance(s) of the unit were followed only after their start-up had begun (the machine was busy), so what each did first is not in the drop-in; record it again with less load on the machine if its restarts or crash recovery matter",
            path.display()
        )
    })
}

pub fn lost_events_warning(path: &Path, profile: &Profile) -> Option<String> {
    profile.recording.incomplete().map(|what| {
        format!(
            "{} is incomplete ({what}), and what those observed is not in the drop-in, which may be too tight for it; record it again with less load on the machine",
            path.display()
        )
    })
}

/// The events of a unit's life that none of its profiles went through (`record --exercise`):
/// what the service does only then (shutdown work, crash recovery, reopening its logs) is not
/// in the drop-in. An event that did not apply to the unit (no ExecReload) counts as seen.
fn unexercised(profiles: &[Profile]) -> Option<String> {
    if !profiles.iter().any(|p| p.provenance.unit.is_some()) {
        return None;
    }
    let seen = |name: &str| {
        profiles.iter().any(|p| {
            p.recording
                .exercised
                .get(name)
                .is_some_and(|how| !how.contains("FAILED"))
        })
    };
    let missing: Vec<&str> = crate::systemd::exercise::Exercise::ALL
        .iter()
        .map(|e| e.name())
        .filter(|name| !seen(name))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the profiles never saw the unit's {}: what it does only then is missing (record with --exercise all)",
            missing.join(", ")
        )
    })
}

/// `generate --format json`: the target, the warnings, each directive with its lines (empty:
/// left unset) and evidence, and the drop-in as text. Field names are stable.
pub fn to_json(generated: &Generated) -> serde_json::Value {
    serde_json::json!({
        "target_systemd": generated.policy.systemd,
        "warnings": generated.warnings,
        "directives": generated.policy.decisions,
        "dropin": generated.text,
    })
}

/// What a unit's recording may have missed, as the profile itself says: each is a way for
/// the drop-in to break the service later.
fn gaps(p: &Profile) -> Vec<String> {
    let r = &p.recording;
    let mut out = Vec::new();
    if p.provenance.unit.is_some() && r.startup_seen != Some(true) {
        out.push(
            "the unit's start-up was not recorded (record with --restart): what it does only while starting is missing".to_owned(),
        );
    }
    if r.main_process_seen == Some(false) {
        out.push("the unit's main program (ExecStart=) was never seen being executed".to_owned());
    }
    if r.untracked_tasks > 0 {
        out.push(format!(
            "{} tasks were not tracked (the kernel's task table was full): had one left the unit's cgroup, what it did is missing",
            r.untracked_tasks
        ));
    }
    out
}

/// `learner generate`: writes the drop-in to `output` (else stdout; with JSON, only the JSON
/// there), the exposure with `--score`, and the warnings on stderr.
pub fn run(req: &GenerateRequest, output: Option<&Path>, format: super::Format) -> ExitCode {
    let result = (|| -> anyhow::Result<()> {
        let generated = generate(req)?;
        match output {
            Some(path) => crate::util::atomic_file::write(path, generated.text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?,
            None if format.is_json() => {}
            None => print!("{}", generated.text),
        }
        if format.is_json() {
            println!("{}", to_json(&generated));
        }
        if let Some(unit) = &req.score_unit_file {
            let (before, after) = crate::systemd::analyze::score(unit, &generated.text)?;
            eprintln!(
                "learner: exposure of {}: {before:.1} without the drop-in, {after:.1} with it",
                unit.display()
            );
        }
        for lack in generated.profile.lacks() {
            eprintln!(
                "learner: warning: profile schema {} does not record {lack}: record again for a tighter drop-in",
                generated.profile.schema
            );
        }
        for warning in &generated.warnings {
            eprintln!("learner: warning: {warning}");
        }
        Ok(())
    })();
    super::exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shipped pack profile: real recordings of Debian 12's packages.
    fn pack(name: &str) -> GenerateRequest {
        GenerateRequest {
            profiles: vec![crate::commands::tests::pack(name)],
            target_systemd: Some(252),
            explain: false,
            margin: policy::margin::Margin::Standard,
            identity: false,
            unit_file: None,
            score_unit_file: None,
        }
    }

    #[test]
    fn a_login_or_job_service_gets_no_drop_in_its_sessions_would_inherit() {
        // sshd ran packssh's session (sh, cat, id, ps as uid 1001); cron ran its crontab.
        for (name, unit) in [("openssh-server", "ssh.service"), ("cron", "cron.service")] {
            let err = generate(&pack(name)).expect_err(name);
            assert!(
                matches!(err, GenerateError::RunsUsersPrograms { .. }),
                "{err}"
            );
            let said = err.to_string();
            assert!(said.starts_with(&format!("{unit}: uid 1001 (")), "{said}");
            assert!(said.ends_with("so learner gives it no drop-in"), "{said}");
        }
    }

    #[test]
    fn a_file_server_acting_for_users_leaves_every_users_home_writable() {
        // vsftpd and proftpd were recorded with one FTP user, packftp; spamd with two.
        for name in ["vsftpd", "proftpd-basic", "spamd", "dovecot"] {
            let generated = generate(&pack(name)).expect(name);
            let rw = generated
                .policy
                .decision("ReadWritePaths")
                .expect("decided")
                .listed();
            assert!(rw.contains(&"-/home".to_owned()), "{name}: {rw:?}");
            assert!(
                !rw.iter().any(|p| p.starts_with("-/home/")),
                "{name}: {rw:?}"
            );
            // Nor are the trees where a host keeps its users' shares hidden (/srv/ftp).
            let hidden = generated
                .policy
                .decision("InaccessiblePaths")
                .expect("decided");
            assert!(hidden.lines.is_empty(), "{name}: {:?}", hidden.lines);
            // A user made later may be homed outside /home: only /usr, /boot, /efi and /etc
            // stay read-only.
            let system = generated.policy.decision("ProtectSystem").expect("decided");
            assert_eq!(system.lines, ["ProtectSystem=full"], "{name}");
        }
        // A server switching to users without writing in their homes keeps strict: postfix's
        // local delivery writes /var/mail only.
        let postfix = generate(&pack("postfix")).expect("postfix");
        let system = postfix.policy.decision("ProtectSystem").expect("decided");
        assert_eq!(system.lines, ["ProtectSystem=strict"]);
    }
}
