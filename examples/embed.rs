//! Embedding Mandate in a service: load a policy package, decide requests, reload.
//!
//! Run with `cargo run --example embed`.

use mandate::eval::{Engine, Outcome, RequestDoc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load and compile a package. Errors come back as diagnostics, never as a panic.
    let engine = match Engine::load("examples/support") {
        Ok(engine) => engine,
        Err(error) => {
            eprint!("{}", error.render());
            return Err(error.into());
        }
    };

    // Requests have a serde form: build one from JSON, or fill in a `RequestDoc`.
    let request: RequestDoc = serde_json::from_str(
        r#"{
          "agent": {"id": "agent-7", "attrs": {"team": "support", "sponsor": "alice@example.com"}},
          "chain": ["alice@example.com"],
          "task": {"kind": "SupportEscalation", "id": "task-1",
                   "start": "2026-11-30T09:55:00Z", "deadline": "2026-11-30T10:10:00Z",
                   "params": {"ticket": "T-1042", "customer": "acme"}},
          "action": "read",
          "resource": {"type": "Table", "id": "billing.subscriptions",
                       "attrs": {"database": "billing", "name": "subscriptions",
                                 "class": "internal", "customer": "acme"}},
          "context": {"time": "2026-11-30T10:00:00Z"},
          "behavior": {"risk": 0.1}
        }"#,
    )?;

    // The engine is cheap to clone and safe to share between threads.
    let worker = engine.clone();
    let decision = std::thread::spawn(move || worker.decide(&request)).join().map_err(|_| "worker panicked")?;
    println!("{}", decision.to_text());
    if decision.decision == Outcome::Allow {
        if let Some(obligations) = &decision.obligations {
            println!("issue a credential valid until {}", obligations.expires_at);
        }
    }

    // A request that is not valid is denied with structured errors.
    let bad = engine.decide_json(r#"{"agent": {"id": "agent-7"}, "chain": ["alice@example.com"], "action": "raed"}"#);
    assert_eq!(bad.decision, Outcome::Deny);
    println!("{}", bad.to_text());

    // Hot reload: the new set replaces the old one atomically; on error the old one stays.
    engine.reload("examples/support")?;
    Ok(())
}
