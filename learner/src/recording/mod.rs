//! Recording: loading and attaching the eBPF programs (`recorder`), reading their events into
//! observations (`collector`, `session`, `traced`), and recording a systemd unit (`unit`) or a
//! command (`command`) into a profile, with the outcomes of the events a recording
//! drove the unit through (`baseline`); every unit of a host at once (`all_units`, with
//! `cgroup_names` telling whose each cgroup is). Uses `systemd`, `model` and `util`; never `policy`.
pub mod all_units;
pub mod baseline;
pub mod cgroup_names;
pub mod collector;
pub mod command;
pub mod follower;
pub mod network;
pub mod packages;
pub mod recorder;
pub mod resolve;
pub mod session;
pub mod traced;
pub mod unit;
