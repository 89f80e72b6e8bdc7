//! Strided matrix views over `f32` slices and their product through the `gemm` crate
//! (the kernels burn's CPU backend uses), bounds-checked before the raw call.

use std::mem::MaybeUninit;

use gemm::{gemm, Parallelism};

/// A `rows × cols` matrix inside a slice: element `(r, c)` is
/// `data[offset + r·row_stride + c·col_stride]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    layout: Layout,
}

/// A writable `rows × cols` matrix inside a slice (distinct elements at distinct
/// positions: its strides never alias), possibly not yet initialized: a product
/// writes it ([`multiply`]), or, when it holds values, adds to it
/// ([`multiply_add`]).
pub struct ViewMut<'a> {
    data: &'a mut [MaybeUninit<f32>],
    layout: Layout,
    /// Whether every element holds a value (made from `&mut [f32]`): only then may
    /// a product add to it.
    initialized: bool,
}

/// Where a strided matrix's elements lie.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Layout {
    /// Rows of `cols` consecutive elements, `row_stride` apart, from `offset`.
    pub fn rows(offset: usize, rows: usize, cols: usize, row_stride: usize) -> Self {
        Layout {
            offset,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transposed matrix over the same elements.
    pub fn transposed(self) -> Self {
        Layout {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element lies inside a slice of `len` elements (false where the
    /// last element's position would overflow).
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .zip((self.cols - 1).checked_mul(self.col_stride))
            .and_then(|(down, across)| down.checked_add(across))
            .and_then(|position| position.checked_add(self.offset));
        last.is_some_and(|last| last < len)
    }
}

impl<'a> View<'a> {
    /// The matrix `layout` inside `data`; panics if it reaches past the end.
    pub fn new(data: &'a [f32], layout: Layout) -> Self {
        assert!(
            layout.fits(data.len()),
            "{layout:?} outside {} elements",
            data.len()
        );
        View { data, layout }
    }

    /// The transposed matrix over the same elements.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            layout: self.layout.transposed(),
        }
    }
}

impl<'a> ViewMut<'a> {
    /// The matrix `layout` inside `data`; panics if it reaches past the end.
    pub fn new(data: &'a mut [f32], layout: Layout) -> Self {
        // SAFETY: same size and alignment; only initialized values are ever written
        // through the view (products of `f32` operands), so `data` stays initialized.
        let data = unsafe { &mut *(data as *mut [f32] as *mut [MaybeUninit<f32>]) };
        Self {
            initialized: true,
            ..Self::uninit(data, layout)
        }
    }

    /// The matrix `layout` inside `data`, not yet initialized: a product writes every
    /// element of `layout`; panics if it reaches past the end.
    pub fn uninit(data: &'a mut [MaybeUninit<f32>], layout: Layout) -> Self {
        assert!(
            layout.fits(data.len()),
            "{layout:?} outside {} elements",
            data.len()
        );
        ViewMut {
            data,
            layout,
            initialized: false,
        }
    }
}

/// `dst = scale · lhs · rhs` (previous contents of `dst` ignored, every element
/// written), single-threaded:
/// callers parallelize over independent products.
pub fn multiply(dst: ViewMut<'_>, lhs: View<'_>, rhs: View<'_>, scale: f32) {
    multiply_on(dst, lhs, rhs, scale, Parallelism::None, false);
}

/// `dst += lhs · rhs`, single-threaded; `dst` must hold values (made by
/// [`ViewMut::new`]), else this panics.
pub fn multiply_add(dst: ViewMut<'_>, lhs: View<'_>, rhs: View<'_>) {
    assert!(dst.initialized, "adding a product to uninitialized memory");
    multiply_on(dst, lhs, rhs, 1.0, Parallelism::None, true);
}

/// [`multiply`] on rayon's threads when the product is large enough to gain
/// (192³ multiply-adds or more, the threshold of burn's CPU backend).
pub fn multiply_in_parallel(dst: ViewMut<'_>, lhs: View<'_>, rhs: View<'_>, scale: f32) {
    let work = dst.layout.rows * dst.layout.cols * lhs.layout.cols;
    let parallelism = if work >= 192 * 192 * 192 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    multiply_on(dst, lhs, rhs, scale, parallelism, false);
}

fn multiply_on(
    dst: ViewMut<'_>,
    lhs: View<'_>,
    rhs: View<'_>,
    scale: f32,
    parallelism: Parallelism,
    accumulate: bool,
) {
    let (d, l, r) = (dst.layout, lhs.layout, rhs.layout);
    assert!(
        l.cols == r.rows && d.rows == l.rows && d.cols == r.cols,
        "product of {}×{} and {}×{} into {}×{}",
        l.rows,
        l.cols,
        r.rows,
        r.cols,
        d.rows,
        d.cols
    );
    // SAFETY: every view was checked to lie inside its slice (`View::new`,
    // `ViewMut::new`, `ViewMut::uninit`), the shapes agree (above), `dst` is
    // borrowed mutably so it aliases neither operand. With `read_dst = false`
    // gemm stores every element of `dst` (zeros when the inner dimension is empty)
    // before it reads any back to accumulate later depth blocks (the x86 and
    // generic kernels built here; not gemm's optional Apple AMX one); with
    // `read_dst = true` (`accumulate`) `dst` holds values (asserted by the caller).
    unsafe {
        gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.data.as_mut_ptr().add(d.offset).cast::<f32>(),
            d.col_stride as isize,
            d.row_stride as isize,
            accumulate,
            lhs.data.as_ptr().add(l.offset),
            l.col_stride as isize,
            l.row_stride as isize,
            rhs.data.as_ptr().add(r.offset),
            r.col_stride as isize,
            r.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_and_transposed_products_match_the_definition() {
        // lhs: 2×3 from rows of stride 4; rhs: the transpose of a 2×3 block.
        let a: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let b: Vec<f32> = (0..6).map(|x| (x as f32) * 0.5 - 1.0).collect();
        let mut out = vec![0.0; 4];
        let lhs = View::new(&a, Layout::rows(0, 2, 3, 4));
        let rhs = View::new(&b, Layout::rows(0, 2, 3, 3)).t();
        multiply(
            ViewMut::new(&mut out, Layout::rows(0, 2, 2, 2)),
            lhs,
            rhs,
            2.0,
        );
        for i in 0..2 {
            for j in 0..2 {
                let expected: f32 = (0..3).map(|k| a[i * 4 + k] * b[j * 3 + k]).sum::<f32>() * 2.0;
                assert!((out[i * 2 + j] - expected).abs() < 1e-6);
            }
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn a_view_past_the_end_is_refused() {
        let a = [0.0f32; 5];
        View::new(&a, Layout::rows(0, 2, 3, 3));
    }
}
