//! Socket-free tests: the session is driven with byte strings only.

use super::replies;
use super::session::{Envelope, Event, RecipientMatcher, Session, SessionConfig};
use crate::pipeline::RejectCode;

fn config() -> SessionConfig {
    let recipients =
        RecipientMatcher::new(["tlsrpt@example.com", "*@reports.example.com"]).unwrap_or_default();
    SessionConfig::new("mx.test", recipients)
}

fn session_with(config: SessionConfig) -> Session {
    Session::new(config, "192.0.2.1:4242".to_string())
}

fn session() -> Session {
    session_with(config())
}

/// Concatenated reply text of `events`.
fn text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reply(r) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        })
        .collect()
}

fn feed(s: &mut Session, input: &str) -> String {
    text(&s.feed(input.as_bytes()))
}

fn deliveries(events: &[Event]) -> Vec<Envelope> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deliver(env) => Some(env.clone()),
            _ => None,
        })
        .collect()
}

fn codes(reply: &str) -> Vec<&str> {
    reply
        .split("\r\n")
        .filter(|l| !l.is_empty() && l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect()
}

/// EHLO + MAIL + RCPT, asserting success.
fn ready(s: &mut Session) {
    let r = feed(
        s,
        "EHLO client.test\r\nMAIL FROM:<r@sender.test>\r\nRCPT TO:<tlsrpt@example.com>\r\n",
    );
    assert_eq!(codes(&r), ["250", "250", "250"], "{r}");
}

#[test]
fn greeting_and_ehlo_extensions() {
    let mut s = session();
    assert_eq!(
        s.greeting(),
        b"220 mx.test ESMTP TLS-RPT report receiver\r\n"
    );
    let r = feed(&mut s, "EHLO client.test\r\n");
    assert_eq!(
        r,
        "250-mx.test greets you\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
    );
}

#[test]
fn ehlo_without_tls_available_does_not_offer_starttls() {
    let mut cfg = config();
    cfg.tls_available = false;
    let mut s = session_with(cfg);
    let r = feed(&mut s, "EHLO c\r\n");
    assert!(!r.contains("STARTTLS"), "{r}");
    assert!(r.ends_with("250 ENHANCEDSTATUSCODES\r\n"), "{r}");
    assert_eq!(feed(&mut s, "STARTTLS\r\n"), replies::TLS_NOT_AVAILABLE);
}

#[test]
fn helo_then_transaction() {
    let mut s = session();
    assert_eq!(feed(&mut s, "HELO client.test\r\n"), "250 mx.test\r\n");
    assert_eq!(feed(&mut s, "MAIL FROM:<>\r\n"), replies::OK_MAIL);
    assert_eq!(
        feed(&mut s, "RCPT TO:<TLSRPT@Example.COM>\r\n"),
        replies::OK_RCPT
    );
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::START_DATA);
    let ev = s.feed(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    let env = deliveries(&ev);
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].helo, "client.test");
    assert_eq!(env[0].mail_from, "");
}

#[test]
fn pipelined_transaction_replies_in_order_and_delivers() {
    let mut s = session();
    let r = feed(
        &mut s,
        "EHLO client.test\r\nMAIL FROM:<r@sender.test> SIZE=100 BODY=8BITMIME\r\n\
         RCPT TO:<tlsrpt@example.com>\r\nRCPT TO:<nobody@example.com>\r\n\
         RCPT TO:<x@reports.example.com>\r\nDATA\r\n",
    );
    assert_eq!(codes(&r), ["250", "250", "250", "550", "250", "354"], "{r}");
    let ev = s.feed(b"Subject: report\r\n\r\n{}\r\n.\r\n");
    assert_eq!(ev.len(), 1);
    let env = &deliveries(&ev)[0];
    assert_eq!(env.mail_from, "r@sender.test");
    assert_eq!(env.rcpt_to, ["tlsrpt@example.com", "x@reports.example.com"]);
    assert_eq!(env.message, b"Subject: report\r\n\r\n{}\r\n");
    assert_eq!(env.peer, "192.0.2.1:4242");
    assert_eq!(env.tls, None);
    let ev = s.delivery_result(replies::stored(42).into_bytes());
    assert_eq!(text(&ev), "250 2.0.0 Report stored as #42\r\n");
    // The transaction is over: a new one needs MAIL.
    assert_eq!(
        feed(&mut s, "RCPT TO:<tlsrpt@example.com>\r\n"),
        replies::BAD_SEQUENCE_MAIL
    );
}

