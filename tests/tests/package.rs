//! The Debian package (`cargo xtask package`) installs into a fresh guest systemd (see
//! `learner_tests::guest`; its root is a throw-away overlay, so this machine is untouched),
//! works there as a user would run it (the static build: no libc dependency), and removes
//! cleanly.
use std::path::{Path, PathBuf};

use learner_tests::{REQUIRE_PRIVILEGED_ENV, assert_clean, guest::Guest, privileged, text};

/// `$LEARNER_DEB` (set by `cargo xtask test`), else the newest .deb in target/debian.
fn deb() -> Option<PathBuf> {
    if let Some(deb) = std::env::var_os("LEARNER_DEB") {
        return Some(deb.into());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

#[test]
fn the_deb_installs_works_and_removes_cleanly() {
    let Some(_kernel) = privileged("the_deb_installs_works_and_removes_cleanly") else {
        return;
    };
    let Some(deb) = deb() else {
        let why = "no .deb in target/debian: `cargo xtask package` builds it";
        assert!(
            std::env::var_os(REQUIRE_PRIVILEGED_ENV).is_none(),
            "{why}, and {REQUIRE_PRIVILEGED_ENV} forbids skipping"
        );
        eprintln!("skipped the_deb_installs_works_and_removes_cleanly: {why}");
        return;
    };
    let guest = Guest::boot("package");
    let pid = guest.pid.to_string();
    let inside = |path: &str| PathBuf::from(format!("/proc/{pid}/root{path}"));
    assert!(
        !inside("/usr/bin/learner").exists(),
        "learner is installed on this machine already: the test would prove nothing"
    );
    std::fs::copy(&deb, inside("/tmp/learner.deb")).expect("copy the .deb into the guest");

    let installed = guest.run(&["dpkg", "-i", "/tmp/learner.deb"]);
    assert!(installed.status.success(), "dpkg -i: {}", text(&installed));
    let files = guest.run(&["dpkg", "-L", "learner"]);
    let files: Vec<String> = String::from_utf8_lossy(&files.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for f in [
        "/usr/bin/learner",
        "/usr/share/man/man1/learner.1.gz",
        "/usr/share/man/man1/learner-record.1.gz",
        "/usr/share/bash-completion/completions/learner",
        "/usr/share/zsh/vendor-completions/_learner",
        "/usr/share/fish/vendor_completions.d/learner.fish",
        "/usr/share/doc/learner/copyright",
        "/usr/share/doc/learner/README.md.gz",
        "/usr/share/learner/profiles/README.md",
        // Debian 13's, recorded and verified on a real Debian 13 (`cargo xtask vm pack`).
        "/usr/share/learner/profiles/nginx/debian13/hardening.conf",
        "/usr/share/learner/schema/record.schema.json",
        "/usr/share/learner/schema/apply.schema.json",
        "/usr/share/learner/schema/verify.schema.json",
        "/lib/systemd/system/learner-watch@.service",
        "/lib/systemd/system/learner-watch@.service.d/hardening.conf",
    ] {
        assert!(
            files.iter().any(|l| l == f),
            "{f} not in the package: {files:?}"
        );
    }
    // The guest's systemd finds the shadow-watch template and its hardening, and an instance
    // names the watched unit.
    let watch = guest.run(&[
        "systemctl",
        "show",
        "-p",
        "FragmentPath",
        "-p",
        "DropInPaths",
        "-p",
        "ExecStart",
        "-p",
        "CapabilityBoundingSet",
        "learner-watch@nginx.service",
    ]);
    let watch = text(&watch);
    assert!(
        watch.contains("FragmentPath=/lib/systemd/system/learner-watch@.service")
            && watch.contains("learner-watch@.service.d/hardening.conf")
            && watch.contains(
                "argv[]=/usr/bin/learner watch nginx.service --dropin /etc/learner/watch/nginx.conf"
            )
            && watch.contains("cap_bpf"),
        "{watch}"
    );

    // As a user runs it there.
    // The static build: it names its target, loads no libc of the host's, depends on nothing.
    let version = guest.run(&["learner", "--version"]);
    assert!(
        version.status.success()
            && text(&version).starts_with("learner ")
            && text(&version)
                .trim_end()
                .ends_with(" (x86_64-unknown-linux-musl)"),
        "{}",
        text(&version)
    );
    let headers = std::process::Command::new("readelf")
        .arg("-ld")
        .arg(inside("/usr/bin/learner"))
        .output()
        .expect("readelf");
    let headers = text(&headers);
    assert!(
        headers.contains("Program Headers")
            && !headers.contains("INTERP")
            && !headers.contains("(NEEDED)"),
        "not a static binary: {headers}"
    );
    let depends = guest.run(&["dpkg-query", "-W", "-f=${Depends}", "learner"]);
    assert_eq!(text(&depends).trim(), "", "the package depends on nothing");
    let page = guest.run(&["man", "-w", "learner-record"]);
    assert_eq!(
        text(&page).trim(),
        "/usr/share/man/man1/learner-record.1.gz",
        "man -w learner-record"
    );
    let rendered = guest.run(&["sh", "-c", "MANWIDTH=100 man learner-record | cat"]);
    assert!(
        text(&rendered).contains("--restart")
            && text(&rendered).contains("EXAMPLES")
            && text(&rendered).contains("sudo learner record nginx.service --restart --for 10m")
            && text(&rendered).contains("EXIT STATUS"),
        "the page documents record's options, examples and exit statuses: {}",
        text(&rendered)
    );
    // Completion offers the subcommands.
    let completed = guest.run(&[
        "bash",
        "-c",
        ". /usr/share/bash-completion/completions/learner; \
         COMP_WORDS=(learner rec); COMP_CWORD=1; _learner learner rec learner; \
         printf '%s\\n' \"${COMPREPLY[@]}\"",
    ]);
    assert!(
        text(&completed).lines().any(|l| l == "record"),
        "bash completion of `learner rec`: {}",
        text(&completed)
    );

    // The installed binary records a unit of that systemd. It runs from this machine's
    // namespaces (learner must see the host's cgroup tree), reaching the guest with --guest.
    let profile = inside("/tmp/nginx.profile.yaml");
    let recorded = std::process::Command::new(inside("/usr/bin/learner"))
        .args(["record", "nginx.service", "--restart", "--for", "3s"])
        .args(["--guest", &pid, "-o"])
        .arg(&profile)
        .output()
        .expect("the installed learner");
    assert!(recorded.status.success(), "{}", text(&recorded));
    let p = learner::model::profile::Profile::load(&profile).expect("a profile");
    assert_eq!(p.provenance.unit.as_deref(), Some("nginx.service"));
    assert!(
        p.observations
            .processes
            .execs
            .contains_key("/usr/sbin/nginx"),
        "nginx's start-up: {:?}",
        p.observations.processes.execs
    );

    // Removed cleanly: every file it brought is gone, and dpkg forgets it.
    let removed = guest.run(&["dpkg", "--purge", "learner"]);
    assert!(removed.status.success(), "dpkg --purge: {}", text(&removed));
    let left: Vec<&String> = files
        .iter()
        .filter(|f| {
            let p = inside(f);
            p.exists() && !p.is_dir()
        })
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    for dir in ["/usr/share/learner", "/usr/share/doc/learner"] {
        assert!(!inside(dir).exists(), "{dir} left after purge");
    }
    let status = guest.run(&["dpkg-query", "-W", "-f=${Status}", "learner"]);
    assert!(
        !text(&status).contains("install ok installed"),
        "{}",
        text(&status)
    );

    drop(guest);
    assert_clean("package");
}

/// `$LEARNER_RPM` (set by `cargo xtask test`), else target/rpm's.
fn rpm() -> Option<PathBuf> {
    if let Some(rpm) = std::env::var_os("LEARNER_RPM") {
        return Some(rpm.into());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rpm/RPMS/x86_64");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
}

/// The .rpm, checked with rpm's own tools: its metadata, every file where Fedora and RHEL put
/// it, no dependency beyond rpm's own features, and an install into a scratch root (rpm's
/// database there, not this machine's) whose binary runs.
#[test]
fn the_rpm_has_its_metadata_and_files_and_installs_into_a_scratch_root() {
    let root_user = unsafe { libc::geteuid() } == 0;
    let rpm = rpm();
    let (Some(rpm), true) = (rpm, root_user) else {
        let why = "needs root and an .rpm in target/rpm (`cargo xtask package` builds it)";
        assert!(
            std::env::var_os(REQUIRE_PRIVILEGED_ENV).is_none(),
            "{why}, and {REQUIRE_PRIVILEGED_ENV} forbids skipping"
        );
        eprintln!("skipped the_rpm_...: {why}");
        return;
    };
    let rpm_cmd = |args: &[&str]| {
        let out = std::process::Command::new("rpm")
            .args(args)
            .output()
            .expect("rpm (Debian's rpm package)");
        assert!(out.status.success(), "rpm {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let path = rpm.to_str().expect("utf-8");
    let info = rpm_cmd(&["-qip", path]);
    for field in [
        "Name        : learner",
        "License     : MIT OR Apache-2.0",
        "URL         : ",
        "Summary     : ",
        "Architecture: x86_64",
        "Description :",
    ] {
        assert!(info.contains(field), "{field} missing: {info}");
    }
    let files: Vec<String> = rpm_cmd(&["-qlp", path])
        .lines()
        .map(str::to_owned)
        .collect();
    for f in [
        "/usr/bin/learner",
        "/usr/share/man/man1/learner.1.gz",
        "/usr/share/man/man1/learner-record.1.gz",
        "/usr/share/bash-completion/completions/learner",
        "/usr/share/zsh/site-functions/_learner",
        "/usr/share/fish/vendor_completions.d/learner.fish",
        "/usr/share/doc/learner/README.md",
        "/usr/share/licenses/learner/LICENSE-MIT",
        "/usr/share/licenses/learner/LICENSE-APACHE",
        "/usr/share/learner/profiles/README.md",
        // Debian 13's, recorded and verified on a real Debian 13 (`cargo xtask vm pack`).
        "/usr/share/learner/profiles/nginx/debian13/hardening.conf",
        "/usr/share/learner/schema/record.schema.json",
        "/usr/share/learner/schema/apply.schema.json",
        "/usr/share/learner/schema/verify.schema.json",
        "/usr/lib/systemd/system/learner-watch@.service",
        "/usr/lib/systemd/system/learner-watch@.service.d/hardening.conf",
    ] {
        assert!(
            files.iter().any(|l| l == f),
            "{f} not in the rpm: {files:?}"
        );
    }
    // Static: nothing required but rpm's own features.
    let requires = rpm_cmd(&["-qpR", path]);
    assert!(
        requires.lines().all(|l| l.starts_with("rpmlib(")),
        "requires more than rpmlib: {requires}"
    );
    let scratch = learner_tests::TempDir::new("rpm-root");
    let root = scratch.path().to_str().expect("utf-8");
    rpm_cmd(&["--root", root, "--initdb"]);
    rpm_cmd(&["--root", root, "-i", "--nodeps", path]);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        rpm_cmd(&["--root", root, "-q", "learner"]).trim(),
        format!("learner-{version}-1.x86_64")
    );
    let said = std::process::Command::new(scratch.join("usr/bin/learner"))
        .arg("--version")
        .output()
        .expect("the installed learner");
    assert!(
        text(&said).starts_with(&format!("learner {version} (x86_64-unknown-linux-musl)")),
        "{}",
        text(&said)
    );
    rpm_cmd(&["--root", root, "-e", "learner"]);
    assert!(!scratch.join("usr/bin/learner").exists());
}
