//! The work behind the subcommands that combine the layers below: generate, apply, diff, score
//! and docs. (record, run, check, verify and merge are thin enough to live in main.rs on top of
//! `recording` and `policy`.) May use every other layer; nothing uses it but main.rs.
pub mod apply;
pub mod diff;
pub mod docs;
pub mod generate;
pub mod score;
