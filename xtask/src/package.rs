//! `cargo xtask package`: a Debian package of the static release binary (musl, its eBPF object
//! built in: it runs on any glibc, Debian 11's 2.31 included), with man pages and completions
//! generated from the command line's definition, the README, the licence, and the shipped
//! profiles. Built with dpkg-deb alone: nothing to download.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, output, run, workspace};

/// Debian's upstream version of the workspace, and the package revision.
const REVISION: &str = "1";

/// Builds the .deb and returns its path (target/debian/learner_VERSION-1_ARCH.deb).
pub fn package() -> Result<PathBuf> {
    let ws = workspace();
    let bin = build_static()?;
    let version = output(Command::new(&bin).arg("--version"))
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .context("learner --version said no version")?;
    let arch = output(Command::new("dpkg").arg("--print-architecture"))
        .trim()
        .to_owned();
    if arch.is_empty() {
        bail!("dpkg --print-architecture said nothing: is this Debian?");
    }

    let out = ws.join("target/debian");
    let root = out.join(format!("learner_{version}-{REVISION}_{arch}"));
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("remove {}", root.display()))?;
    }
    let docs = out.join("generated");
    if docs.exists() {
        fs::remove_dir_all(&docs).with_context(|| format!("remove {}", docs.display()))?;
    }
    run(Command::new(&bin).arg("docs").arg(&docs))?;

    let usr = root.join("usr");
    install(&bin, &usr.join("bin/learner"), 0o755)?;
    // As Debian ships binaries; the eBPF object is data inside, which strip leaves alone.
    run(Command::new("strip")
        .arg("--strip-unneeded")
        .arg(usr.join("bin/learner")))?;
    // Debian compresses man pages; -n keeps the archive reproducible (no name, no time).
    for page in read_dir(&docs.join("man"))? {
        let name = page.file_name().expect("a file").to_string_lossy();
        let dest = usr.join("share/man/man1").join(format!("{name}.gz"));
        gzip(&page, &dest)?;
    }
    let completions = docs.join("completions");
    for (file, dest) in [
        ("learner.bash", "share/bash-completion/completions/learner"),
        ("_learner", "share/zsh/vendor-completions/_learner"),
        (
            "learner.fish",
            "share/fish/vendor_completions.d/learner.fish",
        ),
    ] {
        install(&completions.join(file), &usr.join(dest), 0o644)?;
    }
    let doc = usr.join("share/doc/learner");
    gzip(&ws.join("README.md"), &doc.join("README.md.gz"))?;
    write(&doc.join("copyright"), &copyright()?, 0o644)?;
    // The verified profiles and drop-ins (profiles/), for `learner generate` and diffs.
    for file in walk(&ws.join("profiles"))? {
        let rel = file
            .strip_prefix(ws.join("profiles"))
            .expect("below profiles/");
        install(&file, &usr.join("share/learner/profiles").join(rel), 0o644)?;
    }
    // The JSON Schemas of the `--format json` outputs, one per command.
    for file in walk(&ws.join("learner/schema"))? {
        let name = file.file_name().expect("a file name");
        install(&file, &usr.join("share/learner/schema").join(name), 0o644)?;
    }

    // The shadow-watch template and its learned hardening, where Debian 12's packages put
    // units (/lib: bookworm's dpkg does not move them to /usr yet). Not enabled: an instance
    // is started per watched unit.
    for (file, dest) in watch_unit_files(&ws) {
        install(&file, &root.join("lib/systemd/system").join(dest), 0o644)?;
    }

    let debian = root.join("DEBIAN");
    write(
        &debian.join("control"),
        &control(&version, &arch, &root),
        0o644,
    )?;
    write(&debian.join("md5sums"), &md5sums(&root)?, 0o644)?;

    let deb = out.join(format!("learner_{version}-{REVISION}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&root)
        .arg(&deb))?;
    eprintln!("xtask: package: {}", deb.display());
    Ok(deb)
}

