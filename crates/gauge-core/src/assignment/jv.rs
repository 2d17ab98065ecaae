//! A Jonker-Volgenant style shortest-augmenting-path solver (Jonker and Volgenant 1987, "A shortest augmenting
//! path algorithm for dense and sparse linear assignment problems").
//!
//! Internally it minimises the cost `c_ij = -s_ij` in `f64` with column duals `v` and the invariant that every
//! assigned row's column minimises its reduced cost `c_ij - v_j`. Square problems start with column reduction,
//! reduction transfer and two rounds of augmenting row reduction; rectangular ones start from `v = 0`, which
//! keeps `v <= 0` and therefore the rectangular optimality conditions. Each remaining free row is then assigned
//! by a Dijkstra search over columns, relaxing one whole scanned row at a time in a contiguous, branch-free loop.

use super::{cancelled, Cancel};
use crate::error::{Error, Result};

const NONE: u32 = u32::MAX;

/// Solves the maximisation; returns the assignment and the column duals of the maximisation (`-v`).
pub(super) fn solve(
    scores: &[f32],
    n: usize,
    m: usize,
    cancel: Cancel<'_>,
) -> Result<(Vec<u32>, Vec<f64>)> {
    let mut st = State::new(scores, n, m);
    let mut free = if n == m {
        let mut free = st.column_reduction();
        st.augmenting_row_reduction(&mut free);
        st.augmenting_row_reduction(&mut free);
        free
    } else {
        (0..n as u32).collect()
    };
    let mut search = Search::new(m);
    for f in free.drain(..) {
        if cancelled(cancel) {
            return Err(Error::Aborted {
                what: "assignment".into(),
            });
        }
        st.augment(f, &mut search);
    }
    Ok((st.x, st.v.iter().map(|&v| -v).collect()))
}

struct State<'a> {
    scores: &'a [f32],
    m: usize,
    /// Column of each row, or `NONE`.
    x: Vec<u32>,
    /// Row of each column, or `NONE`.
    y: Vec<u32>,
    /// Column duals of the minimisation.
    v: Vec<f64>,
}

/// Scratch space of one Dijkstra search, reused across free rows.
struct Search {
    /// Tentative distance of each unscanned column; `+inf` once scanned.
    dist: Vec<f64>,
    /// `v` with `-inf` on scanned columns, so relaxing them yields `+inf` and never wins.
    w: Vec<f64>,
    /// Row from which each column was last reached.
    pred: Vec<u32>,
    /// Scanned columns with their final distance.
    scanned: Vec<(u32, f64)>,
}

impl Search {
    fn new(m: usize) -> Self {
        Self {
            dist: vec![0.0; m],
            w: vec![0.0; m],
            pred: vec![0; m],
            scanned: Vec::new(),
        }
    }
}

impl<'a> State<'a> {
    fn new(scores: &'a [f32], n: usize, m: usize) -> Self {
        Self {
            scores,
            m,
            x: vec![NONE; n],
            y: vec![NONE; m],
            v: vec![0.0; m],
        }
    }

