//! Network peers: `IPAddressAllow=`/`IPAddressDeny=` from the addresses the service talked
//! to, `SocketBindAllow=`/`SocketBindDeny=` from the ports it bound.
//!
//! systemd's IP firewall (235+) filters the packets of the unit's sockets both ways; an
//! allow entry wins over a deny entry. Its socket-bind filter (249+, and only where systemd
//! was built with its BPF framework) checks each IPv4/IPv6 bind(): an allow rule that
//! matches permits it, else a deny rule that matches refuses it, else it is permitted; so
//! `SocketBindDeny=any` alone refuses every bind, port 0 (an ephemeral port) included, and
//! a v4-mapped address bound on an IPv6 socket counts as `ipv6`.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use super::Decision;
use crate::{model::observations::Seen, model::profile::Profile};

/// First systemd version with IPAddressAllow=/IPAddressDeny=.
pub const IP_ADDRESS_SINCE: u32 = 235;
/// First systemd version with SocketBindAllow=/SocketBindDeny=.
pub const SOCKET_BIND_SINCE: u32 = 249;
/// Hosts of one IPv4 /24 (IPv6 /64) from which on the whole network is allowed.
pub const SUBNET_HOSTS: usize = 3;
/// Past this many allow entries beyond this host (hosts, or networks of [`SUBNET_HOSTS`]),
/// the service's destinations are taken as open-ended: a recursive resolver reaches the root
/// servers first and then whatever server each answer names, a scraper whatever targets its
/// configuration lists, and a list of those one recording saw would shut out the rest.
pub const OPEN_ENDED_ENTRIES: usize = 8;

/// An address as the observations write it (`AF_INET 1.2.3.4:80`, `AF_INET6 [::1]:80`,
/// `AF_INET 1.2.3.4`, `AF_INET6 ::1`): the IP and the port, if any. None for other families.
fn parse(desc: &str) -> Option<(IpAddr, Option<u16>)> {
    let (family, addr) = desc.split_once(' ')?;
    match family {
        "AF_INET" => match addr.rsplit_once(':') {
            Some((ip, port)) => Some((IpAddr::V4(ip.parse().ok()?), port.parse().ok())),
            None => Some((IpAddr::V4(addr.parse().ok()?), None)),
        },
        "AF_INET6" => match addr.strip_prefix('[') {
            Some(rest) => {
                let (ip, port) = rest.split_once("]:")?;
                Some((IpAddr::V6(ip.parse().ok()?), port.parse().ok()))
            }
            None => Some((IpAddr::V6(addr.parse().ok()?), None)),
        },
        _ => None,
    }
}

/// The address the packets carry: a v4-mapped IPv6 address travels as IPv4, and a connect()
/// to the unspecified address reaches this host over loopback.
fn on_the_wire(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => on_the_wire(IpAddr::V4(v4)),
            None if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            None => ip,
        },
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => ip,
    }
}

/// The address a packet from `ip` carries: a v4-mapped IPv6 address travels as IPv4. A
/// source of 0.0.0.0 (or ::) is a host without an address yet (a DHCP client), not this one.
fn as_source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// `IPAddressAllow=` entries for `hosts`: `localhost`, `link-local` and `multicast` for
/// those kinds, a /24 (IPv6: /64) for [`SUBNET_HOSTS`] or more hosts of one, else each host.
pub fn summarise(hosts: &BTreeSet<IpAddr>) -> Vec<String> {
    let mut words = BTreeSet::new();
    let mut v4: BTreeMap<[u8; 3], BTreeSet<Ipv4Addr>> = BTreeMap::new();
    let mut v6: BTreeMap<[u16; 4], BTreeSet<Ipv6Addr>> = BTreeMap::new();
    for &ip in hosts {
        let ip = on_the_wire(ip);
        if ip.is_loopback() {
            words.insert("localhost");
        } else if is_link_local(ip) {
            words.insert("link-local");
        } else if ip.is_multicast() {
            words.insert("multicast");
        } else {
            match ip {
                IpAddr::V4(a) => {
                    let o = a.octets();
                    v4.entry([o[0], o[1], o[2]]).or_default().insert(a);
                }
                IpAddr::V6(a) => {
                    let s = a.segments();
                    v6.entry([s[0], s[1], s[2], s[3]]).or_default().insert(a);
                }
            }
        }
    }
    let mut out: Vec<String> = words.into_iter().map(str::to_owned).collect();
    for (net, hosts) in v4 {
        if hosts.len() >= SUBNET_HOSTS {
            out.push(format!("{}.{}.{}.0/24", net[0], net[1], net[2]));
        } else {
            out.extend(hosts.iter().map(|h| h.to_string()));
        }
    }
    for (net, hosts) in v6 {
        if hosts.len() >= SUBNET_HOSTS {
            let prefix = Ipv6Addr::new(net[0], net[1], net[2], net[3], 0, 0, 0, 0);
            out.push(format!("{prefix}/64"));
        } else {
            out.extend(hosts.iter().map(|h| h.to_string()));
        }
    }
    out
}

/// The IP hosts in `map`'s keys, with an example key for each: destinations (connect,
/// sendto) or, with `sources`, where packets came from (accept, recvfrom).
fn hosts(map: &BTreeMap<String, Seen>, sources: bool) -> BTreeMap<IpAddr, String> {
    let wire = if sources { as_source } else { on_the_wire };
    map.keys()
        .filter_map(|k| parse(k).map(|(ip, _)| (wire(ip), k.clone())))
        .collect()
}

/// The first bind with a port of its own to an address beyond loopback (the wildcard above
/// all): a socket peers beyond this host can reach.
pub fn served_beyond_loopback(p: &Profile) -> Option<(&String, &Seen)> {
    p.observations.binds.iter().find(|(k, _)| {
        parse(k)
            .is_some_and(|(ip, port)| port.is_some_and(|p| p != 0) && !as_source(ip).is_loopback())
    })
}

