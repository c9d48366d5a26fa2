//! API keys. A key is `ask_<key id>_<secret>`; the store keeps the key id in clear (to find the
//! row) and an Argon2id hash of the secret (RustCrypto's `argon2`, OWASP parameters).
//!
//! Argon2 is slow by design, and every call authenticates, so a verified key is remembered
//! per process as a SHA-256 of the whole presented key: a later call with the same key costs
//! one hash and one constant-time compare.
//!
//! The key's row (role, shops, revocation) is remembered for at most `row_ttl` by the
//! server's clock (default one second): reading it on every call was half the database work
//! of a GetCase. A revocation or rotation holds at once on the replica that made it (it forgets
//! the row) and on every other replica within `row_ttl`; a zero `row_ttl` reads it every call.

use crate::error::ApiError;
use aftersales_domain::access::{Principal, Role, ShopScope};
use aftersales_domain::TenantId;
use aftersales_store::{ApiKeyRecord, Store};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tonic::codegen::http;

const PREFIX: &str = "ask_";
/// Verified keys remembered per process; past it the memory starts over (a cold miss costs
/// one Argon2 verification, nothing more).
const VERIFIED_CACHE_LIMIT: usize = 10_000;
/// Argon2 verifications running at once: each takes ~19 MiB and tens of milliseconds, and a
/// stream of wrong secrets for a known key id must not take every core.
const CONCURRENT_VERIFICATIONS: usize = 2;

/// Argon2id with OWASP's minimum (19 MiB, 2 passes, 1 lane). Parameters travel in the
/// stored PHC string, so raising them later leaves old hashes verifiable.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// The stored form of a key secret: an Argon2id PHC string.
pub fn hash_secret(secret: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .expect("Argon2 with default parameters hashes any input")
        .to_string()
}

/// Argon2 working memory a stored hash may ask for; ours ask for 19 MiB.
const MAX_ARGON2_KIB: usize = 256 * 1024;

