//! Whether the recorded processes could reach anything beyond this host: the routes of each
//! network namespace they ran in, read from `/proc/PID/net/{route,ipv6_route}` (per namespace).
//! A recording in a namespace with loopback only (a test machine, a container without a
//! network) cannot see what the service reaches on a networked host.
use std::{collections::BTreeSet, fs, io, os::unix::fs::MetadataExt, path::Path};

/// The network namespaces seen so far, and whether one of them had a route beyond loopback.
#[derive(Debug, Default)]
pub struct NetworkReach {
    namespaces: BTreeSet<u64>,
    beyond_loopback: bool,
}

impl NetworkReach {
    /// Looks at the namespace of each of `pids` not looked at yet. A process gone meanwhile
    /// is skipped.
    pub fn note(&mut self, pids: impl IntoIterator<Item = i32>) {
        for pid in pids {
            let proc = Path::new("/proc").join(pid.to_string());
            let Ok(ns) = fs::metadata(proc.join("ns/net")).map(|m| m.ino()) else {
                continue;
            };
            if self.namespaces.contains(&ns) {
                continue;
            }
            if let Ok(beyond) = routes_beyond_loopback(&proc.join("net")) {
                self.namespaces.insert(ns);
                self.beyond_loopback |= beyond;
            }
        }
    }

    /// Whether a namespace seen had a route beyond loopback. When no process was looked at
    /// (all were gone before the first look), learner's own namespace stands in: the one a
    /// command or a unit without a namespace of its own runs in.
    pub fn finish(&mut self) -> Option<bool> {
        if self.namespaces.is_empty() {
            self.note([std::process::id() as i32]);
        }
        (!self.namespaces.is_empty()).then_some(self.beyond_loopback)
    }
}

/// Whether the namespace whose `/proc/PID/net` is `net` routes anything through an
/// interface other than `lo`. Its local routes (the loopback ones among them) are in the
/// `local` table, which `route` does not list; `ipv6_route` lists them all.
pub fn routes_beyond_loopback(net: &Path) -> io::Result<bool> {
    let v4 = fs::read_to_string(net.join("route"))?;
    // Without IPv6 (ipv6.disable=1) the file is missing: IPv4 tells it all.
    let v6 = fs::read_to_string(net.join("ipv6_route")).unwrap_or_default();
    Ok(v4_beyond_loopback(&v4) || v6_beyond_loopback(&v6))
}

/// `/proc/net/route`: a header, then `Iface\tDestination\tGateway...` per route.
fn v4_beyond_loopback(text: &str) -> bool {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .any(|iface| iface != "lo")
}

/// `/proc/net/ipv6_route`: ten columns per route, the device's name last.
fn v6_beyond_loopback(text: &str) -> bool {
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() == 10).then(|| cols[9])
        })
        .any(|dev| dev != "lo")
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn a_namespace_with_loopback_only_routes_nothing_beyond() {
        let v6 = "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n\
                  ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       lo\n";
        assert!(!v4_beyond_loopback(V4_HEADER));
        assert!(!v6_beyond_loopback(v6));
        assert!(!v6_beyond_loopback(""));
    }

    #[test]
    fn a_default_route_or_a_link_is_beyond_loopback() {
        let v4 = format!("{V4_HEADER}eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        assert!(v4_beyond_loopback(&v4));
        // An interface with a link-local address only: its neighbours are reachable.
        let v6 = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";
        assert!(v6_beyond_loopback(v6));
    }

    #[test]
    fn this_machines_own_namespace_is_read() {
        // Whatever its routes are, the files of a real namespace parse.
        assert!(routes_beyond_loopback(Path::new("/proc/self/net")).is_ok());
        let mut reach = NetworkReach::default();
        assert!(reach.finish().is_some());
    }
}