#[test]
fn pipelined_commands_after_data_wait_for_delivery_result() {
    let mut s = session();
    ready(&mut s);
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::START_DATA);
    let ev = s.feed(b"hello\r\n.\r\nMAIL FROM:<a@b.test>\r\nNOOP\r\nQUIT\r\n");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(ev[0], Event::Deliver(_)));
    // More input while waiting is buffered, not answered.
    assert!(s.feed(b"RSET\r\n").is_empty());
    let ev = s.delivery_result(replies::duplicate(7).into_bytes());
    assert_eq!(
        text(&ev),
        format!(
            "250 2.0.0 Report already stored as #7 (duplicate)\r\n{}{}{}",
            replies::OK_MAIL,
            replies::NOOP,
            replies::BYE
        )
    );
    assert_eq!(ev.last(), Some(&Event::Close));
    assert!(s.is_closed());
    // RSET fed while waiting came after QUIT: ignored.
    assert!(s.feed(b"NOOP\r\n").is_empty());
}

#[test]
fn delivery_result_reasons() {
    for (reply, code) in [
        (
            replies::rejected(RejectCode::MissingField, "no policies\r\narray"),
            "550",
        ),
        (replies::TEMP_FAIL.to_string(), "451"),
    ] {
        let mut s = session();
        ready(&mut s);
        feed(&mut s, "DATA\r\n");
        assert_eq!(deliveries(&s.feed(b"x\r\n.\r\n")).len(), 1);
        let r = text(&s.delivery_result(reply.into_bytes()));
        assert_eq!(codes(&r), [code], "{r}");
        // A new transaction can follow.
        assert_eq!(feed(&mut s, "MAIL FROM:<a@b.test>\r\n"), replies::OK_MAIL);
    }
    assert_eq!(
        replies::rejected(RejectCode::MissingField, "no policies\r\narray"),
        "550 5.6.0 No valid TLS-RPT report (missing-field): no policies array\r\n"
    );
}

#[test]
fn delivery_result_without_pending_delivery_is_ignored() {
    let mut s = session();
    assert!(s.delivery_result(b"250 x\r\n".to_vec()).is_empty());
}

#[test]
fn message_fed_byte_by_byte() {
    let mut s = session();
    let input = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n\
                 Subject: t\r\n\r\n..leading dot\r\nline\r\n.\r\nQUIT\r\n";
    let mut events = Vec::new();
    for b in input.as_bytes() {
        events.extend(s.feed(std::slice::from_ref(b)));
    }
    assert_eq!(codes(&text(&events)), ["250", "250", "250", "354"]);
    let env = deliveries(&events);
    assert_eq!(env.len(), 1);
    assert_eq!(
        env[0].message,
        b"Subject: t\r\n\r\n.leading dot\r\nline\r\n"
    );
    let ev = s.delivery_result(replies::stored(1).into_bytes());
    assert_eq!(codes(&text(&ev)), ["250", "221"]);
    assert_eq!(ev.last(), Some(&Event::Close));
}

#[test]
fn dot_unstuffing_and_near_terminators() {
    let mut s = session();
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    let ev = s.feed(b"..\r\n...x\r\n.y\r\n.\rz\r\na.\r\n \r\n.\r\n");
    let env = deliveries(&ev);
    assert_eq!(env.len(), 1, "{ev:?}");
    assert_eq!(env[0].message, b".\r\n..x\r\ny\r\n\rz\r\na.\r\n \r\n");
}

