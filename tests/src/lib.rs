//! Helpers for learner's integration tests, and the markers its workloads make.
use std::{
    collections::BTreeSet,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::{Child, Command},
    sync::{Mutex, MutexGuard},
};

pub mod guest;
pub mod pack_progress;

/// Syscalls the workloads make as markers: (name, number on this machine). Each is made by
/// exactly one context and by nothing else in the workload.
pub mod markers {
    pub const MAIN_THREAD: (&str, libc::c_long) = ("getpriority", libc::SYS_getpriority);
    pub const SECOND_THREAD: (&str, libc::c_long) = ("getitimer", libc::SYS_getitimer);
    pub const FORKED_CHILD: (&str, libc::c_long) = ("getsid", libc::SYS_getsid);
    pub const AFTER_EXEC: (&str, libc::c_long) = ("sysinfo", libc::SYS_sysinfo);
    /// Fails with EBADF.
    pub const FAILING: (&str, libc::c_long) = ("fchdir", libc::SYS_fchdir);
    pub const SUB_CGROUP: (&str, libc::c_long) =
        ("sched_getscheduler", libc::SYS_sched_getscheduler);
    /// Made by `workload executor` while it is named like systemd's executor, `(name)`.
    pub const EXECUTOR: (&str, libc::c_long) =
        ("sched_get_priority_max", libc::SYS_sched_get_priority_max);
    /// Made only by the `outsider`, which runs outside the recorded cgroup.
    pub const OUTSIDER: (&str, libc::c_long) =
        ("sched_rr_get_interval", libc::SYS_sched_rr_get_interval);
    /// Syscalls no workload makes: a recording that shows them is recording something else.
    pub const NEVER: &[&str] = &[
        "reboot",
        "kexec_load",
        "ptrace",
        "init_module",
        "finit_module",
        "swapon",
        "pivot_root",
        "acct",
    ];
}

/// Set by `cargo xtask test` in CI: a privileged test that would skip fails instead.
pub const REQUIRE_PRIVILEGED_ENV: &str = "LEARNER_REQUIRE_PRIVILEGED";

static KERNEL: Mutex<()> = Mutex::new(());

/// Where privileged tests of every checkout on this machine take turns: two suites (two
/// worktrees, or a developer's run beside CI's) would see each other's BPF programs and
/// cgroups and fail their clean-state checks.
const MACHINE_LOCK: &str = "/run/learner-privileged-tests.lock";

/// Held while a privileged test runs: this process's turn and the machine's.
pub struct Privileged {
    _turn: MutexGuard<'static, ()>,
    _machine: std::fs::File,
}

/// Gate for tests that load BPF and create cgroups: they need root, and run one at a time on
/// the machine. Returns `None` (the test skips, saying why) when not root, unless skipping is
/// forbidden.
pub fn privileged(test: &str) -> Option<Privileged> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let why = format!("{test}: needs root (eBPF and cgroups)");
        if std::env::var_os(REQUIRE_PRIVILEGED_ENV).is_some() {
            panic!("{why}, and {REQUIRE_PRIVILEGED_ENV} forbids skipping");
        }
        eprintln!("skipped {why}");
        return None;
    }
    let turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let machine = machine_turn(|| {}).unwrap_or_else(|e| panic!("{e}"));
    remove_stale_cgroups();
    assert_clean("before the test");
    Some(Privileged {
        _turn: turn,
        _machine: machine,
    })
}

