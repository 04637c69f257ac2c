//! `cargo xtask vm pack SUITE [--update] SERVICE...`: the profile pack on a real Debian machine.
//!
//! What `cargo xtask pack` does in the tests' guest systemd, done on SUITE's own packages with
//! its own systemd as PID 1 and its own kernel. For each service, on a pristine machine: the
//! packages of `profiles/SERVICE/pack.conf` installed with apt while policy-rc.d forbids
//! starting anything (so the first start is learner's to see; a package the image already
//! holds is purged first), the first start recorded (`learner record UNIT --wait` while
//! `load.sh setup` starts it), the life recorded (`--restart --exercise all` under `load.sh
//! load`), both merged, a drop-in generated for the machine's systemd and applied with
//! `--exercise all --check 'load.sh check'`; then a second pristine machine (a fresh host):
//! the packages installed the same way, the drop-in in place before `load.sh setup` starts the
//! service for the first time, then `load.sh check`. Logs in target/vm-pack/SUITE/SERVICE/.
//! Once both passed, the profile and drop-in go to profiles/SERVICE/RELEASE/ where none is
//! shipped yet; with `--update` the shipped profile is merged with this run's, and the drop-in
//! generated from the union replaces the shipped one. Without it a shipped drop-in is what is
//! verified, and this run's recording must need nothing more (`learner diff --fail-on looser`).
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use super::{Machine, Stopper, Suite, build, exposure, setup, start, static_learner};

/// Where the service's files live in the machine.
const DIR: &str = "/root/pack";

/// The packages installed so that nothing starts: policy-rc.d answers 101 to every
/// invoke-rc.d and deb-systemd-invoke start. Removed again afterwards: logrotate's postrotate
/// scripts go through invoke-rc.d too. A unit the image already holds (nginx, trixie's
/// PostgreSQL) has run at boot: its package (the unit file's owner, apt removes what depends on
/// it) and the service's first package are purged first, with their state, logs and config.
/// `$1`: the unit; the rest: the packages.
const PREPARE: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
unit=$1; shift
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get update -qq
file=$(systemctl show -P FragmentPath "$unit" 2>/dev/null || true)
if [ -n "$file" ] && [ -e "$file" ]; then
    owner=$(dpkg -S "$file" | cut -d: -f1)
    echo "vm pack: $unit is in the image ($file, $owner): purged, to be installed afresh"
    systemctl stop "$unit" || true
    apt-get purge -y -qq "$owner" "$1" >/dev/null
fi
# As `cargo xtask pack` installs them on its host.
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
rm -f /usr/sbin/policy-rc.d
for p in "$@"; do dpkg-query -W -f '${Package} ${Version}\n' "$p"; done
if systemctl is-active -q "$unit"; then
    echo "vm pack: $unit runs before load.sh setup: its first start cannot be recorded" >&2
    exit 1
fi
"#;

/// The first start: `learner record UNIT --wait` attached before `load.sh setup` starts the
/// unit, ended (SIGINT, as Ctrl-C) once `load.sh check` passed. `$1`: the unit, `$2`: load.sh.
const FIRST_START: &str = r#"set -u
unit=$1 load=$2
cd /root/pack
learner record "$unit" --wait -o first-start.profile.yaml 2> first-start.log &
rec=$!
until grep -q 'recording it from its next start' first-start.log; do
    if ! kill -0 $rec 2>/dev/null; then
        echo "learner record --wait ended before it waited:"; cat first-start.log; exit 1
    fi
    sleep 1
done
failed() {
    echo "$1:"; tail -n 20 "$2"; journalctl -u "$unit" -n 30 --no-pager
    kill -INT $rec; wait $rec; exit 1
}
sh "$load" setup > setup.log 2>&1 || failed "load.sh setup failed" setup.log
sh "$load" check > check-unhardened.log 2>&1 || failed "load.sh check fails without any drop-in" check-unhardened.log
kill -INT $rec
if ! wait $rec; then
    echo "learner record --wait of the first start failed:"; tail -n 20 first-start.log; exit 1
fi
tail -n 3 first-start.log
"#;

