//! Capability checks on kernels without the `capability/cap_capable` tracepoint (it came in
//! about Linux 6.14; Debian 11 to 13 run 5.10 to 6.12): a kprobe on the kernel's
//! `cap_capable(cred, user_namespace, cap, opts)` notes the capability and options per
//! thread, and a kretprobe adds the result and sends the same event as the tracepoint. Both
//! read only their own context (`pt_regs`), never kernel memory.
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{kprobe, kretprobe, map},
    maps::LruHashMap,
    programs::{ProbeContext, RetProbeContext},
};

use super::{observed_target, send_capability};

/// The calls in progress, by thread: a check does not sleep between entry and return, so
/// one entry per thread that is inside `cap_capable()` right now; LRU, so an entry whose
/// return was missed (observation switched on in between) ages out.
#[map(name = "CAP_CALLS")]
static CAP_CALLS: LruHashMap<u64, [u64; 2]> = LruHashMap::with_max_entries(4096, 0);

/// `cap_capable()`'s arguments: the credentials are the first, the capability the third,
/// the options the fourth.
const ARG_CRED: usize = 0;
const ARG_CAP: usize = 2;
const ARG_OPTS: usize = 3;

#[kprobe]
pub fn learner_cap_kprobe(ctx: ProbeContext) -> u32 {
    let _ = try_cap_kprobe(&ctx);
    0
}

fn try_cap_kprobe(ctx: &ProbeContext) -> Result<(), ()> {
    observed_target().ok_or(())?;
    let cap: u64 = ctx.arg(ARG_CAP).ok_or(())?;
    let opts: u64 = ctx.arg(ARG_OPTS).ok_or(())?;
    let cred: u64 = ctx.arg(ARG_CRED).ok_or(())?;
    let call = (cap & 0xffff_ffff) | ((opts & 0xffff_ffff) << 32);
    CAP_CALLS
        .insert(&bpf_get_current_pid_tgid(), &[call, cred], 0)
        .map_err(|_| ())
}

#[kretprobe]
pub fn learner_cap_kretprobe(ctx: RetProbeContext) -> u32 {
    let _ = try_cap_kretprobe(&ctx);
    0
}

fn try_cap_kretprobe(ctx: &RetProbeContext) -> Result<(), ()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: a plain u64 map value, copied out at once.
    let [call, cred] = *unsafe { CAP_CALLS.get(&pid_tgid) }.ok_or(())?;
    let _ = CAP_CALLS.remove(&pid_tgid);
    // `int` in the return register: its low 32 bits.
    let ret: u64 = ctx.ret();
    send_capability(
        call as u32,
        ret as u32 as i32,
        Some((call >> 32) as u32),
        cred,
    );
    Ok(())
}
