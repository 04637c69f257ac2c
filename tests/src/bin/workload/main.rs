//! A workload with known syscalls, made where naive recorders look away: the main thread, a
//! second thread, a forked child, a program exec'd at the end, and a call that fails.
//! Each marker is a raw syscall that nothing else in the program makes, so its presence in a
//! profile proves that context was recorded.
//!
//! Usage:
//!   workload [--sleep-ms N] [--exit N]   the workload; prints `sleeping` before the sleep
//!   workload subcgroup                   moves into a new child cgroup, then makes its marker
//!   workload outsider MS                 makes its marker in a loop for MS milliseconds
//!   workload observe DIR                 exercises every observation once, in DIR
//!   workload sandboxed DIR               a service for `learner check` (see sandboxed())
//!   workload executor PROGRAM            plays systemd's executor, then execs PROGRAM
//!   workload stress DIR N M [S]          creates N distinct files in DIR (spread over S
//!                                        subdirectories), opens the first M times
//!   workload syscalls N                  makes N getppid calls; prints the loop's nanoseconds
//!   workload lookups stat|fstat N        N stats of /etc/hostname by path, or of an open fd;
//!                                        prints the loop's nanoseconds
//!   workload peers                       talks to itself over loopback: accepts, datagrams
//!   workload relative DIR N              short-lived children writing through relative
//!                                        paths and directory fds (see relative.rs)
//!   workload io_uring PATH               creates PATH and writes it through io_uring requests
//!   workload chrooted DIR                a child chroots to DIR and creates `/a` (absolute)
//!                                        and `b` (relative) there, its own child `/c`
use std::{
    env,
    ffi::CString,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    thread,
    time::Duration,
    time::Instant,
};

mod observe;
mod peers;
mod relative;
mod uring;

use learner_tests::markers;

fn raw(nr: libc::c_long, a: libc::c_long, b: libc::c_long) -> (libc::c_long, i32) {
    // SAFETY: each caller passes arguments valid for its syscall.
    let rc = unsafe { libc::syscall(nr, a, b) };
    (
        rc,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("outsider") => outsider(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000)),
        Some("subcgroup") => subcgroup(),
        Some("executor") => executor(args.get(1).expect("PROGRAM")),
        Some("sandboxed") => sandboxed(Path::new(args.get(1).expect("DIR"))),
        Some("needs") => needs(Path::new(args.get(1).expect("DIR"))),
        Some("needs-leaderless") => needs_leaderless(Path::new(args.get(1).expect("DIR"))),
        Some("observe") => observe::run(Path::new(args.get(1).expect("DIR"))),
        Some("peers") => peers::run(),
        Some("io_uring") => uring::run(Path::new(args.get(1).expect("PATH"))),
        Some("chrooted") => chrooted(Path::new(args.get(1).expect("DIR"))),
        Some("relative") => relative::run(
            Path::new(args.get(1).expect("DIR")),
            args.get(2).and_then(|a| a.parse().ok()).expect("N"),
        ),
        Some("reused-fd") => relative::reused_fd(Path::new(args.get(1).expect("DIR"))),
        Some("modules") => {
            // Loads nothing: fd -1 is EBADF with module support, ENOSYS without.
            // SAFETY: finit_module reads only the empty string it is given.
            let rc = unsafe { libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0) };
            println!("finit_module: {rc} ({})", std::io::Error::last_os_error());
        }
        Some("syscalls") => {
            let n: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("N");
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: getppid takes no arguments.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            println!("{}", start.elapsed().as_nanos());
        }
        Some("lookups") => {
            // `stat`: newfstatat of a path (traced); `fstat`: glibc's newfstatat(fd, "",
            // AT_EMPTY_PATH), which the kernel side skips at entry.
            let kind = args.get(1).expect("stat|fstat").clone();
            let n: u64 = args.get(2).and_then(|a| a.parse().ok()).expect("N");
            let file = fs::File::open("/etc/hostname").expect("/etc/hostname");
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
            // SAFETY: a zeroed stat buffer for the kernel to fill.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: a NUL-terminated path, an open fd, a buffer of the right type.
                let rc = unsafe {
                    if kind == "stat" {
                        libc::stat(c"/etc/hostname".as_ptr(), &mut st)
                    } else {
                        libc::fstat(fd, &mut st)
                    }
                };
                assert_eq!(rc, 0, "{kind}");
            }
            println!("{}", start.elapsed().as_nanos());
        }
        Some("stretches") => stretches(),
        Some("stress") => stress(
            Path::new(args.get(1).expect("DIR")),
            args.get(2).and_then(|a| a.parse().ok()).expect("N"),
            args.get(3).and_then(|a| a.parse().ok()).expect("M"),
            args.get(4).and_then(|a| a.parse().ok()).unwrap_or(0),
        ),
        _ => workload(&args),
    }
}

