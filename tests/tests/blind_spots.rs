//! What a recording must not miss, on a real systemd (a disposable guest): a process the
//! service moved out of its cgroup (as pam_systemd moves each sshd login), a restart whose
//! stop outlasts `--for`, learner itself inside a cgroup namespace (a container), and a
//! recording that saw nothing, which must be an error and never a profile; and another unit
//! running as the unit's user, which RemoveIPC= would rob; and a job service seen running
//! root's jobs only, which still runs its users' programs.
use std::{path::Path, process::Output, time::Duration};

use learner::model::{observations::Access, profile::Profile};
use learner_tests::{TempDir, assert_clean, guest::Guest, learner, markers, privileged, text};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");
const WORKLOAD_EXEC: &str = env!("CARGO_BIN_EXE_workload-exec");

/// Copies the workload (and the program it execs, which it finds beside itself) into the
/// guest's own file system (a clean clone may build under /tmp, which is the guest's own
/// tmpfs) and returns its path there.
fn install_workload(guest: &Guest, name: &str) -> String {
    let dir = format!("/usr/local/lib/{name}");
    std::fs::create_dir_all(format!("/proc/{}/root{dir}", guest.pid)).expect("workload dir");
    for (from, to) in [(WORKLOAD, "workload"), (WORKLOAD_EXEC, "workload-exec")] {
        std::fs::copy(from, format!("/proc/{}/root{dir}/{to}", guest.pid))
            .expect("copy the workload into the guest");
    }
    format!("{dir}/workload")
}

fn install_unit(guest: &Guest, unit: &str, body: &str) {
    let path = format!("/proc/{}/root/etc/systemd/system/{unit}", guest.pid);
    std::fs::write(&path, body).expect("write the unit");
    let out = guest.run(&["systemctl", "daemon-reload"]);
    assert!(out.status.success(), "{}", text(&out));
}

fn record(guest: &Guest, args: &[&str], profile: &Path) -> Output {
    learner()
        .arg("record")
        .args(args)
        .args(["--guest", &guest.pid.to_string(), "-o"])
        .arg(profile)
        .output()
        .expect("learner record")
}

fn syscall_names(p: &Profile) -> Vec<&str> {
    p.syscalls.keys().map(String::as_str).collect()
}

