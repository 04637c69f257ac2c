//! `workload relative DIR N`: writes made where a recorder that reads /proc late loses them:
//! by short-lived children, through relative paths and directory fds, the same names in N
//! directories (`DIR/dK`), each child exiting at once. Every file it writes is one the
//! recording must hold:
//! - `dK/f`: a child that chdir()s to `dK` (absolute) and creates `f`;
//! - `dK/sub/i`: a child that chdir()s to `DIR` and then to `dK/sub` (relative);
//! - `dK/g`: a child that creates `g` through a directory fd its parent opened (and the
//!   parent then closes it: the next directory's fd has the same number);
//! - `dK/h`: a child that opens `dK` itself, fchdir()s to it and creates `h`;
//! - `dK/j`: a child that changes the mode of `j` through an fd (fchmod).
//!
//! Finally a second thread execs `/bin/true` (the thread takes the leader's id).
use std::{ffi::CString, path::Path};

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL")
}

/// Runs `child` in a forked process that exits right after it; waits for it.
fn in_child(child: impl FnOnce()) {
    // SAFETY: the child only makes syscalls, then exits without unwinding.
    match unsafe { libc::fork() } {
        0 => {
            child();
            // SAFETY: ends the child at once, as a short-lived helper does.
            unsafe { libc::_exit(0) }
        }
        pid if pid > 0 => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
        _ => panic!("fork failed"),
    }
}

fn create_at(dirfd: i32, name: &std::ffi::CStr) {
    // SAFETY: valid NUL-terminated name; the fd is closed by the exit.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        )
    };
    assert!(
        fd >= 0,
        "create {name:?}: {}",
        std::io::Error::last_os_error()
    );
}

