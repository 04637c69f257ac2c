//! Credentials that belong to no recorded process: overlayfs's copy of its mounter's (a
//! container's or the test guest's overlay root), which the kernel uses for every process it
//! copies files up for. Their checks say nothing of what the service needs; but telling them
//! apart by address alone is unsafe, because a freed struct's address soon comes back as a
//! new process's own (setuid, fork and exec each make new credentials).
//!
//! What is certain: between two changes of its own credentials (exec, set*id, capset, ...) a
//! thread's own credentials are one struct at one address, and the kernel's memory accounting
//! for brk and mmap checks CAP_SYS_ADMIN with exactly those (no filesystem lends credentials
//! there). So each stretch of a thread's checks between two changes has a known own address
//! when it made such a check, and a check in it with another address is not the thread's own.
//! Credentials that are never any stretch's own address are foreign where they were not their
//! own to a check during a path lookup (only a filesystem lends credentials there; there an
//! address once another process's own is a freed struct come back, and counts too), or to checks
//! of two stretches (systemd's executor before an exec and the program after it, two
//! processes), or to one when a check under another uid showed them lent: another process's
//! own could come to a check only through a file it opened (a netlink socket's opener's), and
//! that opener's stretch would have its address as its own. A check with foreign credentials is moved out of the service's
//! needs; checks made while a kernel derives credentials from the caller's (access(), which
//! keeps the caller's capabilities) stay.

use std::collections::{HashMap, HashSet};

/// One capability check of a thread, in the order they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// A check whose credentials are the thread's own (memory accounting).
    Own(u64),
    /// A check to judge: its credentials' address, deduplication key, and whether it came
    /// during a path lookup (see [`PATH_CALLS`]).
    Check { cred: u64, key: u64, path: bool },
    /// The thread's own credentials changed (or may have): a new stretch starts.
    Switch,
}

/// Syscalls whose CAP_SYS_ADMIN check is the kernel's memory accounting, made with the
/// caller's own credentials: mappings, a fork's copy of them, and a page fault that grows
/// the stack (a fault the thread took in user mode: nothing lends credentials there).
/// Writes charge memory too (tmpfs pages) but through overlayfs with its mounter's.
const ACCOUNTING: &[&str] = &[
    "brk",
    "mmap",
    "mmap2",
    "mremap",
    "mprotect",
    "clone",
    "clone3",
    "fork",
    "vfork",
    crate::model::observations::IN_PAGE_FAULT_NAME,
];

/// Syscalls that look a path up: the kernel lends credentials there only as a filesystem's
/// (overlayfs's mounter's, a network filesystem's), never another process's own: those come
/// to a check through a file that process opened (a netlink socket's opener's, on send), not
/// through a lookup. So a check there with credentials not its thread's own is foreign.
const PATH_CALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chown",
    "lchown",
    "fchownat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "truncate",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "mknod",
    "mknodat",
    "getxattr",
    "lgetxattr",
    "setxattr",
    "lsetxattr",
    "listxattr",
    "llistxattr",
    "removexattr",
    "lremovexattr",
    "chdir",
    "statfs",
    "inotify_add_watch",
    // A unix socket's path: bind makes it, connect looks it up.
    "bind",
    "connect",
];

/// Lookups that create nothing: overlayfs does them with its mounter's credentials, a copy
/// it made at mount time and keeps until unmount, never a task's own (creating a file it
/// lends a short-lived copy instead, whose freed address may come back as a process's own).
const PURE_LOOKUPS: &[&str] = &[
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "readlink",
    "readlinkat",
    "chdir",
    "getdents",
    "getdents64",
];

/// Whether credentials seen overriding a process's own during `syscall` can only be a
/// mounter's, which no process's own shares an address with while the mount lives.
pub(super) fn mounters(syscall: &str) -> bool {
    PURE_LOOKUPS.contains(&syscall)
}

/// Syscalls that check with credentials derived from the caller's (capabilities included).
const DERIVED: &[&str] = &["access", "faccessat", "faccessat2"];

