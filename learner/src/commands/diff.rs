//! `learner diff OLD NEW`: the gate after an app update, judged by what the drop-ins permit.
//! Each directive is compared item by item (syscalls, paths, capabilities, families,
//! namespace types added or removed; toggles loosened or tightened), each labelled looser or
//! tighter, with the observations that caused it. Observations that change no directive are
//! kept as information.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::ExitCode,
};

use serde::Serialize;

use crate::{
    model::observations::{under, writable_path},
    model::profile::Profile,
    policy::verify,
    policy::{self, Decision, filter_groups::SyscallGroups},
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
    // An operation that opens or connects unseen leaves directives unset: a new one matters.
    out.insert(
        "io_uring",
        o.io_uring
            .iter()
            .flatten()
            .filter(|(_, s)| s.count > 0)
            .map(|(k, _)| k.clone())
            .collect(),
    );
    out
}

/// Whether a drop-in change lets the service do more, less, or the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Looser,
    Tighter,
    /// Restated: covered by another entry (a file now inside a listed directory).
    Neutral,
}

/// One item of one directive that differs between OLD's and NEW's drop-ins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub directive: String,
    /// `item`: one entry of a list directive added or removed; `value`: a directive's value
    /// changed (a toggle, or a list set on one side only).
    pub kind: ChangeKind,
    /// The item (list directives) or value (toggles) in OLD's drop-in; None: absent, unset.
    pub old: Option<String>,
    /// The same in NEW's drop-in.
    pub new: Option<String>,
    pub effect: Effect,
    /// The observations that caused it (of NEW when looser, of OLD when tighter).
    pub because: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Item,
    Value,
}

/// Observations that changed no directive, by category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Information {
    /// Observed by NEW, not by OLD.
    pub added: BTreeMap<String, Vec<String>>,
    /// Observed by OLD, no longer by NEW.
    pub removed: BTreeMap<String, Vec<String>>,
}

/// The difference between two profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub target_systemd: u32,
    /// Whether NEW's drop-in permits something OLD's did not.
    pub looser: bool,
    pub dropin: Vec<Change>,
    pub information: Information,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.dropin.is_empty()
            && self.information.added.is_empty()
            && self.information.removed.is_empty()
    }

    /// Grouped and readable at a glance; red for looser, green for tighter.
    pub fn text(&self, colour: bool) -> String {
        let (red, green, reset) = if colour {
            ("\x1b[31m", "\x1b[32m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        if self.is_empty() {
            return "no differences\n".into();
        }
        let mut out = String::new();
        if !self.dropin.is_empty() {
            out.push_str(&format!(
                "drop-in for systemd {} ({}):\n",
                self.target_systemd,
                if self.looser {
                    "NEW permits more"
                } else {
                    "NEW permits nothing more"
                }
            ));
        }
        for c in &self.dropin {
            let (label, c1) = match c.effect {
                Effect::Looser => ("looser ", red),
                Effect::Tighter => ("tighter", green),
                Effect::Neutral => ("same   ", ""),
            };
            let what = match (&c.old, &c.new, c.kind) {
                (None, Some(n), ChangeKind::Item) => format!("+ {}: {n}", c.directive),
                (Some(o), None, ChangeKind::Item) => format!("- {}: {o}", c.directive),
                (o, n, _) => format!(
                    "~ {}: {} -> {}",
                    c.directive,
                    o.as_deref().unwrap_or("(unset)"),
                    n.as_deref().unwrap_or("(unset)")
                ),
            };
            let because = match c.because.len() {
                0 => String::new(),
                n if n > 3 => format!(" ({}; and {} more)", c.because[..3].join("; "), n - 3),
                _ => format!(" ({})", c.because.join("; ")),
            };
            out.push_str(&format!("  {c1}{label} {what}{reset}{because}\n"));
        }
        let info = &self.information;
        if !info.added.is_empty() || !info.removed.is_empty() {
            out.push_str("information (observations that change no directive):\n");
            for (sign, map) in [("+", &info.added), ("-", &info.removed)] {
                for (category, items) in map {
                    for item in items {
                        out.push_str(&format!("  {sign} {category}: {item}\n"));
                    }
                }
            }
        }
        out
    }
}

/// Directives compared item by item.
fn is_list(directive: &str) -> bool {
    matches!(
        directive,
        "ReadWritePaths"
            | "CapabilityBoundingSet"
            | "RestrictAddressFamilies"
            | "SystemCallFilter"
            | "RestrictNamespaces"
            | "InaccessiblePaths"
    )
}

