//! A Bloom filter over the sealed generations' marks, so that a mark in none
//! of them (a new pair: the common case) is usually ruled out with one read
//! of 64 bytes, not a look into each generation.
//!
//! Blocked: a mark's five bits all fall in one 64-byte block, chosen by the
//! mark's low half; the bits come from its high half (fingerprints are
//! SHA-256 bytes, uniform, so no hashing is needed). Ten bits a mark it was
//! sized for: about one new mark in a hundred gets through to the
//! generations. It holds at least every mark of every generation (marks of
//! dropped generations linger until it is rebuilt, which happens when it is
//! full, sized anew from the marks then held), so a "no" is always right.

/// Bits of filter per mark it is sized for.
const BITS_PER_MARK: usize = 10;
/// Bits set (and tested) per mark, 9 bits of the mark's high half each.
const PROBES: u32 = 5;

/// The filter.
#[derive(Debug)]
pub(crate) struct Filter {
    blocks: Box<[[u64; 8]]>,
    /// Marks inserted.
    inserted: usize,
    /// Marks it was sized for.
    capacity: usize,
}

impl Filter {
    /// An empty filter sized for `capacity` marks.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            blocks: vec![[0u64; 8]; blocks_for(capacity)].into_boxed_slice(),
            inserted: 0,
            capacity,
        }
    }

    /// Whether `more` marks still fit the size it was made for.
    pub(super) fn has_room(&self, more: usize) -> bool {
        self.inserted + more <= self.capacity
    }

    /// Adds a mark.
    pub(super) fn insert(&mut self, mark: u128) {
        let block = &mut self.blocks[block_of(mark, self.blocks.len())];
        for bit in bits(mark) {
            block[bit / 64] |= 1 << (bit % 64);
        }
        self.inserted += 1;
    }

    /// False if `mark` was never inserted; true if it was, and for about
    /// one other mark in a hundred.
    pub(super) fn may_contain(&self, mark: u128) -> bool {
        let block = &self.blocks[block_of(mark, self.blocks.len())];
        bits(mark).all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// Bytes allocated for the blocks.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.blocks.len() * 64
    }
}

/// The 64-byte blocks of a filter sized for `capacity` marks.
fn blocks_for(capacity: usize) -> usize {
    capacity.saturating_mul(BITS_PER_MARK).div_ceil(512).max(1)
}

/// The block of `mark` among `blocks`: its low half scaled to the count.
fn block_of(mark: u128, blocks: usize) -> usize {
    ((u128::from(mark as u64) * blocks as u128) >> 64) as usize
}

/// The bits of `mark` within its block, from its high half.
fn bits(mark: u128) -> impl Iterator<Item = usize> {
    let high = (mark >> 64) as u64;
    (0..PROBES).map(move |i| ((high >> (9 * i)) & 511) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Marks as the ledger makes them: SHA-256 fingerprints.
    fn mark(n: u64) -> u128 {
        crate::ledger::fingerprint("rule", &n.to_be_bytes())
    }

    proptest! {
        /// Every mark inserted is found, whatever its bits.
        #[test]
        fn no_false_negatives(marks in prop::collection::vec(any::<u128>(), 0..500), capacity in 0usize..600) {
            let mut filter = Filter::new(capacity);
            for &m in &marks {
                filter.insert(m);
            }
            for &m in &marks {
                prop_assert!(filter.may_contain(m));
            }
        }
    }

    #[test]
    fn about_one_mark_in_a_hundred_gets_through() {
        let mut filter = Filter::new(100_000);
        (0..100_000).map(mark).for_each(|m| filter.insert(m));
        assert!(filter.has_room(0) && !filter.has_room(1));
        let through = (100_000..1_100_000)
            .map(mark)
            .filter(|&m| filter.may_contain(m))
            .count();
        // Ten bits a mark, five probes in 512-bit blocks: about 1%.
        assert!((5_000..20_000).contains(&through), "{through} of 1,000,000");
    }

    #[test]
    fn sized_at_ten_bits_a_mark() {
        assert_eq!(Filter::new(0).bytes(), 64);
        assert_eq!(Filter::new(512).bytes(), 10 * 64);
        // The default window's five generations and two seals of room.
        assert_eq!(Filter::new(7 * 114_688).bytes(), 15_680 * 64);
        // Far past any memory: the size saturates rather than overflows.
        assert_eq!(blocks_for(usize::MAX), usize::MAX.div_ceil(512));
    }
}