/// The life: `learner record UNIT --restart --for FOR --exercise EXERCISE`, `load.sh load` run
/// once the new instance is up (learner attaches first, then restarts it: slow under
/// emulation, so waited for rather than guessed). `$1`: unit, `$2`: load.sh, `$3`: for, `$4`:
/// exercise.
const LIFE: &str = r#"set -u
unit=$1 load=$2
cd /root/pack
since=$(systemctl show -P ActiveEnterTimestampMonotonic "$unit")
learner record "$unit" --restart --for "$3" --exercise "$4" -o fresh.profile.yaml > record.log 2>&1 &
rec=$!
while [ "$(systemctl show -P ActiveEnterTimestampMonotonic "$unit")" = "$since" ] || ! systemctl is-active -q "$unit"; do
    kill -0 $rec 2>/dev/null || break
    sleep 0.5
done
sh "$load" load > load.log 2>&1 || echo "load.sh load failed (kept going): see load.log"
if ! wait $rec; then
    echo "learner record failed:"; tail -n 20 record.log; exit 1
fi
tail -n 12 record.log
# An event the packaged unit fails without any drop-in says nothing about a drop-in.
if sed -n '/^ *exercised:/,/^ *[a-z_]*:$/p' fresh.profile.yaml | grep -q FAILED; then
    echo "the packaged unit fails an event without any drop-in:"
    sed -n '/^ *exercised:/,/^ *[a-z_]*:$/p' fresh.profile.yaml
    exit 1
fi
"#;

/// The fresh host: the drop-in installed before anything starts the unit, then `load.sh
/// setup` (the unit's first start, under the drop-in) and `load.sh check`. `$1`: unit, `$2`:
/// load.sh.
const FRESH: &str = r#"set -u
unit=$1 load=$2
cd /root/pack
mkdir -p "/etc/systemd/system/$unit.d"
cp hardening.conf "/etc/systemd/system/$unit.d/50-learner-hardening.conf"
systemctl daemon-reload
if ! sh "$load" setup > fresh-setup.log 2>&1; then
    echo "fresh host: load.sh setup fails under the drop-in:"; tail -n 20 fresh-setup.log
    journalctl -u "$unit" -n 30 --no-pager; exit 1
fi
if ! sh "$load" check > fresh-check.log 2>&1; then
    echo "fresh host: load.sh check fails under the drop-in:"; tail -n 20 fresh-check.log
    journalctl -u "$unit" -n 30 --no-pager; exit 1
fi
"#;

/// `profiles/SERVICE/pack.conf` as read for one release: `KEY.RELEASE=` (e.g.
/// `unit.debian13=postgresql@17-main.service`) overrides `KEY=` there.
#[derive(Debug)]
pub(crate) struct Conf {
    pub unit: String,
    pub packages: Vec<String>,
    pub record: Option<String>,
    pub exercise: String,
    pub unverified: Option<String>,
    /// `vm_ntp=yes`: the machine gets an NTP server of xtask's (the host's clock) at
    /// 10.0.2.2, named in /etc/learner-pack-ntp: the archive's machines reach no NTP pool here.
    pub vm_ntp: bool,
}

impl Conf {
    pub fn parse(text: &str, release: &str) -> Result<Conf> {
        let mut keys = BTreeMap::new();
        let mut overrides = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .with_context(|| format!("line {}: not key=value", n + 1))?;
            let (k, v) = (k.trim(), v.trim().to_owned());
            match k.split_once('.') {
                Some((k, r)) if r == release => {
                    overrides.insert(k.to_owned(), v);
                }
                Some(_) => {}
                None => {
                    keys.insert(k.to_owned(), v);
                }
            }
        }
        keys.extend(overrides);
        Ok(Conf {
            unit: keys.remove("unit").context("no unit=")?,
            packages: keys
                .remove("packages")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            record: keys.remove("record"),
            exercise: keys.remove("exercise").unwrap_or_else(|| "all".into()),
            // `unverified.debian12=` (empty) verifies on that release what the pack cannot.
            // `unshipped=`: verified or not, no drop-in should be shipped (a job runner's).
            unverified: keys
                .remove("unverified")
                .filter(|v| !v.is_empty())
                .or_else(|| keys.remove("unshipped")),
            vm_ntp: keys.remove("vm_ntp").is_some_and(|v| v == "yes"),
        })
    }
}

impl Suite {
    /// The release as pack.conf's overrides name it.
    pub(super) fn release(self) -> &'static str {
        match self {
            Suite::Bullseye => "debian11",
            Suite::Bookworm => "debian12",
            Suite::Trixie => "debian13",
        }
    }

    /// profiles/SERVICE/THIS: bookworm's recordings on a VM stand beside the pack's own
    /// Debian 12 ones (recorded in the tests' guest), which stay in profiles/SERVICE/.
    pub(super) fn pack_dir(self) -> &'static str {
        match self {
            Suite::Bookworm => "debian12-vm",
            s => s.release(),
        }
    }
}

