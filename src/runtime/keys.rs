//! Key material: the runtime's own signing keys and agents' public keys.
//!
//! The runtime signs task tokens and action credentials with Ed25519 keys kept in a key
//! file that the first run creates, readable by its owner only (mode 0600). Rotation adds
//! a key and keeps the previous one, so tokens signed before a rotation still verify
//! while they live: the JWKS document lists both, each under its own `kid`. Agents are
//! registered with public keys only, as JWKs (Ed25519, or P-256 for ES256 interop); the
//! private half never reaches the runtime. [`AgentKey`] makes such a key pair for tools
//! and tests that play the agent's part.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// How many keys a key file keeps: the current one and the one before it.
const KEPT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write the key file {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("the key file {path} is readable by others (mode {mode:o}); make it 0600")]
    Exposed { path: String, mode: u32 },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// One Ed25519 signing key of the runtime.
#[derive(Clone, Serialize, Deserialize)]
pub struct RuntimeKey {
    pub kid: String,
    /// Nanoseconds since the epoch.
    pub created: i64,
    /// The 32-byte seed, base64url.
    d: String,
    /// The public key, derived once.
    #[serde(skip)]
    public: Option<[u8; 32]>,
}

impl std::fmt::Debug for RuntimeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeKey").field("kid", &self.kid).field("created", &self.created).finish_non_exhaustive()
    }
}

impl RuntimeKey {
    fn generate(created: i64) -> Result<RuntimeKey, KeyError> {
        let seed = random_bytes::<32>()?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let kid = format!("mandate-{}", B64.encode(public.get(..9).unwrap_or_default()));
        Ok(RuntimeKey { kid, created, d: B64.encode(seed), public: Some(public) })
    }

    fn signing_key(&self) -> Result<ed25519_dalek::SigningKey, KeyError> {
        let bytes = B64.decode(&self.d).map_err(|error| KeyError::Invalid(error.to_string()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Invalid("a seed is 32 bytes".to_string()))?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key in the form the JWT library signs with (PKCS#8 DER).
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, KeyError> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = self.signing_key()?.to_pkcs8_der().map_err(|error| KeyError::Invalid(error.to_string()))?;
        Ok(jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()))
    }

    pub fn public_bytes(&self) -> Result<[u8; 32], KeyError> {
        match self.public {
            Some(public) => Ok(public),
            None => Ok(self.signing_key()?.verifying_key().to_bytes()),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Result<Json, KeyError> {
        Ok(json!({
            "kty": "OKP", "crv": "Ed25519", "x": B64.encode(self.public_bytes()?),
            "kid": self.kid, "alg": "EdDSA", "use": "sig",
        }))
    }
}

/// The runtime's signing keys, oldest first; the last one signs.
#[derive(Debug, Clone)]
pub struct KeyRing {
    path: Option<PathBuf>,
    keys: Vec<RuntimeKey>,
    /// The audit log's checkpoint key: it does not rotate with the token keys, because
    /// verifiers hold it for the log's whole life.
    log: Option<RuntimeKey>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<RuntimeKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<RuntimeKey>,
}

impl KeyRing {
    /// Reads the key file at `path`, or creates it with one new key (mode 0600).
    pub fn load_or_create(path: &Path, now: i64) -> Result<KeyRing, KeyError> {
        if path.exists() {
            let mut ring = Self::load(path)?;
            if ring.log.is_none() {
                ring.log = Some(RuntimeKey::generate(now)?);
                ring.save()?;
            }
            return Ok(ring);
        }
        let ring = KeyRing {
            path: Some(path.to_path_buf()),
            keys: vec![RuntimeKey::generate(now)?],
            log: Some(RuntimeKey::generate(now)?),
        };
        ring.save()?;
        Ok(ring)
    }

    /// Reads an existing key file; one that others may read is refused.
    pub fn load(path: &Path) -> Result<KeyRing, KeyError> {
        let shown = path.display().to_string();
        let read_error = |reason: String| KeyError::Read { path: shown.clone(), reason };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|error| read_error(error.to_string()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed { path: shown, mode: mode & 0o777 });
            }
        }
        let text = std::fs::read_to_string(path).map_err(|error| read_error(error.to_string()))?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|error| read_error(error.to_string()))?;
        if file.keys.is_empty() {
            return Err(read_error("it holds no keys".to_string()));
        }
        let mut keys = file.keys;
        for key in &mut keys {
            key.public =
                Some(key.signing_key().map_err(|error| read_error(error.to_string()))?.verifying_key().to_bytes());
        }
        Ok(KeyRing { path: Some(path.to_path_buf()), keys, log: file.log })
    }

