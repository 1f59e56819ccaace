//! The address policy: which IP addresses outbound HTTP may connect to.
//!
//! Checked after DNS resolution, on the exact addresses the connector then
//! uses. Loopback, private, link-local (cloud metadata), multicast and other
//! special-purpose ranges are refused unless the operator allowed them with
//! [`OutboundHttp::allow_addresses`](crate::OutboundHttp::allow_addresses).
//! IPv6 addresses that carry an IPv4 address (IPv4-mapped, IPv4-compatible,
//! NAT64, 6to4) are judged by that IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A range of IP addresses in CIDR notation: `127.0.0.0/8`, `::1/128`.
///
/// A bare address is a range of one (`/32` or `/128`). Bits past the prefix
/// must be zero, so a typo such as `10.0.0.1/8` is an error rather than a
/// silently wider range.
///
/// ```
/// use std::net::IpAddr;
/// use warden::AddressRange;
///
/// let loopback: AddressRange = "127.0.0.0/8".parse()?;
/// assert!(loopback.contains("127.0.0.53".parse::<IpAddr>()?));
/// assert!(!loopback.contains("10.0.0.1".parse::<IpAddr>()?));
/// assert_eq!(loopback.to_string(), "127.0.0.0/8");
/// assert!("10.0.0.1/8".parse::<AddressRange>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    addr: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// The range of `prefix` leading bits of `addr`. Fails if `prefix` is
    /// longer than the address (32 or 128 bits) or `addr` has bits set past it.
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// use warden::AddressRange;
    ///
    /// let r = AddressRange::new(Ipv6Addr::LOCALHOST.into(), 128)?;
    /// assert_eq!(r.to_string(), "::1/128");
    /// # Ok::<(), warden::AddressRangeError>(())
    /// ```
    pub fn new(addr: IpAddr, prefix: u8) -> Result<AddressRange, AddressRangeError> {
        let input = || format!("{addr}/{prefix}");
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(AddressRangeError {
                input: input(),
                reason: format!("the prefix length must be at most {bits}"),
            });
        }
        let range = AddressRange { addr, prefix };
        if range.network() != addr {
            return Err(AddressRangeError {
                input: input(),
                reason: format!("bits past the /{prefix} prefix are set; write {}/{prefix}", range.network()),
            });
        }
        Ok(range)
    }

    /// The first address of the range.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the range. An IPv4 range never contains an IPv6
    /// address and vice versa (the policy looks at embedded IPv4 addresses
    /// itself).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(net.to_bits().into(), ip.to_bits().into(), self.prefix, 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(net.to_bits(), ip.to_bits(), self.prefix, 128),
            _ => false,
        }
    }

    /// `addr` with the bits past the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(ip) => Ipv4Addr::from_bits(ip.to_bits() & mask32(self.prefix)).into(),
            IpAddr::V6(ip) => Ipv6Addr::from_bits(ip.to_bits() & mask128(self.prefix)).into(),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)
}

/// Whether the first `prefix` of `width` bits of `a` and `b` are equal.
fn prefix_eq(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let shift = width - u32::from(prefix).min(width);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for AddressRange {
    type Err = AddressRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| AddressRangeError { input: s.to_owned(), reason };
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| err(format!("\"{addr}\" is not an IP address; write e.g. 127.0.0.0/8 or ::1/128")))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= bits && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| err(format!("prefix length \"{p}\" is not a number from 0 to {bits}")))?,
        };
        AddressRange::new(addr, prefix).map_err(|e| err(e.reason))
    }
}

/// Why a string is not a valid [`AddressRange`].
///
/// ```
/// let e = "10.0.0.1/8".parse::<warden::AddressRange>().unwrap_err();
/// assert!(e.to_string().contains("write 10.0.0.0/8"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid address range: {reason}")]
pub struct AddressRangeError {
    input: String,
    reason: String,
}

/// A special-purpose IPv4 range refused by default, and what it is.
const V4_SPECIAL: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (0.0.0.0/8)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (10.0.0.0/8)"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared carrier-grade NAT (100.64.0.0/10)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (127.0.0.0/8)"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local, incl. cloud metadata (169.254.0.0/16)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (172.16.0.0/12)"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments (192.0.0.0/24)"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation (192.0.2.0/24)"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private (192.168.0.0/16)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (198.18.0.0/15)"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation (198.51.100.0/24)"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation (203.0.113.0/24)"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (224.0.0.0/4)"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved, incl. broadcast (240.0.0.0/4)"),
];

/// A special-purpose IPv6 range refused by default (ranges that embed an
/// IPv4 address are handled by [`embedded_v4`]).
const V6_SPECIAL: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (::/128)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (::1/128)"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use NAT64 (64:ff9b:1::/48)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only (100::/64)"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "Teredo (2001::/32)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation (2001:db8::/32)"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local, incl. cloud metadata (fc00::/7)"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local (fe80::/10)"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local (fec0::/10)"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast (ff00::/8)"),
];

