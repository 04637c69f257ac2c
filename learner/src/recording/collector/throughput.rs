//! The collector under `cargo xtask bench`'s path-heavy burst, without the kernel: the events
//! the kernel side sends for it (distinct files created, absolute and relative to a working
//! directory, and one file reopened, counted in the kernel), built as the ring buffer holds
//! them and handed to [`Collector`] in ring-buffer-sized batches, with the deduplication turns
//! the session takes. Times the user-side pipeline (resolution, dedup, folding, identity) and
//! its memory. Run it optimised:
//!
//! `cargo test --release -p learner --lib -- --ignored --nocapture path_heavy_burst`
use std::collections::HashMap;

use learner_common::{EventTag, SyscallEvent};

use super::*;

const AT_FDCWD: u64 = -100i64 as u64;
/// Distinct files created, as the bench's row.
const FILES: u64 = 200_000;
/// Opens of one file, counted in the kernel: the first of each turn is sent.
const REOPENS: u64 = 1_000_000;
/// Distinct events that bring a deduplication turn forward (the session's
/// `DEDUP_TURN_EVENTS`).
const TURN: usize = 4096;
const DIR: &str = "/dev/shm/learner-bench-4242/stress";
/// The content base the workload's chdir(DIR) makes.
const CWD_BASE: u64 = 0x5eed_0001;

/// A syscall event as the kernel side builds it.
fn syscall(name: &str, path: &str, flags: u64, ret: i64, key: u64, uid: u32) -> SyscallEvent {
    // SAFETY: plain data; all zeroes is a valid event.
    let mut ev: SyscallEvent = unsafe { std::mem::zeroed() };
    ev.tag = EventTag::Syscall as u32;
    ev.nr = Arch::X86_64.syscall_number(name).expect("x86_64 syscall");
    ev.pid = 4242;
    ev.tgid = 4242;
    ev.ret = ret;
    ev.key = key;
    ev.args = [AT_FDCWD, 0x7fff_0000, flags, 0o600, 0, 0];
    ev.strings[0][..path.len()].copy_from_slice(path.as_bytes());
    ev.string_len[0] = path.len() as u32 + 1;
    ev.comm[..8].copy_from_slice(b"workload");
    ev.uid_gid = u64::from(uid) | u64::from(uid) << 32;
    ev
}

fn push(batch: &mut Vec<u8>, ev: &SyscallEvent) {
    // SAFETY: reading the plain data as bytes.
    batch.extend_from_slice(unsafe {
        std::slice::from_raw_parts(
            (ev as *const SyscallEvent).cast::<u8>(),
            size_of::<SyscallEvent>(),
        )
    });
}

