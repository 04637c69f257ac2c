//! Signals learner passes on to the command it records.
//!
//! They are blocked and read from a signalfd, because the siginfo tells who sent them: a
//! terminal's Ctrl-C already reached the whole foreground process group, the command included,
//! and must not be sent twice; a `kill` aimed at learner alone must be passed on.
use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::{Interest, unix::AsyncFd};

/// The signals that end a command; learner forwards each to it and waits for it to exit.
pub const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset on a local set (both async-signal-safe).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Blocks [`FORWARDED`] in the calling thread and opens a signalfd for them. Call it before
/// any other thread starts, so that all of them inherit the mask. A child inherits it too:
/// call [`unblock_forwarded`] between fork and exec.
pub fn block_forwarded() -> io::Result<OwnedFd> {
    let set = forwarded_set();
    // SAFETY: sigprocmask on a valid set; signalfd returns a new fd or -1.
    unsafe {
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Undoes [`block_forwarded`] in a forked child before it execs. Async-signal-safe.
pub fn unblock_forwarded() -> io::Result<()> {
    let set = forwarded_set();
    // SAFETY: sigprocmask on a valid set.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// One signal that arrived for learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signo: libc::c_int,
    /// Sent by the kernel on behalf of the terminal (Ctrl-C, Ctrl-\, hang-up), which delivers
    /// it to the whole foreground process group.
    pub from_terminal: bool,
}

/// Async reader of the signalfd from [`block_forwarded`].
pub struct SignalStream {
    fd: AsyncFd<OwnedFd>,
}

impl SignalStream {
    /// Must be called inside a tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: the OwnedFd is moved in and stays open, unchanged, for the AsyncFd's life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    pub async fn next(&self) -> io::Result<Received> {
        const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            let mut guard = self.fd.readable().await?;
            // SAFETY: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let read = guard.try_io(|fd| {
                // SAFETY: reads at most SIZE bytes into `info`.
                let n = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        (&mut info as *mut libc::signalfd_siginfo).cast(),
                        SIZE,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(SIZE)) => {
                    return Ok(Received {
                        signo: info.ssi_signo as libc::c_int,
                        from_terminal: info.ssi_code == libc::SI_KERNEL,
                    });
                }
                Ok(Ok(n)) => {
                    return Err(io::Error::other(format!(
                        "short read of {n} bytes from signalfd"
                    )));
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}
