//! Disputes, rulings and appeals (AL-20 … AL-22).
//!
//! A dispute is a case the platform has taken over (platform intervening); its ruling is
//! recorded and settles the case. A merchant that disagrees may appeal with new, valid
//! evidence (AL-20) — but some grounds are never valid (AL-21), and a shipping-behaviour
//! penalty is only appealable with an official carrier-stamped document (AL-22). The check
//! runs before anything is filed, so the merchant learns why instead of losing the appeal.

use crate::evidence::{EvidenceItem, Stamp};
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the merchant appeals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealGround {
    /// Both sides agreed to revoke a penalty after it was executed (AL-21: invalid).
    RevokedByAgreementAfterExecution,
    /// The price was set too low by mistake, in a promotion or by staff (AL-21: invalid).
    PriceSetTooLowByMistake,
    /// The product was discontinued or production capacity ran out (AL-21: invalid).
    ProductDiscontinued,
    /// A custom product's listing carried the wrong shipping guarantee (AL-21: invalid).
    CustomProductWrongShippingGuarantee,
    /// A shipping-behaviour penalty for something that was not the merchant's doing (AL-22).
    ShippingNotMerchantsFault,
    /// Any other disagreement with a ruling, backed by new evidence (AL-20).
    NewEvidence,
}

impl AppealGround {
    pub const ALL: [AppealGround; 6] = [
        AppealGround::RevokedByAgreementAfterExecution,
        AppealGround::PriceSetTooLowByMistake,
        AppealGround::ProductDiscontinued,
        AppealGround::CustomProductWrongShippingGuarantee,
        AppealGround::ShippingNotMerchantsFault,
        AppealGround::NewEvidence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppealGround::RevokedByAgreementAfterExecution => {
                "revoked_by_agreement_after_execution"
            }
            AppealGround::PriceSetTooLowByMistake => "price_set_too_low_by_mistake",
            AppealGround::ProductDiscontinued => "product_discontinued",
            AppealGround::CustomProductWrongShippingGuarantee => {
                "custom_product_wrong_shipping_guarantee"
            }
            AppealGround::ShippingNotMerchantsFault => "shipping_not_merchants_fault",
            AppealGround::NewEvidence => "new_evidence",
        }
    }

    /// AL-21: why the platform will not accept this ground, if it will not.
    pub fn invalid_because(self) -> Option<&'static str> {
        match self {
            AppealGround::RevokedByAgreementAfterExecution => Some(
                "both sides agreeing to revoke a penalty after it was executed is not a valid appeal",
            ),
            AppealGround::PriceSetTooLowByMistake => Some(
                "a price set too low by mistake (promotion or staff error) is not a valid appeal",
            ),
            AppealGround::ProductDiscontinued => Some(
                "a discontinued product or exhausted production capacity is not a valid appeal",
            ),
            AppealGround::CustomProductWrongShippingGuarantee => Some(
                "a custom product listed with the wrong shipping guarantee is not a valid appeal",
            ),
            AppealGround::ShippingNotMerchantsFault | AppealGround::NewEvidence => None,
        }
    }
}

/// An appeal as filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub ground: AppealGround,
    /// What is appealed: the ruling or penalty, as the platform names it.
    pub appealed: BoundedText,
    pub statement: BoundedText,
    pub evidence: Vec<EvidenceItem>,
}

/// Why an appeal cannot be filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealRefusal {
    pub rule: &'static str,
    pub reason: String,
}

impl Appeal {
    /// AL-20 … AL-22: whether the platform can accept it.
    pub fn check(&self) -> Result<(), AppealRefusal> {
        if let Some(reason) = self.ground.invalid_because() {
            return Err(AppealRefusal {
                rule: "AL-21",
                reason: reason.to_string(),
            });
        }
        match self.ground {
            AppealGround::ShippingNotMerchantsFault => {
                let stamped = self
                    .evidence
                    .iter()
                    .any(|e| e.stamp == Some(Stamp::CarrierRedStamp));
                if stamped {
                    return Ok(());
                }
                let other_stamp = self.evidence.iter().find_map(|e| match e.stamp {
                    Some(s @ (Stamp::FinanceStamp | Stamp::BusinessStamp)) => Some(s.as_str()),
                    _ => None,
                });
                Err(AppealRefusal {
                    rule: "AL-22",
                    reason: match other_stamp {
                        Some(s) => format!(
                            "the document carries a {s}; a shipping-penalty appeal needs an official document stamped by the carrier"
                        ),
                        None => "a shipping-penalty appeal needs an official carrier-stamped document proving it was not the merchant's doing".into(),
                    },
                })
            }
            _ if self.evidence.is_empty() => Err(AppealRefusal {
                rule: "AL-20",
                reason: "an appeal needs new, valid evidence".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// Whom the platform ruled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulingFor {
    Buyer,
    Merchant,
}

/// The platform's ruling on a dispute or an appeal (AL-20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruling {
    pub in_favour_of: RulingFor,
    pub note: BoundedText,
    pub recorded_at: DateTime<Utc>,
}
