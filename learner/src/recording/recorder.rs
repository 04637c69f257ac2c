//! The kernel side of a recording: loads learner's eBPF object, attaches the syscall probe the
//! kernel supports, and reads back what it counted.
use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{Array, HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::{
        KProbe, ProgramError, RawTracePoint, TracePoint,
        trace_point::{TracePointLink, TracePointLinkId},
    },
};
use learner_common::{
    CAP_CAPABLE_CAP_OFFSET, CAP_CAPABLE_CRED_OFFSET, CAP_CAPABLE_RET_OFFSET, CGROUP_ROW_SLOTS,
    Calibration, EnteredSyscall, SLOT_OUT_OF_RANGE, SYS_EXIT_ID_OFFSET, SYS_EXIT_RET_OFFSET, Shape,
    Target, global, map, program, task_stat, task_state,
};

use crate::{
    model::{profile::CAPABILITY_TRACEPOINT, syscalls::Arch},
    recording::{follower::CreationFollower, traced::TRACED},
    systemd::cgroup::CgroupRef,
};

/// The inode of the initial cgroup namespace (the kernel's PROC_CGROUP_INIT_INO): there, a
/// cgroup's depth below the cgroup2 root is its level.
const INITIAL_CGROUP_NS: u64 = 0xEFFF_FFFB;

static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/learner-ebpf"));

/// Environment variable that forces one probe by name (`subtree`, `exact` or the benchmark's
/// `floor`), so every path can be tested on a kernel that supports the best one.
pub const FORCE_PROBE_ENV: &str = "LEARNER_SYSCALL_PROBE";

/// Environment variable naming observation probes not to attach, comma-separated: a
/// diagnostic for recording as a kernel without them would (`cap_capable` for the
/// capability tracepoint, `cap_kprobe` for the kprobe pair, `page_fault`, `process_tree`,
/// `follower` for the creation follower, or a traced syscall's name). What they would have observed is missing, and said so.
pub const DISABLE_PROBES_ENV: &str = "LEARNER_DISABLE_PROBES";

/// Whether `probe` is named in [`DISABLE_PROBES_ENV`].
fn disabled(probe: &str) -> bool {
    std::env::var(DISABLE_PROBES_ENV).is_ok_and(|list| list.split(',').any(|p| p.trim() == probe))
}

const DISABLED: &str = "disabled by LEARNER_DISABLE_PROBES";

/// The kernel function whose kprobe pair observes capability checks where the tracepoint is
/// missing.
const CAP_FUNCTION: &str = "cap_capable";

/// An error with every cause it carries, for a message that says why.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(&format!(": {text}"));
        }
        cur = cause.source();
    }
    out
}

/// Environment variable that prints the whole verifier log of a program the kernel refused
/// (a diagnostic: the reason shown and kept is its last line).
pub const VERIFIER_LOG_ENV: &str = "LEARNER_VERIFIER_LOG";

/// Environment variable naming a file where a recording writes, as it ends, each loaded
/// program's runs and run time (JSON, see [`ProgramStats`]): a diagnostic for `cargo xtask
/// bench`. The kernel's run-time statistics are on while such a recording runs, and only
/// then: they cost every BPF program on the machine two clock reads a run.
pub const PROGRAM_STATS_ENV: &str = "LEARNER_PROGRAM_STATS";

/// What one of learner's programs cost, as the kernel counted it while its statistics were on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgramStats {
    pub program: String,
    pub runs: u64,
    pub run_time_ns: u64,
}

/// How a syscall probe tells the target's processes from the rest of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMatch {
    /// Compares the current task's ancestor at the target's level with the target: the whole
    /// subtree, new child cgroups included, at the cost of one helper call.
    Subtree,
    /// Looks the current cgroup up in a hash map that user space fills with the target and
    /// each descendant it finds.
    Exact,
}

/// One way of recording syscalls, and what it needs from the kernel.
#[derive(Debug)]
pub struct Probe {
    pub short_name: &'static str,
    pub program: &'static str,
    pub tracepoint: &'static str,
    pub matching: CgroupMatch,
    /// What the kernel must offer, for the message when it does not.
    pub needs: &'static str,
    /// Records nothing; used only when forced (the benchmark's baseline).
    pub benchmark_only: bool,
}

/// The syscall probes, best first. The first one the kernel accepts is used.
pub const SYSCALL_PROBES: &[Probe] = &[
    Probe {
        short_name: "subtree",
        program: program::SYS_ENTER_SUBTREE,
        tracepoint: "sys_enter",
        matching: CgroupMatch::Subtree,
        needs: "bpf_get_current_ancestor_cgroup_id in raw tracepoints (Linux 5.10 lacks it)",
        benchmark_only: false,
    },
    Probe {
        short_name: "exact",
        program: program::SYS_ENTER_EXACT,
        tracepoint: "sys_enter",
        matching: CgroupMatch::Exact,
        needs: "raw tracepoints and bpf_get_current_cgroup_id (Linux 4.18+)",
        benchmark_only: false,
    },
    Probe {
        short_name: "floor",
        program: program::SYS_ENTER_FLOOR,
        tracepoint: "sys_enter",
        matching: CgroupMatch::Exact,
        needs: "raw tracepoints",
        benchmark_only: true,
    },
];

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error(
        "the kernel refused BPF ({0}): learner needs root with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), outside any sandbox that blocks bpf()"
    )]
    NotPermitted(String),
    #[error("this kernel runs none of learner's syscall probes: {0}")]
    KernelLacks(String),
    #[error("{FORCE_PROBE_ENV}={0} names no probe (known: subtree, exact, floor)")]
    UnknownProbe(String),
    #[error("cannot load learner's BPF object: {0}")]
    Load(#[source] EbpfError),
    #[error("BPF map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
}

fn map_err(name: &'static str) -> impl FnOnce(MapError) -> RecorderError {
    move |source| RecorderError::Map { name, source }
}

/// `bpf_attr` for the batch map commands.
#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;

/// Empties a `HashMap<u64, u64>` into `out` with BPF_MAP_LOOKUP_AND_DELETE_BATCH (Linux 5.6+):
/// a syscall per few thousand entries where reading and deleting one key at a time takes
/// three per entry, and a path-heavy service has an entry per distinct event. Returns false,
/// having taken nothing, on a kernel without the command.
fn drain_batched(
    map: std::os::fd::BorrowedFd<'_>,
    out: &mut std::collections::HashMap<u64, u64>,
) -> io::Result<bool> {
    use std::os::fd::AsRawFd as _;
    const CHUNK: usize = 4096;
    let mut keys = vec![0u64; CHUNK];
    let mut values = vec![0u64; CHUNK];
    // A hash map's batch position is a bucket number.
    let mut position: u32 = 0;
    let mut first = true;
    loop {
        let mut next: u32 = 0;
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &position as *const u32 as u64
            },
            out_batch: &mut next as *mut u32 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: CHUNK as u32,
            map_fd: map.as_raw_fd() as u32,
            elem_flags: 0,
            flags: 0,
        };
        // SAFETY: the attr points at buffers of `count` keys and values, and at the two
        // positions, all alive for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_AND_DELETE_BATCH,
                &mut attr as *mut BatchAttr,
                size_of::<BatchAttr>() as u32,
            )
        };
        let error = (r < 0).then(io::Error::last_os_error);
        let got = attr.count as usize;
        out.extend(
            keys[..got]
                .iter()
                .copied()
                .zip(values[..got].iter().copied()),
        );
        match error.as_ref().and_then(io::Error::raw_os_error) {
            None => {}
            // The end of the map.
            Some(libc::ENOENT) => return Ok(true),
            // No such command (EINVAL), or not for this map type (ENOTSUPP, 524).
            Some(libc::EINVAL | libc::EOPNOTSUPP | 524) if first && got == 0 => return Ok(false),
            Some(_) => return Err(error.expect("an error")),
        }
        position = next;
        first = false;
    }
}

/// Why the kernel would not load or attach a program, in one line. A verifier log runs to
/// thousands of lines; its last meaningful one says what was refused (`unknown func
/// bpf_get_current_ancestor_cgroup_id#123`), the rest is the walk that led there.
pub fn why(e: &ProgramError) -> String {
    if let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = e
    {
        let log = verifier_log.to_string();
        if std::env::var_os(VERIFIER_LOG_ENV).is_some() {
            eprintln!("learner: the verifier's log:\n{log}");
        }
        return refused(io_error, &log);
    }
    // The causes too: a failed syscall's message names the call, its cause the errno.
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A refused load, in one line: the error and the verifier's last word.
fn refused(io_error: &io::Error, log: &str) -> String {
    match last_meaningful_line(log) {
        Some(line) => format!("the verifier refused it ({io_error}): {line}"),
        None => format!("the kernel refused to load it: {io_error}"),
    }
}

/// The last line of a verifier log that is not its statistics.
fn last_meaningful_line(log: &str) -> Option<&str> {
    const NOISE: [&str; 4] = [
        "processed ",
        "verification time",
        "stack depth",
        "-- END PROG LOAD LOG --",
    ];
    log.lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty() && !NOISE.iter().any(|n| l.starts_with(n)))
}

