//! Tokens in standard formats: agents' client assertions (RFC 7523 style), task tokens
//! and action credentials (JWTs with an RFC 8693 `act` chain and RFC 9396
//! `authorization_details`).
//!
//! Signing, and ES256 verification, go through `jsonwebtoken`. Ed25519 signatures (JOSE
//! `alg` `EdDSA`, or `Ed25519` from RFC 9864, which that library does not know) are
//! verified with `ed25519-dalek`'s strict check, on the parts decoded once. `alg: none` and every other algorithm are refused. Claims are
//! checked here against an explicit `now`, the same way for every algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::keys::{AgentKey, KeyError, KeyRing, PublicKey};

/// The longest an agent assertion may live.
pub const MAX_ASSERTION_SECONDS: i64 = 300;
/// Clock skew tolerated for `iat`.
const SKEW_SECONDS: i64 = 30;

/// Why a token was refused. `code` is the stable word for JSON errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    pub code: &'static str,
    pub message: String,
}

impl TokenError {
    pub fn new(code: &'static str, message: impl Into<String>) -> TokenError {
        TokenError { code, message: message.into() }
    }
}

impl From<KeyError> for TokenError {
    fn from(error: KeyError) -> TokenError {
        TokenError::new("key_error", error.to_string())
    }
}

/// RFC 8693 `act`: the actor above, nested for each earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The chain above an agent (sponsor first) as nested `act` claims, the delegator
    /// outermost and the sponsor innermost. `None` for an empty chain.
    pub fn from_chain(chain: &[String]) -> Option<Actor> {
        chain.iter().fold(None, |inner, link| Some(Actor { sub: link.clone(), act: inner.map(Box::new) }))
    }
}

/// The claims of a task token or an action credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub task_id: String,
    pub task_kind: String,
    /// The grant the token was issued for.
    pub grant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    pub authorization_details: Vec<Json>,
}

/// An agent's assertion, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub agent: String,
    pub jti: String,
    /// Seconds since the epoch.
    pub exp: i64,
}

/// Signs claims with the ring's current key (`alg: EdDSA`, `kid` set).
pub fn sign(keys: &KeyRing, claims: &Claims) -> Result<String, TokenError> {
    let key = keys.current().ok_or_else(|| TokenError::new("key_error", "the key ring is empty"))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".to_string());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()?)
        .map_err(|error| TokenError::new("signing_failed", error.to_string()))
}

/// Makes an agent's client assertion: `iss` = `sub` = the agent, `aud` the runtime,
/// expiring `seconds` after `now_seconds`, with a fresh `jti`.
pub fn make_assertion(
    key: &AgentKey,
    agent: &str,
    audience: &str,
    now_seconds: i64,
    seconds: i64,
) -> Result<String, TokenError> {
    let mut header = jsonwebtoken::Header::new(key.algorithm());
    header.kid = (!key.kid.is_empty()).then(|| key.kid.clone());
    let claims = json!({
        "iss": agent, "sub": agent, "aud": audience,
        "iat": now_seconds, "exp": now_seconds.saturating_add(seconds),
        "jti": super::keys::random_id("jti")?,
    });
    jsonwebtoken::encode(&header, &claims, &key.encoding_key()?)
        .map_err(|error| TokenError::new("signing_failed", error.to_string()))
}

/// The parts of a compact JWS.
struct Parts<'a> {
    signing_input: &'a str,
    header: Json,
    payload: Json,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let malformed = |why: &str| TokenError::new("malformed_token", format!("not a compact JWT: {why}"));
    let mut pieces = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let decode = |text: &str| B64.decode(text).map_err(|_| malformed("a part is not base64url"));
    let json = |bytes: Vec<u8>| serde_json::from_slice::<Json>(&bytes).map_err(|_| malformed("a part is not JSON"));
    let signing_input = token.get(..header.len() + 1 + payload.len()).ok_or_else(|| malformed("bad layout"))?;
    Ok(Parts {
        signing_input,
        header: json(decode(header)?)?,
        payload: json(decode(payload)?)?,
        signature: decode(signature)?,
    })
}

/// Verifies the signature with one of `keys`; the header's `kid`, when present, picks it.
fn verify_signature<'k>(token: &str, keys: &'k [PublicKey]) -> Result<(Json, &'k PublicKey), TokenError> {
    let parts = split(token)?;
    let alg = parts.header.get("alg").and_then(Json::as_str).unwrap_or_default();
    let kid = parts.header.get("kid").and_then(Json::as_str);
    let family = match alg {
        "EdDSA" | "Ed25519" => "Ed25519",
        "ES256" => "P-256",
        "none" | "" => return Err(TokenError::new("unsigned_token", "the token is not signed (`alg: none`)")),
        other => {
            return Err(TokenError::new(
                "unsupported_algorithm",
                format!("algorithm `{other}` is not accepted; sign with EdDSA (Ed25519) or ES256"),
            ))
        }
    };
    let candidates: Vec<&PublicKey> = keys
        .iter()
        .filter(|key| {
            matches!((key, family), (PublicKey::Ed25519 { .. }, "Ed25519") | (PublicKey::P256 { .. }, "P-256"))
        })
        .filter(|key| kid.is_none() || key.kid() == kid)
        .collect();
    for key in candidates {
        let good = match key {
            // Both names of Ed25519: verified on the parts already decoded, with the
            // strict check (no small-order keys, canonical signatures only).
            PublicKey::Ed25519 { x, .. } => {
                let Ok(verifying) = ed25519_dalek::VerifyingKey::from_bytes(x) else { continue };
                let Ok(signature) = ed25519_dalek::Signature::from_slice(&parts.signature) else { continue };
                verifying.verify_strict(parts.signing_input.as_bytes(), &signature).is_ok()
            }
            PublicKey::P256 { key, .. } => library_verifies(token, key, jsonwebtoken::Algorithm::ES256),
        };
        if good {
            return Ok((parts.payload, key));
        }
    }
    Err(TokenError::new("bad_signature", "the signature does not verify with any key registered for the signer"))
}

