//! learner's kernel side.
//!
//! Every syscall on the machine passes through `sys_enter`, so each program first rejects
//! other cgroups as cheaply as it can. Syscalls of the target are counted in a per-CPU array
//! (no atomics, no events). A few dozen syscalls whose arguments decide hardening directives
//! (paths, socket families, namespace flags, ...) are traced by their own `syscalls/*`
//! tracepoints, whose records carry the arguments: the entry is kept per task until the exit
//! adds the result, then the event goes to user space unless an identical one already did,
//! in which case only a counter moves. Capability checks come from `capability/cap_capable`,
//! or, on kernels without it, a kprobe and kretprobe on `cap_capable()`.
#![no_std]
#![feature(asm_experimental_arch)]
#![no_main]

use aya_ebpf::{
    EbpfContext as _, Global,
    bindings::BPF_NOEXIST,
    cty::c_void,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_pid_tgid,
        bpf_get_current_uid_gid, bpf_probe_read_user, bpf_probe_read_user_buf,
        bpf_probe_read_user_str_bytes, generated,
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, Queue, RingBuf},
    programs::{RawTracePointContext, TracePointContext},
};
use learner_common::{
    CAP_CAPABLE_CAP_OFFSET, CAP_CAPABLE_CRED_OFFSET, CAP_CAPABLE_RET_OFFSET, CAP_OPT_NOAUDIT,
    CGROUP_COUNT_ENTRIES, CGROUP_ROW_SLOTS, Calibration, CapabilityEvent, CgroupSyscall,
    CurrentSyscall, DEDUP_ENTRIES, EVENTS_BYTES, EnteredSyscall, EventTag, IN_PAGE_FAULT,
    IoUringEvent, MAX_CGROUP_LEVELS, MAX_EXACT_CGROUPS, MAX_TASKS, MovedEvent, NO_CGROUP_ROW,
    NO_SYSCALL, NO_VERDICT, NOT_IN_SYSCALL, PENDING_ENTRIES, PENDING_EXEC_ENTRIES, PendingCall,
    RefusedEvent, SLOT_OUT_OF_RANGE, STR_LEN, SYS_EXIT_ID_OFFSET, SYS_EXIT_RET_OFFSET,
    SYSCALL_COUNT_SLOTS, SYSCALL_SLOTS, Shape, SyscallEvent, Target, ThreadCall, base, base_effect,
    extra, shape_flags, string_kind, task_stat, task_state,
};

/// See `learner_common::global::SUBTREE`.
#[unsafe(no_mangle)]
static SUBTREE: Global<u8> = Global::new(1);

#[map(name = "TARGET")]
static TARGET: Array<Target> = Array::with_max_entries(1, 0);

#[map(name = "SYSCALL_COUNTS")]
static SYSCALL_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(SYSCALL_COUNT_SLOTS, 0);

#[map(name = "CGROUP_COUNTS")]
static CGROUP_COUNTS: PerCpuHashMap<CgroupSyscall, u64> =
    PerCpuHashMap::with_max_entries(CGROUP_COUNT_ENTRIES, 0);

/// The three below are sized by user space, and only for a whole-host recording: one row
/// (or entry) each otherwise.
#[map(name = "CGROUP_ROW_OF")]
static CGROUP_ROW_OF: HashMap<u64, u32> = HashMap::with_max_entries(1, 0);

#[map(name = "FREE_CGROUP_ROWS")]
static FREE_CGROUP_ROWS: Queue<u32> = Queue::with_max_entries(1, 0);

#[map(name = "CGROUP_ROWS")]
static CGROUP_ROWS: PerCpuArray<u64> = PerCpuArray::with_max_entries(CGROUP_ROW_SLOTS, 0);

#[map(name = "EXACT_CGROUPS")]
static EXACT_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_EXACT_CGROUPS, 0);

/// Which task entered which syscall last, per CPU: tells a capability check its syscall.
#[map(name = "CURRENT")]
static CURRENT: PerCpuArray<CurrentSyscall> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "SHAPES")]
static SHAPES: Array<Shape> = Array::with_max_entries(SYSCALL_SLOTS, 0);

#[map(name = "EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

#[map(name = "LOST")]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Copies counted per key. Two maps take turns, so user space can drain one while the other
/// counts. Preallocated and shared by all CPUs (counted with an atomic add): entries freed
/// one by one by user space went through the kernel's deferred freeing, which took half the
/// collector's time, and preallocated per-CPU values would cost every CPU a copy of the map.
#[map(name = "DEDUP")]
static DEDUP: HashMap<u64, u64> = HashMap::with_max_entries(DEDUP_ENTRIES, 0);

#[map(name = "DEDUP_B")]
static DEDUP_B: HashMap<u64, u64> = HashMap::with_max_entries(DEDUP_ENTRIES, 0);

/// Per thread (slot: thread id modulo the size), the syscall `sys_enter` saw it enter and
/// `sys_exit` has not seen it leave; written only while `learner check` runs.
#[map(name = "ENTERED")]
static ENTERED: Array<EnteredSyscall> = Array::with_max_entries(PENDING_ENTRIES, 0);

/// What each recorded thread is inside of, for its capability checks (see `ThreadCall`).
#[map(name = "THREAD_CALLS")]
static THREAD_CALLS: Array<ThreadCall> = Array::with_max_entries(PENDING_ENTRIES, 0);

/// See [`CurrentSyscall::verdict_generation`].
#[map(name = "COMM_GENERATION")]
static COMM_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Traced calls between entry and exit, in the slot of their thread id modulo the size. An
/// array, not a hash map keyed by task: its lookups compile to pointer arithmetic, where
/// inserting into and deleting from a hash map cost more than the rest of the way.
#[map(name = "PENDING")]
static PENDING: Array<PendingCall> = Array::with_max_entries(PENDING_ENTRIES, 0);

/// Execs between entry and exit, with their strings read at entry, by task.
#[map(name = "PENDING_EXEC")]
static PENDING_EXEC: HashMap<u64, SyscallEvent> =
    HashMap::with_max_entries(PENDING_EXEC_ENTRIES, 0);

/// The service's tasks by thread id (see `learner_common::map::TASKS`).
#[map(name = "TASKS")]
static TASKS: HashMap<u32, u32> = HashMap::with_max_entries(MAX_TASKS, 0);

#[map(name = "FOLLOWING")]
static FOLLOWING: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "TASK_STATS")]
static TASK_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(task_stat::COUNT, 0);

#[map(name = "CALIBRATION")]
static CALIBRATION: Array<Calibration> = Array::with_max_entries(1, 0);

/// Each process's working directory, as a base (see `learner_common::base`): set by chdir and
/// fchdir, copied to a child at fork. LRU: entries of exited processes make room by themselves.
#[map(name = "CWD_BASE")]
static CWD_BASE: LruHashMap<u32, u64> = LruHashMap::with_max_entries(MAX_TASKS * 2, 0);

/// Each chrooted process's root directory, as a base: set by chroot, copied to a child at
/// fork. No entry: the root is the recording's root, and absolute paths are just that.
#[map(name = "ROOT_BASE")]
static ROOT_BASE: LruHashMap<u32, u64> = LruHashMap::with_max_entries(MAX_TASKS * 2, 0);

/// The base of what each (process, fd) opened, from the open that returned it.
#[map(name = "FD_BASE")]
static FD_BASE: LruHashMap<u64, u64> = LruHashMap::with_max_entries(1 << 16, 0);

/// Who forked each task: a child's inherited fds are its parent's.
#[map(name = "PARENT")]
static PARENT: LruHashMap<u32, u32> = LruHashMap::with_max_entries(MAX_TASKS * 2, 0);

/// Where an event is built: too big for the 512-byte stack.
#[map(name = "SCRATCH")]
static SCRATCH: PerCpuArray<SyscallEvent> = PerCpuArray::with_max_entries(1, 0);

