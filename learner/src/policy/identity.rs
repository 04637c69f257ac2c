//! `generate --identity`: whether the service needs root at all, or uses it only to become
//! another user. Then the drop-in starts it as that user (`User=`/`Group=`, or
//! `DynamicUser=yes` when nothing it owns must keep a fixed uid), gives it its directories
//! the systemd way (`RuntimeDirectory=`, `StateDirectory=`, `CacheDirectory=`,
//! `LogsDirectory=`) instead of `ReadWritePaths=` to them, and keeps in the bounding set only
//! the capabilities the non-root service still uses, as ambient ones.
//!
//! It changes how the service starts, so it is opt-in, and `apply` keeps it only when the
//! service passes its checks under it (a failure rolls the whole drop-in back).
use std::collections::{BTreeMap, BTreeSet};

use super::{Decision, Policy};
use crate::profile::Profile;

/// The directory directives: where each puts its directories, and the first systemd that
/// knows it (RuntimeDirectory= v211; the other three v235, src/core/load-fragment-gperf).
pub const DIRECTORIES: &[(&str, &str, u32)] = &[
    ("/run", "RuntimeDirectory", 211),
    ("/var/lib", "StateDirectory", 235),
    ("/var/cache", "CacheDirectory", 235),
    ("/var/log", "LogsDirectory", 235),
];

/// First systemd with `DynamicUser=` (v232) and with `AmbientCapabilities=` (v229); `User=`
/// and `Group=` are as old as systemd.
pub const DYNAMIC_USER_SINCE: u32 = 232;
pub const AMBIENT_SINCE: u32 = 229;

/// Capabilities that only serve to switch ids: a service started as its user needs none.
const SWITCHING: &[&str] = &["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"];

/// Names of subdirectories no service owns alone.
const SHARED_SUBDIRS: &[&str] = &["systemd", "private", "user", "lock"];

/// The directory directive and name that would give `path` (written) to the service.
/// `is_dir`: the path is a directory (a file right in /run or /var/lib, such as
/// /run/x.pid, has no directory of its own).
pub fn directory_for(path: &str, is_dir: bool, systemd: u32) -> Option<(&'static str, String)> {
    DIRECTORIES.iter().find_map(|(top, directive, since)| {
        let rest = path.strip_prefix(top)?.strip_prefix('/')?;
        let name = rest.split('/').next().filter(|n| !n.is_empty())?;
        if (name == rest && !is_dir) || name == "*" || SHARED_SUBDIRS.contains(&name) {
            return None;
        }
        (systemd >= *since).then(|| (*directive, name.to_owned()))
    })
}