#[test]
fn bare_lf_lines_and_terminator() {
    let mut s = session();
    let r = feed(
        &mut s,
        "EHLO c\nMAIL FROM:<a@b.test>\nRCPT TO:<tlsrpt@example.com>\nDATA\n",
    );
    assert_eq!(codes(&r), ["250", "250", "250", "354"], "{r}");
    let env = deliveries(&s.feed(b"a\nb\n.\n"));
    assert_eq!(env[0].message, b"a\nb\n");
}

#[test]
fn empty_message() {
    let mut s = session();
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    let env = deliveries(&s.feed(b".\r\n"));
    assert_eq!(env[0].message, b"");
}

#[test]
fn starttls_discards_injected_plaintext_and_requires_new_ehlo() {
    let mut s = session();
    feed(&mut s, "EHLO c\r\n");
    let ev = s.feed(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<tlsrpt@example.com>\r\n");
    assert_eq!(
        ev,
        [
            Event::Reply(replies::READY_TLS.as_bytes().to_vec()),
            Event::StartTls
        ]
    );
    // Plaintext arriving before the handshake finishes is ignored too.
    assert!(s.feed(b"DATA\r\n").is_empty());
    s.tls_established("TLSv1.3 TLS_AES_128_GCM_SHA256".to_string());
    assert!(s.is_tls());
    // The injected MAIL was not processed: RCPT has no transaction, MAIL needs EHLO.
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test>\r\n"),
        replies::BAD_SEQUENCE_HELO
    );
    let r = feed(&mut s, "EHLO c\r\n");
    assert!(!r.contains("STARTTLS"), "{r}");
    assert_eq!(
        feed(&mut s, "RCPT TO:<tlsrpt@example.com>\r\n"),
        replies::BAD_SEQUENCE_MAIL
    );
    assert_eq!(feed(&mut s, "STARTTLS\r\n"), replies::TLS_ALREADY_ACTIVE);
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    let env = deliveries(&s.feed(b"x\r\n.\r\n"));
    assert_eq!(
        env[0].tls.as_deref(),
        Some("TLSv1.3 TLS_AES_128_GCM_SHA256")
    );
}

#[test]
fn starttls_resets_transaction() {
    let mut s = session();
    ready(&mut s);
    assert_eq!(feed(&mut s, "STARTTLS\r\n"), replies::READY_TLS);
    s.tls_established("tls".to_string());
    feed(&mut s, "EHLO c\r\n");
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::BAD_SEQUENCE_MAIL);
}

#[test]
fn starttls_with_arguments_is_a_syntax_error() {
    let mut s = session();
    assert_eq!(feed(&mut s, "STARTTLS now\r\n"), replies::SYNTAX);
    assert!(!s.is_closed());
}

#[test]
fn require_tls_refuses_mail_before_starttls() {
    let mut cfg = config();
    cfg.require_tls = true;
    let mut s = session_with(cfg);
    feed(&mut s, "EHLO c\r\n");
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test>\r\n"),
        replies::TLS_REQUIRED
    );
    feed(&mut s, "STARTTLS\r\n");
    s.tls_established("tls".to_string());
    feed(&mut s, "EHLO c\r\n");
    assert_eq!(feed(&mut s, "MAIL FROM:<a@b.test>\r\n"), replies::OK_MAIL);
}

#[test]
fn sequence_errors() {
    let mut s = session();
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test>\r\n"),
        replies::BAD_SEQUENCE_HELO
    );
    feed(&mut s, "EHLO c\r\n");
    assert_eq!(
        feed(&mut s, "RCPT TO:<tlsrpt@example.com>\r\n"),
        replies::BAD_SEQUENCE_MAIL
    );
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::BAD_SEQUENCE_MAIL);
    assert_eq!(feed(&mut s, "MAIL FROM:<a@b.test>\r\n"), replies::OK_MAIL);
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test>\r\n"),
        replies::BAD_SEQUENCE_NESTED_MAIL
    );
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::NO_VALID_RCPT);
}

