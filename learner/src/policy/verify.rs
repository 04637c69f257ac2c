//! `learner verify DROPIN PROFILE...`: does a drop-in, deployed on top of what its unit file
//! sets, permit everything the profiles observed? Each gap is one observation the deployed
//! settings deny, with the directive that denies it and the smallest change that permits it,
//! or a setting that keeps the unit from starting or that the target systemd ignores.
//!
//! Evaluation only: the assignments (unit file first, then drop-ins, in systemd's order) and
//! whether a path exists on the target come from the caller. Toggles are judged with the
//! policy's own data (`policy::toggle_forbids`), so verify and generate cannot disagree.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde::Serialize;

use crate::{
    model::observations::{Seen, writable_path},
    model::profile::Profile,
    policy::unit_file::{Assignment, boolean, unspecify, words},
    policy::{self, filter_groups::SyscallGroups},
};

/// A home outside /home, as `useradd -d` or a web host's FTP accounts make them.
const ELSEWHERE_HOME: &str = "/srv/ftp/another-user";

/// What kind of problem a gap is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// The unit does not even start with this setting.
    FailsToStart,
    /// The target systemd ignores this setting (an option or a name it does not know).
    Ignored,
    /// Something the service was observed doing that the deployed sandbox denies.
    Denied,
}

/// One reason the drop-in does not permit what the profiles observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub kind: GapKind,
    /// Processes (comm) that did it; empty when the profile does not say (syscall counts).
    pub processes: Vec<String>,
    /// What was observed (`create /run/nginx.pid 1x`), or what is wrong with the setting.
    pub observation: String,
    /// The directive that denies it, as deployed (`ProtectSystem=strict`), or the setting.
    pub directive: String,
    /// The smallest change that permits it, as `learner check` phrases it.
    pub fix: String,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            GapKind::Denied if self.processes.is_empty() => {
                write!(f, "{}: {}; {}", self.observation, self.directive, self.fix)
            }
            GapKind::Denied => write!(
                f,
                "{}: {}: {}; {}",
                self.processes.join(","),
                self.observation,
                self.directive,
                self.fix
            ),
            _ => write!(f, "{}: {}; {}", self.directive, self.observation, self.fix),
        }
    }
}

/// The verdict: every gap, and the settings verify does not model (never silently passed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub gaps: Vec<Gap>,
    /// `KEY=value (FILE:LINE)` of sandboxing settings verify does not evaluate.
    pub unchecked: Vec<String>,
    /// `KEY=value (FILE:LINE): why` of settings the profiles cannot judge: their recording
    /// lacked the source that shows what the setting restricts (see `policy::sources`).
    pub unjudged: Vec<String>,
    /// What a drop-in cannot promise whatever its settings: programs its unit runs whose
    /// contents the site (or a user) chooses. Said, not counted against it.
    pub cautions: Vec<String>,
}

/// What no drop-in from `p` can promise (see [`Verdict::cautions`]): `generate` writes these
/// at the top of the drop-in, `verify` says them.
pub fn cautions(p: &Profile) -> Vec<String> {
    policy::users::runs_commands_as_users(p)
        .into_iter()
        .chain(policy::programs::runs_unpackaged_programs(p))
        .collect()
}

/// Options newer than systemd 239 that verify knows, with the version that brought them; the
/// toggles' versions come from the policy. An older target ignores them with a warning.
const SINCE: &[(&str, u32)] = &[
    ("RestrictNamespaces", 233),
    ("ProtectHostname", 242),
    ("RestrictSUIDSGID", 242),
    ("ProtectKernelLogs", 244),
    ("ProtectClock", 245),
    ("ProtectProc", 247),
    ("ProcSubset", 247),
    ("SystemCallLog", 247),
    ("PrivateIPC", 248),
    ("NoExecPaths", 248),
    ("ExecPaths", 248),
    ("RestrictFileSystems", 249),
    ("SocketBindAllow", 249),
    ("SocketBindDeny", 249),
    ("RestrictNetworkInterfaces", 250),
    ("PrivatePIDs", 257),
];

/// Sandboxing settings verify does not evaluate: reported as unchecked.
const UNMODELLED: &[&str] = &[
    "InaccessiblePaths",
    "TemporaryFileSystem",
    "BindPaths",
    "BindReadOnlyPaths",
    "NoExecPaths",
    "ExecPaths",
    "PrivateUsers",
    "DynamicUser",
    "RootDirectory",
    "RootImage",
    "DeviceAllow",
    "DevicePolicy",
    "RestrictFileSystems",
    "RestrictNetworkInterfaces",
    "PrivateIPC",
    "PrivatePIDs",
    "SecureBits",
];

/// Namespace types RestrictNamespaces= knows.
const NAMESPACE_TYPES: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];

/// The directories systemd creates and makes writable for `RuntimeDirectory=` and friends.
const DIRECTORY_OPTIONS: &[(&str, &str)] = &[
    ("RuntimeDirectory", "/run"),
    ("StateDirectory", "/var/lib"),
    ("CacheDirectory", "/var/cache"),
    ("LogsDirectory", "/var/log"),
];

fn option_since(key: &str) -> Option<u32> {
    policy::toggle_values(key)
        .map(|(since, _)| since)
        .or_else(|| SINCE.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
}

/// An allow- or deny-list as systemd accumulates one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListRule {
    Unset,
    Allow(BTreeSet<String>),
    Deny(BTreeSet<String>),
}

impl ListRule {
    fn permits(&self, item: &str) -> bool {
        match self {
            Self::Unset => true,
            Self::Allow(s) => s.contains(item),
            Self::Deny(s) => !s.contains(item),
        }
    }

    /// One assignment's items, `invert` for a `~` list: in an allow-list a plain list adds and
    /// a `~` list removes; in a deny-list the reverse. The first assignment picks the mode.
    fn apply(&mut self, invert: bool, items: BTreeSet<String>, initial: BTreeSet<String>) {
        match self {
            Self::Unset if invert => *self = Self::Deny(items),
            Self::Unset => {
                let mut all = initial;
                all.extend(items);
                *self = Self::Allow(all);
            }
            Self::Allow(s) if !invert => s.extend(items),
            Self::Deny(s) if invert => s.extend(items),
            Self::Allow(s) | Self::Deny(s) => {
                for i in &items {
                    s.remove(i);
                }
            }
        }
    }
}

/// The bounding set: the listed capabilities, or all but the listed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CapSet {
    Only(BTreeSet<String>),
    AllExcept(BTreeSet<String>),
}

impl CapSet {
    pub(crate) fn permits(&self, cap: &str) -> bool {
        match self {
            Self::Only(s) => s.contains(cap),
            Self::AllExcept(s) => !s.contains(cap),
        }
    }
}

/// A path listed in ReadWritePaths= and the like.
#[derive(Debug, Clone)]
pub(crate) struct PathEntry {
    pub(crate) path: String,
    /// `-`: a missing path is skipped instead of failing the unit.
    pub(crate) optional: bool,
    pub(crate) key: String,
    pub(crate) at: String,
}

pub(crate) use crate::model::observations::under;

/// The deployed settings: the unit's assignments, then its drop-ins', minus what the target
/// ignores.
pub(crate) struct Deployed<'a> {
    assignments: Vec<&'a Assignment>,
}

impl<'a> Deployed<'a> {
    pub(crate) fn of(assignments: &'a [Assignment]) -> Self {
        Self {
            assignments: assignments.iter().collect(),
        }
    }

