//! The alerting configuration file (`--config FILE`, TOML): thresholds, per-domain
//! overrides, channels and routing.
//!
//! In: the file's text and its path (for messages), and the environment (secrets may be
//! named by `*_env` keys instead of written in the file). Out: an [`AlertConfig`], or a
//! [`ConfigError`] naming the file, the key and the problem — a bad file stops start-up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::rules::{Rule, Severity, Thresholds};

/// Why the file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

/// What alerting runs with.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub thresholds: Thresholds,
    pub per_domain: BTreeMap<String, Thresholds>,
    /// Between two notices of an alert that stays open.
    pub cooldown: Duration,
    /// How often every domain is evaluated (the time-based rules), besides after reports.
    pub evaluate_every: Duration,
    /// How long after reports are stored they are evaluated, so a burst of them (a day's
    /// delivery from every sender) is evaluated once.
    pub evaluate_after_reports: Duration,
    pub channels: Vec<Channel>,
    /// The dashboard's public URL, for the link in each notice; without it the link is a
    /// path.
    pub dashboard_url: Option<String>,
    pub digests: Vec<Digest>,
}

/// A daily or weekly summary email.
#[derive(Debug, Clone)]
pub struct Digest {
    pub name: String,
    /// The email channel whose relay and From it uses.
    pub channel: String,
    pub to: Vec<String>,
    pub every: DigestEvery,
    /// The UTC hour it goes out.
    pub hour: u32,
    /// Only these domains; empty: all.
    pub domains: Vec<String>,
}

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestEvery {
    Daily,
    /// On this weekday.
    Weekly(chrono::Weekday),
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            thresholds: Thresholds::default(),
            per_domain: BTreeMap::new(),
            cooldown: Duration::from_secs(24 * 3600),
            evaluate_every: Duration::from_secs(300),
            evaluate_after_reports: Duration::from_secs(30),
            channels: Vec::new(),
            dashboard_url: None,
            digests: Vec::new(),
        }
    }
}

impl AlertConfig {
    /// The thresholds of `domain`.
    pub fn thresholds_of(&self, domain: &str) -> &Thresholds {
        self.per_domain.get(domain).unwrap_or(&self.thresholds)
    }

    /// The channels an alert of `rule` and `severity` on `domain` goes to.
    pub fn route(&self, domain: &str, rule: Rule, severity: Severity) -> Vec<String> {
        self.channels
            .iter()
            .filter(|c| c.wants(domain, rule, severity))
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// Where notices go, and which.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub min_severity: Severity,
    /// Only these rules; empty: all.
    pub rules: Vec<Rule>,
    /// Only these domains; empty: all.
    pub domains: Vec<String>,
    /// Per delivery attempt.
    pub timeout: Duration,
}

impl Channel {
    pub fn wants(&self, domain: &str, rule: Rule, severity: Severity) -> bool {
        severity >= self.min_severity
            && (self.rules.is_empty() || self.rules.contains(&rule))
            && (self.domains.is_empty() || self.domains.iter().any(|d| d == domain))
    }
}

/// How a channel delivers.
#[derive(Debug, Clone)]
pub enum ChannelKind {
    /// A JSON POST signed with HMAC-SHA256 of the body under `secret`
    /// (`X-Tlsrpt-Signature: sha256=<hex>`).
    Webhook { url: String, secret: String },
    /// A Slack-compatible incoming webhook (`{"text": …}`).
    Slack { url: String },
    /// A Mattermost incoming webhook (`{"text": …}`, Markdown).
    Mattermost { url: String },
    /// Email through an SMTP relay, plain-text and HTML parts.
    Email(Box<EmailChannel>),
}

/// How an email channel reaches its relay.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: EmailTls,
    /// User name and password, when the relay asks for them.
    pub credentials: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    /// Extra trusted root (PEM, `ca_file`) for a relay with a private CA.
    pub extra_root: Option<Vec<u8>>,
}