    /// A ring that lives in memory only.
    pub fn ephemeral(now: i64) -> Result<KeyRing, KeyError> {
        Ok(KeyRing { path: None, keys: vec![RuntimeKey::generate(now)?], log: Some(RuntimeKey::generate(now)?) })
    }

    /// Adds a new signing key and keeps the previous one, which still verifies; older
    /// keys are dropped. Returns the new key's `kid`.
    pub fn rotate(&mut self, now: i64) -> Result<String, KeyError> {
        let key = RuntimeKey::generate(now)?;
        let kid = key.kid.clone();
        self.keys.push(key);
        let excess = self.keys.len().saturating_sub(KEPT);
        self.keys.drain(..excess);
        self.save()?;
        Ok(kid)
    }

    /// The Ed25519 key that signs the audit log's checkpoints.
    pub fn log_key(&self) -> Result<ed25519_dalek::SigningKey, KeyError> {
        match &self.log {
            Some(key) => key.signing_key(),
            None => {
                Err(KeyError::Invalid("the key file holds no audit log key; open it with `load_or_create`".to_string()))
            }
        }
    }

    /// The key that signs.
    pub fn current(&self) -> Option<&RuntimeKey> {
        self.keys.last()
    }

    pub fn find(&self, kid: &str) -> Option<&RuntimeKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    pub fn keys(&self) -> &[RuntimeKey] {
        &self.keys
    }

    /// The JWKS document: every key that verifies, newest first.
    pub fn jwks(&self) -> Result<Json, KeyError> {
        let keys: Result<Vec<Json>, KeyError> = self.keys.iter().rev().map(RuntimeKey::jwk).collect();
        Ok(json!({ "keys": keys? }))
    }

    /// Writes the file whole, through a temporary file created with mode 0600 and
    /// renamed over the old one, so a crash never leaves half a key file.
    fn save(&self) -> Result<(), KeyError> {
        let Some(path) = &self.path else { return Ok(()) };
        let write_error =
            |error: std::io::Error| KeyError::Write { path: path.display().to_string(), reason: error.to_string() };
        let text = serde_json::to_string_pretty(&KeyFile { keys: self.keys.clone(), log: self.log.clone() })
            .map_err(|error| KeyError::Invalid(error.to_string()))?;
        let temporary = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary).map_err(write_error)?;
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(write_error)
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(bytes)
}

/// A random identifier with a prefix: `task_…`, `grant_…`.
pub fn random_id(prefix: &str) -> Result<String, KeyError> {
    Ok(format!("{prefix}_{}", B64.encode(random_bytes::<12>()?)))
}

/// An agent's public key, as the runtime verifies with it.
#[derive(Clone)]
pub enum PublicKey {
    Ed25519 { kid: Option<String>, x: [u8; 32] },
    P256 { kid: Option<String>, key: jsonwebtoken::DecodingKey },
}

impl PublicKey {
    /// Reads a public JWK: `{"kty":"OKP","crv":"Ed25519","x":…}` or
    /// `{"kty":"EC","crv":"P-256","x":…,"y":…}`. A JWK that carries a private part is
    /// refused: the runtime never holds an agent's secret.
    pub fn from_jwk(jwk: &Json) -> Result<PublicKey, KeyError> {
        let field = |name: &str| jwk.get(name).and_then(Json::as_str);
        if jwk.get("d").is_some() {
            return Err(KeyError::Invalid(
                "this JWK holds a private key; register the public key only (drop `d`)".to_string(),
            ));
        }
        let kid = field("kid").map(str::to_string);
        let decode = |name: &str| {
            let text = field(name).ok_or_else(|| KeyError::Invalid(format!("the JWK has no `{name}`")))?;
            B64.decode(text).map_err(|error| KeyError::Invalid(format!("`{name}` is not base64url: {error}")))
        };
        match (field("kty"), field("crv")) {
            (Some("OKP"), Some("Ed25519")) => {
                let x: [u8; 32] =
                    decode("x")?.try_into().map_err(|_| KeyError::Invalid("an Ed25519 `x` is 32 bytes".to_string()))?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|error| KeyError::Invalid(format!("not an Ed25519 public key: {error}")))?;
                Ok(PublicKey::Ed25519 { kid, x })
            }
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (decode("x")?, decode("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::Invalid("P-256 coordinates are 32 bytes each".to_string()));
                }
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| KeyError::Invalid("the point is not on P-256".to_string()))?;
                Ok(PublicKey::P256 { kid, key: jsonwebtoken::DecodingKey::from_ec_der(&point) })
            }
            (kty, crv) => Err(KeyError::Invalid(format!(
                "unsupported key type {}/{}: register an OKP Ed25519 or an EC P-256 JWK",
                kty.unwrap_or("?"),
                crv.unwrap_or("?")
            ))),
        }
    }

    pub fn kid(&self) -> Option<&str> {
        match self {
            PublicKey::Ed25519 { kid, .. } | PublicKey::P256 { kid, .. } => kid.as_deref(),
        }
    }
}

