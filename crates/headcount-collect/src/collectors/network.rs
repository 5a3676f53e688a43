//! A network summary: interfaces counted by kind, IPv4/IPv6 configured, default route; never
//! a name, an address or a MAC.

use headcount_report::{CountBucket, Interfaces, Network, Report};

use crate::{Context, Field, Root};

macro_rules! kind_fields {
    ($($kind:literal, $what:literal;)+) => {
        &[$(
            Field {
                name: concat!("network.interfaces.", $kind),
                kind: crate::Kind::Text("string (bucket label)"),
                bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
                description: concat!("Network interfaces that are ", $what, "."),
            },
        )+
            Field {
                name: "network.ipv4",
                kind: crate::Kind::Text("boolean"),
                bucketing: "",
                description: "Whether an IPv4 route exists on an interface other than loopback (proc/net/route).",
            },
            Field {
                name: "network.ipv6",
                kind: crate::Kind::Text("boolean"),
                bucketing: "",
                description: "Whether a global IPv6 address is configured on an interface other than loopback (proc/net/if_inet6).",
            },
            Field {
                name: "network.default_route",
                kind: crate::Kind::Text("boolean"),
                bucketing: "",
                description: "Whether an IPv4 or IPv6 default route exists (proc/net/route, proc/net/ipv6_route).",
            },
        ]
    };
}

pub(crate) const FIELDS: &[Field] = kind_fields! {
    "ethernet", "Ethernet devices backed by hardware or a paravirtual NIC";
    "wifi", "wireless LAN devices";
    "bond", "bonds";
    "bridge", "bridges";
    "vlan", "VLANs";
    "team", "teams";
    "vxlan", "VXLAN tunnels";
    "wireguard", "WireGuard tunnels";
    "tun", "TUN/TAP devices";
    "other", "of any other kind (veth, dummy, macvlan, ...), loopback left out";
};

/// ARPHRD_ETHER in sys/class/net/*/type.
const ARPHRD_ETHER: &str = "1";
/// ARPHRD_LOOPBACK.
const ARPHRD_LOOPBACK: &str = "772";

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ethernet,
    Wifi,
    Bond,
    Bridge,
    Vlan,
    Team,
    Vxlan,
    Wireguard,
    Tun,
    Other,
}

/// Reads sys/class/net and proc/net.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let root = &ctx.root;
    let v4 = root.read("proc/net/route");
    let v6_routes = root.read("proc/net/ipv6_route");
    let net = Network {
        interfaces: interfaces(root),
        ipv4: v4.as_deref().map(has_ipv4_route),
        ipv6: root
            .read("proc/net/if_inet6")
            .as_deref()
            .map(has_global_ipv6),
        default_route: match (v4.as_deref(), v6_routes.as_deref()) {
            (None, None) => None,
            (a, b) => Some(a.is_some_and(has_ipv4_default) || b.is_some_and(has_ipv6_default)),
        },
    };
    if !net.is_empty() {
        report.network = Some(net);
    }
}

fn kind_of(root: &Root, name: &str) -> Option<Kind> {
    let dir = format!("sys/class/net/{name}");
    let uevent = root.read(&format!("{dir}/uevent")).unwrap_or_default();
    let devtype = uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVTYPE="))
        .map(str::trim);
    let kind = match devtype {
        Some("wlan") => Kind::Wifi,
        Some("bond") => Kind::Bond,
        Some("bridge") => Kind::Bridge,
        Some("vlan") => Kind::Vlan,
        Some("team") => Kind::Team,
        Some("vxlan") => Kind::Vxlan,
        Some("wireguard") => Kind::Wireguard,
        _ if root.exists(&format!("{dir}/wireless")) || root.exists(&format!("{dir}/phy80211")) => {
            Kind::Wifi
        }
        _ if root.exists(&format!("{dir}/bonding")) => Kind::Bond,
        _ if root.exists(&format!("{dir}/bridge")) => Kind::Bridge,
        _ if root.exists(&format!("{dir}/tun_flags")) => Kind::Tun,
        _ => match root.read_value(&format!("{dir}/type")).as_deref() {
            Some(ARPHRD_LOOPBACK) => return None,
            // A device link means real or paravirtual hardware; veth and dummy have none.
            Some(ARPHRD_ETHER) if root.exists(&format!("{dir}/device")) => Kind::Ethernet,
            Some(_) => Kind::Other,
            None => {
                tracing::debug!("network interface without a readable type");
                return None;
            }
        },
    };
    Some(kind)
}

