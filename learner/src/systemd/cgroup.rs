//! cgroup v2: finding the hierarchy, and a throw-away cgroup that a recording follows.
use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup2 file system is mounted (none listed in /proc/self/mounts)")]
    NotMounted,
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cgroup {path} still has processes after they were killed")]
    Busy { path: PathBuf },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.to_owned();
    move |source| CgroupError::Io {
        action,
        path,
        source,
    }
}

/// Where the cgroup2 hierarchy is mounted: `/sys/fs/cgroup` on most hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_mount() -> Result<PathBuf, CgroupError> {
    let mounts = fs::read_to_string("/proc/self/mounts")
        .map_err(io_err("cannot read", Path::new("/proc/self/mounts")))?;
    parse_cgroup2_mount(&mounts).ok_or(CgroupError::NotMounted)
}

/// The first cgroup2 mount point in a `/proc/self/mounts` text.
pub fn parse_cgroup2_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let (_source, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(unescape_mount_field(target)))
    })
}

/// The kernel writes space, tab, newline and backslash in mount fields as `\ooo` octal escapes.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|b| (b'0'..=b'7').contains(b))
                .then(|| d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0')))
        });
        match (bytes[i], octal) {
            (b'\\', Some(value)) if value <= 0xff => {
                out.push(value as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cgroup's id as the kernel reports it to BPF: the inode number of its directory.
pub fn cgroup_id(path: &Path) -> Result<u64, CgroupError> {
    Ok(fs::metadata(path)
        .map_err(io_err("cannot stat", path))?
        .ino())
}

/// Depth of `path` below the cgroup2 mount `root` (level 0). Inside a non-initial cgroup
/// namespace (a container) the mount root is not the hierarchy's root and this undercounts:
/// the recorder measures how much (see `recorder::level_offset`).
fn level_below(root: &Path, path: &Path) -> u32 {
    path.strip_prefix(root)
        .map(|rel| rel.components().count() as u32)
        .unwrap_or(0)
}

/// A cgroup to record: learner's own, or a service's, which may not exist yet (a unit about to
/// be restarted) and whose id changes each time systemd recreates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRef {
    pub path: PathBuf,
    /// Its current id, 0 while it does not exist.
    pub id: u64,
    /// Depth below the cgroup2 root, which is level 0.
    pub level: u32,
}

impl CgroupRef {
    /// `path` below the cgroup2 root `root`; its id is read now (0 when missing).
    pub fn at(root: &Path, path: PathBuf) -> Self {
        let level = level_below(root, &path);
        let id = cgroup_id(&path).unwrap_or(0);
        Self { path, id, level }
    }

    /// The ids of every cgroup below this one.
    pub fn descendant_ids(&self) -> Vec<u64> {
        descendant_dirs(&self.path)
            .filter_map(|dir| cgroup_id(&dir).ok())
            .collect()
    }

    /// Process ids (tgids) of every process in this cgroup and below it.
    pub fn processes(&self) -> Vec<i32> {
        std::iter::once(self.path.clone())
            .chain(descendant_dirs(&self.path))
            .flat_map(|dir| read_pids(&dir.join("cgroup.procs")))
            .collect()
    }

    /// Thread ids of every task in this cgroup and below it.
    pub fn threads(&self) -> Vec<i32> {
        std::iter::once(self.path.clone())
            .chain(descendant_dirs(&self.path))
            .flat_map(|dir| read_pids(&dir.join("cgroup.threads")))
            .collect()
    }
}

/// The cgroup directory below `root` (or `root` itself) whose id is `id`.
pub fn find_by_id(root: &Path, id: u64) -> Option<PathBuf> {
    std::iter::once(root.to_owned())
        .chain(descendant_dirs(root))
        .find(|dir| cgroup_id(dir).is_ok_and(|i| i == id))
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `procs`. It runs between
/// fork and exec, so it may only make async-signal-safe calls: no allocation.
pub fn join(procs: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a local buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(err);
        }
    }
    Ok(())
}

/// A cgroup that learner created and removes again, with everything below it.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    id: u64,
    level: u32,
    removed: bool,
}

