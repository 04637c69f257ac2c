//! The unit-file syntax systemd reads (unit files and drop-ins): sections, `Key=value`
//! assignments in order, comments, continuation lines, and the quoting of list values. Text
//! in, assignments out: no file system, no systemd.

/// One `Key=value` line of a `[Service]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub value: String,
    /// Where it was written: `FILE:LINE`.
    pub at: String,
}

/// The `[Service]` assignments of `text` (a unit file or a drop-in named `name`), in order.
/// Comments (`#`, `;`) and other sections are skipped; a line ending in `\` continues on the
/// next one, as systemd joins them (with a space).
pub fn service_assignments(text: &str, name: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some((start, mut joined)) = pending.take() {
            // Comment lines inside a continuation are skipped, as systemd does.
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some((start, joined));
                continue;
            }
            match line.strip_suffix('\\') {
                Some(more) => {
                    joined.push(' ');
                    joined.push_str(more.trim());
                    pending = Some((start, joined));
                }
                None => {
                    joined.push(' ');
                    joined.push_str(line);
                    push(&mut out, &section, &joined, name, start);
                }
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_owned();
            continue;
        }
        match line.strip_suffix('\\') {
            Some(first) => pending = Some((i + 1, first.trim_end().to_owned())),
            None => push(&mut out, &section, line, name, i + 1),
        }
    }
    if let Some((start, joined)) = pending {
        push(&mut out, &section, &joined, name, start);
    }
    out
}

fn push(out: &mut Vec<Assignment>, section: &str, line: &str, name: &str, at: usize) {
    if section != "Service" {
        return;
    }
    if let Some((key, value)) = line.split_once('=') {
        out.push(Assignment {
            key: key.trim().to_owned(),
            value: value.trim().to_owned(),
            at: format!("{name}:{at}"),
        });
    }
}

/// The words of a list value as systemd 252 splits them (extract_first_word() with
/// EXTRACT_UNQUOTE, as its path lists use it): whitespace separates, `"` and `'` quote (also
/// inside a word), and a backslash takes the next character literally, in quotes or not, so
/// `\x20` is `x20`, not a space. `%` specifiers are left as they are (see [`unspecify`]).
pub fn words(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                any = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// A path word with its `%%` specifiers expanded to `%`, as systemd does after unquoting;
/// other specifiers (`%n`, `%i`) depend on the unit and are left as written.
pub fn unspecify(word: &str) -> String {
    word.replace("%%", "%")
}

/// systemd's booleans: Some(true) for `yes`, `true`, `on`, `1`, ...; None when not one.
pub fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_service_assignments_in_order() {
        let text = "[Unit]\nDescription=x\n[Service]\n# a comment\nProtectSystem=strict\n\
                    ReadWritePaths=/a \\\n  /b\n; another\nReadWritePaths=\n[Install]\nWantedBy=x\n";
        let a = service_assignments(text, "d.conf");
        let pairs: Vec<(&str, &str)> = a
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("ProtectSystem", "strict"),
                ("ReadWritePaths", "/a /b"),
                ("ReadWritePaths", "")
            ]
        );
        assert_eq!(a[1].at, "d.conf:6");
    }

    #[test]
    fn splits_quoted_words() {
        assert_eq!(words(r#"-/a "/b c" '/d'"#), ["-/a", "/b c", "/d"]);
        // As systemd 252 read them (`systemctl show -p ReadWritePaths` in the e2e guest).
        assert_eq!(words(r"-/var/lib/my\x20app"), ["-/var/lib/myx20app"]);
        assert_eq!(
            words(r#""-/var/lib/bs\\x" "-/var/lib/q\"x" "-/var/lib/sq'x" -/a"b c"d"#),
            [
                "-/var/lib/bs\\x",
                "-/var/lib/q\"x",
                "-/var/lib/sq'x",
                "-/ab cd"
            ]
        );
        assert_eq!(unspecify("-/var/lib/p%%d"), "-/var/lib/p%d");
        assert!(words("  ").is_empty());
        assert_eq!(boolean("On"), Some(true));
        assert_eq!(boolean("strict"), None);
    }
}
