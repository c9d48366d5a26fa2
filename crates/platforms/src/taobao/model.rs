//! The native Taobao payload, exactly as the TOP API returns it (`taobao.refund.get`,
//! `Refund` struct; see platform-apis.md §1.3).
//!
//! These types only *read* the payload: every enumerated field (status, good_status,
//! cs_status…) stays the raw string the platform sent, and `transformers` maps it with an
//! explicit match, so an unknown value is an error carrying the raw value and never a
//! silent default.
//!
//! Two shapes are accepted: the wrapped response `{"refund_get_response":{"refund":{…}}}`
//! (also `{"refund":{…}}`, what TOP returns with `simplify=true`) and a bare refund object.
//! A TOP `error_response` is reported as a mapping error.

use crate::MappingError;
use serde::de::{self, Deserializer, Unexpected};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

use super::PLATFORM;

/// A scalar TOP sends either as a JSON string or as a JSON number (ids, codes, versions,
/// and—by some gateways—money), kept as its exact text.
///
/// Numbers are read through [`RawValue`], never through `f64` or `u64`, so an id such as
/// `1234567890123456789012` keeps every digit. This needs the serde_json deserializer (which
/// is what [`parse_payload`] uses); it cannot be read back from a `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// Sent as a JSON string; holds the unescaped string.
    Str(String),
    /// Sent as a JSON number; holds the number's literal text, e.g. `200.07` or `42`.
    Num(String),
}

impl Scalar {
    /// The value as text, whichever way it was sent.
    pub fn text(&self) -> &str {
        match self {
            Scalar::Str(s) | Scalar::Num(s) => s,
        }
    }

    /// Whether the text is a plain non-negative integer literal (`0`, `42`, no sign, no
    /// fraction, no exponent).
    pub fn is_plain_integer(&self) -> bool {
        let t = self.text();
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(d)?;
        let text = raw.get().trim();
        match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(text)
                .map(Scalar::Str)
                .map_err(de::Error::custom),
            Some(b'-' | b'0'..=b'9') => Ok(Scalar::Num(text.to_string())),
            _ => Err(de::Error::invalid_type(
                Unexpected::Other(text),
                &"a string or a number",
            )),
        }
    }
}

/// A boolean TOP sends as `true`/`false`, or (through some XML-to-JSON gateways) as the
/// strings `"true"`/`"false"`. Anything else is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopBool(pub bool);

