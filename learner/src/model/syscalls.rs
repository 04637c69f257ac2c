//! Syscall names by number, per architecture.
//!
//! Profiles store names, never numbers: numbers differ between architectures, names are what
//! systemd's `SystemCallFilter=` takes.

mod aarch64;
mod x86_64;

/// A syscall ABI learner has a table for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The ABI of the machine learner runs on, if it has a table for it.
    pub fn native() -> Option<Self> {
        Self::from_name(std::env::consts::ARCH)
    }

    /// The architecture as `uname -m` and profiles spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Aarch64),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    fn table(self) -> &'static [(u32, &'static str)] {
        match self {
            Self::X86_64 => x86_64::TABLE,
            Self::Aarch64 => aarch64::TABLE,
        }
    }

    /// The name of syscall `nr`, or `None` when the table does not know it.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        let table = self.table();
        table
            .binary_search_by_key(&nr, |&(n, _)| n)
            .ok()
            .map(|i| table[i].1)
    }

    /// Every syscall name the table knows.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|&(_, n)| n)
    }

    /// The number of the syscall called `name`.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        self.table()
            .iter()
            .find(|&&(_, n)| n == name)
            .map(|&(nr, _)| nr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let table = arch.table();
            assert!(
                table.windows(2).all(|w| w[0].0 < w[1].0),
                "{} table out of order",
                arch.name()
            );
            let mut names: Vec<_> = table.iter().map(|&(_, n)| n).collect();
            names.sort_unstable();
            let len = names.len();
            names.dedup();
            assert_eq!(len, names.len(), "{} has duplicate names", arch.name());
        }
    }

    #[test]
    fn known_numbers() {
        // Spot checks against the kernel's syscall_64.tbl and asm-generic/unistd.h.
        assert_eq!(Arch::X86_64.syscall_name(0), Some("read"));
        assert_eq!(Arch::X86_64.syscall_name(59), Some("execve"));
        assert_eq!(Arch::X86_64.syscall_name(257), Some("openat"));
        assert_eq!(Arch::X86_64.syscall_name(435), Some("clone3"));
        assert_eq!(Arch::X86_64.syscall_name(462), Some("mseal"));
        assert_eq!(Arch::Aarch64.syscall_name(56), Some("openat"));
        assert_eq!(Arch::Aarch64.syscall_name(221), Some("execve"));
        assert_eq!(Arch::Aarch64.syscall_name(79), Some("newfstatat"));
        assert_eq!(Arch::Aarch64.syscall_name(2), Some("io_submit"));
        assert_eq!(
            Arch::Aarch64.syscall_number("open"),
            None,
            "aarch64 has no open()"
        );
        assert_eq!(Arch::X86_64.syscall_number("openat"), Some(257));
    }

    #[test]
    fn native_table_matches_libc() {
        // libc's constants come from the C headers of the build machine: an independent source.
        let Some(arch) = Arch::native() else { return };
        for (nr, name) in [
            (libc::SYS_read, "read"),
            (libc::SYS_openat, "openat"),
            (libc::SYS_getpriority, "getpriority"),
            (libc::SYS_sysinfo, "sysinfo"),
            (libc::SYS_fchdir, "fchdir"),
            (libc::SYS_clone3, "clone3"),
            (libc::SYS_close_range, "close_range"),
        ] {
            assert_eq!(arch.syscall_name(nr as u32), Some(name), "nr {nr}");
        }
    }
}
