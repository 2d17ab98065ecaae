//! Shortest augmenting paths on a sparse candidate graph, priced against the dense matrix.
//!
//! The optimal assignment of a score matrix almost always uses only entries among the top few of each row. This
//! solver keeps the [`K`] largest entries of every row, solves that sparse problem exactly (Dijkstra with column
//! duals `v`, one free row at a time, as in the dense solver), then *prices* the dense matrix: a row whose best
//! reduced score `max_j (s_ij - v_j)` beats its assigned entry has a column the sparse graph missed. Those
//! columns are added and only those rows re-augmented (square problems; rectangular ones re-solve, since a freed
//! column must keep a zero dual), until no row has one. The last pricing pass is the dense dual check, so the
//! result carries the same certificate as the dense solver. When the candidate graph has no perfect matching of
//! the rows, or pricing keeps finding columns, the caller falls back to the dense solver.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{check_cancel, kernels, Cancel, RowPoll};
use crate::error::Result;

/// Candidates kept per row before pricing.
const K: usize = 16;
/// Columns added per violating row per pricing round.
const ADD: usize = 8;
/// Pricing rounds before giving up to the dense solver.
const ROUNDS: usize = 16;
/// Relative slack of the pricing test, so that rounding in the duals cannot add columns forever.
const REL_TOL: f64 = 1e-12;
const NONE: u32 = u32::MAX;

/// The assignment and its dual bound (the last pricing pass computed it), or `None` when the dense solver must
/// take over.
pub(super) type Solution = Option<(Vec<u32>, f64)>;

pub(super) fn solve(scores: &[f32], n: usize, m: usize, cancel: Cancel<'_>) -> Result<Solution> {
    let poll = RowPoll::new(cancel, m);
    let cand: Vec<Vec<u32>> = scores
        .chunks_exact(m)
        .enumerate()
        .map(|(i, row)| {
            poll.row(i)?;
            Ok(top_k(row, K.min(m)))
        })
        .collect::<Result<_>>()?;
    let mut st = State::new(scores, n, m, cand);
    let mut free: Vec<u32> = (0..n as u32).collect();
    for _ in 0..ROUNDS {
        for &f in &free {
            check_cancel(cancel)?;
            if !st.augment(f) {
                return Ok(None);
            }
        }
        // Maximisation duals: v' = -v >= 0.
        let vmax: Vec<f64> = st.v.iter().map(|&t| -t).collect();
        free.clear();
        let mut bound = vmax.iter().sum::<f64>();
        for (i, row) in scores.chunks_exact(m).enumerate() {
            poll.row(i)?;
            let xi = st.x[i] as usize;
            let own = row[xi] as f64 - vmax[xi];
            let best = kernels::max_minus(row, &vmax);
            bound += best;
            let threshold = own + REL_TOL * (1.0 + own.abs() + best.abs());
            if best > threshold {
                add_violators(row, &vmax, threshold, &mut st.cand[i]);
                free.push(i as u32);
            }
        }
        if free.is_empty() {
            return Ok(Some((st.x, bound)));
        }
        if n == m {
            for &i in &free {
                let j = std::mem::replace(&mut st.x[i as usize], NONE);
                st.y[j as usize] = NONE;
            }
        } else {
            st.reset();
            free = (0..n as u32).collect();
        }
    }
    Ok(None)
}

/// Indices of the `k` largest entries of `row` (ties broken towards lower indices), unordered.
fn top_k(row: &[f32], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..k as u32).collect();
    let mut val: Vec<f32> = row[..k].to_vec();
    let (mut low, mut at) = min_of(&val);
    for (j, &s) in row.iter().enumerate().skip(k) {
        if s > low {
            val[at] = s;
            idx[at] = j as u32;
            (low, at) = min_of(&val);
        }
    }
    idx
}

fn min_of(v: &[f32]) -> (f32, usize) {
    let mut best = (v[0], 0);
    for (k, &x) in v.iter().enumerate().skip(1) {
        if x < best.0 {
            best = (x, k);
        }
    }
    best
}

