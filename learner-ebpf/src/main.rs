//! learner's kernel side.
//!
//! Every syscall on the machine passes through `sys_enter`, so each program first rejects
//! other cgroups as cheaply as it can. Syscalls of the target are counted in a per-CPU array
//! (no atomics, no events). A few dozen syscalls whose arguments decide hardening directives
//! (paths, socket families, namespace flags, ...) are traced by their own `syscalls/*`
//! tracepoints, whose records carry the arguments: the entry is kept per task until the exit
//! adds the result, then the event goes to user space unless an identical one already did,
//! in which case only a counter moves. Capability checks come from `capability/cap_capable`.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext as _,
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_comm,
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_user,
        bpf_probe_read_user_buf, bpf_probe_read_user_str_bytes,
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{RawTracePointContext, TracePointContext},
};
use learner_common::{
    CAP_CAPABLE_CAP_OFFSET, CAP_CAPABLE_RET_OFFSET, CapabilityEvent, CurrentSyscall, DEDUP_ENTRIES,
    EVENTS_BYTES, EventTag, MAP_NO_PREALLOC, MAX_EXACT_CGROUPS, NO_SYSCALL, O_DIRECTORY_OR_PATH,
    OPEN_FLAGS_IN_EXTRA, PENDING_ENTRIES, SLOT_OUT_OF_RANGE, STR_LEN, SYSCALL_COUNT_SLOTS,
    SYSCALL_SLOTS, Shape, SyscallEvent, Target, extra, shape_flags, string_kind,
};

#[map(name = "TARGET")]
static TARGET: Array<Target> = Array::with_max_entries(1, 0);

#[map(name = "SYSCALL_COUNTS")]
static SYSCALL_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(SYSCALL_COUNT_SLOTS, 0);

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

/// Per CPU, so counting needs no atomics; user space sums the CPUs. Two maps take turns, so
/// user space can drain one while the other counts.
#[map(name = "DEDUP")]
static DEDUP: PerCpuHashMap<u64, u64> =
    PerCpuHashMap::with_max_entries(DEDUP_ENTRIES, MAP_NO_PREALLOC);

#[map(name = "DEDUP_B")]
static DEDUP_B: PerCpuHashMap<u64, u64> =
    PerCpuHashMap::with_max_entries(DEDUP_ENTRIES, MAP_NO_PREALLOC);

#[map(name = "PENDING")]
static PENDING: HashMap<u64, SyscallEvent> = HashMap::with_max_entries(PENDING_ENTRIES, 0);

/// Where an event is built: too big for the 512-byte stack.
#[map(name = "SCRATCH")]
static SCRATCH: PerCpuArray<SyscallEvent> = PerCpuArray::with_max_entries(1, 0);

/// The syscall id is the raw tracepoint's second argument (`sys_enter(regs, id)`).
const ARG_SYSCALL_ID: usize = 1;
/// `syscalls/*` records: `int __syscall_nr` at 8, then the arguments (or `long ret`) from 16.
const TP_NR_OFFSET: usize = 8;
const TP_ARGS_OFFSET: usize = 16;

const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;

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

fn try_sys_enter_subtree(ctx: &RawTracePointContext) -> Result<(), ()> {
    if !in_subtree() {
        return Err(());
    }
    count(ctx)
}

fn try_sys_enter_exact(ctx: &RawTracePointContext) -> Result<(), ()> {
    // SAFETY: helper call without arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    EXACT_CGROUPS.get_ptr(cgroup).ok_or(())?;
    count(ctx)
}

#[inline(always)]
fn in_subtree() -> bool {
    let Some(target) = TARGET.get(0) else {
        return false;
    };
    if target.cgroup_id == 0 {
        return false;
    }
    // SAFETY: helper call with a plain integer argument.
    let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(target.level as i32) };
    ancestor == target.cgroup_id
}