    /// The ambient set: plain lines add, `~` lines remove, an empty one resets.
    pub(crate) fn ambient(&self) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for a in self.all("AmbientCapabilities") {
            match a.value.strip_prefix('~') {
                _ if a.value.is_empty() => set.clear(),
                Some(rest) => {
                    for c in words(rest) {
                        set.remove(&c.to_uppercase());
                    }
                }
                None => set.extend(words(&a.value).iter().map(|c| c.to_uppercase())),
            }
        }
        set
    }

    /// Who the service runs as when that is not root: `User=www-data`, `DynamicUser=yes`.
    /// Such a process holds no capability but its ambient ones (file capabilities aside).
    pub(crate) fn non_root(&self) -> Option<String> {
        if self
            .last("DynamicUser")
            .and_then(|a| boolean(&a.value))
            .unwrap_or(false)
        {
            return Some("DynamicUser=yes".into());
        }
        let user = &self.last("User")?.value;
        (!["root", "0"].contains(&user.as_str())).then(|| format!("User={user}"))
    }

    /// The first setting that gives the service a mount namespace of its own (see
    /// [`policy::host_mounts`]), as `ProtectSystem=strict (FILE:LINE)`. With `network`,
    /// PrivateNetwork=yes counts unless PrivateMounts= says no (newer systemd).
    pub(crate) fn mount_namespace(&self, network: bool) -> Option<String> {
        use policy::host_mounts::{GIVE_MOUNT_NAMESPACE, LISTS_GIVING_MOUNT_NAMESPACE};
        let show = |a: &Assignment| format!("{}={} ({})", a.key, a.value, a.at);
        for key in LISTS_GIVING_MOUNT_NAMESPACE {
            if let Some(a) = self.since_reset(key).first() {
                return Some(show(a));
            }
        }
        for key in GIVE_MOUNT_NAMESPACE {
            let Some(a) = self.last(key) else { continue };
            let v = a.value.as_str();
            let default = match *key {
                "ProtectProc" => v == "default",
                "ProcSubset" => v == "all",
                "MountFlags" => v == "shared",
                "RootImage" | "LogNamespace" => false,
                _ => boolean(v) == Some(false),
            };
            if !default {
                return Some(show(a));
            }
        }
        let no_private_mounts = self
            .last("PrivateMounts")
            .is_some_and(|a| boolean(&a.value) == Some(false));
        if !network || no_private_mounts {
            return None;
        }
        self.last("PrivateNetwork")
            .filter(|a| boolean(&a.value) == Some(true))
            .map(show)
    }

    /// The value of the last assignment of `key`, if any.
    pub(crate) fn last_value(&self, key: &str) -> Option<&'a str> {
        self.last(key).map(|a| a.value.as_str())
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &'a Assignment> + '_ {
        let key = key.to_owned();
        self.assignments
            .iter()
            .copied()
            .filter(move |a| a.key == key)
    }

    /// The last assignment's value (an empty one resets to the default: None).
    fn last(&self, key: &str) -> Option<&'a Assignment> {
        self.all(key).last().filter(|a| !a.value.is_empty())
    }

    /// A list option's assignments since its last reset (an empty assignment).
    fn since_reset(&self, key: &str) -> Vec<&'a Assignment> {
        let all: Vec<&Assignment> = self.all(key).collect();
        let start = all
            .iter()
            .rposition(|a| a.value.is_empty())
            .map_or(0, |i| i + 1);
        all[start..].to_vec()
    }

    pub(crate) fn paths(&self, key: &str) -> Vec<PathEntry> {
        let mut out = Vec::new();
        for a in self.since_reset(key) {
            for w in words(&a.value).iter().map(|w| unspecify(w)) {
                let optional = w.starts_with('-');
                let p = w.trim_start_matches(['-', '+']);
                if !p.starts_with('/') {
                    continue;
                }
                let p = p.trim_end_matches('/');
                out.push(PathEntry {
                    path: if p.is_empty() { "/".into() } else { p.into() },
                    optional,
                    key: key.to_owned(),
                    at: a.at.clone(),
                });
            }
        }
        out
    }

    /// The directories systemd creates for the unit (`RuntimeDirectory=nginx`: /run/nginx).
    fn directories(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, base) in DIRECTORY_OPTIONS {
            for a in self.since_reset(key) {
                for w in words(&a.value) {
                    let name = w.split(':').next().unwrap_or(&w).trim_matches('/');
                    if !name.is_empty() {
                        out.push(format!("{base}/{name}"));
                    }
                }
            }
        }
        out
    }

    fn protect_system(&self) -> Option<String> {
        let v = &self.last("ProtectSystem")?.value;
        match boolean(v) {
            Some(true) => Some("yes".into()),
            Some(false) => None,
            None => Some(v.clone()),
        }
    }

    pub(crate) fn bounding_set(&self) -> CapSet {
        let mut set = CapSet::AllExcept(BTreeSet::new());
        for a in self.all("CapabilityBoundingSet") {
            let (invert, rest) = match a.value.strip_prefix('~') {
                Some(r) => (true, r),
                None => (false, a.value.as_str()),
            };
            let sum: BTreeSet<String> = words(rest).iter().map(|c| c.to_uppercase()).collect();
            let initial = matches!(&set, CapSet::AllExcept(e) if e.is_empty());
            // As systemd: an empty list or the initial set is replaced, anything else merged.
            set = if sum.is_empty() || initial {
                match invert {
                    true => CapSet::AllExcept(sum),
                    false => CapSet::Only(sum),
                }
            } else {
                match (set, invert) {
                    (CapSet::Only(s), false) => CapSet::Only(&s | &sum),
                    (CapSet::Only(s), true) => CapSet::Only(&s - &sum),
                    (CapSet::AllExcept(s), false) => CapSet::AllExcept(&s - &sum),
                    (CapSet::AllExcept(s), true) => CapSet::AllExcept(&s | &sum),
                }
            };
        }
        set
    }

    fn families(&self) -> ListRule {
        let mut rule = ListRule::Unset;
        for a in self.all("RestrictAddressFamilies") {
            match a.value.as_str() {
                "" => rule = ListRule::Unset,
                "none" => rule = ListRule::Allow(BTreeSet::new()),
                v => {
                    let (invert, rest) = match v.strip_prefix('~') {
                        Some(r) => (true, r),
                        None => (false, v),
                    };
                    rule.apply(invert, words(rest).into_iter().collect(), BTreeSet::new());
                }
            }
        }
        rule
    }

    /// The syscall filter with groups expanded, and the names the target does not know.
    fn syscalls(&self, groups: &SyscallGroups) -> (ListRule, Vec<Gap>) {
        let mut rule = ListRule::Unset;
        let mut ignored = Vec::new();
        for a in self.all("SystemCallFilter") {
            if a.value.is_empty() {
                rule = ListRule::Unset;
                continue;
            }
            let (invert, rest) = match a.value.strip_prefix('~') {
                Some(r) => (true, r),
                None => (false, a.value.as_str()),
            };
            let mut items = BTreeSet::new();
            for w in words(rest) {
                // `name:errno` sets the errno of one entry.
                let name = w.split(':').next().unwrap_or(&w);
                match (name.starts_with('@'), groups.groups.get(name)) {
                    (true, Some(members)) => items.extend(members.iter().cloned()),
                    (false, _) if groups.known.contains(name) => {
                        items.insert(name.to_owned());
                    }
                    // The recorded unit's filter is the manager's own expansion.
                    _ if policy::unit_settings::is_recorded(a) => {}
                    _ => ignored.push(Gap {
                        kind: GapKind::Ignored,
                        processes: vec![],
                        observation: format!(
                            "systemd {} does not know {name} (checked against {}): ignored{}",
                            groups.version,
                            groups.source,
                            if invert { "" } else { ", so it stays denied" }
                        ),
                        directive: format!("SystemCallFilter= ({})", a.at),
                        fix: format!("remove {name}"),
                    }),
                }
            }
            rule.apply(invert, items, groups.default_group());
        }
        (rule, ignored)
    }

    /// The namespace types allowed; None when any is.
    fn namespaces(&self) -> Option<BTreeSet<String>> {
        let all =
            || -> BTreeSet<String> { NAMESPACE_TYPES.iter().map(|s| s.to_string()).collect() };
        let mut allowed: Option<BTreeSet<String>> = None;
        let mut initial = true;
        for a in self.all("RestrictNamespaces") {
            if a.value.is_empty() {
                (allowed, initial) = (None, true);
                continue;
            }
            // A boolean replaces whatever came before.
            if let Some(b) = boolean(&a.value) {
                allowed = (b).then(BTreeSet::new);
                initial = false;
                continue;
            }
            let (invert, rest) = match a.value.strip_prefix('~') {
                Some(r) => (true, r),
                None => (false, a.value.as_str()),
            };
            let types: BTreeSet<String> = words(rest).into_iter().collect();
            let current = allowed.clone().unwrap_or_else(all);
            let next = match (initial, invert) {
                (true, false) => types,
                (true, true) => &all() - &types,
                (false, false) => &current | &types,
                (false, true) => &current - &types,
            };
            allowed = Some(next);
            initial = false;
        }
        allowed.filter(|s| *s != all())
    }

    /// A toggle's deployed value as the policy spells it: None when it restricts nothing,
    /// Err(value) when verify does not know the value.
    fn toggle(&self, directive: &str) -> Option<Result<&'static str, String>> {
        let v = self.last(directive)?.value.as_str();
        let (_, values) = policy::toggle_values(directive)?;
        if directive == "UMask" {
            // The tightest policy value this mask is at least as strict as.
            let mask = u32::from_str_radix(v, 8).map_err(|_| v.to_owned());
            return match mask {
                Ok(m) if m & 0o077 == 0o077 => Some(Ok("0077")),
                Ok(m) if m & 0o027 == 0o027 => Some(Ok("0027")),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            };
        }
        let word = match (directive, v, boolean(v)) {
            (_, _, Some(false)) => return None,
            ("ProtectProc", "default", _) | ("ProcSubset", "all", _) => return None,
            ("KeyringMode", "shared" | "inherit", _) => return None,
            ("ProtectProc", "noaccess" | "ptraceable", _) => "invisible",
            (_, _, Some(true)) => "yes",
            (_, v, None) => v,
        };
        Some(
            values
                .iter()
                .find(|x| **x == word)
                .copied()
                .ok_or_else(|| v.to_owned()),
        )
    }
}

fn processes(seen: &Seen) -> Vec<String> {
    seen.by.iter().map(str::to_owned).collect()
}

/// What the toggle must be set to so that `p` is permitted: the next looser value nothing
/// forbids, else its default.
fn looser_toggle(directive: &str, from: &str, p: &Profile) -> String {
    let (_, values) = policy::toggle_values(directive).unwrap_or_default();
    let later = values.iter().skip_while(|v| **v != from).skip(1);
    for v in later {
        if policy::toggle_forbids(directive, v, p) == Some(None) {
            return format!("set {directive}={v}");
        }
    }
    let default = match directive {
        "ProtectProc" => "default",
        "ProcSubset" => "all",
        "UMask" => "0022",
        "KeyringMode" => "shared",
        _ => "no",
    };
    format!("set {directive}={default}")
}

