//! `learner check UNIT`: what a unit's sandbox denied while it ran. A recording made under
//! the sandbox (with syscalls refused by its seccomp filter reported too) is read against the
//! unit's own settings: a failure counts as a denial only when a directive the unit sets
//! explains it, and each names the smallest change that would permit it.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use crate::{
    model::observations::{Access, Observations, Seen, folded_dir},
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
    "LockPersonality",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "ProtectClock",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectHostname",
    "PrivateDevices",
    "User",
    "DynamicUser",
    "AmbientCapabilities",
    "NoNewPrivileges",
];

/// Directives that install a seccomp filter of their own, each with the syscalls it refuses
/// and the change that permits them (execute.c's apply_* functions, seccomp-util.c).
const SECCOMP_DIRECTIVES: &[(&str, &[&str], &str)] = &[
    (
        "LockPersonality",
        &["personality"],
        "set LockPersonality=no",
    ),
    (
        "RestrictRealtime",
        &["sched_setscheduler"],
        "set RestrictRealtime=no",
    ),
    (
        "MemoryDenyWriteExecute",
        &["mmap", "mmap2", "mprotect", "pkey_mprotect", "shmat"],
        "set MemoryDenyWriteExecute=no",
    ),
    (
        "RestrictSUIDSGID",
        &[
            "chmod",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "open",
            "openat",
            "creat",
        ],
        "set RestrictSUIDSGID=no",
    ),
    (
        "ProtectClock",
        &[
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
            "clock_settime",
            "clock_settime64",
            "settimeofday",
        ],
        "set ProtectClock=no",
    ),
    (
        "ProtectKernelModules",
        &["init_module", "finit_module", "delete_module"],
        "set ProtectKernelModules=no",
    ),
    ("ProtectKernelLogs", &["syslog"], "set ProtectKernelLogs=no"),
    (
        "ProtectHostname",
        &["sethostname", "setdomainname"],
        "set ProtectHostname=no",
    ),
    (
        "PrivateDevices",
        &[
            "ioperm",
            "iopl",
            "pciconfig_iobase",
            "pciconfig_read",
            "pciconfig_write",
        ],
        "set PrivateDevices=no",
    ),
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

    /// Whether the unit's own processes can never hold `cap`, whatever the bounding set: they
    /// run as a user other than root, `cap` is not ambient, and NoNewPrivileges= rules out a
    /// file capability gained on exec. (A process that switched from root keeping its
    /// capabilities is not of such a unit: it would have started as root.)
    fn never_holds(&self, cap: &str) -> bool {
        let user = self.get("User");
        let unprivileged = self.get("DynamicUser") == "yes" || !matches!(user, "" | "root" | "0");
        let ambient = self
            .get("AmbientCapabilities")
            .split_whitespace()
            .any(|c| c.eq_ignore_ascii_case(cap));
        unprivileged && !ambient && self.get("NoNewPrivileges") == "yes"
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

    /// Whether the unit's SystemCallFilter= refuses `name`: Some(false) when it permits it,
    /// None when there is no filter (systemctl shows `~` alone for none).
    fn filter_refuses(&self, name: &str) -> Option<bool> {
        let value = self.get("SystemCallFilter");
        match value.strip_prefix('~') {
            Some(deny) if deny.trim().is_empty() => None,
            Some(deny) => Some(deny.split_whitespace().any(|s| s == name)),
            None if value.is_empty() => None,
            None => Some(!value.split_whitespace().any(|s| s == name)),
        }
    }

    /// Whether the filter's own errno is ENOSYS (systemctl shows the number, or a name).
    fn filter_errno_is_enosys(&self) -> bool {
        matches!(self.get("SystemCallErrorNumber"), "38" | "ENOSYS")
    }

    /// Why the unit's sandbox refused syscall `name` with `errno` before it ran, as (directive,
    /// fix); None when it answered that way on purpose, or when nothing the unit sets explains
    /// it (a filter the program installed itself).
    fn refusal(&self, name: &str, errno: &str) -> Option<(String, String)> {
        // seccomp cannot look into clone3's flags, so RestrictNamespaces= answers every clone3
        // with ENOSYS, and glibc falls back to clone, which it can check (seccomp-util.c).
        if name == "clone3" && errno == "ENOSYS" && self.restricts_namespaces() {
            return None;
        }
        match self.filter_refuses(name) {
            // From 255 an allow-list answers ENOSYS for calls outside @known, names systemd
            // does not know: naming them changes nothing, and glibc falls back.
            Some(true) if errno == "ENOSYS" && !self.filter_errno_is_enosys() => return None,
            Some(true) => {
                return Some((
                    "SystemCallFilter".into(),
                    format!("add SystemCallFilter={name}"),
                ));
            }
            _ => {}
        }
        if ["clone", "clone3", "unshare", "setns"].contains(&name) && self.restricts_namespaces() {
            return Some((
                format!("RestrictNamespaces={}", self.get("RestrictNamespaces")),
                "add the namespace type to RestrictNamespaces=".into(),
            ));
        }
        if name == "socket" && errno == "EAFNOSUPPORT" {
            return Some((
                "RestrictAddressFamilies".into(),
                "add the family to RestrictAddressFamilies=".into(),
            ));
        }
        SECCOMP_DIRECTIVES
            .iter()
            .find(|(directive, names, _)| names.contains(&name) && self.get(directive) == "yes")
            .map(|(directive, _, fix)| (format!("{directive}=yes"), (*fix).to_owned()))
    }

    fn restricts_namespaces(&self) -> bool {
        // systemctl shows the allowed types, or `no` / nothing when unrestricted.
        !matches!(self.get("RestrictNamespaces"), "" | "no")
    }
}

/// One kind of operation the sandbox refused. Its JSON (`check --format json`) has these
/// field names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// What ReadWritePaths= must name so that `access` to `path` may write, as `generate` would
/// list it (see [`policy::read_write_path`]), with `-`, escaped for a unit file.
fn rw_fix(path: &str, access: crate::model::observations::Access) -> String {
    policy::path_word("-", &policy::read_write_path(path, access).0)
}

/// Every operation `obs` saw refused that a directive of `sandbox` explains, most
/// consequential first: syscalls, paths, capabilities, families, the rest.
pub fn denials(obs: &Observations, sandbox: &Sandbox) -> Vec<Denial> {
    judge(obs, sandbox, &DeniedAnyway::default()).denials
}

/// The operations `obs` saw refused that a directive of `sandbox` explains, told apart by
/// whether the unit's recorded life without it (`anyway`) saw them fail just the same.
#[derive(Debug, Default)]
pub struct Judged {
    /// The sandbox's doing, most consequential first (see [`denials`]).
    pub denials: Vec<Denial>,
    /// Refused under the sandbox, but never done without it either: not its doing.
    pub as_without: Vec<Denial>,
}

/// [`denials`], with what `anyway` saw fail without the sandbox set apart.
pub fn judge(obs: &Observations, sandbox: &Sandbox, anyway: &DeniedAnyway) -> Judged {
    let mut out = Vec::new();
    let mut as_without = Vec::new();
    for (name, seen) in &obs.refused_syscalls {
        // Each answer on its own: one call may be refused by two directives.
        let mut by_directive: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let answers: Vec<(&str, u64)> = match seen.errors.is_empty() {
            true => vec![("", seen.count)],
            false => seen.errors.iter().map(|(e, n)| (e.as_str(), *n)).collect(),
        };
        for (errno, n) in answers {
            if let Some(why) = sandbox.refusal(name, errno) {
                by_directive.entry(why).or_default().push(match errno {
                    "" => format!("refused {n}x"),
                    e => format!("{e} {n}x"),
                });
            }
        }
        for ((directive, fix), outcomes) in by_directive {
            out.push(Denial {
                processes: processes(seen),
                operation: format!("syscall {name}"),
                outcome: outcomes.join(", "),
                directive,
                fix,
            });
        }
    }
    for (path, accesses) in &obs.paths {
        let mut read_only = Vec::new();
        let mut read_only_anyway = Vec::new();
        for (&access, seen) in accesses {
            let op = format!("{} {path}", access.name());
            let by = processes(seen);
            let anyway = anyway.path(path, access, &by);
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
                            "set ProtectHome=no, or add ReadWritePaths={}",
                            rw_fix(path, access)
                        )
                    } else {
                        "set ProtectHome=read-only".to_owned()
                    };
                    let denial = Denial {
                        processes: by,
                        operation: op,
                        outcome: got,
                        directive: format!("ProtectHome={mode}"),
                        fix,
                    };
                    match anyway {
                        true => as_without.push(denial),
                        false => out.push(denial),
                    }
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
            let denial = Denial {
                processes: by,
                operation: op,
                outcome: got,
                directive,
                fix: format!("add ReadWritePaths={}", rw_fix(path, access)),
            };
            // Set apart before one is picked for the path: the one picked could be the
            // access that failed anyway, and hide one that did not.
            match anyway {
                true => read_only_anyway.push((access, denial)),
                false => read_only.push((access, denial)),
            }
        }
        out.extend(one_per_path(path, read_only));
        as_without.extend(one_per_path(path, read_only_anyway));
    }
    for (cap, checks) in &obs.capabilities {
        let Some(denied) = &checks.denied else {
            continue;
        };
        if policy::is_capability_noise(cap, checks, obs) || !sandbox.bounding_set_lacks(cap) {
            // Denied for another reason (an unprivileged user): not the sandbox's doing.
            continue;
        }
        // Every denied check made by a non-root process of a unit whose processes never hold
        // it: refused without the drop-in just the same (root's ExecStartPre=+ and
        // PermissionsStartOnly= commands are the checks this still reports).
        let as_users: u64 = obs
            .identity
            .unprivileged_capabilities
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{cap} as ")))
            .map(|(_, s)| s.count - s.ok)
            .sum();
        if as_users >= denied.count && sandbox.never_holds(cap) {
            continue;
        }
        let denial = Denial {
            processes: processes(denied),
            operation: format!("capability {cap}"),
            outcome: format!("denied {}x", denied.count),
            directive: "CapabilityBoundingSet".into(),
            fix: format!("add CapabilityBoundingSet={cap}"),
        };
        match anyway.capability(cap, &denial.processes) {
            true => as_without.push(denial),
            false => out.push(denial),
        }
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
    Judged {
        denials: out,
        as_without,
    }
}

