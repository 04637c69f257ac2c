//! Services that act for the host's users: an FTP, IMAP or SMB server that switches to each
//! user who logs in, and, a step further, a login or job service (sshd, cron, atd) that runs
//! programs of the users' own choosing as them. A recording sees only the users its load
//! used, so what it permits must not stop at them: per-user paths widen to every user's, and a
//! unit that runs users' programs gets no sandbox at all, since every session and job inherits
//! the unit's (its mounts, filter, bounding set, no_new_privs), not only the daemon.
use std::collections::{BTreeMap, BTreeSet};

use super::paths::under;
use crate::model::observations::Access;
use crate::model::profile::Profile;

/// Regular users' uids, as Debian's and RHEL's /etc/login.defs set them (UID_MIN, UID_MAX):
/// system accounts lie below, nobody and DynamicUser= above.
pub const REGULAR_UIDS: std::ops::RangeInclusive<u32> = 1000..=60000;

/// Programs whose run as a user means that user's commands run: shells run whatever a
/// session, a crontab or a queued job says.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "csh", "tcsh", "fish", "busybox",
];

/// Where each user has a place of their own, below a directory shared by all of them: a write
/// in one user's place permits the same in every user's.
const PER_USER_ROOTS: &[&str] = &["/home", "/var/mail", "/var/spool/mail"];

/// The uid of the unit's own User=, by number or by the name the recording noted for it.
fn own_user(p: &Profile) -> Option<u32> {
    let user = p.unit.as_ref()?.settings.get("User")?;
    user.parse().ok().or_else(|| {
        p.observations
            .identity
            .names
            .iter()
            .find_map(|(key, name)| {
                (name == user)
                    .then(|| key.strip_prefix("uid ")?.parse().ok())
                    .flatten()
            })
    })
}

/// The regular users the service itself switched to (a set*id call that succeeded), the
/// unit's own User= aside: systemd sets that before the service runs, and a daemon setting it
/// again (as many drop to their configured user) acts for nobody else.
pub fn switched_to(p: &Profile) -> BTreeSet<u32> {
    let own = own_user(p);
    let mut uids = BTreeSet::new();
    for (key, seen) in &p.observations.identity.switches {
        let mut words = key.split_whitespace();
        let call = words.next().unwrap_or_default();
        if !["setuid", "setreuid", "setresuid"].contains(&call) || seen.ok == 0 {
            continue;
        }
        uids.extend(
            words
                .filter_map(|w| w.parse::<u32>().ok())
                .filter(|u| REGULAR_UIDS.contains(u) && Some(*u) != own),
        );
    }
    uids
}