/// List directives whose items deny rather than allow: one fewer is looser.
fn is_deny_list(directive: &str) -> bool {
    directive == "InaccessiblePaths"
}

/// The items a list directive's lines permit: paths, capabilities, families, syscalls
/// (groups and @default expanded), namespace types. None: unset, nothing restricted.
fn items(d: &Decision, groups: &SyscallGroups) -> Option<BTreeSet<String>> {
    if d.directive == "SystemCallFilter" {
        return verify::permitted_syscalls(&d.lines, groups);
    }
    let last = d.lines.last()?;
    let value = last.split_once('=').map_or("", |(_, v)| v);
    let words = crate::policy::unit_file::words(value);
    Some(match (d.directive, value) {
        ("RestrictAddressFamilies", "none") | ("RestrictNamespaces", "yes") => BTreeSet::new(),
        ("ReadWritePaths" | "InaccessiblePaths", _) => words
            .iter()
            .map(|w| w.trim_start_matches('-').to_owned())
            .collect(),
        _ => words.into_iter().collect(),
    })
}

/// Fact categories (as `needs` names them) that decide each toggle.
const TOGGLE_FACTS: &[(&str, &str)] = &[
    ("ProtectHome", "home"),
    ("PrivateTmp", "tmp"),
    ("PrivateDevices", "devices"),
    ("ProtectKernelTunables", "kernel_tunable_writes"),
    ("ProtectKernelModules", "module_loading"),
    ("ProtectKernelLogs", "kernel_logs"),
    ("ProtectControlGroups", "cgroup_writes"),
    ("ProtectClock", "clock_changes"),
    ("ProtectHostname", "hostname_changes"),
    ("ProtectProc", "other_processes_proc"),
    ("ProcSubset", "proc_system_files"),
    ("NoNewPrivileges", "privileged_execs"),
    ("RestrictSUIDSGID", "suid_sgid_modes"),
    ("LockPersonality", "personality"),
    ("RestrictRealtime", "scheduling"),
    ("MemoryDenyWriteExecute", "write_execute_memory"),
];

/// Why `side`'s drop-in has `item` of `directive` (None: the directive as a whole): what
/// to show, and the observations (as `needs` keys) it accounts for.
fn causes(
    directive: &str,
    item: Option<&str>,
    side: &Profile,
    decision: &Decision,
) -> (Vec<String>, Vec<(&'static str, String)>) {
    let o = &side.observations;
    let by = |s: &crate::model::observations::Seen| s.by.joined();
    let mut shown = Vec::new();
    let mut keys = Vec::new();
    match (directive, item) {
        ("SystemCallFilter", Some(s)) => match side.syscalls.get(s) {
            Some(n) => {
                shown.push(format!("called {s} {n}x"));
                keys.push(("syscalls", s.to_owned()));
            }
            None => shown.extend(
                decision
                    .evidence
                    .iter()
                    .filter(|e| e.starts_with(&format!("{s}:")))
                    .cloned(),
            ),
        },
        ("ReadWritePaths", Some(dir)) => {
            for (path, accesses) in &o.paths {
                for (access, seen) in accesses.iter().filter(|(a, s)| a.writes() && s.ok > 0) {
                    if under(&writable_path(path, *access), dir) {
                        shown.push(format!(
                            "{}: {} {path} {}x",
                            by(seen),
                            access.name(),
                            seen.ok
                        ));
                        keys.push(("paths", format!("{path} ({})", access.name())));
                    }
                }
            }
        }
        // A tree no longer inaccessible: what was used in it.
        ("InaccessiblePaths", Some(tree)) => {
            for (path, accesses) in o.paths.iter().filter(|(p, _)| under(p, tree)) {
                for (access, seen) in accesses {
                    shown.push(format!(
                        "{}: {} {path} {}x",
                        by(seen),
                        access.name(),
                        seen.count
                    ));
                    keys.push(("paths", format!("{path} ({})", access.name())));
                }
            }
        }
        ("CapabilityBoundingSet", Some(cap)) => {
            if let Some(c) = o.capabilities.get(cap)
                && let Some(g) = &c.granted
            {
                let during: Vec<String> =
                    c.during.iter().map(|(s, n)| format!("{s} {n}x")).collect();
                shown.push(format!(
                    "{}: {cap} granted {}x, during {}",
                    by(g),
                    g.count,
                    during.join(", ")
                ));
                keys.push(("capabilities", cap.to_owned()));
            }
        }
        ("RestrictAddressFamilies", Some(family)) => {
            for (socket, seen) in &o.sockets {
                if socket.split('/').next() == Some(family) && seen.ok > 0 {
                    shown.push(format!("{}: socket {socket} {}x", by(seen), seen.ok));
                    keys.push(("families", family.to_owned()));
                }
            }
        }
        ("RestrictNamespaces", item) => {
            for (fact, seen) in &o.facts.namespaces {
                let kind = fact.split(' ').next().unwrap_or(fact);
                if item.is_none_or(|t| t == kind) {
                    shown.push(format!("{}: namespace {fact} {}x", by(seen), seen.count));
                    keys.push(("facts", format!("namespaces: {fact}")));
                }
            }
        }
        (toggle, None) => {
            // The policy's own words for why a stricter value was not possible.
            shown.extend(
                decision
                    .evidence
                    .iter()
                    .filter(|e| e.starts_with("not "))
                    .cloned(),
            );
            let needs = needs(side);
            let category = TOGGLE_FACTS
                .iter()
                .find(|(d, _)| *d == toggle)
                .map(|(_, c)| *c);
            if let Some(category) = category {
                keys.extend(
                    needs["facts"]
                        .iter()
                        .filter(|k| k.starts_with(&format!("{category}: ")))
                        .map(|k| ("facts", k.clone())),
                );
            }
            if toggle == "PrivateNetwork" {
                keys.extend(
                    needs["families"]
                        .iter()
                        .filter(|f| !["AF_UNIX", "AF_NETLINK"].contains(&f.as_str()))
                        .map(|f| ("families", f.clone())),
                );
                keys.extend(
                    needs["binds"]
                        .iter()
                        .filter(|b| b.starts_with("AF_UNIX @"))
                        .map(|b| ("binds", b.clone())),
                );
            }
            if toggle == "PrivateMounts" {
                keys.extend(
                    needs["syscalls"]
                        .iter()
                        .filter(|s| s.contains("mount") || *s == "pivot_root" || *s == "open_tree")
                        .map(|s| ("syscalls", s.clone())),
                );
            }
        }
        _ => {}
    }
    (shown, keys)
}

/// `learner diff --fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Exit 1 only when NEW's drop-in permits something OLD's did not (the gate after an
    /// app update); `new-needs` is the old name of the same test
    #[value(alias = "new-needs")]
    Looser,
    /// Exit 1 on any difference
    Any,
}

