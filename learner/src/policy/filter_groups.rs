//! systemd's syscall groups (`@default`, `@file-system`, ...) and the names it knows, for the
//! systemd version a drop-in is generated for.
use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

/// `systemd-analyze syscall-filter` of systemd 252 (Debian 12).
const TABLE_252: &str = include_str!("../../data/syscall-filter-252.txt");
/// The groups of systemd 239 (RHEL 8), the oldest target.
const TABLE_239: &str = include_str!("../../data/syscall-filter-239.txt");

/// Names Debian's 252.x has in its groups that upstream 252 lacks: futex_waitv,
/// riscv_hwprobe and uretprobe in @default, fchmodat2 in @file-system (252.23).
const BACKPORTED_TO_252: &[&str] = &["futex_waitv", "riscv_hwprobe", "uretprobe", "fchmodat2"];

/// Groups with their members expanded, and every name systemd knows.
#[derive(Debug, Clone)]
pub struct SyscallGroups {
    pub version: u32,
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub known: BTreeSet<String>,
    /// Where the table came from, for the drop-in's header.
    pub source: String,
}

impl SyscallGroups {
    /// The table for systemd `version`: the local systemd's own when it is that version, else
    /// the shipped table that is safe for it. @default is what an allow-list gets without
    /// naming it, so a table must never claim a member the target's group lacks: a version
    /// between the shipped tables gets only what both agree on, which lists a few names
    /// explicitly that the target would have allowed anyway.
    pub fn for_version(version: u32, local: Option<u32>) -> Self {
        if local == Some(version)
            && let Ok(out) = Command::new("systemd-analyze")
                .arg("syscall-filter")
                .output()
            && out.status.success()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut groups = Self::parse(&text, version);
            if !groups.groups.is_empty() {
                groups.source = format!("systemd-analyze syscall-filter (local systemd {version})");
                return groups;
            }
        }
        let newer = Self::parse(TABLE_252, version);
        let mut groups = match version {
            ..=239 => {
                let mut old = Self::parse(TABLE_239, version);
                // Which names resolve is libseccomp's business, not the group table's.
                old.known.extend(newer.known);
                old.source = "systemd 239's table (RHEL 8)".into();
                old
            }
            240..=251 => {
                let mut both = newer.intersect(&Self::parse(TABLE_239, version));
                both.source = format!(
                    "the groups of systemd 239 and 252 where they agree (no table of {version} here)"
                );
                both
            }
            252 => {
                let mut same = newer;
                same.source = "systemd 252's table".into();
                same
            }
            _ => {
                let mut later = newer;
                later.source =
                    format!("systemd 252's table and NEWS of the versions up to {version}");
                later
            }
        };
        groups.adjust_names(version);
        groups
    }

    /// Each group's members that `other` has too; names known to either.
    fn intersect(mut self, other: &Self) -> Self {
        self.groups = self
            .groups
            .into_iter()
            .filter_map(|(name, members)| {
                let theirs = other.groups.get(&name)?;
                Some((name, members.intersection(theirs).cloned().collect()))
            })
            .collect();
        self.known.extend(other.known.iter().cloned());
        self
    }

    /// Parses `systemd-analyze syscall-filter` output.
    pub fn parse(text: &str, version: u32) -> Self {
        let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut known = BTreeSet::new();
        let mut ungrouped = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if line.starts_with('@') {
                current = Some(trimmed.to_owned());
                raw.entry(trimmed.to_owned()).or_default();
                ungrouped = false;
            } else if trimmed.starts_with("# Ungrouped") {
                current = None;
                ungrouped = true;
            } else if trimmed.starts_with("# Unlisted") {
                current = None;
                ungrouped = false;
            } else if let Some(name) = trimmed.strip_prefix('#') {
                // Comments, or (in the ungrouped section) `#   name`.
                if ungrouped && line.starts_with("#   ") {
                    known.insert(name.trim().to_owned());
                }
            } else if !trimmed.is_empty()
                && let Some(group) = &current
            {
                raw.entry(group.clone())
                    .or_default()
                    .push(trimmed.to_owned());
            }
        }
        let mut groups = BTreeMap::new();
        for name in raw.keys() {
            let mut members = BTreeSet::new();
            expand(name, &raw, &mut members, 0);
            known.extend(members.iter().cloned());
            groups.insert(name.clone(), members);
        }
        Self {
            version,
            groups,
            known,
            source: String::new(),
        }
    }

    /// Changes the shipped tables do not show (systemd's NEWS): faccessat2 came with v247,
    /// @sandbox with v254, and v257 put it into @default. The 252 table is Debian's 252.x,
    /// which backported names upstream 252 lacks ([`BACKPORTED_TO_252`]): for 252 to 256 they
    /// are not assumed in any group (an allow-list then names them, which any version takes).
    /// A target newer than the table knows calls newer than it (mseal, ...): every name of
    /// learner's kernel tables is kept known for it, as systemd ignores a name its libseccomp
    /// does not know.
    fn adjust_names(&mut self, version: u32) {
        if (252..=256).contains(&version) {
            for members in self.groups.values_mut() {
                for name in BACKPORTED_TO_252 {
                    members.remove(*name);
                }
            }
        }
        if version > 252 {
            for arch in [
                crate::model::syscalls::Arch::X86_64,
                crate::model::syscalls::Arch::Aarch64,
            ] {
                self.known.extend(arch.names().map(str::to_owned));
            }
        }
        if version < 247 {
            self.known.remove("faccessat2");
            for members in self.groups.values_mut() {
                members.remove("faccessat2");
            }
        }
        if version >= 254 {
            let sandbox: BTreeSet<String> = [
                "landlock_add_rule",
                "landlock_create_ruleset",
                "landlock_restrict_self",
                "seccomp",
            ]
            .map(String::from)
            .into();
            if version >= 257 {
                self.groups
                    .entry("@default".into())
                    .or_default()
                    .extend(sandbox.iter().cloned());
            }
            self.groups.insert("@sandbox".into(), sandbox);
        }
    }

    pub fn default_group(&self) -> BTreeSet<String> {
        self.groups.get("@default").cloned().unwrap_or_default()
    }
}

