//! gzip layer: multi-member streams, trailing bytes tolerated, output bounded.

use std::io::{ErrorKind, Read};

use flate2::bufread::GzDecoder;

use super::DecodeError;
use crate::report::Warning;

/// Decompress every gzip member of `data`. Bytes after a complete member that do not
/// start another member are ignored with a `gzip-trailing-bytes` warning. At most
/// `limit + 1` bytes are ever held; more is `too-large`.
pub(crate) fn gunzip(data: &[u8], limit: u64) -> Result<(Vec<u8>, Vec<Warning>), DecodeError> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = data;
    let mut member = 0usize;
    loop {
        member += 1;
        let room = (limit + 1).saturating_sub(out.len() as u64);
        let mut dec = GzDecoder::new(rest);
        let res = (&mut dec).take(room).read_to_end(&mut out);
        if let Err(e) = res {
            let detail = format!("gzip member {member}: {e}");
            return Err(if e.kind() == ErrorKind::UnexpectedEof {
                DecodeError::Truncated(detail)
            } else {
                DecodeError::BadGzip(detail)
            });
        }
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge {
                what: "decompressed gzip".into(),
                limit,
            });
        }
        rest = dec.into_inner();
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            warnings.push(Warning::new(
                "gzip-trailing-bytes",
                format!("{} byte(s) after gzip member {member} ignored", rest.len()),
            ));
            break;
        }
    }
    Ok((out, warnings))
}
