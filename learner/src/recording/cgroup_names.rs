//! Which unit a cgroup id belongs to, for a recording of every unit at once: events carry
//! the id of their task's cgroup, and a unit's cgroup may be gone by the time its events are
//! read (a timer's job that ran for 50 ms). A thread woken by inotify names each cgroup made
//! below the recorded slice as it appears, while it still exists; with the exact-id probe it
//! also adds the cgroup to the kernel side's table then, before the unit's process has left
//! systemd's hands (the recording's loop would add it 50 ms later at best).
use std::{
    collections::{HashMap, HashSet},
    ffi::{CString, OsStr},
    io,
    os::{
        fd::{AsRawFd, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use crate::systemd::cgroup::cgroup_id;

/// How long the thread waits for inotify before it looks at its stop flag.
const POLL_MS: libc::c_int = 100;

/// A cgroup below the recorded slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The service unit it belongs to (the first `.service` on its path below the slice),
    /// none for a slice or another kind of unit.
    pub unit: Option<String>,
    pub path: PathBuf,
    /// Made while the recording ran (a unit started, or restarted, under it).
    pub made_while_recording: bool,
}

/// The service a cgroup path below `root` belongs to.
pub fn unit_of(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root)
        .ok()?
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .find(|c| c.ends_with(".service"))
        .map(|c| c.into_owned())
}

#[derive(Default)]
struct Table {
    by_id: HashMap<u64, Named>,
}

impl Table {
    fn note(&mut self, root: &Path, path: &Path, made: bool) -> Option<u64> {
        let id = cgroup_id(path).ok()?;
        self.by_id.entry(id).or_insert_with(|| Named {
            unit: unit_of(root, path),
            path: path.to_owned(),
            made_while_recording: made,
        });
        Some(id)
    }
}

pub struct CgroupNames {
    root: PathBuf,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CgroupNames {
    /// Names every cgroup below `root` now, and from a thread of its own each one made
    /// later, as it is made; each is added to `exact` (the kernel side's EXACT_CGROUPS)
    /// when given.
    pub fn start(root: &Path, exact: Option<OwnedFd>) -> io::Result<Self> {
        let exact = match exact {
            Some(fd) => Some(
                crate::recording::follower::open_map(fd, aya::maps::Map::HashMap)
                    .and_then(|m| {
                        aya::maps::HashMap::<aya::maps::MapData, u64, u8>::try_from(m)
                            .map_err(|e| e.to_string())
                    })
                    .map_err(io::Error::other)?,
            ),
            None => None,
        };
        // SAFETY: creates a fresh fd, owned at once.
        let fd = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let table = Arc::new(Mutex::new(Table::default()));
        let mut watcher = Watcher {
            fd,
            root: root.to_owned(),
            dirs: HashMap::new(),
            table: table.clone(),
            exact,
        };
        // Watched before it is read: a cgroup made in between is seen twice, never missed.
        watcher.add_tree(root, false);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("learner-cgroups".into())
            .spawn(move || watcher.run(&stopping))?;
        Ok(Self {
            root: root.to_owned(),
            table,
            stop,
            thread: Some(thread),
        })
    }

    /// What cgroup `id` is, when it is (or was, while recorded) below the root: looked up
    /// again in the tree when the thread has not named it yet.
    pub fn get(&self, id: u64) -> Option<Named> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(named) = table.by_id.get(&id) {
            return Some(named.clone());
        }
        // The thread may be a moment behind; a cgroup made before the recording was not
        // made while it ran.
        for dir in std::iter::once(self.root.clone()).chain(descendants(&self.root)) {
            table.note(&self.root, &dir, true);
        }
        table.by_id.get(&id).cloned()
    }

    /// What cgroup `id` is, if it was named already (no look in the tree).
    pub fn known(&self, id: u64) -> Option<Named> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.by_id.get(&id).cloned()
    }

    /// Every cgroup named so far.
    pub fn all(&self) -> Vec<(u64, Named)> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.by_id.iter().map(|(id, n)| (*id, n.clone())).collect()
    }
}

impl Drop for CgroupNames {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Watcher {
    fd: OwnedFd,
    root: PathBuf,
    dirs: HashMap<i32, PathBuf>,
    table: Arc<Mutex<Table>>,
    exact: Option<aya::maps::HashMap<aya::maps::MapData, u64, u8>>,
}

impl Watcher {
    /// Watches `dir` and every directory below it, and names each.
    fn add_tree(&mut self, dir: &Path, made: bool) {
        let mut seen = HashSet::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(dir) = todo.pop() {
            if !seen.insert(dir.clone()) {
                continue;
            }
            if let Ok(c) = CString::new(dir.as_os_str().as_bytes()) {
                // SAFETY: a valid path string and our inotify fd.
                let wd = unsafe {
                    libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), libc::IN_CREATE)
                };
                if wd >= 0 {
                    self.dirs.insert(wd, dir.clone());
                }
            }
            let id = self
                .table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .note(&self.root, &dir, made);
            if let (Some(map), Some(id)) = (self.exact.as_mut(), id) {
                // A full table is the recording loop's to report (it adds them too).
                let _ = map.insert(id, 1, 0);
            }
            if let Ok(entries) = std::fs::read_dir(&dir) {
                todo.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut buf = [0u8; 8192];
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd of ours.
            if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } <= 0 {
                continue;
            }
            // SAFETY: read into a local buffer.
            let got =
                unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if got <= 0 {
                continue;
            }
            let mut made = Vec::new();
            let mut at = 0usize;
            let header = size_of::<libc::inotify_event>();
            while at + header <= got as usize {
                // SAFETY: the kernel wrote a whole event header here.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                let name = &buf[at + header..at + header + ev.len as usize];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                if ev.mask & libc::IN_ISDIR != 0
                    && let Some(dir) = self.dirs.get(&ev.wd)
                {
                    made.push(dir.join(OsStr::from_bytes(&name[..end])));
                }
                at += header + ev.len as usize;
            }
            for dir in made {
                self.add_tree(&dir, true);
            }
        }
    }
}

fn descendants(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                    todo.push(e.path());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_belongs_to_the_first_service_on_its_path() {
        let root = Path::new("/sys/fs/cgroup/system.slice");
        let unit = |p: &str| unit_of(root, &root.join(p));
        assert_eq!(unit("nginx.service").as_deref(), Some("nginx.service"));
        assert_eq!(
            unit("system-postgresql.slice/postgresql@15-main.service").as_deref(),
            Some("postgresql@15-main.service")
        );
        // A delegated subtree is its unit's.
        assert_eq!(
            unit("containerd.service/runc-1/payload").as_deref(),
            Some("containerd.service")
        );
        assert_eq!(unit("system-getty.slice"), None);
        assert_eq!(unit(""), None);
        assert_eq!(
            unit_of(root, Path::new("/sys/fs/cgroup/user.slice/x.service")),
            None
        );
    }
}
