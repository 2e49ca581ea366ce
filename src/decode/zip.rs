//! zip layer: bounded entry count; every entry's bytes charged to the submission's
//! allowance.

use std::io::Cursor;

use super::allowance::ReadError;
use super::{Allowance, DecodeError, DecodeLimits};

/// One file from a zip archive: its file name (directories stripped) and contents.
pub(crate) struct Entry {
    pub name: String,
    pub data: Vec<u8>,
}

pub(crate) fn unzip(
    data: &[u8],
    limits: &DecodeLimits,
    allowance: &Allowance,
) -> Result<Vec<Entry>, DecodeError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(data)).map_err(|e| DecodeError::BadZip(e.to_string()))?;
    if archive.len() > limits.max_zip_entries {
        return Err(DecodeError::TooManyEntries {
            entries: archive.len(),
            limit: limits.max_zip_entries,
        });
    }
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let file = archive
            .by_index(i)
            .map_err(|e| DecodeError::BadZip(format!("entry {i}: {e}")))?;
        if file.is_dir() {
            continue;
        }
        let full = file.name().to_owned();
        let name = full
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(full.as_str())
            .to_owned();
        let mut out = Vec::new();
        match allowance.read_into(file, &mut out, &format!("zip entry {name}")) {
            Ok(()) => {}
            Err(ReadError::Limit(e)) => return Err(e),
            Err(ReadError::Io(e)) => {
                return Err(DecodeError::BadZip(format!("entry {name}: {e}")));
            }
        }
        entries.push(Entry { name, data: out });
    }
    Ok(entries)
}
