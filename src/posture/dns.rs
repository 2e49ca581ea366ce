//! DNS look-ups for the posture checks.
//!
//! In: a name and a record type. Out: a [`Lookup`]: the records found, "none" (the name
//! or the type does not exist — a fact about the domain, which the checks turn into a
//! finding), or a failure (time-out, SERVFAIL — a fact about the path to the domain,
//! reported as such rather than as a missing record).
//!
//! Look-ups go through hickory (the resolver mail-auth already uses for DKIM): the
//! system's resolver, or the one name server of `--dns-server`. Each look-up is bounded
//! by [`LOOKUP_TIMEOUT`] × [`LOOKUP_ATTEMPTS`], and answers are not cached, so a check
//! always sees the records as published now.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;

/// One query's wait for an answer. A check makes a dozen look-ups; a name server that
/// does not answer in 3 s is reported as failing rather than holding the check.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Tries per query (hickory retries on time-out): one more, for a lost UDP datagram.
pub const LOOKUP_ATTEMPTS: usize = 2;

/// Most records of one type kept from an answer: far more than any real domain
/// publishes (a few MX hosts, one or two TXT records), bounded because the answer comes
/// from whoever controls the domain.
const MAX_RECORDS: usize = 32;

/// What a look-up found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "records", rename_all = "kebab-case")]
pub enum Lookup<T> {
    /// The records of the type asked for (at least one).
    Found(Vec<T>),
    /// The name does not exist, or has no record of this type.
    None,
    /// No usable answer: time-out, SERVFAIL, refused. The text says which.
    Failed(String),
}

impl<T> Lookup<T> {
    /// The records found, empty for `None` and `Failed`.
    pub fn records(&self) -> &[T] {
        match self {
            Lookup::Found(v) => v,
            Lookup::None | Lookup::Failed(_) => &[],
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Lookup::None)
    }
}

/// An MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    pub preference: u16,
    /// The exchange, lower case, without the final dot; `.` for a null MX (RFC 7505).
    pub host: String,
}

/// Errors building the resolver.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot read the system's resolver configuration: {0}")]
    SystemConfig(String),
    #[error("cannot build the resolver: {0}")]
    Build(String),
}

/// The resolver the posture checks use.
#[derive(Clone)]
pub struct PostureResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for PostureResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostureResolver").finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    // A check reports the records as they are now.
    opts.cache_size = 0;
    opts.timeout = LOOKUP_TIMEOUT;
    opts.attempts = LOOKUP_ATTEMPTS;
    // Names are absolute; never try them under a search domain.
    opts.ndots = 0;
    opts
}

impl PostureResolver {
    /// The system's resolver (`/etc/resolv.conf`), or only the name server at `server`.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, DnsError> {
        let config = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                ResolverConfig::from_parts(None, Vec::new(), vec![server])
            }
            None => {
                let (config, _) = mail_auth::hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| DnsError::SystemConfig(e.to_string()))?;
                config
            }
        };
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options())
            .build()
            .map_err(|e| DnsError::Build(e.to_string()))?;
        Ok(PostureResolver { resolver })
    }

    async fn records(&self, name: &str, record_type: RecordType) -> Lookup<RData> {
        // Absolute name: no search list, no surprises.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), record_type).await {
            Ok(lookup) => {
                let found: Vec<RData> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == record_type)
                    .take(MAX_RECORDS)
                    .map(|r| r.data.clone())
                    .collect();
                if found.is_empty() {
                    Lookup::None
                } else {
                    Lookup::Found(found)
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Lookup::None,
            Err(e) => Lookup::Failed(e.to_string()),
        }
    }

    fn map<T>(found: Lookup<RData>, f: impl Fn(RData) -> Option<T>) -> Lookup<T> {
        match found {
            Lookup::Found(v) => {
                let v: Vec<T> = v.into_iter().filter_map(f).collect();
                if v.is_empty() {
                    Lookup::None
                } else {
                    Lookup::Found(v)
                }
            }
            Lookup::None => Lookup::None,
            Lookup::Failed(e) => Lookup::Failed(e),
        }
    }

    /// The TXT records at `name`, each one string (its character-strings joined, as RFC
    /// 8460 §3 and RFC 8461 §3.1 say; invalid UTF-8 replaced).
    pub async fn txt(&self, name: &str) -> Lookup<String> {
        let found = self.records(name, RecordType::TXT).await;
        Self::map(found, |data| match data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect(),
            ),
            _ => None,
        })
    }

    /// The MX records of `domain`, by preference.
    pub async fn mx(&self, domain: &str) -> Lookup<MxRecord> {
        let found = self.records(domain, RecordType::MX).await;
        let mut mx = Self::map(found, |data| match data {
            RData::MX(mx) => Some(MxRecord {
                preference: mx.preference,
                host: host_name(&mx.exchange.to_ascii()),
            }),
            _ => None,
        });
        if let Lookup::Found(v) = &mut mx {
            v.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
        }
        mx
    }

    /// The CNAME target at `name`, if any.
    pub async fn cname(&self, name: &str) -> Lookup<String> {
        let found = self.records(name, RecordType::CNAME).await;
        Self::map(found, |data| match data {
            RData::CNAME(target) => Some(host_name(&target.0.to_ascii())),
            _ => None,
        })
    }

    /// The IPv4 and IPv6 addresses of `name` (following CNAMEs). `Failed` only when both
    /// look-ups failed; one family missing is normal.
    pub async fn addresses(&self, name: &str) -> Lookup<IpAddr> {
        let (v4, v6) = tokio::join!(
            self.records(name, RecordType::A),
            self.records(name, RecordType::AAAA)
        );
        let v4 = Self::map(v4, |data| match data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        });
        let v6 = Self::map(v6, |data| match data {
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        });
        match (v4, v6) {
            (Lookup::Failed(a), Lookup::Failed(_)) => Lookup::Failed(a),
            (a, b) => {
                let all: Vec<IpAddr> = a.records().iter().chain(b.records()).copied().collect();
                if all.is_empty() {
                    match (a, b) {
                        (Lookup::Failed(e), _) | (_, Lookup::Failed(e)) => Lookup::Failed(e),
                        _ => Lookup::None,
                    }
                } else {
                    Lookup::Found(all)
                }
            }
        }
    }

    /// Whether `name` itself holds A, AAAA or TXT records (not ones reached through a
    /// CNAME): beside a CNAME, that is a conflict.
    pub async fn has_own_records(&self, name: &str) -> bool {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        for record_type in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
            if let Ok(lookup) = self.resolver.lookup(fqdn.as_str(), record_type).await {
                let owned = lookup.answers().iter().any(|r| {
                    r.record_type() == record_type
                        && host_name(&r.name.to_ascii()) == host_name(&fqdn)
                });
                if owned {
                    return true;
                }
            }
        }
        false
    }

    /// How many TLSA records `_25._tcp.<host>` has (DANE, RFC 7672).
    pub async fn tlsa_count(&self, host: &str) -> Lookup<usize> {
        let found = self
            .records(&format!("_25._tcp.{host}"), RecordType::TLSA)
            .await;
        match found {
            Lookup::Found(v) => Lookup::Found(vec![v.len()]),
            Lookup::None => Lookup::None,
            Lookup::Failed(e) => Lookup::Failed(e),
        }
    }
}

/// A name from an answer as the checks compare names: lower case, no final dot.
fn host_name(name: &str) -> String {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        ".".to_owned()
    } else {
        name.to_ascii_lowercase()
    }
}
