//! ListCases filters (a documented subset of AIP-160) and opaque, tamper-evident page tokens
//! (AIP-158) that are bound to the filter they were issued for.

use crate::convert::{due_party_from_pb, kind_from_pb, state_from_pb};
use crate::error::ApiError;
use aftersales_domain::satisfaction::SatisfactionStatus;
use aftersales_domain::{CaseId, PlatformCode, ShopId};
use aftersales_proto::v1 as pb;
use aftersales_store::{CaseQuery, DueDeadlineQuery};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

const FILTER_FIELD: &str = "filter";

fn bad(problem: impl Into<String>) -> ApiError {
    ApiError::field(FILTER_FIELD, problem)
}

/// Split `a = "x" AND b > "y"` into conditions, respecting quotes.
fn split_and(filter: &str) -> Result<Vec<String>, ApiError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let tokens: Vec<&str> = filter.split(' ').collect();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        if !in_quotes && tok == "AND" {
            parts.push(std::mem::take(&mut current));
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(tok);
            in_quotes ^= tok.matches('"').count() % 2 == 1;
        }
        i += 1;
    }
    if in_quotes {
        return Err(bad("unterminated quoted value"));
    }
    parts.push(current);
    let parts: Vec<String> = parts.into_iter().map(|p| p.trim().to_string()).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("empty condition around AND"));
    }
    Ok(parts)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

fn parse_time(field: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(unquote(v))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(format!("{field}: {v} is not an RFC 3339 timestamp")))
}

fn conditions(filter: &str) -> Result<Vec<String>, ApiError> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    if filter.len() > 2000 {
        return Err(bad("longer than 2000 characters"));
    }
    split_and(filter.trim())
}

/// `overdue = true`: due before `now`. The only value: "not overdue" would also match cases
/// with no deadline at all, which is a different question.
fn overdue(value: &str) -> Result<(), ApiError> {
    match unquote(value) {
        "true" => Ok(()),
        other => Err(bad(format!(
            "overdue: only `overdue = true` is supported, not {other}"
        ))),
    }
}

/// Keep the tighter of two exclusive upper bounds (`overdue` with an explicit `<`).
fn tighten(slot: &mut Option<DateTime<Utc>>, t: DateTime<Utc>) {
    *slot = Some(slot.map_or(t, |old| old.min(t)));
}

/// A deadline upper bound that two conditions may set, each at most once: an explicit
/// `field < T` / `field <= T`, and `overdue = true` (before now). Both together keep the tighter.
#[derive(Default)]
struct DueBound {
    explicit: bool,
    overdue: bool,
}

impl DueBound {
    fn explicit(
        &mut self,
        slot: &mut Option<DateTime<Utc>>,
        field: &str,
        op: &str,
        value: &str,
    ) -> Result<(), ApiError> {
        let mut t = parse_time(field, value)?;
        if op == "<=" {
            t += chrono::Duration::milliseconds(1);
        }
        if std::mem::replace(&mut self.explicit, true) {
            return Err(bad(format!("{field} appears more than once")));
        }
        tighten(slot, t);
        Ok(())
    }

    fn overdue(
        &mut self,
        slot: &mut Option<DateTime<Utc>>,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        overdue(value)?;
        if std::mem::replace(&mut self.overdue, true) {
            return Err(bad("overdue appears more than once"));
        }
        tighten(slot, now);
        Ok(())
    }
}

fn platform_value(value: &str) -> Result<PlatformCode, ApiError> {
    PlatformCode::parse(unquote(value)).map_err(|e| bad(format!("platform: {e}")))
}

/// X-03: UNCHECKED (resolved, nobody asked yet) or the latest check's SatisfactionOutcome.
fn satisfaction_value(value: &str) -> Result<SatisfactionStatus, ApiError> {
    match unquote(value) {
        "UNCHECKED" => Ok(SatisfactionStatus::Unchecked),
        other => pb::SatisfactionOutcome::from_str_name(&format!("SATISFACTION_OUTCOME_{other}"))
            .and_then(crate::convert::satisfaction_outcome_from_pb)
            .map(SatisfactionStatus::Checked)
            .ok_or_else(|| {
                bad(format!(
                    "satisfaction: {other} is not UNCHECKED, SATISFIED, DISSATISFIED or UNREACHABLE"
                ))
            }),
    }
}

