//! Whether the recorded system could reach anything beyond this host: a default route through
//! an interface other than loopback in its PID 1's network namespace. A recording on a machine
//! without one (a test machine, a container without a network, the pack's guest) cannot see
//! where the service goes on a networked host. The system's namespace is the one a unit runs in
//! unless its own settings give it another, and then they decide what it reaches, not this.
use std::{fs, io, path::Path};

/// Whether the system whose root is `fs_root` (as seen from here: `/`, or a guest's
/// `/proc/N/root`) has a default route beyond loopback, as its own /proc shows its PID 1's;
/// None when its routes cannot be read.
pub fn system_reaches_beyond(fs_root: &Path) -> Option<bool> {
    default_route_beyond_loopback(&fs_root.join("proc/1/net")).ok()
}

/// Whether the namespace whose `/proc/PID/net` is `net` has a default route (IPv4 or IPv6)
/// that is up, not a reject route, through an interface other than `lo`. A bridge without a
/// link or a LAN route alone is not enough: a host that only has those reaches little beyond
/// itself, and counting them would trust a recording that could not resolve a name.
pub fn default_route_beyond_loopback(net: &Path) -> io::Result<bool> {
    let v4 = fs::read_to_string(net.join("route"))?;
    // Without IPv6 (ipv6.disable=1) the file is missing: IPv4 tells it all.
    let v6 = fs::read_to_string(net.join("ipv6_route")).unwrap_or_default();
    Ok(v4_default(&v4) || v6_default(&v6))
}

/// RTF_UP and RTF_REJECT of the kernel's route flags.
const RTF_UP: u32 = 0x1;
const RTF_REJECT: u32 = 0x200;

fn usable(flags: &str, dev: &str) -> bool {
    u32::from_str_radix(flags, 16).is_ok_and(|f| f & RTF_UP != 0 && f & RTF_REJECT == 0)
        && dev != "lo"
}

/// `/proc/net/route`: a header, then `Iface Destination Gateway Flags RefCnt Use Metric Mask
/// ...` per route of the main table, in hex.
fn v4_default(text: &str) -> bool {
    text.lines().skip(1).any(|l| {
        let c: Vec<&str> = l.split_whitespace().collect();
        c.len() >= 8 && c[1] == "00000000" && c[7] == "00000000" && usable(c[3], c[0])
    })
}

/// `/proc/net/ipv6_route`: destination, prefix length, source, its length, next hop, metric,
/// refcount, use, flags, device.
fn v6_default(text: &str) -> bool {
    text.lines().any(|l| {
        let c: Vec<&str> = l.split_whitespace().collect();
        c.len() == 10 && c[0].bytes().all(|b| b == b'0') && c[1] == "00" && usable(c[8], c[9])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
    const V6_LOOPBACK: &str = "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

    #[test]
    fn loopback_only_or_a_lan_without_a_default_route_is_not_beyond() {
        assert!(!v4_default(V4_HEADER));
        // IPv6's unreachable default through lo is a reject route.
        assert!(!v6_default(V6_LOOPBACK));
        assert!(!v6_default(""));
        // docker0 without a link, a LAN: routes, but no default one.
        let bridge =
            format!("{V4_HEADER}docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n");
        assert!(!v4_default(&bridge));
    }

    #[test]
    fn a_default_route_through_an_interface_is_beyond() {
        let v4 = format!("{V4_HEADER}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        assert!(v4_default(&v4));
        let down =
            format!("{V4_HEADER}eth0\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n");
        assert!(!v4_default(&down));
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n";
        assert!(v6_default(v6));
    }

    #[test]
    fn this_machines_routes_are_read() {
        // Whatever they are, they parse.
        assert!(system_reaches_beyond(Path::new("/")).is_some());
    }
}
