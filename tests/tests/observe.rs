//! Observations (issue 3) against real eBPF: every kind the workload makes is recorded with
//! its process, count and outcome; none is recorded when the workload does not make it; heavy
//! traffic is deduplicated in the kernel or its loss reported exactly.
use std::{collections::BTreeMap, path::Path, process::Command};

use learner::{
    model::observations::{Access, Accesses, Seen},
    model::profile::Profile,
};
use learner_tests::{TempDir, assert_clean, privileged};

const WORKLOAD: &str = env!("CARGO_BIN_EXE_workload");

/// Records `args` with `learner run`, which must succeed.
fn record(dir: &Path, args: &[&str]) -> Profile {
    let (code, stderr, profile) = learner_tests::record_run(dir, &[], args);
    assert_eq!(code, 0, "learner failed: {stderr}");
    profile.expect("profile")
}

fn path<'a>(p: &'a Profile, path: &str) -> &'a Accesses {
    p.observations.paths.get(path).unwrap_or_else(|| {
        panic!(
            "{path} not observed; paths: {:?}",
            p.observations.paths.keys()
        )
    })
}

fn has<'a>(p: &'a Profile, path_: &str, access: Access) -> &'a Seen {
    path(p, path_)
        .get(&access)
        .unwrap_or_else(|| panic!("{path_}: no {access:?} in {:?}", path(p, path_)))
}

