//! Numbers of every BSON width (int, long, double, decimal128) compared
//! exactly by value, as the server compares them: `1`, `NumberLong(1)`,
//! `1.0` and `NumberDecimal("1.00")` are equal, NaN equals NaN and sorts
//! below every other number, `-0` equals `0`.

use bson::Bson;
use std::cmp::Ordering;

/// The largest coefficient a canonical decimal128 holds (34 nines).
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;

/// A number's value: `±coefficient × 2^exp2 × 10^exp10` when finite.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    NaN,
    Infinite {
        negative: bool,
    },
    Finite {
        negative: bool,
        coefficient: u128,
        exp2: i32,
        exp10: i32,
    },
}

fn finite(negative: bool, coefficient: u128, exp2: i32, exp10: i32) -> Num {
    Num::Finite {
        negative,
        coefficient,
        exp2,
        exp10,
    }
}

fn num(value: &Bson) -> Option<Num> {
    Some(match value {
        Bson::Int32(n) => finite(*n < 0, u128::from(n.unsigned_abs()), 0, 0),
        Bson::Int64(n) => finite(*n < 0, u128::from(n.unsigned_abs()), 0, 0),
        Bson::Double(x) => double(*x),
        Bson::Decimal128(d) => decimal(&d.bytes()),
        _ => return None,
    })
}

fn double(x: f64) -> Num {
    if x.is_nan() {
        return Num::NaN;
    }
    if x.is_infinite() {
        return Num::Infinite { negative: x < 0.0 };
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exp2) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent - 1075)
    };
    finite(x.is_sign_negative(), u128::from(mantissa), exp2, 0)
}

/// Decodes a decimal128 (binary integer decimal encoding).
fn decimal(bytes: &[u8; 16]) -> Num {
    let bits = u128::from_le_bytes(*bytes);
    let negative = bits >> 127 == 1;
    match (bits >> 122) & 0x1f {
        0x1f => return Num::NaN,
        0x1e => return Num::Infinite { negative },
        _ => {}
    }
    let (exponent, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
        // The implicit-`100` form always exceeds the largest coefficient: zero.
        ((bits >> 111) & 0x3fff, 0)
    } else {
        ((bits >> 113) & 0x3fff, bits & ((1u128 << 113) - 1))
    };
    let coefficient = if coefficient > MAX_COEFFICIENT {
        0
    } else {
        coefficient
    };
    finite(negative, coefficient, 0, exponent as i32 - 6176)
}

/// True for a number equal to zero (of any width and sign).
pub fn is_zero(value: &Bson) -> bool {
    matches!(num(value), Some(Num::Finite { coefficient: 0, .. }))
}

/// Compares two numbers by value; `None` if either is not a number.
pub fn compare(a: &Bson, b: &Bson) -> Option<Ordering> {
    match (a, b) {
        (Bson::Int32(x), Bson::Int32(y)) => return Some(x.cmp(y)),
        (Bson::Int64(x), Bson::Int64(y)) => return Some(x.cmp(y)),
        _ => {}
    }
    Some(compare_nums(num(a)?, num(b)?))
}

/// -1, 0 or 1 for negative, zero and positive finite numbers and infinities.
fn sign(n: Num) -> i8 {
    match n {
        Num::NaN | Num::Finite { coefficient: 0, .. } => 0,
        Num::Infinite { negative } | Num::Finite { negative, .. } => {
            if negative {
                -1
            } else {
                1
            }
        }
    }
}

fn compare_nums(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::NaN, Num::NaN) => return Ordering::Equal,
        (Num::NaN, _) => return Ordering::Less,
        (_, Num::NaN) => return Ordering::Greater,
        _ => {}
    }
    let by_sign = sign(a).cmp(&sign(b));
    if by_sign != Ordering::Equal || sign(a) == 0 {
        return by_sign;
    }
    let magnitude = match (a, b) {
        (Num::Infinite { .. }, Num::Infinite { .. }) => Ordering::Equal,
        (Num::Infinite { .. }, _) => Ordering::Greater,
        (_, Num::Infinite { .. }) => Ordering::Less,
        (
            Num::Finite {
                coefficient: ca,
                exp2: pa,
                exp10: qa,
                ..
            },
            Num::Finite {
                coefficient: cb,
                exp2: pb,
                exp10: qb,
                ..
            },
        ) => {
            // Divide both sides by the common 2^p × 10^q: only whole numbers remain.
            let (p, q) = (pa.min(pb), qa.min(qb));
            let left = Big::scaled(ca, pa - p, qa - q);
            let right = Big::scaled(cb, pb - p, qb - q);
            left.cmp_to(&right)
        }
        _ => Ordering::Equal,
    };
    if sign(a) < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// A non-negative whole number of any size, as little-endian 32-bit limbs.
struct Big(Vec<u32>);

impl Big {
    /// `coefficient × 2^exp2 × 10^exp10` (both exponents non-negative).
    fn scaled(coefficient: u128, exp2: i32, exp10: i32) -> Self {
        let mut n = Big((0..4).map(|i| (coefficient >> (32 * i)) as u32).collect());
        n.trim();
        let mut tens = exp10;
        while tens > 0 {
            let step = tens.min(9);
            n.mul_add(10u32.pow(step as u32), 0);
            tens -= step;
        }
        let mut twos = exp2;
        while twos > 0 {
            let step = twos.min(31);
            n.mul_add(1 << step, 0);
            twos -= step;
        }
        n
    }

    /// `self = self × factor + add`.
    fn mul_add(&mut self, factor: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// Drops high zero limbs, so that longer means larger.
    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn cmp_to(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}