/// Whether the kernel refused a program for want of privilege. The verifier answers EACCES
/// for a program it judges unsafe too (Linux 5.10 does for an access it cannot bound): a
/// refusal with the verifier's reason is the program's, not the user's.
fn not_permitted(e: &ProgramError) -> bool {
    match e {
        ProgramError::LoadError { verifier_log, .. } => {
            last_meaningful_line(&verifier_log.to_string()).is_none() && is_permission_error(e)
        }
        _ => is_permission_error(e),
    }
}

/// Whether an error, or anything that caused it, is EPERM or EACCES from the kernel.
fn is_permission_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES))
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Syscall counts read back from the kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyscallCounts {
    /// Calls per syscall number.
    pub by_number: BTreeMap<u32, u64>,
    /// Calls whose number was outside the kernel-side table.
    pub out_of_range: u64,
}

/// What the observation probes (paths, sockets, capabilities, ...) could attach to.
#[derive(Debug, Clone, Default)]
pub struct ObservationStatus {
    /// Where path, socket and argument observations come from; empty when nowhere.
    pub source: String,
    /// Where capability checks come from, or why they are not observed.
    pub capability_source: String,
    /// Probes that could not attach, with the reason.
    pub skipped: Vec<String>,
    /// Traced syscalls this kernel does not have: nothing to observe, nothing lost.
    pub not_on_this_kernel: Vec<String>,
}

/// Attached probes recording one cgroup subtree. Dropping it detaches and unloads them.
pub struct SyscallRecorder {
    ebpf: Ebpf,
    probe: &'static Probe,
    followed: BTreeSet<u64>,
    target: Target,
    /// Added to a path's depth to get the cgroup's absolute level: non-zero inside a cgroup
    /// namespace, whose root is below the hierarchy's.
    level_offset: u32,
    /// Observation tracepoints attached, by program: detached in parallel (see Drop).
    links: Vec<(&'static str, TracePointLinkId)>,
    /// Why better probes were skipped, for the warning and the profile.
    pub skipped: Vec<String>,
    pub observation: ObservationStatus,
    /// Held for each write of TARGET: the creation follower's thread writes it too.
    target_lock: Arc<Mutex<()>>,
    /// Keeps the kernel's run-time statistics on (see [`PROGRAM_STATS_ENV`]); closed, they go
    /// back to what they were.
    stats_on: Option<Result<std::os::fd::OwnedFd, String>>,
}

impl SyscallRecorder {
    /// Loads the programs and starts counting the syscalls of `cgroup` and its descendants.
    pub fn attach(cgroup: &CgroupRef) -> Result<Self, RecorderError> {
        Self::attach_scoped(cgroup, false)
    }

    /// As [`Self::attach`], recording every unit below `cgroup` at once (`record --all`):
    /// syscalls counted and events deduplicated per cgroup.
    pub fn attach_all(cgroup: &CgroupRef) -> Result<Self, RecorderError> {
        Self::attach_scoped(cgroup, true)
    }

    fn attach_scoped(cgroup: &CgroupRef, all: bool) -> Result<Self, RecorderError> {
        raise_memlock_limit();
        let forced = std::env::var(FORCE_PROBE_ENV).ok();
        if let Some(name) = &forced
            && !SYSCALL_PROBES.iter().any(|p| p.short_name == name)
        {
            return Err(RecorderError::UnknownProbe(name.clone()));
        }
        // Loaded for the subtree probe first (unless another is forced), and again for the
        // exact one if it comes to that: the object's `SUBTREE` global decides which cgroup
        // test every program makes, and it is fixed once loaded.
        let mut subtree_loaded = forced.as_deref().is_none_or(|f| f == "subtree");
        let mut ebpf = load_object(subtree_loaded, all)?;
        // Inside a cgroup namespace the subtree probe needs the measured level; where it
        // cannot be measured, only exact ids are right.
        let mut skipped = Vec::new();
        let level_offset = match level_offset(&mut ebpf) {
            Ok(offset) => Some(offset),
            Err(why) => {
                skipped.push(format!("subtree: {why}"));
                None
            }
        };
        // Counting starts with observing (see `start`): a call counted earlier would be in the
        // profile without what it did.
        let target = Target {
            cgroup_id: cgroup.id,
            level: cgroup.level + level_offset.unwrap_or(0),
            observe: 0,
            dedup_map: 0,
            comm_changing: comm_changing_syscalls(),
            check: 0,
            exact: 0,
            counting: 0,
            all: u32::from(all),
        };
        write_target(&mut ebpf, target)?;

        for probe in SYSCALL_PROBES {
            let skip = match forced.as_deref() {
                Some(f) => f != probe.short_name,
                None => {
                    probe.benchmark_only
                        || (probe.matching == CgroupMatch::Subtree && level_offset.is_none())
                }
            };
            if skip {
                continue;
            }
            if subtree_loaded && probe.matching == CgroupMatch::Exact {
                // A kernel whose tracing programs lack the ancestor helper refuses every
                // program that calls it, the observation programs too.
                ebpf = load_object(false, all)?;
                write_target(&mut ebpf, target)?;
                subtree_loaded = false;
            }
            match load_and_attach(&mut ebpf, probe) {
                Ok(()) => {
                    let mut target = target;
                    if probe.matching == CgroupMatch::Exact {
                        target.exact = 1;
                        write_target(&mut ebpf, target)?;
                    }
                    let mut recorder = Self {
                        ebpf,
                        probe,
                        followed: BTreeSet::new(),
                        target,
                        level_offset: level_offset.unwrap_or(0),
                        links: Vec::new(),
                        skipped,
                        observation: ObservationStatus::default(),
                        target_lock: Default::default(),
                        stats_on: std::env::var_os(PROGRAM_STATS_ENV).map(|_| {
                            aya::sys::enable_stats(aya::sys::Stats::RunTime)
                                .map_err(|e| with_causes(&e))
                        }),
                    };
                    // Right after attaching: the command has not started yet.
                    recorder.follow(cgroup)?;
                    recorder.track_process_tree(cgroup)?;
                    return Ok(recorder);
                }
                Err(e) if not_permitted(&e) => {
                    return Err(RecorderError::NotPermitted(why(&e)));
                }
                Err(e) => {
                    skipped.push(format!(
                        "{}: needs {} ({})",
                        probe.short_name,
                        probe.needs,
                        why(&e)
                    ));
                }
            }
        }
        Err(RecorderError::KernelLacks(skipped.join("; ")))
    }