/// The syscall id is the raw tracepoint's second argument (`sys_enter(regs, id)`).
const ARG_SYSCALL_ID: usize = 1;
/// `syscalls/*` records: `int __syscall_nr` at 8, then the arguments (or `long ret`) from 16.
const TP_NR_OFFSET: usize = 8;
const TP_ARGS_OFFSET: usize = 16;

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AT_FDCWD: i32 = -100;
const AF_INET6: u16 = 10;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const F_DUPFD: u64 = 0;
const F_DUPFD_CLOEXEC: u64 = 1030;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

// ---- syscall counting -------------------------------------------------------------------

/// Matches the target's whole subtree: one helper call and a compare.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn learner_sys_enter_subtree(ctx: RawTracePointContext) -> i32 {
    match try_sys_enter_subtree(&ctx) {
        Ok(()) | Err(()) => 0,
    }
}

/// Fallback for kernels without `bpf_get_current_ancestor_cgroup_id` in tracing programs:
/// exact cgroup ids, with user space adding descendants as they appear.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn learner_sys_enter_exact(ctx: RawTracePointContext) -> i32 {
    match try_sys_enter_exact(&ctx) {
        Ok(()) | Err(()) => 0,
    }
}

/// Records nothing: `cargo xtask bench` attaches it to measure what the kernel charges every
/// syscall for running any program at `sys_enter`, the floor under learner's own cost.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn learner_sys_enter_floor(_ctx: RawTracePointContext) -> i32 {
    0
}

fn try_sys_enter_subtree(ctx: &RawTracePointContext) -> Result<(), ()> {
    let target = TARGET.get(0).ok_or(())?;
    if !in_subtree(target) && !followed() {
        return Err(());
    }
    count(ctx, target)
}

fn try_sys_enter_exact(ctx: &RawTracePointContext) -> Result<(), ()> {
    let target = TARGET.get(0).ok_or(())?;
    if !in_exact_cgroups() && !followed() {
        return Err(());
    }
    count(ctx, target)
}

#[inline(always)]
fn in_exact_cgroups() -> bool {
    // SAFETY: helper call without arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    EXACT_CGROUPS.get_ptr(cgroup).is_some()
}

/// Whether the current task is one of the service's that left its cgroup: the sandbox goes
/// with the process, not with the cgroup. Costs other tasks one array read until a first
/// task was followed, a hash lookup after.
#[inline(always)]
fn followed() -> bool {
    match FOLLOWING.get(0) {
        Some(on) if *on != 0 => {}
        _ => return false,
    }
    // By thread, as the fork, move and exit programs keep the table: a process whose main
    // thread exits while others run stays followed (looked up by process, it dropped out).
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: a plain u32 map value.
    matches!(unsafe { TASKS.get(&tid) }, Some(&task_state::FOLLOWED))
}

#[inline(always)]
fn in_subtree(target: &Target) -> bool {
    if target.cgroup_id == 0 {
        return false;
    }
    // SAFETY: helper call with a plain integer argument.
    let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(target.level as i32) };
    ancestor == target.cgroup_id
}

/// Whether the current task is in the recorded cgroups, matched as the syscall probe
/// matches them: by exact ids with the exact probe (chosen where the subtree test cannot
/// work: a kernel without the helper, or a cgroup namespace whose level offset could not be
/// measured), else by subtree. Loaded for the exact probe, `SUBTREE` is 0 and the verifier
/// never sees the subtree branch's helper call.
#[inline(always)]
fn in_recorded_cgroups(target: &Target) -> bool {
    if SUBTREE.load() == 0 || target.exact != 0 {
        in_exact_cgroups()
    } else {
        in_subtree(target)
    }
}

/// The target, when observations are on and the current task is in its subtree.
#[inline(always)]
fn observed_target() -> Option<&'static Target> {
    let target = TARGET.get(0)?;
    (target.observe != 0 && (in_recorded_cgroups(target) || followed())).then_some(target)
}

/// systemd's forked executor, `(name)` until it execs the service (systemd-executor on v255+,
/// or `N` where systemd spawns it as /proc/self/fd/N: 1 to 3 digits): it sets up the sandbox,
/// and its calls are not the service's. As the collector's `is_service_manager`.
#[inline(always)]
fn is_service_manager(comm: &[u8; 16]) -> bool {
    let digit = |b: u8| b.is_ascii_digit();
    comm[0] == b'('
        || (digit(comm[0])
            && (comm[1] == 0
                || (digit(comm[1]) && (comm[2] == 0 || (digit(comm[2]) && comm[3] == 0)))))
        || (comm[0] == b's'
            && comm[1] == b'y'
            && comm[2] == b's'
            && comm[3] == b't'
            && comm[4] == b'e'
            && comm[5] == b'm'
            && comm[6] == b'd'
            && comm[7] == b'-'
            && comm[8] == b'e'
            && comm[9] == b'x')
}

#[inline(always)]
fn count(ctx: &RawTracePointContext, target: &Target) -> Result<(), ()> {
    let id: i64 = ctx.arg(ARG_SYSCALL_ID);
    let current = CURRENT.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU slot of a map value; a program runs to completion on one CPU.
    let current = unsafe { &mut *current };
    let pid_tgid = bpf_get_current_pid_tgid();
    let generation = COMM_GENERATION.get_ptr_mut(0).ok_or(())?;
    // SAFETY: a map value; only touched atomically (below) or read whole.
    let generation_now = unsafe { core::ptr::read_volatile(generation) };
    let cached = current.pid_tgid == pid_tgid && current.verdict_generation == generation_now;
    // Every task of the target, systemd's executor included: a capability check must find
    // the syscall it happens in.
    current.pid_tgid = pid_tgid;
    current.nr = id as u64;
    current.uid_gid = bpf_get_current_uid_gid();
    note_thread_call(pid_tgid, id as u64, current.uid_gid);
    if target.check != 0
        && let Some(entered) = ENTERED.get_ptr_mut(pending_slot(pid_tgid))
    {
        // SAFETY: a map value; the slot is its thread's (see learner_refused).
        unsafe {
            (*entered).pid_tgid = pid_tgid;
            (*entered).nr = id as u64;
        }
    }
    let changing =
        target.comm_changing[0] == u32::MAX || target.comm_changing.contains(&(id as u32));
    if changing || !cached {
        // This call is judged by the comm it enters with: a verdict left in this CPU's slot
        // may be another task's (systemd's executor's prctl calls were counted as the
        // service's when a service's task had run last on the CPU, under load).
        let mut comm = [0u8; 16];
        current_comm(&mut comm);
        current.manager = u64::from(is_service_manager(&comm));
        current.verdict_generation = generation_now;
    }
    if changing {
        // The comm may change in this call: every cached verdict of this task, on any CPU,
        // is stale once it returns.
        // SAFETY: an aligned u64 in a map value, updated atomically (BPF_ATOMIC add).
        unsafe { atomic_add_one(generation) };
        current.verdict_generation = NO_VERDICT;
    }
    if current.manager != 0 || target.counting == 0 {
        return Err(());
    }
    let slot = if id >= 0 && id < SYSCALL_SLOTS as i64 {
        id as u32
    } else {
        SLOT_OUT_OF_RANGE
    };
    if target.all != 0 {
        return count_in_cgroup(current, slot);
    }
    let counter = SYSCALL_COUNTS.get_ptr_mut(slot).ok_or(())?;
    // SAFETY: as above.
    unsafe { *counter += 1 };
    Ok(())
}

