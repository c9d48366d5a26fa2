//! Taobao TMC refund messages (消息服务, platform-apis.md §1.5): the native message and its
//! mapping into the common [`PlatformNotice`].
//!
//! The refund topics carry **no status** (§1.5): a message only says that refund
//! `refund_id` changed and roughly how (the topic). It becomes a notice that marks the case
//! for a fresh `taobao.refund.get`; it never moves the state.
//!
//! # Accepted shapes
//!
//! - `{"topic":"taobao_refund_…","content":"{…}"}`: TMC delivers `content` as a JSON
//!   *string* holding the object (the TOP SDKs' `Message.getContent()`), and this is how
//!   most integrations forward it.
//! - The same with `content` as a JSON object, for callers that already decoded it.
//! - `{"tmc_message":{…one of the above…}}`: a wrapper some integrations use to keep the
//!   message beside their own metadata in one envelope, and which makes the payload's kind
//!   explicit. It adds nothing else; other TMC message fields (`id`, `pub_time`,
//!   `pub_app_key`, `user_id`, `user_nick`, `outgoing_time`) are ignored in every shape.
//!
//! Error paths are relative to the message whatever the wrapper: `topic`, `content`,
//! `content.refund_id`, …
//!
//! # Content fields
//!
//! From the generated tmc.js typings (`types/taobao.d.ts`, namespace `Taobao.Refund`, the
//! source §1.5 names): `refund_id`, `tid`, `oid`, `refund_fee` ("100.00"), `refund_phase`,
//! `bill_type`, `buyer_nick`, `buyer_open_uid`, `seller_nick`, `modified`. The typings list
//! only `modified` for `RefundableMarked` / `RefundableCanceled`; such a message without a
//! `refund_id` is refused like any other (the case is keyed by it).

use super::model::{expect_object, json_error, Scalar};
use super::transformers::RefundPhase;
use super::transformers::{err, id_text, missing, money, opt_order_id, opt_time, present, text};
use super::{rebase, PLATFORM};
use crate::MappingError;
use aftersales_domain::{PlatformCaseId, PlatformNotice};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// The native message
// ---------------------------------------------------------------------------------------------

/// One TMC message as delivered: the topic and the content object's JSON text (unwrapped when
/// it came as a string). Nothing is interpreted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmcMessage {
    pub topic: Option<String>,
    /// The content object's JSON text.
    pub content: Option<String>,
}

/// The content of a refund topic. Every field is optional here: which ones are required is
/// decided, with a precise error, in [`to_notice`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct RefundMessageContent {
    pub refund_id: Option<Scalar>,
    /// The trade (主订单ID).
    pub tid: Option<Scalar>,
    /// The sub-order (子订单ID).
    pub oid: Option<Scalar>,
    /// Yuan string, "100.00".
    pub refund_fee: Option<Scalar>,
    /// `onsale` (售中) / `aftersale` (售后).
    pub refund_phase: Option<String>,
    /// `refund_bill` / `return_bill` / `replace_bill`.
    pub bill_type: Option<String>,
    pub buyer_nick: Option<String>,
    pub buyer_open_uid: Option<String>,
    pub seller_nick: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub modified: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    tmc_message: Option<Box<RawValue>>,
    #[serde(default)]
    topic: Option<Box<RawValue>>,
    #[serde(default)]
    content: Option<Box<RawValue>>,
}

fn utf8(native: &[u8]) -> Result<&str, MappingError> {
    crate::json::utf8(PLATFORM, native)
}

