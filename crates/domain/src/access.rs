//! Who may do what. Every allow/deny decision of the service is made by [`Principal::authorize`]
//! so that roles, the platform-task permission (TB-22) and shop scoping are one table, read
//! and tested in one place, not re-implemented per RPC.
//!
//! Roles are coarse on purpose; the platform-task permission is separate because Taobao grants
//! it separately from the rest of the workbench (TB-22).

use crate::ShopId;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including key management.
    Owner,
    /// Works cases: reads and acts.
    Agent,
    /// Reads only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Agent, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected owner, agent or viewer"))
    }
}

/// What a call needs. Each RPC maps to exactly one (the API's method table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read cases, events, deadlines, policies, checks.
    Read,
    /// Change cases: ingest, create, every merchant action.
    Act,
    /// Create, list, revoke and rotate the tenant's API keys.
    ManageKeys,
}

/// Which shops an account may see. A key without a shop list sees every shop of its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ShopScope {
    #[default]
    AllShops,
    /// Never empty (a key scoped to no shop could do nothing; creation refuses it).
    Only(Vec<ShopId>),
}

impl ShopScope {
    pub fn allows(&self, shop: &ShopId) -> bool {
        match self {
            ShopScope::AllShops => true,
            ShopScope::Only(shops) => shops.contains(shop),
        }
    }

    /// The shops a listing must be limited to: empty means no limit.
    pub fn shops(&self) -> &[ShopId] {
        match self {
            ShopScope::AllShops => &[],
            ShopScope::Only(shops) => shops,
        }
    }

    /// Is every shop `other` allows also allowed here? (A key may only grant what its
    /// creator has.)
    pub fn covers(&self, other: &ShopScope) -> bool {
        match (self, other) {
            (ShopScope::AllShops, _) => true,
            (ShopScope::Only(_), ShopScope::AllShops) => false,
            (ShopScope::Only(mine), ShopScope::Only(theirs)) => {
                theirs.iter().all(|s| mine.contains(s))
            }
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: crate::TenantId,
    pub account: String,
    pub role: Role,
    /// TB-22: may reply to platform tasks (服务待办--平台任务).
    pub platform_task: bool,
    pub shops: ShopScope,
    pub key_id: String,
}

/// The case (or would-be case) a call touches, as far as access is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub shop: &'a ShopId,
    /// The case is a platform task (TB-20 … TB-31): acting on it needs TB-22's permission.
    pub platform_task: bool,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("account {account} has role {role} and may not {what}")]
    Role {
        account: String,
        role: &'static str,
        what: &'static str,
    },
    #[error(
        "account {account} lacks the platform-task permission (服务待办--平台任务) needed to answer platform tasks (TB-22)"
    )]
    PlatformTaskPermission { account: String },
    /// The shop is outside the account's scope. For a resource named by id the API answers
    /// NOT_FOUND (it must not reveal that the case exists); for a shop the caller named
    /// itself, PERMISSION_DENIED.
    #[error("account {account} is not scoped to shop {shop}")]
    Shop { account: String, shop: String },
}

impl Denial {
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::Role { .. } => "ROLE_NOT_PERMITTED",
            Denial::PlatformTaskPermission { .. } => "PLATFORM_TASK_PERMISSION_REQUIRED",
            Denial::Shop { .. } => "SHOP_OUT_OF_SCOPE",
        }
    }
}