#[test]
fn follows_a_process_moved_out_of_the_units_cgroup() {
    let Some(_kernel) = privileged("follows_a_process_moved_out_of_the_units_cgroup") else {
        return;
    };
    let dir = TempDir::new("blind-moved");
    let guest = Guest::boot("moved");
    let program = install_workload(&guest, "learner-moved-workload");
    // Like sshd with pam_systemd: the service's child ends up in a scope of its own, outside
    // the unit's cgroup, still under the unit's sandbox.
    let unit = "learner-moved.service";
    install_unit(
        &guest,
        unit,
        &format!(
            "[Unit]\nDescription=learner moved-child test\n[Service]\nExecStartPre=/bin/mkdir -p /var/lib/learner-moved\nExecStart=/bin/sh -c 'systemd-run --scope --quiet {program} needs /var/lib/learner-moved & systemd-run --scope --quiet {program} needs-leaderless /var/lib/learner-moved & exec sleep infinity'\n"
        ),
    );
    let start = guest.run(&["systemctl", "start", unit]);
    assert!(start.status.success(), "{}", text(&start));

    let profile = dir.join("moved.profile.yaml");
    let out = record(&guest, &[unit, "--restart", "--for", "4s"], &profile);
    assert!(out.status.success(), "{}", text(&out));
    let p = Profile::load(&profile).expect("profile");
    // All three needs come from the moved child alone: sh, sleep and systemd-run have none.
    assert!(
        p.syscalls.contains_key(markers::MAIN_THREAD.0),
        "the moved child's marker is missing: {:?}",
        syscall_names(&p)
    );
    assert!(
        p.observations
            .paths
            .contains_key("/var/lib/learner-moved/x"),
        "the moved child's file is missing: {:?}",
        p.observations.paths.keys().collect::<Vec<_>>()
    );
    assert!(
        p.observations.capabilities.contains_key("CAP_CHOWN"),
        "the moved child's capability is missing: {:?}",
        p.observations.capabilities.keys().collect::<Vec<_>>()
    );
    // The second moved child's main thread exits at once; its other thread works on.
    assert!(
        p.syscalls.contains_key(markers::SECOND_THREAD.0)
            && p.observations
                .paths
                .contains_key("/var/lib/learner-moved/t"),
        "what the thread of a moved process whose main thread exited did is missing: {:?}",
        syscall_names(&p)
    );
    assert!(
        p.recording
            .followed_processes
            .keys()
            .any(|k| k.contains(".scope")),
        "the move is not reported: {:?}",
        p.recording.followed_processes
    );

    // The drop-in from that recording lets the child work in its scope.
    let dropin = dir.join("moved.conf");
    let generated = learner_tests::generate_dropin(&profile, &dropin, &[]);
    assert!(
        generated.contains("SystemCallFilter=") && generated.contains("CAP_CHOWN"),
        "{generated}"
    );
    // The children started before the drop-in live on in their scopes: only new ones count.
    let stop = guest.run(&[
        "sh",
        "-c",
        "systemctl stop 'run-*.scope'; rm -f /var/lib/learner-moved/ok",
    ]);
    assert!(stop.status.success(), "{}", text(&stop));
    let applied = learner()
        .args(["apply", unit])
        .arg(&dropin)
        .args(["--guest", &guest.pid.to_string(), "--check"])
        .arg(format!(
            "{} sh -c 'rm -f /var/lib/learner-moved/ok; sleep 2; test -f /var/lib/learner-moved/ok'",
            guest.nsenter()
        ))
        .output()
        .expect("apply");
    assert!(applied.status.success(), "{}\n{generated}", text(&applied));

    drop(guest);
    assert_clean("blind-moved");
}

/// As varnishd's manager and its cache child: a directory opened (O_RDONLY, no O_DIRECTORY)
/// at start and held, through which, as they stop, the manager removes its index and each
/// writes a file, then closes it and exits.
const HELD_FD_SERVICE: &str = r#"import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
os.makedirs("/var/lib/learner-fds", exist_ok=True)
d = os.open("/var/lib/learner-fds", os.O_RDONLY)
os.close(os.open("index", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=d))
who = "manager" if os.fork() else "child"
signal.sigwait({signal.SIGTERM})
if who == "manager":
    os.unlink("index", dir_fd=d)
os.close(os.open(who + "-stopped", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=d))
os.close(d)
"#;

#[test]
fn fds_a_running_service_opened_before_the_recording_resolve_as_it_stops() {
    let Some(_kernel) =
        privileged("fds_a_running_service_opened_before_the_recording_resolve_as_it_stops")
    else {
        return;
    };
    let dir = TempDir::new("blind-fds");
    let guest = Guest::boot("fds");
    let script = "/usr/local/lib/learner-fds.py";
    std::fs::write(format!("/proc/{}/root{script}", guest.pid), HELD_FD_SERVICE)
        .expect("write the service's program");
    let unit = "learner-fds.service";
    install_unit(
        &guest,
        unit,
        &format!(
            "[Unit]\nDescription=learner held-fd test\n[Service]\nExecStart=/usr/bin/python3 {script}\n"
        ),
    );
    let start = guest.run(&["systemctl", "start", unit]);
    assert!(start.status.success(), "{}", text(&start));
    let ready = guest.sh("for i in $(seq 50); do test -e /var/lib/learner-fds/index && break; sleep 0.1; done; ls /var/lib/learner-fds");
    assert!(
        ready.contains("index"),
        "the service did not start: {ready}"
    );

    // --restart stops the instance found running: its calls through the fds it opened before
    // the recording come as it exits, when /proc no longer has them.
    let profile = dir.join("fds.profile.yaml");
    let out = record(&guest, &[unit, "--restart", "--for", "2s"], &profile);
    assert!(out.status.success(), "{}", text(&out));
    let p = Profile::load(&profile).expect("profile");
    assert!(p.recording.missed.is_empty(), "{:?}", p.recording.missed);
    let seen = |path: &str, access: Access| {
        p.observations
            .paths
            .get(path)
            .is_some_and(|a| a.contains_key(&access))
    };
    for (path, access) in [
        ("/var/lib/learner-fds/index", Access::Delete),
        ("/var/lib/learner-fds/manager-stopped", Access::Create),
        ("/var/lib/learner-fds/child-stopped", Access::Create),
    ] {
        assert!(
            seen(path, access),
            "{path}: no {access:?}; paths: {:?}",
            p.observations.paths
        );
    }
    drop(guest);
    assert_clean("blind-fds");
}

