//! The unit a drop-in is added to. Its settings come as unit-file assignments: from the
//! profile (what `learner record` read from the manager), or from a unit file the user
//! names. A drop-in resets list options before narrowing them, and a reset also takes away
//! what the unit itself granted: the generator puts back the grants the service needs
//! (ambient capabilities in use), and the unit's write grants within the margin.
use std::collections::{BTreeMap, BTreeSet};

use super::{
    Decision,
    margin::Margin,
    path_word,
    unit_file::Assignment,
    verify::{Deployed, under},
};
use crate::model::{profile::Profile, unit::UnitRecord};

/// The `at` of assignments that come from a recorded unit: the manager applied them already,
/// so verify neither checks their paths for existence nor names their syscalls as unknown.
pub const RECORDED: &str = "the recorded unit";

/// Whether `a` is one of the recorded unit's settings.
pub fn is_recorded(a: &Assignment) -> bool {
    a.at.starts_with(RECORDED)
}

/// The recorded settings as unit-file assignments. `systemctl show` prints every property,
/// defaults included, and some in its own spelling: an empty filter is `~`, capabilities are
/// in lower case. Defaults restrict nothing and are left out.
pub fn recorded(record: &UnitRecord) -> Vec<Assignment> {
    let mut out = Vec::new();
    for (key, value) in &record.settings {
        let value = value.trim();
        let default = match key.as_str() {
            "SystemCallFilter" | "RestrictAddressFamilies" => value == "~",
            "ProtectProc" => value == "default",
            "ProcSubset" => value == "all",
            "DevicePolicy" => value == "auto",
            "SecureBits" => value == "0",
            _ => value == "no",
        };
        if value.is_empty() || default {
            continue;
        }
        let value = match key.as_str() {
            "CapabilityBoundingSet" | "AmbientCapabilities" => value.to_uppercase(),
            _ => value.to_owned(),
        };
        out.push(Assignment {
            key: key.clone(),
            value,
            at: format!("{RECORDED} ({key})"),
        });
    }
    out
}

/// The profile's recorded unit settings; empty when it has none. A setting the unit's file
/// wrote `no` (see [`crate::model::unit::GRANTED_BY_NO`]) comes as that `no`, which
/// `systemctl show` alone cannot tell from an unset one.
pub fn of_profile(p: &Profile) -> Vec<Assignment> {
    let Some(record) = p.unit.as_ref() else {
        return Vec::new();
    };
    let mut out = recorded(record);
    for (key, file) in &record.written_no {
        out.push(Assignment {
            key: key.clone(),
            value: "no".into(),
            at: format!("{RECORDED} ({key}), written in {file}"),
        });
    }
    out
}

/// The unit's own `KEY=no`, written in its file (see [`crate::model::unit::GRANTED_BY_NO`]):
/// its author grants what a recording may not exercise, as with its write grants. With the
/// standard margin the drop-in leaves KEY unset (and for PrivateDevices=, DevicePolicy= and
/// DeviceAllow=, which would shut the devices out again); `--margin exact` sets what the
/// recording permits.
pub fn written_grants(decisions: &mut [Decision], unit: &[Assignment], margin: Margin) {
    if margin != Margin::Standard {
        return;
    }
    let written = crate::model::unit::written_no(
        unit.iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.at.as_str())),
    );
    for (key, (value, at)) in written {
        let also: &[&str] = match key {
            "PrivateDevices" => &["DevicePolicy", "DeviceAllow"],
            _ => &[],
        };
        for d in decisions
            .iter_mut()
            .filter(|d| d.directive == key || also.contains(&d.directive))
        {
            if d.lines.is_empty() {
                continue;
            }
            d.lines.clear();
            if d.directive != key {
                // What it would have been is beside the point: it follows from the switch.
                d.evidence.clear();
            }
            d.evidence.push(format!(
                "unset: the unit's own {key}={value} ({at}) grants what a recording may not exercise, kept with the standard margin (--margin exact sets what the recording permits)"
            ));
        }
    }
}

/// Whether a successful write of the recording landed at or below `dir`; the first one.
fn written_below<'a>(p: &'a Profile, dir: &str) -> Option<&'a str> {
    p.observations
        .paths
        .iter()
        .find(|(path, accesses)| {
            under(path, dir) && accesses.iter().any(|(a, s)| a.writes() && s.ok > 0)
        })
        .map(|(path, _)| path.as_str())
}

/// Adds `items` to a reset-then-list decision's list.
fn append(d: &mut Decision, items: &[String]) {
    let directive = d.directive;
    let bare = |w: &str| w.trim_start_matches(['-', '+']).to_owned();
    // An entry the drop-in already names (the unit's -/opt beside learner's own) once.
    let listed: BTreeSet<String> = d
        .lines
        .last()
        .and_then(|l| l.strip_prefix(&format!("{directive}=")))
        .map(|v| v.split_whitespace().map(bare).collect())
        .unwrap_or_default();
    let items: Vec<&str> = items
        .iter()
        .map(String::as_str)
        .filter(|i| !listed.contains(&bare(i)))
        .collect();
    if items.is_empty() {
        return;
    }
    match d.lines.last_mut() {
        Some(last) if last != &format!("{directive}=") => {
            last.push(' ');
            last.push_str(&items.join(" "));
        }
        _ => d.lines.push(format!("{directive}={}", items.join(" "))),
    }
}