#[test]
fn records_every_observation_the_workload_makes() {
    let Some(_kernel) = privileged("records_every_observation_the_workload_makes") else {
        return;
    };
    let tmp = TempDir::new("observe");
    let work = tmp.join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let d = work.to_str().expect("utf-8");
    let p = record(tmp.path(), &[WORKLOAD, "observe", d]);
    let o = &p.observations;
    let at = |name: &str| format!("{d}/{name}");

    assert_eq!(p.recording.lost_events, 0);
    // Every observation program loaded and attached (a program the verifier refuses is
    // skipped, never fatal: the recording would carry on blind to its syscalls).
    assert!(
        p.recording.skipped_probes.is_empty(),
        "{:?}",
        p.recording.skipped_probes
    );
    assert!(
        p.recording
            .observation_source
            .contains("syscalls/sys_enter_*"),
        "{:?}",
        p.recording
    );
    assert_eq!(
        p.recording.capability_source,
        "tracepoint capability/cap_capable"
    );

    // 1. File system: each kind, with process name, count and outcome.
    let created = has(&p, &at("created"), Access::Create);
    assert_eq!((created.count, created.ok), (1, 1));
    assert!(created.by.contains("workload"), "{created:?}");
    has(&p, &at("created"), Access::Write);
    has(&p, "/etc/hostname", Access::Read);
    has(&p, &at("sub"), Access::Create);
    has(&p, &at("sub"), Access::Delete);
    has(&p, &at("created"), Access::Rename);
    has(&p, &at("renamed"), Access::Rename);
    has(&p, &at("hard"), Access::Link);
    has(&p, &at("soft"), Access::Link);
    has(&p, &at("hard"), Access::Delete);
    assert!(
        has(&p, &at("renamed"), Access::Attr).count >= 3,
        "chmod, chown, utimensat"
    );
    has(&p, &at("renamed"), Access::Truncate);
    has(&p, &at("fifo"), Access::Mknod);
    has(&p, &at("suid-true"), Access::Exec);
    has(&p, &at("sock"), Access::Bind);
    has(&p, &at("sock"), Access::Connect);
    // Relative to the working directory and to a directory fd, then ftruncate by fd.
    has(&p, &at("relative"), Access::Create);
    has(&p, &at("at-relative"), Access::Create);
    has(&p, &at("at-relative"), Access::Truncate);
    // Lookups keep paths in view; access(W_OK) answered yes and an xattr set are writes.
    has(&p, &at("at-relative"), Access::Lookup);
    let not_there = has(&p, &at("missing-stat"), Access::Lookup);
    assert_eq!(not_there.errors.get("ENOENT"), Some(&1), "{not_there:?}");
    has(&p, &at("soft"), Access::Lookup);
    has(&p, &at("renamed"), Access::Lookup);
    has(&p, d, Access::Write);
    has(&p, &at("at-relative"), Access::Attr);
    assert!(
        !path(&p, "/etc/hostname").contains_key(&Access::Lookup),
        "an fstat is no lookup: {:?}",
        path(&p, "/etc/hostname")
    );
    // A failure carries its errno.
    let missing = has(&p, &at("missing/file"), Access::Read);
    assert_eq!((missing.ok, missing.errors.get("ENOENT")), (0, Some(&1)));
    // /proc forms are normalised.
    has(&p, "/proc/self/status", Access::Read);
    has(&p, "/proc/[pid]/stat", Access::Read);
    assert!(
        !o.paths
            .keys()
            .any(|k| k.starts_with("/proc/") && k[6..].starts_with(|c: char| c.is_ascii_digit())),
        "raw /proc/PID paths left"
    );

    // 2. Sockets: socket() by family and type with outcome; socketpair apart; binds.
    assert_eq!(
        o.sockets["AF_INET/SOCK_STREAM"].ok, 2,
        "one plain, one for the denied bind"
    );
    assert_eq!(o.sockets["AF_INET6/SOCK_DGRAM"].ok, 1);
    assert_eq!(
        o.sockets["AF_APPLETALK/SOCK_DGRAM"]
            .errors
            .get("EAFNOSUPPORT"),
        Some(&1)
    );
    assert_eq!(
        o.sockets["AF_NETLINK/SOCK_RAW/NETLINK_KOBJECT_UEVENT"].ok, 1,
        "netlink sockets carry their protocol"
    );
    assert_eq!(o.socketpairs["AF_UNIX/SOCK_STREAM"].ok, 1);
    assert!(!o.sockets.contains_key("AF_UNIX/SOCK_DGRAM"));
    assert_eq!(o.binds["AF_INET6 [::1]:0"].ok, 1);
    assert_eq!(o.binds[&format!("AF_UNIX {d}/sock")].ok, 1);
    assert_eq!(
        o.binds["AF_INET 127.0.0.1:1023"].errors.get("EACCES"),
        Some(&1)
    );
    assert_eq!(o.connects[&format!("AF_UNIX {d}/sock")].ok, 1);

    // 3. Capability checks: granted, and denied with the syscall in progress.
    let chown = &o.capabilities["CAP_CHOWN"];
    assert!(
        chown.granted.as_ref().is_some_and(|s| s.count >= 1),
        "{chown:?}"
    );
    assert!(chown.during.contains_key("chown"), "{chown:?}");
    let bind = &o.capabilities["CAP_NET_BIND_SERVICE"];
    assert_eq!(bind.denied.as_ref().map(|s| s.count), Some(1), "{bind:?}");
    assert!(bind.granted.is_none(), "{bind:?}");
    assert_eq!(bind.during.get("bind"), Some(&1));
    // The stack grown right after getppid: charged during the page faults, not getppid.
    let admin = &o.capabilities["CAP_SYS_ADMIN"];
    assert!(admin.during.contains_key("(page fault)"), "{admin:?}");
    assert!(!admin.during.contains_key("getppid"), "{admin:?}");

    // 4. Argument facts.
    let f = &o.facts;
    assert!(
        f.write_execute_memory
            .contains_key("mmap PROT_WRITE|PROT_EXEC"),
        "{f:?}"
    );
    assert!(
        f.write_execute_memory.contains_key("mprotect PROT_EXEC"),
        "{f:?}"
    );
    assert!(
        f.namespaces.contains_key("uts via unshare"),
        "{:?}",
        f.namespaces
    );
    assert!(
        f.personality.contains_key("0xffffffff"),
        "{:?}",
        f.personality
    );
    assert!(
        f.scheduling
            .contains_key("SCHED_FIFO via sched_setscheduler")
            && f.scheduling
                .contains_key("SCHED_OTHER|SCHED_RESET_ON_FORK via sched_setscheduler"),
        "{:?}",
        f.scheduling
    );
    assert!(
        f.suid_sgid_modes
            .contains_key(&format!("{d}/suid-true via chmod")),
        "{:?}",
        f.suid_sgid_modes
    );
    assert!(
        f.privileged_execs
            .contains_key(&format!("{d}/suid-true (set-uid)")),
        "{:?}",
        f.privileged_execs
    );
    assert!(
        f.hostname_changes.contains_key("sethostname"),
        "{:?}",
        f.hostname_changes
    );
    assert!(
        f.clock_changes.contains_key("clock_adjtime") || f.clock_changes.contains_key("adjtimex"),
        "{:?}",
        f.clock_changes
    );
    assert!(
        f.kernel_logs.contains_key("syslog action 10"),
        "{:?}",
        f.kernel_logs
    );
    assert!(
        f.kernel_logs.contains_key("/dev/kmsg"),
        "{:?}",
        f.kernel_logs
    );
    assert!(
        f.kernel_tunable_writes
            .contains_key("/proc/sys/kernel/domainname"),
        "{:?}",
        f.kernel_tunable_writes
    );
    assert!(
        f.cgroup_writes.keys().any(|k| k.ends_with("/cgroup.procs")),
        "{:?}",
        f.cgroup_writes
    );
    assert!(
        f.devices.contains_key("/dev/kmsg") && !f.devices.contains_key("/dev/null"),
        "{:?}",
        f.devices
    );
    assert!(f.home.contains_key("/root"), "{:?}", f.home);
    assert!(f.tmp.contains_key(&at("created")), "{:?}", f.tmp);
    assert!(
        f.other_processes_proc.contains_key("/proc/[pid]/stat"),
        "{:?}",
        f.other_processes_proc
    );
    assert!(
        f.proc_system_files.contains_key("/proc/meminfo"),
        "{:?}",
        f.proc_system_files
    );
    assert!(
        !f.proc_system_files
            .keys()
            .any(|k| k.starts_with("/proc/self")),
        "{:?}",
        f.proc_system_files
    );

    // 5. The process tree.
    let exec = &o.processes.execs[&at("suid-true")];
    assert_eq!(exec.seen.ok, 1);
    assert!(exec.argv0.contains("suid-true"), "{exec:?}");
    assert!(o.processes.execs[WORKLOAD].seen.ok == 1);
    assert!(
        o.processes.forks["workload"].count >= 4,
        "{:?}",
        o.processes.forks
    );
    assert!(
        o.processes.exits.contains_key("suid-true"),
        "{:?}",
        o.processes.exits
    );
    assert_clean("observe");
}

