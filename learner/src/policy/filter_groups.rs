//! systemd's syscall groups (`@default`, `@file-system`, ...) and the names it knows, for the
//! systemd version a drop-in is generated for.
use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

/// `systemd-analyze syscall-filter` of systemd 252, the table for targets other than the
/// local systemd.
const TABLE_252: &str = include_str!("../../data/syscall-filter-252.txt");

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
    /// The table for systemd `version`: the local systemd's own when it is that version,
    /// else 252's, adjusted for the documented changes between versions.
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
        let mut groups = Self::parse(TABLE_252, version);
        groups.adjust_from_252(version);
        groups
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
            source: format!("systemd 252's table, adjusted for systemd {version}"),
        }
    }

    /// The changes between versions that decide what an allow-list needs (systemd's NEWS):
    /// v247 moved brk, mmap, munmap into @default and learned faccessat2; v250 moved mprotect
    /// into @default; v251 arch_prctl; v254 added @sandbox; v257 put @sandbox into @default.
    fn adjust_from_252(&mut self, version: u32) {
        let default = self.groups.entry("@default".into()).or_default();
        if version < 251 {
            default.remove("arch_prctl");
        }
        if version < 250 {
            default.remove("mprotect");
        }
        if version < 247 {
            for name in ["brk", "mmap", "mmap2", "munmap"] {
                default.remove(name);
            }
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
        if version == 252 {
            self.source = "systemd 252's table".into();
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
    fn adjusts_for_other_versions() {
        let old = SyscallGroups::for_version(245, None);
        assert!(!old.groups["@default"].contains("mmap"));
        assert!(!old.groups["@default"].contains("mprotect"));
        assert!(!old.known.contains("faccessat2"));
        let new = SyscallGroups::for_version(257, None);
        assert!(new.groups["@sandbox"].contains("landlock_create_ruleset"));
        assert!(new.groups["@default"].contains("seccomp"));
        let v254 = SyscallGroups::for_version(254, None);
        assert!(!v254.groups["@default"].contains("seccomp"));
    }
}
