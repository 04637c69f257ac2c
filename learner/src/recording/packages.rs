//! Which programs a unit ran that no package of its system owns: a site's hook scripts
//! (tinc-up, keepalived's notify), CGI programs, monitoring checks, local builds in /usr/local
//! or /opt. The drop-in permits what they did while recorded; what they do is the host's own,
//! and a script edited or added later is nothing a recording could see. The system's package
//! tool answers (`Systemd::package_owners`, with the unit's files and written directories).
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use crate::model::observations::{Exec, Seen};
use crate::recording::resolve::resolve;

/// The spellings a package's file list may use for `path` (merged /usr: dpkg lists /bin/sh,
/// the kernel runs /usr/bin/sh).
fn spellings(path: &str) -> [Option<String>; 2] {
    let alias = ["/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/"]
        .iter()
        .find_map(|d| {
            if path.starts_with(d) {
                Some(format!("/usr{path}"))
            } else {
                path.strip_prefix("/usr")
                    .filter(|rest| rest.starts_with(d))
                    .map(str::to_owned)
            }
        });
    [Some(path.to_owned()), alias]
}

/// For each program the unit ran successfully that is still a file in `root` (the unit's
/// system's root, seen from here), the names a package could own it by: as the kernel
/// resolves it (a site's link in /etc/munin/plugins to a packaged plugin), as run unless that
/// is a symlink, and the merged-/usr twin of each, those that exist. A failed PATH search, a program gone since
/// (a script a job wrote and removed): nothing to ask about.
pub fn names_to_ask(root: &Path, execs: &BTreeMap<String, Exec>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (path, exec) in execs {
        // /proc/self/exe, /dev/fd/N: a process's own file, which a lookup from here
        // would take for learner's.
        let api = ["/proc/", "/dev/"].iter().any(|a| path.starts_with(a));
        if exec.seen.ok == 0 || !path.starts_with('/') || api {
            continue;
        }
        let Some(real) = resolve(root, path) else {
            continue;
        };
        let in_root = |p: &str| root.join(p.trim_start_matches('/'));
        if !in_root(&real).metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        // The name as run only when it is the file itself: a site's link put where a
        // package's program was (or a package's link to a file the site supplies) is judged
        // by the file the kernel ran.
        let as_run = !in_root(path)
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        let names: BTreeSet<String> = as_run
            .then(|| spellings(path))
            .into_iter()
            .flatten()
            .chain(spellings(&real))
            .flatten()
            .filter(|p| in_root(p).symlink_metadata().is_ok())
            .collect();
        out.insert(path.clone(), names.into_iter().collect());
    }
    out
}

/// The programs of `asked` (from [`names_to_ask`]) none of whose names has an owner in
/// `owners` (the package tool's answers: package names, empty for a path no package owns),
/// with how each was run. Nothing when the tool did not answer for them all.
pub fn unpackaged(
    execs: &BTreeMap<String, Exec>,
    asked: &BTreeMap<String, Vec<String>>,
    owners: &BTreeMap<String, String>,
) -> BTreeMap<String, Seen> {
    if asked.values().flatten().any(|n| !owners.contains_key(n)) {
        return BTreeMap::new();
    }
    asked
        .iter()
        .filter(|(_, names)| names.iter().all(|n| owners[n].is_empty()))
        .filter_map(|(path, _)| Some((path.clone(), execs.get(path)?.seen.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn exec(ok: u64) -> Exec {
        Exec {
            seen: Seen {
                count: ok.max(1),
                ok,
                ..Default::default()
            },
            argv0: BTreeSet::new(),
        }
    }

    #[test]
    fn programs_no_package_owns_by_any_name_are_named() {
        let root = std::env::temp_dir().join(format!("learner-packages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "usr/bin",
            "usr/share/munin/plugins",
            "etc/munin/plugins",
            "etc/tinc/net",
            "usr/local/bin",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "usr/bin/dash",
            "usr/share/munin/plugins/cpu",
            "etc/tinc/net/tinc-up",
            "usr/local/bin/tool",
        ] {
            std::fs::write(root.join(f), "#!/bin/sh\n").unwrap();
        }
        symlink("usr/bin", root.join("bin")).unwrap();
        symlink("/usr/bin/dash", root.join("usr/bin/sh")).unwrap();
        symlink(
            "/usr/share/munin/plugins/cpu",
            root.join("etc/munin/plugins/cpu"),
        )
        .unwrap();
        let mut execs = BTreeMap::new();
        for p in [
            "/usr/bin/sh",
            "/etc/munin/plugins/cpu",
            "/etc/tinc/net/tinc-up",
            "/usr/local/bin/tool",
        ] {
            execs.insert(p.to_owned(), exec(1));
        }
        execs.insert("/usr/local/bin/sh".into(), exec(0));
        execs.insert("/proc/self/exe".into(), exec(1));
        execs.insert("/etc/tinc/net/gone".into(), exec(1));
        let asked = names_to_ask(&root, &execs);
        assert_eq!(asked["/usr/bin/sh"], ["/bin/dash", "/usr/bin/dash"]);
        assert_eq!(
            asked["/etc/munin/plugins/cpu"],
            ["/usr/share/munin/plugins/cpu"]
        );
        assert_eq!(asked["/etc/tinc/net/tinc-up"], ["/etc/tinc/net/tinc-up"]);
        assert_eq!(asked.len(), 4, "{asked:?}");
        // dpkg knows dash by /bin/dash only, the plugin by its own path.
        let mut owners: BTreeMap<String, String> = asked
            .values()
            .flatten()
            .map(|n| (n.clone(), String::new()))
            .collect();
        owners.insert("/bin/dash".into(), "dash".into());
        owners.insert("/usr/share/munin/plugins/cpu".into(), "munin-node".into());
        assert_eq!(
            unpackaged(&execs, &asked, &owners)
                .keys()
                .collect::<Vec<_>>(),
            ["/etc/tinc/net/tinc-up", "/usr/local/bin/tool"]
        );
        // No answer from a package tool: no claim.
        assert!(unpackaged(&execs, &asked, &BTreeMap::new()).is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn merged_usr_spellings() {
        assert_eq!(
            spellings("/bin/sh"),
            [Some("/bin/sh".into()), Some("/usr/bin/sh".into())]
        );
        assert_eq!(
            spellings("/usr/sbin/nginx"),
            [Some("/usr/sbin/nginx".into()), Some("/sbin/nginx".into())]
        );
        assert_eq!(spellings("/etc/x"), [Some("/etc/x".into()), None]);
    }
}