#[test]
fn records_no_observation_the_workload_does_not_make() {
    let Some(_kernel) = privileged("records_no_observation_the_workload_does_not_make") else {
        return;
    };
    let tmp = TempDir::new("observe-none");
    let p = record(tmp.path(), &[WORKLOAD]);
    let o = &p.observations;
    let f = &o.facts;
    let empty = |name: &str, m: &BTreeMap<String, Seen>| assert!(m.is_empty(), "{name}: {m:?}");
    empty("write_execute_memory", &f.write_execute_memory);
    empty("namespaces", &f.namespaces);
    empty("host_mounts", f.host_mounts.as_ref().expect("recorded"));
    empty("personality", &f.personality);
    empty("scheduling", &f.scheduling);
    empty("suid_sgid_modes", &f.suid_sgid_modes);
    empty("privileged_execs", &f.privileged_execs);
    empty("hostname_changes", &f.hostname_changes);
    empty("clock_changes", &f.clock_changes);
    empty("module_loading", &f.module_loading);
    empty("kernel_logs", &f.kernel_logs);
    empty("kernel_tunable_writes", &f.kernel_tunable_writes);
    empty("cgroup_writes", &f.cgroup_writes);
    empty("devices", &f.devices);
    empty("home", &f.home);
    empty("other_processes_proc", &f.other_processes_proc);
    empty("sockets", &o.sockets);
    empty("socketpairs", &o.socketpairs);
    empty("binds", &o.binds);
    empty("connects", &o.connects);
    assert!(
        !o.paths
            .values()
            .flatten()
            .any(|(access, _)| access.writes()),
        "the plain workload writes nothing: {:?}",
        o.paths
    );
    // Only the memory-accounting noise: CAP_SYS_ADMIN checked while mmap, mprotect, brk,
    // clone or exec charge memory (cap_vm_enough_memory).
    for (cap, checks) in &o.capabilities {
        assert_eq!(cap, "CAP_SYS_ADMIN", "{cap}: {checks:?}");
        assert!(checks.denied.is_none());
        for during in checks.during.keys() {
            assert!(
                [
                    "mmap",
                    "mprotect",
                    "mremap",
                    "brk",
                    "clone",
                    "clone3",
                    "execve",
                    "(page fault)",
                    "?"
                ]
                .contains(&during.as_str()),
                "CAP_SYS_ADMIN during {during}"
            );
        }
    }
    assert_clean("observe-none");
}

#[test]
fn rm_and_chmod_are_writes_to_their_directory() {
    let Some(_kernel) = privileged("rm_and_chmod_are_writes_to_their_directory") else {
        return;
    };
    let tmp = TempDir::new("rm-chmod");
    let state = tmp.join("state");
    std::fs::create_dir(&state).expect("mkdir");
    for f in ["a", "b"] {
        std::fs::write(state.join(f), "x").expect("write");
    }
    let d = state.to_str().expect("utf-8");
    let script = format!("rm {d}/a && chmod 600 {d}/b");
    let p = record(tmp.path(), &["sh", "-c", &script]);
    let writes: Vec<(&String, &Access)> = p
        .observations
        .paths
        .iter()
        .flat_map(|(path, accesses)| accesses.keys().map(move |a| (path, a)))
        .filter(|(path, a)| path.starts_with(d) && a.writes())
        .collect();
    assert!(
        writes.contains(&(&format!("{d}/a"), &Access::Delete)),
        "{writes:?}"
    );
    assert!(
        writes.contains(&(&format!("{d}/b"), &Access::Attr)),
        "{writes:?}"
    );
    assert!(has(&p, &format!("{d}/a"), Access::Delete).by.contains("rm"));
    assert!(
        has(&p, &format!("{d}/b"), Access::Attr)
            .by
            .contains("chmod")
    );
    assert_clean("rm-chmod");
}

