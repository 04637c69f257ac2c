//! Small OS helpers that know nothing of learner: atomic file writes, signals, facts about
//! this host, one-line error messages, progress on stderr, entries for the journal. Uses
//! nothing else in the crate.
pub mod atomic_file;
pub mod errors;
pub mod host;
pub mod journal;
pub mod progress;
pub mod signals;