/// What a capability check during `during` tells about its thread's credentials.
pub(super) fn mark(cap: u32, during: &str, overridden: bool, cred: u64, key: u64) -> Option<Mark> {
    const CAP_SYS_ADMIN: u32 = 21;
    if crate::model::credentials::switches_credentials(during) {
        return Some(Mark::Switch);
    }
    if cred == 0 || overridden {
        return None;
    }
    if cap == CAP_SYS_ADMIN && ACCOUNTING.contains(&during) {
        return Some(Mark::Own(cred));
    }
    if key == 0 || derived(during) {
        return None;
    }
    Some(Mark::Check {
        cred,
        key,
        path: PATH_CALLS.contains(&during),
    })
}

/// Whether checks during `syscall` run with credentials the kernel derived from the caller's,
/// its capabilities included: never someone else's, whatever their address.
pub(super) fn derived(syscall: &str) -> bool {
    DERIVED.contains(&syscall)
}

impl Mark {
    /// The thread's own address, for an [`Mark::Own`].
    fn own(&self) -> Option<u64> {
        match self {
            Mark::Own(c) => Some(*c),
            _ => None,
        }
    }
}

/// A stretch of a thread's checks between two changes of its credentials: thread, which.
type Stretch = (u32, usize);

/// Where an address was not its thread's own: the stretches, and each check's key, whether it
/// came during a path lookup, and its process.
type NotOwn = (HashSet<Stretch>, Vec<(u64, bool, u32)>);

/// The keys of checks made with foreign credentials, and the keys of checks known to be made
/// with their thread's own (which no other rule may move). `marks`: per thread, its process
/// and its marks in order; `lent`: addresses seen lent (a check under another uid than its
/// process's): not its own to one process is enough for those.
/// `switched`: processes one of whose threads changed its ids since its exec, where no
/// thread borrows (see below).
pub(super) fn judge(
    marks: &HashMap<u32, (u32, Vec<Mark>)>,
    lent: &HashSet<u64>,
    switched: &HashSet<u32>,
) -> (HashSet<u64>, HashSet<u64>) {
    let mut ever_own: HashSet<u64> = HashSet::new();
    // Per process: the addresses that were its threads' own.
    let mut own_in: HashMap<u32, HashSet<u64>> = HashMap::new();
    // Per address, the stretches (thread, which) whose checks used it as not their own,
    // with those keys and whether each came during a path lookup.
    let mut not_own: HashMap<u64, NotOwn> = HashMap::new();
    let mut own_keys = HashSet::new();
    let settled = settled_own(marks);
    for (&pid, (tgid, marks)) in marks {
        // A thread that never changed its credentials and made no accounting check of its
        // own (collectd's writers map no memory themselves) still has the struct it was
        // created with: clone(CLONE_THREAD) shares its creator's, the same address. When
        // every other thread of its process that shows its own settled on one address, that
        // one stands in; an address the thread really had that was ever its process's own
        // is still never judged foreign (below). Not in a process that changed its ids since
        // its exec: after glibc's set*id broadcast each thread has a struct of its own, and a
        // thread whose switch went unseen (its check deduplicated with another thread's)
        // would borrow another's address.
        let borrowed = (pid != *tgid && !marks.contains(&Mark::Switch) && !switched.contains(tgid))
            .then(|| settled.get(tgid).copied().flatten())
            .flatten();
        for (n, stretch) in marks.split(|m| *m == Mark::Switch).enumerate() {
            let mut owns = stretch.iter().filter_map(Mark::own);
            let Some(own) = owns.next() else {
                if let Some(own) = borrowed {
                    judge_stretch(stretch, own, (pid, n), *tgid, &mut own_keys, &mut not_own);
                }
                continue;
            };
            ever_own.insert(own);
            let process = own_in.entry(*tgid).or_default();
            process.insert(own);
            // Two own addresses in one stretch: a change went unseen; judge nothing there.
            let mut unseen_change = false;
            for other in owns {
                ever_own.insert(other);
                process.insert(other);
                unseen_change |= other != own;
            }
            if unseen_change {
                continue;
            }
            judge_stretch(stretch, own, (pid, n), *tgid, &mut own_keys, &mut not_own);
        }
    }
    let foreign = not_own
        .into_iter()
        .flat_map(|(cred, (stretches, keys))| {
            let shown = stretches.len() >= 2 || lent.contains(&cred);
            let once_own = ever_own.contains(&cred);
            let own_in = &own_in;
            keys.into_iter()
                .filter(move |&(_, path, tgid)| {
                    if once_own {
                        // An address once another process's own is a freed struct come back
                        // (overlayfs makes and frees a copy per mkdir): during a path lookup
                        // it can only be lent, unless it was its own process's.
                        path && !own_in.get(&tgid).is_some_and(|o| o.contains(&cred))
                    } else {
                        shown || path
                    }
                })
                .map(|(key, _, _)| key)
        })
        .filter(|k| !own_keys.contains(k))
        .collect();
    (foreign, own_keys)
}

