//! Decision receipts in the C2SP `tlog-proof@v1` form: a log entry (carried as the
//! proof's `extra` data), its index, its inclusion proof and the signed checkpoint of
//! the tree it is in. Anyone holding the log's verifier key checks one offline: the
//! checkpoint's signature, then the entry's path to the checkpoint's root. Reading is
//! strict and every failure names its line.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::merkle::{self, Hash, ProofError};
use super::note::{Checkpoint, NoteError, NoteVerifier};

/// The first line of every receipt.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why a receipt does not read or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("the checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    #[error("the checkpoint is of log `{found}`, not `{expected}`")]
    WrongOrigin { found: String, expected: String },
    #[error("the entry is not in the checkpointed tree: {0}")]
    NotIncluded(#[from] ProofError),
}

/// A log entry with the proof that a signed checkpoint's tree holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's bytes, whose leaf hash the proof starts from.
    pub entry: Vec<u8>,
    pub index: u64,
    /// From the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl Receipt {
    /// The receipt's text.
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\nextra {}\nindex {}\n", STANDARD.encode(&self.entry), self.index);
        for hash in &self.proof {
            text.push_str(&STANDARD.encode(hash));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Reads a receipt; a receipt without `extra` carries no entry to check.
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        let bad = |line: usize, reason: &str| ReceiptError::Malformed { line, reason: reason.to_string() };
        let Some((head, checkpoint)) = text.split_once("\n\n") else {
            return Err(bad(1, "no blank line before the checkpoint"));
        };
        let mut lines = head.split('\n').enumerate().map(|(at, line)| (at + 1, line));
        if lines.next().map(|(_, line)| line) != Some(HEADER) {
            return Err(bad(1, "the first line is not `c2sp.org/tlog-proof@v1`"));
        }
        let (line, extra) = lines.next().ok_or_else(|| bad(2, "no `extra` line with the entry"))?;
        let encoded = extra.strip_prefix("extra ").ok_or_else(|| bad(line, "expected `extra BASE64(entry)`"))?;
        let entry = STANDARD.decode(encoded).map_err(|_| bad(line, "the entry is not base64"))?;
        let (line, index_line) = lines.next().ok_or_else(|| bad(3, "no `index` line"))?;
        let index_text = index_line.strip_prefix("index ").ok_or_else(|| bad(line, "expected `index N`"))?;
        let canonical =
            index_text == "0" || (!index_text.starts_with('0') && index_text.bytes().all(|b| b.is_ascii_digit()));
        let index =
            index_text.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| bad(line, "not a decimal index"))?;
        let mut proof = Vec::new();
        for (line, hash) in lines {
            let raw = STANDARD.decode(hash).map_err(|_| bad(line, "a proof hash is not base64"))?;
            proof.push(<Hash>::try_from(raw.as_slice()).map_err(|_| bad(line, "a proof hash is not 32 bytes"))?);
        }
        Ok(Receipt { entry, index, proof, checkpoint: checkpoint.to_string() })
    }

    /// Checks the receipt offline: the checkpoint is signed by the log's key (and of
    /// `origin`, when given), and the entry is at `index` in the tree it names. Returns
    /// the checkpoint.
    pub fn verify(&self, log: &NoteVerifier, origin: Option<&str>) -> Result<Checkpoint, ReceiptError> {
        let checkpoint = Checkpoint::parse(log.open(&self.checkpoint)?)?;
        if let Some(expected) = origin.filter(|expected| *expected != checkpoint.origin) {
            return Err(ReceiptError::WrongOrigin { found: checkpoint.origin, expected: expected.to_string() });
        }
        let leaf = merkle::leaf_hash(&self.entry);
        merkle::verify_inclusion(self.index, checkpoint.size, &leaf, &self.proof, &checkpoint.root)?;
        Ok(checkpoint)
    }
}
