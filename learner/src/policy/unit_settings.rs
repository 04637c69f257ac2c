//! The unit a drop-in is added to. Its settings come as unit-file assignments: from the
//! profile (what `learner record` read from the manager), or from a unit file the user
//! names. A drop-in resets list options before narrowing them, and a reset also takes away
//! what the unit itself granted: the generator puts back the grants the service needs
//! (ambient capabilities in use), and the unit's write grants within the margin.
use std::collections::BTreeSet;

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

/// The profile's recorded unit settings; empty when it has none.
pub fn of_profile(p: &Profile) -> Vec<Assignment> {
    p.unit.as_ref().map(recorded).unwrap_or_default()
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
    if items.is_empty() {
        return;
    }
    let directive = d.directive;
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
pub fn ambient_capabilities(unit: &[Assignment], kept: &[String]) -> Decision {
    let deployed = Deployed::of(unit);
    let granted = deployed.ambient();
    let mut lines = vec!["AmbientCapabilities=".to_owned()];
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
    let mut evidence = vec![format!(
        "the unit grants AmbientCapabilities={}{who}",
        granted.iter().cloned().collect::<Vec<_>>().join(" ")
    )];
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
