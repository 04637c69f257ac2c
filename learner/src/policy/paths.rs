//! Devices and the file system the service never uses: `DevicePolicy=`/`DeviceAllow=` when
//! PrivateDevices= cannot be set, `ProtectHome=tmpfs`, `InaccessiblePaths=` for top-level
//! trees never touched, and `NoExecPaths=/` with `ExecPaths=` for what it executed or loaded.
//! Like the rest of the policy, these read the profile only.
use std::collections::{BTreeMap, BTreeSet};

use super::Decision;
use crate::{
    model::observations::{Access, Seen, folded_dir},
    model::profile::Profile,
};

pub(crate) use crate::model::observations::under;

/// Paths the service really created (a successful create or mknod), the tops of `dirs`
/// excluded: what lies below one of them is its own.
fn created_below(p: &Profile, dirs: &[&str]) -> BTreeSet<String> {
    p.observations
        .paths
        .iter()
        .filter(|(path, a)| {
            dirs.iter().any(|d| under(path, d) && path.as_str() != *d)
                && a.iter()
                    .any(|(k, s)| matches!(k, Access::Create | Access::Mknod) && s.ok > 0)
        })
        .map(|(path, _)| path.clone())
        .collect()
}

pub(crate) const HOMES: &[&str] = &["/home", "/root", "/run/user"];

/// Whether the service tried to create `path` (a mkdir that found it there counts: `mkdir
/// -p` makes sure of it, and on an empty tmpfs it makes it).
fn tried_to_create(p: &Profile, path: &str) -> bool {
    p.observations
        .paths
        .get(path)
        .is_some_and(|a| a.contains_key(&Access::Create) || a.contains_key(&Access::Mknod))
}

/// Whether the service watches the host's file systems: it read the mount table and asked
/// file systems' sizes by path (statfs: collectd's df, the node exporter's filesystem
/// collector, `df`). It asks of every mount it finds, on the host it runs on, not only of
/// those the recording's machine had: any mount the sandbox hides (InaccessiblePaths=,
/// ProtectHome=yes or tmpfs) reports the empty node over it instead, silently. The paths
/// themselves are recorded only since 2026-12-07; the count is in every profile.
pub fn watches_file_systems(p: &Profile) -> Option<String> {
    let statfs = *p.syscalls.get("statfs")?;
    let (table, seen) = p.observations.paths.iter().find_map(|(path, accesses)| {
        let table = matches!(path.as_str(), "/proc/mounts" | "/etc/mtab")
            || path.strip_prefix("/proc/").is_some_and(|rest| {
                rest.split_once('/')
                    .is_some_and(|(_, file)| file == "mounts" || file == "mountinfo")
            });
        table
            .then(|| accesses.get(&Access::Read).filter(|s| s.ok > 0))
            .flatten()
            .map(|seen| (path, seen))
    })?;
    let by: Vec<&str> = seen.by.iter().collect();
    Some(format!(
        "it read the mount table ({table} by {}) and asked file systems' sizes (statfs {statfs}x): a mount hidden from it would report the empty node over it",
        by.join(",")
    ))
}

/// Whether every use of a path found nothing there (ENOENT, ENOTDIR: Python's user site
/// directory looked up in root's home). On an empty tmpfs it finds nothing either, with the
/// same error.
fn nothing_there(seen: &Seen) -> bool {
    seen.ok == 0
        && !seen.errors.is_empty()
        && seen.errors.keys().all(|e| e == "ENOENT" || e == "ENOTDIR")
}

