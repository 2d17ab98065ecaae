//! Signed permutations of the residual stream: the gauge group `B_d` and its subgroups (GAUGE.md §2).
//!
//! A gauge `g` maps the source chart to the target chart: `(g·x)[perm[i]] = sign[i] * x[i]`, i.e. the matrix
//! `G = P D` with `G[perm[i], i] = sign[i]`.
//!
//! ```
//! use gauge_core::{Gauge, Group};
//!
//! // Coordinate 0 goes to 2 with its sign flipped, 1 goes to 0, 2 goes to 1.
//! let g = Gauge::from_parts(vec![2, 0, 1], vec![-1, 1, 1], "example")?;
//! assert_eq!(g.apply_vector(&[1.0, 2.0, 3.0])?, vec![2.0, 3.0, -1.0]);
//! assert_eq!(g.group(), Group::Bd);
//!
//! // `h.compose(&g)` applies g first, then h; the inverse undoes g.
//! let back = g.inverse().apply_vector(&g.apply_vector(&[1.0, 2.0, 3.0])?)?;
//! assert_eq!(back, vec![1.0, 2.0, 3.0]);
//! assert_eq!(g.inverse().compose(&g)?, Gauge::identity(3)?);
//! # Ok::<(), gauge_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The smallest of the three groups of GAUGE.md §1 that contains a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Permutations only (every sign +1).
    Sd,
    /// Permutations times one global sign (every sign equal).
    PmSd,
    /// Signed permutations.
    Bd,
}

impl Group {
    /// The name used in gauge files and on the command line: `Sd`, `±Sd` or `Bd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Sd => "Sd",
            Group::PmSd => "±Sd",
            Group::Bd => "Bd",
        }
    }

    /// Parses `Sd`, `±Sd` (also `+-Sd` and `pmSd`) or `Bd`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Sd" => Some(Group::Sd),
            "±Sd" | "+-Sd" | "pmSd" | "PmSd" => Some(Group::PmSd),
            "Bd" => Some(Group::Bd),
            _ => None,
        }
    }

    /// Whether every gauge of `self` lies in `other`.
    pub fn is_subgroup_of(self, other: Group) -> bool {
        matches!(
            (self, other),
            (Group::Sd, _) | (Group::PmSd, Group::PmSd | Group::Bd) | (Group::Bd, Group::Bd)
        )
    }
}

/// How two gauges agree, coordinate by coordinate (GAUGE.md §2, the recovery metric).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Fraction of coordinates `i` with the same `perm[i]`.
    pub perm_accuracy: f64,
    /// Fraction of coordinates `i` with the same `perm[i]` and the same `sign[i]`.
    pub signed_accuracy: f64,
}

/// Options of [`Gauge::random`].
#[derive(Debug, Clone, Copy)]
pub struct RandomOptions {
    /// Seed of the SplitMix64 stream.
    pub seed: u64,
    /// For `Bd`: the fraction of +1 signs, placed at random; exactly `round(p·d)` of them.
    pub positive_fraction: f64,
    /// The group to draw from; `PmSd` draws the global sign with probability 1/2 each.
    pub group: Group,
}

impl Default for RandomOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            positive_fraction: 0.5,
            group: Group::Bd,
        }
    }
}

/// A signed permutation of `d` coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gauge {
    perm: Vec<u32>,
    sign: Vec<i8>,
}

impl Gauge {
    /// The identity on `d` coordinates. `d` must be in `1..=`[`MAX_DIM`].
    pub fn identity(d: usize) -> Result<Self> {
        check_dim(d)?;
        Ok(Self {
            perm: (0..d as u32).collect(),
            sign: vec![1; d],
        })
    }

    /// Validates and wraps `perm` (a permutation of `0..d`) and `sign` (each ±1). `what` names the source in errors.
    pub fn from_parts(perm: Vec<u32>, sign: Vec<i8>, what: &str) -> Result<Self> {
        check_dim(perm.len())?;
        if perm.len() != sign.len() {
            return Err(Error::shape(
                format!("{what}: sign"),
                format!("length {} (the length of perm)", perm.len()),
                format!("length {}", sign.len()),
            ));
        }
        check_permutation(&perm, what)?;
        if let Some((index, &value)) = sign.iter().enumerate().find(|(_, &s)| s != 1 && s != -1) {
            return Err(Error::BadSign {
                what: what.to_string(),
                index,
                value: value as i64,
            });
        }
        Ok(Self { perm, sign })
    }