#[test]
fn rset_clears_transaction_but_keeps_helo() {
    let mut s = session();
    ready(&mut s);
    assert_eq!(feed(&mut s, "RSET\r\n"), replies::RSET);
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::BAD_SEQUENCE_MAIL);
    assert_eq!(
        feed(&mut s, "RCPT TO:<tlsrpt@example.com>\r\n"),
        replies::BAD_SEQUENCE_MAIL
    );
    assert_eq!(feed(&mut s, "MAIL FROM:<a@b.test>\r\n"), replies::OK_MAIL);
    // RSET before any HELO is fine and still requires HELO afterwards.
    let mut s = session();
    assert_eq!(feed(&mut s, "RSET\r\n"), replies::RSET);
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test>\r\n"),
        replies::BAD_SEQUENCE_HELO
    );
}

#[test]
fn ehlo_mid_transaction_resets_it() {
    let mut s = session();
    ready(&mut s);
    feed(&mut s, "EHLO again\r\n");
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::BAD_SEQUENCE_MAIL);
    ready(&mut s);
    feed(&mut s, "HELO again\r\n");
    assert_eq!(
        feed(&mut s, "RCPT TO:<tlsrpt@example.com>\r\n"),
        replies::BAD_SEQUENCE_MAIL
    );
}

#[test]
fn size_parameter_checked_at_mail() {
    let mut cfg = config();
    cfg.max_message_size = 1000;
    let mut s = session_with(cfg);
    feed(&mut s, "EHLO c\r\n");
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test> SIZE=1001\r\n"),
        "552 5.3.4 Message too big (limit 1000 bytes)\r\n"
    );
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test> SIZE=1000\r\n"),
        replies::OK_MAIL
    );
}

#[test]
fn oversized_data_is_drained_and_refused() {
    let mut cfg = config();
    cfg.max_message_size = 10;
    let mut s = session_with(cfg);
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    let mut events = Vec::new();
    for _ in 0..100 {
        events.extend(s.feed(b"0123456789\r\nMAIL FROM:<x@y.test>\r\n"));
    }
    assert!(events.is_empty(), "{events:?}");
    let ev = s.feed(b".\r\nNOOP\r\n");
    assert_eq!(
        text(&ev),
        format!("{}{}", replies::too_big(10), replies::NOOP)
    );
    assert!(deliveries(&ev).is_empty());
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::BAD_SEQUENCE_MAIL);
    // Exactly at the limit is accepted.
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    let env = deliveries(&s.feed(b"01234567\r\n.\r\n"));
    assert_eq!(env[0].message.len(), 10);
}

#[test]
fn long_command_line_answered_and_rest_discarded() {
    let mut s = session();
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    assert_eq!(feed(&mut s, &long), replies::LINE_TOO_LONG);
    // Split across feeds, without a newline in the first chunk: one reply only.
    let r1 = feed(&mut s, &format!("MAIL FROM:<{}", "a".repeat(5000)));
    assert_eq!(r1, replies::LINE_TOO_LONG);
    assert_eq!(feed(&mut s, &"b".repeat(5000)), "");
    // The rest of that line is discarded, the next line is processed.
    assert_eq!(feed(&mut s, "@b.test>\r\nNOOP\r\n"), replies::NOOP);
    // A line of exactly max_line_length bytes is fine.
    let ok = format!("NOOP {}\r\n", "x".repeat(4096 - 7));
    assert_eq!(ok.len(), 4096);
    assert_eq!(feed(&mut s, &ok), replies::NOOP);
}

