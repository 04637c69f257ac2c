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
use crate::model::profile::Profile;

/// The directory directives: where each puts its directories, and the first systemd that
/// knows it (RuntimeDirectory= v211; the other three v235, src/core/load-fragment-gperf).
pub const DIRECTORIES: &[(&str, &str, u32)] = &[
    ("/run", "RuntimeDirectory", 211),
    ("/var/lib", "StateDirectory", 235),
    ("/var/cache", "CacheDirectory", 235),
    ("/var/log", "LogsDirectory", 235),
];

/// First systemd whose `DynamicUser=` is the one proposed here: it exists since v232, but
/// the implied sandbox (ProtectSystem=strict, PrivateTmp=, RemoveIPC=) and the private
/// directories of StateDirectory= and its siblings came with v235 (NEWS, "Dynamic Users
/// with systemd"). `AmbientCapabilities=` is v229; `User=` and `Group=` are as old as systemd.
pub const DYNAMIC_USER_SINCE: u32 = 235;
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
    if let Some(why) = super::sources::unknown(p, "User") {
        policy.decisions.extend(not_set(format!("unknown, {why}")));
        return;
    }
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
        .map(Decision::listed)
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
                        crate::model::credentials::changes_credentials(during)
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
    // It also implies ProtectSystem=strict, NoNewPrivileges=, RestrictSUIDSGID= and
    // RemoveIPC=: not over the unit's own written `no` of any of them.
    let unit_grants = p.unit.as_ref().is_some_and(|u| {
        [
            "ProtectSystem",
            "NoNewPrivileges",
            "RestrictSUIDSGID",
            "RemoveIPC",
            "PrivateTmp",
            "ProtectHome",
        ]
        .iter()
        .any(|k| u.written_no.contains_key(*k))
    });
    let dynamic = fixed_uid.is_empty()
        && private_tmp
        && home_ok
        && !unit_grants
        && systemd >= DYNAMIC_USER_SINCE;
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
        // The fresh host's directories of a root service give way to the identity's.
        policy.decisions.retain(|d| d.directive != *directive);
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
        // Words as systemd reads them, written back quoted as generate writes them.
        let (gone, stay): (Vec<String>, Vec<String>) = super::unit_file::words(&list)
            .into_iter()
            .map(|w| super::unit_file::unspecify(&w))
            .partition(|w| covered(w));
        let render = |w: &String| {
            let prefix = if w.starts_with('-') { "-" } else { "" };
            super::path_word(prefix, w.trim_start_matches('-'))
        };
        let (gone, stay): (Vec<String>, Vec<String>) = (
            gone.iter().map(render).collect(),
            stay.iter().map(render).collect(),
        );
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
                d.evidence
                    .extend(cap_evidence.iter().map(|e| format!("identity: {e}")));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::credentials::IdentitySlot as I,
        model::observations::{Access, Slot},
        policy::{filter_groups::SyscallGroups, margin::Margin, resolve},
    };

    fn add(p: &mut Profile, slot: Slot, comm: &str) {
        p.observations.add(&slot, 0, comm, 1);
    }

    fn cap(p: &mut Profile, name: &str, during: &str) {
        let slot = Slot::Capability {
            name: name.into(),
            granted: true,
            during: during.into(),
        };
        add(p, slot, "memcached");
    }

    /// A wrapper (root) that keeps state in /var/lib/app, then memcached switching to 103:106.
    fn memcached_like() -> Profile {
        let mut p = Profile {
            syscalls: ["read", "write", "openat", "setuid", "setgid", "setgroups"]
                .map(|s| (s.to_owned(), 1))
                .into(),
            ..Profile::example("app.service")
        };
        add(&mut p, Slot::Identity(I::Credentials("0:0".into())), "sh");
        add(
            &mut p,
            Slot::Identity(I::Credentials("103:106".into())),
            "memcached",
        );
        for call in ["setgroups 0", "setgid 106", "setuid 103"] {
            add(&mut p, Slot::Identity(I::Switch(call.into())), "memcached");
        }
        cap(&mut p, "CAP_SETGID", "setgroups");
        cap(&mut p, "CAP_SETUID", "setuid");
        root_write(&mut p, "/var/lib/app/last-start", "/var/lib/app");
        let id = &mut p.observations.identity;
        id.owners
            .insert("/var/lib/app".into(), "0:0 0755 dir".into());
        id.names.insert("uid 103".into(), "memcache".into());
        id.names.insert("gid 106".into(), "memcache".into());
        p
    }

    fn root_write(p: &mut Profile, path: &str, target: &str) {
        add(p, Slot::Path(path.into(), Access::Create), "sh");
        add(p, Slot::Identity(I::RootWrite(target.into())), "sh");
    }

    fn generate(p: &Profile, systemd: u32, identity: bool) -> Policy {
        let groups = SyscallGroups::for_version(systemd.max(239), None);
        let mut policy = resolve(p, systemd.max(239), &groups, Margin::Exact);
        policy.systemd = systemd;
        if identity {
            apply(&mut policy, p);
        }
        policy
    }

    fn lines(policy: &Policy) -> Vec<String> {
        policy
            .decisions
            .iter()
            .flat_map(|d| d.lines.iter().cloned())
            .collect()
    }

    fn why_not(policy: &Policy) -> String {
        let d = policy.decision("User").expect("a User decision");
        assert!(d.lines.is_empty(), "{:?}", d.lines);
        d.evidence.join(" ")
    }

    #[test]
    fn root_used_only_to_switch_gives_a_dynamic_user_and_its_state_directory() {
        let p = memcached_like();
        let plain = generate(&p, 252, false);
        assert_eq!(plain.value("ReadWritePaths"), Some("-/var/lib/app"));
        assert_eq!(
            plain.value("CapabilityBoundingSet"),
            Some("CAP_SETGID CAP_SETUID")
        );
        let policy = generate(&p, 252, true);
        assert_eq!(policy.value("DynamicUser"), Some("yes"));
        assert_eq!(policy.decision("User"), None);
        assert_eq!(policy.value("StateDirectory"), Some("app"));
        // Reset only: nothing else to write, no capability left, none ambient.
        assert_eq!(
            policy.decision("ReadWritePaths").unwrap().lines,
            ["ReadWritePaths="]
        );
        assert_eq!(
            policy.decision("CapabilityBoundingSet").unwrap().lines,
            ["CapabilityBoundingSet="]
        );
        assert_eq!(
            policy.decision("AmbientCapabilities").unwrap().lines,
            ["AmbientCapabilities="]
        );
        let evidence = policy.decision("DynamicUser").unwrap().evidence.join(" ");
        assert!(evidence.contains("uid 103 gid 106"), "{evidence}");
        assert!(evidence.contains("setuid 103"), "{evidence}");
        // The section is marked in the drop-in.
        let text = crate::policy::render(&policy, &p, &["p".into()], "t", true);
        assert!(text.contains(SECTION_COMMENT), "{text}");
        assert!(text.contains("# StateDirectory: /var/lib/app: /var/lib/app written by root"));
        // Without --identity, the same profile keeps root.
        assert!(!lines(&plain).iter().any(|l| l.starts_with("DynamicUser=")));
    }

    #[test]
    fn a_port_below_1024_bound_as_root_becomes_an_ambient_capability() {
        let mut p = memcached_like();
        cap(&mut p, "CAP_NET_BIND_SERVICE", "bind");
        let policy = generate(&p, 252, true);
        assert_eq!(
            policy.decision("CapabilityBoundingSet").unwrap().lines,
            [
                "CapabilityBoundingSet=",
                "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"
            ]
        );
        assert_eq!(
            policy.decision("AmbientCapabilities").unwrap().lines,
            [
                "AmbientCapabilities=",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE"
            ]
        );
        // Granted to the user itself after the switch (kept capabilities): kept too, and a
        // switching capability the user still uses stays.
        let mut p = memcached_like();
        cap(&mut p, "CAP_SETGID", "setgroups");
        add(
            &mut p,
            Slot::Identity(I::UnprivilegedCapability(
                "CAP_SETGID as 103 during openat".into(),
            )),
            "memcached",
        );
        let policy = generate(&p, 252, true);
        assert_eq!(policy.value("AmbientCapabilities"), Some("CAP_SETGID"));
    }

    #[test]
    fn a_file_the_user_could_not_write_keeps_root() {
        let mut p = memcached_like();
        add(
            &mut p,
            Slot::Path("/var/log/app.log".into(), Access::Write),
            "sh",
        );
        add(
            &mut p,
            Slot::Identity(I::RootWrite("/var/log/app.log".into())),
            "sh",
        );
        p.observations
            .identity
            .owners
            .insert("/var/log/app.log".into(), "0:0 0640".into());
        let policy = generate(&p, 252, true);
        let why = why_not(&policy);
        assert!(
            why.contains("/var/log/app.log was written by root"),
            "{why}"
        );
        assert!(why.contains("0:0 0640"), "{why}");
        assert_eq!(lines(&policy), lines(&generate(&p, 252, false)));

        // The same file owned by the user: it may, but then it needs a fixed uid.
        p.observations
            .identity
            .owners
            .insert("/var/log/app.log".into(), "103:106 0640".into());
        let policy = generate(&p, 252, true);
        assert_eq!(policy.value("User"), Some("memcache"));
        assert_eq!(policy.value("Group"), Some("memcache"));
        assert_eq!(policy.decision("DynamicUser"), None);
        let rw = policy.value("ReadWritePaths").unwrap();
        assert!(
            rw.contains("-/var/log/app.log") && !rw.contains("/var/lib/app"),
            "{rw}"
        );
        assert!(
            policy
                .decision("User")
                .unwrap()
                .evidence
                .join(" ")
                .contains("must keep its owner"),
        );
    }

    #[test]
    fn what_the_user_writes_outside_its_directories_keeps_a_fixed_uid() {
        let mut p = memcached_like();
        add(
            &mut p,
            Slot::Path("/srv/data/x".into(), Access::Create),
            "memcached",
        );
        add(
            &mut p,
            Slot::Identity(I::UserWrite("103 /srv/data".into())),
            "memcached",
        );
        let policy = generate(&p, 252, true);
        assert_eq!(policy.value("User"), Some("memcache"));
        assert_eq!(policy.decision("DynamicUser"), None);
        assert!(
            policy
                .value("ReadWritePaths")
                .unwrap()
                .contains("-/srv/data")
        );
    }

    #[test]
    fn without_a_switch_to_one_user_nothing_changes() {
        // Root throughout.
        let mut p = memcached_like();
        p.observations.identity.credentials.remove("103:106");
        assert!(why_not(&generate(&p, 252, true)).contains("ran as root throughout"));
        // Never root: the unit sets User= already.
        let mut p = memcached_like();
        p.observations.identity.credentials.remove("0:0");
        assert!(why_not(&generate(&p, 252, true)).contains("never ran as root"));
        // Two users.
        let mut p = memcached_like();
        add(
            &mut p,
            Slot::Identity(I::Credentials("33:33".into())),
            "worker",
        );
        assert!(why_not(&generate(&p, 252, true)).contains("several uids (33, 103)"));
        // A profile from before identity tracking.
        let mut p = memcached_like();
        p.observations.identity = Default::default();
        assert!(why_not(&generate(&p, 252, true)).contains("record it again"));
        // Each leaves the rest of the drop-in as it was.
        assert_eq!(
            lines(&generate(&p, 252, true)),
            lines(&generate(&p, 252, false))
        );
        // A file right in /run has no directory of its own.
        let mut p = memcached_like();
        root_write(&mut p, "/run/app.pid", "/run/app.pid");
        p.observations
            .identity
            .owners
            .insert("/run/app.pid".into(), "0:0 0644".into());
        assert!(why_not(&generate(&p, 252, true)).contains("/run/app.pid"));
    }

    #[test]
    fn versions_that_do_not_know_a_directive_never_see_it() {
        let p = memcached_like();
        for systemd in [239, 245, 252, 257] {
            let policy = generate(&p, systemd, true);
            assert_eq!(policy.value("DynamicUser"), Some("yes"), "{systemd}");
            assert_eq!(policy.value("StateDirectory"), Some("app"), "{systemd}");
        }
        // Before 235 no StateDirectory=: /var/lib/app needs the root-owned directory, so
        // root stays; nor DynamicUser= as proposed here; before 229 no AmbientCapabilities=.
        let policy = generate(&p, 234, true);
        assert!(
            !lines(&policy)
                .iter()
                .any(|l| l.starts_with("StateDirectory="))
        );
        assert!(why_not(&policy).contains("/var/lib/app"));
        let mut p = memcached_like();
        p.observations.identity.root_writes.clear();
        assert_eq!(generate(&p, 235, true).value("DynamicUser"), Some("yes"));
        let policy = generate(&p, 234, true);
        assert_eq!(policy.value("User"), Some("memcache"));
        assert!(!lines(&policy).iter().any(|l| l.starts_with("DynamicUser=")));
        assert!(
            policy
                .decision("User")
                .unwrap()
                .evidence
                .join(" ")
                .contains("systemd 234 does not know it")
        );
        let mut p = memcached_like();
        cap(&mut p, "CAP_NET_BIND_SERVICE", "bind");
        let policy = generate(&p, 228, true);
        assert!(why_not(&policy).contains("no AmbientCapabilities="));
        assert!(directory_for("/run/app/x.sock", false, 211).is_some());
        assert_eq!(directory_for("/var/cache/app/x", false, 234), None);
        assert_eq!(directory_for("/run/systemd/x", false, 257), None);
        assert_eq!(
            directory_for("/var/log/app", true, 235),
            Some(("LogsDirectory", "app".into()))
        );
        assert_eq!(directory_for("/var/log/app.log", false, 257), None);
    }
}
