//! Fixtures the domain's test binaries share.

use aftersales_domain::case::Fulfilment;
use aftersales_domain::text::BoundedText;
use aftersales_domain::{CaseDraft, CaseKind, Fen, OrderId, PlatformCode, ShopId};

/// A buyer's request on order line `o-1` of `shop-1` on `platform`: 123.45 yuan asked back of a
/// 200-yuan order, nothing else set. Tests change what they are about with struct update.
pub fn draft(platform: &str, kind: CaseKind, fulfilment: Fulfilment) -> CaseDraft {
    CaseDraft {
        order_id: Some(OrderId::parse("o-1").unwrap()),
        order_total: Some(Fen::new(20_000).unwrap()),
        ..CaseDraft::new(
            ShopId::parse("shop-1").unwrap(),
            PlatformCode::parse(platform).unwrap(),
            kind,
            fulfilment,
            Fen::new(12_345).unwrap(),
            BoundedText::parse("broken").unwrap(),
            BoundedText::parse("buyer").unwrap(),
        )
    }
}
