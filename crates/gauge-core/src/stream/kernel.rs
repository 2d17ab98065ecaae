//! The exact move of one tensor, output byte range by output byte range.
//!
//! `dst[.., perm[i], ..] = sign[i] * src[.., i, ..]` on the raw little-endian float elements: output coordinate
//! `p` of the residual axis comes from source coordinate `inv[p]`, and a negative sign flips the element's top
//! (sign) bit, which negates any IEEE float exactly. Any byte range of the output can be produced on its own
//! (a range may start or end inside an element), so a tensor can be cut into blocks of the output file.

use crate::checkpoint::TensorInfo;
use crate::gauge::Gauge;

/// The gauge as the kernels read it: per output coordinate `p`, its source coordinate `inv[p]` in the low 31
/// bits and, in the top bit, whether that coordinate's sign is negative (one load per element in the gathers).
pub(crate) struct Tables {
    /// Signs included.
    signed: Vec<u32>,
    /// Signs left out (the top bits clear).
    unsigned: Vec<u32>,
}

/// The top bit of a [`Tables`] entry: the sign is negative.
const NEG: u32 = 1 << 31;

impl Tables {
    /// Checks that the permutation is one of `0..d` (the kernels' unchecked reads rely on it).
    pub(crate) fn new(gauge: &Gauge) -> Self {
        let d = gauge.dim();
        assert!(d < NEG as usize, "a residual axis shorter than 2^31");
        let mut unsigned = vec![u32::MAX; d];
        for (i, &p) in gauge.perm().iter().enumerate() {
            let p = p as usize;
            assert!(p < d && unsigned[p] == u32::MAX, "a gauge is a permutation");
            unsigned[p] = i as u32;
        }
        let signed = unsigned
            .iter()
            .map(|&i| i | if gauge.sign()[i as usize] < 0 { NEG } else { 0 })
            .collect();
        Tables { signed, unsigned }
    }
}

/// How one tensor is produced.
#[derive(Clone, Copy)]
pub(crate) enum Move {
    /// Copied as it is.
    Copy,
    /// Moved along `axis`, sign-flipped when `signed`.
    Axis {
        /// Element width in bytes (2, 4 or 8).
        es: usize,
        /// Length of the residual axis.
        d: usize,
        /// Elements after the residual axis (1: the residual axis is the last one).
        inner: usize,
        signed: bool,
    },
}

impl Move {
    pub(crate) fn new(t: &TensorInfo, action: Option<(usize, bool)>) -> Self {
        match action {
            None => Move::Copy,
            Some((axis, signed)) => {
                debug_assert!(t.dtype.is_float());
                Move::Axis {
                    es: t.dtype.size(),
                    d: t.shape[axis],
                    inner: t.shape[axis + 1..].iter().product(),
                    signed,
                }
            }
        }
    }

    /// The source bytes that output bytes `lo..hi` of a tensor of `len` bytes are made of: whole slabs (the
    /// residual axis and what follows it), which an output slab is a permutation of.
    pub(crate) fn source_range(&self, lo: usize, hi: usize, len: usize) -> (usize, usize) {
        match *self {
            Move::Copy => (lo, hi),
            Move::Axis { es, d, inner, .. } => {
                let slab = (d * inner * es).max(1);
                (
                    (lo / slab) * slab,
                    hi.div_ceil(slab).saturating_mul(slab).min(len),
                )
            }
        }
    }

    /// Writes bytes `lo..lo + dst.len()` of the moved tensor whose source bytes are `src` into `dst`.
    pub(crate) fn fill(&self, tables: &Tables, src: &[u8], dst: &mut [u8], lo: usize) {
        let hi = lo + dst.len();
        assert!(hi <= src.len(), "an output range inside the tensor");
        if dst.is_empty() {
            return;
        }
        let Move::Axis {
            es,
            d,
            inner,
            signed,
        } = *self
        else {
            dst.copy_from_slice(&src[lo..hi]);
            return;
        };
        let table = if signed {
            &tables.signed
        } else {
            &tables.unsigned
        };
        assert_eq!(table.len(), d, "a gauge as long as the residual axis");
        let elements = |dst: &mut [u8], e0: usize| match es {
            2 => fill_elements::<u16>(src, dst, e0, d, inner, table),
            4 => fill_elements::<u32>(src, dst, e0, d, inner, table),
            8 => fill_elements::<u64>(src, dst, e0, d, inner, table),
            _ => unreachable!("float elements are 2, 4 or 8 bytes"),
        };
        // Whole elements first..last, with the pieces of elements cut by the range's ends made on the side.
        let first = lo.div_ceil(es);
        let last = hi / es;
        let mut tmp = [0u8; 8];
        if first > last {
            // The range lies inside one element.
            elements(&mut tmp[..es], lo / es);
            dst.copy_from_slice(&tmp[lo % es..lo % es + dst.len()]);
            return;
        }
        let head = first * es - lo;
        if head > 0 {
            elements(&mut tmp[..es], first - 1);
            dst[..head].copy_from_slice(&tmp[es - head..es]);
        }
        let body = (last - first) * es;
        if body > 0 {
            elements(&mut dst[head..head + body], first);
        }
        let tail = hi - last * es;
        if tail > 0 {
            elements(&mut tmp[..es], last);
            dst[head + body..].copy_from_slice(&tmp[..tail]);
        }
    }
}

