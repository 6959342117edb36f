//! The audit log's Merkle tree: against the RFC 6962 known-answer vectors of the
//! Certificate Transparency reference code, against an independent Python implementation
//! of the RFC's definitions (`tests/interop/merkle_reference.py`), and against tampering:
//! every proof made for every leaf and every earlier size checks, and every altered one
//! (a hash changed, one dropped or added, a wrong index, size or root) fails. Consistency
//! verifiers that pass what they should refuse are a known class of bug.

#![cfg(feature = "runtime")]
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::audit::merkle::{
    consistency_proof, hex, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion, Hash,
};
use serde_json::Value as Json;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex")).collect()
}

fn hash(text: &str) -> Hash {
    unhex(text).try_into().expect("32 bytes")
}

fn hashes(json: &Json) -> Vec<Hash> {
    json.as_array().expect("hashes").iter().map(|h| hash(h.as_str().expect("hex"))).collect()
}

#[test]
fn known_answer_vectors_of_rfc_6962() {
    let text = std::fs::read_to_string("tests/fixtures/audit/rfc6962_vectors.json").expect("vectors");
    let vectors: Json = serde_json::from_str(&text).expect("json");
    let leaves: Vec<Hash> =
        vectors["leaves"].as_array().unwrap().iter().map(|leaf| leaf_hash(&unhex(leaf.as_str().unwrap()))).collect();
    for (size, expected) in vectors["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(hex(&root(&leaves[..size])), expected.as_str().unwrap(), "root of {size} leaves");
    }
    for case in vectors["inclusion"].as_array().unwrap() {
        let (index, size) = (case["index"].as_u64().unwrap(), case["size"].as_u64().unwrap());
        let leaves = &leaves[..size as usize];
        let expected = hashes(&case["proof"]);
        assert_eq!(inclusion_proof(index, leaves).unwrap(), expected, "inclusion {index} in {size}");
        verify_inclusion(index, size, &leaves[index as usize], &expected, &root(leaves)).unwrap();
    }
    for case in vectors["consistency"].as_array().unwrap() {
        let (old, new) = (case["old"].as_u64().unwrap(), case["new"].as_u64().unwrap());
        let expected = hashes(&case["proof"]);
        let (before, after) = (&leaves[..old as usize], &leaves[..new as usize]);
        assert_eq!(consistency_proof(old, after).unwrap(), expected, "consistency {old} to {new}");
        verify_consistency(old, new, &root(before), &root(after), &expected).unwrap();
    }
}

/// Every way to spoil a proof that the tree holds leaf `index`. (A size alone is not
/// among them: a root is only ever checked with the size a signed checkpoint gives it,
/// and trees of neighbouring sizes can share a leaf's path shape, so RFC 9162's check of
/// the path cannot tell them apart without the checkpoint.)
fn spoiled_inclusions(index: u64, size: u64, proof: &[Hash]) -> Vec<(u64, u64, Vec<Hash>)> {
    let mut spoiled = vec![(index + 1, size, proof.to_vec())];
    if index > 0 {
        spoiled.push((index - 1, size, proof.to_vec()));
    }
    for at in 0..proof.len() {
        let mut flipped = proof.to_vec();
        flipped[at][at % 32] ^= 1;
        spoiled.push((index, size, flipped));
        let mut dropped = proof.to_vec();
        dropped.remove(at);
        spoiled.push((index, size, dropped));
    }
    let mut longer = proof.to_vec();
    longer.push([7; 32]);
    spoiled.push((index, size, longer));
    spoiled
}

