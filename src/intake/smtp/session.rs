//! The SMTP session state machine (sans-IO).

use smtp_proto::{Error as ProtoError, Request};

use super::replies;

/// Limits and policy of one SMTP listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Name used in the greeting and the EHLO reply.
    pub hostname: String,
    /// Largest accepted message in bytes (after dot-unstuffing), advertised as `SIZE`.
    /// 10 MiB (docs/ARCHITECTURE.md, "Limits"): TLS-RPT reports are small gzip files; anything this big is abuse.
    pub max_message_size: usize,
    /// Longest command line in bytes, CRLF included. 4 KiB (docs/ARCHITECTURE.md, "Limits"): RFC 5321 needs only
    /// 512, but extension parameters make real lines longer; 4 KiB bounds buffering per peer.
    pub max_line_length: usize,
    /// Recipients per transaction. 100 is the minimum RFC 5321 §4.5.3.1.8 asks servers to
    /// accept; a report goes to one `rua` address, so more than that is only abuse. Beyond it
    /// the peer gets `452 4.5.3` and may retry the rest in a new transaction.
    pub max_recipients: usize,
    /// 5xx replies to commands before the session is closed with `421 4.7.0`. 10 tolerates
    /// clumsy clients while stopping scanners and protocol fuzzers quickly.
    pub max_errors: usize,
    /// Refuse MAIL with `530 5.7.0` until STARTTLS has completed.
    pub require_tls: bool,
    /// Whether STARTTLS is offered (a certificate is configured).
    pub tls_available: bool,
    /// Accepted recipients; every other RCPT gets `550 5.1.1`.
    pub recipients: RecipientMatcher,
}

impl SessionConfig {
    /// Defaults from docs/ARCHITECTURE.md, "Limits", with the given hostname and accepted recipients.
    pub fn new(hostname: impl Into<String>, recipients: RecipientMatcher) -> Self {
        Self {
            hostname: hostname.into(),
            max_message_size: 10 * 1024 * 1024,
            max_line_length: 4096,
            max_recipients: 100,
            max_errors: 10,
            require_tls: false,
            tls_available: true,
            recipients,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::new("localhost", RecipientMatcher::default())
    }
}

/// A recipient pattern that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientPatternError {
    #[error("recipient pattern {0:?} is not `local@domain` or `*@domain`")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `None` for `*` (any local part).
    local: Option<String>,
    domain: String,
}

/// Accepted recipient addresses: exact `tlsrpt@example.com` or `*@reports.example.com`.
/// Comparison is ASCII case-insensitive on both parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientMatcher {
    patterns: Vec<Pattern>,
}

impl RecipientMatcher {
    /// Parses patterns such as `tlsrpt@example.com` and `*@reports.example.com`.
    pub fn new<I, S>(patterns: I) -> Result<Self, RecipientPatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            let bad = || RecipientPatternError::Malformed(p.to_string());
            let (local, domain) = split_address(p).ok_or_else(bad)?;
            let local = if local == "*" {
                None
            } else if local.contains('*') {
                return Err(bad());
            } else {
                Some(local.to_ascii_lowercase())
            };
            if domain.contains('*') {
                return Err(bad());
            }
            out.push(Pattern {
                local,
                domain: domain.to_ascii_lowercase(),
            });
        }
        Ok(Self { patterns: out })
    }

    /// True when `addr` is one of the accepted recipients. Source routes (`@a:b@c`), `%` and
    /// `!` relay tricks and quoted local parts never match.
    pub fn matches(&self, addr: &str) -> bool {
        let Some((local, domain)) = split_address(addr) else {
            return false;
        };
        let local = local.to_ascii_lowercase();
        let domain = domain.to_ascii_lowercase();
        self.patterns
            .iter()
            .any(|p| p.domain == domain && p.local.as_ref().is_none_or(|l| *l == local))
    }
}

/// Splits `local@domain`, refusing anything that could route elsewhere.
fn split_address(addr: &str) -> Option<(&str, &str)> {
    let (local, domain) = addr.rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let bad_char = |c: char| {
        matches!(
            c,
            '@' | '%' | '!' | ':' | ',' | '"' | '\\' | '[' | ']' | '<' | '>'
        ) || c.is_whitespace()
            || c.is_control()
    };
    if local.is_empty()
        || domain.is_empty()
        || local.contains(bad_char)
        || domain.contains(bad_char)
    {
        return None;
    }
    Some((local, domain))
}