#[test]
fn heavy_traffic_is_deduplicated_or_its_loss_reported_exactly() {
    let Some(_kernel) = privileged("heavy_traffic_is_deduplicated_or_its_loss_reported_exactly")
    else {
        return;
    };
    const DISTINCT: u64 = 200_000;
    const REPEATS: u64 = 1_000_000;
    // On tmpfs: the disk here creates files far slower than learner records them.
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new("/tmp")
    };
    let dir = base.join(format!("learner-stress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tmp = TempDir::new("stress");
    let d = dir.to_str().expect("utf-8").to_owned();
    let result = std::panic::catch_unwind(|| {
        let (code, stderr, p) = learner_tests::record_run(
            tmp.path(),
            &[],
            &[
                WORKLOAD,
                "stress",
                &d,
                &DISTINCT.to_string(),
                &REPEATS.to_string(),
            ],
        );
        let p = p.expect("a profile, whole or partial");
        // A recording that lost events is no profile: said in one line, exit 125.
        if p.recording.lost_events > 0 {
            assert_eq!(code, 125, "{stderr}");
            assert!(stderr.contains("the recording is incomplete"), "{stderr}");
        } else {
            assert_eq!(code, 0, "{stderr}");
        }
        // More distinct names than a directory keeps (FOLD_ENTRIES): one folded path holds
        // them all, with every count.
        let under: Vec<&String> = p
            .observations
            .paths
            .keys()
            .filter(|k| k.starts_with(&format!("{d}/")))
            .collect();
        assert_eq!(under, [&format!("{d}/*")], "the directory is folded");
        let folded = path(&p, &format!("{d}/*"));
        let count = |a: Access| folded.get(&a).map_or(0, |s| s.count);
        let (creates, reads) = (count(Access::Create), count(Access::Read));
        let lost = p.recording.lost_events;
        let missing = (DISTINCT - creates) + (REPEATS - reads);
        eprintln!(
            "stress: {creates} creates, {reads} reads of one file; \
             {} events sent, {} counted in the kernel, {lost} lost",
            p.recording.events, p.recording.deduplicated_events
        );
        // Either nothing is lost, or every loss is reported (other events may be lost too).
        assert!(
            missing <= lost,
            "{missing} observations missing but only {lost} lost events reported"
        );
        if lost == 0 {
            assert_eq!((creates, reads), (DISTINCT, REPEATS));
        }
        // Repeats of one file cost a handful of events, not a million.
        assert!(
            p.recording.events < DISTINCT + 1000,
            "{} events for {DISTINCT} distinct opens",
            p.recording.events
        );
        assert!(p.recording.deduplicated_events >= REPEATS - 1000);
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert_clean("stress");
}

#[test]
fn tracepoint_arities_match_the_table() {
    // The kernel's syscall tracepoints describe each syscall's arguments; learner's table of
    // traced syscalls must agree, or its programs could not attach.
    let Some(_kernel) = privileged("tracepoint_arities_match_the_table") else {
        return;
    };
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(Path::new)
        .find(|p| p.join("events/syscalls").is_dir());
    let Some(tracefs) = tracefs else {
        // learner mounts tracefs itself; record something first.
        let _ = Command::new(learner_tests::learner_bin())
            .args(["run", "-o", "/dev/null", "--", "true"])
            .output();
        return;
    };
    let mut checked = 0;
    let mut missing = Vec::new();
    // Syscalls newer than the newest this kernel has a tracepoint for are not on it.
    let arch = learner::model::syscalls::Arch::X86_64;
    let newest = std::fs::read_dir(tracefs.join("events/syscalls"))
        .expect("tracefs")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            arch.syscall_number(name.strip_prefix("sys_enter_")?)
        })
        .max()
        .expect("syscall tracepoints");
    for t in learner::recording::traced::TRACED {
        let format = tracefs.join(format!("events/syscalls/sys_enter_{}/format", t.tracepoint));
        let Ok(text) = std::fs::read_to_string(&format) else {
            // A kernel built without modules has no module syscalls (the profile says so).
            let no_modules = !Path::new("/proc/modules").exists()
                && learner::model::observations::MODULE_SYSCALLS.contains(&t.name);
            if arch.syscall_number(t.name).is_some_and(|nr| nr <= newest) && !no_modules {
                missing.push(t.name);
            }
            continue;
        };
        let args = text
            .lines()
            .filter(|l| {
                l.contains("field:") && !l.contains("common_") && !l.contains("__syscall_nr")
            })
            .count();
        assert_eq!(args, usize::from(t.nargs), "{}: {text}", t.name);
        checked += 1;
    }
    assert!(checked > 40, "only {checked} syscalls checked");
    // A traced call without its tracepoint leaves every directive its arguments decide
    // unknown (x86_64's stat is the kernel's newstat).
    assert!(missing.is_empty(), "no tracepoint for {missing:?}");
}

#[test]
fn records_network_peers_without_their_ports() {
    let Some(_kernel) = privileged("records_network_peers_without_their_ports") else {
        return;
    };
    let tmp = TempDir::new("observe-peers");
    let p = record(tmp.path(), &[WORKLOAD, "peers"]);
    assert_eq!(p.recording.lost_events, 0);
    // An address of length 0 (the unnamed unix peer) is none, not one that was unreadable.
    assert!(p.recording.missed.is_empty(), "{:?}", p.recording.missed);
    let o = &p.observations;
    let peers = o.peers.as_ref().expect("peers recorded");
    // Three clients from three ports of one host: one peer, three times.
    assert_eq!(peers.accepted["AF_INET 127.0.0.1"].count, 3, "{peers:?}");
    assert_eq!(peers.accepted["AF_INET6 ::1"].count, 1, "{peers:?}");
    assert_eq!(peers.accepted.len(), 2, "{peers:?}");
    let received: Vec<&str> = peers.received_from.keys().map(String::as_str).collect();
    assert_eq!(received, ["AF_INET 127.0.0.1", "AF_INET 127.0.0.2"]);
    // Destinations keep their ports; the connected send() names none and is not there.
    let sent: Vec<&str> = peers.sent_to.keys().map(String::as_str).collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].starts_with("AF_INET 127.0.0.1:"), "{sent:?}");
    assert!(sent[1].starts_with("AF_INET 127.0.0.3:"), "{sent:?}");
    assert!(sent.iter().all(|s| !s.ends_with(":0")), "{sent:?}");

    // What the policy makes of it: loopback only.
    let policy = learner::policy::resolve(
        &p,
        252,
        &learner::policy::filter_groups::SyscallGroups::for_version(252, None),
        learner::policy::margin::Margin::Exact,
    );
    assert_eq!(policy.value("IPAddressAllow"), Some("localhost"));
    assert_eq!(policy.value("IPAddressDeny"), Some("any"));
    assert_clean("after recording peers");
}