/// This thread's CPU time, in seconds: the machine is shared, and wall time would count
/// other programs' turns on the CPU.
fn cpu_seconds() -> f64 {
    // SAFETY: clock_gettime fills a local struct.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// `name`'s value in /proc/self/status, in KiB.
fn status_kib(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// What a run of the burst gave: events handled, seconds spent in the collector, the
/// observations it added up to (as a profile writes them), events lost.
pub struct Run {
    pub events: u64,
    pub seconds: f64,
    pub observations: String,
    pub lost: u64,
    pub missed: BTreeMap<String, u64>,
}

/// Feeds the burst of `files` creates (every fourth relative to the working directory) and
/// `reopens` opens of the first file, by `uid`, to a new collector.
pub fn burst(files: u64, reopens: u64, uid: u32) -> Run {
    let mut c = Collector::new(Arch::X86_64);
    let mut seconds = 0.0;
    let mut lost = 0;
    let mut key = 0u64;
    // The kernel's two deduplication maps: the one counting now, and the one set aside.
    let mut counting: HashMap<u64, u64> = HashMap::new();
    let mut set_aside: HashMap<u64, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(TURN * size_of::<SyscallEvent>());
    let create = 0o1 | O_CREAT | 0o2000000;
    let turns = files.div_ceil(TURN as u64).max(1);
    let mut i = 0;
    let mut first = true;
    while i < files || first {
        batch.clear();
        if first {
            key += 1;
            let mut chdir = syscall("chdir", DIR, 0, 0, key, uid);
            chdir.made = CWD_BASE;
            counting.insert(key, 0);
            push(&mut batch, &chdir);
            first = false;
        }
        // The reopened file: the first open of each turn is sent, the rest counted.
        key += 1;
        push(
            &mut batch,
            &syscall("openat", &format!("{DIR}/f0"), 0o2000000, 3, key, uid),
        );
        counting.insert(key, reopens / turns - 1);
        let end = (i + TURN as u64 - 1).min(files);
        for n in i..end {
            key += 1;
            let mut ev = if n % 4 == 0 {
                let mut ev = syscall("openat", &format!("f{n}"), create, 3, key, uid);
                ev.base[0] = CWD_BASE;
                ev
            } else {
                syscall("openat", &format!("{DIR}/f{n}"), create, 3, key, uid)
            };
            ev.made = (key << 8) | 1;
            counting.insert(key, 0);
            push(&mut batch, &ev);
        }
        i = end;
        let start = cpu_seconds();
        for ev in batch.chunks_exact(size_of::<SyscallEvent>()) {
            c.handle(ev);
        }
        // The session's turn: the maps swap, the one set aside is drained.
        lost += c.add_repeats(&set_aside);
        set_aside = std::mem::take(&mut counting);
        seconds += cpu_seconds() - start;
    }
    let start = cpu_seconds();
    lost += c.add_repeats(&set_aside);
    lost += c.add_repeats(&HashMap::new());
    seconds += cpu_seconds() - start;
    Run {
        events: c.events,
        seconds,
        observations: serde_yaml::to_string(&c.observations).expect("yaml"),
        lost,
        missed: c.missed,
    }
}

#[test]
fn a_small_burst_folds_and_counts_every_open() {
    let run = burst(3000, 2000, 0);
    assert_eq!(run.lost, 0);
    assert!(run.missed.is_empty(), "{:?}", run.missed);
    let o: Observations = serde_yaml::from_str(&run.observations).expect("yaml");
    let paths: Vec<&str> = o.paths.keys().map(String::as_str).collect();
    assert_eq!(paths, [DIR, &format!("{DIR}/*")]);
    let folded = &o.paths[&format!("{DIR}/*")];
    // 3000 creates (the first opened for reading in each of its turns too), and 2000 reads.
    assert_eq!(folded[&Access::Create].count, 3000);
    assert_eq!(folded[&Access::Read].count, 2000);
    // Root's writes fold with the paths: the directory's entries, and its files' contents.
    let writes: Vec<(&str, u64)> = o
        .identity
        .root_writes
        .iter()
        .map(|(k, s)| (k.as_str(), s.count))
        .collect();
    assert_eq!(writes, [(DIR, 3000), (&format!("{DIR}/*"), 3000)]);
}

#[test]
fn a_users_writes_fold_as_roots() {
    let run = burst(3000, 10, 33);
    let o: Observations = serde_yaml::from_str(&run.observations).expect("yaml");
    let writes: Vec<(&str, u64)> = o
        .identity
        .user_writes
        .iter()
        .map(|(k, s)| (k.as_str(), s.count))
        .collect();
    assert_eq!(
        writes,
        [
            (format!("33 {DIR}").as_str(), 3000),
            (&format!("33 {DIR}/*"), 3000)
        ]
    );
    assert!(o.identity.root_writes.is_empty());
}

#[test]
#[ignore = "a benchmark: run it with --release"]
fn path_heavy_burst() {
    let before = status_kib("VmRSS:");
    let run = burst(FILES, REOPENS, 0);
    let peak = status_kib("VmHWM:");
    let rate = run.events as f64 / run.seconds;
    let digest = {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        run.observations.hash(&mut h);
        h.finish()
    };
    println!(
        "path-heavy burst: {} events in {:.3} s of CPU: {rate:.0} events/s; RSS {:.1} MiB before, peak {:.1} MiB; lost {}; observations {} bytes, digest {digest:016x}",
        run.events,
        run.seconds,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        run.lost,
        run.observations.len(),
    );
    assert_eq!(run.lost, 0);
    assert!(rate >= 300_000.0, "{rate:.0} events/s");
    assert!(peak < 50 * 1024, "peak {peak} KiB");
}