/// Counts a call of every unit recorded at once: by cgroup, so each unit gets its own counts.
/// In the cgroup's row of an array, as cheap as one unit's count, where the cgroup has a row
/// and this CPU's last counted task was of the same cgroup; else the row is looked up (a
/// task switch), and a cgroup without one is counted in a hash by (cgroup, slot).
#[inline(always)]
fn count_in_cgroup(current: &mut CurrentSyscall, slot: u32) -> Result<(), ()> {
    // SAFETY: helper call without arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if current.cgroup != cgroup {
        current.cgroup = cgroup;
        current.cgroup_row = cgroup_row(cgroup);
    }
    if current.cgroup_row != NO_CGROUP_ROW && slot < CGROUP_ROW_SLOTS {
        let index = (current.cgroup_row as u32)
            .wrapping_sub(1)
            .wrapping_mul(CGROUP_ROW_SLOTS)
            .wrapping_add(slot);
        if let Some(counter) = CGROUP_ROWS.get_ptr_mut(index) {
            // SAFETY: this CPU's value; a program runs to completion on one CPU.
            unsafe { *counter += 1 };
            return Ok(());
        }
    }
    let key = CgroupSyscall {
        cgroup,
        slot,
        _pad: 0,
    };
    if let Some(counter) = CGROUP_COUNTS.get_ptr_mut(&key) {
        // SAFETY: this CPU's value of the entry; a program runs to completion on one CPU.
        unsafe { *counter += 1 };
        return Ok(());
    }
    // Only this CPU's value is set; the others start at 0.
    if CGROUP_COUNTS.insert(&key, &1, 0).is_err() {
        lost();
    }
    Ok(())
}

/// `cgroup`'s row plus one, given it now from the free ones if it has none yet (a cgroup's
/// first call on the host); [`NO_CGROUP_ROW`] when none is free.
#[inline(always)]
fn cgroup_row(cgroup: u64) -> u64 {
    // SAFETY: a plain u32 map value.
    if let Some(&row) = unsafe { CGROUP_ROW_OF.get(&cgroup) } {
        return u64::from(row) + 1;
    }
    let Ok(Some(row)) = FREE_CGROUP_ROWS.pop() else {
        return NO_CGROUP_ROW;
    };
    if CGROUP_ROW_OF
        .insert(&cgroup, &row, u64::from(BPF_NOEXIST))
        .is_ok()
    {
        return u64::from(row) + 1;
    }
    // Another CPU gave the cgroup its row first: this one goes back.
    let _ = FREE_CGROUP_ROWS.push(row, 0);
    // SAFETY: as above.
    match unsafe { CGROUP_ROW_OF.get(&cgroup) } {
        Some(&row) => u64::from(row) + 1,
        None => NO_CGROUP_ROW,
    }
}

// ---- traced syscalls --------------------------------------------------------------------

/// Reads a field of a tracepoint record. The record is the program's context, which the
/// verifier lets us read directly (no probe-read helper, which lockdown may forbid).
#[inline(always)]
fn ctx_field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: offsets are constants within the record, naturally aligned for their type
    // (the kernel checks the record's layout at attach; user space checks the offsets).
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(offset) as *const T) }
}

/// The current task's comm, written in place: returning it by value made the compiler copy
/// it byte by byte through the stack.
#[inline(always)]
fn current_comm(comm: &mut [u8; 16]) {
    // SAFETY: the helper writes at most 16 bytes, zeroing them on failure.
    unsafe { generated::bpf_get_current_comm(comm.as_mut_ptr() as *mut c_void, 16) };
}

/// A plain store the compiler may not merge with its neighbours: merged, they became calls
/// to a byte-by-byte memset or memcpy, as BPF has no such instructions.
#[inline(always)]
fn set<T: Copy>(place: &mut T, value: T) {
    // SAFETY: a valid, aligned place.
    unsafe { core::ptr::write_volatile(place, value) };
}

/// A comm as two words for hashing.
#[inline(always)]
fn comm_words(comm: &[u8; 16]) -> [u64; 2] {
    // SAFETY: every comm hashed is a field at an 8-aligned offset of an 8-aligned event
    // (checked below), so both reads are aligned and in bounds.
    unsafe {
        let words = comm.as_ptr() as *const u64;
        [core::ptr::read(words), core::ptr::read(words.add(1))]
    }
}
const _: () = assert!(core::mem::offset_of!(SyscallEvent, comm) % 8 == 0);
const _: () = assert!(core::mem::offset_of!(CapabilityEvent, comm) % 8 == 0);
const _: () = assert!(core::mem::offset_of!(RefusedEvent, comm) % 8 == 0);
const _: () = assert!(core::mem::offset_of!(IoUringEvent, comm) % 8 == 0);

/// One program per argument count: the kernel refuses to attach a program that reads past
/// the end of a tracepoint's record, and `sys_enter_*` records end after their arguments.
macro_rules! enter_program {
    ($name:ident, $n:literal) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            let _ = try_enter::<$n>(&ctx);
            0
        }
    };
}
enter_program!(learner_enter0, 0);
enter_program!(learner_enter1, 1);
enter_program!(learner_enter2, 2);
enter_program!(learner_enter3, 3);
enter_program!(learner_enter4, 4);
enter_program!(learner_enter5, 5);
enter_program!(learner_enter6, 6);

#[inline(always)]
fn try_enter<const N: usize>(ctx: &TracePointContext) -> Result<(), ()> {
    observed_target().ok_or(())?;
    let nr = ctx_field::<i32>(ctx, TP_NR_OFFSET) as u32;
    let shape = *SHAPES.get(nr).ok_or(())?;
    if shape.traced == 0 {
        return Err(());
    }
    if shape.flags & shape_flags::CREDENTIAL_SWITCH != 0 {
        new_credential_generation(bpf_get_current_pid_tgid());
    }
    if N > 2 {
        let prot = ctx_field::<u64>(ctx, TP_ARGS_OFFSET + 16);
        if shape.flags & shape_flags::PROT_EXEC_ARG2 != 0 && prot & PROT_EXEC == 0 {
            return Ok(());
        }
        if shape.flags & shape_flags::PROT_WX_ARG2 != 0
            && prot & (PROT_WRITE | PROT_EXEC) != PROT_WRITE | PROT_EXEC
        {
            return Ok(());
        }
    }

    if N > 1 && shape.flags & shape_flags::DUPFD_CMD_ARG1 != 0 {
        // fcntl's cmd is an int.
        let cmd = ctx_field::<u64>(ctx, TP_ARGS_OFFSET + 8) & 0xffff_ffff;
        if cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC {
            return Ok(());
        }
    }

    let pid_tgid = bpf_get_current_pid_tgid();
    let slot = PENDING.get_ptr_mut(pending_slot(pid_tgid)).ok_or(())?;
    // SAFETY: a map value; the slot's owner is its thread, and a thread that finds another
    // one's call there (same id modulo the size, both inside a syscall) takes it over and
    // counts that call lost. Written in place, field by field: whole-struct copies became
    // calls to a byte-copying memcpy.
    let call = unsafe { &mut *slot };
    if call.pid_tgid != 0 && call.pid_tgid != pid_tgid {
        lost();
    }
    call.pid_tgid = pid_tgid;
    call.nr = nr;
    let mut i = 0;
    while i < 6 {
        let arg = if i < N {
            ctx_field::<u64>(ctx, TP_ARGS_OFFSET + 8 * i)
        } else {
            0
        };
        set(&mut call.args[i], arg);
        i += 1;
    }
    // From the arguments as stored (a map value): read from the record itself, the two
    // places the path may be were merged into one computed offset, which the verifier refuses
    // for a context pointer.
    if shape.flags & shape_flags::EMPTY_PATH_IS_FD != 0
        && let Some(ptr) = arg_by_index(&call.args, shape.string_arg[0])
    {
        // SAFETY: a one-byte read from user memory; a failure (a page not in yet) keeps the
        // call, whose string the exit reads again.
        if unsafe { bpf_probe_read_user(ptr as *const u8) } == Ok(0) {
            call.pid_tgid = 0;
            return Ok(());
        }
    }
    if shape.flags & shape_flags::ADDRESS_SET != 0 {
        let mut ptr = arg_by_index(&call.args, shape.string_arg[1]).unwrap_or(0);
        if shape.string1_kind == string_kind::MSGHDR && ptr != 0 {
            // SAFETY: reads msghdr.msg_name from user memory; failure reads as NULL.
            ptr = unsafe { bpf_probe_read_user(ptr as *const u64) }.unwrap_or(0);
        }
        if ptr == 0 {
            // A send or receive on a connected socket: no address to learn.
            call.pid_tgid = 0;
            return Ok(());
        }
    }
    let (a0, a1, a2) = (call.args[0], call.args[1], call.args[2]);
    set(&mut call.extra[0], 0);
    set(&mut call.extra[1], 0);
    match shape.extra {
        // SAFETY (all four): reads of plain integers from user memory, failure leaves 0.
        extra::CLONE3_FLAGS => {
            call.extra[0] = unsafe { bpf_probe_read_user(a0 as *const u64) }.unwrap_or(0);
        }
        extra::OPEN_HOW => {
            call.extra[0] = unsafe { bpf_probe_read_user(a2 as *const u64) }.unwrap_or(0);
            call.extra[1] = unsafe { bpf_probe_read_user((a2 + 8) as *const u64) }.unwrap_or(0);
        }
        extra::SCHED_ATTR_POLICY => {
            call.extra[0] =
                u64::from(unsafe { bpf_probe_read_user((a1 + 4) as *const u32) }.unwrap_or(0));
        }
        extra::CAPSET_PERMITTED => {
            // __user_cap_data_struct is { effective, permitted, inheritable }, all u32.
            let version = unsafe { bpf_probe_read_user(a0 as *const u32) }.unwrap_or(0);
            let low = unsafe { bpf_probe_read_user((a1 + 4) as *const u32) }.unwrap_or(0);
            let high = if version == extra::CAPABILITY_VERSION_1 {
                0
            } else {
                unsafe { bpf_probe_read_user((a1 + 16) as *const u32) }.unwrap_or(0)
            };
            call.extra[0] = u64::from(low) | (u64::from(high) << 32);
            call.extra[1] = u64::from(version);
        }
        _ => {}
    }
    if shape.flags & shape_flags::AT_ENTER != 0 {
        // exit and exit_group never return.
        call.pid_tgid = 0;
        finish(build_event(call, pid_tgid, &shape)?, &shape);
    } else if shape.string1_kind == string_kind::ARGV0 {
        // A successful exec replaces the memory its strings are in: read them now. Kept by
        // process, not thread: an exec from a thread that is not the leader returns as the
        // leader (the thread takes its id), and its own slot would wait for an exit that
        // never comes.
        call.pid_tgid = 0;
        let ev = build_event(call, pid_tgid, &shape)?;
        if PENDING_EXEC.insert(pid_tgid >> 32, &*ev, 0).is_err() {
            lost();
        }
    }
    Ok(())
}

