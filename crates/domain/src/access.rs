//! Who may do what. Roles are coarse on purpose; the platform-task permission is separate
//! because Taobao grants it separately (TB-22).

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
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }

    pub fn can_act(self) -> bool {
        matches!(self, Role::Owner | Role::Agent)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "owner" => Ok(Role::Owner),
            "agent" => Ok(Role::Agent),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!(
                "unknown role {s:?}: expected owner, agent or viewer"
            )),
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
    pub key_id: String,
}
