//! The audit proofs' costs: reading and verifying a decision receipt offline (signature
//! of the checkpoint, then the inclusion path) in a log of a million entries, and the
//! Merkle root of 100,000 entries. Figures and commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mandate::audit::merkle::{inclusion_proof, leaf_hash, root, Hash};
use mandate::audit::note::{Checkpoint, NoteSigner, NoteVerifier};
use mandate::audit::receipt::Receipt;

fn entries(count: u32) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(format!("{{\"seq\":{i},\"decision\":\"allow\"}}").as_bytes())).collect()
}

fn receipts(c: &mut Criterion) {
    let leaves = entries(1_000_000);
    let signer = NoteSigner::new("mandate.example/audit", ed25519_dalek::SigningKey::from_bytes(&[3; 32])).unwrap();
    let checkpoint =
        Checkpoint { origin: "mandate.example/audit".to_string(), size: leaves.len() as u64, root: root(&leaves) };
    let index = 765_432u64;
    let receipt = Receipt {
        entry: format!("{{\"seq\":{index},\"decision\":\"allow\"}}").into_bytes(),
        index,
        proof: inclusion_proof(index, &leaves).unwrap(),
        checkpoint: signer.sign(&checkpoint.to_text()).unwrap(),
    };
    let text = receipt.to_text();
    let key = NoteVerifier::parse(&signer.verifier_key()).unwrap();
    Receipt::parse(&text).unwrap().verify(&key, None).unwrap();
    let mut group = c.benchmark_group("audit");
    group.bench_function("verify_receipt_1m_log", |b| {
        b.iter(|| Receipt::parse(black_box(&text)).unwrap().verify(&key, None).unwrap())
    });
    let hundred_thousand = &leaves[..100_000];
    group.bench_function("merkle_root_100k", |b| b.iter(|| root(black_box(hundred_thousand))));
    group.finish();
}

criterion_group!(benches, receipts);
criterion_main!(benches);
