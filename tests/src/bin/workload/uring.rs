//! `workload io_uring PATH`: creates PATH through an io_uring OPENAT request (no openat
//! syscall names it), then writes to it through a WRITE request. A recorder that watches
//! syscalls alone never sees the path. No liburing: the ring is set up by hand.
use std::{ffi::CString, path::Path, ptr, sync::atomic::AtomicU32, sync::atomic::Ordering};

const IORING_OP_OPENAT: u8 = 18;
const IORING_OP_WRITE: u8 = 23;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;

#[repr(C)]
#[derive(Default)]
struct SqRingOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqRingOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqRingOffsets,
    cq_off: CqRingOffsets,
}

/// One submission queue entry, as the kernel reads it (64 bytes).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: u32,
    addr3: u64,
    pad: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

struct Ring {
    fd: i32,
    sq: *mut u8,
    cq: *mut u8,
    sqes: *mut Sqe,
    p: Params,
}

fn map(fd: i32, len: usize, offset: i64) -> *mut u8 {
    // SAFETY: a shared mapping of the ring fd at one of its documented offsets.
    let m = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            offset,
        )
    };
    assert_ne!(
        m,
        libc::MAP_FAILED,
        "mmap of the ring: {}",
        std::io::Error::last_os_error()
    );
    m.cast()
}

impl Ring {
    fn new() -> Self {
        let mut p = Params::default();
        // SAFETY: io_uring_setup fills the params it is given.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, &raw mut p) } as i32;
        assert!(
            fd >= 0,
            "io_uring_setup: {}",
            std::io::Error::last_os_error()
        );
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        let sq = map(fd, sq_len, IORING_OFF_SQ_RING);
        let cq = map(fd, cq_len, IORING_OFF_CQ_RING);
        let sqes = map(
            fd,
            p.sq_entries as usize * size_of::<Sqe>(),
            IORING_OFF_SQES,
        )
        .cast();
        Ring {
            fd,
            sq,
            cq,
            sqes,
            p,
        }
    }

    fn at(base: *mut u8, offset: u32) -> &'static AtomicU32 {
        // SAFETY: an aligned u32 of a ring mapping that lives as long as the process.
        unsafe { &*base.add(offset as usize).cast::<AtomicU32>() }
    }

    /// Submits `sqe`, waits for its completion and returns its result.
    fn run(&mut self, sqe: Sqe) -> i32 {
        let o = &self.p.sq_off;
        let tail = Self::at(self.sq, o.tail).load(Ordering::Acquire);
        let index = tail & Self::at(self.sq, o.ring_mask).load(Ordering::Relaxed);
        // SAFETY: index is masked to the ring's size; the entry and the array slot are ours
        // until the tail moves past them.
        unsafe {
            *self.sqes.add(index as usize) = sqe;
            *self
                .sq
                .add(o.array as usize)
                .cast::<u32>()
                .add(index as usize) = index;
        }
        Self::at(self.sq, o.tail).store(tail.wrapping_add(1), Ordering::Release);
        // SAFETY: io_uring_enter on our ring: submit one, wait for one.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                1,
                1,
                IORING_ENTER_GETEVENTS,
                ptr::null::<u8>(),
                0,
            )
        };
        assert_eq!(rc, 1, "io_uring_enter: {}", std::io::Error::last_os_error());
        let c = &self.p.cq_off;
        let head = Self::at(self.cq, c.head).load(Ordering::Acquire);
        assert_ne!(
            head,
            Self::at(self.cq, c.tail).load(Ordering::Acquire),
            "no completion"
        );
        let index = head & Self::at(self.cq, c.ring_mask).load(Ordering::Relaxed);
        // SAFETY: a completion the kernel posted, masked to the ring's size.
        let cqe = unsafe {
            *self
                .cq
                .add(c.cqes as usize)
                .cast::<Cqe>()
                .add(index as usize)
        };
        Self::at(self.cq, c.head).store(head.wrapping_add(1), Ordering::Release);
        assert_eq!(cqe.user_data, sqe.user_data);
        cqe.res
    }
}

pub fn run(path: &Path) {
    let mut ring = Ring::new();
    let name = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in the path");
    let fd = ring.run(Sqe {
        opcode: IORING_OP_OPENAT,
        fd: libc::AT_FDCWD,
        addr: name.as_ptr() as u64,
        len: 0o644,
        op_flags: (libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC) as u32,
        user_data: 1,
        ..Sqe::default()
    });
    assert!(
        fd >= 0,
        "OPENAT request: {}",
        std::io::Error::from_raw_os_error(-fd)
    );
    let text = b"written through io_uring\n";
    let n = ring.run(Sqe {
        opcode: IORING_OP_WRITE,
        fd,
        addr: text.as_ptr() as u64,
        len: text.len() as u32,
        user_data: 2,
        ..Sqe::default()
    });
    assert_eq!(n, text.len() as i32, "WRITE request");
    println!("io_uring: created {}", path.display());
}
