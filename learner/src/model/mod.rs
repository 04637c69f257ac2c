//! The observation model: what a service did (`observations`), the profile file that holds it
//! (`profile`), and the kernel's numbers as names (`names`, `syscalls`). Uses only `util`; it
//! knows nothing of directives, eBPF or systemd.
pub mod credentials;
pub mod io_uring;
pub mod names;
pub mod observations;
pub mod profile;
pub mod syscalls;
pub mod unit;