/// Sorts a stretch's checks by whether they used `own`.
fn judge_stretch(
    stretch: &[Mark],
    own: u64,
    at: Stretch,
    tgid: u32,
    own_keys: &mut HashSet<u64>,
    not_own: &mut HashMap<u64, NotOwn>,
) {
    for m in stretch {
        if let Mark::Check { cred, key, path } = *m {
            if cred == own {
                own_keys.insert(key);
            } else {
                let entry = not_own.entry(cred).or_default();
                entry.0.insert(at);
                entry.1.push((key, path, tgid));
            }
        }
    }
}

/// Per process, the one address its threads' own credentials settled on: the own address
/// of the last stretch of every thread that showed its own, when they all agree; None when
/// they do not, or when a thread that changed its credentials showed none after its last
/// change (where it settled is not known). A thread with neither is a borrower, no witness.
fn settled_own(marks: &HashMap<u32, (u32, Vec<Mark>)>) -> HashMap<u32, Option<u64>> {
    let mut settled: HashMap<u32, Option<u64>> = HashMap::new();
    for (tgid, marks) in marks.values() {
        let witness = marks.contains(&Mark::Switch) || marks.iter().any(|m| m.own().is_some());
        let last = match marks
            .split(|m| *m == Mark::Switch)
            .next_back()
            .and_then(|stretch| stretch.iter().find_map(Mark::own))
        {
            Some(last) => last,
            None if witness => {
                settled.insert(*tgid, None);
                continue;
            }
            None => continue,
        };
        settled
            .entry(*tgid)
            .and_modify(|s| {
                if *s != Some(last) {
                    *s = None;
                }
            })
            .or_insert(Some(last));
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge2(
        marks: &HashMap<u32, (u32, Vec<Mark>)>,
        lent: &HashSet<u64>,
    ) -> (HashSet<u64>, HashSet<u64>) {
        judge(marks, lent, &HashSet::new())
    }

    const X: u64 = 0xf00;

    fn thread(tgid: u32, marks: &[Mark]) -> (u32, Vec<Mark>) {
        (tgid, marks.to_vec())
    }

    #[test]
    fn a_mounters_credentials_in_two_processes_are_foreign() {
        // mosquitto's ExecStartPre chown (own 0xa) and its main process (own 0xb): overlayfs
        // copies up with X in both.
        let marks = HashMap::from([
            (
                1,
                thread(
                    1,
                    &[
                        Mark::Own(0xa),
                        Mark::Check {
                            cred: 0xa,
                            key: 1,
                            path: false,
                        },
                        Mark::Check {
                            cred: X,
                            key: 2,
                            path: false,
                        },
                    ],
                ),
            ),
            (
                2,
                thread(
                    2,
                    &[
                        Mark::Check {
                            cred: X,
                            key: 3,
                            path: false,
                        },
                        Mark::Own(0xb),
                        Mark::Switch,
                    ],
                ),
            ),
        ]);
        let (foreign, own) = judge2(&marks, &HashSet::new());
        assert_eq!(foreign, HashSet::from([2, 3]));
        assert_eq!(own, HashSet::from([1]));
    }

    #[test]
    fn a_thread_without_an_accounting_check_has_its_process_s_settled_own() {
        // collectd: the main thread (own 0xa) and a reader show their own; a writer thread
        // never maps memory, and creates files through overlayfs (a fresh copy X, Y per
        // create) and writes with the mounter's Z.
        let check = |cred, key, path| Mark::Check { cred, key, path };
        let writer = [check(X, 1, true), check(0xb0, 2, true), check(0xa, 3, true)];
        let marks = |main_own: u64| {
            HashMap::from([
                (
                    10,
                    thread(10, &[Mark::Own(0x9), Mark::Switch, Mark::Own(main_own)]),
                ),
                (11, thread(10, &[Mark::Own(0xa)])),
                (12, thread(10, &writer)),
            ])
        };
        let (foreign, own) = judge2(&marks(0xa), &HashSet::new());
        assert_eq!(foreign, HashSet::from([1, 2]));
        assert_eq!(own, HashSet::from([3]));
        // The threads showing their own disagree: the writer's own is not known.
        let (foreign, own) = judge2(&marks(0xc), &HashSet::new());
        assert!(foreign.is_empty() && own.is_empty(), "{foreign:?} {own:?}");
        // An address the process once had as its own is never foreign to it.
        let mut m = marks(0xa);
        m.insert(12, thread(10, &[check(0x9, 4, true)]));
        let (foreign, _) = judge2(&m, &HashSet::new());
        assert!(!foreign.contains(&4));
        // A thread that switched its credentials borrows nothing.
        let mut m = marks(0xa);
        m.insert(12, thread(10, &[Mark::Switch, check(X, 5, true)]));
        assert!(judge2(&m, &HashSet::new()).0.is_empty());
        // Nor one in a process that changed its ids since its exec (a set*id broadcast gives
        // each thread a struct of its own; the writer's switch may have gone unseen).
        assert!(
            judge(&marks(0xa), &HashSet::new(), &HashSet::from([10]))
                .0
                .is_empty()
        );
        // Nor where a thread that switched showed no own address after it.
        let mut m = marks(0xa);
        m.insert(13, thread(10, &[Mark::Own(0xa), Mark::Switch]));
        assert!(judge2(&m, &HashSet::new()).0.is_empty());
    }

    #[test]
    fn one_process_or_an_address_once_own_is_not_enough() {
        // Only one process used X, never seen lent: it may be another process's own, lent
        // through a file it opened.
        let one = HashMap::from([(
            1,
            thread(
                1,
                &[
                    Mark::Own(0xa),
                    Mark::Check {
                        cred: X,
                        key: 2,
                        path: false,
                    },
                ],
            ),
        )]);
        assert!(judge2(&one, &HashSet::new()).0.is_empty());
        // Unless X was seen lent (under another uid than its process's) somewhere, or the
        // check came during a path lookup (a filesystem's credentials).
        assert_eq!(judge2(&one, &HashSet::from([X])).0, HashSet::from([2]));
        let lookup = HashMap::from([(
            1,
            thread(
                1,
                &[
                    Mark::Own(0xa),
                    Mark::Check {
                        cred: X,
                        key: 2,
                        path: true,
                    },
                    Mark::Check {
                        cred: X,
                        key: 3,
                        path: false,
                    },
                ],
            ),
        )]);
        assert_eq!(judge2(&lookup, &HashSet::new()).0, HashSet::from([2]));
        // X was a third process's own at some time (a freed struct's address come back).
        let reused = HashMap::from([
            (
                1,
                thread(
                    1,
                    &[
                        Mark::Own(0xa),
                        Mark::Check {
                            cred: X,
                            key: 2,
                            path: false,
                        },
                    ],
                ),
            ),
            (
                2,
                thread(
                    2,
                    &[
                        Mark::Own(0xb),
                        Mark::Check {
                            cred: X,
                            key: 3,
                            path: false,
                        },
                    ],
                ),
            ),
            (
                3,
                thread(
                    3,
                    &[
                        Mark::Own(X),
                        Mark::Check {
                            cred: X,
                            key: 4,
                            path: false,
                        },
                    ],
                ),
            ),
        ]);
        let (foreign, own) = judge2(&reused, &HashSet::new());
        assert!(foreign.is_empty());
        assert_eq!(own, HashSet::from([4]));
    }

    #[test]
    fn a_lookup_with_another_processs_former_address_is_foreign() {
        // nginx's master (own 0xa) makes a directory: overlayfs checks with a copy it made
        // and freed (X), whose address a worker's own credentials later took.
        let lookup = |owner: u32| {
            HashMap::from([
                (
                    1,
                    thread(
                        1,
                        &[
                            Mark::Own(0xa),
                            Mark::Check {
                                cred: X,
                                key: 2,
                                path: true,
                            },
                            Mark::Check {
                                cred: X,
                                key: 3,
                                path: false,
                            },
                        ],
                    ),
                ),
                (2, thread(owner, &[Mark::Own(X)])),
            ])
        };
        // Only the lookup's check moves: elsewhere X may be lent by a file's opener.
        assert_eq!(judge2(&lookup(2), &HashSet::new()).0, HashSet::from([2]));
        // X was the same process's own (another of its threads): a change may have gone
        // unseen, so nothing moves.
        assert!(judge2(&lookup(1), &HashSet::new()).0.is_empty());
    }

    #[test]
    fn a_stretch_without_its_own_address_or_with_two_judges_nothing() {
        let marks = HashMap::from([
            // A check after a switch, before any accounting: its own is unknown.
            (
                1,
                thread(
                    1,
                    &[
                        Mark::Own(0xa),
                        Mark::Switch,
                        Mark::Check {
                            cred: X,
                            key: 2,
                            path: false,
                        },
                    ],
                ),
            ),
            // Two own addresses with no switch seen between: something changed unseen.
            (
                2,
                thread(
                    2,
                    &[
                        Mark::Own(0xb),
                        Mark::Check {
                            cred: X,
                            key: 3,
                            path: false,
                        },
                        Mark::Own(0xc),
                    ],
                ),
            ),
            (
                3,
                thread(
                    3,
                    &[
                        Mark::Own(0xd),
                        Mark::Check {
                            cred: X,
                            key: 4,
                            path: false,
                        },
                    ],
                ),
            ),
        ]);
        assert!(judge2(&marks, &HashSet::new()).0.is_empty());
    }

    #[test]
    fn two_stretches_of_one_process_are_enough() {
        // systemd's executor (own 0xa) before its exec and the program (own 0xb) after it.
        let marks = HashMap::from([(
            1,
            thread(
                1,
                &[
                    Mark::Own(0xa),
                    Mark::Check {
                        cred: X,
                        key: 2,
                        path: false,
                    },
                    Mark::Switch,
                    Mark::Own(0xb),
                    Mark::Check {
                        cred: X,
                        key: 3,
                        path: false,
                    },
                ],
            ),
        )]);
        assert_eq!(judge2(&marks, &HashSet::new()).0, HashSet::from([2, 3]));
        // One stretch alone is not.
        let one = HashMap::from([(
            1,
            thread(
                1,
                &[
                    Mark::Own(0xa),
                    Mark::Check {
                        cred: X,
                        key: 2,
                        path: false,
                    },
                    Mark::Switch,
                ],
            ),
        )]);
        assert!(judge2(&one, &HashSet::new()).0.is_empty());
    }

    #[test]
    fn what_marks_a_check() {
        assert_eq!(mark(21, "mmap", false, 0xa, 7), Some(Mark::Own(0xa)));
        assert_eq!(mark(21, "brk", true, 0xa, 7), None);
        assert_eq!(mark(21, "setuid", false, 0xa, 7), Some(Mark::Switch));
        assert_eq!(mark(21, "execve", false, 0xa, 7), Some(Mark::Switch));
        assert_eq!(mark(1, "faccessat", false, 0xa, 7), None);
        assert_eq!(
            mark(1, "fchownat", false, 0xa, 7),
            Some(Mark::Check {
                cred: 0xa,
                key: 7,
                path: true
            })
        );
        assert_eq!(
            mark(12, "mmap", false, 0xa, 7),
            Some(Mark::Check {
                cred: 0xa,
                key: 7,
                path: false
            })
        );
    }
}