    /// Attaches the observation probes: traced syscalls (paths, sockets, argument facts) and
    /// capability checks. What the kernel lacks is skipped and listed, never fatal: syscall
    /// counting goes on without it.
    pub fn observe(&mut self, arch: Arch) -> Result<(), RecorderError> {
        let Some(tracefs) = tracefs() else {
            self.observation.skipped.push(
                "observations: no tracefs (mount -t tracefs nodev /sys/kernel/tracing failed)"
                    .into(),
            );
            self.observation.capability_source = "none: no tracefs".into();
            return self.start();
        };
        let mut shapes: Array<&mut MapData, Shape> =
            Array::try_from(self.ebpf.map_mut(map::SHAPES).expect("SHAPES map"))
                .map_err(map_err(map::SHAPES))?;
        let mut attachable = Vec::new();
        let newest = newest_traced_syscall(&tracefs, arch);
        for traced in TRACED {
            let Some(nr) = arch.syscall_number(traced.name) else {
                continue;
            };
            if disabled(traced.name) {
                self.observation
                    .skipped
                    .push(format!("{}: {DISABLED}", traced.name));
                continue;
            }
            let format = tracefs.join(format!(
                "events/syscalls/sys_enter_{}/format",
                traced.tracepoint
            ));
            let Some(nargs) = syscall_arity(&format) else {
                if newest.is_some_and(|newest| nr > newest) {
                    // Newer than this kernel (fchmodat2 before 6.6): a call can only fail
                    // with ENOSYS, which the syscall counter still counts; nothing is lost.
                    self.observation.not_on_this_kernel.push(traced.name.into());
                    continue;
                }
                self.observation.skipped.push(format!(
                    "{}: no syscalls/sys_enter_{} tracepoint",
                    traced.name, traced.tracepoint
                ));
                continue;
            };
            if nargs != usize::from(traced.nargs) {
                self.observation.skipped.push(format!(
                    "{}: the kernel gives it {nargs} arguments, learner expects {}",
                    traced.name, traced.nargs
                ));
                continue;
            }
            shapes
                .set(nr, traced.shape(), 0)
                .map_err(map_err(map::SHAPES))?;
            attachable.push((traced.name, traced.tracepoint, nargs));
        }

        let mut attached = 0;
        // Each program is loaded once, and a refusal is remembered: the verifier's answer
        // would not change, and it took a second or more per try on a slow machine.
        let mut refused = BTreeMap::new();
        for (name, tracepoint, nargs) in attachable {
            let enter = program::ENTER_ARGS[nargs];
            // The exit program first: an entry whose exit is never seen holds its slot.
            let pair = [
                (program::EXIT, format!("sys_exit_{tracepoint}")),
                (enter, format!("sys_enter_{tracepoint}")),
            ];
            let mut why_not = None;
            for (prog, _) in &pair {
                if why_not.is_none() {
                    why_not = self.load_once(prog, &mut refused)?;
                }
            }
            if let Some(why_not) = why_not {
                self.observation.skipped.push(format!("{name}: {why_not}"));
                continue;
            }
            let result = (|| -> Result<(), ProgramError> {
                for (prog, tracepoint) in &pair {
                    let p: &mut TracePoint = self
                        .ebpf
                        .program_mut(prog)
                        .expect("program is in learner's object")
                        .try_into()?;
                    let id = p.attach("syscalls", tracepoint)?;
                    self.links.push((prog, id));
                }
                Ok(())
            })();
            match result {
                Ok(()) => attached += 1,
                Err(e) if not_permitted(&e) => {
                    return Err(RecorderError::NotPermitted(why(&e)));
                }
                Err(e) => self
                    .observation
                    .skipped
                    .push(format!("{name}: {}", why(&e))),
            }
        }
        if attached > 0 {
            self.observation.source =
                format!("syscalls/sys_enter_* and sys_exit_* tracepoints ({attached} syscalls)");
        }

        self.observation.capability_source = self.attach_capability_source(&tracefs);

        // Optional: without it, a check during a page fault is blamed on the syscall before.
        let page_faults = match disabled("page_fault") {
            true => Err(DISABLED.to_owned()),
            false => self
                .attach_tracepoint(program::PAGE_FAULT, "exceptions", "page_fault_user")
                .map_err(|e| why(&e)),
        };
        if let Err(e) = page_faults {
            self.observation
                .skipped
                .push(format!("page faults: exceptions/page_fault_user: {e}"));
        }

        self.record_io_uring(&tracefs);

        // Last: the programs start producing events only now.
        self.target.observe = 1;
        self.start()
    }

    /// Attaches the io_uring submission tracepoint: a request opens, renames, connects, ...
    /// without that syscall, so which operations ran is known only from here. Missing, it is
    /// listed as skipped (a service that used io_uring then has blind spots); on a kernel
    /// without io_uring at all, as calls this kernel does not have.
    fn record_io_uring(&mut self, tracefs: &Path) {
        const CALLS: [&str; 2] = ["io_uring_setup", "io_uring_enter"];
        if disabled("io_uring") {
            self.observation
                .skipped
                .push(format!("io_uring: {DISABLED}"));
            return;
        }
        let events = tracefs.join("events/io_uring");
        if !events.is_dir() {
            // Built without io_uring (RHEL 8's 4.18): its calls fail with ENOSYS.
            for call in CALLS {
                self.observation.not_on_this_kernel.push(call.into());
            }
            return;
        }
        // Renamed in Linux 6.0; the opcode moved twice before.
        let found = ["io_uring_submit_req", "io_uring_submit_sqe"]
            .into_iter()
            .find_map(|name| {
                let fields = format_fields(&events.join(name).join("format"))?;
                Some((name, field_offset(&fields, "opcode")))
            });
        let attached = match found {
            None => Err("no io_uring/io_uring_submit_req or io_uring_submit_sqe tracepoint".into()),
            Some((name, at)) => {
                let program = match at {
                    Some(32) => Ok(program::IO_URING_OP_AT_32),
                    Some(24) => Ok(program::IO_URING_OP_AT_24),
                    Some(16) => Ok(program::IO_URING_OP_AT_16),
                    other => Err(format!(
                        "io_uring/{name} has its opcode at {other:?}, where learner reads 16, 24 or 32"
                    )),
                };
                program.and_then(|program| {
                    self.attach_tracepoint(program, "io_uring", name)
                        .map_err(|e| format!("io_uring/{name}: {}", why(&e)))
                })
            }
        };
        if let Err(e) = attached {
            self.observation.skipped.push(format!(
                "io_uring: {e}; what its requests open, rename or connect to is not known"
            ));
        }
    }

    /// Starts counting (and observing, when [`Self::observe`] set it up), in one write, so
    /// every call counted is one whose arguments were observed too.
    pub fn start(&mut self) -> Result<(), RecorderError> {
        self.target.counting = 1;
        self.write_switches()
    }

    /// Attaches the first capability source the kernel offers: the `capability/cap_capable`
    /// tracepoint (Linux 6.14+), else a kprobe and kretprobe on `cap_capable()`. Returns the
    /// profile's `capability_source`: the one attached, or `none: ` and why each failed. A
    /// failure is never fatal: the policy then leaves what rests on capabilities unset.
    fn attach_capability_source(&mut self, tracefs: &Path) -> String {
        let tracepoint = if disabled("cap_capable") {
            Err(DISABLED.to_owned())
        } else {
            layout_ok(
                &tracefs.join("events/capability/cap_capable/format"),
                "capability/cap_capable",
                &[
                    ("cred", CAP_CAPABLE_CRED_OFFSET),
                    ("cap", CAP_CAPABLE_CAP_OFFSET),
                    ("ret", CAP_CAPABLE_RET_OFFSET),
                ],
            )
            .and_then(|()| {
                self.attach_tracepoint(program::CAP_CAPABLE, "capability", "cap_capable")
                    .map_err(|e| format!("capability/cap_capable: {}", with_causes(&e)))
            })
        };
        let Err(no_tracepoint) = tracepoint else {
            return CAPABILITY_TRACEPOINT.into();
        };
        let kprobe = match disabled("cap_kprobe") {
            true => Err(DISABLED.to_owned()),
            false => self.attach_capability_kprobes(),
        };
        match kprobe {
            Ok(()) => format!("kprobe {CAP_FUNCTION} (and kretprobe)"),
            Err(why) => format!("none: {no_tracepoint}; kprobe {CAP_FUNCTION}: {why}"),
        }
    }

    /// Loads and attaches the kprobe pair on `cap_capable()`; on any failure neither stays.
    /// Both are loaded before either is attached, so the verifier judges them even on a
    /// kernel that then cannot attach them.
    fn attach_capability_kprobes(&mut self) -> Result<(), String> {
        const PAIR: [&str; 2] = [program::CAP_KRETPROBE, program::CAP_KPROBE];
        let loaded = PAIR
            .into_iter()
            .try_for_each(|name| -> Result<(), ProgramError> {
                let prog: &mut KProbe = self
                    .ebpf
                    .program_mut(name)
                    .expect("program is in learner's object")
                    .try_into()?;
                prog.load()
            });
        // aya attaches through the kprobe PMU; a kernel without CONFIG_KPROBES has none.
        let attached = loaded.map_err(|e| with_causes(&e)).and_then(|()| {
            if !Path::new("/sys/bus/event_source/devices/kprobe").exists() {
                return Err(
                    "this kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)".into(),
                );
            }
            // The return first: an entry whose return is not seen would wait in the table.
            PAIR.into_iter()
                .try_for_each(|name| -> Result<(), ProgramError> {
                    let prog: &mut KProbe = self
                        .ebpf
                        .program_mut(name)
                        .expect("program is in learner's object")
                        .try_into()?;
                    prog.attach(CAP_FUNCTION, 0)?;
                    Ok(())
                })
                .map_err(|e| with_causes(&e))
        });
        attached.inspect_err(|_| {
            for name in PAIR {
                if let Some(Ok(prog)) = self.ebpf.program_mut(name).map(<&mut KProbe>::try_from) {
                    // Detaches whatever was attached.
                    let _ = prog.unload();
                }
            }
        })
    }