    /// A random gauge of `d` coordinates (`1..=`[`MAX_DIM`]) drawn from `opts.group`.
    pub fn random(d: usize, opts: &RandomOptions) -> Result<Self> {
        check_dim(d)?;
        let p = opts.positive_fraction;
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(
                "positiveFraction",
                format!("{p} is not in [0, 1]"),
            ));
        }
        if opts.group == Group::Sd && p != 1.0 {
            return Err(Error::invalid(
                "positiveFraction",
                format!("{p} with group Sd, whose signs are all +1 (use 1 or group Bd)"),
            ));
        }
        let mut rng = SplitMix64::new(opts.seed);
        let perm = rng.permutation(d);
        let sign = match opts.group {
            Group::Sd => vec![1; d],
            Group::PmSd => vec![if rng.next_u64() >> 63 == 0 { 1 } else { -1 }; d],
            Group::Bd => {
                let positives = (p * d as f64).round() as usize;
                let order = rng.permutation(d);
                let mut sign = vec![-1i8; d];
                for &i in &order[..positives] {
                    sign[i as usize] = 1;
                }
                sign
            }
        };
        Ok(Self { perm, sign })
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.perm.len()
    }

    /// `perm[i]` is the target coordinate of source coordinate `i`.
    pub fn perm(&self) -> &[u32] {
        &self.perm
    }

    /// `sign[i]` multiplies source coordinate `i` on its way to `perm[i]`.
    pub fn sign(&self) -> &[i8] {
        &self.sign
    }

    /// `self ∘ first`: apply `first`, then `self`. Both must have the same `d`.
    pub fn compose(&self, first: &Gauge) -> Result<Gauge> {
        self.check_same_dim(first, "compose")?;
        let perm = first.perm.iter().map(|&j| self.perm[j as usize]).collect();
        let sign = first
            .perm
            .iter()
            .zip(&first.sign)
            .map(|(&j, &s)| self.sign[j as usize] * s)
            .collect();
        Ok(Gauge { perm, sign })
    }

    /// The inverse gauge, mapping the target chart back to the source chart.
    pub fn inverse(&self) -> Gauge {
        let d = self.dim();
        let mut perm = vec![0u32; d];
        let mut sign = vec![1i8; d];
        for (i, (&p, &s)) in self.perm.iter().zip(&self.sign).enumerate() {
            perm[p as usize] = i as u32;
            sign[p as usize] = s;
        }
        Gauge { perm, sign }
    }

    /// `|g|`: the same permutation with every sign +1 (moves gains and squared quantities).
    pub fn abs(&self) -> Gauge {
        Gauge {
            perm: self.perm.clone(),
            sign: vec![1; self.dim()],
        }
    }

    /// The smallest group containing this gauge.
    pub fn group(&self) -> Group {
        if self.sign.iter().all(|&s| s == 1) {
            Group::Sd
        } else if self.sign.iter().all(|&s| s == self.sign[0]) {
            Group::PmSd
        } else {
            Group::Bd
        }
    }

    /// Perm and signed accuracy of `self` against `truth`, over all `d` coordinates.
    pub fn agreement(&self, truth: &Gauge) -> Result<Agreement> {
        self.check_same_dim(truth, "agreement")?;
        let (mut perm_hits, mut signed_hits) = (0usize, 0usize);
        for i in 0..self.dim() {
            if self.perm[i] == truth.perm[i] {
                perm_hits += 1;
                if self.sign[i] == truth.sign[i] {
                    signed_hits += 1;
                }
            }
        }
        let d = self.dim() as f64;
        Ok(Agreement {
            perm_accuracy: perm_hits as f64 / d,
            signed_accuracy: signed_hits as f64 / d,
        })
    }

    /// `g·x` for a vector of length `d`.
    pub fn apply_vector(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.apply_axis(x, &[x.len()], 0, true)
    }

    /// Moves a row-major tensor of `shape` along `axis` (whose length must be `d`):
    /// `out[.., perm[i], ..] = sign[i] * x[.., i, ..]`, or without the sign when `signed` is false (`|g|`).
    pub fn apply_axis(
        &self,
        x: &[f32],
        shape: &[usize],
        axis: usize,
        signed: bool,
    ) -> Result<Vec<f32>> {
        self.check_tensor(x.len(), shape, axis)?;
        let mut out = vec![0f32; x.len()];
        self.apply_axis_into(x, &mut out, shape, axis, signed)?;
        Ok(out)
    }

    /// [`Gauge::apply_axis`] writing into `out`, which must have the length of `x`.
    pub fn apply_axis_into(
        &self,
        x: &[f32],
        out: &mut [f32],
        shape: &[usize],
        axis: usize,
        signed: bool,
    ) -> Result<()> {
        let (outer, inner) = self.check_tensor(x.len(), shape, axis)?;
        if out.len() != x.len() {
            return Err(Error::shape(
                "out",
                format!("length {}", x.len()),
                format!("length {}", out.len()),
            ));
        }
        let d = self.dim();
        for o in 0..outer {
            let base = o * d * inner;
            for i in 0..d {
                let src = &x[base + i * inner..base + (i + 1) * inner];
                let p = self.perm[i] as usize;
                let dst = &mut out[base + p * inner..base + (p + 1) * inner];
                if signed && self.sign[i] < 0 {
                    for (o, &v) in dst.iter_mut().zip(src) {
                        *o = -v;
                    }
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
        Ok(())
    }

    /// Checks that `shape` describes `len` elements and has length `d` on `axis`; returns the element counts
    /// before and after that axis.
    fn check_tensor(&self, len: usize, shape: &[usize], axis: usize) -> Result<(usize, usize)> {
        if axis >= shape.len() {
            return Err(Error::invalid(
                "axis",
                format!(
                    "{axis} is out of range for a tensor of rank {}",
                    shape.len()
                ),
            ));
        }
        // A product that overflows describes more elements than any slice holds: a mismatch, never a wrap.
        let elements = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
        if elements != Some(len) {
            let count = elements.map_or("more than 2^64".into(), |n| n.to_string());
            return Err(Error::shape(
                "shape",
                format!("a product equal to the data length {len}"),
                format!("{shape:?} ({count} elements)"),
            ));
        }
        if shape[axis] != self.dim() {
            return Err(Error::shape(
                format!("axis {axis} of shape {shape:?}"),
                format!("length {} (the gauge's d)", self.dim()),
                format!("length {}", shape[axis]),
            ));
        }
        let outer = shape[..axis].iter().product();
        let inner = shape[axis + 1..].iter().product();
        Ok((outer, inner))
    }

    fn check_same_dim(&self, other: &Gauge, op: &str) -> Result<()> {
        if self.dim() != other.dim() {
            return Err(Error::shape(
                format!("{op}: other gauge"),
                format!("d = {}", self.dim()),
                format!("d = {}", other.dim()),
            ));
        }
        Ok(())
    }
}

/// The largest `d` of a gauge: 2^24 = 16,777,216 coordinates, a thousand times the widest residual stream of
/// today's models (16,384). A larger `d` is a mistake, and the arrays of a random gauge of `d = 2^32 - 1`
/// (36 GB) would be refused by the allocator, which ends the process.
pub const MAX_DIM: usize = 1 << 24;

fn check_dim(d: usize) -> Result<()> {
    if d == 0 {
        return Err(Error::Empty {
            what: "gauge (d = 0)".into(),
        });
    }
    if d > MAX_DIM {
        return Err(Error::invalid(
            "d",
            format!("{d} exceeds the largest gauge, 2^24 = {MAX_DIM} coordinates"),
        ));
    }
    Ok(())
}

fn check_permutation(perm: &[u32], what: &str) -> Result<()> {
    let d = perm.len();
    let mut seen = vec![false; d];
    for (i, &p) in perm.iter().enumerate() {
        let p = p as usize;
        if p >= d {
            return Err(Error::NotPermutation {
                what: what.to_string(),
                d,
                detail: format!("perm[{i}] = {p} is out of range"),
            });
        }
        if std::mem::replace(&mut seen[p], true) {
            let first = perm.iter().position(|&q| q as usize == p).unwrap_or(0);
            return Err(Error::NotPermutation {
                what: what.to_string(),
                d,
                detail: format!("perm[{first}] = perm[{i}] = {p}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gauge(d: usize, seed: u64) -> Gauge {
        Gauge::random(
            d,
            &RandomOptions {
                seed,
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// The matrix `G[perm[i], i] = sign[i]` of GAUGE.md §2, row-major.
    fn matrix(g: &Gauge) -> Vec<f32> {
        let d = g.dim();
        let mut m = vec![0f32; d * d];
        for i in 0..d {
            m[g.perm[i] as usize * d + i] = g.sign[i] as f32;
        }
        m
    }

    #[test]
    fn action_matches_the_matrix_definition() {
        let g = gauge(7, 3);
        let x: Vec<f32> = (0..7).map(|i| i as f32 + 1.0).collect();
        let gm = matrix(&g);
        let expected: Vec<f32> = (0..7)
            .map(|r| (0..7).map(|c| gm[r * 7 + c] * x[c]).sum())
            .collect();
        assert_eq!(g.apply_vector(&x).unwrap(), expected);
    }

    #[test]
    fn composition_is_matrix_product() {
        let (g, h) = (gauge(6, 1), gauge(6, 2));
        let hg = h.compose(&g).unwrap();
        let (gm, hm) = (matrix(&g), matrix(&h));
        let mut prod = vec![0f32; 36];
        for r in 0..6 {
            for c in 0..6 {
                prod[r * 6 + c] = (0..6).map(|k| hm[r * 6 + k] * gm[k * 6 + c]).sum();
            }
        }
        assert_eq!(matrix(&hg), prod);
    }

    #[test]
    fn random_respects_the_positive_fraction_and_group() {
        let g = Gauge::random(
            100,
            &RandomOptions {
                seed: 9,
                positive_fraction: 0.25,
                group: Group::Bd,
            },
        )
        .unwrap();
        assert_eq!(g.sign.iter().filter(|&&s| s == 1).count(), 25);
        assert_eq!(g.group(), Group::Bd);
        let s = Gauge::random(
            100,
            &RandomOptions {
                seed: 9,
                positive_fraction: 1.0,
                group: Group::Sd,
            },
        )
        .unwrap();
        assert_eq!(s.group(), Group::Sd);
        assert!(Gauge::random(
            10,
            &RandomOptions {
                positive_fraction: 0.5,
                group: Group::Sd,
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn rejects_invalid_parts() {
        let e = Gauge::from_parts(vec![0, 0, 2], vec![1, 1, 1], "g").unwrap_err();
        assert_eq!(e.code(), "GAUGE_NOT_PERMUTATION");
        assert!(e.to_string().contains("perm[0] = perm[1] = 0"), "{e}");
        let e = Gauge::from_parts(vec![0, 3, 1], vec![1, 1, 1], "g").unwrap_err();
        assert_eq!(e.code(), "GAUGE_NOT_PERMUTATION");
        let e = Gauge::from_parts(vec![0, 1], vec![1, 0], "g").unwrap_err();
        assert_eq!(e.code(), "GAUGE_BAD_SIGN");
        let e = Gauge::from_parts(vec![0, 1], vec![1], "g").unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        assert_eq!(Gauge::identity(0).unwrap_err().code(), "EMPTY_INPUT");
    }

    #[test]
    fn apply_axis_checks_shapes() {
        let g = gauge(4, 0);
        let x = vec![0f32; 12];
        assert_eq!(
            g.apply_axis(&x, &[3, 4], 0, true).unwrap_err().code(),
            "SHAPE_MISMATCH"
        );
        assert_eq!(
            g.apply_axis(&x, &[3, 4], 2, true).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            g.apply_axis(&x, &[4, 4], 1, true).unwrap_err().code(),
            "SHAPE_MISMATCH"
        );
        assert!(g.apply_axis(&x, &[3, 4], 1, true).is_ok());
    }

    #[test]
    fn a_gauge_wider_than_max_dim_is_refused_before_allocating() {
        for d in [MAX_DIM + 1, u32::MAX as usize] {
            let e = Gauge::random(d, &RandomOptions::default()).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT");
            assert!(e.to_string().contains("2^24"), "{e}");
            assert_eq!(Gauge::identity(d).unwrap_err().code(), "INVALID_ARGUMENT");
        }
    }

    #[test]
    fn a_shape_whose_product_overflows_is_a_mismatch() {
        let g = gauge(4, 0);
        let x = vec![0f32; 4];
        // 2147418113 · 2147549185 = 2^62 + 1, so the product 4 · (2^62 + 1) wraps to 4 = x.len(): a wrapping
        // check would accept it and slice far beyond the data.
        let e = g
            .apply_axis(&x, &[2147418113, 4, 2147549185], 1, true)
            .unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        assert!(e.to_string().contains("more than 2^64"), "{e}");
        let e = g.apply_axis(&x, &[usize::MAX, 2, 4], 2, true).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
    }

    fn arb_gauge(d: usize) -> impl Strategy<Value = Gauge> {
        any::<u64>().prop_map(move |seed| gauge(d, seed))
    }

    proptest! {
        #[test]
        fn group_laws(d in 1usize..40, a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let (g, h, k) = (gauge(d, a), gauge(d, b), gauge(d, c));
            let id = Gauge::identity(d).unwrap();
            prop_assert_eq!(g.compose(&id).unwrap(), g.clone());
            prop_assert_eq!(id.compose(&g).unwrap(), g.clone());
            prop_assert_eq!(g.compose(&g.inverse()).unwrap(), id.clone());
            prop_assert_eq!(g.inverse().compose(&g).unwrap(), id);
            prop_assert_eq!(
                k.compose(&h).unwrap().compose(&g).unwrap(),
                k.compose(&h.compose(&g).unwrap()).unwrap()
            );
            prop_assert_eq!(g.inverse().inverse(), g.clone());
            prop_assert_eq!(h.compose(&g).unwrap().inverse(), g.inverse().compose(&h.inverse()).unwrap());
            prop_assert_eq!(g.abs().compose(&h.abs()).unwrap(), g.compose(&h).unwrap().abs());
        }

        #[test]
        fn inverse_undoes_apply(g in (1usize..30).prop_flat_map(arb_gauge), rows in 1usize..4, inner in 1usize..3) {
            let d = g.dim();
            let shape = [rows, d, inner];
            let x: Vec<f32> = (0..rows * d * inner).map(|i| i as f32 - 7.5).collect();
            for signed in [true, false] {
                let y = g.apply_axis(&x, &shape, 1, signed).unwrap();
                let back = if signed { g.inverse() } else { g.inverse().abs() };
                prop_assert_eq!(back.apply_axis(&y, &shape, 1, signed).unwrap(), x.clone());
            }
        }

        #[test]
        fn apply_is_a_homomorphism(d in 1usize..30, a in any::<u64>(), b in any::<u64>()) {
            let (g, h) = (gauge(d, a), gauge(d, b));
            let x: Vec<f32> = (0..d).map(|i| (i as f32).sin()).collect();
            let two_steps = h.apply_vector(&g.apply_vector(&x).unwrap()).unwrap();
            prop_assert_eq!(h.compose(&g).unwrap().apply_vector(&x).unwrap(), two_steps);
        }

        #[test]
        fn agreement_with_itself_is_one(g in (1usize..30).prop_flat_map(arb_gauge)) {
            let a = g.agreement(&g).unwrap();
            prop_assert_eq!(a.perm_accuracy, 1.0);
            prop_assert_eq!(a.signed_accuracy, 1.0);
            let flipped = Gauge::from_parts(g.perm().to_vec(), g.sign().iter().map(|s| -s).collect(), "f").unwrap();
            let a = flipped.agreement(&g).unwrap();
            prop_assert_eq!(a.perm_accuracy, 1.0);
            prop_assert_eq!(a.signed_accuracy, 0.0);
        }
    }
}
