//! TB-20: was a parcel signed for somewhere other than the buyer's district/county?
//!
//! The resolution of free-text addresses lives in `aftersales-divisions` (GB/T 2260 data);
//! this module turns its answer into the case model's record, so the CheckSignedElsewhere
//! RPC, manual task creation and task ingest all decide with the same code.

use aftersales_divisions as divisions;
use aftersales_domain::{ResolvedPlace, SignedElsewhereTask, SigningCheck, SigningVerdict};

/// Build the division index now (about 7 ms in release, 70 ms in debug) so the first task or
/// CheckSignedElsewhere call does not pay for it.
pub fn warm_up() {
    divisions::resolve("浙江省杭州市余杭区");
}

/// Decide TB-20 for two free-text addresses.
pub fn check(delivery_address: &str, signing_location: &str) -> SigningCheck {
    let c = divisions::check_signed_elsewhere(delivery_address, signing_location);
    SigningCheck {
        verdict: match c.verdict {
            divisions::Verdict::SignedElsewhere => SigningVerdict::SignedElsewhere,
            divisions::Verdict::SameDistrict => SigningVerdict::SameDistrict,
            divisions::Verdict::Undetermined => SigningVerdict::Undetermined,
        },
        reason: c.reason.as_str().to_string(),
        delivery: place(delivery_address, c.delivery),
        signing: place(signing_location, c.signing),
        pickup_point: c.pickup_point,
        dataset: divisions::DATASET.to_string(),
    }
}

/// The task with its TB-20 check filled in from its own addresses.
pub fn checked(mut task: SignedElsewhereTask) -> SignedElsewhereTask {
    task.check = Some(check(&task.delivery_address, &task.signing_location));
    task
}

fn place(text: &str, r: divisions::ResolvedAddress) -> ResolvedPlace {
    let pair = |d: Option<divisions::Division>| d.map(|d| (d.code, d.name));
    ResolvedPlace {
        text: text.to_string(),
        province: pair(r.province),
        city: pair(r.city),
        county: pair(r.county),
        notes: r.notes,
    }
}
