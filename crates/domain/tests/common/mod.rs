//! Fixtures the domain's test binaries share.

use aftersales_domain::case::Fulfilment;
use aftersales_domain::text::BoundedText;
use aftersales_domain::{CaseDraft, CaseKind, Fen, OrderId, PlatformCode, ShopId};

/// A buyer's request on order line `o-1` of `shop-1` on `platform`: 123.45 yuan asked back of a
/// 200-yuan order, nothing else set. Tests change what they are about with struct update.
pub fn draft(platform: &str, kind: CaseKind, fulfilment: Fulfilment) -> CaseDraft {
    CaseDraft {
        shop: ShopId::parse("shop-1").unwrap(),
        platform: PlatformCode::parse(platform).unwrap(),
        platform_case_id: None,
        order_id: Some(OrderId::parse("o-1").unwrap()),
        sub_order_id: None,
        kind,
        fulfilment,
        requested_refund: Fen::new(12_345).unwrap(),
        order_total: Some(Fen::new(20_000).unwrap()),
        reason: BoundedText::parse("broken").unwrap(),
        buyer: BoundedText::parse("buyer").unwrap(),
        buyer_address: None,
        evidence: vec![],
        order_state: None,
        trade_success_at: None,
        task: None,
        evidence_request: None,
        signed_at: None,
        reason_category: None,
        appeal: None,
    }
}
