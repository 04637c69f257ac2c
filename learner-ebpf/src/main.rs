//! learner's kernel side: count the syscalls of one cgroup subtree, in the kernel.
//!
//! Every syscall on the machine passes through `sys_enter`, so the first thing each program
//! does is reject other cgroups as cheaply as it can. Calls of the target are counted in a
//! per-CPU array (no atomics, no events), which user space sums when the recording ends.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id},
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray},
    programs::RawTracePointContext,
};
use learner_common::{
    MAX_EXACT_CGROUPS, SLOT_OUT_OF_RANGE, SYSCALL_COUNT_SLOTS, SYSCALL_SLOTS, Target,
};

#[map(name = "TARGET")]
static TARGET: Array<Target> = Array::with_max_entries(1, 0);

#[map(name = "SYSCALL_COUNTS")]
static SYSCALL_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(SYSCALL_COUNT_SLOTS, 0);

#[map(name = "EXACT_CGROUPS")]
static EXACT_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_EXACT_CGROUPS, 0);

/// The syscall id is the raw tracepoint's second argument (`sys_enter(regs, id)`).
const ARG_SYSCALL_ID: usize = 1;

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
    let target = TARGET.get(0).ok_or(())?;
    if target.cgroup_id == 0 {
        return Err(());
    }
    // SAFETY: helper call with a plain integer argument.
    let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(target.level as i32) };
    if ancestor != target.cgroup_id {
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
fn count(ctx: &RawTracePointContext) -> Result<(), ()> {
    let id: i64 = ctx.arg(ARG_SYSCALL_ID);
    let slot = if id >= 0 && id < SYSCALL_SLOTS as i64 {
        id as u32
    } else {
        SLOT_OUT_OF_RANGE
    };
    let counter = SYSCALL_COUNTS.get_ptr_mut(slot).ok_or(())?;
    // SAFETY: per-CPU slot of a map value; a program runs to completion on one CPU.
    unsafe { *counter += 1 };
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
