//! learner's command line.
use std::{ffi::OsString, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use learner::{
    commands::{
        Format, apply, check, diff, exit_code, generate, harden, merge, record, run, score, verify,
        watch,
    },
    policy::margin::Margin,
    recording::{command, unit},
};

/// `learner --version`: the version and the target it was built for.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LEARNER_TARGET"), ")");

#[derive(Parser)]
#[command(
    name = "learner",
    version = VERSION,
    about = "Learns the tightest systemd sandbox a service can live in"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command in a fresh cgroup, record every syscall it and its descendants make, and
    /// write a profile when it exits (or --for stops it). Exits with the command's exit code.
    Run(RunArgs),
    /// Turn one or more profiles (merged as a union) into the tightest systemd drop-in that
    /// still permits everything they observed.
    Generate(GenerateArgs),
    /// Record a running systemd unit by its cgroup, without wrapping or editing it
    Record(RecordArgs),
    /// Install a drop-in for a unit, restart it, check it works; roll back when it does not
    Apply(ApplyArgs),
    /// Print a unit's exposure (systemd-analyze security), and with --dropin what it would be.
    /// Exits 0, 1 when above --threshold, 2 on trouble
    Score(ScoreArgs),
    /// What NEW's drop-in permits that OLD's did not, and the reverse, item by item with the
    /// observations that caused it; other changed observations as information.
    /// Exits 0 when they are the same, 1 when they differ (see --fail-on), 2 on trouble
    Diff(DiffArgs),
    /// Merge profiles into one (the union), keeping each input's provenance
    Merge(MergeArgs),
    /// Record a unit that runs under a sandbox and report every operation the sandbox
    /// denied, with the directive that denied it and the change that would permit it.
    /// Exits 0 when nothing was denied, 1 when something was, 2 on trouble
    Check(CheckArgs),
    /// Write man pages and shell completions under DIR (for packagers)
    #[command(hide = true)]
    Docs { dir: PathBuf },
    /// Whether a drop-in, deployed on top of its unit's own settings, permits everything the
    /// profiles observed: one line per gap, with the directive that denies it and the fix.
    /// Exits 0 when everything is permitted, 1 when not (or when a setting restricts what the
    /// recordings could not see), 2 on trouble
    Verify(VerifyArgs),
    /// Shadow mode: record the live unit (no restart, following its restarts) and report,
    /// once each, what a candidate drop-in would deny, with the directive and the fix, on
    /// stdout and to the unit's journal. Nothing is enforced. Exits 0 when nothing would have
    /// been denied, 1 when something would (or events were lost), 2 on trouble
    Watch(WatchCommandArgs),
    /// Harden every unit recorded in a directory: for each unit's profiles the drop-in for
    /// this host (written beside them as UNIT.hardening.conf) and its exposure, and with
    /// --apply each applied in turn, never two at once, rolled back when it fails; one report
    /// (DIR/harden-report.md and .json, and on stdout). Exits 0 when no unit was rolled back,
    /// 1 when one was (or harden was interrupted), 2 on trouble
    Harden(HardenArgs),
}

#[derive(Args)]
struct HardenArgs {
    /// The directory of profiles (`learner record UNIT -o DIR/UNIT.profile.yaml` for each)
    dir: PathBuf,
    /// Apply each drop-in (as `learner apply`: the check, the events, rollback on failure);
    /// Ctrl-C stops after the unit being applied
    #[arg(long)]
    apply: bool,
    /// With --apply: drive each unit through these events under its drop-in, as `learner
    /// apply --exercise` (restart, reload, crash, logrotate, or all)
    #[arg(long, requires = "apply", value_name = "LIST", value_parser = |s: &str| learner::systemd::exercise::parse_list(s).map(Exercises))]
    exercise: Option<Exercises>,
    /// With --apply: DIR/UNIT (e.g. checks/nginx.service), when it exists, is the unit's check,
    /// run with sh after each start and event
    #[arg(long, requires = "apply", value_name = "DIR")]
    check_dir: Option<PathBuf>,
    /// As `learner apply --timeout`
    #[arg(long, requires = "apply", value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// `json`: the report on stdout as DIR/harden-report.json holds it
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// No progress on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    guest: GuestArg,
}