#[test]
fn records_whether_the_system_reached_beyond_loopback() {
    let Some(_kernel) = privileged("records_whether_the_system_reached_beyond_loopback") else {
        return;
    };
    let tmp = TempDir::new("observe-routes");
    // This machine's: whatever its PID 1's namespace routes (the test systemd's, loopback
    // only, is in e2e's redis test).
    let here = learner::recording::network::system_reaches_beyond(Path::new("/"));
    assert!(here.is_some());
    let mut p = record(tmp.path(), &[WORKLOAD, "peers"]);
    assert_eq!(p.recording.routes_beyond_loopback, here);
    let resolve = |p: &learner::model::profile::Profile| {
        learner::policy::resolve(
            p,
            252,
            &learner::policy::filter_groups::SyscallGroups::for_version(252, None),
            learner::policy::margin::Margin::Exact,
        )
    };
    // Without a network: the workload talks only to sockets it bound itself (loopback
    // addresses, port 0), which is no reaching out, so the firewall stays.
    p.recording.routes_beyond_loopback = Some(false);
    assert_eq!(resolve(&p).value("IPAddressDeny"), Some("any"));
    // A client of another port there, without a network: no firewall.
    p.observations.add(
        &learner::model::observations::Slot::Connect("AF_INET 127.0.0.1:9".into()),
        0,
        "workload",
        1,
    );
    let policy = resolve(&p);
    assert_eq!(policy.value("IPAddressDeny"), None);
    let why = policy
        .decision("IPAddressDeny")
        .expect("decided")
        .evidence
        .join(" ");
    assert!(why.contains("default route beyond loopback"), "{why}");
    assert_clean("after recording the system's routes");
}

/// The files `workload relative DIR N` writes, as the profile must hold them.
fn relative_writes(dir: &str, n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|k| ["f", "g", "h", "j", "sub/i"].map(|name| format!("{dir}/d{k}/{name}")))
        .collect()
}

/// Runs `workload relative DIR N` under `learner run`, starved when `starve` (the collector's
/// process limited to 5% of a CPU once the workload is about to start), and checks that every
/// write is in the profile, or that what is missing is counted.
fn relative_paths_case(name: &str, n: usize, starve: bool) {
    let tmp = TempDir::new(name);
    let work = tmp.join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let d = work.to_str().expect("utf-8").to_owned();
    let out = tmp.join("out.profile.yaml");
    // The workload waits a moment, so the collector is starved before it starts.
    let script = format!("sleep 1; exec {WORKLOAD} relative {d} {n}");
    let child = learner_tests::learner()
        .env_remove("LD_LIBRARY_PATH")
        .args(["run", "-o"])
        .arg(&out)
        .args(["--", "bash", "-c", &script])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("learner run");
    let starved = starve.then(|| learner_tests::Starved::put(child.id(), 5));
    let output = child.wait_with_output().expect("learner");
    drop(starved);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let partial = learner::model::profile::partial_path(&out);
    let p = Profile::load(if out.exists() { &out } else { &partial }).expect("a profile");
    let missing: Vec<String> = relative_writes(&d, n)
        .into_iter()
        .filter(|f| {
            !p.observations
                .paths
                .get(f)
                .is_some_and(|a| a.contains_key(&Access::Create))
        })
        .collect();
    let counted: u64 = p.recording.missed.values().sum::<u64>() + p.recording.lost_events;
    eprintln!(
        "{name}: {} of {} writes recorded, {} missing, {counted} counted as missed or lost ({:?})",
        relative_writes(&d, n).len() - missing.len(),
        relative_writes(&d, n).len(),
        missing.len(),
        p.recording.missed
    );
    // Each one is recorded, or counted (and then the recording is no profile).
    assert!(
        missing.len() as u64 <= counted,
        "{name}: {missing:?} missing, {counted} counted; {stderr}"
    );
    if counted == 0 {
        assert!(output.status.success(), "{stderr}");
        assert!(out.exists(), "{stderr}");
    } else {
        assert_eq!(output.status.code(), Some(125), "{stderr}");
        assert!(stderr.contains("the recording is incomplete"), "{stderr}");
    }
    // The exec from a second thread (it returns as the leader) is recorded too.
    assert!(
        p.observations.processes.execs.contains_key("/bin/true")
            || p.observations.processes.execs.contains_key("/usr/bin/true"),
        "{name}: exec from a thread missing: {:?}",
        p.observations.processes.execs.keys()
    );
}

#[test]
fn short_lived_writes_through_relative_paths_and_directory_fds_are_recorded() {
    let Some(_kernel) =
        privileged("short_lived_writes_through_relative_paths_and_directory_fds_are_recorded")
    else {
        return;
    };
    relative_paths_case("relative", 5, false);
    // The issue's own case: a shell's subshells writing through their working directory.
    let tmp = TempDir::new("relative-shell");
    let dirs: Vec<String> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|x| tmp.join(x).to_string_lossy().into_owned())
        .collect();
    for d in &dirs {
        std::fs::create_dir(d).expect("mkdir");
    }
    let script = format!(
        "for i in $(seq 10); do for d in {}; do (cd $d && echo x > f); done; sleep 0.05; done; for d in {}; do (cd $d && touch g); done",
        dirs.join(" "),
        dirs.join(" ")
    );
    let p = record(tmp.path(), &["bash", "-c", &script]);
    for d in &dirs {
        let seen = has(&p, &format!("{d}/f"), Access::Create);
        assert_eq!(seen.count, 10, "{d}/f");
        // touch opens, dup2()s the fd onto 0 and sets the times through it (futimens).
        has(&p, &format!("{d}/g"), Access::Attr);
    }
    assert!(p.recording.missed.is_empty(), "{:?}", p.recording.missed);
    assert_clean("relative");
}

