//! How an error reaches the user: one line, each cause once.

/// `err` and its causes joined with ": ", leaving out a cause whose text the line already
/// holds. The library's errors often name their source in their own message
/// (`cannot read profile P: {source}`) and also return it as `source()`, so printing the
/// whole chain would say the OS error twice.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read profile {path}: {source}")]
    struct Read {
        path: String,
        #[source]
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn a_source_already_in_the_message_is_said_once() {
        let e = anyhow::Error::from(Read {
            path: "/nonexistent.yaml".into(),
            source: not_found(),
        });
        // What `{e:#}` printed before.
        assert_eq!(format!("{e:#}").matches("os error 2").count(), 2);
        assert_eq!(
            one_line(e.as_ref()),
            "cannot read profile /nonexistent.yaml: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn context_and_a_source_not_in_the_message_are_kept() {
        let e = anyhow::Error::from(not_found()).context("cannot read /etc/x.conf");
        assert_eq!(
            one_line(e.as_ref()),
            "cannot read /etc/x.conf: No such file or directory (os error 2)"
        );
        let nested = anyhow::Error::from(Read {
            path: "/p".into(),
            source: not_found(),
        })
        .context("merging");
        assert_eq!(
            one_line(nested.as_ref()),
            "merging: cannot read profile /p: No such file or directory (os error 2)"
        );
    }
}
