//! `mandate audit`: checking audit proofs offline. `verify-receipt` needs only the
//! receipt and the log's published verifier key: no store and no server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value as Json};

use mandate::audit::merkle::hex;
use mandate::audit::note::NoteVerifier;
use mandate::audit::receipt::Receipt;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check a decision receipt (C2SP tlog-proof@v1) offline against the log's key.
    ///
    /// Prints the entry and the checkpoint it is proved in; exits 1 with the reason when
    /// the receipt is malformed, its checkpoint is not signed by the key, or the entry is
    /// not in the checkpointed tree.
    VerifyReceipt {
        /// The receipt file.
        file: PathBuf,
        /// The log's verifier key, `NAME+KEYID+BASE64KEY`.
        #[arg(long)]
        key: String,
        /// The log's origin, when the receipt must come from that log.
        #[arg(long)]
        origin: Option<String>,
    },
}

pub fn audit(command: AuditCommand) -> ExitCode {
    let AuditCommand::VerifyReceipt { file, key, origin } = command;
    let result = verify_receipt(&file, &key, origin.as_deref());
    let (value, code) = match result {
        Ok(value) => (value, ExitCode::SUCCESS),
        Err((code, message)) => (json!({"error": {"code": code, "message": message}}), ExitCode::from(1)),
    };
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    code
}

fn verify_receipt(file: &PathBuf, key: &str, origin: Option<&str>) -> Result<Json, (&'static str, String)> {
    let text = std::fs::read_to_string(file).map_err(|error| ("unreadable", format!("{}: {error}", file.display())))?;
    let verifier = NoteVerifier::parse(key).map_err(|error| ("bad_key", error.to_string()))?;
    let receipt = Receipt::parse(&text).map_err(|error| ("malformed_receipt", error.to_string()))?;
    let checkpoint = receipt.verify(&verifier, origin).map_err(|error| ("not_verified", error.to_string()))?;
    let entry = serde_json::from_slice::<Json>(&receipt.entry)
        .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&receipt.entry).into_owned()));
    Ok(json!({
        "verified": true,
        "index": receipt.index,
        "entry": entry,
        "checkpoint": {"origin": checkpoint.origin, "size": checkpoint.size, "root": hex(&checkpoint.root)},
    }))
}
