//! Types and constants shared by learner's eBPF programs and its user-space collector.
//!
//! Everything here is `#[repr(C)]` with explicit padding so both sides agree on the layout
//! byte for byte; `aya::Pod` is implemented only with the `user` feature, so the eBPF build
//! never pulls in aya.
#![no_std]

/// Syscall ids `0..SYSCALL_SLOTS` are counted one slot each. Every table we know (x86_64,
/// aarch64) stays below 512; the head-room is for future calls.
pub const SYSCALL_SLOTS: u32 = 1024;

/// The extra slot after the per-syscall ones, where ids outside `0..SYSCALL_SLOTS` are counted
/// (x32 calls carry bit 30; a negative id is what ptrace-injected skips look like).
pub const SLOT_OUT_OF_RANGE: u32 = SYSCALL_SLOTS;

/// Length of [`map::SYSCALL_COUNTS`]: one slot per syscall id plus [`SLOT_OUT_OF_RANGE`].
pub const SYSCALL_COUNT_SLOTS: u32 = SYSCALL_SLOTS + 1;

/// Most cgroups the exact-match fallback program can follow at once (the target and its
/// descendants, which user space adds as they appear).
pub const MAX_EXACT_CGROUPS: u32 = 4096;

/// Names of the maps, as the eBPF object defines them.
pub mod map {
    /// `Array<Target>` with one element: which cgroup subtree to record.
    pub const TARGET: &str = "TARGET";
    /// `PerCpuArray<u64>` with [`crate::SYSCALL_COUNT_SLOTS`] elements: calls per syscall id.
    pub const SYSCALL_COUNTS: &str = "SYSCALL_COUNTS";
    /// `HashMap<u64, u8>`: cgroup ids recorded by the exact-match fallback program.
    pub const EXACT_CGROUPS: &str = "EXACT_CGROUPS";
}

/// Names of the programs, as the eBPF object defines them. The kernel keeps only the first
/// 15 bytes of a program's name, and all of ours start with [`program::PREFIX`], so a test can
/// find any that were left loaded.
pub mod program {
    pub const PREFIX: &str = "learner_";
    /// `sys_enter` raw tracepoint that matches the target subtree by ancestor id (Linux 5.7+).
    pub const SYS_ENTER_SUBTREE: &str = "learner_sys_enter_subtree";
    /// `sys_enter` raw tracepoint that matches exact cgroup ids from a hash map (Linux 4.18+).
    pub const SYS_ENTER_EXACT: &str = "learner_sys_enter_exact";
}

/// Which cgroup subtree the programs record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// cgroup v2 id (the inode number of its directory) of the subtree's root; 0 records nothing.
    pub cgroup_id: u64,
    /// Depth of that cgroup below the cgroup2 root, which is level 0.
    pub level: u32,
    /// Explicit padding: keeps the struct free of implicit padding bytes.
    pub _pad: u32,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only integer fields, no implicit padding.
unsafe impl aya::Pod for Target {}
