//! The solver's inner loops over one row of the score matrix.
//!
//! Each is written branch-free over fixed-width lanes so that LLVM vectorises it, and compiled twice on x86-64:
//! for the baseline target and for AVX2, picked at run time (prebuilt binaries cannot assume AVX2). Scores are
//! `f32`; the minimisation cost is `c = -s` in `f64`.

const LANES: usize = 8;

/// Defines `pub(super) fn $name` dispatching to an AVX2 build of `$body` when the CPU has it.
macro_rules! multiversion {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub(super) fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn generic($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    generic($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}

/// Splits `x` into whole lanes and a tail.
#[inline(always)]
fn lanes<T>(x: &[T]) -> (&[[T; LANES]], &[T]) {
    let (body, tail) = x.split_at(x.len() - x.len() % LANES);
    let (chunks, rest) = body.as_chunks::<LANES>();
    debug_assert!(rest.is_empty());
    (chunks, tail)
}

multiversion! {
    /// Relaxes every column through row `i`: `dist_k = min(dist_k, -row_k - w_k - u1)`, recording `pred`.
    /// Returns the new minimum distance and its first position.
    fn relax(row: &[f32], w: &[f64], u1: f64, i: u32, dist: &mut [f64], pred: &mut [u32]) -> (f64, usize) {
        let m = dist.len();
        let (row, w, pred) = (&row[..m], &w[..m], &mut pred[..m]);
        let mut min_v = [f64::INFINITY; LANES];
        let mut min_k = [0u64; LANES];
        let body = m - m % LANES;
        for base in (0..body).step_by(LANES) {
            let d: &mut [f64; LANES] = (&mut dist[base..base + LANES]).try_into().expect("lane width");
            let p: &mut [u32; LANES] = (&mut pred[base..base + LANES]).try_into().expect("lane width");
            let r: &[f32; LANES] = row[base..base + LANES].try_into().expect("lane width");
            let ww: &[f64; LANES] = w[base..base + LANES].try_into().expect("lane width");
            for l in 0..LANES {
                let h = -(r[l] as f64) - ww[l] - u1;
                let better = h < d[l];
                let nd = if better { h } else { d[l] };
                d[l] = nd;
                p[l] = if better { i } else { p[l] };
                let lower = nd < min_v[l];
                min_v[l] = if lower { nd } else { min_v[l] };
                min_k[l] = if lower { (base + l) as u64 } else { min_k[l] };
            }
        }
        let (mut best, mut at) = (f64::INFINITY, usize::MAX);
        for k in body..m {
            let h = -(row[k] as f64) - w[k] - u1;
            if h < dist[k] {
                dist[k] = h;
                pred[k] = i;
            }
            if dist[k] < best {
                (best, at) = (dist[k], k);
            }
        }
        for l in 0..LANES {
            let k = min_k[l] as usize;
            if min_v[l] < best || (min_v[l] == best && k < at) {
                (best, at) = (min_v[l], k);
            }
        }
        (best, at)
    }
}

multiversion! {
    /// `min_j (-row_j - v_j)`: the row's smallest reduced cost (`+inf` for an empty row).
    fn min_reduced(row: &[f32], v: &[f64]) -> f64 {
        let v = &v[..row.len()];
        let (rc, rt) = lanes(row);
        let (vc, vt) = lanes(v);
        let mut acc = [f64::INFINITY; LANES];
        for (r, vv) in rc.iter().zip(vc) {
            for l in 0..LANES {
                let h = -(r[l] as f64) - vv[l];
                acc[l] = if h < acc[l] { h } else { acc[l] };
            }
        }
        let mut best = f64::INFINITY;
        for (&r, &vv) in rt.iter().zip(vt) {
            best = best.min(-(r as f64) - vv);
        }
        acc.into_iter().fold(best, f64::min)
    }
}

multiversion! {
    /// The smallest and second-smallest reduced cost `-row_j - v_j` with their columns (`usize::MAX` when absent).
    fn two_smallest(row: &[f32], v: &[f64]) -> (f64, usize, f64, usize) {
        let m = row.len();
        let v = &v[..m];
        let mut m1 = [f64::INFINITY; LANES];
        let mut k1 = [u64::MAX; LANES];
        let mut m2 = [f64::INFINITY; LANES];
        let mut k2 = [u64::MAX; LANES];
        let body = m - m % LANES;
        for base in (0..body).step_by(LANES) {
            let r: &[f32; LANES] = row[base..base + LANES].try_into().expect("lane width");
            let vv: &[f64; LANES] = v[base..base + LANES].try_into().expect("lane width");
            for l in 0..LANES {
                let h = -(r[l] as f64) - vv[l];
                let k = (base + l) as u64;
                let below1 = h < m1[l];
                let below2 = h < m2[l];
                // New second: the old first if h beats it, else h if h beats the second.
                m2[l] = if below1 { m1[l] } else if below2 { h } else { m2[l] };
                k2[l] = if below1 { k1[l] } else if below2 { k } else { k2[l] };
                m1[l] = if below1 { h } else { m1[l] };
                k1[l] = if below1 { k } else { k1[l] };
            }
        }
        let (mut u1, mut j1, mut u2, mut j2) = (f64::INFINITY, usize::MAX, f64::INFINITY, usize::MAX);
        let mut push = |h: f64, k: usize| {
            if h < u1 || (h == u1 && k < j1) {
                (u2, j2) = (u1, j1);
                (u1, j1) = (h, k);
            } else if h < u2 || (h == u2 && k < j2) {
                (u2, j2) = (h, k);
            }
        };
        for l in 0..LANES {
            if k1[l] != u64::MAX {
                push(m1[l], k1[l] as usize);
            }
            if k2[l] != u64::MAX {
                push(m2[l], k2[l] as usize);
            }
        }
        for k in body..m {
            push(-(row[k] as f64) - v[k], k);
        }
        (u1, j1, u2, j2)
    }
}

multiversion! {
    /// Folds row `i` into running column maxima: `best_j = max(best_j, row_j)`, `arg_j = i` where it grew.
    fn column_max(row: &[f32], i: u32, best: &mut [f32], arg: &mut [u32]) -> () {
        for ((b, a), &s) in best.iter_mut().zip(arg.iter_mut()).zip(row) {
            let better = s > *b;
            *b = if better { s } else { *b };
            *a = if better { i } else { *a };
        }
    }
}

multiversion! {
    /// `max_j (row_j - v_j)` in `f64`.
    fn max_minus(row: &[f32], v: &[f64]) -> f64 {
        let v = &v[..row.len()];
        let (rc, rt) = lanes(row);
        let (vc, vt) = lanes(v);
        let mut acc = [f64::NEG_INFINITY; LANES];
        for (r, vv) in rc.iter().zip(vc) {
            for l in 0..LANES {
                let h = r[l] as f64 - vv[l];
                acc[l] = if h > acc[l] { h } else { acc[l] };
            }
        }
        let mut best = f64::NEG_INFINITY;
        for (&r, &vv) in rt.iter().zip(vt) {
            best = best.max(r as f64 - vv);
        }
        acc.into_iter().fold(best, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn data(m: usize, seed: u64, ties: bool) -> (Vec<f32>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let row = (0..m)
            .map(|_| {
                if ties {
                    rng.below(3) as f32
                } else {
                    rng.next_f32()
                }
            })
            .collect();
        let v = (0..m)
            .map(|_| if ties { 0.0 } else { rng.next_f64() - 0.5 })
            .collect();
        (row, v)
    }

    #[test]
    fn lane_kernels_match_scalar_references() {
        for m in [1, 2, 7, 8, 9, 31, 64, 100] {
            for ties in [false, true] {
                let (row, v) = data(m, m as u64, ties);
                let h: Vec<f64> = row
                    .iter()
                    .zip(&v)
                    .map(|(&s, &vj)| -(s as f64) - vj)
                    .collect();
                // Scalar references: first positions win ties.
                let mut order: Vec<usize> = (0..m).collect();
                order.sort_by(|&a, &b| h[a].total_cmp(&h[b]).then(a.cmp(&b)));
                let (u1, j1, u2, j2) = two_smallest(&row, &v);
                assert_eq!((u1, j1), (h[order[0]], order[0]), "m={m} ties={ties}");
                if m > 1 {
                    assert_eq!((u2, j2), (h[order[1]], order[1]), "m={m} ties={ties}");
                } else {
                    assert_eq!(j2, usize::MAX);
                }
                assert_eq!(min_reduced(&row, &v), h[order[0]]);
                let mx = row
                    .iter()
                    .zip(&v)
                    .map(|(&s, &vj)| s as f64 - vj)
                    .fold(f64::NEG_INFINITY, f64::max);
                assert_eq!(max_minus(&row, &v), mx);

                let mut dist: Vec<f64> = (0..m)
                    .map(|k| {
                        if k % 3 == 0 {
                            f64::INFINITY
                        } else {
                            h[k] + 0.25
                        }
                    })
                    .collect();
                let before = dist.clone();
                let mut pred = vec![9u32; m];
                let (best, at) = relax(&row, &v, -0.1, 4, &mut dist, &mut pred);
                for k in 0..m {
                    let cand = h[k] + 0.1;
                    assert_eq!(dist[k], before[k].min(cand));
                    assert_eq!(pred[k], if cand < before[k] { 4 } else { 9 });
                }
                let first = (0..m)
                    .min_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)))
                    .unwrap();
                assert_eq!((best, at), (dist[first], first));
            }
        }
    }

    #[test]
    fn column_max_keeps_the_larger_score() {
        let mut best = vec![0.5f32; 10];
        let mut arg = vec![0u32; 10];
        let row: Vec<f32> = (0..10).map(|k| k as f32 / 10.0).collect();
        column_max(&row, 3, &mut best, &mut arg);
        for k in 0..10 {
            assert_eq!(arg[k], if row[k] > 0.5 { 3 } else { 0 });
        }
    }
}
