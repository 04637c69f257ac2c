//! `cargo xtask pack`: installs what the named services of profiles/ need, then runs the
//! tests crate's `pack` program (tests/src/bin/pack.rs), which does the recording and
//! verifying in disposable systemds.
use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{APT_PACKAGES, apt_install, is_root, output, run, workspace};

/// The services `cargo xtask test` runs the pack for: five fast ones of different kinds (a
/// multi-process web server, a forking cache, a templated multi-process database, a
/// oneshot job run by a timer, a DNS server), about 4 minutes together on 2 cores, installs included.
pub const CI_SERVICES: &[&str] = &["nginx", "redis-server", "postgresql", "man-db", "unbound"];

/// profiles/SERVICE/pack.conf, read as the pack's guest reads it.
fn conf(profiles: &Path, service: &str) -> Result<crate::vm::pack::Conf> {
    let conf = profiles.join(service).join("pack.conf");
    let text = std::fs::read_to_string(&conf)
        .with_context(|| format!("{}: no such service in the pack", conf.display()))?;
    // Read as `vm pack` reads it, without a release's overrides: those are for real machines
    // (`unverified.debian12=` verifies chrony on one, never in the pack's guest).
    crate::vm::pack::Conf::parse(&text, "guest").with_context(|| format!("{}", conf.display()))
}

