//! Money in integer fen (分). Platforms send yuan strings ("200.07"), fen integers (1688) or
//! a mix; all of them become `Fen` at the edge and nothing downstream ever sees a float.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount {0:?} is not a yuan amount with at most two decimals")]
    NotYuan(String),
    #[error("amount {0:?} is negative")]
    Negative(String),
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// A non-negative fen amount.
    pub fn new(fen: i64) -> Result<Fen, MoneyError> {
        if fen < 0 {
            return Err(MoneyError::Negative(fen.to_string()));
        }
        Ok(Fen(fen))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Exact parse of a yuan string: "200.07" → 20007 fen. Accepts "200", "200.0", "200.07",
    /// ".5" is refused (platforms never send it and it hides typos). Never goes through a float.
    pub fn parse_yuan(raw: &str) -> Result<Fen, MoneyError> {
        let s = raw.trim();
        let bad = || MoneyError::NotYuan(raw.to_string());
        if s.starts_with('-') {
            return Err(MoneyError::Negative(raw.to_string()));
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac_part.len() > 2 || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if s.contains('.') && frac_part.is_empty() {
            return Err(bad());
        }
        let yuan: i64 = int_part
            .parse()
            .map_err(|_| MoneyError::Overflow(raw.to_string()))?;
        let mut fen_frac: i64 = 0;
        for (i, b) in frac_part.bytes().enumerate() {
            let digit = i64::from(b - b'0');
            fen_frac += if i == 0 { digit * 10 } else { digit };
        }
        yuan.checked_mul(100)
            .and_then(|v| v.checked_add(fen_frac))
            .map(Fen)
            .ok_or_else(|| MoneyError::Overflow(raw.to_string()))
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals, the way every platform shows money.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_strings_parse_exactly() {
        assert_eq!(Fen::parse_yuan("200.07").unwrap().get(), 20007);
        assert_eq!(Fen::parse_yuan("0.10").unwrap().get(), 10);
        assert_eq!(Fen::parse_yuan("0.1").unwrap().get(), 10);
        assert_eq!(Fen::parse_yuan("100").unwrap().get(), 10000);
        assert_eq!(Fen::parse_yuan(" 19.99 ").unwrap().get(), 1999);
        // 0.29 * 100 is 28.999999999999996 in f64: the classic float bug must not exist here.
        assert_eq!(Fen::parse_yuan("0.29").unwrap().get(), 29);
        assert_eq!(
            Fen::parse_yuan("1234567.89").unwrap().to_string(),
            "1234567.89"
        );
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "", ".5", "1.", "1.234", "abc", "1,00", "1e3", "--1", "1.2.3", "¥12",
        ] {
            assert!(Fen::parse_yuan(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(matches!(
            Fen::parse_yuan("-1.00"),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            Fen::parse_yuan("99999999999999999999"),
            Err(MoneyError::Overflow(_))
        ));
        assert!(Fen::new(-1).is_err());
    }
}