/// Builds the .rpm of the same files, where rpm users look for them (zsh completions in
/// site-functions, the licences in /usr/share/licenses), from the .deb's tree, and returns
/// its path (target/rpm/learner-VERSION-1.x86_64.rpm). rpmbuild comes from Debian's `rpm`.
pub fn package_rpm(deb: &Path) -> Result<PathBuf> {
    let ws = workspace();
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .context("a .deb name")?;
    let staged = deb.with_file_name(stem);
    let version = stem
        .split('_')
        .nth(1)
        .and_then(|v| v.strip_suffix(&format!("-{REVISION}")))
        .context("the .deb's version")?
        .to_owned();
    let top = ws.join("target/rpm");
    if top.exists() {
        fs::remove_dir_all(&top).with_context(|| format!("remove {}", top.display()))?;
    }
    let spec = top.join("learner.spec");
    write(&spec, &rpm_spec(&version, &staged, &ws), 0o644)?;
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec))?;
    let rpm = top.join(format!(
        "RPMS/x86_64/learner-{version}-{REVISION}.x86_64.rpm"
    ));
    if !rpm.exists() {
        bail!("rpmbuild made no {}", rpm.display());
    }
    eprintln!("xtask: package: {}", rpm.display());
    Ok(rpm)
}

/// The spec: files copied from the .deb's staged tree, no build step, no dependency (the
/// binary is static), nothing stripped or compressed again.
fn rpm_spec(version: &str, staged: &Path, ws: &Path) -> String {
    let usr = staged.join("usr");
    format!(
        "Name: learner\n\
         Version: {version}\n\
         Release: {REVISION}\n\
         Summary: Learns the tightest systemd sandbox a service can run in\n\
         License: MIT OR Apache-2.0\n\
         URL: https://example.invalid/learner\n\
         BuildArch: x86_64\n\
         AutoReqProv: no\n\
         Recommends: systemd, util-linux\n\
         %define debug_package %{{nil}}\n\
         %define _build_id_links none\n\
         %define __os_install_post %{{nil}}\n\
         \n\
         %description\n\
         learner records what a systemd service does with eBPF (syscalls, paths, sockets,\n\
         capability checks), at little cost to it, and turns the recording into the\n\
         tightest hardening drop-in that still lets it run: ProtectSystem=,\n\
         SystemCallFilter=, CapabilityBoundingSet= and the rest, each with its evidence.\n\
         It applies the drop-in with a check and rolls back when the service breaks,\n\
         and reports what a live sandbox denies.\n\
         \n\
         %install\n\
         mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/man/man1 \\\n\
           %{{buildroot}}/usr/share/bash-completion/completions %{{buildroot}}/usr/share/zsh/site-functions \\\n\
           %{{buildroot}}/usr/share/fish/vendor_completions.d %{{buildroot}}/usr/share/learner \\\n\
           %{{buildroot}}/usr/share/doc/learner %{{buildroot}}/usr/share/licenses/learner \\\n\
           '%{{buildroot}}/usr/lib/systemd/system/learner-watch@.service.d'\n\
         cp -p {usr}/bin/learner %{{buildroot}}/usr/bin/\n\
         cp -p {usr}/share/man/man1/*.gz %{{buildroot}}/usr/share/man/man1/\n\
         cp -p {usr}/share/bash-completion/completions/learner %{{buildroot}}/usr/share/bash-completion/completions/\n\
         cp -p {usr}/share/zsh/vendor-completions/_learner %{{buildroot}}/usr/share/zsh/site-functions/\n\
         cp -p {usr}/share/fish/vendor_completions.d/learner.fish %{{buildroot}}/usr/share/fish/vendor_completions.d/\n\
         cp -pr {usr}/share/learner/profiles {usr}/share/learner/schema %{{buildroot}}/usr/share/learner/\n\
         cp -p {ws}/README.md %{{buildroot}}/usr/share/doc/learner/\n\
         cp -p {ws}/LICENSE-MIT {ws}/LICENSE-APACHE %{{buildroot}}/usr/share/licenses/learner/\n\
         cp -p '{units}/learner-watch@.service' %{{buildroot}}/usr/lib/systemd/system/\n\
         cp -p '{units}/learner-watch@.service.d/hardening.conf' '%{{buildroot}}/usr/lib/systemd/system/learner-watch@.service.d/'\n\
         \n\
         %files\n\
         %attr(0755,root,root) /usr/bin/learner\n\
         /usr/share/man/man1/*.gz\n\
         /usr/share/bash-completion/completions/learner\n\
         /usr/share/zsh/site-functions/_learner\n\
         /usr/share/fish/vendor_completions.d/learner.fish\n\
         /usr/share/learner\n\
         /usr/lib/systemd/system/learner-watch@.service\n\
         /usr/lib/systemd/system/learner-watch@.service.d\n\
         %doc /usr/share/doc/learner/README.md\n\
         %license /usr/share/licenses/learner/LICENSE-MIT\n\
         %license /usr/share/licenses/learner/LICENSE-APACHE\n",
        usr = usr.display(),
        ws = ws.display(),
        // From the .deb's tree too: the same files.
        units = staged.join("lib/systemd/system").display(),
    )
}

