//! Policy: which directive values a profile's observations permit.
//!
//! Each directive is data: its values from most to least restrictive, each with the observed
//! behaviour that forbids it. The resolver takes the first value nothing forbids; when every
//! value is forbidden the directive is left unset, and the evidence says why. Directives with
//! list values (paths, capabilities, families, syscalls) are computed from the observations.
//! Nothing here knows about eBPF or talks to systemd: it reads profiles and drop-in text
//! only (uses `model` and `util`). Besides generating: what a deployed sandbox denies
//! (`denials`), whether a drop-in permits a profile (`verify`), drop-in syntax (`unit_file`).
pub mod denials;
pub mod filter_groups;
pub mod host_mounts;
pub mod identity;
pub mod margin;
pub mod paths;
pub mod peers;
pub mod programs;
pub mod small;
pub mod sources;
pub mod unit_file;
pub mod unit_settings;
pub mod users;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    model::observations::{Access, Seen},
    model::profile::Profile,
};
use filter_groups::SyscallGroups;
use margin::Margin;

/// One directive as resolved: the lines to write (none: left unset) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub directive: &'static str,
    pub lines: Vec<String>,
    pub evidence: Vec<String>,
}

impl Decision {
    /// The words its last line lists (`CapabilityBoundingSet=A B`: A and B); none when it
    /// is unset or only reset.
    pub fn listed(&self) -> Vec<String> {
        self.lines
            .last()
            .and_then(|l| l.strip_prefix(self.directive)?.strip_prefix('='))
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// Every directive, in the order the drop-in lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub systemd: u32,
    pub decisions: Vec<Decision>,
}

impl Policy {
    pub fn decision(&self, directive: &str) -> Option<&Decision> {
        self.decisions.iter().find(|d| d.directive == directive)
    }

