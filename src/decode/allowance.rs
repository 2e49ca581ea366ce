//! The decompressed bytes one submission may hold, and buffers that grow within them.
//!
//! In: a limit (`--max-decompressed-bytes`) and a grant (the share of the process-wide
//! in-flight budget the pipeline obtained for this submission). Out: buffers filled from
//! a reader whose every byte of capacity was charged first, or `TooLarge` once the next
//! chunk would pass the grant. Capacity, not content, is what is charged: it is what the
//! allocator hands out.

use std::cell::Cell;
use std::io::{self, Read};

use super::DecodeError;

/// Most bytes read from a decompressor per step (and zeroed ahead of it): large enough
/// that the calls are cheap, small enough that a reader that stops early leaves little
/// zeroed for nothing.
const CHUNK: usize = 64 * 1024;

/// The first buffer of an output: most reports inflate to a few KiB.
const FIRST_BUFFER: usize = 8 * 1024;

/// One submission's account of decompressed bytes. Not shared between threads: a
/// submission is decoded on one.
///
/// Two numbers are kept: the bytes *produced* (content of every layer, checked against
/// the limit: the submission's verdict) and the bytes *held* (buffer capacity, including
/// the moment a growing buffer is copied into a larger one, checked against the grant:
/// the memory it really takes). Holding peaks below twice the content, so a grant of
/// [`Allowance::full_grant`] never runs out before the limit does.
#[derive(Debug)]
pub struct Allowance {
    /// `--max-decompressed-bytes`: more content is refused.
    limit: u64,
    /// What the pipeline reserved for this submission.
    grant: u64,
    produced: Cell<u64>,
    held: Cell<u64>,
    wanted_more: Cell<bool>,
}

impl Allowance {
    /// An allowance of `grant` bytes held, within `limit` bytes produced.
    pub fn new(limit: u64, grant: u64) -> Self {
        Allowance {
            limit,
            grant,
            produced: Cell::new(0),
            held: Cell::new(0),
            wanted_more: Cell::new(false),
        }
    }

    /// The grant under which content up to `limit` always fits.
    pub fn full_grant(limit: u64) -> u64 {
        limit.saturating_mul(2).saturating_add(CHUNK as u64)
    }

    /// The full grant (bulk import, tests).
    pub fn whole(limit: u64) -> Self {
        Allowance::new(limit, Allowance::full_grant(limit))
    }

    /// Bytes of content produced so far.
    pub fn produced(&self) -> u64 {
        self.produced.get()
    }

    /// Bytes of buffers held now.
    pub fn held(&self) -> u64 {
        self.held.get()
    }

    /// True when decoding stopped at the grant before the limit: the submission was not
    /// judged and may be decoded again with a larger grant.
    pub fn wants_more(&self) -> bool {
        self.wanted_more.get()
    }

    fn too_large(&self, what: &str) -> DecodeError {
        DecodeError::TooLarge {
            what: what.to_owned(),
            limit: self.limit,
        }
    }

    /// Counts `bytes` of new content; fails without counting past the limit.
    fn produce(&self, bytes: u64, what: &str) -> Result<(), DecodeError> {
        let produced = self.produced.get().saturating_add(bytes);
        if produced > self.limit {
            return Err(self.too_large(what));
        }
        self.produced.set(produced);
        Ok(())
    }

    /// Takes `bytes` more of the grant; fails without taking past it.
    fn hold(&self, bytes: u64, what: &str) -> Result<(), DecodeError> {
        let held = self.held.get().saturating_add(bytes);
        if held > self.grant {
            self.wanted_more.set(true);
            return Err(self.too_large(what));
        }
        self.held.set(held);
        Ok(())
    }

    fn let_go(&self, bytes: u64) {
        self.held.set(self.held.get().saturating_sub(bytes));
    }

    /// Charges a buffer of `bytes` of new content (a copy, a base64 decoding).
    pub(crate) fn charge(&self, bytes: u64, what: &str) -> Result<(), DecodeError> {
        self.produce(bytes, what)?;
        self.hold(bytes, what)
    }

    /// Appends all of `reader` to `out`. The buffer grows by half its size at a time
    /// (from [`FIRST_BUFFER`]), never past one byte more than the content the limit still
    /// allows; each larger buffer is taken from the grant before it is allocated, and the
    /// old one given back once copied.
    ///
    /// `Read` wants initialized bytes, so spare capacity is zeroed before it is read
    /// into, but each byte once only (up to [`CHUNK`] at a time): zeroing the chunk
    /// again before every read cost more than the inflating of a small report. A full
    /// buffer is grown only once a [`PROBE`]-byte read shows that more content follows,
    /// so a report that fits its buffer exactly is not copied into a larger one just to
    /// find its end.
    pub(crate) fn read_into(
        &self,
        mut reader: impl Read,
        out: &mut Vec<u8>,
        what: &str,
    ) -> Result<(), ReadError> {
        // `out[..filled]` is content; `out[filled..]` is zeroed room not yet read into.
        let mut filled = out.len();
        let result = loop {
            if filled == out.len() {
                if out.len() == out.capacity() {
                    let mut probe = [0u8; PROBE];
                    let n = match read_some(&mut reader, &mut probe) {
                        Ok(0) => break Ok(()),
                        Ok(n) => n,
                        Err(e) => break Err(ReadError::Io(e)),
                    };
                    if let Err(e) = self.produce(n as u64, what) {
                        break Err(ReadError::Limit(e));
                    }
                    // One byte past the limit's room (in content not yet produced), to
                    // see content go over it.
                    let room = self.limit.saturating_sub(self.produced.get()) as usize;
                    let ceiling = filled + n + room + 1;
                    let old = out.capacity();
                    let target = (old + old / 2).max(filled + FIRST_BUFFER).min(ceiling);
                    if let Err(e) = self.hold(target as u64, what) {
                        break Err(ReadError::Limit(e));
                    }
                    out.reserve_exact(target - out.len());
                    self.let_go(old as u64);
                    out.extend_from_slice(&probe[..n]);
                    filled += n;
                }
                let take = (out.capacity() - out.len()).min(CHUNK);
                out.resize(out.len() + take, 0);
                if take == 0 {
                    // The probe filled the new buffer to its capacity: probe again.
                    continue;
                }
            }
            match read_some(&mut reader, &mut out[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if let Err(e) = self.produce(n as u64, what) {
                        break Err(ReadError::Limit(e));
                    }
                }
                Err(e) => break Err(ReadError::Io(e)),
            }
        };
        out.truncate(filled);
        result
    }
}