/// The target of the static build.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds the static release binary (`--target` musl, linked by rustc's self-contained musl
/// with no C toolchain of its own) and returns its path, after checking that it is static.
pub fn build_static() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "learner",
        "--target",
        STATIC_TARGET,
    ]))?;
    let bin = workspace()
        .join("target")
        .join(STATIC_TARGET)
        .join("release/learner");
    // No program interpreter and no DT_NEEDED: nothing of the host's libc is loaded.
    let headers = output(Command::new("readelf").args(["-ld"]).arg(&bin));
    if headers.contains("INTERP") || headers.contains("(NEEDED)") {
        bail!("{} is not static:\n{headers}", bin.display());
    }
    Ok(bin)
}

fn control(version: &str, arch: &str, root: &Path) -> String {
    let size_kib = output(
        Command::new("du")
            .args(["-sk", "--exclude=DEBIAN"])
            .arg(root),
    )
    .split_whitespace()
    .next()
    .unwrap_or("0")
    .to_owned();
    // Static: no Depends, not even libc6.
    format!(
        "Package: learner\n\
         Version: {version}-{REVISION}\n\
         Architecture: {arch}\n\
         Maintainer: learner developers <learner@example.invalid>\n\
         Installed-Size: {size_kib}\n\
         Recommends: systemd, util-linux\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: https://example.invalid/learner\n\
         Description: learns the tightest systemd sandbox a service can run in\n \
         learner records what a systemd service does with eBPF (syscalls, paths, sockets,\n \
         capability checks), at little cost to it, and turns the recording into the\n \
         tightest hardening drop-in that still lets it run: ProtectSystem=,\n \
         SystemCallFilter=, CapabilityBoundingSet= and the rest, each with its evidence.\n \
         It applies the drop-in with a check and rolls back when the service breaks,\n \
         and reports what a live sandbox denies.\n",
    )
}

fn copyright() -> Result<String> {
    let mit = fs::read_to_string(workspace().join("LICENSE-MIT")).context("read LICENSE-MIT")?;
    let mit: String = mit
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: learner\n\n\
         Files: *\n\
         License: MIT or Apache-2.0\n\n\
         License: MIT\n{mit}\n\
         License: Apache-2.0\n \
         On Debian systems the full text of the Apache License 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0.\n"
    ))
}

fn md5sums(root: &Path) -> Result<String> {
    let mut files: Vec<PathBuf> = walk(&root.join("usr"))?;
    files.extend(walk(&root.join("lib"))?);
    files.sort();
    let mut cmd = Command::new("md5sum");
    cmd.current_dir(root);
    for f in &files {
        cmd.arg(f.strip_prefix(root).expect("below the root"));
    }
    let sums = output(&mut cmd);
    if sums.lines().count() != files.len() {
        bail!("md5sum did not sum every file");
    }
    Ok(sums)
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = fs::read(from).with_context(|| format!("read {}", from.display()))?;
    write_bytes(to, &bytes, mode)
}

fn write(to: &Path, text: &str, mode: u32) -> Result<()> {
    write_bytes(to, text.as_bytes(), mode)
}

fn write_bytes(to: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = to.parent().expect("a file in a directory");
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    fs::write(to, bytes).with_context(|| format!("write {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", to.display()))
}

fn gzip(from: &Path, to: &Path) -> Result<()> {
    let out = Command::new("gzip")
        .args(["-9n", "--stdout"])
        .arg(from)
        .output()
        .context("gzip")?;
    if !out.status.success() {
        bail!("gzip {} failed", from.display());
    }
    write_bytes(to, &out.stdout, 0o644)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("read {}", dir.display()))?;
    files.sort();
    Ok(files)
}

/// learner-watch@.service and its hardening drop-in (learner/systemd/), each with its path
/// below the systemd unit directory.
fn watch_unit_files(ws: &Path) -> [(PathBuf, &'static str); 2] {
    let dir = ws.join("learner/systemd");
    [
        (dir.join("learner-watch@.service"), "learner-watch@.service"),
        (
            dir.join("learner-watch@.service.d/hardening.conf"),
            "learner-watch@.service.d/hardening.conf",
        ),
    ]
}

/// Every file below `dir`, recursively.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in read_dir(dir)? {
        if entry.is_dir() {
            files.extend(walk(&entry)?);
        } else {
            files.push(entry);
        }
    }
    Ok(files)
}
