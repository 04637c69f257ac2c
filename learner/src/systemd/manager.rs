//! Talking to systemd: resolving a unit to its cgroup, restarting it, reading its journal,
//! installing drop-ins. Through `systemctl` and `journalctl`, on this host or, with a guest
//! pid, in the namespaces of another systemd (a container's), entered with nsenter.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::systemd::cgroup;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("no systemd reachable: {0}")]
    Unreachable(String),
    #[error("unknown unit {0}")]
    UnknownUnit(String),
    #[error("unit {unit} is not loaded ({state})")]
    NotLoaded { unit: String, state: String },
    #[error("unit {0} has no cgroup: it is not running (use --restart to start it)")]
    NoCgroup(String),
    #[error("{0}")]
    Cgroup(#[from] cgroup::CgroupError),
    #[error("{what}: {detail}")]
    Command { what: String, detail: String },
    #[error(
        "{unit} is a template, not a unit: learner takes one of its instances ({prefix}@NAME{suffix}){socket}"
    )]
    Template {
        unit: String,
        prefix: String,
        suffix: String,
        /// Why no instance can be named, when its socket starts one per connection.
        socket: String,
    },
}

/// A template's name split at its `@` (`saned@.service` gives `saned` and `.service`); `None`
/// for an instance or a plain unit.
pub fn template_parts(unit: &str) -> Option<(&str, &str)> {
    let (prefix, rest) = unit.split_once('@')?;
    // systemd splits a unit's type at its last dot: `foo@.bar.service` is the instance `.bar`.
    (rest.starts_with('.') && !prefix.is_empty() && rest.len() > 1 && !rest[1..].contains('.'))
        .then_some((prefix, rest))
}

/// What `systemctl show` says about a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitInfo {
    pub id: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: u32,
    /// Relative to the systemd's cgroup root; empty when the unit has none.
    pub control_group: String,
    pub slice: String,
    pub service_type: String,
    pub fragment_path: String,
    /// The unit's seccomp filter: calls it refuses never reach a tracepoint.
    pub syscall_filter: SyscallFilter,
    /// The programs of its ExecStart= lines, in order.
    pub exec_start: Vec<String>,
    /// Changes on every start: tells a new run from the one before.
    pub invocation_id: String,
    /// When the unit last left the inactive state (CLOCK_MONOTONIC, us): a job's InvocationID
    /// can read the same after its run, this changes on every start.
    pub inactive_exit_us: u64,
    /// How the last run ended: `success`, `exit-code`, `signal`, `timeout`, ...
    pub result: String,
    /// The main process's exit: code 1 exited, 2 killed, 3 dumped; status the exit status
    /// or signal number.
    pub exec_main_code: i32,
    pub exec_main_status: i32,
    /// TimeoutStartSec and TimeoutStopSec; `None` when infinite.
    pub timeout_start: Option<Duration>,
    pub timeout_stop: Option<Duration>,
    /// Restart= and RestartSec.
    pub restart: String,
    pub restart_delay: Option<Duration>,
    pub remain_after_exit: bool,
    /// `systemctl reload` does something: ExecReload=, or Type=notify-reload.
    pub can_reload: bool,
    /// RootDirectory=: the root systemd gives the unit's processes (empty: none).
    pub root_directory: String,
}

/// A unit's `SystemCallFilter=` as systemd applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SyscallFilter {
    /// No filter: every syscall reaches the kernel.
    #[default]
    None,
    /// An allow-list: only these run (systemd has expanded groups and added @default).
    Allows(Vec<String>),
    /// A deny-list: these are refused, the rest run.
    Refuses(Vec<String>),
}

