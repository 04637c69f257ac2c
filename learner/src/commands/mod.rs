//! The work behind the subcommands, one file each (main.rs only parses and dispatches). May
//! use every other layer; nothing uses it but main.rs.
use std::process::ExitCode;

use anyhow::Context as _;

pub mod apply;
pub mod check;
pub mod diff;
pub mod docs;
pub mod generate;
pub mod merge;
pub mod record;
pub mod run;
pub mod score;
pub mod verify;

/// `--format`: for people (text, and prose on stderr) or for tools (JSON on stdout, stable
/// keys; new keys may be added). Each command's JSON has a schema in learner/schema/,
/// shipped as /usr/share/learner/schema/COMMAND.schema.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn is_json(self) -> bool {
        self == Format::Json
    }
}

/// Prints a JSON output on stdout, on one line.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// What a recorded profile holds and what its recording missed, in every recording command's
/// JSON: counts of what was observed, events received and lost, observations missed by kind.
pub fn recording_json(
    profile: &crate::model::profile::Profile,
) -> serde_json::Map<String, serde_json::Value> {
    let r = &profile.recording;
    let o = &profile.observations;
    let serde_json::Value::Object(map) = serde_json::json!({
        "syscalls": profile.syscalls.len(),
        "paths": o.paths.len(),
        "capabilities": o.capabilities.len(),
        "sockets": o.sockets.len(),
        "events": r.events,
        "lost_events": r.lost_events,
        "missed": r.missed,
        "incomplete": r.incomplete(),
    }) else {
        unreachable!("an object")
    };
    map
}

/// Success, or the error on one line and a failure exit.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Runs a recording on a single-threaded runtime, with Ctrl-C and friends read from a signalfd.
pub fn with_signals<F, T>(
    recording: impl FnOnce(crate::util::signals::SignalStream) -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = T>,
{
    use crate::util::signals;
    // Before the runtime exists: its threads must inherit the blocked mask.
    let fd = signals::block_forwarded().context("cannot block signals")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let signals = signals::SignalStream::new(fd).context("cannot watch signals")?;
        Ok(recording(signals).await)
    })
}

#[cfg(test)]
pub(crate) mod schema {
    //! Validation of the JSON outputs against the schemas shipped beside the binary.
    use std::path::PathBuf;

    pub fn path(command: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(format!("{command}.schema.json"))
    }

    /// Panics, saying where, unless `value` is valid against COMMAND's schema.
    pub fn assert_valid(command: &str, value: &serde_json::Value) {
        let path = path(command);
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the schema"))
                .expect("a JSON schema");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("file:///learner/schema.json", schema)
            .expect("a resource");
        let index = compiler
            .compile("file:///learner/schema.json", &mut schemas)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = schemas.validate(value, index) {
            panic!("{command}'s JSON does not fit its schema: {e:#}\n{value:#}");
        }
    }
}