/// Unix sockets through which a host name is resolved instead of over IP: systemd-resolved's
/// varlink service. (glibc asks nscd's socket for users and groups too: no evidence.)
const RESOLVER_SOCKETS: [&str; 1] = ["AF_UNIX /run/systemd/resolve/io.systemd.Resolve"];

/// Where the kernel picks the source ports of clients from (Linux's default
/// `ip_local_port_range` starts here): a datagram to such a port of a host that sent the
/// service one is its answer.
const EPHEMERAL_PORTS: u16 = 32768;

/// The first connect() or datagram sent to an IP address (or to a name resolver) that is
/// not an answer to a client: what makes the service a client itself, whose destinations
/// depend on the network it runs on.
pub fn reached_out(p: &Profile) -> Option<(&String, &Seen)> {
    let o = &p.observations;
    let clients: BTreeSet<IpAddr> = o
        .peers
        .iter()
        .flat_map(|p| hosts(&p.received_from, true).into_keys())
        .collect();
    let answer = |k: &String| {
        parse(k).is_some_and(|(ip, port)| {
            port.is_some_and(|p| p >= EPHEMERAL_PORTS) && clients.contains(&as_source(ip))
        })
    };
    let sent = o.peers.iter().flat_map(|p| &p.sent_to);
    // A connect() to port 0 sends nothing anywhere: glibc's getaddrinfo, asked for a name
    // without a service, connects a datagram socket to each address it found only to sort
    // them by source address (radicale's own listen address, "localhost"). Asked with a
    // service, its probes carry that port: see `own_listener`.
    let probe = |k: &String| parse(k).is_some_and(|(_, port)| port == Some(0));
    let itself = own_listener(p);
    o.connects
        .iter()
        .filter(|(k, _)| !probe(k))
        .chain(sent.filter(|(k, _)| !answer(k)))
        .filter(|(k, _)| !itself(k))
        .find(|(k, _)| parse(k).is_some() || RESOLVER_SOCKETS.contains(&k.as_str()))
}

/// Whether an address is the service's own listener over loopback: an address and port it
/// bound itself (postgresql's and postgrey's getaddrinfo probing their own port on 127.0.0.1
/// and ::1 to sort the addresses of localhost; 127.0.0.1 or ::1 where it bound the wildcard),
/// or an ephemeral port of a loopback address it bound to port 0 (yaws's control socket, which
/// its ExecReload and ExecStop connect to). Such a connect never leaves the host, and no
/// network it runs on changes where it goes. Binds that failed are no listener.
fn own_listener(p: &Profile) -> impl Fn(&String) -> bool + '_ {
    let bound: Vec<(IpAddr, u16)> = p
        .observations
        .binds
        .iter()
        .filter(|(_, seen)| seen.ok > 0)
        .filter_map(|(k, _)| {
            let (ip, port) = parse(k)?;
            Some((ip, port?))
        })
        .collect();
    move |k: &String| {
        let Some((ip, Some(port))) = parse(k) else {
            return false;
        };
        let to = on_the_wire(ip);
        to.is_loopback()
            && bound.iter().any(|(bound_ip, bound_port)| {
                let at = match bound_ip.is_unspecified() {
                    // The wildcard: this host's own name for itself, not another loopback
                    // address a second service may hold (systemd-resolved's 127.0.0.53).
                    // `::` takes IPv4 too (net.ipv6.bindv6only is 0 by default).
                    true => {
                        to == on_the_wire(*bound_ip)
                            || (bound_ip.is_ipv6() && to == IpAddr::V4(Ipv4Addr::LOCALHOST))
                    }
                    false => to == as_source(*bound_ip),
                };
                // Port 0 on the wildcard is a client's socket bound before its connect.
                let ephemeral =
                    *bound_port == 0 && !bound_ip.is_unspecified() && port >= EPHEMERAL_PORTS;
                at && (*bound_port == port || ephemeral)
            })
    }
}

/// Why what the service reaches beyond this host is unknown: it reached out while its
/// system had no default route beyond loopback, where names do not resolve and every peer beyond
/// this host is unreachable, so what it would have gone on to reach was not seen.
pub fn reach_unseen(p: &Profile) -> Option<String> {
    unseen_reach(p).map(|(_, why)| why)
}

/// [`reach_unseen`], with the reaching out it is about.
pub fn unseen_reach(p: &Profile) -> Option<((&String, &Seen), String)> {
    let (key, seen) = reached_out(p)?;
    let why = match p.recording.routes_beyond_loopback {
        Some(true) => return None,
        Some(false) => format!(
            "the service reached out ({key}) in a recording whose system had no default route beyond loopback (names did not resolve, no other host answered), so what it reaches on a networked host was not seen"
        ),
        None => format!(
            "the service reached out ({key}), and the profile does not say whether the recording's system had a default route beyond loopback (recorded by an older learner)"
        ),
    };
    Some(((key, seen), why))
}

/// An address beyond this host no recording sees (a documentation range's): what a firewall
/// does to peers it was not told about.
pub const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

/// Whether a firewall of these entries lets in no peer beyond this host: it drops an address
/// of each documentation range, and none of its allow entries names anything but loopback.
pub fn admits_only_this_host(allow: &[String], deny: &[String]) -> bool {
    let outside: [IpAddr; 2] = [
        ELSEWHERE,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
    ];
    let loopback_only = |e: &String| {
        e == "localhost"
            || e.split('/')
                .next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|ip| as_source(ip).is_loopback())
    };
    allow.iter().all(loopback_only) && outside.iter().all(|ip| !ip_permitted(allow, deny, *ip))
}