#[test]
fn waits_for_a_slow_stop_and_refuses_a_recording_that_saw_nothing() {
    let Some(_kernel) =
        privileged("waits_for_a_slow_stop_and_refuses_a_recording_that_saw_nothing")
    else {
        return;
    };
    let dir = TempDir::new("blind-slow");
    let guest = Guest::boot("slow");
    let program = install_workload(&guest, "learner-slow-workload");
    // Its stop takes longer than the whole --for: a recording that counted from the restart
    // would end while the old instance is still deactivating.
    let unit = "learner-slow.service";
    install_unit(
        &guest,
        unit,
        &format!(
            "[Unit]\nDescription=learner slow-stop test\n[Service]\nExecStartPre=/bin/mkdir -p /var/lib/learner-slow\nExecStart={program} needs /var/lib/learner-slow\nExecStop=/bin/sleep 6\nTimeoutStopSec=30\n"
        ),
    );
    let start = guest.run(&["systemctl", "start", unit]);
    assert!(start.status.success(), "{}", text(&start));
    let profile = dir.join("slow.profile.yaml");
    let began = std::time::Instant::now();
    let out = record(&guest, &[unit, "--restart", "--for", "2s"], &profile);
    let took = began.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        took >= Duration::from_secs(8),
        "--for must count from the new instance's start, not from the restart: {took:?}\n{}",
        text(&out)
    );
    let p = Profile::load(&profile).expect("profile");
    assert_eq!(p.recording.startup_seen, Some(true));
    assert_eq!(p.recording.main_process_seen, Some(true), "{}", text(&out));
    assert!(
        p.observations
            .processes
            .execs
            .keys()
            .any(|e| e.ends_with("/sleep")),
        "the slow ExecStop is part of the recording: {:?}",
        p.observations.processes.execs
    );
    assert!(
        p.observations
            .processes
            .execs
            .contains_key(program.as_str()),
        "the new instance's start-up is missing: {:?}",
        p.observations.processes.execs
    );
    assert!(p.syscalls.contains_key(markers::MAIN_THREAD.0));

    // A unit that does nothing while recorded leaves no syscall: an error, never a profile.
    let idle = "learner-idle.service";
    install_unit(
        &guest,
        idle,
        "[Unit]\nDescription=learner idle test\n[Service]\nExecStart=/bin/sleep infinity\n",
    );
    let start = guest.run(&["systemctl", "start", idle]);
    assert!(start.status.success(), "{}", text(&start));
    std::thread::sleep(Duration::from_millis(500));
    let empty = dir.join("idle.profile.yaml");
    let out = record(&guest, &[idle, "--for", "2s"], &empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !empty.exists(),
        "a recording that saw nothing wrote the profile"
    );
    let partial = dir.join("idle.profile.partial.yaml");
    assert!(partial.exists(), "the partial data is not kept: {stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("warning:")).collect();
    assert_eq!(error_lines.len(), 1, "one line: {stderr}");
    assert!(
        error_lines[0].contains("not one syscall") && error_lines[0].contains("partial"),
        "{stderr}"
    );
    let out = learner()
        .arg("generate")
        .arg(&partial)
        .output()
        .expect("generate");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        out.stdout.is_empty(),
        "no drop-in from nothing: {}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out)
    );

    drop(guest);
    assert_clean("blind-slow");
}

