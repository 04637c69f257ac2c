//! `learner check UNIT`: what a unit's sandbox denied while it ran. A recording made under
//! the sandbox (with syscalls refused by its seccomp filter reported too) is read against the
//! unit's own settings: a failure counts as a denial only when a directive the unit sets
//! explains it, and each names the smallest change that would permit it.
use std::{collections::BTreeMap, fmt};

use crate::{
    observations::{Observations, Seen, writable_path},
    policy,
};

/// The unit's sandbox settings, as `systemctl show` prints them.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    properties: BTreeMap<String, String>,
}

/// The properties [`Sandbox`] reads.
pub const SANDBOX_PROPERTIES: &[&str] = &[
    "ProtectSystem",
    "ProtectHome",
    "ReadOnlyPaths",
    "CapabilityBoundingSet",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "SystemCallErrorNumber",
];

impl Sandbox {
    pub fn parse(show: &str) -> Self {
        let properties = show
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        Self { properties }
    }

    fn get(&self, name: &str) -> &str {
        self.properties.get(name).map_or("", String::as_str)
    }

    fn protect_system(&self) -> Option<&str> {
        matches!(self.get("ProtectSystem"), "yes" | "full" | "strict")
            .then(|| self.get("ProtectSystem"))
    }

    fn protect_home(&self) -> Option<&str> {
        matches!(self.get("ProtectHome"), "yes" | "read-only" | "tmpfs")
            .then(|| self.get("ProtectHome"))
    }

    /// Whether the bounding set lacks `cap` (`CAP_NET_ADMIN`); systemctl prints the set in
    /// lower case, space-separated.
    fn bounding_set_lacks(&self, cap: &str) -> bool {
        let set = self.get("CapabilityBoundingSet");
        !set.split_whitespace().any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// Whether RestrictAddressFamilies keeps `family` (`AF_NETLINK`) out: an allow-list
    /// without it, or a deny-list (`~...`) with it.
    fn family_restricted(&self, family: &str) -> bool {
        let value = self.get("RestrictAddressFamilies");
        match value {
            "" => return false,
            "none" => return true,
            _ => {}
        }
        match value.strip_prefix('~') {
            Some(deny) => deny.split_whitespace().any(|f| f == family),
            None => !value.split_whitespace().any(|f| f == family),
        }
    }

    fn restricts_namespaces(&self) -> bool {
        // systemctl shows the allowed types, or `no` / nothing when unrestricted.
        !matches!(self.get("RestrictNamespaces"), "" | "no")
    }
}

/// One kind of operation the sandbox refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Processes (comm) that were refused.
    pub processes: Vec<String>,
    /// What they tried: `write /var/cache/nginx/x`, `syscall getpriority`.
    pub operation: String,
    /// What they got, with how often: `EROFS 3x`.
    pub outcome: String,
    /// The directive that refused it, as the unit sets it: `ProtectSystem=strict`.
    pub directive: String,
    /// The smallest change to the drop-in that permits it.
    pub fix: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} -> {}: {}; {}",
            self.processes.join(","),
            self.operation,
            self.outcome,
            self.directive,
            self.fix
        )
    }
}