/// Read a TMC message (bare or in `tmc_message`).
pub fn parse_payload(native: &[u8]) -> Result<TmcMessage, MappingError> {
    let text = utf8(native)?;
    expect_object("$", text)?;
    let outer: Envelope = serde_json::from_str(text)
        .map_err(|e| json_error("$", text, &e, "not a TMC message object"))?;
    let message = match outer.tmc_message {
        Some(inner) if outer.topic.is_some() || outer.content.is_some() => {
            return Err(err(
                "tmc_message",
                inner.get(),
                "tmc_message must be the only member: topic and content go inside it",
            ))
        }
        Some(inner) => {
            expect_object("tmc_message", inner.get())?;
            let message: Envelope = serde_json::from_str(inner.get())
                .map_err(|e| json_error("tmc_message", inner.get(), &e, "not a TMC message"))?;
            if let Some(nested) = &message.tmc_message {
                return Err(err(
                    "tmc_message.tmc_message",
                    nested.get(),
                    "tmc_message cannot be nested",
                ));
            }
            message
        }
        None => outer,
    };
    let topic = message
        .topic
        .map(|raw| {
            serde_json::from_str::<String>(raw.get())
                .map_err(|_| err("topic", raw.get(), "the topic must be a JSON string"))
        })
        .transpose()?;
    let content = message
        .content
        .map(|raw| crate::json::content_text(PLATFORM, &raw))
        .transpose()?;
    Ok(TmcMessage { topic, content })
}

