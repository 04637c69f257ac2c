//! Real Debian machines for learner: `cargo xtask vm build|start|ssh|copy|stop|test SUITE`.
//!
//! Each suite's image is built once from Debian's archive (mmdebstrap, then `mkfs.ext4 -d`)
//! and cached outside target/ so `cargo clean` keeps it; every start boots a fresh qcow2
//! overlay of it, so every start is pristine. The kernel and initrd are the image's own,
//! booted with `-kernel`/`-initrd`. KVM is used only where a real kvm_intel/kvm_amd module is
//! loaded: the development machines' /dev/kvm is kvm_pvm, which cannot run stock kernels, so
//! there qemu emulates (TCG), 8 to 20 times slower than the host. Nothing inside waits on the
//! clock: boots and services are waited for by their condition (ssh answering,
//! `systemctl is-system-running --wait`).
use std::{
    fs,
    io::Write as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};

use crate::{output, run, succeeds};

pub(crate) mod pack;

/// Where images, the ssh key and running machines' state live; `LEARNER_VM_CACHE` overrides.
const DEFAULT_CACHE: &str = "/var/cache/learner-vm";

/// Size of the image's root file system (sparse: a base image takes 0.4 to 0.7 GB).
const IMAGE_SIZE: &str = "4G";

/// Guest memory: nginx, PostgreSQL and learner fit; three suites side by side fit the machine.
const MEMORY: &str = "3G";

/// What every image holds: a booting systemd machine reachable by ssh, and what the nginx
/// case needs (nginx, a client and load for it, logrotate for `--exercise logrotate`).
const PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "dbus",
    "libpam-systemd",
    "linux-image-amd64",
    "initramfs-tools",
    "openssh-server",
    "openssh-sftp-server",
    "iproute2",
    "procps",
    "curl",
    "nginx",
    "wrk",
    // /etc/services: wrk resolves the URL's scheme through it.
    "netbase",
    "logrotate",
];

#[derive(Subcommand)]
pub enum VmCommand {
    /// Build SUITE's image from Debian's archive unless it is cached (installs qemu and
    /// mmdebstrap first where they are missing).
    Build {
        suite: Suite,
        /// Build it again even when it is cached.
        #[arg(long)]
        rebuild: bool,
    },
    /// Boot SUITE from a fresh copy of its image; returns once ssh answers and systemd has
    /// finished starting up.
    Start { suite: Suite },
    /// Run a command as root in SUITE (a shell without one); exits with its code.
    Ssh {
        suite: Suite,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Copy a file into SUITE (to /usr/local/bin/ by default).
    Copy {
        suite: Suite,
        file: PathBuf,
        #[arg(default_value = "/usr/local/bin/")]
        dest: String,
    },
    /// Power SUITE off (kill its qemu) and drop its overlay: the next start is pristine.
    Stop { suite: Suite },
    /// The nginx case end to end on real hosts (and PostgreSQL on trixie): boot SUITE, copy
    /// in the static learner, record the service under load with --restart --exercise all,
    /// generate for the machine's own systemd, apply with --exercise all and a check; it must
    /// work under the drop-in with a lower exposure, each 257-only value in effect. The
    /// machine is stopped afterwards, also on failure.
    Test {
        /// Suites to test one after the other; all three when none is named.
        suites: Vec<Suite>,
        /// The learner binary to test [default: the static (musl) release build, built now]
        #[arg(long)]
        learner: Option<PathBuf>,
    },
    /// The profile pack on SUITE's own packages: for each service, on a pristine machine,
    /// its packages installed without starting it, its first start and its life recorded as
    /// `cargo xtask pack` does (profiles/SERVICE/load.sh), merged, generated for the machine's
    /// systemd, applied with --exercise and load.sh's check; then on a second pristine
    /// machine the drop-in in place before the first start. Logs in target/vm-pack/SUITE/.
    Pack {
        suite: Suite,
        /// Services (directories of profiles/).
        #[arg(required = true)]
        services: Vec<String>,
        /// Merge this run's recording into the shipped profile of profiles/SERVICE/RELEASE/
        /// (debian13 for trixie, debian12-vm for bookworm) and replace its drop-in when that
        /// verifies. A service with nothing shipped there gets its files either way.
        #[arg(long)]
        update: bool,
        /// The recording's window after the restart, at least: load.sh load runs in it, and
        /// under emulation it takes longer than in the pack's guests.
        #[arg(long = "for", default_value = "30s")]
        record_for: String,
        /// The learner binary [default: the static (musl) release build, built now]
        #[arg(long)]
        learner: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Suite {
    /// Debian 11: systemd 247, kernel 5.10
    Bullseye,
    /// Debian 12: systemd 252, kernel 6.1
    Bookworm,
    /// Debian 13: systemd 257, kernel 6.12
    Trixie,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Bullseye => "bullseye",
            Suite::Bookworm => "bookworm",
            Suite::Trixie => "trixie",
        }
    }

    /// Packages beyond PACKAGES: trixie's PostgreSQL (17) for the database case.
    fn extra_packages(self) -> &'static [&'static str] {
        match self {
            Suite::Trixie => &["postgresql"],
            _ => &[],
        }
    }
}