    /// For `learner check`: also reports syscalls a seccomp filter refused before they ran,
    /// through `raw_syscalls/sys_exit` (which every syscall on the machine passes, so this
    /// costs more than recording does).
    pub fn report_refused(&mut self) -> Result<(), RecorderError> {
        let why_not = match tracefs() {
            None => Some("no tracefs".to_owned()),
            Some(t) => layout_ok(
                &t.join("events/raw_syscalls/sys_exit/format"),
                "raw_syscalls/sys_exit",
                &[("id", SYS_EXIT_ID_OFFSET), ("ret", SYS_EXIT_RET_OFFSET)],
            )
            .err(),
        };
        if let Some(why) = why_not {
            return Err(RecorderError::KernelLacks(format!(
                "refused syscalls: {why}"
            )));
        }
        self.attach_tracepoint(program::REFUSED, "raw_syscalls", "sys_exit")
            .map_err(|e| {
                if not_permitted(&e) {
                    RecorderError::NotPermitted(why(&e))
                } else {
                    RecorderError::KernelLacks(format!("raw_syscalls/sys_exit: {}", why(&e)))
                }
            })?;
        self.target.check = 1;
        self.write_switches()
    }

    /// Loads the tracepoint program `program` unless it is loaded already. Returns why the
    /// kernel refused it, now or in an earlier try (kept in `refused`).
    fn load_once(
        &mut self,
        program: &'static str,
        refused: &mut BTreeMap<&'static str, String>,
    ) -> Result<Option<String>, RecorderError> {
        if let Some(why_not) = refused.get(program) {
            return Ok(Some(why_not.clone()));
        }
        let prog: &mut TracePoint = match self
            .ebpf
            .program_mut(program)
            .expect("program is in learner's object")
            .try_into()
        {
            Ok(prog) => prog,
            Err(e) => return Ok(Some(why(&e))),
        };
        if prog.fd().is_ok() {
            return Ok(None);
        }
        match prog.load() {
            Ok(()) => Ok(None),
            Err(e) if not_permitted(&e) => Err(RecorderError::NotPermitted(why(&e))),
            Err(e) => {
                let why_not = why(&e);
                refused.insert(program, why_not.clone());
                Ok(Some(why_not))
            }
        }
    }

    /// Loads `program` and attaches it to the classic tracepoint `category/name`; the link is
    /// detached with the others.
    fn attach_tracepoint(
        &mut self,
        program: &'static str,
        category: &str,
        name: &str,
    ) -> Result<(), ProgramError> {
        let prog: &mut TracePoint = self
            .ebpf
            .program_mut(program)
            .expect("program is in learner's object")
            .try_into()?;
        prog.load()?;
        let id = prog.attach(category, name)?;
        self.links.push((program, id));
        Ok(())
    }

    /// The ring buffer of observation events, for the collector to read. Once only.
    pub fn take_events(&mut self) -> Option<RingBuf<aya::maps::MapData>> {
        RingBuf::try_from(self.ebpf.take_map(map::EVENTS)?).ok()
    }

    /// Events the kernel side could not deliver (ring buffer full, too many in flight).
    /// Stops counting and observing (the programs stay attached until dropped), so nothing
    /// the kernel side sends after the final drain goes unread.
    pub fn stop(&mut self) -> Result<(), RecorderError> {
        self.target.counting = 0;
        self.target.observe = 0;
        self.write_switches()?;
        // A program that read the target just before runs to its end: a moment is plenty.
        std::thread::sleep(std::time::Duration::from_millis(20));
        Ok(())
    }

    /// Runs of learner's programs the kernel skipped because a BPF program was already
    /// running on that CPU (its recursion protection, counted since Linux 5.12): what those
    /// runs would have seen is missing. The page-fault program is left out: it runs nested
    /// in the exit program's reads of user memory, and a skipped run of it loses nothing.
    pub fn skipped_runs(&self) -> u64 {
        use std::os::fd::AsFd as _;
        self.ebpf
            .programs()
            .filter(|(name, _)| *name != program::PAGE_FAULT)
            .filter_map(|(_, prog)| prog.fd().ok())
            .filter_map(|fd| recursion_misses(fd.as_fd()))
            .sum()
    }

    /// Each loaded program's runs and run time since it was loaded, by name; an error when the
    /// kernel's statistics could not be turned on (they were not asked for, or were refused).
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, String> {
        match &self.stats_on {
            None => return Err(format!("{PROGRAM_STATS_ENV} was not set at the start")),
            Some(Err(why)) => return Err(format!("the kernel's statistics are off: {why}")),
            Some(Ok(_)) => {}
        }
        Ok(self
            .ebpf
            .programs()
            .filter_map(|(name, prog)| {
                let info = prog.info().ok()?;
                Some(ProgramStats {
                    program: name.to_owned(),
                    runs: info.run_count(),
                    run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                })
            })
            .collect())
    }

    pub fn lost_events(&self) -> Result<u64, RecorderError> {
        let lost: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(map::LOST).expect("LOST map"))
                .map_err(map_err(map::LOST))?;
        Ok(lost.get(&0, 0).map_err(map_err(map::LOST))?.iter().sum())
    }

    /// Makes the other deduplication map count from now on, and empties the one that was
    /// set aside at the previous call, returning its counts: copies of already-sent events,
    /// by key. Between two calls every program that wrote to the set-aside map has long
    /// finished, so none of its counts is missed.
    pub fn rotate_dedup(&mut self) -> Result<std::collections::HashMap<u64, u64>, RecorderError> {
        let idle = if self.target.dedup_map == 0 {
            map::DEDUP_B
        } else {
            map::DEDUP
        };
        let counts = self.drain_dedup(idle)?;
        self.target.dedup_map ^= 1;
        self.write_switches()?;
        Ok(counts)
    }

    /// Empties both deduplication maps; for the end of a recording, when nothing writes.
    pub fn drain_all_dedup(
        &mut self,
    ) -> Result<std::collections::HashMap<u64, u64>, RecorderError> {
        let mut counts = self.drain_dedup(map::DEDUP)?;
        for (key, n) in self.drain_dedup(map::DEDUP_B)? {
            *counts.entry(key).or_default() += n;
        }
        Ok(counts)
    }

    fn drain_dedup(
        &mut self,
        name: &'static str,
    ) -> Result<std::collections::HashMap<u64, u64>, RecorderError> {
        let mut out = std::collections::HashMap::new();
        if let Some(aya::maps::Map::HashMap(data)) = self.ebpf.map(name) {
            use std::os::fd::AsFd as _;
            match drain_batched(data.fd().as_fd(), &mut out) {
                Ok(true) => return Ok(out),
                Ok(false) => {}
                Err(io_error) => {
                    return Err(RecorderError::Map {
                        name,
                        source: MapError::SyscallError(aya::sys::SyscallError {
                            call: "bpf_map_lookup_and_delete_batch",
                            io_error,
                        }),
                    });
                }
            }
        }
        // Before Linux 5.6: a key at a time, three syscalls each.
        let mut dedup: HashMap<&mut MapData, u64, u64> =
            HashMap::try_from(self.ebpf.map_mut(name).expect("DEDUP map"))
                .map_err(map_err(name))?;
        for entry in dedup.iter() {
            let (key, copies) = entry.map_err(map_err(name))?;
            out.insert(key, copies);
        }
        for key in out.keys() {
            dedup.remove(key).map_err(map_err(name))?;
        }
        Ok(out)
    }

    /// Describes the probe in use, for the profile.
    pub fn source(&self) -> String {
        let matching = match self.probe.matching {
            CgroupMatch::Subtree => "cgroup subtree by ancestor id",
            CgroupMatch::Exact => "cgroup ids followed from user space",
        };
        format!("raw_tracepoint/{} ({matching})", self.probe.tracepoint)
    }

    /// With exact matching, adds `cgroup` and any descendants not yet followed. Syscalls a new
    /// child cgroup makes before this runs are missed; subtree matching has no such gap.
    pub fn follow(&mut self, cgroup: &CgroupRef) -> Result<(), RecorderError> {
        if self.probe.matching != CgroupMatch::Exact {
            return Ok(());
        }
        let mut ids: HashMap<&mut MapData, u64, u8> =
            HashMap::try_from(self.ebpf.map_mut(map::EXACT_CGROUPS).expect("map"))
                .map_err(map_err(map::EXACT_CGROUPS))?;
        for id in std::iter::once(cgroup.id).chain(cgroup.descendant_ids()) {
            if id == 0 {
                continue;
            }
            if self.followed.insert(id) {
                ids.insert(id, 1, 0).map_err(map_err(map::EXACT_CGROUPS))?;
            }
        }
        Ok(())
    }

