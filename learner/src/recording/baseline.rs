//! An exercised event's phases (systemd layer) as the profile keeps them (model layer), and
//! back: the unit's own behaviour, which `apply --exercise` compares a drop-in's with.
use std::time::Duration;

use crate::{
    model::profile::{EventBaseline, PhaseBaseline},
    systemd::exercise::{Ending, Outcome, Phase, PhaseKind, Step},
};

/// What the profile keeps of an event: nothing for one that could not be carried out.
pub fn of_step(step: &Step) -> Option<EventBaseline> {
    match step.outcome {
        Outcome::Failed => None,
        Outcome::Skipped => Some(EventBaseline {
            skipped: Some(step.detail.clone()),
            phases: Vec::new(),
        }),
        Outcome::Passed => Some(EventBaseline {
            skipped: None,
            phases: step.phases.iter().map(of_phase).collect(),
        }),
    }
}

fn of_phase(phase: &Phase) -> PhaseBaseline {
    let mut out = PhaseBaseline {
        phase: phase.kind.name().to_owned(),
        // Milliseconds are enough, and keep the file readable.
        seconds: (phase.took.as_secs_f64() * 1000.0).round() / 1000.0,
        ..Default::default()
    };
    match &phase.ending {
        Ending::Clean => out.ended = "clean".into(),
        Ending::Run {
            result,
            code,
            status,
        } => {
            out.ended = result.clone();
            match code {
                1 => out.status = Some(*status),
                2 | 3 => out.signal = Some(*status),
                _ => {}
            }
        }
        Ending::Failed(why) => {
            out.ended = "failed".into();
            out.why = Some(why.clone());
        }
    }
    out
}

/// The phases of a baseline event (none for a skipped one); phases of kinds this learner does
/// not know are left out.
pub fn phases(baseline: &EventBaseline) -> Vec<Phase> {
    baseline
        .phases
        .iter()
        .filter_map(|p| {
            let ending = match p.ended.as_str() {
                "clean" => Ending::Clean,
                "failed" => Ending::Failed(p.why.clone().unwrap_or_default()),
                result => {
                    let (code, status) = match (p.status, p.signal) {
                        (Some(status), _) => (1, status),
                        (None, Some(signal)) => (2, signal),
                        (None, None) => (0, 0),
                    };
                    Ending::Run {
                        result: result.to_owned(),
                        code,
                        status,
                    }
                }
            };
            Some(Phase {
                kind: PhaseKind::from_name(&p.phase)?,
                ending,
                took: Duration::from_secs_f64(p.seconds.max(0.0)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::exercise::Exercise;

    #[test]
    fn round_trips_through_the_profile() {
        let phases = vec![
            Phase {
                kind: PhaseKind::Stop,
                ending: Ending::Run {
                    result: "exit-code".into(),
                    code: 1,
                    status: 64,
                },
                took: Duration::from_millis(210),
            },
            Phase {
                kind: PhaseKind::Kill,
                ending: Ending::Run {
                    result: "signal".into(),
                    code: 2,
                    status: 31,
                },
                took: Duration::from_millis(5),
            },
            Phase {
                kind: PhaseKind::Rotate,
                ending: Ending::Failed("fails: logrotate ended with exit status: 1".into()),
                took: Duration::from_millis(5),
            },
            Phase {
                kind: PhaseKind::Start,
                ending: Ending::Clean,
                took: Duration::from_millis(900),
            },
        ];
        let step = Step {
            exercise: Exercise::Restart,
            outcome: Outcome::Passed,
            detail: String::new(),
            took: Duration::from_secs(1),
            phases: phases.clone(),
        };
        let kept = of_step(&step).unwrap();
        let yaml = serde_yaml::to_string(&kept).unwrap();
        assert!(yaml.contains("ended: exit-code\n  status: 64"), "{yaml}");
        let back: EventBaseline = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(self::phases(&back), phases);
        // Not carried out: not a baseline.
        let failed = Step {
            outcome: Outcome::Failed,
            ..step
        };
        assert_eq!(of_step(&failed), None);
    }
}