/// `uid 1001 (alice)`, with the name the recorded system gave it when known.
fn named(p: &Profile, uid: u32) -> String {
    let names = &p.observations.identity.names;
    match names.get(&format!("uid {uid}")) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

/// Why the unit acts for the host's users, if it does: the users it switched to.
pub fn acts_for_users(p: &Profile) -> Option<String> {
    let uids = switched_to(p);
    if uids.is_empty() {
        return None;
    }
    let who: Vec<String> = uids.iter().map(|u| named(p, *u)).collect();
    Some(format!(
        "it switched to the host's users ({})",
        who.join(", ")
    ))
}

/// Why the unit needs every user's home writable wherever it lies, if it does: it acts for
/// users and wrote in one's home (below /home, or anywhere as one of them). A home may be
/// anywhere (`useradd -d /srv/ftp/alice`, a web host's /var/www/site), so no list of paths
/// from a recording covers the users made later.
pub fn writes_in_homes(p: &Profile) -> Option<String> {
    let why = acts_for_users(p)?;
    let in_home = p.observations.paths.iter().find_map(|(path, accesses)| {
        let written = accesses.iter().any(|(a, s)| a.writes() && s.ok > 0);
        (written && per_user_root(path) == Some("/home")).then(|| format!("{path} in one's home"))
    });
    // A recorded user homed elsewhere (/srv/ftp/alice): a write made as that user, outside
    // the places every process has of its own.
    let users = switched_to(p);
    let as_user = || {
        p.observations
            .identity
            .user_writes
            .iter()
            .find_map(|(key, seen)| {
                let (uid, path) = key.split_once(' ')?;
                let scratch = ["/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run"]
                    .iter()
                    .any(|d| under(path, d));
                // Mail spools are every user's already (see per_user_root).
                let spool = PER_USER_ROOTS
                    .iter()
                    .any(|r| *r != "/home" && under(path, r));
                (seen.ok > 0 && !scratch && !spool && users.contains(&uid.parse().ok()?))
                    .then(|| format!("{path} as one of them"))
            })
    };
    let example = in_home.or_else(as_user)?;
    Some(format!("{why}, and wrote {example}"))
}

/// Why the unit runs programs of its users' choosing, if it does: a shell ran as a regular
/// user it switched to (a login's, a crontab's, a queued job's), or it opened login sessions.
pub fn runs_users_programs(p: &Profile) -> Option<String> {
    users_shell(p).or_else(|| opens_login_sessions(p))
}

/// Whether `path` is a process's audit login uid, which pam_loginuid writes when a login
/// session opens (Debian's sshd, cron and atd PAM stacks have it; its FTP, IMAP and SMB
/// servers' do not, though some distributions' vsftpd has it: such a unit is then refused,
/// looser, never tighter). The collector names another process's /proc entry `[pid]`.
fn is_loginuid(path: &str) -> bool {
    path.strip_prefix("/proc/")
        .and_then(|rest| rest.strip_suffix("/loginuid"))
        .is_some_and(|pid| matches!(pid, "self" | "thread-self" | "[pid]"))
}

/// The login sessions the service opened, whoever they were for: root's too. A recording with
/// root's logins or root's crontab only shows no switch to a user, yet every later user's
/// session and job runs in the unit's sandbox all the same. A write that failed counts: PAM
/// goes on without the login uid where it may not set it (in a container).
fn opens_login_sessions(p: &Profile) -> Option<String> {
    let (path, seen) = p.observations.paths.iter().find_map(|(path, accesses)| {
        is_loginuid(path)
            .then(|| accesses.get(&Access::Write))
            .flatten()
            .map(|seen| (path, seen))
    })?;
    let by: Vec<&str> = seen.by.iter().collect();
    Some(format!(
        "{} wrote {path}, as PAM does when a login session opens: it runs its users' own programs (a login's session, a crontab's or a queued job's, root's too), and each inherits the unit's sandbox",
        by.join(", ")
    ))
}

/// Where a package keeps the programs its daemons run, not users: /usr/libexec/NAME and
/// /usr/lib/NAME.
const HELPER_DIRS: &[&str] = &["/usr/libexec", "/usr/lib"];

/// The kernel's comm for a program: its file name, cut to 15 bytes.
fn comm_of(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path).as_bytes();
    String::from_utf8_lossy(&name[..name.len().min(15)]).into_owned()
}

/// The comms of what shells exec'd, when every program a shell tried to exec was a helper of
/// the unit's own package (in /usr/libexec/NAME or /usr/lib/NAME, NAME the unit's name):
/// OpenSMTPD (opensmtpd.service) delivers each mail through `sh -c` running
/// /usr/libexec/opensmtpd/mail.maildir as the recipient, a command of root's smtpd.conf.
/// None when a shell exec'd anything else: a crontab's `touch`, a login's programs, and
/// another package's helper (sshd runs /usr/lib/openssh/sftp-server through the user's shell,
/// a session of the user's own). An exec records its caller's comm, not its uid: a root
/// shell's exec (an ExecStartPre's) counts too, which can only refuse more.
fn shells_ran_only_own_helpers(p: &Profile) -> Option<BTreeSet<String>> {
    let unit = p.provenance.unit.as_deref()?;
    let name = unit.strip_suffix(".service").unwrap_or(unit);
    let name = name.split('@').next().unwrap_or(name);
    let mut helpers = BTreeSet::new();
    for (path, accesses) in &p.observations.paths {
        let Some(seen) = accesses.get(&Access::Exec) else {
            continue;
        };
        if !seen.by.iter().any(|c| SHELLS.contains(&c)) {
            continue;
        }
        let own = HELPER_DIRS
            .iter()
            .any(|d| under(path, &format!("{d}/{name}")));
        if !own {
            return None;
        }
        if seen.ok > 0 {
            helpers.insert(comm_of(path));
        }
    }
    Some(helpers)
}

/// Users by uid, with the programs that ran as each.
type ShellsAsUsers<'a> = (
    BTreeMap<u32, BTreeSet<&'a str>>,
    BTreeMap<u32, BTreeSet<&'a str>>,
);