    /// The value of `directive`'s last line, or None when unset.
    pub fn value(&self, directive: &str) -> Option<&str> {
        let line = self.decision(directive)?.lines.last()?;
        line.split_once('=').map(|(_, v)| v)
    }
}

/// A value of a directive, and what forbids it.
struct Choice {
    value: &'static str,
    /// Some(evidence) when the profile shows behaviour this value would break.
    forbidden_by: fn(&Profile) -> Option<String>,
}

/// A directive whose values are fixed words.
struct Toggle {
    directive: &'static str,
    /// First systemd version that knows it.
    since: u32,
    choices: &'static [Choice],
}

fn listing(map: &BTreeMap<String, Seen>, what: &str) -> Option<String> {
    let (key, seen) = map.iter().next()?;
    let by: Vec<&str> = seen.by.iter().collect();
    Some(format!(
        "{what} {key} by {} ({}x){}",
        by.join(","),
        seen.count,
        and_more(map.len())
    ))
}

/// ` (and N more)` after the first of `len` entries named, or nothing.
pub(crate) fn and_more(len: usize) -> String {
    match len {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    }
}

/// A module syscall counted without its fact: recorded on a kernel without module support
/// (no tracepoints for them there), or its events were lost. Either way the service tried.
fn module_calls_counted(p: &Profile) -> Option<String> {
    crate::model::observations::MODULE_SYSCALLS
        .iter()
        .find_map(|name| Some(format!("called {name} ({}x)", p.syscalls.get(*name)?)))
}

fn facts(p: &Profile) -> &crate::model::observations::Facts {
    &p.observations.facts
}

/// Paths under /home, /root or /run/user that were written.
fn home_writes(p: &Profile) -> Option<String> {
    let written: BTreeMap<String, Seen> = facts(p)
        .home
        .keys()
        .filter_map(|path| {
            let accesses = p.observations.paths.get(path)?;
            let mut w = Seen::default();
            for (a, s) in accesses.iter().filter(|(a, _)| a.writes()) {
                let _ = a;
                w.merge(s);
            }
            (w.ok > 0).then(|| (path.clone(), w))
        })
        .collect();
    listing(&written, "wrote")
}

/// /tmp entries the service used but did not create: shared with other processes, which a
/// private /tmp would hide. Only a successful create makes an entry the service's own (a
/// failed one, `mkdir /tmp` answered EEXIST, created nothing), and only what lies below it
/// at a `/` boundary. A unix socket bound there is for other processes to connect to.
/// Under the unit's own PrivateTmp=yes nothing there was shared: what the recording saw used
/// but not created, the service made before the recording (jetty's work directory, deleted
/// by the instance the recording's restart stopped).
/// Nor may a file one recording found there, used but never made (`facts.tmp_found`), be
/// taken for the service's own because another recording made it: ZooKeeper's first start
/// makes /tmp/zookeeper, every later start reads its data there, and a private /tmp would
/// start each run with none.
fn tmp_shared(p: &Profile) -> Option<String> {
    if p.unit
        .as_ref()
        .and_then(|u| u.settings.get("PrivateTmp"))
        .is_some_and(|v| v == "yes")
    {
        return None;
    }
    if let Some(found) = listing(
        &facts(p).tmp_found,
        "used without making it, so there before the run (its own earlier state, or another program's):",
    ) {
        return Some(found);
    }
    let is_top = |path: &str| ["/tmp", "/var/tmp"].contains(&path);
    let created: BTreeSet<&String> = p
        .observations
        .paths
        .iter()
        .filter(|(path, a)| {
            !is_top(path)
                && a.iter()
                    .any(|(k, s)| matches!(k, Access::Create | Access::Mknod) && s.ok > 0)
        })
        .map(|(path, _)| path)
        .collect();
    let below = |path: &str, dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
    let shared: BTreeMap<String, Seen> = facts(p)
        .tmp
        .iter()
        .filter(|(path, seen)| {
            let bound = p
                .observations
                .paths
                .get(*path)
                .and_then(|a| a.get(&Access::Bind))
                .is_some_and(|s| s.ok > 0);
            let own = created.iter().any(|c| below(path, c));
            bound || (!is_top(path) && !own && seen.ok > 0)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    listing(&shared, "used")
}

fn mounts(p: &Profile) -> Option<String> {
    [
        "mount",
        "umount2",
        "pivot_root",
        "move_mount",
        "fsmount",
        "open_tree",
    ]
    .iter()
    .find(|s| p.syscalls.contains_key(**s))
    .map(|s| format!("called {s}"))
}

fn personality_changes(p: &Profile) -> Option<String> {
    let changes: BTreeMap<String, Seen> = facts(p)
        .personality
        .iter()
        .filter(|(v, _)| !["0x0", "0xffffffff"].contains(&v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    listing(&changes, "personality")
}

/// What RestrictRealtime= refuses. Its seccomp filter (seccomp_restrict_realtime) answers
/// sched_setscheduler with EPERM for every policy but SCHED_OTHER, SCHED_BATCH and SCHED_IDLE,
/// compared as the whole argument: SCHED_ISO, SCHED_DEADLINE, SCHED_EXT, and any policy ORed
/// with SCHED_RESET_ON_FORK are refused too. sched_setattr is not filtered, but the
/// RLIMIT_RTPRIO of 0 it sets refuses realtime policies there without CAP_SYS_NICE.
fn realtime(p: &Profile) -> Option<String> {
    const PERMITTED: &[&str] = &["SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE"];
    let rt: BTreeMap<String, Seen> = facts(p)
        .scheduling
        .iter()
        .filter(|(v, s)| {
            let (policy, via) = v.split_once(" via ").unwrap_or((v.as_str(), ""));
            s.ok > 0
                && match via {
                    "sched_setscheduler" => !PERMITTED.contains(&policy),
                    _ => ["SCHED_FIFO", "SCHED_RR", "SCHED_DEADLINE"]
                        .iter()
                        .any(|x| policy.starts_with(x)),
                }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    listing(&rt, "set")
}

/// Whether a socket (`FAMILY/TYPE`; netlink ones `AF_NETLINK/TYPE/PROTOCOL`) needs the
/// host's network namespace. Unix sockets with a path do not. Netlink sockets do, whatever
/// the protocol: in a private namespace rtnetlink, sock_diag and netfilter see only its
/// loopback, udev's device events (sent from udevd's namespace) never arrive, the audit log
/// is multicast in the host's namespace only, and several protocols (SELinux, iSCSI) exist
/// only there.
fn needs_host_network(socket: &str) -> bool {
    !socket.starts_with("AF_UNIX/")
}

/// Families that need a network namespace shared with the host.
fn network(p: &Profile) -> Option<String> {
    // A lookup or a connect that had nowhere to go without a network (see peers::reach_unseen):
    // on a networked host it goes on, over IP.
    if let Some(why) = peers::reach_unseen(p) {
        return Some(why);
    }
    let o = &p.observations;
    let net: BTreeMap<String, Seen> = o
        .sockets
        .iter()
        .filter(|(k, s)| s.ok > 0 && needs_host_network(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(e) = listing(&net, "opened") {
        return Some(e);
    }
    // Abstract unix sockets live in the network namespace.
    let abstract_: BTreeMap<String, Seen> = o
        .binds
        .iter()
        .chain(&o.connects)
        .chain(o.peers.iter().flat_map(|p| &p.sent_to))
        .filter(|(k, _)| k.starts_with("AF_UNIX @"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(e) = listing(&abstract_, "used abstract socket") {
        return Some(e);
    }
    // What it read of the host's network (sar's interface and socket counters, NFS's): in a
    // network namespace of its own it would read loopback's only, and succeed all the same.
    let state: BTreeMap<String, Seen> = o
        .paths
        .iter()
        .filter(|(path, _)| is_network_state(path))
        .filter_map(|(path, accesses)| {
            let seen = accesses.get(&Access::Read).filter(|s| s.ok > 0)?;
            Some((path.clone(), seen.clone()))
        })
        .collect();
    listing(&state, "read the host's network state in")
}

/// Files that show the reader's own network namespace: /proc/net (a link to /proc/self/net)
/// and the interfaces in sysfs. Another process's /proc/PID/net (the collector's `[pid]`)
/// shows that process's namespace, which a namespace of the reader's own does not change
/// (learner reading PID 1's routes).
fn is_network_state(path: &str) -> bool {
    let in_proc = path.strip_prefix("/proc/").is_some_and(|rest| {
        let rest = match rest.split_once('/') {
            Some(("self" | "thread-self", rest)) => rest,
            _ => rest,
        };
        rest == "net" || rest.starts_with("net/")
    });
    in_proc || path == "/sys/class/net" || path.starts_with("/sys/class/net/")
}

/// Whether a capability the drop-in keeps was granted for a need: checked and granted, and
/// not only as known noise.
fn kept_capability(p: &Profile, cap: &str) -> bool {
    p.observations.capabilities.get(cap).is_some_and(|checks| {
        !grants_are_noise(cap, checks, &p.observations)
            && checks.granted.as_ref().is_some_and(|g| g.count > 0)
    })
}

/// A toggle that also drops capabilities from the bounding set (unit_patch_contexts() in
/// unit.c): kept ones forbid it, or the drop-in would grant them and take them away again.
fn strips_kept(p: &Profile, caps: &[&str]) -> Option<String> {
    let kept: Vec<&str> = caps
        .iter()
        .copied()
        .filter(|c| kept_capability(p, c))
        .collect();
    (!kept.is_empty()).then(|| {
        format!(
            "{} granted, and it drops {} from the bounding set",
            kept.join(", "),
            match caps.len() {
                1 => "that",
                _ => "them",
            }
        )
    })
}

/// Every path at or below one of `dirs`, with every access to it.
fn paths_under<'a>(
    p: &'a Profile,
    dirs: &'a [&str],
) -> impl Iterator<Item = (&'a String, &'a crate::model::observations::Accesses)> + 'a {
    p.observations.paths.iter().filter(move |(path, _)| {
        dirs.iter()
            .any(|d| path.as_str() == *d || path.starts_with(&format!("{d}/")))
    })
}

/// What the paths under `dirs` saw, for `accesses` that pass `which`, with any success.
fn used_under(
    p: &Profile,
    dirs: &[&str],
    which: fn(crate::model::observations::Access) -> bool,
    what: &str,
) -> Option<String> {
    let used: BTreeMap<String, Seen> = paths_under(p, dirs)
        .filter_map(|(path, accesses)| {
            let mut seen = Seen::default();
            for (_, s) in accesses.iter().filter(|(a, _)| which(**a)) {
                seen.merge(s);
            }
            (seen.ok > 0).then(|| (path.clone(), seen))
        })
        .collect();
    listing(&used, what)
}

/// The syscalls PrivateDevices= denies with its own filter (@raw-io).
const RAW_IO: &[&str] = &[
    "ioperm",
    "iopl",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
];

/// The nodes PrivateDevices='s /dev has as the host's does (mount_private_dev() in
/// namespace.c): opening one with O_CREAT, as a shell's `>` does, creates nothing either way.
pub const ALWAYS_IN_DEV: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
];

/// PrivateDevices=yes: a fresh /dev with the pseudo devices only (mount_private_dev() in
/// namespace.c), CAP_MKNOD and CAP_SYS_RAWIO dropped, @raw-io denied, DevicePolicy=closed.
/// Entries the service makes in /dev (binding /dev/log, mknod) would be in that private
/// /dev, unseen by anyone else; /dev/shm, /dev/mqueue and /dev/hugepages are the host's.
fn private_devices(p: &Profile) -> Option<String> {
    device_used(p)
        .or_else(|| {
            let made: BTreeMap<String, Seen> = paths_under(p, &["/dev"])
                .filter(|(path, _)| {
                    !["/dev/shm", "/dev/mqueue", "/dev/hugepages"]
                        .iter()
                        .any(|d| path.starts_with(&format!("{d}/")))
                })
                .filter_map(|(path, accesses)| {
                    let mut seen = Seen::default();
                    // Writing to a node is reading or writing the device; these change /dev.
                    // An O_CREAT open of a node that always exists (`cmd > /dev/null` in a
                    // shell) creates nothing: the kernel does not say, but the private /dev
                    // has these too.
                    let always = ALWAYS_IN_DEV.contains(&path.as_str());
                    for (_, s) in accesses.iter().filter(|(a, _)| {
                        a.writes()
                            && !matches!(
                                a,
                                crate::model::observations::Access::Write
                                    | crate::model::observations::Access::Truncate
                            )
                            && !(always && **a == crate::model::observations::Access::Create)
                    }) {
                        seen.merge(s);
                    }
                    (seen.ok > 0).then(|| (path.clone(), seen))
                })
                .collect();
            listing(&made, "created or changed")
        })
        .or_else(|| strips_kept(p, &["CAP_MKNOD", "CAP_SYS_RAWIO"]))
        .or_else(|| {
            RAW_IO
                .iter()
                .find(|s| p.syscalls.contains_key(**s))
                .map(|s| format!("called {s}, which it denies (@raw-io)"))
        })
}

/// The first device node the service used, and how. One it only looked for and did not find
/// counts too: a node that appears later (a USB serial port, hardware a daemon probes for)
/// would never appear in the private /dev.
fn device_used(p: &Profile) -> Option<String> {
    let devices = &facts(p).devices;
    let (dev, seen) = devices.iter().next()?;
    let looked_up_only = p.observations.paths.get(dev).is_some_and(|a| {
        a.keys()
            .all(|k| *k == crate::model::observations::Access::Lookup)
    });
    let how = if looked_up_only {
        "looked up"
    } else {
        "opened"
    };
    let missing =
        if seen.ok == 0 && !seen.errors.is_empty() && seen.errors.keys().all(|e| e == "ENOENT") {
            ", not there: one that appears later would stay hidden"
        } else {
            ""
        };
    Some(format!(
        "{how} {dev} by {} ({}x{missing}){}",
        seen.by.joined(),
        seen.count,
        and_more(devices.len())
    ))
}

/// The /proc files ProtectKernelTunables= makes read-only (protect_kernel_tunables_table in
/// namespace.c), and the ones it makes inaccessible.
const TUNABLES_READ_ONLY: &[&str] = &[
    "/proc/acpi",
    "/proc/apm",
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/latency_stats",
    "/proc/mtrr",
    "/proc/scsi",
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/timer_stats",
    "/sys",
];
const TUNABLES_INACCESSIBLE: &[&str] = &["/proc/kallsyms", "/proc/kcore"];

/// ProtectKernelTunables=yes: writes there fail, and reads of the inaccessible ones. /sys/fs/
/// selinux stays writable, and the cgroup tree is ProtectControlGroups='s.
fn kernel_tunables(p: &Profile) -> Option<String> {
    used_under(p, TUNABLES_INACCESSIBLE, |_| true, "used").or_else(|| {
        let written: BTreeMap<String, Seen> = paths_under(p, TUNABLES_READ_ONLY)
            .filter(|(path, _)| {
                !["/sys/fs/selinux", "/sys/fs/cgroup"]
                    .iter()
                    .any(|d| path.as_str() == *d || path.starts_with(&format!("{d}/")))
            })
            .filter_map(|(path, accesses)| {
                let mut seen = Seen::default();
                for (_, s) in accesses.iter().filter(|(a, _)| a.writes()) {
                    seen.merge(s);
                }
                (seen.count > 0).then(|| (path.clone(), seen))
            })
            .collect();
        listing(&written, "wrote")
    })
}

/// Whether the service asked the kernel for the host's name (uname, or /proc/sys/kernel's
/// hostname or domainname read). ProtectHostname=yes gives it a UTS namespace of its own,
/// which freezes the name it sees: a host renamed while it runs (hostnamectl, a name from
/// DHCP) reaches it only at its next start (lldpd kept advertising the old name in LLDP),
/// and a recording cannot tell a program that reads the name once from one that follows
/// it. What the namespace protects, the host's name, takes CAP_SYS_ADMIN to change, which
/// the bounding set already keeps from almost every service.
fn reads_host_name(p: &Profile) -> Option<String> {
    if let Some(n) = p.syscalls.get("uname").filter(|n| **n > 0) {
        return Some(format!(
            "it asked for the host's name (uname {n}x): in a UTS namespace of its own it would keep the name it started with when the host is renamed"
        ));
    }
    let read = p.observations.paths.iter().find(|(path, a)| {
        matches!(
            path.as_str(),
            "/proc/sys/kernel/hostname" | "/proc/sys/kernel/domainname"
        ) && a.contains_key(&Access::Read)
    })?;
    Some(format!(
        "it read {}: in a UTS namespace of its own it would keep the name it started with when the host is renamed",
        read.0
    ))
}

/// Before systemd 252, ProtectClock=yes added `DeviceAllow=char-rtc r` whatever the device
/// policy (unit_patch_contexts() in unit.c; PR #25075 made it conditional), and with
/// DevicePolicy=auto a single DeviceAllow= entry shuts out every device not listed.
const CLOCK_CLOSES_DEVICES: std::ops::RangeInclusive<u32> = 245..=251;

const TOGGLES_FS: &[Toggle] = &[
    Toggle {
        directive: "ProtectHome",
        since: 232,
        choices: &[
            Choice {
                value: "yes",
                forbidden_by: |p| {
                    paths::watches_file_systems(p).or_else(|| listing(&facts(p).home, "accessed"))
                },
            },
            Choice {
                value: "tmpfs",
                forbidden_by: |p| {
                    paths::watches_file_systems(p).or_else(|| paths::home_outside_own(p))
                },
            },
            Choice {
                value: "read-only",
                forbidden_by: home_writes,
            },
        ],
    },
    Toggle {
        directive: "PrivateTmp",
        since: 0,
        choices: &[
            Choice {
                value: "disconnected",
                forbidden_by: small::tmp_on_disk,
            },
            Choice {
                value: "yes",
                forbidden_by: tmp_shared,
            },
        ],
    },
    Toggle {
        directive: "PrivateDevices",
        since: 0,
        choices: &[Choice {
            value: "yes",
            forbidden_by: private_devices,
        }],
    },
    Toggle {
        directive: "ProtectKernelTunables",
        since: 232,
        choices: &[Choice {
            value: "yes",
            forbidden_by: kernel_tunables,
        }],
    },
    Toggle {
        directive: "ProtectKernelModules",
        since: 232,
        choices: &[Choice {
            value: "yes",
            // /usr/lib/modules and /lib/modules become inaccessible
            // (protect_kernel_modules_table in namespace.c).
            forbidden_by: |p| {
                listing(&facts(p).module_loading, "called")
                    .or_else(|| module_calls_counted(p))
                    .or_else(|| strips_kept(p, &["CAP_SYS_MODULE"]))
                    .or_else(|| {
                        used_under(p, &["/usr/lib/modules", "/lib/modules"], |_| true, "read")
                    })
            },
        }],
    },
    Toggle {
        directive: "ProtectKernelLogs",
        since: 244,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| {
                listing(&facts(p).kernel_logs, "read").or_else(|| strips_kept(p, &["CAP_SYSLOG"]))
            },
        }],
    },
    Toggle {
        directive: "ProtectControlGroups",
        since: 232,
        choices: &[
            Choice {
                value: "strict",
                forbidden_by: small::cgroup_namespace,
            },
            Choice {
                value: "yes",
                forbidden_by: |p| listing(&facts(p).cgroup_writes, "wrote"),
            },
        ],
    },
    Toggle {
        directive: "ProtectClock",
        since: 245,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| {
                listing(&facts(p).clock_changes, "called")
                    .or_else(|| strips_kept(p, &["CAP_SYS_TIME", "CAP_WAKE_ALARM"]))
            },
        }],
    },
    Toggle {
        directive: "ProtectHostname",
        since: 242,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| {
                listing(&facts(p).hostname_changes, "called").or_else(|| reads_host_name(p))
            },
        }],
    },
    Toggle {
        directive: "ProtectProc",
        since: 247,
        choices: &[Choice {
            value: "invisible",
            forbidden_by: |p| listing(&facts(p).other_processes_proc, "read"),
        }],
    },
    Toggle {
        directive: "ProcSubset",
        since: 247,
        choices: &[Choice {
            value: "pid",
            forbidden_by: |p| listing(&facts(p).proc_system_files, "read"),
        }],
    },
    Toggle {
        directive: "PrivateMounts",
        since: 239,
        choices: &[Choice {
            value: "yes",
            forbidden_by: mounts,
        }],
    },
];

const TOGGLES_PROCESS: &[Toggle] = &[
    Toggle {
        directive: "NoNewPrivileges",
        since: 0,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| listing(&facts(p).privileged_execs, "executed"),
        }],
    },
    Toggle {
        directive: "RestrictSUIDSGID",
        since: 242,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| listing(&facts(p).suid_sgid_modes, "set"),
        }],
    },
    Toggle {
        directive: "LockPersonality",
        since: 235,
        choices: &[Choice {
            value: "yes",
            forbidden_by: personality_changes,
        }],
    },
    Toggle {
        directive: "RestrictRealtime",
        since: 231,
        choices: &[Choice {
            value: "yes",
            forbidden_by: realtime,
        }],
    },
    Toggle {
        directive: "MemoryDenyWriteExecute",
        since: 231,
        choices: &[Choice {
            value: "yes",
            forbidden_by: |p| listing(&facts(p).write_execute_memory, "used"),
        }],
    },
];