fn expand(name: &str, raw: &BTreeMap<String, Vec<String>>, out: &mut BTreeSet<String>, depth: u32) {
    if depth > 8 {
        return;
    }
    for member in raw.get(name).into_iter().flatten() {
        if member.starts_with('@') {
            expand(member, raw, out, depth + 1);
        } else {
            out.insert(member.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_expands_the_252_table() {
        let g = SyscallGroups::for_version(252, None);
        assert!(g.groups["@default"].contains("rt_sigreturn"));
        assert!(g.groups["@default"].contains("mprotect"));
        assert!(g.groups["@file-system"].contains("openat"));
        // @system-service includes @default and @file-system, expanded.
        assert!(g.groups["@system-service"].contains("openat"));
        assert!(g.groups["@system-service"].contains("rt_sigreturn"));
        assert!(g.known.contains("syslog"), "ungrouped but known");
        assert!(g.known.contains("clone3"));
        assert!(!g.known.contains("mseal"), "unlisted on 252");
        assert!(!g.groups.contains_key("@sandbox"));
    }

    #[test]
    fn older_targets_get_their_own_default_group() {
        // Names 252 allows implicitly that 239 does not: an allow-list for 239 (or for a
        // version between, with no table of its own) must name them.
        for version in [239, 245, 249] {
            let g = SyscallGroups::for_version(version, None);
            let default = &g.groups["@default"];
            for name in [
                "getrandom",
                "rseq",
                "sched_getaffinity",
                "mmap",
                "brk",
                "mprotect",
            ] {
                assert!(!default.contains(name), "{version}: {name} in @default");
                assert!(g.known.contains(name), "{version}: {name} unknown");
            }
            assert!(default.contains("rt_sigreturn") && default.contains("futex"));
            assert!(g.groups["@system-service"].contains("getrandom"));
            assert!(
                !g.groups.contains_key("@pkey"),
                "{version}: 239 has no @pkey"
            );
            assert!(!g.groups["@file-system"].contains("openat2"));
            assert!(g.groups["@file-system"].contains("openat"));
        }
        let g239 = SyscallGroups::for_version(239, None);
        assert!(
            g239.groups["@file-system"].contains("mmap"),
            "moved out later"
        );
        assert!(!g239.known.contains("faccessat2"));
        let g249 = SyscallGroups::for_version(249, None);
        assert!(g249.known.contains("faccessat2"));
        assert!(
            !g249.groups["@file-system"].contains("faccessat2"),
            "not in 239's"
        );
        assert!(g249.source.contains("239 and 252"), "{}", g249.source);
    }

    #[test]
    fn newer_targets_learn_the_sandbox_group() {
        let new = SyscallGroups::for_version(257, None);
        assert!(new.groups["@sandbox"].contains("landlock_create_ruleset"));
        assert!(new.groups["@default"].contains("seccomp"));
        assert!(new.groups["@default"].contains("getrandom"));
        let v254 = SyscallGroups::for_version(254, None);
        assert!(!v254.groups["@default"].contains("seccomp"));
        assert!(v254.groups.contains_key("@sandbox"));
    }
}
