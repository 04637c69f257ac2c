//! learner: learns the tightest systemd sandbox a service can live in.
//!
//! One folder per layer; each may use only the layers listed below it:
//! - [`commands`]: the subcommands' work (generate, apply, diff, score, docs);
//! - [`recording`]: loading and attaching the eBPF programs, the collector, recording a unit or
//!   a command into a profile;
//! - [`policy`]: which directive values observations permit, and what a deployed drop-in denies;
//! - [`systemd`]: talking to systemd, cgroups, systemd-analyze and the kernel log;
//! - [`model`]: what a service did (observations), the profile format, names and syscall tables;
//! - [`util`]: small OS helpers that know nothing of learner.
pub mod commands;
pub mod model;
pub mod policy;
pub mod recording;
pub mod systemd;
pub mod util;