const TOGGLE_NETWORK: Toggle = Toggle {
    directive: "PrivateNetwork",
    since: 0,
    choices: &[Choice {
        value: "yes",
        forbidden_by: network,
    }],
};

fn resolve_toggle(t: &Toggle, p: &Profile, systemd: u32) -> Decision {
    let mut evidence = Vec::new();
    if systemd < t.since {
        evidence.push(format!(
            "not set: systemd {systemd} does not know it (needs {})",
            t.since
        ));
        return Decision {
            directive: t.directive,
            lines: vec![],
            evidence,
        };
    }
    for choice in t.choices {
        if let Some(since) = small::value_since(t.directive, choice.value)
            && systemd < since
        {
            evidence.push(format!(
                "not {}: systemd {systemd} does not know it (needs {since})",
                choice.value
            ));
            continue;
        }
        match (choice.forbidden_by)(p) {
            None => {
                evidence.push(match evidence.is_empty() {
                    true => "nothing observed needs more".to_owned(),
                    false => "the rest observed is allowed by it".to_owned(),
                });
                return Decision {
                    directive: t.directive,
                    lines: vec![format!("{}={}", t.directive, choice.value)],
                    evidence,
                };
            }
            Some(why) => evidence.push(format!("not {}: {why}", choice.value)),
        }
    }
    Decision {
        directive: t.directive,
        lines: vec![],
        evidence,
    }
}