/// systemd's forked executor, `(name)` until it execs the service (systemd-executor on v255+):
/// it sets up the sandbox, and its calls are not the service's.
#[inline(always)]
fn is_service_manager(comm: &[u8; 16]) -> bool {
    comm[0] == b'('
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
fn count(ctx: &RawTracePointContext) -> Result<(), ()> {
    let id: i64 = ctx.arg(ARG_SYSCALL_ID);
    // Every task of the target, systemd's executor included: a capability check must find
    // the syscall it happens in.
    if let Some(current) = CURRENT.get_ptr_mut(0) {
        // SAFETY: per-CPU slot of a map value; a program runs to completion on one CPU.
        unsafe {
            (*current).pid_tgid = bpf_get_current_pid_tgid();
            (*current).nr = id as u64;
        }
    }
    if bpf_get_current_comm().is_ok_and(|c| is_service_manager(&c)) {
        return Err(());
    }
    let slot = if id >= 0 && id < SYSCALL_SLOTS as i64 {
        id as u32
    } else {
        SLOT_OUT_OF_RANGE
    };
    let counter = SYSCALL_COUNTS.get_ptr_mut(slot).ok_or(())?;
    // SAFETY: as above.
    unsafe { *counter += 1 };
    Ok(())
}

// ---- traced syscalls --------------------------------------------------------------------

/// Reads a field of a tracepoint record. The record is the program's context, which the
/// verifier lets us read directly (no probe-read helper, which lockdown may forbid).
#[inline(always)]
fn ctx_field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: offsets are constants within the record; the kernel checks them at attach.
    unsafe { core::ptr::read_unaligned((ctx.as_ptr() as *const u8).add(offset) as *const T) }
}

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
    if !observing() || !in_subtree() {
        return Err(());
    }
    let nr = ctx_field::<i32>(ctx, TP_NR_OFFSET) as u32;
    let shape = *SHAPES.get(nr).ok_or(())?;
    if shape.traced == 0 {
        return Err(());
    }
    let mut args = [0u64; 6];
    let mut i = 0;
    while i < N {
        args[i] = ctx_field::<u64>(ctx, TP_ARGS_OFFSET + 8 * i);
        i += 1;
    }
    if shape.flags & shape_flags::PROT_EXEC_ARG2 != 0 && args[2] & PROT_EXEC == 0 {
        return Ok(());
    }
    if shape.flags & shape_flags::PROT_WX_ARG2 != 0
        && args[2] & (PROT_WRITE | PROT_EXEC) != PROT_WRITE | PROT_EXEC
    {
        return Ok(());
    }

    let ev = SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: the per-CPU scratch slot is ours until this program returns.
    let ev = unsafe { &mut *ev };
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.tag = EventTag::Syscall as u32;
    ev.nr = nr;
    ev.pid = pid_tgid as u32;
    ev.tgid = (pid_tgid >> 32) as u32;
    ev.ret = 0;
    ev.key = 0;
    ev.args = args;
    ev.extra = [0; 2];
    ev.string_len = [0; 2];
    ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);

    read_strings(ev, &shape);
    match shape.extra {
        // SAFETY (all three): reads of plain integers from user memory, failure leaves 0.
        extra::CLONE3_FLAGS => {
            ev.extra[0] = unsafe { bpf_probe_read_user(args[0] as *const u64) }.unwrap_or(0);
        }
        extra::OPEN_HOW => {
            ev.extra[0] = unsafe { bpf_probe_read_user(args[2] as *const u64) }.unwrap_or(0);
            ev.extra[1] = unsafe { bpf_probe_read_user((args[2] + 8) as *const u64) }.unwrap_or(0);
        }
        extra::SCHED_ATTR_POLICY => {
            ev.extra[0] =
                u64::from(unsafe { bpf_probe_read_user((args[1] + 4) as *const u32) }.unwrap_or(0));
        }
        _ => {}
    }

    if shape.flags & shape_flags::AT_ENTER != 0 {
        finish(ev, &shape);
    } else if PENDING.insert(pid_tgid, &*ev, 0).is_err() {
        lost();
    }
    Ok(())
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

