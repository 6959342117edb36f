//! `mandate audit`: the audit log read back and checked. `verify-receipt` needs only the
//! receipt and the log's published verifier key: no store and no server. The others
//! read the store (`--store`, default `./mandate.db`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value as Json};

use super::runtime::{key_file, log_signer};
use mandate::audit::log::AuditConfig;
use mandate::audit::merkle::hex;
use mandate::audit::note::NoteVerifier;
use mandate::audit::receipt::Receipt;
use mandate::audit::{replay, verify};
use mandate::eval::engine::now_nanos;
use mandate::runtime::keys::KeyRing;
use mandate::runtime::sqlite::SqliteStore;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole log: every entry in place and chained, every checkpoint signed
    /// and matching the recomputed tree, nothing cut from the tail, every entry filed
    /// under its own task for the trails.
    ///
    /// Exits 1 naming the first failure (`edited_entry`, `missing_entry`,
    /// `reordered_entries`, `truncated_log`, `forged_checkpoint`, `bad_checkpoint`,
    /// `misfiled_entry`, `damaged_store`) and its position.
    Verify {
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
        /// The log's verifier key, `NAME+KEYID+BASE64KEY`; by default the one in the
        /// key file beside the store (give the published key to trust nothing local).
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        origin: Option<String>,
    },
    /// Write the receipt (C2SP tlog-proof@v1) of entry SEQ: the entry, its inclusion
    /// proof and the first signed checkpoint that covers it.
    Receipt {
        seq: u64,
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
        /// Write it here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
    /// Decide every recorded decision again with the policy bundle it names, and the
    /// runtime's ceilings (the grants' narrowing, the budgets) again from the log; exits 1
    /// listing those that do not reproduce.
    Replay {
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
        /// Only this task's decisions.
        #[arg(long)]
        task: Option<String>,
        /// From this position on.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// One task's whole trail, in order: opened, delegated, decided, ended.
    Show {
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
        #[arg(long)]
        task: String,
        #[arg(long, value_enum, default_value_t = TrailFormat::Text)]
        format: TrailFormat,
    },
    /// Every entry from `--from` on as JSON Lines, for a SIEM.
    Export {
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// Print the verifier key of the log's checkpoints, to publish.
    Key {
        #[arg(long, default_value = "mandate.db")]
        store: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrailFormat {
    Text,
    Jsonl,
}

type Failed = (&'static str, String);

pub fn audit(command: AuditCommand) -> ExitCode {
    let result = match command {
        AuditCommand::VerifyReceipt { file, key, origin } => verify_receipt(&file, &key, origin.as_deref()),
        AuditCommand::Verify { store, key, origin } => verify_log(&store, key, origin.as_deref()),
        AuditCommand::Receipt { seq, store, out } => receipt(&store, seq, out.as_deref()),
        AuditCommand::Replay { store, task, from } => replay_log(&store, task.as_deref(), from),
        AuditCommand::Show { store, task, format } => return show(&store, &task, format),
        AuditCommand::Export { store, from } => return export(&store, from),
        AuditCommand::Key { store } => verifier_key(&store).map(|key| json!({"key": key})),
    };
    let (value, code) = match result {
        // A receipt, as it is written to a file.
        Ok(Json::String(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(value) if value.get("ok") == Some(&Json::Bool(false)) => (value, ExitCode::from(1)),
        Ok(value) => (value, ExitCode::SUCCESS),
        Err((code, message)) => (json!({"error": {"code": code, "message": message}}), ExitCode::from(1)),
    };
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    code
}

fn open_store(path: &Path) -> Result<SqliteStore, Failed> {
    if !path.exists() {
        return Err(("no_store", format!("{}: no such store", path.display())));
    }
    SqliteStore::open(path).map_err(|error| ("damaged_store", format!("{}: {error}", path.display())))
}

fn verifier_key(store: &Path) -> Result<String, Failed> {
    let keys =
        KeyRing::load_or_create(&key_file(store), now_nanos()).map_err(|error| ("key_error", error.to_string()))?;
    Ok(log_signer(&keys, &AuditConfig::default().origin).map_err(|error| ("key_error", error.message))?.verifier_key())
}

fn verify_log(store: &Path, key: Option<String>, origin: Option<&str>) -> Result<Json, Failed> {
    let opened = open_store(store)?;
    let key = match key {
        Some(key) => key,
        None => verifier_key(store)?,
    };
    let verifier = NoteVerifier::parse(&key).map_err(|error| ("bad_key", error.to_string()))?;
    let started = std::time::Instant::now();
    let mut shown = 0;
    let mut progress = |read: u64| {
        if read >= shown + 100_000 {
            eprintln!("verified {read} entries");
            shown = read;
        }
    };
    match verify::verify(&opened, &verifier, origin, &mut progress) {
        Ok(verified) => Ok(json!({"ok": true, "verified": verified, "seconds": started.elapsed().as_secs_f64()})),
        Err(failure) => Ok(json!({"ok": false, "failure": failure})),
    }
}

fn receipt(store: &Path, seq: u64, out: Option<&Path>) -> Result<Json, Failed> {
    let receipt = replay::receipt(&open_store(store)?, seq).map_err(|error| ("no_receipt", error.to_string()))?;
    match out {
        Some(out) => {
            std::fs::write(out, receipt.to_text())
                .map_err(|error| ("unwritable", format!("{}: {error}", out.display())))?;
            Ok(json!({"receipt": out.display().to_string(), "index": seq}))
        }
        None => Ok(Json::String(receipt.to_text())),
    }
}

fn replay_log(store: &Path, task: Option<&str>, from: u64) -> Result<Json, Failed> {
    let opened = open_store(store)?;
    let report =
        replay::replay(&opened, task, from, &mut |_| {}).map_err(|error| ("replay_failed", error.to_string()))?;
    Ok(json!({"ok": report.mismatches.is_empty(), "replay": report}))
}

fn show(store: &Path, task: &str, format: TrailFormat) -> ExitCode {
    let entries = open_store(store)
        .and_then(|opened| replay::trail(&opened, task).map_err(|error| ("damaged_store", error.to_string())));
    match entries {
        Ok(entries) if entries.is_empty() => {
            println!(
                "{}",
                json!({"error": {"code": "unknown_task", "message": format!("the log holds nothing of task `{task}`")}})
            );
            ExitCode::from(1)
        }
        Ok(entries) => {
            for entry in &entries {
                match format {
                    TrailFormat::Text => println!("{}", replay::trail_line(entry)),
                    TrailFormat::Jsonl => println!("{entry}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            println!("{}", json!({"error": {"code": code, "message": message}}));
            ExitCode::from(1)
        }
    }
}

fn export(store: &Path, from: u64) -> ExitCode {
    let opened = match open_store(store) {
        Ok(opened) => opened,
        Err((code, message)) => {
            println!("{}", json!({"error": {"code": code, "message": message}}));
            return ExitCode::from(1);
        }
    };
    let mut at = from;
    loop {
        use mandate::runtime::store::Store;
        let rows = match opened.log_rows(at, 4096) {
            Ok(rows) => rows,
            Err(error) => {
                eprintln!("{}", json!({"error": {"code": "damaged_store", "message": error.to_string()}}));
                return ExitCode::from(1);
            }
        };
        let Some(last) = rows.last() else { return ExitCode::SUCCESS };
        at = last.seq + 1;
        for row in &rows {
            println!("{}", String::from_utf8_lossy(&row.entry));
        }
    }
}

fn verify_receipt(file: &PathBuf, key: &str, origin: Option<&str>) -> Result<Json, Failed> {
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