pub fn vm(cmd: VmCommand) -> Result<()> {
    match cmd {
        VmCommand::Build { suite, rebuild } => {
            setup()?;
            build(suite, rebuild)
        }
        VmCommand::Start { suite } => {
            setup()?;
            build(suite, false)?;
            start(suite, true).map(drop)
        }
        VmCommand::Ssh { suite, command } => {
            let code = Machine::running(suite)?.ssh_status(&command)?;
            std::process::exit(code)
        }
        VmCommand::Copy { suite, file, dest } => Machine::running(suite)?.copy(&file, &dest),
        VmCommand::Stop { suite } => stop(suite),
        VmCommand::Test { suites, learner } => {
            let suites = if suites.is_empty() {
                Suite::value_variants().to_vec()
            } else {
                suites
            };
            test_suites(&suites, learner)
        }
        VmCommand::Pack {
            suite,
            services,
            update,
            record_for,
            learner,
        } => pack::pack(suite, &services, update, &record_for, learner),
    }
}

/// The suites `cargo xtask test` runs the nginx case on: the oldest and the newest systemd
/// and kernel (bookworm's are those of the tests' own guest).
pub const CI_SUITES: &[Suite] = &[Suite::Bullseye, Suite::Trixie];

/// `vm test`: builds what is missing (qemu, the images, the static learner), then runs each
/// suite's case in the machine's privileged turn; fails when one suite failed.
pub fn test_suites(suites: &[Suite], learner: Option<PathBuf>) -> Result<()> {
    setup()?;
    for &suite in suites {
        build(suite, false)?;
    }
    let learner = match learner {
        Some(path) => path,
        None => static_learner()?,
    };
    // One privileged run at a time on the machine: emulated guests are slow enough without a
    // pack or a privileged suite beside them, and their record and apply steps must not be
    // starved into timeouts. Taken here, after the builds, and nowhere else on this path
    // (`cargo xtask test` holds no turn when it calls this).
    let _turn = crate::machine_turn("vm test")?;
    // Every suite runs even when one fails: the matrix is the result.
    let started = Instant::now();
    let results: Vec<(Suite, Result<()>)> =
        suites.iter().map(|&s| (s, test(s, &learner))).collect();
    eprintln!(
        "\nxtask: vm test: {} suite(s) in {:.0}s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (suite, result) in &results {
        match result {
            Ok(()) => eprintln!("xtask: vm test {}: passed", suite.name()),
            Err(e) => {
                eprintln!("xtask: vm test {}: FAILED: {e:#}", suite.name());
                failed.push(suite.name());
            }
        }
    }
    if !failed.is_empty() {
        bail!("vm test failed on {}", failed.join(", "));
    }
    Ok(())
}

