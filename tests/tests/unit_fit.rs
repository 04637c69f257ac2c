//! Drop-ins that fit the unit they are added to (issue 27), in the guest systemd 252: a
//! non-root service whose unit grants it CAP_NET_BIND_SERVICE as an ambient capability keeps
//! it under its drop-in (and verify names the gap of a drop-in that resets it); a unit's own
//! ReadWritePaths= survive the drop-in's reset; a shell's `> /dev/null` keeps
//! PrivateDevices=yes; paths with a space and a `%` are written so that systemd reads them;
//! a service that mounts for the rest of the host gets no mount namespace; and a site's own
//! hook script (no package owns it) is named in the drop-in and by verify.
use std::{
    path::Path,
    process::Output,
    time::{Duration, Instant},
};

use learner::model::profile::Profile;
use learner_tests::{TempDir, assert_clean, guest::Guest, learner, privileged, text};

/// Installs `unit` with `content`, starts it and waits until `ready` succeeds in the guest.
fn start(guest: &Guest, unit: &str, content: &str, ready: &str) {
    guest.write(&format!("/etc/systemd/system/{unit}"), content);
    guest.sh(&format!(
        "systemctl daemon-reload && systemctl start {unit}"
    ));
    wait_for(guest, ready, &format!("{unit} before any drop-in"));
}