/// The unit's own ReadWritePaths= entries, which the drop-in's reset removes: each one the
/// drop-in's list does not cover already is put back with the standard margin (the package's
/// author knows of writes a recording may not exercise: a deployment, a cache) and left out
/// with `--margin exact`; `--explain` says which, and whether the recording used it.
pub fn unit_read_write_paths(d: &mut Decision, p: &Profile, unit: &[Assignment], margin: Margin) {
    let entries = Deployed::of(unit).paths("ReadWritePaths");
    if entries.is_empty() || d.lines.is_empty() {
        return;
    }
    let listed: Vec<String> = d
        .lines
        .last()
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| super::unit_file::words(v))
        .unwrap_or_default()
        .iter()
        .map(|w| super::unit_file::unspecify(w.trim_start_matches(['-', '+'])))
        .collect();
    let had: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
    d.evidence.push(format!(
        "the unit has ReadWritePaths={}, which the reset removes",
        had.join(" ")
    ));
    let mut kept = Vec::new();
    let mut seen = BTreeSet::new();
    for e in entries {
        if !seen.insert(e.path.clone()) {
            continue;
        }
        let used = match written_below(p, &e.path) {
            Some(path) => format!("used by the recording ({path} written)"),
            None => "not used by the recording".to_owned(),
        };
        if listed.iter().any(|l| under(&e.path, l)) {
            d.evidence
                .push(format!("{}: the unit's, {used}: listed above", e.path));
            continue;
        }
        match margin {
            Margin::Standard => {
                d.evidence.push(format!(
                    "{}: the unit's, {used}: kept (standard margin: its author knows of writes a recording may not exercise; --margin exact drops it)",
                    e.path
                ));
                // `-` as for every entry of generate's: the unit's own line still says
                // whether the path must exist.
                kept.push(path_word("-", &e.path));
            }
            Margin::Exact => d.evidence.push(format!(
                "{}: the unit's, {used}: dropped (--margin exact: only what was observed)",
                e.path
            )),
        }
    }
    append(d, &kept);
}

/// The unit's InaccessiblePaths=, which the drop-in's reset would lift: kept, since the
/// service ran with them hidden.
pub fn unit_inaccessible_paths(d: &mut Decision, unit: &[Assignment]) {
    let entries = Deployed::of(unit).paths("InaccessiblePaths");
    if entries.is_empty() || d.lines.is_empty() {
        return;
    }
    let items: Vec<String> = entries.iter().map(|e| path_word("-", &e.path)).collect();
    d.evidence.push(format!(
        "the unit's own {}: kept (the service ran with them hidden)",
        items.join(" ")
    ));
    append(d, &items);
}

/// AmbientCapabilities=: reset, then those of the unit's that the bounding set keeps (they
/// were granted in the recording). A process of a non-root `User=` holds no capability that
/// is not ambient: resetting the unit's grant would leave it none.
///
/// A capability a non-root `User=` used that the unit does not grant, where a program with
/// file capabilities or set-uid was executed, came from it (prometheus-blackbox-exporter's
/// `setcap cap_net_raw=ep`). Under
/// no_new_privs an exec gains no file capability, and systemd sets it for a non-root user
/// with any seccomp-based setting (SystemCallFilter=, RestrictAddressFamilies=, ...) even
/// without NoNewPrivileges=: such a capability is granted as ambient instead, which an exec
/// under no_new_privs keeps.
pub fn ambient_capabilities(unit: &[Assignment], kept: &[String], p: &Profile) -> Decision {
    let deployed = Deployed::of(unit);
    let by_unit = deployed.ambient();
    let mut granted = by_unit.clone();
    let mut lines = vec!["AmbientCapabilities=".to_owned()];
    let mut from_files = Vec::new();
    // Only what an exec gave: a process that switched to the user itself (chronyd run with
    // `!`, dropping to _chrony and keeping CAP_SYS_TIME by capset) needs nothing of the unit.
    let execs: Vec<&str> = p
        .observations
        .facts
        .privileged_execs
        .keys()
        .map(String::as_str)
        .collect();
    if let (Some(user), false) = (deployed.non_root(), execs.is_empty()) {
        for cap in kept.iter().filter(|c| !by_unit.contains(*c)) {
            let used = p
                .observations
                .identity
                .unprivileged_capabilities
                .iter()
                .find(|(k, s)| s.ok > 0 && k.starts_with(&format!("{cap} as ")));
            if let Some((first, _)) = used {
                from_files.push(format!(
                    "{cap}: granted to {user}'s processes ({first}), from {}, which the unit does not make ambient: under no_new_privs (NoNewPrivileges=, or implied for a non-root user by any seccomp-based setting) an exec gains no file capability: granted as ambient",
                    execs.join(", ")
                ));
                granted.insert(cap.clone());
            }
        }
    }
    if granted.is_empty() {
        return Decision {
            directive: "AmbientCapabilities",
            lines,
            evidence: vec![
                "no ambient capabilities: the service gets none it did not start with".into(),
            ],
        };
    }
    let who = deployed
        .non_root()
        .map(|u| format!(" (it runs as {u}: a process of a non-root user holds no capability that is not ambient)"))
        .unwrap_or_default();
    let (keep, drop): (Vec<&String>, Vec<&String>) = granted.iter().partition(|c| kept.contains(c));
    let mut evidence = from_files;
    if !by_unit.is_empty() {
        evidence.push(format!(
            "the unit grants AmbientCapabilities={}{who}",
            by_unit.iter().cloned().collect::<Vec<_>>().join(" ")
        ));
    }
    if !keep.is_empty() {
        let keep: Vec<&str> = keep.iter().map(|c| c.as_str()).collect();
        evidence.push(format!(
            "{}: granted in the recording: kept (the bounding set keeps them too)",
            keep.join(" ")
        ));
        lines.push(format!("AmbientCapabilities={}", keep.join(" ")));
    }
    if !drop.is_empty() {
        let drop: Vec<&str> = drop.iter().map(|c| c.as_str()).collect();
        evidence.push(format!(
            "{}: never granted in the recording: not kept (the bounding set drops it anyway)",
            drop.join(" ")
        ));
    }
    Decision {
        directive: "AmbientCapabilities",
        lines,
        evidence,
    }
}

