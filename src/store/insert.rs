//! The insert statements both backends' batch writers run, and how they chunk rows.
//!
//! In: nothing (SQL text). Out: the column lists of every insert, written once; the
//! SQLite writer turns them into single-row prepared statements, the PostgreSQL writer
//! into multi-row statements of power-of-two sizes.

use std::collections::HashMap;

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
     total_failed, start_at, organization_name, policy_text) ";

/// Adds policy texts not stored yet (`$1` types, `$2` texts, SQLite: one of each).
pub(super) const INSERT_POLICY_TEXT: &str = "INSERT INTO policy_texts (policy_type, policy_string) VALUES ($1, $2) \
     ON CONFLICT (policy_type, policy_string) DO NOTHING";

/// PostgreSQL: the texts of a batch at once, `$1` types and `$2` texts as arrays.
pub(super) const PG_INSERT_POLICY_TEXTS: &str = "INSERT INTO policy_texts (policy_type, policy_string) \
     SELECT * FROM unnest($1::text[], $2::text[]) \
     ON CONFLICT (policy_type, policy_string) DO NOTHING";

pub(super) const PG_SELECT_POLICY_TEXTS: &str = "SELECT t.id, t.policy_type, t.policy_string \
    FROM policy_texts t JOIN unnest($1::text[], $2::text[]) AS m(policy_type, policy_string) \
    ON t.policy_type = m.policy_type AND t.policy_string = m.policy_string";

pub(super) const SELECT_POLICY_TEXT: &str =
    "SELECT id FROM policy_texts WHERE policy_type = $1 AND policy_string = $2";

/// Most bytes of policy text a writer keeps with their ids: real senders publish a few
/// hundred bytes per domain, so 16 MiB holds tens of thousands of domains' policies;
/// beyond (texts invented by a sender), the writer starts over and looks ids up again.
const POLICY_TEXT_CACHE_BYTES: usize = 16 << 20;

/// Ids of policy texts (migration 0006) a writer knows to be committed, by type and text,
/// so the ids of known texts cost no statement.
#[derive(Debug, Default)]
pub(super) struct PolicyTexts {
    ids: HashMap<String, HashMap<String, i64>>,
    bytes: usize,
}

impl PolicyTexts {
    pub(super) fn get(&self, policy_type: &str, text: &str) -> Option<i64> {
        self.ids.get(policy_type)?.get(text).copied()
    }

    pub(super) fn insert(&mut self, policy_type: String, text: String, id: i64) {
        self.bytes += policy_type.len() + text.len();
        if self.bytes > POLICY_TEXT_CACHE_BYTES {
            self.ids.clear();
            self.bytes = policy_type.len() + text.len();
        }
        self.ids.entry(policy_type).or_default().insert(text, id);
    }

    /// Remembers the ids a batch just committed.
    pub(super) fn absorb(&mut self, committed: PolicyTexts) {
        for (policy_type, texts) in committed.ids {
            for (text, id) in texts {
                self.insert(policy_type.clone(), text, id);
            }
        }
    }
}

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
    fn policy_text_cache_starts_over_past_its_bytes() {
        let mut texts = PolicyTexts::default();
        let big = "x".repeat(POLICY_TEXT_CACHE_BYTES / 2);
        texts.insert("sts".into(), big.clone(), 1);
        assert_eq!(texts.get("sts", &big), Some(1));
        assert_eq!(texts.get("tlsa", &big), None);
        // The second half-cache text passes the limit: the first one is forgotten (its
        // id is looked up again), the newest is kept.
        let other = "y".repeat(POLICY_TEXT_CACHE_BYTES / 2);
        texts.insert("sts".into(), other.clone(), 2);
        assert_eq!(texts.get("sts", &big), None);
        assert_eq!(texts.get("sts", &other), Some(2));
        assert!(texts.bytes <= POLICY_TEXT_CACHE_BYTES);
    }

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
