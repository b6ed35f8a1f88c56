//! Fast paths for BSON decimal128 (IEEE 754-2008, binary integer decimal).
//!
//! Money amounts are decimals in most documents herald sees, and the `bson`
//! crate's text conversions are general and slow. Plain decimals
//! (`-123.45`: digits, at most one point, at most 34 digits) are encoded and
//! decoded here; everything else (exponents, NaN, infinities) is left to the
//! `bson` crate, so the results are always the same as its own.

/// The bias of the 14-bit exponent.
const EXPONENT_BIAS: i32 = 6176;
/// The largest coefficient a canonical decimal128 holds (34 nines).
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;

/// The 16 bytes of a plain decimal text, or `None` for any other form.
///
/// ```
/// use bson::Decimal128;
/// use std::str::FromStr;
/// let bytes = herald_core::decimal::parse_plain("-1234.50").unwrap();
/// assert_eq!(bytes, Decimal128::from_str("-1234.50").unwrap().bytes());
/// assert!(herald_core::decimal::parse_plain("1e3").is_none());
/// ```
pub fn parse_plain(text: &str) -> Option<[u8; 16]> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (digits, ""),
    };
    if whole.is_empty()
        || whole.len() + fraction.len() > 34
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || (digits.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let mut coefficient: u128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        coefficient = coefficient * 10 + u128::from(b - b'0');
    }
    encode(negative, coefficient, -(fraction.len() as i32))
}

/// The 16 bytes of ±`coefficient` × 10^`exponent`, as the `bson` crate
/// encodes the plain text of that number; `None` if the coefficient has more
/// than 34 digits or the exponent is out of range.
///
/// ```
/// use bson::Decimal128;
/// use std::str::FromStr;
/// let bytes = herald_core::decimal::encode(true, 123450, -2).unwrap();
/// assert_eq!(bytes, Decimal128::from_str("-1234.50").unwrap().bytes());
/// ```
pub fn encode(negative: bool, coefficient: u128, exponent: i32) -> Option<[u8; 16]> {
    if coefficient > MAX_COEFFICIENT {
        return None;
    }
    let biased = u128::try_from(exponent + EXPONENT_BIAS).ok()?;
    if biased >= 1 << 14 {
        return None;
    }
    let bits = (u128::from(negative) << 127) | (biased << 113) | coefficient;
    Some(bits.to_le_bytes())
}

/// A decimal128 as sign, coefficient and exponent (value = ±coefficient × 10^exponent),
/// for the usual (non-special, canonical) encodings; `None` for NaN, infinities and
/// the rest.
///
/// ```
/// use bson::Decimal128;
/// use std::str::FromStr;
/// let d = Decimal128::from_str("-12.50").unwrap();
/// assert_eq!(herald_core::decimal::parts(&d.bytes()), Some((true, 1250, -2)));
/// ```
pub fn parts(bytes: &[u8; 16]) -> Option<(bool, u128, i32)> {
    let bits = u128::from_le_bytes(*bytes);
    if (bits >> 125) & 0b11 == 0b11 {
        return None;
    }
    let negative = bits >> 127 == 1;
    let exponent = ((bits >> 113) & 0x3fff) as i32 - EXPONENT_BIAS;
    let coefficient = bits & ((1u128 << 113) - 1);
    (coefficient <= MAX_COEFFICIENT).then_some((negative, coefficient, exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Decimal128;
    use proptest::prelude::*;
    use std::str::FromStr;

    proptest! {
        #[test]
        fn plain_decimals_encode_as_the_bson_crate_does(text in "-?[0-9]{1,20}(\\.[0-9]{1,14})?") {
            let expected = Decimal128::from_str(&text).unwrap().bytes();
            prop_assert_eq!(parse_plain(&text), Some(expected));
        }

        #[test]
        fn parts_read_back_what_was_encoded(text in "-?[0-9]{1,20}(\\.[0-9]{1,14})?") {
            let bytes = Decimal128::from_str(&text).unwrap().bytes();
            let (negative, coefficient, exponent) = parts(&bytes).unwrap();
            let fraction = text.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(negative, text.starts_with('-'));
            prop_assert_eq!(exponent, -(fraction as i32));
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(coefficient, digits.parse::<u128>().unwrap());
        }

        #[test]
        fn other_text_is_left_to_the_bson_crate(text in "[-+.eE0-9a-zA-Z]{0,12}") {
            if let Some(bytes) = parse_plain(&text) {
                prop_assert_eq!(Some(bytes), Decimal128::from_str(&text).ok().map(|d| d.bytes()));
            }
        }
    }

    #[test]
    fn special_values_have_no_parts() {
        for text in ["NaN", "Infinity", "-Infinity"] {
            let d = Decimal128::from_str(text).unwrap();
            assert_eq!(parts(&d.bytes()), None, "{text}");
            assert_eq!(parse_plain(text), None, "{text}");
        }
        assert_eq!(parse_plain("1."), None);
        assert_eq!(parse_plain(".5"), None);
        assert_eq!(parse_plain("1".repeat(35).as_str()), None);
    }
}