/// Waits for the machine's turn (the lock the privileged tests hold), calling `waiting` once
/// if another holder makes it wait; the turn lasts until the file is closed.
pub fn machine_turn(waiting: impl FnOnce()) -> Result<std::fs::File, String> {
    let machine = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(MACHINE_LOCK)
        .map_err(|e| format!("{MACHINE_LOCK}: {e}"))?;
    // SAFETY: flock on an fd this function owns; released when the file is closed.
    if unsafe { libc::flock(machine.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        waiting();
        // SAFETY: as above.
        if unsafe { libc::flock(machine.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "{MACHINE_LOCK}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(machine)
}

/// The `learner` binary: `$LEARNER_BIN`, or the one beside this test's target directory.
pub fn learner_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("LEARNER_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/learner
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .join("learner");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p learner`, or run `cargo xtask test`)",
        bin.display()
    );
    bin
}

/// A command's stdout and stderr together, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's `--format json` output (stdout: one line of JSON, nothing else), checked
/// against the schema shipped for it (learner/schema/COMMAND.schema.json).
pub fn json_output(command: &str, stdout: &[u8]) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(stdout);
    let value: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{command}'s stdout is not one JSON value ({e}): {stdout}"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../learner/schema")
        .join(format!("{command}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the schema"))
            .expect("a JSON schema");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = "file:///learner/schema.json";
    compiler.add_resource(url, schema).expect("a resource");
    let index = compiler
        .compile(url, &mut schemas)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(e) = schemas.validate(&value, index) {
        panic!("{command}'s JSON does not fit its schema: {e:#}\n{value:#}");
    }
    value
}

pub fn learner() -> Command {
    Command::new(learner_bin())
}

/// Runs `learner run -o DIR/out.profile.yaml -- args` with `env`, without cargo's
/// LD_LIBRARY_PATH (whose directories the loader would probe, adding paths under /root the
/// command never asked for). Returns the exit code, stderr and the profile, if written.
pub fn record_run(
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, Option<learner::model::profile::Profile>) {
    let out = dir.join("out.profile.yaml");
    let _ = std::fs::remove_file(&out);
    let output = learner()
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().copied())
        .arg("run")
        .arg("-o")
        .arg(&out)
        .arg("--")
        .args(args)
        .output()
        .expect("run learner");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // An incomplete recording is kept as a partial file: the caller sees its exit code.
    let partial = learner::model::profile::partial_path(&out);
    let profile = [&out, &partial]
        .into_iter()
        .find(|p| p.exists())
        .map(|p| learner::model::profile::Profile::load(p).expect("valid profile"));
    (output.status.code().unwrap_or(-1), stderr, profile)
}

/// Runs `learner generate PROFILE -o DROPIN ARGS...`, which must succeed, and returns the
/// drop-in it wrote.
pub fn generate_dropin(profile: &Path, dropin: &Path, args: &[&str]) -> String {
    let out = learner()
        .arg("generate")
        .arg(profile)
        .args(args)
        .arg("-o")
        .arg(dropin)
        .output()
        .expect("learner generate");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(dropin).expect("the drop-in")
}

/// How many of learner's programs named `name` are loaded now (by any learner process): one
/// per recorder that has got that far.
pub fn learner_programs_loaded(name: &str) -> usize {
    loaded_learner_programs()
        .iter()
        .filter(|n| name.starts_with(n.as_str()))
        .count()
}

/// Names of learner's BPF programs loaded right now.
fn loaded_learner_programs() -> Vec<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| p.name_as_str().map(str::to_owned))
        .filter(|name| name.starts_with(learner_common::program::PREFIX))
        .collect()
}

/// Removes learner cgroups that hold no process: what a killed run left behind (a session or a
/// machine torn down mid-test, whose cgroup2 hierarchy outlived it). Holding the machine's turn,
/// an empty one belongs to no live test here; a populated one is left for `assert_clean` to
/// report.
fn remove_stale_cgroups() {
    let Ok(root) = learner::systemd::cgroup::cgroup2_mount() else {
        return;
    };
    for path in
        learner::systemd::cgroup::remove_left_behind(&root, |name| name.starts_with("learner-"))
    {
        eprintln!(
            "removed {}: an empty learner cgroup a killed run left behind",
            path.display()
        );
    }
}

/// Checks that no learner BPF program is loaded and no learner cgroup is left.
pub fn assert_clean(when: &str) {
    assert_no_programs(when);
    let root = learner::systemd::cgroup::cgroup2_mount().expect("cgroup2 mounted");
    let left: Vec<String> = std::fs::read_dir(&root)
        .expect("read cgroup2 root")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("learner-"))
        .collect();
    assert!(
        left.is_empty(),
        "{when}: learner cgroups left in {}: {left:?}",
        root.display()
    );
}

/// Checks that no learner BPF program is loaded (while a test guest's cgroup may live on).
pub fn assert_no_programs(when: &str) {
    // The kernel frees a detached raw tracepoint program after an RCU grace period (about
    // 0.3 s here), so a program can outlive learner's exit briefly; one still held by an open
    // fd never goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut loaded = loaded_learner_programs();
    while !loaded.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        loaded = loaded_learner_programs();
    }
    assert!(
        loaded.is_empty(),
        "{when}: learner programs still loaded: {loaded:?}"
    );
}

/// A directory removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("learner-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // LEARNER_KEEP_TEST_DIRS: left for a look after a failure.
        if std::env::var_os("LEARNER_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed and reaped when dropped, so a failing test leaves nothing running.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Syscall names in an `strace -f -o FILE` trace: `PID name(args) = ret`, including calls
/// that were interrupted (`<unfinished ...>`) or resumed (`<... name resumed>`).
pub fn strace_syscalls(trace: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in trace.lines() {
        let rest = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let name = if let Some(resumed) = rest.strip_prefix("<... ") {
            resumed.split_whitespace().next()
        } else {
            rest.split_once('(').map(|(name, _)| name)
        };
        if let Some(name) = name
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            names.insert(name.to_owned());
        }
    }
    names
}

/// A process limited to a share of one CPU (a starved collector), until dropped: then its
/// cgroup is removed (whatever is still in it goes back to the parent).
pub struct Starved {
    dir: PathBuf,
}

impl Starved {
    /// Limits process `pid` and its threads to `percent`% of one CPU: through cgroup v1's
    /// cpu controller where it is mounted (hybrid hosts, as here), cgroup v2's cpu.max else.
    pub fn put(pid: u32, percent: u32) -> Starved {
        let name = format!("learner-starved-{}", std::process::id());
        let quota = (percent * 1000).to_string();
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let dir = if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(&name);
            std::fs::create_dir_all(&dir).expect("cpu cgroup");
            std::fs::write(dir.join("cpu.cfs_period_us"), "100000").expect("period");
            std::fs::write(dir.join("cpu.cfs_quota_us"), &quota).expect("quota");
            dir
        } else {
            let root = learner::systemd::cgroup::cgroup2_mount().expect("cgroup2");
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let dir = root.join(&name);
            std::fs::create_dir_all(&dir).expect("cpu cgroup");
            std::fs::write(dir.join("cpu.max"), format!("{quota} 100000"))
                .expect("cpu.max (the cpu controller must be available)");
            dir
        };
        let starved = Starved { dir };
        std::fs::write(starved.dir.join("cgroup.procs"), pid.to_string()).expect("starve");
        starved
    }
}

impl Drop for Starved {
    fn drop(&mut self) {
        let parent = self.dir.parent().expect("a parent").join("cgroup.procs");
        for _ in 0..50 {
            if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
                for pid in procs.split_whitespace() {
                    let _ = std::fs::write(&parent, pid);
                }
            }
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strace_output() {
        let trace = "\
123 execve(\"/bin/w\", [\"w\"], 0x7ffd /* 20 vars */) = 0
123 brk(NULL)                   = 0x5581
124 getsid(0 <unfinished ...>
123 wait4(124,  <unfinished ...>
124 <... getsid resumed>)       = 1
124 +++ exited with 0 +++
123 --- SIGCHLD {si_signo=SIGCHLD} ---
123 fchdir(-1)                  = -1 EBADF (Bad file descriptor)
";
        let names: Vec<_> = strace_syscalls(trace).into_iter().collect();
        assert_eq!(names, ["brk", "execve", "fchdir", "getsid", "wait4"]);
    }
}
