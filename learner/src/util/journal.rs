//! Entries for systemd's journal over its native protocol (a datagram of `KEY=value` lines to
//! /run/systemd/journal/socket), without linking libsystemd.
use std::{io, os::unix::net::UnixDatagram, path::Path};

/// Where journald listens for native entries, under a system's root.
pub const SOCKET: &str = "run/systemd/journal/socket";

/// One entry in the native protocol: `KEY=value\n`, or, for a value with a newline,
/// `KEY\n`, its length as 64-bit little endian, the value and `\n`.
pub fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Sends one entry to the journal of the system whose root is `root` (`/`, or a guest's
/// seen from here). Fails when no journald listens there.
pub fn send(root: &Path, fields: &[(&str, &str)]) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    socket.send_to(&encode(fields), root.join(SOCKET))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_plain_and_multiline_values() {
        let bytes = encode(&[("MESSAGE", "a b"), ("DETAIL", "x\ny")]);
        let mut expected = b"MESSAGE=a b\nDETAIL\n".to_vec();
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(b"x\ny\n");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn an_entry_reaches_a_listening_socket_and_none_fails() {
        let root = std::env::temp_dir().join(format!("learner-journal-{}", std::process::id()));
        let dir = root.join("run/systemd/journal");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(send(&root, &[("MESSAGE", "nobody listens")]).is_err());
        let listener = UnixDatagram::bind(root.join(SOCKET)).unwrap();
        send(&root, &[("MESSAGE", "hello"), ("MESSAGE_ID", "0123")]).unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MESSAGE=hello\nMESSAGE_ID=0123\n");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