impl Cgroup {
    /// Creates `name` directly below the cgroup2 root `root`.
    pub fn create(root: &Path, name: &str) -> Result<Self, CgroupError> {
        let path = root.join(name);
        fs::create_dir(&path).map_err(io_err("cannot create cgroup", &path))?;
        let id = match cgroup_id(&path) {
            Ok(id) => id,
            Err(e) => {
                let _ = fs::remove_dir(&path);
                return Err(e);
            }
        };
        let level = level_below(root, &path);
        Ok(Self {
            path,
            id,
            level,
            removed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    /// `cgroup.procs` of this cgroup: writing a pid (or 0, for the writer) there moves it in.
    pub fn procs_file(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// This cgroup as a recording target.
    pub fn target(&self) -> CgroupRef {
        CgroupRef {
            path: self.path.clone(),
            id: self.id,
            level: self.level,
        }
    }

    /// Pids of the processes in this cgroup and all below it.
    pub fn pids(&self) -> Vec<i32> {
        std::iter::once(self.path.clone())
            .chain(descendant_dirs(&self.path))
            .flat_map(|dir| read_pids(&dir.join("cgroup.procs")))
            .collect()
    }

    /// Kills every process left in the subtree and waits for them to go. Returns how many
    /// there were.
    pub fn kill_all(&self) -> Result<usize, CgroupError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut killed = std::collections::BTreeSet::new();
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                return Ok(killed.len());
            }
            for pid in pids {
                killed.insert(pid);
                // SAFETY: plain kill(2); the pid was read from our own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Busy {
                    path: self.path.clone(),
                });
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills what is left inside, then removes the subtree, deepest cgroups first.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_inner()
    }

    fn remove_inner(&mut self) -> Result<(), CgroupError> {
        if self.removed {
            return Ok(());
        }
        self.kill_all()?;
        for dir in deepest_first(&self.path) {
            remove_dir_retrying(&dir)?;
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove_inner() {
            eprintln!("{}", left_behind_warning(&self.path, &e));
        }
    }
}

/// Removes the cgroups directly below `root` that `left_behind` picks by name (what a killed
/// run left: SIGKILL gives no chance to clean up) and that hold no process, each with what is
/// below it. Returns those removed; a populated one is kept, something still runs there.
pub fn remove_left_behind(root: &Path, left_behind: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    empty_left_behind(root, left_behind)
        .into_iter()
        // rmdir fails, harmlessly, if something moved in meanwhile.
        .filter(|dir| deepest_first(dir).iter().all(|d| fs::remove_dir(d).is_ok()))
        .collect()
}

/// The cgroups directly below `root` that `left_behind` picks and that hold no process.
fn empty_left_behind(root: &Path, left_behind: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| left_behind(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|dir| {
            fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|e| e.lines().any(|l| l == "populated 0"))
        })
        .collect()
}

/// `dir` and every cgroup below it, children before parents: the order rmdir needs.
fn deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = descendant_dirs(dir).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.push(dir.to_owned());
    dirs
}

/// What to tell the user when learner could not remove its own cgroup: it stays until removed
/// by hand.
fn left_behind_warning(path: &Path, e: &CgroupError) -> String {
    format!(
        "learner: warning: learner's cgroup {} is left behind ({e}); once nothing runs in it (its cgroup.procs is empty), remove it with `rmdir {}` (its subdirectories first)",
        path.display(),
        path.display()
    )
}

/// rmdir of a cgroup fails with EBUSY for a moment after its last process was reaped.
fn remove_dir_retrying(dir: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io_err("cannot remove cgroup", dir)(e)),
        }
    }
}

fn read_pids(procs: &Path) -> Vec<i32> {
    fs::read_to_string(procs)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Every cgroup directory below `root`, parents before children.
fn descendant_dirs(root: &Path) -> impl Iterator<Item = PathBuf> {
    let mut stack = vec![root.to_owned()];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(entry.path());
                stack.push(entry.path());
            }
        }
    }
    out.into_iter()
}