/// The signature algorithms an agent key can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAlgorithm {
    EdDsa,
    Es256,
}

/// An agent's key pair, for the agent's side of the protocol: `mandate agent keygen`,
/// and tests. The private JWK stays with the agent.
#[derive(Clone)]
pub struct AgentKey {
    pub kid: String,
    algorithm: AgentAlgorithm,
    secret: [u8; 32],
}

impl AgentKey {
    pub fn generate(kid: &str, algorithm: AgentAlgorithm) -> Result<AgentKey, KeyError> {
        loop {
            let secret = random_bytes::<32>()?;
            // A P-256 scalar must be below the group order; retry in the rare case it is not.
            if algorithm == AgentAlgorithm::EdDsa || p256::ecdsa::SigningKey::from_slice(&secret).is_ok() {
                return Ok(AgentKey { kid: kid.to_string(), algorithm, secret });
            }
        }
    }

    /// Reads a private JWK written by [`AgentKey::private_jwk`].
    pub fn from_private_jwk(jwk: &Json) -> Result<AgentKey, KeyError> {
        let field = |name: &str| jwk.get(name).and_then(Json::as_str);
        let algorithm = match (field("kty"), field("crv")) {
            (Some("OKP"), Some("Ed25519")) => AgentAlgorithm::EdDsa,
            (Some("EC"), Some("P-256")) => AgentAlgorithm::Es256,
            _ => return Err(KeyError::Invalid("expected a private OKP Ed25519 or EC P-256 JWK".to_string())),
        };
        let d = field("d").ok_or_else(|| KeyError::Invalid("the JWK has no private part `d`".to_string()))?;
        let bytes = B64.decode(d).map_err(|error| KeyError::Invalid(error.to_string()))?;
        let secret: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Invalid("`d` is 32 bytes".to_string()))?;
        Ok(AgentKey { kid: field("kid").unwrap_or_default().to_string(), algorithm, secret })
    }

    pub fn algorithm(&self) -> jsonwebtoken::Algorithm {
        match self.algorithm {
            AgentAlgorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            AgentAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    /// The public JWK, to register.
    pub fn public_jwk(&self) -> Result<Json, KeyError> {
        match self.algorithm {
            AgentAlgorithm::EdDsa => {
                let public = ed25519_dalek::SigningKey::from_bytes(&self.secret).verifying_key().to_bytes();
                Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(public), "kid": self.kid, "alg": "EdDSA"}))
            }
            AgentAlgorithm::Es256 => {
                let key = p256::ecdsa::SigningKey::from_slice(&self.secret)
                    .map_err(|_| KeyError::Invalid("not a P-256 scalar".to_string()))?;
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                let (x, y) = (bytes.get(1..33).unwrap_or_default(), bytes.get(33..65).unwrap_or_default());
                Ok(
                    json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y), "kid": self.kid, "alg": "ES256"}),
                )
            }
        }
    }

    /// The private JWK, for the agent to keep.
    pub fn private_jwk(&self) -> Result<Json, KeyError> {
        let mut jwk = self.public_jwk()?;
        if let Some(object) = jwk.as_object_mut() {
            object.insert("d".to_string(), Json::String(B64.encode(self.secret)));
        }
        Ok(jwk)
    }

    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, KeyError> {
        match self.algorithm {
            AgentAlgorithm::EdDsa => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                let der = ed25519_dalek::SigningKey::from_bytes(&self.secret)
                    .to_pkcs8_der()
                    .map_err(|error| KeyError::Invalid(error.to_string()))?;
                Ok(jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()))
            }
            AgentAlgorithm::Es256 => {
                use p256::pkcs8::EncodePrivateKey;
                let der = p256::ecdsa::SigningKey::from_slice(&self.secret)
                    .map_err(|_| KeyError::Invalid("not a P-256 scalar".to_string()))?
                    .to_pkcs8_der()
                    .map_err(|error| KeyError::Invalid(error.to_string()))?;
                Ok(jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()))
            }
        }
    }
}