#[test]
fn records_the_same_from_inside_a_cgroup_namespace() {
    let Some(_kernel) = privileged("records_the_same_from_inside_a_cgroup_namespace") else {
        return;
    };
    let dir = TempDir::new("blind-inside");
    let guest = Guest::boot("inside");
    let program = install_workload(&guest, "learner-inside-workload");
    let inner = "/usr/local/bin/learner-inside";
    std::fs::copy(
        learner_tests::learner_bin(),
        format!("/proc/{}/root{inner}", guest.pid),
    )
    .expect("copy learner into the guest");
    let guest_file = |path: &str| format!("/proc/{}/root{path}", guest.pid);

    // learner run: the deterministic workload, from the host and from inside.
    let (code, stderr, host) = learner_tests::record_run(dir.path(), &[], &[WORKLOAD]);
    assert_eq!(code, 0, "{stderr}");
    let host = host.expect("host profile");
    let out = guest.run(&[
        "env",
        "-u",
        "LD_LIBRARY_PATH",
        inner,
        "run",
        "-o",
        "/root/inside.profile.yaml",
        "--",
        &program,
    ]);
    assert!(out.status.success(), "learner run inside: {}", text(&out));
    let inside =
        Profile::load(Path::new(&guest_file("/root/inside.profile.yaml"))).expect("inside profile");
    assert_eq!(
        syscall_names(&inside),
        syscall_names(&host),
        "learner run inside the guest's cgroup namespace"
    );
    // The measured level, not the exact-id fallback, which would miss a child cgroup's
    // first calls.
    assert!(
        inside.recording.syscall_source.contains("subtree"),
        "{}",
        inside.recording.syscall_source
    );

    // learner record of a unit: from the host (--guest) and from inside.
    let unit = "learner-inside.service";
    install_unit(
        &guest,
        unit,
        &format!(
            "[Unit]\nDescription=learner inside test\n[Service]\nExecStartPre=/bin/mkdir -p /var/lib/learner-inside\nExecStart={program} needs /var/lib/learner-inside\n"
        ),
    );
    let start = guest.run(&["systemctl", "start", unit]);
    assert!(start.status.success(), "{}", text(&start));
    let from_host = dir.join("host.profile.yaml");
    let out = record(&guest, &[unit, "--for", "3s"], &from_host);
    assert!(out.status.success(), "{}", text(&out));
    let from_host = Profile::load(&from_host).expect("profile");
    let out = guest.run(&[
        inner,
        "record",
        unit,
        "--for",
        "3s",
        "-o",
        "/root/record.profile.yaml",
    ]);
    assert!(
        out.status.success(),
        "learner record inside: {}",
        text(&out)
    );
    let from_inside =
        Profile::load(Path::new(&guest_file("/root/record.profile.yaml"))).expect("inside profile");
    assert!(
        from_inside.syscalls.contains_key(markers::MAIN_THREAD.0),
        "{:?}",
        syscall_names(&from_inside)
    );
    assert_eq!(
        syscall_names(&from_inside),
        syscall_names(&from_host),
        "learner record inside the guest's cgroup namespace"
    );

    drop(guest);
    assert_clean("blind-inside");
}