    /// Gives the kernel side the roots of processes found already chrooted (see
    /// `Collector::take_roots_found`): their absolute paths are below them, as a chroot the
    /// kernel side saw would have it (their children inherit it as they fork).
    pub fn seed_roots(&mut self, roots: &[(u32, u64)]) -> Result<(), RecorderError> {
        if roots.is_empty() {
            return Ok(());
        }
        let mut map: HashMap<&mut MapData, u32, u64> =
            HashMap::try_from(self.ebpf.map_mut(map::ROOT_BASE).expect("ROOT_BASE map"))
                .map_err(map_err(map::ROOT_BASE))?;
        for &(tgid, b) in roots {
            map.insert(tgid, b, 0).map_err(map_err(map::ROOT_BASE))?;
        }
        Ok(())
    }

    /// Records the cgroup under its new id: systemd recreates a unit's cgroup on restart.
    pub fn retarget(&mut self, cgroup: &CgroupRef) -> Result<(), RecorderError> {
        self.target.cgroup_id = cgroup.id;
        self.target.level = cgroup.level + self.level_offset;
        {
            let lock = self.target_lock.clone();
            let _turn = lock.lock().unwrap_or_else(|e| e.into_inner());
            write_target(&mut self.ebpf, self.target)?;
        }
        self.follow(cgroup)?;
        self.seed_tasks(cgroup)
    }

    /// Follows the service's processes wherever they go: a task a recorded task forked is
    /// noted, and once such a task is moved to another cgroup (pam_systemd puts each login
    /// in a session scope; `systemd-run --scope` does the same), it and its children stay
    /// recorded, as the unit's sandbox stays on them. Without these probes such a process
    /// silently drops out of the recording, so their absence is reported.
    fn track_process_tree(&mut self, cgroup: &CgroupRef) -> Result<(), RecorderError> {
        if disabled("process_tree") {
            self.skipped.push(format!(
                "process tree: {DISABLED}; processes that leave the cgroup are not followed"
            ));
            return Ok(());
        }
        let Some(tracefs) = tracefs() else {
            self.skipped.push(
                "process tree: no tracefs; processes that leave the cgroup are not followed".into(),
            );
            return Ok(());
        };
        let fork = format_fields(&tracefs.join("events/sched/sched_process_fork/format"));
        let fork_program = match fork.as_deref().and_then(|f| field_offset(f, "child_pid")) {
            Some(20) => Some(program::FORK_CHILD_AT_20),
            Some(44) => Some(program::FORK_CHILD_AT_44),
            _ => None,
        };
        let moved = format_fields(&tracefs.join("events/cgroup/cgroup_attach_task/format"));
        let moved_program = moved.as_deref().and_then(|f| {
            match (
                field_offset(f, "pid"),
                field_offset(f, "dst_level"),
                field_offset(f, "dst_id"),
            ) {
                (Some(24), Some(12), Some(16)) => Some(program::MOVED_PID_AT_24),
                (Some(20), Some(16), Some(12)) => Some(program::MOVED_PID_AT_20),
                _ => None,
            }
        });
        let (Some(fork_program), Some(moved_program)) = (fork_program, moved_program) else {
            self.skipped.push(
                "process tree: no sched/sched_process_fork or cgroup/cgroup_attach_task tracepoint of a known layout; processes that leave the cgroup are not followed".into(),
            );
            return Ok(());
        };
        // Exit first, so no entry outlives its task; then forks, then moves.
        let attached = self
            .attach_tracepoint(program::TASK_EXIT, "sched", "sched_process_exit")
            .and_then(|()| self.attach_tracepoint(fork_program, "sched", "sched_process_fork"))
            .and_then(|()| self.attach_tracepoint(moved_program, "cgroup", "cgroup_attach_task"));
        match attached {
            Ok(()) => self.seed_tasks(cgroup),
            Err(e) if not_permitted(&e) => Err(RecorderError::NotPermitted(why(&e))),
            Err(e) => {
                self.skipped.push(format!(
                    "process tree: {}; processes that leave the cgroup are not followed",
                    why(&e)
                ));
                Ok(())
            }
        }
    }

