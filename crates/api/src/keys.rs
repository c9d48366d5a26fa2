//! API key management over gRPC: create, list, revoke, rotate. Only an owner of every shop
//! gets here (the gate's method table); every call stays inside the caller's tenant.

use crate::auth::{generate_key, KeyGrant};
use crate::convert::{from_duration, timestamp, Violations};
use crate::error::ApiError;
use crate::query::page_size;
use crate::service::AftersalesApi;
use aftersales_domain::access::{Principal, Role, ShopScope};
use aftersales_domain::ShopId;
use aftersales_proto::v1 as pb;
use aftersales_store::{ApiKeyRecord, KeyState};
use chrono::{DateTime, Utc};

/// Shops one key may be scoped to; a merchant with more gives the account every shop.
pub const MAX_KEY_SHOPS: usize = 50;
/// Longest an old key keeps working after a rotation.
pub const MAX_ROTATION_GRACE: chrono::Duration = chrono::Duration::days(7);
const MAX_ACCOUNT_CHARS: usize = 64;

pub fn key_name(key_id: &str) -> String {
    format!("apiKeys/{key_id}")
}

fn parse_key_name(field: &str, name: &str) -> Result<String, ApiError> {
    name.strip_prefix("apiKeys/")
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or_else(|| ApiError::field(field, "must be apiKeys/{16 hex digits}"))
}

fn role_to_pb(role: Role) -> pb::ApiKeyRole {
    match role {
        Role::Owner => pb::ApiKeyRole::Owner,
        Role::Agent => pb::ApiKeyRole::Agent,
        Role::Viewer => pb::ApiKeyRole::Viewer,
    }
}

pub fn key_to_pb(k: &ApiKeyRecord, now: DateTime<Utc>) -> pb::ApiKey {
    let state = match k.state(now) {
        KeyState::Active => pb::ApiKeyState::Active,
        KeyState::Expiring => pb::ApiKeyState::Expiring,
        KeyState::Expired => pb::ApiKeyState::Expired,
        KeyState::Revoked => pb::ApiKeyState::Revoked,
    };
    pb::ApiKey {
        name: key_name(&k.key_id),
        account: k.account.clone(),
        role: role_to_pb(k.role) as i32,
        platform_task: k.platform_task,
        shops: k.shops.shops().iter().map(|s| s.to_string()).collect(),
        state: state as i32,
        create_time: Some(timestamp(k.created_at)),
        created_by: k.created_by.clone(),
        revoke_time: k.revoked_at.map(timestamp),
        expire_time: k.expires_at.map(timestamp),
        replaced_by: k.replaced_by.as_deref().map(key_name).unwrap_or_default(),
    }
}

/// The grant a CreateApiKey request asks for, every problem named by field.
fn grant_from_pb(p: &Principal, key: Option<&pb::ApiKey>) -> Result<KeyGrant, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::field("api_key", "required"));
    };
    let mut v = Violations::default();
    let account = key.account.trim();
    if account.is_empty() {
        v.add("api_key.account", "required: the account the key acts as");
    } else if account.chars().count() > MAX_ACCOUNT_CHARS || account.chars().any(char::is_control) {
        v.add(
            "api_key.account",
            format!("at most {MAX_ACCOUNT_CHARS} printable characters"),
        );
    }
    let role = match pb::ApiKeyRole::try_from(key.role) {
        Ok(pb::ApiKeyRole::Owner) => Some(Role::Owner),
        Ok(pb::ApiKeyRole::Agent) => Some(Role::Agent),
        Ok(pb::ApiKeyRole::Viewer) => Some(Role::Viewer),
        Ok(pb::ApiKeyRole::Unspecified) | Err(_) => {
            v.add("api_key.role", "required: OWNER, AGENT or VIEWER");
            None
        }
    };
    if key.shops.len() > MAX_KEY_SHOPS {
        v.add(
            "api_key.shops",
            format!("at most {MAX_KEY_SHOPS} shops; leave it empty for every shop"),
        );
    }
    let mut shops: Vec<ShopId> = Vec::new();
    for (i, raw) in key.shops.iter().enumerate().take(MAX_KEY_SHOPS) {
        if let Some(shop) = v.check(&format!("api_key.shops[{i}]"), ShopId::parse(raw.as_str())) {
            if !shops.contains(&shop) {
                shops.push(shop);
            }
        }
    }
    v.into_result()?;
    let role = role.ok_or_else(|| ApiError::Internal("role validation let none through".into()))?;
    Ok(KeyGrant {
        tenant: p.tenant.clone(),
        account: account.to_string(),
        role,
        platform_task: key.platform_task,
        shops: if shops.is_empty() {
            ShopScope::AllShops
        } else {
            ShopScope::Only(shops)
        },
        created_by: p.account.clone(),
    })
}