impl<'de> Deserialize<'de> for TopBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = TopBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TopBool, E> {
                Ok(TopBool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TopBool, E> {
                match v {
                    "true" => Ok(TopBool(true)),
                    "false" => Ok(TopBool(false)),
                    other => Err(E::invalid_value(Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `refund_remind_timeout`: the deadline Taobao itself shows on the refund detail page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundRemindTimeout {
    /// "The type of reminder shown on the refund detail". Its values are not documented
    /// anywhere we found [U]: kept raw, never interpreted.
    #[serde(default)]
    pub remind_type: Option<Scalar>,
    /// Whether a timeout is running.
    #[serde(default)]
    pub exist_timeout: Option<TopBool>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// One refund (`Refund` in the TOP SDKs). Every field is optional here: which ones are
/// required is decided, with a precise error, in `transformers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct Refund {
    // Identifiers.
    pub refund_id: Option<Scalar>,
    pub tid: Option<Scalar>,
    pub oid: Option<Scalar>,
    pub alipay_no: Option<Scalar>,
    pub num_iid: Option<Scalar>,
    pub sku: Option<String>,
    pub outer_id: Option<String>,
    pub title: Option<String>,
    pub num: Option<Scalar>,

    // Parties.
    pub buyer_nick: Option<String>,
    pub buyer_open_uid: Option<String>,
    pub seller_nick: Option<String>,

    // State.
    /// WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS, … (platform-apis.md §1.2).
    pub status: Option<String>,
    /// Trade status when read: WAIT_SELLER_SEND_GOODS, WAIT_BUYER_CONFIRM_GOODS, …
    pub order_status: Option<String>,
    /// BUYER_NOT_RECEIVED / BUYER_RECEIVED / BUYER_RETURNED_GOODS.
    pub good_status: Option<String>,
    /// Whether the buyer must send the goods back.
    pub has_good_return: Option<TopBool>,
    /// `onsale` (售中) / `aftersale` (售后).
    pub refund_phase: Option<String>,
    /// Customer-service involvement, 1..6.
    pub cs_status: Option<Scalar>,
    /// Advance payment (先行垫付), 0..5.
    pub advance_status: Option<Scalar>,
    /// `cannot_refuse` / `refund_onweb` [sic: TOP's spelling].
    pub operation_contraint: Option<String>,
    pub dispute_type: Option<String>,
    pub special_refund_type: Option<String>,
    /// 退款扩展属性: `;key:value;…` as TOP writes it.
    pub attribute: Option<String>,

    // Money: yuan strings with two decimals ("200.07").
    pub refund_fee: Option<Scalar>,
    pub total_fee: Option<Scalar>,
    pub payment: Option<Scalar>,
    pub price: Option<Scalar>,
    pub split_taobao_fee: Option<Scalar>,
    pub split_seller_fee: Option<Scalar>,

    // Text.
    pub reason: Option<String>,
    pub desc: Option<String>,

    // Times and versions.
    /// When the buyer applied, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub created: Option<String>,
    pub modified: Option<String>,
    /// Epoch-millis timestamp, for optimistic version checks.
    pub refund_version: Option<Scalar>,
    pub refund_remind_timeout: Option<RefundRemindTimeout>,

    // Return logistics.
    pub company_name: Option<String>,
    pub sid: Option<String>,
    pub good_return_time: Option<String>,
    /// The merchant's return address, one line of text.
    pub address: Option<String>,
    /// free / post / express / ems.
    pub shipping_type: Option<String>,
}

/// The outer layer of a TOP JSON answer. Each member is kept raw and parsed on its own so a
/// problem is reported against the right path.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    refund_get_response: Option<Box<RawValue>>,
    #[serde(default)]
    refund: Option<Box<RawValue>>,
    #[serde(default)]
    error_response: Option<TopError>,
}

#[derive(Debug, Deserialize)]
struct RefundGetResponse {
    #[serde(default)]
    refund: Option<Box<RawValue>>,
}

/// TOP's error answer: `{"error_response":{"code":15,"msg":"…","sub_code":"…","sub_msg":"…"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TopError {
    code: Option<Scalar>,
    msg: Option<String>,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

pub(crate) fn json_error(
    field: &str,
    input: &str,
    e: &serde_json::Error,
    what: &str,
) -> MappingError {
    crate::json::json_error(PLATFORM, field, input, e, what)
}

pub(crate) fn expect_object(field: &str, text: &str) -> Result<(), MappingError> {
    crate::json::expect_object(PLATFORM, field, text)
}

fn parse_refund(raw: &RawValue) -> Result<Refund, MappingError> {
    expect_object("refund", raw.get())?;
    serde_json::from_str::<Refund>(raw.get()).map_err(|e| {
        json_error(
            "refund",
            raw.get(),
            &e,
            "does not match the TOP Refund shape",
        )
    })
}

/// Read a `taobao.refund.get` answer (wrapped or bare) into the native [`Refund`].
pub fn parse_payload(native: &[u8]) -> Result<Refund, MappingError> {
    let text = std::str::from_utf8(native).map_err(|e| {
        MappingError::new(
            PLATFORM,
            "$",
            String::from_utf8_lossy(native),
            format!("not UTF-8: {e}"),
        )
    })?;
    expect_object("$", text)?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| json_error("$", text, &e, "not a TOP JSON object"))?;
    if let Some(err) = envelope.error_response {
        let code = err.code.as_ref().map(Scalar::text).unwrap_or("");
        let sub = err.sub_code.as_deref().unwrap_or("");
        return Err(MappingError::new(
            PLATFORM,
            "error_response",
            format!("{code} {sub}").trim().to_string(),
            format!(
                "TOP answered with an error instead of a refund: {} {}",
                err.msg.as_deref().unwrap_or(""),
                err.sub_msg.as_deref().unwrap_or("")
            )
            .trim()
            .to_string(),
        ));
    }
    if let Some(resp) = envelope.refund_get_response {
        expect_object("refund_get_response", resp.get())?;
        let inner: RefundGetResponse = serde_json::from_str(resp.get()).map_err(|e| {
            json_error(
                "refund_get_response",
                resp.get(),
                &e,
                "not a refund_get_response object",
            )
        })?;
        let refund = inner.refund.ok_or_else(|| {
            MappingError::new(
                PLATFORM,
                "refund_get_response.refund",
                "",
                "missing: the response holds no refund",
            )
        })?;
        return parse_refund(&refund);
    }
    if let Some(refund) = envelope.refund {
        return parse_refund(&refund);
    }
    // A bare refund object.
    serde_json::from_str::<Refund>(text)
        .map_err(|e| json_error("refund", text, &e, "does not match the TOP Refund shape"))
}