    /// Follows the target's cgroup from the moment systemd makes it again (a restart, a
    /// crash's recovery): a thread of its own, woken by inotify, writes the new id into the
    /// kernel side's target at once. The recording's own loop would follow only once it gets
    /// to the event, which under load comes after the new instance's start-up (and a oneshot
    /// job's whole run). Where no thread can watch, the loop still follows, as before.
    pub fn follow_creations(&mut self, cgroup: &CgroupRef) -> Option<CreationFollower> {
        use std::os::fd::AsFd as _;
        if disabled("follower") {
            self.skipped.push(format!(
                "new instances: {DISABLED}; a restarted unit is followed by the recording's loop"
            ));
            return None;
        }
        let map_fd = |name: &'static str| -> Option<std::os::fd::OwnedFd> {
            match self.ebpf.map(name)? {
                aya::maps::Map::Array(d) | aya::maps::Map::HashMap(d) => {
                    d.fd().as_fd().try_clone_to_owned().ok()
                }
                _ => None,
            }
        };
        let exact = self.probe.matching == CgroupMatch::Exact;
        let started = match (
            map_fd(map::TARGET),
            exact.then(|| map_fd(map::EXACT_CGROUPS)),
        ) {
            (Some(target), None) => {
                CreationFollower::start(&cgroup.path, target, None, self.target_lock.clone())
            }
            (Some(target), Some(Some(ids))) => {
                CreationFollower::start(&cgroup.path, target, Some(ids), self.target_lock.clone())
            }
            _ => Err("cannot share the target map".into()),
        };
        match started {
            Ok(follower) => Some(follower),
            Err(why) => {
                self.skipped.push(format!(
                    "new instances: {why}; a restarted unit is followed by the recording's loop"
                ));
                None
            }
        }
    }

    /// With the exact-id probe, the kernel side's table of recorded cgroup ids, for a thread
    /// that adds each new cgroup as it is made (see `recording::cgroup_names`).
    pub fn exact_ids(&self) -> Option<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd as _;
        if self.probe.matching != CgroupMatch::Exact {
            return None;
        }
        match self.ebpf.map(map::EXACT_CGROUPS)? {
            aya::maps::Map::HashMap(d) => d.fd().as_fd().try_clone_to_owned().ok(),
            _ => None,
        }
    }

    /// The target's cgroup id as the kernel side has it now: the one it followed at its
    /// creation, when that came before user space's look.
    pub fn kernel_target_id(&self) -> Result<u64, RecorderError> {
        let map: Array<&MapData, Target> =
            Array::try_from(self.ebpf.map(map::TARGET).expect("TARGET map"))
                .map_err(map_err(map::TARGET))?;
        Ok(map.get(&0, 0).map_err(map_err(map::TARGET))?.cgroup_id)
    }

    /// Writes the target's switches, keeping the cgroup id the kernel side may have moved
    /// on to since user space last wrote it (it follows a recreated cgroup by itself).
    fn write_switches(&mut self) -> Result<(), RecorderError> {
        let lock = self.target_lock.clone();
        let _turn = lock.lock().unwrap_or_else(|e| e.into_inner());
        let kernel = self.kernel_target_id()?;
        if kernel != 0 {
            self.target.cgroup_id = kernel;
        }
        write_target(&mut self.ebpf, self.target)
    }

    /// Notes the tasks already in the target: forks are noted as they happen, but these were
    /// started before the recording (or by systemd, which is not recorded).
    fn seed_tasks(&mut self, cgroup: &CgroupRef) -> Result<(), RecorderError> {
        let Some(map) = self.ebpf.map_mut(map::TASKS) else {
            return Ok(());
        };
        let mut tasks: HashMap<&mut MapData, u32, u32> =
            HashMap::try_from(map).map_err(map_err(map::TASKS))?;
        for tid in cgroup.threads() {
            // BPF_NOEXIST: a task the kernel side knows already keeps its state. A full
            // table is counted by the forks it refuses; the ones here are few.
            let _ = tasks.insert(tid as u32, task_state::MEMBER, 1 /* BPF_NOEXIST */);
        }
        Ok(())
    }

    /// Tasks moved out of the cgroup (and followed), and forks the task table had no room for.
    pub fn task_stats(&self) -> Result<(u64, u64), RecorderError> {
        let stats: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(map::TASK_STATS).expect("TASK_STATS map"))
                .map_err(map_err(map::TASK_STATS))?;
        let sum = |i| -> Result<u64, RecorderError> {
            Ok(stats
                .get(&i, 0)
                .map_err(map_err(map::TASK_STATS))?
                .iter()
                .sum())
        };
        Ok((sum(task_stat::MOVED)?, sum(task_stat::UNTRACKED)?))
    }

    /// Whether [`SyscallRecorder::follow`] must be called as child cgroups appear.
    pub fn needs_following(&self) -> bool {
        self.probe.matching == CgroupMatch::Exact
    }

    /// The processes (tgids) whose threads entered a syscall lately, as `learner check` noted
    /// them: one slot per thread id modulo the table's size, so a few may be missing.
    pub fn entered_tgids(&self) -> Result<BTreeSet<u32>, RecorderError> {
        let entered: Array<&MapData, EnteredSyscall> =
            Array::try_from(self.ebpf.map(map::ENTERED).expect("ENTERED map"))
                .map_err(map_err(map::ENTERED))?;
        let mut tgids = BTreeSet::new();
        for slot in entered.iter() {
            let slot = slot.map_err(map_err(map::ENTERED))?;
            if slot.pid_tgid != 0 {
                tgids.insert((slot.pid_tgid >> 32) as u32);
            }
        }
        Ok(tgids)
    }

    /// Takes out of the kernel's per-cgroup counts those of cgroups `gone` says are gone: no
    /// task can be in a removed cgroup, so nothing is counted there any more, and their room
    /// is the next cgroups' (a host making units all day would fill the table).
    pub fn take_gone_cgroup_counts(
        &mut self,
        gone: impl Fn(u64) -> bool,
    ) -> Result<std::collections::HashMap<u64, SyscallCounts>, RecorderError> {
        let mut counts: aya::maps::PerCpuHashMap<&mut MapData, learner_common::CgroupSyscall, u64> =
            aya::maps::PerCpuHashMap::try_from(
                self.ebpf
                    .map_mut(map::CGROUP_COUNTS)
                    .expect("CGROUP_COUNTS map"),
            )
            .map_err(map_err(map::CGROUP_COUNTS))?;
        let mut out: std::collections::HashMap<u64, SyscallCounts> = Default::default();
        let mut taken = Vec::new();
        for entry in counts.iter() {
            let (key, per_cpu) = entry.map_err(map_err(map::CGROUP_COUNTS))?;
            if !gone(key.cgroup) {
                continue;
            }
            add_count(&mut out, key.cgroup, key.slot, per_cpu.iter().sum());
            taken.push(key);
        }
        for key in taken {
            counts.remove(&key).map_err(map_err(map::CGROUP_COUNTS))?;
        }
        self.take_gone_rows(&gone, &mut out)?;
        Ok(out)
    }

    /// Adds to `out` the rows of [`map::CGROUP_ROWS`] of cgroups `gone` says are gone, and
    /// gives the rows back to the kernel side zeroed, for the next cgroups. No task is left in
    /// a removed cgroup to count there, and a CPU that still remembers its row never meets
    /// its id again (cgroup ids are not reused).
    fn take_gone_rows(
        &mut self,
        gone: &impl Fn(u64) -> bool,
        out: &mut std::collections::HashMap<u64, SyscallCounts>,
    ) -> Result<(), RecorderError> {
        let dead: Vec<(u64, u32)> = {
            let mut row_of: HashMap<&mut MapData, u64, u32> = HashMap::try_from(
                self.ebpf
                    .map_mut(map::CGROUP_ROW_OF)
                    .expect("CGROUP_ROW_OF map"),
            )
            .map_err(map_err(map::CGROUP_ROW_OF))?;
            let dead: Vec<(u64, u32)> = row_of
                .iter()
                .filter_map(Result::ok)
                .filter(|&(id, _)| gone(id))
                .collect();
            for (id, _) in &dead {
                row_of.remove(id).map_err(map_err(map::CGROUP_ROW_OF))?;
            }
            dead
        };
        if dead.is_empty() {
            return Ok(());
        }
        {
            let mut rows: PerCpuArray<&mut MapData, u64> =
                PerCpuArray::try_from(self.ebpf.map_mut(map::CGROUP_ROWS).expect("CGROUP_ROWS"))
                    .map_err(map_err(map::CGROUP_ROWS))?;
            for &(id, row) in &dead {
                for (slot, index) in row_slots(row) {
                    let total = row_total(&rows, index)?;
                    if total == 0 {
                        continue;
                    }
                    add_count(out, id, slot, total);
                    zero_per_cpu()
                        .and_then(|zeroes| rows.set(index, zeroes, 0))
                        .map_err(map_err(map::CGROUP_ROWS))?;
                }
            }
        }
        let mut free: aya::maps::Queue<&mut MapData, u32> = aya::maps::Queue::try_from(
            self.ebpf
                .map_mut(map::FREE_CGROUP_ROWS)
                .expect("FREE_CGROUP_ROWS map"),
        )
        .map_err(map_err(map::FREE_CGROUP_ROWS))?;
        for (_, row) in dead {
            free.push(row, 0).map_err(map_err(map::FREE_CGROUP_ROWS))?;
        }
        Ok(())
    }

    /// With the exact-id probe, takes the cgroups `gone` says are gone out of the table of
    /// recorded ids: a whole host's units come and go, and the table is bounded.
    pub fn forget_gone_cgroups(&mut self, gone: impl Fn(u64) -> bool) -> Result<(), RecorderError> {
        if self.probe.matching != CgroupMatch::Exact {
            return Ok(());
        }
        let mut ids: HashMap<&mut MapData, u64, u8> =
            HashMap::try_from(self.ebpf.map_mut(map::EXACT_CGROUPS).expect("map"))
                .map_err(map_err(map::EXACT_CGROUPS))?;
        let dead: Vec<u64> = ids
            .keys()
            .filter_map(Result::ok)
            .filter(|&id| gone(id))
            .collect();
        for id in dead {
            let _ = ids.remove(&id);
            self.followed.remove(&id);
        }
        Ok(())
    }

    /// Calls by cgroup id (summed over CPUs), as a whole-host recording counts them.
    pub fn cgroup_counts(
        &self,
    ) -> Result<std::collections::HashMap<u64, SyscallCounts>, RecorderError> {
        let counts: aya::maps::PerCpuHashMap<&MapData, learner_common::CgroupSyscall, u64> =
            aya::maps::PerCpuHashMap::try_from(
                self.ebpf
                    .map(map::CGROUP_COUNTS)
                    .expect("CGROUP_COUNTS map"),
            )
            .map_err(map_err(map::CGROUP_COUNTS))?;
        let mut out: std::collections::HashMap<u64, SyscallCounts> = Default::default();
        for entry in counts.iter() {
            let (key, per_cpu) = entry.map_err(map_err(map::CGROUP_COUNTS))?;
            add_count(&mut out, key.cgroup, key.slot, per_cpu.iter().sum());
        }
        let row_of: HashMap<&MapData, u64, u32> = HashMap::try_from(
            self.ebpf
                .map(map::CGROUP_ROW_OF)
                .expect("CGROUP_ROW_OF map"),
        )
        .map_err(map_err(map::CGROUP_ROW_OF))?;
        let rows: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(map::CGROUP_ROWS).expect("CGROUP_ROWS map"))
                .map_err(map_err(map::CGROUP_ROWS))?;
        for entry in row_of.iter() {
            let (id, row) = entry.map_err(map_err(map::CGROUP_ROW_OF))?;
            for (slot, index) in row_slots(row) {
                let total = row_total(&rows, index)?;
                if total != 0 {
                    add_count(&mut out, id, slot, total);
                }
            }
        }
        Ok(out)
    }

    /// Sums the per-CPU counters.
    pub fn syscall_counts(&self) -> Result<SyscallCounts, RecorderError> {
        let counts: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(map::SYSCALL_COUNTS).expect("map"))
                .map_err(map_err(map::SYSCALL_COUNTS))?;
        let mut out = SyscallCounts::default();
        for (slot, per_cpu) in counts.iter().enumerate() {
            let total: u64 = per_cpu.map_err(map_err(map::SYSCALL_COUNTS))?.iter().sum();
            if total == 0 {
                continue;
            }
            if slot as u32 == SLOT_OUT_OF_RANGE {
                out.out_of_range = total;
            } else {
                out.by_number.insert(slot as u32, total);
            }
        }
        Ok(out)
    }
}