/// Adds to `cand` up to [`ADD`] columns whose reduced score beats `threshold`, largest first.
fn add_violators(row: &[f32], vmax: &[f64], threshold: f64, cand: &mut Vec<u32>) {
    let mut found: Vec<(f64, u32)> = row
        .iter()
        .zip(vmax)
        .enumerate()
        .filter_map(|(j, (&s, &vj))| {
            let r = s as f64 - vj;
            (r > threshold).then_some((r, j as u32))
        })
        .filter(|(_, j)| !cand.contains(j))
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    cand.extend(found.into_iter().take(ADD).map(|(_, j)| j));
}

/// A heap entry ordered by smallest distance first.
#[derive(PartialEq)]
struct Entry(f64, u32);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// The sparse problem `min Σ c_{i,x_i}`, `c = -s`, over candidate edges, with column duals `v`. Invariant: every
/// assigned row's column minimises its reduced cost `c_ij - v_j` over the row's candidates, and `v <= 0`.
struct State<'a> {
    scores: &'a [f32],
    m: usize,
    cand: Vec<Vec<u32>>,
    x: Vec<u32>,
    y: Vec<u32>,
    v: Vec<f64>,
    dist: Vec<f64>,
    pred: Vec<u32>,
    done: Vec<bool>,
    touched: Vec<u32>,
    scanned: Vec<u32>,
    heap: BinaryHeap<Entry>,
}

impl<'a> State<'a> {
    fn new(scores: &'a [f32], n: usize, m: usize, cand: Vec<Vec<u32>>) -> Self {
        Self {
            scores,
            m,
            cand,
            x: vec![NONE; n],
            y: vec![NONE; m],
            v: vec![0.0; m],
            dist: vec![f64::INFINITY; m],
            pred: vec![NONE; m],
            done: vec![false; m],
            touched: Vec::new(),
            scanned: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Forgets the assignment and the duals, keeping the candidates.
    fn reset(&mut self) {
        self.x.fill(NONE);
        self.y.fill(NONE);
        self.v.fill(0.0);
    }

    fn cost(&self, i: usize, j: usize) -> f64 {
        -(self.scores[i * self.m + j] as f64)
    }

    /// Relaxes the candidates of row `i`, reached at distance `base` with reduced cost `u_i`.
    fn relax(&mut self, i: usize, base: f64, u_i: f64) {
        for k in 0..self.cand[i].len() {
            let j = self.cand[i][k] as usize;
            if self.done[j] {
                continue;
            }
            let h = base + self.cost(i, j) - self.v[j] - u_i;
            if h < self.dist[j] {
                if self.dist[j] == f64::INFINITY {
                    self.touched.push(j as u32);
                }
                self.dist[j] = h;
                self.pred[j] = i as u32;
                self.heap.push(Entry(h, j as u32));
            }
        }
    }

    /// Assigns free row `f` along a shortest augmenting path; `false` if no free column is reachable.
    fn augment(&mut self, f: u32) -> bool {
        self.heap.clear();
        self.relax(f as usize, 0.0, 0.0);
        let end = loop {
            let Some(Entry(d, j)) = self.heap.pop() else {
                break None;
            };
            let j = j as usize;
            if self.done[j] || d > self.dist[j] {
                continue;
            }
            self.done[j] = true;
            self.scanned.push(j as u32);
            if self.y[j] == NONE {
                break Some((j, d));
            }
            let i = self.y[j] as usize;
            let u_i = self.cost(i, j) - self.v[j];
            self.relax(i, d, u_i);
        };
        let found = end.is_some();
        if let Some((end, d_end)) = end {
            for &j in &self.scanned {
                let j = j as usize;
                self.v[j] += self.dist[j] - d_end;
            }
            let mut j = end;
            loop {
                let i = self.pred[j] as usize;
                self.y[j] = i as u32;
                let next = std::mem::replace(&mut self.x[i], j as u32);
                if i == f as usize {
                    break;
                }
                j = next as usize;
            }
        }
        for &j in &self.touched {
            self.dist[j as usize] = f64::INFINITY;
            self.done[j as usize] = false;
        }
        self.touched.clear();
        self.scanned.clear();
        found
    }
}
