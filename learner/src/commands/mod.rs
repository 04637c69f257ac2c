//! The work behind the subcommands, one file each (main.rs only parses and dispatches). May
//! use every other layer; nothing uses it but main.rs.
use std::process::ExitCode;

use anyhow::Context as _;

pub mod apply;
pub mod check;
pub mod diff;
pub mod docs;
pub mod generate;
pub mod harden;
pub mod merge;
pub mod record;
pub mod run;
pub mod score;
pub mod verify;
pub mod watch;

/// `--format`: for people (text, and prose on stderr) or for tools (JSON on stdout, stable
/// keys; new keys may be added). Each command's JSON has a schema in learner/schema/,
/// shipped as /usr/share/learner/schema/COMMAND.schema.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn is_json(self) -> bool {
        self == Format::Json
    }
}

/// Prints a JSON output on stdout, on one line.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// What a recorded profile holds and what its recording missed, in every recording command's
/// JSON: counts of what was observed, events received and lost, observations missed by kind.
pub fn recording_json(
    profile: &crate::model::profile::Profile,
) -> serde_json::Map<String, serde_json::Value> {
    let r = &profile.recording;
    let o = &profile.observations;
    let serde_json::Value::Object(map) = serde_json::json!({
        "syscalls": profile.syscalls.len(),
        "paths": o.paths.len(),
        "capabilities": o.capabilities.len(),
        "sockets": o.sockets.len(),
        "events": r.events,
        "lost_events": r.lost_events,
        "missed": r.missed,
        "incomplete": r.incomplete(),
    }) else {
        unreachable!("an object")
    };
    map
}

/// Success, or the error on one line and a failure exit.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Runs a recording on a single-threaded runtime, with Ctrl-C and friends read from a signalfd.
pub fn with_signals<F, T>(
    recording: impl FnOnce(crate::util::signals::SignalStream) -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = T>,
{
    use crate::util::signals;
    // Before the runtime exists: its threads must inherit the blocked mask.
    let fd = signals::block_forwarded().context("cannot block signals")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let signals = signals::SignalStream::new(fd).context("cannot watch signals")?;
        Ok(recording(signals).await)
    })
}

#[cfg(test)]
pub(crate) mod schema {
    //! Validation of the JSON outputs against the schemas shipped beside the binary.
    use std::path::PathBuf;

    pub fn path(command: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(format!("{command}.schema.json"))
    }

    /// COMMAND's schema, compiled (which checks it against the metaschema).
    pub fn compile(command: &str) -> (boon::Schemas, boon::SchemaIndex) {
        let path = path(command);
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the schema"))
                .expect("a JSON schema");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("file:///learner/schema.json", schema)
            .expect("a resource");
        let index = compiler
            .compile("file:///learner/schema.json", &mut schemas)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (schemas, index)
    }

