//! Man pages and shell completions, generated from the command line's own definition so they
//! never drift from it (`learner docs DIR`, run by `cargo xtask package`).
use std::{io, path::Path};

use clap_complete::Shell;

/// Writes `DIR/man/learner.1` and one page per subcommand (`learner-record.1`, ...), and
/// `DIR/completions/` for bash (`learner.bash`), zsh (`_learner`) and fish (`learner.fish`).
/// Hidden subcommands (this one) are left out of both.
pub fn write(cmd: &clap::Command, dir: &Path) -> io::Result<()> {
    let cmd = visible(cmd);
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cmd.clone(), &man)?;
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