#[test]
fn every_proof_checks_and_every_spoiled_one_fails() {
    let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect();
    for size in 1..=leaves.len() {
        let tree = &leaves[..size];
        let top = root(tree);
        for index in 0..size {
            let proof = inclusion_proof(index as u64, tree).unwrap();
            verify_inclusion(index as u64, size as u64, &tree[index], &proof, &top).unwrap();
            for (bad_index, bad_size, bad_proof) in spoiled_inclusions(index as u64, size as u64, &proof) {
                let leaf = tree.get(bad_index as usize).copied().unwrap_or([0; 32]);
                // A different leaf at the same place, or the same leaf elsewhere.
                for candidate in [tree[index], leaf] {
                    let verdict = verify_inclusion(bad_index, bad_size, &candidate, &bad_proof, &top);
                    let same = bad_index == index as u64 && bad_size == size as u64 && bad_proof == proof;
                    assert!(
                        same || verdict.is_err(),
                        "spoiled inclusion passed: {index}/{size} as {bad_index}/{bad_size}"
                    );
                }
            }
            let mut other = tree[index];
            other[0] ^= 1;
            assert!(verify_inclusion(index as u64, size as u64, &other, &proof, &top).is_err());
        }
        for old in 1..=size {
            let proof = consistency_proof(old as u64, tree).unwrap();
            let old_root = root(&tree[..old]);
            verify_consistency(old as u64, size as u64, &old_root, &top, &proof).unwrap();
            // A forged old root, a forged new root, wrong sizes, altered proofs.
            let mut forged = old_root;
            forged[31] ^= 1;
            assert!(verify_consistency(old as u64, size as u64, &forged, &top, &proof).is_err());
            assert!(verify_consistency(old as u64, size as u64, &old_root, &forged, &proof).is_err());
            assert!(verify_consistency(0, size as u64, &old_root, &top, &proof).is_err());
            assert!(verify_consistency(size as u64 + 1, size as u64, &old_root, &top, &proof).is_err());
            if old < size {
                // The roots of the two sizes swapped: the old tree is not the new one.
                assert!(verify_consistency(old as u64, size as u64, &top, &old_root, &proof).is_err());
            }
            for at in 0..proof.len() {
                let mut flipped = proof.clone();
                flipped[at][at % 32] ^= 1;
                assert!(verify_consistency(old as u64, size as u64, &old_root, &top, &flipped).is_err());
                let mut dropped = proof.clone();
                dropped.remove(at);
                assert!(verify_consistency(old as u64, size as u64, &old_root, &top, &dropped).is_err());
            }
            let mut longer = proof.clone();
            longer.push([9; 32]);
            assert!(verify_consistency(old as u64, size as u64, &old_root, &top, &longer).is_err());
        }
    }
}

