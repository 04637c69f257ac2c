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
    os::fd::OwnedFd,
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

use crate::systemd::{
    cgroup::{CgroupRef, cgroup_id},
    cgroup_watch::CgroupWatch,
};

/// How often the thread looks at its stop flag while no cgroup is made.
const POLL: Duration = Duration::from_millis(100);

pub struct CreationFollower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Each cgroup id followed, and whether a process of it had run its own program by then.
    followed: Arc<Mutex<BTreeMap<u64, bool>>>,
}

impl CreationFollower {
    /// Watches the directory of cgroup `path` for it to be made again (that directory may
    /// not exist yet: a template's slice is made with its first instance). `target` is the
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
        let watch = CgroupWatch::new(parent)
            .map_err(|e| format!("inotify on {}: {e}", parent.display()))?;
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

pub(crate) fn open_map(fd: OwnedFd, kind: fn(MapData) -> Map) -> Result<Map, String> {
    MapData::from_fd(fd).map(kind).map_err(|e| e.to_string())
}

struct Job {
    watch: CgroupWatch,
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