/// Syscalls at which CAP_SYS_ADMIN is checked to charge memory (cap_vm_enough_memory): for
/// mappings, new processes, and page faults that grow the stack. The check never denies
/// anything, so it is noise, not a need.
const MEMORY_ACCOUNTING: &[&str] = &[
    crate::model::observations::IN_PAGE_FAULT_NAME,
    "mmap",
    "mprotect",
    "mremap",
    "munmap",
    "brk",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "shmat",
    "?",
];

/// Calls that need no capability for anything they do, and that write their results into
/// the caller's memory: CAP_SYS_ADMIN checked during one is that memory charged (a stack
/// page grown for a stat buffer, cap_vm_enough_memory), never a need. Measured: 1 to 4
/// such checks during newfstatat in tinc's hook scripts and dpkg-db-backup's cp, mv and
/// savelog, all root, among thousands during mmap and brk.
const RESULTS_ONLY: &[&str] = &[
    "newfstatat",
    "fstat",
    "stat",
    "lstat",
    "statx",
    "statfs",
    "fstatfs",
    "getdents",
    "getdents64",
    "uname",
    "getcwd",
    "readlink",
    "readlinkat",
    "sysinfo",
    "wait4",
    "waitid",
    "getrusage",
    "times",
    "clock_gettime",
    "gettimeofday",
    "rt_sigaction",
    "rt_sigprocmask",
    "getrlimit",
];

/// Writes charge memory too, for pages written to tmpfs files (shmem accounting, e.g. a pid
/// file in /run). But a sysctl write checks CAP_SYS_ADMIN for real (kernel.dmesg_restrict,
/// kptr_restrict, tainted, unprivileged_bpf_disabled), and so do sysfs attributes: once
/// the service wrote under /proc/sys or /sys, a check during a write may be one of those.
const WRITE_FAMILY: &[&str] = &[
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "fallocate",
    "ftruncate",
    "truncate",
    "copy_file_range",
    "sendfile",
    "splice",
];

/// Whether the service wrote a kernel tunable: under /proc/sys or /sys, the cgroup tree aside.
pub(crate) fn wrote_tunables(obs: &crate::model::observations::Observations) -> bool {
    obs.paths.iter().any(|(path, accesses)| {
        let under = |d: &str| path.as_str() == d || path.starts_with(&format!("{d}/"));
        (under("/proc/sys") || under("/sys"))
            && !under("/sys/fs/cgroup")
            && accesses.iter().any(|(a, s)| a.writes() && s.ok > 0)
    })
}

/// Which syscalls' CAP_SYS_ADMIN checks are the memory they charge, for one recording.
pub(crate) struct Charges {
    /// Writes (see [`WRITE_FAMILY`]), unless the service wrote kernel tunables.
    writes: bool,
    /// Calls through which the service made a namespace (other than a user namespace, which
    /// needs no capability): CAP_SYS_ADMIN checked there is the namespace's, a real need
    /// (vsftpd's clone(CLONE_NEWNET) fails with EPERM without it).
    namespaces: BTreeSet<String>,
}

/// What charges memory in `obs`'s recording (see [`Charges`]).
pub(crate) fn charges(obs: &crate::model::observations::Observations) -> Charges {
    Charges {
        writes: !wrote_tunables(obs),
        namespaces: obs
            .facts
            .namespaces
            .iter()
            .filter(|(k, seen)| seen.ok > 0 && !k.starts_with("user "))
            .filter_map(|(k, _)| k.split_once(" via ").map(|(_, call)| call.to_owned()))
            .collect(),
    }
}

/// Whether a check of `cap` made during `d` is known noise: memory accounting, a socket
/// filter attached, or made with credentials that were not the process's own.
pub(crate) fn noise_during(cap: &str, d: &str, charges: &Charges) -> bool {
    d == crate::model::observations::OVERRIDDEN_CREDENTIALS
        || (cap == "CAP_SYS_ADMIN"
            && ((MEMORY_ACCOUNTING.contains(&d) && !charges.namespaces.contains(d))
                || RESULTS_ONLY.contains(&d)
                || (charges.writes && WRITE_FAMILY.contains(&d))
                || d == SOCKET_FILTER))
}