/// ProtectHome=tmpfs: /home, /root and /run/user are empty tmpfs instances (namespace.c's
/// protect_home_tmpfs_table), writable, fresh on every start. It keeps what the service does
/// below entries it created itself, where it also made (or made sure of, `mkdir -p`) every
/// directory between the top and the entry, and the tops (a lookup of /root finds an empty
/// one); it breaks a read of anything that was there before, or a write to it, and a create
/// in a directory that was there before (an at job writing /home/USER/out: ENOENT).
pub fn home_outside_own(p: &Profile) -> Option<String> {
    // A service acting for the host's users looks for their files (postfix's local looks up
    // each recipient's ~/.forward): not there for the recorded users, there for others.
    let for_users = super::users::acts_for_users(p).is_some();
    let (own, orphans): (BTreeSet<String>, BTreeSet<String>) =
        created_below(p, HOMES).into_iter().partition(|c| {
            let top = HOMES.iter().find(|t| under(c, t)).copied().unwrap_or("/");
            let mut dir = std::path::Path::new(c.as_str()).parent();
            while let Some(d) = dir.and_then(|d| d.to_str()) {
                if d == top || d == "/" {
                    return true;
                }
                if !tried_to_create(p, d) {
                    return false;
                }
                dir = std::path::Path::new(d).parent();
            }
            true
        });
    let mut foreign: BTreeMap<String, Seen> = p
        .observations
        .facts
        .home
        .iter()
        .filter(|(path, seen)| {
            seen.count > 0
                && (for_users || !nothing_there(seen))
                && !HOMES.contains(&path.as_str())
                // Below an own entry, or a directory it made sure of on the way to one.
                && !own.iter().any(|c| {
                    under(path, c) || (under(c, path) && tried_to_create(p, path))
                })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for orphan in orphans {
        if let Some(accesses) = p.observations.paths.get(&orphan) {
            let mut seen = Seen::default();
            for (_, s) in accesses.iter() {
                seen.count += s.count;
                for comm in s.by.iter() {
                    seen.by.insert(comm);
                }
            }
            foreign.entry(orphan).or_insert(seen);
        }
    }
    let (first, seen) = foreign.iter().next()?;
    Some(format!(
        "used {first} by {} ({}x), which it did not create{}",
        seen.by.joined(),
        seen.count,
        super::and_more(foreign.len())
    ))
}

/// ProtectHome=tmpfs needs systemd 238 (TemporaryFileSystem= came with it); an older one
/// rejects the value, and the directive falls back to what it knows.
pub const HOME_TMPFS_SINCE: u32 = 238;

/// Whether a device path can be written as a DeviceAllow= specifier as is: it is split at
/// whitespace and unquoted, and `%` is a specifier.
fn plain_device_path(path: &str) -> bool {
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-.:+@,".contains(c))
}

/// DevicePolicy=closed with DeviceAllow= exactly the devices opened, when PrivateDevices= is
/// unset. `closed` always allows /dev/null, zero, full, random, urandom, tty, ptmx and the
/// pseudo terminals (`char-pts` rw; bpf_devices_allow_list_static() in bpf-devices.c, the
/// same list in cgroup.c before), which `is_pseudo_device` leaves out of the devices fact. A
/// path is resolved by systemd with stat() when the unit starts: a symlink counts as its
/// target then, a missing path or one that is no device node is skipped, not an error. The
/// access letters come from the open flags: `r` for a read, `w` for a write or truncate.
/// Nothing is restricted when the service made device nodes (mknod needs `m` on a node that
/// does not exist yet when systemd resolves the list).
pub fn devices(p: &Profile, private_devices: bool) -> Vec<Decision> {
    let decision = |directive, lines: Vec<String>, evidence: Vec<String>| Decision {
        directive,
        lines,
        evidence,
    };
    if private_devices {
        return vec![
            decision(
                "DevicePolicy",
                vec![],
                vec!["not needed: PrivateDevices=yes implies DevicePolicy=closed".into()],
            ),
            decision(
                "DeviceAllow",
                vec![],
                vec!["not needed: PrivateDevices=yes leaves only the pseudo devices".into()],
            ),
        ];
    }
    let o = &p.observations;
    let made: Option<String> = o
        .paths
        .iter()
        .find(|(_, a)| a.get(&Access::Mknod).is_some_and(|s| s.count > 0))
        .map(|(path, _)| format!("made a node at {path}"))
        .or_else(|| {
            ["mknod", "mknodat"]
                .iter()
                .find(|s| p.syscalls.contains_key(**s))
                .map(|s| format!("called {s}"))
        });
    let unfit = o
        .facts
        .devices
        .keys()
        .find(|d| folded_dir(d).is_some() || !plain_device_path(d))
        .map(|d| format!("{d} cannot be listed as one device path"));
    if let Some(why) = made
        .map(|m| format!("{m}: the node's device cannot be allowed before it exists"))
        .or(unfit)
    {
        let not = |d| decision(d, vec![], vec![format!("not set: {why}")]);
        return vec![not("DevicePolicy"), not("DeviceAllow")];
    }
    let mut allow = Vec::new();
    let mut evidence = Vec::new();
    for dev in o.facts.devices.keys() {
        let Some(accesses) = o.paths.get(dev) else {
            continue;
        };
        let seen = |k: &[Access]| {
            accesses
                .iter()
                .filter(|(a, _)| k.contains(a))
                .fold(Seen::default(), |mut m, (_, s)| {
                    m.merge(s);
                    m
                })
        };
        let (r, w) = (
            seen(&[Access::Read]),
            seen(&[Access::Write, Access::Truncate]),
        );
        let mut mode = String::new();
        if r.count > 0 {
            mode.push('r');
        }
        if w.count > 0 {
            mode.push('w');
        }
        if mode.is_empty() {
            continue;
        }
        let mut all = r.clone();
        all.merge(&w);
        evidence.push(format!(
            "{dev} {mode}: opened by {} ({}x{})",
            all.by.joined(),
            all.count,
            if all.ok == 0 {
                ", never successfully"
            } else {
                ""
            }
        ));
        allow.push(format!("DeviceAllow={dev} {mode}"));
    }
    let mut allow_lines = vec!["DeviceAllow=".to_owned()];
    if allow.is_empty() {
        evidence
            .push("no device opened beyond the pseudo devices DevicePolicy=closed allows".into());
    }
    allow_lines.extend(allow);
    vec![
        decision(
            "DevicePolicy",
            vec!["DevicePolicy=closed".into()],
            vec!["closed: the pseudo devices (null, zero, full, random, urandom, tty, ptmx, pts) and what DeviceAllow= lists; PrivateDevices= is unset".into()],
        ),
        decision("DeviceAllow", allow_lines, evidence),
    ]
}

/// Top-level trees a service rarely needs: made inaccessible when nothing at or below them
/// was used at all (a failed lookup counts as use). /boot and /efi are left alone: they are
/// often automount points, which setting up the namespace would trigger.
const UNUSED_TREES: &[&str] = &["/srv", "/mnt", "/media", "/opt"];

pub fn inaccessible_paths(p: &Profile, systemd: u32) -> Decision {
    let mut evidence = Vec::new();
    if systemd < 231 {
        return Decision {
            directive: "InaccessiblePaths",
            lines: vec![],
            evidence: vec![format!(
                "not set: systemd {systemd} does not know it (needs 231)"
            )],
        };
    }
    // The host's users keep homes and shares wherever its passwd and config say, /srv/ftp
    // and /srv/samba included: a service acting for them may need any of these trees.
    if let Some(why) = super::users::acts_for_users(p) {
        return Decision {
            directive: "InaccessiblePaths",
            lines: vec![],
            evidence: vec![format!(
                "not set: {why}, whose homes and shares may lie under {} (Debian's ftp user's home is /srv/ftp), unlike the recorded users'",
                UNUSED_TREES.join(", ")
            )],
        };
    }
    if let Some(why) = watches_file_systems(p) {
        return Decision {
            directive: "InaccessiblePaths",
            lines: vec![],
            evidence: vec![format!("not set: {why}")],
        };
    }
    let mut hidden = Vec::new();
    for tree in UNUSED_TREES {
        let used = p
            .observations
            .paths
            .iter()
            .find(|(path, a)| under(path, tree) && a.iter().any(|(_, s)| s.count > 0));
        match used {
            Some((path, _)) => evidence.push(format!("{tree} not listed: {path} was used")),
            None => hidden.push(format!("-{tree}")),
        }
    }
    if hidden.is_empty() {
        return Decision {
            directive: "InaccessiblePaths",
            lines: vec![],
            evidence,
        };
    }
    evidence.push(format!(
        "{}: nothing at or below them was used; `-` because they may not exist",
        hidden.join(" ")
    ));
    Decision {
        directive: "InaccessiblePaths",
        lines: vec![
            "InaccessiblePaths=".into(),
            format!("InaccessiblePaths={}", hidden.join(" ")),
        ],
        evidence,
    }
}

/// The trees that hold the system's programs, libraries and dynamic loader: always
/// executable, so that what a recording cannot see (the ELF interpreter and the program,
/// which the kernel maps at exec without a syscall; a library of the same directory loaded
/// on another path) still runs. Symlinks among them (merged /usr) are resolved by systemd.
const SYSTEM_EXEC_TREES: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64"];

/// NoExecPaths=/ and ExecPaths= need systemd 248.
pub const EXEC_PATHS_SINCE: u32 = 248;

/// Whether `name` is a shared object's file name: `x.so`, `x.so.1.2` (not `ld.so.cache`).
fn is_shared_object(name: &str) -> bool {
    name.match_indices(".so").any(|(at, _)| {
        let rest = &name[at + 3..];
        rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// NoExecPaths=/ with ExecPaths= the system trees and the directory of every program
/// executed and every shared object opened outside them. ld.so opens each library by path
/// before mapping it (a dlopen()ed module too), so the opens name every library the
/// recording saw loaded; directories, not files, so that a library of the same directory
/// loaded only after a reload or on an update (a new version number) still maps. Left
/// unset when the recording cannot have seen every load: no start-up recorded, events lost,
/// a program run through /proc or a descriptor (the file behind it is unknown), or a
/// program or library the service wrote itself (a new name next time).
///
/// Never written for now: see the end of the function. What they would be is the evidence.
pub fn exec_paths(p: &Profile, systemd: u32) -> Vec<Decision> {
    let not = |why: String| {
        ["NoExecPaths", "ExecPaths"]
            .map(|d| Decision {
                directive: d,
                lines: vec![],
                evidence: vec![why.clone()],
            })
            .into()
    };
    if systemd < EXEC_PATHS_SINCE {
        return not(format!(
            "not set: systemd {systemd} does not know it (needs {EXEC_PATHS_SINCE})"
        ));
    }
    if p.provenance.unit.is_some() && p.recording.startup_seen != Some(true) {
        return not(
            "not set: the start-up was not recorded (record with --restart), so the libraries it loads then are unknown".into(),
        );
    }
    if let Some(what) = p.recording.incomplete() {
        return not(format!(
            "not set: the recording is incomplete ({what}), a program or library among them perhaps"
        ));
    }
    let o = &p.observations;
    let written = |path: &str| {
        o.paths.iter().any(|(q, a)| {
            (q == path || (folded_dir(q).is_some_and(|d| under(path, d))))
                && a.iter().any(|(k, s)| k.writes() && s.ok > 0)
        })
    };
    let mut needed: BTreeMap<String, String> = BTreeMap::new();
    for (path, accesses) in &o.paths {
        let dir =
            folded_dir(path)
                .map(str::to_owned)
                .unwrap_or_else(|| match path.rsplit_once('/') {
                    Some(("", _)) | None => "/".to_owned(),
                    Some((d, _)) => d.to_owned(),
                });
        let name = path.rsplit('/').next().unwrap_or("");
        let executed = accesses.get(&Access::Exec).is_some_and(|s| s.count > 0);
        let library =
            is_shared_object(name) && accesses.get(&Access::Read).is_some_and(|s| s.count > 0);
        if !executed && !library {
            continue;
        }
        let what = if executed { "executed" } else { "opened" };
        if under(path, "/proc") || under(path, "/dev") || dir == "/" {
            return not(format!(
                "not set: {what} {path}, whose file (or directory) cannot be listed"
            ));
        }
        if written(path) {
            return not(format!(
                "not set: {what} {path}, which it wrote itself: its name may differ next time"
            ));
        }
        if SYSTEM_EXEC_TREES.iter().any(|t| under(&dir, t)) {
            continue;
        }
        needed
            .entry(dir)
            .or_insert_with(|| format!("{what} {path}"));
    }
    let mut items: Vec<String> = SYSTEM_EXEC_TREES.iter().map(|t| format!("-{t}")).collect();
    let mut evidence = vec![format!(
        "{}: the system's programs, libraries and ELF interpreter (mapped by the kernel at exec, unseen)",
        SYSTEM_EXEC_TREES.join(" ")
    )];
    let dirs: Vec<&String> = needed
        .keys()
        .filter(|d| !needed.keys().any(|o| o != *d && under(d, o)))
        .collect();
    for d in dirs {
        evidence.push(format!("{d}: {}", needed[d]));
        items.push(super::path_word("-", d));
    }
    // Measured on systemd 252 (Debian 12, the e2e guest), each ExecPaths= entry is a bind
    // mount of its own that ProtectSystem=strict's read-only remount of / skips: /usr came
    // out writable. ReadOnlyPaths= on the same paths (systemd merges the two entries) made
    // them read-only but not executable again: nginx failed with 203/EXEC. No combination
    // keeps both, so the lines are not written; --explain shows what they would be.
    evidence.insert(
        0,
        format!(
            "not set: would be NoExecPaths=/ with ExecPaths={}, but on systemd 252 every ExecPaths= entry is a mount ProtectSystem=strict leaves writable (measured: /usr), and ReadOnlyPaths= on it leaves it non-executable (measured: 203/EXEC)",
            items.join(" ")
        ),
    );
    ["NoExecPaths", "ExecPaths"]
        .map(|d| Decision {
            directive: d,
            lines: vec![],
            evidence: evidence.clone(),
        })
        .into()
}

/// ProtectHome=tmpfs on a systemd that does not know it: the toggle's next value instead.
pub fn home_tmpfs_for(d: &mut Decision, p: &Profile, systemd: u32) {
    if systemd >= HOME_TMPFS_SINCE
        || d.lines.last().map(String::as_str) != Some("ProtectHome=tmpfs")
    {
        return;
    }
    d.evidence.push(format!(
        "not tmpfs: systemd {systemd} does not know it (needs {HOME_TMPFS_SINCE})"
    ));
    d.lines = match super::toggle_forbids("ProtectHome", "read-only", p) {
        Some(None) => vec!["ProtectHome=read-only".into()],
        _ => vec![],
    };
}