/// Argon2 hashing takes tens of milliseconds of CPU: off the async workers.
async fn mint(grant: KeyGrant, now: DateTime<Utc>) -> Result<(String, ApiKeyRecord), ApiError> {
    tokio::task::spawn_blocking(move || generate_key(grant, now))
        .await
        .map_err(|e| ApiError::Internal(format!("key generation failed: {e}")))
}

impl AftersalesApi {
    pub(crate) async fn create_api_key_impl(
        &self,
        p: &Principal,
        req: pb::CreateApiKeyRequest,
    ) -> Result<pb::CreateApiKeyResponse, ApiError> {
        let grant = grant_from_pb(p, req.api_key.as_ref())?;
        let now = self.clock().now();
        let (key, record) = mint(grant, now).await?;
        self.store().insert_api_key(&record).await?;
        tracing::info!(
            key_id = %record.key_id,
            account = %record.account,
            role = record.role.as_str(),
            created_by = %p.account,
            "api key created"
        );
        Ok(pb::CreateApiKeyResponse {
            api_key: Some(key_to_pb(&record, now)),
            key,
        })
    }

    pub(crate) async fn list_api_keys_impl(
        &self,
        p: &Principal,
        req: pb::ListApiKeysRequest,
    ) -> Result<pb::ListApiKeysResponse, ApiError> {
        let size = page_size(req.page_size, 100, 500)?;
        const SCOPE: &str = "ListApiKeys";
        let after = if req.page_token.is_empty() {
            None
        } else {
            Some(self.page_tokens().open(SCOPE, &req.page_token)?)
        };
        let mut keys = self
            .store()
            .list_api_keys(&p.tenant, after.as_deref(), size + 1)
            .await?;
        let next_page_token = self
            .page_tokens()
            .finish_page(&mut keys, size, SCOPE, |k| k.key_id.clone());
        let now = self.clock().now();
        Ok(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(|k| key_to_pb(k, now)).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn revoke_api_key_impl(
        &self,
        p: &Principal,
        req: pb::RevokeApiKeyRequest,
    ) -> Result<pb::ApiKey, ApiError> {
        let key_id = parse_key_name("name", &req.name)?;
        let now = self.clock().now();
        let revoked = self
            .store()
            .revoke_api_key(&p.tenant, &key_id, now)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                resource_type: "aftersales.v1.ApiKey",
                name: req.name.clone(),
            })?;
        self.forget_key(&key_id);
        tracing::info!(key_id = %key_id, revoked_by = %p.account, "api key revoked");
        Ok(key_to_pb(&revoked, now))
    }

    pub(crate) async fn rotate_api_key_impl(
        &self,
        p: &Principal,
        req: pb::RotateApiKeyRequest,
    ) -> Result<pb::CreateApiKeyResponse, ApiError> {
        let mut v = Violations::default();
        let key_id = match parse_key_name("name", &req.name) {
            Ok(id) => Some(id),
            Err(ApiError::InvalidArgument(more)) => {
                v.extend(more);
                None
            }
            Err(e) => return Err(e),
        };
        let grace = match req.grace_period.as_ref().map(from_duration) {
            None => Some(chrono::Duration::zero()),
            Some(Some(d)) if d >= chrono::Duration::zero() && d <= MAX_ROTATION_GRACE => Some(d),
            Some(_) => {
                v.add("grace_period", "must be between 0 and 7 days");
                None
            }
        };
        v.into_result()?;
        let (Some(key_id), Some(grace)) = (key_id, grace) else {
            return Err(ApiError::Internal(
                "rotation validation let a missing field through".into(),
            ));
        };
        let not_found = || ApiError::NotFound {
            resource_type: "aftersales.v1.ApiKey",
            name: req.name.clone(),
        };
        let old = self
            .store()
            .api_key(&key_id)
            .await?
            .filter(|k| k.tenant == p.tenant)
            .ok_or_else(not_found)?;
        let now = self.clock().now();
        let grant = KeyGrant::successor_of(&old, p.account.clone());
        let (key, record) = mint(grant, now).await?;
        self.store()
            .rotate_api_key(&p.tenant, &key_id, &record, now + grace)
            .await?
            .ok_or_else(not_found)?;
        self.forget_key(&key_id);
        tracing::info!(
            old_key_id = %key_id,
            key_id = %record.key_id,
            grace_seconds = grace.num_seconds(),
            rotated_by = %p.account,
            "api key rotated"
        );
        Ok(pb::CreateApiKeyResponse {
            api_key: Some(key_to_pb(&record, now)),
            key,
        })
    }
}