    fn row(&self, i: usize) -> &'a [f32] {
        &self.scores[i * self.m..(i + 1) * self.m]
    }

    /// Column reduction (`v_j = min_i c_ij`, the column goes to its minimising row if that row has none yet) and
    /// reduction transfer for rows that received exactly one column. Returns the rows left free.
    fn column_reduction(&mut self) -> Vec<u32> {
        let m = self.m;
        let n = self.x.len();
        let mut best = self.row(0).to_vec();
        let mut arg = vec![0u32; m];
        for i in 1..n {
            for ((b, a), &s) in best.iter_mut().zip(arg.iter_mut()).zip(self.row(i)) {
                let better = s > *b;
                *b = if better { s } else { *b };
                *a = if better { i as u32 } else { *a };
            }
        }
        let mut matches = vec![0u32; n];
        for j in (0..m).rev() {
            self.v[j] = -(best[j] as f64);
            let i = arg[j] as usize;
            matches[i] += 1;
            if matches[i] == 1 {
                self.x[i] = j as u32;
                self.y[j] = i as u32;
            } else if self.v[j] < self.v[self.x[i] as usize] {
                let j1 = self.x[i] as usize;
                self.x[i] = j as u32;
                self.y[j] = i as u32;
                self.y[j1] = NONE;
            }
        }
        let mut free = Vec::new();
        for (i, &count) in matches.iter().enumerate() {
            match count {
                0 => free.push(i as u32),
                1 => {
                    let j1 = self.x[i] as usize;
                    let min = self
                        .row(i)
                        .iter()
                        .zip(&self.v)
                        .enumerate()
                        .filter(|&(j, _)| j != j1)
                        .map(|(_, (&s, &v))| -(s as f64) - v)
                        .fold(f64::INFINITY, f64::min);
                    if min.is_finite() {
                        self.v[j1] -= min;
                    }
                }
                _ => {}
            }
        }
        free
    }

    /// One round of augmenting row reduction: each free row takes its cheapest column, lowering that column's
    /// dual to its second-cheapest reduced cost and freeing the previous owner. Rows still free stay in `free`.
    fn augmenting_row_reduction(&mut self, free: &mut Vec<u32>) {
        let pending = std::mem::take(free);
        let mut stack = pending;
        stack.reverse();
        // The classic algorithm terminates; the cap only guards against cycling on floating-point ties.
        let mut budget = 4 * self.x.len() + 16;
        while let Some(i) = stack.pop() {
            if budget == 0 {
                free.push(i);
                continue;
            }
            budget -= 1;
            let (umin, mut j1, usubmin, j2) = two_smallest(self.row(i as usize), &self.v);
            let mut i0 = self.y[j1];
            let strict = umin < usubmin;
            if strict {
                self.v[j1] -= usubmin - umin;
            } else if i0 != NONE && j2 != NONE as usize {
                j1 = j2;
                i0 = self.y[j1];
            }
            self.x[i as usize] = j1 as u32;
            self.y[j1] = i;
            if i0 != NONE {
                self.x[i0 as usize] = NONE;
                if strict {
                    stack.push(i0);
                } else {
                    free.push(i0);
                }
            }
        }
    }

    /// Assigns free row `f` along a shortest augmenting path and updates the duals of the scanned columns.
    fn augment(&mut self, f: u32, s: &mut Search) {
        s.w.copy_from_slice(&self.v);
        s.pred.fill(f);
        s.scanned.clear();
        let mut min = init_row(self.row(f as usize), &self.v, &mut s.dist);
        let end = loop {
            let j = position_of(&s.dist, min);
            if self.y[j] == NONE {
                break j;
            }
            s.scanned.push((j as u32, min));
            s.dist[j] = f64::INFINITY;
            s.w[j] = f64::NEG_INFINITY;
            let i = self.y[j];
            let row = self.row(i as usize);
            // h_k = c_ik - v_k - u1 with u1 chosen so that h_j = min.
            let u1 = -(row[j] as f64) - self.v[j] - min;
            min = relax(row, &s.w, u1, i, &mut s.dist, &mut s.pred);
        };
        for &(j, d) in &s.scanned {
            self.v[j as usize] += d - min;
        }
        let mut j = end;
        loop {
            let i = s.pred[j];
            self.y[j] = i;
            let next = std::mem::replace(&mut self.x[i as usize], j as u32);
            if i == f {
                break;
            }
            j = next as usize;
        }
    }
}

/// `dist_k = c_fk - v_k`; returns the minimum.
fn init_row(row: &[f32], v: &[f64], dist: &mut [f64]) -> f64 {
    let mut mins = [f64::INFINITY; 4];
    for (k, ((d, &s), &vk)) in dist.iter_mut().zip(row).zip(v).enumerate() {
        let h = -(s as f64) - vk;
        *d = h;
        let lane = &mut mins[k & 3];
        *lane = if h < *lane { h } else { *lane };
    }
    mins.into_iter().fold(f64::INFINITY, f64::min)
}

/// Relaxes every column through row `i`: `dist_k = min(dist_k, c_ik - w_k - u1)`, recording `pred`. Scanned
/// columns have `w = -inf` and stay at `+inf`. Returns the new minimum distance.
fn relax(row: &[f32], w: &[f64], u1: f64, i: u32, dist: &mut [f64], pred: &mut [u32]) -> f64 {
    let mut mins = [f64::INFINITY; 4];
    let iter = dist.iter_mut().zip(pred.iter_mut()).zip(row).zip(w);
    for (k, (((d, p), &s), &wk)) in iter.enumerate() {
        let h = -(s as f64) - wk - u1;
        let better = h < *d;
        let nd = if better { h } else { *d };
        *d = nd;
        *p = if better { i } else { *p };
        let lane = &mut mins[k & 3];
        *lane = if nd < *lane { nd } else { *lane };
    }
    mins.into_iter().fold(f64::INFINITY, f64::min)
}

fn position_of(dist: &[f64], min: f64) -> usize {
    dist.iter()
        .position(|&d| d == min)
        .expect("the minimum is attained")
}

/// The smallest and second-smallest reduced cost `c_ij - v_j` of a row, with their columns (`j2 = NONE` when
/// the row has one column).
fn two_smallest(row: &[f32], v: &[f64]) -> (f64, usize, f64, usize) {
    let (mut u1, mut j1, mut u2, mut j2) = (f64::INFINITY, NONE as usize, f64::INFINITY, NONE as usize);
    for (j, (&s, &vj)) in row.iter().zip(v).enumerate() {
        let h = -(s as f64) - vj;
        if h < u2 {
            if h < u1 {
                (u2, j2) = (u1, j1);
                (u1, j1) = (h, j);
            } else {
                (u2, j2) = (h, j);
            }
        }
    }
    if j2 == NONE as usize {
        u2 = u1;
    }
    (u1, j1, u2, j2)
}
