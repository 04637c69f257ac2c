//! The program `workload` execs at its end: makes the after-exec marker, then exits with the
//! code given as its first argument.
use learner_tests::markers;

fn main() {
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: sysinfo into a local struct.
    unsafe { libc::syscall(markers::AFTER_EXEC.1, &mut info as *mut libc::sysinfo) };
    let code = std::env::args()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    std::process::exit(code);
}