pub fn run(dir: &Path, n: usize) {
    for k in 0..n {
        let d = dir.join(format!("d{k}"));
        std::fs::create_dir_all(d.join("sub")).expect("mkdir");
        let (dc, top) = (c(&d), c(dir));
        in_child(|| {
            // SAFETY: a valid path.
            assert_eq!(unsafe { libc::chdir(dc.as_ptr()) }, 0);
            create_at(libc::AT_FDCWD, c"f");
        });
        let sub = CString::new(format!("d{k}/sub")).expect("no NUL");
        in_child(|| {
            // SAFETY: valid paths.
            assert_eq!(unsafe { libc::chdir(top.as_ptr()) }, 0);
            assert_eq!(unsafe { libc::chdir(sub.as_ptr()) }, 0);
            create_at(libc::AT_FDCWD, c"i");
        });
        // SAFETY: a valid path; closed below.
        let dirfd = unsafe { libc::open(dc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(dirfd >= 0);
        in_child(|| create_at(dirfd, c"g"));
        // SAFETY: our own fd: its number is free for the next directory.
        unsafe { libc::close(dirfd) };
        in_child(|| {
            // SAFETY: a valid path; the fd is closed by the exit.
            let fd = unsafe { libc::open(dc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            assert_eq!(unsafe { libc::fchdir(fd) }, 0);
            create_at(libc::AT_FDCWD, c"h");
        });
        in_child(|| {
            // SAFETY: a valid path; the fd is closed by the exit.
            let fd = unsafe {
                libc::openat(
                    libc::AT_FDCWD,
                    c(&d.join("j")).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT,
                    0o600,
                )
            };
            assert_eq!(unsafe { libc::fchmod(fd, 0o640) }, 0);
        });
    }
    // An exec from a thread that is not the leader: it returns as the leader.
    let t = std::thread::spawn(|| {
        let prog = c(Path::new("/bin/true"));
        let argv = [prog.as_ptr(), std::ptr::null()];
        // SAFETY: a valid program and argv; on success this never returns.
        unsafe { libc::execv(prog.as_ptr(), argv.as_ptr()) };
        panic!("exec failed");
    });
    let _ = t.join();
}

/// `workload reused-fd DIR`: reads `DIR/f`, `DIR/g` and `DIR/h`, closing each, then makes
/// an fd that names no file under the same number and changes it: a memfd sized and
/// chmod()ed (as a JIT does for its code), the same in a child whose parent's fd had that
/// number, and a socket chmod()ed. Then the same with `DIR/i` and a pipe whose ends are
/// chown()ed (containerd's shim), `DIR/m` and a tmpfs of fsmount's, attached nowhere, with
/// a file `x` made in it and chown()ed. None of it touches `f`, `g`, `h`, `i` or `m`.
/// Last, `DIR/t` and open_tree's detached copy of DIR, where `k` is made: that is `DIR/k`.
pub fn reused_fd(dir: &Path) {
    let read_and_close = |name: &str| {
        // SAFETY: a valid path; closed at once.
        let fd = unsafe { libc::open(c(&dir.join(name)).as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "open {name}: {}", std::io::Error::last_os_error());
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
        fd
    };
    let memfd = |was: i32| {
        // SAFETY: a valid name; the fd is ours.
        let fd = unsafe { libc::memfd_create(c"jit".as_ptr(), 0) };
        assert_eq!(fd, was, "the memfd takes the freed number");
        // SAFETY: our own fd.
        assert_eq!(unsafe { libc::ftruncate(fd, 4096) }, 0);
        assert_eq!(unsafe { libc::fchmod(fd, 0o600) }, 0);
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    };
    let f = read_and_close("f");
    memfd(f);
    let g = read_and_close("g");
    in_child(|| memfd(g));
    let h = read_and_close("h");
    // SAFETY: plain arguments; the fd is ours.
    let sock = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    assert_eq!(sock, h, "the socket takes the freed number");
    // Whatever the kernel answers, it is not h's mode.
    // SAFETY: our own fd.
    unsafe {
        libc::fchmod(sock, 0o600);
        libc::close(sock);
    }
    let i = read_and_close("i");
    let mut ends = [0i32; 2];
    // SAFETY: room for the two fds; they are ours.
    assert_eq!(
        unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    assert_eq!(ends[0], i, "the pipe takes the freed number");
    for end in ends {
        // SAFETY: our own fds.
        unsafe {
            libc::fchown(end, 0, 0);
            libc::close(end);
        }
    }
    // fsopen's context first, so that fsmount's fd takes m's number.
    // SAFETY: a valid name; the fd is ours.
    let ctx = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 1) } as i32;
    assert!(ctx >= 0, "fsopen: {}", std::io::Error::last_os_error());
    const FSCONFIG_CMD_CREATE: i32 = 6;
    // SAFETY: our own fd; the command takes no key or value.
    let created = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    };
    assert_eq!(created, 0, "fsconfig: {}", std::io::Error::last_os_error());
    let m = read_and_close("m");
    // SAFETY: our own fd; FSMOUNT_CLOEXEC.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, ctx, 1, 0) } as i32;
    assert_eq!(mnt, m, "fsmount: {}", std::io::Error::last_os_error());
    // SAFETY: a valid name relative to our own fd; the fds are ours.
    unsafe {
        let x = libc::openat(mnt, c"x".as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        assert!(x >= 0, "openat: {}", std::io::Error::last_os_error());
        libc::fchown(mnt, 0, 0);
        libc::close(x);
        libc::close(mnt);
        libc::close(ctx);
    }
    let t = read_and_close("t");
    // SAFETY: a valid path; OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC; the fd is ours.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c(dir).as_ptr(),
            1 | libc::O_CLOEXEC,
        )
    } as i32;
    assert_eq!(tree, t, "open_tree: {}", std::io::Error::last_os_error());
    // SAFETY: a valid name relative to our own fd; the fds are ours.
    unsafe {
        let k = libc::openat(tree, c"k".as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        assert!(k >= 0, "openat: {}", std::io::Error::last_os_error());
        libc::close(k);
        libc::close(tree);
    }
}
