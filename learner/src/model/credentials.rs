//! What a recording says about the service's identity: the uid:gid its processes ran with,
//! the ids its set*id calls switched to, capabilities it was granted while not root, what it
//! wrote as root and as another user, and who owns those paths at the end. Observations only;
//! `policy::identity` decides whether the service needs root at all.
use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::MetadataExt,
    path::Path,
};

use serde::{Deserialize, Serialize};

use crate::model::observations::Seen;

/// The `identity` section of a profile. Empty in profiles of learners before it (their
/// `credentials` is empty, while every recording of a newer one has some).
/// Calls that change a process's ids.
pub const ID_CHANGES: &[&str] = &[
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
];

/// Calls besides the id changes that make a thread's own credentials anew (or may).
/// execve's own checks come both before and after its new credentials are installed.
const OTHER_SWITCHES: &[&str] = &["execve", "execveat", "capset", "prctl", "unshare", "keyctl"];

/// Whether `syscall` may give its thread new credentials of its own (a new struct, maybe at
/// an address it had before).
pub fn switches_credentials(syscall: &str) -> bool {
    ID_CHANGES.contains(&syscall) || OTHER_SWITCHES.contains(&syscall)
}

/// Whether a capability check during `syscall` is made with the process's own credentials
/// as they are being changed, whatever /proc says afterwards: an id change, capset, prctl,
/// or an exec.
pub fn changes_credentials(syscall: &str) -> bool {
    ID_CHANGES.contains(&syscall) || ["capset", "prctl", "execve", "execveat"].contains(&syscall)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `UID:GID` the traced syscalls ran with (a set*id call's: after it), by process name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, Seen>,
    /// set*id calls by their arguments: `setuid 103`, `setresgid -1 106 -1`, `setgroups 0`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub switches: BTreeMap<String, Seen>,
    /// Capability checks by a process whose own uid was not 0, with the syscall in progress:
    /// `CAP_NET_BIND_SERVICE as 103 during bind`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unprivileged_capabilities: BTreeMap<String, Seen>,
    /// What had to be writable for writes made as root: a file, or the directory of an entry
    /// created, removed or renamed; an entry right in /run, /var/lib, /var/cache or /var/log
    /// is itself (its directory is what a directory directive would provide).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub root_writes: BTreeMap<String, Seen>,
    /// The same for writes made by a process that was not root: `103 /var/lib/x`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_writes: BTreeMap<String, Seen>,
    /// Owner and mode of each written path (and of the nearest existing directory above a
    /// path that is gone) at the end of the recording: `103:106 0644`, `0:0 0755 dir`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, String>,
    /// Names of the non-root uids and gids seen, from the recorded system's passwd and group
    /// files: `uid 103: memcache`, `gid 106: memcache`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
}

/// What an event adds to [`Identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySlot {
    Credentials(String),
    Switch(String),
    UnprivilegedCapability(String),
    RootWrite(String),
    UserWrite(String),
}

fn merge_map(into: &mut BTreeMap<String, Seen>, from: &BTreeMap<String, Seen>) {
    for (k, seen) in from {
        into.entry(k.clone()).or_default().merge(seen);
    }
}

/// `uid:gid` as a syscall event carries it.
pub fn credentials(uid_gid: u64) -> (u32, u32) {
    (uid_gid as u32, (uid_gid >> 32) as u32)
}

/// A set*id call's description from its arguments; `None` for other syscalls.
pub fn switch(name: &str, args: &[u64; 6]) -> Option<String> {
    let id = |a: u64| match a as u32 {
        u32::MAX => "-1".to_owned(),
        v => v.to_string(),
    };
    Some(match name {
        "setuid" | "setgid" => format!("{name} {}", id(args[0])),
        "setreuid" | "setregid" => format!("{name} {} {}", id(args[0]), id(args[1])),
        "setresuid" | "setresgid" => {
            format!("{name} {} {} {}", id(args[0]), id(args[1]), id(args[2]))
        }
        "setgroups" => format!("setgroups {}", args[0] as u32),
        _ => return None,
    })
}