#[derive(Args)]
struct WatchCommandArgs {
    /// The unit: nginx.service, postgresql@15-main.service, an escaped name
    unit: String,
    /// The candidate drop-in, judged on top of the unit's own settings (one installed under
    /// the same name is replaced by it)
    #[arg(long, value_name = "DROPIN")]
    dropin: PathBuf,
    /// How long to watch (30s, 10m, 24h) [default: until Ctrl-C]
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Keep what was reported and observed here (written every minute and on stop): a watch
    /// restarted with the same file repeats no report
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Keep a Prometheus textfile here (for node-exporter's textfile collector: a .prom file
    /// in its directory) with the unit's would-be denials, when the last was first seen, and
    /// lost events
    #[arg(long, value_name = "FILE")]
    textfile: Option<PathBuf>,
    /// Once the unit has been watched this long with no would-be denial and no event lost,
    /// stop watching and apply the drop-in as `learner apply` does (rolled back when the unit
    /// fails it). Without it the unit is never touched
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    promote_after: Option<std::time::Duration>,
    /// With --promote-after: `learner apply --check`
    #[arg(long, value_name = "CMD", requires = "promote_after")]
    check: Option<String>,
    /// With --promote-after: `learner apply --exercise`
    #[arg(long, value_name = "LIST", requires = "promote_after", value_parser = |s: &str| learner::systemd::exercise::parse_list(s).map(Exercises))]
    exercise: Option<Exercises>,
    /// `json`: one object per line: each would-be denial {event: "would-deny", processes,
    /// operation, directive, fix, ...}, lost events, and a summary at the end
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    guest: GuestArg,
}

#[derive(Args)]
struct VerifyArgs {
    /// The drop-in to verify (hand-written, deployed, or from `learner generate`)
    dropin: PathBuf,
    /// Profiles of the service; several are merged
    #[arg(required = true, value_name = "PROFILE")]
    profiles: Vec<PathBuf>,
    /// Read the settings the unit itself has (its unit file and other drop-ins) from systemd;
    /// paths are checked for existence on that systemd's machine
    #[arg(long, value_name = "UNIT", conflicts_with = "unit_file")]
    unit: Option<String>,
    /// The unit file whose settings the drop-in is added to [default, without --unit: the
    /// settings the profiles recorded]
    #[arg(long, value_name = "FILE")]
    unit_file: Option<PathBuf>,
    /// systemd version the drop-in is deployed on [default: the local systemd]
    #[arg(long, value_name = "VERSION")]
    target_systemd: Option<u32>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    guest: GuestArg,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    watch: WatchArgs,
    /// Also write what was recorded as a profile
    #[arg(short, long, value_name = "PROFILE")]
    output: Option<PathBuf>,
    /// `json`: one array of objects {processes, operation, outcome, directive, fix}
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// A profile of the unit's life without the sandbox (repeatable): a capability it saw
    /// denied, never granted, to the same processes, or a path operation they never did with
    /// success there, is said once, not counted as the sandbox's denial
    #[arg(long, value_name = "PROFILE")]
    baseline: Vec<PathBuf>,
}

/// Which unit to watch, and for how long: `record` and `check` alike.
#[derive(Args)]
struct WatchArgs {
    /// The unit: nginx.service, postgresql@15-main.service, an escaped name
    unit: String,
    /// How long to watch (30s, 10m, 1h30m) [default: until Ctrl-C or the unit stops]
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Attach first, then restart the unit, so its start-up is seen too
    #[arg(long)]
    restart: bool,
    /// When the unit is not running, record it from its next start (a fresh host's first
    /// start, a timer's next run) instead of refusing; --for counts from when it is up
    #[arg(long, conflicts_with = "restart")]
    wait: bool,
    /// No progress on stderr (elapsed and remaining time, events, processes, lost events)
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    guest: GuestArg,
}

impl WatchArgs {
    fn request(self, output: Option<PathBuf>, check: bool) -> unit::RecordRequest {
        unit::RecordRequest {
            unit: self.unit,
            duration: self.duration,
            restart: self.restart,
            wait: self.wait,
            output,
            guest: self.guest.guest,
            check,
            exercise: Vec::new(),
            quiet: self.quiet,
            live: None,
        }
    }
}

#[derive(Args)]
struct DiffArgs {
    old: PathBuf,
    new: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[arg(long, value_enum, default_value = "any")]
    fail_on: diff::FailOn,
    /// systemd version the compared drop-ins are generated for [default: the local systemd]
    #[arg(long, value_name = "VERSION")]
    target_systemd: Option<u32>,
    /// The syscall margin the compared drop-ins are generated with, as `generate --margin`
    #[arg(long, value_enum, default_value_t = Margin::Standard)]
    margin: Margin,
}

#[derive(Args)]
struct MergeArgs {
    /// Profiles to merge; none of them is modified
    #[arg(required = true, num_args = 2.., value_name = "IN")]
    inputs: Vec<PathBuf>,
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// `json`: on stdout, what was written, from which inputs, and what it holds
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args)]
struct GuestArg {
    /// The unit belongs to the systemd in this process's namespaces (a container's PID 1):
    /// learner reaches it with nsenter and finds its cgroups from here
    #[arg(long, value_name = "PID")]
    guest: Option<u32>,
}