/// A message accepted by DATA, to be stored by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub peer: String,
    pub helo: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Message bytes, dot-unstuffed, line endings as received, terminator removed.
    pub message: Vec<u8>,
    /// TLS description passed to [`Session::tls_established`], if the session is encrypted.
    pub tls: Option<String>,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write these bytes to the peer.
    Reply(Vec<u8>),
    /// The `220` reply precedes this event; write it, then run the TLS handshake and call
    /// [`Session::tls_established`]. Plaintext bytes after STARTTLS have been discarded.
    StartTls,
    /// Store this message, then call [`Session::delivery_result`] with the reply. Input fed
    /// meanwhile is buffered and processed afterwards, so pipelined replies stay in order.
    Deliver(Envelope),
    /// Write any preceding replies, then close the connection.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataPos {
    /// At the beginning of a line.
    Bol,
    /// Inside a line.
    Mid,
    /// Beginning of line was `.`.
    Dot,
    /// Beginning of line was `.\r`.
    DotCr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Command,
    Data {
        pos: DataPos,
        size: usize,
        too_big: bool,
    },
    /// Draining the payload of a refused BDAT.
    Bdat {
        remaining: usize,
    },
    AwaitDelivery,
    AwaitTls,
    Closed,
}

/// One SMTP connection. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    peer: String,
    state: State,
    buf: Vec<u8>,
    /// Discarding the rest of an overlong command line.
    discard_line: bool,
    helo: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    message: Vec<u8>,
    tls: Option<String>,
    errors: usize,
    out: Vec<Event>,
}

impl Session {
    pub fn new(config: SessionConfig, peer: String) -> Self {
        Self {
            config,
            peer,
            state: State::Command,
            buf: Vec::new(),
            discard_line: false,
            helo: None,
            mail_from: None,
            rcpt_to: Vec::new(),
            message: Vec::new(),
            tls: None,
            errors: 0,
            out: Vec::new(),
        }
    }

    /// The `220` banner to send on connect.
    pub fn greeting(&self) -> Vec<u8> {
        replies::greeting(&self.config.hostname).into_bytes()
    }

    /// `421` to send before closing on server shutdown.
    pub fn shutdown_reply() -> Vec<u8> {
        replies::SHUTDOWN.as_bytes().to_vec()
    }

    /// `421` to send before closing an idle connection.
    pub fn idle_timeout_reply() -> Vec<u8> {
        replies::IDLE_TIMEOUT.as_bytes().to_vec()
    }

    /// `421` to send before closing a session that exceeded its lifetime.
    pub fn session_too_long_reply() -> Vec<u8> {
        replies::SESSION_TOO_LONG.as_bytes().to_vec()
    }

    /// True once the session has asked to close; further input is ignored.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// False while the driver should stop reading from the peer (waiting for a delivery
    /// result or a TLS handshake, or closed). Input fed while waiting for a delivery result
    /// is buffered without a bound, so the driver applies backpressure with this.
    pub fn wants_input(&self) -> bool {
        !matches!(
            self.state,
            State::AwaitDelivery | State::AwaitTls | State::Closed
        )
    }

    /// True while TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Bytes received from the peer.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Event> {
        match self.state {
            // After STARTTLS, plaintext is never interpreted (RFC 3207 §5, CVE-2011-0411).
            State::Closed | State::AwaitTls => {}
            State::AwaitDelivery => self.buf.extend_from_slice(input),
            _ => {
                self.buf.extend_from_slice(input);
                self.process();
            }
        }
        std::mem::take(&mut self.out)
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded. The session is reset to its
    /// initial state (RFC 3207 §4.2): a fresh EHLO is required.
    pub fn tls_established(&mut self, tls_info: String) {
        self.tls = Some(tls_info);
        self.helo = None;
        self.reset_transaction();
        self.buf.clear();
        self.discard_line = false;
        if self.state == State::AwaitTls {
            self.state = State::Command;
        }
    }

    /// The reply to the DATA whose [`Event::Deliver`] was handled (see [`replies::stored`],
    /// [`replies::duplicate`], [`replies::rejected`], [`replies::TEMP_FAIL`]). Processes any
    /// input buffered meanwhile.
    pub fn delivery_result(&mut self, reply: Vec<u8>) -> Vec<Event> {
        if self.state != State::AwaitDelivery {
            return Vec::new();
        }
        self.reply(reply);
        self.state = State::Command;
        self.process();
        std::mem::take(&mut self.out)
    }