#[test]
fn an_independent_python_implementation_agrees() {
    let output = std::process::Command::new("python3")
        .args(["tests/interop/merkle_reference.py", "40"])
        .output()
        .expect("python3 runs (bash .ci/run installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reference: Json = serde_json::from_slice(&output.stdout).expect("json");
    let leaves: Vec<Hash> = (0..40).map(|i| leaf_hash(format!("leaf-{i}").as_bytes())).collect();
    for (size, expected) in reference["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(hex(&root(&leaves[..size])), expected.as_str().unwrap(), "root of {size}");
    }
    for case in reference["inclusion"].as_array().unwrap() {
        let (index, size) = (case["index"].as_u64().unwrap(), case["size"].as_u64().unwrap() as usize);
        assert_eq!(
            inclusion_proof(index, &leaves[..size]).unwrap(),
            hashes(&case["proof"]),
            "inclusion {index}/{size}"
        );
    }
    for case in reference["consistency"].as_array().unwrap() {
        let (old, new) = (case["old"].as_u64().unwrap(), case["new"].as_u64().unwrap() as usize);
        assert_eq!(consistency_proof(old, &leaves[..new]).unwrap(), hashes(&case["proof"]), "consistency {old}/{new}");
    }
    assert_eq!(reference["inclusion"].as_array().unwrap().len(), 40 * 41 / 2);
}

mod notes {
    use mandate::audit::note::{Checkpoint, NoteError, NoteSigner, NoteVerifier};

    /// The example of the Go `sumdb/note` package, which defined the format C2SP keeps.
    const PETER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, ed25519_dalek::SigningKey::from_bytes(&[seed; 32])).expect("a signer")
    }

    #[test]
    fn the_published_example_verifies_and_its_key_reads_back() {
        let verifier = NoteVerifier::parse(PETER_KEY).expect("key");
        assert_eq!(verifier.to_string(), PETER_KEY);
        let text = verifier.open(PETER_NOTE).expect("verifies");
        assert!(text.starts_with("If you think") && text.ends_with("problem is.\n"));
        let edited = PETER_NOTE.replace("answer", "Answer");
        assert!(matches!(verifier.open(&edited), Err(NoteError::Unverified { .. })));
    }

    #[test]
    fn signed_checkpoints_round_trip_and_forgeries_fail() {
        let log = signer("mandate.example/audit", 7);
        let verifier = NoteVerifier::parse(&log.verifier_key()).expect("key");
        let checkpoint = Checkpoint { origin: "mandate.example/audit".to_string(), size: 1234, root: [5; 32] };
        let note = log.sign(&checkpoint.to_text()).expect("signs");
        let opened = verifier.open(&note).expect("verifies");
        assert_eq!(Checkpoint::parse(opened).expect("reads"), checkpoint);
        // Another key's signature, an edited size, a flipped signature byte.
        let other = signer("mandate.example/audit", 8).sign(&checkpoint.to_text()).expect("signs");
        assert!(matches!(verifier.open(&other), Err(NoteError::Unverified { .. })));
        let edited = note.replacen("1234", "1235", 1);
        assert!(matches!(verifier.open(&edited), Err(NoteError::Unverified { .. })));
        let line = note.lines().last().expect("a signature line");
        let mut flipped = line.to_string();
        let at = flipped.len() - 6;
        let replacement = if &flipped[at..at + 1] == "A" { "B" } else { "A" };
        flipped.replace_range(at..at + 1, replacement);
        let forged = note.replace(line, &flipped);
        assert!(matches!(verifier.open(&forged), Err(NoteError::Unverified { .. })));
        // Malformed notes say where.
        let garbled = note.replace("\u{2014} ", "- ");
        assert_eq!(verifier.open(&garbled), Err(NoteError::BadSignatureLine { line: 5 }));
        assert!(matches!(verifier.open(&checkpoint.to_text()), Err(NoteError::Malformed(_))));
        assert!(log.sign("no newline").is_err());
        assert!(log.sign("a\n\nblank\n").is_err());
    }

    #[test]
    fn checkpoints_and_keys_read_strictly() {
        let root = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=";
        assert!(Checkpoint::parse(&format!("origin\n0\n{root}\n")).is_ok());
        for (text, line) in [
            (format!("\n5\n{root}\n"), 1),
            (format!("origin\n05\n{root}\n"), 2),
            (format!("origin\n-5\n{root}\n"), 2),
            (format!("origin\n18446744073709551616\n{root}\n"), 2),
            ("origin\n5\nBQUF\n".to_string(), 3),
            ("origin\n5\n@@@\n".to_string(), 3),
            ("origin\n5\n".to_string(), 3),
        ] {
            match Checkpoint::parse(&text) {
                Err(NoteError::BadCheckpoint { line: found, .. }) => assert_eq!(found, line, "{text:?}"),
                other => panic!("{text:?} read as {other:?}"),
            }
        }
        for key in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a3+ARpc",
        ] {
            assert!(NoteVerifier::parse(key).is_err(), "{key}");
        }
    }
}

mod receipts {
    use mandate::audit::merkle::{inclusion_proof, leaf_hash, root, Hash};
    use mandate::audit::note::{Checkpoint, NoteSigner, NoteVerifier};
    use mandate::audit::receipt::{Receipt, ReceiptError};

    const ORIGIN: &str = "mandate.example/audit";