/// Signature only: claims are checked by the caller against its own clock.
fn library_verifies(token: &str, key: &jsonwebtoken::DecodingKey, algorithm: jsonwebtoken::Algorithm) -> bool {
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Json>(token, key, &validation).is_ok()
}

fn string_claim<'a>(claims: &'a Json, name: &str) -> Result<&'a str, TokenError> {
    claims
        .get(name)
        .and_then(Json::as_str)
        .ok_or_else(|| TokenError::new("missing_claim", format!("the token has no string `{name}` claim")))
}

fn time_claim(claims: &Json, name: &str) -> Result<i64, TokenError> {
    claims
        .get(name)
        .and_then(Json::as_i64)
        .ok_or_else(|| TokenError::new("missing_claim", format!("the token has no numeric `{name}` claim")))
}

fn check_audience(claims: &Json, audience: &str) -> Result<(), TokenError> {
    let matches = match claims.get("aud") {
        Some(Json::String(aud)) => aud == audience,
        Some(Json::Array(list)) => list.iter().any(|aud| aud.as_str() == Some(audience)),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(TokenError::new("wrong_audience", format!("the token is not for `{audience}`")))
    }
}

fn check_times(claims: &Json, now_seconds: i64) -> Result<(i64, i64), TokenError> {
    let (exp, iat) = (time_claim(claims, "exp")?, time_claim(claims, "iat")?);
    if now_seconds >= exp {
        return Err(TokenError::new("expired", format!("the token expired {} s ago", now_seconds - exp + 1)));
    }
    if iat > now_seconds.saturating_add(SKEW_SECONDS) {
        return Err(TokenError::new("not_yet_valid", "the token was issued in the future"));
    }
    Ok((exp, iat))
}

/// Verifies an agent's assertion against its registered keys: signed, `iss` = `sub` =
/// `agent`, `aud` = the runtime, not expired, living at most five minutes, with a `jti`.
/// Whether the `jti` was seen before is the store's to say.
pub fn verify_assertion(
    token: &str,
    agent: &str,
    keys: &[PublicKey],
    audience: &str,
    now_seconds: i64,
) -> Result<Assertion, TokenError> {
    let (claims, _) = verify_signature(token, keys)?;
    let (iss, sub) = (string_claim(&claims, "iss")?, string_claim(&claims, "sub")?);
    if iss != agent || sub != agent {
        return Err(TokenError::new(
            "wrong_subject",
            format!("an assertion for `{agent}` has `iss` and `sub` equal to it"),
        ));
    }
    check_audience(&claims, audience)?;
    let (exp, iat) = check_times(&claims, now_seconds)?;
    if exp.saturating_sub(iat) > MAX_ASSERTION_SECONDS || exp.saturating_sub(now_seconds) > MAX_ASSERTION_SECONDS {
        return Err(TokenError::new(
            "too_long_lived",
            "an assertion lives at most 5 minutes; make a fresh one for each call",
        ));
    }
    let jti = string_claim(&claims, "jti")?.to_string();
    Ok(Assertion { agent: agent.to_string(), jti, exp })
}

/// The agent an assertion claims to be, read before its key is known. Nothing is trusted
/// until [`verify_assertion`] succeeds.
pub fn claimed_agent(token: &str) -> Result<String, TokenError> {
    Ok(string_claim(&split(token)?.payload, "sub")?.to_string())
}

/// Verifies a token the runtime issued: signed by a key of the ring, by this issuer, for
/// this audience, not expired. Whether its task still stands is the runtime's to say.
pub fn verify_issued(
    token: &str,
    keys: &KeyRing,
    issuer: &str,
    audience: &str,
    now_seconds: i64,
) -> Result<Claims, TokenError> {
    let public: Vec<PublicKey> = keys
        .keys()
        .iter()
        .map(|key| Ok(PublicKey::Ed25519 { kid: Some(key.kid.clone()), x: key.public_bytes()? }))
        .collect::<Result<_, KeyError>>()?;
    let (claims, _) = verify_signature(token, &public)?;
    if string_claim(&claims, "iss")? != issuer {
        return Err(TokenError::new("wrong_issuer", format!("the token was not issued by `{issuer}`")));
    }
    check_audience(&claims, audience)?;
    check_times(&claims, now_seconds)?;
    serde_json::from_value(claims)
        .map_err(|error| TokenError::new("malformed_token", format!("unexpected claims: {error}")))
}