/// The packages owning `path` as the recording noted them.
fn owners_of(record: &UnitRecord, path: &str) -> Vec<String> {
    record
        .packages
        .get(path)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// For `path`, which no package has (noted as such): the nearest directory above it that a
/// package of the unit's own (its unit file's) has, with those packages, unless that is a
/// shared directory (/var/lib). None for a package's path, a path not noted, or no such
/// directory.
fn package_dir_above(record: &UnitRecord, path: &str) -> Option<(String, Vec<String>)> {
    let own = owners_of(record, &record.files.first()?.path);
    if !record.packages.contains_key(path) || !owners_of(record, path).is_empty() {
        return None; // not noted, or a package's: there on a fresh host too
    }
    let mut above = path;
    loop {
        above = match above.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => dir,
            _ => return None,
        };
        let o = owners_of(record, above);
        if !o.is_empty() {
            let ours = o.iter().any(|p| own.contains(p));
            return (ours && !super::is_system_dir(above)).then(|| (above.to_owned(), o));
        }
    }
}

/// A fresh host: where the service has not run yet, only its packages' directories exist.
/// A directory it made at run time (no package owns it), or one it found made (a create
/// answered EEXIST: nginx's mkdir of /var/lib/nginx/body on every start), is missing there,
/// and the first start creates it in the package's directory above: that directory is
/// granted instead, when it belongs to the unit's own package and is not a shared one
/// (/var/lib). Needs the package owners the recording noted; `--explain` names each grant.
pub fn fresh_host(d: &mut Decision, p: &Profile, private_tmp: bool) {
    let Some(unit) = &p.unit else { return };
    if unit.packages.is_empty() || d.lines.is_empty() {
        return;
    }
    let listed: Vec<(String, String)> = d
        .lines
        .last()
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| super::unit_file::words(v))
        .unwrap_or_default()
        .iter()
        .map(|w| {
            let path = super::unit_file::unspecify(w.trim_start_matches(['-', '+']));
            (w.clone(), path)
        })
        .collect();
    let skipped = |path: &str| {
        ["/dev", "/proc", "/sys"].iter().any(|a| under(path, a))
            || (private_tmp && ["/tmp", "/var/tmp"].iter().any(|t| under(path, t)))
    };
    // What must be creatable on a fresh host: each listed path, and each entry whose create
    // found it there already.
    let mut needs: Vec<(String, String)> = listed
        .iter()
        .map(|(_, path)| (path.clone(), format!("{path} is written")))
        .collect();
    for (path, accesses) in &p.observations.paths {
        let existed = accesses
            .get(&crate::model::observations::Access::Create)
            .is_some_and(|s| s.errors.contains_key("EEXIST"));
        let parent = path.rsplit_once('/').map_or("/", |(d, _)| d);
        if existed && !skipped(path) && !listed.iter().any(|(_, l)| under(parent, l)) {
            needs.push((path.clone(), format!("its create of {path} found it there")));
        }
    }
    let mut grants: Vec<String> = Vec::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for (need, why) in needs {
        let Some((dir, pkgs)) = package_dir_above(unit, &need) else {
            continue;
        };
        if grants.contains(&dir) || listed.iter().any(|(_, l)| l != &need && under(&dir, l)) {
            replaced.insert(need);
            continue;
        }
        d.evidence.push(format!(
            "{dir}: fresh host: {why}, and no package has {need} (the service makes it, on a new host at its first start), while {dir} is {}'s: listed whole so the first start can create it",
            pkgs.join(", ")
        ));
        grants.push(dir);
        replaced.insert(need);
    }
    if grants.is_empty() {
        return;
    }
    let mut items: Vec<String> = listed
        .iter()
        .filter(|(_, path)| !replaced.contains(path) && !grants.iter().any(|g| under(path, g)))
        .map(|(word, _)| word.clone())
        .collect();
    items.extend(grants.iter().map(|g| path_word("-", g)));
    let directive = d.directive;
    if let Some(last) = d.lines.last_mut()
        && last != &format!("{directive}=")
    {
        *last = format!("{directive}={}", items.join(" "));
    } else {
        d.lines.push(format!("{directive}={}", items.join(" ")));
    }
}