#[inline(always)]
fn pending_slot(pid_tgid: u64) -> u32 {
    (pid_tgid as u32) & (PENDING_ENTRIES - 1)
}

/// Fills the per-CPU scratch event from a call and reads its strings and the task's comm.
#[inline(always)]
fn build_event(
    call: &PendingCall,
    pid_tgid: u64,
    shape: &Shape,
) -> Result<&'static mut SyscallEvent, ()> {
    let ev = SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: the per-CPU scratch slot is ours until this program returns.
    let ev = unsafe { &mut *ev };
    ev.tag = EventTag::Syscall as u32;
    ev.nr = call.nr;
    ev.pid = pid_tgid as u32;
    ev.tgid = (pid_tgid >> 32) as u32;
    set(&mut ev.ret, 0);
    set(&mut ev.key, 0);
    // Element by element: whole-array assignments became calls to a byte-copying memcpy.
    let mut i = 0;
    while i < 6 {
        set(&mut ev.args[i], call.args[i]);
        i += 1;
    }
    set(&mut ev.extra[0], call.extra[0]);
    set(&mut ev.extra[1], call.extra[1]);
    set(&mut ev.string_len[0], 0);
    set(&mut ev.string_len[1], 0);
    set(&mut ev.base[0], 0);
    set(&mut ev.base[1], 0);
    set(&mut ev.made, 0);
    // SAFETY: helper call without arguments.
    set(&mut ev.cgroup, unsafe { bpf_get_current_cgroup_id() });
    current_comm(&mut ev.comm);
    set(&mut ev.uid_gid, bpf_get_current_uid_gid());
    read_strings(ev, shape);
    Ok(ev)
}

/// Reads the user strings the shape names, those not read yet. A string in a page the process
/// has not touched since fork cannot be read at entry (BPF cannot fault pages in); by the
/// exit the kernel has read it, so the exit program tries again.
#[inline(always)]
fn read_strings(ev: &mut SyscallEvent, shape: &Shape) {
    if ev.string_len[0] == 0
        && let Some(ptr) = arg_by_index(&ev.args, shape.string_arg[0])
    {
        ev.string_len[0] = read_string(ptr, &mut ev.strings[0]);
    }
    if ev.string_len[1] == 0
        && let Some(ptr) = arg_by_index(&ev.args, shape.string_arg[1])
    {
        ev.string_len[1] = match shape.string1_kind {
            string_kind::SOCKADDR => {
                let len = arg_by_index(&ev.args, shape.string_arg[1] + 1).unwrap_or(0);
                read_sockaddr(ptr, len, &mut ev.strings[1])
            }
            string_kind::SOCKADDR_LEN_AT => {
                let at = arg_by_index(&ev.args, shape.string_arg[1] + 1).unwrap_or(0);
                // SAFETY: reads the socklen_t the kernel wrote; failure reads as None.
                let len = if at == 0 {
                    None
                } else {
                    unsafe { bpf_probe_read_user(at as *const u32) }.ok()
                };
                peer_or_sockaddr(ptr, len, shape, &mut ev.strings[1])
            }
            string_kind::MSGHDR => {
                // SAFETY: reads msg_name and msg_namelen; failure reads as NULL and None.
                let name = unsafe { bpf_probe_read_user(ptr as *const u64) }.unwrap_or(0);
                let len = unsafe { bpf_probe_read_user((ptr + 8) as *const u32) }.ok();
                peer_or_sockaddr(name, len, shape, &mut ev.strings[1])
            }
            string_kind::ARGV0 => {
                // SAFETY: reads a pointer from user memory; failure leaves it unset.
                match unsafe { bpf_probe_read_user(ptr as *const u64) } {
                    Ok(first) if first != 0 => read_string(first, &mut ev.strings[1]),
                    _ => 0,
                }
            }
            _ => read_string(ptr, &mut ev.strings[1]),
        };
    }
}

/// The argument at 1-based index `index` (0: none). `args` is in a map value with at least
/// 16 bytes after it (the verifier's bound, below, is 8 slots).
#[inline(always)]
fn arg_by_index(args: &[u64; 6], index: u8) -> Option<u64> {
    let slot = u64::from(index.wrapping_sub(1));
    if slot >= 6 {
        return None;
    }
    // Bounded again where the compiler cannot see it: it tested a copy of the register it
    // then indexed with, and Linux 5.10's verifier does not carry a bound from one copy to
    // the other (5.11's does), so it saw slot 255 (index 0, wrapped).
    let mut bounded = slot;
    // SAFETY: a register operation.
    unsafe { core::arch::asm!("{0} &= 7", inout(reg) bounded) };
    // SAFETY: `bounded == slot < 6`.
    Some(unsafe { core::ptr::read(args.as_ptr().add(bounded as usize)) })
}