/// The IPv4 address an IPv6 address stands for: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, but not `::` or `::1`),
/// NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = ip.to_bits();
    let low = Ipv4Addr::from_bits(bits as u32);
    let high96 = bits >> 32;
    if high96 == 0xffff || high96 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(low);
    }
    if high96 == 0 && bits > 1 {
        return Some(low);
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    None
}

/// Why `ip` is refused by default: the special-purpose range it is in, or
/// `None` for an ordinary public address.
pub(crate) fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => special_v4(v4),
            None => V6_SPECIAL
                .iter()
                .find(|(net, prefix, _)| prefix_eq(net.to_bits(), v6.to_bits(), *prefix, 128))
                .map(|(_, _, what)| *what),
        },
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_SPECIAL
        .iter()
        .find(|(net, prefix, _)| prefix_eq(net.to_bits().into(), ip.to_bits().into(), *prefix, 32))
        .map(|(_, _, what)| *what)
}

/// The operator's address policy: the special-purpose ranges are refused
/// except where an allowed range covers the address.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressPolicy {
    allowed: Vec<AddressRange>,
}

impl AddressPolicy {
    pub(crate) fn new(allowed: Vec<AddressRange>) -> AddressPolicy {
        AddressPolicy { allowed }
    }

    /// `Ok` if outbound HTTP may connect to `ip`; otherwise the range that
    /// refuses it.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        if self.allowed.iter().any(|r| r.contains(ip) || v4.is_some_and(|v4| r.contains(v4))) {
            return Ok(());
        }
        special(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn range(s: &str) -> AddressRange {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn refused_by_default() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd00:ec2::254",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        let policy = AddressPolicy::default();
        for s in refused {
            assert!(policy.check(ip(s)).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "fbff::1",
            "fe00::1",
        ];
        let policy = AddressPolicy::default();
        for s in public {
            assert_eq!(policy.check(ip(s)), Ok(()), "{s} should pass");
        }
    }

    #[test]
    fn reasons_name_the_range() {
        assert_eq!(special(ip("169.254.169.254")), Some("link-local, incl. cloud metadata (169.254.0.0/16)"));
        assert_eq!(special(ip("::ffff:127.0.0.1")), Some("loopback (127.0.0.0/8)"));
        assert_eq!(special(ip("fd00:ec2::254")), Some("unique local, incl. cloud metadata (fc00::/7)"));
        assert_eq!(special(ip("::1")), Some("loopback (::1/128)"));
        assert_eq!(special(ip("::")), Some("unspecified (::/128)"));
        assert_eq!(special(ip("93.184.216.34")), None);
    }

    #[test]
    fn allowed_ranges_open_only_themselves() {
        let policy = AddressPolicy::new(vec![range("127.0.0.0/8"), range("::1/128")]);
        for s in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"] {
            assert_eq!(policy.check(ip(s)), Ok(()), "{s} is allowed");
        }
        for s in ["10.0.0.1", "169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "0.0.0.0", "::"] {
            assert!(policy.check(ip(s)).is_err(), "{s} stays refused");
        }
        let policy = AddressPolicy::new(vec![range("10.1.0.0/16")]);
        assert_eq!(policy.check(ip("10.1.200.3")), Ok(()));
        assert!(policy.check(ip("10.2.0.1")).is_err());
    }

    #[test]
    fn ranges_parse_and_print() {
        for (input, shown) in [
            ("127.0.0.0/8", "127.0.0.0/8"),
            ("::1/128", "::1/128"),
            ("::1", "::1/128"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("fc00::/7", "fc00::/7"),
            ("FE80::/10", "fe80::/10"),
        ] {
            assert_eq!(range(input).to_string(), shown);
        }
        assert!(range("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!range("0.0.0.0/0").contains(ip("::1")));
        assert!(range("::/0").contains(ip("::1")));
        assert!(range("fc00::/7").contains(ip("fdff::1")));
        assert!(!range("fc00::/7").contains(ip("fe00::1")));
    }

    #[test]
    fn bad_ranges_are_typed_errors() {
        for (input, needle) in [
            ("127.0.0.1/8", "write 127.0.0.0/8"),
            ("::1/64", "write ::/64"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("::/129", "from 0 to 128"),
            ("10.0.0.0/", "from 0 to 32"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/8/8", "from 0 to 32"),
            ("localhost/8", "not an IP address"),
            ("", "not an IP address"),
            ("[::1]/128", "not an IP address"),
        ] {
            let e = input.parse::<AddressRange>().expect_err(input);
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
        assert!(AddressRange::new(ip("10.0.0.0"), 33).is_err());
        assert_eq!(AddressRange::new(ip("10.0.0.0"), 8).map(|r| r.prefix()), Ok(8));
    }
}
