//! A tiny seeded generator (SplitMix64) whose streams are reproduced bit for bit by the fixture scripts in
//! `scripts/`, so Rust, TypeScript and Python can build the same random matrices from a seed.

/// SplitMix64 (Steele, Lea and Flood 2014), the seeding generator of `java.util.SplittableRandom`.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is a function of `seed` alone.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `[0, 1)` with 24 random bits: exactly representable in `f32`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform integer in `0..n` by rejection (no modulo bias). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let zone = u64::MAX - (u64::MAX % n) - 1;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return x % n;
            }
        }
    }

    /// A pair of independent standard normals (Box-Muller on two draws).
    pub fn next_normal_pair(&mut self) -> (f64, f64) {
        let u1 = ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        (r * t.cos(), r * t.sin())
    }

    /// Fills `out` with standard normals, two per Box-Muller draw.
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        let mut chunks = out.chunks_exact_mut(2);
        for pair in &mut chunks {
            let (a, b) = self.next_normal_pair();
            pair[0] = a as f32;
            pair[1] = b as f32;
        }
        if let [last] = chunks.into_remainder() {
            *last = self.next_normal_pair().0 as f32;
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates, high index first).
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut p: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_splitmix64_stream() {
        // First outputs for seed 1234567 from the reference C implementation (prng.di.unimi.it/splitmix64.c).
        let mut g = SplitMix64::new(1234567);
        assert_eq!(g.next_u64(), 6457827717110365317);
        assert_eq!(g.next_u64(), 3203168211198807973);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut g = SplitMix64::new(7);
        let mut p = g.permutation(1000);
        p.sort_unstable();
        assert!(p.iter().enumerate().all(|(i, &x)| x as usize == i));
    }
}
