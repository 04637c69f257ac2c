//! Processes a seccomp filter killed. A killing filter (SystemCallFilter= without
//! SystemCallErrorNumber=) ends the process inside the filter, before the syscall ever
//! reaches a tracepoint, but the kernel logs each kill to its log (`audit: type=1326 ...
//! pid=N comm="x" ... sig=31 ... syscall=NN`), which learner reads from /dev/kmsg.
use std::{
    fs::File,
    io::{self, Read as _, Seek as _, SeekFrom},
    os::unix::fs::OpenOptionsExt as _,
};

/// One process a seccomp filter killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompKill {
    pub pid: u32,
    pub comm: String,
    pub signal: i32,
    pub syscall: u32,
}

/// Parses one kernel log record; `None` unless it is a seccomp kill.
pub fn parse(record: &str) -> Option<SeccompKill> {
    let message = record.split_once(';').map_or(record, |(_, m)| m);
    if !message.contains("type=1326") {
        return None;
    }
    let field = |name: &str| {
        let start = message.find(&format!(" {name}="))? + name.len() + 2;
        let rest = &message[start..];
        Some(match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or("").to_owned(),
            None => rest.split_whitespace().next().unwrap_or("").to_owned(),
        })
    };
    let signal: i32 = field("sig")?.parse().ok()?;
    if signal == 0 {
        // Logged, not killed (SystemCallLog=).
        return None;
    }
    Some(SeccompKill {
        pid: field("pid")?.parse().ok()?,
        comm: field("comm").unwrap_or_default(),
        signal,
        syscall: field("syscall")?.parse().ok()?,
    })
}

/// The kernel log from now on.
pub struct KernelLog {
    kmsg: File,
}

impl KernelLog {
    /// Opens /dev/kmsg at its end: only what is logged later is read.
    pub fn from_now() -> io::Result<Self> {
        let mut kmsg = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        kmsg.seek(SeekFrom::End(0))?;
        Ok(Self { kmsg })
    }

    /// The seccomp kills logged since the last call.
    pub fn seccomp_kills(&mut self) -> Vec<SeccompKill> {
        let mut kills = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            // One record per read; EAGAIN at the end; EPIPE when records were overwritten
            // before they were read (the next read goes on with the oldest kept).
            match self.kmsg.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => kills.extend(parse(&String::from_utf8_lossy(&buf[..n]))),
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        kills
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_kill_and_nothing_else() {
        let kill = "5,1234,15271876645,-;audit: type=1326 audit(1795913204.927:2): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=22531 comm=\"nginx\" exe=\"/usr/sbin/nginx\" sig=31 arch=c000003e syscall=140 compat=0 ip=0x7fe470d1f829 code=0x80000000\n";
        assert_eq!(
            parse(kill),
            Some(SeccompKill {
                pid: 22531,
                comm: "nginx".into(),
                signal: 31,
                syscall: 140
            })
        );
        let logged = kill.replace("sig=31", "sig=0");
        assert_eq!(parse(&logged), None);
        assert_eq!(parse("6,1,2,-;EXT4-fs (vda): mounted filesystem"), None);
    }
}