/// Does `secret` match the stored hash? Hashes from before Argon2 (hex SHA-256 of a 256-bit
/// random secret, for which a fast hash was sound) still verify, so no issued key breaks.
///
/// Argon2's working memory is `scratch`, kept by the caller between verifications: allocating
/// 19 MiB per call from whichever blocking thread runs it left each thread's malloc arena
/// holding its own copy (a cold start under 16 concurrent calls grew the server to 250 MiB).
fn secret_matches(secret: &str, stored: &str, scratch: &mut Vec<argon2::Block>) -> bool {
    if stored.starts_with("$argon2") {
        PasswordHash::new(stored)
            .ok()
            .and_then(|parsed| argon2_matches(secret, &parsed, scratch))
            .unwrap_or(false)
    } else {
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        presented.as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

/// What `PasswordVerifier::verify_password` does for Argon2, with the caller's memory.
fn argon2_matches(
    secret: &str,
    parsed: &PasswordHash<'_>,
    scratch: &mut Vec<argon2::Block>,
) -> Option<bool> {
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(v) => argon2::Version::try_from(v).ok()?,
        None => argon2::Version::default(),
    };
    let params = argon2::Params::try_from(parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_KIB {
        return None;
    }
    if scratch.len() < blocks {
        scratch.resize(blocks, argon2::Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut scratch[..blocks])
        .ok()?;
    Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

/// What a new key may do; the key id, secret and times are made by [`generate_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub tenant: TenantId,
    pub account: String,
    pub role: Role,
    pub platform_task: bool,
    pub shops: ShopScope,
    /// Who made it (empty for the command line).
    pub created_by: String,
}

impl KeyGrant {
    /// The grant of a rotation's new key: everything the old key could do, nothing more.
    pub fn successor_of(old: &ApiKeyRecord, created_by: String) -> KeyGrant {
        KeyGrant {
            tenant: old.tenant.clone(),
            account: old.account.clone(),
            role: old.role,
            platform_task: old.platform_task,
            shops: old.shops.clone(),
            created_by,
        }
    }
}

/// A new key: the plaintext to hand to the caller once, and the record to store.
pub fn generate_key(grant: KeyGrant, now: DateTime<Utc>) -> (String, ApiKeyRecord) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret = hex::encode(secret);
    let plaintext = format!("{PREFIX}{key_id}_{secret}");
    let record = ApiKeyRecord {
        key_id,
        tenant: grant.tenant,
        account: grant.account,
        role: grant.role,
        platform_task: grant.platform_task,
        shops: grant.shops,
        secret_hash: hash_secret(&secret),
        created_at: now,
        created_by: grant.created_by,
        revoked_at: None,
        expires_at: None,
        replaced_by: None,
    };
    (plaintext, record)
}

fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

/// A key's row and when it was read.
type KeyRow = (ApiKeyRecord, DateTime<Utc>);

/// Checks presented keys against the store.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    /// key id → SHA-256 of the whole key that last verified.
    verified: Arc<Mutex<HashMap<String, [u8; 32]>>>,
    verifications: Arc<Semaphore>,
    /// Argon2 working memory, one per permit of `verifications`, reused.
    scratch: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
    /// key id → its row and when it was read.
    rows: Arc<Mutex<HashMap<String, KeyRow>>>,
    row_ttl: chrono::Duration,
}

impl Authenticator {
    /// `row_ttl`: how long a key's row is used before it is read again (see the module
    /// comment); zero reads it on every call.
    pub fn new(store: Arc<dyn Store>, row_ttl: std::time::Duration) -> Self {
        Authenticator {
            store,
            rows: Arc::default(),
            row_ttl: chrono::Duration::from_std(row_ttl).unwrap_or(chrono::Duration::MAX),
            verified: Arc::default(),
            verifications: Arc::new(Semaphore::new(CONCURRENT_VERIFICATIONS)),
            scratch: Arc::default(),
        }
    }

    /// A key's row, from memory when read less than `row_ttl` ago. Unknown key ids are not
    /// remembered: guessing them must not fill memory.
    async fn key_row(&self, key_id: &str, now: DateTime<Utc>) -> Result<ApiKeyRecord, ApiError> {
        if self.row_ttl > chrono::Duration::zero() {
            let fresh = self.rows.lock().ok().and_then(|rows| {
                rows.get(key_id)
                    .filter(|(_, read_at)| *read_at <= now && now - *read_at < self.row_ttl)
                    .map(|(row, _)| row.clone())
            });
            if let Some(row) = fresh {
                return Ok(row);
            }
        }
        let row = self
            .store
            .api_key(key_id)
            .await?
            .ok_or(ApiError::Unauthenticated("unknown or revoked api key"))?;
        if self.row_ttl > chrono::Duration::zero() {
            if let Ok(mut rows) = self.rows.lock() {
                if rows.len() >= VERIFIED_CACHE_LIMIT {
                    rows.clear();
                }
                rows.insert(key_id.to_string(), (row.clone(), now));
            }
        }
        Ok(row)
    }

    /// Stop using a remembered row: its key was revoked or rotated here.
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.remove(key_id);
        }
    }

    /// Whether this exact key verified before in this process.
    fn remembered(&self, key_id: &str, digest: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .ok()
            .and_then(|m| m.get(key_id).map(|d| bool::from(d.ct_eq(digest))))
            .unwrap_or(false)
    }

    /// Who is calling, from the `authorization: Bearer …` metadata.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Principal, ApiError> {
        let header = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated(
                "missing authorization metadata: send `authorization: Bearer <api key>`",
            ))?
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("authorization metadata is not text"))?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthenticated(
                "authorization must be `Bearer <api key>`",
            ))?
            .trim();
        let (key_id, secret) =
            split_key(key).ok_or(ApiError::Unauthenticated("malformed api key"))?;
        let record = self.key_row(key_id, now).await?;
        if !record.is_active(now) {
            return Err(ApiError::Unauthenticated("unknown or revoked api key"));
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if !self.remembered(key_id, &digest) {
            let _permit = self
                .verifications
                .acquire()
                .await
                .map_err(|_| ApiError::Internal("key verification closed".into()))?;
            // Calls that arrived together with a new key all waited for the first one's
            // verification: only the first pays for Argon2.
            if !self.remembered(key_id, &digest) {
                let secret = secret.to_string();
                let stored = record.secret_hash.clone();
                let mut scratch = self
                    .scratch
                    .lock()
                    .ok()
                    .and_then(|mut s| s.pop())
                    .unwrap_or_default();
                let (ok, scratch) = tokio::task::spawn_blocking(move || {
                    let ok = secret_matches(&secret, &stored, &mut scratch);
                    (ok, scratch)
                })
                .await
                .map_err(|e| ApiError::Internal(format!("key verification failed: {e}")))?;
                if let Ok(mut pool) = self.scratch.lock() {
                    pool.push(scratch);
                }
                if !ok {
                    return Err(ApiError::Unauthenticated("unknown or revoked api key"));
                }
                if let Ok(mut m) = self.verified.lock() {
                    if m.len() >= VERIFIED_CACHE_LIMIT {
                        m.clear();
                    }
                    m.insert(key_id.to_string(), digest);
                }
            }
        }
        Ok(Principal {
            tenant: record.tenant,
            account: record.account,
            role: record.role,
            platform_task: record.platform_task,
            shops: record.shops,
            key_id: record.key_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_and_hash_with_argon2() {
        let (plain, rec) = generate_key(
            KeyGrant {
                tenant: TenantId::parse("t1").unwrap(),
                account: "alice".into(),
                role: Role::Agent,
                platform_task: false,
                shops: ShopScope::AllShops,
                created_by: String::new(),
            },
            Utc::now(),
        );
        let (id, secret) = split_key(&plain).unwrap();
        assert_eq!(id, rec.key_id);
        assert!(rec.secret_hash.starts_with("$argon2id$"));
        assert!(!rec.secret_hash.contains(secret));
        let mut scratch = Vec::new();
        assert!(secret_matches(secret, &rec.secret_hash, &mut scratch));
        assert!(!secret_matches(
            "not-the-secret",
            &rec.secret_hash,
            &mut scratch
        ));
        assert_eq!(
            scratch.len(),
            19 * 1024,
            "19 MiB of 1 KiB blocks, kept for reuse"
        );
        assert!(split_key("ask_short_x").is_none());
        assert!(split_key("ask_zzzzzzzzzzzzzzzz_x").is_none());
        assert!(split_key("bearer").is_none());
    }

    #[test]
    fn hashes_from_before_argon2_still_verify() {
        let legacy = hex::encode(Sha256::digest(b"s3cret"));
        let mut scratch = Vec::new();
        assert!(secret_matches("s3cret", &legacy, &mut scratch));
        assert!(!secret_matches("s3creT", &legacy, &mut scratch));
        assert!(!secret_matches("s3cret", "$argon2id$garbage", &mut scratch));
    }
}