/// Whether uid `uid` with group `gid` may write a path with this owner and mode
/// (`UID:GID MODE`, as the profile notes it).
fn writable_by(owner: &str, uid: u32, gid: u32) -> bool {
    let mut fields = owner.split_whitespace();
    let (Some(ids), Some(mode)) = (fields.next(), fields.next()) else {
        return false;
    };
    let Some((o_uid, o_gid)) = ids.split_once(':') else {
        return false;
    };
    let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
    (o_uid.parse() == Ok(uid) && mode & 0o200 != 0)
        || (o_gid.parse() == Ok(gid) && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

/// The owner noted for `path`: its own, or that of the directory above a path that is gone.
fn owner_of<'a>(owners: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
    owners.get(path).map(String::as_str).or_else(|| {
        let prefix = format!("{path} (gone; ");
        owners
            .iter()
            .find(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.as_str())
    })
}

/// Written above the identity directives: they change how the service starts.
pub const SECTION_COMMENT: &str = "# Identity (generate --identity): the service starts as this user, not as root. Apply it with a check: apply rolls the drop-in back if the service fails under it.\n";

/// Whether `d` is the first directive of the identity section.
pub fn starts_section(d: &Decision) -> bool {
    matches!(d.directive, "User" | "DynamicUser") && !d.lines.is_empty()
}

fn not_set(reason: String) -> Vec<Decision> {
    vec![Decision {
        directive: "User",
        lines: Vec::new(),
        evidence: vec![format!("not set: {reason}")],
    }]
}

/// Who the service becomes, from the profile's credentials.
struct Switch {
    uid: u32,
    gid: u32,
    evidence: Vec<String>,
}

fn switch(p: &Profile) -> Result<Switch, String> {
    let id = &p.observations.identity;
    if id.credentials.is_empty() {
        return Err("the profile records no credentials (recorded by a learner without identity tracking): record it again".into());
    }
    let (uids, _) = id.ids();
    if !uids.contains(&0) {
        let list: Vec<String> = uids.iter().map(u32::to_string).collect();
        return Err(format!(
            "the service never ran as root (uid {}): it is started unprivileged already",
            list.join(", ")
        ));
    }
    let others: Vec<u32> = uids.iter().copied().filter(|&u| u != 0).collect();
    let uid = match others.as_slice() {
        [] => return Err("the service ran as root throughout: it switched to no other uid".into()),
        [one] => *one,
        many => {
            let list: Vec<String> = many.iter().map(u32::to_string).collect();
            return Err(format!(
                "processes ran as several uids ({}): one User= cannot be all of them",
                list.join(", ")
            ));
        }
    };
    let switched: Vec<&String> = id
        .switches
        .iter()
        .filter(|(call, seen)| {
            seen.ok > 0
                && (call.starts_with("setuid ")
                    || call.starts_with("setreuid ")
                    || call.starts_with("setresuid "))
                && call.split(' ').skip(1).any(|a| a == uid.to_string())
        })
        .map(|(call, _)| call)
        .collect();
    if switched.is_empty() {
        return Err(format!(
            "processes ran as uid {uid}, but no set*id call to it succeeded (a set-uid program?)"
        ));
    }
    // The gid the user's processes settled on; a transient root gid between setuid and
    // setgid does not count when another was seen.
    let mut gids: BTreeMap<u32, u64> = BTreeMap::new();
    for (key, seen) in &id.credentials {
        if let Some((u, g)) = key.split_once(':')
            && u.parse() == Ok(uid)
            && let Ok(g) = g.parse::<u32>()
        {
            *gids.entry(g).or_default() += seen.count;
        }
    }
    if gids.len() > 1 {
        gids.remove(&0);
    }
    let gid = match gids.keys().collect::<Vec<_>>().as_slice() {
        [one] => **one,
        _ => {
            let list: Vec<String> = gids.keys().map(u32::to_string).collect();
            return Err(format!(
                "uid {uid} ran with several gids ({}): one Group= cannot be all of them",
                list.join(", ")
            ));
        }
    };
    let by: BTreeSet<&str> = id
        .switches
        .iter()
        .filter(|(call, _)| switched.contains(call))
        .flat_map(|(_, s)| s.by.iter())
        .collect();
    let calls: Vec<&str> = id.switches.keys().map(String::as_str).collect();
    Ok(Switch {
        uid,
        gid,
        evidence: vec![format!(
            "root is used to become uid {uid} gid {gid}: {} by {}; every other process ran as root or as it",
            calls.join(", "),
            by.into_iter().collect::<Vec<_>>().join(",")
        )],
    })
}

/// Resolves the identity directives and adjusts the drop-in's others to them: the
/// directory directives replace ReadWritePaths= entries, the bounding set keeps what the
/// non-root service uses and gives it as ambient capabilities. When the recording does not
/// show root used only to switch, `policy` is unchanged but for a `User` decision that says
/// why.
pub fn apply(policy: &mut Policy, p: &Profile) {
    let systemd = policy.systemd;
    let sw = match switch(p) {
        Ok(sw) => sw,
        Err(why) => {
            policy.decisions.extend(not_set(why));
            return;
        }
    };
    let id = &p.observations.identity;
    let private_tmp = policy.value("PrivateTmp").is_some();
    let skipped = |path: &str| {
        let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
        under("/dev")
            || under("/proc")
            || under("/sys")
            || (private_tmp && (under("/tmp") || under("/var/tmp")))
    };

    // Writes: each must land in a directory a directive gives the user, or be one the user
    // may write already (then it keeps its owner, which needs a fixed uid).
    let mut dirs: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut dir_evidence: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut fixed_uid = Vec::new();
    let mut blockers = Vec::new();
    let user_writes = id.user_writes.iter().filter_map(|(k, s)| {
        let (uid, path) = k.split_once(' ')?;
        (uid.parse() == Ok(sw.uid)).then_some((path, s, false))
    });
    let root_writes = id.root_writes.iter().map(|(k, s)| (k.as_str(), s, true));
    for (path, seen, as_root) in root_writes.chain(user_writes) {
        if seen.ok == 0 || skipped(path) {
            continue;
        }
        let who = if as_root { "root" } else { "the user" };
        let by: Vec<&str> = seen.by.iter().collect();
        let is_dir = id.owners.get(path).is_some_and(|o| o.ends_with(" dir"));
        if let Some((directive, name)) = directory_for(path, is_dir, systemd) {
            if dirs.entry(directive).or_default().insert(name.clone()) {
                dir_evidence.entry(directive).or_default().push(format!(
                    "{name}: {path} written by {who} ({}): the directory is created for the service and owned by it",
                    by.join(",")
                ));
            }
            continue;
        }
        if !as_root {
            fixed_uid.push(format!("{path} (written by uid {})", sw.uid));
            continue;
        }
        match owner_of(&id.owners, path) {
            Some(owner) if writable_by(owner, sw.uid, sw.gid) => {
                fixed_uid.push(format!("{path} (owned {owner}, written by root)"))
            }
            Some(owner) => blockers.push(format!(
                "{path} was written by root ({}) and is {owner}: uid {} could not, and no directory directive gives it",
                by.join(","),
                sw.uid
            )),
            None => blockers.push(format!(
                "{path} was written by root ({}) and its owner is unknown",
                by.join(",")
            )),
        }
    }

    // Capabilities: those the drop-in keeps, minus what served only the switch.
    let kept: Vec<String> = policy
        .decision("CapabilityBoundingSet")
        .and_then(|d| d.lines.last())
        .and_then(|l| l.strip_prefix("CapabilityBoundingSet="))
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut ambient = Vec::new();
    let mut cap_evidence = Vec::new();
    for cap in &kept {
        let as_user: Vec<&String> = id
            .unprivileged_capabilities
            .iter()
            .filter(|(k, s)| {
                s.ok > 0
                    && k.starts_with(&format!("{cap} as {} during ", sw.uid))
                    && !k.rsplit(' ').next().is_some_and(|during| {
                        crate::collector::CREDENTIAL_SYSCALLS.contains(&during)
                    })
            })
            .map(|(k, _)| k)
            .collect();
        if SWITCHING.contains(&cap.as_str()) && as_user.is_empty() {
            cap_evidence.push(format!(
                "{cap}: used to switch ids only; a service started as uid {} needs it not",
                sw.uid
            ));
        } else {
            cap_evidence.push(if as_user.is_empty() {
                format!("{cap}: granted to root: kept, as an ambient capability")
            } else {
                format!(
                    "{cap}: granted {}: kept, as an ambient capability",
                    as_user
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            ambient.push(cap.clone());
        }
    }
    if !ambient.is_empty() && systemd < AMBIENT_SINCE {
        blockers.push(format!(
            "it needs {} as a non-root service, and systemd {systemd} has no AmbientCapabilities=",
            ambient.join(" ")
        ));
    }
    if !blockers.is_empty() {
        policy.decisions.extend(not_set(blockers.join("; ")));
        return;
    }

    // DynamicUser= implies PrivateTmp=yes and ProtectHome=read-only (and RemoveIPC=yes):
    // only where the drop-in has them anyway.
    let home_ok = matches!(policy.value("ProtectHome"), Some("yes" | "read-only"));
    let dynamic = fixed_uid.is_empty() && private_tmp && home_ok && systemd >= DYNAMIC_USER_SINCE;
    let name = |kind: &str, id: u32| {
        p.observations
            .identity
            .names
            .get(&format!("{kind} {id}"))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let mut decisions = Vec::new();
    if dynamic {
        decisions.push(Decision {
            directive: "DynamicUser",
            lines: vec!["DynamicUser=yes".into()],
            evidence: sw
                .evidence
                .iter()
                .cloned()
                .chain(std::iter::once(
                    "nothing it wrote must keep a fixed owner (every write is in a directory below): a uid allocated at each start; the program must skip its own switch when it starts unprivileged (apply's check tells)".to_string(),
                ))
                .collect(),
        });
    } else {
        let why = if !fixed_uid.is_empty() {
            format!(
                "not DynamicUser=yes: {} must keep its owner",
                fixed_uid.join(", ")
            )
        } else if systemd < DYNAMIC_USER_SINCE {
            format!("not DynamicUser=yes: systemd {systemd} does not know it")
        } else {
            "not DynamicUser=yes: it implies PrivateTmp=yes and ProtectHome=read-only, which the service's recording forbids".into()
        };
        let mut evidence = sw.evidence.clone();
        evidence.push(why);
        evidence.push(
            "the program must skip its own switch when it starts unprivileged (apply's check tells)".into(),
        );
        decisions.push(Decision {
            directive: "User",
            lines: vec![format!("User={}", name("uid", sw.uid))],
            evidence,
        });
        decisions.push(Decision {
            directive: "Group",
            lines: vec![format!("Group={}", name("gid", sw.gid))],
            evidence: vec![format!("the gid its processes ran with: {}", sw.gid)],
        });
    }
    for (top, directive, _) in DIRECTORIES {
        let Some(names) = dirs.get(directive) else {
            continue;
        };
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        decisions.push(Decision {
            directive,
            lines: vec![format!("{directive}={}", list.join(" "))],
            evidence: dir_evidence
                .remove(directive)
                .unwrap_or_default()
                .into_iter()
                .map(|e| format!("{top}/{e}"))
                .collect(),
        });
    }

    // ReadWritePaths= loses what the directories now give.
    let covered = |entry: &str| {
        let path = entry.trim_start_matches('-');
        dirs.iter().any(|(directive, names)| {
            let top = DIRECTORIES
                .iter()
                .find(|(_, d, _)| d == directive)
                .map_or("", |(t, _, _)| *t);
            names.iter().any(|n| {
                let dir = format!("{top}/{n}");
                path == dir || path.starts_with(&format!("{dir}/"))
            })
        })
    };
    if let Some(rw) = policy
        .decisions
        .iter_mut()
        .find(|d| d.directive == "ReadWritePaths")
        && let Some(last) = rw.lines.last_mut()
        && let Some(list) = last.strip_prefix("ReadWritePaths=").map(str::to_owned)
        && !list.is_empty()
    {
        let (gone, stay): (Vec<&str>, Vec<&str>) =
            list.split_whitespace().partition(|e| covered(e));
        if !gone.is_empty() {
            rw.evidence.push(format!(
                "identity: {} given by directory directives instead",
                gone.join(" ")
            ));
            if stay.is_empty() {
                rw.lines.pop();
            } else {
                *last = format!("ReadWritePaths={}", stay.join(" "));
            }
        }
    }
    for d in policy.decisions.iter_mut() {
        match d.directive {
            "CapabilityBoundingSet" => {
                d.lines = vec!["CapabilityBoundingSet=".into()];
                if !ambient.is_empty() {
                    d.lines
                        .push(format!("CapabilityBoundingSet={}", ambient.join(" ")));
                }
                d.evidence.extend(cap_evidence.iter().map(|e| format!("identity: {e}")));
            }
            "AmbientCapabilities" if !ambient.is_empty() => {
                d.lines = vec![
                    "AmbientCapabilities=".into(),
                    format!("AmbientCapabilities={}", ambient.join(" ")),
                ];
                d.evidence = vec![format!(
                    "identity: a non-root service holds only ambient capabilities: {}",
                    ambient.join(" ")
                )];
            }
            _ => {}
        }
    }
    policy.decisions.extend(decisions);
}
