//! `learner apply UNIT DROPIN`: install a drop-in, restart the unit, prove it still works,
//! and put everything back when it does not.
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    host,
    systemd::{Systemd, SystemdError},
};

/// learner's drop-in name: the unit's other drop-ins are never touched.
pub const DROPIN_NAME: &str = "50-learner-hardening.conf";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("learner apply must be run as root")]
    NotRoot,
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error("cannot read drop-in {path}: {source}")]
    ReadDropin {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a drop-in: it has no [Service] section")]
    NotADropin(PathBuf),
    #[error("cannot install the drop-in at {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{unit} {why}; the drop-in was removed and {rollback}")]
    Failed {
        unit: String,
        why: String,
        rollback: String,
    },
}

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub unit: String,
    pub dropin: PathBuf,
    pub check: Option<String>,
    pub timeout: Duration,
    pub guest: Option<u32>,
}

#[derive(Debug)]
pub struct Applied {
    pub installed: PathBuf,
    pub exposure_before: Option<f64>,
    pub exposure_after: Option<f64>,
}

/// Known ways a sandbox breaks a service, as the journal shows them, and the directive to look
/// at for each.
const HINTS: &[(&str, &str)] = &[
    (
        "226/NAMESPACE",
        "the mount namespace could not be set up: a ReadWritePaths entry missing without `-`, or ProtectSystem/PrivateTmp/ProtectHome",
    ),
    (
        "Read-only file system",
        "ProtectSystem=strict: a path written is not in ReadWritePaths",
    ),
    (
        "Permission denied",
        "a capability removed by CapabilityBoundingSet (CAP_DAC_OVERRIDE, CAP_CHOWN...), or ProtectHome",
    ),
    (
        "Operation not permitted",
        "a syscall denied by SystemCallFilter, or a capability removed by CapabilityBoundingSet",
    ),
    ("Address family not supported", "RestrictAddressFamilies"),
    ("status=31/SYS", "SystemCallFilter killed the process"),
    ("Bad system call", "SystemCallFilter killed the process"),
    (
        "218/CAPABILITIES",
        "CapabilityBoundingSet or AmbientCapabilities could not be applied",
    ),
    (
        "Function not implemented",
        "a syscall unknown to the filter (SystemCallFilter)",
    ),
];

fn hints(journal: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in journal.lines() {
        for (needle, hint) in HINTS {
            if line.contains(needle) {
                out.push(format!("  {line}\n    -> {hint}"));
            }
        }
    }
    out
}

/// Waits for `unit` to become active and stay so for a moment, or fail.
fn wait_active(systemd: &Systemd, unit: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let info = systemd.show(unit).map_err(|e| e.to_string())?;
        match info.active_state.as_str() {
            "active" => {
                // A service that dies right after starting is not working.
                std::thread::sleep(Duration::from_millis(500));
                let again = systemd.show(unit).map_err(|e| e.to_string())?;
                return match again.active_state.as_str() {
                    "active" | "reloading" => Ok(()),
                    other => Err(format!("did not stay active ({other})")),
                };
            }
            "failed" => return Err(format!("failed to start ({})", info.sub_state)),
            "inactive" if Instant::now() > deadline => return Err("is inactive".into()),
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "was not active after {}s ({})",
                    timeout.as_secs(),
                    info.active_state
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn restart(systemd: &Systemd, unit: &str, timeout: Duration) -> Result<(), String> {
    systemd
        .systemctl(&["daemon-reload"])
        .map_err(|e| e.to_string())?;
    systemd
        .systemctl(&["restart", "--no-block", "--", unit])
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    wait_active(systemd, unit, timeout)
}

fn run_check(check: &str, timeout: Duration) -> Result<(), String> {
    let out = Command::new("timeout")
        .arg(format!("{}s", timeout.as_secs().max(1)))
        .args(["sh", "-c", check])
        .output()
        .map_err(|e| format!("check could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "failed its check `{check}` ({}{})",
            out.status,
            err.lines()
                .next()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))
    }
}

pub fn apply(req: &ApplyRequest) -> Result<Applied, ApplyError> {
    if !host::is_root() {
        return Err(ApplyError::NotRoot);
    }
    let text = std::fs::read_to_string(&req.dropin).map_err(|source| ApplyError::ReadDropin {
        path: req.dropin.clone(),
        source,
    })?;
    if !text.lines().any(|l| l.trim() == "[Service]") {
        return Err(ApplyError::NotADropin(req.dropin.clone()));
    }
    let systemd = Systemd::new(req.guest)?;
    let info = systemd.show(&req.unit)?;
    let unit = info.id.clone();
    let exposure_before = systemd.exposure(&unit);

    let dir = systemd.dropin_dir(&unit);
    let installed = dir.join(DROPIN_NAME);
    let previous = std::fs::read_to_string(&installed).ok();
    let install = |content: &str| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        crate::atomic_file::write(&installed, content.as_bytes())
    };
    install(&text).map_err(|source| ApplyError::Install {
        path: installed.clone(),
        source,
    })?;
    let cursor = systemd.journal_cursor();

    let outcome = restart(&systemd, &unit, req.timeout).and_then(|()| match &req.check {
        Some(check) => run_check(check, req.timeout),
        None => Ok(()),
    });
    if let Err(why) = outcome {
        let journal = systemd.journal_after(&unit, cursor.as_deref());
        eprintln!("learner: {unit} {why}. What the journal says:");
        for line in journal
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("  {line}");
        }
        let hints = hints(&journal);
        if !hints.is_empty() {
            eprintln!("learner: likely causes:");
            for h in hints {
                eprintln!("{h}");
            }
        }
        // Put back what was there: the previous learner drop-in, or none.
        let restored = match &previous {
            Some(old) => install(old),
            None => std::fs::remove_file(&installed),
        };
        let rollback = match restored
            .map_err(|e| e.to_string())
            .and_then(|()| restart(&systemd, &unit, req.timeout))
        {
            Ok(()) => "the unit is active again".to_owned(),
            Err(e) => format!("the unit is NOT active again: {e}"),
        };
        return Err(ApplyError::Failed {
            unit,
            why,
            rollback,
        });
    }
    Ok(Applied {
        installed,
        exposure_before,
        exposure_after: systemd.exposure(&unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_directive() {
        let journal = "nginx.service: Failed at step NAMESPACE spawning /usr/sbin/nginx: No such file or directory\nnginx.service: Main process exited, code=exited, status=226/NAMESPACE\nopen() \"/run/nginx.pid\" failed (30: Read-only file system)\n";
        let h = hints(journal).join("\n");
        assert!(h.contains("ReadWritePaths entry missing"), "{h}");
        assert!(h.contains("not in ReadWritePaths"), "{h}");
        assert!(hints("all good").is_empty());
    }
}