/// One fix per path: a writable directory covers writes to the file in it too.
fn one_per_path(path: &str, mut read_only: Vec<(Access, Denial)>) -> Vec<Denial> {
    let covers_all = read_only
        .iter()
        .position(|(a, _)| crate::model::observations::writable_path(path, *a) != *path)
        .or_else(|| {
            read_only
                .iter()
                .position(|(a, _)| policy::read_write_path(path, *a).0 != *path)
        });
    match covers_all {
        Some(i) => vec![read_only.swap_remove(i).1],
        None => read_only.into_iter().map(|(_, d)| d).collect(),
    }
}

/// What the unit's recorded life without the sandbox (its profiles) saw fail every time it
/// was tried: refused under the sandbox too, it is as without it, not the sandbox's doing. A
/// service is judged against its own normal life: tinyproxy as packaged cannot create its
/// log in root's /var/log/tinyproxy (EACCES), and under ProtectSystem=strict it still cannot
/// (EROFS); ReadWritePaths= would not help it.
#[derive(Debug, Clone, Default)]
pub struct DeniedAnyway {
    /// Capabilities denied and never granted, with the processes denied them.
    capabilities: BTreeMap<String, BTreeSet<String>>,
    /// The path operations a denial may name (writes, and anything in a home directory), by
    /// path as recorded (a folded `DIR/*` or `DIR/**` standing for what is under DIR) and
    /// access.
    paths: BTreeMap<(String, Access), Tried>,
}

