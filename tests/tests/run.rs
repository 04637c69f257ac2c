//! `learner run` against real eBPF on this kernel: every context of the workload is recorded,
//! nothing from outside its cgroup is, strace's view is covered, and nothing is left behind.
use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read as _},
    process::{Command, Stdio},
};

use learner::model::profile::Profile;
use learner_tests::{
    ChildGuard, TempDir, assert_clean, learner, markers, privileged, strace_syscalls,
};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");
const WORKLOAD_EXEC: &str = env!("CARGO_BIN_EXE_workload-exec");

fn syscall_set(profile: &Profile) -> BTreeSet<String> {
    profile.syscalls.keys().cloned().collect()
}

fn record(dir: &TempDir, env: &[(&str, &str)], args: &[&str]) -> (i32, String, Option<Profile>) {
    learner_tests::record_run(dir.path(), env, args)
}

fn assert_workload_contexts(profile: &Profile, how: &str) {
    let set = syscall_set(profile);
    for (name, _) in [
        markers::MAIN_THREAD,
        markers::SECOND_THREAD,
        markers::FORKED_CHILD,
        markers::AFTER_EXEC,
        markers::FAILING,
    ] {
        assert!(set.contains(name), "{how}: {name} missing from {set:?}");
    }
    for name in ["execve", "wait4", "exit_group"] {
        assert!(set.contains(name), "{how}: {name} missing from {set:?}");
    }
    assert!(
        set.contains("clone3") || set.contains("clone"),
        "{how}: no clone/clone3 in {set:?}"
    );
    for name in markers::NEVER
        .iter()
        .chain([&markers::OUTSIDER.0, &markers::SUB_CGROUP.0])
    {
        assert!(
            !set.contains(*name),
            "{how}: {name} was never made, yet recorded"
        );
    }
}

#[test]
fn records_every_context_with_each_probe() {
    let Some(_kernel) = privileged("records_every_context_with_each_probe") else {
        return;
    };
    let dir = TempDir::new("contexts");
    for probe in ["subtree", "exact"] {
        let (code, stderr, profile) =
            record(&dir, &[("LEARNER_SYSCALL_PROBE", probe)], &[WORKLOAD]);
        assert_eq!(code, 0, "{probe}: {stderr}");
        let profile = profile.expect("profile written");
        assert_workload_contexts(&profile, probe);
        assert!(
            profile
                .recording
                .syscall_source
                .contains("raw_tracepoint/sys_enter")
        );
        assert_eq!(profile.recording.exit_code, Some(0));
        assert_eq!(profile.recording.lost_events, 0);
        assert_eq!(profile.provenance.arch, std::env::consts::ARCH);
        assert_eq!(
            profile.provenance.command.as_deref(),
            Some(&[WORKLOAD.to_owned()][..])
        );
        // Counts are real: the workload made its markers once each.
        assert_eq!(profile.syscalls[markers::MAIN_THREAD.0], 1, "{probe}");
        assert_eq!(profile.syscalls[markers::AFTER_EXEC.0], 1, "{probe}");
        assert!(stderr.contains("0 lost events"), "{stderr}");
        // The observation programs match cgroups as the probe does (the exact probe's are
        // loaded without the ancestor helper, which Linux 5.10 lacks): they see too.
        assert!(
            profile
                .recording
                .observation_source
                .starts_with("syscalls/sys_enter_*"),
            "{probe}: {:?}",
            profile.recording
        );
        let processes = &profile.observations.processes;
        assert!(
            processes.execs.keys().any(|p| p.ends_with("/workload")),
            "{probe}: the workload's exec is not observed: {processes:?}"
        );
        assert!(!processes.forks.is_empty(), "{probe}: {processes:?}");
        assert!(!profile.observations.paths.is_empty(), "{probe}");
        assert_clean(probe);
    }
}