/// Reads a NUL-terminated user string; returns its length with the NUL, 0 when unreadable.
#[inline(always)]
fn read_string(ptr: u64, buf: &mut [u8; STR_LEN]) -> u32 {
    if ptr == 0 {
        return 0;
    }
    // SAFETY: the helper bounds the read by the buffer and fails on bad user pointers.
    match unsafe { bpf_probe_read_user_str_bytes(ptr as *const u8, buf) } {
        Ok(bytes) => bytes.len() as u32 + 1,
        Err(_) => 0,
    }
}

/// The address a call's `len` (None: unreadable) says is there. A received peer's length of 0
/// is the kernel saying it wrote none (an unnamed unix peer, an error queue's timestamp):
/// kept as two zero bytes (AF_UNSPEC), so user space does not take it for an unreadable one.
#[inline(always)]
fn peer_or_sockaddr(ptr: u64, len: Option<u32>, shape: &Shape, buf: &mut [u8; STR_LEN]) -> u32 {
    match len {
        Some(0) if shape.flags & shape_flags::PEER_HOST != 0 => {
            buf[0] = 0;
            buf[1] = 0;
            2
        }
        Some(len) => read_sockaddr(ptr, u64::from(len), buf),
        None => 0,
    }
}

/// Reads a socket address of `len` bytes (at most 128) from user memory.
#[inline(always)]
fn read_sockaddr(ptr: u64, len: u64, buf: &mut [u8; STR_LEN]) -> u32 {
    if ptr == 0 || len == 0 {
        return 0;
    }
    let len = if len > 128 { 128 } else { len as usize };
    // SAFETY: bounded read into the buffer; fails on bad user pointers.
    match unsafe { bpf_probe_read_user_buf(ptr as *const u8, &mut buf[..len & 0xff]) } {
        Ok(()) => len as u32,
        Err(_) => 0,
    }
}

/// Keeps only the host of a peer's address: a failed call wrote none (the buffer holds
/// whatever was there), and a client's port changes with every connection.
#[inline(always)]
fn peer_host(ev: &mut SyscallEvent) {
    if ev.ret < 0 {
        set(&mut ev.string_len[1], 0);
        return;
    }
    let a = &mut ev.strings[1];
    let family = u16::from_ne_bytes([a[0], a[1]]);
    if family == AF_INET || family == AF_INET6 {
        a[2] = 0;
        a[3] = 0;
    }
    if family == AF_INET6 {
        a[4] = 0;
        a[5] = 0;
        a[6] = 0;
        a[7] = 0;
    }
}

#[tracepoint]
pub fn learner_exit(ctx: TracePointContext) -> u32 {
    let _ = try_exit(&ctx);
    0
}

fn try_exit(ctx: &TracePointContext) -> Result<(), ()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let nr = ctx_field::<i32>(ctx, TP_NR_OFFSET) as u32;
    let ret = ctx_field::<i64>(ctx, TP_ARGS_OFFSET);
    let shape = SHAPES.get(nr).ok_or(())?;
    if shape.string1_kind == string_kind::ARGV0 {
        let ev = PENDING_EXEC.get_ptr_mut(pid_tgid >> 32).ok_or(())?;
        // SAFETY: the entry is this process's own; only its exec's exit touches it.
        let ev = unsafe { &mut *ev };
        if ev.nr == nr {
            ev.ret = ret;
            // A failed exec left the memory in place: retry strings unread at entry.
            if ret < 0 {
                read_strings(ev, shape);
            }
            // Each successful exec is an event of its own (its `extra`, unused by execs, is
            // hashed into the key): the collector counts them per thread, and an identical one
            // in another process (an ExecStartPre= running the same command) or earlier in the
            // same thread must not hide it. The thread's generation moved on as the call
            // entered. Without a branch: one here would double what the verifier walks in
            // `finish`.
            let generation = THREAD_CALLS
                .get(pending_slot(pid_tgid))
                .map_or(0, |slot| slot.generation);
            let own = ((pid_tgid & 0xffff_ffff) << 32) ^ generation;
            set(&mut ev.extra[1], own & !((ret >> 63) as u64));
            finish(ev, shape);
        }
        let _ = PENDING_EXEC.remove(pid_tgid >> 32);
        return Ok(());
    }
    // Every task on the machine makes traced calls; one lookup tells ours.
    let slot = PENDING.get_ptr_mut(pending_slot(pid_tgid)).ok_or(())?;
    // SAFETY: a map value; see try_enter.
    let slot = unsafe { &mut *slot };
    if slot.pid_tgid != pid_tgid {
        return Err(());
    }
    slot.pid_tgid = 0;
    let call = &*slot;
    if call.nr == nr {
        if let Ok(ev) = build_event(call, pid_tgid, shape) {
            // By now the kernel has read the strings too, so their pages are in.
            ev.ret = ret;
            if shape.flags & shape_flags::PEER_HOST != 0 {
                peer_host(ev);
            }
            finish(ev, shape);
        }
    } else {
        // The call that entered never came out here: what it did is not known.
        lost();
    }
    Ok(())
}

/// Sends the event, unless an identical one was sent already: then only its counter moves.
#[inline(always)]
fn finish(ev: &mut SyscallEvent, shape: &Shape) {
    let tgid = ev.tgid;
    // Stored and read back through the event's memory (a map value, whose contents the
    // verifier does not track): each of string_base's many outcomes would otherwise go on
    // as a state of its own through the hashing below, and past 1,000,000 instructions the
    // verifier refuses the program.
    let b0 = string_base(ev, shape, 0);
    set(&mut ev.base[0], b0);
    let b1 = string_base(ev, shape, 1);
    set(&mut ev.base[1], b1);
    // SAFETY: fields of the event.
    let base0 = unsafe { core::ptr::read_volatile(&ev.base[0]) };
    if shape.base_effect == base_effect::DUP {
        if ev.ret >= 0 {
            let key = fd_key(tgid, ev.ret as u32);
            if base0 & base::TAG == 0 || base0 == base::NO_PATH {
                let _ = FD_BASE.insert(&key, &base0, 0);
            } else {
                // Unknown here too: at least no stale base of an fd this number had before.
                let _ = FD_BASE.remove(&key);
            }
        }
        return;
    }
    if shape.base_effect == base_effect::PIPE_FDS {
        // An fd a pipe got would otherwise keep what its number named before, or be read
        // from /proc once closed (containerd's shim fchowns its pipes' ends).
        if ev.ret == 0 {
            // SAFETY: a read of two ints from user memory; a failure leaves nothing known.
            if let Ok(fds) = unsafe { bpf_probe_read_user(ev.args[0] as *const [u32; 2]) } {
                let _ = FD_BASE.insert(&fd_key(tgid, fds[0]), &base::NO_PATH, 0);
                let _ = FD_BASE.insert(&fd_key(tgid, fds[1]), &base::NO_PATH, 0);
            }
        }
        return;
    }
    set(&mut ev.made, 0);
    if ev.ret >= 0 {
        match shape.base_effect {
            base_effect::OPENS_FD | base_effect::CHDIR | base_effect::CHROOT => {
                let made = content_base(base0, &ev.strings[0], ev.string_len[0]);
                set(&mut ev.made, made);
            }
            base_effect::FCHDIR => set(&mut ev.made, base0),
            _ => {}
        }
    }
    let key_args = shape.key_args;
    let mut h = mix(FNV_OFFSET, u64::from(ev.nr));
    let mut i = 0;
    while i < 6 {
        if key_args & (1 << i) != 0 {
            h = mix(h, ev.args[i]);
        }
        i += 1;
    }
    // What relative paths and fds are relative to, not the fd numbers: the same name in
    // another directory is another event, and the same file through another fd is not.
    // SAFETY: fields of the event.
    h = mix(h, unsafe { core::ptr::read_volatile(&ev.base[0]) });
    h = mix(h, unsafe { core::ptr::read_volatile(&ev.base[1]) });
    h = mix(h, if ev.ret < 0 { ev.ret as u64 } else { 0 });
    h = mix(h, ev.extra[0]);
    h = mix(h, ev.extra[1]);
    h = mix(h, ev.uid_gid);
    h = mix_cgroup(h, ev.cgroup);
    h = mix_comm(h, &ev.comm);
    h = hash_bytes(h, &ev.strings[0], ev.string_len[0]);
    h = hash_bytes(h, &ev.strings[1], ev.string_len[1]);
    // SAFETY: a field of the event.
    let made = unsafe { core::ptr::read_volatile(&ev.made) };
    let effect = shape.base_effect;
    let ret = ev.ret;
    send_once(h, ev, |e| &mut e.key);
    // After the event: it tells user space what `made` names before any call can use it.
    if effect == base_effect::NO_PATH_FD && ret >= 0 {
        let key = fd_key(tgid, ret as u32);
        let _ = FD_BASE.insert(&key, &base::NO_PATH, 0);
    }
    if made != 0 {
        if effect == base_effect::OPENS_FD {
            let key = fd_key(tgid, ret as u32);
            let _ = FD_BASE.insert(&key, &made, 0);
        } else if effect == base_effect::CHROOT {
            let _ = ROOT_BASE.insert(&tgid, &made, 0);
        } else {
            let _ = CWD_BASE.insert(&tgid, &made, 0);
        }
    }
}