#[test]
fn deletes_through_directory_fds_duplicated_by_fcntl_are_recorded() {
    let Some(_kernel) =
        privileged("deletes_through_directory_fds_duplicated_by_fcntl_are_recorded")
    else {
        return;
    };
    // rm -r walks the tree through fcntl(F_DUPFD_CLOEXEC) copies of the directory fds it
    // opened and unlinks relative to those copies; it is gone before /proc could tell.
    let tmp = TempDir::new("observe-rm-r");
    let tree = tmp.join("tree");
    let deep = tree.join("a").join("b").join("c");
    std::fs::create_dir_all(&deep).expect("mkdir");
    for dir in [tree.join("a"), tree.join("a").join("b"), deep.clone()] {
        std::fs::write(dir.join("f"), "x").expect("write");
    }
    let t = tree.to_str().expect("utf-8");
    let (code, stderr, p) = learner_tests::record_run(tmp.path(), &[], &["rm", "-r", t]);
    let p = p.expect("a profile");
    assert!(
        p.recording.missed.is_empty(),
        "missed: {:?}",
        p.recording.missed
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!tree.exists());
    for f in ["a/f", "a/b/f", "a/b/c/f", "a/b/c", "a/b", "a"] {
        has(&p, &format!("{t}/{f}"), Access::Delete);
    }
    assert_clean("observe-rm-r");
}

#[test]
fn a_chrooted_process_paths_are_recorded_below_its_root() {
    let Some(_kernel) = privileged("a_chrooted_process_paths_are_recorded_below_its_root") else {
        return;
    };
    let tmp = TempDir::new("observe-chroot");
    let jail = tmp.join("jail");
    std::fs::create_dir(&jail).expect("mkdir");
    let j = jail.to_str().expect("utf-8");
    let p = record(tmp.path(), &[WORKLOAD, "chrooted", j]);
    assert!(jail.join("c").exists(), "the workload did not run");
    for f in ["a", "b", "c"] {
        has(&p, &format!("{j}/{f}"), Access::Create);
        assert!(
            !p.observations.paths.contains_key(&format!("/{f}")),
            "/{f} taken for a path outside the chroot"
        );
    }
    has(&p, j, Access::Read);
    assert!(p.recording.missed.is_empty(), "{:?}", p.recording.missed);
    assert_clean("observe-chroot");
}

/// A process in a PID namespace of its own (a container's, a guest's, PrivatePIDs=) names its
/// own /proc entry with the number it has there, which is not the host's: it is still its own
/// (`/proc/self`), and a sibling's stays another process's (`/proc/[pid]`).
#[test]
fn own_proc_entries_are_told_apart_inside_a_pid_namespace() {
    let Some(_kernel) = privileged("own_proc_entries_are_told_apart_inside_a_pid_namespace") else {
        return;
    };
    let tmp = TempDir::new("observe-pidns");
    let done = tmp.join("done");
    // The shell reads its own status and its sibling's stat itself (redirections, no cat),
    // through the numbers its namespace gives them, then stays a moment: learner reads its
    // NSpid when it handles the event, and a reader already gone stays another process's
    // (the safe side: ProtectProc= unset), which a busy machine makes likely.
    let script = format!(
        "sleep 5 & read -r own < /proc/$$/status; read -r other < /proc/$!/stat; kill $!; \
         case $$ in 1) : ;; *) exit 3 ;; esac; echo \"$own\" > {}; sleep 3",
        done.display()
    );
    let p = record(
        tmp.path(),
        &[
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "/bin/sh",
            "-c",
            &script,
        ],
    );
    let own = std::fs::read_to_string(&done).expect("the shell did not run");
    assert!(own.starts_with("Name:"), "{own}");
    has(&p, "/proc/self/status", Access::Read);
    has(&p, "/proc/[pid]/stat", Access::Read);
    assert!(
        !p.observations.paths.contains_key("/proc/[pid]/status"),
        "the shell's own status taken for another process's: {:?}",
        p.observations.facts.other_processes_proc
    );
    // A namespace without a /proc of its own still reads the host's: /proc/1 is the host's
    // init there, not the shell (pid 1 of its namespace).
    let host_view = tmp.join("host-view");
    let script = format!(
        "read -r init < /proc/1/status; case $$ in 1) : ;; *) exit 3 ;; esac; echo \"$init\" > {}; sleep 3",
        host_view.display()
    );
    let p = record(
        tmp.path(),
        &["unshare", "--pid", "--fork", "/bin/sh", "-c", &script],
    );
    assert!(
        std::fs::read_to_string(&host_view)
            .expect("ran")
            .starts_with("Name:")
    );
    has(&p, "/proc/[pid]/status", Access::Read);
    assert!(
        !p.observations.paths.contains_key("/proc/self/status"),
        "the host's init taken for the shell"
    );
    assert_clean("observe-pidns");
}