/// A fresh host, for a root service that makes its own directory right in /var/lib,
/// /var/log or /var/cache at run time (no package has it: certbot's /var/log/letsencrypt):
/// under ProtectSystem=strict the first start cannot make it (those stay read-only, and a
/// `-` ReadWritePaths= entry of a missing path is skipped), so systemd makes it before the
/// start: StateDirectory=, LogsDirectory=, CacheDirectory= (v235), with the mode the service
/// itself asks for when the recording saw it ask (else systemd's 0755). Only for a service
/// started as root and a directory whose noted entries are all root's: systemd gives the
/// directory's tree to the service's user. Where one is already running, nothing changes:
/// it exists; `--explain` says why each is there.
/// Returns the decisions and the directories systemd now makes (whose create needs no
/// writable /var/log any more).
pub fn fresh_host_directories(
    p: &Profile,
    unit: &[Assignment],
    systemd: u32,
) -> (Vec<Decision>, BTreeSet<String>) {
    let Some(record) = &p.unit else {
        return Default::default();
    };
    if record.packages.is_empty() || Deployed::of(unit).non_root().is_some() {
        return Default::default();
    }
    let owners = &p.observations.identity.owners;
    let mut wanted: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
    for (path, accesses) in &p.observations.paths {
        let writes = accesses.keys().any(|a| {
            !matches!(
                a,
                crate::model::observations::Access::Read | crate::model::observations::Access::Exec
            )
        });
        if !writes {
            continue;
        }
        for (top, directive, since) in super::identity::DIRECTORIES {
            if *top == "/run" || systemd < *since {
                continue; // /run's would be removed at every stop
            }
            let Some(rest) = path.strip_prefix(top).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            // A directory for sure: something below it was written, or it was made as one.
            let (name, below) = rest.split_once('/').unwrap_or((rest, ""));
            let made_as_dir = below.is_empty()
                && accesses.contains_key(&crate::model::observations::Access::Create)
                && p.observations
                    .facts
                    .created_modes
                    .keys()
                    .any(|k| k.starts_with(&format!("{top} dir ")));
            if name.is_empty() || (below.is_empty() && !made_as_dir) {
                continue;
            }
            let dir = format!("{top}/{name}");
            // Noted, and no package's: the service makes it.
            if !record
                .packages
                .get(&dir)
                .is_some_and(|o| o.trim().is_empty())
            {
                continue;
            }
            let already = unit
                .iter()
                .filter(|a| a.key == *directive)
                .any(|a| super::unit_file::words(&a.value).iter().any(|w| w == name));
            let roots = owners
                .iter()
                .filter(|(k, _)| *k == &dir || k.starts_with(&format!("{dir}/")))
                .all(|(_, o)| o.starts_with("0:0 "));
            if already || !roots {
                continue;
            }
            wanted
                .entry(directive)
                .or_default()
                .insert(name.to_owned(), dir);
        }
    }
    let mut decisions = Vec::new();
    let made: BTreeSet<String> = wanted.values().flat_map(|n| n.values().cloned()).collect();
    for (directive, names) in wanted {
        let top = super::identity::DIRECTORIES
            .iter()
            .find(|(_, d, _)| *d == directive)
            .map_or("", |(t, _, _)| *t);
        // The mode asked for when made in TOP: one, or none said.
        let modes: BTreeSet<&str> = p
            .observations
            .facts
            .created_modes
            .keys()
            .filter_map(|k| k.strip_prefix(&format!("{top} dir ")))
            .collect();
        decisions.push(Decision {
            directive,
            lines: vec![format!(
                "{directive}={}",
                names.keys().cloned().collect::<Vec<_>>().join(" ")
            )],
            evidence: names
                .values()
                .map(|dir| format!("{dir}: fresh host: no package has it, the service makes it at its first start in {top}, which stays read-only: systemd makes it before the start"))
                .collect(),
        });
        // As made: the mode asked for, less the umask (the unit's UMask=, 0022 by default).
        let umask = Deployed::of(unit)
            .last_value("UMask")
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap_or(0o022);
        let mode_directive = match directive {
            "StateDirectory" => "StateDirectoryMode",
            "LogsDirectory" => "LogsDirectoryMode",
            _ => "CacheDirectoryMode",
        };
        if let [mode] = modes.iter().collect::<Vec<_>>()[..]
            && let Ok(asked) = u32::from_str_radix(mode, 8)
        {
            let made = asked & !umask & 0o7777;
            decisions.push(Decision {
                directive: mode_directive,
                lines: vec![format!("{mode_directive}={made:04o}")],
                evidence: vec![format!(
                    "as the service makes it ({mode} less the umask {umask:04o}); systemd sets it at every start, also on a directory that exists, and leaves its files' owners alone (checked on 247, 252 and 257)"
                )],
            });
        }
    }
    (decisions, made)
}

/// The entries a first start on a new host makes (a create found them there, and no
/// package has them) that belong to another user than root: a service started as root
/// makes them as root and hands them over, with CAP_CHOWN, which a recording made where they
/// existed never sees. The bounding set keeps it (said in `--explain`); a service started as
/// its own user makes them as that user.
/// Returns whether that hand-over is expected (the syscall filter must allow it too).
pub fn fresh_host_capabilities(caps: &mut Decision, p: &Profile, unit: &[Assignment]) -> bool {
    let Some(record) = &p.unit else { return false };
    if record.packages.is_empty() || Deployed::of(unit).non_root().is_some() {
        return false;
    }
    let owners = &p.observations.identity.owners;
    let user_writes = &p.observations.identity.user_writes;
    // Made while recorded (its maker's needs are in the profile), or its owner's own
    // processes write in the directory above (they make it themselves, as postgres makes
    // base/pgsql_tmp): no hand-over to expect.
    let made_by_its_owner = |x: &str, uid: &str| {
        let created = p
            .observations
            .paths
            .get(x)
            .and_then(|a| a.get(&crate::model::observations::Access::Create))
            .is_some_and(|s| s.ok > 0);
        let parent = x.rsplit_once('/').map_or("/", |(d, _)| d);
        created || user_writes.contains_key(&format!("{uid} {parent}"))
    };
    let handed: Vec<String> = crate::model::unit::found_existing(&p.observations)
        .into_iter()
        .filter(|x| package_dir_above(record, x).is_some())
        .filter_map(|x| {
            let owner = owners.get(&x)?;
            let uid = owner.split(':').next()?;
            (uid != "0" && !made_by_its_owner(&x, uid)).then(|| format!("{x} ({owner})"))
        })
        .collect();
    if handed.is_empty() {
        return false;
    }
    let cap = "CAP_CHOWN";
    let mut kept = caps.listed();
    if kept.iter().any(|c| c == cap) {
        return true;
    }
    caps.evidence.push(format!(
        "{cap}: fresh host: {} no package's and not root's: a first start as root makes it and hands it over, which the recording, made where it existed, never saw",
        match handed.len() {
            1 => format!("{} is", handed[0]),
            _ => format!("{} are", handed.join(", ")),
        }
    ));
    kept.push(cap.to_owned());
    kept.sort();
    caps.lines = vec![
        "CapabilityBoundingSet=".to_owned(),
        format!("CapabilityBoundingSet={}", kept.join(" ")),
    ];
    true
}

