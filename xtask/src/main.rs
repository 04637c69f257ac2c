//! Build, test and demo orchestration: `cargo xtask <command>`.
//!
//! Every command first makes sure the machine has what the build needs (`setup`), so a fresh
//! Debian 12 machine only needs Rust (rustup) to start.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

mod bench;
mod pack;
mod package;
mod vm;

#[derive(Parser)]
#[command(name = "xtask", about = "learner's build, test and demo tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what a fresh Debian 12 machine lacks for building and testing (idempotent).
    Setup,
    /// Build learner, its eBPF programs and the test workloads.
    Build {
        /// Instead: the static release binary that `package` ships
        /// (target/x86_64-unknown-linux-musl/release/learner), which runs on any glibc.
        #[arg(long = "static")]
        static_: bool,
    },
    /// learner's main job on a real service: record Debian's nginx in a disposable systemd,
    /// generate its drop-in, apply it with an HTTP check, show the exposure before and after.
    Demo,
    /// Record the bundled synthetic workload with `learner run` and show its drop-in.
    DemoWorkload,
    /// Run the whole test suite: formatting, clippy, unit, integration and privileged tests,
    /// then (without a filter) the pack's gate and the VM tests on Debian 11 and 13.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure what recording costs, side by side with strace -f; writes target/bench/report.md.
    Bench {
        /// Run one part only (and report its targets).
        #[arg(long, value_enum)]
        only: Option<bench::Section>,
    },
    /// Build a Debian package (target/debian/learner_VERSION-1_ARCH.deb): the release binary,
    /// man pages, bash/zsh/fish completions, README, licence, profiles.
    Package,
    /// Re-record, regenerate and re-verify the profile pack (profiles/SERVICE) in disposable
    /// systemds, and print each service's exposure before and after; fails when a shipped
    /// drop-in no longer verifies or a fresh recording needs more than the shipped profile.
    Pack {
        /// Merge the fresh recording into the shipped profile, and write it and its drop-in
        /// to profiles/SERVICE when that drop-in verifies.
        #[arg(long)]
        update: bool,
        /// No progress line on stderr (the step each service is at, the time spent and what
        /// is left)
        #[arg(short, long)]
        quiet: bool,
        /// Services verified at once, each in guests of its own (the machine's other
        /// privileged tests wait for all of them)
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
        jobs: u32,
        /// Services (directories of profiles/); all of them when none is named.
        services: Vec<String>,
    },
    /// A pack service recorded ROUNDS times with learner's collector starved to PERCENT of one
    /// CPU, while its load runs: each recording holds a write under DIR or says what it missed
    /// (the proof of issue 26's redis case: `cargo xtask starved redis-server`).
    Starved {
        service: String,
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        #[arg(long, default_value_t = 5)]
        percent: u32,
        /// The directory each recording must show written (or say it missed).
        #[arg(long, default_value = "/var/lib/redis")]
        dir: String,
    },
    /// Real Debian machines (11, 12, 13) under qemu, built from Debian's archive and cached in
    /// /var/cache/learner-vm: build, start, ssh, copy, stop, and the nginx case end to end
    /// (PostgreSQL too on Debian 13).
    Vm {
        #[command(subcommand)]
        command: vm::VmCommand,
    },
    /// Install the `learner` binary (into ~/.cargo/bin, or ROOT/bin), for developers.
    Install {
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// What the pack program runs before each service: install its packages again when a
    /// package of another service replaced them (vsftpd and proftpd-basic conflict).
    #[command(hide = true)]
    PackInstall { service: String },
}