/// Every gap between what `assignments` (the unit's, then the drop-ins', in order) permit on
/// systemd `systemd` and what `p` observed. `exists` says whether a path exists on the target.
pub fn verify(
    p: &Profile,
    assignments: &[Assignment],
    systemd: u32,
    groups: &SyscallGroups,
    exists: &dyn Fn(&str) -> bool,
) -> Verdict {
    let mut verdict = Verdict {
        cautions: cautions(p),
        ..Verdict::default()
    };
    let mut start = Vec::new();
    let mut ignored = Vec::new();
    // What the target does not know is ignored (with a warning in its journal).
    let mut kept = Vec::new();
    for a in assignments {
        // A switch left at `no` restricts nothing, on any systemd.
        if crate::model::unit::leaves_no(&a.key, &a.value) {
            kept.push(a);
            continue;
        }
        let too_new = option_since(&a.key).filter(|since| systemd < *since);
        let value_too_new = match (a.key.as_str(), a.value.as_str()) {
            ("RestrictAddressFamilies", "none") => (systemd < 249).then_some(249),
            ("PrivateTmp", "disconnected") => (systemd < 257).then_some(257),
            _ => None,
        };
        if let Some(since) = too_new.or(value_too_new) {
            let what = match too_new {
                Some(_) => format!("{}=", a.key),
                None => format!("{}={}", a.key, a.value),
            };
            ignored.push(Gap {
                kind: GapKind::Ignored,
                processes: vec![],
                observation: format!(
                    "systemd {systemd} does not know {what} (needs {since}): ignored, it restricts nothing"
                ),
                directive: format!("{}={} ({})", a.key, a.value, a.at),
                fix: format!("remove it, or target systemd {since} or later"),
            });
            continue;
        }
        if UNMODELLED.contains(&a.key.as_str()) {
            verdict
                .unchecked
                .push(format!("{}={} ({})", a.key, a.value, a.at));
        }
        kept.push(a);
    }
    // A setting whose evidence the recording could not see is neither permitted nor denied.
    let blind = policy::sources::blind_spots(p);
    if !blind.is_empty() {
        for a in kept
            .iter()
            .filter(|a| !crate::model::unit::leaves_no(&a.key, &a.value))
        {
            if let Some(why) = policy::sources::unjudged(&blind, &a.key) {
                verdict.unjudged.push(format!(
                    "{}={} ({}): the profiles cannot judge it, {why}",
                    a.key, a.value, a.at
                ));
            }
        }
    }
    let d = Deployed { assignments: kept };

    // Paths that must exist when the unit starts.
    let directories = d.directories();
    for key in ["ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths"] {
        for e in d.paths(key) {
            let created = directories.iter().any(|dir| under(&e.path, dir));
            // The recorded unit started with its paths where it was recorded.
            let recorded = e.at.starts_with(policy::unit_settings::RECORDED);
            if !e.optional && !created && !recorded && !exists(&e.path) {
                start.push(Gap {
                    kind: GapKind::FailsToStart,
                    processes: vec![],
                    observation: format!(
                        "{} does not exist on the target and has no `-`: the unit fails to start (226/NAMESPACE)",
                        e.path
                    ),
                    directive: format!("{}={} ({})", e.key, e.path, e.at),
                    fix: format!("write {}=-{} instead", e.key, e.path),
                });
            }
        }
    }

    let mut denied = Vec::new();
    // Syscalls.
    let (filter, unknown) = d.syscalls(groups);
    ignored.extend(unknown);
    for (name, n) in p.syscalls.iter().filter(|(_, n)| **n > 0) {
        if !filter.permits(name) {
            let fix = if groups.known.contains(name) {
                format!("add SystemCallFilter={name}")
            } else {
                format!(
                    "systemd {} cannot allow it by name: drop the allow-list or target a newer systemd",
                    groups.version
                )
            };
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: vec![],
                observation: format!("syscall {name} {n}x"),
                directive: "SystemCallFilter".into(),
                fix,
            });
        }
    }

    // Writes, under ProtectSystem=, ReadOnlyPaths= and ReadWritePaths=.
    let protect_home = d.toggle("ProtectHome").is_some();
    let private_tmp = matches!(d.toggle("PrivateTmp"), Some(Ok(_)));
    let mut rules: Vec<(String, bool, String)> = Vec::new();
    match d.protect_system().as_deref() {
        Some("strict") => {
            rules.push(("/".into(), false, "ProtectSystem=strict".into()));
            // strict leaves /home, /root and /run/user writable for ProtectHome= to decide
            // (READWRITE_IMPLICIT in namespace.c; measured on 252: a home made after the
            // start was writable under strict with only another home in ReadWritePaths=).
            if !protect_home {
                for home in policy::paths::HOMES {
                    rules.push(((*home).into(), true, String::new()));
                }
            }
        }
        Some(mode @ ("yes" | "full")) => {
            let mut dirs = vec!["/usr", "/boot", "/efi"];
            if mode == "full" {
                dirs.push("/etc");
            }
            for dir in dirs {
                rules.push((dir.into(), false, format!("ProtectSystem={mode}")));
            }
        }
        _ => {}
    }
    for e in d.paths("ReadOnlyPaths") {
        rules.push((e.path.clone(), false, format!("ReadOnlyPaths={}", e.path)));
    }
    for e in d.paths("ReadWritePaths") {
        rules.push((e.path, true, String::new()));
    }
    for dir in &directories {
        rules.push((dir.clone(), true, String::new()));
    }
    if private_tmp {
        rules.push(("/tmp".into(), true, String::new()));
        rules.push(("/var/tmp".into(), true, String::new()));
    }
    // The most specific path decides; on a tie read-only wins.
    let denier = |w: &str| -> Option<String> {
        rules
            .iter()
            .filter(|(dir, _, _)| under(w, dir))
            .max_by_key(|(dir, writable, _)| (if dir == "/" { 0 } else { dir.len() }, !writable))
            .filter(|(_, writable, _)| !writable)
            .map(|(_, _, directive)| directive.clone())
    };
    let home = |path: &str| policy::paths::HOMES.iter().any(|h| under(path, h));
    for (path, accesses) in &p.observations.paths {
        // API file systems stay writable; ProtectHome= is judged as a toggle below.
        // A private /tmp is writable, /tmp itself included (as generate has it).
        let private = private_tmp && ["/tmp", "/var/tmp"].iter().any(|t| under(path, t));
        if ["/dev", "/proc", "/sys"].iter().any(|a| under(path, a))
            || (protect_home && home(path))
            || private
        {
            continue;
        }
        let mut refused: Vec<(String, String, &Seen, String)> = Vec::new();
        for (&access, seen) in accesses.iter().filter(|(a, s)| a.writes() && s.ok > 0) {
            // systemd makes it before the start: the service finds it there (EEXIST), as it
            // does on every start but its first.
            if access == crate::model::observations::Access::Create
                && directories.iter().any(|d| d == path)
            {
                continue;
            }
            let w = writable_path(path, access);
            if let Some(directive) = denier(&w) {
                refused.push((w, access.name(), seen, directive));
            }
        }
        // One line per path: a writable directory covers writes to the file in it too.
        refused.sort_by_key(|(w, ..)| w.len());
        if let Some((w, access, seen, directive)) = refused.into_iter().next() {
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: processes(seen),
                observation: format!("{access} {path} {}x", seen.ok),
                directive,
                fix: format!("add ReadWritePaths={}", policy::path_word("-", &w)),
            });
        }
    }

    // A service acting for the host's users writes in each user's place, not only in the
    // recorded users' (see policy::users).
    if let Some(why) = policy::users::acts_for_users(p) {
        let mut roots: BTreeMap<&str, &str> = BTreeMap::new();
        for (path, accesses) in &p.observations.paths {
            let written = accesses.iter().any(|(a, s)| a.writes() && s.ok > 0);
            if let Some(root) = policy::users::per_user_root(path)
                && written
                && !(protect_home && home(path))
            {
                roots.entry(root).or_insert(path);
            }
        }
        // A user made later may be homed anywhere, not only under /home.
        if let Some(why) = policy::users::writes_in_homes(p)
            && let Some(directive) = denier(ELSEWHERE_HOME)
        {
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: vec![],
                observation: format!(
                    "{why}: a user homed outside /home ({ELSEWHERE_HOME}) could not write there"
                ),
                directive,
                fix: "set ProtectSystem=full".into(),
            });
        }
        for (root, example) in roots {
            if let Some(directive) = denier(&format!("{root}/another-user")) {
                denied.push(Gap {
                    kind: GapKind::Denied,
                    processes: vec![],
                    observation: format!(
                        "{why}, and wrote {example}: another user's place under {root} is read-only"
                    ),
                    directive,
                    fix: format!("add ReadWritePaths=-{root}"),
                });
            }
        }
    }

    // Capabilities granted (and not noise) that the bounding set lacks. One the recorded
    // unit's own bounding set lacked too went to a command systemd ran with full privileges
    // (`+`, PermissionsStartOnly=), which no bounding set confines: nothing to permit.
    let caps = d.bounding_set();
    // The unit as recorded: its own settings, without the drop-in's.
    let recorded_unit = Deployed {
        assignments: d
            .assignments
            .iter()
            .copied()
            .filter(|a| policy::unit_settings::is_recorded(a))
            .collect(),
    };
    let recorded = recorded_unit.bounding_set();
    for (cap, checks) in &p.observations.capabilities {
        let Some(granted) = checks.granted.as_ref().filter(|g| g.count > 0) else {
            continue;
        };
        if policy::grants_are_noise(cap, checks, &p.observations)
            || caps.permits(cap)
            || !recorded.permits(cap)
        {
            continue;
        }
        denied.push(Gap {
            kind: GapKind::Denied,
            processes: processes(granted),
            observation: format!("capability {cap} granted {}x", granted.count),
            directive: "CapabilityBoundingSet".into(),
            fix: format!("add CapabilityBoundingSet={cap}"),
        });
    }

    // A process of a non-root user holds only its ambient capabilities, and those only
    // when the bounding set has them too (capset() refuses an inheritable capability outside
    // it). A check made while switching ids is root's own (a start as that user skips it).
    // Where the recording tells whose checks they were (identity), only a grant to a process
    // that was not root counts: a root one is a `+` command's (ExecStartPre=+...), which
    // User= does not apply to.
    if let Some(who) = d.non_root() {
        let ambient = d.ambient();
        // The unit as recorded ran as the same user without a capability in its ambient set,
        // and its process kept it through capset() after dropping root: started as root
        // (`ExecStart=!`: chronyd), which the drop-in's ambient set does not change.
        let same_user = recorded_unit.non_root().as_deref() == Some(who.as_str());
        let recorded_ambient = recorded_unit.ambient();
        let id = &p.observations.identity;
        let charges = policy::charges(&p.observations);
        let granted_as_user = |cap: &str| {
            id.unprivileged_capabilities.iter().any(|(k, seen)| {
                seen.ok > 0
                    && k.strip_prefix(&format!("{cap} as "))
                        .and_then(|rest| rest.split_once(" during "))
                        .is_some_and(|(_, during)| {
                            !crate::model::credentials::changes_credentials(during)
                                && !policy::noise_during(cap, during, &charges)
                        })
            })
        };
        for (cap, checks) in &p.observations.capabilities {
            let Some(granted) = checks.granted.as_ref().filter(|g| g.count > 0) else {
                continue;
            };
            let switching = checks
                .during
                .keys()
                .all(|during| crate::model::credentials::changes_credentials(during));
            if policy::grants_are_noise(cap, checks, &p.observations)
                || (!id.is_empty() && !granted_as_user(cap))
                || switching
                || !caps.permits(cap)
                || ambient.contains(cap)
                || (same_user
                    && !recorded_ambient.contains(cap)
                    && checks
                        .during
                        .contains_key(crate::model::observations::KEPT_BY_CAPSET))
            {
                continue;
            }
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: processes(granted),
                observation: format!("capability {cap} granted {}x", granted.count),
                directive: format!(
                    "AmbientCapabilities (a process of {who} holds only its ambient capabilities)"
                ),
                fix: format!("add AmbientCapabilities={cap}"),
            });
        }
    }

    // Families socket() succeeded with.
    let families = d.families();
    for (socket, seen) in p.observations.sockets.iter().filter(|(_, s)| s.ok > 0) {
        let family = socket.split('/').next().unwrap_or(socket);
        if !families.permits(family) {
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: processes(seen),
                observation: format!("socket {socket} {}x", seen.ok),
                directive: "RestrictAddressFamilies".into(),
                fix: format!("add RestrictAddressFamilies={family}"),
            });
        }
    }

    // Namespaces created or joined.
    if let Some(allowed) = d.namespaces() {
        for (what, seen) in &p.observations.facts.namespaces {
            let kind = what.split_whitespace().next().unwrap_or(what);
            if !allowed.contains(kind) {
                let fix = match kind {
                    "any" => "set RestrictNamespaces=no".to_owned(),
                    k => format!("add RestrictNamespaces={k}"),
                };
                denied.push(Gap {
                    kind: GapKind::Denied,
                    processes: processes(seen),
                    observation: format!("namespace {what} {}x", seen.count),
                    directive: "RestrictNamespaces".into(),
                    fix,
                });
            }
        }
    }

    // Toggles, judged by the policy's own rules for each value.
    for directive in policy::toggle_directives() {
        // The recorded unit's own value: the service was recorded running under it.
        if d.last(directive)
            .is_some_and(policy::unit_settings::is_recorded)
        {
            continue;
        }
        match d.toggle(directive) {
            None => {}
            Some(Err(value)) => verdict.unchecked.push(format!(
                "{directive}={value} (a value verify does not know)"
            )),
            Some(Ok(value)) => {
                if let Some(Some(why)) = policy::toggle_forbids(directive, value, p) {
                    denied.push(Gap {
                        kind: GapKind::Denied,
                        processes: vec![],
                        observation: why,
                        directive: format!("{directive}={value}"),
                        fix: looser_toggle(directive, value, p),
                    });
                }
            }
        }
    }

    denied.extend(peer_gaps(p, &d));

    // Mounts for the rest of the host, which a mount namespace of its own keeps in it.
    let recorded_unit = policy::unit_settings::of_profile(p);
    if let Some(host_mounts) = &p.observations.facts.host_mounts
        && Deployed::of(&recorded_unit)
            .mount_namespace(false)
            .is_none()
        && let Some(setting) = d.mount_namespace(true)
    {
        for (what, seen) in host_mounts {
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: processes(seen),
                observation: format!("{what} in the host's mount namespace {}x", seen.count),
                directive: setting.clone(),
                fix: "remove every setting that gives the service a mount namespace (ProtectSystem=, ProtectHome=, PrivateTmp=, *Paths=, PrivateDevices=, ProtectKernel*=, ProtectControlGroups=, ProtectProc=, ProcSubset=, PrivateIPC=), and set PrivateMounts=no with PrivateNetwork=yes".into(),
            });
        }
    }

    if let Some(why) = policy::users::runs_users_programs(p) {
        let set = dropin_settings(assignments);
        if !set.is_empty() {
            denied.push(Gap {
                kind: GapKind::Denied,
                processes: vec![],
                observation: why,
                directive: set.join(" "),
                fix: "remove the drop-in: no sandbox confines the unit without confining every session and job it runs".into(),
            });
        }
    }
    verdict.gaps = start;
    verdict.gaps.extend(ignored);
    verdict.gaps.extend(denied);
    verdict
}