/// What `learner diff` was asked.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub old: PathBuf,
    pub new: PathBuf,
    pub target_systemd: Option<u32>,
    pub margin: policy::margin::Margin,
    pub fail_on: FailOn,
}

/// `learner diff`: prints the difference; exits 1 when it is one `fail_on` names, 2 on
/// trouble.
pub fn run(req: &DiffRequest, format: super::Format) -> ExitCode {
    let result = (|| -> anyhow::Result<Diff> {
        let old = Profile::load(&req.old)?;
        let new = Profile::load(&req.new)?;
        let systemd = req
            .target_systemd
            .or_else(crate::util::host::systemd_version)
            .unwrap_or(super::generate::NEWEST_SYSTEMD);
        let groups = SyscallGroups::for_version(systemd, crate::util::host::systemd_version());
        Ok(diff(&old, &new, systemd, &groups, req.margin))
    })();
    let d = match result {
        Ok(d) => d,
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            return ExitCode::from(2);
        }
    };
    match format {
        super::Format::Json => {
            println!("{}", serde_json::to_string_pretty(&d).expect("plain data"));
        }
        super::Format::Text => {
            use std::io::IsTerminal as _;
            print!("{}", d.text(std::io::stdout().is_terminal()));
        }
    }
    let differs = match req.fail_on {
        FailOn::Looser => d.looser,
        FailOn::Any => !d.is_empty(),
    };
    ExitCode::from(u8::from(differs))
}