/// Debian packages the build and the tests need: LLVM 22 for bpf-linker, strace as the
/// tests' ground truth, util-linux for setpriv, unshare and nsenter, systemd for the
/// end-to-end guest, nginx, curl, redis-server and redis-tools to record, load and check real
/// services in it; binutils (readelf) to check that the packaged binary is static, man-db for its
/// test, logrotate for a real oneshot job (logrotate.service), and PostgreSQL (with pgbench)
/// for a database's whole life: shutdown checkpoints and crash recovery; memcached for a
/// service that uses root only to become another user (`-u memcache`); at for a job service
/// that opens a login session for each job (root's too).
const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libclang-22-dev",
    "libpolly-22-dev",
    "strace",
    "util-linux",
    "systemd",
    "iproute2",
    "curl",
    "nginx",
    "redis-server",
    "redis-tools",
    "logrotate",
    // rpmbuild for the .rpm, rpm to check it
    "rpm",
    "wrk",
    "time",
    "binutils",
    "man-db",
    "postgresql",
    "memcached",
    "at",
    // unit_fit.rs's www-data web server (`python3 -m http.server` on port 80).
    "python3",
];

/// Keeps package scripts from starting the services they install (nginx) on this machine:
/// the tests run them in a guest systemd of their own.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
const APT_LOCK: &str = "/run/learner-apt.lock";

/// bpf-linker's version, pinned: newer ones may need a newer rustc than this machine has.
const BPF_LINKER_VERSION: &str = "0.13.0";

fn main() -> Result<()> {
    match Cli::parse().command {
        Task::Setup => setup(),
        Task::Build { static_ } => {
            setup()?;
            if static_ {
                let bin = package::build_static()?;
                eprintln!("xtask: build: {}", bin.display());
                Ok(())
            } else {
                build()
            }
        }
        Task::Demo => {
            setup()?;
            build()?;
            demo()
        }
        Task::DemoWorkload => {
            setup()?;
            build()?;
            demo_workload()
        }
        Task::Test { args } => {
            setup()?;
            test(&args)
        }
        Task::Bench { only } => {
            setup()?;
            if !is_root() {
                bail!("the benchmark loads eBPF programs: run it as root");
            }
            run(cargo().args(["build", "--release", "--bins"]))?;
            // The collector's harness, timed in the path-heavy row.
            run(cargo().args(["test", "--release", "-p", "learner", "--lib", "--no-run"]))?;
            bench::bench(&workspace(), only)
        }
        Task::Package => {
            setup()?;
            let deb = package::package()?;
            package::package_rpm(&deb).map(drop)
        }
        Task::Pack {
            update,
            quiet,
            jobs,
            services,
        } => {
            setup()?;
            build()?;
            pack::pack(update, quiet, jobs, &services)
        }
        Task::Starved {
            service,
            rounds,
            percent,
            dir,
        } => {
            setup()?;
            build()?;
            pack::starved(&service, rounds, percent, &dir)
        }
        Task::PackInstall { service } => pack::install_services(&[&service]).map(drop),
        Task::Vm { command } => vm::vm(command),
        Task::Install { root } => {
            setup()?;
            let mut cmd = cargo();
            cmd.args(["install", "--locked", "--path"])
                .arg(workspace().join("learner"));
            if let Some(root) = root {
                cmd.arg("--root").arg(root);
            }
            run(&mut cmd)
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace());
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

fn output(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).trim() == "0"
}

fn setup() -> Result<()> {
    let mut did = Vec::new();

    let missing = apt_install(APT_PACKAGES)?;
    if !missing.is_empty() {
        did.push(format!("installed {}", missing.join(" ")));
    }
    // Every guest boots with this machine's enabled units: atd, enabled by its package, would
    // run in all of them (record_all.rs records every running unit). Its test starts it.
    if missing.contains(&"at") {
        run(Command::new("systemctl").args(["disable", "--no-reload", "--quiet", "atd.service"]))?;
    }
    // record_all.rs runs these pack services in one guest: their packages, units disabled.
    let missing = pack::install_services(pack::RECORD_ALL_SERVICES)?;
    if !missing.is_empty() {
        did.push(format!("installed {}", missing.join(" ")));
    }

    if !output(Command::new("rustup").args(["toolchain", "list"]))
        .lines()
        .any(|l| l.starts_with("nightly"))
    {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
        did.push("installed the nightly toolchain".into());
    }
    if !output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .lines()
    .any(|l| l.starts_with("rust-src"))
    {
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
        did.push("added rust-src to nightly".into());
    }

    // The static build (`package`, `build --static`): rustc links musl from its own
    // self-contained copy, so the target's standard library is all it needs (no musl-tools).
    if !output(Command::new("rustup").args(["target", "list", "--installed"]))
        .lines()
        .any(|l| l.trim() == package::STATIC_TARGET)
    {
        run(Command::new("rustup").args(["target", "add", package::STATIC_TARGET]))?;
        did.push(format!("added the {} target", package::STATIC_TARGET));
    }

    if !succeeds(Command::new("bpf-linker").arg("--version")) {
        run(cargo()
            .env("LLVM_PREFIX", "/usr/lib/llvm-22")
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features", "llvm-22"]))?;
        did.push(format!("installed bpf-linker {BPF_LINKER_VERSION}"));
    }

    if did.is_empty() {
        eprintln!("xtask: setup: everything is present");
    } else {
        eprintln!("xtask: setup: {}", did.join("; "));
    }
    Ok(())
}

/// Installs the Debian packages of `packages` that are missing (without starting their
/// services on this machine) and returns them.
fn apt_install<'a>(packages: &[&'a str]) -> Result<Vec<&'a str>> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .contains("install ok installed")
        })
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    if !is_root() {
        bail!("missing Debian packages {missing:?}: run `cargo xtask setup` as root");
    }
    // One install at a time on the machine (checkouts' packs and setups run side by side): the
    // policy-rc.d below must not be removed under another install, which would then start its
    // daemons on this host.
    let _lock = apt_turn()?;
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    let own_policy = !Path::new(POLICY_RC_D).exists();
    if own_policy {
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# learner's xtask: install, do not start\nexit 101\n",
        )
        .context("write policy-rc.d")?;
        run(Command::new("chmod").args(["+x", POLICY_RC_D]))?;
    }
    let installed = run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing));
    if own_policy {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    installed?;
    Ok(missing)
}