#[derive(Args)]
struct RecordArgs {
    /// The unit: nginx.service, postgresql@15-main.service, an escaped name
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    unit: Option<String>,
    /// Record every service unit of the manager at once (those running, and those started
    /// while recording: timers' jobs, socket activation) with one set of programs, a profile
    /// per unit into the directory -o names. The manager's core (journald, udevd, logind,
    /// dbus) and learner's own units are left out unless --include names them
    #[arg(long, requires = "output")]
    all: bool,
    /// With --all: leave these units out (a name or a glob, repeatable)
    #[arg(long, value_name = "UNIT|GLOB", requires = "all")]
    exclude: Vec<String>,
    /// With --all: record only these units (a name or a glob, repeatable)
    #[arg(long, value_name = "UNIT|GLOB", requires = "all")]
    include: Vec<String>,
    /// How long to record (30s, 10m, 1h30m) [default: until Ctrl-C or the unit stops]
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Attach first, then restart the unit, so its start-up is seen too (with --all: each
    /// running unit recorded, one at a time)
    #[arg(long)]
    restart: bool,
    /// When the unit is not running, record it from its next start (a fresh host's first
    /// start, a timer's next run) instead of refusing; --for counts from when it is up
    #[arg(long, conflicts_with_all = ["restart", "all"])]
    wait: bool,
    /// No progress on stderr (elapsed and remaining time, events, processes, lost events)
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    guest: GuestArg,
    /// Where to write the profile [default: <unit>.profile.yaml]; with --all, the directory
    /// for every unit's
    #[arg(short, long, value_name = "PROFILE|DIR")]
    output: Option<PathBuf>,
    /// After --for, drive the unit through its life while still recording, one event at a
    /// time: restart, reload, crash (SIGKILL to all its processes, then start), logrotate
    /// (its package's logrotate.d entry, forced); a comma-separated list, or all. DISRUPTIVE
    /// by design: for staging, not production
    #[arg(long, value_name = "LIST", value_parser = |s: &str| learner::systemd::exercise::parse_list(s).map(Exercises), conflicts_with = "all")]
    exercise: Option<Exercises>,
    /// `json`: on stdout, the profile written, what it holds, events received and lost,
    /// observations missed by kind, and each exercised event (with --all, a row per unit)
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// A parsed `--exercise` list (one value, so clap must not see a `Vec`).
#[derive(Clone)]
struct Exercises(Vec<learner::systemd::exercise::Exercise>);

#[derive(Args)]
struct ApplyArgs {
    unit: String,
    /// The drop-in to install (from `learner generate`)
    dropin: PathBuf,
    /// A shell command that must succeed once the unit is active, or once a job's run has
    /// finished, and after each --exercise event (e.g. a curl of it)
    #[arg(long, value_name = "CMD")]
    check: Option<String>,
    /// After the first start, drive the unit through these events under the drop-in, the
    /// check after each: comma-separated restart, reload, crash (SIGKILL to all its
    /// processes), logrotate (its package's /etc/logrotate.d entry, forced), or all.
    /// Disruptive by design: for staging
    #[arg(long, value_name = "LIST", value_parser = |s: &str| learner::systemd::exercise::parse_list(s).map(Exercises))]
    exercise: Option<Exercises>,
    /// How long the check is retried after each start until it passes (a service may answer
    /// well after it is active) [default: the unit's TimeoutStartSec, at most 90s]; waits for
    /// starts and stops follow the unit's own TimeoutStartSec and TimeoutStopSec, and this
    /// stands in where they are infinity (a stop that does not end by then is killed)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// A profile of the unit recorded with --exercise: how it goes through each event without
    /// the drop-in, which the same event under the drop-in is compared with [default: the
    /// profiles the drop-in's header names, beside it]
    #[arg(long, value_name = "PROFILE")]
    profile: Vec<PathBuf>,
    /// `json`: on stdout, what was installed, each exercised event, the exposure before and
    /// after; or the step that failed and how it was rolled back
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// No progress on stderr while --exercise events run
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    guest: GuestArg,
}

#[derive(Args)]
struct ScoreArgs {
    unit: String,
    /// Also score the unit as it would be with this drop-in
    #[arg(long, value_name = "FILE")]
    dropin: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when the exposure (with --dropin: the one with the drop-in) is above N
    #[arg(long, value_name = "N")]
    threshold: Option<f64>,
    #[command(flatten)]
    guest: GuestArg,
}

#[derive(Args)]
struct GenerateArgs {
    /// Profiles to generate from; several are merged (staging runs, replicas, hosts)
    #[arg(required = true, value_name = "PROFILE")]
    profiles: Vec<PathBuf>,
    /// `json`: on stdout, the target, warnings, each directive's lines and evidence, and the
    /// drop-in text (still written to --output when given)
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the drop-in here instead of to stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// systemd version to generate for [default: the local systemd]
    #[arg(long, value_name = "VERSION")]
    target_systemd: Option<u32>,
    /// Put a comment naming its evidence above each directive
    #[arg(long)]
    explain: bool,
    /// Syscalls allowed beyond those observed: `standard` adds the other members of each
    /// observed call's family of alternatives (fdatasync seen: fsync, sync_file_range, ...),
    /// never one that systemd-analyze security scores; `exact` only what was observed
    #[arg(long, value_enum, default_value_t = Margin::Standard)]
    margin: Margin,
    /// Print the exposure of UNITFILE (systemd-analyze security) without and with the drop-in
    #[arg(long, value_name = "UNITFILE")]
    score: Option<PathBuf>,
    /// The unit file whose settings the drop-in is added to [default: the settings the
    /// profile recorded, else --score's UNITFILE]: the drop-in keeps the grants of it the
    /// service needs
    #[arg(long, value_name = "FILE")]
    unit_file: Option<PathBuf>,
    /// Also change who the service runs as, when the recording shows root used only to
    /// become another user: User=/Group= or DynamicUser=yes, RuntimeDirectory= and its
    /// siblings instead of ReadWritePaths=, only the capabilities the non-root service uses
    /// (as ambient ones). It changes how the service starts: apply it with a check
    #[arg(long)]
    identity: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Where to write the profile [default: <basename of CMD>.profile.yaml]
    #[arg(short, long, value_name = "PROFILE")]
    output: Option<PathBuf>,
    /// `json`: on stdout, the profile written, the command's exit code, what the profile
    /// holds, events received and lost, observations missed by kind
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Stop the command after this long (30s, 10m, 1h30m): SIGTERM, then everything in its
    /// cgroup killed 10 s later; progress shows meanwhile [default: until it exits]
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// No progress on stderr during --for (without --for there is none: the command may use
    /// the terminal)
    #[arg(short, long)]
    quiet: bool,
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
    let command = parse_cli().command;
    if matches!(
        command,
        Command::Generate(_) | Command::Diff(_) | Command::Verify(_) | Command::Score(_)
    ) {
        // Commands that only read files and print: `learner diff A B | head` should end
        // quietly, as other filters do, not panic on the closed pipe. The recording commands
        // keep SIGPIPE ignored so that they always detach and clean up.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match command {
        Command::Run(args) => run::run(
            command::RunRequest {
                command: args.command,
                output: args.output,
                duration: args.duration,
                quiet: args.quiet,
            },
            args.format,
        ),
        Command::Generate(args) => generate::run(
            &generate::GenerateRequest {
                profiles: args.profiles,
                target_systemd: args.target_systemd,
                explain: args.explain,
                margin: args.margin,
                identity: args.identity,
                unit_file: args.unit_file,
                score_unit_file: args.score,
            },
            args.output.as_deref(),
            args.format,
        ),
        Command::Record(args) => match args.unit {
            None => record::run_all(
                learner::recording::all_units::AllRequest {
                    dir: args.output.expect("clap requires -o with --all"),
                    duration: args.duration,
                    selection: learner::recording::all_units::Selection {
                        include: args.include,
                        exclude: args.exclude,
                    },
                    restart: args.restart,
                    guest: args.guest.guest,
                    quiet: args.quiet,
                },
                args.format,
            ),
            Some(unit) => {
                let watch = WatchArgs {
                    unit,
                    duration: args.duration,
                    restart: args.restart,
                    wait: args.wait,
                    quiet: args.quiet,
                    guest: args.guest,
                };
                let mut request = watch.request(args.output, false);
                request.exercise = args.exercise.map(|e| e.0).unwrap_or_default();
                record::run(request, args.format)
            }
        },
        Command::Apply(args) => apply::run(
            &apply::ApplyRequest {
                unit: args.unit,
                dropin: args.dropin,
                check: args.check,
                timeout: args.timeout,
                guest: args.guest.guest,
                exercise: args.exercise.map(|e| e.0).unwrap_or_default(),
                profiles: args.profile,
                quiet: args.quiet,
            },
            args.format,
        ),
        Command::Score(args) => score::run(
            &args.unit,
            args.dropin.as_deref(),
            args.guest.guest,
            args.threshold,
            args.format,
        ),
        Command::Diff(args) => diff::run(
            &diff::DiffRequest {
                old: args.old,
                new: args.new,
                target_systemd: args.target_systemd,
                margin: args.margin,
                fail_on: args.fail_on,
            },
            args.format,
        ),
        Command::Merge(args) => merge::run(&args.inputs, &args.output, args.format),
        Command::Check(args) => check::run(
            args.watch.request(args.output, true),
            args.format,
            &args.baseline,
        ),
        Command::Verify(args) => verify::run(
            &verify::VerifyRequest {
                dropin: args.dropin,
                profiles: args.profiles,
                unit: args.unit,
                unit_file: args.unit_file,
                target_systemd: args.target_systemd,
                guest: args.guest.guest,
            },
            args.format,
        ),
        Command::Watch(args) => watch::run(
            watch::WatchRequest {
                unit: args.unit,
                dropin: args.dropin,
                duration: args.duration,
                state: args.state,
                textfile: args.textfile,
                guest: args.guest.guest,
                promote_after: args.promote_after,
                check: args.check,
                exercise: args.exercise.map(|e| e.0).unwrap_or_default(),
            },
            args.format,
        ),
        Command::Harden(args) => harden::run(
            &harden::HardenRequest {
                dir: args.dir,
                apply: args.apply,
                exercise: args.exercise.map(|e| e.0).unwrap_or_default(),
                check_dir: args.check_dir,
                timeout: args.timeout,
                guest: args.guest.guest,
                quiet: args.quiet,
            },
            args.format,
        ),
        Command::Docs { dir } => exit_code(
            learner::commands::docs::write(&Cli::command(), &dir)
                .with_context(|| format!("cannot write {}", dir.display())),
        ),
    }
}

/// The command line, or one line on stderr and exit 2 for a bad one, as every other learner
/// error (clap's own message has a usage block and a tip). --help and --version print as usual.
fn parse_cli() -> Cli {
    let parsed = learner::commands::docs::with_examples(Cli::command())
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            // The message, with the list that follows a trailing colon (the missing
            // arguments), up to the usage block.
            let mut lines = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("tip:"))
                .filter(|l| !l.is_empty());
            let mut message = lines.next().unwrap_or("invalid arguments").to_owned();
            if message.ends_with(':') {
                message = format!("{message} {}", lines.collect::<Vec<_>>().join(", "));
            }
            let message = message.trim_start_matches("error: ");
            eprintln!("learner: {message} (learner --help says more)");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of a shell line with single quotes (all the examples use).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                _ => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    #[test]
    fn every_subcommand_has_its_examples_and_each_example_parses() {
        let cmd = learner::commands::docs::with_examples(Cli::command());
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            assert!(
                learner::commands::docs::PAGES
                    .iter()
                    .any(|p| p.command == sub.get_name()),
                "{} has no examples",
                sub.get_name()
            );
        }
        for page in learner::commands::docs::PAGES {
            for (what, line) in page.examples {
                let w: Vec<String> = words(line)
                    .into_iter()
                    .skip_while(|w| w == "sudo")
                    .collect();
                assert_eq!(w[1], page.command, "{line}");
                let parsed = cmd
                    .clone()
                    .try_get_matches_from(&w)
                    .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
                assert!(parsed.is_ok(), "{what}: {line}: {:?}", parsed.err());
            }
        }
    }
}