/// A content base: the base a path was relative to and its spelling, hashed.
#[inline(always)]
fn content_base(relative_to: u64, bytes: &[u8; STR_LEN], len: u32) -> u64 {
    if len == 0 {
        return 0;
    }
    let h = hash_bytes(mix(FNV_OFFSET, relative_to), bytes, len);
    (h & !base::TAG) | base::CONTENT
}

/// What string `i` of the event is relative to (see `learner_common::base`).
#[inline(always)]
fn string_base(ev: &SyscallEvent, shape: &Shape, i: usize) -> u64 {
    let tgid = ev.tgid;
    // Through the stack, so every path has it: computed in one branch only, the verifier
    // lost track of it in another (`!read_ok`).
    let mut dirfd = NO_FD;
    set(
        &mut dirfd,
        arg_by_index(&ev.args, shape.dirfd_arg[i]).unwrap_or(NO_FD),
    );
    // SAFETY: a local.
    let dirfd = unsafe { core::ptr::read_volatile(&dirfd) };
    if shape.string_arg[i] == 0 {
        // No string: the call acts on the fd itself (fchmod, ftruncate, fchdir).
        return if dirfd != NO_FD {
            fd_base(tgid, dirfd)
        } else {
            0
        };
    }
    let len = ev.string_len[i];
    let s = &ev.strings[i];
    if i == 1 && shape.string1_kind != string_kind::STRING {
        // A socket address: a unix socket's path may be relative to the working directory.
        let family = u16::from_ne_bytes([s[0], s[1]]);
        return if shape.string1_kind != string_kind::ARGV0
            && family == AF_UNIX
            && len > 2
            && s[2] != 0
        {
            if s[2] == b'/' {
                root_base(tgid)
            } else {
                cwd_base(tgid)
            }
        } else {
            0
        };
    }
    if len > 1 && s[0] == b'/' {
        // Absolute: below the process's root, when it chrooted.
        return root_base(tgid);
    }
    let pointer = arg_by_index(&ev.args, shape.string_arg[i]).unwrap_or(0);
    if len == 0 && pointer != 0 {
        // Unreadable: user space counts it; nothing to resolve.
        return 0;
    }
    // Relative, empty (AT_EMPTY_PATH) or NULL (utimensat): relative to the fd, if any.
    if dirfd != NO_FD && dirfd as i32 != AT_FDCWD {
        fd_base(tgid, dirfd)
    } else if len > 1 {
        cwd_base(tgid)
    } else {
        0
    }
}

/// No directory fd argument.
const NO_FD: u64 = u64::MAX;

/// The base of process `tgid`'s working directory; one it has not set since it was first
/// seen is its origin, which user space knows.
#[inline(always)]
fn cwd_base(tgid: u32) -> u64 {
    // SAFETY: plain u64 map values.
    if let Some(b) = unsafe { CWD_BASE.get(&tgid) } {
        return *b;
    }
    let b = base::origin(tgid);
    let _ = CWD_BASE.insert(&tgid, &b, 0);
    b
}

/// The base of process `tgid`'s root directory once it chrooted; 0 (absolute paths are
/// what they say) before.
#[inline(always)]
fn root_base(tgid: u32) -> u64 {
    // SAFETY: plain u64 map values.
    unsafe { ROOT_BASE.get(&tgid) }.copied().unwrap_or(0)
}

/// `FD_BASE`'s key for fd `fd` of process `tgid`.
#[inline(always)]
fn fd_key(tgid: u32, fd: u32) -> u64 {
    (u64::from(tgid) << 32) | u64::from(fd)
}

/// The base of fd `fd` of process `tgid`: what it was opened as, by the process or (an fd it
/// inherited) its parent or grandparent; else a tag user space resolves from /proc.
#[inline(always)]
fn fd_base(tgid: u32, fd: u64) -> u64 {
    let fd = fd as u32;
    let mut owner = tgid;
    let mut i = 0;
    while i < 3 {
        let key = fd_key(owner, fd);
        // SAFETY: plain map values.
        if let Some(b) = unsafe { FD_BASE.get(&key) } {
            return *b;
        }
        match unsafe { PARENT.get(&owner) } {
            Some(p) if *p != owner => owner = *p,
            _ => break,
        }
        i += 1;
    }
    base::unknown_fd(tgid, fd)
}

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(FNV_PRIME)
}

/// Hashes the first `len` bytes eight at a time: a per-byte loop cost more than the rest of
/// the exit program for a typical path. Bytes past `len` are stale and masked off.
#[inline(always)]
fn hash_bytes(mut h: u64, bytes: &[u8; STR_LEN], len: u32) -> u64 {
    let len = len as usize;
    let mut i = 0;
    while i < STR_LEN / 8 {
        let at = i * 8;
        if at >= len {
            break;
        }
        // SAFETY: `at + 8 <= STR_LEN`; unaligned read of plain bytes.
        let mut word = unsafe { core::ptr::read_unaligned(bytes.as_ptr().add(at) as *const u64) };
        let valid = len - at;
        if valid < 8 {
            word &= (1u64 << (valid * 8)) - 1;
        }
        h = mix(h, word);
        i += 1;
    }
    h
}

/// Returns the key to send with a new event, 0 when the event is sent undeduplicated (the
/// map is full), or `u64::MAX` when an identical event was already sent and only counted.
#[inline(always)]
fn dedup(key: u64) -> u64 {
    let map = match TARGET.get(0) {
        Some(t) if t.dedup_map != 0 => &DEDUP_B,
        _ => &DEDUP,
    };
    if count_duplicate(map, key) {
        return u64::MAX;
    }
    if map.insert(key, 0, u64::from(BPF_NOEXIST)).is_ok() {
        return key;
    }
    // Another CPU inserted it just now (count it), or the map is full (send it whole).
    if count_duplicate(map, key) {
        u64::MAX
    } else {
        0
    }
}

#[inline(always)]
fn count_duplicate(map: &HashMap<u64, u64>, key: u64) -> bool {
    match map.get_ptr_mut(key) {
        Some(count) => {
            // SAFETY: the entry's value, shared by every CPU.
            unsafe { atomic_add_one(count) };
            true
        }
        None => false,
    }
}

/// `*counter += 1` as one BPF atomic instruction; core's atomics do not exist on this target.
///
/// # Safety
/// `counter` is an aligned u64 in a map value.
#[inline(always)]
unsafe fn atomic_add_one(counter: *mut u64) {
    // SAFETY: as the caller promises.
    unsafe { core::arch::asm!("lock *(u64 *)({0} + 0) += {1}", in(reg) counter, in(reg) 1u64) };
}

#[inline(always)]
fn lost() {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot.
        unsafe { *lost += 1 };
    }
}