#[test]
fn a_user_another_unit_runs_as_keeps_its_ipc() {
    let Some(_kernel) = privileged("a_user_another_unit_runs_as_keeps_its_ipc") else {
        return;
    };
    let dir = TempDir::new("blind-shared-user");
    let guest = Guest::boot("shareduser");
    // As pgbouncer runs as postgres beside PostgreSQL: RemoveIPC=yes on one would remove the
    // other's shared memory at its stop.
    for unit in ["learner-owner.service", "learner-sharer.service"] {
        install_unit(
            &guest,
            unit,
            "[Unit]\nDescription=learner shared-user test\n[Service]\nUser=daemon\nExecStart=/bin/sh -c 'while :; do sleep 0.2; done'\n",
        );
        let start = guest.run(&["systemctl", "start", unit]);
        assert!(start.status.success(), "{}", text(&start));
    }
    let shared = dir.join("shared.profile.yaml");
    let out = record(&guest, &["learner-sharer.service", "--for", "2s"], &shared);
    assert!(out.status.success(), "{}", text(&out));
    let p = Profile::load(&shared).expect("profile");
    let unit = p.unit.as_ref().expect("the unit's settings");
    assert_eq!(unit.user_shared_with, ["learner-owner.service"]);
    let generated =
        learner_tests::generate_dropin(&shared, &dir.join("shared.conf"), &["--explain"]);
    assert!(
        !generated.lines().any(|l| l == "RemoveIPC=yes")
            && generated.contains(
                "# RemoveIPC: not yes: its user daemon (or its group) also ran processes of learner-owner.service"
            ),
        "{generated}"
    );

    // Alone with its user, it gets RemoveIPC=yes.
    let stop = guest.run(&["systemctl", "stop", "learner-owner.service"]);
    assert!(stop.status.success(), "{}", text(&stop));
    let alone = dir.join("alone.profile.yaml");
    let out = record(&guest, &["learner-sharer.service", "--for", "2s"], &alone);
    assert!(out.status.success(), "{}", text(&out));
    let p = Profile::load(&alone).expect("profile");
    assert!(
        p.unit
            .as_ref()
            .expect("settings")
            .user_shared_with
            .is_empty()
    );
    let generated = learner_tests::generate_dropin(&alone, &dir.join("alone.conf"), &[]);
    assert!(
        generated.lines().any(|l| l == "RemoveIPC=yes"),
        "{generated}"
    );

    drop(guest);
    assert_clean("blind-shared-user");
}

#[test]
fn a_job_service_running_roots_jobs_only_still_runs_its_users_programs() {
    let Some(_kernel) =
        privileged("a_job_service_running_roots_jobs_only_still_runs_its_users_programs")
    else {
        return;
    };
    let dir = TempDir::new("blind-root-jobs");
    let guest = Guest::boot("rootjobs");
    // A host whose queue holds root's jobs only, as most cron and at queues do: no switch to a
    // user is seen, yet every user's later job would run in the unit's sandbox.
    let out = "/var/lib/learner-at.out";
    guest.sh(&format!(
        "systemctl stop atd.service; rm -f {out}; echo 'id -u > {out}' | at now 2>&1"
    ));
    let profile = dir.join("atd.profile.yaml");
    // atd runs what is due as it starts.
    let rec = record(
        &guest,
        &["atd.service", "--restart", "--for", "3s"],
        &profile,
    );
    assert!(rec.status.success(), "{}", text(&rec));
    let ran = guest.sh(&format!(
        "for i in $(seq 50); do test -s {out} && break; sleep 0.1; done; cat {out}"
    ));
    assert_eq!(ran.trim(), "0", "root's job did not run while recorded");
    let p = Profile::load(&profile).expect("profile");
    assert!(
        learner::policy::users::switched_to(&p).is_empty(),
        "the job ran as root only: {:?}",
        p.observations.identity.switches
    );
    let generated = learner()
        .arg("generate")
        .arg(&profile)
        .arg("-o")
        .arg(dir.join("atd.conf"))
        .output()
        .expect("learner generate");
    assert_eq!(generated.status.code(), Some(1), "{}", text(&generated));
    let err = String::from_utf8_lossy(&generated.stderr);
    assert!(
        err.contains("wrote /proc/self/loginuid, as PAM does when a login session opens"),
        "{err}"
    );
    assert!(!dir.join("atd.conf").exists(), "a drop-in was written");
    drop(guest);
    assert_clean("blind-root-jobs");
}