/// IPAddressAllow= and IPAddressDeny=, in that order.
pub fn ip_addresses(p: &Profile, systemd: u32) -> [Decision; 2] {
    let decide = |allow: Vec<String>, deny: Vec<String>, evidence: Vec<String>| {
        [
            Decision {
                directive: "IPAddressAllow",
                lines: allow,
                evidence: evidence.clone(),
            },
            Decision {
                directive: "IPAddressDeny",
                lines: deny,
                evidence,
            },
        ]
    };
    if systemd < IP_ADDRESS_SINCE {
        return decide(
            vec![],
            vec![],
            vec![format!(
                "unset: systemd {systemd} has no IP firewall ({IP_ADDRESS_SINCE}+)"
            )],
        );
    }
    let o = &p.observations;
    let Some(peers) = &o.peers else {
        return decide(
            vec![],
            vec![],
            vec!["unset: the profile does not record accepted, received-from and sent-to peers (recorded by an older learner), so a server cannot be told from a client".into()],
        );
    };
    // Peers that reached the service: if any came from beyond this host, its clients may be
    // anyone, and a list of the ones a recording saw would shut out the rest.
    let mut incoming = hosts(&peers.accepted, true);
    incoming.extend(hosts(&peers.received_from, true));
    if let Some((ip, key)) = incoming.iter().find(|(ip, _)| !ip.is_loopback()) {
        let how = if peers.accepted.contains_key(key) {
            "accepted a connection from"
        } else {
            "received a datagram from"
        };
        return decide(
            vec![],
            vec![],
            vec![format!(
                "unset: the service {how} {ip}, beyond this host: a server's clients may come from anywhere"
            )],
        );
    }
    // A socket bound with a port of its own to an address beyond loopback (the wildcard above
    // all) serves whoever reaches that address: clients the recording saw only on this host (a
    // staging run driven locally, a test machine without a network) are a sample, and
    // `localhost` would shut out every real one.
    if let Some((key, _)) = served_beyond_loopback(p) {
        return decide(
            vec![],
            vec![],
            vec![format!(
                "unset: the service bound {key}, which peers beyond this host can reach, and a server's clients may come from anywhere (the recording saw only local ones)"
            )],
        );
    }
    // A client recorded without a network beyond this host: its destinations there are
    // unknown, and a list of the local ones would shut out every real one.
    if let Some(why) = reach_unseen(p) {
        return decide(vec![], vec![], vec![format!("unset: {why}")]);
    }
    // A listener with no recorded client: whoever its clients are, the recording did not
    // see them, and denying every address would shut them all out.
    let listens = p.syscalls.get("listen").is_some_and(|n| *n > 0);
    if listens && incoming.is_empty() {
        let listener = o
            .binds
            .keys()
            .find(|k| parse(k).is_some_and(|(_, port)| port.is_some_and(|p| p != 0)));
        if let Some(key) = listener {
            return decide(
                vec![],
                vec![],
                vec![format!(
                    "unset: the service listens (bind() to {key}) but no accepted client was recorded, so who its clients are is unknown"
                )],
            );
        }
    }
    let mut all = incoming;
    all.extend(hosts(&o.connects, false));
    all.extend(hosts(&peers.sent_to, false));
    let mut evidence: Vec<String> = all
        .iter()
        .map(|(ip, key)| {
            let how = if peers.accepted.contains_key(key) {
                "accepted from"
            } else if peers.received_from.contains_key(key) {
                "received from"
            } else if o.connects.contains_key(key) {
                "connect() to"
            } else {
                "sent to"
            };
            format!("{how} {ip} ({key})")
        })
        .collect();
    let allow = summarise(&all.keys().copied().collect());
    let outside: Vec<&String> = allow
        .iter()
        .filter(|e| !matches!(e.as_str(), "localhost" | "link-local" | "multicast"))
        .collect();
    if outside.len() > OPEN_ENDED_ENTRIES {
        return decide(
            vec![],
            vec![],
            vec![format!(
                "unset: the service reached {} hosts or networks beyond this host ({}, ...): destinations that many are open-ended (a resolver's, a scraper's), and a list of those one recording saw would shut out the rest",
                outside.len(),
                outside[..3]
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        );
    }
    let mut allow_lines = vec!["IPAddressAllow=".to_owned()];
    if allow.is_empty() {
        evidence.push("no IP peer at all: every IP packet is dropped".into());
    } else {
        allow_lines.push(format!("IPAddressAllow={}", allow.join(" ")));
        evidence.push(format!(
            "only these: loopback as `localhost`, {SUBNET_HOSTS} or more hosts of one /24 (/64) as that network"
        ));
    }
    decide(
        allow_lines,
        vec!["IPAddressDeny=".into(), "IPAddressDeny=any".into()],
        evidence,
    )
}

/// Distinct unprivileged ports of one family that make binds a pool picked from at run time
/// rather than a set of listeners.
const DYNAMIC_PORTS: usize = 8;

/// SocketBindAllow= and SocketBindDeny=, in that order.
pub fn socket_binds(p: &Profile, systemd: u32) -> [Decision; 2] {
    let decide = |allow: Vec<String>, deny: Vec<String>, evidence: Vec<String>| {
        [
            Decision {
                directive: "SocketBindAllow",
                lines: allow,
                evidence: evidence.clone(),
            },
            Decision {
                directive: "SocketBindDeny",
                lines: deny,
                evidence,
            },
        ]
    };
    if systemd < SOCKET_BIND_SINCE {
        return decide(
            vec![],
            vec![],
            vec![format!(
                "unset: systemd {systemd} has no socket-bind filter ({SOCKET_BIND_SINCE}+)"
            )],
        );
    }
    let mut rules = BTreeSet::new();
    let mut evidence = Vec::new();
    for key in p.observations.binds.keys() {
        let Some((_, port)) = parse(key) else {
            continue;
        };
        // The filter goes by the socket's family, which the address's family is.
        let family = if key.starts_with("AF_INET6 ") {
            "ipv6"
        } else {
            "ipv4"
        };
        match port {
            Some(0) | None => {
                return decide(
                    vec![],
                    vec![],
                    vec![format!(
                        "unset: bind() to {key}, a port the kernel picks: SocketBindDeny=any refuses that too, and no allow rule can name it"
                    )],
                );
            }
            Some(port) => {
                rules.insert((family, port));
                evidence.push(format!("bind() to {key}"));
            }
        }
    }
    // Many unprivileged ports: a pool the service picks from at run time (an FTP server's
    // passive ports, RTP media), not listeners. A recording sees a sample of it, and an
    // allow-list of that sample refuses the rest where systemd enforces it.
    for family in ["ipv4", "ipv6"] {
        let pool: Vec<u16> = rules
            .iter()
            .filter(|(f, port)| *f == family && *port >= 1024)
            .map(|(_, port)| *port)
            .collect();
        if pool.len() >= DYNAMIC_PORTS {
            return decide(
                vec![],
                vec![],
                vec![format!(
                    "unset: bind() to {} distinct {family} ports from {} to {}, a pool the service picks from at run time: the ones one recording saw are not all it may pick",
                    pool.len(),
                    pool[0],
                    pool[pool.len() - 1]
                )],
            );
        }
    }
    let mut allow = vec!["SocketBindAllow=".to_owned()];
    if rules.is_empty() {
        evidence.push("no IPv4/IPv6 bind() at all: every one is refused".into());
    }
    // The protocol (tcp/udp) is left out: bind() does not say which, and socket()'s
    // protocol argument is not recorded (SCTP, MPTCP are streams too).
    allow.extend(
        rules
            .into_iter()
            .map(|(family, port)| format!("SocketBindAllow={family}:{port}")),
    );
    evidence.push(
        "enforced only by a systemd built with its BPF framework (`systemctl --version` lists +BPF_FRAMEWORK; Debian 12's 252 lacks it and ignores both)".into(),
    );
    decide(
        allow,
        vec!["SocketBindDeny=".into(), "SocketBindDeny=any".into()],
        evidence,
    )
}

/// Every IP peer `p` observed (on the wire), with what the service did with it: `accepted
/// from`, `received from`, `connect() to`, `sent to`, and the observation's key.
pub fn observed_peers(p: &Profile) -> BTreeMap<IpAddr, (String, Seen)> {
    let o = &p.observations;
    let mut out = BTreeMap::new();
    let mut add = |map: &BTreeMap<String, Seen>, how: &str, sources: bool| {
        for (ip, key) in hosts(map, sources) {
            out.entry(ip)
                .or_insert_with(|| (format!("{how} {key}"), map[&key].clone()));
        }
    };
    if let Some(peers) = &o.peers {
        add(&peers.accepted, "accepted from", true);
        add(&peers.received_from, "received from", true);
        add(&peers.sent_to, "sent to", false);
    }
    add(&o.connects, "connect() to", false);
    out
}

/// Whether one `IPAddressAllow=`/`IPAddressDeny=` entry matches `ip`; None for an entry
/// this does not understand.
pub fn entry_matches(entry: &str, ip: IpAddr) -> Option<bool> {
    let ip = as_source(ip);
    Some(match entry {
        "any" => true,
        "localhost" => ip.is_loopback(),
        "link-local" => is_link_local(ip),
        "multicast" => ip.is_multicast(),
        _ => {
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, n)) => (a, Some(n.parse::<u32>().ok()?)),
                None => (entry, None),
            };
            match (addr.parse::<IpAddr>().ok()?, ip) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => {
                    let n = prefix.unwrap_or(32).min(32);
                    let mask = u32::MAX.checked_shl(32 - n).unwrap_or(0);
                    u32::from(net) & mask == u32::from(ip) & mask
                }
                (IpAddr::V6(net), IpAddr::V6(ip)) => {
                    let n = prefix.unwrap_or(128).min(128);
                    let mask = u128::MAX.checked_shl(128 - n).unwrap_or(0);
                    u128::from(net) & mask == u128::from(ip) & mask
                }
                _ => false,
            }
        }
    })
}