/// Where CAP_SYS_ADMIN is asked only for extras while a socket filter is attached
/// (SO_ATTACH_FILTER, SO_ATTACH_BPF: whether the JITed filter is listed in kallsyms, or
/// hardened, or may pass the JIT's memory limit, which only a host out of JIT memory
/// reaches): attaching one needs no capability, and no socket option needs CAP_SYS_ADMIN
/// itself. keepalived's two filters per start attached,
/// and it took over its VIP, with CAP_SYS_ADMIN dropped from its bounding set (measured).
const SOCKET_FILTER: &str = "setsockopt";

/// Whether every check of `cap` was known noise (see `noise_during`). `obs` is the rest of
/// the recording.
pub fn is_capability_noise(
    cap: &str,
    checks: &crate::model::observations::CapabilityChecks,
    obs: &crate::model::observations::Observations,
) -> bool {
    let charges = charges(obs);
    checks.during.keys().all(|d| noise_during(cap, d, &charges))
}

/// Whether every check of `cap` that was granted was known noise: then no grant shows a
/// need, whatever was denied meanwhile. A non-root service's own checks are denied (it holds
/// nothing) while overlayfs's, made with its mounter's credentials, are granted. Profiles of
/// older learners do not tell grants apart: all checks must be noise then.
pub fn grants_are_noise(
    cap: &str,
    checks: &crate::model::observations::CapabilityChecks,
    obs: &crate::model::observations::Observations,
) -> bool {
    let granted = checks.granted.as_ref().map_or(0, |g| g.count);
    let told_apart: u64 = checks.granted_during.values().sum();
    if granted == 0 || told_apart < granted {
        return is_capability_noise(cap, checks, obs);
    }
    let charges = charges(obs);
    checks
        .granted_during
        .keys()
        .all(|d| noise_during(cap, d, &charges))
}

fn capabilities(p: &Profile) -> Decision {
    let mut keep = Vec::new();
    let mut evidence = Vec::new();
    for (cap, checks) in &p.observations.capabilities {
        let noise = is_capability_noise(cap, checks, &p.observations);
        let listed = |m: &BTreeMap<String, u64>| -> Vec<String> {
            m.iter().map(|(s, n)| format!("{s} {n}x")).collect()
        };
        let during = listed(&checks.during);
        match (&checks.granted, &checks.denied) {
            _ if noise => evidence.push(format!(
                "{cap}: only checked while memory was charged or with overridden credentials ({}): noise, not kept",
                during.join(", ")
            )),
            (_, Some(d)) if grants_are_noise(cap, checks, &p.observations) => {
                let by: Vec<&str> = d.by.iter().collect();
                evidence.push(format!(
                    "{cap}: only granted while memory was charged or with overridden credentials ({}), and denied {}x to {} and the service carried on: not kept",
                    listed(&checks.granted_during).join(", "),
                    d.count,
                    by.join(",")
                ));
            }
            (Some(g), _) if g.count > 0 => {
                keep.push(cap.clone());
                let by: Vec<&str> = g.by.iter().collect();
                evidence.push(format!(
                    "{cap}: granted {}x to {}, during {}",
                    g.count,
                    by.join(","),
                    during.join(", ")
                ));
            }
            (_, Some(d)) => {
                let by: Vec<&str> = d.by.iter().collect();
                evidence.push(format!(
                    "{cap}: denied {}x to {} and the service carried on: not kept",
                    d.count,
                    by.join(",")
                ));
            }
            _ => {}
        }
    }
    let mut lines = vec!["CapabilityBoundingSet=".to_owned()];
    if !keep.is_empty() {
        lines.push(format!("CapabilityBoundingSet={}", keep.join(" ")));
    } else {
        evidence.push("no capability was needed: the bounding set is empty".into());
    }
    Decision {
        directive: "CapabilityBoundingSet",
        lines,
        evidence,
    }
}

/// With the standard margin, one IP family seen brings the other: on a dual-stack host the
/// same code reaches peers and listens over either (a name resolving to an IPv6 address, a
/// listener configured on `::`, BIRD's BFD opening an IPv6 socket at start, refused without
/// it), and `systemd-analyze security` scores AF_INET and AF_INET6 as one item
/// ("RestrictAddressFamilies=~AF_(INET|INET6)"), so the other costs no exposure.
fn address_families(p: &Profile, systemd: u32, margin: Margin) -> Decision {
    let mut families = BTreeSet::new();
    let mut evidence = Vec::new();
    for (desc, seen) in &p.observations.sockets {
        let family = desc.split('/').next().unwrap_or(desc);
        if seen.ok > 0 {
            families.insert(family.to_owned());
        } else {
            evidence.push(format!("{desc}: every socket() failed, not allowed"));
        }
    }
    for (family, seen) in families.iter().filter_map(|f| {
        p.observations
            .sockets
            .iter()
            .find(|(d, _)| d.starts_with(&format!("{f}/")))
            .map(|(_, s)| (f, s))
    }) {
        let by: Vec<&str> = seen.by.iter().collect();
        evidence.push(format!("{family}: socket() by {}", by.join(",")));
    }
    // Where a client's reaching out went nowhere (no network when recorded), the families it
    // uses on a networked host are IP's, whichever the answer to its lookup is.
    if let Some(why) = peers::reach_unseen(p) {
        for family in ["AF_INET", "AF_INET6"] {
            if families.insert(family.to_owned()) {
                evidence.push(format!("{family}: {why}"));
            }
        }
    }
    if margin == Margin::Standard {
        for (seen, other) in [("AF_INET", "AF_INET6"), ("AF_INET6", "AF_INET")] {
            if families.contains(seen) && families.insert(other.to_owned()) {
                evidence.push(format!(
                    "{other}: margin, the other IP family of {seen}: a dual-stack host's peers and listeners are reached over either, and systemd-analyze security scores the two as one (--margin exact: not added)"
                ));
            }
        }
    }
    let mut lines = vec!["RestrictAddressFamilies=".to_owned()];
    if families.is_empty() {
        if systemd >= 249 {
            lines.push("RestrictAddressFamilies=none".into());
            evidence.push("no socket() at all".into());
        } else {
            lines.push("RestrictAddressFamilies=AF_UNIX".into());
            evidence.push(format!("no socket() at all; systemd {systemd} has no `none` (249+), AF_UNIX is the narrowest list"));
        }
    } else {
        lines.push(format!(
            "RestrictAddressFamilies={}",
            families.into_iter().collect::<Vec<_>>().join(" ")
        ));
    }
    Decision {
        directive: "RestrictAddressFamilies",
        lines,
        evidence,
    }
}

