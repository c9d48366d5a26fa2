//! API keys. A key is `ask_<key id>_<secret>`; the store keeps the key id in clear (to find the
//! row) and only a SHA-256 of the secret. Secrets are 256 random bits, so a fast hash is safe
//! here: there is nothing to brute-force the way there is with a human password.

use crate::error::ApiError;
use aftersales_domain::access::{Principal, Role};
use aftersales_domain::TenantId;
use aftersales_store::{ApiKeyRecord, Store};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;

const PREFIX: &str = "ask_";

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new key: the plaintext to hand to the caller once, and the record to store.
pub fn generate_key(
    tenant: TenantId,
    account: String,
    role: Role,
    platform_task: bool,
    now: DateTime<Utc>,
) -> (String, ApiKeyRecord) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret = hex::encode(secret);
    let plaintext = format!("{PREFIX}{key_id}_{secret}");
    let record = ApiKeyRecord {
        key_id,
        tenant,
        account,
        role,
        platform_task,
        secret_hash: hash_secret(&secret),
        created_at: now,
        revoked_at: None,
    };
    (plaintext, record)
}

fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && !secret.is_empty()).then_some((id, secret))
}

/// Who is calling, from the `authorization: Bearer …` metadata.
pub async fn authenticate(
    store: &dyn Store,
    metadata: &MetadataMap,
) -> Result<Principal, ApiError> {
    let header = metadata
        .get("authorization")
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
    let (key_id, secret) = split_key(key).ok_or(ApiError::Unauthenticated("malformed api key"))?;
    let record = store
        .api_key(key_id)
        .await?
        .ok_or(ApiError::Unauthenticated("unknown or revoked api key"))?;
    let presented = hash_secret(secret);
    let matches: bool = presented
        .as_bytes()
        .ct_eq(record.secret_hash.as_bytes())
        .into();
    if !matches || record.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated("unknown or revoked api key"));
    }
    Ok(Principal {
        tenant: record.tenant,
        account: record.account,
        role: record.role,
        platform_task: record.platform_task,
        key_id: record.key_id,
    })
}

/// Refuse viewers on mutating calls.
pub fn require_actor(p: &Principal) -> Result<(), ApiError> {
    if p.role.can_act() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied {
            reason: "ROLE_CANNOT_ACT",
            message: format!(
                "account {} has role {} and may only read",
                p.account,
                p.role.as_str()
            ),
        })
    }
}

/// TB-22: only accounts with the platform-task permission may answer platform tasks; others
/// may still read them.
pub fn require_platform_task_permission(p: &Principal) -> Result<(), ApiError> {
    if p.platform_task {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied {
            reason: "PLATFORM_TASK_PERMISSION_REQUIRED",
            message: format!(
                "account {} lacks the platform-task permission (服务待办--平台任务) needed to answer platform tasks (TB-22)",
                p.account
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_and_hash() {
        let (plain, rec) = generate_key(
            TenantId::parse("t1").unwrap(),
            "alice".into(),
            Role::Agent,
            false,
            Utc::now(),
        );
        let (id, secret) = split_key(&plain).unwrap();
        assert_eq!(id, rec.key_id);
        assert_eq!(hash_secret(secret), rec.secret_hash);
        assert!(!rec.secret_hash.contains(secret));
        assert!(split_key("ask_short_x").is_none());
        assert!(split_key("bearer").is_none());
    }
}
