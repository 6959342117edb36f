//! The runtime's commands: `mandate agent`, `mandate task`, `mandate token`,
//! `mandate decide` and `mandate key`, over an embedded store (`--store`, default
//! `./mandate.db`) and the runtime's key file beside it (`STORE.keys.json`).
//!
//! Every command prints JSON on standard output; a refusal prints
//! `{"error": {"code", "message", "help"}}` and exits 1, having changed nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use mandate::audit::log::{AuditConfig, AuditLog};
use mandate::audit::note::NoteSigner;
use mandate::behavior::history::History;
use mandate::behavior::{BehaviorConfig, Profiles};
use mandate::eval::engine::now_nanos;
use mandate::eval::{CallDoc, PolicySet};
use mandate::runtime::keys::{AgentAlgorithm, AgentKey, KeyRing};
use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::{AgentSpec, Narrowing, Runtime, RuntimeConfig, RuntimeError};
use serde_json::{json, Value as Json};

/// Where the runtime keeps its state, and the policies it decides with.
#[derive(Args, Clone)]
pub struct Place {
    /// The store: an SQLite file, created when missing.
    #[arg(long, default_value = "mandate.db", global = true)]
    store: PathBuf,
    /// The policy package (a folder of `.mandate` files, or one file).
    #[arg(long, env = "MANDATE_POLICIES", global = true)]
    policies: Option<PathBuf>,
    /// Keep this request attribute (`args.body`, `agent.email`, …) out of the audit log,
    /// as its digest; only strings no policy reads. Repeat for more.
    #[arg(long = "mask", global = true)]
    masks: Vec<String>,
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Register an agent with its sponsor, attributes and public key(s).
    Add {
        id: String,
        /// The human the agent acts for.
        #[arg(long)]
        sponsor: String,
        /// An attribute, `NAME=TEXT` (a string); repeat for more.
        #[arg(long = "attr")]
        attrs: Vec<String>,
        /// Attributes as a JSON object, for values other than strings.
        #[arg(long)]
        attrs_json: Option<String>,
        /// A file with a public JWK (Ed25519 or P-256); repeat for more.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
    },
    /// List the registered agents.
    List,
    /// Disable an agent; its tasks and delegations are revoked with it.
    Disable {
        id: String,
        /// Who disables it.
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "agent disabled")]
        reason: String,
    },
    /// Make a key pair for an agent: writes the private JWK (mode 0600) to `--out` and
    /// prints the public JWK to register.
    Keygen {
        /// The key's id.
        #[arg(long)]
        kid: String,
        #[arg(long, value_enum, default_value_t = Algorithm::Eddsa)]
        alg: Algorithm,
        /// Where to write the private JWK.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a fresh assertion (a signed JWT, valid 60 seconds) with an agent's private
    /// key: what an agent sends to prove who it is. Real agents make their own with any
    /// JWT library.
    Assert {
        /// The agent.
        agent: String,
        /// The private JWK file.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "mandate")]
        audience: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Algorithm {
    /// Ed25519 (`EdDSA`).
    Eddsa,
    /// P-256 (`ES256`).
    Es256,
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Open a task of KIND as the agent the assertion proves.
    Open {
        kind: String,
        #[command(flatten)]
        proof: Proof,
        /// A parameter, `NAME=TEXT` (a string); repeat for more.
        #[arg(long = "param")]
        params: Vec<String>,
        /// Parameters as a JSON object, for values other than strings.
        #[arg(long)]
        params_json: Option<String>,
        /// A ttl shorter than the task's (`10m`).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Delegate a task to another agent, as the agent the assertion proves.
    Delegate {
        task: String,
        /// The receiving agent.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        proof: Proof,
        /// What to pass on, narrower than what the delegator holds:
        /// `{"actions": [...], "resources": [...], "equals": {"resource.NAME": value}}`.
        #[arg(long)]
        narrowing: Option<String>,
    },
    /// Complete a task: it and its delegations end.
    Complete {
        task: String,
        #[arg(long)]
        by: String,
    },
    /// Revoke a task: it and its delegations end, and every token issued for it fails.
    Revoke {
        task: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
    /// Show a task with its grants and budgets.
    Show { task: String },
    /// List the tasks.
    List,
}

/// The caller's proof of identity.
#[derive(Args)]
pub struct Proof {
    /// The agent's assertion (a JWT), or `@FILE` to read it from a file.
    #[arg(long)]
    assertion: String,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Verify a task token or an action credential: its signature, issuer, audience
    /// and expiry, and that its task has not ended.
    Verify { token: String },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Add a signing key; the previous one keeps verifying.
    Rotate,
    /// Print the JWKS document that verifies the runtime's tokens.
    Jwks,
}

/// `mandate decide`: the runtime's `eval`.
#[derive(Args)]
pub struct DecideArgs {
    /// The task the request is made in.
    task: String,
    #[command(flatten)]
    proof: Proof,
    /// The request: `{"action", "args", "resource", "context"}`; `-` or nothing reads
    /// standard input.
    #[arg(long)]
    request: Option<PathBuf>,
    /// Mint an action credential on an allow.
    #[arg(long)]
    credential: bool,
}

/// Runs a command, printing its JSON result or error.
fn finish(result: Result<Json, RuntimeError>) -> ExitCode {
    match result {
        Ok(Json::Null) => ExitCode::SUCCESS,
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("{}", serde_json::to_string_pretty(&error.to_json()).unwrap_or_default());
            ExitCode::from(1)
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn error(code: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::new(code, message)
}

/// Opens the runtime: the policies, the store, and the key file beside it.
fn open(place: &Place) -> Result<Runtime, RuntimeError> {
    let Some(policies) = &place.policies else {
        return Err(error("no_policies", "which policies? give `--policies DIR` or set MANDATE_POLICIES"));
    };
    let set = PolicySet::load(policies, mandate::eval::Limits::default())
        .map_err(|load| error("policies_do_not_check", load.render()))?;
    let store = SqliteStore::open(&place.store)?;
    let keys = KeyRing::load_or_create(&key_file(&place.store), now_nanos())?;
    let config = AuditConfig { masks: place.masks.clone(), ..AuditConfig::default() };
    let signer = log_signer(&keys, &config.origin)?;
    let set = std::sync::Arc::new(set);
    let runtime = Runtime::new(set.clone(), Box::new(store), keys, RuntimeConfig::default())?;
    let log = AuditLog::start(runtime.shared_store(), &set, signer, config)
        .map_err(|failure| error("audit_config", failure.to_string()))?;
    // The behavioral profiles, learned again from the log's decisions.
    let profiles = Profiles::new(BehaviorConfig::default());
    profiles.learn_from_log(runtime.store())?;
    let mut runtime = runtime.with_journal(std::sync::Arc::new(log)).with_signals(std::sync::Arc::new(profiles));
    // The schema's history counters, kept from the log.
    if let Some(history) = History::new(set, runtime.shared_store()) {
        runtime = runtime.with_signals(std::sync::Arc::new(history));
    }
    Ok(runtime)
}

/// The audit log's checkpoint signer, from the runtime's key file.
pub fn log_signer(keys: &KeyRing, origin: &str) -> Result<NoteSigner, RuntimeError> {
    NoteSigner::new(origin, keys.log_key()?).map_err(|failure| error("key_error", failure.to_string()))
}

pub fn key_file(store: &Path) -> PathBuf {
    PathBuf::from(format!("{}.keys.json", store.display()))
}

fn read_text(path: &Path) -> Result<String, RuntimeError> {
    std::fs::read_to_string(path).map_err(|e| error("unreadable", format!("cannot read {}: {e}", path.display())))
}

fn object(text: &str, what: &str) -> Result<serde_json::Map<String, Json>, RuntimeError> {
    match serde_json::from_str(text) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(error("invalid_json", format!("{what} must be a JSON object"))),
    }
}

/// `NAME=TEXT` pairs and a JSON object, merged.
fn fields(
    pairs: &[String],
    json_text: Option<&str>,
    what: &str,
) -> Result<serde_json::Map<String, Json>, RuntimeError> {
    let mut map = match json_text {
        Some(text) => object(text, what)?,
        None => serde_json::Map::new(),
    };
    for pair in pairs {
        let (name, value) =
            pair.split_once('=').ok_or_else(|| error("invalid_argument", format!("`{pair}` is not NAME=VALUE")))?;
        map.insert(name.to_string(), Json::String(value.to_string()));
    }
    Ok(map)
}

/// The agent an assertion proves.
fn authenticate(runtime: &Runtime, proof: &Proof, now: i64) -> Result<String, RuntimeError> {
    let token = match proof.assertion.strip_prefix('@') {
        Some(path) => read_text(Path::new(path))?.trim().to_string(),
        None => proof.assertion.clone(),
    };
    runtime.authenticate(&token, now)
}

pub fn agent(place: &Place, command: AgentCommand) -> ExitCode {
    finish(agent_result(place, command))
}

fn agent_result(place: &Place, command: AgentCommand) -> Result<Json, RuntimeError> {
    let now = now_nanos();
    match command {
        AgentCommand::Keygen { kid, alg, out } => {
            let algorithm = match alg {
                Algorithm::Eddsa => AgentAlgorithm::EdDsa,
                Algorithm::Es256 => AgentAlgorithm::Es256,
            };
            let key = AgentKey::generate(&kid, algorithm)?;
            write_private(&out, &key.private_jwk()?)?;
            Ok(key.public_jwk()?)
        }
        AgentCommand::Assert { agent, key, audience } => {
            let key = AgentKey::from_private_jwk(&serde_json::from_str(&read_text(&key)?).unwrap_or(Json::Null))?;
            let token = mandate::runtime::tokens::make_assertion(&key, &agent, &audience, now / 1_000_000_000, 60)?;
            // The bare token, for `--assertion "$(mandate agent assert …)"`.
            println!("{token}");
            Ok(Json::Null)
        }
        AgentCommand::Add { id, sponsor, attrs, attrs_json, keys } => {
            let runtime = open(place)?;
            let attrs = fields(&attrs, attrs_json.as_deref(), "--attrs-json")?;
            let keys = keys
                .iter()
                .map(|path| {
                    serde_json::from_str(&read_text(path)?)
                        .map_err(|_| error("invalid_key", format!("{} is not a JWK", path.display())))
                })
                .collect::<Result<Vec<Json>, RuntimeError>>()?;
            Ok(to_json(&runtime.register_agent(AgentSpec { id, sponsor, attrs, keys }, now)?))
        }
        AgentCommand::List => Ok(to_json(&open(place)?.store().agents()?)),
        AgentCommand::Disable { id, by, reason } => Ok(to_json(&open(place)?.disable_agent(&id, &by, &reason, now)?)),
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, jwk: &Json) -> Result<(), RuntimeError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(path).and_then(|mut file| file.write_all(jwk.to_string().as_bytes()));
    written.map_err(|e| error("unwritable", format!("cannot write {} (it must not exist yet): {e}", path.display())))
}

pub fn task(place: &Place, command: TaskCommand) -> ExitCode {
    finish(task_result(place, command))
}

fn task_result(place: &Place, command: TaskCommand) -> Result<Json, RuntimeError> {
    let runtime = open(place)?;
    let now = now_nanos();
    match command {
        TaskCommand::Open { kind, proof, params, params_json, ttl } => {
            let agent = authenticate(&runtime, &proof, now)?;
            let params = fields(&params, params_json.as_deref(), "--params-json")?;
            let ttl = ttl
                .map(|text| mandate::syntax::literal::parse_duration(&text))
                .transpose()
                .map_err(|e| error("invalid_ttl", format!("a ttl such as `10m`: {e}")))?;
            Ok(to_json(&runtime.open_task(&agent, &kind, params, ttl, now)?))
        }
        TaskCommand::Delegate { task, to, proof, narrowing } => {
            let agent = authenticate(&runtime, &proof, now)?;
            let narrowing: Narrowing = match narrowing {
                Some(text) => serde_json::from_str(&text).map_err(|e| error("invalid_narrowing", e.to_string()))?,
                None => Narrowing::default(),
            };
            Ok(to_json(&runtime.delegate(&agent, &task, &to, narrowing, now)?))
        }
        TaskCommand::Complete { task, by } => Ok(to_json(&runtime.complete(&task, &by, now)?)),
        TaskCommand::Revoke { task, by, reason } => Ok(to_json(&runtime.revoke(&task, &by, &reason, now)?)),
        TaskCommand::Show { task } => {
            let record = runtime.task(&task)?;
            let grants = runtime.store().grants(&task)?;
            let budgets = runtime.budget_status(&task)?;
            Ok(json!({"task": record, "grants": grants, "budgets": budgets}))
        }
        TaskCommand::List => Ok(to_json(&runtime.store().tasks()?)),
    }
}

pub fn token(place: &Place, command: TokenCommand) -> ExitCode {
    finish(match command {
        TokenCommand::Verify { token } => {
            open(place).and_then(|runtime| Ok(to_json(&runtime.verify_token(token.trim(), now_nanos())?)))
        }
    })
}

pub fn key(place: &Place, command: KeyCommand) -> ExitCode {
    let path = key_file(&place.store);
    finish(match command {
        KeyCommand::Rotate => KeyRing::load_or_create(&path, now_nanos())
            .and_then(|mut ring| ring.rotate(now_nanos()).map(|kid| json!({"kid": kid})))
            .map_err(RuntimeError::from),
        KeyCommand::Jwks => {
            KeyRing::load_or_create(&path, now_nanos()).and_then(|ring| ring.jwks()).map_err(RuntimeError::from)
        }
    })
}

pub fn decide(place: &Place, args: DecideArgs) -> ExitCode {
    finish(decide_result(place, args))
}

fn decide_result(place: &Place, args: DecideArgs) -> Result<Json, RuntimeError> {
    let runtime = open(place)?;
    let now = now_nanos();
    let agent = authenticate(&runtime, &args.proof, now)?;
    let text = match &args.request {
        Some(path) if path != Path::new("-") => read_text(path)?,
        _ => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| error("unreadable", format!("cannot read the request: {e}")))?;
            text
        }
    };
    let call: CallDoc = serde_json::from_str(&text).map_err(|e| {
        error("malformed_request", e.to_string())
            .help("a runtime request has `action`, `args`, `resource` and `context`; who acts, in which task, comes from the registry")
    })?;
    Ok(to_json(&runtime.decide(&agent, &args.task, &call, now, args.credential)?))
}
