//! `workload observe DIR`: every kind of observation learner records, made once, in a known
//! way, so the test can assert each one (and its absence from a run that does not make it).
use std::{
    ffi::CString,
    fs,
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _},
    path::Path,
};

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL")
}

fn check(what: &str, rc: libc::c_long) -> libc::c_long {
    assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
    rc
}

/// Runs `f` in a forked child and waits for it: for changes that must not touch the rest
/// of the workload (dropped capabilities, a new UTS namespace, realtime scheduling).
fn in_child(f: impl FnOnce()) {
    // SAFETY: the child runs `f` and _exits; the workload is single-threaded here.
    match unsafe { libc::fork() } {
        0 => {
            f();
            unsafe { libc::_exit(0) };
        }
        pid if pid > 0 => {
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child failed"
            );
        }
        _ => panic!("fork"),
    }
}

pub fn run(dir: &Path) {
    files(dir);
    sockets(dir);
    capabilities(dir);
    facts(dir);
    stack_growth();
}

/// Grows the main thread's stack by about 2 MiB right after a getppid: the kernel charges the
/// new stack memory (a CAP_SYS_ADMIN check) while it handles the page faults, after getppid
/// has returned.
fn stack_growth() {
    fn deeper(n: u32) -> u32 {
        let mut frame = [0u8; 64 * 1024];
        std::hint::black_box(&mut frame);
        if n == 0 {
            u32::from(frame[0])
        } else {
            deeper(n - 1) + u32::from(frame[1])
        }
    }
    // SAFETY: getppid takes no arguments.
    unsafe { libc::syscall(libc::SYS_getppid) };
    std::hint::black_box(deeper(32));
}