/// The drop-in's bounding set replaces the unit's (its reset): a capability the unit's own
/// CapabilityBoundingSet= leaves out is never kept, whatever the recording saw. Such a grant
/// can only have gone to a command systemd runs with full privileges (`+`,
/// PermissionsStartOnly=), which no bounding set confines; keeping it would widen the set of
/// every other process of the unit (tor's unit: four capabilities; its ExecStartPre=
/// `install` under PermissionsStartOnly= used CAP_CHOWN and CAP_FOWNER).
pub fn within_unit_bounding_set(caps: &mut Decision, unit: &[Assignment]) {
    let allowed = Deployed::of(unit).bounding_set();
    let (kept, outside): (Vec<String>, Vec<String>) =
        caps.listed().into_iter().partition(|c| allowed.permits(c));
    if outside.is_empty() {
        return;
    }
    caps.evidence.push(format!(
        "{}: not in the unit's own CapabilityBoundingSet=: no process it confines held it, so the grant went to a command systemd runs with full privileges (+, PermissionsStartOnly=), which no bounding set confines, or was made with other credentials (overlayfs): not kept (keeping it would widen the unit's set)",
        outside.join(" ")
    ));
    let kept = kept.join(" ");
    caps.lines.truncate(1);
    if kept.is_empty() {
        caps.evidence
            .push("no capability was needed: the bounding set is empty".into());
    } else {
        caps.lines.push(format!("CapabilityBoundingSet={kept}"));
    }
}

/// The syscall filter's allow-list line, when there is one and it does not allow `name`
/// (by name, by a group it lists, or by @default), for a fresh-host rule to add to.
fn allow_list_lacking<'a>(
    lines: &'a mut [String],
    groups: &super::filter_groups::SyscallGroups,
    name: &str,
) -> Option<&'a mut String> {
    let last = lines.last_mut()?;
    let list = last.strip_prefix("SystemCallFilter=")?;
    let items: Vec<&str> = list.split_whitespace().collect();
    let named = items.contains(&name)
        || groups.default_group().contains(name)
        || items
            .iter()
            .any(|i| groups.groups.get(*i).is_some_and(|g| g.contains(name)));
    (!items.is_empty() && !named).then_some(last)
}

/// The hand-over's calls (@chown), added to the syscall filter's allow-list when it does not
/// allow them already.
pub fn fresh_host_syscalls(filter: &mut Decision, groups: &super::filter_groups::SyscallGroups) {
    let Some(last) = allow_list_lacking(&mut filter.lines, groups, "fchownat") else {
        return;
    };
    let add: Vec<String> = if groups.groups.contains_key("@chown") {
        vec!["@chown".to_owned()]
    } else {
        ["chown", "fchown", "fchownat", "lchown"]
            .iter()
            .filter(|n| groups.known.contains(**n))
            .map(|n| n.to_string())
            .collect()
    };
    filter.evidence.push(format!(
        "{}: fresh host: the first start hands what it makes over (see CapabilityBoundingSet)",
        add.join(" ")
    ));
    *last = format!("{last} {}", add.join(" "));
}