/// IP peers systemd's firewall would drop, and binds its socket-bind filter would refuse.
fn peer_gaps(p: &Profile, d: &Deployed) -> Vec<Gap> {
    use crate::policy::peers;
    let entries = |key: &str| -> Vec<String> {
        d.since_reset(key)
            .iter()
            .flat_map(|a| words(&a.value))
            .collect()
    };
    let mut out = Vec::new();
    let (allow, deny) = (entries("IPAddressAllow"), entries("IPAddressDeny"));
    if !deny.is_empty() {
        for (ip, (what, seen)) in peers::observed_peers(p) {
            if !peers::ip_permitted(&allow, &deny, ip) {
                out.push(Gap {
                    kind: GapKind::Denied,
                    processes: processes(&seen),
                    observation: format!("{what} {}x", seen.count),
                    directive: format!("IPAddressDeny={}", deny.join(" ")),
                    fix: format!("add IPAddressAllow={ip}"),
                });
            }
        }
        // A server bound beyond loopback has clients beyond this host, recorded or not
        // (generate leaves such a service unrestricted): a firewall that lets only this host
        // in shuts all of them out.
        if let Some((key, seen)) =
            peers::served_beyond_loopback(p).filter(|_| peers::admits_only_this_host(&allow, &deny))
        {
            out.push(Gap {
                kind: GapKind::Denied,
                processes: processes(seen),
                observation: format!(
                    "bind {key} {}x: a server for peers beyond this host",
                    seen.count
                ),
                directive: format!("IPAddressDeny={}", deny.join(" ")),
                fix: "add IPAddressAllow= with its clients' networks, or remove IPAddressDeny="
                    .to_owned(),
            });
        }
        // A client recorded where nothing beyond this host could be reached: where it goes
        // on a networked host is unknown (generate leaves it unrestricted), and a firewall
        // that drops an address the recording could never have tried guesses.
        // Networks of the user's own are a choice; hosts the recording saw are its list.
        let observed = peers::observed_peers(p);
        let recorded_list = allow.iter().all(|e| {
            matches!(e.as_str(), "localhost" | "link-local" | "multicast")
                || e.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || observed.contains_key(&ip))
                // A /24 (/64) generate made of 3 or more peers of it.
                || ((e.ends_with("/24") || e.ends_with("/64"))
                    && observed.keys().any(|ip| {
                        !ip.is_loopback() && peers::entry_matches(e, *ip) == Some(true)
                    }))
        });
        if let Some(((key, seen), why)) = peers::unseen_reach(p)
            && recorded_list
            && !peers::ip_permitted(&allow, &deny, peers::ELSEWHERE)
        {
            out.push(Gap {
                kind: GapKind::Denied,
                processes: processes(seen),
                observation: format!("{key} {}x: {why}", seen.count),
                directive: format!("IPAddressDeny={}", deny.join(" ")),
                fix: "record it on a host with a network, or remove IPAddressDeny=".to_owned(),
            });
        }
    }
    let (allow, deny) = (entries("SocketBindAllow"), entries("SocketBindDeny"));
    if !deny.is_empty() {
        for (family, port, key, seen) in peers::observed_binds(p) {
            if !peers::bind_permitted(&allow, &deny, family, port) {
                out.push(Gap {
                    kind: GapKind::Denied,
                    processes: processes(seen),
                    observation: format!("bind {key} {}x", seen.count),
                    directive: format!("SocketBindDeny={}", deny.join(" ")),
                    fix: if port == 0 {
                        "remove SocketBindDeny= (no allow rule names port 0)".to_owned()
                    } else {
                        format!("add SocketBindAllow={family}:{port}")
                    },
                });
            }
        }
    }
    out
}