#[test]
fn io_uring_requests_are_recorded_and_the_paths_they_hid_said_unknown() {
    let Some(_kernel) =
        privileged("io_uring_requests_are_recorded_and_the_paths_they_hid_said_unknown")
    else {
        return;
    };
    let tmp = TempDir::new("observe-io-uring");
    let made = tmp.join("made");
    let m = made.to_str().expect("utf-8");
    let p = record(tmp.path(), &[WORKLOAD, "io_uring", m]);
    assert!(made.exists(), "the workload did not run");
    // The file was created by an OPENAT request: no syscall named it.
    assert!(
        !p.observations.paths.contains_key(m),
        "{m} seen through a syscall: the workload did not test io_uring"
    );
    assert!(
        p.recording.skipped_probes.is_empty(),
        "{:?}",
        p.recording.skipped_probes
    );
    let ops = p
        .observations
        .io_uring
        .as_ref()
        .expect("io_uring operations recorded");
    for op in ["OPENAT", "WRITE"] {
        let seen = ops.get(op).unwrap_or_else(|| panic!("no {op} in {ops:?}"));
        assert_eq!(seen.count, 1, "{op}");
        assert!(seen.by.contains("workload"), "{op}: {:?}", seen.by);
    }
    // What the OPENAT hid leaves every directive that rests on paths unknown, and says why.
    let why = learner::policy::sources::unknown(&p, "ProtectSystem").expect("ProtectSystem judged");
    assert!(why.contains("io_uring OPENAT"), "{why}");
    assert_clean("observe-io-uring");
}

#[test]
fn a_starved_collector_still_records_or_counts_every_relative_write() {
    let Some(_kernel) =
        privileged("a_starved_collector_still_records_or_counts_every_relative_write")
    else {
        return;
    };
    relative_paths_case("relative-starved", 40, true);
    assert_clean("relative-starved");
}

/// Drops root as dnsmasq does: root writes back what capget gave it (a choice of nothing);
/// then, as root, capset() narrows the permitted set to what it keeps (CAP_NET_ADMIN,
/// CAP_NET_RAW) and needs for the switch; PR_SET_KEEPCAPS and setuid to nobody; then, no
/// longer root, capset() keeps CAP_NET_ADMIN alone.
const KEEP_CAPS: &str = "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
assert libc.capget(hdr, data) == 0, os.strerror(ctypes.get_errno())
assert libc.capset(hdr, data) == 0, os.strerror(ctypes.get_errno())
def capset(*caps):
    bits = sum(1 << c for c in caps)
    data = (ctypes.c_uint32 * 6)(bits, bits, 0, 0, 0, 0)
    assert libc.capset(hdr, data) == 0, os.strerror(ctypes.get_errno())
NET_ADMIN, NET_RAW, SETGID, SETUID = 12, 13, 6, 7
capset(NET_ADMIN, NET_RAW, SETGID, SETUID)
assert libc.prctl(8, 1, 0, 0, 0) == 0
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
capset(NET_ADMIN)
";

#[test]
fn capabilities_kept_by_capset_before_and_after_dropping_root_are_recorded() {
    let Some(_kernel) =
        privileged("capabilities_kept_by_capset_before_and_after_dropping_root_are_recorded")
    else {
        return;
    };
    let tmp = TempDir::new("observe-capset");
    let p = record(tmp.path(), &["python3", "-c", KEEP_CAPS]);
    let kept = |cap: &str, by: &str| {
        p.observations
            .capabilities
            .get(cap)
            .is_some_and(|c| c.during.contains_key(by))
    };
    use learner::model::observations::{KEPT_BY_CAPSET, KEPT_BY_ROOT_CAPSET};
    // No capability check shows CAP_NET_ADMIN: only the capset of a process that was no
    // longer root does.
    assert!(
        kept("CAP_NET_ADMIN", KEPT_BY_CAPSET),
        "{:?}",
        p.observations.capabilities
    );
    // Root's choice of a set is a need too: under a bounding set without CAP_NET_RAW that
    // capset fails (EPERM), though the process drops it again later.
    for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID"] {
        assert!(
            kept(cap, KEPT_BY_ROOT_CAPSET),
            "{cap}: {:?}",
            p.observations.capabilities
        );
    }
    assert!(
        !kept("CAP_NET_RAW", KEPT_BY_CAPSET),
        "{:?}",
        p.observations.capabilities
    );
    // Root writing back what capget gave it chose nothing.
    assert!(
        !p.observations.capabilities.contains_key("CAP_SYS_MODULE"),
        "{:?}",
        p.observations.capabilities
    );
    assert_clean("observe-capset");
}

#[test]
fn mounts_in_the_host_s_namespace_are_told_from_mounts_in_the_service_s_own() {
    let Some(_kernel) = privileged("mounts_in_the_host_s_namespace_are_told_from") else {
        return;
    };
    let tmp = TempDir::new("observe-host-mounts");
    let (host, own) = (tmp.join("host"), tmp.join("own"));
    std::fs::create_dir(&host).expect("mkdir");
    std::fs::create_dir(&own).expect("mkdir");
    // What dockerd does (a mount in the host's namespace, for others to use), then what
    // runc does (a mount in a namespace of its own), its process alive a while as a
    // container's is; the host's mount is undone at once.
    let script = format!(
        "import ctypes, os, time\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         assert libc.mount(b'learner-host', b'{h}', b'tmpfs', 0, None) == 0, os.strerror(ctypes.get_errno())\n\
         assert libc.umount2(b'{h}', 0) == 0\n\
         pid = os.fork()\n\
         if pid == 0:\n\
         \x20   assert libc.unshare(0x20000) == 0\n\
         \x20   assert libc.mount(b'none', b'/', None, 0x4000 | 0x40000, None) == 0\n\
         \x20   assert libc.mount(b'learner-own', b'{o}', b'tmpfs', 0, None) == 0\n\
         \x20   time.sleep(2)\n\
         \x20   os._exit(0)\n\
         assert os.waitpid(pid, 0)[1] == 0\n",
        h = host.display(),
        o = own.display()
    );
    let p = record(tmp.path(), &["python3", "-c", &script]);
    let mounts = p.observations.facts.host_mounts.clone().expect("recorded");
    assert!(mounts.contains_key("mount of learner-host"), "{mounts:?}");
    assert!(!mounts.contains_key("mount of learner-own"), "{mounts:?}");
    // The propagation change made nothing new anywhere.
    assert!(!mounts.contains_key("mount of none"), "{mounts:?}");
    assert!(p.syscalls.contains_key("mount"));
    assert_clean("observe-host-mounts");
}

