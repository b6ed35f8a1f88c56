//! A sealed generation's marks: grouped by their top bits, so that a lookup
//! reads one slot of a small table of group starts and then the two to four
//! marks of its group, side by side (a cache miss or two), where a search of
//! a sorted run probes a dozen scattered places. Fingerprints are SHA-256
//! bytes, uniform, so the top bits spread them evenly over the groups.
//!
//! The marks take 16 bytes each, whatever the generation's size, and the
//! group starts 1 to 2 bytes a mark more (a group per two to four marks, 4
//! bytes each): memory follows the number of marks exactly, which a hash
//! table (a power of two of buckets, filled anywhere from 7/16 to 7/8) would not.

/// A generation's marks, grouped by their top bits.
#[derive(Debug)]
pub(crate) struct Grouped {
    /// The marks, group after group (in no order within a group).
    marks: Box<[u128]>,
    /// Group `g`'s marks are `marks[starts[g]..starts[g + 1]]`.
    starts: Box<[u32]>,
    /// How many top bits of a mark name its group (there are `2^bits` groups).
    bits: u32,
}

impl Grouped {
    /// Groups `marks` (each distinct); `count` is how many there are.
    pub(super) fn new(marks: impl Iterator<Item = u128> + Clone, count: usize) -> Self {
        // Two to four marks a group: the largest power of two of groups at
        // most half the marks.
        let bits = (count / 2).max(1).ilog2();
        let groups = 1usize << bits;
        let group = |mark: u128| group_of(mark, bits);
        let mut starts = vec![0u32; groups + 1];
        for mark in marks.clone() {
            starts[group(mark) + 1] += 1;
        }
        for g in 0..groups {
            starts[g + 1] += starts[g];
        }
        assert_eq!(
            starts[groups] as usize, count,
            "a generation holds fewer than 2^32 marks, as counted"
        );
        let mut next = starts[..groups].to_vec();
        let mut grouped = vec![0u128; count].into_boxed_slice();
        for mark in marks {
            let slot = &mut next[group(mark)];
            grouped[*slot as usize] = mark;
            *slot += 1;
        }
        Self {
            marks: grouped,
            starts: starts.into_boxed_slice(),
            bits,
        }
    }

    /// The marks held, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.marks.iter().copied()
    }

    /// Marks held.
    pub(super) fn len(&self) -> usize {
        self.marks.len()
    }

    /// Whether `mark` is one of them.
    pub(super) fn contains(&self, mark: u128) -> bool {
        let g = group_of(mark, self.bits);
        let (from, to) = (self.starts[g] as usize, self.starts[g + 1] as usize);
        self.marks[from..to].contains(&mark)
    }

    /// Bytes allocated for the marks and the group starts.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.marks.len() * 16 + self.starts.len() * 4
    }
}

/// The group of `mark` among `2^bits`: its top `bits` bits.
fn group_of(mark: u128, bits: u32) -> usize {
    // `checked_shr`: a shift by 128 (no bits, one group) is zero.
    mark.checked_shr(128 - bits).unwrap_or(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        /// A grouped generation holds exactly the marks it was built from,
        /// wherever their bits fall (the tests' marks need not be uniform).
        #[test]
        fn grouped_marks_answer_like_a_set(
            marks in prop::collection::hash_set(any::<u128>(), 0..300),
            probes in prop::collection::vec(any::<u128>(), 0..50),
            near in prop::collection::hash_set(0u128..64, 0..40),
        ) {
            for marks in [marks, near.clone()] {
                let grouped = Grouped::new(marks.iter().copied(), marks.len());
                prop_assert_eq!(grouped.len(), marks.len());
                for &m in marks.iter().chain(&probes).chain(&near) {
                    prop_assert_eq!(grouped.contains(m), marks.contains(&m), "{}", m);
                }
            }
        }
    }

    #[test]
    fn two_to_four_marks_a_group() {
        for count in [0usize, 1, 2, 3, 4, 7, 8, 9, 1_000, 114_688] {
            let marks: HashSet<u128> = (0..count as u128)
                .map(|n| n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
                .collect();
            let grouped = Grouped::new(marks.iter().copied(), count);
            let groups = grouped.starts.len() - 1;
            assert!(groups.is_power_of_two(), "{count}");
            if count >= 4 {
                assert!(
                    count / groups >= 2 && count / groups < 4,
                    "{count} in {groups}"
                );
            }
            assert_eq!(grouped.bytes(), count * 16 + (groups + 1) * 4);
        }
    }
}
