//! Talking to systemd and the kernel around it: systemctl and systemd-analyze (`manager`,
//! `analyze`), cgroups (`cgroup`; waiting for one to be made, `cgroup_watch`), driving a unit
//! through its life (`exercise`), the kernel log's seccomp lines (`seccomp_log`). Uses only
//! `util`.
pub mod analyze;
pub mod cgroup;
pub mod cgroup_watch;
pub mod exercise;
pub mod manager;
pub mod seccomp_log;

pub use manager::{Systemd, SystemdError, UnitInfo};