    /// A log of 21 entries, its signed checkpoint, and the receipt of every entry.
    fn log() -> (NoteVerifier, Vec<Receipt>) {
        let signer = NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[3; 32])).expect("signer");
        let entries: Vec<Vec<u8>> =
            (0..21).map(|i| format!("{{\"seq\":{i},\"decision\":\"allow\"}}").into_bytes()).collect();
        let leaves: Vec<Hash> = entries.iter().map(|entry| leaf_hash(entry)).collect();
        let checkpoint = Checkpoint { origin: ORIGIN.to_string(), size: leaves.len() as u64, root: root(&leaves) };
        let note = signer.sign(&checkpoint.to_text()).expect("signs");
        let receipts = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| Receipt {
                entry,
                index: index as u64,
                proof: inclusion_proof(index as u64, &leaves).expect("proof"),
                checkpoint: note.clone(),
            })
            .collect();
        (NoteVerifier::parse(&signer.verifier_key()).expect("key"), receipts)
    }

    #[test]
    fn every_receipt_reads_back_and_verifies_offline() {
        let (key, receipts) = log();
        for receipt in &receipts {
            let text = receipt.to_text();
            assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
            let read = Receipt::parse(&text).expect("reads");
            assert_eq!(&read, receipt);
            let checkpoint = read.verify(&key, Some(ORIGIN)).expect("verifies");
            assert_eq!(checkpoint.size, 21);
        }
    }

    #[test]
    fn mandate_audit_verify_receipt_checks_a_file_offline() {
        let (key, receipts) = log();
        let dir = tempfile::tempdir().expect("a folder");
        let file = dir.path().join("decision.tlog-proof");
        let run = |text: &str, key: &str| {
            std::fs::write(&file, text).expect("writes");
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_mandate"))
                .args(["audit", "verify-receipt", file.to_str().expect("path"), "--key", key, "--origin", ORIGIN])
                .output()
                .expect("runs");
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
            (output.status.code(), json)
        };
        let text = receipts[7].to_text();
        let (status, json) = run(&text, &key.to_string());
        assert_eq!(status, Some(0), "{json}");
        assert_eq!((json["verified"].as_bool(), json["index"].as_u64()), (Some(true), Some(7)));
        assert_eq!(json["entry"]["seq"], 7);
        assert_eq!(json["checkpoint"]["size"], 21);
        let tampered = text.replacen("index 7", "index 8", 1);
        let (status, json) = run(&tampered, &key.to_string());
        assert_eq!((status, json["error"]["code"].as_str()), (Some(1), Some("not_verified")));
        let (status, json) = run(&text, "someone+00000000+AQ==");
        assert_eq!((status, json["error"]["code"].as_str()), (Some(1), Some("bad_key")));
        let (status, json) = run("not a receipt\n", &key.to_string());
        assert_eq!((status, json["error"]["code"].as_str()), (Some(1), Some("malformed_receipt")));
    }

    #[test]
    fn a_tampered_or_forged_receipt_fails_and_says_why() {
        let (key, receipts) = log();
        let receipt = &receipts[5];
        // An edited entry, another index, a changed proof hash: not included.
        let mut edited = receipt.clone();
        edited.entry = b"{\"seq\":5,\"decision\":\"deny\"}".to_vec();
        assert!(matches!(edited.verify(&key, None), Err(ReceiptError::NotIncluded(_))));
        let mut moved = receipt.clone();
        moved.index = 6;
        assert!(matches!(moved.verify(&key, None), Err(ReceiptError::NotIncluded(_))));
        let mut spoiled = receipt.clone();
        spoiled.proof[1][0] ^= 1;
        assert!(matches!(spoiled.verify(&key, None), Err(ReceiptError::NotIncluded(_))));
        let mut short = receipt.clone();
        short.proof.pop();
        assert!(matches!(short.verify(&key, None), Err(ReceiptError::NotIncluded(_))));
        // A checkpoint with another size or signed by another key; another log's origin.
        let mut grown = receipt.clone();
        grown.checkpoint = receipt.checkpoint.replacen("\n21\n", "\n22\n", 1);
        assert!(matches!(grown.verify(&key, None), Err(ReceiptError::Checkpoint(_))));
        let other = NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[4; 32])).expect("signer");
        let mut forged = receipt.clone();
        let text = receipt.checkpoint.split("\n\n").next().expect("text");
        forged.checkpoint = other.sign(&format!("{text}\n")).expect("signs");
        assert!(matches!(forged.verify(&key, None), Err(ReceiptError::Checkpoint(_))));
        assert!(matches!(receipt.verify(&key, Some("other.example/log")), Err(ReceiptError::WrongOrigin { .. })));
        // Malformed text names its line.
        let text = receipt.to_text();
        for (broken, line) in [
            (text.replacen("tlog-proof@v1", "tlog-proof@v2", 1), 1),
            (text.replacen("extra ", "extra: ", 1), 2),
            (text.replacen("index 5", "index 05", 1), 3),
            (text.replacen("index 5", "index -5", 1), 3),
            (text.replacen("\n\n", "\n@@@\n\n", 1), 9),
        ] {
            match Receipt::parse(&broken) {
                Err(ReceiptError::Malformed { line: found, .. }) => assert_eq!(found, line, "{broken}"),
                other => panic!("read as {other:?}:\n{broken}"),
            }
        }
        assert!(Receipt::parse(text.split("\n\n").next().expect("head")).is_err());
    }
}
