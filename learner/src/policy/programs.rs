//! Programs a drop-in confines whose contents are the site's, not a package's: a recording
//! saw what they did once, and the site changes them (a hook script edited, a CGI program or
//! a monitoring check added) without any package update that would prompt a new recording.
//! Not a directive: a caution, in the drop-in and from `verify`.
use crate::model::profile::Profile;

/// Most programs named in the caution; the rest are counted.
const NAMED: usize = 4;

/// Why the drop-in may break the unit's own programs after the site edits them: the
/// programs it ran that no package of the recorded system owns.
pub fn runs_unpackaged_programs(p: &Profile) -> Option<String> {
    let unpackaged = &p.observations.processes.unpackaged;
    if unpackaged.is_empty() {
        return None;
    }
    // Keys of a BTreeMap: sorted already.
    let names: Vec<&str> = unpackaged.keys().map(String::as_str).take(NAMED).collect();
    let more = match unpackaged.len().saturating_sub(NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let by: std::collections::BTreeSet<&str> = unpackaged
        .values()
        .flat_map(|seen| seen.by.iter())
        .collect();
    Some(format!(
        "{} ran programs no installed package owns: {}{more} (the site's own scripts or builds: hooks, CGI programs, checks); the drop-in lets them do only what they did while recorded, so after editing or adding any, record the unit again (or `learner watch` it) before relying on it",
        by.into_iter().collect::<Vec<_>>().join(", "),
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observations::Seen;

    #[test]
    fn names_the_sites_programs_and_who_ran_them() {
        let mut p = Profile::example("svc.service");
        assert_eq!(runs_unpackaged_programs(&p), None);
        for (path, by) in [
            ("/etc/tinc/net/tinc-up", "tincd"),
            ("/etc/tinc/net/host-up", "tincd"),
            ("/usr/local/bin/a", "sh"),
            ("/usr/local/bin/b", "sh"),
            ("/usr/local/bin/c", "sh"),
        ] {
            let mut seen = Seen::default();
            seen.add(0, by, 1);
            p.observations
                .processes
                .unpackaged
                .insert(path.into(), seen);
        }
        let why = runs_unpackaged_programs(&p).unwrap();
        assert!(
            why.starts_with("sh, tincd ran programs no installed package owns: /etc/tinc/net/host-up, /etc/tinc/net/tinc-up, /usr/local/bin/a, /usr/local/bin/b and 1 more ("),
            "{why}"
        );
    }
}
