//! Man pages and shell completions, generated from the command line's own definition so they
//! never drift from it (`learner docs DIR`, run by `cargo xtask package`).
use std::{io, path::Path};

use clap_complete::Shell;

/// Examples and exit statuses of one subcommand: its `--help` ends with them, and its man
/// page has them as EXAMPLES and EXIT STATUS, from this one table.
pub struct Page {
    pub command: &'static str,
    /// (what it does, the command line)
    pub examples: &'static [(&'static str, &'static str)],
    /// (status, when)
    pub exit: &'static [(&'static str, &'static str)],
}

const BAD_USAGE: (&str, &str) = ("2", "a bad command line (one line on stderr)");

pub const PAGES: &[Page] = &[
    Page {
        command: "record",
        examples: &[
            (
                "nginx from its start-up on, for ten minutes, restarts and reloads included",
                "sudo learner record nginx.service --restart --for 10m",
            ),
            (
                "in staging, through its whole life: restart, reload, crash, log rotation",
                "sudo learner record postgresql@15-main.service --restart --for 10m --exercise all",
            ),
            (
                "a unit not running yet, from its next start (a timer's run, a fresh host's first start)",
                "sudo learner record certbot.service --wait --for 1m",
            ),
            (
                "every service of the host at once, each restarted under the recorder, a profile per unit",
                "sudo learner record --all --restart --for 1h -o host/",
            ),
        ],
        exit: &[
            (
                "0",
                "the profile was written (with --all: every unit recorded got one)",
            ),
            (
                "1",
                "no profile: the unit is not running (without --restart or --wait), never came up or never started, an event could not be driven, or the recording is broken or incomplete (lost events, missed observations); what was seen is kept as NAME.partial.yaml (with --all: a unit got none, its line says why)",
            ),
            (
                "2",
                "with --all: the recording itself failed (one line on stderr); or a bad command line",
            ),
        ],
    },
    Page {
        command: "generate",
        examples: &[
            (
                "the drop-in, each directive with its evidence",
                "learner generate nginx.service.profile.yaml --explain -o hardening.conf",
            ),
            (
                "for the systemd the drop-in is deployed on, from several recordings",
                "learner generate a.profile.yaml b.profile.yaml --target-systemd 247 -o hardening.conf",
            ),
        ],
        exit: &[
            ("0", "the drop-in was written"),
            ("1", "a profile cannot be read, or nothing can be written"),
            BAD_USAGE,
        ],
    },
    Page {
        command: "apply",
        examples: &[
            (
                "install, restart, check; roll back when it does not work",
                "sudo learner apply nginx.service hardening.conf --check 'curl -fsS http://127.0.0.1/'",
            ),
            (
                "in staging: through restart, reload, crash and log rotation, the check after each",
                "sudo learner apply nginx.service hardening.conf --check 'curl -fsS http://127.0.0.1/' --exercise all",
            ),
        ],
        exit: &[
            ("0", "the drop-in is installed and the unit works under it"),
            (
                "1",
                "the unit failed under it (or apply could not run): rolled back, the unit as it was",
            ),
            (
                "2",
                "a bad check: it fails without the drop-in too; or a bad command line",
            ),
        ],
    },
    Page {
        command: "verify",
        examples: &[
            (
                "a hand-written drop-in against what the service did",
                "learner verify /etc/systemd/system/nginx.service.d/hardening.conf nginx.service.profile.yaml",
            ),
            (
                "on top of the unit's own settings, for the systemd it lands on",
                "learner verify hardening.conf nginx.service.profile.yaml --unit nginx.service --target-systemd 252",
            ),
        ],
        exit: &[
            ("0", "everything the profiles observed is permitted"),
            (
                "1",
                "a gap (one line each, with its fix), or a setting the recordings could not see the evidence for",
            ),
            ("2", "trouble: an unreadable file, a bad command line"),
        ],
    },
    Page {
        command: "diff",
        examples: &[
            (
                "after an app update, in CI: fail when the new recording needs more",
                "learner diff v1.profile.yaml v2.profile.yaml --fail-on looser",
            ),
            (
                "every difference, as JSON",
                "learner diff v1.profile.yaml v2.profile.yaml --format json",
            ),
        ],
        exit: &[
            ("0", "the same (with --fail-on looser: nothing looser)"),
            ("1", "different"),
            ("2", "trouble"),
        ],
    },
    Page {
        command: "merge",
        examples: &[(
            "two recordings into one profile (the union)",
            "learner merge monday.profile.yaml tuesday.profile.yaml -o nginx.profile.yaml",
        )],
        exit: &[
            ("0", "merged"),
            ("1", "a profile cannot be read, or the output written"),
            BAD_USAGE,
        ],
    },
    Page {
        command: "score",
        examples: &[
            (
                "the unit's exposure, and with the drop-in",
                "sudo learner score nginx.service --dropin hardening.conf",
            ),
            (
                "a CI gate",
                "sudo learner score nginx.service --dropin hardening.conf --threshold 3",
            ),
        ],
        exit: &[
            ("0", "scored (at or below --threshold)"),
            ("1", "above --threshold"),
            ("2", "trouble: an unknown unit, no systemd-analyze"),
        ],
    },
    Page {
        command: "check",
        examples: &[(
            "what the unit's sandbox denies, with the fix for each",
            "sudo learner check nginx.service --restart --for 1m",
        )],
        exit: &[
            ("0", "nothing was denied"),
            ("1", "something was (one line each, with its fix)"),
            ("2", "trouble"),
        ],
    },
    Page {
        command: "watch",
        examples: &[(
            "a day of production traffic judged against a candidate drop-in, nothing enforced",
            "sudo learner watch nginx.service --dropin nginx.conf --for 24h --state /var/lib/learner/nginx.watch",
        )],
        exit: &[
            ("0", "nothing would have been denied, and no event was lost"),
            (
                "1",
                "something would have been denied (one line each, with its fix), or events were lost",
            ),
            ("2", "trouble"),
        ],
    },
    Page {
        command: "harden",
        examples: &[
            (
                "drop-ins for every unit recorded into a directory, scored, nothing applied",
                "sudo learner harden profiles/",
            ),
            (
                "each applied in turn through its life, with the checks in checks/UNIT",
                "sudo learner harden profiles/ --apply --exercise all --check-dir checks/",
            ),
        ],
        exit: &[
            (
                "0",
                "no unit was rolled back (skipped ones are in the report)",
            ),
            (
                "1",
                "a unit's drop-in failed and was rolled back, or harden was interrupted",
            ),
            (
                "2",
                "trouble: no profile in the directory, not root with --apply",
            ),
        ],
    },
    Page {
        command: "run",
        examples: &[
            (
                "a command and everything it starts, into a profile",
                "sudo learner run -o backup.profile.yaml -- /usr/local/bin/backup.sh",
            ),
            (
                "a server for ten minutes under a test load, then stopped (SIGTERM), with progress on stderr",
                "sudo learner run --for 10m -o web.profile.yaml -- python3 -m http.server 8080",
            ),
        ],
        exit: &[
            (
                "N",
                "the command's exit code (128+N when signal N ended it)",
            ),
            (
                "125",
                "learner itself failed, or the recording is incomplete (kept as NAME.partial.yaml)",
            ),
            ("126", "the command cannot be executed"),
            ("127", "the command does not exist"),
        ],
    },
];

