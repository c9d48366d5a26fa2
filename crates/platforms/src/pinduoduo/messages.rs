//! Pinduoduo refund messages (消息服务, pushed over the websocket
//! `wss://message-api.pinduoduo.com`, platform-apis.md §2.5): the native message and its
//! mapping into the common [`PlatformNotice`].
//!
//! A refund message carries **no status**: it says that after-sales order `refund_id` of
//! order `tid` changed and roughly how (the type). It becomes a notice that marks the case
//! for a fresh `pdd.refund.information.get`; it never moves the state.
//!
//! # Accepted shapes
//!
//! - `{"type":"pdd_refund_RefundCreated","mallID":171504183,"content":"{…}"}`: the message as
//!   the PDD SDKs hand it over (`Message.getType()`, `getMallID()`, `getContent()`; a stored
//!   message of this form is the source of §2.5's example). `content` is a JSON *string*
//!   holding the object.
//! - The same with `content` as a JSON object, for callers that already decoded it.
//! - `topic` instead of `type`, for integrations that forward every platform's messages
//!   under Taobao's name for the member. Both at once are refused.
//!
//! Other members are ignored. Error paths are relative to the message: `type` (or `topic`),
//! `content`, `content.refund_id`, …
//!
//! # Content fields
//!
//! From the stored message (§2.5 [S]): `mall_id`, `refund_id` (the after-sales id, the `id`
//! of the list and detail records), `tid` (the order_sn), `refund_fee` (integer **fen**:
//! 1990), `bill_type` and `operation` (codes whose meanings were not found [U]: kept raw,
//! never interpreted), `modified` (epoch milliseconds).

use super::model::{expect_object, json_error, utf8, Scalar};
use super::transformers::{err, fen, id_text, missing, present, present_scalar, text, time};
use crate::MappingError;
use aftersales_domain::{OrderId, PlatformCaseId, PlatformNotice};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// The native message
// ---------------------------------------------------------------------------------------------

/// One refund message as delivered: the type, the member it came in (`type` or `topic`), the
/// mall and the content object's JSON text (unwrapped when it came as a string). Nothing is
/// interpreted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundMessage {
    /// The message type (`pdd_refund_…`).
    pub topic: Option<String>,
    /// `type` or `topic`: where the type was found, so errors name the member sent.
    pub topic_member: &'static str,
    /// The envelope's `mallID`, as text.
    pub mall_id: Option<String>,
    /// The content object's JSON text.
    pub content: Option<String>,
}

/// The content of a refund message. Every field is optional here: which ones are required
/// is decided, with a precise error, in [`to_notice`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct RefundMessageContent {
    pub mall_id: Option<Scalar>,
    /// The after-sales id.
    pub refund_id: Option<Scalar>,
    /// The order (order_sn).
    pub tid: Option<Scalar>,
    /// Integer fen (1990 = ¥19.90).
    pub refund_fee: Option<Scalar>,
    /// Meaning not found [U].
    pub bill_type: Option<Scalar>,
    /// Meaning not found [U].
    pub operation: Option<Scalar>,
    /// Epoch milliseconds.
    pub modified: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default, rename = "type")]
    type_: Option<Box<RawValue>>,
    #[serde(default)]
    topic: Option<Box<RawValue>>,
    #[serde(default, rename = "mallID")]
    mall_id: Option<Scalar>,
    #[serde(default)]
    content: Option<Box<RawValue>>,
}

/// Read a refund message.
pub fn parse_payload(native: &[u8]) -> Result<RefundMessage, MappingError> {
    let text = utf8(native)?;
    expect_object("$", text)?;
    let m: Envelope = serde_json::from_str(text)
        .map_err(|e| json_error("$", text, &e, "not a Pinduoduo message object"))?;
    let (member, raw) = match (m.type_, m.topic) {
        (Some(t), Some(_)) => {
            return Err(err(
                "topic",
                t.get(),
                "both type and topic are given: send the message type once, as PDD names it \
                 (type)",
            ))
        }
        (Some(t), None) => ("type", Some(t)),
        (None, Some(t)) => ("topic", Some(t)),
        (None, None) => ("type", None),
    };
    let topic = raw
        .map(|raw| {
            serde_json::from_str::<String>(raw.get())
                .map_err(|_| err(member, raw.get(), "the message type must be a JSON string"))
        })
        .transpose()?;
    let content = m
        .content
        .map(|raw| crate::json::content_text(super::PLATFORM, &raw))
        .transpose()?;
    Ok(RefundMessage {
        topic,
        topic_member: member,
        mall_id: m.mall_id.map(|s| s.text().to_string()),
        content,
    })
}

