//! Paths as the kernel resolved them. A service names a path through a symlink
//! (/usr/local/bin/tool -> /opt/tool/bin/tool, /srv/data -> /opt/data), and the sandbox acts on
//! what the kernel reaches: InaccessiblePaths=/opt hides the target, whatever the spelling. So
//! each recorded path that resolves elsewhere is recorded at its target too, with the same
//! accesses, resolved on the recorded system's own root (a guest's), at the recording's end.
use std::path::{Component, Path, PathBuf};

use crate::model::observations::Observations;

/// Most symlinks followed for one path, as the kernel's limit (ELOOP past 40).
const MAX_LINKS: usize = 40;

/// Adds, for each path that resolves to another one, that one with the same accesses.
/// Returns how many were added. Pure merged-/usr aliases (/lib/x is /usr/lib/x) are left
/// out: both spellings name one file in /usr, which no directive tells apart.
pub fn add_resolved_paths(observations: &mut Observations, root: &Path) -> usize {
    let mut add = Vec::new();
    for (path, accesses) in &observations.paths {
        let api = ["/proc", "/sys", "/dev"]
            .iter()
            .any(|a| path == a || path.starts_with(&format!("{a}/")));
        if api || !path.starts_with('/') {
            continue;
        }
        let Some(real) = resolve(root, path) else {
            continue;
        };
        if real != *path && real != format!("/usr{path}") {
            add.push((real, accesses.clone()));
        }
    }
    let n = add.len();
    for (real, accesses) in add {
        observations.paths.entry(real).or_default().merge(&accesses);
    }
    n
}

/// `path` with every symlink in it followed, inside `root` (an absolute link's target is
/// taken from `root`, as the recorded system's kernel took it). A missing last component (a
/// file since deleted) keeps its name; None for a missing directory or a loop.
pub fn resolve(root: &Path, path: &str) -> Option<String> {
    let mut todo: Vec<String> = components(path).into_iter().rev().collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here: PathBuf = root.join(done.iter().chain([&part]).collect::<PathBuf>());
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&here).ok()?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(components(&target).into_iter().rev());
            }
            Ok(_) => done.push(part),
            // Gone: the last component keeps its name; a missing directory on the way is
            // nothing to say.
            Err(_) if todo.is_empty() => done.push(part),
            Err(_) => return None,
        }
    }
    Some(format!("/{}", done.join("/")))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::{Access, Slot};
    use std::os::unix::fs::symlink;

    fn tree() -> PathBuf {
        let root = std::env::temp_dir().join(format!("learner-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "opt/tool/bin",
            "opt/data",
            "usr/lib",
            "run",
            "var",
            "usr/local/bin",
            "srv",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("opt/tool/bin/tool"), "").unwrap();
        // Absolute links are taken inside the root, relative ones from where they are.
        symlink("/opt/tool/bin/tool", root.join("usr/local/bin/tool")).unwrap();
        symlink("../opt/data", root.join("srv/data")).unwrap();
        symlink("/run", root.join("var/run")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        root
    }

    #[test]
    fn symlinks_are_followed_inside_the_recorded_root() {
        let root = tree();
        assert_eq!(
            resolve(&root, "/usr/local/bin/tool").as_deref(),
            Some("/opt/tool/bin/tool")
        );
        assert_eq!(
            resolve(&root, "/srv/data/y").as_deref(),
            Some("/opt/data/y")
        );
        assert_eq!(
            resolve(&root, "/var/run/x.pid").as_deref(),
            Some("/run/x.pid")
        );
        assert_eq!(
            resolve(&root, "/opt/./tool/../data").as_deref(),
            Some("/opt/data")
        );
        assert_eq!(resolve(&root, "/no/such/dir/file"), None);
        assert_eq!(resolve(&root, "/loop"), None);

        let mut o = Observations::default();
        for (path, access) in [
            ("/usr/local/bin/tool", Access::Exec),
            ("/srv/data/y", Access::Create),
            ("/lib/libc.so.6", Access::Read),
            ("/etc/hostname", Access::Read),
            ("/proc/self/status", Access::Read),
        ] {
            o.add(&Slot::Path(path.into(), access), 0, "tool", 1);
        }
        assert_eq!(add_resolved_paths(&mut o, &root), 2);
        assert!(o.paths["/opt/tool/bin/tool"].get(&Access::Exec).is_some());
        assert!(o.paths["/opt/data/y"].get(&Access::Create).is_some());
        // The spellings stay; a merged-/usr alias adds nothing.
        assert!(o.paths.contains_key("/srv/data/y"));
        assert!(!o.paths.contains_key("/usr/lib/libc.so.6"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