fn outcome(seen: &Seen, errnos: &[&str]) -> Option<String> {
    let parts: Vec<String> = seen
        .errors
        .iter()
        .filter(|(e, _)| errnos.is_empty() || errnos.contains(&e.as_str()))
        .map(|(e, n)| format!("{e} {n}x"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn processes(seen: &Seen) -> Vec<String> {
    seen.by.iter().map(str::to_owned).collect()
}

/// The directory ReadWritePaths= must name so that `access` to `path` may write: the file
/// itself when it is written in place, its directory when entries in it change.
/// Every operation `obs` saw refused that a directive of `sandbox` explains, most
/// consequential first: syscalls, paths, capabilities, families, the rest.
pub fn denials(obs: &Observations, sandbox: &Sandbox) -> Vec<Denial> {
    let mut out = Vec::new();
    for (name, seen) in &obs.refused_syscalls {
        out.push(Denial {
            processes: processes(seen),
            operation: format!("syscall {name}"),
            outcome: outcome(seen, &[]).unwrap_or_else(|| format!("refused {}x", seen.count)),
            directive: "SystemCallFilter".into(),
            fix: format!("add SystemCallFilter={name}"),
        });
    }
    for (path, accesses) in &obs.paths {
        let mut read_only = Vec::new();
        for (&access, seen) in accesses {
            let op = format!("{} {path}", access.name());
            // Home directories as the recording classified them (derive_path_facts).
            if obs.facts.home.contains_key(path)
                && let Some(mode) = sandbox.protect_home()
            {
                let errnos: &[&str] = if mode == "read-only" {
                    &["EROFS"]
                } else {
                    &["EROFS", "EACCES", "ENOENT", "EPERM"]
                };
                if let Some(got) = outcome(seen, errnos) {
                    let fix = if access.writes() || mode == "read-only" {
                        format!(
                            "set ProtectHome=no, or add ReadWritePaths=-{}",
                            writable_path(path, access)
                        )
                    } else {
                        "set ProtectHome=read-only".to_owned()
                    };
                    out.push(Denial {
                        processes: processes(seen),
                        operation: op,
                        outcome: got,
                        directive: format!("ProtectHome={mode}"),
                        fix,
                    });
                }
                continue;
            }
            if !access.writes() {
                continue;
            }
            let Some(got) = outcome(seen, &["EROFS"]) else {
                continue;
            };
            let directive = match sandbox.protect_system() {
                Some(mode) => format!("ProtectSystem={mode}"),
                None if !sandbox.get("ReadOnlyPaths").is_empty() => "ReadOnlyPaths".into(),
                None => continue,
            };
            read_only.push((
                access,
                Denial {
                    processes: processes(seen),
                    operation: op,
                    outcome: got,
                    directive,
                    fix: format!("add ReadWritePaths=-{}", writable_path(path, access)),
                },
            ));
        }
        // One fix per path: a writable directory covers writes to the file in it too.
        let covers_all = read_only
            .iter()
            .position(|(a, _)| writable_path(path, *a) != *path);
        match covers_all {
            Some(i) => out.push(read_only.swap_remove(i).1),
            None => out.extend(read_only.into_iter().map(|(_, d)| d)),
        }
    }
    for (cap, checks) in &obs.capabilities {
        let Some(denied) = &checks.denied else {
            continue;
        };
        if policy::is_capability_noise(cap, checks) || !sandbox.bounding_set_lacks(cap) {
            // Denied for another reason (an unprivileged user): not the sandbox's doing.
            continue;
        }
        out.push(Denial {
            processes: processes(denied),
            operation: format!("capability {cap}"),
            outcome: format!("denied {}x", denied.count),
            directive: "CapabilityBoundingSet".into(),
            fix: format!("add CapabilityBoundingSet={cap}"),
        });
    }
    for (socket, seen) in &obs.sockets {
        let family = socket.split('/').next().unwrap_or(socket);
        if !sandbox.family_restricted(family) {
            continue;
        }
        if let Some(got) = outcome(seen, &["EAFNOSUPPORT"]) {
            out.push(Denial {
                processes: processes(seen),
                operation: format!("socket {socket}"),
                outcome: got,
                directive: "RestrictAddressFamilies".into(),
                fix: format!("add RestrictAddressFamilies={family}"),
            });
        }
    }
    if sandbox.restricts_namespaces() {
        for (what, seen) in &obs.facts.namespaces {
            let kind = what.split_whitespace().next().unwrap_or(what);
            if let Some(got) = outcome(seen, &["EPERM"]) {
                out.push(Denial {
                    processes: processes(seen),
                    operation: format!("namespace {what}"),
                    outcome: got,
                    directive: format!("RestrictNamespaces={}", sandbox.get("RestrictNamespaces")),
                    fix: format!("add RestrictNamespaces={kind}"),
                });
            }
        }
    }
    if sandbox.get("MemoryDenyWriteExecute") == "yes" {
        for (what, seen) in &obs.facts.write_execute_memory {
            if let Some(got) = outcome(seen, &["EACCES", "EPERM"]) {
                out.push(Denial {
                    processes: processes(seen),
                    operation: format!("memory {what}"),
                    outcome: got,
                    directive: "MemoryDenyWriteExecute=yes".into(),
                    fix: "set MemoryDenyWriteExecute=no".into(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observations::{Access, CapabilityChecks, Slot};

    const EROFS: i64 = -30;
    const EPERM: i64 = -1;
    const EAFNOSUPPORT: i64 = -97;

    fn sandbox() -> Sandbox {
        Sandbox::parse(
            "ProtectSystem=strict\nProtectHome=yes\nCapabilityBoundingSet=cap_net_bind_service cap_setuid\n\
             RestrictAddressFamilies=AF_UNIX AF_INET\nRestrictNamespaces=yes\nMemoryDenyWriteExecute=yes\n",
        )
    }

    fn observed(slots: &[(Slot, i64)]) -> Observations {
        let mut obs = Observations::default();
        for (slot, ret) in slots {
            obs.add(slot, *ret, "svc", 1);
        }
        // As a recording's end does.
        obs.derive_path_facts("/sys/fs/cgroup");
        obs
    }

    fn one(obs: &Observations, sandbox: &Sandbox) -> Denial {
        let d = denials(obs, sandbox);
        assert_eq!(d.len(), 1, "{d:#?}");
        d.into_iter().next().unwrap()
    }

    #[test]
    fn a_refused_syscall_names_the_filter() {
        let obs = observed(&[(Slot::Refused("getpriority".into()), EPERM)]);
        let d = one(&obs, &sandbox());
        assert_eq!(
            d.to_string(),
            "svc: syscall getpriority -> EPERM 1x: SystemCallFilter; add SystemCallFilter=getpriority"
        );
    }

    #[test]
    fn a_read_only_file_system_names_protect_system_and_the_directory() {
        let obs = observed(&[
            (Slot::Path("/var/cache/app/x".into(), Access::Create), EROFS),
            (Slot::Path("/var/cache/app/x".into(), Access::Write), EROFS),
            (Slot::Path("/var/lib/app/db".into(), Access::Write), EROFS),
            // Failed, but not for the sandbox.
            (Slot::Path("/etc/app.conf".into(), Access::Read), -2),
            (Slot::Path("/var/log/app.log".into(), Access::Write), -13),
        ]);
        let d = denials(&obs, &sandbox());
        let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "svc: create /var/cache/app/x -> EROFS 1x: ProtectSystem=strict; add ReadWritePaths=-/var/cache/app",
                "svc: write /var/lib/app/db -> EROFS 1x: ProtectSystem=strict; add ReadWritePaths=-/var/lib/app/db",
            ]
        );
        // Without ProtectSystem or ReadOnlyPaths, EROFS is the file system's own.
        assert!(denials(&obs, &Sandbox::parse("ProtectSystem=no\n")).is_empty());
    }

    #[test]
    fn home_directories_name_protect_home() {
        let obs = observed(&[(Slot::Path("/home/u/.config".into(), Access::Read), -13)]);
        let d = one(&obs, &sandbox());
        assert_eq!(d.directive, "ProtectHome=yes");
        assert_eq!(d.fix, "set ProtectHome=read-only");
    }

    #[test]
    fn a_capability_counts_only_when_the_bounding_set_lacks_it() {
        let mut obs = observed(&[(
            Slot::Capability {
                name: "CAP_CHOWN".into(),
                granted: false,
                during: "fchownat".into(),
            },
            EPERM,
        )]);
        let d = one(&obs, &sandbox());
        assert_eq!(d.fix, "add CapabilityBoundingSet=CAP_CHOWN");
        // In the set, yet denied: an unprivileged user, not the sandbox.
        let wide = Sandbox::parse("CapabilityBoundingSet=cap_chown\n");
        assert!(denials(&obs, &wide).is_empty());
        // Memory accounting noise is never a denial.
        obs.capabilities.insert(
            "CAP_SYS_ADMIN".into(),
            CapabilityChecks {
                granted: None,
                denied: Some(Seen {
                    count: 1,
                    ok: 0,
                    errors: [("EPERM".to_owned(), 1)].into(),
                    by: ["svc".to_owned()].into(),
                }),
                during: [("mmap".to_owned(), 1)].into(),
            },
        );
        assert_eq!(denials(&obs, &sandbox()).len(), 1);
    }

    #[test]
    fn families_outside_the_allow_list() {
        let obs = observed(&[
            (Slot::Socket("AF_NETLINK/SOCK_RAW".into()), EAFNOSUPPORT),
            (Slot::Socket("AF_INET/SOCK_STREAM".into()), 3),
        ]);
        let d = one(&obs, &sandbox());
        assert_eq!(d.fix, "add RestrictAddressFamilies=AF_NETLINK");
        let deny = Sandbox::parse("RestrictAddressFamilies=~AF_PACKET\n");
        assert!(denials(&obs, &deny).is_empty());
    }

    #[test]
    fn nothing_refused_nothing_reported() {
        let obs = observed(&[
            (Slot::Path("/var/lib/app/db".into(), Access::Write), 3),
            (Slot::Socket("AF_INET/SOCK_STREAM".into()), 3),
        ]);
        assert!(denials(&obs, &sandbox()).is_empty());
    }
}