/// Where privileged runs of every checkout on this machine take turns (the tests' lock, see
/// learner-tests): the bench, the VM tests.
const MACHINE_LOCK: &str = "/run/learner-privileged-tests.lock";

/// Waits for the machine's turn; it lasts until the file is closed. flock belongs to the open
/// file, so a second call in a process that holds the turn would wait for itself: take it
/// once, where the privileged part starts. The file is opened close-on-exec (std's default),
/// so a daemon started meanwhile does not keep the turn.
fn machine_turn(who: &str) -> Result<std::fs::File> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(MACHINE_LOCK)
        .with_context(|| MACHINE_LOCK.to_owned())?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
    // SAFETY: flock on an fd this function owns; released when `lock` is closed.
    if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("xtask: {who}: waiting for {MACHINE_LOCK} (another checkout's privileged run)");
        // SAFETY: as above.
        if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
            bail!("lock {MACHINE_LOCK}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(lock)
}

/// Waits for the machine's turn to install packages (dpkg takes one install at a time and
/// fails, not waits, when another holds it); it lasts until the file is closed.
fn apt_turn() -> Result<std::fs::File> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(APT_LOCK)
        .with_context(|| APT_LOCK.to_owned())?;
    // SAFETY: flock on an fd this function owns; released when `lock` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        bail!("lock {APT_LOCK}: {}", std::io::Error::last_os_error());
    }
    Ok(lock)
}

fn build() -> Result<()> {
    // Default members only: the eBPF crate is built by learner's build.rs for the bpf target.
    run(cargo().args(["build", "--bins"]))
}