fn cache() -> PathBuf {
    std::env::var_os("LEARNER_VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE))
}

fn image_dir(suite: Suite) -> PathBuf {
    cache().join(suite.name())
}

fn run_dir(suite: Suite) -> PathBuf {
    cache().join("run").join(suite.name())
}

fn key() -> PathBuf {
    cache().join("ssh").join("id_ed25519")
}

/// Installs qemu, mmdebstrap and the ssh client where missing (idempotent). On Debian 12,
/// qemu and mmdebstrap come from bookworm-backports (qemu 10, mmdebstrap 1.5) through an apt
/// source list of our own, so the machine's sources stay as they are: bookworm's qemu 7.2
/// conflicts with a qemu-utils 10 a machine may already have.
fn setup() -> Result<()> {
    let have =
        |program: &str| succeeds(Command::new("sh").args(["-c", &format!("command -v {program}")]));
    let mut missing: Vec<&str> = Vec::new();
    if !have("qemu-system-x86_64") {
        missing.push("qemu-system-x86");
    }
    if !have("qemu-img") {
        missing.push("qemu-utils");
    }
    if !have("mmdebstrap") {
        missing.push("mmdebstrap");
    }
    if !have("mkfs.ext4") {
        missing.push("e2fsprogs");
    }
    if !have("ssh") || !have("scp") || !have("ssh-keygen") {
        missing.push("openssh-client");
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !crate::is_root() {
        bail!("missing {missing:?}: run `cargo xtask vm build` as root");
    }
    // Beside another checkout's setup, apt would fail on dpkg's lock instead of waiting.
    let _lock = crate::apt_turn()?;
    let codename =
        output(Command::new("sh").args(["-c", ". /etc/os-release && echo \"$VERSION_CODENAME\""]));
    let mut apt = Command::new("apt-get");
    apt.env("DEBIAN_FRONTEND", "noninteractive");
    if codename.trim() == "bookworm" {
        let dir = cache().join("apt");
        fs::create_dir_all(dir.join("lists").join("partial"))
            .with_context(|| format!("create {}", dir.display()))?;
        let list = dir.join("sources.list");
        let key = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg";
        fs::write(
            &list,
            [
                "debian bookworm",
                "debian bookworm-updates",
                "debian-security bookworm-security",
                "debian bookworm-backports",
            ]
            .map(|s| {
                let (archive, suite) = s.split_once(' ').expect("two words");
                format!("deb [{key}] http://deb.debian.org/{archive} {suite} main\n")
            })
            .concat(),
        )
        .with_context(|| format!("write {}", list.display()))?;
        let opts = [
            format!("-oDir::Etc::SourceList={}", list.display()),
            "-oDir::Etc::SourceParts=/dev/null".to_owned(),
            format!("-oDir::State::Lists={}", dir.join("lists").display()),
        ];
        run(Command::new("apt-get").args(&opts).args(["update", "-qq"]))?;
        apt.args(&opts).args(["-t", "bookworm-backports"]);
    } else {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    run(apt
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))?;
    eprintln!("xtask: vm: installed {}", missing.join(" "));
    Ok(())
}

/// Builds SUITE's image unless it is cached: base.qcow2 with the kernel and initrd beside it.
fn build(suite: Suite, rebuild: bool) -> Result<()> {
    let dir = image_dir(suite);
    let image = dir.join("base.qcow2");
    if image.exists() && !rebuild {
        // The image lets in the key it was built with, which it keeps beside it.
        let baked = fs::read_to_string(dir.join("key.pub")).unwrap_or_default();
        let current = fs::read_to_string(key().with_extension("pub")).unwrap_or_default();
        if baked.is_empty() || baked != current {
            bail!(
                "{} was built for another ssh key than {}: `cargo xtask vm build --rebuild {}`",
                image.display(),
                key().display(),
                suite.name()
            );
        }
        return Ok(());
    }
    if !crate::is_root() {
        bail!("building an image needs root (mmdebstrap, mkfs.ext4 -d keep owners)");
    }
    let started = Instant::now();
    let key = key();
    if !key.exists() {
        fs::create_dir_all(key.parent().expect("in the cache")).context("create the key dir")?;
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "learner-vm", "-f"])
            .arg(&key))?;
    }
    let pubkey = fs::read_to_string(key.with_extension("pub")).context("read the public key")?;

    // Built beside the final place and renamed into it, so a failed build leaves no image.
    let work = cache().join(format!("{}.building", suite.name()));
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("remove {}", work.display()))?;
    }
    let rootfs = work.join("rootfs");
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let name = suite.name();
    let packages: Vec<&str> = PACKAGES
        .iter()
        .chain(suite.extra_packages())
        .copied()
        .collect();
    // The guest's own network: slirp's fixed address, without a DHCP client (minbase has
    // none) or networkd (a package of its own on trixie); net.ifnames=0 makes it eth0.
    let net_unit = "[Unit]\nDescription=slirp network (learner VM)\nBefore=network.target ssh.service\nWants=network.target\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart=/sbin/ip link set lo up\nExecStart=/sbin/ip link set eth0 up\n\
         ExecStart=/sbin/ip addr add 10.0.2.15/24 dev eth0\nExecStart=/sbin/ip route add default via 10.0.2.2\n\
         [Install]\nWantedBy=multi-user.target\n";
    let hooks = [
        format!("echo learner-{name} > \"$1/etc/hostname\""),
        // A fixed machine-id: systemd-firstboot has nothing to ask, and journals are comparable.
        "echo 6c6561726e65722d766d2d6d61636869 > \"$1/etc/machine-id\"".to_owned(),
        "echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > \"$1/etc/fstab\"".to_owned(),
        format!("mkdir -p -m 700 \"$1/root/.ssh\" && printf '%s' '{}' > \"$1/root/.ssh/authorized_keys\"", pubkey.trim()),
        format!("printf '{}' > \"$1/etc/systemd/system/learner-net.service\"", net_unit.replace('\n', "\\n")),
        "mkdir -p \"$1/etc/systemd/system/multi-user.target.wants\" && ln -s /etc/systemd/system/learner-net.service \"$1/etc/systemd/system/multi-user.target.wants/learner-net.service\"".to_owned(),
    ];
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--variant=minbase", "--quiet"])
        .arg(format!("--include={}", packages.join(",")));
    for hook in &hooks {
        cmd.arg(format!("--customize-hook={hook}"));
    }
    cmd.arg(name).arg(&rootfs);
    for (archive, suffix) in [
        ("debian", ""),
        ("debian", "-updates"),
        ("debian-security", "-security"),
    ] {
        cmd.arg(format!(
            "deb http://deb.debian.org/{archive} {name}{suffix} main"
        ));
    }
    run(&mut cmd)?;

    let boot = rootfs.join("boot");
    let newest = |prefix: &str| -> Result<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(&boot)
            .with_context(|| format!("read {}", boot.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        found.sort();
        found
            .pop()
            .with_context(|| format!("no {prefix}* in {}", boot.display()))
    };
    fs::write(work.join("key.pub"), &pubkey).context("write key.pub")?;
    fs::copy(newest("vmlinuz-")?, work.join("vmlinuz")).context("copy the kernel")?;
    fs::copy(newest("initrd.img-")?, work.join("initrd.img")).context("copy the initrd")?;

    let raw = work.join("root.ext4");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-L", "root", "-d"])
        .arg(&rootfs)
        .arg(&raw)
        .arg(IMAGE_SIZE))?;
    run(Command::new("qemu-img")
        .args(["convert", "-O", "qcow2"])
        .arg(&raw)
        .arg(work.join("base.qcow2")))?;
    fs::remove_file(&raw).context("remove the raw image")?;
    fs::remove_dir_all(&rootfs).context("remove the root file system")?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    fs::rename(&work, &dir).with_context(|| format!("rename to {}", dir.display()))?;
    eprintln!(
        "xtask: vm: built {} in {:.0}s",
        dir.join("base.qcow2").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether this machine's KVM runs stock kernels: only kvm_intel and kvm_amd do (kvm_pvm,
/// on the development machines, fails in the decompressor).
fn real_kvm() -> bool {
    (Path::new("/sys/module/kvm_intel").exists() || Path::new("/sys/module/kvm_amd").exists())
        && fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

/// Boots SUITE. `detach`: qemu outlives xtask (`vm start`); otherwise it stays in xtask's
/// process group, so a Ctrl-C in the terminal ends it too (`vm test`).
fn start(suite: Suite, detach: bool) -> Result<Option<Child>> {
    let started = Instant::now();
    let run_dir = run_dir(suite);
    if let Some(pid) = live_pid(suite) {
        bail!(
            "{} is running already (qemu pid {pid}): `cargo xtask vm stop {}` first",
            suite.name(),
            suite.name()
        );
    }
    if run_dir.exists() {
        fs::remove_dir_all(&run_dir).with_context(|| format!("remove {}", run_dir.display()))?;
    }
    fs::create_dir_all(&run_dir).with_context(|| format!("create {}", run_dir.display()))?;
    let images = image_dir(suite);
    let overlay = run_dir.join("overlay.qcow2");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(images.join("base.qcow2"))
        .arg(&overlay))?;
    // A free port now; qemu binds it a moment later (another taker in between makes qemu fail
    // with a clear message).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("find a free port")?
        .port();
    fs::write(run_dir.join("port"), port.to_string()).context("write the port")?;

    let kvm = real_kvm();
    let mut qemu = Command::new("nice");
    // Niced and one vCPU: the machine's two cores are shared with builds and tests.
    qemu.args(["-n", "10", "qemu-system-x86_64", "-machine", "q35"])
        .args(if kvm {
            ["-accel", "kvm", "-cpu", "host"]
        } else {
            ["-accel", "tcg", "-cpu", "max"]
        })
        .args(["-smp", "1", "-m", MEMORY, "-display", "none"])
        .arg("-pidfile")
        .arg(run_dir.join("pid"))
        .arg("-serial")
        .arg(format!("file:{}", run_dir.join("serial.log").display()))
        .arg("-kernel")
        .arg(images.join("vmlinuz"))
        .arg("-initrd")
        .arg(images.join("initrd.img"))
        .args([
            "-append",
            "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.firstboot=off",
        ])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
        .args([
            "-netdev",
            &format!("user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22"),
        ])
        .args(["-device", "virtio-net-pci,netdev=net0"])
        .args(["-device", "virtio-rng-pci"]);
    let mut child = None;
    if detach {
        run(qemu.arg("-daemonize"))?;
    } else {
        eprintln!("xtask: {qemu:?}");
        let qemu = child.insert(qemu.stdin(Stdio::null()).spawn().context("start qemu")?);
        // -pidfile is written once qemu has set up; wait for it, or for qemu to give up.
        while live_pid(suite).is_none() {
            if let Some(status) = qemu.try_wait().context("wait for qemu")? {
                bail!("qemu exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let machine = Machine::running(suite)?;
    eprintln!(
        "xtask: vm: {} booting ({}, qemu pid {}, ssh on 127.0.0.1:{port})",
        suite.name(),
        if kvm { "KVM" } else { "full emulation" },
        machine.pid
    );
    let up = machine.wait_for_ssh().and_then(|()| {
        let ssh_at = started.elapsed();
        // Started up: `running`, or `degraded` with the failed units named (still usable).
        machine
            .ssh_output(
                "systemctl is-system-running --wait; systemctl --failed --no-legend --plain",
            )
            .map(|state| (ssh_at, state))
    });
    let (ssh_at, state) = match up {
        Ok(up) => up,
        Err(e) => {
            // A machine that did not come up is not left running.
            stop(suite)?;
            return Err(e);
        }
    };
    eprintln!(
        "xtask: vm: {} up: ssh after {:.0}s, systemd {} after {:.0}s",
        suite.name(),
        ssh_at.as_secs_f64(),
        state.split_whitespace().collect::<Vec<_>>().join(" "),
        started.elapsed().as_secs_f64()
    );
    Ok(child)
}

/// The pid of SUITE's qemu, when one is running (checked by its command line, not just the
/// pid file: the pid may have been reused).
fn live_pid(suite: Suite) -> Option<u32> {
    let run_dir = run_dir(suite);
    let pid: u32 = fs::read_to_string(run_dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let overlay = run_dir.join("overlay.qcow2");
    String::from_utf8_lossy(&cmdline)
        .contains(&*overlay.to_string_lossy())
        .then_some(pid)
}

/// Whether PID runs (a child of ours that exited stays a zombie until xtask exits).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn stop(suite: Suite) -> Result<()> {
    if let Some(pid) = live_pid(suite) {
        run(Command::new("kill").arg(pid.to_string()))?;
        // qemu exits on SIGTERM at once; wait for it so the overlay is no longer open.
        while alive(pid) {
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("xtask: vm: {} stopped (qemu pid {pid})", suite.name());
    } else {
        eprintln!("xtask: vm: {} is not running", suite.name());
    }
    let run_dir = run_dir(suite);
    if run_dir.exists() {
        fs::remove_dir_all(&run_dir).with_context(|| format!("remove {}", run_dir.display()))?;
    }
    Ok(())
}

struct Machine {
    suite: Suite,
    pid: u32,
    port: u16,
}

impl Machine {
    fn running(suite: Suite) -> Result<Self> {
        let pid = live_pid(suite).with_context(|| {
            format!(
                "{} is not running: `cargo xtask vm start {}`",
                suite.name(),
                suite.name()
            )
        })?;
        let port = fs::read_to_string(run_dir(suite).join("port"))
            .context("read the ssh port")?
            .trim()
            .parse()
            .context("parse the ssh port")?;
        Ok(Machine { suite, pid, port })
    }

    fn ssh_opts(&self, cmd: &mut Command, port_flag: &str) {
        cmd.arg("-i")
            .arg(key())
            .args([port_flag, &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
            ]);
    }

    fn ssh(&self, command: &[String]) -> Command {
        let mut cmd = Command::new("ssh");
        self.ssh_opts(&mut cmd, "-p");
        if command.is_empty() {
            cmd.arg("-t");
        }
        cmd.arg("root@127.0.0.1");
        if !command.is_empty() {
            cmd.arg("--").args(command);
        }
        cmd
    }

    fn ssh_status(&self, command: &[String]) -> Result<i32> {
        let status = self.ssh(command).status().context("run ssh")?;
        Ok(status.code().unwrap_or(255))
    }

    fn ssh_output(&self, script: &str) -> Result<String> {
        let out = self
            .ssh(&[script.to_owned()])
            .stdin(Stdio::null())
            .output()
            .context("run ssh")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs a shell script in the machine, its output shown as it comes; returns its exit code.
    fn sh(&self, script: &str) -> Result<i32> {
        eprintln!("xtask: vm {}: # {script}", self.suite.name());
        let status = self
            .ssh(&[script.to_owned()])
            .stdin(Stdio::null())
            .status()
            .context("run ssh")?;
        Ok(status.code().unwrap_or(255))
    }

    /// Writes TEXT to PATH in the machine (through ssh's stdin: no quoting of its own).
    fn write(&self, path: &str, text: &str) -> Result<()> {
        let mut child = self
            .ssh(&[format!("cat > {path}")])
            .stdin(Stdio::piped())
            .spawn()
            .context("run ssh")?;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(text.as_bytes())
            .with_context(|| format!("write {path} in {}", self.suite.name()))?;
        let status = child.wait().context("wait for ssh")?;
        if !status.success() {
            bail!("cannot write {path} in {}: {status}", self.suite.name());
        }
        Ok(())
    }

    fn copy(&self, file: &Path, dest: &str) -> Result<()> {
        let mut cmd = Command::new("scp");
        self.ssh_opts(&mut cmd, "-P");
        run(cmd
            .arg("-q")
            .arg(file)
            .arg(format!("root@127.0.0.1:{dest}")))
    }

    /// Waits until sshd answers: as long as it takes, while qemu lives and the kernel has
    /// not panicked.
    fn wait_for_ssh(&self) -> Result<()> {
        let serial = run_dir(self.suite).join("serial.log");
        loop {
            if !alive(self.pid) {
                bail!(
                    "qemu exited while {} booted; its console:\n{}",
                    self.suite.name(),
                    tail(&serial)
                );
            }
            if fs::read_to_string(&serial).is_ok_and(|s| s.contains("Kernel panic")) {
                bail!(
                    "{}'s kernel panicked; its console:\n{}",
                    self.suite.name(),
                    tail(&serial)
                );
            }
            let probe = self
                .ssh(&["true".to_owned()])
                .stdin(Stdio::null())
                .output()
                .context("run ssh")?;
            if probe.status.success() {
                return Ok(());
            }
            // sshd answered and refused the key: waiting longer would not help.
            let said = String::from_utf8_lossy(&probe.stderr);
            if said.contains("Permission denied") {
                bail!("{} refuses the ssh key: {}", self.suite.name(), said.trim());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Builds the static learner (musl target, eBPF object built in), the one binary that runs
/// on every suite (the gnu build needs GLIBC_2.34: not on bullseye).
fn static_learner() -> Result<PathBuf> {
    let target = crate::package::STATIC_TARGET;
    if !output(Command::new("rustup").args(["target", "list", "--installed"]))
        .lines()
        .any(|l| l.trim() == target)
    {
        run(Command::new("rustup").args(["target", "add", target]))?;
    }
    crate::package::build_static()
}

/// Stops the machine when the test ends, however it ends (a Ctrl-C reaches its qemu, which
/// shares xtask's process group), and reaps the qemu xtask started.
struct Stopper(Suite, Option<Child>);

impl Drop for Stopper {
    fn drop(&mut self) {
        if let Err(e) = stop(self.0) {
            eprintln!("xtask: vm: cannot stop {}: {e:#}", self.0.name());
        }
        if let Some(child) = &mut self.1 {
            let _ = child.wait();
        }
    }
}

/// A service taken through learner's whole job in a machine: recorded under load, generated
/// for the machine's own systemd, applied with a check through every exercise event.
struct Case {
    /// The case's name in the output, and its directory in the machine (/root/NAME).
    name: &'static str,
    unit: &'static str,
    /// Shell run once before the recording: the service ready, its data in place.
    setup: &'static str,
    /// Shell run as a transient unit through the whole recording, restarts included, niced
    /// below the service and learner on the one vCPU.
    load: &'static str,
    /// Shell apply runs as `--check` (again every 0.5 s until it passes, after each event).
    check: &'static str,
}

const NGINX: Case = Case {
    name: "nginx",
    unit: "nginx.service",
    setup: "systemctl is-active nginx.service",
    // wrk reconnects through restarts.
    load: "exec wrk -t1 -c2 -d1h http://127.0.0.1:80/",
    check: "curl -fsS -o /dev/null http://127.0.0.1/",
};

/// trixie's PostgreSQL 17 cluster: pgbench's TPC-B-like writes and checkpoints through the
/// recording (the restart's shutdown checkpoint and the crash's recovery meet fresh WAL); the
/// check writes a row and reads it back.
const POSTGRESQL: Case = Case {
    name: "postgresql",
    unit: "postgresql@17-main.service",
    setup: "set -e\n\
        pg() { runuser -u postgres -- \"$@\"; }\n\
        systemctl start postgresql@17-main.service\n\
        pg createdb bench\n\
        pg pgbench -q -i -s 1 bench\n\
        pg psql -qtAX -d bench -c 'create table learner_check (n bigint primary key)'\n",
    // pgbench's clients end when the server restarts or is killed: start them again.
    load: "while :; do\n\
        runuser -u postgres -- pgbench -n -c 2 -T 5 bench >/dev/null 2>&1\n\
        runuser -u postgres -- psql -qtAX -d bench -c checkpoint >/dev/null 2>&1\n\
        sleep 1\n\
        done\n",
    check: "v=$(date +%s%N)\n\
        got=$(runuser -u postgres -- psql -qtAX -d bench -c \"insert into learner_check values ($v)\" -c \"select n from learner_check where n = $v\")\n\
        [ \"$got\" = \"$v\" ]\n",
};

impl Suite {
    /// What `vm test` runs on the suite: nginx everywhere, PostgreSQL on trixie.
    fn cases(self) -> &'static [Case] {
        match self {
            Suite::Trixie => &[NGINX, POSTGRESQL],
            _ => &[NGINX],
        }
    }
}

/// `systemd-analyze security`'s overall exposure of UNIT in the machine.
fn exposure(m: &Machine, unit: &str) -> Result<f64> {
    let out = m.ssh_output(&format!("systemd-analyze security {unit} | tail -n 1"))?;
    // "→ Overall exposure level for nginx.service: 9.6 UNSAFE 😨"
    out.split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no exposure in {out:?}"))
}

/// Checks each value only systemd 257 knows that the installed drop-in of UNIT holds, by what
/// it does to the service's main process; prints one line each, exits 1 when one is not in
/// effect. `$1`: the unit.
const VALUES_257: &str = r#"u=$1
d=/etc/systemd/system/$u.d/50-learner-hardening.conf
pid=$(systemctl show --value -p MainPID "$u")
bad=0
held=0
if grep -qx 'PrivateTmp=disconnected' "$d"; then
    held=1
    # The service's view of each (the last of stacked mounts): PrivateTmp=yes bind-mounts
    # systemd-private-* directories of the host's /tmp and /var/tmp (on disk); disconnected
    # one tmpfs of its own, /tmp and /var-tmp of it. trixie's own /tmp is a tmpfs too.
    t=$(nsenter -t "$pid" -m findmnt -n -o FSTYPE,FSROOT /tmp | tail -n 1 | tr -s ' ')
    v=$(nsenter -t "$pid" -m findmnt -n -o FSTYPE,FSROOT /var/tmp | tail -n 1 | tr -s ' ')
    if [ "${t%% *}" = tmpfs ] && [ "${v%% *}" = tmpfs ] && ! echo "$t $v" | grep -q systemd-private-; then
        echo "257-only: PrivateTmp=disconnected in effect: the service's /tmp and /var/tmp are a tmpfs of its own ($t, $v)"
    else
        echo "257-only: PrivateTmp=disconnected NOT in effect: the service's /tmp is $t, /var/tmp $v"; bad=1
    fi
fi
if grep -qx 'ProtectControlGroups=strict' "$d"; then
    held=1
    ns=$(readlink "/proc/$pid/ns/cgroup")
    ro=$(nsenter -t "$pid" -m findmnt -n -o OPTIONS /sys/fs/cgroup | cut -d, -f1)
    # =yes only remounts /sys/fs/cgroup read-only: strict adds a cgroup namespace.
    if [ "$ns" != "$(readlink /proc/1/ns/cgroup)" ] && [ "$ro" = ro ]; then
        echo "257-only: ProtectControlGroups=strict in effect: a cgroup namespace of its own ($ns), /sys/fs/cgroup $ro"
    else
        echo "257-only: ProtectControlGroups=strict NOT in effect: cgroup namespace $ns, /sys/fs/cgroup $ro"; bad=1
    fi
fi
if grep -qx 'PrivatePIDs=yes' "$d"; then
    held=1
    nspid=$(sed -n 's/^NSpid:[[:space:]]*//p' "/proc/$pid/status")
    if [ "${nspid##*[[:space:]]}" = 1 ]; then
        echo "257-only: PrivatePIDs=yes in effect: the main process is PID 1 of its namespace (NSpid $nspid)"
    else
        echo "257-only: PrivatePIDs=yes NOT in effect: NSpid $nspid"; bad=1
    fi
fi
[ $held = 1 ] || echo "257-only: the drop-in holds none of PrivateTmp=disconnected, ProtectControlGroups=strict, PrivatePIDs=yes"
exit $bad
"#;

/// One suite's cases; prints how long each step took, also when one failed.
fn test(suite: Suite, learner: &Path) -> Result<()> {
    let total = Instant::now();
    let mut times = Vec::new();
    let result = test_steps(suite, learner, &mut times);
    for (what, took) in &times {
        eprintln!(
            "xtask: vm test {}: {what}: {:.0}s",
            suite.name(),
            took.as_secs_f64()
        );
    }
    eprintln!(
        "xtask: vm test {}: {:.0}s in all",
        suite.name(),
        total.elapsed().as_secs_f64()
    );
    result
}

fn test_steps(suite: Suite, learner: &Path, times: &mut Vec<(String, Duration)>) -> Result<()> {
    if !learner.exists() {
        bail!("no learner binary at {}", learner.display());
    }
    let name = suite.name();
    let t = Instant::now();
    let qemu = start(suite, false)?;
    let _stopper = Stopper(suite, qemu);
    let m = Machine::running(suite)?;
    times.push(("boot to running".to_owned(), t.elapsed()));

    m.copy(learner, "/usr/local/bin/learner")?;
    if m.sh("learner --version && systemctl --version | head -n 1 && uname -r")? != 0 {
        bail!("{name}: learner does not run there");
    }
    m.write("/root/values-257.sh", VALUES_257)?;
    // Every case runs even when one before it failed: together they are the suite's result.
    let mut failed = Vec::new();
    for case in suite.cases() {
        if let Err(e) = test_case(&m, case, times) {
            eprintln!("xtask: vm test {name}: {}: FAILED: {e:#}", case.name);
            failed.push(format!("{}: {e:#}", case.name));
        }
    }
    let t = Instant::now();
    if let Err(e) = probe_paths_agree(&m) {
        eprintln!("xtask: vm test {name}: probe paths: FAILED: {e:#}");
        failed.push(format!("probe paths: {e:#}"));
    }
    times.push(("probe paths compared".to_owned(), t.elapsed()));
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// A fixed workload, recorded through each syscall probe this kernel offers.
const PROBE_WORKLOAD: &str = "cat /etc/os-release >/dev/null; ls /usr/bin >/dev/null; \
    mkdir -p /tmp/probe-work && echo x >/tmp/probe-work/f && rm -r /tmp/probe-work; \
    getent hosts localhost >/dev/null || true";

/// The keys of a top-level YAML mapping of a profile, sorted, in shell (the machines have no
/// YAML tool): `syscalls`, `paths`.
const KEYS_OF: &str = r#"keys_of() { awk -v m="$1:" '$0 == m {f=1; next} /^[^ ]/ {f=0} f && /^  [^ ]/ {print $1}' "$2" | sort; }"#;

/// The script that records [`PROBE_WORKLOAD`] through both probes and compares the sets;
/// its output ends with `status 0` when they agree. Everything it says, learner's errors
/// included, is in its output.
fn probe_script() -> String {
    let mut script = format!("(\nset -e\n{KEYS_OF}\noffered=\n");
    for (probe, source) in [
        ("subtree", "subtree by ancestor id"),
        ("exact", "ids followed from user space"),
    ] {
        // A probe the kernel cannot run is refused by name ("needs ..."): not offered here.
        script.push_str(&format!(
            "if LEARNER_SYSCALL_PROBE={probe} learner run --quiet -o /root/probe-{probe}.yaml -- sh -c '{PROBE_WORKLOAD}' >/root/probe-{probe}.out 2>&1; then\n\
               grep -q 'syscall_source: .*{source}' /root/probe-{probe}.yaml || {{ echo 'probe {probe} not used:'; grep syscall_source /root/probe-{probe}.yaml; exit 1; }}\n\
               offered=\"$offered {probe}\"\n\
             elif grep -q 'syscall probes: {probe}: needs' /root/probe-{probe}.out; then\n\
               echo \"probe {probe}: not offered by this kernel: $(cat /root/probe-{probe}.out)\"\n\
             else cat /root/probe-{probe}.out; exit 1; fi\n"
        ));
    }
    script.push_str(
        "[ -n \"$offered\" ] || { echo 'no syscall probe offered'; exit 1; }\n\
         if [ \"$offered\" != ' subtree exact' ]; then echo \"only$offered offered: nothing to compare\"; else\n\
         for k in syscalls paths; do\n\
           keys_of $k /root/probe-subtree.yaml >/root/probe-subtree.$k\n\
           keys_of $k /root/probe-exact.yaml >/root/probe-exact.$k\n\
           [ -s /root/probe-subtree.$k ] || { echo \"no $k recorded\"; exit 1; }\n\
           diff /root/probe-subtree.$k /root/probe-exact.$k || { echo \"$k differ (< subtree, > exact)\"; exit 1; }\n\
           echo \"$k: $(wc -l </root/probe-subtree.$k) the same through both probes\"\n\
         done; fi\n\
         if grep -h \"^  - .io_uring:\" /root/probe-*.yaml; then echo 'the io_uring probe was skipped'; exit 1; fi\n\
         echo 'io_uring: the submission tracepoint attached'\n\
         ) 2>&1\n\
         echo \"status $?\"\n",
    );
    script
}

/// The syscall and path sets of [`PROBE_WORKLOAD`] are the same whichever syscall probe
/// records them (the subtree test by ancestor id, the exact-id fallback), on this machine's
/// own kernel.
fn probe_paths_agree(m: &Machine) -> Result<()> {
    let out = m.ssh_output(&probe_script())?;
    let out = out.trim_end();
    eprintln!("xtask: vm test {}: probe paths:\n{out}", m.suite.name());
    if !out.ends_with("status 0") {
        let said = out.lines().rev().nth(1).unwrap_or("nothing");
        bail!("the subtree and exact probes did not record the same sets: {said}");
    }
    Ok(())
}

fn test_case(m: &Machine, case: &Case, times: &mut Vec<(String, Duration)>) -> Result<()> {
    let name = m.suite.name();
    let Case { unit, .. } = *case;
    let svc = case.name;
    let dir = format!("/root/{svc}");
    let mut step =
        |what: &str, since: Instant| times.push((format!("{svc}: {what}"), since.elapsed()));

    if m.sh(&format!("mkdir -p {dir}"))? != 0 {
        bail!("cannot create {dir}");
    }
    m.write(&format!("{dir}/setup.sh"), case.setup)?;
    m.write(&format!("{dir}/load.sh"), case.load)?;
    m.write(&format!("{dir}/check.sh"), case.check)?;
    let t = Instant::now();
    if m.sh(&format!("sh {dir}/setup.sh && sh {dir}/check.sh"))? != 0 {
        bail!("{svc} does not pass its check before learner touched it");
    }
    step("setup", t);
    let before = exposure(m, unit)?;

    let load = format!("learner-load-{svc}");
    m.sh(&format!(
        "systemd-run --quiet --unit={load} --property=Nice=5 sh {dir}/load.sh"
    ))?;
    let t = Instant::now();
    let recorded = m.sh(&format!(
        "learner record {unit} --restart --exercise all --for 20s -o {dir}/profile.yaml"
    ))?;
    step("record --for 20s --exercise all", t);
    m.sh(&format!("systemctl stop {load}"))?;
    if recorded != 0 {
        bail!("learner record failed ({recorded})");
    }
    let capability_source = m.ssh_output(&format!(
        "sed -n 's/^ *capability_source: //p' {dir}/profile.yaml"
    ))?;
    eprintln!(
        "xtask: vm test {name}: {svc}: capability source: {}",
        capability_source.trim()
    );

    let t = Instant::now();
    let generated = m.sh(&format!(
        "learner generate {dir}/profile.yaml --explain -o {dir}/hardening.conf && grep -v '^#' {dir}/hardening.conf"
    ))?;
    step("generate", t);
    if generated != 0 {
        bail!("learner generate failed ({generated})");
    }

    // Kept on this machine (the machine's disk is dropped at stop): target/vm/SUITE/NAME/.
    let kept = crate::workspace()
        .join("target")
        .join("vm")
        .join(name)
        .join(svc);
    fs::create_dir_all(&kept).with_context(|| format!("create {}", kept.display()))?;
    for file in ["profile.yaml", "hardening.conf"] {
        let text = m.ssh_output(&format!("cat {dir}/{file}"))?;
        fs::write(kept.join(file), text).with_context(|| format!("write {file}"))?;
    }
    eprintln!(
        "xtask: vm test {name}: {svc}: profile and drop-in kept in {}",
        kept.display()
    );

    let t = Instant::now();
    let applied = m.sh(&format!(
        "learner apply {unit} {dir}/hardening.conf --exercise all --check 'sh {dir}/check.sh'"
    ))?;
    step("apply --exercise all", t);

    // Whatever apply did (installed, or rolled back), the service must work now.
    let serves = m.sh(&format!("systemctl is-active {unit} && sh {dir}/check.sh"))? == 0;
    let installed = m.sh(&format!(
        "test -e /etc/systemd/system/{unit}.d/50-learner-hardening.conf"
    ))? == 0;
    // Every line of the drop-in must be one this systemd knows (bullseye's 247 most of all).
    // Also as `systemd-analyze verify` reads it: whatever it says of the drop-in's lines.
    let unknown = m.ssh_output(&format!(
        "{{ journalctl -b -o cat _PID=1 | grep -F '{unit}.d/' | grep -E 'Unknown (key|section)|unknown lvalue'; \
         systemd-analyze verify {unit} 2>&1 | grep -F '{unit}.d/50-learner-hardening.conf'; }} || true"
    ))?;
    // The values only 257 knows, applied for real: each must show in the running service.
    let values_257 = !installed || m.sh(&format!("sh /root/values-257.sh {unit}"))? == 0;
    let after = exposure(m, unit)?;

    eprintln!("\nxtask: vm test {name}: {svc}: exposure {before} before, {after} after");
    let mut failures = Vec::new();
    if applied != 0 {
        let empty_set = m.sh(&format!(
            "grep -qx 'CapabilityBoundingSet=' {dir}/hardening.conf"
        ))? == 0;
        let why = if empty_set && capability_source.contains("none") {
            ": the drop-in empties CapabilityBoundingSet= although the recording saw no capability check (issue 25, part 1)"
        } else {
            ""
        };
        failures.push(format!(
            "learner apply failed (exit {applied}) and rolled back{why}"
        ));
    }
    if !serves {
        failures.push(format!("{unit} does not pass its check after apply"));
    }
    if applied == 0 && !installed {
        failures.push("apply passed but the drop-in is not installed".to_owned());
    }
    if installed && after >= before {
        failures.push(format!("exposure {after} is not below {before}"));
    }
    if !values_257 {
        failures
            .push("a value only systemd 257 knows is in the drop-in but not in effect".to_owned());
    }
    if !unknown.trim().is_empty() {
        failures.push(format!(
            "systemd ignored lines of the drop-in:\n{}",
            unknown.trim()
        ));
    }
    if failures.is_empty() {
        eprintln!("xtask: vm test {name}: {svc}: passed: {unit} works under learner's drop-in");
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts the machines run parse as Debian's /bin/sh (dash): a syntax error would
    /// only show in a VM run minutes later.
    #[test]
    fn machine_scripts_parse() {
        let probe = probe_script();
        let mut scripts = vec![("values-257.sh", VALUES_257), ("probe paths", &probe)];
        for case in [NGINX, POSTGRESQL] {
            scripts.extend([
                ("setup.sh", case.setup),
                ("load.sh", case.load),
                ("check.sh", case.check),
            ]);
        }
        for (name, script) in scripts {
            let out = Command::new("sh")
                .args(["-n", "-c", script])
                .output()
                .expect("run sh");
            assert!(
                out.status.success(),
                "{name} does not parse: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