/// Bytes read to see whether a full buffer's reader has more, before growing the buffer.
const PROBE: usize = 32;

/// One `read`, retried when interrupted.
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Why [`Allowance::read_into`] stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The reader failed (corrupt or cut-off data).
    Io(io::Error),
    /// The allowance ran out.
    Limit(DecodeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_held_and_never_past_the_limit() {
        let allowance = Allowance::whole(1_000_000);
        let mut out = Vec::new();
        allowance
            .read_into(&[7u8; 700_000][..], &mut out, "data")
            .unwrap();
        assert_eq!(out.len(), 700_000);
        assert_eq!(allowance.produced(), 700_000);
        assert_eq!(allowance.held(), out.capacity() as u64);
        assert!(out.capacity() <= 1_000_000, "capacity {}", out.capacity());
    }

    #[test]
    fn content_of_exactly_the_limit_fits_and_one_byte_more_does_not() {
        let allowance = Allowance::whole(300_000);
        let mut out = Vec::new();
        allowance
            .read_into(&[1u8; 300_000][..], &mut out, "data")
            .unwrap();
        let allowance = Allowance::whole(300_000);
        let mut out = Vec::new();
        let err = allowance.read_into(&[1u8; 300_001][..], &mut out, "data");
        assert!(matches!(
            err,
            Err(ReadError::Limit(DecodeError::TooLarge { .. }))
        ));
        assert!(!allowance.wants_more());
    }

    /// Hands out at most `step` bytes per read, as a decompressor or zip entry may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(buf.len()).min(self.step);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn every_byte_arrives_whatever_the_read_sizes_and_buffer_edges() {
        // Sizes on and around the first buffer, the probe and a chunk, read whole and
        // in small steps, with a limit of exactly the content and one with room.
        for len in [
            0, 1, 31, 32, 33, 8_191, 8_192, 8_193, 12_288, 65_536, 100_000,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for step in [1, 7, 32, 4_096, usize::MAX] {
                for limit in [len as u64, len as u64 + 1_000] {
                    let allowance = Allowance::whole(limit);
                    let mut out = Vec::new();
                    let reader = Trickle { data: &data, step };
                    allowance
                        .read_into(reader, &mut out, "data")
                        .unwrap_or_else(|_| panic!("len {len} step {step} limit {limit}"));
                    assert_eq!(out, data, "len {len} step {step} limit {limit}");
                    assert_eq!(allowance.produced(), len as u64);
                    assert_eq!(allowance.held(), out.capacity() as u64);
                    assert!(out.capacity() as u64 <= limit + 1, "len {len} step {step}");
                    if len == FIRST_BUFFER && limit > len as u64 {
                        // A report that fills its first buffer is not copied into a
                        // larger one just to find its end.
                        assert_eq!(out.capacity(), FIRST_BUFFER, "step {step}");
                    }
                }
                // One byte short of the content is refused.
                if len > 0 {
                    let allowance = Allowance::whole(len as u64 - 1);
                    let mut out = Vec::new();
                    let reader = Trickle { data: &data, step };
                    assert!(matches!(
                        allowance.read_into(reader, &mut out, "data"),
                        Err(ReadError::Limit(DecodeError::TooLarge { .. }))
                    ));
                }
            }
        }
    }

    #[test]
    fn a_grant_below_the_full_one_asks_for_more() {
        let allowance = Allowance::new(1_000_000, 100_000);
        let mut out = Vec::new();
        let err = allowance.read_into(&[1u8; 200_000][..], &mut out, "data");
        assert!(matches!(err, Err(ReadError::Limit(_))));
        assert!(allowance.wants_more());
        assert!(allowance.held() <= 100_000);
    }

    #[test]
    fn growth_copies_are_held_for_their_moment() {
        // 1.5x steps from 64 KiB: the step to the last buffer holds both, which a
        // grant of exactly the content cannot cover.
        let allowance = Allowance::new(10_000_000, 1_000_000);
        let mut out = Vec::new();
        let err = allowance.read_into(&[1u8; 900_000][..], &mut out, "data");
        assert!(err.is_err());
        assert!(allowance.wants_more());
    }
}