#[test]
fn too_many_recipients() {
    let mut cfg = config();
    cfg.max_recipients = 2;
    let mut s = session_with(cfg);
    ready(&mut s);
    assert_eq!(
        feed(&mut s, "RCPT TO:<a@reports.example.com>\r\n"),
        replies::OK_RCPT
    );
    assert_eq!(
        feed(&mut s, "RCPT TO:<b@reports.example.com>\r\n"),
        replies::TOO_MANY_RCPT
    );
    // A repeated recipient is not counted twice.
    assert_eq!(
        feed(&mut s, "RCPT TO:<TLSRPT@example.com>\r\n"),
        replies::OK_RCPT
    );
    feed(&mut s, "DATA\r\n");
    let env = deliveries(&s.feed(b"x\r\n.\r\n"));
    assert_eq!(env[0].rcpt_to.len(), 2);
}

#[test]
fn unaccepted_recipients_and_relay_tricks() {
    let mut s = session();
    feed(&mut s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
    for rcpt in [
        "<someone@example.com>",
        "<tlsrpt@other.test>",
        "<tlsrpt%other.test@example.com>",
        "<other.test!tlsrpt@example.com>",
        "<x@sub.reports.example.com>",
    ] {
        let r = feed(&mut s, &format!("RCPT TO:{rcpt}\r\n"));
        assert!(
            r.starts_with("550 5.1.1 ") || r.starts_with("501 "),
            "{rcpt}: {r}"
        );
    }
    assert_eq!(feed(&mut s, "DATA\r\n"), replies::NO_VALID_RCPT);
}

#[test]
fn recipient_matcher() {
    let m = RecipientMatcher::new(["tlsrpt@example.com", "*@Reports.Example.com"]);
    let Ok(m) = m else {
        panic!("patterns should parse");
    };
    assert!(m.matches("tlsrpt@example.com"));
    assert!(m.matches("TlsRpt@EXAMPLE.com"));
    assert!(m.matches("tlsrpt@example.com."));
    assert!(m.matches("anyone@reports.example.com"));
    assert!(!m.matches("tlsrpt2@example.com"));
    assert!(!m.matches("tlsrpt@example.org"));
    assert!(!m.matches("@relay.test:tlsrpt@example.com"));
    assert!(!m.matches("a%b@reports.example.com"));
    assert!(!m.matches("b!a@reports.example.com"));
    assert!(!m.matches("a@b@reports.example.com"));
    assert!(!m.matches("\"a b\"@reports.example.com"));
    assert!(!m.matches("@reports.example.com"));
    assert!(!m.matches("reports.example.com"));
    assert!(!m.matches(""));
    for bad in [
        "",
        "nobody",
        "@example.com",
        "a@",
        "a*@example.com",
        "*@*.example.com",
    ] {
        assert!(RecipientMatcher::new([bad]).is_err(), "{bad}");
    }
    assert!(!RecipientMatcher::default().matches("tlsrpt@example.com"));
}

#[test]
fn too_many_errors_closes_connection() {
    let mut cfg = config();
    cfg.max_errors = 3;
    let mut s = session_with(cfg);
    let ev = s.feed(b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
    assert_eq!(
        text(&ev),
        format!(
            "{}{}{}{}",
            replies::UNKNOWN,
            replies::UNKNOWN,
            replies::UNKNOWN,
            replies::TOO_MANY_ERRORS
        )
    );
    assert_eq!(ev.last(), Some(&Event::Close));
    assert!(s.is_closed());
    assert!(s.feed(b"NOOP\r\n").is_empty());
}

#[test]
fn bdat_refused_and_chunk_not_interpreted() {
    let mut s = session();
    ready(&mut s);
    let r = feed(
        &mut s,
        "BDAT 23 LAST\r\nQUIT\r\nMAIL FROM:<a>\r\n\r\nNOOP\r\n",
    );
    assert_eq!(r, format!("{}{}", replies::BDAT, replies::NOOP));
    // Chunk split across feeds.
    let r = feed(&mut s, "BDAT 6\r\nQUI");
    assert_eq!(r, replies::BDAT);
    assert_eq!(feed(&mut s, "T\r\nNOOP\r\n"), replies::NOOP);
    assert!(!s.is_closed());
}

#[test]
fn other_verbs() {
    let mut s = session();
    assert_eq!(feed(&mut s, "NOOP\r\n"), replies::NOOP);
    assert_eq!(feed(&mut s, "noop hello\r\n"), replies::NOOP);
    assert_eq!(feed(&mut s, "HELP\r\n"), replies::HELP);
    assert_eq!(feed(&mut s, "VRFY tlsrpt\r\n"), replies::VRFY);
    for cmd in [
        "EXPN list",
        "ETRN example.com",
        "AUTH PLAIN AGFAYg==",
        "LHLO c",
        "ATRN a.test",
    ] {
        assert_eq!(
            feed(&mut s, &format!("{cmd}\r\n")),
            replies::NOT_IMPLEMENTED,
            "{cmd}"
        );
    }
}

#[test]
fn unknown_and_malformed_commands() {
    let mut cfg = config();
    cfg.max_errors = 100;
    let mut s = session_with(cfg);
    assert_eq!(feed(&mut s, "TURN\r\n"), replies::UNKNOWN);
    assert_eq!(feed(&mut s, "\r\n"), replies::UNKNOWN);
    assert_eq!(feed(&mut s, "\x00\x01\x02\r\n"), replies::UNKNOWN);
    feed(&mut s, "EHLO c\r\n");
    for line in [
        "MAIL FROM:a@b.test",
        "MAIL TO:<a@b.test>",
        "RCPT FROM:<a@b.test>",
        "EHLO",
        "HELO",
    ] {
        let r = feed(&mut s, &format!("{line}\r\n"));
        assert!(
            r.starts_with("501 ") || r.starts_with("555 "),
            "{line}: {r}"
        );
    }
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test> SIZE=abc\r\n").get(..3),
        Some("501")
    );
    assert_eq!(
        feed(&mut s, "MAIL FROM:<a@b.test> FOO=bar\r\n").get(..3),
        Some("555")
    );
}

#[test]
fn quit_closes() {
    let mut s = session();
    let ev = s.feed(b"QUIT\r\nNOOP\r\n");
    assert_eq!(
        ev,
        [Event::Reply(replies::BYE.as_bytes().to_vec()), Event::Close]
    );
}

#[test]
fn helper_replies() {
    assert_eq!(Session::shutdown_reply(), replies::SHUTDOWN.as_bytes());
    assert_eq!(
        Session::idle_timeout_reply(),
        replies::IDLE_TIMEOUT.as_bytes()
    );
    assert!(Session::session_too_long_reply().starts_with(b"421 "));
    let long = replies::rejected(RejectCode::NotJson, &"é\x07abc".repeat(1000));
    assert!(long.len() < 360 && long.ends_with("...\r\n"), "{long}");
    assert!(long.trim_end().bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert_eq!(
        replies::stored("a\r\nb"),
        "250 2.0.0 Report stored as #a b\r\n"
    );
    for r in [
        replies::OK_MAIL,
        replies::TOO_MANY_RCPT,
        replies::TEMP_FAIL,
        replies::SESSION_TOO_LONG,
    ] {
        assert!(r.ends_with("\r\n") && !r[..r.len() - 2].contains('\n'));
    }
}

#[test]
fn wants_input_tracks_waiting_states() {
    let mut s = session();
    assert!(s.wants_input());
    ready(&mut s);
    feed(&mut s, "DATA\r\n");
    s.feed(b"x\r\n.");
    assert!(s.wants_input());
    assert_eq!(deliveries(&s.feed(b"\r\n")).len(), 1);
    assert!(!s.wants_input());
    s.delivery_result(replies::stored(1).into_bytes());
    assert!(s.wants_input());
    feed(&mut s, "STARTTLS\r\n");
    assert!(!s.wants_input());
    s.tls_established("tls".to_string());
    assert!(s.wants_input());
    feed(&mut s, "QUIT\r\n");
    assert!(!s.wants_input());
}
