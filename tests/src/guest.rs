//! A disposable systemd for end-to-end tests: PID 1 of new pid, mount, cgroup, uts, ipc and
//! network namespaces, on a throw-away overlay of this machine's root (scripts/boot-systemd.sh).
//! Dropping it powers the guest off and removes its cgroup, whatever the test did.
use std::{
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use learner::systemd::cgroup::Cgroup;

pub struct Guest {
    /// The guest's PID 1 (systemd), as this host numbers it.
    pub pid: u32,
    launcher: Child,
    cgroup: Option<Cgroup>,
    base: PathBuf,
}

impl Guest {
    /// Boots the guest; panics (after tearing down what it started) when it cannot.
    pub fn boot(name: &str) -> Guest {
        Guest::try_boot(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Boots the guest, or says why it could not, having torn down what it started.
    pub fn try_boot(name: &str) -> Result<Guest, String> {
        Guest::try_boot_holding(name, &[])
    }

    /// [`Self::try_boot`], with `hold` (unit names) not started at boot though this machine
    /// enables them: in the guest, they have never run.
    pub fn try_boot_holding(name: &str, hold: &[String]) -> Result<Guest, String> {
        let root =
            learner::systemd::cgroup::cgroup2_mount().map_err(|e| format!("cgroup2: {e}"))?;
        let cgroup = Cgroup::create(
            &root,
            &format!("learner-guest-{name}-{}", std::process::id()),
        )
        .map_err(|e| format!("guest cgroup: {e}"))?;
        let base =
            std::env::temp_dir().join(format!("learner-guest-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let procs =
            std::ffi::CString::new(cgroup.procs_file().into_os_string().into_encoded_bytes())
                .map_err(|e| format!("cgroup path: {e}"))?;
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid", "--fork", "--mount", "--cgroup", "--uts", "--ipc", "--net", "bash",
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/boot-systemd.sh"
        ))
        .arg(&base)
        .env("LEARNER_GUEST_HOLD", hold.join(" "))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group: a Ctrl-C meant for the test or the demo would
        // otherwise reach the guest's systemd too (SIGINT is its ctrl-alt-del).
        .process_group(0);
        // Into the guest's cgroup before unshare, so it becomes the guest's cgroup root.
        // SAFETY: open/write/close only, between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
        let launcher = match cmd.spawn() {
            Ok(launcher) => launcher,
            Err(e) => {
                let _ = cgroup.remove();
                let _ = std::fs::remove_dir_all(&base);
                return Err(format!("cannot start unshare (util-linux): {e}"));
            }
        };
        let lpid = launcher.id();
        let mut guest = Guest {
            pid: 0,
            launcher,
            cgroup: Some(cgroup),
            base,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while guest.pid == 0 {
            let children = std::fs::read_to_string(format!("/proc/{lpid}/task/{lpid}/children"))
                .unwrap_or_default();
            guest.pid = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if Instant::now() >= deadline {
                return Err("the guest's PID 1 never appeared".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // PID 1 is the boot script until it execs systemd, whose manager answers a moment later.
        let mut state = String::new();
        while Instant::now() < deadline + Duration::from_secs(60) {
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", guest.pid)).unwrap_or_default();
            if comm.trim() == "systemd" {
                let out = guest.run(&["timeout", "60", "systemctl", "is-system-running", "--wait"]);
                state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if state != "offline" && !state.is_empty() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if state != "running" {
            let failed = guest.run(&["systemctl", "--failed", "--no-legend"]);
            eprintln!(
                "guest is {state}; failed units:\n{}",
                String::from_utf8_lossy(&failed.stdout)
            );
        }
        if !["running", "degraded"].contains(&state.as_str()) {
            return Err(format!("guest systemd: {state}"));
        }
        Ok(guest)
    }

    /// Runs `args` in all of the guest's namespaces.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-a"])
            .args(args)
            .output()
            .expect("nsenter")
    }

    /// The prefix that runs a command in the guest, for shell command lines.
    pub fn nsenter(&self) -> String {
        format!("nsenter -t {} -a", self.pid)
    }

    /// The HTTP status of `url`, fetched inside the guest.
    pub fn http_status(&self, url: &str) -> String {
        let out = self.run(&[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            url,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes `content` to `path` inside the guest's file system, making its directory.
    pub fn write(&self, path: &str, content: &str) {
        let full = format!("/proc/{}/root{path}", self.pid);
        if let Some(dir) = std::path::Path::new(&full).parent() {
            std::fs::create_dir_all(dir).expect("mkdir in the guest");
        }
        std::fs::write(&full, content).unwrap_or_else(|e| panic!("{full}: {e}"));
    }

    /// [`Self::write`], then `chmod mode`.
    pub fn write_mode(&self, path: &str, content: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        self.write(path, content);
        let full = format!("/proc/{}/root{path}", self.pid);
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Runs `script` with sh in the guest, which must succeed; returns its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = self.run(&["sh", "-c", script]);
        assert!(out.status.success(), "{script}: {}", crate::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemd-analyze security UNIT` inside the guest (retried: right after a start or a
    /// daemon-reload it may not answer yet).
    pub fn exposure(&self, unit: &str) -> f64 {
        let mut last = String::new();
        for _ in 0..10 {
            let out = self.run(&["systemd-analyze", "security", "--no-pager", unit]);
            if let Some(e) =
                learner::systemd::analyze::parse_exposure(&String::from_utf8_lossy(&out.stdout))
            {
                return e;
            }
            last = crate::text(&out);
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("systemd-analyze security {unit} gave no exposure: {last}");
    }

    pub fn is_active(&self, unit: &str) -> bool {
        self.run(&["systemctl", "is-active", "--quiet", unit])
            .status
            .success()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if self.pid != 0 {
            // SIGRTMIN+4: systemd's "power off".
            // SAFETY: kill(2) of the guest's PID 1, which is our grandchild.
            unsafe { libc::kill(self.pid as i32, libc::SIGRTMIN() + 4) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.launcher.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
        if let Some(cgroup) = self.cgroup.take()
            && let Err(e) = cgroup.remove()
        {
            eprintln!("guest cgroup: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