/// Compares two profiles by the drop-ins generated for systemd `systemd`.
pub fn diff(
    old: &Profile,
    new: &Profile,
    systemd: u32,
    groups: &SyscallGroups,
    margin: policy::margin::Margin,
) -> Diff {
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
    let (pa, pb) = (
        policy::resolve(old, systemd, groups, margin),
        policy::resolve(new, systemd, groups, margin),
    );
    let mut d = Diff {
        target_systemd: systemd,
        ..Default::default()
    };
    // Observations accounted for by a drop-in change: (category, key) of NEW and of OLD.
    let mut claimed_new: BTreeSet<(&'static str, String)> = BTreeSet::new();
    let mut claimed_old: BTreeSet<(&'static str, String)> = BTreeSet::new();
    let (na, nb) = (needs(old), needs(new));
    // Causes that are new to a side come first; unchanged ones only when nothing changed.
    let mut push = |change: Change,
                    side: &Profile,
                    other: &BTreeMap<&'static str, BTreeSet<String>>,
                    decision: &Decision,
                    item: Option<&str>,
                    claimed: &mut BTreeSet<(&'static str, String)>| {
        let (shown, keys) = causes(&change.directive, item, side, decision);
        let fresh: Vec<usize> = (0..shown.len())
            .filter(|i| {
                keys.get(*i)
                    .is_none_or(|(cat, k)| !other.get(cat).is_some_and(|s| s.contains(k)))
            })
            .collect();
        let because = if fresh.is_empty() || keys.len() != shown.len() {
            shown
        } else {
            fresh.iter().map(|i| shown[*i].clone()).collect()
        };
        claimed.extend(keys);
        d.dropin.push(Change { because, ..change });
    };
    for (da, db) in pa.decisions.iter().zip(&pb.decisions) {
        debug_assert_eq!(da.directive, db.directive);
        let directive = db.directive;
        if da.lines == db.lines {
            continue;
        }
        if let Some((_, values)) = policy::toggle_values(directive) {
            let (va, vb) = (pa.value(directive), pb.value(directive));
            let rank = |v: Option<&str>| {
                v.and_then(|v| values.iter().position(|x| *x == v))
                    .unwrap_or(values.len())
            };
            let (effect, side, other, decision, claimed) = match rank(vb).cmp(&rank(va)) {
                std::cmp::Ordering::Greater => (Effect::Looser, new, &na, db, &mut claimed_new),
                std::cmp::Ordering::Less => (Effect::Tighter, old, &nb, da, &mut claimed_old),
                std::cmp::Ordering::Equal => (Effect::Neutral, new, &na, db, &mut claimed_new),
            };
            let change = Change {
                directive: directive.to_owned(),
                kind: ChangeKind::Value,
                old: va.map(str::to_owned),
                new: vb.map(str::to_owned),
                effect,
                because: vec![],
            };
            push(change, side, other, decision, None, claimed);
            continue;
        }
        if !is_list(directive) {
            let change = Change {
                directive: directive.to_owned(),
                kind: ChangeKind::Value,
                old: Some(da.lines.join("\n")).filter(|s| !s.is_empty()),
                new: Some(db.lines.join("\n")).filter(|s| !s.is_empty()),
                effect: Effect::Neutral,
                because: vec![],
            };
            push(change, new, &na, db, None, &mut claimed_new);
            continue;
        }
        match (items(da, groups), items(db, groups)) {
            (Some(a), Some(b)) => {
                let covered = |item: &str, by: &BTreeSet<String>| {
                    directive == "ReadWritePaths" && by.iter().any(|e| under(item, e))
                };
                let deny = is_deny_list(directive);
                for item in b.difference(&a) {
                    let effect = match (covered(item, &a), deny) {
                        (true, _) => Effect::Neutral,
                        (false, false) => Effect::Looser,
                        (false, true) => Effect::Tighter,
                    };
                    let change = Change {
                        directive: directive.to_owned(),
                        kind: ChangeKind::Item,
                        old: None,
                        new: Some(item.clone()),
                        effect,
                        because: vec![],
                    };
                    match effect {
                        Effect::Tighter => push(change, old, &nb, da, Some(item), &mut claimed_old),
                        _ => push(change, new, &na, db, Some(item), &mut claimed_new),
                    }
                }
                for item in a.difference(&b) {
                    let effect = match (covered(item, &b), deny) {
                        (true, _) => Effect::Neutral,
                        (false, false) => Effect::Tighter,
                        (false, true) => Effect::Looser,
                    };
                    let change = Change {
                        directive: directive.to_owned(),
                        kind: ChangeKind::Item,
                        old: Some(item.clone()),
                        new: None,
                        effect,
                        because: vec![],
                    };
                    match effect {
                        Effect::Looser => push(change, new, &na, db, Some(item), &mut claimed_new),
                        _ => push(change, old, &nb, da, Some(item), &mut claimed_old),
                    }
                }
            }
            // Set on one side only (RestrictNamespaces left unset for a setns of any type).
            (_, b) => {
                let looser = b.is_none();
                let change = Change {
                    directive: directive.to_owned(),
                    kind: ChangeKind::Value,
                    old: pa.value(directive).map(str::to_owned),
                    new: pb.value(directive).map(str::to_owned),
                    effect: if looser {
                        Effect::Looser
                    } else {
                        Effect::Tighter
                    },
                    because: vec![],
                };
                match looser {
                    true => push(change, new, &na, db, None, &mut claimed_new),
                    false => push(change, old, &nb, da, None, &mut claimed_old),
                }
            }
        }
    }
    d.looser = d.dropin.iter().any(|c| c.effect == Effect::Looser);
    for (category, before) in &na {
        let after = &nb[category];
        let added: Vec<String> = after
            .difference(before)
            .filter(|k| !claimed_new.contains(&(*category, (*k).clone())))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .difference(after)
            .filter(|k| !claimed_old.contains(&(*category, (*k).clone())))
            .cloned()
            .collect();
        if !added.is_empty() {
            d.information.added.insert((*category).to_owned(), added);
        }
        if !removed.is_empty() {
            d.information
                .removed
                .insert((*category).to_owned(), removed);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::{Access, Observations, Slot};

    fn profile(slots: &[Slot]) -> Profile {
        let mut observations = Observations::default();
        for s in slots {
            observations.add(s, 0, "app", 1);
        }
        observations.derive_path_facts("/sys/fs/cgroup");
        Profile {
            syscalls: [("read".to_owned(), 1)].into(),
            observations,
            ..Profile::example("app.service")
        }
    }

    fn logs(n: usize) -> Vec<Slot> {
        (0..n)
            .map(|i| Slot::Path(format!("/var/log/app/{i}.log"), Access::Write))
            .collect()
    }

    #[test]
    fn a_toggle_loosened_while_a_written_directory_stays() {
        let groups = SyscallGroups::for_version(252, None);
        let mut old_slots = logs(1);
        old_slots.push(Slot::Socket("AF_UNIX/SOCK_STREAM".into()));
        let mut new_slots = logs(4);
        new_slots.push(Slot::Socket("AF_UNIX/SOCK_STREAM".into()));
        new_slots.push(Slot::Socket("AF_INET/SOCK_STREAM".into()));
        let (old, new) = (profile(&old_slots), profile(&new_slots));
        let d = diff(&old, &new, 252, &groups, policy::margin::Margin::Exact);
        let got: Vec<(&str, Option<&str>, Option<&str>, Effect)> = d
            .dropin
            .iter()
            .map(|c| {
                (
                    c.directive.as_str(),
                    c.old.as_deref(),
                    c.new.as_deref(),
                    c.effect,
                )
            })
            .collect();
        // A log file written in place gets its directory, so three more files there change
        // no directive: they are information, not a looser drop-in.
        assert_eq!(
            got,
            [
                ("PrivateNetwork", Some("yes"), None, Effect::Looser),
                (
                    "RestrictAddressFamilies",
                    None,
                    Some("AF_INET"),
                    Effect::Looser
                ),
            ]
        );
        assert!(
            d.dropin[0].because[0].starts_with("not yes: opened AF_INET/SOCK_STREAM"),
            "{:?}",
            d.dropin[0].because
        );
        assert!(d.looser);
        assert!(!d.information.added.is_empty(), "{:?}", d.information);
        // The reverse: tighter, with OLD's observations as the cause.
        let back = diff(&new, &old, 252, &groups, policy::margin::Margin::Exact);
        assert!(!back.looser);
        let network = back
            .dropin
            .iter()
            .find(|c| c.directive == "PrivateNetwork")
            .expect("PrivateNetwork");
        assert_eq!(network.effect, Effect::Tighter);
        assert!(!network.because.is_empty());
    }

    #[test]
    fn namespaces_by_type_and_unrestricted_as_a_value() {
        use crate::model::observations::Fact;
        let groups = SyscallGroups::for_version(252, None);
        let none = profile(&[]);
        let net = profile(&[Slot::Fact(Fact::Namespace, "net via unshare".into())]);
        let any = profile(&[Slot::Fact(Fact::Namespace, "any via setns".into())]);
        let d = diff(&none, &net, 252, &groups, policy::margin::Margin::Exact);
        assert_eq!(d.dropin.len(), 1, "{:?}", d.dropin);
        let c = &d.dropin[0];
        assert_eq!(
            (c.kind, c.old.as_deref(), c.new.as_deref(), c.effect),
            (ChangeKind::Item, None, Some("net"), Effect::Looser)
        );
        assert_eq!(c.because, ["app: namespace net via unshare 1x"]);
        let d = diff(&net, &any, 252, &groups, policy::margin::Margin::Exact);
        let c = &d.dropin[0];
        assert_eq!(
            (c.kind, c.old.as_deref(), c.new.as_deref(), c.effect),
            (ChangeKind::Value, Some("net"), None, Effect::Looser)
        );
        assert!(
            d.text(false)
                .contains("looser  ~ RestrictNamespaces: net -> (unset)"),
            "{}",
            d.text(false)
        );
    }
}
