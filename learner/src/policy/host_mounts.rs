//! A service that mounts in the host's mount namespace mounts for every process of the host:
//! dockerd mounts each container's root file system under /var/lib/docker, and containerd's
//! runc, in another unit, enters it. Every file-system directive gives the service a mount
//! namespace of its own (systemd's `exec_needs_mount_namespace()`), made a slave of the
//! host's: the service's mounts then stay in it, and runc finds the directory empty.
//! `MountFlags=shared` does not send them back once another directive made the namespace
//! (systemd turns its root into a slave first). Such a service keeps the host's namespace.

use crate::{
    model::profile::Profile,
    policy::{Decision, listing, unit_file::Assignment, verify::Deployed},
};

/// Directives that give a mount namespace when set to anything but their default, and whose
/// decisions the policy then leaves unset. `*Directory` directives are the policy's only
/// because /var stays read-only under `ProtectSystem=`; without it they are not needed.
pub const GIVE_MOUNT_NAMESPACE: &[&str] = &[
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateMounts",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectProc",
    "ProcSubset",
    "PrivateIPC",
    "PrivatePIDs",
    "DynamicUser",
    "MountFlags",
    "RootImage",
    "LogNamespace",
];

/// List directives that give a mount namespace when they list anything.
pub const LISTS_GIVING_MOUNT_NAMESPACE: &[&str] = &[
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "MountImages",
    "ExtensionImages",
    "ExtensionDirectories",
];

/// The mounts the service made in the host's mount namespace, as `made mount of overlay by
/// dockerd (45x)`; None when it made none or the profile does not record them.
pub fn reaching_host(p: &Profile) -> Option<String> {
    listing(
        p.observations.facts.host_mounts.as_ref()?,
        "made in the host's mount namespace:",
    )
}

/// Whether `d` is one the policy leaves unset for a service that mounts for the host.
fn gives_namespace(directive: &str) -> bool {
    GIVE_MOUNT_NAMESPACE.contains(&directive)
        || LISTS_GIVING_MOUNT_NAMESPACE.contains(&directive)
        || directive.ends_with("Directory")
        || directive.ends_with("DirectoryMode")
}

/// Leaves unset every decision that would give the service a mount namespace, when it mounted
/// in the host's and its unit (`unit`) does not give it one already (then its mounts never
/// reached the host, and the drop-in changes nothing of that).
pub fn keep_host_namespace(decisions: &mut [Decision], p: &Profile, unit: &[Assignment]) {
    let Some(mounts) = reaching_host(p) else {
        return;
    };
    if Deployed::of(unit).mount_namespace(false).is_some() {
        return;
    }
    let network = decisions
        .iter()
        .any(|d| d.directive == "PrivateNetwork" && !d.lines.is_empty());
    for d in decisions
        .iter_mut()
        .filter(|d| gives_namespace(d.directive))
    {
        if d.lines.is_empty() && d.directive != "PrivateMounts" {
            continue;
        }
        d.lines.clear();
        d.evidence = vec![format!(
            "not set: {mounts}; a mount namespace of its own would keep those mounts from the rest of the host"
        )];
        if d.directive == "PrivateMounts" && network {
            // Newer systemd gives PrivateNetwork= a mount namespace unless this says no.
            d.lines.push("PrivateMounts=no".into());
            d.evidence.push(
                "no: PrivateNetwork=yes would otherwise give it a mount namespace on newer systemd"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::{Fact, Slot};
    use crate::policy::{
        filter_groups::SyscallGroups, margin::Margin, resolve_on, unit_file::service_assignments,
    };

    fn mounting(host_mounts: bool) -> Profile {
        let mut p = Profile {
            syscalls: ["read", "write", "openat", "close", "mount", "exit_group"]
                .map(|s| (s.to_owned(), 1))
                .into(),
            ..Profile::example("svc.service")
        };
        p.observations.facts.host_mounts = Some(Default::default());
        if host_mounts {
            let mount = Slot::Fact(Fact::HostMount, "mount of overlay".into());
            p.observations.add(&mount, 0, "dockerd", 45);
        }
        p
    }

    fn lines(p: &Profile, unit: &str) -> Vec<String> {
        let unit = service_assignments(unit, "x.service");
        let groups = SyscallGroups::for_version(257, None);
        resolve_on(p, &unit, 257, &groups, Margin::Exact)
            .decisions
            .into_iter()
            .flat_map(|d| d.lines)
            .collect()
    }

    #[test]
    fn a_service_mounting_in_the_host_s_namespace_gets_none_of_its_own() {
        let unit = "[Service]\nExecStart=/usr/bin/dockerd\n";
        let kept = lines(&mounting(false), unit);
        assert!(kept.iter().any(|l| l == "ProtectSystem=strict"), "{kept:?}");
        let p = mounting(true);
        let host = lines(&p, unit);
        for l in &host {
            let key = l.split('=').next().unwrap();
            assert!(
                !gives_namespace(key) || l == "PrivateMounts=no",
                "{l} gives a mount namespace: {host:?}"
            );
        }
        assert!(host.iter().any(|l| l.starts_with("SystemCallFilter=")));
        assert!(host.iter().any(|l| l == "NoNewPrivileges=yes"), "{host:?}");
        assert!(host.iter().any(|l| l == "PrivateMounts=no"), "{host:?}");
        // A unit that has a namespace of its own never mounted for the host: unchanged.
        let own = lines(&p, &format!("{unit}PrivateTmp=yes\n"));
        assert!(own.iter().any(|l| l == "ProtectSystem=strict"), "{own:?}");
    }
}
