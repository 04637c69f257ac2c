//! Follows a unit's cgroup from the moment systemd makes it again. A restart, or a crash's
//! recovery, gives the unit a new cgroup with a new id, and the kernel side records only the
//! id it was given. The recording's own loop learns of the new cgroup when it gets to the
//! inotify event, behind the ring buffer it drains: under load that is after the new
//! instance's start-up, or after a oneshot job's whole run. This thread does nothing else:
//! woken by inotify, at the highest priority an ordinary thread may have, it writes the new id
//! into the kernel side's target before the instance's first process has left systemd's hands
//! (which takes its own setup of the sandbox first), and says whether it was in time.
use std::{
    collections::BTreeMap,
    ffi::OsString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use aya::maps::{Array, HashMap, Map, MapData};
use learner_common::Target;

use crate::systemd::cgroup::{CgroupRef, cgroup_id};

/// How often the thread looks at its stop flag while no cgroup is made.
const POLL: Duration = Duration::from_millis(100);

pub struct CreationFollower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Each cgroup id followed, and whether a process of it had run its own program by then.
    followed: Arc<Mutex<BTreeMap<u64, bool>>>,
}

impl CreationFollower {
    /// Watches the directory of cgroup `path` for it to be made again. `target` is the
    /// kernel side's TARGET map, `exact` its EXACT_CGROUPS map where cgroups are matched by
    /// id; writes to TARGET take `lock`, as the recorder's do.
    pub fn start(
        path: &Path,
        target: OwnedFd,
        exact: Option<OwnedFd>,
        lock: Arc<Mutex<()>>,
    ) -> Result<Self, String> {
        let parent = path.parent().ok_or("a cgroup path without a parent")?;
        let name = path
            .file_name()
            .ok_or("a cgroup path without a name")?
            .to_owned();
        let watch =
            Watch::new(parent).map_err(|e| format!("inotify on {}: {e}", parent.display()))?;
        let target = open_map(target, Map::Array).map_err(|e| format!("TARGET: {e}"))?;
        let target: Array<MapData, Target> =
            Array::try_from(target).map_err(|e| format!("TARGET: {e}"))?;
        let exact = match exact {
            Some(fd) => {
                let map = open_map(fd, Map::HashMap).map_err(|e| format!("EXACT_CGROUPS: {e}"))?;
                Some(
                    HashMap::<MapData, u64, u8>::try_from(map)
                        .map_err(|e| format!("EXACT_CGROUPS: {e}"))?,
                )
            }
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let followed = Arc::new(Mutex::new(BTreeMap::new()));
        let mut job = Job {
            watch,
            path: path.to_owned(),
            name,
            target,
            exact,
            lock,
            followed: followed.clone(),
        };
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("learner-follow".into())
            .spawn(move || job.run(&flag))
            .map_err(|e| format!("thread: {e}"))?;
        Ok(Self {
            stop,
            thread: Some(thread),
            followed,
        })
    }

    /// Whether this thread followed cgroup `id`, and if it did, whether it was late (a
    /// process of the instance was running its own program already).
    pub fn followed(&self, id: u64) -> Option<bool> {
        self.followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }
}

impl Drop for CreationFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_map(fd: OwnedFd, kind: fn(MapData) -> Map) -> Result<Map, String> {
    MapData::from_fd(fd).map(kind).map_err(|e| e.to_string())
}

struct Job {
    watch: Watch,
    path: PathBuf,
    name: OsString,
    target: Array<MapData, Target>,
    exact: Option<HashMap<MapData, u64, u8>>,
    lock: Arc<Mutex<()>>,
    followed: Arc<Mutex<BTreeMap<u64, bool>>>,
}

impl Job {
    fn run(&mut self, stop: &AtomicBool) {
        // The highest priority of the ordinary (fair) class: under load, woken by inotify, it
        // runs ahead of the busy processes. A real-time class would be surer, and would stop
        // the cpu controller from being enabled where real-time group scheduling is built in.
        // SAFETY: gettid and setpriority on this thread; a refusal leaves the priority as is.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, -20);
        }
        while !stop.load(Ordering::Relaxed) {
            match self.watch.created(POLL) {
                Ok(names) if names.contains(&self.name) => self.follow(),
                Ok(_) => {}
                // The recording's loop still follows by itself.
                Err(_) => return,
            }
        }
    }

    fn follow(&mut self) {
        let Ok(id) = cgroup_id(&self.path) else {
            return;
        };
        {
            let _turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            let Ok(mut target) = self.target.get(&0, 0) else {
                return;
            };
            if target.cgroup_id == id {
                return;
            }
            if let Some(exact) = self.exact.as_mut() {
                let _ = exact.insert(id, 1, 0);
            }
            target.cgroup_id = id;
            if self.target.set(0, target, 0).is_err() {
                return;
            }
        }
        // In time when nothing in it runs a program of its own yet (systemd's forked
        // executor, `(name)`, is still setting up the sandbox).
        let cgroup = CgroupRef {
            path: self.path.clone(),
            id,
            level: 0,
        };
        let late = cgroup
            .processes()
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .any(|comm| !crate::recording::collector::is_service_manager(comm.trim_end()));
        self.followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, late);
    }
}

/// An inotify watch on a directory for names created or moved into it.
struct Watch {
    fd: OwnedFd,
}

impl Watch {
    fn new(dir: &Path) -> std::io::Result<Self> {
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(std::io::Error::other)?;
        // SAFETY: inotify calls on a fresh fd and a NUL-terminated path.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            if libc::inotify_add_watch(
                fd.as_raw_fd(),
                c.as_ptr(),
                libc::IN_CREATE | libc::IN_MOVED_TO,
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Self { fd })
        }
    }

    /// The names created within `timeout`; none when nothing was.
    fn created(&self, timeout: Duration) -> std::io::Result<Vec<OsString>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd of ours.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let mut names = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read into a local buffer.
            let got =
                unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if got <= 0 {
                break;
            }
            names.extend(parse_events(&buf[..got as usize]));
        }
        Ok(names)
    }
}

/// The names in a buffer of `struct inotify_event`s (wd, mask, cookie, len, then `len` bytes
/// of NUL-padded name).
fn parse_events(mut buf: &[u8]) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt as _;
    const HEADER: usize = 16;
    let mut names = Vec::new();
    while buf.len() >= HEADER {
        let len = u32::from_ne_bytes(buf[12..16].try_into().expect("4 bytes")) as usize;
        let Some(name) = buf.get(HEADER..HEADER + len) else {
            break;
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if end > 0 {
            names.push(std::ffi::OsStr::from_bytes(&name[..end]).to_owned());
        }
        buf = &buf[HEADER + len..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &[u8], padded: usize) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&1i32.to_ne_bytes());
        e.extend_from_slice(&(libc::IN_CREATE).to_ne_bytes());
        e.extend_from_slice(&0u32.to_ne_bytes());
        e.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.to_vec();
        n.resize(padded, 0);
        e.extend_from_slice(&n);
        e
    }

    #[test]
    fn names_come_out_of_a_buffer_of_events() {
        let mut buf = event(b"nginx.service", 16);
        buf.extend(event(b"redis-server.service", 32));
        buf.extend(event(b"", 0));
        let names = parse_events(&buf);
        assert_eq!(names, ["nginx.service", "redis-server.service"]);
        // A truncated last event is not read past the buffer.
        assert_eq!(parse_events(&buf[..buf.len() - 40]).len(), 1);
    }
}