#[test]
fn root_opening_another_process_s_namespace_keeps_cap_sys_ptrace() {
    let Some(_kernel) = privileged("root_opening_another_process_s_namespace_keeps_cap_sys_ptrace")
    else {
        return;
    };
    let tmp = TempDir::new("observe-ptrace");
    // What dockerd does to a container's init: open its network namespace and bind it onto
    // a file (as root, holding every capability: no check the recording could see), here in
    // a mount namespace of its own; its command line is no such entry.
    let target = tmp.path().join("netns");
    // The target is a child holding what its parent holds: this machine's PID 1 holds more
    // than the tests' root, which is refused the open (the very check this is about).
    let script = format!(
        "import ctypes, os, subprocess\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         child = subprocess.Popen(['sleep', '30'])\n\
         ns = '/proc/%d/ns/net' % child.pid\n\
         os.close(os.open(ns, os.O_RDONLY))\n\
         open('/proc/%d/cmdline' % child.pid).read()\n\
         assert libc.unshare(0x20000) == 0, os.strerror(ctypes.get_errno())\n\
         assert libc.mount(b'none', b'/', None, 0x4000 | 0x40000, None) == 0\n\
         open('{t}', 'w').close()\n\
         assert libc.mount(ns.encode(), b'{t}', None, 4096, None) == 0, os.strerror(ctypes.get_errno())\n\
         child.kill()\n\
         child.wait()\n",
        t = target.display()
    );
    let p = record(tmp.path(), &["python3", "-c", &script]);
    let ns = has(&p, "/proc/[pid]/ns/net", Access::Read);
    assert_eq!(ns.ok, 2, "the open and the bind mount: {ns:?}");
    let kept = p
        .observations
        .capabilities
        .get("CAP_SYS_PTRACE")
        .and_then(|c| {
            c.granted_during
                .get(learner::model::observations::PTRACE_ACCESS)
                .copied()
        });
    assert_eq!(kept, Some(2), "{:?}", p.observations.capabilities);
    assert_clean("observe-ptrace");
}

#[test]
fn calls_on_an_fd_that_names_no_file_are_not_blamed_on_the_file_its_number_named() {
    let Some(_kernel) =
        privileged("calls_on_an_fd_that_names_no_file_are_not_blamed_on_the_file_its_number_named")
    else {
        return;
    };
    // RabbitMQ's Erlang JIT reads /sys/devices/system/cpu/online, closes it, and sizes the
    // memfd that takes the same fd number: recorded as a write there, that cost the drop-in
    // ProtectKernelTunables= (and a JVM's or BEAM's write under /usr/lib cost ReadWritePaths).
    let tmp = TempDir::new("reused-fd");
    let work = tmp.join("work");
    std::fs::create_dir(&work).expect("mkdir");
    // Pipes (containerd's shim chowns its pipes' ends), and the new mount API's fds (runc):
    // fsmount's mount is attached nowhere, open_tree's copy of a tree is that tree's.
    let files = ["f", "g", "h", "i", "m", "t"];
    for f in files {
        std::fs::write(work.join(f), "x").expect("write");
    }
    let d = work.to_str().expect("utf-8");
    let p = record(tmp.path(), &[WORKLOAD, "reused-fd", d]);
    for f in files {
        let file = format!("{d}/{f}");
        has(&p, &file, Access::Read);
        let written: Vec<&Access> = path(&p, &file).keys().filter(|a| a.writes()).collect();
        assert!(written.is_empty(), "{file}: {written:?} blamed on it");
    }
    has(&p, &format!("{d}/k"), Access::Create);
    let below: Vec<&String> = p
        .observations
        .paths
        .keys()
        .filter(|k| k.starts_with(&format!("{d}/")) && !k.ends_with("/k"))
        .filter(|k| !files.iter().any(|f| **k == format!("{d}/{f}")))
        .collect();
    assert!(below.is_empty(), "paths that are not the work's: {below:?}");
    assert!(p.recording.missed.is_empty(), "{:?}", p.recording.missed);
    assert_clean("reused-fd");
}

/// Every observation program passes this kernel's verifier: together, small changes to the
/// shared exit code once took each of them past 1,000,000 processed instructions, and every
/// traced syscall went unobserved (said, but easy to miss in a long skip list).
#[test]
fn every_observation_program_passes_the_verifier() {
    let Some(_kernel) = privileged("every_observation_program_passes_the_verifier") else {
        return;
    };
    let tmp = TempDir::new("verifier");
    let p = record(tmp.path(), &["true"]);
    let refused: Vec<&String> = p
        .recording
        .skipped_probes
        .iter()
        .filter(|s| s.contains("verifier"))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    assert!(
        p.recording.observation_source.contains("syscalls"),
        "{}",
        p.recording.observation_source
    );
    assert_clean("verifier");
}