fn all_services(profiles: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(profiles)
        .with_context(|| format!("read {}", profiles.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("pack.conf").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The pack services `tests/tests/record_all.rs` runs side by side in one guest: the test
/// setup installs their packages, as `pack` would.
pub const RECORD_ALL_SERVICES: &[&str] = &[
    "nginx",
    "redis-server",
    "memcached",
    "postgresql",
    "mariadb",
    "haproxy",
    "unbound",
    "prometheus-node-exporter",
];

/// Installs what `services` need (their pack.conf `packages=`), with their units disabled on
/// this machine (see [`disable_on_host`]); returns the packages it installed.
pub fn install_services(services: &[&str]) -> Result<Vec<String>> {
    let profiles = workspace().join("profiles");
    let mut wanted = Vec::new();
    // The service's own unit too: a transitional package (proftpd-basic) ships none, the
    // package it pulls in (proftpd-core) does.
    let mut own_units = Vec::new();
    for s in services {
        let conf = conf(&profiles, s)?;
        // A service marked `unverified=` is only listed by the pack: nothing to install.
        if conf.unverified.is_some() {
            continue;
        }
        for p in conf.packages {
            if !wanted.contains(&p) {
                wanted.push(p);
            }
        }
        if !conf.unit.contains('@') {
            own_units.push(conf.unit);
        }
    }
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let installed = apt_install(&wanted)?;
    disable_on_host(&wanted, &own_units);
    Ok(installed.into_iter().map(str::to_owned).collect())
}

pub fn pack(update: bool, quiet: bool, jobs: u32, services: &[String]) -> Result<()> {
    if !is_root() {
        bail!("the pack loads eBPF programs and boots systemds: run it as root");
    }
    let ws = workspace();
    let profiles = ws.join("profiles");
    let services = if services.is_empty() {
        all_services(&profiles)?
    } else {
        services.to_vec()
    };
    // Services only the pack needs are installed here, on demand, so the test setup stays
    // small. All their units are disabled, not only those installed now: a package installed
    // by hand first is enabled too.
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    install_services(&names)?;
    unshare_docroot();

    let debug = ws.join("target").join("debug");
    let mut cmd = Command::new(debug.join("pack"));
    cmd.env("LEARNER_BIN", debug.join("learner"))
        .env_remove("LD_LIBRARY_PATH");
    // Packages of services that conflict (vsftpd, proftpd-basic) cannot all be installed at
    // once: the pack program installs each service's again, in its turn. The build above made
    // this binary anew (`cargo build --bins`), so the running one may be unlinked already.
    cmd.env("LEARNER_PACK_INSTALL", debug.join("xtask"));
    if update {
        cmd.arg("--update");
    }
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.args(["--jobs", &jobs.to_string()]);
    cmd.arg(&profiles)
        .arg(ws.join("target").join("pack"))
        .args(&services);
    run(&mut cmd)
}

/// Every guest systemd of the tests boots from this machine's root, with its enabled units:
/// a pack-only service enabled by its package would start in all of them. The pack starts
/// each one itself (load.sh setup).
fn disable_on_host(installed: &[&str], own_units: &[String]) {
    // A unit of a package the tests install themselves, or of one of their dependencies
    // (nginx.service is nginx-common's), stays as it is: the tests' guests have it running.
    let tests_own = output(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Package} ${Depends} ${Pre-Depends}\n"])
            .args(APT_PACKAGES),
    );
    let tests_own: Vec<&str> = tests_own
        .split(|c: char| c.is_whitespace() || c == ',' || c == '|')
        .map(|w| w.split(':').next().unwrap_or(w))
        .collect();
    let mut units: Vec<String> = own_units
        .iter()
        .filter(|u| {
            ["/lib/systemd/system/", "/usr/lib/systemd/system/"]
                .iter()
                .map(|d| format!("{d}{u}"))
                .find(|f| Path::new(f).exists())
                .is_some_and(|f| {
                    let owner = output(Command::new("dpkg").args(["-S", &f]));
                    let owner = owner.split(':').next().unwrap_or("").trim();
                    !owner.is_empty() && !tests_own.contains(&owner)
                })
        })
        .cloned()
        .collect();
    for package in installed.iter().filter(|p| !APT_PACKAGES.contains(p)) {
        let files = Command::new("dpkg")
            .args(["-L", package])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for file in files.lines() {
            let Some(name) = file.rsplit('/').next() else {
                continue;
            };
            let unit_dir = file.starts_with("/lib/systemd/system/")
                || file.starts_with("/usr/lib/systemd/system/");
            let kind = [".service", ".socket", ".timer", ".path"]
                .iter()
                .any(|k| name.ends_with(k));
            if unit_dir && kind && !name.contains("@.") && !units.iter().any(|u| u == name) {
                units.push(name.to_owned());
            }
        }
        // An init script without a unit of the same name (slapd, exim4): systemd's
        // generator makes its unit from the /etc/rc?.d links, which `systemctl disable`
        // turns off through update-rc.d.
        for script in files.lines().filter_map(|f| f.strip_prefix("/etc/init.d/")) {
            let unit = format!("{script}.service");
            let native = ["/lib/systemd/system/", "/usr/lib/systemd/system/"]
                .iter()
                .any(|d| Path::new(&format!("{d}{unit}")).exists());
            if !script.is_empty() && !native && !units.contains(&unit) {
                units.push(unit);
            }
        }
    }
    if !units.is_empty() {
        // Offline (PID 1 here is not systemd): systemctl edits the symlinks only.
        let _ = run(Command::new("systemctl")
            .args(["disable", "--no-reload", "--quiet"])
            .args(&units));
    }
}

/// apache2's postinst copies its default page to /var/www/html/index.html on a fresh install,
/// where the guests of every service in front of nginx (nginx, haproxy, squid, varnish, caddy)
/// would serve it instead of nginx's page: the host keeps nginx's page only, and apache2's
/// load.sh setup makes the copy in its own guest, as the postinst does.
fn unshare_docroot() {
    let page = Path::new("/var/www/html/index.html");
    let apache = Path::new("/usr/share/apache2/default-site/index.html");
    if let (Ok(a), Ok(b)) = (std::fs::read(page), std::fs::read(apache))
        && a == b
    {
        let _ = std::fs::remove_file(page);
    }
}

/// `cargo xtask starved`: the tests crate's `starved` program on one pack service.
pub fn starved(service: &str, rounds: u32, percent: u32, dir: &str) -> Result<()> {
    if !is_root() {
        bail!("starving learner's collector needs root (eBPF, cgroups)");
    }
    let ws = workspace();
    let profiles = ws.join("profiles");
    install_services(&[service])?;
    let debug = ws.join("target").join("debug");
    let mut cmd = Command::new(debug.join("starved"));
    cmd.env("LEARNER_BIN", debug.join("learner"))
        .env_remove("LD_LIBRARY_PATH")
        .arg(&profiles)
        .arg(ws.join("target"))
        .arg(service)
        .arg(rounds.to_string())
        .arg(percent.to_string())
        .arg(dir);
    run(&mut cmd)
}