/// The `--help` text after the options: the page's examples and exit statuses.
pub fn after_help(page: &Page) -> String {
    let mut out = String::from("Examples:\n");
    for (what, line) in page.examples {
        out.push_str(&format!("  # {what}\n  {line}\n"));
    }
    out.push_str("\nExit status:\n");
    for (status, when) in page.exit {
        out.push_str(&format!("  {status:>3}  {when}\n"));
    }
    out
}

/// `cmd` with each subcommand's examples and exit statuses at the end of its `--help`.
pub fn with_examples(mut cmd: clap::Command) -> clap::Command {
    for page in PAGES {
        cmd = cmd.mut_subcommand(page.command, |sub| sub.after_long_help(after_help(page)));
    }
    cmd
}

fn roff_escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    // A line starting with . or ' would be a request.
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// The EXAMPLES and EXIT STATUS sections of a man page.
fn roff_sections(page: &Page) -> String {
    let mut out = String::from(".SH EXAMPLES\n");
    for (what, line) in page.examples {
        out.push_str(&format!(
            ".PP\n{}:\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
            roff_escape(what),
            roff_escape(line)
        ));
    }
    out.push_str(".SH \"EXIT STATUS\"\n");
    for (status, when) in page.exit {
        out.push_str(&format!(".TP\n\\fB{status}\\fR\n{}\n", roff_escape(when)));
    }
    out
}