/// The entries of a passwd or group file: name, uid (or gid), and passwd's gid when there is one.
pub fn accounts(table: &str) -> impl Iterator<Item = (&str, u32, Option<u32>)> {
    table.lines().filter_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse().ok()?;
        Some((name, id, fields.next().and_then(|g| g.parse().ok())))
    })
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn add(&mut self, slot: &IdentitySlot, ret: i64, comm: &str, n: u64) {
        let (map, key) = match slot {
            IdentitySlot::Credentials(k) => (&mut self.credentials, k),
            IdentitySlot::Switch(k) => (&mut self.switches, k),
            IdentitySlot::UnprivilegedCapability(k) => (&mut self.unprivileged_capabilities, k),
            IdentitySlot::RootWrite(k) => (&mut self.root_writes, k),
            IdentitySlot::UserWrite(k) => (&mut self.user_writes, k),
        };
        crate::model::observations::entry_mut(map, key).add(ret, comm, n);
    }

    pub fn merge(&mut self, other: &Identity) {
        merge_map(&mut self.credentials, &other.credentials);
        merge_map(&mut self.switches, &other.switches);
        merge_map(
            &mut self.unprivileged_capabilities,
            &other.unprivileged_capabilities,
        );
        merge_map(&mut self.root_writes, &other.root_writes);
        merge_map(&mut self.user_writes, &other.user_writes);
        // The later recording's owners win: they describe the system as it is now.
        self.owners
            .extend(other.owners.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.names
            .extend(other.names.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Moves the writes below `prefix` (its direct entries, or with `whole_tree` all) into
    /// the folded path `key`, as the observations fold their paths.
    pub fn fold(&mut self, prefix: &str, whole_tree: bool, key: &str) {
        let covered = |p: &str| {
            p != key
                && p.strip_prefix(prefix)
                    .is_some_and(|rest| whole_tree || !rest.contains('/'))
        };
        let moved: Vec<String> = self
            .root_writes
            .keys()
            .filter(|p| covered(p))
            .cloned()
            .collect();
        for p in moved {
            if let Some(seen) = self.root_writes.remove(&p) {
                self.root_writes
                    .entry(key.to_owned())
                    .or_default()
                    .merge(&seen);
            }
        }
        let moved: Vec<(String, String)> = self
            .user_writes
            .keys()
            .filter_map(|k| {
                let (uid, p) = k.split_once(' ')?;
                covered(p).then(|| (k.clone(), format!("{uid} {key}")))
            })
            .collect();
        for (k, to) in moved {
            if let Some(seen) = self.user_writes.remove(&k) {
                self.user_writes.entry(to).or_default().merge(&seen);
            }
        }
    }

    /// The uids and gids the service's processes ran with.
    pub fn ids(&self) -> (BTreeSet<u32>, BTreeSet<u32>) {
        let mut uids = BTreeSet::new();
        let mut gids = BTreeSet::new();
        for key in self.credentials.keys() {
            if let Some((u, g)) = key.split_once(':')
                && let (Ok(u), Ok(g)) = (u.parse(), g.parse())
            {
                uids.insert(u);
                gids.insert(g);
            }
        }
        (uids, gids)
    }

    /// Every path written (as root or not), without the uid.
    pub fn written(&self) -> BTreeSet<String> {
        let user = self
            .user_writes
            .keys()
            .filter_map(|k| k.split_once(' ').map(|(_, p)| p.to_owned()));
        self.root_writes.keys().cloned().chain(user).collect()
    }

    /// Notes who owns each of `paths` that exists under `root` (`UID:GID MODE[ dir]`, as
    /// for written paths): entries a create found there already, which a first start on a
    /// new host makes, as its owner says, for whom.
    pub fn note_existing(&mut self, root: &Path, paths: impl Iterator<Item = String>) {
        for path in paths {
            if let Ok(m) = std::fs::symlink_metadata(root.join(path.trim_start_matches('/'))) {
                let kind = if m.is_dir() { " dir" } else { "" };
                let desc = format!("{}:{} {:04o}{kind}", m.uid(), m.gid(), m.mode() & 0o7777);
                self.owners.entry(path).or_insert(desc);
            }
        }
    }

    /// Notes who owns each written path, and the names of the ids seen, as the system
    /// under `root` (`/`, or a guest's `/proc/PID/root`) has them at the end of the recording.
    pub fn resolve(&mut self, root: &Path) {
        let inside = |p: &str| root.join(p.trim_start_matches('/'));
        for path in self.written() {
            // A path that is gone (a temporary file, a pid file removed at stop): its nearest
            // existing directory above says who could create it again.
            let mut at = path.as_str();
            loop {
                if let Ok(m) = std::fs::symlink_metadata(inside(at)) {
                    let kind = if m.is_dir() { " dir" } else { "" };
                    let desc = format!("{}:{} {:04o}{kind}", m.uid(), m.gid(), m.mode() & 0o7777);
                    let key = if at == path {
                        path.clone()
                    } else {
                        format!("{path} (gone; {at})")
                    };
                    self.owners.insert(key, desc);
                    break;
                }
                match at.rsplit_once('/') {
                    Some(("", _)) if at != "/" => at = "/",
                    Some((dir, _)) if !dir.is_empty() => at = dir,
                    _ => break,
                }
            }
        }
        let (uids, gids) = self.ids();
        let passwd = std::fs::read_to_string(inside("etc/passwd")).unwrap_or_default();
        let group = std::fs::read_to_string(inside("etc/group")).unwrap_or_default();
        let name_of = |file: &str, id: u32| {
            accounts(file).find_map(|(name, of, _)| (of == id).then(|| name.to_owned()))
        };
        for uid in uids.into_iter().filter(|&u| u != 0) {
            if let Some(name) = name_of(&passwd, uid) {
                self.names.insert(format!("uid {uid}"), name);
            }
        }
        for gid in gids.into_iter().filter(|&g| g != 0) {
            if let Some(name) = name_of(&group, gid) {
                self.names.insert(format!("gid {gid}"), name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_by_arguments() {
        let a = |v: &[u64]| {
            let mut args = [0u64; 6];
            args[..v.len()].copy_from_slice(v);
            args
        };
        assert_eq!(switch("setuid", &a(&[103])).unwrap(), "setuid 103");
        assert_eq!(
            switch("setresgid", &a(&[u32::MAX as u64, 106, u64::MAX])).unwrap(),
            "setresgid -1 106 -1"
        );
        assert_eq!(
            switch("setgroups", &a(&[0, 0x7fff])).unwrap(),
            "setgroups 0"
        );
        assert_eq!(switch("openat", &a(&[])), None);
    }

    #[test]
    fn resolves_owners_and_names() {
        let dir = TempDir(
            std::env::temp_dir().join(format!("learner-credentials-test-{}", std::process::id())),
        );
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nmemcache:x:103:106::/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nmemcache:x:106:\n").unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/x")).unwrap();
        let mut id = Identity::default();
        id.add(&IdentitySlot::Credentials("0:0".into()), 0, "sh", 1);
        id.add(
            &IdentitySlot::Credentials("103:106".into()),
            0,
            "memcached",
            1,
        );
        id.add(&IdentitySlot::RootWrite("/var/lib/x".into()), 0, "sh", 1);
        id.add(
            &IdentitySlot::UserWrite("103 /var/lib/x/gone".into()),
            0,
            "m",
            1,
        );
        id.resolve(dir.path());
        let me = own_uid();
        assert!(id.owners["/var/lib/x"].starts_with(&format!("{me}:")));
        assert!(id.owners.contains_key("/var/lib/x/gone (gone; /var/lib/x)"));
        assert_eq!(id.names["uid 103"], "memcache");
        assert_eq!(id.names["gid 106"], "memcache");
        assert!(!id.names.contains_key("uid 0"));
    }

    fn own_uid() -> u32 {
        std::fs::metadata("/proc/self").unwrap().uid()
    }

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
