//! Decimal128 values, compared exactly as the server compares them.
//!
//! MongoDB compares a decimal with an int or long exactly, and with a double
//! by exact value too (it converts the decimal to a double rounding down and
//! looks at the inexact flag), so `NumberDecimal("0.1")` is greater than the
//! double `0.1` (which is 0.1000000000000000055…) and `NumberDecimal("1.0")`
//! equals `1`. Going through `f64` would get both of those wrong.

use std::cmp::Ordering;

/// The largest coefficient a canonical decimal128 holds (34 nines).
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;
const EXPONENT_BIAS: i32 = 6176;

/// A decoded decimal128: `(-1)^negative × coefficient × 10^exponent`, or a special value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decimal {
    NaN,
    Infinity {
        negative: bool,
    },
    Finite {
        negative: bool,
        coefficient: u128,
        exponent: i32,
    },
}

impl Decimal {
    /// Decodes the IEEE 754-2008 BID encoding; non-canonical coefficients are zero, as in the spec.
    pub(crate) fn from_bytes(bytes: &[u8; 16]) -> Self {
        let bits = u128::from_le_bytes(*bytes);
        let negative = bits >> 127 == 1;
        match (bits >> 122) & 0x1f {
            0x1f => return Self::NaN,
            0x1e => return Self::Infinity { negative },
            _ => {}
        }
        let (exponent, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
            // The implicit-100 form always exceeds the largest coefficient: zero.
            ((bits >> 111) & 0x3fff, 0)
        } else {
            ((bits >> 113) & 0x3fff, bits & ((1u128 << 113) - 1))
        };
        Self::Finite {
            negative,
            coefficient: if coefficient > MAX_COEFFICIENT {
                0
            } else {
                coefficient
            },
            exponent: exponent as i32 - EXPONENT_BIAS,
        }
    }

    pub(crate) fn from_i64(n: i64) -> Self {
        Self::Finite {
            negative: n < 0,
            coefficient: u128::from(n.unsigned_abs()),
            exponent: 0,
        }
    }

    pub(crate) fn is_nan(self) -> bool {
        self == Self::NaN
    }

    pub(crate) fn is_zero(self) -> bool {
        matches!(self, Self::Finite { coefficient: 0, .. })
    }

    /// The nearest double (for hashing only: comparisons never go through it).
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Self::NaN => f64::NAN,
            Self::Infinity { negative } => sign(negative) * f64::INFINITY,
            Self::Finite {
                negative,
                coefficient,
                exponent,
            } => {
                let text = format!("{coefficient}e{exponent}");
                sign(negative) * text.parse::<f64>().unwrap_or(0.0)
            }
        }
    }

    /// Rounded toward zero to a long, as `$mod` does; `None` if NaN, infinite or out of range.
    pub(crate) fn trunc_to_i64(self) -> Option<i64> {
        let Self::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return None;
        };
        if coefficient == 0 {
            return Some(0);
        }
        let magnitude = if exponent >= 0 {
            10u128
                .checked_pow(exponent as u32)
                .and_then(|p| coefficient.checked_mul(p))?
        } else {
            10u128
                .checked_pow(exponent.unsigned_abs())
                .map_or(0, |p| coefficient / p)
        };
        let magnitude = i128::try_from(magnitude).ok()?;
        i64::try_from(if negative { -magnitude } else { magnitude }).ok()
    }

    /// MongoDB's order: NaN equals NaN and sorts below every other number; -0 equals 0.
    pub(crate) fn compare(self, other: Self) -> Ordering {
        match (self.class(), other.class()) {
            (Class::NaN, Class::NaN) => Ordering::Equal,
            (Class::NaN, _) => Ordering::Less,
            (_, Class::NaN) => Ordering::Greater,
            (a, b) if a != b => a.cmp(&b),
            (Class::Negative, _) => magnitude(other, self),
            (Class::Positive, _) => magnitude(self, other),
            _ => Ordering::Equal,
        }
    }

    /// Compares with a double by exact value.
    pub(crate) fn compare_f64(self, x: f64) -> Ordering {
        if x.is_nan() {
            return if self.is_nan() {
                Ordering::Equal
            } else {
                Ordering::Greater
            };
        }
        let as_class = if x.is_infinite() {
            if x < 0.0 {
                Class::NegativeInfinity
            } else {
                Class::PositiveInfinity
            }
        } else if x == 0.0 {
            Class::Zero
        } else if x < 0.0 {
            Class::Negative
        } else {
            Class::Positive
        };
        let mine = self.class();
        if mine != as_class || !matches!(mine, Class::Negative | Class::Positive) {
            return mine.cmp(&as_class);
        }
        let Self::Finite {
            coefficient,
            exponent,
            ..
        } = self
        else {
            unreachable!("finite by class")
        };
        let order = compare_magnitude_with_double(coefficient, exponent, x.abs());
        if mine == Class::Negative {
            order.reverse()
        } else {
            order
        }
    }

    fn class(self) -> Class {
        match self {
            Self::NaN => Class::NaN,
            Self::Infinity { negative: true } => Class::NegativeInfinity,
            Self::Infinity { negative: false } => Class::PositiveInfinity,
            Self::Finite { coefficient: 0, .. } => Class::Zero,
            Self::Finite { negative: true, .. } => Class::Negative,
            Self::Finite {
                negative: false, ..
            } => Class::Positive,
        }
    }
}

/// Ordered as the values of each class are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    NaN,
    NegativeInfinity,
    Negative,
    Zero,
    Positive,
    PositiveInfinity,
}

fn sign(negative: bool) -> f64 {
    if negative { -1.0 } else { 1.0 }
}

