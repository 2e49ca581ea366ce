//! Every SMTP reply the intake sends, with RFC 3463 enhanced status codes.
//!
//! All replies end in CRLF. Multi-line replies use `250-` continuation lines.

use crate::pipeline::RejectCode;

/// Sent after the first EHLO/HELO; `{hostname}` is filled in by [`greeting`].
pub fn greeting(hostname: &str) -> String {
    format!("220 {hostname} ESMTP TLS-RPT report receiver\r\n")
}

/// EHLO reply advertising the supported extensions. `offer_starttls` must be false once TLS
/// is active (RFC 3207 §4.2) or when no certificate is configured.
pub fn ehlo(hostname: &str, offer_starttls: bool, max_size: usize) -> String {
    let mut s = format!("250-{hostname} greets you\r\n250-PIPELINING\r\n250-SIZE {max_size}\r\n");
    s.push_str("250-8BITMIME\r\n");
    if offer_starttls {
        s.push_str("250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n");
    } else {
        s.push_str("250 ENHANCEDSTATUSCODES\r\n");
    }
    s
}

/// HELO reply (RFC 5321 clients without extensions; no enhanced codes in a HELO reply).
pub fn helo(hostname: &str) -> String {
    format!("250 {hostname}\r\n")
}

pub const OK_MAIL: &str = "250 2.1.0 Sender OK\r\n";
pub const OK_RCPT: &str = "250 2.1.5 Recipient OK\r\n";
pub const OK: &str = "250 2.0.0 OK\r\n";
pub const NOOP: &str = OK;
pub const RSET: &str = OK;
pub const START_DATA: &str = "354 Start mail input; end with <CRLF>.<CRLF>\r\n";
pub const READY_TLS: &str = "220 2.0.0 Ready to start TLS\r\n";
pub const BYE: &str = "221 2.0.0 Bye\r\n";
pub const HELP: &str = "214 2.0.0 This server only receives TLS reports (RFC 8460)\r\n";
pub const VRFY: &str =
    "252 2.5.0 Cannot VRFY user, but will accept message for listed recipients\r\n";

pub const BAD_SEQUENCE_HELO: &str = "503 5.5.1 Send EHLO or HELO first\r\n";
pub const BAD_SEQUENCE_MAIL: &str = "503 5.5.1 Need MAIL command first\r\n";
pub const BAD_SEQUENCE_NESTED_MAIL: &str = "503 5.5.1 Sender already specified\r\n";
pub const BAD_SEQUENCE_RCPT: &str = "503 5.5.1 Need RCPT command first\r\n";
pub const NO_VALID_RCPT: &str = "554 5.5.1 No valid recipients\r\n";
pub const TLS_ALREADY_ACTIVE: &str = "503 5.5.1 TLS already active\r\n";
pub const TLS_NOT_AVAILABLE: &str = "502 5.5.1 STARTTLS not available\r\n";
pub const TLS_REQUIRED: &str = "530 5.7.0 Must issue a STARTTLS command first\r\n";

pub const NO_SUCH_USER: &str =
    "550 5.1.1 Recipient not accepted: this server only receives TLS reports\r\n";
pub const LINE_TOO_LONG: &str = "500 5.5.2 Line too long\r\n";
pub const UNKNOWN: &str = "500 5.5.1 Command not recognized\r\n";
pub const BDAT: &str = "502 5.5.1 BDAT not supported, use DATA\r\n";
pub const NOT_IMPLEMENTED: &str = "502 5.5.1 Command not implemented\r\n";
pub const SYNTAX: &str = "501 5.5.4 Syntax error in parameters\r\n";
pub const BAD_SENDER: &str = "501 5.1.7 Bad sender address syntax\r\n";
pub const BAD_RECIPIENT: &str = "501 5.1.3 Bad recipient address syntax\r\n";
pub const UNSUPPORTED_PARAM: &str = "555 5.5.4 Unsupported parameter\r\n";
pub const TOO_MANY_RCPT: &str = "452 4.5.3 Too many recipients\r\n";
pub const TOO_MANY_ERRORS: &str = "421 4.7.0 Too many errors, closing connection\r\n";
pub const IDLE_TIMEOUT: &str = "421 4.4.2 Idle timeout, closing connection\r\n";
pub const SHUTDOWN: &str = "421 4.3.2 Service shutting down\r\n";
pub const SESSION_TOO_LONG: &str = "421 4.4.2 Session lasted too long, closing connection\r\n";
pub const TOO_MANY_CONNECTIONS: &str = "421 4.7.0 Too many connections, try again later\r\n";
pub const TEMP_FAIL: &str = "451 4.3.0 Temporary storage failure, try again later\r\n";
/// The in-flight decompression budget stayed full (`pipeline::InflightBudget`).
pub const BUSY: &str = "451 4.3.1 Too many reports being decompressed, try again later\r\n";

/// Message larger than the limit (SIZE at MAIL, or counted while draining DATA).
pub fn too_big(limit: usize) -> String {
    let (reply, enhanced) = RejectCode::MessageTooLarge.smtp_reply();
    format!("{reply} {enhanced} Message too big (limit {limit} bytes)\r\n")
}

/// `501` naming the expected syntax (from the command parser).
pub fn syntax(expected: &str) -> String {
    format!("501 5.5.4 Syntax: {}\r\n", sanitize(expected, 200))
}

/// DATA accepted: the report is durably stored.
pub fn stored(id: impl std::fmt::Display) -> String {
    format!(
        "250 2.0.0 Report stored as #{}\r\n",
        sanitize(&id.to_string(), 100)
    )
}

/// DATA accepted: the same report was stored before.
pub fn duplicate(id: impl std::fmt::Display) -> String {
    format!(
        "250 2.0.0 Report already stored as #{} (duplicate)\r\n",
        sanitize(&id.to_string(), 100)
    )
}

/// DATA refused: the message carries no valid TLS-RPT report (it is kept in quarantine).
/// The reply and enhanced codes come from the [`RejectCode`].
pub fn rejected(code: RejectCode, reason: &str) -> String {
    let (reply, enhanced) = code.smtp_reply();
    format!(
        "{reply} {enhanced} No valid TLS-RPT report ({code}): {}\r\n",
        sanitize(reason, 300)
    )
}

/// One line of printable ASCII, at most `max` characters (`...` marks truncation).
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    // Starting as if after a space drops leading spaces.
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_ascii_graphic() { c } else { ' ' };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if out.len() >= max {
            let mut out = out.trim_end().to_string();
            out.push_str("...");
            return out;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}