/// The syscalls after which a task may have another comm, on this machine's architecture.
fn comm_changing_syscalls() -> [u32; 3] {
    let nr = |name| {
        Arch::native()
            .and_then(|a| a.syscall_number(name))
            .unwrap_or(u32::MAX)
    };
    [nr("execve"), nr("execveat"), nr("prctl")]
}

/// Tells the programs what to record: the target cgroup, and the switches in [`Target`].
fn write_target(ebpf: &mut Ebpf, target: Target) -> Result<(), RecorderError> {
    let mut map: Array<&mut MapData, Target> =
        Array::try_from(ebpf.map_mut(map::TARGET).expect("TARGET map"))
            .map_err(map_err(map::TARGET))?;
    map.set(0, target, 0).map_err(map_err(map::TARGET))
}

/// Each syscall slot of a row of [`map::CGROUP_ROWS`], with its index in the array.
/// Adds `total` calls of `slot` to cgroup `id`'s counts.
fn add_count(
    out: &mut std::collections::HashMap<u64, SyscallCounts>,
    id: u64,
    slot: u32,
    total: u64,
) {
    let counts = out.entry(id).or_default();
    if slot == SLOT_OUT_OF_RANGE {
        counts.out_of_range += total;
    } else {
        *counts.by_number.entry(slot).or_default() += total;
    }
}

/// One [`map::CGROUP_ROWS`] slot summed over CPUs.
fn row_total<T: std::borrow::Borrow<MapData>>(
    rows: &PerCpuArray<T, u64>,
    index: u32,
) -> Result<u64, RecorderError> {
    Ok(rows
        .get(&index, 0)
        .map_err(map_err(map::CGROUP_ROWS))?
        .iter()
        .sum())
}

fn row_slots(row: u32) -> impl Iterator<Item = (u32, u32)> {
    (0..CGROUP_ROW_SLOTS).map(move |slot| (slot, row * CGROUP_ROW_SLOTS + slot))
}

/// A zero for each possible CPU, to clear a per-CPU array's element.
fn zero_per_cpu() -> Result<aya::maps::PerCpuValues<u64>, MapError> {
    let cpus = aya::util::nr_cpus().map_err(|(call, io_error)| {
        MapError::SyscallError(aya::sys::SyscallError { call, io_error })
    })?;
    aya::maps::PerCpuValues::try_from(vec![0u64; cpus]).map_err(|io_error| {
        MapError::SyscallError(aya::sys::SyscallError {
            call: "nr_cpus",
            io_error,
        })
    })
}

/// Rows of [`map::CGROUP_ROWS`] for a whole-host recording, on a host of `cpus` possible CPUs.
/// A row is 4 KiB on every CPU: a host with many CPUs gets fewer rows, within 16 MiB (up to
/// 256 CPUs, where the floor of 16 rows is reached), and cgroups beyond them are counted in
/// the hash.
fn cgroup_rows(cpus: usize) -> u32 {
    const BUDGET: usize = 16 << 20;
    let row = CGROUP_ROW_SLOTS as usize * std::mem::size_of::<u64>();
    (BUDGET / (row * cpus.max(1))).clamp(16, 256) as u32
}

/// Loads learner's object: its maps are made, its programs wait to be loaded one by one.
/// `subtree` sets the `SUBTREE` global (see `learner_common::global::SUBTREE`).
fn load_object(subtree: bool, all: bool) -> Result<Ebpf, RecorderError> {
    let rows = if all {
        cgroup_rows(aya::util::nr_cpus().unwrap_or(1))
    } else {
        1
    };
    // Without the kernel's BTF: the programs read no kernel structures, so there is nothing
    // to relocate, and parsing it was most of learner's peak memory (~20 MiB).
    let mut ebpf = EbpfLoader::new()
        .btf(None)
        // Per-cgroup counts are preallocated per CPU: only a whole-host recording pays for them.
        .map_max_entries(
            map::CGROUP_COUNTS,
            if all {
                learner_common::CGROUP_COUNT_ENTRIES
            } else {
                1
            },
        )
        .map_max_entries(map::CGROUP_ROW_OF, rows)
        .map_max_entries(map::FREE_CGROUP_ROWS, rows)
        .map_max_entries(
            map::CGROUP_ROWS,
            if all { rows * CGROUP_ROW_SLOTS } else { 1 },
        )
        .override_global(global::SUBTREE, &u8::from(subtree), true)
        .load(EBPF_OBJECT)
        .map_err(|e| {
            if is_permission_error(&e) {
                RecorderError::NotPermitted(e.to_string())
            } else {
                RecorderError::Load(e)
            }
        })?;
    if all {
        let mut free: aya::maps::Queue<&mut MapData, u32> = aya::maps::Queue::try_from(
            ebpf.map_mut(map::FREE_CGROUP_ROWS)
                .expect("FREE_CGROUP_ROWS map"),
        )
        .map_err(map_err(map::FREE_CGROUP_ROWS))?;
        for row in 0..rows {
            free.push(row, 0).map_err(map_err(map::FREE_CGROUP_ROWS))?;
        }
    }
    Ok(ebpf)
}

fn load_and_attach(ebpf: &mut Ebpf, probe: &Probe) -> Result<(), ProgramError> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(probe.program)
        .expect("program is in learner's object")
        .try_into()?;
    prog.load()?;
    prog.attach(probe.tracepoint)?;
    Ok(())
}

impl Drop for SyscallRecorder {
    /// Each tracepoint detach waits for an RCU grace period (about 70 ms here); a hundred
    /// of them one after the other would take seconds. Detached from several threads at once,
    /// they share grace periods.
    fn drop(&mut self) {
        let mut links: Vec<TracePointLink> = Vec::new();
        for (name, id) in self.links.drain(..) {
            let prog: Result<&mut TracePoint, _> = self
                .ebpf
                .program_mut(name)
                .expect("attached program")
                .try_into();
            if let Ok(link) = prog.and_then(|p| p.take_link(id)) {
                links.push(link);
            }
        }
        const THREADS: usize = 16;
        let per_thread = links.len().div_ceil(THREADS).max(1);
        std::thread::scope(|scope| {
            let mut links = links;
            while !links.is_empty() {
                let chunk: Vec<TracePointLink> =
                    links.drain(..per_thread.min(links.len())).collect();
                scope.spawn(move || drop(chunk));
            }
        });
    }
}

/// Where tracefs is mounted; mounts it at /sys/kernel/tracing when it is nowhere (as root
/// that is allowed, and tools that use tracepoints do the same).
fn tracefs() -> Option<PathBuf> {
    const PLACES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let found = || {
        PLACES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.join("events").is_dir())
    };
    if let Some(p) = found() {
        return Some(p);
    }
    // SAFETY: mount(2) with NUL-terminated constant strings.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return None;
    }
    found()
}

/// Offsets of the fields in a tracepoint's `format` file, by field name.
fn format_fields(format: &Path) -> Option<Vec<(String, usize)>> {
    let text = std::fs::read_to_string(format).ok()?;
    let mut fields = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';');
        let decl = parts.next()?.trim();
        let offset = parts.next()?.trim().strip_prefix("offset:")?.parse().ok()?;
        let name = decl.rsplit([' ', '*']).next()?.to_owned();
        fields.push((name, offset));
    }
    Some(fields)
}

fn field_offset(fields: &[(String, usize)], name: &str) -> Option<usize> {
    fields.iter().find(|(n, _)| n == name).map(|&(_, off)| off)
}