/// The argument at 1-based index `index` (0: none).
#[inline(always)]
fn arg_by_index(args: &[u64; 6], index: u8) -> Option<u64> {
    match index {
        1 => Some(args[0]),
        2 => Some(args[1]),
        3 => Some(args[2]),
        4 => Some(args[3]),
        5 => Some(args[4]),
        6 => Some(args[5]),
        _ => None,
    }
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

#[tracepoint]
pub fn learner_exit(ctx: TracePointContext) -> u32 {
    let _ = try_exit(&ctx);
    0
}

fn try_exit(ctx: &TracePointContext) -> Result<(), ()> {
    if !observing() {
        return Err(());
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let ev = PENDING.get_ptr_mut(pid_tgid).ok_or(())?;
    // SAFETY: the entry is this task's own; only this task's exit touches it.
    let ev = unsafe { &mut *ev };
    let nr = ctx_field::<i32>(ctx, TP_NR_OFFSET) as u32;
    if ev.nr == nr
        && let Some(shape) = SHAPES.get(nr)
    {
        ev.ret = ctx_field::<i64>(ctx, TP_ARGS_OFFSET);
        // After a successful exec the old memory is gone; otherwise retry unread strings.
        if ev.ret < 0 || shape.string1_kind != string_kind::ARGV0 {
            read_strings(ev, shape);
        }
        finish(ev, shape);
    }
    let _ = PENDING.remove(pid_tgid);
    Ok(())
}

/// Sends the event, unless an identical one was sent already: then only its counter moves.
#[inline(always)]
fn finish(ev: &mut SyscallEvent, shape: &Shape) {
    let key_args = shape.key_args;
    let mut h = mix(FNV_OFFSET, u64::from(ev.nr));
    let mut i = 0;
    while i < 6 {
        if key_args & (1 << i) != 0 {
            h = mix(h, ev.args[i]);
        }
        i += 1;
    }
    let open_flags = match shape.open_flags_arg {
        OPEN_FLAGS_IN_EXTRA => ev.extra[0],
        i => arg_by_index(&ev.args, i).unwrap_or(0),
    };
    let keeps_fd = shape.open_flags_arg != 0 && open_flags & O_DIRECTORY_OR_PATH != 0;
    h = mix(
        h,
        if ev.ret < 0 || keeps_fd {
            ev.ret as u64
        } else {
            0
        },
    );
    h = mix(h, ev.extra[0]);
    h = mix(h, ev.extra[1]);
    h = mix(h, u64::from_ne_bytes(comm_half(&ev.comm, 0)));
    h = mix(h, u64::from_ne_bytes(comm_half(&ev.comm, 8)));
    h = hash_bytes(h, &ev.strings[0], ev.string_len[0]);
    h = hash_bytes(h, &ev.strings[1], ev.string_len[1]);
    ev.key = dedup(h | 1);
    if ev.key == u64::MAX {
        return;
    }
    if EVENTS.output::<SyscallEvent>(&*ev, 0).is_err() {
        lost();
    }
}

#[inline(always)]
fn comm_half(comm: &[u8; 16], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = comm[at + i];
        i += 1;
    }
    out
}

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(FNV_PRIME)
}

#[inline(always)]
fn hash_bytes(mut h: u64, bytes: &[u8; STR_LEN], len: u32) -> u64 {
    let len = len as usize;
    let mut i = 0;
    while i < STR_LEN {
        if i >= len {
            break;
        }
        h = mix(h, u64::from(bytes[i]));
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
fn count_duplicate(map: &PerCpuHashMap<u64, u64>, key: u64) -> bool {
    match map.get_ptr_mut(key) {
        Some(count) => {
            // SAFETY: this CPU's slot of the entry.
            unsafe { *count += 1 };
            true
        }
        None => false,
    }
}

#[inline(always)]
fn lost() {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot.
        unsafe { *lost += 1 };
    }
}

#[inline(always)]
fn observing() -> bool {
    TARGET.get(0).is_some_and(|t| t.observe != 0)
}

// ---- capability checks ------------------------------------------------------------------

#[tracepoint]
pub fn learner_cap_capable(ctx: TracePointContext) -> u32 {
    let _ = try_cap_capable(&ctx);
    0
}

fn try_cap_capable(ctx: &TracePointContext) -> Result<(), ()> {
    if !observing() || !in_subtree() {
        return Err(());
    }
    let cap = ctx_field::<i32>(ctx, CAP_CAPABLE_CAP_OFFSET) as u32;
    let ret = ctx_field::<i32>(ctx, CAP_CAPABLE_RET_OFFSET);
    let pid_tgid = bpf_get_current_pid_tgid();
    let syscall = match CURRENT.get(0) {
        Some(c) if c.pid_tgid == pid_tgid => c.nr as u32,
        _ => NO_SYSCALL,
    };
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    // Reads current_cred(): the credentials the check runs with, overridden or not.
    let uid_gid = bpf_get_current_uid_gid();
    let mut h = mix(FNV_OFFSET, 0xcab);
    h = mix(h, uid_gid);
    h = mix(h, u64::from(cap));
    h = mix(h, if ret < 0 { ret as u64 } else { 0 });
    h = mix(h, u64::from(syscall));
    h = mix(h, u64::from_ne_bytes(comm_half(&comm, 0)));
    h = mix(h, u64::from_ne_bytes(comm_half(&comm, 8)));
    let key = dedup(h | 1);
    if key == u64::MAX {
        return Ok(());
    }
    let ev = CapabilityEvent {
        tag: EventTag::Capability as u32,
        cap,
        ret,
        syscall,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        uid: uid_gid as u32,
        gid: (uid_gid >> 32) as u32,
        key,
        comm,
    };
    if EVENTS.output::<CapabilityEvent>(&ev, 0).is_err() {
        lost();
    }
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