/// An unsigned integer as wide as a float element: its top bit is the float's sign.
trait Element: Copy + Default + std::ops::BitXor<Output = Self> {
    /// The sign bits of every element packed in a little-endian `u64`.
    const SIGNS: u64;
    /// The sign bit when the top bit of a [`Tables`] entry is set, else zero, as XORed into an element loaded
    /// natively from its little-endian bytes.
    fn sign_of(entry: u32) -> Self;
}

macro_rules! element {
    ($t:ty, $signs:expr) => {
        impl Element for $t {
            const SIGNS: u64 = $signs;
            #[inline(always)]
            fn sign_of(entry: u32) -> Self {
                (((entry >> 31) as $t) << (<$t>::BITS - 1)).to_le()
            }
        }
    };
}
element!(u16, 0x8000_8000_8000_8000);
element!(u32, 0x8000_0000_8000_0000);
element!(u64, 0x8000_0000_0000_0000);

/// Writes output elements `e0..e0 + dst.len() / size_of::<T>()` of a tensor whose slabs are `d × inner`
/// elements, the residual axis first: output coordinate `p` is source coordinate `table[p] & !NEG`, its sign
/// bit flipped where `table[p]` has `NEG`. Buffers need no alignment.
fn fill_elements<T: Element>(
    src: &[u8],
    dst: &mut [u8],
    e0: usize,
    d: usize,
    inner: usize,
    table: &[u32],
) {
    let es = std::mem::size_of::<T>();
    let n = dst.len() / es;
    debug_assert_eq!(dst.len(), n * es);
    assert!(table.len() == d);
    assert!((e0 + n) * es <= src.len() && src.len().is_multiple_of(d * inner * es));
    if inner == 1 {
        // Gathers along rows: output row `r` is input row `r` permuted. Each input row is first copied into a
        // small cache-resident buffer (a sequential read the prefetchers follow), then gathered from there:
        // random reads straight from a cold row would wait on memory for every cache line. Every read is inside
        // the row because the table is a permutation of `0..d` (`Tables::new`).
        let mut row_buf = vec![T::default(); d];
        // SAFETY (both `align_to`s): any bytes are a valid `T` (a plain unsigned integer).
        let (head, _, tail) = unsafe { dst.align_to::<T>() };
        let aligned = head.is_empty() && tail.is_empty();
        let (mut e, mut o) = (e0, 0);
        while o < n {
            let (row, j0) = (e / d, e % d);
            let m = (d - j0).min(n - o);
            let from = &src[row * d * es..(row + 1) * d * es];
            // SAFETY: `from` and `row_buf` both hold `d * es` bytes, and any bytes are a valid `T`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    from.as_ptr(),
                    row_buf.as_mut_ptr().cast::<u8>(),
                    from.len(),
                )
            };
            let ps = &table[j0..j0 + m];
            if aligned {
                let (_, typed, _) = unsafe { dst.align_to_mut::<T>() };
                gather_row(&row_buf, ps, &mut typed[o..o + m]);
            } else {
                for (out, &p) in dst[o * es..(o + m) * es].chunks_exact_mut(es).zip(ps) {
                    let v = row_buf[(p & !NEG) as usize] ^ T::sign_of(p);
                    // SAFETY: `out` holds `es` bytes; unaligned writes are allowed.
                    unsafe { out.as_mut_ptr().cast::<T>().write_unaligned(v) };
                }
            }
            e += m;
            o += m;
        }
        return;
    }
    // Runs of `inner` elements move as one (a whole row of a `[d, inner]` matrix), flipped where negative.
    let slab = d * inner;
    let (mut e, mut o) = (e0, 0);
    while o < dst.len() {
        let (s, w) = (e / slab, e % slab);
        let (p, c) = (w / inner, w % inner);
        let m = (inner - c).min(n - (e - e0));
        let from = ((s * d + (table[p] & !NEG) as usize) * inner + c) * es;
        let run = &src[from..from + m * es];
        let to = &mut dst[o..o + m * es];
        if table[p] & NEG == 0 {
            to.copy_from_slice(run);
        } else {
            flip_copy::<T>(run, to);
        }
        e += m;
        o += m * es;
    }
}