/// A path operation of the recorded life, over all its profiles.
#[derive(Debug, Clone, Default)]
struct Tried {
    /// Whether it succeeded at least once.
    succeeded: bool,
    /// The processes that tried it.
    by: BTreeSet<String>,
}

impl DeniedAnyway {
    /// Adds what `observations` (a life recorded without the sandbox) saw fail. Capabilities:
    /// those denied and never granted, with the processes denied them; grants that were all
    /// noise (overlayfs with its mounter's credentials, memory accounting) count as none, as
    /// generate counts them: lighttpd's own CAP_DAC_OVERRIDE checks, denied as www-data with
    /// or without the drop-in, were otherwise blamed on it. Paths: every operation a denial
    /// may name, with whether it ever succeeded, so that a success in one profile outweighs
    /// failures in another.
    pub fn add(&mut self, observations: &Observations) {
        for (cap, checks) in &observations.capabilities {
            let never_granted = checks.granted.as_ref().is_none_or(|g| g.count == 0)
                || crate::policy::grants_are_noise(cap, checks, observations);
            if let (Some(denied), true) = (&checks.denied, never_granted) {
                self.capabilities
                    .entry(cap.clone())
                    .or_default()
                    .extend(denied.by.iter().map(str::to_owned));
            }
        }
        for (path, accesses) in &observations.paths {
            let home = observations.facts.home.contains_key(path);
            for (&access, seen) in accesses {
                if !(access.writes() || home) || seen.count == 0 {
                    continue;
                }
                let tried = self.paths.entry((path.clone(), access)).or_default();
                // EEXIST: it exists here (nginx's mkdir of /var/lib/nginx/body at each start);
                // on a host where it does not, the call succeeds, and must under the drop-in.
                tried.succeeded |= seen.ok > 0 || seen.errors.contains_key("EEXIST");
                tried.by.extend(seen.by.iter().map(str::to_owned));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.capabilities.is_empty() && self.never_succeeded().next().is_none()
    }

    /// What was seen failing and never succeeding, for one line: each capability, then how
    /// many path operations, the first `shown` of them named (a service may try many paths in
    /// vain: postgresql deletes temporary files that are not there).
    pub fn summary(&self, shown: usize) -> String {
        let mut parts: Vec<String> = self.capabilities.keys().cloned().collect();
        let paths: Vec<String> = self
            .never_succeeded()
            .map(|(path, access)| format!("{} {path}", access.name()))
            .collect();
        if !paths.is_empty() {
            let more = if paths.len() > shown { ", ..." } else { "" };
            parts.push(format!(
                "{} path operation(s) that never succeeded ({}{more})",
                paths.len(),
                paths[..paths.len().min(shown)].join(", ")
            ));
        }
        parts.join(", ")
    }

    fn never_succeeded(&self) -> impl Iterator<Item = &(String, Access)> {
        self.paths
            .iter()
            .filter(|(_, t)| !t.succeeded)
            .map(|(k, _)| k)
    }

    /// Whether capability `cap` was denied, never granted, to each of `processes`.
    fn capability(&self, cap: &str, processes: &[String]) -> bool {
        self.capabilities
            .get(cap)
            .is_some_and(|by| processes.iter().all(|p| by.contains(p)))
    }

    /// Whether `access` to `path` (as a recording under the sandbox names it, folded or not)
    /// never succeeded in the recorded life, which saw each of `processes` try it. What stands
    /// for it there is the path itself, or a folded directory or tree that covers it; none may
    /// have succeeded, nor, for a folded one, anything recorded on its own under it (another
    /// profile, folded otherwise: merged, the folded one would have succeeded).
    fn path(&self, path: &str, access: Access, processes: &[String]) -> bool {
        let standing: Vec<(String, &Tried)> = standing_for(path)
            .into_iter()
            .filter_map(|key| {
                let tried = self.paths.get(&(key.clone(), access))?;
                Some((key, tried))
            })
            .collect();
        if standing.is_empty()
            || standing
                .iter()
                .any(|(key, t)| t.succeeded || self.succeeded_below(key, access))
        {
            return false;
        }
        processes
            .iter()
            .all(|p| standing.iter().any(|(_, t)| t.by.contains(p)))
    }

    /// Whether `access` succeeded to a path recorded under folded `key` (`DIR/*`: DIR's own
    /// entries, `DIR/**`: anything below DIR); false for a path not folded.
    fn succeeded_below(&self, key: &str, access: Access) -> bool {
        let Some(dir) = folded_dir(key) else {
            return false;
        };
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let whole_tree = key.ends_with("/**");
        self.paths
            .range((prefix.clone(), Access::Read)..)
            .take_while(|((p, _), _)| p.starts_with(&prefix))
            .filter(|((p, a), _)| *a == access && (whole_tree || !p[prefix.len()..].contains('/')))
            .any(|(_, t)| t.succeeded)
    }
}

/// The paths a recording may have recorded `path` under: itself, its directory folded
/// (`DIR/*`) when it is a file of it, and each folded tree above it (`DIR/**`), as
/// `Observations::place` folds.
fn standing_for(path: &str) -> Vec<String> {
    let folded = |dir: &str, suffix: &str| format!("{}{suffix}", dir.trim_end_matches('/'));
    let mut out = vec![path.to_owned()];
    let mut up = match folded_dir(path) {
        Some(dir) if path.ends_with("/**") => parent(dir),
        Some(dir) => Some(dir),
        None => {
            let dir = parent(path);
            out.extend(dir.map(|d| folded(d, "/*")));
            dir
        }
    };
    while let Some(dir) = up {
        out.push(folded(dir, "/**"));
        up = parent(dir);
    }
    out
}

fn parent(path: &str) -> Option<&str> {
    match path.rsplit_once('/')? {
        ("", "") => None,
        ("", _) => Some("/"),
        (dir, _) => Some(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capability_denied_without_the_drop_in_too_is_not_its_doing() {
        let recorded = DeniedAnyway {
            capabilities: [("CAP_NET_ADMIN".to_owned(), ["squid".to_owned()].into())].into(),
            ..Default::default()
        };
        let procs = |p: &[&str]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert!(recorded.capability("CAP_NET_ADMIN", &procs(&["squid"])));
        // Another process, another capability: the drop-in's doing.
        assert!(!recorded.capability("CAP_NET_ADMIN", &procs(&["squid", "pinger"])));
        assert!(!recorded.capability("CAP_SETPCAP", &procs(&["squid"])));
        // Under the drop-in: set apart, not reported; another kind of operation is not.
        let obs = observed_by(
            "squid",
            &[
                (
                    Slot::Capability {
                        name: "CAP_NET_ADMIN".into(),
                        granted: false,
                        during: "setsockopt".into(),
                    },
                    EPERM,
                ),
                (Slot::Refused("CAP_NET_ADMIN".into()), EPERM),
            ],
        );
        let sandbox = Sandbox::parse("SystemCallFilter=read\nSystemCallErrorNumber=1\n");
        let judged = judge(&obs, &sandbox, &recorded);
        assert_eq!(ops(&judged.as_without), ["capability CAP_NET_ADMIN"]);
        assert_eq!(ops(&judged.denials), ["syscall CAP_NET_ADMIN"]);
    }

    #[test]
    fn a_capability_granted_only_as_noise_and_denied_is_denied_anyway() {
        use crate::model::observations::{CapabilityChecks, OVERRIDDEN_CREDENTIALS, Seen};
        let seen = |count: u64, ok: u64, by: &str| Seen {
            count,
            ok,
            errors: Default::default(),
            by: vec![by.to_owned()].into(),
        };
        let mut obs = Observations::default();
        // lighttpd's recording: overlayfs's checks granted with its mounter's credentials,
        // lighttpd's own (as www-data) denied.
        obs.capabilities.insert(
            "CAP_DAC_OVERRIDE".into(),
            CapabilityChecks {
                granted: Some(seen(174, 174, "lighttpd")),
                denied: Some(seen(2, 0, "lighttpd")),
                during: [
                    (OVERRIDDEN_CREDENTIALS.to_owned(), 174),
                    ("openat".to_owned(), 2),
                ]
                .into(),
                granted_during: [(OVERRIDDEN_CREDENTIALS.to_owned(), 174)].into(),
            },
        );
        // A real grant (during openat) beside the denials: the drop-in's doing if denied.
        obs.capabilities.insert(
            "CAP_DAC_READ_SEARCH".into(),
            CapabilityChecks {
                granted: Some(seen(3, 3, "lighttpd")),
                denied: Some(seen(1, 0, "lighttpd")),
                during: [("openat".to_owned(), 4)].into(),
                granted_during: [("openat".to_owned(), 3)].into(),
            },
        );
        let mut recorded = DeniedAnyway::default();
        recorded.add(&obs);
        assert_eq!(recorded.summary(3), "CAP_DAC_OVERRIDE", "{recorded:?}");
        assert!(recorded.capability("CAP_DAC_OVERRIDE", &["lighttpd".to_owned()]));
    }

    const EACCES: i64 = -13;

    /// A recording of `comm`, as a recording's end leaves it.
    fn observed_by(comm: &str, slots: &[(Slot, i64)]) -> Observations {
        let mut obs = Observations::default();
        for (slot, ret) in slots {
            obs.add(slot, *ret, comm, 1);
        }
        obs.derive_path_facts("/sys/fs/cgroup");
        obs
    }

    fn anyway(recordings: &[Observations]) -> DeniedAnyway {
        let mut out = DeniedAnyway::default();
        for obs in recordings {
            out.add(obs);
        }
        out
    }

    fn ops(denials: &[Denial]) -> Vec<&str> {
        denials.iter().map(|d| d.operation.as_str()).collect()
    }

    fn path(p: &str, access: Access) -> Slot {
        Slot::Path(p.into(), access)
    }

    #[test]
    fn a_path_write_that_never_succeeded_without_the_drop_in_is_not_its_doing() {
        // tinyproxy as packaged: /var/log/tinyproxy is root's 0755, so its log cannot be
        // made as the tinyproxy user (EACCES), nor under ProtectSystem=strict (EROFS).
        let log = "/var/log/tinyproxy/tinyproxy.log";
        let baseline = observed_by(
            "tinyproxy",
            &[
                (path(log, Access::Read), EACCES),
                (path(log, Access::Write), EACCES),
                (path(log, Access::Create), EACCES),
            ],
        );
        let under = |comm: &str| {
            observed_by(
                comm,
                &[
                    (path(log, Access::Read), EROFS),
                    (path(log, Access::Write), EROFS),
                    (path(log, Access::Create), EROFS),
                ],
            )
        };
        let recorded = anyway(&[baseline]);
        // Reads are no path a denial names outside home directories: not kept.
        assert_eq!(
            recorded.summary(1),
            format!("2 path operation(s) that never succeeded (write {log}, ...)")
        );
        let judged = judge(&under("tinyproxy"), &sandbox(), &recorded);
        assert!(judged.denials.is_empty(), "{:#?}", judged.denials);
        assert_eq!(ops(&judged.as_without), [format!("create {log}")]);
        // Without the baseline it is the drop-in's, with the fix it would suggest.
        let d = one(&under("tinyproxy"), &sandbox());
        assert_eq!(d.fix, "add ReadWritePaths=-/var/log/tinyproxy");
        // A process the baseline did not see try it: the drop-in's doing.
        let judged = judge(&under("tinyproxy-helper"), &sandbox(), &recorded);
        assert_eq!(ops(&judged.denials), [format!("create {log}")]);
    }

    #[test]
    fn a_create_that_failed_only_because_the_path_exists_is_the_drop_ins_doing() {
        // nginx's mkdir of its temporary directories at each start: EEXIST where they exist,
        // a success on a fresh host, which EROFS under the drop-in would break.
        const EEXIST: i64 = -17;
        let dir = "/var/lib/nginx/body";
        let baseline = observed_by("nginx", &[(path(dir, Access::Create), EEXIST)]);
        let under = observed_by("nginx", &[(path(dir, Access::Create), EROFS)]);
        let judged = judge(&under, &sandbox(), &anyway(&[baseline]));
        assert_eq!(ops(&judged.denials), [format!("create {dir}")]);
    }

    #[test]
    fn a_path_write_that_succeeded_once_without_the_drop_in_is_the_drop_ins_doing() {
        let db = "/var/lib/app/db";
        let failed = observed(&[(path(db, Access::Write), EACCES)]);
        let once = observed(&[
            (path(db, Access::Write), EACCES),
            (path(db, Access::Write), 3),
        ]);
        let under = observed(&[(path(db, Access::Write), EROFS)]);
        let judged = judge(&under, &sandbox(), &anyway(std::slice::from_ref(&once)));
        assert_eq!(ops(&judged.denials), [format!("write {db}")]);
        assert!(judged.as_without.is_empty());
        // Failed in one profile, succeeded in another: a success all the same.
        let judged = judge(&under, &sandbox(), &anyway(&[failed.clone(), once]));
        assert_eq!(ops(&judged.denials), [format!("write {db}")]);
        // Another kind of access to it failed, not this one.
        let created = observed(&[(path(db, Access::Create), EACCES)]);
        let judged = judge(&under, &sandbox(), &anyway(&[created]));
        assert_eq!(ops(&judged.denials), [format!("write {db}")]);
        // Only failures: set apart.
        let judged = judge(&under, &sandbox(), &anyway(&[failed]));
        assert_eq!(ops(&judged.as_without), [format!("write {db}")]);
        assert!(judged.denials.is_empty());
    }

    #[test]
    fn an_access_that_failed_anyway_does_not_hide_one_of_the_same_path_that_did_not() {
        // The baseline could never create the file, but wrote it once it was there: one
        // fix per path must not be picked from the access that fails anyway.
        let db = "/var/lib/app/db";
        let baseline = observed(&[
            (path(db, Access::Create), EACCES),
            (path(db, Access::Write), 3),
        ]);
        let under = observed(&[
            (path(db, Access::Create), EROFS),
            (path(db, Access::Write), EROFS),
        ]);
        let judged = judge(&under, &sandbox(), &anyway(&[baseline]));
        assert_eq!(ops(&judged.denials), [format!("write {db}")]);
        assert_eq!(judged.denials[0].fix, "add ReadWritePaths=-/var/lib/app");
        assert_eq!(ops(&judged.as_without), [format!("create {db}")]);
    }

    #[test]
    fn a_folded_directory_stands_for_its_files_both_ways() {
        let recorded = anyway(&[observed(&[
            (path("/var/spool/app/*", Access::Create), EACCES),
            (path("/var/cache/app/**", Access::Create), EACCES),
            (path("/var/lib/app/one", Access::Create), EACCES),
        ])]);
        let judged = |slots: &[(Slot, i64)]| judge(&observed(slots), &sandbox(), &recorded);
        // A file of a folded directory, and one deep in a folded tree: failed anyway.
        let j = judged(&[
            (path("/var/spool/app/x", Access::Create), EROFS),
            (path("/var/cache/app/a/b/c", Access::Create), EROFS),
        ]);
        assert!(j.denials.is_empty(), "{:#?}", j.denials);
        assert_eq!(j.as_without.len(), 2);
        // Folded alike under the drop-in, or the directory within a folded tree.
        for p in [
            "/var/spool/app/*",
            "/var/cache/app/a/*",
            "/var/cache/app/a/**",
        ] {
            let j = judged(&[(path(p, Access::Create), EROFS)]);
            assert_eq!(ops(&j.as_without), [format!("create {p}")]);
        }
        // `DIR/*` is DIR's own files only.
        let j = judged(&[(path("/var/spool/app/sub/y", Access::Create), EROFS)]);
        assert_eq!(ops(&j.denials), ["create /var/spool/app/sub/y"]);
        // Folded under the drop-in, not in the baseline: which files it stands for is not
        // known, so one failing file there says nothing of the others.
        let j = judged(&[(path("/var/lib/app/*", Access::Create), EROFS)]);
        assert_eq!(ops(&j.denials), ["create /var/lib/app/*"]);
        // A folded directory that failed in one profile, with a file of it that succeeded in
        // another: the drop-in's doing, for its files and for it folded.
        let recorded = anyway(&[
            observed(&[(path("/var/spool/app/*", Access::Create), EACCES)]),
            observed(&[(path("/var/spool/app/ok", Access::Create), 3)]),
        ]);
        for p in ["/var/spool/app/x", "/var/spool/app/*"] {
            let j = judge(
                &observed(&[(path(p, Access::Create), EROFS)]),
                &sandbox(),
                &recorded,
            );
            assert_eq!(ops(&j.denials), [format!("create {p}")]);
        }
    }

    #[test]
    fn a_home_directory_the_baseline_could_not_read_either_is_not_protect_homes_doing() {
        let config = "/home/u/.config";
        let recorded = anyway(&[observed(&[(path(config, Access::Read), EACCES)])]);
        let under = observed(&[(path(config, Access::Read), EACCES)]);
        let j = judge(&under, &sandbox(), &recorded);
        assert!(j.denials.is_empty(), "{:#?}", j.denials);
        assert_eq!(j.as_without[0].directive, "ProtectHome=yes");
        // Read once without the drop-in: its doing.
        let read = anyway(&[observed(&[(path(config, Access::Read), 3)])]);
        assert_eq!(judge(&under, &sandbox(), &read).denials.len(), 1);
    }

    #[test]
    fn denials_as_json_keep_their_field_names() {
        let d = Denial {
            processes: vec!["nginx".into()],
            operation: "write /var/cache/nginx/x".into(),
            outcome: "EROFS 3x".into(),
            directive: "ProtectSystem=strict".into(),
            fix: "add ReadWritePaths=-/var/cache/nginx".into(),
        };
        assert_eq!(
            serde_json::json!([d]),
            serde_json::json!([{
                "processes": ["nginx"],
                "operation": "write /var/cache/nginx/x",
                "outcome": "EROFS 3x",
                "directive": "ProtectSystem=strict",
                "fix": "add ReadWritePaths=-/var/cache/nginx",
            }])
        );
    }
    use crate::model::{
        credentials::IdentitySlot,
        observations::{Access, CapabilityChecks, Slot},
    };

    const EROFS: i64 = -30;
    const EPERM: i64 = -1;
    const EAFNOSUPPORT: i64 = -97;

    fn sandbox() -> Sandbox {
        Sandbox::parse(
            "ProtectSystem=strict\nProtectHome=yes\nCapabilityBoundingSet=cap_net_bind_service cap_setuid\n\
             RestrictAddressFamilies=AF_UNIX AF_INET\nRestrictNamespaces=yes\nMemoryDenyWriteExecute=yes\n\
             SystemCallFilter=clone clone3 openat read write\nSystemCallErrorNumber=1\n",
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
                // Written in place, yet its directory: what generate lists.
                "svc: write /var/lib/app/db -> EROFS 1x: ProtectSystem=strict; add ReadWritePaths=-/var/lib/app",
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
                granted_during: Default::default(),
            },
        );
        assert_eq!(denials(&obs, &sandbox()).len(), 1);
    }

    #[test]
    fn a_capability_a_non_root_unit_never_holds_is_not_the_bounding_sets_doing() {
        // influxd (User=influxdb) checks CAP_NET_ADMIN and carries on: denied with or
        // without a drop-in.
        let as_user = |n: u64| -> Vec<(Slot, i64)> {
            (0..n)
                .flat_map(|_| {
                    [
                        (
                            Slot::Capability {
                                name: "CAP_NET_ADMIN".into(),
                                granted: false,
                                during: "openat".into(),
                            },
                            EPERM,
                        ),
                        (
                            Slot::Identity(IdentitySlot::UnprivilegedCapability(
                                "CAP_NET_ADMIN as 108 during openat".into(),
                            )),
                            EPERM,
                        ),
                    ]
                })
                .collect()
        };
        let unit = "CapabilityBoundingSet=\nUser=influxdb\nNoNewPrivileges=yes\n";
        let obs = observed(&as_user(3));
        assert!(denials(&obs, &Sandbox::parse(unit)).is_empty());
        // Ambient, it would have been held: the bounding set took it.
        let ambient = format!("{unit}AmbientCapabilities=cap_net_admin\n");
        assert_eq!(denials(&obs, &Sandbox::parse(&ambient)).len(), 1);
        // Without NoNewPrivileges= an exec may gain it from a file capability.
        let nnp_off = "CapabilityBoundingSet=\nUser=influxdb\nNoNewPrivileges=no\n";
        assert_eq!(denials(&obs, &Sandbox::parse(nnp_off)).len(), 1);
        // A root service: the bounding set is what denied it.
        let root = "CapabilityBoundingSet=\nNoNewPrivileges=yes\n";
        assert_eq!(denials(&obs, &Sandbox::parse(root)).len(), 1);
        // One more check, made as root (an ExecStartPre=+): reported.
        let mut mixed = as_user(3);
        mixed.push((
            Slot::Capability {
                name: "CAP_NET_ADMIN".into(),
                granted: false,
                during: "openat".into(),
            },
            EPERM,
        ));
        let d = one(&observed(&mixed), &Sandbox::parse(unit));
        assert_eq!(d.fix, "add CapabilityBoundingSet=CAP_NET_ADMIN");
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

    const ENOSYS: i64 = -38;

    #[test]
    fn clone3_answered_enosys_under_restrict_namespaces_is_on_purpose() {
        // pg_ctl under a drop-in that allows clone3: RestrictNamespaces= answers every clone3
        // with ENOSYS so glibc falls back to clone. Nothing to add, nothing to blame.
        let obs = observed(&[(Slot::Refused("clone3".into()), ENOSYS)]);
        assert!(denials(&obs, &sandbox()).is_empty());
        // Without RestrictNamespaces, an allow-list without clone3 did refuse it.
        let bare = Sandbox::parse("SystemCallFilter=read write\nSystemCallErrorNumber=1\n");
        let d = one(&observed(&[(Slot::Refused("clone3".into()), EPERM)]), &bare);
        assert_eq!(d.fix, "add SystemCallFilter=clone3");
    }

    #[test]
    fn a_call_the_filter_allows_is_blamed_on_the_directive_that_refused_it() {
        let strict = Sandbox::parse(
            "SystemCallFilter=personality sched_setscheduler mmap read\nSystemCallErrorNumber=1\n\
             LockPersonality=yes\nRestrictRealtime=yes\nMemoryDenyWriteExecute=yes\n",
        );
        let obs = observed(&[
            (Slot::Refused("personality".into()), EPERM),
            (Slot::Refused("sched_setscheduler".into()), EPERM),
            (Slot::Refused("mmap".into()), EPERM),
        ]);
        let lines: Vec<String> = denials(&obs, &strict)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "svc: syscall mmap -> EPERM 1x: MemoryDenyWriteExecute=yes; set MemoryDenyWriteExecute=no",
                "svc: syscall personality -> EPERM 1x: LockPersonality=yes; set LockPersonality=no",
                "svc: syscall sched_setscheduler -> EPERM 1x: RestrictRealtime=yes; set RestrictRealtime=no",
            ]
        );
        // Refused while nothing the unit sets refuses it: the program's own filter.
        let none = Sandbox::parse("SystemCallFilter=~\n");
        assert!(denials(&obs, &none).is_empty());
    }

    #[test]
    fn enosys_for_a_name_systemd_does_not_know_is_not_the_filters_to_fix() {
        // From 255 an allow-list answers ENOSYS for calls outside @known (and EPERM, its own
        // errno, for known ones it lacks).
        let obs = observed(&[
            (Slot::Refused("mseal".into()), ENOSYS),
            (Slot::Refused("getpriority".into()), EPERM),
        ]);
        let d = one(&obs, &sandbox());
        assert_eq!(d.operation, "syscall getpriority");
        // With ENOSYS as the filter's own errno, ENOSYS is the filter's answer to anything.
        let enosys = Sandbox::parse("SystemCallFilter=read\nSystemCallErrorNumber=38\n");
        assert_eq!(denials(&obs, &enosys).len(), 2);
    }

    #[test]
    fn a_fix_path_is_escaped_for_the_unit_file() {
        let obs = observed(&[(
            Slot::Path("/srv/my app/100%/x".into(), Access::Create),
            EROFS,
        )]);
        let d = one(&obs, &sandbox());
        assert_eq!(d.fix, "add ReadWritePaths=\"-/srv/my app/100%%\"");
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