fn shop_value(value: &str) -> Result<ShopId, ApiError> {
    ShopId::parse(unquote(value)).map_err(|e| bad(format!("shop: {e}")))
}

/// Parse the filter into the store's query. Anything outside the documented subset is
/// INVALID_ARGUMENT naming the problem, never ignored. `now` gives `overdue` its meaning.
pub fn parse_filter(filter: &str, now: DateTime<Utc>) -> Result<CaseQuery, ApiError> {
    let mut q = CaseQuery::default();
    let mut bound = DueBound::default();
    for cond in conditions(filter)? {
        let (field, op, value) = split_condition(&cond)?;
        match (field, op) {
            ("platform", "=") => set_once(&mut q.platform, platform_value(value)?, field)?,
            ("shop", "=") => set_once(&mut q.shop, shop_value(value)?, field)?,
            ("kind", "=") => {
                let name = format!("CASE_KIND_{}", unquote(value));
                let k = pb::CaseKind::from_str_name(&name)
                    .and_then(kind_from_pb)
                    .ok_or_else(|| bad(format!("kind: {value} is not a CaseKind (e.g. RETURN_AND_REFUND)")))?;
                set_once(&mut q.kind, k, field)?;
            }
            ("state", "=") => {
                let name = format!("CASE_STATE_{}", unquote(value));
                let s = pb::CaseState::from_str_name(&name)
                    .and_then(state_from_pb)
                    .ok_or_else(|| bad(format!("state: {value} is not a CaseState (e.g. AWAITING_MERCHANT)")))?;
                set_once(&mut q.state, s, field)?;
            }
            ("next_deadline_time", "<" | "<=") => {
                bound.explicit(&mut q.next_deadline_before, field, op, value)?
            }
            ("overdue", "=") => bound.overdue(&mut q.next_deadline_before, value, now)?,
            ("next_deadline_time", ">" | ">=") => {
                let mut t = parse_time(field, value)?;
                if op == ">=" {
                    t -= chrono::Duration::milliseconds(1);
                }
                set_once(&mut q.next_deadline_after, t, field)?;
            }
            ("update_time", ">" | ">=") => {
                let mut t = parse_time(field, value)?;
                if op == ">=" {
                    t -= chrono::Duration::milliseconds(1);
                }
                set_once(&mut q.updated_after, t, field)?;
            }
            ("needs_refresh", "=") => match unquote(value) {
                "true" => q.needs_refresh = true,
                other => {
                    return Err(bad(format!(
                        "needs_refresh: only `needs_refresh = true` is supported, not {other}"
                    )))
                }
            },
            ("satisfaction", "=") => {
                set_once(&mut q.satisfaction, satisfaction_value(value)?, field)?
            }
            (f, o) => {
                return Err(bad(format!(
                    "unsupported condition `{f} {o}`: supported are platform =, shop =, kind =, state =, \
                     next_deadline_time < <= > >=, overdue = true, update_time > >=, \
                     needs_refresh = true, satisfaction =, joined by AND"
                )))
            }
        }
    }
    Ok(q)
}

/// The ListDueDeadlines filter: `shop =`, `platform =`, `due_party =`, `due_time < <=`,
/// `overdue = true`, joined by AND.
pub fn parse_due_filter(filter: &str, now: DateTime<Utc>) -> Result<DueDeadlineQuery, ApiError> {
    let mut q = DueDeadlineQuery::default();
    let mut bound = DueBound::default();
    for cond in conditions(filter)? {
        let (field, op, value) = split_condition(&cond)?;
        match (field, op) {
            ("platform", "=") => set_once(&mut q.platform, platform_value(value)?, field)?,
            ("shop", "=") => set_once(&mut q.shop, shop_value(value)?, field)?,
            ("due_party", "=") => {
                let name = format!("DUE_PARTY_{}", unquote(value));
                let p = pb::DueParty::from_str_name(&name)
                    .and_then(due_party_from_pb)
                    .ok_or_else(|| {
                        bad(format!(
                            "due_party: {value} is not MERCHANT, BUYER or PLATFORM"
                        ))
                    })?;
                set_once(&mut q.due_party, p, field)?;
            }
            ("due_time", "<" | "<=") => bound.explicit(&mut q.due_before, field, op, value)?,
            ("overdue", "=") => bound.overdue(&mut q.due_before, value, now)?,
            (f, o) => {
                return Err(bad(format!(
                "unsupported condition `{f} {o}`: supported are shop =, platform =, due_party =, \
                     due_time < <=, overdue = true, joined by AND"
            )))
            }
        }
    }
    Ok(q)
}