    /// Panics, saying where, unless `value` is valid against COMMAND's schema.
    pub fn assert_valid(command: &str, value: &serde_json::Value) {
        let (schemas, index) = compile(command);
        if let Err(e) = schemas.validate(value, index) {
            panic!("{command}'s JSON does not fit its schema: {e:#}\n{value:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every command's JSON, built from the profile pack's real recordings where the command
    //! reads profiles, fits the schema shipped for it.
    use std::{path::PathBuf, time::Duration};

    use super::schema::assert_valid;
    use crate::{
        model::profile::Profile,
        policy::{filter_groups::SyscallGroups, margin::Margin, unit_file, verify},
        systemd::exercise::{Ending, Exercise, Outcome, Phase, PhaseKind, Step},
    };

    /// A shipped pack profile (for the tests of every command).
    pub(super) fn pack(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../profiles")
            .join(name)
            .join(format!("{name}.profile.yaml"))
    }

    /// A file in this test run's scratch directory (names are unique across commands' tests).
    pub(super) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("learner-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn generate_diff_and_verify_fit_their_schemas() {
        let generated = super::generate::generate(&super::generate::GenerateRequest {
            profiles: vec![pack("nginx")],
            target_systemd: Some(252),
            explain: false,
            margin: Margin::Standard,
            identity: false,
            unit_file: None,
            score_unit_file: None,
        })
        .expect("generate");
        assert_valid("generate", &super::generate::to_json(&generated));

        let nginx = Profile::load(&pack("nginx")).unwrap();
        let unbound = Profile::load(&pack("unbound")).unwrap();
        let groups = SyscallGroups::for_version(252, None);
        let d = super::diff::diff(&nginx, &unbound, 252, &groups, Margin::Standard);
        assert!(!d.dropin.is_empty() && !d.information.added.is_empty());
        assert_valid("diff", &serde_json::to_value(&d).unwrap());

        // A drop-in far tighter than what nginx did: gaps of every field.
        let dropin = "[Service]\nProtectSystem=strict\nCapabilityBoundingSet=\nPrivateNetwork=yes\nDeviceAllow=/dev/null\n";
        let assignments = unit_file::service_assignments(dropin, "d.conf");
        let verdict = verify::verify(&nginx, &assignments, 252, &groups, &|_| true);
        assert!(!verdict.gaps.is_empty());
        assert_valid("verify", &super::verify::to_json(&verdict, 252));
    }

    #[test]
    fn merge_record_and_run_fit_their_schemas() {
        let inputs = vec![pack("nginx"), pack("unbound")];
        let out = scratch("merged.profile.yaml");
        let merged = super::merge::merge(&inputs, &out).expect("merge");
        assert_valid("merge", &super::merge::to_json(&inputs, &out, &merged));
        let _ = std::fs::remove_file(&out);

        let mut profile = Profile::load(&pack("nginx")).unwrap();
        profile
            .recording
            .missed
            .insert("openat: relative path".into(), 2);
        profile.recording.lost_events = 3;
        profile
            .recording
            .exercised
            .insert("restart".into(), "restart: passed after 1.2s".into());
        let report = crate::recording::unit::RecordReport {
            profile_path: Some("nginx.service.profile.yaml".into()),
            profile: profile.clone(),
            ended_because: "the duration elapsed",
        };
        let json = super::record::to_json(&report);
        assert_eq!(json["lost_events"], 3);
        assert_eq!(json["missed"]["openat: relative path"], 2);
        assert_valid("record", &json);
        let check_report = crate::recording::unit::RecordReport {
            profile_path: None,
            ..report
        };
        assert_valid("record", &super::record::to_json(&check_report));

        profile.provenance.command = Some(vec!["nginx".into(), "-g".into()]);
        let run = crate::recording::command::RunReport {
            profile_path: "nginx.profile.yaml".into(),
            profile,
            exit_code: 143,
        };
        assert_valid("run", &super::run::to_json(&run));
    }

    #[test]
    fn check_score_and_apply_fit_their_schemas() {
        let denial = crate::policy::denials::Denial {
            processes: vec!["nginx".into()],
            operation: "write /var/cache/nginx/x".into(),
            outcome: "EROFS 3x".into(),
            directive: "ProtectSystem=strict".into(),
            fix: "add ReadWritePaths=-/var/cache/nginx".into(),
        };
        assert_valid("check", &super::check::to_json(&[denial]));
        assert_valid("check", &super::check::to_json(&[]));

        let score = super::score::Score {
            unit: "nginx.service".into(),
            exposure: 9.6,
            dropin: Some("h.conf".into()),
            exposure_with_dropin: Some(2.3),
        };
        assert_valid("score", &serde_json::to_value(&score).unwrap());

        let request = super::apply::ApplyRequest {
            unit: "nginx.service".into(),
            dropin: "h.conf".into(),
            check: Some("curl -sf localhost".into()),
            timeout: None,
            guest: None,
            exercise: vec![Exercise::Restart, Exercise::Reload],
            profiles: vec![],
            quiet: true,
        };
        let steps = vec![
            Step {
                exercise: Exercise::Restart,
                outcome: Outcome::Passed,
                detail: "stop clean, start clean".into(),
                took: Duration::from_millis(1500),
                phases: vec![
                    Phase {
                        kind: PhaseKind::Stop,
                        ending: Ending::Clean,
                        took: Duration::from_millis(500),
                    },
                    Phase {
                        kind: PhaseKind::Start,
                        ending: Ending::Clean,
                        took: Duration::from_secs(1),
                    },
                ],
            },
            Step {
                exercise: Exercise::Reload,
                outcome: Outcome::Skipped,
                detail: "no ExecReload=".into(),
                took: Duration::ZERO,
                phases: vec![],
            },
        ];
        let applied = Ok(super::apply::Applied {
            installed: "/etc/systemd/system/nginx.service.d/50-learner-hardening.conf".into(),
            exposure_before: Some(9.6),
            exposure_after: None,
            job: None,
            steps,
        });
        let json = super::apply::to_json(&request, &applied).expect("applied");
        assert_eq!(json["exercised"][0]["phases"][1]["kind"], "start");
        assert_valid("apply", &json);
        for failed in [
            super::apply::ApplyError::Failed {
                unit: "nginx.service".into(),
                step: "the restart step".into(),
                why: "failed the restart step".into(),
                rollback: "the drop-in was removed; nginx.service is active again".into(),
            },
            super::apply::ApplyError::BadCheck {
                unit: "nginx.service".into(),
                why: "failed its check".into(),
                rollback: "the drop-in was removed".into(),
            },
            super::apply::ApplyError::Outlived {
                unit: "nginx.service".into(),
                step: "after restart".into(),
                why: "failed its check after restart".into(),
                rollback: "the drop-in was removed".into(),
            },
        ] {
            let code = failed.exit_code();
            let json = super::apply::to_json(&request, &Err(failed)).expect("rolled back");
            assert_eq!(json["applied"], false);
            assert_eq!(json["failure"]["exit_code"], code);
            assert_valid("apply", &json);
        }
        // Nothing was changed: stderr says why, stdout stays empty.
        assert!(super::apply::to_json(&request, &Err(super::apply::ApplyError::NotRoot)).is_none());
    }

    #[test]
    #[should_panic(expected = "does not fit its schema")]
    fn an_output_that_breaks_its_schema_is_caught() {
        // A renamed key: the stability promise broken.
        assert_valid(
            "score",
            &serde_json::json!({"unit": "x.service", "score": 9.6, "dropin": null, "exposure_with_dropin": null}),
        );
    }

    #[test]
    fn record_all_fits_its_schema() {
        use crate::recording::all_units::{AllReport, UnitRecorded};
        let row = |unit: &str, why: Option<&str>| UnitRecorded {
            unit: unit.into(),
            profile: Some(format!("{unit}.profile.yaml").into()),
            syscalls: 61,
            paths: 57,
            events: 900,
            startup_seen: why.is_none(),
            why: why.map(str::to_owned),
        };
        let report = AllReport {
            dir: "host".into(),
            ended_because: "the duration elapsed",
            units: vec![
                row("nginx.service", None),
                row("cron.service", Some("its recording is incomplete")),
            ],
            left_out: [("systemd-journald.service".to_owned(), 40)].into(),
            events: 1800,
            lost_events: 0,
            unattributed_events: 0,
            outside_slice: vec!["user@1000.service".into()],
        };
        assert_valid("record-all", &serde_json::to_value(&report).unwrap());
    }

    #[test]
    fn harden_fits_its_schema() {
        use super::harden::{Report, UnitReport, UnitResult};
        let unit = |name: &str, result: UnitResult| UnitReport {
            unit: name.into(),
            profiles: vec![format!("{name}.profile.yaml")],
            exposure_before: Some(9.6),
            exposure_after: (result != UnitResult::Skipped).then_some(2.4),
            directives: vec!["ProtectSystem".into()],
            dropin: Some(format!("{name}.hardening.conf")),
            result,
            why: (result == UnitResult::RolledBack).then(|| "failed its check".into()),
        };
        let report = Report::new(
            std::path::Path::new("profiles"),
            true,
            true,
            vec![
                unit("a.service", UnitResult::Hardened),
                unit("b.service", UnitResult::RolledBack),
                unit("c.service", UnitResult::Skipped),
                unit("d.service", UnitResult::NotStarted),
                unit("e.service", UnitResult::Generated),
                unit("f.service", UnitResult::RollbackFailed),
            ],
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["units"][1]["result"], "rolled-back");
        assert_valid("harden", &json);
    }

    #[test]
    fn every_schema_is_a_valid_schema_and_every_command_with_json_has_one() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "apply",
                "check",
                "diff",
                "generate",
                "harden",
                "merge",
                // Sorted by file name: `-` comes before `.`.
                "record-all",
                "record",
                "run",
                "score",
                "verify",
                "watch"
            ]
            .map(|c| format!("{c}.schema.json"))
        );
        for name in names {
            super::schema::compile(name.trim_end_matches(".schema.json"));
        }
    }
}