impl Principal {
    /// The one access decision: may this caller do `need`, on `target` if the call touches a
    /// case or shop? Called once per RPC before it runs (no target yet) and again once the
    /// case it touches is known.
    pub fn authorize(&self, need: Permission, target: Option<Target<'_>>) -> Result<(), Denial> {
        let role_allows = match (self.role, need) {
            (_, Permission::Read) => true,
            (Role::Owner | Role::Agent, Permission::Act) => true,
            // Key management is all-shops by nature: a shop-scoped owner could otherwise mint
            // an unscoped key.
            (Role::Owner, Permission::ManageKeys) => self.shops == ShopScope::AllShops,
            _ => false,
        };
        if !role_allows {
            return Err(Denial::Role {
                account: self.account.clone(),
                role: self.role.as_str(),
                what: match need {
                    Permission::Read => "read",
                    Permission::Act => "change cases",
                    Permission::ManageKeys => "manage API keys (an owner of every shop may)",
                },
            });
        }
        let Some(target) = target else {
            return Ok(());
        };
        if !self.shops.allows(target.shop) {
            return Err(Denial::Shop {
                account: self.account.clone(),
                shop: target.shop.to_string(),
            });
        }
        // TB-22: reading a task is open to every role; answering it is not.
        if need == Permission::Act && target.platform_task && !self.platform_task {
            return Err(Denial::PlatformTaskPermission {
                account: self.account.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;

    fn principal(role: Role, platform_task: bool, shops: ShopScope) -> Principal {
        Principal {
            tenant: TenantId::parse("t1").unwrap(),
            account: "alice".into(),
            role,
            platform_task,
            shops,
            key_id: "0011223344556677".into(),
        }
    }

    fn shop(s: &str) -> ShopId {
        ShopId::parse(s).unwrap()
    }

    #[test]
    fn roles_grant_read_act_and_key_management_in_order() {
        let table = [
            (Role::Owner, [true, true, true]),
            (Role::Agent, [true, true, false]),
            (Role::Viewer, [true, false, false]),
        ];
        for (role, expected) in table {
            let p = principal(role, false, ShopScope::AllShops);
            let got = [Permission::Read, Permission::Act, Permission::ManageKeys]
                .map(|need| p.authorize(need, None).is_ok());
            assert_eq!(got, expected, "{role:?}");
        }
    }

    #[test]
    fn tb22_answering_a_platform_task_needs_the_permission_reading_does_not() {
        let s = shop("tmall-flagship");
        let task = Target {
            shop: &s,
            platform_task: true,
        };
        let without = principal(Role::Agent, false, ShopScope::AllShops);
        assert!(without.authorize(Permission::Read, Some(task)).is_ok());
        assert_eq!(
            without
                .authorize(Permission::Act, Some(task))
                .unwrap_err()
                .reason(),
            "PLATFORM_TASK_PERMISSION_REQUIRED"
        );
        let with = principal(Role::Agent, true, ShopScope::AllShops);
        assert!(with.authorize(Permission::Act, Some(task)).is_ok());
        // The permission never lifts a viewer to acting.
        let viewer = principal(Role::Viewer, true, ShopScope::AllShops);
        assert!(viewer.authorize(Permission::Act, Some(task)).is_err());
    }

    #[test]
    fn a_shop_scoped_account_sees_only_its_shops_and_cannot_manage_keys() {
        let mine = shop("jd-outlet");
        let other = shop("tmall-flagship");
        let p = principal(Role::Owner, true, ShopScope::Only(vec![mine.clone()]));
        let on = |s| {
            Some(Target {
                shop: s,
                platform_task: false,
            })
        };
        assert!(p.authorize(Permission::Act, on(&mine)).is_ok());
        assert_eq!(
            p.authorize(Permission::Read, on(&other))
                .unwrap_err()
                .reason(),
            "SHOP_OUT_OF_SCOPE"
        );
        assert!(p.authorize(Permission::ManageKeys, None).is_err());
    }

    #[test]
    fn a_scope_covers_only_its_own_shops() {
        let a = shop("a");
        let b = shop("b");
        let only_a = ShopScope::Only(vec![a.clone()]);
        let both = ShopScope::Only(vec![a, b]);
        assert!(ShopScope::AllShops.covers(&both));
        assert!(both.covers(&only_a));
        assert!(!only_a.covers(&both));
        assert!(!only_a.covers(&ShopScope::AllShops));
    }
}
