//! systemd-analyze security: a unit's exposure, as a number.
use std::{path::Path, process::Command};

/// What went wrong scoring a unit file.
#[derive(Debug, thiserror::Error)]
#[error("--score: {0}")]
pub struct AnalyzeError(String);

/// Exposure of `unit_file` as `systemd-analyze security --offline=true` scores it, alone and
/// with `dropin`, in a scratch copy. Returns (before, after).
pub fn score(unit_file: &Path, dropin: &str) -> Result<(f64, f64), AnalyzeError> {
    let name = unit_file
        .file_name()
        .ok_or_else(|| AnalyzeError(format!("{} is not a unit file", unit_file.display())))?;
    let dir = std::env::temp_dir().join(format!("learner-score-{}", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| AnalyzeError(e.to_string()))?;
        let unit = dir.join(name);
        std::fs::copy(unit_file, &unit)
            .map_err(|e| AnalyzeError(format!("{}: {e}", unit_file.display())))?;
        let before = exposure(&unit)?;
        let dropins = dir.join(format!("{}.d", name.to_string_lossy()));
        std::fs::create_dir_all(&dropins).map_err(|e| AnalyzeError(e.to_string()))?;
        std::fs::write(dropins.join("50-learner.conf"), dropin)
            .map_err(|e| AnalyzeError(e.to_string()))?;
        let after = exposure(&unit)?;
        Ok((before, after))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn exposure(unit: &Path) -> Result<f64, AnalyzeError> {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .output()
        .map_err(|e| AnalyzeError(format!("systemd-analyze: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_exposure(&text).ok_or_else(|| {
        let err = String::from_utf8_lossy(&out.stderr);
        AnalyzeError(format!(
            "systemd-analyze security gave no exposure: {}",
            err.lines().next().unwrap_or("no output")
        ))
    })
}

/// The number in `Overall exposure level for x.service: 9.6 UNSAFE 😨` (or `:-{` outside
/// a UTF-8 locale: the first number after the unit name, not after the last colon).
pub fn parse_exposure(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    let (_, rest) = line.split_once("Overall exposure level for")?;
    rest.split_whitespace().find_map(|w| w.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposure() {
        let text =
            "NAME DESCRIPTION EXPOSURE\n→ Overall exposure level for nginx.service: 2.3 OK 🙂\n";
        assert_eq!(parse_exposure(text), Some(2.3));
        let ascii = "-> Overall exposure level for nginx.service: 9.6 UNSAFE :-{\n";
        assert_eq!(parse_exposure(ascii), Some(9.6));
        assert_eq!(parse_exposure("nothing"), None);
    }
}