fn files(dir: &Path) {
    // SAFETY (whole function): plain file syscalls on NUL-terminated paths in DIR.
    unsafe {
        let created = dir.join("created");
        let fd = check(
            "create",
            libc::open(c(&created).as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644).into(),
        );
        libc::close(fd as i32);
        let fd = check(
            "read",
            libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY).into(),
        );
        libc::close(fd as i32);
        check(
            "mkdir",
            libc::mkdir(c(&dir.join("sub")).as_ptr(), 0o755).into(),
        );
        let renamed = dir.join("renamed");
        check(
            "rename",
            libc::rename(c(&created).as_ptr(), c(&renamed).as_ptr()).into(),
        );
        check(
            "link",
            libc::link(c(&renamed).as_ptr(), c(&dir.join("hard")).as_ptr()).into(),
        );
        check(
            "symlink",
            libc::symlink(c"renamed".as_ptr(), c(&dir.join("soft")).as_ptr()).into(),
        );
        check("chmod", libc::chmod(c(&renamed).as_ptr(), 0o600).into());
        check("chown", libc::chown(c(&renamed).as_ptr(), 0, 0).into());
        check(
            "utimensat",
            libc::utimensat(libc::AT_FDCWD, c(&renamed).as_ptr(), std::ptr::null(), 0).into(),
        );
        check("truncate", libc::truncate(c(&renamed).as_ptr(), 0).into());
        check(
            "mknod",
            libc::mknod(c(&dir.join("fifo")).as_ptr(), libc::S_IFIFO | 0o600, 0).into(),
        );
        check("unlink", libc::unlink(c(&dir.join("hard")).as_ptr()).into());
        check("rmdir", libc::rmdir(c(&dir.join("sub")).as_ptr()).into());
        // Relative to the working directory, and to a directory fd.
        check("chdir", libc::chdir(c(dir).as_ptr()).into());
        let fd = check(
            "relative",
            libc::open(c"relative".as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644).into(),
        );
        libc::close(fd as i32);
        let dfd = check(
            "dirfd",
            libc::open(c(dir).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY).into(),
        );
        let fd = check(
            "openat",
            libc::openat(
                dfd as i32,
                c"at-relative".as_ptr(),
                libc::O_CREAT | libc::O_WRONLY,
                0o644,
            )
            .into(),
        );
        check("ftruncate", libc::ftruncate(fd as i32, 0).into());
        libc::close(fd as i32);
        // Lookups: a stat relative to the directory fd, one that finds nothing, a link read,
        // an inotify watch; access(W_OK) answered yes; an extended attribute set (a write,
        // whether or not the file system takes user attributes).
        let mut st: libc::stat = std::mem::zeroed();
        check(
            "fstatat",
            libc::fstatat(dfd as i32, c"at-relative".as_ptr(), &mut st, 0).into(),
        );
        assert!(libc::stat(c(&dir.join("missing-stat")).as_ptr(), &mut st) < 0);
        let mut buf = [0u8; 64];
        check(
            "readlink",
            libc::readlink(c(&dir.join("soft")).as_ptr(), buf.as_mut_ptr().cast(), 64) as i64,
        );
        let inotify = check("inotify_init1", libc::inotify_init1(0).into());
        check(
            "inotify_add_watch",
            libc::inotify_add_watch(
                inotify as i32,
                c(&dir.join("renamed")).as_ptr(),
                libc::IN_MODIFY,
            )
            .into(),
        );
        libc::close(inotify as i32);
        check("access", libc::access(c(dir).as_ptr(), libc::W_OK).into());
        let _ = libc::lsetxattr(
            c(&dir.join("at-relative")).as_ptr(),
            c"user.learner".as_ptr(),
            c"1".as_ptr().cast(),
            1,
            0,
        );
        // fstat (glibc's newfstatat(fd, "", AT_EMPTY_PATH)) of a file only read: no lookup.
        let fd = check(
            "read for fstat",
            libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY).into(),
        );
        check("fstat", libc::fstat(fd as i32, &mut st).into());
        libc::close(fd as i32);
        libc::close(dfd as i32);
        // A failing open.
        let rc = libc::open(c(&dir.join("missing/file")).as_ptr(), libc::O_RDONLY);
        assert!(rc < 0);
        // /proc: our own entries by pid, another process's, and a system file.
        let own = format!("/proc/{}/status", std::process::id());
        let _ = fs::read(own).expect("own /proc entry");
        let _ = fs::read("/proc/1/stat").expect("pid 1's /proc entry");
        let _ = fs::read("/proc/meminfo").expect("/proc/meminfo");
        // Home directories.
        let _ = fs::read_dir("/root").expect("/root");
        // A device node beyond the pseudo-devices, and the kernel log.
        let fd = libc::open(c"/dev/kmsg".as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

fn sockets(dir: &Path) {
    // SAFETY (whole function): socket syscalls on local structs.
    unsafe {
        let tcp = check(
            "socket",
            libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0).into(),
        );
        libc::close(tcp as i32);
        let udp6 = check(
            "socket6",
            libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).into(),
        );
        let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
        sin6.sin6_family = libc::AF_INET6 as u16;
        sin6.sin6_addr.s6_addr[15] = 1;
        check(
            "bind6",
            libc::bind(
                udp6 as i32,
                (&sin6 as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as u32,
            )
            .into(),
        );
        libc::close(udp6 as i32);
        let mut pair = [0; 2];
        check(
            "socketpair",
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()).into(),
        );
        libc::close(pair[0]);
        libc::close(pair[1]);
        // A unix socket bound at a path, and connected to.
        let server = check(
            "unix",
            libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).into(),
        ) as i32;
        let mut sun: libc::sockaddr_un = std::mem::zeroed();
        sun.sun_family = libc::AF_UNIX as u16;
        let path = dir.join("sock");
        for (i, b) in path.as_os_str().as_bytes().iter().enumerate() {
            sun.sun_path[i] = *b as libc::c_char;
        }
        let len = size_of::<libc::sockaddr_un>() as u32;
        check(
            "bind unix",
            libc::bind(server, (&sun as *const libc::sockaddr_un).cast(), len).into(),
        );
        check("listen", libc::listen(server, 1).into());
        let client = check(
            "unix client",
            libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).into(),
        ) as i32;
        check(
            "connect unix",
            libc::connect(client, (&sun as *const libc::sockaddr_un).cast(), len).into(),
        );
        libc::close(client);
        libc::close(server);
        // A netlink socket: its protocol is recorded (udev's device events).
        let uevent = check(
            "socket netlink",
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_KOBJECT_UEVENT,
            )
            .into(),
        );
        libc::close(uevent as i32);
        // A family the kernel refuses.
        let rc = libc::socket(libc::AF_APPLETALK, libc::SOCK_DGRAM, 0);
        if rc >= 0 {
            libc::close(rc);
        }
    }
}