fn digits(n: u128) -> i32 {
    n.checked_ilog10().map_or(1, |d| d as i32 + 1)
}

/// Compares `|a|` with `|b|`, both finite and non-zero.
fn magnitude(a: Decimal, b: Decimal) -> Ordering {
    let (
        Decimal::Finite {
            coefficient: ca,
            exponent: ea,
            ..
        },
        Decimal::Finite {
            coefficient: cb,
            exponent: eb,
            ..
        },
    ) = (a, b)
    else {
        unreachable!("finite by class")
    };
    let (da, db) = (digits(ca), digits(cb));
    match (da + ea).cmp(&(db + eb)) {
        Ordering::Equal => {}
        other => return other,
    }
    // Same magnitude: widen the shorter coefficient to the longer's digits (at most 34, fits).
    let widen = |c: u128, by: i32| c * 10u128.pow(by as u32);
    widen(ca, (db - da).max(0)).cmp(&widen(cb, (da - db).max(0)))
}

/// Compares `coefficient × 10^exponent` with the positive finite double `x`, exactly.
fn compare_magnitude_with_double(coefficient: u128, exponent: i32, x: f64) -> Ordering {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, power_of_two) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    // Decide far-apart magnitudes from decimal exponents alone, so the exact
    // comparison below only ever sees exponents of a few hundred.
    let decimal_log = digits(coefficient) - 1 + exponent;
    let binary_log = 63 - mantissa.leading_zeros() as i32 + power_of_two;
    let low = (f64::from(binary_log) * std::f64::consts::LOG10_2).floor() as i32;
    let high = (f64::from(binary_log + 1) * std::f64::consts::LOG10_2).floor() as i32;
    if decimal_log > high + 1 {
        return Ordering::Greater;
    }
    if decimal_log < low - 1 {
        return Ordering::Less;
    }
    let mut left = Big::from(coefficient);
    let mut right = Big::from(u128::from(mantissa));
    left.mul_pow10(exponent.max(0) as u32);
    right.mul_pow10((-exponent).max(0) as u32);
    left.shl((-power_of_two).max(0) as u32);
    right.shl(power_of_two.max(0) as u32);
    left.cmp(&right)
}

/// Just enough of an unsigned big integer for [`compare_magnitude_with_double`].
#[derive(Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl From<u128> for Big {
    fn from(mut n: u128) -> Self {
        let mut limbs = Vec::new();
        while n > 0 {
            limbs.push(n as u32);
            n >>= 32;
        }
        Self(limbs)
    }
}

impl Big {
    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n > 0 {
            let step = n.min(9);
            self.mul_small(10u32.pow(step));
            n -= step;
        }
    }

    fn shl(&mut self, bits: u32) {
        let (words, bits) = ((bits / 32) as usize, bits % 32);
        if bits > 0 {
            self.mul_small(1 << bits);
        }
        self.0.splice(0..0, std::iter::repeat_n(0, words));
    }

    fn significant(&self) -> &[u32] {
        let end = self.0.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1);
        &self.0[..end]
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Decimal128;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_bytes(&Decimal128::from_str(text).unwrap().bytes())
    }

    #[test]
    fn decodes() {
        for (text, value) in [
            ("0", 0.0),
            ("-12.75", -12.75),
            ("1E+3", 1000.0),
            ("0.001", 0.001),
        ] {
            assert_eq!(dec(text).to_f64(), value, "{text}");
        }
        assert!(dec("NaN").is_nan());
        assert_eq!(dec("-Infinity"), Decimal::Infinity { negative: true });
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(dec("1.0").compare(dec("1")), Ordering::Equal);
        assert_eq!(dec("-0").compare(dec("0.000")), Ordering::Equal);
        assert_eq!(
            dec("1.5").compare(dec("1.49999999999999999999999999999999")),
            Ordering::Greater
        );
        assert_eq!(dec("-2").compare(dec("-1E+0")), Ordering::Less);
        assert_eq!(dec("NaN").compare(dec("-Infinity")), Ordering::Less);
        assert_eq!(dec("1E-6176").compare(dec("0")), Ordering::Greater);
    }

    #[test]
    fn decimals_compare_with_doubles_exactly() {
        assert_eq!(dec("0.1").compare_f64(0.1), Ordering::Less);
        assert_eq!(dec("0.5").compare_f64(0.5), Ordering::Equal);
        assert_eq!(dec("-9.99").compare_f64(-9.99), Ordering::Greater);
        assert_eq!(
            dec("9007199254740993").compare_f64(9_007_199_254_740_992.0),
            Ordering::Greater
        );
        assert_eq!(dec("1E+400").compare_f64(f64::MAX), Ordering::Greater);
        assert_eq!(dec("1E-400").compare_f64(f64::from_bits(1)), Ordering::Less);
        assert_eq!(dec("Infinity").compare_f64(f64::INFINITY), Ordering::Equal);
        assert_eq!(dec("NaN").compare_f64(f64::NAN), Ordering::Equal);
        assert_eq!(dec("-0").compare_f64(0.0), Ordering::Equal);
    }

    #[test]
    fn truncates_for_mod() {
        assert_eq!(dec("-7.9").trunc_to_i64(), Some(-7));
        assert_eq!(dec("1E+3").trunc_to_i64(), Some(1000));
        assert_eq!(dec("1E+19").trunc_to_i64(), None);
        assert_eq!(dec("-9223372036854775808").trunc_to_i64(), Some(i64::MIN));
        assert_eq!(dec("NaN").trunc_to_i64(), None);
        assert_eq!(dec("0E+6000").trunc_to_i64(), Some(0));
    }
}