/// The relay's TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only to a relay on a loopback address.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    alerts: AlertsSection,
    #[serde(default)]
    channels: Vec<ChannelSection>,
    #[serde(default)]
    digests: Vec<DigestSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestSection {
    name: String,
    channel: String,
    #[serde(default)]
    to: Vec<String>,
    every: String,
    hour: Option<u32>,
    weekday: Option<String>,
    #[serde(default)]
    domains: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsSection {
    cooldown_hours: Option<f64>,
    evaluate_every_seconds: Option<u64>,
    evaluate_after_reports_seconds: Option<u64>,
    dashboard_url: Option<String>,
    #[serde(default)]
    thresholds: ThresholdSection,
    #[serde(default)]
    domains: BTreeMap<String, ThresholdSection>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdSection {
    failure_rate_percent: Option<f64>,
    failure_rate_min_sessions: Option<i64>,
    spike_factor: Option<f64>,
    spike_baseline_days: Option<i64>,
    spike_min_failed: Option<i64>,
    new_type_lookback_days: Option<i64>,
    silent_min_days: Option<usize>,
    silent_after_hours: Option<i64>,
    no_reports_after_hours: Option<i64>,
    certificate_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSection {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    min_severity: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    timeout_seconds: Option<f64>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    ca_file: Option<String>,
}

/// Longest delivery attempt a channel may ask for: the sender waits on it.
const MAX_TIMEOUT_SECONDS: f64 = 120.0;

impl ThresholdSection {
    fn apply(
        &self,
        base: Thresholds,
        key: &str,
        err: &dyn Fn(String, String) -> ConfigError,
    ) -> Result<Thresholds, ConfigError> {
        let mut t = base;
        let positive = |name: &str, v: f64| -> Result<f64, ConfigError> {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(err(
                    format!("{key}.{name}"),
                    "must be a number of at least 0".into(),
                ))
            }
        };
        if let Some(v) = self.failure_rate_percent {
            t.failure_rate = positive("failure_rate_percent", v)? / 100.0;
        }
        if let Some(v) = self.failure_rate_min_sessions {
            t.failure_rate_min_sessions = positive("failure_rate_min_sessions", v as f64)? as i64;
        }
        if let Some(v) = self.spike_factor {
            t.spike_factor = positive("spike_factor", v)?;
        }
        if let Some(v) = self.spike_baseline_days {
            if !(1..=90).contains(&v) {
                return Err(err(
                    format!("{key}.spike_baseline_days"),
                    "must be 1 to 90".into(),
                ));
            }
            t.spike_baseline_days = v;
        }
        if let Some(v) = self.spike_min_failed {
            t.spike_min_failed = positive("spike_min_failed", v as f64)? as i64;
        }
        if let Some(v) = self.new_type_lookback_days {
            if !(1..=90).contains(&v) {
                return Err(err(
                    format!("{key}.new_type_lookback_days"),
                    "must be 1 to 90".into(),
                ));
            }
            t.new_type_lookback_days = v;
        }
        if let Some(v) = self.silent_min_days {
            if !(1..=7).contains(&v) {
                return Err(err(
                    format!("{key}.silent_min_days"),
                    "must be 1 to 7".into(),
                ));
            }
            t.silent_min_days = v;
        }
        if let Some(v) = self.silent_after_hours {
            t.silent_after_hours = positive("silent_after_hours", v as f64)? as i64;
        }
        if let Some(v) = self.no_reports_after_hours {
            t.no_reports_after_hours = positive("no_reports_after_hours", v as f64)? as i64;
        }
        if let Some(v) = self.certificate_days {
            t.certificate_days = positive("certificate_days", v as f64)? as i64;
        }
        Ok(t)
    }
}

/// An email channel's settings, checked.
fn email_channel(
    c: &ChannelSection,
    key: &dyn Fn(&str) -> String,
    err: &dyn Fn(String, String) -> ConfigError,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EmailChannel, ConfigError> {
    let host = c
        .smtp_host
        .clone()
        .ok_or_else(|| err(key("smtp_host"), "an email channel needs its relay".into()))?;
    let tls = match c.tls.as_deref().unwrap_or("starttls") {
        "starttls" => EmailTls::StartTls,
        "implicit" => EmailTls::Implicit,
        "none" => EmailTls::None,
        other => {
            return Err(err(
                key("tls"),
                format!("{other:?} is not starttls, implicit or none"),
            ));
        }
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == EmailTls::None && !loopback {
        return Err(err(
            key("tls"),
            "none sends alerts and the password in the clear: only to a relay on a loopback address".into(),
        ));
    }
    let port = c.smtp_port.unwrap_or(match tls {
        EmailTls::StartTls => 587,
        EmailTls::Implicit => 465,
        EmailTls::None => 25,
    });
    let password = match (&c.password, &c.password_env) {
        (Some(p), None) => Some(p.clone()),
        (None, Some(var)) => Some(env(var).ok_or_else(|| {
            err(
                key("password_env"),
                format!("the environment variable {var} is not set"),
            )
        })?),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(err(
                key("password"),
                "give password or password_env, not both".into(),
            ));
        }
    };
    let credentials = match (&c.username, password) {
        (Some(user), Some(pass)) => Some((user.clone(), pass)),
        (None, None) => None,
        _ => {
            return Err(err(
                key("username"),
                "username and a password go together".into(),
            ));
        }
    };
    let mailbox = |field: &str, value: &str| -> Result<String, ConfigError> {
        value
            .parse::<lettre::message::Mailbox>()
            .map(|_| value.to_owned())
            .map_err(|e| err(key(field), format!("{value:?} is not an address: {e}")))
    };
    let from = mailbox(
        "from",
        c.from
            .as_deref()
            .ok_or_else(|| err(key("from"), "an email channel needs a From address".into()))?,
    )?;
    if c.to.is_empty() {
        return Err(err(
            key("to"),
            "an email channel needs at least one recipient".into(),
        ));
    }
    let to =
        c.to.iter()
            .map(|t| mailbox("to", t))
            .collect::<Result<Vec<_>, _>>()?;
    let extra_root = match &c.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| err(key("ca_file"), format!("cannot read {path}: {e}")))?,
        ),
        None => None,
    };
    Ok(EmailChannel {
        host,
        port,
        tls,
        credentials,
        from,
        to,
        extra_root,
    })
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<AlertConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        key: "(file)".into(),
        problem: format!("cannot read it: {e}"),
    })?;
    parse(&file, &text, &|name| std::env::var(name).ok())
}

