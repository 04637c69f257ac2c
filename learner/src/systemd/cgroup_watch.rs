//! Waking when a cgroup is made in a directory of the cgroup tree that may not exist yet: a
//! template's slice (`system-openvpn.slice`) appears with its first instance, so until then
//! the nearest existing directory above it is watched, and each level down as it appears.
//! Blocking ([`CgroupWatch::created`]), or polled by a caller's own loop through its fd.
use std::{
    ffi::{CString, OsStr, OsString},
    io,
    os::{
        fd::{AsRawFd, FromRawFd as _, OwnedFd, RawFd},
        unix::ffi::OsStrExt as _,
    },
    path::{Path, PathBuf},
    time::Duration,
};

pub struct CgroupWatch {
    fd: OwnedFd,
    dir: PathBuf,
    /// The directories watched on the way to `dir`, outermost first, with their watch
    /// descriptors; the last is the deepest that exists.
    watched: Vec<(i32, PathBuf)>,
}

impl CgroupWatch {
    /// Watches `dir`, or the nearest existing directory above it until `dir` exists. What is
    /// in `dir` already is not reported.
    pub fn new(dir: &Path) -> io::Result<Self> {
        // SAFETY: creates a fresh fd, owned at once.
        let fd = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let mut me = Self {
            fd,
            dir: dir.to_owned(),
            watched: Vec::new(),
        };
        me.descend()?;
        Ok(me)
    }

    /// The deepest directory on the way to the watched one that is watched now.
    pub fn watched(&self) -> &Path {
        self.watched.last().map_or(&self.dir, |(_, p)| p)
    }

    /// The names made in the directory within `timeout` (none when nothing was). A name
    /// made before the directory itself could be watched is reported once it is.
    pub fn created(&mut self, timeout: Duration) -> io::Result<Vec<OsString>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
        // SAFETY: poll on one pollfd of ours.
        if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.read_events()
    }

    /// [`Self::created`] without waiting: for a caller whose own loop polls the fd.
    pub fn drain(&mut self) -> io::Result<Vec<OsString>> {
        self.read_events()
    }

    /// Reads what is queued (the fd does not block) and follows the directories down.
    fn read_events(&mut self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read into a local buffer.
            let got =
                unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if got <= 0 {
                break;
            }
            for event in parse_events(&buf[..got as usize]) {
                if event.mask & libc::IN_Q_OVERFLOW != 0 {
                    // Events were lost: anything there may be new.
                    names.extend(subdirectories(&self.dir));
                } else if event.mask & libc::IN_IGNORED != 0 {
                    // Its directory is gone (a slice stopped): the levels above still watch
                    // for it to come back.
                    if let Some(i) = self.watched.iter().position(|(wd, _)| *wd == event.wd) {
                        self.watched.truncate(i);
                    }
                } else if self
                    .watched
                    .last()
                    .is_some_and(|(wd, p)| *wd == event.wd && *p == self.dir)
                    && !event.name.is_empty()
                {
                    names.push(event.name);
                }
            }
        }
        names.extend(self.descend()?);
        Ok(names)
    }

    /// Watches each directory on the way to `dir` that exists by now. Returns what `dir` holds
    /// if it was reached just now: made before its watch, or no event would ever tell.
    fn descend(&mut self) -> io::Result<Vec<OsString>> {
        loop {
            let next = match self.watched.last() {
                None => self
                    .dir
                    .ancestors()
                    .find(|d| d.is_dir())
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?
                    .to_owned(),
                Some((_, at)) if *at == self.dir => return Ok(Vec::new()),
                Some((_, at)) => {
                    let Some(step) = self
                        .dir
                        .strip_prefix(at)
                        .ok()
                        .and_then(|rest| rest.components().next())
                    else {
                        return Ok(Vec::new());
                    };
                    at.join(step)
                }
            };
            let wd = match add_watch(&self.fd, &next) {
                Ok(wd) => wd,
                // Not made yet, or gone again: the level above tells when it is.
                Err(e)
                    if !self.watched.is_empty()
                        && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) =>
                {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e),
            };
            let reached = next == self.dir;
            self.watched.push((wd, next));
            if reached {
                return Ok(subdirectories(&self.dir));
            }
        }
    }
}

impl AsRawFd for CgroupWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn add_watch(fd: &OwnedFd, dir: &Path) -> io::Result<i32> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: an inotify fd this process owns and a NUL-terminated path.
    let wd = unsafe {
        libc::inotify_add_watch(
            fd.as_raw_fd(),
            c.as_ptr(),
            libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ONLYDIR,
        )
    };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(wd)
}

/// The directories in `dir` (a cgroup's child cgroups).
fn subdirectories(dir: &Path) -> Vec<OsString> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    name: OsString,
}

