//! `cargo xtask starved`: a pack service recorded again and again with learner's collector
//! starved (its own cgroup limited to a few percent of one CPU), to show that a recording
//! either holds what the service wrote or says it missed something; never a complete-looking
//! profile without it.
//!
//! Usage: starved PROFILES OUT SERVICE ROUNDS PERCENT DIR
//! Each round: `learner record UNIT --restart --for 6s --exercise all` in one guest, starved
//! to PERCENT of a CPU, while `load.sh load` runs. A round is *kept* when the recording is
//! complete and saw a successful write at or below DIR, *refused* when learner exited non-zero
//! and its partial profile counts what it missed or lost, and *silent* (a failure) when the
//! recording is complete and DIR is not in it, or when learner failed without saying what it
//! missed.
use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode, Output, Stdio},
    time::{Duration, Instant},
};

use learner::model::profile::Profile;
use learner_tests::{Starved, guest::Guest, learner, machine_turn, text};

#[derive(Debug, PartialEq)]
enum Round {
    Kept(String),
    Refused(String),
    Silent(String),
}

fn written_below(p: &Profile, dir: &str) -> Option<String> {
    p.observations
        .paths
        .iter()
        .find(|(path, accesses)| {
            (path.as_str() == dir || path.starts_with(&format!("{dir}/")))
                && accesses.iter().any(|(a, s)| a.writes() && s.ok > 0)
        })
        .map(|(path, _)| path.clone())
}

/// What one round's recording shows, from learner's exit and the profile it left.
fn judge(out: &Output, profile: &Path, dir: &str) -> Round {
    let partial = profile.with_file_name(
        profile
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .replace(".profile.yaml", ".partial.yaml"),
    );
    if out.status.success() {
        return match Profile::load(profile) {
            Ok(p) => match written_below(&p, dir) {
                Some(path) => Round::Kept(format!(
                    "{path} written; {} events, {} instances followed late",
                    p.recording.events, p.recording.instances_followed_late
                )),
                None => Round::Silent(format!(
                    "complete, exit 0, {} lost, nothing missed, and no write under {dir}",
                    p.recording.lost_events
                )),
            },
            Err(e) => Round::Silent(format!("exit 0 but no profile: {e}")),
        };
    }
    match Profile::load(&partial) {
        Ok(p) => match p.recording.incomplete() {
            Some(missing) => Round::Refused(missing),
            None if p.recording.instances_followed_late > 0 => Round::Refused(format!(
                "{} instances followed late",
                p.recording.instances_followed_late
            )),
            None => Round::Silent(format!(
                "exit {:?} with a partial profile that counts nothing missing: {}",
                out.status.code(),
                last_line(out)
            )),
        },
        Err(_) => Round::Silent(format!(
            "exit {:?}, no partial profile: {}",
            out.status.code(),
            last_line(out)
        )),
    }
}

fn last_line(out: &Output) -> String {
    text(out).lines().last().unwrap_or_default().to_owned()
}

fn conf_value(profiles: &Path, service: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(profiles.join(service).join("pack.conf"))
        .ok()?
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}=")).map(str::to_owned))
}