impl RefundMessageContent {
    pub fn parse(content: &str) -> Result<Self, MappingError> {
        expect_object("content", content)?;
        serde_json::from_str(content).map_err(|e| {
            json_error(
                "content",
                content,
                &e,
                "does not match the Pinduoduo refund message content",
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// type
// ---------------------------------------------------------------------------------------------

/// The refund message types (§2.5 [C]). Only these are ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundTopic {
    RefundCreated,
    RefundAgreeAgreement,
    RefundClosed,
    RefundBuyerModifyAgreement,
    RefundBuyerReturnGoods,
    RefundCreateMessage,
}

impl RefundTopic {
    pub const ALL: [RefundTopic; 6] = [
        RefundTopic::RefundCreated,
        RefundTopic::RefundAgreeAgreement,
        RefundTopic::RefundClosed,
        RefundTopic::RefundBuyerModifyAgreement,
        RefundTopic::RefundBuyerReturnGoods,
        RefundTopic::RefundCreateMessage,
    ];

    /// `field` is the member the type came in (`type` or `topic`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "pdd_refund_RefundCreated" => RefundTopic::RefundCreated,
            "pdd_refund_RefundAgreeAgreement" => RefundTopic::RefundAgreeAgreement,
            "pdd_refund_RefundClosed" => RefundTopic::RefundClosed,
            "pdd_refund_RefundBuyerModifyAgreement" => RefundTopic::RefundBuyerModifyAgreement,
            "pdd_refund_RefundBuyerReturnGoods" => RefundTopic::RefundBuyerReturnGoods,
            "pdd_refund_RefundCreateMessage" => RefundTopic::RefundCreateMessage,
            trade if trade.starts_with("pdd_trade_") => {
                return Err(err(
                    field,
                    trade,
                    "only pdd_refund_* messages are ingested: a case is keyed by the \
                     after-sales id (refund_id), which trade messages do not carry",
                ))
            }
            other => return Err(err(field, other, "unknown Pinduoduo refund message type")),
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "pdd_refund_RefundCreated",
            RefundTopic::RefundAgreeAgreement => "pdd_refund_RefundAgreeAgreement",
            RefundTopic::RefundClosed => "pdd_refund_RefundClosed",
            RefundTopic::RefundBuyerModifyAgreement => "pdd_refund_RefundBuyerModifyAgreement",
            RefundTopic::RefundBuyerReturnGoods => "pdd_refund_RefundBuyerReturnGoods",
            RefundTopic::RefundCreateMessage => "pdd_refund_RefundCreateMessage",
        }
    }

    /// What the message means (§2.5).
    pub fn meaning(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "after-sales request created",
            RefundTopic::RefundAgreeAgreement => "refund agreed",
            RefundTopic::RefundClosed => "after-sales order closed",
            RefundTopic::RefundBuyerModifyAgreement => "buyer modified the request",
            RefundTopic::RefundBuyerReturnGoods => "buyer shipped the goods back",
            RefundTopic::RefundCreateMessage => "a message (留言) was posted",
        }
    }

    /// The message's Chinese name: the first four as open-source PDD clients annotate them;
    /// the last two by analogy with Taobao's names of the same messages.
    pub fn gloss(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "退款创建消息",
            RefundTopic::RefundAgreeAgreement => "同意退款协议消息",
            RefundTopic::RefundClosed => "售后单关闭消息",
            RefundTopic::RefundBuyerModifyAgreement => "买家修改退款协议消息",
            RefundTopic::RefundBuyerReturnGoods => "买家退货给卖家消息",
            RefundTopic::RefundCreateMessage => "发表退款留言消息",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The notice
// ---------------------------------------------------------------------------------------------

/// Map one refund message into a notice. The type is checked first: a message of another
/// group is refused before its content is read.
pub fn to_notice(m: &RefundMessage) -> Result<PlatformNotice, MappingError> {
    let member = m.topic_member;
    let topic = RefundTopic::parse(member, present(&m.topic).ok_or_else(|| missing(member))?)?;
    let c = RefundMessageContent::parse(m.content.as_deref().ok_or_else(|| missing("content"))?)?;

    let refund_id = present_scalar(&c.refund_id).ok_or_else(|| {
        err(
            "content.refund_id",
            "",
            format!(
                "required field is missing: a notice is matched to its case by the after-sales \
                 id refund_id ({})",
                topic.code()
            ),
        )
    })?;
    let refund_id_text = id_text("content.refund_id", refund_id)?;
    let platform_case_id = PlatformCaseId::parse(refund_id_text)
        .map_err(|e| err("content.refund_id", refund_id_text, e.to_string()))?;
    let order_id = present_scalar(&c.tid)
        .map(|tid| {
            let t = id_text("content.tid", tid)?;
            OrderId::parse(t).map_err(|e| err("content.tid", t, e.to_string()))
        })
        .transpose()?;
    let occurred_at = match &c.modified {
        Some(v) => time("content.modified", v)?,
        None => None,
    };

    Ok(PlatformNotice {
        platform_case_id,
        order_id,
        // PDD after-sales are per order: no sub-order.
        sub_order_id: None,
        topic: topic.code().to_string(),
        meaning: format!("{} ({})", topic.meaning(), topic.gloss()),
        occurred_at,
        attributes: attributes(m, &c)?,
    })
}

/// The content's other fields, validated where they are money, kept raw.
fn attributes(
    m: &RefundMessage,
    c: &RefundMessageContent,
) -> Result<BTreeMap<String, String>, MappingError> {
    if let Some(v) = present_scalar(&c.refund_fee) {
        fen("content.refund_fee", v)?;
    }
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| -> Result<(), MappingError> {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            let v = text(&format!("content.{key}"), &v)?;
            out.insert(key.to_string(), v.as_str().to_string());
        }
        Ok(())
    };
    let raw = |s: &Option<Scalar>| s.as_ref().map(|v| v.text().to_string());
    // The content's mall wins; the envelope's mallID stands in when the content has none.
    put("mall_id", raw(&c.mall_id).or_else(|| m.mall_id.clone()))?;
    put("refund_fee", raw(&c.refund_fee))?;
    put("bill_type", raw(&c.bill_type))?;
    put("operation", raw(&c.operation))?;
    put("modified", raw(&c.modified))?;
    Ok(out)
}