/// Each field may be constrained once; a repeated one is refused rather than silently
/// overwritten.
fn set_once<T>(slot: &mut Option<T>, value: T, field: &str) -> Result<(), ApiError> {
    match slot.replace(value) {
        Some(_) => Err(bad(format!("{field} appears more than once"))),
        None => Ok(()),
    }
}

fn split_condition(cond: &str) -> Result<(&str, &str, &str), ApiError> {
    for op in ["<=", ">=", "!=", "=", "<", ">", ":"] {
        if let Some(pos) = cond.find(op) {
            let field = cond[..pos].trim();
            let value = cond[pos + op.len()..].trim();
            if op == "!=" || op == ":" {
                return Err(bad(format!("operator {op} is not supported")));
            }
            if field.is_empty() || value.is_empty() {
                return Err(bad(format!("`{cond}` is not `field operator value`")));
            }
            return Ok((field, op, value));
        }
    }
    Err(bad(format!(
        "`{cond}` has no comparison operator (OR and NOT are not supported)"
    )))
}

/// Signs page tokens so a client cannot forge a position or reuse one with another filter.
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(<redacted>)")
    }
}

impl PageTokens {
    pub fn new(secret: &[u8]) -> Self {
        PageTokens {
            key: Sha256::digest(secret).into(),
        }
    }

    fn mac(&self, scope: &str, payload: &str) -> [u8; 32] {
        // HMAC-SHA256 (RFC 2104) over the scope (method + filter) and the position.
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, b) in self.key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(scope)
            .chain_update([0])
            .chain_update(payload)
            .finalize();
        Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize()
            .into()
    }

    pub fn issue(&self, scope: &str, position: &str) -> String {
        let mac = self.mac(scope, position);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(position),
            URL_SAFE_NO_PAD.encode(&mac[..16])
        )
    }

    pub fn open(&self, scope: &str, token: &str) -> Result<String, ApiError> {
        let invalid = || {
            ApiError::field(
                "page_token",
                "not a token from a previous call with the same filter",
            )
        };
        let (pos, mac) = token.split_once('.').ok_or_else(invalid)?;
        let pos = String::from_utf8(URL_SAFE_NO_PAD.decode(pos).map_err(|_| invalid())?)
            .map_err(|_| invalid())?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| invalid())?;
        let expected = self.mac(scope, &pos);
        use subtle::ConstantTimeEq;
        if mac.len() != 16 || !bool::from(mac.as_slice().ct_eq(&expected[..16])) {
            return Err(invalid());
        }
        Ok(pos)
    }

    /// Finish a page fetched with `limit = size + 1`: keep `size` items and, when the extra one
    /// came back, the token for the position of the last kept item.
    pub fn finish_page<T>(
        &self,
        items: &mut Vec<T>,
        size: u32,
        scope: &str,
        position: impl Fn(&T) -> String,
    ) -> String {
        if items.len() <= size as usize {
            return String::new();
        }
        items.truncate(size as usize);
        items
            .last()
            .map(|last| self.issue(scope, &position(last)))
            .unwrap_or_default()
    }

    pub fn open_case_id(&self, scope: &str, token: &str) -> Result<CaseId, ApiError> {
        let pos = self.open(scope, token)?;
        CaseId::parse(pos).map_err(|_| ApiError::field("page_token", "corrupt position"))
    }
}