/// Parses `text` (named `file` in messages), reading `*_env` secrets through `env`.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AlertConfig, ConfigError> {
    let err = |key: String, problem: String| ConfigError {
        file: file.to_owned(),
        key,
        problem,
    };
    let parsed: File = toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            })
            .unwrap_or_else(|| "(file)".into());
        err(key, e.message().to_owned())
    })?;
    let mut config = AlertConfig::default();
    let alerts = &parsed.alerts;
    if let Some(h) = alerts.cooldown_hours {
        if !(h.is_finite() && h > 0.0) {
            return Err(err(
                "alerts.cooldown_hours".into(),
                "must be a number above 0".into(),
            ));
        }
        config.cooldown = Duration::from_secs_f64(h * 3600.0);
    }
    if let Some(s) = alerts.evaluate_every_seconds {
        if s < 10 {
            return Err(err(
                "alerts.evaluate_every_seconds".into(),
                "must be at least 10".into(),
            ));
        }
        config.evaluate_every = Duration::from_secs(s);
    }
    if let Some(s) = alerts.evaluate_after_reports_seconds {
        if !(1..=3600).contains(&s) {
            return Err(err(
                "alerts.evaluate_after_reports_seconds".into(),
                "must be 1 to 3600".into(),
            ));
        }
        config.evaluate_after_reports = Duration::from_secs(s);
    }
    if let Some(url) = &alerts.dashboard_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(err(
                "alerts.dashboard_url".into(),
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        config.dashboard_url = Some(url.clone());
    }
    config.thresholds =
        alerts
            .thresholds
            .apply(Thresholds::default(), "alerts.thresholds", &err)?;
    for (domain, section) in &alerts.domains {
        let name = crate::report::normalize_domain(domain);
        let t = section.apply(
            config.thresholds,
            &format!("alerts.domains.\"{domain}\""),
            &err,
        )?;
        config.per_domain.insert(name, t);
    }
    for (i, c) in parsed.channels.iter().enumerate() {
        let key = |field: &str| format!("channels[{i}] ({}).{field}", c.name);
        if c.name.is_empty() || config.channels.iter().any(|o: &Channel| o.name == c.name) {
            return Err(err(key("name"), "must be present and unique".into()));
        }
        let url = |field: &str| -> Result<String, ConfigError> {
            let url = c
                .url
                .clone()
                .ok_or_else(|| err(key(field), "is required for this type".into()))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(err(key(field), format!("{url:?} is not an http(s) URL")));
            }
            Ok(url)
        };
        let kind = match c.kind.as_str() {
            "webhook" => {
                let secret = match (&c.secret, &c.secret_env) {
                    (Some(s), None) => s.clone(),
                    (None, Some(var)) => env(var).ok_or_else(|| {
                        err(
                            key("secret_env"),
                            format!("the environment variable {var} is not set"),
                        )
                    })?,
                    (Some(_), Some(_)) => {
                        return Err(err(
                            key("secret"),
                            "give secret or secret_env, not both".into(),
                        ));
                    }
                    (None, None) => {
                        return Err(err(key("secret"), "a webhook needs a shared secret (secret or secret_env) to sign its bodies".into()));
                    }
                };
                if secret.len() < 16 {
                    return Err(err(key("secret"), "must be at least 16 characters".into()));
                }
                ChannelKind::Webhook {
                    url: url("url")?,
                    secret,
                }
            }
            "slack" => ChannelKind::Slack { url: url("url")? },
            "mattermost" => ChannelKind::Mattermost { url: url("url")? },
            "email" => ChannelKind::Email(Box::new(email_channel(c, &key, &err, env)?)),
            other => {
                return Err(err(
                    key("type"),
                    format!("{other:?} is not a channel type (webhook, slack, mattermost, email)"),
                ));
            }
        };
        let min_severity = match &c.min_severity {
            None => Severity::Warning,
            Some(s) => Severity::parse(s).ok_or_else(|| {
                err(
                    key("min_severity"),
                    format!("{s:?} is not info, warning or critical"),
                )
            })?,
        };
        let rules = c
            .rules
            .iter()
            .map(|r| {
                Rule::parse(r).ok_or_else(|| err(key("rules"), format!("{r:?} is not a rule")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = c.timeout_seconds.unwrap_or(10.0);
        if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECONDS) {
            return Err(err(
                key("timeout_seconds"),
                format!("must be above 0 and at most {MAX_TIMEOUT_SECONDS}"),
            ));
        }
        config.channels.push(Channel {
            name: c.name.clone(),
            kind,
            min_severity,
            rules,
            domains: c
                .domains
                .iter()
                .map(|d| crate::report::normalize_domain(d))
                .collect(),
            timeout: Duration::from_secs_f64(timeout),
        });
    }
    for (i, d) in parsed.digests.iter().enumerate() {
        let key = |field: &str| format!("digests[{i}] ({}).{field}", d.name);
        if d.name.is_empty() || config.digests.iter().any(|o: &Digest| o.name == d.name) {
            return Err(err(key("name"), "must be present and unique".into()));
        }
        let to = match config.channel(&d.channel).map(|c| &c.kind) {
            Some(ChannelKind::Email(email)) => {
                if d.to.is_empty() {
                    email.to.clone()
                } else {
                    for t in &d.to {
                        t.parse::<lettre::message::Mailbox>()
                            .map_err(|e| err(key("to"), format!("{t:?} is not an address: {e}")))?;
                    }
                    d.to.clone()
                }
            }
            Some(_) => {
                return Err(err(
                    key("channel"),
                    format!("{:?} is not an email channel", d.channel),
                ));
            }
            None => {
                return Err(err(
                    key("channel"),
                    format!("no channel named {:?}", d.channel),
                ));
            }
        };
        let every = match (d.every.as_str(), &d.weekday) {
            ("daily", None) => DigestEvery::Daily,
            ("weekly", day) => {
                let day = day.as_deref().unwrap_or("monday");
                DigestEvery::Weekly(day.parse::<chrono::Weekday>().map_err(|_| {
                    err(key("weekday"), format!("{day:?} is not a day of the week"))
                })?)
            }
            ("daily", Some(_)) => {
                return Err(err(
                    key("weekday"),
                    "only a weekly digest has a weekday".into(),
                ));
            }
            (other, _) => {
                return Err(err(
                    key("every"),
                    format!("{other:?} is not daily or weekly"),
                ));
            }
        };
        let hour = d.hour.unwrap_or(7);
        if hour > 23 {
            return Err(err(key("hour"), "must be 0 to 23 (UTC)".into()));
        }
        config.digests.push(Digest {
            name: d.name.clone(),
            channel: d.channel.clone(),
            to,
            every,
            hour,
            domains: d
                .domains
                .iter()
                .map(|x| crate::report::normalize_domain(x))
                .collect(),
        });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[alerts]
cooldown_hours = 12
evaluate_every_seconds = 60

[alerts.thresholds]
failure_rate_percent = 2.5
spike_min_failed = 50

[alerts.domains."Example.COM"]
failure_rate_percent = 10

[[channels]]
name = "ops"
type = "webhook"
url = "https://hooks.example.net/tlsrpt"
secret_env = "HOOK_SECRET"
min_severity = "critical"
rules = ["failure-spike", "no-reports"]

[[channels]]
name = "chat"
type = "slack"
url = "https://hooks.slack.com/services/T/B/X"
domains = ["example.com"]
"#;

    fn env(name: &str) -> Option<String> {
        (name == "HOOK_SECRET").then(|| "0123456789abcdef-secret".to_owned())
    }

    #[test]
    fn a_full_file_parses_with_overrides_and_routing() {
        let c = parse("alerts.toml", FULL, &env).unwrap();
        assert_eq!(c.cooldown, Duration::from_secs(12 * 3600));
        assert_eq!(c.thresholds.failure_rate, 0.025);
        assert_eq!(c.thresholds.spike_min_failed, 50);
        let d = c.thresholds_of("example.com");
        assert_eq!(
            (d.failure_rate, d.spike_min_failed),
            (0.10, 50),
            "override on the global"
        );
        assert!(
            matches!(&c.channels[0].kind, ChannelKind::Webhook { secret, .. } if secret == "0123456789abcdef-secret")
        );
        assert_eq!(
            c.route("example.com", Rule::FailureSpike, Severity::Critical),
            vec!["ops", "chat"]
        );
        assert_eq!(
            c.route("example.com", Rule::FailureRate, Severity::Warning),
            vec!["chat"]
        );
        assert!(
            c.route("other.com", Rule::FailureRate, Severity::Warning)
                .is_empty()
        );
        assert!(
            c.route("other.com", Rule::FailureSpike, Severity::Warning)
                .is_empty()
        );
    }

    #[test]
    fn bad_files_name_the_key_and_the_problem() {
        let cases = [
            (
                "[alerts]\ncooldown_hours = 0\n",
                "alerts.cooldown_hours",
                "above 0",
            ),
            (
                "[[channels]]\nname = \"x\"\ntype = \"pager\"\nurl = \"https://a\"\n",
                "channels[0] (x).type",
                "not a channel type",
            ),
            (
                "[[channels]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://a\"\n",
                "channels[0] (x).secret",
                "shared secret",
            ),
            (
                "[[channels]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://a\"\nsecret_env = \"NOPE\"\n",
                "channels[0] (x).secret_env",
                "NOPE is not set",
            ),
            (
                "[[channels]]\nname = \"x\"\ntype = \"slack\"\nurl = \"ftp://a\"\n",
                "channels[0] (x).url",
                "not an http(s) URL",
            ),
            (
                "[[channels]]\nname = \"x\"\ntype = \"slack\"\nurl = \"https://a\"\nrules = [\"boom\"]\n",
                "channels[0] (x).rules",
                "\"boom\" is not a rule",
            ),
            (
                "[alerts.thresholds]\nsilent_min_days = 9\n",
                "alerts.thresholds.silent_min_days",
                "1 to 7",
            ),
            ("[alerts]\nunknown = 1\n", "line 2", "unknown field"),
            (
                "[[channels]]\nname = \"m\"\ntype = \"email\"\nsmtp_host = \"mail.example.net\"\ntls = \"none\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n",
                "channels[0] (m).tls",
                "loopback",
            ),
            (
                "[[channels]]\nname = \"m\"\ntype = \"email\"\nsmtp_host = \"mail.example.net\"\nfrom = \"not an address\"\nto = [\"d@e.f\"]\n",
                "channels[0] (m).from",
                "not an address",
            ),
            (
                "[[channels]]\nname = \"m\"\ntype = \"email\"\nsmtp_host = \"mail.example.net\"\nfrom = \"a@b.c\"\n",
                "channels[0] (m).to",
                "at least one recipient",
            ),
        ];
        for (text, key, problem) in cases {
            let e = parse("alerts.toml", text, &env).unwrap_err();
            assert_eq!(e.file, "alerts.toml");
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.problem.contains(problem), "{text}: {e}");
        }
    }
}