// ---- capability checks ------------------------------------------------------------------

#[tracepoint]
pub fn learner_cap_capable(ctx: TracePointContext) -> u32 {
    let _ = try_cap_capable(&ctx);
    0
}

fn try_cap_capable(ctx: &TracePointContext) -> Result<(), ()> {
    observed_target().ok_or(())?;
    let cap = ctx_field::<i32>(ctx, CAP_CAPABLE_CAP_OFFSET) as u32;
    let ret = ctx_field::<i32>(ctx, CAP_CAPABLE_RET_OFFSET);
    let cred = ctx_field::<u64>(ctx, CAP_CAPABLE_CRED_OFFSET);
    send_capability(cap, ret, None, cred);
    Ok(())
}

/// Sends one capability check of the current task (once per distinct check), from the
/// tracepoint or the kprobe pair (which also knows `cap_capable()`'s options).
#[inline(always)]
fn send_capability(cap: u32, ret: i32, opts: Option<u32>, cred: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (syscall, own_uid, generation) = match THREAD_CALLS.get(pending_slot(pid_tgid)) {
        Some(c) if c.pid_tgid == pid_tgid => (c.nr as u32, Some(c.uid_gid as u32), c.generation),
        // A thread sharing the slot: its generation still moves on with every switch.
        Some(c) => (NO_SYSCALL, None, c.generation),
        None => (NO_SYSCALL, None, 0),
    };
    // Reads current_cred(): the credentials the check runs with, overridden or not.
    let uid_gid = bpf_get_current_uid_gid();
    let mut ev = CapabilityEvent {
        tag: EventTag::Capability as u32,
        cap,
        ret,
        syscall,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        uid: uid_gid as u32,
        gid: (uid_gid >> 32) as u32,
        own_uid: own_uid.unwrap_or(0),
        own_uid_known: u32::from(own_uid.is_some()),
        key: 0,
        comm: [0; 16],
        opts: opts.unwrap_or(0),
        opts_known: u32::from(opts.is_some()),
        cred,
        // SAFETY: helper call without arguments.
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        generation,
    };
    current_comm(&mut ev.comm);
    let mut h = mix(FNV_OFFSET, 0xcab);
    // Per stretch of the thread's own credentials: a stretch whose credentials came back at
    // an address it had before would otherwise send nothing, not even the memory accounting
    // check that tells the user side its own address, and none of its checks could be
    // judged. CAP_SYS_ADMIN (that accounting) per thread too: each thread's stretches need it.
    h = mix(h, generation);
    if cap == CAP_SYS_ADMIN {
        h = mix(h, pid_tgid & 0xffff_ffff);
    }
    h = mix(h, uid_gid);
    // Per credentials: overridden ones are told apart by their address (see the collector),
    // and per process: a lent struct's checks in each process that uses it are the evidence.
    h = mix(h, cred);
    h = mix(h, pid_tgid >> 32);
    h = mix(h, own_uid.map_or(u64::MAX, u64::from));
    h = mix(h, u64::from(cap));
    h = mix(h, if ret < 0 { ret as u64 } else { 0 });
    h = mix(h, u64::from(syscall));
    if let Some(opts) = opts {
        h = mix(h, u64::from(opts & CAP_OPT_NOAUDIT));
    }
    h = mix_cgroup(h, ev.cgroup);
    h = mix_comm(h, &ev.comm);
    send_once(h, &mut ev, |e| &mut e.key);
}

/// Adds the event's cgroup to a hash when every unit is recorded at once: each unit's first
/// copy of an event is its own (one recorded unit keeps one copy for all its cgroups).
#[inline(always)]
fn mix_cgroup(h: u64, cgroup: u64) -> u64 {
    match TARGET.get(0) {
        Some(t) if t.all != 0 => mix(h, cgroup),
        _ => h,
    }
}

/// Adds a comm to a hash.
#[inline(always)]
fn mix_comm(h: u64, comm: &[u8; 16]) -> u64 {
    let words = comm_words(comm);
    mix(mix(h, words[0]), words[1])
}

/// Sends `ev` with its deduplication key set, unless an event that hashed to `h` was sent
/// already: then only that one's counter moves.
#[inline(always)]
fn send_once<T>(h: u64, ev: &mut T, key: fn(&mut T) -> &mut u64) {
    let k = dedup(h | 1);
    if k == u64::MAX {
        return;
    }
    *key(ev) = k;
    // Each event wakes the collector (when it has caught up): batching the wakeups saved it
    // CPU, but it then read /proc (a relative path's working directory) after short-lived
    // processes had exited.
    if EVENTS.output::<T>(ev, 0).is_err() {
        lost();
    }
}

// ---- capability checks through kprobes: see capability_kprobe.rs ----------------------

mod capability_kprobe;

// ---- page faults ------------------------------------------------------------------------

/// A task's page fault, as the syscall record sees it: between two syscalls the record still
/// names the last one, and a capability check made while the fault grows the stack (memory
/// accounting) would be blamed on that syscall.
#[tracepoint]
pub fn learner_page_fault(_ctx: TracePointContext) -> u32 {
    let _ = try_page_fault();
    0
}

fn try_page_fault() -> Result<(), ()> {
    observed_target().ok_or(())?;
    let current = CURRENT.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU slot of a map value; a program runs to completion on one CPU.
    let current = unsafe { &mut *current };
    let pid_tgid = bpf_get_current_pid_tgid();
    if current.pid_tgid != pid_tgid {
        // The cached executor verdict is the previous task's: had it stayed, this task's next
        // syscalls would pass for that task's (systemd's executor counted as the service).
        current.verdict_generation = NO_VERDICT;
    }
    current.pid_tgid = pid_tgid;
    current.nr = u64::from(IN_PAGE_FAULT);
    current.uid_gid = bpf_get_current_uid_gid();
    note_thread_call(pid_tgid, current.nr, current.uid_gid);
    Ok(())
}

/// The capability the kernel's memory accounting checks (include/uapi/linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;

/// Starts a new generation of the current thread's own credentials (see `ThreadCall`).
#[inline(always)]
fn new_credential_generation(pid_tgid: u64) {
    if let Some(slot) = THREAD_CALLS.get_ptr_mut(pending_slot(pid_tgid)) {
        // SAFETY: a map value; as in note_thread_call, a thread sharing the slot only moves
        // the count on (its own checks then look like a new stretch: judged less, never
        // wrongly).
        unsafe {
            (*slot).generation = (*slot).generation.wrapping_add(1);
        }
    }
}

/// Notes what the current thread is inside of, in its own slot.
#[inline(always)]
fn note_thread_call(pid_tgid: u64, nr: u64, uid_gid: u64) {
    if let Some(slot) = THREAD_CALLS.get_ptr_mut(pending_slot(pid_tgid)) {
        // SAFETY: a map value; the slot's writer is its thread (one sharing the slot number
        // overwrites it, and the owner's check then finds no match: NO_SYSCALL).
        unsafe {
            (*slot).pid_tgid = pid_tgid;
            (*slot).nr = nr;
            (*slot).uid_gid = uid_gid;
        }
    }
}

// ---- syscalls refused before they ran (learner check) -----------------------------------

/// A seccomp filter runs before `sys_enter`, so a call it refuses is never entered, yet
/// every call leaves through `sys_exit`: a thread that leaves a syscall while `sys_enter`
/// saw it between calls was refused. Threads not seen entering anything yet are skipped.
#[tracepoint]
pub fn learner_refused(ctx: TracePointContext) -> u32 {
    let _ = try_refused(&ctx);
    0
}

