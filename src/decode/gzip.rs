//! gzip layer: multi-member streams, trailing bytes tolerated, output bounded.

use std::io::ErrorKind;

use flate2::bufread::GzDecoder;

use super::allowance::ReadError;
use super::{Allowance, DecodeError};
use crate::report::Warning;

/// Decompress every gzip member of `data`. Bytes after a complete member that do not
/// start another member are ignored with a `gzip-trailing-bytes` warning. The output
/// buffer grows only as far as `allowance` lets it; beyond is `too-large`.
pub(crate) fn gunzip(
    data: &[u8],
    allowance: &Allowance,
) -> Result<(Vec<u8>, Vec<Warning>), DecodeError> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = data;
    let mut member = 0usize;
    loop {
        member += 1;
        let mut dec = GzDecoder::new(rest);
        match allowance.read_into(&mut dec, &mut out, "decompressed gzip") {
            Ok(()) => {}
            Err(ReadError::Limit(e)) => return Err(e),
            Err(ReadError::Io(e)) => {
                let detail = format!("gzip member {member}: {e}");
                return Err(if e.kind() == ErrorKind::UnexpectedEof {
                    DecodeError::Truncated(detail)
                } else {
                    DecodeError::BadGzip(detail)
                });
            }
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