/// `workload stretches`: as root, a private writable mapping (the kernel's memory accounting
/// checks CAP_SYS_ADMIN with the caller's own credentials), a setresuid that changes nothing
/// (the kernel keeps the same credentials), and another such mapping: what proftpd's master
/// does between its privilege switches.
fn stretches() {
    let map = || {
        // SAFETY: a fresh anonymous mapping, touched and left to the exit.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                1 << 20,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is 1 MiB, writable.
        unsafe { *(p as *mut u8) = 1 };
    };
    map();
    // SAFETY: -1 keeps each id.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, -1i64, -1i64, -1i64) };
    assert_eq!(rc, 0, "setresuid(-1, -1, -1)");
    map();
}

/// `workload chrooted DIR`: what postfix's smtpd or sshd's privilege-separated child do,
/// chroot then chdir("/"), then files made by absolute and relative paths, by the chrooted
/// process and by a child of it. Raw calls only: nothing in DIR to load.
fn chrooted(dir: &Path) {
    let dir = CString::new(dir.as_os_str().as_encoded_bytes()).expect("no NUL");
    let create = |name: &std::ffi::CStr| {
        // SAFETY: a valid NUL-terminated path; the fd is closed by the exit.
        let fd = unsafe { libc::open(name.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600) };
        assert!(fd >= 0, "create {name:?}");
    };
    // SAFETY: the child only makes syscalls and exits without unwinding; each waitpid waits
    // for its own child.
    unsafe {
        match libc::fork() {
            0 => {
                if libc::chroot(dir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    libc::_exit(1);
                }
                create(c"/a");
                create(c"b");
                match libc::fork() {
                    0 => {
                        create(c"/c");
                        libc::_exit(0);
                    }
                    pid => {
                        let mut status = 0;
                        libc::waitpid(pid, &mut status, 0);
                    }
                }
                libc::_exit(0);
            }
            pid => {
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
                assert_eq!(status, 0, "the chrooted child failed");
            }
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn workload(args: &[String]) {
    // Main thread.
    raw(markers::MAIN_THREAD.1, libc::PRIO_PROCESS as _, 0);

    // A second thread.
    thread::spawn(|| {
        let mut timer: libc::itimerval = unsafe { std::mem::zeroed() };
        raw(
            markers::SECOND_THREAD.1,
            libc::ITIMER_REAL as _,
            (&mut timer as *mut libc::itimerval) as _,
        );
    })
    .join()
    .expect("thread");
    // Whether joining waits on a futex depends on timing; make the call certain, so the set
    // of syscalls is the same in every run (a FUTEX_WAKE of nobody).
    let word = 0u32;
    // SAFETY: FUTEX_WAKE on a valid word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            &word as *const u32,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };

    // A forked child.
    // SAFETY: single-threaded again here; the child only makes raw syscalls and _exits.
    match unsafe { libc::fork() } {
        0 => {
            raw(markers::FORKED_CHILD.1, 0, 0);
            unsafe { libc::_exit(0) };
        }
        pid if pid > 0 => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
        _ => panic!("fork failed"),
    }

    // A call that fails.
    let (rc, errno) = raw(markers::FAILING.1, -1, 0);
    assert!(
        rc == -1 && errno == libc::EBADF,
        "fchdir(-1) should fail with EBADF"
    );

    if let Some(ms) = flag(args, "--sleep-ms") {
        println!("sleeping");
        std::io::stdout().flush().expect("stdout");
        thread::sleep(Duration::from_millis(ms));
    }

    // Replace this program with a second one, which makes the last marker.
    let helper = env::current_exe()
        .expect("current_exe")
        .with_file_name("workload-exec");
    let helper = CString::new(helper.into_os_string().into_encoded_bytes()).expect("path");
    let code = CString::new(flag(args, "--exit").unwrap_or(0).to_string()).expect("code");
    let argv = [helper.as_ptr(), code.as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated strings and a NULL-terminated argv.
    unsafe { libc::execv(helper.as_ptr(), argv.as_ptr()) };
    panic!("execv failed: {}", std::io::Error::last_os_error());
}

/// Moves into a new child of its own cgroup, then makes the sub-cgroup marker: services put
/// helpers in cgroups of their own, and a recording must follow them.
fn subcgroup() {
    let own = fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let rel = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("cgroup v2 line");
    let root = learner::systemd::cgroup::cgroup2_mount().expect("cgroup2");
    let child: PathBuf = root.join(rel.trim_start_matches('/')).join("child");
    fs::create_dir(&child).expect("create child cgroup");
    fs::write(child.join("cgroup.procs"), "0").expect("join child cgroup");
    // Time for a user-space follower (the exact-match fallback) to see the new cgroup.
    thread::sleep(Duration::from_millis(300));
    raw(markers::SUB_CGROUP.1, 0, 0);
}

/// Runs outside the recorded cgroup and makes its marker in a loop; prints how many calls.
/// A service that, twice a second until it is stopped, creates a file in `dir`, gives a file
/// in /tmp to another owner (CAP_CHOWN) and makes its main-thread marker syscall: what
/// `learner check` must see a tight sandbox deny. Failures are expected and ignored.
fn sandboxed(dir: &Path) {
    let created = CString::new(dir.join("x").into_os_string().into_encoded_bytes()).expect("path");
    let owned = c"/tmp/learner-check-owned";
    loop {
        // First: a recording that restarts the unit must have found its new cgroup.
        thread::sleep(Duration::from_millis(500));
        // SAFETY: open/fchown/close of NUL-terminated paths; the marker takes plain integers.
        unsafe {
            let fd = libc::open(
                created.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            );
            if fd >= 0 {
                libc::close(fd);
            }
            let fd = libc::open(
                owned.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            );
            if fd >= 0 {
                libc::fchown(fd, 1, 1);
                libc::close(fd);
            }
        }
        raw(markers::MAIN_THREAD.1, libc::PRIO_PROCESS as _, 0);
    }
}

/// Needs three things a sandbox can take away (its marker syscall, a file it creates in DIR,
/// CAP_CHOWN), and says that it got all three by creating DIR/ok; loops, so a sandbox applied
/// later shows too.
fn needs(dir: &Path) {
    let created = CString::new(dir.join("x").into_os_string().into_encoded_bytes()).expect("path");
    let ok = CString::new(dir.join("ok").into_os_string().into_encoded_bytes()).expect("path");
    loop {
        thread::sleep(Duration::from_millis(300));
        let (prio, _) = raw(markers::MAIN_THREAD.1, libc::PRIO_PROCESS as _, 0);
        // SAFETY: open/fchown/close of NUL-terminated paths.
        let wrote_and_chowned = unsafe {
            let fd = libc::open(
                created.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            );
            let chowned = fd >= 0 && libc::fchown(fd, 1, 1) == 0;
            if fd >= 0 {
                libc::close(fd);
            }
            chowned
        };
        if prio >= 0 && wrote_and_chowned {
            // SAFETY: as above.
            unsafe {
                let fd = libc::open(
                    ok.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o600,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
    }
}

/// A process whose main thread exits while another thread works on: that thread makes its
/// marker and creates DIR/t, in a loop. (A process is then its threads, not its first one.)
fn needs_leaderless(dir: &Path) {
    let created = CString::new(dir.join("t").into_os_string().into_encoded_bytes()).expect("path");
    thread::spawn(move || {
        loop {
            thread::sleep(Duration::from_millis(300));
            let mut value: libc::itimerval = unsafe { std::mem::zeroed() };
            raw(
                markers::SECOND_THREAD.1,
                libc::ITIMER_REAL as _,
                &mut value as *mut _ as _,
            );
            // SAFETY: open/close of a NUL-terminated path.
            unsafe {
                let fd = libc::open(
                    created.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o600,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
    });
    thread::sleep(Duration::from_millis(100));
    // The raw exit ends only the calling (main) thread, and unwinds nothing (pthread_exit
    // would unwind Rust frames and abort); the process lives on in the other thread.
    // SAFETY: nothing of this thread is used again.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
    unreachable!("exit returned")
}

/// Plays systemd's executor: named `(workload)`, it makes its marker, then execs `program`,
/// which is the service.
fn executor(program: &str) {
    let name = CString::new("(workload)").expect("name");
    // SAFETY: PR_SET_NAME with a NUL-terminated name.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    // Many calls, so the kernel side's cached verdict is what decides most of them.
    for _ in 0..1000 {
        raw(markers::EXECUTOR.1, libc::SCHED_FIFO as _, 0);
    }
    let program = CString::new(program).expect("program");
    let argv = [program.as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated program and argv.
    unsafe { libc::execv(program.as_ptr(), argv.as_ptr()) };
    panic!("exec {program:?}: {}", std::io::Error::last_os_error());
}

fn outsider(ms: u64) {
    let end = Instant::now() + Duration::from_millis(ms);
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    let mut calls = 0u64;
    while Instant::now() < end {
        raw(
            markers::OUTSIDER.1,
            0,
            (&mut ts as *mut libc::timespec) as _,
        );
        calls += 1;
    }
    println!("{calls}");
}

/// Creates `n` distinct files in `dir`, then opens one file `m` times: the kernel side must
/// either deliver every distinct observation and count the repeats, or report what it lost.
fn stress(dir: &Path, n: u64, m: u64, spread: u64) {
    let file = |i: u64| match spread {
        0 => dir.join(format!("f{i}")),
        s => dir.join(format!("d{}", i % s)).join(format!("f{i}")),
    };
    for d in 0..spread {
        fs::create_dir_all(dir.join(format!("d{d}"))).expect("subdirectory");
    }
    let start = Instant::now();
    for i in 0..n {
        let path = CString::new(file(i).into_os_string().into_encoded_bytes()).expect("path");
        // SAFETY: open/close of a NUL-terminated path.
        unsafe {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            );
            assert!(fd >= 0, "create {i}");
            libc::close(fd);
        }
    }
    let same = CString::new(file(0).into_os_string().into_encoded_bytes()).expect("path");
    for _ in 0..m {
        // SAFETY: as above.
        unsafe {
            let fd = libc::open(same.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            assert!(fd >= 0);
            libc::close(fd);
        }
    }
    println!("{}", start.elapsed().as_nanos());
}