    fn reply(&mut self, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        // Coalesce consecutive replies into one write.
        if let Some(Event::Reply(last)) = self.out.last_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.out.push(Event::Reply(bytes));
        }
    }

    /// A 5xx reply that counts toward `max_errors`.
    fn error(&mut self, bytes: impl Into<Vec<u8>>) {
        self.reply(bytes);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.close(replies::TOO_MANY_ERRORS);
        }
    }

    fn close(&mut self, reply: &str) {
        self.reply(reply);
        self.out.push(Event::Close);
        self.state = State::Closed;
        self.buf.clear();
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
        self.message = Vec::new();
    }

    fn process(&mut self) {
        loop {
            match self.state {
                State::Command => {
                    if !self.command_step() {
                        return;
                    }
                }
                State::Data { .. } => {
                    if !self.data_step() {
                        return;
                    }
                }
                State::Bdat { remaining } => {
                    let n = remaining.min(self.buf.len());
                    self.buf.drain(..n);
                    if n == remaining {
                        self.state = State::Command;
                    } else {
                        self.state = State::Bdat {
                            remaining: remaining - n,
                        };
                        return;
                    }
                }
                State::AwaitDelivery | State::AwaitTls | State::Closed => return,
            }
        }
    }

    /// Handles one command line if complete; false when more input is needed.
    fn command_step(&mut self) -> bool {
        let max = self.config.max_line_length;
        let Some(lf) = self.buf.iter().position(|&b| b == b'\n') else {
            if self.discard_line {
                self.buf.clear();
            } else if self.buf.len() > max {
                self.buf.clear();
                self.discard_line = true;
                self.error(replies::LINE_TOO_LONG);
            }
            return false;
        };
        let line: Vec<u8> = self.buf.drain(..=lf).collect();
        if self.discard_line {
            self.discard_line = false;
            return true;
        }
        if line.len() > max {
            self.error(replies::LINE_TOO_LONG);
            return true;
        }
        self.command(&line);
        true
    }

    fn command(&mut self, line: &[u8]) {
        let request = Request::parse(&mut line.iter());
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let reply = match e {
                    ProtoError::UnknownCommand => replies::UNKNOWN.to_string(),
                    ProtoError::InvalidSenderAddress => replies::BAD_SENDER.to_string(),
                    ProtoError::InvalidRecipientAddress => replies::BAD_RECIPIENT.to_string(),
                    ProtoError::SyntaxError { syntax } => replies::syntax(syntax),
                    ProtoError::UnsupportedParameter { .. } => {
                        replies::UNSUPPORTED_PARAM.to_string()
                    }
                    _ => replies::SYNTAX.to_string(),
                };
                self.error(reply);
                return;
            }
        };
        match request {
            Request::Ehlo { host } => {
                self.reset_transaction();
                self.helo = Some(host.into_owned());
                let offer = self.config.tls_available && self.tls.is_none();
                let r = replies::ehlo(&self.config.hostname, offer, self.config.max_message_size);
                self.reply(r);
            }
            Request::Helo { host } => {
                self.reset_transaction();
                self.helo = Some(host.into_owned());
                let r = replies::helo(&self.config.hostname);
                self.reply(r);
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.error(replies::BAD_SEQUENCE_HELO);
                } else if self.mail_from.is_some() {
                    self.error(replies::BAD_SEQUENCE_NESTED_MAIL);
                } else if self.config.require_tls && self.tls.is_none() {
                    self.error(replies::TLS_REQUIRED);
                } else if from.size > self.config.max_message_size {
                    // Not counted as an error: the client did nothing wrong.
                    let r = replies::too_big(self.config.max_message_size);
                    self.reply(r);
                } else {
                    self.mail_from = Some(from.address.into_owned());
                    self.reply(replies::OK_MAIL);
                }
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    self.error(replies::BAD_SEQUENCE_MAIL);
                } else if !self.config.recipients.matches(&to.address) {
                    self.error(replies::NO_SUCH_USER);
                } else if self
                    .rcpt_to
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&to.address))
                {
                    self.reply(replies::OK_RCPT);
                } else if self.rcpt_to.len() >= self.config.max_recipients {
                    self.reply(replies::TOO_MANY_RCPT);
                } else {
                    self.rcpt_to.push(to.address.into_owned());
                    self.reply(replies::OK_RCPT);
                }
            }
            Request::Data => {
                if self.mail_from.is_none() {
                    self.error(replies::BAD_SEQUENCE_MAIL);
                } else if self.rcpt_to.is_empty() {
                    // RFC 2920 §3.1: 503 or 554 when no recipient was accepted.
                    self.error(replies::NO_VALID_RCPT);
                } else {
                    self.reply(replies::START_DATA);
                    self.message = Vec::new();
                    self.state = State::Data {
                        pos: DataPos::Bol,
                        size: 0,
                        too_big: false,
                    };
                }
            }
            Request::Bdat { chunk_size, .. } => {
                // CHUNKING is not advertised, but a client that sends BDAT anyway follows it
                // with `chunk_size` raw bytes; they are drained, never read as commands.
                self.error(replies::BDAT);
                if self.state == State::Command {
                    self.state = State::Bdat {
                        remaining: chunk_size,
                    };
                }
            }
            Request::Rset => {
                self.reset_transaction();
                self.reply(replies::RSET);
            }
            Request::Noop { .. } => self.reply(replies::NOOP),
            Request::Quit => self.close(replies::BYE),
            Request::Help { .. } => self.reply(replies::HELP),
            Request::Vrfy { .. } => self.reply(replies::VRFY),
            Request::StartTls => {
                let args = line
                    .get(8..)
                    .unwrap_or_default()
                    .iter()
                    .any(|b| !b.is_ascii_whitespace());
                if args {
                    self.error(replies::SYNTAX);
                } else if self.tls.is_some() {
                    self.error(replies::TLS_ALREADY_ACTIVE);
                } else if !self.config.tls_available {
                    self.error(replies::TLS_NOT_AVAILABLE);
                } else {
                    self.reply(replies::READY_TLS);
                    self.out.push(Event::StartTls);
                    self.helo = None;
                    self.reset_transaction();
                    self.buf.clear();
                    self.state = State::AwaitTls;
                }
            }
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Auth { .. }
            | Request::Burl { .. }
            | Request::Lhlo { .. } => self.error(replies::NOT_IMPLEMENTED),
        }
    }

    /// Consumes message bytes; false when more input is needed.
    fn data_step(&mut self) -> bool {
        let State::Data {
            mut pos,
            mut size,
            mut too_big,
        } = self.state
        else {
            return false;
        };
        let max = self.config.max_message_size;
        let mut ended = false;
        let mut consumed = 0;
        {
            let message = &mut self.message;
            let mut emit = |b: u8| {
                size += 1;
                if size > max {
                    if !too_big {
                        too_big = true;
                        *message = Vec::new();
                    }
                } else {
                    message.push(b);
                }
            };
            for &b in &self.buf {
                consumed += 1;
                match pos {
                    DataPos::Bol => {
                        if b == b'.' {
                            pos = DataPos::Dot;
                        } else {
                            emit(b);
                            pos = if b == b'\n' {
                                DataPos::Bol
                            } else {
                                DataPos::Mid
                            };
                        }
                    }
                    DataPos::Mid => {
                        emit(b);
                        if b == b'\n' {
                            pos = DataPos::Bol;
                        }
                    }
                    DataPos::Dot => match b {
                        b'\r' => pos = DataPos::DotCr,
                        b'\n' => {
                            ended = true;
                            break;
                        }
                        _ => {
                            // Leading dot removed (RFC 5321 §4.5.2).
                            emit(b);
                            pos = DataPos::Mid;
                        }
                    },
                    DataPos::DotCr => {
                        if b == b'\n' {
                            ended = true;
                            break;
                        }
                        emit(b'\r');
                        emit(b);
                        pos = if b == b'\n' {
                            DataPos::Bol
                        } else {
                            DataPos::Mid
                        };
                    }
                }
            }
        }
        self.buf.drain(..consumed);
        if !ended {
            self.state = State::Data { pos, size, too_big };
            return false;
        }
        if too_big {
            self.reset_transaction();
            self.state = State::Command;
            let r = replies::too_big(max);
            self.reply(r);
            return true;
        }
        let envelope = Envelope {
            peer: self.peer.clone(),
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            message: {
                // Pushed byte by byte, the buffer may be twice its content; it lives on
                // until the message is stored.
                let mut message = std::mem::take(&mut self.message);
                message.shrink_to_fit();
                message
            },
            tls: self.tls.clone(),
        };
        self.out.push(Event::Deliver(envelope));
        self.state = State::AwaitDelivery;
        false
    }
}