impl SyscallFilter {
    /// Reads `systemctl show -p SystemCallFilter`'s value: `~` and the refused names for a
    /// deny-list, the allowed names for an allow-list, space-separated, each possibly with
    /// `:ERRNO`. A unit without a filter has an empty deny-list, which systemctl prints as
    /// `~` (or nothing, when the property is not asked for by name). An allow-list is never
    /// empty: systemd adds @default to every one.
    pub fn parse(value: &str) -> Self {
        let (deny, names) = match value.trim().strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let names: Vec<String> = names
            .split_whitespace()
            .map(|n| n.split(':').next().unwrap_or(n).to_owned())
            .collect();
        match (names.is_empty(), deny) {
            (true, _) => Self::None,
            (false, true) => Self::Refuses(names),
            (false, false) => Self::Allows(names),
        }
    }

    /// What `learner record` must tell the user before recording a unit under this filter:
    /// calls it refuses fail before the probes see them.
    pub fn recording_warning(&self, unit: &str) -> Option<String> {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let what = match self {
            Self::None => return None,
            Self::Allows(names) => format!(
                "allows only {} syscall{}: calls to any other",
                names.len(),
                plural(names.len())
            ),
            Self::Refuses(names) => {
                // A short deny-list is worth naming; a long one is in `systemctl show`.
                const NAMED: usize = 5;
                let mut list = names[..names.len().min(NAMED)].join(", ");
                if names.len() > NAMED {
                    list.push_str(", ...");
                }
                format!(
                    "refuses {} syscall{} ({list}): those calls",
                    names.len(),
                    plural(names.len())
                )
            }
        };
        Some(format!(
            "learner: warning: {unit}'s SystemCallFilter= {what} never reach learner's probes and will be missing from the profile; `learner check {unit}` lists the ones the service makes, or record it without the filter to learn them"
        ))
    }
}

impl UnitInfo {
    pub(crate) fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.to_owned();
            match key {
                "Id" => info.id = value,
                "LoadState" => info.load_state = value,
                "ActiveState" => info.active_state = value,
                "SubState" => info.sub_state = value,
                "MainPID" => info.main_pid = value.parse().unwrap_or(0),
                "ControlGroup" => info.control_group = value,
                "Slice" => info.slice = value,
                "Type" => info.service_type = value,
                "FragmentPath" => info.fragment_path = value,
                "SystemCallFilter" => info.syscall_filter = SyscallFilter::parse(&value),
                "ExecStart" => info.exec_start = exec_paths(&value),
                "InvocationID" => info.invocation_id = value,
                "Result" => info.result = value,
                "InactiveExitTimestampMonotonic" => {
                    info.inactive_exit_us = value.parse().unwrap_or(0)
                }
                "ExecMainCode" => info.exec_main_code = value.parse().unwrap_or(0),
                "ExecMainStatus" => info.exec_main_status = value.parse().unwrap_or(0),
                "TimeoutStartUSec" => info.timeout_start = timespan(&value),
                "TimeoutStopUSec" => info.timeout_stop = timespan(&value),
                "Restart" => info.restart = value,
                "RestartUSec" => info.restart_delay = timespan(&value),
                "RemainAfterExit" => info.remain_after_exit = value == "yes",
                "CanReload" => info.can_reload = value == "yes",
                "RootDirectory" => info.root_directory = value,
                _ => {}
            }
        }
        info
    }

    pub fn is_active(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "reloading" | "activating"
        )
    }

    /// Running and done starting: `activating` and `deactivating` are neither up nor down.
    pub fn is_up(&self) -> bool {
        matches!(self.active_state.as_str(), "active" | "reloading")
    }

    /// Stopped: nothing of it runs, and no job is bringing it up or down.
    pub fn is_down(&self) -> bool {
        matches!(self.active_state.as_str(), "inactive" | "failed")
    }

    /// A job: a run that is expected to finish (Type=oneshot without RemainAfterExit), judged
    /// by how it ended rather than by staying active.
    pub fn is_job(&self) -> bool {
        self.service_type == "oneshot" && !self.remain_after_exit
    }

    /// The state in words: `failed (exit-code, status 1)`, `deactivating (stop-sigterm)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.sub_state != self.active_state {
            parts.push(self.sub_state.clone());
        }
        if self.active_state == "failed" || (self.result != "success" && !self.result.is_empty()) {
            parts.push(format!("Result={}", self.result));
            match self.exec_main_code {
                1 => parts.push(format!(
                    "main process exited with status {}",
                    self.exec_main_status
                )),
                2 | 3 => parts.push(format!(
                    "main process killed by signal {}",
                    self.exec_main_status
                )),
                _ => {}
            }
        }
        if parts.is_empty() {
            self.active_state.clone()
        } else {
            format!("{} ({})", self.active_state, parts.join(", "))
        }
    }
}

