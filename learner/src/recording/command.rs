//! `learner run -- CMD`: record a command and everything it starts, in a cgroup of its own.
use std::{
    ffi::{CString, OsStr, OsString},
    io,
    os::unix::{ffi::OsStrExt as _, process::ExitStatusExt as _},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use crate::{
    model::profile::{PendingProfile, Profile, ProfileError},
    model::syscalls::Arch,
    recording::session::{Session, SessionError, build_profile},
    systemd::cgroup::{self, Cgroup, CgroupError},
    util::host,
    util::progress::{Mode, Progress, Status},
    util::signals::{self, SignalStream},
};

/// learner's own failures exit with this code, so they are not taken for the command's
/// (the convention of env(1) and timeout(1)).
pub const EXIT_LEARNER_FAILED: u8 = 125;
/// The command exists but cannot be executed, as a shell reports it.
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// The command does not exist, as a shell reports it.
pub const EXIT_NOT_FOUND: u8 = 127;

/// After this many signals the command has had its chance to exit cleanly: kill it.
const SIGNALS_BEFORE_KILL: u32 = 3;

/// How long a command stopped by `--for` has to exit after its SIGTERM before everything in
/// its cgroup is killed (systemd's TimeoutStopSec= is longer; a command run by hand is not a
/// service that saves state).
const GRACE_AFTER_DURATION: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("learner run must be run as root: it loads eBPF programs and creates a cgroup")]
    NotRoot,
    #[error("{0}: command not found")]
    CommandNotFound(String),
    #[error("{0}: permission denied (not an executable file)")]
    NotExecutable(String),
    #[error("no syscall table for this architecture ({0}); learner knows x86_64 and aarch64")]
    UnknownArch(&'static str),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot start {command}: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("waiting for the command: {0}")]
    Wait(io::Error),
    #[error(
        "the recording is broken: the command ran, yet not one of its syscalls was seen; not a profile (what was seen is in {partial})"
    )]
    Broken { partial: PathBuf },
    #[error(
        "the recording is incomplete: {what}; a drop-in from it could be too tight, so it is not a profile (what was seen is in {partial})"
    )]
    Incomplete { what: String, partial: PathBuf },
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::CommandNotFound(_) => EXIT_NOT_FOUND,
            Self::NotExecutable(_) => EXIT_NOT_EXECUTABLE,
            _ => EXIT_LEARNER_FAILED,
        }
    }
}

/// What `learner run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub command: Vec<OsString>,
    pub output: Option<PathBuf>,
    /// Stop the command (SIGTERM, then everything in its cgroup killed) after this long.
    pub duration: Option<Duration>,
    /// No progress on stderr (there is none without `duration` either: the command may be
    /// using the terminal).
    pub quiet: bool,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunReport {
    pub profile_path: PathBuf,
    pub profile: Profile,
    /// The command's exit code, or 128+N when signal N ended it.
    pub exit_code: i32,
}

/// `<basename of CMD>.profile.yaml`, in the current directory.
pub fn default_output(command: &OsStr) -> PathBuf {
    let base = Path::new(command)
        .file_name()
        .unwrap_or(command)
        .to_string_lossy();
    PathBuf::from(format!("{base}.profile.yaml"))
}

