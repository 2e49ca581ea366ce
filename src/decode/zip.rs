//! zip layer: bounded entry count and bounded decompressed size per entry.

use std::io::{Cursor, Read};

use super::{DecodeError, DecodeLimits};

/// One file from a zip archive: its file name (directories stripped) and contents.
pub(crate) struct Entry {
    pub name: String,
    pub data: Vec<u8>,
}

pub(crate) fn unzip(data: &[u8], limits: &DecodeLimits) -> Result<Vec<Entry>, DecodeError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(data)).map_err(|e| DecodeError::BadZip(e.to_string()))?;
    if archive.len() > limits.max_zip_entries {
        return Err(DecodeError::TooManyEntries {
            entries: archive.len(),
            limit: limits.max_zip_entries,
        });
    }
    let limit = limits.max_decompressed_bytes;
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
        file.take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::BadZip(format!("entry {name}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge {
                what: format!("zip entry {name}"),
                limit,
            });
        }
        entries.push(Entry { name, data: out });
    }
    Ok(entries)
}
