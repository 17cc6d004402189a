//! Which addresses outbound fetches may connect to. A URL that a client registers (`jwks_uri`) or
//! a certificate names (cRLDistributionPoints) must not reach the server's own network: loopback,
//! private and link-local ranges (cloud metadata at 169.254.169.254) are refused unless the
//! operator allows them (`outbound_allow_private_networks`). Addresses that are never a real HTTP
//! server (unspecified, multicast, broadcast, reserved) are refused even then.
//!
//! The policy is applied to the addresses actually connected to: [`PolicyResolver`] filters what
//! DNS returns (so a name that resolves to 127.0.0.1, or re-resolves to it later, is refused) and
//! literal IP hosts are checked before connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What kind of address this is, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A globally routable unicast address.
    Public,
    /// Loopback, private, link-local, CGNAT, ...: allowed only when configured. The text names the range.
    NonPublic(&'static str),
    /// Never an HTTP server (unspecified, multicast, broadcast, reserved). The text names the range.
    Never(&'static str),
}

/// Classifies `ip` (IPv4-mapped and NAT64/6to4-embedded IPv4 addresses by their IPv4 part).
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::{Never, NonPublic, Public};
    // (network, prefix length, class); the first match wins.
    const TABLE: &[([u8; 4], u32, AddressClass)] = &[
        ([255, 255, 255, 255], 32, Never("limited broadcast")),
        (
            [0, 0, 0, 0],
            8,
            Never("unspecified (\"this network\", 0.0.0.0/8)"),
        ),
        ([127, 0, 0, 0], 8, NonPublic("loopback (127.0.0.0/8)")),
        (
            [10, 0, 0, 0],
            8,
            NonPublic("private (RFC 1918, 10.0.0.0/8)"),
        ),
        (
            [172, 16, 0, 0],
            12,
            NonPublic("private (RFC 1918, 172.16.0.0/12)"),
        ),
        (
            [192, 168, 0, 0],
            16,
            NonPublic("private (RFC 1918, 192.168.0.0/16)"),
        ),
        (
            [100, 64, 0, 0],
            10,
            NonPublic("shared address space (CGNAT, 100.64.0.0/10)"),
        ),
        (
            [169, 254, 0, 0],
            16,
            NonPublic("link-local (169.254.0.0/16)"),
        ),
        (
            [192, 0, 0, 0],
            24,
            NonPublic("IETF protocol assignments (192.0.0.0/24)"),
        ),
        (
            [192, 0, 2, 0],
            24,
            NonPublic("documentation (192.0.2.0/24)"),
        ),
        (
            [198, 51, 100, 0],
            24,
            NonPublic("documentation (198.51.100.0/24)"),
        ),
        (
            [203, 0, 113, 0],
            24,
            NonPublic("documentation (203.0.113.0/24)"),
        ),
        (
            [198, 18, 0, 0],
            15,
            NonPublic("benchmarking (198.18.0.0/15)"),
        ),
        ([224, 0, 0, 0], 4, Never("multicast (224.0.0.0/4)")),
        ([240, 0, 0, 0], 4, Never("reserved (240.0.0.0/4)")),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map_or(Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::{Never, NonPublic, Public};
    if ip.is_unspecified() {
        return Never("unspecified (::)");
    }
    if ip.is_loopback() {
        return NonPublic("loopback (::1)");
    }
    // ::ffff:a.b.c.d reaches the IPv4 address itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        [0, 0, 0, 0, 0, 0, _, _] => Never("IPv4-compatible (deprecated, ::/96)"),
        // NAT64 well-known prefix: judged by the IPv4 address it translates to.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => classify_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => NonPublic("local-use NAT64 (64:ff9b:1::/48)"),
        [0x100, 0, 0, 0, ..] => Never("discard-only (100::/64)"),
        // 6to4: judged by the IPv4 address of the relay it names.
        [0x2002, hi, lo, ..] => classify_v4(embedded(hi, lo)),
        [0x2001, 0, ..] => NonPublic("Teredo (2001::/32)"),
        [0x2001, 0xdb8, ..] => NonPublic("documentation (2001:db8::/32)"),
        [first, ..] if first & 0xfe00 == 0xfc00 => NonPublic("unique local (fc00::/7)"),
        [first, ..] if first & 0xffc0 == 0xfe80 => NonPublic("link-local (fe80::/10)"),
        [first, ..] if first & 0xffc0 == 0xfec0 => NonPublic("site-local (deprecated, fec0::/10)"),
        [first, ..] if first & 0xff00 == 0xff00 => Never("multicast (ff00::/8)"),
        _ => Public,
    }
}

/// The address policy: public addresses always, non-public ones only when allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// Loopback, private, link-local, CGNAT and unique-local ranges may be reached
    /// (setting `outbound_allow_private_networks`; the tests serve on 127.0.0.1).
    pub allow_private: bool,
}

impl AddressPolicy {
    /// `Err` names the range that `ip` falls in when the policy refuses it.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::NonPublic(_) if self.allow_private => Ok(()),
            AddressClass::NonPublic(range) => Err(format!(
                "{ip} is {range}; set outbound_allow_private_networks to reach it"
            )),
            AddressClass::Never(range) => Err(format!("{ip} is {range}")),
        }
    }
}

/// The resolver's refusal, found again in reqwest's error chain to report `AddressRefused`.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// A DNS resolver that drops every address the policy refuses, so the connection can only go to an
/// allowed address, whatever the name resolves to at connect time (no DNS-rebinding bypass).
#[derive(Debug)]
pub(crate) struct PolicyResolver {
    pub policy: AddressPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let policy = self.policy;
        Box::pin(async move {
            // The system resolver blocks; reqwest's runtime allows blocking tasks.
            let lookup = host.clone();
            let resolved: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                (lookup.as_str(), 0)
                    .to_socket_addrs()
                    .map(Iterator::collect)
            })
            .await??;
            let mut refused = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused.push(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let detail = if refused.is_empty() {
                    format!("{host} has no address")
                } else {
                    format!("{host} resolves to {}", refused.join(", "))
                };
                return Err(Box::new(Refused(detail)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