/// Finds CMD as a shell would: a name with a slash is a path, anything else is looked up in
/// PATH.
pub fn resolve_command(command: &OsStr) -> Result<PathBuf, RunError> {
    let shown = command.to_string_lossy().into_owned();
    let executable = |p: &Path| {
        let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: access(2) on a NUL-terminated path.
        p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
    };
    if command.as_bytes().contains(&b'/') {
        let path = PathBuf::from(command);
        return if !path.exists() {
            Err(RunError::CommandNotFound(shown))
        } else if executable(&path) {
            Ok(path)
        } else {
            Err(RunError::NotExecutable(shown))
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut found_non_executable = false;
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(command);
        if executable(&candidate) {
            return Ok(candidate);
        }
        found_non_executable |= candidate.is_file();
    }
    if found_non_executable {
        Err(RunError::NotExecutable(shown))
    } else {
        Err(RunError::CommandNotFound(shown))
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(EXIT_LEARNER_FAILED.into())
}

/// Records `request.command` and writes its profile. Errors before the command starts leave
/// nothing behind; once it has started, the profile is written whatever the command does.
pub async fn run(request: RunRequest, signals: SignalStream) -> Result<RunReport, RunError> {
    if !host::is_root() {
        return Err(RunError::NotRoot);
    }
    let arch = Arch::native().ok_or(RunError::UnknownArch(std::env::consts::ARCH))?;
    let cgroup_root = cgroup::cgroup2_mount()?;
    let argv0 = request.command[0].clone();
    let program = resolve_command(&argv0)?;
    let output = request
        .output
        .clone()
        .unwrap_or_else(|| default_output(&argv0));
    let pending = PendingProfile::create(&output)?;

    remove_abandoned_cgroups(&cgroup_root);
    let cgroup = Cgroup::create(&cgroup_root, &format!("learner-run-{}", std::process::id()))?;
    let mut session = Session::start(cgroup.target(), arch, false, None)?;

    let started = SystemTime::now();
    let procs =
        CString::new(cgroup.procs_file().as_os_str().as_bytes()).expect("cgroup paths have no NUL");
    let mut command = tokio::process::Command::new(&program);
    command.arg0(&argv0).args(&request.command[1..]);
    // SAFETY: both only make async-signal-safe calls.
    unsafe {
        command.pre_exec(move || {
            signals::unblock_forwarded()?;
            crate::systemd::cgroup::join(&procs)
        });
    }
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        command: argv0.to_string_lossy().into_owned(),
        source,
    })?;
    let pid = child
        .id()
        .expect("a child that was not waited for has a pid") as libc::pid_t;
    if let Ok(dir) = std::env::current_dir() {
        // The command starts where learner is.
        session.collector.set_origin(pid as u32, &dir);
    }

    let mut signals_seen = 0;
    let begun = tokio::time::Instant::now();
    let mut progress = Progress::new(
        format!("recording {}", argv0.to_string_lossy()),
        match request.duration {
            Some(_) => Mode::for_stderr(request.quiet),
            None => Mode::Quiet,
        },
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // With --for: the SIGTERM's time, then the kill's.
    let far = begun + Duration::from_secs(1 << 30);
    let term_at = request.duration.map_or(far, |d| begun + d);
    let stop = tokio::time::sleep_until(term_at);
    tokio::pin!(stop);
    let mut termed = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(RunError::Wait)?,
            _ = &mut stop, if request.duration.is_some() => {
                if termed {
                    progress.say(&format!(
                        "learner: the command did not exit within {} of its SIGTERM: killing everything in its cgroup",
                        humantime::format_duration(GRACE_AFTER_DURATION)
                    ));
                    let _ = cgroup.kill_all();
                    stop.as_mut().reset(far);
                } else {
                    termed = true;
                    progress.say(&format!(
                        "learner: --for {} elapsed: stopping the command (SIGTERM)",
                        humantime::format_duration(request.duration.unwrap_or_default())
                    ));
                    // SAFETY: kill(2) of our own child, which has not been reaped yet.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                    stop.as_mut().reset(tokio::time::Instant::now() + GRACE_AFTER_DURATION);
                }
            }
            _ = tick.tick() => {
                let (events, lost, processes) = session.counters();
                progress.update(&Status {
                    elapsed: begun.elapsed(),
                    remaining: request.duration.map(|d| d.saturating_sub(begun.elapsed())),
                    events,
                    processes,
                    lost,
                    doing: termed.then(|| "stopping the command".to_owned()),
                });
            }
            received = signals.next() => {
                let Ok(received) = received else { continue };
                signals_seen += 1;
                if signals_seen >= SIGNALS_BEFORE_KILL {
                    eprintln!(
                        "learner: signal {signals_seen} while the command ignores them: killing it and everything in its cgroup"
                    );
                    let _ = cgroup.kill_all();
                } else if !received.from_terminal {
                    // SAFETY: kill(2) of our own child, which has not been reaped yet.
                    unsafe { libc::kill(pid, received.signo) };
                }
            }
            pumped = session.pump() => pumped?,
        }
    };
    let ended = SystemTime::now();
    progress.finish();

    // Whatever the command left running is part of it: killed like systemd's KillMode=
    // control-group, then counted with the rest.
    let leftovers = cgroup.kill_all()?;
    if leftovers > 0 {
        eprintln!("learner: killed {leftovers} process(es) the command left behind in its cgroup");
    }
    let mut outcome = session.finish(&cgroup_root.to_string_lossy())?;
    cgroup.remove()?;

    let exit_code = exit_code(status);
    outcome.recording.exit_code = Some(exit_code);
    outcome.recording.leftover_processes_killed = leftovers as u64;
    let mut profile = build_profile(arch, started, ended, outcome);
    profile
        .observations
        .identity
        .resolve(std::path::Path::new("/"));
    profile.provenance.command = Some(
        request
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    );
    if profile.syscalls.is_empty() && profile.unknown_syscalls.is_empty() {
        // Its execve alone would have shown: the probe matched nothing.
        let mut pending = pending;
        let partial = crate::model::profile::partial_path(pending.path());
        pending.redirect(&partial);
        pending.commit(&profile)?;
        return Err(RunError::Broken { partial });
    }
    if let Some(what) = profile.recording.incomplete() {
        // Kept for a look, never under the profile's name (generate refuses partial files).
        let mut pending = pending;
        let partial = crate::model::profile::partial_path(pending.path());
        pending.redirect(&partial);
        pending.commit(&profile)?;
        return Err(RunError::Incomplete { what, partial });
    }
    pending.commit(&profile)?;
    Ok(RunReport {
        profile_path: output,
        profile,
        exit_code,
    })
}

/// Removes the empty cgroups of `learner run`s that were killed: `learner-run-PID` whose PID
/// is gone.
fn remove_abandoned_cgroups(root: &std::path::Path) {
    cgroup::remove_left_behind(root, |name| {
        name.strip_prefix("learner-run-")
            .is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_uses_the_basename() {
        assert_eq!(
            default_output(OsStr::new("/usr/sbin/nginx")),
            PathBuf::from("nginx.profile.yaml")
        );
        assert_eq!(
            default_output(OsStr::new("ls")),
            PathBuf::from("ls.profile.yaml")
        );
    }

    #[test]
    fn resolves_commands_like_a_shell() {
        assert!(resolve_command(OsStr::new("sh")).unwrap().is_absolute());
        assert!(matches!(
            resolve_command(OsStr::new("no-such-command-xyz")),
            Err(RunError::CommandNotFound(_))
        ));
        assert!(matches!(
            resolve_command(OsStr::new("/no/such/file")),
            Err(RunError::CommandNotFound(_))
        ));
        let plain = std::env::temp_dir().join(format!("learner-plain-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        let result = resolve_command(plain.as_os_str());
        std::fs::remove_file(&plain).unwrap();
        assert!(
            matches!(result, Err(RunError::NotExecutable(_))),
            "{result:?}"
        );
        assert_eq!(
            RunError::CommandNotFound("x".into()).exit_code(),
            EXIT_NOT_FOUND
        );
    }
}