#[test]
fn follows_child_cgroups_with_each_probe() {
    let Some(_kernel) = privileged("follows_child_cgroups_with_each_probe") else {
        return;
    };
    let dir = TempDir::new("subcgroup");
    for probe in ["subtree", "exact"] {
        let (code, stderr, profile) = record(
            &dir,
            &[("LEARNER_SYSCALL_PROBE", probe)],
            &[WORKLOAD, "subcgroup"],
        );
        assert_eq!(code, 0, "{probe}: {stderr}");
        let set = syscall_set(profile.as_ref().expect("profile"));
        assert!(
            set.contains(markers::SUB_CGROUP.0),
            "{probe}: the call made in a child cgroup is missing from {set:?}"
        );
        // Its only process exits there: observed, not just counted.
        let profile = profile.expect("profile");
        assert!(
            !profile.observations.processes.exits.is_empty(),
            "{probe}: the exit made in a child cgroup is not observed"
        );
        assert_clean(probe);
    }
}

#[test]
fn covers_everything_strace_sees() {
    let Some(_kernel) = privileged("covers_everything_strace_sees") else {
        return;
    };
    let dir = TempDir::new("strace");
    let trace = dir.join("trace.txt");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(WORKLOAD)
        .status()
        .expect("strace is installed (cargo xtask setup installs it)");
    assert!(status.success(), "workload under strace: {status}");
    let seen_by_strace = strace_syscalls(&std::fs::read_to_string(&trace).expect("trace"));
    assert!(
        seen_by_strace.contains("execve") && seen_by_strace.len() > 20,
        "{seen_by_strace:?}"
    );

    let (code, stderr, profile) = record(&dir, &[], &[WORKLOAD]);
    assert_eq!(code, 0, "{stderr}");
    let recorded = syscall_set(&profile.expect("profile"));
    let missing: Vec<_> = seen_by_strace.difference(&recorded).collect();
    let extra: Vec<_> = recorded.difference(&seen_by_strace).collect();
    eprintln!(
        "strace saw {} syscalls, learner {}",
        seen_by_strace.len(),
        recorded.len()
    );
    eprintln!("only strace: {missing:?}");
    eprintln!("only learner (its fork-to-exec set-up and timing): {extra:?}");
    assert!(
        missing.is_empty(),
        "learner missed what strace saw: {missing:?}"
    );
}

#[test]
fn ignores_processes_outside_the_cgroup() {
    let Some(_kernel) = privileged("ignores_processes_outside_the_cgroup") else {
        return;
    };
    let dir = TempDir::new("isolation");
    let outsider = Command::new(WORKLOAD)
        .args(["outsider", "1500"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("outsider");
    let mut outsider = ChildGuard(outsider);
    let (code, stderr, profile) = record(&dir, &[], &[WORKLOAD, "--sleep-ms", "500"]);
    let out = outsider.0.wait_with_output_guarded();
    assert_eq!(code, 0, "{stderr}");
    let calls: u64 = String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .expect("outsider count");
    assert!(
        calls > 1000,
        "the outsider made only {calls} calls: the test proves nothing"
    );
    let set = syscall_set(&profile.expect("profile"));
    assert!(
        !set.contains(markers::OUTSIDER.0),
        "an outside process was recorded: {set:?}"
    );
    assert!(set.contains(markers::AFTER_EXEC.0), "{set:?}");
    assert_clean("isolation");
}

/// systemd's forked executor runs in the unit's cgroup, named `(name)`, until it execs the
/// service: its calls are not the service's, and the service's after the exec all are.
#[test]
fn skips_the_executor_until_it_execs() {
    let Some(_kernel) = privileged("skips_the_executor_until_it_execs") else {
        return;
    };
    let dir = TempDir::new("executor");
    let (code, stderr, profile) = record(&dir, &[], &[WORKLOAD, "executor", WORKLOAD_EXEC]);
    assert_eq!(code, 0, "{stderr}");
    let set = syscall_set(&profile.expect("profile"));
    assert!(
        !set.contains(markers::EXECUTOR.0),
        "the executor's calls were recorded: {set:?}"
    );
    assert!(set.contains(markers::AFTER_EXEC.0), "{set:?}");
    assert_clean("executor");
}

/// `wait_with_output` for a child held in a guard.
trait WaitGuarded {
    fn wait_with_output_guarded(&mut self) -> Vec<u8>;
}

impl WaitGuarded for std::process::Child {
    fn wait_with_output_guarded(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Some(mut out) = self.stdout.take() {
            std::io::Read::read_to_end(&mut out, &mut buf).expect("read stdout");
        }
        self.wait().expect("wait");
        buf
    }
}

#[test]
fn interrupt_still_writes_the_profile() {
    let Some(_kernel) = privileged("interrupt_still_writes_the_profile") else {
        return;
    };
    let dir = TempDir::new("interrupt");
    let out = dir.join("w.profile.yaml");
    let mut cmd = learner();
    cmd.arg("run")
        .arg("-o")
        .arg(&out)
        .args(["--", WORKLOAD, "--sleep-ms", "30000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A shell without job control starts background jobs with SIGINT ignored, and ignored
    // stays ignored across exec: learner and the command would never see it. This test is
    // about a Ctrl-C-able learner, so it gets the default disposition.
    // SAFETY: signal(2) between fork and exec is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("learner");
    let mut child = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("workload output");
    assert_eq!(line.trim(), "sleeping");
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.pid(), libc::SIGINT) };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.0.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGINT),
        "learner exits as the command did"
    );
    assert!(
        !stderr.contains("killing"),
        "one signal is passed on: {stderr}"
    );
    let profile = Profile::load(&out).expect("profile written after Ctrl-C");
    assert_eq!(profile.recording.exit_code, Some(128 + libc::SIGINT));
    let set = syscall_set(&profile);
    assert!(
        set.contains(markers::MAIN_THREAD.0),
        "made before the signal: {set:?}"
    );
    assert!(
        !set.contains(markers::AFTER_EXEC.0),
        "never reached: {set:?}"
    );
    assert_clean("interrupt");
}

