//! learner's command line.
use std::{ffi::OsString, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use learner::{run, signals};

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
    }
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
