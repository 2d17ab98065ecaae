//! A Jonker-Volgenant style shortest-augmenting-path solver (Jonker and Volgenant 1987, "A shortest augmenting
//! path algorithm for dense and sparse linear assignment problems").
//!
//! Internally it minimises the cost `c_ij = -s_ij` in `f64` with column duals `v` and the invariant that every
//! assigned row's column minimises its reduced cost `c_ij - v_j`. Square problems start with column reduction,
//! reduction transfer and two rounds of augmenting row reduction; rectangular ones start from `v = 0`, which
//! keeps `v <= 0` and therefore the rectangular optimality conditions. Each remaining free row is then assigned
//! by a Dijkstra search over columns, relaxing one whole scanned row at a time in a contiguous, branch-free loop.

use super::{check_cancel, kernels, Cancel, RowPoll};
use crate::error::Result;

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
        let mut free = st.column_reduction(cancel)?;
        st.augmenting_row_reduction(&mut free, cancel)?;
        st.augmenting_row_reduction(&mut free, cancel)?;
        free
    } else {
        (0..n as u32).collect()
    };
    let mut search = Search::new(m);
    for f in free.drain(..) {
        check_cancel(cancel)?;
        st.augment(f, &mut search, cancel)?;
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
    fn column_reduction(&mut self, cancel: Cancel<'_>) -> Result<Vec<u32>> {
        let m = self.m;
        let n = self.x.len();
        let poll = RowPoll::new(cancel, m);
        let mut best = self.row(0).to_vec();
        let mut arg = vec![0u32; m];
        for i in 1..n {
            poll.row(i)?;
            kernels::column_max(self.row(i), i as u32, &mut best, &mut arg);
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
            poll.row(i)?;
            match count {
                0 => free.push(i as u32),
                1 => {
                    let j1 = self.x[i] as usize;
                    let (row, v) = (self.row(i), &self.v);
                    let min = kernels::min_reduced(&row[..j1], &v[..j1])
                        .min(kernels::min_reduced(&row[j1 + 1..], &v[j1 + 1..]));
                    if min.is_finite() {
                        self.v[j1] -= min;
                    }
                }
                _ => {}
            }
        }
        Ok(free)
    }

    /// One round of augmenting row reduction: each free row takes its cheapest column, lowering that column's
    /// dual to its second-cheapest reduced cost and freeing the previous owner. Rows still free stay in `free`.
    fn augmenting_row_reduction(&mut self, free: &mut Vec<u32>, cancel: Cancel<'_>) -> Result<()> {
        let pending = std::mem::take(free);
        let mut stack = pending;
        stack.reverse();
        // The classic algorithm terminates; the cap only guards against cycling on floating-point ties.
        let mut budget = 4 * self.x.len() + 16;
        let poll = RowPoll::new(cancel, self.m);
        while let Some(i) = stack.pop() {
            if budget == 0 {
                free.push(i);
                continue;
            }
            poll.row(budget)?;
            budget -= 1;
            let (umin, mut j1, mut usubmin, j2) =
                kernels::two_smallest(self.row(i as usize), &self.v);
            if j2 == usize::MAX {
                usubmin = umin;
            }
            let mut i0 = self.y[j1];
            let strict = umin < usubmin;
            if strict {
                self.v[j1] -= usubmin - umin;
            } else if i0 != NONE && j2 != usize::MAX {
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
        Ok(())
    }

    /// Assigns free row `f` along a shortest augmenting path and updates the duals of the scanned columns.
    /// `cancel` is polled once per band of scanned columns (each costs a pass over one row, so a band is a
    /// [`RowPoll`] band of rows); an abort leaves
    /// the state half-updated, which is fine since the solve is then abandoned.
    fn augment(&mut self, f: u32, s: &mut Search, cancel: Cancel<'_>) -> Result<()> {
        s.w.copy_from_slice(&self.v);
        s.scanned.clear();
        let poll = RowPoll::new(cancel, self.m);
        let (mut min, mut j) = init_row(self.row(f as usize), &self.v, f, &mut s.dist, &mut s.pred);
        let end = loop {
            if self.y[j] == NONE {
                break j;
            }
            s.scanned.push((j as u32, min));
            poll.row(s.scanned.len())?;
            s.dist[j] = f64::INFINITY;
            s.w[j] = f64::NEG_INFINITY;
            let i = self.y[j];
            let row = self.row(i as usize);
            // h_k = c_ik - v_k - u1 with u1 chosen so that h_j = min.
            let u1 = -(row[j] as f64) - self.v[j] - min;
            (min, j) = kernels::relax(row, &s.w, u1, i, &mut s.dist, &mut s.pred);
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
        Ok(())
    }
}

/// `dist_k = c_fk - v_k` for the free row `f`; returns the minimum and its first position.
fn init_row(row: &[f32], v: &[f64], f: u32, dist: &mut [f64], pred: &mut [u32]) -> (f64, usize) {
    // With every `dist` at +inf, relaxing through the free row with `u1 = 0` is exactly the initialisation.
    dist.fill(f64::INFINITY);
    kernels::relax(row, v, 0.0, f, dist, pred)
}
