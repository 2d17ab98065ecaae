//! Training batches: windows of a token stream at seeded random offsets.

use gauge_core::rng::SplitMix64;

use crate::error::{Error, Result};

/// Draws `batch` windows of `seq` consecutive ids from `ids`, each starting at a uniform offset in
/// `[0, ids.len() − seq]`, from a SplitMix64 stream seeded by `seed`: the same seed gives the same batches.
pub struct Batches<'a> {
    ids: &'a [u32],
    seq: usize,
    batch: usize,
    rng: SplitMix64,
}

impl<'a> Batches<'a> {
    /// Fails when the stream is shorter than one window or the shape is empty.
    pub fn new(ids: &'a [u32], seq: usize, batch: usize, seed: u64) -> Result<Self> {
        if seq < 2 || batch == 0 {
            return Err(Error::input(
                "batch",
                format!("{batch} sequences of {seq} tokens: needs at least 1 sequence of 2 tokens"),
            ));
        }
        if ids.len() < seq {
            return Err(Error::input(
                "corpus",
                format!("has {} tokens, fewer than one sequence of {seq}", ids.len()),
            ));
        }
        Ok(Self {
            ids,
            seq,
            batch,
            rng: SplitMix64::new(seed),
        })
    }

    /// The next batch: `batch` rows of `seq` ids.
    pub fn next_batch(&mut self) -> Vec<Vec<u32>> {
        let span = (self.ids.len() - self.seq + 1) as u64;
        (0..self.batch)
            .map(|_| {
                let o = self.rng.below(span) as usize;
                self.ids[o..o + self.seq].to_vec()
            })
            .collect()
    }
}