/// The regular users it switched to that then ran a shell, with what ran as each (under any
/// of their groups): first those whose shells ran users' programs, then those whose shells ran
/// only the unit's own helpers (nothing else ran as that user but what the service runs as
/// root too, and a helper did run: a shell seen running nothing may be a login's).
fn shells_as_users(p: &Profile) -> ShellsAsUsers<'_> {
    let uids = switched_to(p);
    let mut ran: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
    let mut as_root: BTreeSet<&str> = BTreeSet::new();
    for (key, seen) in &p.observations.identity.credentials {
        let Some(uid) = key.split_once(':').and_then(|(u, _)| u.parse::<u32>().ok()) else {
            continue;
        };
        if uid == 0 {
            as_root.extend(seen.by.iter());
        }
        if uids.contains(&uid) {
            ran.entry(uid).or_default().extend(seen.by.iter());
        }
    }
    ran.retain(|_, programs| programs.iter().any(|c| SHELLS.contains(c)));
    let Some(helpers) = shells_ran_only_own_helpers(p) else {
        return (ran, BTreeMap::new());
    };
    ran.into_iter().partition(|(_, programs)| {
        !(programs.iter().any(|c| helpers.contains(*c))
            && programs
                .iter()
                .all(|c| SHELLS.contains(c) || as_root.contains(c) || helpers.contains(*c)))
    })
}

/// The first regular user it switched to whose shell ran that user's own programs.
fn users_shell(p: &Profile) -> Option<String> {
    let (users, _) = shells_as_users(p);
    let (uid, programs) = users.iter().next()?;
    let programs: Vec<&str> = programs.iter().copied().collect();
    Some(format!(
        "{} ran {} after the service switched to it: it runs its users' own programs (a login's session, a crontab's or a queued job's), and each inherits the unit's sandbox",
        named(p, *uid),
        programs.join(", ")
    ))
}

/// Why a drop-in for the unit also confines a command a user may name, if it does: its shells
/// ran as users only its own helpers here, but the same `sh -c` as the recipient is how a
/// mail server runs a user's `.forward` pipe (procmail, a filter): that runs in the sandbox
/// too, with only the paths, calls and privileges this recording saw (NoNewPrivileges= ends
/// a set-gid procmail's group).
pub fn runs_commands_as_users(p: &Profile) -> Option<String> {
    let (_, helpers) = shells_as_users(p);
    let (uid, programs) = helpers.iter().next()?;
    let programs: Vec<&str> = programs.iter().copied().collect();
    let more = match helpers.len() {
        1 => String::new(),
        n => format!(" (and {} more users)", n - 1),
    };
    Some(format!(
        "{}{more} ran {} after the service switched to it (the unit's own helpers, through a shell): a command a user names there instead (a mail server's .forward pipe) would run in this sandbox too, with only the paths, calls and privileges this recording saw",
        named(p, *uid),
        programs.join(", ")
    ))
}