fn try_refused(ctx: &TracePointContext) -> Result<(), ()> {
    let target = TARGET.get(0).ok_or(())?;
    if target.check == 0 {
        return Err(());
    }
    if !in_recorded_cgroups(target) && !followed() {
        return Err(());
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let slot = ENTERED.get_ptr_mut(pending_slot(pid_tgid)).ok_or(())?;
    // SAFETY: a map value; only this thread writes a slot holding its id.
    let slot = unsafe { &mut *slot };
    if slot.pid_tgid != pid_tgid {
        return Ok(());
    }
    let entered = slot.nr;
    slot.nr = NOT_IN_SYSCALL;
    let ret = ctx_field::<i64>(ctx, SYS_EXIT_RET_OFFSET);
    if entered != NOT_IN_SYSCALL || ret >= 0 {
        return Ok(());
    }
    let nr = ctx_field::<i64>(ctx, SYS_EXIT_ID_OFFSET) as u32;
    let mut ev = RefusedEvent {
        tag: EventTag::Refused as u32,
        nr,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        ret,
        key: 0,
        comm: [0; 16],
    };
    current_comm(&mut ev.comm);
    let mut h = mix(FNV_OFFSET, 0x5ec);
    h = mix(h, u64::from(nr));
    h = mix(h, ret as u64);
    h = mix_comm(h, &ev.comm);
    send_once(h, &mut ev, |e| &mut e.key);
    Ok(())
}

// ---- the process tree (tasks that leave the cgroup) -------------------------------------

/// A fork by a recorded task: the child is the service's too, wherever it goes later. One
/// program per layout of the record (the kernel refuses a program that reads past its end).
macro_rules! fork_program {
    ($name:ident, $child_pid_at:literal) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            let _ = try_fork(ctx_field::<i32>(&ctx, $child_pid_at) as u32);
            0
        }
    };
}
fork_program!(learner_fork_20, 20);
fork_program!(learner_fork_44, 44);

#[inline(always)]
fn try_fork(child: u32) -> Result<(), ()> {
    let target = TARGET.get(0).ok_or(())?;
    let state = if in_recorded_cgroups(target) {
        task_state::MEMBER
    } else if followed() {
        task_state::FOLLOWED
    } else {
        return Ok(());
    };
    if TASKS.insert(&child, &state, 0).is_err() {
        task_stat_add(task_stat::UNTRACKED);
    }
    // The child starts where its parent is, with its parent's fds (a thread shares both;
    // its entries are spare).
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    let cwd = cwd_base(parent);
    let _ = CWD_BASE.insert(&child, &cwd, 0);
    let root = root_base(parent);
    if root != 0 {
        let _ = ROOT_BASE.insert(&child, &root, 0);
    }
    let _ = PARENT.insert(&child, &parent, 0);
    Ok(())
}

/// A process moved to another cgroup. The mover is systemd (a login's session scope, a
/// `systemd-run --scope`) or the task itself, so only the record says who moved.
macro_rules! moved_program {
    ($name:ident, pid: $pid_at:literal, level: $level_at:literal, id: $id_at:literal, $id_ty:ty) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            let _ = try_moved(
                ctx_field::<i32>(&ctx, $pid_at) as u32,
                ctx_field::<$id_ty>(&ctx, $id_at) as u64,
                ctx_field::<i32>(&ctx, $level_at) as u32,
            );
            0
        }
    };
}
moved_program!(learner_moved_24, pid: 24, level: 12, id: 16, u64);
moved_program!(learner_moved_20, pid: 20, level: 16, id: 12, i32);

#[inline(always)]
fn try_moved(pid: u32, dst_id: u64, dst_level: u32) -> Result<(), ()> {
    let target = TARGET.get(0).ok_or(())?;
    if dst_id == target.cgroup_id {
        // systemd placing a (new instance's) process: known from now on, should it leave.
        let _ = TASKS.insert(&pid, &task_state::MEMBER, u64::from(BPF_NOEXIST));
        return Ok(());
    }
    let state = TASKS.get_ptr_mut(&pid).ok_or(())?;
    // SAFETY: a plain u32 map value.
    let state = unsafe { &mut *state };
    if *state != task_state::MEMBER {
        return Ok(());
    }
    // Also a move within the subtree (a delegated child cgroup): harmless, the subtree test
    // comes first; user space tells the two apart by the destination.
    *state = task_state::FOLLOWED;
    if let Some(on) = FOLLOWING.get_ptr_mut(0) {
        // SAFETY: a plain u32 map value; every writer writes 1.
        unsafe { *on = 1 };
    }
    task_stat_add(task_stat::MOVED);
    let mover = bpf_get_current_pid_tgid();
    let mut ev = MovedEvent {
        tag: EventTag::Moved as u32,
        pid,
        dst_id,
        dst_level,
        mover_pid: (mover >> 32) as u32,
        mover_comm: [0; 16],
    };
    current_comm(&mut ev.mover_comm);
    if EVENTS.output::<MovedEvent>(&ev, 0).is_err() {
        lost();
    }
    Ok(())
}

#[tracepoint]
pub fn learner_task_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let _ = TASKS.remove(&tid);
    if tid == (pid_tgid >> 32) as u32 {
        // A later process with this id must not inherit its working directory.
        let _ = CWD_BASE.remove(&tid);
        let _ = ROOT_BASE.remove(&tid);
    }
    0
}

#[inline(always)]
fn task_stat_add(stat: u32) {
    if let Some(n) = TASK_STATS.get_ptr_mut(stat) {
        // SAFETY: per-CPU slot.
        unsafe { *n += 1 };
    }
}

// ---- io_uring operations ------------------------------------------------------------------

/// An io_uring request a recorded task submitted: it opens, renames, connects, ... without a
/// syscall of that name, so only this tells the user side what the syscall tracepoints did
/// not see. One program per layout of the record, as for forks.
macro_rules! io_uring_program {
    ($name:ident, $opcode_at:literal) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            let _ = try_io_uring(u32::from(ctx_field::<u8>(&ctx, $opcode_at)));
            0
        }
    };
}
io_uring_program!(learner_iou_32, 32);
io_uring_program!(learner_iou_24, 24);
io_uring_program!(learner_iou_16, 16);

#[inline(always)]
fn try_io_uring(opcode: u32) -> Result<(), ()> {
    observed_target().ok_or(())?;
    let pid_tgid = bpf_get_current_pid_tgid();
    let mut ev = IoUringEvent {
        tag: EventTag::IoUring as u32,
        opcode,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        key: 0,
        // SAFETY: helper call without arguments.
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        comm: [0; 16],
    };
    current_comm(&mut ev.comm);
    // A tag no syscall number is, as the other event kinds'.
    let mut h = mix(FNV_OFFSET, 0x10_u64 << 32);
    h = mix(h, u64::from(opcode));
    h = mix_cgroup(h, ev.cgroup);
    h = mix_comm(h, &ev.comm);
    send_once(h, &mut ev, |e| &mut e.key);
    Ok(())
}

// ---- cgroup level calibration -----------------------------------------------------------

/// Notes the ancestors of the first task seen in the calibration cgroup: inside a cgroup
/// namespace, the level `bpf_get_current_ancestor_cgroup_id` takes is the absolute one, which
/// the path user space sees does not tell.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn learner_calibrate(_ctx: RawTracePointContext) -> i32 {
    let _ = try_calibrate();
    0
}

fn try_calibrate() -> Result<(), ()> {
    let cal = CALIBRATION.get_ptr_mut(0).ok_or(())?;
    // SAFETY: a map value; only the one task in the calibration cgroup writes it.
    let cal = unsafe { &mut *cal };
    if cal.done != 0 || cal.cgroup_id == 0 {
        return Err(());
    }
    // SAFETY: helper call without arguments.
    if unsafe { bpf_get_current_cgroup_id() } != cal.cgroup_id {
        return Err(());
    }
    let mut level = 0;
    while level < MAX_CGROUP_LEVELS {
        // SAFETY: helper call with a plain integer argument.
        cal.ancestors[level] = unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) };
        level += 1;
    }
    cal.done = 1;
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