fn wait_for(guest: &Guest, ready: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !guest.run(&["sh", "-c", ready]).status.success() {
        assert!(
            Instant::now() < deadline,
            "{what}: `{ready}` never succeeded"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `learner record UNIT --restart --for 3s`, running `load` in the guest meanwhile.
fn record(guest: &Guest, unit: &str, profile: &Path, load: &str) -> Profile {
    let mut recorder = learner()
        .args(["record", unit, "--restart", "--for", "3s"])
        .args(["--guest", &guest.pid.to_string(), "-o"])
        .arg(profile)
        .spawn()
        .expect("learner record");
    while recorder.try_wait().expect("wait").is_none() {
        let _ = guest.run(&["sh", "-c", load]);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(recorder.wait().expect("wait").success(), "learner record");
    Profile::load(profile).expect("the profile")
}

fn apply(guest: &Guest, unit: &str, dropin: &Path, check: &str, extra: &[&str]) -> Output {
    let out = learner()
        .args(["apply", unit])
        .arg(dropin)
        .args(["--guest", &guest.pid.to_string()])
        .args(["--check", &format!("{} sh -c '{check}'", guest.nsenter())])
        .args(extra)
        .output()
        .expect("learner apply");
    eprintln!("learner apply {unit}:\n{}", text(&out));
    out
}

fn verify(guest: &Guest, dropin: &Path, profile: &Path, extra: &[&str]) -> Output {
    let out = learner()
        .arg("verify")
        .arg(dropin)
        .arg(profile)
        .args(extra)
        .args(["--target-systemd", "252"])
        .output()
        .expect("learner verify");
    eprintln!("learner verify {}:\n{}", dropin.display(), text(&out));
    let _ = guest;
    out
}

const WEB: &str = "learner-web80.service";
/// Python's answer, not nginx's (the guest's nginx is stopped first: it has port 80).
const SERVES: &str =
    "curl -sf --max-time 2 http://127.0.0.1:80/ | grep -q \"Directory listing for /\"";

#[test]
fn a_non_root_service_keeps_the_ambient_capability_its_unit_grants() {
    let Some(_kernel) = privileged("unit_fit_ambient") else {
        return;
    };
    let dir = TempDir::new("unit-fit-ambient");
    let guest = Guest::boot("unit-fit-ambient");
    let pid = guest.pid.to_string();
    guest.sh("systemctl stop nginx.service");
    start(
        &guest,
        WEB,
        "[Service]\nUser=www-data\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nWorkingDirectory=/usr/share/doc\nExecStart=/usr/bin/python3 -m http.server --bind 127.0.0.1 80\n",
        SERVES,
    );
    let profile_path = dir.join("web80.profile.yaml");
    let profile = record(&guest, WEB, &profile_path, SERVES);

    // The unit as it ran: its file with its hash, and the settings the drop-in depends on.
    let unit = profile
        .unit
        .as_ref()
        .expect("the unit's settings are recorded");
    eprintln!("{unit:#?}");
    assert_eq!(unit.files.len(), 1, "{:?}", unit.files);
    assert_eq!(unit.files[0].path, format!("/etc/systemd/system/{WEB}"));
    assert_eq!(unit.files[0].sha256.len(), 64, "{:?}", unit.files);
    assert_eq!(unit.settings["User"], "www-data");
    assert_eq!(unit.settings["AmbientCapabilities"], "cap_net_bind_service");
    assert_eq!(
        unit.settings["CapabilityBoundingSet"],
        "cap_net_bind_service"
    );
    let bind = &profile.observations.capabilities["CAP_NET_BIND_SERVICE"];
    assert!(
        bind.granted.as_ref().is_some_and(|g| g.count > 0),
        "the bind's capability check is recorded: {bind:?}"
    );

    let dropin = dir.join("web80.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    eprintln!("{generated}");
    assert!(
        generated.contains("\nAmbientCapabilities=\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"),
        "{generated}"
    );
    assert!(
        generated.contains("\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"),
        "{generated}"
    );
    let out = verify(
        &guest,
        &dropin,
        &profile_path,
        &["--unit", WEB, "--guest", &pid],
    );
    assert!(out.status.success(), "{}", text(&out));

    // Applied: it starts as www-data, binds port 80 and serves, through a restart too.
    let out = apply(&guest, WEB, &dropin, SERVES, &["--exercise", "restart"]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    let main = guest.sh(&format!("systemctl show -p MainPID --value {WEB}"));
    let uid = guest.sh(&format!("ps -o user= -p {}", main.trim()));
    assert_eq!(uid.trim(), "www-data");

    // The drop-in issue 27 found: the ambient grant reset. verify names the gap, against
    // the unit as systemd has it and against the settings the profile recorded; and it
    // does break the service.
    let broken = dir.join("broken.conf");
    std::fs::write(
        &broken,
        generated.replace("AmbientCapabilities=CAP_NET_BIND_SERVICE\n", ""),
    )
    .expect("write");
    for extra in [vec!["--unit", WEB, "--guest", &pid], vec![]] {
        let out = verify(&guest, &broken, &profile_path, &extra);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("capability CAP_NET_BIND_SERVICE granted")
                && said.contains("User=www-data holds only its ambient capabilities")
                && said.contains("add AmbientCapabilities=CAP_NET_BIND_SERVICE"),
            "{said}"
        );
    }
    let out = apply(&guest, WEB, &broken, SERVES, &["--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    wait_for(&guest, SERVES, "after the rollback");

    drop(guest);
    assert_clean("after the ambient capability test");
}

const LOGS: &str = "learner-unitlog.service";

#[test]
fn a_units_own_write_grants_survive_the_drop_in() {
    let Some(_kernel) = privileged("unit_fit_paths") else {
        return;
    };
    let dir = TempDir::new("unit-fit-paths");
    let guest = Guest::boot("unit-fit-paths");
    guest.sh("mkdir -p /var/log/T /var/cache/T && rm -f /etc/T-deploy");
    // A new log file on every start (a new "day"), written under the unit's own grant; the
    // cache it grants is written only once an application is deployed. The ExecStartPre
    // redirects to /dev/null, as shells do.
    start(
        &guest,
        LOGS,
        "[Service]\nProtectSystem=strict\nReadWritePaths=/var/log/T/\nReadWritePaths=-/var/cache/T\nExecStartPre=/bin/sh -c 'echo starting > /dev/null'\nExecStart=/bin/sh -ec 'date > /var/log/T/run-$$(date +%%s%%N).log; if [ -e /etc/T-deploy ]; then date > /var/cache/T/deployed; fi; exec sleep infinity'\n",
        &format!("systemctl is-active --quiet {LOGS}"),
    );
    let profile_path = dir.join("unitlog.profile.yaml");
    let profile = record(&guest, LOGS, &profile_path, "true");
    assert_eq!(
        profile.unit.as_ref().expect("recorded").settings["ReadWritePaths"],
        "/var/log/T -/var/cache/T"
    );
    assert!(
        profile.observations.paths.contains_key("/dev/null"),
        "the redirect is recorded"
    );

    let dropin = dir.join("unitlog.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    eprintln!("{generated}");
    let rw = generated
        .lines()
        .rfind(|l| l.starts_with("ReadWritePaths="))
        .expect("ReadWritePaths=");
    assert!(
        rw.contains("-/var/log/T") && rw.contains("-/var/cache/T"),
        "{rw}"
    );
    assert!(
        generated.contains("# ReadWritePaths: /var/cache/T: the unit's, not used by the recording: kept (standard margin"),
        "{generated}"
    );
    assert!(generated.contains("\nPrivateDevices=yes\n"), "{generated}");
    let exact = learner_tests::generate_dropin(
        &profile_path,
        &dir.join("exact.conf"),
        &["--explain", "--margin", "exact"],
    );
    assert!(
        exact.contains("# ReadWritePaths: /var/cache/T: the unit's, not used by the recording: dropped (--margin exact"),
        "{exact}"
    );

    // Each start writes a new file, through a restart too; PrivateDevices=yes holds.
    let fresh = "find /var/log/T -name \"run-*.log\" -newermt \"-3 seconds\" | grep -q .";
    let out = apply(&guest, LOGS, &dropin, fresh, &["--exercise", "restart"]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    let shown = guest.sh(&format!(
        "systemctl show -p PrivateDevices,ReadWritePaths {LOGS}"
    ));
    assert!(shown.contains("PrivateDevices=yes"), "{shown}");
    // The write the recording never saw, which the unit's author granted, works.
    guest.sh(&format!("touch /etc/T-deploy && systemctl restart {LOGS}"));
    wait_for(
        &guest,
        &format!("test -s /var/cache/T/deployed && systemctl is-active --quiet {LOGS}"),
        "the deployed application's cache write",
    );

    drop(guest);
    assert_clean("after the unit paths test");
}

const ODD: &str = "learner-oddpaths.service";

#[test]
fn paths_with_a_space_and_a_percent_sign_are_writable_under_the_drop_in() {
    let Some(_kernel) = privileged("unit_fit_escaping") else {
        return;
    };
    let dir = TempDir::new("unit-fit-escaping");
    let guest = Guest::boot("unit-fit-escaping");
    guest.sh("mkdir -p '/var/lib/my app' '/var/lib/p%d'");
    let wrote = "test -e \"/var/lib/my app/ok\" && test -e /var/lib/p%d/ok";
    start(
        &guest,
        ODD,
        "[Service]\nExecStart=/bin/sh -ec 'date > \"/var/lib/my app/ok\"; date > /var/lib/p%%d/ok; exec sleep infinity'\n",
        wrote,
    );
    let profile_path = dir.join("odd.profile.yaml");
    record(&guest, ODD, &profile_path, "true");
    let dropin = dir.join("odd.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    eprintln!("{generated}");
    let rw = generated
        .lines()
        .rfind(|l| l.starts_with("ReadWritePaths="))
        .expect("ReadWritePaths=");
    assert!(
        rw.contains("\"-/var/lib/my app\"") && rw.contains("-/var/lib/p%%d"),
        "{rw}"
    );
    guest.sh("rm -f '/var/lib/my app/ok' /var/lib/p%d/ok");
    let out = apply(&guest, ODD, &dropin, wrote, &[]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    // As systemd read them.
    let shown = guest.sh(&format!("systemctl show -p ReadWritePaths {ODD}"));
    assert!(
        shown.contains("\"-/var/lib/my app\"") && shown.contains("-/var/lib/p%d"),
        "{shown}"
    );
    let out = verify(&guest, &dropin, &profile_path, &[]);
    assert!(out.status.success(), "{}", text(&out));

    drop(guest);
    assert_clean("after the escaping test");
}

const LINKS: &str = "learner-links.service";

/// A service that runs its program and writes its data through symlinks into /opt (as
/// third-party software installs itself): the kernel reaches /opt, so the drop-in must not
/// hide it. Recorded as spelt, /opt was never named and InaccessiblePaths=-/opt broke it.
#[test]
fn what_a_service_reaches_through_symlinks_is_not_hidden_from_it() {
    let Some(_kernel) = privileged("unit_fit_symlinks") else {
        return;
    };
    let dir = TempDir::new("unit-fit-symlinks");
    let guest = Guest::boot("unit-fit-symlinks");
    guest.sh(
        "mkdir -p /opt/lt/bin /opt/lt/data /srv && cp /bin/sleep /opt/lt/bin/lt-tool \
         && ln -sfn /opt/lt/bin/lt-tool /usr/local/bin/lt-tool && ln -sfn ../opt/lt/data /srv/lt-data",
    );
    let wrote = "test -s /opt/lt/data/up";
    start(
        &guest,
        LINKS,
        "[Service]\nExecStart=/bin/sh -ec 'date > /srv/lt-data/up; exec /usr/local/bin/lt-tool infinity'\n",
        wrote,
    );
    let profile_path = dir.join("links.profile.yaml");
    let p = record(&guest, LINKS, &profile_path, "true");
    assert!(
        p.observations.paths.contains_key("/opt/lt/bin/lt-tool")
            && p.observations.paths.contains_key("/opt/lt/data/up"),
        "{:?}",
        p.observations
            .paths
            .keys()
            .filter(|k| k.contains("lt"))
            .collect::<Vec<_>>()
    );
    let dropin = dir.join("links.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    let hidden = generated
        .lines()
        .rfind(|l| l.starts_with("InaccessiblePaths="))
        .unwrap_or_default();
    assert!(
        !hidden.contains("/opt") && !hidden.contains("/srv"),
        "{hidden}"
    );
    guest.sh("rm -f /opt/lt/data/up");
    let out = apply(&guest, LINKS, &dropin, wrote, &[]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    let out = verify(&guest, &dropin, &profile_path, &[]);
    assert!(out.status.success(), "{}", text(&out));
    drop(guest);
    assert_clean("after the symlinks test");
}

/// The first start on a new host: Debian's nginx recorded where it ran before (its mkdir of
/// /var/lib/nginx/body answers EEXIST), its drop-in installed where those directories do not
/// exist yet (removed in the guest's overlay): nginx creates them and serves. Without the
/// package's directory in the drop-in it fails as issue 27 saw (`mkdir() ... Read-only file
/// system`).
#[test]
fn nginx_starts_under_its_drop_in_on_a_host_where_it_never_ran() {
    let Some(_kernel) = privileged("unit_fit_fresh_host") else {
        return;
    };
    let dir = TempDir::new("unit-fit-fresh");
    let guest = Guest::boot("unit-fit-fresh");
    let serves = "curl -sf -o /dev/null --max-time 2 http://127.0.0.1/";
    wait_for(&guest, serves, "nginx before any drop-in");
    let profile_path = dir.join("nginx.profile.yaml");
    let profile = record(&guest, "nginx.service", &profile_path, serves);
    let unit = profile.unit.as_ref().expect("recorded");
    assert_eq!(
        unit.packages
            .get("/lib/systemd/system/nginx.service")
            .map(String::as_str),
        Some("nginx-common"),
        "{:?}",
        unit.packages
    );
    assert_eq!(
        unit.packages.get("/var/lib/nginx/body").map(String::as_str),
        Some(""),
        "{:?}",
        unit.packages
    );
    let dropin = dir.join("nginx.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    eprintln!("{generated}");
    let rw = generated
        .lines()
        .rfind(|l| l.starts_with("ReadWritePaths="))
        .expect("ReadWritePaths=");
    assert!(
        rw.split(' ').any(|w| w.ends_with("-/var/lib/nginx")),
        "{rw}"
    );
    assert!(
        generated.contains("# ReadWritePaths: /var/lib/nginx: fresh host:"),
        "{generated}"
    );
    // nginx hands what it makes to www-data: the first start needs CAP_CHOWN.
    assert!(
        generated
            .lines()
            .any(|l| l.starts_with("CapabilityBoundingSet=") && l.contains("CAP_CHOWN")),
        "{generated}"
    );

    // A host where nginx never started: its run-time directories are not there.
    let fresh = "systemctl stop nginx.service && rm -rf /var/lib/nginx/* && test -z \"$(ls /var/lib/nginx)\"";
    guest.sh(fresh);
    let out = apply(&guest, "nginx.service", &dropin, serves, &[]);
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    guest.sh("test -d /var/lib/nginx/body");

    // The same drop-in without that grant: the first start fails, and is rolled back.
    let broken = dir.join("broken.conf");
    let without: Vec<&str> = rw
        .split(' ')
        .filter(|w| !w.ends_with("/var/lib/nginx"))
        .collect();
    std::fs::write(&broken, generated.replace(rw, &without.join(" "))).expect("write");
    guest.sh(fresh);
    let out = apply(
        &guest,
        "nginx.service",
        &broken,
        serves,
        &["--timeout", "5s"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Read-only file system"),
        "{}",
        text(&out)
    );

    drop(guest);
    assert_clean("after the fresh host test");
}

const MOUNTER: &str = "learner-hostmount.service";
/// The mount a consumer outside the unit sees (dockerd's container roots, for runc).
const MOUNTED: &str = "mountpoint -q /srv/hm && test -e /srv/hm/marker";

/// A service that mounts for the rest of the host, as dockerd mounts each container's root
/// for containerd's runc. Under systemd 252, a drop-in's file-system directive keeps its
/// mount from the host, and `MountFlags=shared` does not send it back; learner's drop-in
/// gives it no mount namespace, passes a check made from outside the unit, and verify names
/// the gap of one that does.
#[test]
fn a_service_that_mounts_for_the_host_gets_no_mount_namespace() {
    let Some(_kernel) = privileged("unit_fit_host_mounts") else {
        return;
    };
    let dir = TempDir::new("unit-fit-host-mounts");
    let guest = Guest::boot("unit-fit-host-mounts");
    start(
        &guest,
        MOUNTER,
        "[Service]\nExecStartPre=/bin/mkdir -p /srv/hm\nExecStart=/bin/sh -ec 'mount -t tmpfs learner-hm /srv/hm; touch /srv/hm/marker; exec sleep infinity'\nExecStopPost=-/bin/umount /srv/hm\n",
        MOUNTED,
    );
    let profile_path = dir.join("hostmount.profile.yaml");
    let profile = record(&guest, MOUNTER, &profile_path, "true");
    let mounts = profile.observations.facts.host_mounts.clone();
    assert!(
        mounts
            .as_ref()
            .is_some_and(|m| m.contains_key("mount of learner-hm")),
        "{mounts:?}"
    );

    // What systemd 252 does with a mount namespace's mounts, shared or not: they stay in it.
    // (Stopped and unmounted first: a stop under the drop-in unmounts in its namespace only.)
    let wrong = dir.join("namespaced.conf");
    for conf in [
        "[Service]\nProtectSystem=strict\nReadWritePaths=/srv\n",
        "[Service]\nProtectSystem=strict\nReadWritePaths=/srv\nMountFlags=shared\n",
    ] {
        std::fs::write(&wrong, conf).expect("write");
        guest.sh(&format!(
            "systemctl stop {MOUNTER}; umount /srv/hm 2>/dev/null; ! mountpoint -q /srv/hm"
        ));
        guest.write(
            &format!("/etc/systemd/system/{MOUNTER}.d/namespaced.conf"),
            conf,
        );
        guest.sh(&format!(
            "systemctl daemon-reload && systemctl start {MOUNTER}"
        ));
        let main = guest.sh(&format!("systemctl show -p MainPID --value {MOUNTER}"));
        wait_for(
            &guest,
            &format!("nsenter -t {} -m sh -c '{MOUNTED}'", main.trim()),
            "the mount in the unit's namespace",
        );
        let outside = guest.run(&["sh", "-c", MOUNTED]);
        assert!(!outside.status.success(), "the host sees it under {conf}");
    }
    let out = verify(&guest, &wrong, &profile_path, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("mount of learner-hm in the host's mount namespace"),
        "{}",
        text(&out)
    );
    guest.sh(&format!(
        "systemctl stop {MOUNTER}; rm /etc/systemd/system/{MOUNTER}.d/namespaced.conf && systemctl daemon-reload && systemctl start {MOUNTER}"
    ));
    wait_for(&guest, MOUNTED, "the mount without the wrong drop-in");

    let dropin = dir.join("hostmount.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &["--explain"]);
    eprintln!("{generated}");
    for directive in [
        "ProtectSystem=",
        "ReadWritePaths=",
        "PrivateTmp=",
        "ProtectHome=",
        "PrivateDevices=",
        "ProtectKernelTunables=",
    ] {
        assert!(
            !generated.lines().any(|l| l.starts_with(directive)),
            "{directive}\n{generated}"
        );
    }
    assert!(
        generated.contains("# ProtectSystem: not set: made in the host's mount namespace:"),
        "{generated}"
    );
    let out = apply(
        &guest,
        MOUNTER,
        &dropin,
        MOUNTED,
        &["--exercise", "restart"],
    );
    assert!(out.status.success(), "{}\n{generated}", text(&out));
    drop(guest);
    assert_clean("after the host mounts test");
}

const HOOKED: &str = "learner-hooked.service";
/// A site's hook script, as tinc-up or a monitoring check is: no package owns it.
const HOOK: &str = "/etc/learner-hooks/on-tick";

#[test]
fn a_sites_own_programs_are_named_in_the_drop_in_and_by_verify() {
    let Some(_kernel) = privileged("unit_fit_unpackaged") else {
        return;
    };
    let dir = TempDir::new("unit-fit-unpackaged");
    let guest = Guest::boot("unit-fit-unpackaged");
    guest.sh("mkdir -p /etc/learner-hooks");
    guest.write_mode(
        HOOK,
        "#!/bin/sh\nexec /usr/bin/touch /run/learner-ticked\n",
        0o755,
    );
    start(
        &guest,
        HOOKED,
        &format!(
            "[Service]\nExecStart=/bin/sh -c 'while :; do {HOOK}; /usr/bin/sleep 0.3; done'\n"
        ),
        "test -e /run/learner-ticked",
    );
    let profile_path = dir.path().join("hooked.profile.yaml");
    let profile = record(&guest, HOOKED, &profile_path, "true");
    let unpackaged: Vec<&String> = profile.observations.processes.unpackaged.keys().collect();
    // Only the hook: sh, sleep and touch are dash's and coreutils', by either spelling.
    assert_eq!(
        unpackaged,
        [HOOK],
        "{:?}",
        profile.observations.processes.execs
    );
    // The programs were asked about, not kept among the unit's packages.
    let unit = profile.unit.as_ref().expect("the unit's record");
    assert!(
        !unit.packages.keys().any(|p| p.ends_with("/sleep")),
        "{:?}",
        unit.packages
    );
    let dropin = dir.path().join("hooked.conf");
    let generated = learner_tests::generate_dropin(&profile_path, &dropin, &[]);
    let caution = format!("ran programs no installed package owns: {HOOK} (");
    assert!(
        generated
            .lines()
            .any(|l| l.starts_with("# learner: warning: ") && l.contains(&caution)),
        "{generated}"
    );
    let out = verify(&guest, &dropin, &profile_path, &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("learner: caution: ") && said.contains(&caution),
        "{said}"
    );
    drop(guest);
    assert_clean("after the unpackaged programs test");
}
