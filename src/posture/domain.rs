//! Domain names the posture checker accepts.
//!
//! In: a name from a report, an API path or the command line. Out: its ASCII form
//! (IDNA, UTS #46 with the STD3 rules: lower case, Punycode for non-ASCII labels), or
//! why it cannot be checked. Every name the checker looks up or contacts goes through
//! here first, so the look-ups it derives (`_smtp._tls.`, `_mta-sts.`, `mta-sts.`) are
//! well-formed host names.

/// Why a name cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the domain name is empty")]
    Empty,
    #[error("\"{0}\" is an IP address, not a domain name")]
    Address(String),
    #[error(
        "\"{0}\" is not a valid domain name (IDNA: letters, digits and hyphens, labels of 1 to 63 bytes, 253 in all)"
    )]
    Invalid(String),
    #[error("\"{0}\" has a single label; a mail domain has at least two (example.com)")]
    SingleLabel(String),
}

/// Longest name whose derived look-ups still fit: `_smtp._tls.` (11 bytes) before a
/// 253-byte name would pass DNS's limit.
const MAX_LEN: usize = 253 - "_smtp._tls.".len();

/// The ASCII form of `input`, or why it cannot be checked.
pub fn normalize(input: &str) -> Result<String, DomainError> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(DomainError::Empty);
    }
    let unbracketed = trimmed.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return Err(DomainError::Address(trimmed.to_owned()));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| DomainError::Invalid(trimmed.to_owned()))?;
    if ascii.len() > MAX_LEN || ascii.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(DomainError::Invalid(trimmed.to_owned()));
    }
    if !ascii.contains('.') {
        return Err(DomainError::SingleLabel(trimmed.to_owned()));
    }
    // A name of digits and dots only is an address in disguise (e.g. "1.2.3").
    if ascii.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DomainError::Address(trimmed.to_owned()));
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_punycoded() {
        assert_eq!(normalize(" Example.COM. ").unwrap(), "example.com");
        assert_eq!(
            normalize("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize("MAIL.Bücher.Example").unwrap(),
            "mail.xn--bcher-kva.example"
        );
    }

    #[test]
    fn bad_names_say_why() {
        assert_eq!(normalize(""), Err(DomainError::Empty));
        assert_eq!(normalize("."), Err(DomainError::Empty));
        assert!(matches!(
            normalize("192.0.2.1"),
            Err(DomainError::Address(_))
        ));
        assert!(matches!(
            normalize("[2001:db8::1]"),
            Err(DomainError::Address(_))
        ));
        assert!(matches!(normalize("1.2.3"), Err(DomainError::Address(_))));
        assert!(matches!(
            normalize("localhost"),
            Err(DomainError::SingleLabel(_))
        ));
        for bad in [
            "example..com",
            "exa mple.com",
            "-example.com",
            "example-.com",
            "_smtp._tls.example.com",
            "example.com/path",
            "user@example.com",
        ] {
            assert!(
                matches!(normalize(bad), Err(DomainError::Invalid(_))),
                "{bad}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            normalize(&long_label),
            Err(DomainError::Invalid(_))
        ));
        let long_name = format!("{}com", "abcdefghi.".repeat(25));
        assert!(long_name.len() > MAX_LEN);
        assert!(matches!(
            normalize(&long_name),
            Err(DomainError::Invalid(_))
        ));
    }
}
