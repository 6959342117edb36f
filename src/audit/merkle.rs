//! The audit log's Merkle tree, in the form of RFC 6962 and RFC 9162 §2.1: a leaf hashes
//! as SHA-256(0x00 ‖ entry), a node as SHA-256(0x01 ‖ left ‖ right), and a tree of n
//! leaves splits at the largest power of two below n. Inclusion and consistency proofs
//! are made and checked here; the checks follow RFC 9162's verification algorithms and
//! fail closed: a proof with a hash too many or too few, a size out of range or a wrong
//! root is an error that says which, never a pass.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof does not check, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of {old} leaves cannot be an earlier state of one of {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has {found} hashes; a tree of this shape needs {expected}")]
    WrongLength { found: usize, expected: usize },
    #[error("the proof leads to root {computed}, not the expected {expected}")]
    RootMismatch { computed: String, expected: String },
    #[error("a consistency proof between equal sizes is empty and the roots equal")]
    EqualSizes,
}

/// The hash of a leaf: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = LeafHasher::new();
    hasher.update(entry);
    hasher.finish()
}

/// A leaf hash computed piece by piece: an entry's first bytes can be hashed by whoever
/// knows them, and the rest added later by whoever writes the entry.
#[derive(Clone)]
pub struct LeafHasher(Sha256);

impl LeafHasher {
    pub fn new() -> LeafHasher {
        let mut hasher = Sha256::new();
        hasher.update([0u8]);
        LeafHasher(hasher)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Hash {
        self.0.finalize().into()
    }
}

impl Default for LeafHasher {
    fn default() -> Self {
        LeafHasher::new()
    }
}

impl std::fmt::Debug for LeafHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafHasher")
    }
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root of a tree over these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The largest power of two below `n` (for n ≥ 2): where a tree of n leaves splits.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The audit path of leaf `index` in a tree over `leaves` (RFC 6962 §2.1.1), leaf side
/// first.
pub fn inclusion_proof(index: u64, leaves: &[Hash]) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    let at = usize::try_from(index).ok().filter(|at| *at < leaves.len());
    let Some(at) = at else { return Err(ProofError::IndexOutOfRange { index, size }) };
    let mut proof = Vec::new();
    path(at, leaves, &mut proof);
    Ok(proof)
}

fn path(at: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if at < left.len() {
        path(at, left, proof);
        proof.push(root(right));
    } else {
        path(at - left.len(), right, proof);
        proof.push(root(left));
    }
}

/// The proof that the tree over the first `old` leaves is a prefix of the tree over
/// `leaves` (RFC 6962 §2.1.2).
pub fn consistency_proof(old: u64, leaves: &[Hash]) -> Result<Vec<Hash>, ProofError> {
    let new = leaves.len() as u64;
    let old_len = usize::try_from(old).ok().filter(|old| *old >= 1 && *old <= leaves.len());
    let Some(old_len) = old_len else { return Err(ProofError::SizesOutOfOrder { old, new }) };
    let mut proof = Vec::new();
    subproof(old_len, leaves, true, &mut proof);
    Ok(proof)
}

fn subproof(old: usize, leaves: &[Hash], whole: bool, proof: &mut Vec<Hash>) {
    if old == leaves.len() {
        if !whole {
            proof.push(root(leaves));
        }
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if old <= left.len() {
        subproof(old, left, whole, proof);
        proof.push(root(right));
    } else {
        subproof(old - left.len(), right, false, proof);
        proof.push(root(left));
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode, mut hash) = (index, size - 1, *leaf);
    for sibling in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength { found: proof.len(), expected: inclusion_length(index, size) });
        }
        if fnode & 1 == 1 || fnode == snode {
            hash = node_hash(sibling, &hash);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength { found: proof.len(), expected: inclusion_length(index, size) });
    }
    same_root(&hash, root)
}

/// How many hashes an inclusion proof for this leaf and size has.
fn inclusion_length(index: u64, size: u64) -> usize {
    let (mut fnode, mut snode, mut length) = (index, size.saturating_sub(1), 0);
    while snode != 0 {
        if fnode & 1 == 1 || fnode == snode {
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        }
        fnode >>= 1;
        snode >>= 1;
        length += 1;
    }
    length
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new {
        return match (proof.is_empty(), old_root == new_root) {
            (true, true) => Ok(()),
            _ => Err(ProofError::EqualSizes),
        };
    }
    // A power-of-two old tree is itself a node of the new one: its root starts the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength { found: 0, expected: 1 });
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for hash in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength { found: proof.len(), expected: proof.len() - 1 });
        }
        if fnode & 1 == 1 || fnode == snode {
            old_hash = node_hash(hash, &old_hash);
            new_hash = node_hash(hash, &new_hash);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, hash);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength { found: proof.len(), expected: proof.len() + 1 });
    }
    same_root(&old_hash, old_root)?;
    same_root(&new_hash, new_root)
}

fn same_root(computed: &Hash, expected: &Hash) -> Result<(), ProofError> {
    if computed == expected {
        return Ok(());
    }
    Err(ProofError::RootMismatch { computed: hex(computed), expected: hex(expected) })
}

/// Lower-case hexadecimal.
pub fn hex(hash: &Hash) -> String {
    let mut text = Vec::with_capacity(64);
    write_hex(hash, &mut text);
    text.into_iter().map(char::from).collect()
}

/// Appends the lowercase hex form of `hash` to `out`.
pub fn write_hex(hash: &Hash, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in hash {
        for nibble in [byte >> 4, byte & 15] {
            out.push(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
}