fn run(args: &[String]) -> Result<bool, String> {
    let [profiles, out, service, rounds, percent, dir] = args else {
        return Err("usage: starved PROFILES OUT SERVICE ROUNDS PERCENT DIR".into());
    };
    let profiles = PathBuf::from(profiles);
    let rounds: u32 = rounds.parse().map_err(|_| format!("rounds: {rounds}"))?;
    let percent: u32 = percent.parse().map_err(|_| format!("percent: {percent}"))?;
    let unit = conf_value(&profiles, service, "unit")
        .ok_or_else(|| format!("{service}: no unit= in its pack.conf"))?;
    let out = PathBuf::from(out).join(format!("starved-{service}"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let _turn = machine_turn(|| eprintln!("starved: waiting for the machine's privileged turn"))?;
    let guest = Guest::try_boot(&format!("starved-{service}"))?;
    let pid = guest.pid.to_string();
    let inside = format!("/usr/local/lib/learner-starved-{service}/load.sh");
    let load_sh = std::fs::read_to_string(profiles.join(service).join("load.sh"))
        .map_err(|e| format!("load.sh: {e}"))?;
    guest.write_mode(&inside, &load_sh, 0o755);
    let sh = |mode: &str| {
        Command::new("sh")
            .args(["-c", &format!("{} sh {inside} {mode}", guest.nsenter())])
            .output()
            .map_err(|e| format!("sh: {e}"))
    };
    let setup = sh("setup")?;
    if !setup.status.success() {
        return Err(format!("load.sh setup failed:\n{}", text(&setup)));
    }

    let mut results = Vec::new();
    for round in 1..=rounds {
        let profile = out.join(format!("round-{round}.profile.yaml"));
        let _ = std::fs::remove_file(&profile);
        let _ = std::fs::remove_file(profile.with_file_name(format!("round-{round}.partial.yaml")));
        let started = Instant::now();
        let recording = learner()
            .args([
                "record",
                &unit,
                "--restart",
                "--for",
                "6s",
                "--exercise",
                "all",
            ])
            .args(["--guest", &pid, "-o"])
            .arg(&profile)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("learner record: {e}"))?;
        let starved = Starved::put(recording.id(), percent);
        std::thread::sleep(Duration::from_secs(2));
        let load = sh("load")?;
        let _ = std::fs::write(out.join(format!("round-{round}.load.log")), text(&load));
        let recorded = recording
            .wait_with_output()
            .map_err(|e| format!("learner record: {e}"))?;
        drop(starved);
        let _ = std::fs::write(
            out.join(format!("round-{round}.record.log")),
            text(&recorded),
        );
        let outcome = judge(&recorded, &profile, dir);
        println!(
            "round {round:>2} ({:.0} s): {outcome:?}",
            started.elapsed().as_secs_f64()
        );
        results.push(outcome);
        // The unit may be left stopped by a refused round's last event: start it again.
        let _ = guest.run(&["systemctl", "start", &unit]);
    }
    let kept = results
        .iter()
        .filter(|r| matches!(r, Round::Kept(_)))
        .count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Round::Refused(_)))
        .count();
    let silent = results.len() - kept - refused;
    println!(
        "starved: {service} at {percent}% of a CPU, {rounds} rounds: {kept} complete with {dir}, {refused} refused saying what they missed, {silent} silent"
    );
    println!("{} passed, {silent} failed", kept + refused);
    Ok(silent == 0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("starved: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn output(code: i32) -> Output {
        Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: b"learner: recorded\n".to_vec(),
        }
    }

    #[test]
    fn a_complete_recording_without_the_directory_is_silent() {
        let dir = std::env::temp_dir().join(format!("learner-starved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.profile.yaml");
        let mut p = Profile::example("redis-server.service");
        p.write_atomic(&path).unwrap();
        assert!(matches!(
            judge(&output(0), &path, "/var/lib/redis"),
            Round::Silent(_)
        ));
        p.observations.add(
            &learner::model::observations::Slot::Path(
                "/var/lib/redis/temp-7.rdb".into(),
                learner::model::observations::Access::Create,
            ),
            3,
            "redis-rdb-bgsave",
            1,
        );
        p.write_atomic(&path).unwrap();
        assert!(matches!(
            judge(&output(0), &path, "/var/lib/redis"),
            Round::Kept(_)
        ));
        // Refused: a partial profile that counts what it missed; silent: one that does not.
        let partial = dir.join("r.partial.yaml");
        let mut q = Profile::example("redis-server.service");
        q.write_atomic(&partial).unwrap();
        assert!(matches!(
            judge(&output(1), &path, "/var/lib/redis"),
            Round::Silent(_)
        ));
        q.recording
            .missed
            .insert("openat: relative path not resolved".into(), 2);
        q.write_atomic(&partial).unwrap();
        assert!(matches!(
            judge(&output(1), &path, "/var/lib/redis"),
            Round::Refused(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
