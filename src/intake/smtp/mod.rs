//! Sans-IO SMTP session core for the receive-only TLS-RPT intake (RFC 8460 §5.3).
//!
//! [`session::Session`] is a state machine without any I/O:
//!
//! - **in**: bytes read from the peer ([`Session::feed`]), the end of a TLS handshake
//!   ([`Session::tls_established`]) and the outcome of storing a delivered report
//!   ([`Session::delivery_result`]);
//! - **out**: [`Event`]s — reply bytes to write, a request to upgrade the stream to TLS, an
//!   envelope to deliver, or a request to close the connection.
//!
//! Every reply text lives in [`replies`]. Nothing is ever relayed: recipients outside the
//! configured [`RecipientMatcher`] patterns are refused with `550 5.1.1`.

pub mod dkim;
pub mod replies;
pub mod server;
pub mod session;

#[cfg(test)]
mod tests;

pub use session::{
    Envelope, Event, RecipientMatcher, RecipientPatternError, Session, SessionConfig,
};