impl RefundMessageContent {
    pub fn parse(content: &str) -> Result<Self, MappingError> {
        expect_object("content", content)?;
        serde_json::from_str(content).map_err(|e| {
            json_error(
                "content",
                content,
                &e,
                "does not match the TMC refund message content",
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// topic
// ---------------------------------------------------------------------------------------------

/// The refund-group TMC topics (§1.5). Only these are ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundTopic {
    RefundCreated,
    RefundSellerAgreeAgreement,
    RefundSellerRefuseAgreement,
    RefundBuyerModifyAgreement,
    RefundBuyerReturnGoods,
    RefundCreateMessage,
    RefundClosed,
    RefundSuccess,
    TaobaoInterApplied,
    TaobaoIntervened,
    RefundableMarked,
    RefundableCanceled,
    /// [S]: not in the typings; seen in one C# client's subscription list and in the TOP Java
    /// SDK's list of refund message states (退款超时提醒). Accepted because a notice only asks
    /// for a re-fetch, which is harmless if the topic is rare.
    RefundTimeoutRemind,
}

impl RefundTopic {
    pub const ALL: [RefundTopic; 13] = [
        RefundTopic::RefundCreated,
        RefundTopic::RefundSellerAgreeAgreement,
        RefundTopic::RefundSellerRefuseAgreement,
        RefundTopic::RefundBuyerModifyAgreement,
        RefundTopic::RefundBuyerReturnGoods,
        RefundTopic::RefundCreateMessage,
        RefundTopic::RefundClosed,
        RefundTopic::RefundSuccess,
        RefundTopic::TaobaoInterApplied,
        RefundTopic::TaobaoIntervened,
        RefundTopic::RefundableMarked,
        RefundTopic::RefundableCanceled,
        RefundTopic::RefundTimeoutRemind,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "taobao_refund_RefundCreated" => RefundTopic::RefundCreated,
            "taobao_refund_RefundSellerAgreeAgreement" => RefundTopic::RefundSellerAgreeAgreement,
            "taobao_refund_RefundSellerRefuseAgreement" => RefundTopic::RefundSellerRefuseAgreement,
            "taobao_refund_RefundBuyerModifyAgreement" => RefundTopic::RefundBuyerModifyAgreement,
            "taobao_refund_RefundBuyerReturnGoods" => RefundTopic::RefundBuyerReturnGoods,
            "taobao_refund_RefundCreateMessage" => RefundTopic::RefundCreateMessage,
            "taobao_refund_RefundClosed" => RefundTopic::RefundClosed,
            "taobao_refund_RefundSuccess" => RefundTopic::RefundSuccess,
            "taobao_refund_TaobaoInterApplied" => RefundTopic::TaobaoInterApplied,
            "taobao_refund_TaobaoIntervened" => RefundTopic::TaobaoIntervened,
            "taobao_refund_RefundableMarked" => RefundTopic::RefundableMarked,
            "taobao_refund_RefundableCanceled" => RefundTopic::RefundableCanceled,
            "taobao_refund_RefundTimeoutRemind" => RefundTopic::RefundTimeoutRemind,
            // Older SDK lists name it (屏蔽留言); the generated typings say the message does
            // not exist (无此消息). Refused so a subscription that still lists it is noticed.
            "taobao_refund_RefundBlockMessage" => {
                return Err(err(
                    "topic",
                    raw,
                    "not a TMC message: the typings say taobao_refund_RefundBlockMessage does \
                     not exist (无此消息)",
                ))
            }
            trade if trade.starts_with("taobao_trade_") => {
                return Err(err(
                    "topic",
                    trade,
                    "only taobao_refund_* topics are ingested: a case is keyed by refund_id, \
                     which trade messages do not carry",
                ))
            }
            other => return Err(err("topic", other, "unknown TMC refund topic")),
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "taobao_refund_RefundCreated",
            RefundTopic::RefundSellerAgreeAgreement => "taobao_refund_RefundSellerAgreeAgreement",
            RefundTopic::RefundSellerRefuseAgreement => "taobao_refund_RefundSellerRefuseAgreement",
            RefundTopic::RefundBuyerModifyAgreement => "taobao_refund_RefundBuyerModifyAgreement",
            RefundTopic::RefundBuyerReturnGoods => "taobao_refund_RefundBuyerReturnGoods",
            RefundTopic::RefundCreateMessage => "taobao_refund_RefundCreateMessage",
            RefundTopic::RefundClosed => "taobao_refund_RefundClosed",
            RefundTopic::RefundSuccess => "taobao_refund_RefundSuccess",
            RefundTopic::TaobaoInterApplied => "taobao_refund_TaobaoInterApplied",
            RefundTopic::TaobaoIntervened => "taobao_refund_TaobaoIntervened",
            RefundTopic::RefundableMarked => "taobao_refund_RefundableMarked",
            RefundTopic::RefundableCanceled => "taobao_refund_RefundableCanceled",
            RefundTopic::RefundTimeoutRemind => "taobao_refund_RefundTimeoutRemind",
        }
    }

    /// What the topic means (§1.5).
    pub fn meaning(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "refund created",
            RefundTopic::RefundSellerAgreeAgreement => "seller agreed",
            RefundTopic::RefundSellerRefuseAgreement => "seller refused",
            RefundTopic::RefundBuyerModifyAgreement => "buyer modified the request",
            RefundTopic::RefundBuyerReturnGoods => "buyer shipped the goods back",
            RefundTopic::RefundCreateMessage => "a message (留言) was posted",
            RefundTopic::RefundClosed => "refund closed",
            RefundTopic::RefundSuccess => "refund succeeded",
            RefundTopic::TaobaoInterApplied => "platform intervention requested",
            RefundTopic::TaobaoIntervened => "Taobao intervened",
            RefundTopic::RefundableMarked => "refundable mark set",
            RefundTopic::RefundableCanceled => "refundable mark removed",
            RefundTopic::RefundTimeoutRemind => "refund timeout reminder",
        }
    }

    /// The platform's name for the message (the typings' titles; the C# client's for
    /// RefundTimeoutRemind).
    pub fn gloss(self) -> &'static str {
        match self {
            RefundTopic::RefundCreated => "退款创建消息",
            RefundTopic::RefundSellerAgreeAgreement => "卖家同意退款协议消息",
            RefundTopic::RefundSellerRefuseAgreement => "卖家拒绝退款协议消息",
            RefundTopic::RefundBuyerModifyAgreement => "买家修改退款协议消息",
            RefundTopic::RefundBuyerReturnGoods => "买家退货给卖家消息",
            RefundTopic::RefundCreateMessage => "发表退款留言消息",
            RefundTopic::RefundClosed => "退款关闭消息",
            RefundTopic::RefundSuccess => "退款成功消息",
            RefundTopic::TaobaoInterApplied => "申请淘宝介入消息",
            RefundTopic::TaobaoIntervened => "淘宝介入退款消息",
            RefundTopic::RefundableMarked => "退款标记创建消息",
            RefundTopic::RefundableCanceled => "退款标记取消消息",
            RefundTopic::RefundTimeoutRemind => "退款超时提醒消息",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// content.bill_type
// ---------------------------------------------------------------------------------------------

/// `bill_type` (退款单类型, §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillType {
    /// 退款单
    RefundBill,
    /// 退货单
    ReturnBill,
    /// 退换货单
    ReplaceBill,
}

impl BillType {
    pub const ALL: [BillType; 3] = [
        BillType::RefundBill,
        BillType::ReturnBill,
        BillType::ReplaceBill,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "refund_bill" => BillType::RefundBill,
            "return_bill" => BillType::ReturnBill,
            "replace_bill" => BillType::ReplaceBill,
            other => {
                return Err(err(
                    "content.bill_type",
                    other,
                    "unknown bill type (expected refund_bill, return_bill or replace_bill)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            BillType::RefundBill => "refund_bill",
            BillType::ReturnBill => "return_bill",
            BillType::ReplaceBill => "replace_bill",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            BillType::RefundBill => "退款单",
            BillType::ReturnBill => "退货单",
            BillType::ReplaceBill => "退换货单",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The notice
// ---------------------------------------------------------------------------------------------

/// Map one TMC refund message into a notice. The topic is checked first: a message of another
/// group is refused before its content is read.
pub fn to_notice(m: &TmcMessage) -> Result<PlatformNotice, MappingError> {
    let topic = RefundTopic::parse(present(&m.topic).ok_or_else(|| missing("topic"))?)?;
    let c = RefundMessageContent::parse(m.content.as_deref().ok_or_else(|| missing("content"))?)?;

    let refund_id = c.refund_id.as_ref().ok_or_else(|| {
        err(
            "content.refund_id",
            "",
            format!(
                "required field is missing: a notice is matched to its case by refund_id ({})",
                topic.code()
            ),
        )
    })?;
    let refund_id_text = id_text("content.refund_id", refund_id)?;
    let platform_case_id = PlatformCaseId::parse(refund_id_text)
        .map_err(|e| err("content.refund_id", refund_id_text, e.to_string()))?;

    Ok(PlatformNotice {
        platform_case_id,
        order_id: opt_order_id("content.tid", &c.tid)?,
        sub_order_id: opt_order_id("content.oid", &c.oid)?,
        topic: topic.code().to_string(),
        meaning: format!("{} ({})", topic.meaning(), topic.gloss()),
        occurred_at: opt_time("content.modified", &c.modified)?,
        attributes: attributes(&c)?,
    })
}

/// The content's other fields, validated where they are enumerated or money, kept raw.
fn attributes(c: &RefundMessageContent) -> Result<BTreeMap<String, String>, MappingError> {
    let refund_fee = match &c.refund_fee {
        Some(Scalar::Str(s)) if s.trim().is_empty() => None,
        Some(v) => {
            money("content.refund_fee", v)?;
            Some(v.text().to_string())
        }
        None => None,
    };
    let refund_phase = present(&c.refund_phase)
        .map(|p| RefundPhase::parse(p).map(|_| p.to_string()))
        .transpose()
        .map_err(|e| rebase(e, "content"))?;
    let bill_type = present(&c.bill_type)
        .map(|b| BillType::parse(b).map(|b| b.code().to_string()))
        .transpose()?;

    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| -> Result<(), MappingError> {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            let v = text(&format!("content.{key}"), &v)?;
            out.insert(key.to_string(), v.as_str().to_string());
        }
        Ok(())
    };
    put("refund_fee", refund_fee)?;
    put("refund_phase", refund_phase)?;
    put("bill_type", bill_type)?;
    put("buyer_nick", c.buyer_nick.clone())?;
    put("buyer_open_uid", c.buyer_open_uid.clone())?;
    put("seller_nick", c.seller_nick.clone())?;
    Ok(out)
}
