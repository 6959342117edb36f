//! Signed notes and checkpoints in the C2SP formats (`signed-note`, `tlog-checkpoint`),
//! so that anyone can check the log's state offline with the published key alone. A note
//! is text ending in a newline, a blank line, then lines `— NAME BASE64(KEY_ID ‖ SIG)`;
//! an Ed25519 key's id is the first four bytes of SHA-256(NAME ‖ "\n" ‖ 0x01 ‖ KEY), and
//! its verifier key is written `NAME+HEX(KEY_ID)+BASE64(0x01 ‖ KEY)`. A checkpoint is the
//! note text `ORIGIN\nSIZE\nBASE64(ROOT)\n`. Reading fails closed, saying where.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// Why a note, a key or a checkpoint does not read or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed verifier key: {0}")]
    BadKey(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("line {line}: malformed signature line")]
    BadSignatureLine { line: usize },
    #[error("no signature by `{name}` (key {key_id}) verifies this note")]
    Unverified { name: String, key_id: String },
    #[error("malformed checkpoint, line {line}: {reason}")]
    BadCheckpoint { line: usize, reason: String },
}

/// The id of an Ed25519 key named `name`.
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(key.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key name: non-empty, no white space and no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Signs notes under a name with an Ed25519 key.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(format!("`{name}` is not a key name (no spaces or `+`)")));
        }
        Ok(NoteSigner { name: name.to_string(), key })
    }

    /// The verifier key to publish: `NAME+HEX(ID)+BASE64(0x01 ‖ KEY)`.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        let id = key_id(&self.name, &public);
        let mut raw = vec![ED25519];
        raw.extend_from_slice(public.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&id), STANDARD.encode(raw))
    }

    /// The note: `text` (which must end in a newline and hold no blank line), a blank
    /// line and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut raw = key_id(&self.name, &self.key.verifying_key()).to_vec();
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n\u{2014} {} {}\n", self.name, STANDARD.encode(raw)))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text does not end in a newline".to_string()));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed("the text holds a blank line".to_string()));
    }
    Ok(())
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks notes against one published key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads a verifier key, `NAME+HEX(ID)+BASE64(0x01 ‖ KEY)`; the id must match.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::BadKey(why.to_string());
        // The key is standard base64, which may itself hold `+`: only the first two split.
        let mut parts = text.trim_end().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(encoded), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected NAME+KEYID+KEY"));
        };
        if !valid_name(name) {
            return Err(bad("the name is empty or holds a space"));
        }
        let raw = STANDARD.decode(encoded).map_err(|_| bad("the key is not base64"))?;
        let (Some(&ED25519), Ok(bytes)) = (raw.first(), <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default())) else {
            return Err(bad("not an Ed25519 key (algorithm 0x01, 32 bytes)"));
        };
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a valid Ed25519 point"))?;
        let id = key_id(name, &key);
        if hex4(&id) != id_hex {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(NoteVerifier { name: name.to_string(), id, key })
    }

    /// The note's text, once a signature line by this key verifies it. Lines by other
    /// keys are skipped; a malformed line is an error.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let Some(split) = note.rfind("\n\n") else {
            return Err(NoteError::Malformed("no blank line before the signatures".to_string()));
        };
        let (Some(text), Some(signatures)) = (note.get(..=split), note.get(split + 2..)) else {
            return Err(NoteError::Malformed("the note does not split at its blank line".to_string()));
        };
        check_text(text)?;
        if !signatures.ends_with('\n') {
            return Err(NoteError::Malformed("the signatures do not end in a newline".to_string()));
        }
        let first_line = text.lines().count() + 2;
        let mut verified = false;
        for (offset, line) in signatures.lines().enumerate() {
            let bad = || NoteError::BadSignatureLine { line: first_line + offset };
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
            let (name, encoded) = rest.split_once(' ').ok_or_else(bad)?;
            let raw = STANDARD.decode(encoded).map_err(|_| bad())?;
            if raw.len() < 4 || !valid_name(name) {
                return Err(bad());
            }
            if name != self.name || raw.get(..4) != Some(&self.id[..]) {
                continue;
            }
            let signature =
                ed25519_dalek::Signature::from_slice(raw.get(4..).unwrap_or_default()).map_err(|_| bad())?;
            verified |= self.key.verify_strict(text.as_bytes(), &signature).is_ok();
        }
        match verified {
            true => Ok(text),
            false => Err(NoteError::Unverified { name: self.name.clone(), key_id: hex4(&self.id) }),
        }
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex4(&self.id), STANDARD.encode(raw))
    }
}

/// A log's state: its origin, how many entries it has and their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, one per line.
    pub fn to_text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Reads a checkpoint's text (extension lines after the root are allowed and kept
    /// out); the size is decimal without leading zeros, the root 32 bytes of base64.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |line: usize, reason: &str| NoteError::BadCheckpoint { line, reason: reason.to_string() };
        let mut lines = text.lines();
        let origin = lines.next().filter(|origin| !origin.is_empty()).ok_or_else(|| bad(1, "no origin"))?;
        let size_text = lines.next().ok_or_else(|| bad(2, "no tree size"))?;
        let canonical =
            size_text == "0" || (!size_text.starts_with('0') && size_text.bytes().all(|b| b.is_ascii_digit()));
        let size = size_text.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| bad(2, "not a decimal size"))?;
        let root_text = lines.next().ok_or_else(|| bad(3, "no root hash"))?;
        let raw = STANDARD.decode(root_text).map_err(|_| bad(3, "the root is not base64"))?;
        let root = <Hash>::try_from(raw.as_slice()).map_err(|_| bad(3, "the root is not 32 bytes"))?;
        Ok(Checkpoint { origin: origin.to_string(), size, root })
    }
}