fn namespaces(p: &Profile, systemd: u32) -> Decision {
    if systemd < 233 {
        return Decision {
            directive: "RestrictNamespaces",
            lines: vec![],
            evidence: vec![format!(
                "not set: systemd {systemd} does not know it (needs 233)"
            )],
        };
    }
    let mut types = BTreeSet::new();
    let mut evidence = Vec::new();
    for (fact, seen) in &p.observations.facts.namespaces {
        let ty = fact.split(' ').next().unwrap_or(fact);
        types.insert(ty.to_owned());
        evidence.push(format!("{fact} ({}x)", seen.count));
    }
    // systemd learnt the time namespace in 252; an older one rejects the whole assignment
    // when the list names it (and cannot restrict it anyway: it stays allowed).
    if systemd < 252 && types.remove("time") {
        evidence.push(format!(
            "time: systemd {systemd} does not know it (252+), which leaves it allowed; not listed, as it would void the whole line"
        ));
    }
    let lines = if types.contains("any") {
        evidence.push("setns() of any type: not restricted".into());
        vec![]
    } else if types.is_empty() {
        evidence.push("no namespace created or joined".into());
        vec!["RestrictNamespaces=yes".to_owned()]
    } else {
        // Reset first: systemd merges a list into a value set before (the unit's own
        // RestrictNamespaces=no would keep every type allowed).
        vec![
            "RestrictNamespaces=".to_owned(),
            format!(
                "RestrictNamespaces={}",
                types.into_iter().collect::<Vec<_>>().join(" ")
            ),
        ]
    };
    Decision {
        directive: "RestrictNamespaces",
        lines,
        evidence,
    }
}

/// Pairs of calls glibc uses for one operation: it tries the newer and falls back to the older
/// when that fails with ENOSYS. Which one a recording sees depends on the glibc, the kernel and
/// any filter in place while recording (one that refused the newer call hides it), so both are
/// allowed whichever was seen: a filter that denies the newer one with EPERM (systemd before
/// 255) stops the fallback, and clone3 refused that way breaks every new thread.
/// The third field: glibc itself issues the newer call for what the older one does
/// (pthread_create, faccessat with flags, fchmodat with AT_SYMLINK_NOFOLLOW), so seeing the
/// older one means the newer may come; openat2 and statx are only called on purpose.
const FALLBACKS: &[(&str, &str, bool)] = &[
    ("clone3", "clone", true),
    ("faccessat2", "faccessat", true),
    ("fchmodat2", "fchmodat", true),
    ("statx", "newfstatat", false),
    ("openat2", "openat", false),
];

fn syscall_filter(p: &Profile, groups: &SyscallGroups, margin: Margin) -> Decision {
    let mut evidence = Vec::new();
    let mut wanted: BTreeSet<String> = p.syscalls.keys().cloned().collect();
    // What a recording cannot see: signal returns happen only when a signal is handled.
    for extra in ["rt_sigreturn", "restart_syscall"] {
        if wanted.insert(extra.to_owned()) {
            evidence.push(format!(
                "{extra}: added, a recording only sees it when a signal arrives"
            ));
        }
    }
    // What systemd's own executor calls after it installed the filter, before the exec: the
    // exec_fd byte for Type=exec (v240+, write), the handoff timestamp (v256, send, which is
    // sendto on most ABIs; write from 257). Denied, the service never starts.
    let executor: &[&str] = match groups.version {
        ..=239 => &[],
        240..=255 => &["write"],
        _ => &["write", "sendto"],
    };
    for call in executor {
        if wanted.insert((*call).to_owned()) {
            evidence.push(format!(
                "{call}: added, systemd {}'s executor calls it after installing the filter",
                groups.version
            ));
        }
    }
    for (new, old, both_ways) in FALLBACKS {
        if wanted.contains(*new) && wanted.insert((*old).to_owned()) {
            evidence.push(format!("{old}: added as glibc's fallback for {new}"));
        }
        if *both_ways
            && wanted.contains(*old)
            && groups.known.contains(*new)
            && wanted.insert((*new).to_owned())
        {
            evidence.push(format!("{new}: added, glibc tries it before {old}"));
        }
    }
    let mut widened = BTreeSet::new();
    if margin == Margin::Standard {
        let (lines, added) = margin::widen(p, groups, &mut wanted);
        evidence.extend(lines);
        widened = added;
    }
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|s| !groups.known.contains(*s))
        .cloned()
        .collect();
    for name in &unknown {
        wanted.remove(name);
        evidence.push(format!(
            "{name}: observed but unknown to systemd {}: left out (it will fail)",
            groups.version
        ));
    }
    // @default is part of every allow-list.
    let default = groups.default_group();
    let mut rest: BTreeSet<String> = wanted.difference(&default).cloned().collect();
    // Whole groups where every member was observed; larger groups first.
    let mut candidates: Vec<(&String, &BTreeSet<String>)> = groups
        .groups
        .iter()
        .filter(|(g, _)| !["@default", "@known"].contains(&g.as_str()))
        .collect();
    candidates.sort_by_key(|(g, m)| (std::cmp::Reverse(m.len()), (*g).clone()));
    let mut chosen = Vec::new();
    for (group, members) in candidates {
        let needed: BTreeSet<&String> = members.iter().filter(|m| !default.contains(*m)).collect();
        if needed.len() >= 2
            && needed.iter().all(|m| wanted.contains(*m))
            && needed.iter().any(|m| rest.contains(*m))
        {
            for m in &needed {
                rest.remove(*m);
            }
            let how = if needed.iter().any(|m| widened.contains(*m)) {
                "observed or in the margin"
            } else {
                "observed"
            };
            evidence.push(format!("{group}: every member was {how}"));
            chosen.push(group.clone());
        }
    }
    evidence.push(format!(
        "{} syscalls observed; @default's are allowed implicitly",
        p.syscalls.len()
    ));
    let mut items = chosen;
    items.extend(rest);
    Decision {
        directive: "SystemCallFilter",
        lines: vec![
            "SystemCallFilter=".to_owned(),
            format!("SystemCallFilter={}", items.join(" ")),
        ],
        evidence,
    }
}

/// Directories that are never made writable whole without saying so.
fn is_top_level(path: &str) -> bool {
    path == "/" || path.matches('/').count() == 1
}

/// Directories shared by many services: a file written in place there is listed alone.
pub(crate) fn is_system_dir(path: &str) -> bool {
    const SHARED: &[&str] = &[
        "/var/lib",
        "/var/log",
        "/var/cache",
        "/var/spool",
        "/var/mail",
        "/usr/lib",
        "/usr/local",
        "/usr/share",
        "/usr/bin",
        "/usr/sbin",
    ];
    is_top_level(path) || SHARED.contains(&path)
}

/// What ReadWritePaths= must name for `access` to `path`, and whether that is a single file.
/// systemd bind-mounts a listed file by its inode, so the file that log rotation or an atomic
/// replace puts in its place is read-only again: a file written in place gets its directory,
/// unless that is a top-level or shared system one (then the file alone, and `true`).
pub fn read_write_path(path: &str, access: crate::model::observations::Access) -> (String, bool) {
    let target = crate::model::observations::writable_path(path, access);
    if target != path || crate::model::observations::folded_dir(path).is_some() {
        return (target, false);
    }
    match path.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() && !is_system_dir(dir) => (dir.to_owned(), false),
        _ => (target, true),
    }
}