/// The events in a buffer of `struct inotify_event`s (wd, mask, cookie, len, then `len` bytes
/// of NUL-padded name).
fn parse_events(mut buf: &[u8]) -> Vec<Event> {
    const HEADER: usize = 16;
    let mut events = Vec::new();
    while buf.len() >= HEADER {
        let field = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
        let (wd, mask, len) = (field(0) as i32, field(4), field(12) as usize);
        let Some(name) = buf.get(HEADER..HEADER + len) else {
            break;
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        events.push(Event {
            wd,
            mask,
            name: OsStr::from_bytes(&name[..end]).to_owned(),
        });
        buf = &buf[HEADER + len..];
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(wd: i32, mask: u32, name: &[u8], padded: usize) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&wd.to_ne_bytes());
        e.extend_from_slice(&mask.to_ne_bytes());
        e.extend_from_slice(&0u32.to_ne_bytes());
        e.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.to_vec();
        n.resize(padded, 0);
        e.extend_from_slice(&n);
        e
    }

    #[test]
    fn events_come_out_of_a_buffer() {
        let mut buf = event(1, libc::IN_CREATE, b"nginx.service", 16);
        buf.extend(event(2, libc::IN_CREATE, b"redis-server.service", 32));
        buf.extend(event(2, libc::IN_IGNORED, b"", 0));
        let events = parse_events(&buf);
        let names: Vec<_> = events.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["nginx.service", "redis-server.service", ""]);
        assert_eq!((events[1].wd, events[2].mask), (2, libc::IN_IGNORED));
        // A truncated last event is not read past the buffer.
        assert_eq!(parse_events(&buf[..buf.len() - 40]).len(), 1);
    }

    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let base = std::env::temp_dir().join(format!("learner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("system.slice")).unwrap();
        Scratch(base)
    }

    const WAIT: Duration = Duration::from_secs(2);

    /// Waits for `name` to be reported, whatever else is.
    fn sees(watch: &mut CgroupWatch, name: &str) -> bool {
        let until = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < until {
            if watch.created(WAIT).unwrap().iter().any(|n| n == name) {
                return true;
            }
        }
        false
    }

    #[test]
    fn a_directory_that_appears_later_is_watched_from_above() {
        // An instance of a template whose slice does not exist yet: system.slice is watched,
        // then the slice as it appears, and the instance's cgroup is reported.
        let base = scratch("watch-later");
        let system = base.0.join("system.slice");
        let slice = system.join("system-openvpn.slice");
        let mut watch = CgroupWatch::new(&slice).expect("watch");
        assert_eq!(watch.watched(), system);
        // Something made elsewhere on the way is not the slice's.
        std::fs::create_dir(system.join("other.service")).unwrap();
        assert!(
            watch
                .created(Duration::from_millis(200))
                .unwrap()
                .is_empty()
        );
        std::fs::create_dir(&slice).unwrap();
        assert!(watch.created(WAIT).unwrap().is_empty());
        assert_eq!(watch.watched(), slice);
        std::fs::create_dir(slice.join("openvpn@a.service")).unwrap();
        assert!(sees(&mut watch, "openvpn@a.service"));
    }

    #[test]
    fn a_cgroup_made_with_its_slice_before_the_watch_got_there_is_reported() {
        // Both made before the watch reads its first event, as systemd does under load.
        let base = scratch("watch-both");
        let slice = base.0.join("system.slice/system-openvpn.slice");
        let mut watch = CgroupWatch::new(&slice).expect("watch");
        std::fs::create_dir_all(slice.join("openvpn@b.service")).unwrap();
        assert!(sees(&mut watch, "openvpn@b.service"));
        assert_eq!(watch.watched(), slice);
    }

    #[test]
    fn a_slice_removed_and_made_again_is_watched_again() {
        let base = scratch("watch-again");
        let slice = base.0.join("system.slice/system-openvpn.slice");
        std::fs::create_dir_all(&slice).unwrap();
        let mut watch = CgroupWatch::new(&slice).expect("watch");
        assert_eq!(watch.watched(), slice);
        std::fs::remove_dir(&slice).unwrap();
        assert!(watch.created(WAIT).unwrap().is_empty());
        assert_eq!(watch.watched(), base.0.join("system.slice"));
        std::fs::create_dir(&slice).unwrap();
        watch.created(WAIT).unwrap();
        std::fs::create_dir(slice.join("openvpn@c.service")).unwrap();
        assert!(sees(&mut watch, "openvpn@c.service"));
    }

    #[test]
    fn what_is_there_already_is_not_new() {
        let base = scratch("watch-there");
        let system = base.0.join("system.slice");
        std::fs::create_dir(system.join("nginx.service")).unwrap();
        let mut watch = CgroupWatch::new(&system).expect("watch");
        assert!(
            watch
                .created(Duration::from_millis(100))
                .unwrap()
                .is_empty()
        );
    }
}
