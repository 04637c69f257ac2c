//! `learner merge IN... -o OUT`: the union of profiles, keeping each input's provenance.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use super::Format;
use crate::model::profile::Profile;

/// `merge --format json`: what was written, from what, and what it holds.
pub fn to_json(inputs: &[PathBuf], output: &Path, merged: &Profile) -> serde_json::Value {
    serde_json::json!({
        "output": output.display().to_string(),
        "inputs": inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "syscalls": merged.syscalls.len(),
        "paths": merged.observations.paths.len(),
        "capabilities": merged.observations.capabilities.len(),
        "sockets": merged.observations.sockets.len(),
        "lost_events": merged.recording.lost_events,
        "incomplete": merged.recording.incomplete(),
    })
}

pub fn merge(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Profile> {
    // Never write over an input: inputs are never modified.
    let out_id = std::fs::canonicalize(output).ok();
    for input in inputs {
        if out_id.is_some() && std::fs::canonicalize(input).ok() == out_id {
            anyhow::bail!("{} is an input: merge writes a new file", output.display());
        }
    }
    let profiles = inputs
        .iter()
        .map(|p| Profile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = Profile::merged(&profiles).ok_or_else(|| anyhow::anyhow!("no profile"))?;
    merged.write_atomic(output)?;
    Ok(merged)
}

pub fn run(inputs: &[PathBuf], output: &Path, format: Format) -> ExitCode {
    let result = merge(inputs, output).map(|merged| {
        if format.is_json() {
            super::print_json(&to_json(inputs, output, &merged));
        }
        eprintln!(
            "learner: merged {} profiles into {}: {} syscalls, {} paths",
            inputs.len(),
            output.display(),
            merged.syscalls.len(),
            merged.observations.paths.len()
        );
    });
    super::exit_code(result)
}
