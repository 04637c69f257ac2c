//! `learner diff OLD NEW`: what a new version of a service needs that the old one did not,
//! and the reverse, as observations and as drop-in lines: the gate after an app update.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::{
    policy::{self, filter_groups::SyscallGroups},
    profile::Profile,
};

/// Every need a profile shows, by category, as comparable strings.
pub fn needs(p: &Profile) -> BTreeMap<&'static str, BTreeSet<String>> {
    let o = &p.observations;
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    out.insert(
        "syscalls",
        p.syscalls
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, _)| s.clone())
            .collect(),
    );
    out.insert(
        "paths",
        o.paths
            .iter()
            .flat_map(|(path, accesses)| {
                accesses
                    .iter()
                    .filter(|(_, s)| s.ok > 0)
                    .map(move |(a, _)| format!("{path} ({})", a.name()))
            })
            .collect(),
    );
    out.insert(
        "capabilities",
        o.capabilities
            .iter()
            .filter(|(_, c)| c.granted.as_ref().is_some_and(|g| g.count > 0))
            .map(|(k, _)| k.clone())
            .collect(),
    );
    out.insert(
        "families",
        o.sockets
            .iter()
            .filter(|(_, s)| s.ok > 0)
            .map(|(k, _)| k.split('/').next().unwrap_or(k).to_owned())
            .collect(),
    );
    out.insert(
        "binds",
        o.binds
            .iter()
            .filter(|(_, s)| s.ok > 0)
            .map(|(k, _)| k.clone())
            .collect(),
    );
    out.insert(
        "execs",
        o.processes
            .execs
            .iter()
            .filter(|(_, e)| e.seen.ok > 0)
            .map(|(k, _)| k.clone())
            .collect(),
    );
    let mut facts = BTreeSet::new();
    if let Ok(serde_json::Value::Object(kinds)) = serde_json::to_value(&o.facts) {
        for (kind, entries) in kinds {
            if let serde_json::Value::Object(entries) = entries {
                facts.extend(entries.keys().map(|k| format!("{kind}: {k}")));
            }
        }
    }
    out.insert("facts", facts);
    out
}

/// The difference between two profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Needed by NEW, not by OLD, by category.
    pub new_needs: BTreeMap<String, Vec<String>>,
    /// Needed by OLD, no longer by NEW.
    pub no_longer_needed: BTreeMap<String, Vec<String>>,
    /// Drop-in lines NEW's drop-in has and OLD's has not, and the reverse.
    pub dropin_added: Vec<String>,
    pub dropin_removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.new_needs.is_empty()
            && self.no_longer_needed.is_empty()
            && self.dropin_added.is_empty()
            && self.dropin_removed.is_empty()
    }

    pub fn has_new_needs(&self) -> bool {
        !self.new_needs.is_empty()
    }

    /// Grouped and readable at a glance; green for what NEW needs, red for what it no longer does.
    pub fn text(&self, colour: bool) -> String {
        let (green, red, reset) = if colour {
            ("\x1b[32m", "\x1b[31m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        if self.is_empty() {
            return "no differences\n".into();
        }
        let mut out = String::new();
        let section = |out: &mut String,
                       title: &str,
                       map: &BTreeMap<String, Vec<String>>,
                       sign: &str,
                       c: &str| {
            if map.is_empty() {
                return;
            }
            out.push_str(&format!("{title}\n"));
            for (category, items) in map {
                out.push_str(&format!("  {category}:\n"));
                for item in items {
                    out.push_str(&format!("    {c}{sign} {item}{reset}\n"));
                }
            }
        };
        section(
            &mut out,
            "NEW needs what OLD did not:",
            &self.new_needs,
            "+",
            green,
        );
        section(
            &mut out,
            "OLD needed what NEW no longer does:",
            &self.no_longer_needed,
            "-",
            red,
        );
        if !self.dropin_added.is_empty() || !self.dropin_removed.is_empty() {
            out.push_str("drop-in:\n");
            for l in &self.dropin_removed {
                out.push_str(&format!("  {red}- {l}{reset}\n"));
            }
            for l in &self.dropin_added {
                out.push_str(&format!("  {green}+ {l}{reset}\n"));
            }
        }
        out
    }
}

/// Compares two profiles, the drop-ins generated for systemd `systemd` included.
pub fn diff(old: &Profile, new: &Profile, systemd: u32, groups: &SyscallGroups) -> Diff {
    // A directory one recording folded (too many names) is compared folded in both.
    let folded_like = |p: &Profile, other: &Profile| -> Option<Profile> {
        other.observations.has_folded_paths().then(|| {
            let mut p = p.clone();
            p.observations.fold_as(&other.observations);
            p
        })
    };
    let (old_folded, new_folded) = (folded_like(old, new), folded_like(new, old));
    let (old, new) = (
        old_folded.as_ref().unwrap_or(old),
        new_folded.as_ref().unwrap_or(new),
    );
    let (a, b) = (needs(old), needs(new));
    let mut d = Diff::default();
    for (category, before) in &a {
        let after = &b[category];
        let added: Vec<String> = after.difference(before).cloned().collect();
        let removed: Vec<String> = before.difference(after).cloned().collect();
        if !added.is_empty() {
            d.new_needs.insert((*category).to_owned(), added);
        }
        if !removed.is_empty() {
            d.no_longer_needed.insert((*category).to_owned(), removed);
        }
    }
    let lines = |p: &Profile| -> Vec<String> {
        policy::resolve(p, systemd, groups, policy::margin::Margin::default())
            .decisions
            .into_iter()
            .flat_map(|dec| dec.lines)
            .collect()
    };
    let (la, lb) = (lines(old), lines(new));
    d.dropin_added = lb.iter().filter(|l| !la.contains(l)).cloned().collect();
    d.dropin_removed = la.iter().filter(|l| !lb.contains(l)).cloned().collect();
    d
}