/// Whether systemd's IP firewall lets packets of `ip` through with these entries: an allow
/// entry that matches wins, else a deny entry that matches drops them, else they pass.
/// Entries this does not understand count as matching (allow) and not matching (deny).
pub fn ip_permitted(allow: &[String], deny: &[String], ip: IpAddr) -> bool {
    allow.iter().any(|e| entry_matches(e, ip).unwrap_or(true))
        || !deny.iter().any(|e| entry_matches(e, ip).unwrap_or(false))
}

/// Whether one `SocketBindAllow=`/`SocketBindDeny=` rule (`[ipv4:|ipv6:][tcp:|udp:]PORT`,
/// a `LOW-HIGH` range, or `any`) matches a bind of `family` (`ipv4`/`ipv6`) to `port`. The
/// protocol of a recorded bind is not known: a rule naming one counts as matching.
fn bind_rule_matches(rule: &str, family: &str, port: u16) -> Option<bool> {
    let mut parts: Vec<&str> = rule.split(':').collect();
    let ports = parts.pop()?;
    for p in &parts {
        match *p {
            "ipv4" | "ipv6" if *p != family => return Some(false),
            "ipv4" | "ipv6" | "tcp" | "udp" => {}
            _ => return None,
        }
    }
    if ports == "any" {
        return Some(true);
    }
    let (low, high) = match ports.split_once('-') {
        Some((l, h)) => (l.parse::<u16>().ok()?, h.parse::<u16>().ok()?),
        None => {
            let p = ports.parse::<u16>().ok()?;
            (p, p)
        }
    };
    Some((low..=high).contains(&port))
}

/// Whether systemd's socket-bind filter permits a bind of `family` to `port`: an allow rule
/// that matches permits it, else a deny rule that matches refuses it, else it is permitted.
pub fn bind_permitted(allow: &[String], deny: &[String], family: &str, port: u16) -> bool {
    allow
        .iter()
        .any(|r| bind_rule_matches(r, family, port).unwrap_or(true))
        || !deny
            .iter()
            .any(|r| bind_rule_matches(r, family, port).unwrap_or(false))
}