/// One line of the closing table.
struct Row {
    service: String,
    package: String,
    before: String,
    after: String,
    result: Result<String>,
    secs: f64,
}

pub fn pack(
    suite: Suite,
    services: &[String],
    update: bool,
    record_for: &str,
    learner: Option<PathBuf>,
) -> Result<()> {
    if services.is_empty() {
        bail!("name the services (directories of profiles/)");
    }
    let profiles = crate::workspace().join("profiles");
    let confs = services
        .iter()
        .map(|s| {
            let path = profiles.join(s).join("pack.conf");
            let text =
                fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
            Conf::parse(&text, suite.release()).with_context(|| path.display().to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    setup()?;
    build(suite, false)?;
    let learner = match learner {
        Some(path) => path,
        None => static_learner()?,
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for (name, conf) in services.iter().zip(&confs) {
        let mut t = Instant::now();
        let mut row = Row {
            service: name.clone(),
            package: "-".into(),
            before: "-".into(),
            after: "-".into(),
            result: Ok(String::new()),
            secs: 0.0,
        };
        row.result = match &conf.unverified {
            Some(why) => Ok(format!("not verified: {why}")),
            None => {
                // One machine of the machine's privileged runs at a time, as `vm test`; taken
                // per service, so others' runs get their turn between services.
                let _turn = crate::machine_turn("vm pack")?;
                // The wait for other checkouts' runs is not the service's time.
                t = Instant::now();
                let ntp = if conf.vm_ntp {
                    Some(ntp::Server::start()?)
                } else {
                    None
                };
                let run = Run {
                    ntp_port: ntp.as_ref().map(|n| n.port),
                    suite,
                    name,
                    conf,
                    record_for,
                    learner: &learner,
                    kept: crate::workspace()
                        .join("target/vm-pack")
                        .join(suite.name())
                        .join(name),
                    profiles: profiles.join(name),
                };
                run.service(update, &mut row)
            }
        };
        row.secs = t.elapsed().as_secs_f64();
        match &row.result {
            Ok(what) => eprintln!("xtask: vm pack {}: {name}: {what}", suite.name()),
            Err(e) => eprintln!("xtask: vm pack {}: {name}: FAILED: {e:#}", suite.name()),
        }
        rows.push(row);
    }
    println!(
        "| service | package ({}) | exposure before | after | result | seconds (lock waits aside) |",
        suite.name()
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let result = match &r.result {
            Ok(what) => what.clone(),
            Err(e) => format!("FAILED: {}", format!("{e:#}").lines().next().unwrap_or("")),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.0} |",
            r.service, r.package, r.before, r.after, result, r.secs
        );
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.result.is_err())
        .map(|r| r.service.as_str())
        .collect();
    eprintln!(
        "xtask: vm pack {}: {} service(s) in {:.0}s; logs in target/vm-pack/{}/",
        suite.name(),
        rows.len(),
        started.elapsed().as_secs_f64(),
        suite.name()
    );
    if !failed.is_empty() {
        bail!("vm pack failed on {}", failed.join(", "));
    }
    Ok(())
}

struct Run<'a> {
    suite: Suite,
    /// The host's port of the NTP server the machine gets (`vm_ntp=yes`).
    ntp_port: Option<u16>,
    name: &'a str,
    conf: &'a Conf,
    record_for: &'a str,
    learner: &'a Path,
    /// target/vm-pack/SUITE/SERVICE: the machine's /root/pack, copied out at each machine's end.
    kept: PathBuf,
    /// profiles/SERVICE.
    profiles: PathBuf,
}

impl Run<'_> {
    /// load.sh where the pack's guests have it.
    fn load_sh(&self) -> String {
        format!("/usr/local/lib/learner-pack-{}/load.sh", self.name)
    }

    fn shipped(&self) -> (PathBuf, PathBuf) {
        let dir = self.profiles.join(self.suite.pack_dir());
        (
            dir.join(format!("{}.profile.yaml", self.name)),
            dir.join("hardening.conf"),
        )
    }

    /// A pristine machine with the service's packages installed (nothing started) and
    /// load.sh in place; stopped when the returned Stopper is dropped.
    fn machine(&self, row: &mut Row) -> Result<(Machine, Stopper)> {
        let t = Instant::now();
        let qemu = start(self.suite, false)?;
        let stopper = Stopper(self.suite, qemu);
        let m = Machine::running(self.suite)?;
        eprintln!(
            "xtask: vm pack {}: booted in {:.0}s",
            self.name,
            t.elapsed().as_secs_f64()
        );
        m.sh(&format!("mkdir -p {DIR} $(dirname {})", self.load_sh()))?;
        m.copy(&self.profiles.join("load.sh"), &self.load_sh())?;
        if let Some(port) = self.ntp_port {
            // slirp's gateway is the host's loopback.
            m.write("/etc/learner-pack-ntp", &format!("10.0.2.2 {port}\n"))?;
        }
        m.write(&format!("{DIR}/prepare.sh"), PREPARE)?;
        let t = Instant::now();
        let code = m.sh(&format!(
            "bash {DIR}/prepare.sh {} {} 2>&1 | tee {DIR}/prepare.log; exit ${{PIPESTATUS[0]}}",
            self.conf.unit,
            self.conf.packages.join(" ")
        ))?;
        if code != 0 {
            bail!("installing {} failed", self.conf.packages.join(" "));
        }
        eprintln!(
            "xtask: vm pack {}: packages installed in {:.0}s",
            self.name,
            t.elapsed().as_secs_f64()
        );
        if let Some(first) = self.conf.packages.first() {
            let v = m.ssh_output(&format!("dpkg-query -W -f '${{Version}}' {first}"))?;
            row.package = format!("{first} {}", v.trim());
        }
        Ok((m, stopper))
    }

    /// Copies the machine's /root/pack into `kept` (the machine's disk goes at its stop).
    fn keep(&self, m: &Machine) -> Result<()> {
        fs::create_dir_all(&self.kept)
            .with_context(|| format!("create {}", self.kept.display()))?;
        let mut ssh = m.ssh(&[format!("tar -C {DIR} -cf - .")]);
        let mut child = ssh
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("run ssh")?;
        let status = Command::new("tar")
            .arg("-xf")
            .arg("-")
            .arg("-C")
            .arg(&self.kept)
            .stdin(child.stdout.take().expect("piped"))
            .status()
            .context("run tar")?;
        child.wait().context("wait for ssh")?;
        if !status.success() {
            bail!("cannot copy {DIR} out of the machine");
        }
        Ok(())
    }

    /// Runs one of the scripts above in the machine; its output shows as it comes.
    fn script(&self, m: &Machine, name: &str, text: &str, args: &[&str]) -> Result<i32> {
        m.write(&format!("{DIR}/{name}.sh"), text)?;
        m.sh(&format!("bash {DIR}/{name}.sh {}", args.join(" ")))
    }

    fn service(&self, update: bool, row: &mut Row) -> Result<String> {
        if self.kept.exists() {
            fs::remove_dir_all(&self.kept)
                .with_context(|| format!("remove {}", self.kept.display()))?;
        }
        let mut times = Vec::new();
        let result = self.life(update, row, &mut times);
        let result = result.and_then(|how| {
            let t = Instant::now();
            self.fresh_host(row)?;
            times.push(("fresh host (boot, install, setup, check)", t.elapsed()));
            Ok(how)
        });
        for (what, took) in &times {
            eprintln!(
                "xtask: vm pack {} {}: {what}: {:.0}s",
                self.suite.name(),
                self.name,
                took.as_secs_f64()
            );
        }
        let how = result?;
        // As `cargo xtask pack`: a service with nothing shipped for the release gets what
        // verified; one with a shipped profile only with --update.
        let (profile, dropin) = self.shipped();
        if update || !(profile.exists() && dropin.exists()) {
            fs::create_dir_all(profile.parent().expect("a dir"))?;
            for (from, to) in [
                (format!("{}.profile.yaml", self.name), &profile),
                ("hardening.conf".to_owned(), &dropin),
            ] {
                fs::copy(self.kept.join(&from), to)
                    .with_context(|| format!("write {}", to.display()))?;
            }
            return Ok(format!(
                "{how}; written to profiles/{}/{}/",
                self.name,
                self.suite.pack_dir()
            ));
        }
        Ok(how)
    }

    /// The first machine: first start, life, generate, apply. Returns what was verified.
    fn life(
        &self,
        update: bool,
        row: &mut Row,
        times: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> Result<String> {
        let t = Instant::now();
        let (m, _stopper) = self.machine(row)?;
        times.push(("boot and install", t.elapsed()));
        let result = self.life_steps(&m, update, row, times);
        // Whatever happened, the logs and recordings come out before the machine goes.
        if let Err(e) = self.keep(&m) {
            eprintln!("xtask: vm pack {}: {e:#}", self.name);
        }
        result
    }

    fn life_steps(
        &self,
        m: &Machine,
        update: bool,
        row: &mut Row,
        times: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> Result<String> {
        let unit = &self.conf.unit;
        let load = self.load_sh();
        m.copy(self.learner, "/usr/local/bin/learner")?;
        if m.sh("learner --version && systemctl --version | head -n 1 && uname -r")? != 0 {
            bail!("learner does not run there");
        }
        let t = Instant::now();
        if self.script(m, "first-start", FIRST_START, &[unit, &load])? != 0 {
            bail!("the first start (load.sh setup, check) failed: see first-start.log");
        }
        times.push(("first start (record --wait, setup, check)", t.elapsed()));
        row.before = format!("{}", exposure(m, unit)?);

        // The pack's window is for the host: under emulation load.sh load takes longer.
        let window = self
            .conf
            .record
            .as_deref()
            .filter(|r| secs(r) > secs(self.record_for))
            .unwrap_or(self.record_for);
        let t = Instant::now();
        let recorded = self.script(m, "life", LIFE, &[unit, &load, window, &self.conf.exercise])?;
        times.push(("life (record --restart --exercise, load)", t.elapsed()));
        if recorded != 0 {
            bail!("recording the life failed: see record.log");
        }

        let (shipped_profile, shipped_dropin) = self.shipped();
        let shipped = shipped_profile.exists() && shipped_dropin.exists();
        if shipped {
            m.copy(&shipped_profile, &format!("{DIR}/shipped.profile.yaml"))?;
            m.copy(&shipped_dropin, &format!("{DIR}/shipped.conf"))?;
        }
        // Named as shipped: the drop-in's header names the profile it came from. Without
        // --update a shipped drop-in is what is verified; with it, the union of the shipped
        // profile and this run's.
        let name = self.name;
        let generate = format!(
            "cd {DIR} && learner merge first-start.profile.yaml fresh.profile.yaml -o this-run.profile.yaml > merge.log 2>&1 \
             && if [ -e shipped.profile.yaml ] && [ {update} = true ]; then learner merge shipped.profile.yaml this-run.profile.yaml -o {name}.profile.yaml >> merge.log 2>&1; \
             else cp this-run.profile.yaml {name}.profile.yaml; fi \
             && learner generate {name}.profile.yaml --explain -o generated.conf > generate.log 2>&1 \
             && if [ -e shipped.conf ] && [ {update} = false ]; then cp shipped.conf hardening.conf; \
             (learner diff shipped.profile.yaml this-run.profile.yaml --fail-on looser > diff.log 2>&1; echo $? > diff.code); \
             else cp generated.conf hardening.conf; fi \
             && grep -v '^#' hardening.conf"
        );
        let t = Instant::now();
        if m.sh(&generate)? != 0 {
            bail!("merge or generate failed: see merge.log, generate.log");
        }
        times.push(("merge and generate", t.elapsed()));

        let t = Instant::now();
        let applied = m.sh(&format!(
            "cd {DIR} && learner apply {unit} hardening.conf --exercise {} --timeout 300s --profile fresh.profile.yaml --check 'sh {load} check' > apply.log 2>&1; c=$?; tail -n 25 apply.log; exit $c",
            self.conf.exercise
        ))?;
        times.push(("apply --exercise", t.elapsed()));
        let installed = m.sh(&format!(
            "test -e /etc/systemd/system/{unit}.d/50-learner-hardening.conf"
        ))? == 0;
        if installed {
            row.after = format!("{}", exposure(m, unit)?);
        }
        let unknown = m.ssh_output(&format!(
            "journalctl -b -o cat _PID=1 | grep -F '{unit}.d/' | grep -E 'Unknown (key|section)|unknown lvalue' || true"
        ))?;
        if applied != 0 || !installed {
            bail!("the drop-in does not verify: learner apply --exercise failed (apply.log)");
        }
        if !unknown.trim().is_empty() {
            bail!("systemd ignored lines of the drop-in: {}", unknown.trim());
        }
        let (before, after): (f64, f64) = (row.before.parse()?, row.after.parse()?);
        if after >= before {
            bail!("the drop-in does not lower the exposure: {before} -> {after}");
        }
        if shipped && !update {
            let code = m.ssh_output(&format!("cat {DIR}/diff.code"))?;
            if code.trim() != "0" {
                // The looser lines themselves: the log may stay on a machine nobody can open.
                let looser =
                    m.ssh_output(&format!("grep -E '^ *looser' {DIR}/diff.log || true"))?;
                bail!(
                    "a fresh recording needs more than the shipped profile (diff.log): {}",
                    looser.trim()
                );
            }
            return Ok("shipped drop-in verified, on a fresh host too".into());
        }
        Ok("verified, on a fresh host too".into())
    }

    /// The second machine: the drop-in in place before the service's first start.
    fn fresh_host(&self, row: &mut Row) -> Result<()> {
        let (m, _stopper) = self.machine(row)?;
        m.copy(
            &self.kept.join("hardening.conf"),
            &format!("{DIR}/hardening.conf"),
        )?;
        let code = self.script(&m, "fresh", FRESH, &[&self.conf.unit, &self.load_sh()]);
        let unknown = m.ssh_output(&format!(
            "journalctl -b -o cat _PID=1 | grep -F '{}.d/' | grep -E 'Unknown (key|section)|unknown lvalue' || true",
            self.conf.unit
        ));
        // The fresh host's logs beside the first machine's (fresh-*.log, its prepare.log).
        let fresh_kept = Run {
            kept: self.kept.join("fresh-host"),
            profiles: self.profiles.clone(),
            ..*self
        };
        if let Err(e) = fresh_kept.keep(&m) {
            eprintln!("xtask: vm pack {}: {e:#}", self.name);
        }
        if code? != 0 {
            bail!("breaks on a fresh host (its first start under the drop-in): fresh-host/");
        }
        let unknown = unknown?;
        if !unknown.trim().is_empty() {
            bail!(
                "fresh host: systemd ignored lines of the drop-in: {}",
                unknown.trim()
            );
        }
        Ok(())
    }
}

/// A minimal NTP server (RFC 5905 server mode) on the host's loopback: answers each client
/// packet with the host's clock, stratum 2, until dropped.
mod ntp {
    use std::{
        net::UdpSocket,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        thread::JoinHandle,
        time::{Duration, SystemTime, UNIX_EPOCH},
    };

    use anyhow::{Context as _, Result};

    /// Seconds from 1900 (NTP's era 0) to 1970.
    const UNIX_TO_NTP: u64 = 2_208_988_800;

    pub struct Server {
        pub port: u16,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        pub fn start() -> Result<Server> {
            let socket = UdpSocket::bind("127.0.0.1:0").context("bind the NTP server")?;
            let port = socket.local_addr()?.port();
            // The flag is looked at between packets.
            socket.set_read_timeout(Some(Duration::from_millis(200)))?;
            let stop = Arc::new(AtomicBool::new(false));
            let stopping = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stopping.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let received = now();
                    if let Some(reply) = answer(&buf[..n], received, now()) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            });
            eprintln!("xtask: vm pack: NTP server for the machine on 127.0.0.1:{port}");
            Ok(Server {
                port,
                stop,
                thread: Some(thread),
            })
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// The host's clock as an NTP timestamp (seconds since 1900 . 2^-32 fractions).
    fn now() -> u64 {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        ((d.as_secs() + UNIX_TO_NTP) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
    }

    /// The server's reply to a client's (mode 3) request; None for anything else.
    pub fn answer(request: &[u8], received: u64, transmit: u64) -> Option<[u8; 48]> {
        if request.len() < 48 || request[0] & 0x7 != 3 {
            return None;
        }
        let version = (request[0] >> 3) & 0x7;
        let mut r = [0u8; 48];
        // Leap 0 (synchronised), the client's version, mode 4 (server).
        r[0] = (version << 3) | 4;
        r[1] = 2; // stratum
        r[2] = request[2]; // poll
        r[3] = (-20i8) as u8; // precision: about a microsecond
        r[8..12].copy_from_slice(&16u32.to_be_bytes()); // root dispersion: 0.25 ms
        r[12..16].copy_from_slice(&[127, 0, 0, 1]); // reference id
        r[16..24].copy_from_slice(&received.to_be_bytes()); // reference time
        r[24..32].copy_from_slice(&request[40..48]); // origin: the client's transmit time
        r[32..40].copy_from_slice(&received.to_be_bytes());
        r[40..48].copy_from_slice(&transmit.to_be_bytes());
        Some(r)
    }
}

/// Seconds of a `--for` value such as `6s`, `2m` or `40` (0 when unreadable).
fn secs(d: &str) -> u64 {
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
    let n: u64 = n.parse().unwrap_or(0);
    match unit {
        "m" | "min" => n * 60,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_override_wins_over_the_plain_key() {
        let text = "# c\nunit=postgresql@15-main.service\nunit.debian13=postgresql@17-main.service\n\
                    packages=postgresql-15 postgresql\npackages.debian11=postgresql-13\n";
        let c = Conf::parse(text, "debian13").unwrap();
        assert_eq!(c.unit, "postgresql@17-main.service");
        assert_eq!(c.packages, ["postgresql-15", "postgresql"]);
        let c = Conf::parse(text, "debian12").unwrap();
        assert_eq!(c.unit, "postgresql@15-main.service");
        assert_eq!(c.exercise, "all");
        let c = Conf::parse(text, "debian11").unwrap();
        assert_eq!(c.packages, ["postgresql-13"]);
        // An empty override takes the key back: verified on that release only.
        let text = "unit=chrony.service\nunverified=no CAP_SYS_TIME\nunverified.debian12=\n";
        assert!(Conf::parse(text, "debian12").unwrap().unverified.is_none());
        assert!(Conf::parse(text, "debian13").unwrap().unverified.is_some());
        assert!(Conf::parse("packages=x\n", "debian13").is_err());
    }

    #[test]
    fn the_ntp_server_answers_a_client_in_server_mode() {
        let mut request = [0u8; 48];
        request[0] = (4 << 3) | 3; // version 4, client
        request[2] = 6;
        request[40..48].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        let r = ntp::answer(&request, 10 << 32, 11 << 32).expect("a reply");
        assert_eq!(r[0], (4 << 3) | 4);
        assert_eq!(r[1], 2);
        assert_eq!(r[2], 6);
        assert_eq!(r[24..32], request[40..48]);
        assert_eq!(u64::from_be_bytes(r[40..48].try_into().unwrap()), 11 << 32);
        // A server's packet (mode 4) is not answered.
        request[0] = (4 << 3) | 4;
        assert!(ntp::answer(&request, 0, 0).is_none());
        // And a real exchange over the socket.
        let server = ntp::Server::start().unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        request[0] = (4 << 3) | 3;
        client
            .send_to(&request, ("127.0.0.1", server.port))
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(n, 48);
        let secs = u32::from_be_bytes(buf[40..44].try_into().unwrap());
        // After 2025 in NTP's era 0.
        assert!(u64::from(secs) > 1_735_689_600 + 2_208_988_800);
    }

    #[test]
    fn record_windows_compare_in_seconds() {
        assert_eq!(secs("6s"), 6);
        assert_eq!(secs("2m"), 120);
        assert_eq!(secs("40"), 40);
    }

    #[test]
    fn every_pack_conf_reads_for_each_release() {
        let profiles = crate::workspace().join("profiles");
        let mut n = 0;
        for e in fs::read_dir(&profiles).unwrap().filter_map(Result::ok) {
            let conf = e.path().join("pack.conf");
            let Ok(text) = fs::read_to_string(&conf) else {
                continue;
            };
            for release in ["debian11", "debian12", "debian13"] {
                let c = Conf::parse(&text, release)
                    .unwrap_or_else(|err| panic!("{}: {err:#}", conf.display()));
                assert!(c.unit.contains('.'), "{}: {}", conf.display(), c.unit);
            }
            n += 1;
        }
        assert!(n >= 30, "{n} pack.conf files");
    }

    /// The scripts parse as bash (`bash -n`): a syntax error would only show minutes into a
    /// machine's run.
    #[test]
    fn machine_scripts_parse() {
        for (name, script) in [
            ("prepare", PREPARE),
            ("first-start", FIRST_START),
            ("life", LIFE),
            ("fresh", FRESH),
        ] {
            let out = Command::new("bash")
                .args(["-n", "-c", script])
                .output()
                .expect("run bash");
            assert!(
                out.status.success(),
                "{name} does not parse: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
