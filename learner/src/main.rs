//! learner's command line.
use std::{ffi::OsString, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use learner::{generate, run, signals};

#[derive(Parser)]
#[command(
    name = "learner",
    version,
    about = "Learns the tightest systemd sandbox a service can live in"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command in a fresh cgroup, record every syscall it and its descendants make, and
    /// write a profile when it exits. Exits with the command's exit code.
    Run(RunArgs),
    /// Turn one or more profiles (merged as a union) into the tightest systemd drop-in that
    /// still permits everything they observed.
    Generate(GenerateArgs),
}

#[derive(Args)]
struct GenerateArgs {
    /// Profiles to generate from; several are merged (staging runs, replicas, hosts)
    #[arg(required = true, value_name = "PROFILE")]
    profiles: Vec<PathBuf>,
    /// Write the drop-in here instead of to stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// systemd version to generate for [default: the local systemd]
    #[arg(long, value_name = "VERSION")]
    target_systemd: Option<u32>,
    /// Put a comment naming its evidence above each directive
    #[arg(long)]
    explain: bool,
    /// Print the exposure of UNITFILE (systemd-analyze security) without and with the drop-in
    #[arg(long, value_name = "UNITFILE")]
    score: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Where to write the profile [default: <basename of CMD>.profile.yaml]
    #[arg(short, long, value_name = "PROFILE")]
    output: Option<PathBuf>,
    /// The command to record, and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run_command(args),
        Command::Generate(args) => generate_command(args),
    }
}

fn generate_command(args: GenerateArgs) -> ExitCode {
    let result = (|| -> anyhow::Result<()> {
        let generated = generate::generate(&generate::GenerateRequest {
            profiles: args.profiles,
            target_systemd: args.target_systemd,
            explain: args.explain,
        })?;
        match &args.output {
            Some(path) => write_atomic(path, &generated.text)
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => print!("{}", generated.text),
        }
        if let Some(unit) = &args.score {
            let (before, after) = generate::score(unit, &generated.text)?;
            eprintln!(
                "learner: exposure of {}: {before:.1} without the drop-in, {after:.1} with it",
                unit.display()
            );
        }
        if generated.profile.recording.lost_events > 0 {
            eprintln!(
                "learner: warning: the profiles lost {} events while recording; the drop-in may be too tight",
                generated.profile.recording.lost_events
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("learner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to `path` so readers see the old file or the whole new one.
fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or_else(|| "dropin".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn run_command(args: RunArgs) -> ExitCode {
    let request = run::RunRequest {
        command: args.command,
        output: args.output,
    };
    let outcome = (|| {
        // Before the runtime exists: its threads must inherit the blocked mask.
        let fd = signals::block_forwarded().context("cannot block signals")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async {
            let signals = signals::SignalStream::new(fd).context("cannot watch signals")?;
            Ok::<_, anyhow::Error>(run::run(request, signals).await)
        })
    })();
    match outcome {
        Ok(Ok(report)) => {
            let r = &report.profile.recording;
            eprintln!(
                "learner: wrote {}: {} distinct syscalls, {} lost events; the command exited with {}",
                report.profile_path.display(),
                report.profile.syscalls.len(),
                r.lost_events,
                report.exit_code,
            );
            ExitCode::from(u8::try_from(report.exit_code).unwrap_or(run::EXIT_LEARNER_FAILED))
        }
        Ok(Err(e)) => {
            eprintln!("learner: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("learner: {e:#}");
            ExitCode::from(run::EXIT_LEARNER_FAILED)
        }
    }
}
