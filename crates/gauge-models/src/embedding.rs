//! Token-embedding lookup: `table` `[rows, d]` and `ids` `[..]` (`u32`) give `[.., d]`, row `ids[i]` at `i`.
//!
//! Inference runs candle's `index_select`. A table being trained on the CPU in `f32` runs as one graph node whose
//! backward pass adds row `i` of the gradient into row `ids[i]` of the table's gradient: into the table's buffer
//! when a training step provides one ([`crate::grad_sink`]), so a tied table's two gradients (this scatter and the
//! output head's product) meet in one buffer, else into a dense `[rows, d]` tensor handed to candle.
//! candle's `index_select` backward instead zero-fills a table-sized tensor and copies it again to add the rows.
//! `GAUGE_TRANSPORT_CPU_FUSED=0` keeps candle's path.

use candle_core::{CpuStorage, CustomOp2, DType, InplaceOp3, Layout, Result, Shape, Tensor};

use crate::cpu_fused::{contiguous_f32 as f32_data, contiguous_u32};

/// The rows of `table` `[rows, d]` at `ids` (`u32`, any shape), `[..ids, d]` (see the module docs).
pub(crate) fn lookup(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let (_, d) = table.dims2()?;
    let mut dims = ids.dims().to_vec();
    dims.push(d);
    let flat = ids.flatten_all()?;
    let trained = table.track_op()
        && crate::cpu_fused::applies(table)
        && table.is_contiguous()
        && flat.dtype() == DType::U32
        && flat.device().is_cpu();
    let rows = if trained {
        table.apply_op2(&flat.contiguous()?, Gather)?
    } else {
        table.index_select(&flat, 0)?
    };
    rows.reshape(dims)
}

/// Checks that every id names a row of a table with `rows` rows.
fn check_ids(ids: &[u32], rows: usize, op: &str) -> Result<()> {
    match ids.iter().find(|&&id| id as usize >= rows) {
        Some(id) => candle_core::bail!("{op}: id {id} is outside the table's {rows} rows"),
        None => Ok(()),
    }
}

/// `[n, d]` rows of the table at `n` ids.
struct Gather;

impl CustomOp2 for Gather {
    fn name(&self) -> &'static str {
        "embedding-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, d) = l1.shape().dims2()?;
        let table = f32_data(s1, l1, self.name(), "table")?;
        let ids = contiguous_u32(s2, l2, self.name(), "ids")?;
        check_ids(ids, rows, self.name())?;
        let mut out = Vec::with_capacity(ids.len() * d);
        for &id in ids {
            out.extend_from_slice(&table[id as usize * d..][..d]);
        }
        Ok((CpuStorage::F32(out), Shape::from((ids.len(), d))))
    }

    fn bwd(
        &self,
        table: &Tensor,
        ids: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        if let Some((sink, first)) = crate::grad_sink::claim(table)? {
            sink.inplace_op3(&g, ids, &ScatterAdd { first })?;
            return Ok((None, None));
        }
        let dense = table.zeros_like()?;
        dense.inplace_op3(&g, ids, &ScatterAdd { first: false })?;
        Ok((Some(dense), None))
    }
}

/// `dst[ids[i]] += g[i]` over the rows of `dst` `[rows, d]` and `g` `[n, d]`, in the order of `i` (the same bits
/// whatever the threads); `dst` is zeroed first when `first`.
struct ScatterAdd {
    first: bool,
}

impl InplaceOp3 for ScatterAdd {
    fn name(&self) -> &'static str {
        "embedding-train-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (rows, d) = l1.shape().dims2()?;
        let dst = crate::cpu_fused::contiguous_f32_mut(s1, l1, self.name(), "gradient buffer")?;
        let g = f32_data(s2, l2, self.name(), "gradient")?;
        let ids = contiguous_u32(s3, l3, self.name(), "ids")?;
        check_ids(ids, rows, self.name())?;
        if g.len() != ids.len() * d {
            candle_core::bail!(
                "{}: gradient {:?} does not match {} ids of width {d}",
                self.name(),
                l2.shape(),
                ids.len()
            );
        }
        if self.first {
            dst.fill(0.0);
        }
        for (&id, row) in ids.iter().zip(g.chunks_exact(d.max(1))) {
            for (a, b) in dst[id as usize * d..][..d].iter_mut().zip(row) {
                *a += b;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_sink::Sinks;
    use crate::test_util::{gap, seeded};
    use candle_core::{Device, Var};
    use std::sync::Arc;

    #[test]
    fn a_trained_lookup_equals_index_select_in_value_and_gradient() {
        let table = Var::from_tensor(&seeded(&[11, 5], 1, 1.0)).unwrap();
        // Repeated ids, so the scatter must add rather than overwrite.
        let ids = Tensor::new(&[[3u32, 0, 3], [10, 3, 7]], &Device::Cpu).unwrap();
        let cot = seeded(&[2, 3, 5], 2, 1.0);
        let ours = lookup(table.as_tensor(), &ids).unwrap();
        let theirs = table
            .as_tensor()
            .index_select(&ids.flatten_all().unwrap(), 0)
            .unwrap()
            .reshape((2, 3, 5))
            .unwrap();
        assert_eq!(gap(&ours, &theirs), 0.0);
        let g_ours = (ours * &cot)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_theirs = (theirs * &cot)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let want = g_theirs.get(table.as_tensor()).unwrap();
        assert!(gap(g_ours.get(table.as_tensor()).unwrap(), want) < 1e-6);

        // Through a buffer: candle gets nothing, the buffer gets the same gradient (stale contents overwritten).
        let params = vec![("t".to_string(), table.clone())];
        let sinks = Arc::new(Sinks::for_params(&params));
        for _ in 0..2 {
            let y = lookup(table.as_tensor(), &ids).unwrap();
            let loss = (y * &cot).unwrap().sum_all().unwrap();
            let g = sinks.scope(|| loss.backward()).unwrap();
            assert!(g.get(table.as_tensor()).is_none());
            assert!(gap(&sinks.written(table.as_tensor()).unwrap(), want) < 1e-6);
        }
    }

    #[test]
    fn an_id_outside_the_table_is_an_error() {
        let table = Var::from_tensor(&seeded(&[4, 3], 1, 1.0)).unwrap();
        let ids = Tensor::new(&[1u32, 4], &Device::Cpu).unwrap();
        let e = lookup(table.as_tensor(), &ids).unwrap_err().to_string();
        assert!(e.contains("id 4 is outside the table's 4 rows"), "{e}");
    }
}