/// A fresh host, for the syscall filter: a directory no package has, with the service's
/// writes below it (prometheus's /var/lib/prometheus/metrics2/wal), is made by the service at
/// its first start (inside its package's directory above); a recording made where it existed
/// may never have seen mkdir, which the filter would then refuse (EPERM: prometheus's first
/// start, "mkdir /var/lib/prometheus/metrics2/wal: operation not permitted"). mkdir and
/// mkdirat are allowed, said in `--explain`.
/// Directories in /run, /tmp and the API file systems are left out: made at every boot, a
/// recording sees them made.
pub fn fresh_host_mkdir(
    filter: &mut Decision,
    p: &Profile,
    groups: &super::filter_groups::SyscallGroups,
) {
    let Some(record) = &p.unit else { return };
    let Some(last) = allow_list_lacking(&mut filter.lines, groups, "mkdirat") else {
        return;
    };
    let volatile = [
        "/run", "/var/run", "/tmp", "/var/tmp", "/dev", "/proc", "/sys",
    ];
    // Only inside a directory of the unit's own package: one right in /var/lib or a home
    // may as well be the package's scripts' or an administrator's.
    let made = record.packages.keys().find(|dir| {
        !volatile.iter().any(|v| under(dir, v))
            && package_dir_above(record, dir).is_some()
            && p.observations.paths.iter().any(|(path, accesses)| {
                path.starts_with(&format!("{dir}/"))
                    && accesses.iter().any(|(a, s)| a.writes() && s.ok > 0)
            })
    });
    let Some(dir) = made else { return };
    let add: Vec<&str> = ["mkdir", "mkdirat"]
        .into_iter()
        .filter(|n| groups.known.contains(*n))
        .collect();
    if add.is_empty() {
        return;
    }
    filter.evidence.push(format!(
        "{}: fresh host: no package has {dir}, and the service writes below it: its first start makes it",
        add.join(" ")
    ));
    *last = format!("{last} {}", add.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::observations::{Access, Observations, Slot},
        model::unit::{UnitFile, UnitRecord, package_candidates},
        policy::{filter_groups::SyscallGroups, unit_file::service_assignments},
    };

    /// nginx as recorded on a host where it ran before: its mkdir of /var/lib/nginx/body
    /// answered EEXIST, its pid file and logs written.
    fn nginx_on_an_old_host() -> Profile {
        let mut o = Observations::default();
        o.add(
            &Slot::Path("/var/lib/nginx/body".into(), Access::Create),
            -17,
            "nginx",
            1,
        );
        o.add(
            &Slot::Path("/run/nginx.pid".into(), Access::Create),
            3,
            "nginx",
            1,
        );
        o.add(
            &Slot::Path("/var/log/nginx/error.log".into(), Access::Write),
            3,
            "nginx",
            1,
        );
        o.derive_path_facts("/sys/fs/cgroup");
        o.identity
            .owners
            .insert("/var/lib/nginx/body".into(), "33:33 0700 dir".into());
        Profile {
            syscalls: [("mkdir".to_owned(), 1)].into(),
            ..recorded_with_packages(
                o,
                "nginx.service",
                &[
                    ("/lib/systemd/system/nginx.service", "nginx-common"),
                    ("/var/lib/nginx", "nginx-common"),
                    ("/var/log/nginx", "nginx-common"),
                ],
            )
        }
    }

    /// A profile of `unit` with observations `o` and the packages a recording notes: none
    /// for each path the recording names (package_candidates), `owned` for the rest; the
    /// first of `owned` is the unit file.
    fn recorded_with_packages(o: Observations, unit: &str, owned: &[(&str, &str)]) -> Profile {
        let mut packages: std::collections::BTreeMap<String, String> = package_candidates(&o)
            .iter()
            .map(|c| (c.clone(), String::new()))
            .collect();
        for (path, pkg) in owned {
            packages.insert((*path).into(), (*pkg).into());
        }
        Profile {
            observations: o,
            unit: Some(UnitRecord {
                files: vec![UnitFile {
                    path: owned[0].0.into(),
                    sha256: String::new(),
                }],
                settings: Default::default(),
                packages,
                user_shared_with: vec![],
                written_no: Default::default(),
            }),
            ..Profile::example(unit)
        }
    }

    #[test]
    fn a_fresh_host_may_mkdir_where_the_package_leaves_it_to_the_service() {
        // prometheus as recorded where its wal directory existed: writes in it, no mkdir.
        let mut o = Observations::default();
        o.add(
            &Slot::Path(
                "/var/lib/prometheus/metrics2/wal/00000001".into(),
                Access::Write,
            ),
            3,
            "prometheus",
            1,
        );
        o.derive_path_facts("/sys/fs/cgroup");
        let mut p = Profile {
            syscalls: [("openat".to_owned(), 1), ("write".to_owned(), 1)].into(),
            ..recorded_with_packages(
                o,
                "prometheus.service",
                &[
                    ("/lib/systemd/system/prometheus.service", "prometheus"),
                    ("/var/lib/prometheus", "prometheus"),
                    ("/var/lib/prometheus/metrics2", "prometheus"),
                ],
            )
        };
        let groups = SyscallGroups::for_version(252, None);
        let filter = |p: &Profile| {
            super::super::resolve(p, 252, &groups, Margin::Exact)
                .decision("SystemCallFilter")
                .unwrap()
                .clone()
        };
        let d = filter(&p);
        assert!(
            d.lines.last().unwrap().ends_with(" mkdir mkdirat"),
            "{:?}",
            d.lines
        );
        assert!(
            d.evidence.iter().any(|e| e.starts_with(
                "mkdir mkdirat: fresh host: no package has /var/lib/prometheus/metrics2/wal"
            )),
            "{:#?}",
            d.evidence
        );
        // A directory the package has, or none of the unit's package above: nothing added.
        p.unit.as_mut().unwrap().packages.insert(
            "/var/lib/prometheus/metrics2/wal".into(),
            "prometheus".into(),
        );
        assert!(!filter(&p).lines.last().unwrap().contains("mkdir"));
    }

    /// certbot as recorded where it ran before: its makedirs of /var/log/letsencrypt (mode
    /// 0700) answered EEXIST, its log written; no package has the directory.
    fn certbot_on_an_old_host(owner: &str) -> Profile {
        use crate::model::observations::Fact;
        let mut o = Observations::default();
        o.add(
            &Slot::Path("/var/log/letsencrypt".into(), Access::Create),
            -17,
            "certbot",
            1,
        );
        o.add(
            &Slot::Path("/var/log/letsencrypt/letsencrypt.log".into(), Access::Write),
            3,
            "certbot",
            1,
        );
        o.add(
            &Slot::Fact(Fact::CreatedMode, "/var/log dir 0777".into()),
            -17,
            "certbot",
            1,
        );
        o.derive_path_facts("/sys/fs/cgroup");
        o.identity
            .owners
            .insert("/var/log/letsencrypt".into(), owner.into());
        recorded_with_packages(
            o,
            "certbot.service",
            &[("/lib/systemd/system/certbot.service", "certbot")],
        )
    }

    #[test]
    fn a_fresh_host_gets_the_directory_a_root_service_makes_in_var_log() {
        let p = certbot_on_an_old_host("0:0 0700 dir");
        assert!(
            p.unit
                .as_ref()
                .unwrap()
                .packages
                .contains_key("/var/log/letsencrypt"),
            "{:?}",
            p.unit.as_ref().unwrap().packages
        );
        let (d, made) = fresh_host_directories(&p, &[], 252);
        assert_eq!(made, ["/var/log/letsencrypt".to_owned()].into());
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(d[0].lines, ["LogsDirectory=letsencrypt"]);
        // 0777 asked, less the default umask.
        assert_eq!(d[1].lines, ["LogsDirectoryMode=0755"]);
        assert!(d[0].evidence[0].starts_with("/var/log/letsencrypt: fresh host"));
        // The unit's own UMask= is the one that applies.
        let unit = service_assignments("[Service]\nUMask=0077\n", "certbot.service");
        let (d, _) = fresh_host_directories(&p, &unit, 252);
        assert_eq!(d[1].lines, ["LogsDirectoryMode=0700"]);
        // Nothing before systemd 235, for a service started as another user, for a unit
        // that has it already, or for a directory with an entry not root's (systemd would
        // give the tree to the service's user).
        assert!(fresh_host_directories(&p, &[], 234).0.is_empty());
        let user = service_assignments("[Service]\nUser=certbot\n", "certbot.service");
        assert!(fresh_host_directories(&p, &user, 252).0.is_empty());
        let has = service_assignments("[Service]\nLogsDirectory=letsencrypt\n", "certbot.service");
        assert!(fresh_host_directories(&p, &has, 252).0.is_empty());
        let other = certbot_on_an_old_host("33:33 0700 dir");
        assert!(fresh_host_directories(&other, &[], 252).0.is_empty());
        // And through resolve, beside ReadWritePaths=.
        let groups = SyscallGroups::for_version(252, None);
        let policy = super::super::resolve(&p, 252, &groups, Margin::default());
        assert_eq!(policy.value("LogsDirectory"), Some("letsencrypt"));
        assert_eq!(policy.value("LogsDirectoryMode"), Some("0755"));
    }

    #[test]
    fn a_fresh_host_gets_the_package_directory_the_first_start_creates_in() {
        let p = nginx_on_an_old_host();
        assert!(
            package_candidates(&p.observations).contains("/var/lib/nginx/body"),
            "{:?}",
            package_candidates(&p.observations)
        );
        let groups = SyscallGroups::for_version(252, None);
        let policy = super::super::resolve(&p, 252, &groups, Margin::default());
        let rw = policy.decision("ReadWritePaths").unwrap();
        assert_eq!(
            rw.lines.last().unwrap(),
            "ReadWritePaths=-/run -/var/log/nginx -/var/lib/nginx",
            "{:#?}",
            rw.evidence
        );
        assert!(
            rw.evidence.iter().any(|e| e.starts_with(
                "/var/lib/nginx: fresh host: its create of /var/lib/nginx/body found it there, and no package has /var/lib/nginx/body"
            )),
            "{:#?}",
            rw.evidence
        );
        // It belongs to www-data: a first start as root makes it and chowns it.
        let caps = policy.decision("CapabilityBoundingSet").unwrap();
        assert_eq!(
            caps.lines,
            ["CapabilityBoundingSet=", "CapabilityBoundingSet=CAP_CHOWN"]
        );
        assert!(
            caps.evidence.iter().any(|e| e.starts_with(
                "CAP_CHOWN: fresh host: /var/lib/nginx/body (33:33 0700 dir) is no package's and not root's"
            )),
            "{:#?}",
            caps.evidence
        );
        assert!(
            policy
                .value("SystemCallFilter")
                .unwrap()
                .split(' ')
                .any(|i| i == "@chown"),
            "{:?}",
            policy.value("SystemCallFilter")
        );
        // Its owner's own processes making entries beside it (postgres makes
        // base/pgsql_tmp itself), or a create seen succeeding: no hand-over.
        let cap_chown = |p: &Profile| {
            super::super::resolve(p, 252, &groups, Margin::default())
                .value("CapabilityBoundingSet")
                .is_some_and(|v| v.contains("CAP_CHOWN"))
        };
        let mut own = p.clone();
        own.observations.identity.add(
            &crate::model::credentials::IdentitySlot::UserWrite("33 /var/lib/nginx".into()),
            0,
            "nginx",
            1,
        );
        assert!(!cap_chown(&own));
        let mut made = p.clone();
        made.observations.add(
            &Slot::Path("/var/lib/nginx/body".into(), Access::Create),
            0,
            "nginx",
            1,
        );
        assert!(!cap_chown(&made));
        assert!(cap_chown(&p));
        // What the old host's recording saw is permitted all the same.
        let text = super::super::render(&policy, &p, &[], "", false);
        let v = crate::policy::verify::verify(
            &p,
            &service_assignments(&text, "g.conf"),
            252,
            &groups,
            &|_| true,
        );
        assert!(v.gaps.is_empty(), "{:#?}", v.gaps);

        // A directory of another package, or a shared one, is not granted.
        let mut other = p.clone();
        let packages = &mut other.unit.as_mut().unwrap().packages;
        packages.insert("/var/lib/nginx".into(), "someone-else".into());
        let policy = super::super::resolve(&other, 252, &groups, Margin::default());
        assert!(
            !policy
                .value("ReadWritePaths")
                .unwrap()
                .contains("/var/lib/nginx"),
            "{:?}",
            policy.value("ReadWritePaths")
        );
        // Without package owners (an older profile) nothing changes.
        let mut old = p.clone();
        old.unit.as_mut().unwrap().packages.clear();
        let policy = super::super::resolve(&old, 252, &groups, Margin::default());
        assert_eq!(
            policy.value("ReadWritePaths"),
            Some("-/run -/var/log/nginx")
        );
        assert_eq!(
            policy.decision("CapabilityBoundingSet").unwrap().lines,
            ["CapabilityBoundingSet="]
        );
    }

    #[test]
    fn a_directory_made_at_run_time_gives_way_to_the_packages_above_it() {
        let mut p = nginx_on_an_old_host();
        p.observations.add(
            &Slot::Path("/var/lib/nginx/cache/a/b".into(), Access::Create),
            3,
            "nginx",
            1,
        );
        let unit = p.unit.as_mut().unwrap();
        for c in [
            "/var/lib/nginx/cache",
            "/var/lib/nginx/cache/a",
            "/var/lib/nginx/cache/a/b",
        ] {
            unit.packages.insert(c.into(), String::new());
        }
        let groups = SyscallGroups::for_version(252, None);
        let policy = super::super::resolve(&p, 252, &groups, Margin::default());
        // /var/lib/nginx/cache/a is listed on the old host; the package's directory replaces it.
        assert_eq!(
            policy.value("ReadWritePaths"),
            Some("-/run -/var/log/nginx -/var/lib/nginx")
        );
    }

    #[test]
    fn a_no_the_units_file_wrote_is_its_authors_grant() {
        // munin-node.service: PrivateDevices=false ("plugins like smart_ require access to
        // devices"), ProtectHome=true. Its recording opened no device: PrivateDevices=yes
        // only with --margin exact. A later drop-in's PrivateTmp=yes undoes its unit's no.
        let mut record = UnitRecord::default();
        record.note_written_no([
            (
                "PrivateDevices",
                "false",
                "/lib/systemd/system/munin-node.service",
            ),
            (
                "ProtectHome",
                "true",
                "/lib/systemd/system/munin-node.service",
            ),
            ("PrivateTmp", "no", "/lib/systemd/system/munin-node.service"),
            ("User", "0", "/lib/systemd/system/munin-node.service"),
            (
                "PrivateTmp",
                "yes",
                "/etc/systemd/system/munin-node.service.d/x.conf",
            ),
        ]);
        assert_eq!(
            record.written_no.keys().collect::<Vec<_>>(),
            ["PrivateDevices"]
        );
        // An empty assignment resets ProtectHome=; a plain boolean refuses it, keeping `no`.
        let mut other = UnitRecord::default();
        other.note_written_no([
            ("ProtectHome", "no", "a.service"),
            ("PrivateIPC", "no", "a.service"),
            ("ProtectHome", "", "b.conf"),
            ("PrivateIPC", "", "b.conf"),
        ]);
        assert_eq!(other.written_no.keys().collect::<Vec<_>>(), ["PrivateIPC"]);
        // A `no` restricts nothing: no gap on a systemd older than the switch (PrivateIPC=
        // came in 248), nothing left unchecked.
        let mut old = Profile::example("a.service");
        old.unit = Some(other);
        let v = crate::policy::verify::verify(
            &old,
            &of_profile(&old),
            245,
            &SyscallGroups::for_version(245, None),
            &|_| true,
        );
        assert!(v.gaps.is_empty() && v.unchecked.is_empty(), "{v:?}");
        // Merged after a recording that predates them, they stay.
        let mut before = Profile::example("a.service");
        before.unit = Some(UnitRecord::default());
        let merged = Profile::merged(&[before, old]).expect("merged");
        assert!(
            merged
                .unit
                .expect("unit")
                .written_no
                .contains_key("PrivateIPC")
        );
        let mut p = Profile::example("munin-node.service");
        p.observations = Observations::default();
        p.observations.add(
            &Slot::Path("/var/log/munin/munin-node.log".into(), Access::Write),
            0,
            "munin-node",
            1,
        );
        p.unit = Some(record);
        let unit = of_profile(&p);
        let groups = SyscallGroups::for_version(252, None);
        let text = |margin| {
            let policy = crate::policy::resolve_on(&p, &unit, 252, &groups, margin);
            crate::policy::render(&policy, &p, &[], "", true)
        };
        let standard = text(Margin::Standard);
        for directive in ["PrivateDevices=", "DevicePolicy=", "DeviceAllow="] {
            assert!(
                !standard.lines().any(|l| l.starts_with(directive)),
                "{directive}\n{standard}"
            );
        }
        assert!(standard.contains("# PrivateDevices: unset: the unit's own PrivateDevices=no (the recorded unit (PrivateDevices), written in /lib/systemd/system/munin-node.service)"), "{standard}");
        assert!(standard.contains("\nPrivateTmp=yes\n"), "{standard}");
        assert!(text(Margin::Exact).contains("\nPrivateDevices=yes\n"));
        // MariaDB's PrivateTmp=false: /tmp stays shared, so what it writes there must be
        // writable (InnoDB's temporary files: EROFS under ProtectSystem=strict otherwise).
        p.observations.add(
            &Slot::Path("/tmp/ib1lE0XU".into(), Access::Create),
            0,
            "mariadbd",
            1,
        );
        let shared = service_assignments("[Service]\nPrivateTmp=false\n", "mariadb.service");
        let policy = crate::policy::resolve_on(&p, &shared, 252, &groups, Margin::Standard);
        let text = crate::policy::render(&policy, &p, &[], "", false);
        assert!(!text.contains("PrivateTmp="), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("ReadWritePaths=") && l.contains("/tmp")),
            "{text}"
        );
        // The same from a unit file named to generate.
        let named = service_assignments("[Service]\nPrivateDevices=off\n", "u.service");
        let policy = crate::policy::resolve_on(&p, &named, 252, &groups, Margin::Standard);
        assert!(
            !policy
                .decisions
                .iter()
                .any(|d| d.directive == "PrivateDevices" && !d.lines.is_empty())
        );
    }

    #[test]
    fn a_capability_a_non_root_user_got_from_a_file_becomes_ambient() {
        // prometheus-blackbox-exporter as User=prometheus, its binary `setcap cap_net_raw=ep`.
        let unit = service_assignments(
            "[Service]\nUser=prometheus\nExecStart=/usr/bin/prometheus-blackbox-exporter\n",
            "x.service",
        );
        let mut o = Observations::default();
        o.add(
            &Slot::Fact(
                crate::model::observations::Fact::PrivilegedExec,
                "/usr/bin/prometheus-blackbox-exporter (file capabilities)".into(),
            ),
            0,
            "(exporter)",
            1,
        );
        o.identity
            .unprivileged_capabilities
            .entry("CAP_NET_RAW as 108 during socket".into())
            .or_default()
            .add(0, "prometheus-blac", 3);
        let p = Profile {
            observations: o,
            ..Profile::example("x.service")
        };
        let d = ambient_capabilities(&unit, &["CAP_NET_RAW".into()], &p);
        assert_eq!(
            d.lines,
            ["AmbientCapabilities=", "AmbientCapabilities=CAP_NET_RAW"]
        );
        assert!(
            d.evidence.join("\n").contains("(file capabilities)"),
            "{:?}",
            d.evidence
        );
        // Root's own use (a root service) needs nothing ambient.
        let root = service_assignments("[Service]\nExecStart=/bin/x\n", "x.service");
        let d = ambient_capabilities(&root, &["CAP_NET_RAW".into()], &p);
        assert_eq!(d.lines, ["AmbientCapabilities="]);
        // A capability the bounding set drops is not granted.
        let d = ambient_capabilities(&unit, &[], &p);
        assert_eq!(d.lines, ["AmbientCapabilities="]);
        // Without a privileged exec the process kept it itself when it left root (chronyd,
        // run with `!` under User=_chrony).
        let mut kept = p.clone();
        kept.observations.facts.privileged_execs.clear();
        let d = ambient_capabilities(&unit, &["CAP_NET_RAW".into()], &kept);
        assert_eq!(d.lines, ["AmbientCapabilities="]);
    }
}