/// What the drop-in (the last file read) sets, resets aside, those the target ignores
/// included: `KEY=value (FILE:LINE)`.
fn dropin_settings(assignments: &[Assignment]) -> Vec<String> {
    let file_of = |a: &Assignment| a.at.rsplit_once(':').map(|(file, _)| file.to_owned());
    let Some(last) = assignments.last().and_then(file_of) else {
        return vec![];
    };
    assignments
        .iter()
        .filter(|a| !a.value.is_empty() && file_of(a).as_deref() == Some(last.as_str()))
        .map(|a| format!("{}={} ({})", a.key, a.value, a.at))
        .collect()
}

/// Syscall names a drop-in's `SystemCallFilter=` lines permit, @default included (for `diff`).
pub fn permitted_syscalls(lines: &[String], groups: &SyscallGroups) -> Option<BTreeSet<String>> {
    let assignments: Vec<Assignment> = lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| Assignment {
            key: k.to_owned(),
            value: v.to_owned(),
            at: String::new(),
        })
        .collect();
    let d = Deployed {
        assignments: assignments.iter().collect(),
    };
    match d.syscalls(groups).0 {
        ListRule::Allow(s) => Some(s),
        _ => None,
    }
}

/// The gaps by kind, for a one-line summary.
pub fn summary(verdict: &Verdict) -> BTreeMap<GapKind, usize> {
    let mut out = BTreeMap::new();
    for g in &verdict.gaps {
        *out.entry(g.kind).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::observations::{Access, Observations, Slot},
        policy::unit_file::service_assignments,
    };

    fn profile(slots: &[(Slot, i64)], syscalls: &[&str]) -> Profile {
        let mut observations = Observations::default();
        for (s, ret) in slots {
            observations.add(s, *ret, "svc", 1);
        }
        observations.derive_path_facts("/sys/fs/cgroup");
        Profile {
            syscalls: syscalls.iter().map(|s| (s.to_string(), 2)).collect(),
            observations,
            ..Profile::example("svc.service")
        }
    }

    fn gaps(p: &Profile, dropin: &str, systemd: u32) -> Vec<String> {
        let groups = SyscallGroups::for_version(systemd, None);
        let a = service_assignments(dropin, "d.conf");
        verify(p, &a, systemd, &groups, &|path| path != "/missing")
            .gaps
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn what_the_recording_could_not_see_is_not_judged() {
        let mut p = profile(&[], &["read", "bind"]);
        let dropin = "[Service]\nCapabilityBoundingSet=\nProtectSystem=strict\nPrivateUsers=yes\n";
        let groups = SyscallGroups::for_version(252, None);
        let a = service_assignments(dropin, "d.conf");
        let verdict = verify(&p, &a, 252, &groups, &|_| true);
        assert!(verdict.gaps.is_empty() && verdict.unjudged.is_empty());
        p.recording.capability_source =
            "none: this kernel has no capability/cap_capable tracepoint".into();
        let verdict = verify(&p, &a, 252, &groups, &|_| true);
        assert!(verdict.gaps.is_empty());
        assert_eq!(verdict.unjudged.len(), 2, "{:?}", verdict.unjudged);
        assert!(
            verdict.unjudged[0].starts_with("CapabilityBoundingSet= (d.conf:2): the profiles cannot judge it, the recording could see no capability checks (this kernel has no"),
            "{:?}",
            verdict.unjudged
        );
        assert!(verdict.unjudged[1].starts_with("PrivateUsers=yes"));
    }

    /// A profile of a service that switched to user 1001 and wrote in its home; with
    /// `shell`, a shell ran as that user too.
    fn acting_for_alice(shell: bool) -> Profile {
        let mut p = profile(
            &[(Slot::Path("/var/mail/alice".into(), Access::Write), 3)],
            &["read", "write", "openat", "setresuid"],
        );
        let id = &mut p.observations.identity;
        id.switches
            .entry("setresuid 1001 1001 1001".into())
            .or_default()
            .add(0, "daemon", 1);
        let by = if shell { "sh" } else { "daemon" };
        id.credentials
            .entry("1001:1001".into())
            .or_default()
            .add(0, by, 1);
        p
    }

    #[test]
    fn a_drop_in_writable_for_the_recorded_user_only_fails_the_hosts_other_users() {
        let mut p = acting_for_alice(false);
        p.observations.add(
            &Slot::Path("/home/alice/up.txt".into(), Access::Create),
            3,
            "svc",
            1,
        );
        p.observations.derive_path_facts("/sys/fs/cgroup");
        let only_alice = "[Service]\nProtectSystem=strict\nReadWritePaths=-/var/mail/alice\n";
        let g = gaps(&p, only_alice, 252);
        // strict leaves /home writable by itself; /var/mail it does not, nor a home elsewhere.
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(
            g[0].starts_with("it switched to the host's users (uid 1001), and wrote /home/alice/up.txt in one's home: a user homed outside /home (/srv/ftp/another-user) could not write there: ProtectSystem=strict; set ProtectSystem=full"),
            "{g:?}"
        );
        assert!(
            g[1].starts_with("it switched to the host's users (uid 1001), and wrote /var/mail/alice: another user's place under /var/mail is read-only: ProtectSystem=strict; add ReadWritePaths=-/var/mail"),
            "{g:?}"
        );
        let every = "[Service]\nProtectSystem=strict\nReadWritePaths=-/var/mail\n";
        let g = gaps(&p, every, 252);
        assert!(
            g.len() == 1 && g[0].contains("set ProtectSystem=full"),
            "{g:?}"
        );
        let full = "[Service]\nProtectSystem=full\n";
        assert!(gaps(&p, full, 252).is_empty());
        // Its home alone: every place of the recorded users' is under /var/mail, and strict
        // with /var/mail writable is enough.
        let mut mail_only = acting_for_alice(false);
        mail_only.observations.derive_path_facts("/sys/fs/cgroup");
        assert!(gaps(&mail_only, every, 252).is_empty());
        // ProtectHome= is judged as the toggle it is: the write itself is denied.
        let g = gaps(&p, &format!("{full}ProtectHome=yes\n"), 252);
        assert!(g.len() == 1 && g[0].contains("ProtectHome=yes"), "{g:?}");
    }

    #[test]
    fn protect_system_strict_leaves_the_homes_to_protect_home() {
        let p = profile(
            &[(Slot::Path("/home/u/.cache/x".into(), Access::Create), 3)],
            &["openat"],
        );
        assert!(gaps(&p, "[Service]\nProtectSystem=strict\n", 252).is_empty());
        let g = gaps(
            &p,
            "[Service]\nProtectSystem=strict\nProtectHome=read-only\n",
            252,
        );
        assert!(
            g.len() == 1 && g[0].contains("ProtectHome=read-only"),
            "{g:?}"
        );
        // A write elsewhere is still refused.
        let etc = profile(
            &[(Slot::Path("/etc/x".into(), Access::Write), 3)],
            &["openat"],
        );
        assert_eq!(
            gaps(&etc, "[Service]\nProtectSystem=strict\n", 252).len(),
            1
        );
    }

    #[test]
    fn any_sandbox_on_a_unit_running_its_users_programs_is_a_gap() {
        let p = acting_for_alice(true);
        let dropin = "[Service]\nReadWritePaths=\nReadWritePaths=-/home\nNoNewPrivileges=yes\n";
        let g = gaps(&p, dropin, 252);
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(
            g[0].starts_with("uid 1001 ran sh after the service switched to it"),
            "{g:?}"
        );
        assert!(
            g[0].contains(": ReadWritePaths=-/home (d.conf:3) NoNewPrivileges=yes (d.conf:4); remove the drop-in"),
            "{g:?}"
        );
        // Without a shell as the user, the same drop-in is fine.
        assert!(gaps(&acting_for_alice(false), dropin, 252).is_empty());
        // A setting the target ignores is the drop-in's all the same, not the unit file's.
        let groups = SyscallGroups::for_version(239, None);
        let mut a = service_assignments("[Service]\nProtectSystem=strict\n", "unit.service");
        a.extend(service_assignments(
            "[Service]\nProtectClock=yes\n",
            "d.conf",
        ));
        let g: Vec<String> = verify(&p, &a, 239, &groups, &|_| true)
            .gaps
            .iter()
            .map(ToString::to_string)
            .collect();
        let session = g
            .iter()
            .find(|g| g.starts_with("uid 1001 ran sh"))
            .expect("the gap");
        assert!(
            session.contains(": ProtectClock=yes (d.conf:2); remove"),
            "{g:?}"
        );
    }

    fn cap(name: &str) -> (Slot, i64) {
        (
            Slot::Capability {
                name: name.into(),
                granted: true,
                during: "setuid".into(),
            },
            0,
        )
    }

    #[test]
    fn each_denied_observation_is_one_line_with_its_fix() {
        let p = profile(
            &[
                (Slot::Path("/run/svc.pid".into(), Access::Create), 3),
                (Slot::Path("/run/svc.pid".into(), Access::Write), 3),
                (Slot::Path("/var/log/svc/a.log".into(), Access::Write), 3),
                (Slot::Path("/etc/svc.conf".into(), Access::Read), 3),
                (Slot::Socket("AF_INET6/SOCK_STREAM".into()), 3),
                cap("CAP_SETUID"),
                cap("CAP_NET_BIND_SERVICE"),
            ],
            &["read", "chmod", "openat"],
        );
        let dropin = "[Service]\nProtectSystem=strict\nReadWritePaths=/var/log/svc /missing\n\
                      CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nRestrictAddressFamilies=AF_INET\n\
                      SystemCallFilter=@system-service\nSystemCallFilter=~chmod\nSystemCallFilter=mseal\n";
        assert_eq!(
            gaps(&p, dropin, 252),
            [
                "ReadWritePaths=/missing (d.conf:3): /missing does not exist on the target and has no `-`: the unit fails to start (226/NAMESPACE); write ReadWritePaths=-/missing instead",
                "SystemCallFilter= (d.conf:8): systemd 252 does not know mseal (checked against systemd 252's table): ignored, so it stays denied; remove mseal",
                "syscall chmod 2x: SystemCallFilter; add SystemCallFilter=chmod",
                "svc: create /run/svc.pid 1x: ProtectSystem=strict; add ReadWritePaths=-/run",
                "svc: capability CAP_SETUID granted 1x: CapabilityBoundingSet; add CapabilityBoundingSet=CAP_SETUID",
                "svc: socket AF_INET6/SOCK_STREAM 1x: RestrictAddressFamilies; add RestrictAddressFamilies=AF_INET6",
            ]
        );
        // `-` and a created RuntimeDirectory make a missing path harmless.
        let ok =
            "[Service]\nReadWritePaths=-/missing\nRuntimeDirectory=svc\nReadWritePaths=/run/svc\n";
        assert!(gaps(&p, ok, 252).is_empty(), "{:?}", gaps(&p, ok, 252));
    }

    #[test]
    fn a_mount_namespace_for_a_service_mounting_in_the_host_s_is_a_gap() {
        use crate::model::observations::Fact;
        let mut p = profile(
            &[(Slot::Fact(Fact::HostMount, "mount of overlay".into()), 0)],
            &["mount"],
        );
        let of = |p: &Profile, dropin: &str| {
            gaps(p, &format!("[Service]\n{dropin}\n"), 257)
                .into_iter()
                .filter(|g| g.contains("host's mount namespace"))
                .collect::<Vec<_>>()
        };
        for dropin in [
            "ProtectSystem=strict",
            "ReadWritePaths=/var",
            "PrivateTmp=yes",
            "ProtectProc=invisible",
            "PrivateNetwork=yes",
        ] {
            let found = of(&p, dropin);
            assert_eq!(found.len(), 1, "{dropin}: {found:?}");
            assert!(found[0].contains(dropin), "{found:?}");
        }
        for dropin in [
            "NoNewPrivileges=yes",
            "PrivateNetwork=yes\nPrivateMounts=no",
            "ProtectSystem=no\nReadWritePaths=/var\nReadWritePaths=",
        ] {
            assert_eq!(of(&p, dropin), Vec::<String>::new(), "{dropin}");
        }
        // Not recorded (an older profile): not judged.
        p.observations.facts.host_mounts = None;
        assert_eq!(of(&p, "ProtectSystem=strict"), Vec::<String>::new());
    }

    #[test]
    fn list_options_accumulate_and_reset_as_systemd_does() {
        let p = profile(&[cap("CAP_CHOWN"), cap("CAP_SETUID")], &[]);
        // Merged, then reset and narrowed.
        let merged =
            "[Service]\nCapabilityBoundingSet=CAP_CHOWN\nCapabilityBoundingSet=CAP_SETUID\n";
        assert!(gaps(&p, merged, 252).is_empty());
        let reset = format!("{merged}CapabilityBoundingSet=\nCapabilityBoundingSet=CAP_CHOWN\n");
        assert_eq!(gaps(&p, &reset, 252).len(), 1);
        // A deny-list, then an allow line taking one back out of it.
        let deny = "[Service]\nCapabilityBoundingSet=~CAP_CHOWN CAP_SETUID\nCapabilityBoundingSet=CAP_SETUID\n";
        let g = gaps(&p, deny, 252);
        assert_eq!(g.len(), 1);
        assert!(g[0].contains("CAP_CHOWN"), "{g:?}");
    }

    #[test]
    fn toggles_are_judged_by_the_policy() {
        let p = profile(
            &[
                (Slot::Socket("AF_INET/SOCK_STREAM".into()), 3),
                (Slot::Path("/home/u/.cache/x".into(), Access::Create), 3),
            ],
            &[],
        );
        let g = gaps(
            &p,
            "[Service]\nPrivateNetwork=true\nProtectHome=read-only\nNoNewPrivileges=yes\n",
            252,
        );
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(
            g[0].starts_with("wrote /home/u/.cache")
                && g[0].ends_with("ProtectHome=read-only; set ProtectHome=no"),
            "{g:?}"
        );
        assert!(
            g[1].contains("PrivateNetwork=yes; set PrivateNetwork=no"),
            "{g:?}"
        );
        assert!(gaps(&p, "[Service]\nPrivateNetwork=no\nProtectHome=\n", 252).is_empty());
    }

    #[test]
    fn what_the_target_does_not_know_is_ignored_and_said() {
        let p = profile(&[(Slot::Socket("AF_UNIX/SOCK_STREAM".into()), 3)], &[]);
        let g = gaps(
            &p,
            "[Service]\nProtectProc=invisible\nRestrictAddressFamilies=none\n",
            239,
        );
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(
            g[0].contains("does not know ProtectProc= (needs 247)"),
            "{g:?}"
        );
        assert!(
            g[1].contains("RestrictAddressFamilies=none (needs 249)"),
            "{g:?}"
        );
        // On 252 `none` applies, and denies the unix socket.
        let g = gaps(&p, "[Service]\nRestrictAddressFamilies=none\n", 252);
        assert_eq!(
            g,
            [
                "svc: socket AF_UNIX/SOCK_STREAM 1x: RestrictAddressFamilies; add RestrictAddressFamilies=AF_UNIX"
            ]
        );
    }

    #[test]
    fn a_generated_drop_in_permits_its_own_profile() {
        let p = profile(
            &[
                (Slot::Path("/run/svc.pid".into(), Access::Create), 3),
                (Slot::Path("/var/lib/svc/db".into(), Access::Write), 3),
                (Slot::Socket("AF_INET/SOCK_STREAM".into()), 3),
                (
                    Slot::Fact(
                        crate::model::observations::Fact::Namespace,
                        "net via unshare".into(),
                    ),
                    0,
                ),
                cap("CAP_SETUID"),
            ],
            &["read", "openat", "clone3", "chmod", "setuid", "mount"],
        );
        for systemd in [239, 245, 252, 257] {
            let groups = SyscallGroups::for_version(systemd, None);
            let policy = policy::resolve(&p, systemd, &groups, policy::margin::Margin::default());
            let text = policy::render(&policy, &p, &[], "", false);
            let a = service_assignments(&text, "g.conf");
            let v = verify(&p, &a, systemd, &groups, &|_| false);
            assert!(v.gaps.is_empty(), "{systemd}: {:#?}\n{text}", v.gaps);
        }
    }
    /// A unit recorded by `learner record`: `settings` as `systemctl show` printed them.
    fn recorded(mut p: Profile, settings: &[(&str, &str)]) -> Profile {
        p.unit = Some(crate::model::unit::UnitRecord {
            files: vec![],
            packages: Default::default(),
            user_shared_with: vec![],
            written_no: Default::default(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        p
    }

    /// verify of `dropin` on top of the profile's recorded unit, on systemd 252.
    fn gaps_on_unit(p: &Profile, dropin: &str) -> Vec<String> {
        let groups = SyscallGroups::for_version(252, None);
        let mut a = policy::unit_settings::of_profile(p);
        a.extend(service_assignments(dropin, "d.conf"));
        verify(p, &a, 252, &groups, &|_| true)
            .gaps
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A non-root service that binds port 80 with the unit's ambient CAP_NET_BIND_SERVICE.
    fn binds_80_as_www_data() -> Profile {
        let mut p = profile(
            &[
                (
                    Slot::Capability {
                        name: "CAP_NET_BIND_SERVICE".into(),
                        granted: true,
                        during: "bind".into(),
                    },
                    0,
                ),
                (Slot::Socket("AF_INET/SOCK_STREAM".into()), 3),
                (Slot::Path("/var/log/t/a.log".into(), Access::Create), 3),
            ],
            &["bind", "listen", "openat"],
        );
        p = recorded(
            p,
            &[
                ("User", "www-data"),
                ("AmbientCapabilities", "cap_net_bind_service"),
                ("CapabilityBoundingSet", "cap_net_bind_service"),
                ("ReadWritePaths", "/var/log/t /var/cache/t"),
                ("ProtectSystem", "strict"),
                ("SystemCallFilter", "~"),
                ("NoNewPrivileges", "no"),
                ("KeyringMode", "private"),
            ],
        );
        p
    }

    #[test]
    fn a_grant_outside_the_units_own_bounding_set_needs_nothing_of_the_drop_in() {
        // A fully privileged ExecStartPre= (PermissionsStartOnly=) chowned as root; the unit
        // bounds its own processes to CAP_NET_BIND_SERVICE.
        let mut p = binds_80_as_www_data();
        p.observations.add(
            &Slot::Capability {
                name: "CAP_CHOWN".into(),
                granted: true,
                during: "fchown".into(),
            },
            0,
            "install",
            1,
        );
        let dropin = "[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n";
        assert!(gaps_on_unit(&p, dropin).is_empty());
        // Within the unit's set, the same grant is a need.
        p.unit.as_mut().unwrap().settings.insert(
            "CapabilityBoundingSet".into(),
            "cap_net_bind_service cap_chown".into(),
        );
        let g = gaps_on_unit(&p, dropin);
        assert!(
            g.len() == 1 && g[0].contains("add CapabilityBoundingSet=CAP_CHOWN"),
            "{g:?}"
        );
    }

    #[test]
    fn a_non_root_user_holds_only_its_ambient_capabilities() {
        let p = binds_80_as_www_data();
        // The drop-in of issue 27: the bounding set keeps the capability, the ambient set is
        // reset, and www-data has none.
        let broken = "[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=\n";
        assert_eq!(
            gaps_on_unit(&p, broken),
            [
                "svc: capability CAP_NET_BIND_SERVICE granted 1x: AmbientCapabilities (a process of User=www-data holds only its ambient capabilities); add AmbientCapabilities=CAP_NET_BIND_SERVICE"
            ]
        );
        // The unit alone is fine; so is the ambient set outside the bounding set named once,
        // by the bounding set.
        assert!(gaps_on_unit(&p, "[Service]\n").is_empty());
        // Debian's chrony: User=_chrony, no ambient set, `ExecStart=!` starts chronyd as root
        // and it keeps CAP_SYS_TIME as it drops root: the drop-in's empty ambient set
        // changes nothing of that.
        let mut kept = binds_80_as_www_data();
        kept.observations.add(
            &Slot::Capability {
                name: "CAP_NET_BIND_SERVICE".into(),
                granted: true,
                during: crate::model::observations::KEPT_BY_CAPSET.into(),
            },
            0,
            "svc",
            1,
        );
        kept = recorded(
            kept,
            &[
                ("User", "www-data"),
                ("AmbientCapabilities", ""),
                ("CapabilityBoundingSet", "cap_net_bind_service"),
                ("ReadWritePaths", "/var/log/t /var/cache/t"),
                ("ProtectSystem", "strict"),
                ("SystemCallFilter", "~"),
                ("NoNewPrivileges", "no"),
                ("KeyringMode", "private"),
            ],
        );
        assert!(gaps_on_unit(&kept, broken).is_empty());
        let g = gaps_on_unit(&p, "[Service]\nCapabilityBoundingSet=\n");
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(g[0].contains("add CapabilityBoundingSet="), "{g:?}");
        // As root (no User=), the bounding set alone decides.
        let mut root = p.clone();
        root.unit.as_mut().unwrap().settings.remove("User");
        assert!(gaps_on_unit(&root, broken).is_empty());
        // generate keeps the unit's grant, and its own drop-in has no gap.
        let groups = SyscallGroups::for_version(252, None);
        let policy = policy::resolve(&p, 252, &groups, policy::margin::Margin::default());
        assert_eq!(
            policy.decision("AmbientCapabilities").unwrap().lines,
            [
                "AmbientCapabilities=",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE"
            ]
        );
        let text = policy::render(&policy, &p, &[], "", true);
        assert!(gaps_on_unit(&p, &text).is_empty(), "{text}");
        assert!(
            text.contains("# AmbientCapabilities: the unit grants AmbientCapabilities=CAP_NET_BIND_SERVICE (it runs as User=www-data"),
            "{text}"
        );
    }

    #[test]
    fn a_grant_to_a_root_command_of_a_non_root_unit_needs_no_ambient_capability() {
        use crate::model::credentials::IdentitySlot;
        // Tomcat: ExecStartPre=+... (root, outside User=tomcat) made CAP_SYS_ADMIN checks on
        // the guest's overlay root (granted); tomcat's own were all denied.
        let mut p = binds_80_as_www_data();
        let check = |granted: bool, during: &str| Slot::Capability {
            name: "CAP_SYS_ADMIN".into(),
            granted,
            during: during.into(),
        };
        for (slot, ret) in [
            (check(true, "mkdir"), 0),
            (check(false, "mmap"), -1),
            (
                Slot::Identity(IdentitySlot::UnprivilegedCapability(
                    "CAP_SYS_ADMIN as 33 during mmap".into(),
                )),
                -1,
            ),
            (
                Slot::Identity(IdentitySlot::UnprivilegedCapability(
                    "CAP_NET_BIND_SERVICE as 33 during bind".into(),
                )),
                0,
            ),
            (Slot::Identity(IdentitySlot::Credentials("0:0".into())), 0),
        ] {
            p.observations.add(&slot, ret, "svc", 1);
        }
        let dropin = "[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_ADMIN\n";
        assert!(
            gaps_on_unit(&p, dropin).is_empty(),
            "{:?}",
            gaps_on_unit(&p, dropin)
        );
        // Granted to the user's own process, it would need to be ambient.
        p.observations.add(
            &Slot::Identity(IdentitySlot::UnprivilegedCapability(
                "CAP_SYS_ADMIN as 33 during mkdir".into(),
            )),
            0,
            "svc",
            1,
        );
        let g = gaps_on_unit(&p, dropin);
        assert!(
            g.len() == 1 && g[0].contains("add AmbientCapabilities=CAP_SYS_ADMIN"),
            "{g:?}"
        );
    }

    #[test]
    fn the_units_write_grants_are_kept_with_the_standard_margin_only() {
        let p = binds_80_as_www_data();
        let groups = SyscallGroups::for_version(252, None);
        for (margin, kept) in [
            (policy::margin::Margin::Standard, true),
            (policy::margin::Margin::Exact, false),
        ] {
            let policy = policy::resolve(&p, 252, &groups, margin);
            let rw = policy.decision("ReadWritePaths").unwrap();
            let last = rw.lines.last().unwrap();
            assert!(last.contains("-/var/log/t"), "{last}");
            assert_eq!(last.contains("/var/cache/t"), kept, "{margin:?}: {last}");
            let said = rw
                .evidence
                .iter()
                .find(|e| e.starts_with("/var/cache/t: the unit's, not used by the recording"))
                .unwrap_or_else(|| panic!("{:#?}", rw.evidence));
            assert_eq!(said.contains("kept (standard margin"), kept, "{said}");
            assert!(
                rw.evidence
                    .iter()
                    .any(|e| e == "the unit has ReadWritePaths=/var/log/t /var/cache/t, which the reset removes"),
                "{:#?}",
                rw.evidence
            );
        }
        // A drop-in that resets the unit's list and forgets its log directory.
        let broken = "[Service]\nReadWritePaths=\nReadWritePaths=-/run\n";
        assert_eq!(
            gaps_on_unit(&p, broken),
            [
                "svc: create /var/log/t/a.log 1x: ProtectSystem=strict; add ReadWritePaths=-/var/log/t"
            ]
        );
    }

    #[test]
    fn paths_are_read_as_systemd_252_reads_them() {
        let p = profile(
            &[
                (Slot::Path("/var/lib/my app/x".into(), Access::Create), 3),
                (Slot::Path("/var/lib/50%/y".into(), Access::Create), 3),
            ],
            &[],
        );
        // `\x20` is `x20` to systemd 252: the directory stays read-only.
        let old =
            "[Service]\nProtectSystem=strict\nReadWritePaths=-/var/lib/my\\x20app -/var/lib/50%%\n";
        assert_eq!(
            gaps(&p, old, 252),
            [
                "svc: create /var/lib/my app/x 1x: ProtectSystem=strict; add ReadWritePaths=\"-/var/lib/my app\""
            ]
        );
        let quoted =
            "[Service]\nProtectSystem=strict\nReadWritePaths=\"-/var/lib/my app\" -/var/lib/50%%\n";
        assert!(gaps(&p, quoted, 252).is_empty());
    }

    #[test]
    fn a_shell_redirect_to_dev_null_keeps_private_devices() {
        // `cmd > /dev/null`: openat O_WRONLY|O_CREAT|O_TRUNC, mode 0666.
        let p = profile(
            &[
                (Slot::Path("/dev/null".into(), Access::Write), 3),
                (Slot::Path("/dev/null".into(), Access::Create), 3),
                (Slot::Path("/dev/null".into(), Access::Truncate), 3),
                (
                    Slot::Fact(
                        crate::model::observations::Fact::CreatedMode,
                        "/dev file 0666".into(),
                    ),
                    3,
                ),
            ],
            &["openat"],
        );
        let groups = SyscallGroups::for_version(252, None);
        let policy = policy::resolve(&p, 252, &groups, policy::margin::Margin::default());
        assert_eq!(policy.value("PrivateDevices"), Some("yes"));
        assert_eq!(policy.value("UMask"), Some("0077"));
        assert!(gaps(&p, "[Service]\nPrivateDevices=yes\n", 252).is_empty());
        // A node it made there is another matter.
        let made = profile(&[(Slot::Path("/dev/mine".into(), Access::Create), 3)], &[]);
        assert_eq!(gaps(&made, "[Service]\nPrivateDevices=yes\n", 252).len(), 1);
    }

    /// Every profile of the pack, and the fixtures above: generate's own drop-in, verified on
    /// top of the unit it records (if any), has no gap.
    #[test]
    fn every_shipped_drop_in_permits_what_its_profile_observed() {
        // What a user installs: profiles/SERVICE/hardening.conf as shipped, on top of the
        // unit's recorded settings, for the systemd it was verified on (252).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut checked = 0;
        for service in std::fs::read_dir(&dir)
            .expect("profiles/")
            .filter_map(Result::ok)
        {
            let name = service.file_name().to_string_lossy().into_owned();
            let dropin = service.path().join("hardening.conf");
            let profile = service.path().join(format!("{name}.profile.yaml"));
            if !dropin.exists() || !profile.exists() {
                continue;
            }
            let p = Profile::load(&profile).expect("a profile");
            let text = std::fs::read_to_string(&dropin).expect("the drop-in");
            let groups = SyscallGroups::for_version(252, None);
            let mut a = policy::unit_settings::of_profile(&p);
            a.extend(service_assignments(&text, "hardening.conf"));
            let v = verify(&p, &a, 252, &groups, &|_| false);
            assert!(v.gaps.is_empty(), "{name}: {:#?}", v.gaps);
            // A shipped setting its own profile cannot judge is one no recording vouches
            // for (a source learner added since: record the service again).
            assert!(v.unjudged.is_empty(), "{name}: {:#?}", v.unjudged);
            checked += 1;
        }
        assert!(checked >= 30, "{checked} shipped drop-ins");
    }

    /// The same for the drop-ins recorded on real Debian machines (`cargo xtask vm pack`),
    /// each for the systemd of its release: profiles/SERVICE/debian13/ for 257.
    #[test]
    fn every_shipped_release_drop_in_permits_what_its_profile_observed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut checked = Vec::new();
        for service in std::fs::read_dir(&dir)
            .expect("profiles/")
            .filter_map(Result::ok)
        {
            let name = service.file_name().to_string_lossy().into_owned();
            for (release, systemd) in [("debian13", 257), ("debian12-vm", 252)] {
                let release_dir = service.path().join(release);
                let dropin = release_dir.join("hardening.conf");
                let profile = release_dir.join(format!("{name}.profile.yaml"));
                if !dropin.exists() && !profile.exists() {
                    continue;
                }
                // One without the other is a half-written --update.
                let p = Profile::load(&profile).expect("the release's profile");
                let text = std::fs::read_to_string(&dropin).expect("the release's drop-in");
                let groups = SyscallGroups::for_version(systemd, None);
                let mut a = policy::unit_settings::of_profile(&p);
                a.extend(service_assignments(&text, "hardening.conf"));
                let v = verify(&p, &a, systemd, &groups, &|_| false);
                assert!(v.gaps.is_empty(), "{name}/{release}: {:#?}", v.gaps);
                assert!(v.unjudged.is_empty(), "{name}/{release}: {:#?}", v.unjudged);
                checked.push(format!("{name}/{release}"));
            }
        }
        assert!(checked.iter().any(|c| c == "nginx/debian13"), "{checked:?}");
    }

    #[test]
    fn every_repository_profile_is_permitted_by_its_own_drop_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut profiles: Vec<(String, Profile)> = std::fs::read_dir(&dir)
            .expect("profiles/")
            .filter_map(Result::ok)
            .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten())
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|f| f.to_string_lossy().ends_with(".profile.yaml"))
            .map(|f| {
                (
                    f.display().to_string(),
                    Profile::load(&f).expect("a profile"),
                )
            })
            .collect();
        assert!(profiles.len() >= 10, "{}", profiles.len());
        profiles.push(("binds 80".into(), binds_80_as_www_data()));
        profiles.push((
            "dev null".into(),
            profile(&[(Slot::Path("/dev/null".into(), Access::Create), 3)], &[]),
        ));
        for (name, p) in &profiles {
            // generate gives a unit that runs its users' programs no drop-in (sshd, cron).
            if policy::users::runs_users_programs(p).is_some() {
                continue;
            }
            // The recordings' systemd and the newest (an older one cannot name every call).
            for systemd in [252, 257] {
                for margin in [
                    policy::margin::Margin::Standard,
                    policy::margin::Margin::Exact,
                ] {
                    let groups = SyscallGroups::for_version(systemd, None);
                    let policy = policy::resolve(p, systemd, &groups, margin);
                    let text = policy::render(&policy, p, &[], "", false);
                    let mut a = policy::unit_settings::of_profile(p);
                    a.extend(service_assignments(&text, "g.conf"));
                    let v = verify(p, &a, systemd, &groups, &|_| false);
                    assert!(
                        v.gaps.is_empty(),
                        "{name} on {systemd} {margin:?}: {:#?}",
                        v.gaps
                    );
                }
            }
        }
    }

    #[test]
    fn ip_peers_and_binds_outside_the_firewall_are_gaps() {
        let p = profile(
            &[
                (Slot::Accepted("AF_INET 127.0.0.1".into()), 0),
                (Slot::Connect("AF_INET 192.0.2.9:5432".into()), 0),
                (Slot::Bind("AF_INET 0.0.0.0:80".into()), 0),
                (Slot::Bind("AF_INET6 [::]:8080".into()), 0),
            ],
            &[],
        );
        let tight = "[Service]\nIPAddressAllow=localhost\nIPAddressDeny=any\nSocketBindAllow=ipv4:80\nSocketBindDeny=any\n";
        let g = gaps(&p, tight, 252);
        assert_eq!(g.len(), 3, "{g:?}");
        assert!(
            g[0].contains("192.0.2.9") && g[0].contains("IPAddressAllow=192.0.2.9"),
            "{g:?}"
        );
        // Bound to the wildcard, the server's real clients are beyond this host.
        assert!(
            g[1].contains("bind AF_INET 0.0.0.0:80") && g[1].contains("beyond this host"),
            "{g:?}"
        );
        assert!(g[2].contains("SocketBindAllow=ipv6:8080"), "{g:?}");
        let enough = "[Service]\nIPAddressAllow=localhost 192.0.2.0/24\nIPAddressDeny=any\nSocketBindAllow=ipv4:80\nSocketBindAllow=ipv6:8080\nSocketBindDeny=any\n";
        assert!(gaps(&p, enough, 252).is_empty());
        // A reset drops what came before it.
        let reset = format!("{enough}IPAddressAllow=\n");
        assert_eq!(
            gaps(&p, &reset, 252).len(),
            3,
            "localhost, 192.0.2.9 and the server"
        );
    }

    #[test]
    fn a_server_bound_beyond_loopback_behind_a_localhost_firewall_is_a_gap() {
        let server = |bind: &str| {
            profile(
                &[
                    (Slot::Accepted("AF_INET 127.0.0.1".into()), 0),
                    (Slot::Bind(bind.into()), 0),
                ],
                &[],
            )
        };
        let local = "[Service]\nIPAddressAllow=localhost 127.0.0.0/8 ::1\nIPAddressDeny=any\n";
        let g = gaps(&server("AF_INET6 [::]:22"), local, 252);
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(g[0].contains("bind AF_INET6 [::]:22"), "{g:?}");
        // Bound to loopback only, its clients are all on this host.
        assert!(gaps(&server("AF_INET 127.0.0.1:22"), local, 252).is_empty());
        // A network of the user's own is a choice, not a gap; so is no firewall at all.
        let lan = "[Service]\nIPAddressAllow=localhost 10.0.0.0/8\nIPAddressDeny=any\n";
        assert!(gaps(&server("AF_INET6 [::]:22"), lan, 252).is_empty());
        assert!(gaps(&server("AF_INET6 [::]:22"), "[Service]\n", 252).is_empty());
        // Denying only some networks leaves the rest of the world in.
        let some = "[Service]\nIPAddressDeny=192.168.0.0/16\n";
        assert!(gaps(&server("AF_INET6 [::]:22"), some, 252).is_empty());
    }

    #[test]
    fn a_client_recorded_without_a_network_behind_its_recorded_firewall_is_a_gap() {
        // fail2ban's drop-in from a machine with loopback only: the resolver it could not
        // reach was all its firewall let out.
        let mut p = profile(
            &[(Slot::Connect("AF_INET 10.255.255.53:53".into()), 0)],
            &[],
        );
        p.recording.routes_beyond_loopback = Some(false);
        let recorded = "[Service]\nIPAddressAllow=10.255.255.53\nIPAddressDeny=any\n";
        let g = gaps(&p, recorded, 252);
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(g[0].contains("default route beyond loopback"), "{g:?}");
        let local = "[Service]\nIPAddressAllow=localhost\nIPAddressDeny=any\n";
        // Also the recorded peer it drops: two.
        let g = gaps(&p, local, 252);
        assert!(
            g.iter()
                .any(|g| g.contains("default route beyond loopback")),
            "{g:?}"
        );
        // The user's own network, or a recording on a networked host: no gap.
        let lan = "[Service]\nIPAddressAllow=10.0.0.0/8\nIPAddressDeny=any\n";
        assert!(gaps(&p, lan, 252).is_empty());
        // A network generate summarised from the recorded peers is the recording's list.
        let summarised = "[Service]\nIPAddressAllow=10.255.255.0/24\nIPAddressDeny=any\n";
        assert_eq!(gaps(&p, summarised, 252).len(), 1);
        p.recording.routes_beyond_loopback = Some(true);
        assert!(gaps(&p, recorded, 252).is_empty());
    }
}