/// The directory every user's place shares, when `path` lies in one user's place (below
/// `/home/alice`, or `/var/mail/alice` itself).
pub fn per_user_root(path: &str) -> Option<&'static str> {
    PER_USER_ROOTS.iter().copied().find(|root| {
        path.strip_prefix(root)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::Seen;

    fn seen(by: &[&str]) -> Seen {
        let mut s = Seen::default();
        for comm in by {
            s.add(0, comm, 1);
        }
        s
    }

    fn profile(switches: &[&str], credentials: &[(&str, &[&str])]) -> Profile {
        let mut p = Profile::example("svc.service");
        let identity = &mut p.observations.identity;
        for key in switches {
            identity.switches.insert((*key).into(), seen(&["daemon"]));
        }
        for (key, by) in credentials {
            identity.credentials.insert((*key).into(), seen(by));
        }
        identity.names.insert("uid 1001".into(), "alice".into());
        p
    }

    #[test]
    fn a_login_service_running_a_users_shell_runs_users_programs() {
        let p = profile(
            &["setresuid 1001 1001 1001", "setgroups 1"],
            &[("0:0", &["sshd"]), ("1001:1001", &["sshd", "sh", "cat"])],
        );
        let why = runs_users_programs(&p).expect("a session");
        assert!(
            why.starts_with("uid 1001 (alice) ran cat, sh, sshd"),
            "{why}"
        );
        assert!(acts_for_users(&p).is_some());
    }

    /// A unit's profile, a shell exec'd and the programs shells exec'd, each (path, ok).
    fn delivering(unit: &str, uid_ran: &[(&str, &[&str])], shell_ran: &[(&str, bool)]) -> Profile {
        let mut p = profile(&["setresuid 1001 1001 1001", "setgroups 1"], uid_ran);
        p.provenance.unit = Some(unit.into());
        let mut exec = |path: &str, by: &str, ok: bool| {
            p.observations
                .paths
                .entry(path.into())
                .or_default()
                .entry_or_default(Access::Exec)
                .add(if ok { 0 } else { -2 }, by, 1);
        };
        exec("/usr/bin/dash", "smtpd", true);
        for (path, ok) in shell_ran {
            exec(path, "sh", *ok);
        }
        p
    }

    #[test]
    fn a_shell_running_only_the_units_own_helper_as_a_user_is_not_that_users_program() {
        // OpenSMTPD: smtpd forks, switches to the recipient, and `sh -c` runs mail.maildir.
        let smtpd: &[(&str, &[&str])] = &[
            ("0:0", &["smtpd"]),
            ("1001:1001", &["smtpd", "sh", "mail.maildir"]),
        ];
        let maildir = "/usr/libexec/opensmtpd/mail.maildir";
        let p = delivering("opensmtpd.service", smtpd, &[(maildir, true)]);
        assert_eq!(runs_users_programs(&p), None);
        assert!(acts_for_users(&p).is_some());
        let why = runs_commands_as_users(&p).expect("a mail server's shell");
        assert!(
            why.starts_with("uid 1001 (alice) ran mail.maildir, sh, smtpd after"),
            "{why}"
        );
        // A shell that also ran something from the user's PATH: a crontab's or a .forward's.
        let p = delivering(
            "opensmtpd.service",
            smtpd,
            &[(maildir, true), ("/usr/bin/procmail", true)],
        );
        let why = runs_users_programs(&p).expect("a user's program");
        assert!(why.starts_with("uid 1001 (alice) ran"), "{why}");
        assert_eq!(runs_commands_as_users(&p), None);
        // Even one that failed: the shell was told to run it.
        let p = delivering(
            "opensmtpd.service",
            smtpd,
            &[(maildir, true), ("/usr/bin/procmail", false)],
        );
        assert!(runs_users_programs(&p).is_some());
        // Another package's helper through the user's shell: sshd's sftp-server, a session
        // of the user's own (no PAM, so no login uid written).
        let sshd: &[(&str, &[&str])] = &[
            ("0:0", &["sshd"]),
            ("1001:1001", &["sshd", "sh", "sftp-server"]),
        ];
        let sftp = "/usr/lib/openssh/sftp-server";
        assert!(runs_users_programs(&delivering("ssh.service", sshd, &[(sftp, true)])).is_some());
        // A program run as the user that the service never runs as root (touch), under any
        // of the user's groups: the user's, whatever else the shell ran.
        for ran in [
            &[
                ("0:0", &["smtpd"][..]),
                ("1001:1001", &["smtpd", "sh", "mail.maildir", "touch"][..]),
            ][..],
            &[
                ("0:0", &["smtpd"][..]),
                ("1001:1001", &["smtpd", "sh", "mail.maildir"][..]),
                ("1001:1", &["touch"][..]),
            ][..],
        ] {
            let p = delivering("opensmtpd.service", ran, &[(maildir, true)]);
            assert!(runs_users_programs(&p).is_some(), "{ran:?}");
        }
        // A shell as the user seen running no helper (a job's builtins), or a helper seen
        // only failing: still a user's shell.
        let p = delivering(
            "opensmtpd.service",
            &[("1001:1001", &["smtpd", "sh"])],
            &[(maildir, true)],
        );
        assert!(runs_users_programs(&p).is_some());
        let p = delivering("opensmtpd.service", smtpd, &[(maildir, false)]);
        assert!(runs_users_programs(&p).is_some());
        // A helper's comm is its name cut to 15 bytes, as the kernel keeps it.
        let long = "/usr/libexec/opensmtpd/mail.maildir-helper";
        let ran: &[(&str, &[&str])] = &[
            ("0:0", &["smtpd"]),
            ("1001:1001", &["smtpd", "sh", "mail.maildir-he"]),
        ];
        assert_eq!(
            runs_users_programs(&delivering("opensmtpd.service", ran, &[(long, true)])),
            None
        );
    }

    #[test]
    fn a_user_homed_outside_home_written_as_them_needs_every_home_writable() {
        let mut p = profile(&["setreuid -1 1001"], &[("1001:1001", &["vsftpd"])]);
        assert_eq!(writes_in_homes(&p), None);
        let mut wrote = Seen::default();
        wrote.add(0, "vsftpd", 1);
        let writes = &mut p.observations.identity.user_writes;
        // Its scratch space is nobody's home.
        writes.insert("1001 /tmp/upload.part".into(), wrote.clone());
        assert_eq!(writes_in_homes(&p), None);
        p.observations
            .identity
            .user_writes
            .insert("1001 /srv/ftp/alice/up.txt".into(), wrote.clone());
        let why = writes_in_homes(&p).expect("a home elsewhere");
        assert!(
            why.ends_with("and wrote /srv/ftp/alice/up.txt as one of them"),
            "{why}"
        );
        // Written as a system account (its own), it is the service's place, not a user's.
        let mut own = profile(&["setreuid -1 1001"], &[]);
        own.observations
            .identity
            .user_writes
            .insert("113 /var/lib/svc/x".into(), wrote);
        assert_eq!(writes_in_homes(&own), None);
    }

    #[test]
    fn a_file_server_switching_to_users_acts_for_them_but_runs_none_of_their_programs() {
        let p = profile(
            &["setreuid -1 1001"],
            &[("1001:1001", &["vsftpd"]), ("0:0", &["vsftpd", "sh"])],
        );
        assert_eq!(runs_users_programs(&p), None);
        assert_eq!(
            acts_for_users(&p).as_deref(),
            Some("it switched to the host's users (uid 1001 (alice))")
        );
    }

    #[test]
    fn a_service_user_set_by_the_unit_or_a_system_account_is_not_a_user_it_acts_for() {
        // User= of a regular account: systemd switched, the service did not.
        let by_unit = profile(&[], &[("1001:1001", &["sh", "app"])]);
        assert_eq!(runs_users_programs(&by_unit), None);
        assert_eq!(acts_for_users(&by_unit), None);
        // A daemon dropping root for its own system account, or a failed switch.
        let mut own = profile(&["setuid 113", "setresuid 65534 65534 65534"], &[]);
        let mut failed = Seen::default();
        failed.add(-1, "daemon", 1);
        own.observations
            .identity
            .switches
            .insert("setuid 1001".into(), failed);
        assert!(switched_to(&own).is_empty());
        // A daemon setting its own User= (a regular account here) again, and running a shell.
        let mut app = profile(&["setuid 1001"], &[("1001:1001", &["sh", "app"])]);
        app.unit = Some(crate::model::unit::UnitRecord {
            settings: [("User".to_owned(), "alice".to_owned())].into(),
            ..Default::default()
        });
        assert_eq!(runs_users_programs(&app), None);
        assert_eq!(acts_for_users(&app), None);
        app.unit
            .as_mut()
            .unwrap()
            .settings
            .insert("User".into(), "1001".into());
        assert_eq!(acts_for_users(&app), None);
    }

    #[test]
    fn a_service_opening_login_sessions_runs_users_programs_even_as_root_only() {
        // cron recorded with root's crontab only: no switch, yet pam_loginuid ran.
        let mut p = profile(&[], &[("0:0", &["cron", "sh"])]);
        assert_eq!(runs_users_programs(&p), None);
        let mut failed = Seen::default();
        failed.add(-1, "cron", 1);
        *p.observations
            .paths
            .entry("/proc/self/loginuid".into())
            .or_default()
            .entry_or_default(Access::Write) = failed;
        let why = runs_users_programs(&p).expect("a login session");
        assert!(why.starts_with("cron wrote /proc/self/loginuid,"), "{why}");
        // Reading it (a Ruby getlogin) opens no session.
        let mut reader = profile(&[], &[]);
        reader
            .observations
            .paths
            .entry("/proc/self/loginuid".into())
            .or_default()
            .entry_or_default(Access::Read)
            .add(0, "ruby", 1);
        assert_eq!(runs_users_programs(&reader), None);
        assert!(is_loginuid("/proc/[pid]/loginuid"));
        for not_it in ["/proc/self/uid_map", "/proc/x1/loginuid", "/proc/loginuid"] {
            assert!(!is_loginuid(not_it), "{not_it}");
        }
    }

    #[test]
    fn one_users_place_stands_for_every_users() {
        assert_eq!(per_user_root("/home/alice/ftp/up.txt"), Some("/home"));
        assert_eq!(per_user_root("/home/alice"), Some("/home"));
        assert_eq!(per_user_root("/var/mail/alice"), Some("/var/mail"));
        assert_eq!(
            per_user_root("/var/spool/mail/alice"),
            Some("/var/spool/mail")
        );
        for not_one in ["/home", "/home/", "/var/mail", "/homer/x", "/var/lib/x"] {
            assert_eq!(per_user_root(not_one), None, "{not_one}");
        }
    }
}
