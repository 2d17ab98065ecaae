//! Finiteness of `f32` data, the check every untrusted matrix (scores, weights, activations) passes before it is
//! used.
//!
//! [`all_finite`] ORs a flag of every entry together, branch-free, so that the loop vectorizes at the speed of a
//! memory read; only when it fails does [`first_non_finite`] search the data again for the entry an error should
//! name. An `f32` is NaN or ±infinity exactly when its 8 exponent bits are all set.

/// The exponent bits of an `f32`.
const EXPONENT: u32 = 0x7f80_0000;

/// Lanes of the OR: 16 `u32` flags, a whole AVX-512 register or two AVX2 ones.
const LANES: usize = 16;

/// Whether every entry of `x` is finite (neither NaN nor ±infinity); `true` for an empty slice.
pub fn all_finite(x: &[f32]) -> bool {
    let mut lanes = [0u32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lanes[j] |= u32::from(c[j].to_bits() & EXPONENT == EXPONENT);
        }
    }
    lanes.iter().all(|&l| l == 0) && tail.iter().all(|v| v.is_finite())
}

/// The index of the first entry of `x` that is NaN or ±infinity, if any.
pub fn first_non_finite(x: &[f32]) -> Option<usize> {
    if all_finite(x) {
        return None;
    }
    x.iter().position(|v| !v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_a_nan_or_an_infinity_anywhere() {
        let x: Vec<f32> = (0..100).map(|i| i as f32 - 50.0).collect();
        assert!(all_finite(&x));
        assert!(all_finite(&[]));
        assert_eq!(first_non_finite(&x), None);
        // In a full chunk's every lane and in the tail (100 = 6 chunks of 16 and a tail of 4).
        for at in 0..100 {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
                let mut y = x.clone();
                y[at] = bad;
                assert!(!all_finite(&y), "{bad} at {at}");
                assert_eq!(first_non_finite(&y), Some(at), "{bad} at {at}");
            }
        }
        // The largest finite values and subnormals are finite.
        assert!(all_finite(&[
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE / 2.0,
            -0.0
        ]));
    }

    #[test]
    fn names_the_first_of_several() {
        let mut x = vec![1.0f32; 64];
        x[40] = f32::INFINITY;
        x[7] = f32::NAN;
        assert_eq!(first_non_finite(&x), Some(7));
    }

    proptest! {
        #[test]
        fn agrees_with_is_finite(bits in proptest::collection::vec(any::<u32>(), 0..70)) {
            let x: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
            prop_assert_eq!(all_finite(&x), x.iter().all(|v| v.is_finite()));
            prop_assert_eq!(first_non_finite(&x), x.iter().position(|v| !v.is_finite()));
        }
    }
}
