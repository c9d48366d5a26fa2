//! Identifiers as types that cannot hold bad values ("parse, don't validate").

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} {value:?} contains characters outside {allowed}")]
    BadCharacters {
        what: &'static str,
        value: String,
        allowed: &'static str,
    },
}

fn check(
    what: &'static str,
    raw: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
    allowed: &'static str,
) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty { what });
    }
    let len = raw.chars().count();
    if len > max {
        return Err(IdError::TooLong { what, len, max });
    }
    if !raw.chars().all(ok) {
        return Err(IdError::BadCharacters {
            what,
            value: raw.to_string(),
            allowed,
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $ok:expr, $allowed:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const WHAT: &'static str = $what;

            pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw: String = raw.into();
                check($what, &raw, $max, $ok, $allowed)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn printable_char(c: char) -> bool {
    !c.is_control() && c != '/'
}

string_id!(
    /// A tenant: one merchant organisation. Every row carries one.
    TenantId, "tenant id", 63, slug_char, "a-z 0-9 - _"
);
string_id!(
    /// The merchant's shop on one platform, as the merchant names it in this service.
    ShopId, "shop id", 63, slug_char, "a-z 0-9 - _"
);
string_id!(
    /// Platform code: `taobao`, `pinduoduo`, `alibaba1688`, `jd`, and whatever module is added
    /// next. A string, not an enum, so a new platform needs no change here.
    PlatformCode, "platform", 32, slug_char, "a-z 0-9 - _"
);
string_id!(
    /// This service's id for a case (a time-ordered UUID in text form).
    CaseId, "case id", 64, |c: char| c.is_ascii_alphanumeric() || c == '-', "a-z A-Z 0-9 -"
);
string_id!(
    /// The platform's own id for an after-sales record (refund_id, after_sales_id, serviceId…).
    /// Kept as a string: some platforms' ids exceed i64.
    PlatformCaseId, "platform case id", 128, printable_char, "printable characters except '/'"
);
string_id!(
    /// An order or sub-order id as the platform spells it.
    OrderId, "order id", 128, printable_char, "printable characters except '/'"
);
string_id!(
    /// A merchant account (sub-account) that acts through the API.
    AccountId, "account id", 128, printable_char, "printable characters except '/'"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_bad_values() {
        assert!(TenantId::parse("acme-shop_1").is_ok());
        assert!(matches!(TenantId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            TenantId::parse("Acme"),
            Err(IdError::BadCharacters { .. })
        ));
        assert!(matches!(
            TenantId::parse("a".repeat(64)),
            Err(IdError::TooLong { .. })
        ));
        assert!(PlatformCaseId::parse("9223372036854775808123").is_ok());
        assert!(PlatformCaseId::parse("a/b").is_err());
        assert!(OrderId::parse("tid\n").is_err());
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let ok: ShopId = serde_json::from_str("\"tmall-flagship\"").unwrap();
        assert_eq!(ok.as_str(), "tmall-flagship");
        assert!(serde_json::from_str::<ShopId>("\"Bad Shop\"").is_err());
    }
}