/// A man page: clap_mangen's sections, with EXAMPLES and EXIT STATUS before VERSION.
fn man_page(cmd: clap::Command, page: Option<&Page>) -> io::Result<Vec<u8>> {
    let has_args = cmd.get_arguments().any(|a| !is_builtin(a));
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = cmd.get_version().is_some() || cmd.get_long_version().is_some();
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if has_args {
        man.render_options_section(&mut out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(&mut out)?;
    }
    if let Some(page) = page {
        out.extend_from_slice(roff_sections(page).as_bytes());
    }
    if has_version {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// Writes `DIR/man/learner.1` and one page per subcommand (`learner-record.1`, ...), and
/// `DIR/completions/` for bash (`learner.bash`), zsh (`_learner`) and fish (`learner.fish`).
/// Hidden subcommands (this one) are left out of both.
pub fn write(cmd: &clap::Command, dir: &Path) -> io::Result<()> {
    let cmd = visible(cmd);
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    let mut built = cmd.clone().disable_help_subcommand(true);
    built.build();
    for sub in built.get_subcommands().filter(|s| !s.is_hide_set()) {
        // Without the --help text's copy of the examples: the page has its own sections.
        let name = sub.get_name().to_owned();
        let page = PAGES.iter().find(|p| p.command == name);
        let sub = sub.clone().after_long_help("");
        let file = man.join(format!(
            "{}.1",
            sub.get_display_name().unwrap_or(sub.get_name())
        ));
        std::fs::write(file, man_page(sub, page)?)?;
    }
    std::fs::write(
        man.join(format!("{}.1", built.get_name())),
        man_page(built.clone(), None)?,
    )?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), cmd.get_name(), &completions)?;
    }
    Ok(())
}

/// `cmd` without its hidden subcommands: clap_complete would offer them.
fn visible(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned());
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned());
    }
    if let Some(a) = cmd.get_about() {
        out = out.about(a.clone());
    }
    if let Some(a) = cmd.get_long_about() {
        out = out.long_about(a.clone());
    }
    for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
        out = out.arg(arg.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(sub.clone());
    }
    out
}

fn is_builtin(arg: &clap::Arg) -> bool {
    ["help", "version"].contains(&arg.get_id().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("tool")
            .version("1.2.3")
            .about("Does things")
            .subcommand(
                clap::Command::new("record")
                    .about("Records a unit")
                    .arg(clap::Arg::new("unit").required(true))
                    .arg(clap::Arg::new("for").long("for").value_name("DURATION")),
            )
            .subcommand(clap::Command::new("docs").hide(true))
    }

    #[test]
    fn man_pages_have_examples_and_exit_statuses_from_the_table() {
        let page = Page {
            command: "record",
            examples: &[("record nginx", "learner record nginx.service --for 10m")],
            exit: &[("0", "written"), ("1", "not written")],
        };
        let text = roff_sections(&page);
        assert!(text.contains(".SH EXAMPLES"), "{text}");
        assert!(
            text.contains("learner record nginx.service \\-\\-for 10m"),
            "{text}"
        );
        assert!(
            text.contains(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nwritten"),
            "{text}"
        );
        let help = after_help(&page);
        assert!(
            help.contains("  # record nginx\n  learner record nginx.service --for 10m\n"),
            "{help}"
        );
        assert!(help.contains("    1  not written"), "{help}");
    }

    #[test]
    fn a_page_per_visible_subcommand_and_three_shells() {
        let dir = std::env::temp_dir().join(format!("learner-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&cli(), &dir).expect("write");
        let mut pages: Vec<String> = std::fs::read_dir(dir.join("man"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        pages.sort();
        assert_eq!(pages, ["tool-record.1", "tool.1"]);
        let record = std::fs::read_to_string(dir.join("man/tool-record.1")).unwrap();
        assert!(
            record.contains("Records a unit") && record.contains("\\-\\-for"),
            "{record}"
        );
        let bash = std::fs::read_to_string(dir.join("completions/tool.bash")).unwrap();
        assert!(bash.contains("record") && bash.contains("--for"), "{bash}");
        assert!(
            !bash.contains("docs"),
            "a hidden subcommand is offered: {bash}"
        );
        for f in ["_tool", "tool.fish"] {
            assert!(dir.join("completions").join(f).exists(), "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