/// How many levels the cgroup2 mount's root is below the hierarchy's root: 0 in the initial
/// cgroup namespace; inside another one (a container) measured, because a path there starts
/// at the namespace's root while `bpf_get_current_ancestor_cgroup_id` counts from the
/// hierarchy's. A child is moved into a scratch cgroup below the mount, and a program notes
/// the ancestors of its first syscall there; the mount root's position among them is the
/// answer.
fn level_offset(ebpf: &mut Ebpf) -> Result<u32, String> {
    use std::os::unix::{fs::MetadataExt as _, process::CommandExt as _};
    let ns = std::fs::metadata("/proc/self/ns/cgroup").map(|m| m.ino());
    if ns.as_ref().is_ok_and(|&ino| ino == INITIAL_CGROUP_NS) {
        return Ok(0);
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!("in a cgroup namespace, and the cgroup level could not be measured ({what}: {e})")
    };
    let root = crate::systemd::cgroup::cgroup2_mount().map_err(|e| fail("cgroup2", &e))?;
    let root_id = crate::systemd::cgroup::cgroup_id(&root).map_err(|e| fail("cgroup2", &e))?;
    let scratch = crate::systemd::cgroup::Cgroup::create(
        &root,
        &format!("learner-calibrate-{}", std::process::id()),
    )
    .map_err(|e| fail("scratch cgroup", &e))?;
    {
        let mut cal: Array<&mut MapData, Calibration> =
            Array::try_from(ebpf.map_mut(map::CALIBRATION).expect("CALIBRATION map"))
                .map_err(|e| fail("map", &e))?;
        let start = Calibration {
            cgroup_id: scratch.id(),
            ..Calibration::default()
        };
        cal.set(0, start, 0).map_err(|e| fail("map", &e))?;
    }
    let prog: &mut RawTracePoint = ebpf
        .program_mut(program::CALIBRATE)
        .expect("program is in learner's object")
        .try_into()
        .map_err(|e: ProgramError| fail("program", &why(&e)))?;
    prog.load().map_err(|e| fail("program", &why(&e)))?;
    let link = prog
        .attach("sys_enter")
        .map_err(|e| fail("program", &why(&e)))?;
    let procs = std::ffi::CString::new(scratch.procs_file().into_os_string().into_encoded_bytes())
        .map_err(|e| fail("path", &e))?;
    let mut child = std::process::Command::new("/proc/self/exe");
    child
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: join makes only async-signal-safe calls.
    unsafe { child.pre_exec(move || crate::systemd::cgroup::join(&procs)) };
    let ran = child.status();
    let _ = prog.detach(link);
    let _ = prog.unload();
    let _ = scratch.remove();
    ran.map_err(|e| fail("child", &e))?;
    let cal: Array<&MapData, Calibration> =
        Array::try_from(ebpf.map(map::CALIBRATION).expect("CALIBRATION map"))
            .map_err(|e| fail("map", &e))?;
    let cal = cal.get(&0, 0).map_err(|e| fail("map", &e))?;
    if cal.done == 0 {
        return Err(fail("calibration", &"the child's syscalls were not seen"));
    }
    cal.ancestors
        .iter()
        .position(|&id| id == root_id)
        .map(|level| level as u32)
        .ok_or_else(|| {
            fail(
                "calibration",
                &"the mount's root is not among the child's ancestors",
            )
        })
}

/// The highest number, on `arch`, of a syscall this kernel has a `sys_enter_*` tracepoint
/// for: syscalls are numbered in the order they were added, so a traced syscall without a
/// tracepoint numbered above it is one this kernel is too old to have. None without any.
fn newest_traced_syscall(tracefs: &Path, arch: Arch) -> Option<u32> {
    std::fs::read_dir(tracefs.join("events/syscalls"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            arch.syscall_number(name.to_str()?.strip_prefix("sys_enter_")?)
        })
        .max()
}

/// How many arguments a `syscalls/sys_enter_*` tracepoint's record carries.
fn syscall_arity(format: &Path) -> Option<usize> {
    let fields = format_fields(format)?;
    Some(fields.iter().filter(|(_, off)| *off >= 16).count())
}

/// Checks that a tracepoint's record (`format`, from tracefs) has each field where the
/// program reads it.
fn layout_ok(format: &Path, tracepoint: &str, expected: &[(&str, usize)]) -> Result<(), String> {
    let fields = format_fields(format)
        .ok_or_else(|| format!("this kernel has no {tracepoint} tracepoint"))?;
    let at = |name: &str| fields.iter().find(|(n, _)| n == name).map(|&(_, off)| off);
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(name, off)| at(name) != Some(*off))
        .map(|(name, off)| format!("{name} at {:?} where learner reads {off}", at(name)))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{tracepoint} has {}", wrong.join(", ")))
    }
}

/// A loaded program's `recursion_misses` (0 on kernels that do not count them, whose info is
/// shorter: the kernel fills what it knows and zeroes nothing beyond).
fn recursion_misses(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    use std::os::fd::AsRawFd as _;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // SAFETY: plain integers and pointers-as-integers: all zeroes is a valid value.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<aya_obj::generated::bpf_prog_info>() as u32,
        info: &mut info as *mut _ as u64,
    };
    // SAFETY: bpf(2) writes at most info_len bytes into `info`, which lives until it returns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &mut attr as *mut InfoAttr,
            size_of::<InfoAttr>(),
        )
    };
    (rc == 0).then_some(info.recursion_misses)
}

/// Kernels before 5.11 charge BPF maps against RLIMIT_MEMLOCK, whose default is tiny.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; failure only means the old limit stays.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How Linux 5.10 refuses a tracepoint program that calls the ancestor helper (the
    /// middle of the walk left out).
    const LOG_5_10: &str = "func#0 @0
0: R1=ctx(id=0,off=0,imm=0) R10=fp0
; let target = TARGET.get(0)?;
0: (b7) r6 = 0
1: (63) *(u32 *)(r10 -4) = r6
27: (bf) r1 = r6
28: (85) call unknown#123
unknown func bpf_get_current_ancestor_cgroup_id#123
processed 29 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 1
";

    #[test]
    fn cgroup_rows_stay_within_their_memory_budget_on_any_host() {
        let bytes =
            |cpus: usize| cgroup_rows(cpus) as usize * CGROUP_ROW_SLOTS as usize * 8 * cpus.max(1);
        // A small host gets every row there is; a big one fewer, within 16 MiB.
        assert_eq!(cgroup_rows(2), 256);
        assert_eq!(bytes(2), 2 << 20);
        assert_eq!(cgroup_rows(64), 64);
        assert_eq!(bytes(64), 16 << 20);
        // Never none: a huge host still gets its busiest units' rows.
        assert_eq!(cgroup_rows(4096), 16);
        assert_eq!(cgroup_rows(0), 256);
        assert!((1..=256).all(|cpus| bytes(cpus) <= 16 << 20));
    }

    #[test]
    fn a_cgroup_row_covers_its_own_slice_of_the_array() {
        let row: Vec<(u32, u32)> = row_slots(3).collect();
        assert_eq!(row.len(), CGROUP_ROW_SLOTS as usize);
        assert_eq!(row[0], (0, 3 * CGROUP_ROW_SLOTS));
        assert_eq!(
            row[row.len() - 1],
            (CGROUP_ROW_SLOTS - 1, 4 * CGROUP_ROW_SLOTS - 1)
        );
    }

    #[test]
    fn a_refused_program_is_one_line_naming_what_the_verifier_refused() {
        let e = io::Error::from_raw_os_error(libc::EINVAL);
        let line = refused(&e, LOG_5_10);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("the verifier refused it (Invalid argument"),
            "{line}"
        );
        assert!(
            line.ends_with("): unknown func bpf_get_current_ancestor_cgroup_id#123"),
            "{line}"
        );
        // Newer kernels end with more statistics.
        let newer = format!("{LOG_5_10}verification time 31 usec\nstack depth 8\n");
        assert_eq!(refused(&e, &newer), line);
        assert_eq!(
            refused(&e, "\n\n"),
            "the kernel refused to load it: Invalid argument (os error 22)"
        );
    }

    #[test]
    fn other_program_errors_are_one_line_with_their_cause() {
        let e = ProgramError::SyscallError(aya::sys::SyscallError {
            call: "perf_event_open",
            io_error: io::Error::from_raw_os_error(libc::ENOENT),
        });
        assert_eq!(
            why(&e),
            "`perf_event_open` failed: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn the_newest_syscall_is_the_highest_numbered_tracepoint() {
        let tracefs = std::env::temp_dir().join(format!("learner-tracefs-{}", std::process::id()));
        let syscalls = tracefs.join("events/syscalls");
        // Linux 5.10's newest is process_madvise (440); fchmodat2 (452) came with 6.6.
        for name in [
            "sys_enter_openat",
            "sys_exit_openat",
            "sys_enter_process_madvise",
        ] {
            std::fs::create_dir_all(syscalls.join(name)).unwrap();
        }
        std::fs::create_dir_all(syscalls.join("enable")).unwrap();
        let newest = newest_traced_syscall(&tracefs, Arch::X86_64);
        let empty = tracefs.join("none");
        std::fs::create_dir_all(empty.join("events/syscalls")).unwrap();
        let none = newest_traced_syscall(&empty, Arch::X86_64);
        std::fs::remove_dir_all(&tracefs).unwrap();
        assert_eq!(newest, Some(440));
        assert!(Arch::X86_64.syscall_number("fchmodat2") > newest);
        assert_eq!(none, None);
    }
}