/// A path as a unit file's path lists take it, after `prefix` (`-`): they split at
/// whitespace, unquote (a `\\` escapes the next character, in quotes too) and then expand `%`
/// specifiers (config_parse_namespace_path_strv() in load-fragment.c, without C unescaping:
/// systemd 252 reads `\x20` as `x20`). So a path with whitespace, quotes or backslashes is
/// written as one double-quoted word, `\\` and `"` escaped in it, and `%` as `%%`; measured
/// against systemd 252 in the e2e guest, `systemctl show` and a write under each. A line break
/// cannot be written at all: it is left as `\n`, which names another path.
pub fn path_word(prefix: &str, path: &str) -> String {
    let mut body = String::with_capacity(path.len());
    let mut quote = false;
    for c in path.chars() {
        match c {
            '%' => body.push_str("%%"),
            '\\' | '"' => {
                quote = true;
                body.push('\\');
                body.push(c);
            }
            '\n' => body.push_str("\\n"),
            '\r' => body.push_str("\\r"),
            c if c.is_whitespace() || c == '\'' || c.is_control() => {
                quote = true;
                body.push(c);
            }
            c => body.push(c),
        }
    }
    match quote {
        true => format!("\"{prefix}{body}\""),
        false => format!("{prefix}{body}"),
    }
}

/// [`path_word`] without a prefix.
pub fn unit_path(path: &str) -> String {
    path_word("", path)
}

/// `made`: directories systemd makes before the start (LogsDirectory= and its siblings), whose
/// own create needs nothing writable.
fn read_write_paths(p: &Profile, private_tmp: bool, made: &BTreeSet<String>) -> Decision {
    let mut evidence = Vec::new();
    // Each write needs the file itself writable; a new or removed directory entry needs its
    // directory writable.
    let mut needs: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut single_files = BTreeSet::new();
    // A place of one user's written by a service acting for users: every user's is needed.
    let for_users = users::acts_for_users(p);
    let mut widened: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    // Directories an O_TMPFILE open named (`DIR tmpfile MODE`): a write there is to the
    // directory itself.
    let tmpfile_dirs: BTreeSet<&str> = facts(p)
        .created_modes
        .keys()
        .filter_map(|k| match k.rsplitn(3, ' ').collect::<Vec<_>>()[..] {
            [_, "tmpfile", dir] => Some(dir),
            _ => None,
        })
        .collect();
    for (path, accesses) in &p.observations.paths {
        let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
        // API file systems stay writable under ProtectSystem=strict; a private /tmp is too.
        if under("/dev")
            || under("/proc")
            || under("/sys")
            || (private_tmp && (under("/tmp") || under("/var/tmp")))
        {
            continue;
        }
        for (access, seen) in accesses.iter().filter(|(a, s)| a.writes() && s.ok > 0) {
            if *access == crate::model::observations::Access::Create && made.contains(path) {
                continue;
            }
            let tmpfile_dir = *access == crate::model::observations::Access::Write
                && tmpfile_dirs.contains(path.as_str());
            let (mut target, mut file) = match tmpfile_dir {
                true => (path.clone(), false),
                false => read_write_path(path, *access),
            };
            if for_users.is_some()
                && let Some(root) = users::per_user_root(&target)
            {
                widened.entry(root).or_default().insert(target);
                (target, file) = (root.to_owned(), false);
            }
            if file {
                single_files.insert(target.clone());
            }
            let e = needs
                .entry(target)
                .or_insert_with(|| (path.clone(), BTreeSet::new()));
            e.1.extend(seen.by.iter().map(str::to_owned));
        }
    }
    if let Some(why) = &for_users {
        for (root, places) in &widened {
            let places: Vec<&str> = places.iter().map(String::as_str).collect();
            evidence.push(format!(
                "{root}: {} written, and {why}: each user's place under {root} is needed, not only the recorded users'",
                places.join(", ")
            ));
        }
    }
    // Collapse a directory's many files into the directory, but never into a top-level one.
    let mut by_parent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for target in needs.keys() {
        if let Some(parent) = std::path::Path::new(target).parent() {
            by_parent
                .entry(parent.to_string_lossy().into_owned())
                .or_default()
                .push(target.clone());
        }
    }
    let mut dirs: BTreeSet<String> = needs.keys().cloned().collect();
    for (parent, children) in by_parent {
        if children.len() >= 4 && !is_top_level(&parent) {
            for c in &children {
                dirs.remove(c);
            }
            evidence.push(format!(
                "{parent}: {} entries written, listed as one directory",
                children.len()
            ));
            dirs.insert(parent);
        }
    }
    // Drop what a listed directory covers.
    let listed: Vec<String> = dirs
        .iter()
        .filter(|d| {
            !dirs
                .iter()
                .any(|o| o != *d && d.starts_with(&format!("{o}/")))
        })
        .cloned()
        .collect();
    for d in &listed {
        if let Some((example, by)) = needs.get(d) {
            let by: Vec<&str> = by.iter().map(String::as_str).collect();
            let whole = if single_files.contains(d) {
                " (a file in a shared system directory, listed alone: one that rotation or an atomic replace puts in its place is read-only again)"
            } else if is_top_level(d) {
                " (a top-level directory, listed whole because of it)"
            } else {
                ""
            };
            evidence.push(format!("{d}: {example} written by {}{whole}", by.join(",")));
        }
    }
    let mut lines = vec!["ReadWritePaths=".to_owned()];
    if !listed.is_empty() {
        // `-`: a path missing at start is skipped instead of failing the unit (226/NAMESPACE).
        let items: Vec<String> = listed.iter().map(|d| path_word("-", d)).collect();
        lines.push(format!("ReadWritePaths={}", items.join(" ")));
    } else {
        evidence.push("nothing outside /dev, /proc, /sys and the private /tmp was written".into());
    }
    Decision {
        directive: "ReadWritePaths",
        lines,
        evidence,
    }
}

/// ProtectClock=yes on systemd 245 to 251 closes the device policy (see
/// [`CLOCK_CLOSES_DEVICES`]): with PrivateDevices= left unset because devices were used, it
/// would take them away, so ProtectClock yields.
fn clock_keeps_devices(toggles: &mut [Decision], systemd: u32) {
    if !CLOCK_CLOSES_DEVICES.contains(&systemd) {
        return;
    }
    let devices_open = toggles
        .iter()
        .any(|d| d.directive == "PrivateDevices" && d.lines.is_empty());
    if let Some(clock) = toggles
        .iter_mut()
        .find(|d| d.directive == "ProtectClock" && !d.lines.is_empty())
        && devices_open
    {
        clock.lines.clear();
        clock.evidence = vec![format!(
            "not yes: on systemd {systemd} it adds DeviceAllow=char-rtc r, which with DevicePolicy=auto shuts out every other device (fixed in 252), and PrivateDevices is unset because the service uses devices"
        )];
    }
}

/// Resolves every directive for `p`, for systemd `systemd`, with the syscall `margin`, on
/// top of the unit settings the profile recorded (if any).
pub fn resolve(p: &Profile, systemd: u32, groups: &SyscallGroups, margin: Margin) -> Policy {
    resolve_on(p, &unit_settings::of_profile(p), systemd, groups, margin)
}