fn demo() -> Result<()> {
    if !is_root() {
        bail!("the demo loads eBPF programs and boots a systemd: run it as root");
    }
    // The guest harness lives with the end-to-end tests (tests/src/guest.rs); the demo is a
    // program of that crate, built by build() above.
    let debug = workspace().join("target").join("debug");
    run(Command::new(debug.join("demo"))
        .env("LEARNER_BIN", debug.join("learner"))
        .env_remove("LD_LIBRARY_PATH")
        .arg(workspace().join("target").join("demo").join("nginx")))
}

fn demo_workload() -> Result<()> {
    if !is_root() {
        bail!("the demo loads eBPF programs: run it as root");
    }
    let target = workspace().join("target");
    let dir = target.join("demo");
    std::fs::create_dir_all(&dir).context("create target/demo")?;
    let profile = dir.join("workload.profile.yaml");
    let learner = target.join("debug").join("learner");
    let workload = target.join("debug").join("workload");
    // `cargo run` exports an LD_LIBRARY_PATH of toolchain directories; left in, the loader's
    // probes of each would show up in the profile as dozens of failed openat calls.
    run(Command::new(&learner)
        .env_remove("LD_LIBRARY_PATH")
        .arg("run")
        .arg("-o")
        .arg(&profile)
        .arg("--")
        .arg(&workload))?;
    // A unit for the workload, to score the drop-in against.
    let unit = dir.join("learner-demo.service");
    std::fs::write(
        &unit,
        format!(
            "[Unit]\nDescription=learner's demo workload\n[Service]\nExecStart={}\n",
            workload.display()
        ),
    )
    .context("write the demo unit")?;
    let dropins = dir.join("learner-demo.service.d");
    std::fs::create_dir_all(&dropins).context("create the drop-in directory")?;
    let dropin = dropins.join("50-learner.conf");
    run(Command::new(&learner)
        .arg("generate")
        .arg(&profile)
        .arg("--explain")
        .arg("-o")
        .arg(&dropin)
        .arg("--score")
        .arg(&unit))?;
    let text = std::fs::read_to_string(&dropin).context("read the demo drop-in")?;
    println!("{text}");
    eprintln!(
        "xtask: demo: the drop-in above is {}; the profile it came from is {}",
        dropin.display(),
        profile.display()
    );
    Ok(())
}

fn test(args: &[String]) -> Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    // The integration tests run the learner binary itself, and install the package.
    build()?;
    let deb = package::package()?;
    let rpm = package::package_rpm(&deb)?;
    let mut cmd = cargo();
    cmd.arg("test")
        .args(args)
        .env("LEARNER_DEB", deb)
        .env("LEARNER_RPM", rpm);
    // Where the privileged tests can run, they must: a skip would hide a broken recorder.
    if is_root() || std::env::var_os("CI").is_some() {
        cmd.env("LEARNER_REQUIRE_PRIVILEGED", "1");
    }
    run(&mut cmd)?;
    // The pack's regression gate for a few fast services (the whole pack: `cargo xtask pack`),
    // then the nginx case on real Debian machines (all three: `cargo xtask vm test`); a
    // filtered run is about the tests it names.
    if !args.is_empty() {
        return Ok(());
    }
    let services: Vec<String> = pack::CI_SERVICES.iter().map(|s| s.to_string()).collect();
    let suites: Vec<&str> = vm::CI_SUITES.iter().map(|s| s.name()).collect();
    if is_root() {
        pack::pack(false, false, 1, &services)?;
        // Builds the images that are not cached (qemu and mmdebstrap installed first).
        vm::test_suites(vm::CI_SUITES, None)
    } else if std::env::var_os("CI").is_some() {
        bail!(
            "the pack ({}) and the VM tests ({}) need root, and CI forbids skipping them",
            services.join(" "),
            suites.join(" ")
        )
    } else {
        eprintln!(
            "xtask: test: the pack ({}) and the VM tests ({}) need root: skipped",
            services.join(" "),
            suites.join(" ")
        );
        Ok(())
    }
}
