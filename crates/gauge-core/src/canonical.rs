//! A canonical chart: gauge fixing from the checkpoint alone, so that index-level claims can be stated in a chart
//! every copy of a model agrees on, whatever chart it was saved in.
//!
//! The canonical gauge `c: model chart -> canonical chart` is built from two statistics that move predictably under
//! a gauge `h` (GAUGE.md §3):
//!
//! - the **order**: coordinates sorted by their mean norm gain, descending, and where two means are equal by the
//!   norm of their token-embedding columns (gains and column norms move as `|h|`, so the sorted order of `h·θ` is
//!   the order of `θ` moved by `h.perm`);
//! - the **signs**: `Bd` models (RMSNorm) flip each coordinate so that its token-embedding column sums to a positive
//!   value (the column moves signed, so the sum changes sign exactly with `h.sign`); `±Sd` models (LayerNorm) take
//!   one global sign, the one that makes the sum over all columns positive.
//!
//! Then `c(h·θ) ∘ h = c(θ)` for every gauge `h` of the model's group: the canonical chart is the same for every
//! re-charted copy. It breaks where the statistics do not separate coordinates: **ties** of both keys (at
//! initialisation, where every gain is 1 and embeddings are random, or in models whose gains cluster) make the
//! order arbitrary among the tied coordinates; **small embedding sums** make a sign depend on noise; and **fine-tuning moves gains**, so two
//! checkpoints of one run may order coordinates differently (coordinates whose gains cross swap places). The report
//! counts each of these, so a claim's chart can be judged before it is trusted.

use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::family::Role;
use crate::gauge::{Gauge, Group};

/// A canonical gauge and how well the checkpoint determines it.
#[derive(Debug, Clone)]
pub struct Canonical {
    /// The gauge from the checkpoint's chart to the canonical chart.
    pub gauge: Gauge,
    /// Gain tensors averaged for the order.
    pub gain_tensors: usize,
    /// Adjacent pairs (in the sorted order) whose mean gains differ by at most `tie_tolerance` times the gains'
    /// spread: their order hangs on a tiny gain difference, or (when equal) on the embedding norms.
    pub gain_ties: usize,
    /// Of those, pairs whose embedding-column norms are tied as well: their order is not determined by the
    /// checkpoint.
    pub ties: usize,
    /// The smallest gap between adjacent sorted gains, relative to the gains' standard deviation.
    pub min_gain_gap: f64,
    /// Coordinates whose embedding-column sum is below `tie_tolerance` times the mean absolute sum: their sign is
    /// not determined (for `±Sd` models, 1 when the global sum is that small).
    pub weak_signs: usize,
    /// The name of the embedding tensor the signs come from.
    pub sign_tensor: String,
    /// The tolerance used for ties and weak signs.
    pub tie_tolerance: f64,
}

/// The canonical gauge of the checkpoint directory `dir`; see the module docs. `tie_tolerance` (for example
/// `1e-6`) decides which gains count as tied and which sign statistics as too small.
pub fn canonical_gauge(dir: &Path, tie_tolerance: f64) -> Result<Canonical> {
    let ckpt = Checkpoint::open(dir)?;
    let d = ckpt.hidden_size()?;
    if let Some(reason) = crate::recharting::continuous_gauge_reason(&ckpt)? {
        return Err(Error::invalid(
            dir.display().to_string(),
            format!("{reason}; it has no canonical chart"),
        ));
    }
    let mut gain = vec![0f64; d];
    let mut gains = 0;
    let mut embed: Option<(String, Vec<f32>, usize)> = None;
    for (_, t) in ckpt.tensors() {
        let role = ckpt
            .arch
            .role(&t.name)
            .map_err(|e| Error::invalid(dir.display().to_string(), e.to_string()))?;
        match role {
            Role::Gain => {
                for (g, v) in gain.iter_mut().zip(ckpt.read_f32(&t.name)?) {
                    *g += v as f64;
                }
                gains += 1;
            }
            // The token embedding: the largest embed tensor (position embeddings are smaller).
            Role::Embed => {
                let rows = t.shape[0];
                if embed.as_ref().is_none_or(|(_, _, r)| rows > *r) {
                    embed = Some((t.name.clone(), ckpt.read_f32(&t.name)?, rows));
                }
            }
            _ => {}
        }
    }
    if gains == 0 {
        return Err(Error::invalid(
            dir.display().to_string(),
            "has no norm gains: the canonical order needs them",
        ));
    }
    let (sign_tensor, values, _) = embed.ok_or_else(|| {
        Error::invalid(
            dir.display().to_string(),
            "has no embedding tensor: the canonical signs need it",
        )
    })?;
    gain.iter_mut().for_each(|g| *g /= gains as f64);
    let mut sums = vec![0f64; d];
    let mut squares = vec![0f64; d];
    for row in values.chunks_exact(d) {
        for ((s, q), &v) in sums.iter_mut().zip(&mut squares).zip(row) {
            *s += v as f64;
            *q += (v as f64) * (v as f64);
        }
    }

    let spread_of = |x: &[f64]| {
        let mean = x.iter().sum::<f64>() / d as f64;
        (x.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / d as f64)
            .sqrt()
            .max(f64::MIN_POSITIVE)
    };
    let (gain_spread, norm_spread) = (spread_of(&gain), spread_of(&squares));
    let tied = |a: f64, b: f64, spread: f64| (a - b).abs() / spread <= tie_tolerance;
    // Exact keys make a total order; the tolerance only decides what the report calls fragile.
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| {
        gain[j]
            .total_cmp(&gain[i])
            .then(squares[j].total_cmp(&squares[i]))
            .then(i.cmp(&j))
    });
    let gaps: Vec<f64> = order
        .windows(2)
        .map(|w| (gain[w[0]] - gain[w[1]]).abs() / gain_spread)
        .collect();
    let gain_ties = gaps.iter().filter(|&&g| g <= tie_tolerance).count();
    let ties = order
        .windows(2)
        .filter(|w| {
            tied(gain[w[0]], gain[w[1]], gain_spread)
                && tied(squares[w[0]], squares[w[1]], norm_spread)
        })
        .count();
    let min_gain_gap = gaps.iter().copied().fold(f64::INFINITY, f64::min);

    let mean_abs = sums.iter().map(|s| s.abs()).sum::<f64>() / d as f64;
    let (sign, weak_signs): (Vec<i8>, usize) = match ckpt.arch.group() {
        Group::Bd => (
            sums.iter().map(|&s| if s < 0.0 { -1 } else { 1 }).collect(),
            sums.iter()
                .filter(|s| s.abs() <= tie_tolerance * mean_abs)
                .count(),
        ),
        _ => {
            let total: f64 = sums.iter().sum();
            let s = if total < 0.0 { -1 } else { 1 };
            (
                vec![s; d],
                usize::from(total.abs() <= tie_tolerance * mean_abs),
            )
        }
    };
    let mut perm = vec![0u32; d];
    for (rank, &i) in order.iter().enumerate() {
        perm[i] = rank as u32;
    }
    Ok(Canonical {
        gauge: Gauge::from_parts(perm, sign, "canonical gauge")?,
        gain_tensors: gains,
        gain_ties,
        ties,
        min_gain_gap: if d > 1 { min_gain_gap } else { f64::INFINITY },
        weak_signs,
        sign_tensor,
        tie_tolerance,
    })
}
