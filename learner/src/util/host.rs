//! Facts about the machine a recording runs on, for a profile's provenance.
use std::{ffi::CStr, process::Command};

/// The kernel's release string (`uname -r`).
pub fn kernel_release() -> String {
    uname_field(|u| &u.release)
}

/// The machine's hostname (`uname -n`).
pub fn hostname() -> String {
    uname_field(|u| &u.nodename)
}

fn uname_field(field: fn(&libc::utsname) -> &[libc::c_char; 65]) -> String {
    // SAFETY: utsname is plain data; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::from("unknown");
    }
    // SAFETY: uname NUL-terminates every field.
    unsafe { CStr::from_ptr(field(&u).as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The installed systemd's version, from `systemctl --version`, when there is one.
pub fn systemd_version() -> Option<u32> {
    let out = Command::new("systemctl").arg("--version").output().ok()?;
    parse_systemd_version(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the first line of `systemctl --version`: `systemd 252 (252.39-1~deb12u1)`.
pub fn parse_systemd_version(text: &str) -> Option<u32> {
    let mut words = text.lines().next()?.split_whitespace();
    (words.next()? == "systemd").then_some(())?;
    let version = words.next()?;
    // Some distributions print `systemd 239 (239-78.el8)`, others `systemd 257.1`.
    version.split('.').next()?.parse().ok()
}

/// Whether the kernel was built with module support: /proc/modules exists exactly then.
pub fn module_support() -> bool {
    std::path::Path::new("/proc/modules").exists()
}

/// Whether learner runs with root's effective uid.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_versions() {
        assert_eq!(
            parse_systemd_version("systemd 252 (252.39-1~deb12u1)\n+PAM +AUDIT"),
            Some(252)
        );
        assert_eq!(parse_systemd_version("systemd 239 (239-78.el8)"), Some(239));
        assert_eq!(parse_systemd_version("systemd 257.1"), Some(257));
        assert_eq!(parse_systemd_version("bash: systemctl: not found"), None);
        assert_eq!(parse_systemd_version(""), None);
    }

    #[test]
    fn uname_is_filled() {
        assert!(!kernel_release().is_empty());
        assert_ne!(kernel_release(), "unknown");
    }
}