/// The cgroups below `root` (outside `skip`) with a process whose real, effective or saved uid
/// is `uid` (or gid is `gid`), by their last path component (`postgresql@15-main.service`,
/// `session-3.scope`). Read from cgroup.procs and /proc: a process gone meanwhile is skipped.
pub fn processes_as(
    root: &Path,
    skip: &Path,
    uid: u32,
    gid: Option<u32>,
) -> std::collections::BTreeSet<String> {
    let (uid, gid) = (uid.to_string(), gid.map(|g| g.to_string()));
    let mut found = std::collections::BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if dir.starts_with(skip) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        dirs.extend(
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let runs_as = |pid: &str| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let has = |field: &str, id: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(field))
                    .is_some_and(|ids| ids.split_whitespace().take(3).any(|i| i == id))
            };
            has("Uid:", &uid) || gid.as_deref().is_some_and(|g| has("Gid:", g))
        };
        if procs.lines().any(runs_as)
            && let Some(name) = dir.file_name()
        {
            found.insert(name.to_string_lossy().into_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_found_in_its_cgroup_by_its_uid() {
        // This test's own process, in its own cgroup, by its uid or its gid; a uid nobody has
        // is nowhere.
        let Ok(mount) = cgroup2_mount() else {
            eprintln!("skipped: no cgroup2 mount here");
            return;
        };
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let own_dir = mount.join(rel.trim_start_matches('/'));
        let name = own_dir.file_name().unwrap().to_string_lossy().into_owned();
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let found = processes_as(&mount, Path::new("/nonexistent"), uid, None);
        assert!(found.contains(&name), "{name} not in {found:?}");
        let again = processes_as(&mount, Path::new("/nonexistent"), u32::MAX - 7, None);
        assert!(again.is_empty(), "{again:?}");
        // SAFETY: getgid has no preconditions.
        let gid = unsafe { libc::getgid() };
        let by_group = processes_as(&mount, Path::new("/nonexistent"), u32::MAX - 7, Some(gid));
        assert!(by_group.contains(&name), "{name} not in {by_group:?}");
    }

    #[test]
    fn only_empty_cgroups_the_rule_picks_are_left_behind() {
        // cgroup.events as the kernel writes it, in plain directories.
        let root = std::env::temp_dir().join(format!("learner-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (name, populated) in [
            ("learner-run-1", "0"),
            ("learner-run-2", "1"),
            ("learner-guest-3", "0"),
            ("system.slice", "0"),
        ] {
            fs::create_dir_all(root.join(name).join("child")).unwrap();
            fs::write(
                root.join(name).join("cgroup.events"),
                format!("populated {populated}\nfrozen 0\n"),
            )
            .unwrap();
        }
        let mut picked = empty_left_behind(&root, |name| name.starts_with("learner-"));
        picked.sort();
        assert_eq!(
            picked,
            [root.join("learner-guest-3"), root.join("learner-run-1")]
        );
        let runs = empty_left_behind(&root, |name| name.starts_with("learner-run-"));
        assert_eq!(runs, [root.join("learner-run-1")]);
        assert_eq!(
            deepest_first(&root.join("learner-run-1")),
            [root.join("learner-run-1/child"), root.join("learner-run-1")]
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_cgroup_left_behind_says_where_and_how_to_remove_it() {
        let path = Path::new("/sys/fs/cgroup/learner-run-42");
        let e = CgroupError::Busy {
            path: path.to_owned(),
        };
        assert_eq!(
            left_behind_warning(path, &e),
            "learner: warning: learner's cgroup /sys/fs/cgroup/learner-run-42 is left behind (cgroup /sys/fs/cgroup/learner-run-42 still has processes after they were killed); once nothing runs in it (its cgroup.procs is empty), remove it with `rmdir /sys/fs/cgroup/learner-run-42` (its subdirectories first)"
        );
    }

    #[test]
    fn finds_cgroup2_on_hybrid_and_unified_hosts() {
        let hybrid = "sysfs /sys sysfs rw 0 0\n\
            tmpfs /sys/fs/cgroup tmpfs ro 0 0\n\
            cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n\
            cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
        assert_eq!(
            parse_cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(
            parse_cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            parse_cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"),
            None
        );
    }

    #[test]
    fn unescapes_mount_points() {
        let mounts = "none /mnt/my\\040cgroups cgroup2 rw 0 0\n";
        assert_eq!(
            parse_cgroup2_mount(mounts),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        assert_eq!(unescape_mount_field("a\\134b"), "a\\b");
        assert_eq!(unescape_mount_field("trailing\\"), "trailing\\");
    }
}
