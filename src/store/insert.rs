//! The insert statements both backends' batch writers run, and how they chunk rows.
//!
//! In: nothing (SQL text). Out: the column lists of every insert, written once; the
//! SQLite writer turns them into single-row prepared statements, the PostgreSQL writer
//! into multi-row statements of power-of-two sizes.

/// JSON text of a value kept in a TEXT column (policy strings, warnings, envelopes).
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own plain structs and string vectors cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

pub(super) const INSERT_SUBMISSIONS: &str = "INSERT INTO submissions \
    (id, source, received_at, peer, content_type, envelope, message_meta, raw_size, raw_sha256, raw_encoding, raw_data) ";

pub(super) const INSERT_REPORTS: &str = "INSERT INTO reports \
    (id, submission_id, organization_name, report_id, contact_info, start_at, end_at, received_at, \
     total_successful, total_failed, origin, warnings) ";

pub(super) const ON_REPORT_CONFLICT: &str =
    " ON CONFLICT (organization_name, report_id) DO NOTHING";

pub(super) const SELECT_REPORT_ID: &str =
    "SELECT id FROM reports WHERE organization_name = $1 AND report_id = $2";

pub(super) const INSERT_POLICIES: &str = "INSERT INTO policies \
    (id, report_row, position, policy_type, policy_domain, policy_string, mx_host, total_successful, \
     total_failed, start_at, organization_name) ";

pub(super) const INSERT_DETAILS: &str = "INSERT INTO failure_details (policy_row, position, result_type, \
    sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_session_count, \
    additional_information, failure_reason_code) ";

pub(super) const INSERT_QUARANTINE: &str =
    "INSERT INTO quarantine (id, submission_id, received_at, origin, reason_code, reason) ";

/// Most rows per multi-row statement: 512 rows × at most 12 columns = 6144 bind
/// parameters, under SQLite's 32766 and PostgreSQL's 65535, so a full batch needs two
/// statements per table (each statement is a round trip).
pub(super) const ROWS_PER_INSERT: usize = 512;

/// Splits rows into chunks whose sizes are powers of two (at most [`ROWS_PER_INSERT`]).
/// The SQL text of a multi-row statement depends on its row count; with power-of-two
/// counts there are at most ten texts per statement, so the prepared-statement cache
/// stays small and warm instead of holding one big statement per batch size seen.
pub(super) trait ChunksPow2<T> {
    fn chunks_pow2(&self) -> Pow2Chunks<'_, T>;
}

impl<T> ChunksPow2<T> for [T] {
    fn chunks_pow2(&self) -> Pow2Chunks<'_, T> {
        Pow2Chunks(self)
    }
}

pub(super) struct Pow2Chunks<'a, T>(&'a [T]);

impl<'a, T> Iterator for Pow2Chunks<'a, T> {
    type Item = &'a [T];

    fn next(&mut self) -> Option<&'a [T]> {
        if self.0.is_empty() {
            return None;
        }
        let len = self.0.len().min(ROWS_PER_INSERT);
        let size = 1usize << (usize::BITS - 1 - len.leading_zeros());
        let (chunk, rest) = self.0.split_at(size);
        self.0 = rest;
        Some(chunk)
    }
}

/// Tables whose ids the writer allocates before inserting, so children can reference
/// parents inserted in the same multi-row statement.
#[derive(Debug, Clone, Copy)]
pub(super) enum Table {
    Submissions,
    Reports,
    Policies,
    Quarantine,
}

impl Table {
    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Submissions => "submissions",
            Table::Reports => "reports",
            Table::Policies => "policies",
            Table::Quarantine => "quarantine",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_covering_every_row() {
        let rows: Vec<usize> = (0..1300).collect();
        let sizes: Vec<usize> = rows.chunks_pow2().map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![512, 512, 256, 16, 4]);
        let rejoined: Vec<usize> = rows.chunks_pow2().flatten().copied().collect();
        assert_eq!(rejoined, rows);
        assert_eq!([0u8; 0].chunks_pow2().count(), 0);
        assert_eq!(
            [1u8].chunks_pow2().map(<[u8]>::len).collect::<Vec<_>>(),
            vec![1]
        );
    }
}