/// The `path=` of each `{ path=... ; argv[]=... ; ... }` block `systemctl show` prints for an
/// ExecStart= property.
fn exec_paths(value: &str) -> Vec<String> {
    value
        .split("path=")
        .skip(1)
        .filter_map(|rest| rest.split(" ;").next())
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A time span as `systemctl show` prints it (`1min 30s`, `100ms`, `1.500000s`, `infinity`);
/// `None` when infinite or unreadable.
pub fn timespan(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text == "infinity" {
        return None;
    }
    let mut total = 0f64;
    for part in text.split_whitespace() {
        let split = part
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(part.len());
        let (number, unit) = part.split_at(split);
        let number: f64 = number.parse().ok()?;
        let seconds = match unit {
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "" | "s" | "sec" => 1.0,
            "min" | "m" => 60.0,
            "h" | "hr" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "M" => 2_629_800.0,
            "y" => 31_557_600.0,
            _ => return None,
        };
        total += number * seconds;
    }
    Some(Duration::from_secs_f64(total))
}

/// A file's SHA-256 in hex, from coreutils' `sha256sum` (run here: the path is one from
/// here).
fn sha256(path: &Path) -> Option<String> {
    let out = Command::new("sha256sum")
        .arg("--")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().next()?;
    (out.status.success() && hex.len() == 64).then(|| hex.to_owned())
}

/// How a systemctl job given a time limit ended.
#[derive(Debug)]
pub enum JobEnd {
    /// systemctl returned: its exit status and its complaint, if any.
    Done { ok: bool, stderr: String },
    /// Still waiting when the limit passed (systemd goes on with the job).
    TimedOut,
}

/// The cgroup path systemd gives a unit in `slice`: `a-b.slice` nests as `/a.slice/a-b.slice`.
pub fn unit_cgroup_path(slice: &str, unit: &str) -> String {
    let mut path = String::new();
    if let Some(stem) = slice.strip_suffix(".slice")
        && stem != "-"
    {
        let parts: Vec<&str> = stem.split('-').collect();
        for i in 1..=parts.len() {
            path.push('/');
            path.push_str(&parts[..i].join("-"));
            path.push_str(".slice");
        }
    }
    format!("{path}/{unit}")
}

/// A systemd to talk to.
#[derive(Debug, Clone)]
pub struct Systemd {
    /// Prefix of every command: empty here, `nsenter -t PID -a` for a guest.
    prefix: Vec<String>,
    /// The guest's root file system as seen from here.
    pub root: PathBuf,
    /// The guest's cgroup root, relative to this host's cgroup2 root ("" here).
    cgroup_base: String,
    /// This host's cgroup2 mount.
    pub cgroup_mount: PathBuf,
}

impl Systemd {
    /// The systemd of this host, or of the namespaces `guest` lives in (its PID 1, say).
    pub fn new(guest: Option<u32>) -> Result<Self, SystemdError> {
        let cgroup_mount = cgroup::cgroup2_mount()?;
        let Some(pid) = guest else {
            return Ok(Self {
                prefix: vec![],
                root: "/".into(),
                cgroup_base: String::new(),
                cgroup_mount,
            });
        };
        let read = |path: String| {
            std::fs::read_to_string(&path)
                .map_err(|e| SystemdError::Unreachable(format!("{path}: {e}")))
        };
        let v2 = |text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_owned)
        };
        // The guest pid's cgroup as this host sees it, and as the guest sees it: the
        // difference is where the guest's cgroup namespace is rooted.
        let outside = v2(&read(format!("/proc/{pid}/cgroup"))?).unwrap_or_default();
        // /proc/*/cgroup reads relative to the reader's cgroup namespace: ask from inside.
        let inside = Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-C",
                "cat",
                &format!("/proc/{pid}/cgroup"),
            ])
            .output()
            .map_err(|e| SystemdError::Unreachable(format!("nsenter: {e}")))?;
        let inside = v2(&String::from_utf8_lossy(&inside.stdout)).unwrap_or_default();
        let base = outside
            .strip_suffix(inside.as_str())
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            prefix: ["nsenter", "-t", &pid.to_string(), "-a"]
                .map(String::from)
                .to_vec(),
            root: PathBuf::from(format!("/proc/{pid}/root")),
            cgroup_base: base,
            cgroup_mount,
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.env("SYSTEMD_PAGER", "").env("SYSTEMD_COLORS", "0");
        cmd
    }

    fn output(&self, program: &str, args: &[&str]) -> Result<Output, SystemdError> {
        self.command(program)
            .args(args)
            .output()
            .map_err(|e| SystemdError::Command {
                what: format!("{program} {}", args.join(" ")),
                detail: e.to_string(),
            })
    }

    /// `systemctl ARGS`, failing with its first line of complaint.
    pub fn systemctl(&self, args: &[&str]) -> Result<String, SystemdError> {
        let out = self.output("systemctl", args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("has not been booted with systemd")
            || stderr.contains("Failed to connect to bus")
        {
            return Err(SystemdError::Unreachable(
                stderr.lines().next().unwrap_or("").to_owned(),
            ));
        }
        if !out.status.success() {
            return Err(SystemdError::Command {
                what: format!("systemctl {}", args.join(" ")),
                detail: stderr.lines().next().unwrap_or("failed").to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `systemctl ARGS` waiting for its job (start, stop, reload...) for at most `limit`.
    pub fn systemctl_job(&self, args: &[&str], limit: Duration) -> Result<JobEnd, SystemdError> {
        let what = || format!("systemctl {}", args.join(" "));
        let mut child = self
            .command("systemctl")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SystemdError::Command {
                what: what(),
                detail: e.to_string(),
            })?;
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let mut stderr = String::new();
                    if let Some(mut err) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                    }
                    return Ok(JobEnd::Done {
                        ok: status.success(),
                        stderr: stderr.lines().next().unwrap_or("").to_owned(),
                    });
                }
                Ok(None) if Instant::now() >= deadline => {
                    // Only the client goes: the job stays queued in systemd.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(JobEnd::TimedOut);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => {
                    return Err(SystemdError::Command {
                        what: what(),
                        detail: e.to_string(),
                    });
                }
            }
        }
    }

    /// Runs `program ARGS` where the unit lives (in the guest, for a guest).
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output, SystemdError> {
        self.output(program, args)
    }

    /// One property of `unit`, as `systemctl show --value` prints it.
    pub fn property(&self, unit: &str, name: &str) -> Result<String, SystemdError> {
        let text =
            self.systemctl(&["show", "--value", &format!("--property={name}"), "--", unit])?;
        Ok(text.trim_end_matches('\n').to_owned())
    }

    /// What systemd knows of `unit` (a name, a template instance, an escaped name).
    pub fn show(&self, unit: &str) -> Result<UnitInfo, SystemdError> {
        if let Some((prefix, suffix)) = template_parts(unit) {
            return Err(self.template_error(unit, prefix, suffix));
        }
        let text = self.systemctl(&[
            "show",
            "--property=Id,LoadState,ActiveState,SubState,MainPID,ControlGroup,Slice,Type,FragmentPath,SystemCallFilter,ExecStart,InvocationID,Result,ExecMainCode,ExecMainStatus,TimeoutStartUSec,TimeoutStopUSec,Restart,RestartUSec,RemainAfterExit,CanReload,InactiveExitTimestampMonotonic,RootDirectory",
            "--",
            unit,
        ])?;
        let info = UnitInfo::parse(&text);
        match info.load_state.as_str() {
            "loaded" => Ok(info),
            "not-found" => Err(SystemdError::UnknownUnit(unit.to_owned())),
            other => Err(SystemdError::NotLoaded {
                unit: unit.to_owned(),
                state: other.to_owned(),
            }),
        }
    }

    /// systemctl refuses a template with "neither a valid invocation ID nor unit name"; say
    /// what it is instead, and when its instances come one per connection from a socket with
    /// Accept=yes (which must then bear the template's name), that none can be named.
    fn template_error(&self, unit: &str, prefix: &str, suffix: &str) -> SystemdError {
        let socket_unit = format!("{prefix}.socket");
        let accepts = suffix == ".service"
            && self
                .property(&socket_unit, "Accept")
                .is_ok_and(|accept| accept == "yes");
        SystemdError::Template {
            unit: unit.to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            socket: if accepts {
                format!(
                    "; {socket_unit} has Accept=yes and starts one for each connection, and learner cannot yet record, score or apply such a template: it has no drop-in to give"
                )
            } else {
                String::new()
            },
        }
    }

    /// `unit`'s unit file and its drop-ins, in the order systemd reads them, as paths from
    /// here.
    pub fn unit_files(&self, unit: &str) -> Result<Vec<PathBuf>, SystemdError> {
        let info = self.show(unit)?;
        let text = self.systemctl(&["show", "--property=DropInPaths", "--", unit])?;
        let mut files = vec![];
        if !info.fragment_path.is_empty() {
            files.push(self.path_in_guest(Path::new(&info.fragment_path)));
        }
        for line in text.lines() {
            if let Some(paths) = line.strip_prefix("DropInPaths=") {
                files.extend(
                    paths
                        .split_whitespace()
                        .map(|p| self.path_in_guest(Path::new(p))),
                );
            }
        }
        Ok(files)
    }

    /// `systemctl show`'s `KEY=VALUE` lines of `unit`'s `properties`.
    pub fn properties(&self, unit: &str, properties: &[&str]) -> Result<String, SystemdError> {
        let properties = format!("--property={}", properties.join(","));
        self.systemctl(&["show", &properties, "--", unit])
    }

    /// `unit`'s unit file and drop-ins as systemd names them, each with its SHA-256 (hex;
    /// empty when unreadable) and its text (empty when unreadable), and `systemctl show`'s
    /// `KEY=VALUE` lines of `properties`.
    #[allow(clippy::type_complexity)]
    pub fn unit_as_it_runs(
        &self,
        unit: &str,
        properties: &[&str],
    ) -> Result<(Vec<(String, String, String)>, String), SystemdError> {
        let files = self
            .unit_files(unit)?
            .into_iter()
            .map(|f| {
                let sha = sha256(&f).unwrap_or_default();
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                let named = match f.strip_prefix(&self.root) {
                    Ok(rest) => Path::new("/").join(rest),
                    Err(_) => f,
                };
                (named.to_string_lossy().into_owned(), sha, text)
            })
            .collect();
        Ok((files, self.properties(unit, properties)?))
    }

    /// The packages owning each of `paths` on the unit's system (dpkg, else rpm), comma-
    /// separated, empty for a path none owns; an empty map when neither tool answers.
    pub fn package_owners(&self, paths: &[String]) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        if paths.is_empty() {
            return out;
        }
        // dpkg-query -S takes a path with a glob character as a pattern (`a[1]` would match
        // `a1` and never itself): each is escaped to stand for itself.
        let escaped: Vec<String> = paths
            .iter()
            .map(|p| {
                p.chars().fold(String::new(), |mut s, c| {
                    if matches!(c, '*' | '?' | '[' | '\\') {
                        s.push('\\');
                    }
                    s.push(c);
                    s
                })
            })
            .collect();
        let queried = self
            .command("dpkg-query")
            // Its diversion lines are translated.
            .env("LC_ALL", "C")
            .arg("-S")
            .args(&escaped)
            .output();
        // dpkg-query exits 1 when one path is nobody's: its answers are still good.
        if let Ok(o) = queried
            && matches!(o.status.code(), Some(0 | 1))
        {
            return dpkg_search_owners(paths, &String::from_utf8_lossy(&o.stdout));
        }
        let mut args = vec!["-qf", "--queryformat", "%{NAME}\\n"];
        args.extend(paths.iter().map(String::as_str));
        if let Ok(o) = self.output("rpm", &args) {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() == paths.len() {
                for (p, l) in paths.iter().zip(lines) {
                    let owner = if l.contains(' ') { "" } else { l };
                    out.insert(p.clone(), owner.to_owned());
                }
            }
        }
        out
    }

    /// Where `unit`'s cgroup is (or will be) in this host's hierarchy.
    pub fn cgroup_path(&self, info: &UnitInfo) -> PathBuf {
        let rel = if info.control_group.is_empty() {
            unit_cgroup_path(&info.slice, &info.id)
        } else {
            info.control_group.clone()
        };
        let full = format!("{}{}", self.cgroup_base, rel);
        self.cgroup_mount.join(full.trim_start_matches('/'))
    }

    /// The manager's whole cgroup tree in this host's hierarchy.
    pub fn manager_cgroup(&self) -> PathBuf {
        self.cgroup_mount
            .join(self.cgroup_base.trim_start_matches('/'))
    }

    /// The manager's system.slice in this host's hierarchy: where its services' cgroups are.
    pub fn system_slice(&self) -> PathBuf {
        let full = format!("{}/system.slice", self.cgroup_base);
        self.cgroup_mount.join(full.trim_start_matches('/'))
    }

    /// The drop-in directory of `unit` under /etc/systemd/system, as a path from here.
    pub fn dropin_dir(&self, unit: &str) -> PathBuf {
        self.root
            .join("etc/systemd/system")
            .join(format!("{unit}.d"))
    }

    /// `systemd-analyze security UNIT`'s exposure, as the running systemd scores it.
    pub fn exposure(&self, unit: &str) -> Option<f64> {
        let out = self
            .output("systemd-analyze", &["security", "--no-pager", unit])
            .ok()?;
        super::analyze::parse_exposure(&String::from_utf8_lossy(&out.stdout))
    }

    /// The journal's current position, to read only what comes after it.
    pub fn journal_cursor(&self) -> Option<String> {
        let out = self
            .output("journalctl", &["--no-pager", "-n", "0", "--show-cursor"])
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("-- cursor: "))
            .map(str::to_owned)
    }

    /// The journal of `unit` after `cursor` (all of it when there is none), as plain lines.
    pub fn journal_after(&self, unit: &str, cursor: Option<&str>) -> String {
        let mut args = vec!["--no-pager", "-o", "cat", "-u", unit];
        let after;
        if let Some(c) = cursor {
            after = format!("--after-cursor={c}");
            args.push(&after);
        }
        self.output("journalctl", &args)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// A path of the guest's file system, as seen from here.
    pub fn path_in_guest(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

/// `dpkg-query -S`'s answer (in the C locale) as each of `paths`' owning packages, empty for a
/// path none owns: a package's file moved aside by a diversion (`/bin/sh.distrib`) is the
/// diverting package's, and a path an admin diverted (`local diversion from:`) holds the
/// site's own file, whoever lists it.
fn dpkg_search_owners(
    paths: &[String],
    answer: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut out: std::collections::BTreeMap<String, String> =
        paths.iter().map(|p| (p.clone(), String::new())).collect();
    let mut local = Vec::new();
    for line in answer.lines() {
        let Some((what, path)) = line.split_once(": ") else {
            continue;
        };
        let Some(v) = out.get_mut(path) else {
            continue;
        };
        match what.strip_prefix("diversion by ") {
            Some(by) => {
                if let Some(pkg) = by.strip_suffix(" to")
                    && v.is_empty()
                {
                    *v = pkg.to_owned();
                }
            }
            None if what == "local diversion from" => local.push(path.to_owned()),
            None if what.starts_with("local diversion") => {}
            None => *v = what.to_owned(),
        }
    }
    for path in local {
        out.insert(path, String::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_search_answers_with_diversions() {
        let paths: Vec<String> = [
            "/usr/bin/sh",
            "/bin/sh.distrib",
            "/usr/sbin/tool",
            "/etc/hook",
            "/usr/lib/a[1]",
            "/usr/sbin/nginx",
        ]
        .map(String::from)
        .to_vec();
        let answer = "diversion by dash from: /bin/sh\n\
                      diversion by dash to: /bin/sh.distrib\n\
                      dash: /usr/bin/sh\n\
                      diversion by x from: /bin/ls\n\
                      nginx-common, nginx: /usr/sbin/nginx\n\
                      local diversion from: /usr/sbin/tool\n\
                      local diversion to: /usr/sbin/tool.orig\n\
                      tools: /usr/sbin/tool\n\
                      lib1: /usr/lib/a[1]\n";
        let owners = dpkg_search_owners(&paths, answer);
        assert_eq!(owners["/usr/bin/sh"], "dash");
        assert_eq!(owners["/bin/sh.distrib"], "dash");
        assert_eq!(owners["/usr/sbin/tool"], "", "an admin's replacement");
        assert_eq!(owners["/etc/hook"], "");
        assert_eq!(owners["/usr/lib/a[1]"], "lib1");
        // Every package that ships it, as logrotate_entry lists them.
        assert_eq!(owners["/usr/sbin/nginx"], "nginx-common, nginx");
        assert_eq!(owners.len(), 6);
    }

    #[test]
    fn a_template_is_told_from_its_instances() {
        assert_eq!(
            template_parts("saned@.service"),
            Some(("saned", ".service"))
        );
        assert_eq!(template_parts("getty@.timer"), Some(("getty", ".timer")));
        for not_one in [
            "saned@1-127.0.0.1:6566-127.0.0.1:40000.service",
            "postgresql@15-main.service",
            "nginx.service",
            "@.service",
            "x@.",
            "foo@.bar.service",
        ] {
            assert_eq!(template_parts(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn parses_systemctl_show() {
        let info = UnitInfo::parse(
            "Id=nginx.service\nLoadState=loaded\nActiveState=active\nMainPID=95\nControlGroup=/system.slice/nginx.service\nType=forking\n",
        );
        assert_eq!(info.id, "nginx.service");
        assert_eq!(info.main_pid, 95);
        assert!(info.is_active());
        assert_eq!(info.service_type, "forking");
        assert!(!info.is_job());
    }

    #[test]
    fn jobs_and_states() {
        let info = UnitInfo::parse(
            "Type=oneshot\nRemainAfterExit=no\nActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=1\nTimeoutStartUSec=infinity\nTimeoutStopUSec=1min 30s\n",
        );
        assert!(info.is_job());
        assert_eq!(info.timeout_start, None);
        assert_eq!(info.timeout_stop, Some(Duration::from_secs(90)));
        assert_eq!(
            info.describe(),
            "failed (Result=exit-code, main process exited with status 1)"
        );
        let kept = UnitInfo::parse("Type=oneshot\nRemainAfterExit=yes\n");
        assert!(!kept.is_job());
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(timespan("1.500000s"), Some(Duration::from_millis(1500)));
        assert_eq!(timespan("1h 2min 3s"), Some(Duration::from_secs(3723)));
        assert_eq!(timespan("infinity"), None);
        assert_eq!(timespan("soon"), None);
    }

    #[test]
    fn parses_exec_start_and_timeouts() {
        // As systemd 252 prints them.
        let info = UnitInfo::parse(
            "ExecStart={ path=/usr/sbin/nginx ; argv[]=/usr/sbin/nginx -g daemon on; master_process on; ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\nTimeoutStartUSec=1min 30s\nTimeoutStopUSec=infinity\nActiveState=deactivating\n",
        );
        assert_eq!(info.exec_start, ["/usr/sbin/nginx"]);
        assert_eq!(info.timeout_start, Some(std::time::Duration::from_secs(90)));
        assert_eq!(info.timeout_stop, None);
        assert!(!info.is_up() && !info.is_down());
        let two = exec_paths("{ path=/bin/a ; argv[]=a ; } { path=/bin/b ; argv[]=b ; }");
        assert_eq!(two, ["/bin/a", "/bin/b"]);
        assert!(exec_paths("").is_empty());
    }

    #[test]
    fn an_empty_deny_list_is_no_filter() {
        // What systemctl prints for a unit without SystemCallFilter= (nginx, memcached, ...).
        let info = UnitInfo::parse("Id=nginx.service\nSystemCallFilter=~\n");
        assert_eq!(info.syscall_filter, SyscallFilter::None);
        assert_eq!(info.syscall_filter.recording_warning("nginx.service"), None);
        for value in ["", "~", " ~ ", "~\t"] {
            assert_eq!(
                SyscallFilter::parse(value),
                SyscallFilter::None,
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_deny_list_names_what_it_refuses() {
        let filter = SyscallFilter::parse("~getpriority");
        assert_eq!(filter, SyscallFilter::Refuses(vec!["getpriority".into()]));
        let warning = filter.recording_warning("x.service").expect("a warning");
        assert!(
            warning.starts_with(
                "learner: warning: x.service's SystemCallFilter= refuses 1 syscall (getpriority): those calls never reach"
            ),
            "{warning}"
        );
        assert!(warning.contains("`learner check x.service`"), "{warning}");

        // Per-syscall errnos (SystemCallFilter=~name:EPERM) are not names.
        let filter =
            SyscallFilter::parse("~mount:EPERM umount2 reboot:ENOSYS kexec_load swapon swapoff");
        let SyscallFilter::Refuses(names) = &filter else {
            panic!("{filter:?}");
        };
        assert_eq!(names.len(), 6);
        assert_eq!(names[0], "mount");
        let warning = filter.recording_warning("x.service").unwrap();
        assert!(
            warning
                .contains("refuses 6 syscalls (mount, umount2, reboot, kexec_load, swapon, ...)"),
            "{warning}"
        );
    }

    #[test]
    fn an_allow_list_counts_what_it_allows() {
        let filter = SyscallFilter::parse("read write openat close");
        assert_eq!(
            filter,
            SyscallFilter::Allows(
                ["read", "write", "openat", "close"]
                    .map(String::from)
                    .to_vec()
            )
        );
        let warning = filter.recording_warning("x.service").unwrap();
        assert!(
            warning.contains("x.service's SystemCallFilter= allows only 4 syscalls: calls to any other never reach"),
            "{warning}"
        );
    }

    #[test]
    fn slice_paths() {
        assert_eq!(
            unit_cgroup_path("system.slice", "nginx.service"),
            "/system.slice/nginx.service"
        );
        assert_eq!(
            unit_cgroup_path("system-postgresql.slice", "postgresql@15-main.service"),
            "/system.slice/system-postgresql.slice/postgresql@15-main.service"
        );
        assert_eq!(unit_cgroup_path("-.slice", "x.service"), "/x.service");
    }
}
