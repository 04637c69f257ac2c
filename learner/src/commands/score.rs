//! `learner score`: a unit's exposure as systemd-analyze security rates it, now and with a
//! drop-in, for people (text) and for tools (JSON, stable field names).
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde::Serialize;

use crate::systemd::{analyze, manager::Systemd};

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Systemd(#[from] crate::systemd::manager::SystemdError),
    #[error("systemd-analyze security gave no exposure for {0}")]
    NoExposure(String),
    #[error("cannot read drop-in {path}: {source}")]
    Dropin {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Analyze(#[from] analyze::AnalyzeError),
}

/// What `score --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// The unit's id, as systemd names it.
    pub unit: String,
    /// Its exposure now (0.0 best to 10.0 worst).
    pub exposure: f64,
    /// The drop-in given with --dropin, if any.
    pub dropin: Option<PathBuf>,
    /// The exposure the unit would have with that drop-in added.
    pub exposure_with_dropin: Option<f64>,
}

impl Score {
    /// The exposure a gate compares: with the drop-in when one was given.
    pub fn gated(&self) -> f64 {
        self.exposure_with_dropin.unwrap_or(self.exposure)
    }

    pub fn text(&self) -> String {
        let mut out = format!("{}: {:.1}\n", self.unit, self.exposure);
        if let (Some(d), Some(e)) = (&self.dropin, self.exposure_with_dropin) {
            out.push_str(&format!("{} with {}: {e:.1}\n", self.unit, d.display()));
        }
        out
    }
}

pub fn score(unit: &str, dropin: Option<&Path>, guest: Option<u32>) -> Result<Score, ScoreError> {
    let systemd = Systemd::new(guest)?;
    let info = systemd.show(unit)?;
    let exposure = systemd
        .exposure(&info.id)
        .ok_or_else(|| ScoreError::NoExposure(info.id.clone()))?;
    let exposure_with_dropin = match dropin {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ScoreError::Dropin {
                path: path.to_owned(),
                source,
            })?;
            let fragment = systemd.path_in_guest(Path::new(&info.fragment_path));
            Some(analyze::score(&fragment, &text)?.1)
        }
    };
    Ok(Score {
        unit: info.id,
        exposure,
        dropin: dropin.map(Path::to_owned),
        exposure_with_dropin,
    })
}

/// `learner score`: prints the exposure; exits 1 when it is above `threshold`, 2 on trouble.
pub fn run(
    unit: &str,
    dropin: Option<&Path>,
    guest: Option<u32>,
    threshold: Option<f64>,
    format: super::Format,
) -> ExitCode {
    let score = match score(unit, dropin, guest) {
        Ok(score) => score,
        Err(e) => {
            eprintln!("learner: {}", crate::util::errors::one_line(&e));
            return ExitCode::from(2);
        }
    };
    match format {
        super::Format::Json => println!("{}", serde_json::to_string(&score).expect("plain data")),
        super::Format::Text => print!("{}", score.text()),
    }
    match threshold {
        Some(limit) if score.gated() > limit => {
            eprintln!(
                "learner: {} exposure {:.1} is above the threshold {limit:.1}",
                score.unit,
                score.gated()
            );
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_field_names_and_the_gated_exposure() {
        let s = Score {
            unit: "nginx.service".into(),
            exposure: 9.6,
            dropin: Some("h.conf".into()),
            exposure_with_dropin: Some(2.3),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"unit":"nginx.service","exposure":9.6,"dropin":"h.conf","exposure_with_dropin":2.3}"#
        );
        assert_eq!(s.gated(), 2.3);
        assert_eq!(
            s.text(),
            "nginx.service: 9.6\nnginx.service with h.conf: 2.3\n"
        );
        let bare = Score {
            dropin: None,
            exposure_with_dropin: None,
            ..s
        };
        assert_eq!(bare.gated(), 9.6);
        assert_eq!(bare.text(), "nginx.service: 9.6\n");
    }
}