/// Every IPv4/IPv6 bind() `p` observed: (family as SocketBind= names it, port, key, seen).
pub fn observed_binds(p: &Profile) -> Vec<(&'static str, u16, &String, &Seen)> {
    p.observations
        .binds
        .iter()
        .filter_map(|(key, seen)| {
            let (_, port) = parse(key)?;
            let family = if key.starts_with("AF_INET6 ") {
                "ipv6"
            } else {
                "ipv4"
            };
            Some((family, port?, key, seen))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::observations::{Peers, Slot},
        policy::{filter_groups::SyscallGroups, margin::Margin, resolve},
    };

    /// A profile recorded by this learner (peers recorded) with `slots` observed.
    fn profile(slots: &[Slot]) -> Profile {
        let mut p = Profile::example("svc.service");
        p.observations.peers = Some(Peers::default());
        for s in slots {
            p.observations.add(s, 0, "svc", 1);
        }
        p
    }

    /// The drop-in lines of `directive` when generated for `systemd`.
    fn lines(p: &Profile, systemd: u32, directive: &str) -> Vec<String> {
        let policy = resolve(
            p,
            systemd,
            &SyscallGroups::for_version(systemd, None),
            Margin::Exact,
        );
        policy
            .decision(directive)
            .unwrap_or_else(|| panic!("{directive} not decided"))
            .lines
            .clone()
    }

    fn evidence(p: &Profile, systemd: u32, directive: &str) -> String {
        let policy = resolve(
            p,
            systemd,
            &SyscallGroups::for_version(systemd, None),
            Margin::Exact,
        );
        policy.decision(directive).unwrap().evidence.join("\n")
    }

    #[test]
    fn no_ip_peer_denies_every_address() {
        let p = profile(&[Slot::Socket("AF_UNIX/SOCK_STREAM".into())]);
        assert_eq!(lines(&p, 252, "IPAddressAllow"), ["IPAddressAllow="]);
        assert_eq!(
            lines(&p, 252, "IPAddressDeny"),
            ["IPAddressDeny=", "IPAddressDeny=any"]
        );
    }

    #[test]
    fn loopback_clients_of_a_loopback_server_give_localhost_only() {
        let p = profile(&[
            Slot::Bind("AF_INET 127.0.0.1:80".into()),
            Slot::Bind("AF_INET6 [::ffff:127.0.0.1]:80".into()),
            Slot::Bind("AF_INET6 [::1]:80".into()),
            // An ephemeral port on any address is a client's.
            Slot::Bind("AF_INET 0.0.0.0:0".into()),
            Slot::Accepted("AF_INET 127.0.0.1".into()),
            Slot::Accepted("AF_INET6 ::ffff:127.0.0.1".into()),
            Slot::Accepted("AF_INET6 ::1".into()),
        ]);
        assert_eq!(
            lines(&p, 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=localhost"]
        );
        assert_eq!(
            lines(&p, 252, "IPAddressDeny").last().unwrap(),
            "IPAddressDeny=any"
        );
    }

    #[test]
    fn a_server_bound_beyond_loopback_is_not_restricted_by_its_local_clients() {
        // nginx on 0.0.0.0:80 driven by a local load, sshd on [::]:22, a UDP server on one
        // address of the host: the recorded clients are all local, the real ones are not.
        for bind in [
            "AF_INET 0.0.0.0:80",
            "AF_INET6 [::]:22",
            "AF_INET 192.0.2.1:53",
        ] {
            let p = profile(&[
                Slot::Bind(bind.into()),
                Slot::Accepted("AF_INET 127.0.0.1".into()),
                Slot::ReceivedFrom("AF_INET6 ::1".into()),
            ]);
            assert!(lines(&p, 252, "IPAddressAllow").is_empty(), "{bind}");
            assert!(lines(&p, 252, "IPAddressDeny").is_empty(), "{bind}");
            let why = evidence(&p, 252, "IPAddressDeny");
            assert!(why.contains(&format!("bound {bind}")), "{why}");
        }
    }

    #[test]
    fn a_client_recorded_without_a_route_beyond_loopback_is_not_restricted() {
        // An application that calls its database, a fail2ban that resolves names: on a test
        // machine with loopback only, its destinations there are not the ones it has.
        for reached in [
            Slot::Connect("AF_INET 127.0.0.1:5432".into()),
            Slot::Connect("AF_INET 10.255.255.53:53".into()),
            Slot::SentTo("AF_INET 127.0.0.1:514".into()),
            Slot::Connect("AF_UNIX /run/systemd/resolve/io.systemd.Resolve".into()),
        ] {
            let mut p = profile(std::slice::from_ref(&reached));
            p.recording.routes_beyond_loopback = Some(false);
            assert!(lines(&p, 252, "IPAddressDeny").is_empty(), "{reached:?}");
            assert!(lines(&p, 252, "IPAddressAllow").is_empty(), "{reached:?}");
            let why = evidence(&p, 252, "IPAddressDeny");
            assert!(why.contains("default route beyond loopback"), "{why}");
            // A profile of an older learner does not say: the same.
            p.recording.routes_beyond_loopback = None;
            assert!(lines(&p, 252, "IPAddressDeny").is_empty(), "{reached:?}");
            // Recorded on a networked host, where it reached only these: restricted.
            p.recording.routes_beyond_loopback = Some(true);
            let deny = lines(&p, 252, "IPAddressDeny");
            assert_eq!(deny.last().map(String::as_str), Some("IPAddressDeny=any"));
        }
    }

    #[test]
    fn a_lookup_that_went_nowhere_without_a_network_keeps_the_network() {
        // Its name asked of systemd-resolved on a machine without a network: no answer, so no
        // socket of IP's; on a networked host the connect follows.
        let mut p = profile(&[
            Slot::Socket("AF_UNIX/SOCK_STREAM".into()),
            Slot::Connect("AF_UNIX /run/systemd/resolve/io.systemd.Resolve".into()),
        ]);
        p.recording.routes_beyond_loopback = Some(false);
        assert!(lines(&p, 252, "PrivateNetwork").is_empty());
        assert_eq!(
            lines(&p, 252, "RestrictAddressFamilies").last().unwrap(),
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
        );
        // Recorded with a network, the lookup was all it did.
        p.recording.routes_beyond_loopback = Some(true);
        assert_eq!(lines(&p, 252, "PrivateNetwork"), ["PrivateNetwork=yes"]);
        assert_eq!(
            lines(&p, 252, "RestrictAddressFamilies").last().unwrap(),
            "RestrictAddressFamilies=AF_UNIX"
        );
    }

    #[test]
    fn a_local_server_that_only_answered_keeps_localhost_without_a_route() {
        // memcached on 127.0.0.1, an SNMP agent answering on UDP: answers to a client's port
        // are no reaching out, and the absent network changed nothing the service did.
        let mut p = profile(&[
            Slot::Bind("AF_INET 127.0.0.1:161".into()),
            Slot::ReceivedFrom("AF_INET 127.0.0.1".into()),
            Slot::SentTo("AF_INET 127.0.0.1:60667".into()),
            Slot::Connect("AF_UNIX /var/run/nscd/socket".into()),
        ]);
        p.recording.routes_beyond_loopback = Some(false);
        assert_eq!(
            lines(&p, 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=localhost"]
        );
        // A datagram to a service port of the same host is a request of its own.
        p.observations
            .add(&Slot::SentTo("AF_INET 127.0.0.1:162".into()), 0, "svc", 1);
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
    }

    #[test]
    fn a_connect_to_port_zero_is_an_address_sort_not_reaching_out() {
        // radicale resolving its own listen address, localhost: getaddrinfo connects a UDP
        // socket to 127.0.0.1:0 and ::1 port 0 to sort the two, and sends nothing.
        let mut p = profile(&[
            Slot::Bind("AF_INET 127.0.0.1:5232".into()),
            Slot::Connect("AF_INET 127.0.0.1:0".into()),
            Slot::Connect("AF_INET6 [::1]:0".into()),
        ]);
        p.recording.routes_beyond_loopback = Some(false);
        assert_eq!(
            lines(&p, 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=localhost"]
        );
        // A request to a port of that address is reaching out.
        p.observations
            .add(&Slot::Connect("AF_INET 127.0.0.1:5432".into()), 0, "svc", 1);
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
    }

    #[test]
    fn a_connect_to_its_own_listener_over_loopback_is_not_reaching_out() {
        // postgresql resolving localhost for port 5432: getaddrinfo connects UDP sockets to
        // its own listeners to sort the addresses, and sends nothing.
        let mut p = profile(&[
            Slot::Bind("AF_INET 127.0.0.1:5432".into()),
            Slot::Bind("AF_INET6 [::1]:5432".into()),
            Slot::Connect("AF_INET 127.0.0.1:5432".into()),
            Slot::Connect("AF_INET6 [::1]:5432".into()),
        ]);
        p.recording.routes_beyond_loopback = Some(false);
        assert_eq!(reached_out(&p), None);
        assert_eq!(
            lines(&p, 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=localhost"]
        );
        // yaws's control socket: bound to 127.0.0.1 port 0, reached at the port the kernel
        // picked.
        let mut yaws = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:8080".into()),
            Slot::Bind("AF_INET 127.0.0.1:0".into()),
            Slot::Connect("AF_INET 127.0.0.1:36721".into()),
        ]);
        yaws.recording.routes_beyond_loopback = Some(false);
        assert_eq!(reached_out(&yaws), None);
        // Its own port on another host, or another port of this one, is reaching out.
        for other in ["AF_INET 192.0.2.7:5432", "AF_INET 127.0.0.1:6379"] {
            let mut q = p.clone();
            q.observations
                .add(&Slot::Connect(other.into()), 0, "svc", 1);
            assert_eq!(reached_out(&q).map(|(k, _)| k.as_str()), Some(other));
        }
        // Another loopback address at its port is another service's (systemd-resolved's
        // 127.0.0.53:53 beside a resolver bound to the wildcard), and a bind that failed is
        // no listener.
        let mut resolver = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:53".into()),
            Slot::Connect("AF_INET 127.0.0.53:53".into()),
        ]);
        resolver.recording.routes_beyond_loopback = Some(false);
        assert!(reached_out(&resolver).is_some());
        let mut failed = profile(&[Slot::Connect("AF_INET 127.0.0.1:5432".into())]);
        failed
            .observations
            .add(&Slot::Bind("AF_INET 127.0.0.1:5432".into()), -98, "svc", 1);
        failed.recording.routes_beyond_loopback = Some(false);
        assert!(reached_out(&failed).is_some());
        // Without a loopback listener on port 0, an ephemeral port is somebody else's.
        let mut client = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:0".into()),
            Slot::Connect("AF_INET 127.0.0.1:36721".into()),
        ]);
        client.recording.routes_beyond_loopback = Some(false);
        assert!(reached_out(&client).is_some());
    }

    #[test]
    fn a_server_that_accepted_from_beyond_this_host_is_not_restricted() {
        for slot in [
            Slot::Accepted("AF_INET 192.0.2.7".into()),
            Slot::ReceivedFrom("AF_INET6 2001:db8::7".into()),
        ] {
            let p = profile(&[Slot::Accepted("AF_INET 127.0.0.1".into()), slot]);
            assert!(lines(&p, 252, "IPAddressAllow").is_empty());
            assert!(lines(&p, 252, "IPAddressDeny").is_empty());
            let why = evidence(&p, 252, "IPAddressDeny");
            assert!(why.contains("beyond this host"), "{why}");
        }
    }

    #[test]
    fn a_datagram_from_a_host_without_an_address_is_from_beyond_this_host() {
        // dnsmasq serving DHCP: a DISCOVER comes from 0.0.0.0:68, which the firewall does not
        // count as loopback, and the reply goes out to the broadcast address.
        let p = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:67".into()),
            Slot::ReceivedFrom("AF_INET 127.0.0.1".into()),
            Slot::ReceivedFrom("AF_INET 0.0.0.0".into()),
            Slot::SentTo("AF_INET 255.255.255.255:68".into()),
        ]);
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
        let why = evidence(&p, 252, "IPAddressDeny");
        assert!(why.contains("received a datagram from 0.0.0.0"), "{why}");
        // What verify checks: that source is outside `localhost`.
        let (ip, _) = observed_peers(&p)
            .into_iter()
            .find(|(_, (how, _))| how.starts_with("received from AF_INET 0.0.0.0"))
            .expect("the DHCP client");
        let v = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!ip_permitted(&v(&["localhost"]), &v(&["any"]), ip));
        // A connect() to 0.0.0.0 still reaches this host.
        let client = profile(&[Slot::Connect("AF_INET 0.0.0.0:80".into())]);
        assert_eq!(
            lines(&client, 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=localhost"]
        );
    }

    #[test]
    fn a_listener_without_a_recorded_client_is_not_restricted() {
        let mut p = profile(&[Slot::Bind("AF_INET 127.0.0.1:6379".into())]);
        p.syscalls.insert("listen".into(), 1);
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
        assert!(evidence(&p, 252, "IPAddressDeny").contains("no accepted client"));
        p.observations
            .add(&Slot::Accepted("AF_INET 127.0.0.1".into()), 5, "svc", 1);
        assert_eq!(
            lines(&p, 252, "IPAddressDeny").last().unwrap(),
            "IPAddressDeny=any"
        );
    }

    #[test]
    fn io_uring_network_requests_leave_addresses_alone() {
        // Its requests accept unseen: which peers it met is not known.
        let mut p = profile(&[
            Slot::Accepted("AF_INET 127.0.0.1".into()),
            Slot::IoUring("ACCEPT".into()),
        ]);
        p.syscalls.insert("io_uring_enter".into(), 3);
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
        let why = evidence(&p, 252, "IPAddressDeny");
        assert!(why.contains("io_uring ACCEPT requests"), "{why}");
        // It binds nothing through them: the bind filter still rests on what was seen.
        assert!(!evidence(&p, 252, "SocketBindDeny").contains("io_uring"));
        // Reads and writes on its own fds name no peer.
        let mut q = profile(&[
            Slot::Accepted("AF_INET 127.0.0.1".into()),
            Slot::IoUring("READ".into()),
            Slot::IoUring("WRITE".into()),
        ]);
        q.syscalls.insert("io_uring_enter".into(), 3);
        assert_eq!(
            lines(&q, 252, "IPAddressDeny").last().unwrap(),
            "IPAddressDeny=any"
        );
        // A profile that does not record the operations cannot say which ran.
        q.observations.io_uring = None;
        for d in ["IPAddressDeny", "SocketBindDeny"] {
            assert!(lines(&q, 252, d).is_empty(), "{d}");
            assert!(evidence(&q, 252, d).contains("older learner"), "{d}");
        }
    }

    #[test]
    fn a_client_may_reach_what_it_reached() {
        let p = profile(&[
            Slot::Connect("AF_INET 10.1.2.3:5432".into()),
            Slot::Connect("AF_UNIX /run/x.sock".into()),
            Slot::SentTo("AF_INET6 [fe80::1]:53".into()),
            Slot::SentTo("AF_INET 224.0.0.251:5353".into()),
            Slot::Connect("AF_INET 0.0.0.0:80".into()),
        ]);
        assert_eq!(
            lines(&p, 252, "IPAddressAllow"),
            [
                "IPAddressAllow=",
                "IPAddressAllow=link-local localhost multicast 10.1.2.3"
            ]
        );
    }

    #[test]
    fn a_client_of_many_networks_is_not_restricted() {
        // named priming its cache: the 13 root servers over IPv4 and IPv6, each a network of
        // its own; on a real host the answers name further servers nobody recorded.
        let roots = [
            "198.41.0.4",
            "170.247.170.2",
            "192.33.4.12",
            "199.7.91.13",
            "192.203.230.10",
            "2001:500:2::c",
            "2001:500:2d::d",
            "2001:7fe::53",
            "2001:dc3::35",
        ];
        let mut slots = vec![
            Slot::Bind("AF_INET 127.0.0.1:53".into()),
            Slot::Accepted("AF_INET 127.0.0.1".into()),
        ];
        // Eight entries are still a list.
        let to = |r: &str| match r.contains(':') {
            true => format!("AF_INET6 [{r}]:53"),
            false => format!("AF_INET {r}:53"),
        };
        slots.extend(roots[..8].iter().map(|r| Slot::Connect(to(r))));
        let p = profile(&slots);
        assert_eq!(lines(&p, 252, "IPAddressAllow").len(), 2);
        assert_eq!(
            lines(&p, 252, "IPAddressDeny").last().unwrap(),
            "IPAddressDeny=any"
        );
        let mut p = p;
        p.observations.add(&Slot::SentTo(to(roots[8])), 0, "svc", 1);
        assert!(lines(&p, 252, "IPAddressAllow").is_empty());
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
        let why = evidence(&p, 252, "IPAddressDeny");
        assert!(
            why.contains("9 hosts or networks beyond this host"),
            "{why}"
        );
        // Many hosts of one network are one entry: a cluster stays restricted.
        let cluster: Vec<Slot> = (1..=30)
            .map(|i| Slot::Connect(format!("AF_INET 10.0.0.{i}:9042")))
            .collect();
        assert_eq!(
            lines(&profile(&cluster), 252, "IPAddressAllow"),
            ["IPAddressAllow=", "IPAddressAllow=10.0.0.0/24"]
        );
    }

    #[test]
    fn many_hosts_of_one_network_become_the_network() {
        let hosts: BTreeSet<IpAddr> = [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.1.1",
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
            "2001:db8:0:1::1",
        ]
        .iter()
        .map(|h| h.parse().unwrap())
        .collect();
        assert_eq!(
            summarise(&hosts),
            [
                "10.0.0.0/24",
                "10.0.1.1",
                "2001:db8::/64",
                "2001:db8:0:1::1"
            ]
        );
        // Two are only two hosts.
        let two: BTreeSet<IpAddr> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        assert_eq!(summarise(&two), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn versions_without_the_firewall_never_see_it() {
        let p = profile(&[Slot::Bind("AF_INET 127.0.0.1:80".into())]);
        assert!(lines(&p, 234, "IPAddressAllow").is_empty());
        assert!(lines(&p, 234, "IPAddressDeny").is_empty());
        assert!(!lines(&p, 235, "IPAddressDeny").is_empty());
        assert!(lines(&p, 248, "SocketBindAllow").is_empty());
        assert!(lines(&p, 248, "SocketBindDeny").is_empty());
        assert!(!lines(&p, 249, "SocketBindDeny").is_empty());
    }

    #[test]
    fn a_profile_without_peers_is_not_restricted() {
        let mut p = profile(&[Slot::Bind("AF_INET 0.0.0.0:80".into())]);
        p.observations.peers = None;
        assert!(lines(&p, 252, "IPAddressDeny").is_empty());
        assert!(evidence(&p, 252, "IPAddressDeny").contains("older learner"));
        // Binds were always recorded.
        assert!(!lines(&p, 252, "SocketBindDeny").is_empty());
    }

    #[test]
    fn binds_allow_their_ports_by_family() {
        let p = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:80".into()),
            Slot::Bind("AF_INET6 [::ffff:127.0.0.1]:8080".into()),
            Slot::Bind("AF_INET6 [::]:80".into()),
            Slot::Bind("AF_UNIX /run/x.sock".into()),
        ]);
        assert_eq!(
            lines(&p, 252, "SocketBindAllow"),
            [
                "SocketBindAllow=",
                "SocketBindAllow=ipv4:80",
                "SocketBindAllow=ipv6:80",
                "SocketBindAllow=ipv6:8080"
            ]
        );
        assert_eq!(
            lines(&p, 252, "SocketBindDeny"),
            ["SocketBindDeny=", "SocketBindDeny=any"]
        );
    }

    #[test]
    fn a_pool_of_ports_picked_at_run_time_leaves_binds_alone() {
        // vsftpd: its listener, then passive data ports picked at random from 40000-40100.
        let mut slots = vec![Slot::Bind("AF_INET 127.0.0.1:21".into())];
        for port in [40001, 40007, 40016, 40023, 40040, 40055, 40072, 40096] {
            slots.push(Slot::Bind(format!("AF_INET 127.0.0.1:{port}")));
        }
        let p = profile(&slots);
        assert!(lines(&p, 252, "SocketBindAllow").is_empty());
        assert!(lines(&p, 252, "SocketBindDeny").is_empty());
        assert!(
            evidence(&p, 252, "SocketBindAllow")
                .contains("8 distinct ipv4 ports from 40001 to 40096"),
            "{}",
            evidence(&p, 252, "SocketBindAllow")
        );
        // A few listeners are not a pool.
        let p = profile(&slots[..5]);
        assert_eq!(lines(&p, 252, "SocketBindAllow").len(), 6);
    }

    #[test]
    fn no_bind_refuses_every_bind_and_port_zero_leaves_binds_alone() {
        let p = profile(&[Slot::Bind("AF_UNIX /run/x.sock".into())]);
        assert_eq!(lines(&p, 252, "SocketBindAllow"), ["SocketBindAllow="]);
        assert_eq!(
            lines(&p, 252, "SocketBindDeny").last().unwrap(),
            "SocketBindDeny=any"
        );
        let p = profile(&[
            Slot::Bind("AF_INET 0.0.0.0:80".into()),
            Slot::Bind("AF_INET 0.0.0.0:0".into()),
        ]);
        assert!(lines(&p, 252, "SocketBindAllow").is_empty());
        assert!(lines(&p, 252, "SocketBindDeny").is_empty());
        assert!(evidence(&p, 252, "SocketBindDeny").contains("port the kernel picks"));
    }

    #[test]
    fn a_datagram_to_an_abstract_socket_keeps_the_host_network() {
        let p = profile(&[Slot::SentTo("AF_UNIX @notify".into())]);
        assert!(lines(&p, 252, "PrivateNetwork").is_empty());
        let p = profile(&[Slot::SentTo("AF_UNIX /run/systemd/notify".into())]);
        assert_eq!(lines(&p, 252, "PrivateNetwork"), ["PrivateNetwork=yes"]);
    }

    #[test]
    fn firewall_and_bind_rules_match_as_systemd_does() {
        let v = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (allow, deny) = (v(&["localhost", "10.0.0.0/24"]), v(&["any"]));
        assert!(ip_permitted(&allow, &deny, ip("127.0.0.2")));
        assert!(ip_permitted(&allow, &deny, ip("::ffff:10.0.0.9")));
        assert!(!ip_permitted(&allow, &deny, ip("10.0.1.1")));
        assert!(!ip_permitted(&allow, &deny, ip("::2")));
        assert!(ip_permitted(&[], &[], ip("192.0.2.1")));
        let (allow, deny) = (v(&["ipv4:80", "ipv6:tcp:8000-8010"]), v(&["any"]));
        assert!(bind_permitted(&allow, &deny, "ipv4", 80));
        assert!(!bind_permitted(&allow, &deny, "ipv6", 80));
        assert!(bind_permitted(&allow, &deny, "ipv6", 8005));
        assert!(!bind_permitted(&allow, &deny, "ipv4", 0));
        assert!(bind_permitted(&allow, &[], "ipv4", 443));
    }

    #[test]
    fn peers_survive_a_merge_only_if_every_part_recorded_them() {
        let a = profile(&[Slot::Accepted("AF_INET 127.0.0.1".into())]);
        let mut b = a.clone();
        let mut merged = a.observations.clone();
        merged.merge(&b.observations);
        assert_eq!(merged.peers.unwrap().accepted["AF_INET 127.0.0.1"].count, 2);
        b.observations.peers = None;
        let mut merged = a.observations.clone();
        merged.merge(&b.observations);
        assert_eq!(merged.peers, None);
    }
}