fn interfaces(root: &Root) -> Option<Interfaces> {
    if !root.is_dir("sys/class/net") {
        return None;
    }
    let mut counts = [0u64; 10];
    for name in root.read_dir("sys/class/net") {
        if name == "lo" || name == "bonding_masters" {
            continue;
        }
        if let Some(kind) = kind_of(root, &name) {
            counts[kind as usize] += 1;
        }
    }
    let c = |k: Kind| CountBucket::of(counts[k as usize]);
    Some(Interfaces {
        ethernet: c(Kind::Ethernet),
        wifi: c(Kind::Wifi),
        bond: c(Kind::Bond),
        bridge: c(Kind::Bridge),
        vlan: c(Kind::Vlan),
        team: c(Kind::Team),
        vxlan: c(Kind::Vxlan),
        wireguard: c(Kind::Wireguard),
        tun: c(Kind::Tun),
        other: c(Kind::Other),
    })
}

/// Rows of proc/net/route on interfaces other than loopback: (destination, mask).
fn ipv4_routes(table: &str) -> impl Iterator<Item = (&str, &str)> {
    table.lines().skip(1).filter_map(|l| {
        let cols: Vec<&str> = l.split_ascii_whitespace().collect();
        match cols.as_slice() {
            [iface, dest, _gw, _flags, _refcnt, _use, _metric, mask, ..] if *iface != "lo" => {
                Some((*dest, *mask))
            }
            _ => None,
        }
    })
}

fn has_ipv4_route(table: &str) -> bool {
    ipv4_routes(table).next().is_some()
}

fn has_ipv4_default(table: &str) -> bool {
    ipv4_routes(table).any(|(d, m)| d == "00000000" && m == "00000000")
}

/// proc/net/if_inet6: `address ifindex prefixlen scope flags name`; scope 00 is global.
fn has_global_ipv6(table: &str) -> bool {
    table.lines().any(|l| {
        let cols: Vec<&str> = l.split_ascii_whitespace().collect();
        matches!(cols.as_slice(), [_, _, _, "00", _, name] if *name != "lo")
    })
}

/// proc/net/ipv6_route: `dest destlen src srclen nexthop metric refcnt use flags name`.
fn has_ipv6_default(table: &str) -> bool {
    table.lines().any(|l| {
        let cols: Vec<&str> = l.split_ascii_whitespace().collect();
        matches!(cols.as_slice(), [dest, "00", _, _, _, _, _, _, _, name]
            if dest.bytes().all(|b| b == b'0') && *name != "lo")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_tables_parse() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  ens5\t00000000\t01001FAC\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
        assert!(has_ipv4_route(v4) && has_ipv4_default(v4));
        let only_header = v4.lines().next().unwrap();
        assert!(!has_ipv4_route(only_header) && !has_ipv4_default(only_header));
        let v6 = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     ens5\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     ens5\n";
        assert!(has_ipv6_default(v6));
        assert!(!has_ipv6_default(v6.lines().next().unwrap()));
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
                     fe80000000000000046d1efffe2a3b4c 02 40 20 80     ens5\n";
        assert!(!has_global_ipv6(inet6));
        assert!(has_global_ipv6(
            "20010db8000000000000000000000001 02 40 00 00     ens5\n"
        ));
    }
}