#[test]
fn a_third_signal_kills_a_command_that_ignores_them() {
    let Some(_kernel) = privileged("a_third_signal_kills_a_command_that_ignores_them") else {
        return;
    };
    let dir = TempDir::new("third-signal");
    let child = learner()
        .arg("run")
        .arg("-o")
        .arg(dir.join("w.profile.yaml"))
        .args(["--", "sh", "-c", "trap '' TERM; echo ready; sleep 60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("learner");
    let mut child = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("command output");
    assert_eq!(line.trim(), "ready");
    let started = std::time::Instant::now();
    for _ in 0..3 {
        // SAFETY: signals our own child.
        unsafe { libc::kill(child.pid(), libc::SIGTERM) };
        // Apart, so the kernel does not merge them into one pending signal.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    child.0.wait().expect("wait");
    assert!(
        started.elapsed().as_secs() < 30,
        "the command was not killed"
    );
    assert!(
        stderr.contains(
            "learner: signal 3 while the command ignores them: killing it and everything in its cgroup"
        ),
        "{stderr}"
    );
    assert!(
        dir.join("w.profile.yaml").exists(),
        "the profile is written all the same: {stderr}"
    );
    assert_clean("third signal");
}

#[test]
fn for_stops_the_command_and_shows_progress_off_a_terminal() {
    let Some(_kernel) = privileged("for_stops_the_command_and_shows_progress_off_a_terminal")
    else {
        return;
    };
    let dir = TempDir::new("run-for");
    let out = dir.join("for.profile.yaml");
    let run_for = |args: &[&str]| {
        let _ = std::fs::remove_file(&out);
        let o = learner()
            .arg("run")
            .arg("-o")
            .arg(&out)
            .args(args)
            .output()
            .expect("learner run");
        let profile = out
            .exists()
            .then(|| Profile::load(&out).expect("valid profile"));
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            profile,
        )
    };
    // Past one 30 s period: stderr is a pipe here, so one plain progress line.
    let started = std::time::Instant::now();
    let (code, stderr, profile) = run_for(&["--for", "31s", "--", "sleep", "600"]);
    assert!(started.elapsed().as_secs() < 50, "not stopped: {stderr}");
    assert_eq!(code, 128 + libc::SIGTERM, "{stderr}");
    assert!(
        stderr.contains("learner: --for 31s elapsed: stopping the command (SIGTERM)"),
        "{stderr}"
    );
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("learner: recording sleep: 00:3"))
        .collect();
    assert_eq!(progress.len(), 1, "{stderr}");
    assert!(
        progress[0].contains(" left, ") && progress[0].ends_with(", 1 process, 0 lost"),
        "{stderr}"
    );
    assert_eq!(profile.expect("profile").recording.exit_code, Some(143));

    // A command that ignores the SIGTERM is killed after the grace; --quiet: no progress.
    let (code, stderr, profile) = run_for(&[
        "--for",
        "1s",
        "--quiet",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 600",
    ]);
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    assert!(
        stderr.contains("did not exit within 10s of its SIGTERM: killing everything in its cgroup"),
        "{stderr}"
    );
    assert!(!stderr.contains("elapsed,"), "{stderr}");
    assert!(profile.is_some(), "{stderr}");
    assert_clean("run --for");
}

#[test]
fn exits_with_the_commands_code_and_kills_leftovers() {
    let Some(_kernel) = privileged("exits_with_the_commands_code_and_kills_leftovers") else {
        return;
    };
    let dir = TempDir::new("exit");
    let (code, stderr, profile) = record(&dir, &[], &[WORKLOAD, "--exit", "7"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(!stderr.contains("left behind"), "nothing left: {stderr}");
    assert_eq!(profile.expect("profile").recording.exit_code, Some(7));
    // The same as JSON, on stdout only, as its schema says.
    let out = learner()
        .args(["run", "--format", "json", "-o"])
        .arg(dir.path().join("json.profile.yaml"))
        .args(["--", WORKLOAD, "--exit", "7"])
        .output()
        .expect("learner run");
    assert_eq!(out.status.code(), Some(7));
    let json = learner_tests::json_output("run", &out.stdout);
    assert_eq!(json["exit_code"], 7, "{json}");
    assert_eq!(json["lost_events"], 0, "{json}");
    assert!(json["syscalls"].as_u64() > Some(10), "{json}");

    let started = std::time::Instant::now();
    let (code, stderr, profile) = record(&dir, &[], &["sh", "-c", "sleep 60 & exit 0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        started.elapsed().as_secs() < 30,
        "learner waited for the leftover sleep"
    );
    let profile = profile.expect("profile");
    assert_eq!(profile.recording.leftover_processes_killed, 1, "{stderr}");
    assert!(
        stderr.contains("learner: killed 1 process(es) the command left behind in its cgroup"),
        "{stderr}"
    );
    assert_clean("leftovers");
}

#[test]
fn clear_errors_and_nothing_left_behind() {
    let Some(_kernel) = privileged("clear_errors_and_nothing_left_behind") else {
        return;
    };
    let dir = TempDir::new("errors");
    let one_line = |stderr: &str, needle: &str| {
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
        assert!(
            stderr.starts_with("learner: ") && stderr.contains(needle),
            "{stderr:?}"
        );
    };

    let (code, stderr, profile) = record(&dir, &[], &["no-such-command-for-learner"]);
    assert_eq!(code, 127);
    one_line(&stderr, "command not found");
    assert!(profile.is_none(), "no profile for a command that never ran");

    let plain = dir.join("plain");
    std::fs::write(&plain, "data").expect("write");
    let (code, stderr, _) = record(&dir, &[], &[plain.to_str().expect("utf-8")]);
    assert_eq!(code, 126);
    one_line(&stderr, "permission denied");

    let out = learner()
        .args(["run", "-o", "/nonexistent-dir/x.yaml", "--", "true"])
        .output()
        .expect("learner");
    assert_eq!(out.status.code(), Some(125));
    one_line(
        &String::from_utf8_lossy(&out.stderr),
        "/nonexistent-dir/x.yaml",
    );

    let (code, stderr, _) = record(&dir, &[("LEARNER_SYSCALL_PROBE", "bogus")], &["true"]);
    assert_eq!(code, 125);
    one_line(&stderr, "bogus");

    // Not root: the same binary as the nobody user.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(learner_tests::learner_bin())
        .args(["run", "-o", "/tmp/never.yaml", "--", "true"])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(125));
    one_line(&String::from_utf8_lossy(&out.stderr), "root");

    // No cgroup2: hide every cgroup2 mount in a private mount namespace.
    let script = format!(
        "awk '$3==\"cgroup2\" {{print $2}}' /proc/self/mounts | while read m; do umount -l \"$m\"; done; exec {} run -o {} -- true",
        learner_tests::learner_bin().display(),
        dir.join("x.yaml").display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux)");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    one_line(&String::from_utf8_lossy(&out.stderr), "cgroup2");
    assert_clean("errors");
}

/// A `learner run` killed with SIGKILL leaves its empty cgroup behind; the next run removes
/// it (and leaves a live run's alone).
#[test]
fn a_killed_runs_empty_cgroup_is_removed_by_the_next_run() {
    let Some(_kernel) = privileged("a_killed_runs_empty_cgroup_is_removed_by_the_next_run") else {
        return;
    };
    let root = learner::systemd::cgroup::cgroup2_mount().expect("cgroup2");
    // No process has this id: pid_max is at most 2^22.
    let abandoned = root.join("learner-run-4194305");
    std::fs::create_dir(&abandoned).expect("an abandoned run's cgroup");
    let dir = TempDir::new("abandoned");
    let (code, stderr, _) = learner_tests::record_run(dir.path(), &[], &["true"]);
    let left = abandoned.exists();
    let _ = std::fs::remove_dir(&abandoned);
    assert_eq!(code, 0, "{stderr}");
    assert!(!left, "{} is still there", abandoned.display());
    assert_clean("abandoned");
}

/// `LEARNER_PROGRAM_STATS`, the bench's per-program figures: every syscall of the command
/// ran the syscall probe, the kernel timed the runs, and its statistics are as they were
/// once learner has exited.
#[test]
fn program_stats_count_the_recordings_syscalls() {
    let Some(_kernel) = privileged("program_stats_count_the_recordings_syscalls") else {
        return;
    };
    let dir = TempDir::new("progstats");
    let stats = dir.join("stats.json");
    let switch = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(switch).expect("bpf_stats_enabled");
    let (code, stderr, _) = record(
        &dir,
        &[("LEARNER_PROGRAM_STATS", stats.to_str().expect("utf-8"))],
        &[WORKLOAD, "syscalls", "20000"],
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&stats).expect("statistics written");
    let stats: Vec<learner::recording::recorder::ProgramStats> =
        serde_json::from_str(&text).expect("statistics as JSON");
    let probe = stats
        .iter()
        .find(|s| s.program == learner_common::program::SYS_ENTER_SUBTREE)
        .unwrap_or_else(|| panic!("no syscall probe in {text}"));
    assert!(probe.runs >= 20_000, "{text}");
    assert!(probe.run_time_ns > 0, "{text}");
    assert!(
        stats
            .iter()
            .any(|s| s.program == learner_common::program::EXIT),
        "the observation programs are listed too: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(switch).expect("bpf_stats_enabled"),
        before,
        "the kernel's statistics are left as they were"
    );
    assert_clean("progstats");
}

#[test]
fn each_stretch_of_a_threads_credentials_sends_its_own_accounting_check() {
    let Some(_kernel) =
        privileged("each_stretch_of_a_threads_credentials_sends_its_own_accounting_check")
    else {
        return;
    };
    let dir = TempDir::new("stretches");
    let debug = dir.join("capabilities.log");
    let (code, stderr, _) = record(
        &dir,
        &[("LEARNER_DEBUG_CAPABILITIES", debug.to_str().expect("utf-8"))],
        &[WORKLOAD, "stretches"],
    );
    assert_eq!(code, 0, "{stderr}");
    let log = std::fs::read_to_string(&debug).unwrap_or_default();
    // Lines: learner's pid, tgid, thread, comm, credentials, uid=, own=, capability, syscall.
    let mmaps: Vec<Vec<&str>> = log
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f.len() > 8 && f[3] == "workload" && f[7] == "CAP_SYS_ADMIN" && f[8] == "mmap")
        .collect();
    if mmaps.is_empty() && !log.contains("CAP_") {
        eprintln!("skipped: no capability source on this kernel (nothing in the debug log)");
        assert_clean("stretches");
        return;
    }
    // The same credentials' address both sides of the switch (the kernel made none anew): the
    // accounting check came twice, once per stretch, where deduplication alone sends it once.
    let addresses: BTreeSet<&str> = mmaps.iter().map(|f| f[4]).collect();
    assert!(
        mmaps.len() >= 2 && addresses.len() < mmaps.len(),
        "one CAP_SYS_ADMIN mmap check per stretch at one address expected:\n{log}"
    );
    assert_clean("stretches");
}
