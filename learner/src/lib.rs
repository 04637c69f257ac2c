//! learner: learns the tightest systemd sandbox a service can live in.
//!
//! The observation side (cgroups, the eBPF recorder, profiles) is kept apart from the policy
//! side (which directive values observations permit).
pub mod apply;
pub mod atomic_file;
pub mod cgroup;
pub mod check;
pub mod collector;
pub mod credentials;
pub mod diff;
pub mod docs;
pub mod errors;
pub mod exercise;
pub mod generate;
pub mod host;
pub mod names;
pub mod observations;
pub mod policy;
pub mod profile;
pub mod record;
pub mod recorder;
pub mod run;
pub mod score;
pub mod seccomp_log;
pub mod session;
pub mod signals;
pub mod syscalls;
pub mod systemd;
pub mod traced;
pub mod unit_file;
pub mod verify;