/// Page size per AIP-158: 0 → default, above max → max, negative → error.
pub fn page_size(raw: i32, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        n if n < 0 => Err(ApiError::field("page_size", "must not be negative")),
        0 => Ok(default),
        n => Ok((n as u32).min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersales_domain::{CaseKind, CaseState};

    #[test]
    fn filters_parse() {
        let q = parse_filter(
            r#"platform = "taobao" AND shop = "tmall-flagship" AND kind = RETURN_AND_REFUND AND state = AWAITING_MERCHANT AND next_deadline_time < "2026-11-25T00:00:00Z" AND update_time > "2026-11-01T00:00:00+08:00""#,
            now(),
        )
        .unwrap();
        assert_eq!(q.platform.unwrap().as_str(), "taobao");
        assert_eq!(q.shop.unwrap().as_str(), "tmall-flagship");
        assert_eq!(q.kind, Some(CaseKind::ReturnAndRefund));
        assert_eq!(q.state, Some(CaseState::AwaitingMerchant));
        assert_eq!(
            q.next_deadline_before.unwrap().to_rfc3339(),
            "2026-11-25T00:00:00+00:00"
        );
        assert_eq!(
            q.updated_after.unwrap().to_rfc3339(),
            "2026-10-31T16:00:00+00:00"
        );
    }

    #[test]
    fn unsupported_filters_are_refused() {
        for f in [
            "platform != \"taobao\"",
            "state = OPEN",
            "buyer = \"x\"",
            "platform = \"taobao\" OR platform = \"jd\"",
            "platform = \"taobao\" AND",
            "update_time > yesterday",
            "platform = \"a\" AND platform = \"b\"",
            "shop = \"unterminated",
            "overdue = false",
            "overdue = true AND overdue = true",
            "next_deadline_time < \"2026-11-25T00:00:00Z\" AND next_deadline_time < \"2026-11-26T00:00:00Z\"",
        ] {
            assert!(parse_filter(f, now()).is_err(), "{f} should be refused");
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn overdue_means_due_before_now_and_combines_with_an_explicit_bound() {
        assert_eq!(
            parse_filter("overdue = true", now())
                .unwrap()
                .next_deadline_before,
            Some(now())
        );
        let earlier = r#"overdue = true AND next_deadline_time < "2026-11-20T00:00:00Z""#;
        assert_eq!(
            parse_filter(earlier, now())
                .unwrap()
                .next_deadline_before
                .unwrap()
                .to_rfc3339(),
            "2026-11-20T00:00:00+00:00"
        );
        let later = r#"next_deadline_time < "2026-12-01T00:00:00Z" AND overdue = true"#;
        assert_eq!(
            parse_filter(later, now()).unwrap().next_deadline_before,
            Some(now())
        );
    }

    #[test]
    fn due_deadline_filters_parse_and_refuse_the_rest() {
        let q = parse_due_filter(
            r#"shop = "s1" AND platform = "taobao" AND due_party = MERCHANT AND due_time <= "2026-11-23T00:00:00Z""#,
            now(),
        )
        .unwrap();
        assert_eq!(q.shop.unwrap().as_str(), "s1");
        assert_eq!(q.platform.unwrap().as_str(), "taobao");
        assert_eq!(q.due_party, Some(aftersales_domain::DueParty::Merchant));
        assert_eq!(
            q.due_before.unwrap().to_rfc3339(),
            "2026-11-23T00:00:00.001+00:00"
        );
        assert_eq!(
            parse_due_filter("overdue = true", now())
                .unwrap()
                .due_before,
            Some(now())
        );
        for f in [
            "due_party = SELLER",
            "due_time > \"2026-11-23T00:00:00Z\"",
            "state = AWAITING_MERCHANT",
            "overdue = 1",
        ] {
            assert!(parse_due_filter(f, now()).is_err(), "{f} should be refused");
        }
    }

    #[test]
    fn page_tokens_are_bound_to_scope() {
        let t = PageTokens::new(b"secret");
        let tok = t.issue("ListCases|state = X", "0190-abc");
        assert_eq!(t.open("ListCases|state = X", &tok).unwrap(), "0190-abc");
        assert!(t.open("ListCases|state = Y", &tok).is_err());
        assert!(PageTokens::new(b"other")
            .open("ListCases|state = X", &tok)
            .is_err());
        let mut forged = tok.clone();
        forged.replace_range(0..2, "AA");
        assert!(t.open("ListCases|state = X", &forged).is_err());
    }
}