/// linux/capability.h.
const CAP_NET_BIND_SERVICE: u32 = 10;

/// capget/capset structures (linux/capability.h, version 3).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capabilities(dir: &Path) {
    // Granted: chown to another user needs CAP_CHOWN.
    let owned = dir.join("owned");
    fs::write(&owned, "x").expect("write");
    // SAFETY: chown of our own file.
    check(
        "chown nobody",
        unsafe { libc::chown(c(&owned).as_ptr(), 65534, 65534) }.into(),
    );
    // Denied: without CAP_NET_BIND_SERVICE in the effective set, binding port 1023 fails.
    in_child(|| unsafe {
        let mut header = CapHeader {
            version: 0x2008_0522,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        check(
            "capget",
            libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
        );
        data[0].effective &= !(1 << CAP_NET_BIND_SERVICE);
        check(
            "capset",
            libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()),
        );
        let s = check(
            "socket",
            libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0).into(),
        ) as i32;
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as u16;
        sin.sin_port = 1023u16.to_be();
        sin.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let rc = libc::bind(
            s,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        );
        assert!(
            rc < 0,
            "bind to 1023 without CAP_NET_BIND_SERVICE succeeded"
        );
        libc::close(s);
    });
}

fn facts(dir: &Path) {
    // SAFETY (whole function): each call is made on local memory or in a forked child.
    unsafe {
        // Writable and executable memory.
        let wx = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(wx, libc::MAP_FAILED);
        libc::munmap(wx, 4096);
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        check(
            "mprotect",
            libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC).into(),
        );
        libc::munmap(page, 4096);
        // A personality query.
        libc::personality(0xffff_ffff);
        // A new UTS namespace, where the host name and its sysctl can change harmlessly.
        in_child(|| {
            check("unshare", libc::unshare(libc::CLONE_NEWUTS).into());
            check(
                "sethostname",
                libc::sethostname(c"learner-test".as_ptr(), 12).into(),
            );
            fs::write("/proc/sys/kernel/domainname", "learner").expect("uts sysctl");
        });
        // Realtime scheduling, in a child that exits right after.
        in_child(|| {
            let param = libc::sched_param { sched_priority: 1 };
            libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
        });
        // SCHED_OTHER with SCHED_RESET_ON_FORK: not realtime, yet RestrictRealtime refuses it.
        in_child(|| {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, &param);
        });
        // A set-uid mode, then an exec of that set-uid file.
        let suid = dir.join("suid-true");
        fs::copy("/bin/true", &suid).expect("copy /bin/true");
        fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).expect("chmod u+s");
        // argv[0] on the heap: a literal in the program's read-only data is not mapped in a
        // forked child until the kernel's exec reads it, too late for BPF (see README, limits).
        let argv0 = CString::new("suid-true").expect("argv0");
        in_child(|| {
            let argv = [argv0.as_ptr(), std::ptr::null()];
            libc::execv(c(&suid).as_ptr(), argv.as_ptr());
            panic!("exec");
        });
        // A read-only clock query, and a kernel log query.
        let mut tx: libc::timex = std::mem::zeroed();
        check("adjtimex", libc::adjtimex(&mut tx).into());
        libc::syscall(libc::SYS_syslog, 10, std::ptr::null_mut::<u8>(), 0);
        // A write into our own cgroup: moving ourselves where we already are.
        let own = fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        let rel = own.lines().find_map(|l| l.strip_prefix("0::")).expect("v2");
        let root = learner::systemd::cgroup::cgroup2_mount().expect("cgroup2");
        fs::write(
            root.join(rel.trim_start_matches('/')).join("cgroup.procs"),
            "0",
        )
        .expect("cgroup write");
    }
}