/// `out[j] = row[ps[j] & !NEG]`, sign-flipped where `ps[j]` has `NEG`.
#[inline(always)]
fn gather_row<T: Element>(row: &[T], ps: &[u32], out: &mut [T]) {
    for (o, &p) in out.iter_mut().zip(ps) {
        let i = (p & !NEG) as usize;
        debug_assert!(i < row.len());
        // SAFETY: the table is a permutation of `0..d` (`Tables::new`) and `row` holds `d` elements.
        *o = unsafe { *row.get_unchecked(i) } ^ T::sign_of(p);
    }
}

/// `to = run` with every element's sign bit flipped; `run` holds whole elements of `T`.
fn flip_copy<T: Element>(run: &[u8], to: &mut [u8]) {
    let mut words = to.chunks_exact_mut(8);
    let mut from = run.chunks_exact(8);
    for (o, i) in (&mut words).zip(&mut from) {
        let v = u64::from_le_bytes(i.try_into().expect("8 bytes")) ^ T::SIGNS;
        o.copy_from_slice(&v.to_le_bytes());
    }
    let es = std::mem::size_of::<T>();
    for (o, i) in words
        .into_remainder()
        .chunks_exact_mut(es)
        .zip(from.remainder().chunks_exact(es))
    {
        o.copy_from_slice(i);
        o[es - 1] ^= 0x80;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Dtype;
    use crate::gauge::RandomOptions;

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

    /// Every output byte range, on buffers at any alignment, agrees with the f32 reference, for both axes.
    #[test]
    fn every_range_at_every_alignment_matches_the_reference() {
        let d = 6;
        let g = gauge(d, 3);
        let tables = Tables::new(&g);
        for (shape, axis) in [(vec![3, d], 1), (vec![d, 3], 0), (vec![2, d, 2], 1)] {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| i as f32 - 4.5).collect();
            let t = TensorInfo {
                name: "x".into(),
                dtype: Dtype::F32,
                shape: shape.clone(),
                start: 0,
                end: 4 * n as u64,
            };
            let want: Vec<u8> = g
                .apply_axis(&values, &shape, axis, true)
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mv = Move::new(&t, Some((axis, true)));
            for shift in [0, 1, 3] {
                let mut src = vec![0u8; bytes.len() + shift];
                src[shift..].copy_from_slice(&bytes);
                for lo in 0..bytes.len() {
                    for hi in lo..=bytes.len() {
                        let mut dst = vec![0u8; hi - lo + shift];
                        mv.fill(&tables, &src[shift..], &mut dst[shift..], lo);
                        assert_eq!(
                            &dst[shift..],
                            &want[lo..hi],
                            "{shape:?} {lo}..{hi} shift {shift}"
                        );
                    }
                }
            }
        }
    }

    /// bf16 and f64 elements, signed and unsigned, through the typed kernels.
    #[test]
    fn element_widths_and_unsigned_moves() {
        let d = 5;
        let g = gauge(d, 9);
        let tables = Tables::new(&g);
        for (dtype, es) in [(Dtype::BF16, 2usize), (Dtype::F64, 8)] {
            for (shape, axis) in [(vec![4, d], 1usize), (vec![d, 7], 0)] {
                let n: usize = shape.iter().product();
                let src: Vec<u8> = (0..n * es).map(|i| (i * 37 % 251) as u8).collect();
                let t = TensorInfo {
                    name: "x".into(),
                    dtype,
                    shape: shape.clone(),
                    start: 0,
                    end: (n * es) as u64,
                };
                for signed in [false, true] {
                    let mut dst = vec![0u8; n * es];
                    Move::new(&t, Some((axis, signed))).fill(&tables, &src, &mut dst, 0);
                    let inner: usize = shape[axis + 1..].iter().product();
                    let outer = n / (d * inner);
                    for o in 0..outer {
                        for i in 0..d {
                            let p = g.perm()[i] as usize;
                            for c in 0..inner {
                                let at = |k: usize| ((o * d + k) * inner + c) * es;
                                let mut want = src[at(i)..at(i) + es].to_vec();
                                if signed && g.sign()[i] < 0 {
                                    want[es - 1] ^= 0x80;
                                }
                                assert_eq!(&dst[at(p)..at(p) + es], &want[..]);
                            }
                        }
                    }
                }
            }
        }
    }
}
