//! Which addresses the posture checker may contact.
//!
//! In: an address a name from a report resolved to. Out: whether it is a public unicast
//! address. The checker is driven by names anyone can put in a report, so without
//! `--allow-private-addresses` it must never be turned against the machine itself or the
//! network it sits in: loopback, private, shared (CGNAT), link-local, documentation,
//! benchmarking, multicast, reserved and other special-purpose ranges (the IANA
//! special-purpose registries of RFC 6890) are refused, including IPv4 addresses wrapped
//! in IPv6 (mapped, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                  // "this network"
        || a == 10                                        // private
        || (a == 100 && (64..128).contains(&b))           // shared address space (CGNAT)
        || a == 127                                       // loopback
        || (a == 169 && b == 254)                         // link-local
        || (a == 172 && (16..32).contains(&b))            // private
        || (a == 192 && b == 0 && c == 0)                 // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                 // documentation
        || (a == 192 && b == 88 && c == 99)               // 6to4 relay anycast
        || (a == 192 && b == 168)                         // private
        || (a == 198 && (18..20).contains(&b))            // benchmarking
        || (a == 198 && b == 51 && c == 100)              // documentation
        || (a == 203 && b == 0 && c == 113)               // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()                               // ff00::/8
        || (s[0] & 0xfe00) == 0xfc00                       // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                       // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                       // site-local (deprecated) fec0::/10
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])        // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x0200)               // IETF protocol assignments 2001::/23 (Teredo, ORCHID…)
        || (s[0] == 0x2001 && s[1] == 0x0db8)              // documentation 2001:db8::/32
        || (s[0] == 0x3fff && s[1] < 0x1000)               // documentation 3fff::/20
        || s[0] == 0                                        // ::/16 holds only special addresses (IPv4-compatible, unspecified, loopback)
        || (s[0] & 0xe000) != 0x2000; // outside 2000::/3, the global unicast space
    !special
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn special_purpose_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "::127.0.0.1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }
}