/// [`resolve`] on top of `unit`, the unit's own settings (unit file first, in order).
pub fn resolve_on(
    p: &Profile,
    unit: &[unit_file::Assignment],
    systemd: u32,
    groups: &SyscallGroups,
    margin: Margin,
) -> Policy {
    let mut decisions = vec![match users::writes_in_homes(p) {
        None => Decision {
            directive: "ProtectSystem",
            lines: vec!["ProtectSystem=strict".into()],
            evidence: vec![
                "the whole file system read-only; writes are allowed by ReadWritePaths".into(),
            ],
        },
        Some(why) => Decision {
            directive: "ProtectSystem",
            lines: vec!["ProtectSystem=full".into()],
            evidence: vec![format!(
                "not strict: {why}: a user's home may lie anywhere (useradd -d), and strict would leave one outside /home read-only; full keeps /usr, /boot, /efi and /etc read-only"
            )],
        },
    }];
    let mut toggles: Vec<Decision> = TOGGLES_FS
        .iter()
        .map(|t| resolve_toggle(t, p, systemd))
        .collect();
    // Before what follows from them: a /tmp the unit keeps shared is a path like any other.
    unit_settings::written_grants(&mut toggles, unit, margin);
    let private_tmp = toggles
        .iter()
        .any(|d| d.directive == "PrivateTmp" && !d.lines.is_empty());
    clock_keeps_devices(&mut toggles, systemd);
    for d in toggles.iter_mut() {
        if d.directive == "PrivateMounts" && d.lines.is_empty() {
            d.evidence.push(
                "ProtectSystem=strict (like every file-system directive) gives the service its own mount namespace anyway: its mounts still do not reach the host, and the host's reach it (MountFlags=shared would send them back)".into(),
            );
        }
    }
    let (directories, made) = unit_settings::fresh_host_directories(p, unit, systemd);
    let mut rw = read_write_paths(p, private_tmp, &made);
    unit_settings::unit_read_write_paths(&mut rw, p, unit, margin);
    unit_settings::fresh_host(&mut rw, p, private_tmp);
    decisions.push(rw);
    decisions.extend(directories);
    let private_devices = toggles
        .iter()
        .any(|d| d.directive == "PrivateDevices" && !d.lines.is_empty());
    for d in toggles.iter_mut().filter(|d| d.directive == "ProtectHome") {
        paths::home_tmpfs_for(d, p, systemd);
    }
    decisions.extend(toggles);
    decisions.extend(paths::devices(p, private_devices));
    let mut hidden = paths::inaccessible_paths(p, systemd);
    unit_settings::unit_inaccessible_paths(&mut hidden, unit);
    decisions.push(hidden);
    decisions.extend(paths::exec_paths(p, systemd));
    decisions.extend(TOGGLES_PROCESS.iter().map(|t| {
        let mut d = resolve_toggle(t, p, systemd);
        if d.directive == "NoNewPrivileges" && !d.lines.is_empty() {
            d.evidence.push(
                "with SELinux (RHEL 8 and later), no_new_privs also refuses domain transitions the policy does not allow for it (nnp_transition): the exec of the service itself can fail; check the policy before applying".into(),
            );
        }
        d
    }));
    decisions.extend(small::TOGGLES.iter().map(|t| resolve_toggle(t, p, systemd)));
    decisions.push(namespaces(p, systemd));
    let mut caps = capabilities(p);
    let hands_over = unit_settings::fresh_host_capabilities(&mut caps, p, unit);
    unit_settings::within_unit_bounding_set(&mut caps, unit);
    let kept = caps.listed();
    decisions.push(caps);
    decisions.push(unit_settings::ambient_capabilities(unit, &kept, p));
    decisions.push(resolve_toggle(&TOGGLE_NETWORK, p, systemd));
    decisions.push(address_families(p, systemd, margin));
    decisions.extend(peers::ip_addresses(p, systemd));
    decisions.extend(peers::socket_binds(p, systemd));
    decisions.push(Decision {
        directive: "SystemCallArchitectures",
        lines: vec!["SystemCallArchitectures=native".into()],
        evidence: vec![format!("recorded on {}", p.provenance.arch)],
    });
    let mut filter = syscall_filter(p, groups, margin);
    if hands_over {
        unit_settings::fresh_host_syscalls(&mut filter, groups);
    }
    unit_settings::fresh_host_mkdir(&mut filter, p, groups);
    decisions.push(filter);
    decisions.push(Decision {
        directive: "SystemCallErrorNumber",
        lines: vec!["SystemCallErrorNumber=EPERM".into()],
        evidence: vec!["a denied syscall fails with EPERM instead of killing the service".into()],
    });
    // The rest: ProtectSystem=, the process and network switches, and what PrivateDevices=
    // written `no` takes along (DevicePolicy=, DeviceAllow=); before keep_host_namespace,
    // which looks at PrivateNetwork=.
    unit_settings::written_grants(&mut decisions, unit, margin);
    host_mounts::keep_host_namespace(&mut decisions, p, unit);
    let mut policy = Policy { systemd, decisions };
    sources::apply(&mut policy, p);
    policy
}

/// Every fixed-word directive the policy resolves.
fn all_toggles() -> impl Iterator<Item = &'static Toggle> {
    TOGGLES_FS
        .iter()
        .chain(TOGGLES_PROCESS)
        .chain(small::TOGGLES)
        .chain(std::iter::once(&TOGGLE_NETWORK))
}

/// The fixed-word directives, in the drop-in's order.
pub fn toggle_directives() -> Vec<&'static str> {
    all_toggles().map(|t| t.directive).collect()
}

/// A fixed-word directive's first systemd version and its values, most restrictive first
/// (unset is looser than all of them); None when the policy has no such toggle.
pub fn toggle_values(directive: &str) -> Option<(u32, Vec<&'static str>)> {
    let t = all_toggles().find(|t| t.directive == directive)?;
    Some((t.since, t.choices.iter().map(|c| c.value).collect()))
}

/// Whether `value` of the toggle `directive` breaks what `p` observed: Some(Some(why)) when
/// it does, Some(None) when it permits it, None when the policy does not know that value.
pub fn toggle_forbids(directive: &str, value: &str, p: &Profile) -> Option<Option<String>> {
    let t = all_toggles().find(|t| t.directive == directive)?;
    let choice = t.choices.iter().find(|c| c.value == value)?;
    Some((choice.forbidden_by)(p))
}

/// The drop-in's text. `sources` names the profiles in the header.
pub fn render(
    policy: &Policy,
    profile: &Profile,
    sources: &[String],
    table: &str,
    explain: bool,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Generated by learner {} for systemd {} from {}\n",
        env!("CARGO_PKG_VERSION"),
        policy.systemd,
        sources.join(", ")
    ));
    out.push_str(&format!(
        "# Recorded {} to {}. Syscall groups: {table}.\n",
        profile.provenance.started, profile.provenance.ended
    ));
    if let Some(what) = profile.recording.incomplete() {
        out.push_str(&format!(
            "# WARNING: the recording is incomplete ({what}): observations may be missing.\n"
        ));
    }
    for lack in profile.lacks() {
        out.push_str(&format!(
            "# NOTE: profile schema {} does not record {lack}.\n",
            profile.schema
        ));
    }
    out.push_str("[Service]\n");
    for d in &policy.decisions {
        if identity::starts_section(d) {
            out.push_str(identity::SECTION_COMMENT);
        }
        if explain {
            for e in &d.evidence {
                out.push_str(&format!("# {}: {e}\n", d.directive));
            }
        }
        for line in &d.lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests;
