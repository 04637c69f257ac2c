//! The unit as it ran while it was recorded: its files, and the settings a drop-in from
//! learner touches or depends on, as the manager reported them. A drop-in is added to these;
//! a reset in it takes away what the unit granted, so the generator needs to know them.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The `systemctl show` properties recorded: who the service runs as and what it may hold,
/// the file-system and namespace options, the filters, and the toggles a drop-in sets.
pub const PROPERTIES: &[&str] = &[
    "User",
    "Group",
    "DynamicUser",
    "SupplementaryGroups",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "SecureBits",
    "NoNewPrivileges",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "ProtectSystem",
    "ProtectHome",
    "RuntimeDirectory",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "ConfigurationDirectory",
    "RuntimeDirectoryMode",
    "StateDirectoryMode",
    "CacheDirectoryMode",
    "LogsDirectoryMode",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateNetwork",
    "PrivateUsers",
    "PrivateMounts",
    "PrivateIPC",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProtectProc",
    "ProcSubset",
    "RestrictSUIDSGID",
    "RestrictRealtime",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "KeyringMode",
    "RemoveIPC",
    "UMask",
    "DevicePolicy",
    "DeviceAllow",
    "IPAddressAllow",
    "IPAddressDeny",
];

/// Settings whose `no` grants no more than leaving them unset does: `systemctl show` prints
/// both alike, but a unit file that writes one says its author knows of a need a recording
/// may not see (munin-node's `PrivateDevices=false`: "plugins like smart_ require access to
/// devices").
pub const GRANTED_BY_NO: &[&str] = &[
    "PrivateDevices",
    "PrivateTmp",
    "PrivateNetwork",
    "PrivateUsers",
    "PrivateMounts",
    "PrivateIPC",
    "ProtectHome",
    "ProtectSystem",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "NoNewPrivileges",
    "RestrictSUIDSGID",
    "LockPersonality",
    "RestrictRealtime",
    "MemoryDenyWriteExecute",
    "RemoveIPC",
    "RestrictNamespaces",
];

/// Of [`GRANTED_BY_NO`], those an empty assignment resets to their default (the others are
/// plain booleans: systemd refuses an empty value and keeps the earlier one).
pub const RESET_BY_EMPTY: &[&str] = &[
    "ProtectSystem",
    "ProtectHome",
    "RestrictNamespaces",
    "PrivateMounts",
];

/// Whether `value` is a boolean false as systemd parses one (parse_boolean()).
pub fn is_no(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "no" | "n" | "false" | "f" | "off" | "0"
    )
}

/// Whether `key=value` leaves a switch of [`GRANTED_BY_NO`] at `no`: it restricts nothing.
pub fn leaves_no(key: &str, value: &str) -> bool {
    GRANTED_BY_NO.contains(&key) && is_no(value)
}

/// Of [`GRANTED_BY_NO`], the switches `assignments` (`(key, value, where)`, in the order
/// systemd reads them) leave at a written `no`, each with that value and where it was
/// written: a later assignment replaces an earlier one; an empty one resets those in
/// [`RESET_BY_EMPTY`], and a plain boolean refuses it, keeping what it had.
pub fn written_no<'a>(
    assignments: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> BTreeMap<&'a str, (&'a str, &'a str)> {
    let mut last = BTreeMap::new();
    for (key, value, at) in assignments {
        if !GRANTED_BY_NO.contains(&key) {
            continue;
        }
        if !value.trim().is_empty() {
            last.insert(key, (value, at));
        } else if RESET_BY_EMPTY.contains(&key) {
            last.remove(key);
        }
    }
    last.retain(|_, (value, _)| is_no(value));
    last
}

/// One file systemd read the unit from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFile {
    pub path: String,
    /// Hex; empty when the file could not be read.
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRecord {
    /// The unit file, then its drop-ins, in the order systemd reads them.
    #[serde(default)]
    pub files: Vec<UnitFile>,
    /// Each of [`PROPERTIES`] as `systemctl show` printed it (lists space-separated, paths
    /// quoted where needed, capabilities in lower case).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The packages (dpkg, rpm) that own the unit's files and the directories above what the
    /// service wrote, comma-separated; empty for a path no package owns (made at run time).
    /// A new host has only the packages' directories when the service first starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<String, String>,
    /// Other units (and sessions) that had a process running as the unit's User= when it was
    /// recorded: the user is shared, and what RemoveIPC= removes at stop is theirs too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_shared_with: Vec<String>,
    /// Of [`GRANTED_BY_NO`], the settings the unit's files leave at `no` by writing it (the
    /// last assignment of each, in the order systemd reads the files), with the file that
    /// wrote it. Absent in older profiles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub written_no: BTreeMap<String, String>,
}

/// Entries a create found there already (EEXIST): a first start on a new host makes them.
pub fn found_existing(o: &crate::model::observations::Observations) -> Vec<String> {
    o.paths
        .iter()
        .filter(|(_, a)| {
            a.get(&crate::model::observations::Access::Create)
                .is_some_and(|s| s.errors.contains_key("EEXIST"))
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// The paths whose package owners a recording notes: every directory above (and every path
/// of) what the service wrote or tried to create, below the top-level directories, outside
/// the API file systems.
pub fn package_candidates(o: &crate::model::observations::Observations) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, accesses) in &o.paths {
        let api = ["/dev", "/proc", "/sys"]
            .iter()
            .any(|a| path == a || path.starts_with(&format!("{a}/")));
        if api || path.contains('*') || !accesses.keys().any(|a| a.writes()) {
            continue;
        }
        let mut p = path.as_str();
        // Not `/` nor a top-level directory: every package has those.
        while p.matches('/').count() > 1 {
            out.insert(p.to_owned());
            p = match p.rsplit_once('/') {
                Some((dir, _)) => dir,
                None => break,
            };
        }
    }
    out
}

impl UnitRecord {
    /// Reads `systemctl show`'s `KEY=VALUE` lines, keeping the [`PROPERTIES`].
    pub fn from_show(files: Vec<UnitFile>, text: &str) -> Self {
        let settings = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| PROPERTIES.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            files,
            settings,
            packages: BTreeMap::new(),
            user_shared_with: Vec::new(),
            written_no: BTreeMap::new(),
        }
    }

    /// Sets [`Self::written_no`] from the unit's files' `[Service]` assignments, in the
    /// order systemd reads them (`(key, value, file)`; see [`written_no`]).
    pub fn note_written_no<'a>(
        &mut self,
        assignments: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) {
        self.written_no = written_no(assignments)
            .into_iter()
            .map(|(key, (_, file))| (key.to_owned(), file.to_owned()))
            .collect();
    }
}
