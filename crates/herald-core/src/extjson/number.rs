//! JSON numbers: scanned by the grammar, integers valued as they are scanned.

use super::ExtJsonError;
use super::parser::Parser;
use bson::spec::ElementType;

/// A number's text as scanned.
pub(super) struct Number<'t> {
    /// The text, sign and all.
    pub(super) text: &'t str,
    /// The value when the text is an integer (no fraction, no exponent)
    /// that fits an `i64`; `-0` included (as 0).
    pub(super) integer: Option<i64>,
}

impl Parser<'_, '_> {
    /// A JSON number: int32 when it fits, else int64, else double (as the
    /// `bson` crate reads relaxed Extended JSON).
    pub(super) fn number(&mut self) -> Result<ElementType, ExtJsonError> {
        let start = self.pos;
        let number = self.number_text()?;
        // `-0` is the double -0.0 (as serde_json reads it), not the integer 0.
        if let Some(i) = number.integer
            && number.text != "-0"
        {
            return Ok(match i32::try_from(i) {
                Ok(small) => {
                    self.out.extend_from_slice(&small.to_le_bytes());
                    ElementType::Int32
                }
                Err(_) => {
                    self.out.extend_from_slice(&i.to_le_bytes());
                    ElementType::Int64
                }
            });
        }
        let d: f64 = number
            .text
            .parse()
            .map_err(|_| self.error_at(start, "invalid number"))?;
        if !d.is_finite() {
            return Err(self.error_at(start, "number out of range"));
        }
        self.out.extend_from_slice(&d.to_le_bytes());
        Ok(ElementType::Double)
    }

    /// Scans a number by the JSON grammar, valuing its integer part on the way.
    pub(super) fn number_text(&mut self) -> Result<Number<'_>, ExtJsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        // The magnitude, while it fits (`None` once it does not).
        let mut magnitude = Some(0u64);
        while let Some(d @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude
                .and_then(|m| m.checked_mul(10))
                .and_then(|m| m.checked_add(u64::from(d - b'0')));
            self.pos += 1;
        }
        match self.pos - int_start {
            0 => return Err(self.error_here("invalid number")),
            n if n > 1 && self.bytes[int_start] == b'0' => {
                return Err(self.error_at(int_start, "invalid number (leading zero)"));
            }
            _ => {}
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error_here("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error_here("invalid number"));
            }
        }
        let integer = match magnitude {
            Some(m) if integral && negative => 0i64.checked_sub_unsigned(m),
            Some(m) if integral => i64::try_from(m).ok(),
            _ => None,
        };
        Ok(Number {
            text: &self.text[start..self.pos],
            integer,
        })
    }

    /// Moves over decimal digits; how many.
    fn digits(&mut self) -> usize {
        let from = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - from
    }
}
