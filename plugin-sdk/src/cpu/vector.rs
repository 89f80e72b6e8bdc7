//! Element-wise and row operations (exp and softmax sums of the attention kernel,
//! GELU, sigmoid, SiLU, ReLU and their derivatives, layer norm rows, edge gathers
//! and scatters) written branch-free over slices, so that the compiler vectorizes
//! them: 16 lanes with AVX-512, 8 with AVX2 + FMA (chosen at run time), 4 with the
//! x86-64 baseline (SSE2), through `multiversioned!`. Sums keep eight partial sums
//! whatever the width, so their results do not depend on the CPU.

use std::mem::MaybeUninit;

multiversioned! {
    /// `row[i] = exp(row[i] − shift)`; returns the sum of the results.
    pub fn exp_shifted(row: &mut [f32], shift: f32) -> f32 {
        for x in row.iter_mut() {
            *x = exp(*x - shift);
        }
        sum(row)
    }
}

multiversioned! {
    /// `d_scores[i] = p[i]·(d_scores[i] − dot)`: one row of softmax's backward step,
    /// from the row's probabilities `p`, the gradient with respect to them in
    /// `d_scores`, and `dot = Σ p·d_scores`; panics unless both are equally long.
    pub fn softmax_backward_row(d_scores: &mut [f32], p: &[f32], dot: f32) {
        assert_eq!(d_scores.len(), p.len());
        for (d, &p) in d_scores.iter_mut().zip(p) {
            *d = p * (*d - dot);
        }
    }
}

multiversioned! {
    /// `out[i] = gelu(x[i])`, the exact (erf) GELU `x·Φ(x)` within about 2e-7
    /// absolute of the f64 definition, every element of `out` written; panics unless
    /// `out` is as long as `x`.
    pub fn gelu(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        map(x, out, |x| {
            let (cdf, _) = normal_cdf_and_density(x);
            x * cdf
        })
    }
}

multiversioned! {
    /// `d_x[i] = d_out[i]·(Φ(x) + x·φ(x))` from GELU's input `x` (Φ, φ: the standard
    /// normal distribution and density), every element of `d_x` written; panics
    /// unless the three are equally long.
    pub fn gelu_backward(x: &[f32], d_out: &[f32], d_x: &mut [MaybeUninit<f32>]) {
        assert!(x.len() == d_x.len() && d_out.len() == d_x.len());
        for ((d_x, &x), &d) in d_x.iter_mut().zip(x).zip(d_out) {
            let (cdf, density) = normal_cdf_and_density(x);
            d_x.write(d * (cdf + x * density));
        }
    }
}

multiversioned! {
    /// `out[i] = σ(x[i]) = 1 / (1 + e^(−x[i]))`, every element of `out` written; panics
    /// unless `out` is as long as `x`.
    pub fn sigmoid(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        map(x, out, sigmoid_one)
    }
}

multiversioned! {
    /// `out[i] = x[i]·σ(x[i])` (SiLU), every element of `out` written; panics unless
    /// `out` is as long as `x`.
    pub fn silu(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        map(x, out, |x| x * sigmoid_one(x))
    }
}

multiversioned! {
    /// `out[i] = max(x[i], 0)` (ReLU), every element of `out` written; panics unless
    /// `out` is as long as `x`.
    pub fn relu(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        map(x, out, |x| if x > 0.0 { x } else { 0.0 })
    }
}

multiversioned! {
    /// `d_x[i] = d_out[i]` where ReLU's output `y[i] > 0`, else 0, every element of
    /// `d_x` written; panics unless the three are equally long.
    pub fn relu_backward(y: &[f32], d_out: &[f32], d_x: &mut [MaybeUninit<f32>]) {
        assert!(y.len() == d_x.len() && d_out.len() == d_x.len());
        for ((d_x, &y), &d) in d_x.iter_mut().zip(y).zip(d_out) {
            d_x.write(if y > 0.0 { d } else { 0.0 });
        }
    }
}

multiversioned! {
    /// `d_x[i] = d_out[i]·s[i]·(1 − s[i])` from sigmoid's output `s`, every element of
    /// `d_x` written; panics unless the three are equally long.
    pub fn sigmoid_backward(s: &[f32], d_out: &[f32], d_x: &mut [MaybeUninit<f32>]) {
        assert!(s.len() == d_x.len() && d_out.len() == d_x.len());
        for ((d_x, &s), &d) in d_x.iter_mut().zip(s).zip(d_out) {
            d_x.write(d * s * (1.0 - s));
        }
    }
}

multiversioned! {
    /// `d_x[i] = d_out[i]·(s + x·s·(1 − s))`, `s = σ(x[i])`, from SiLU's input `x`,
    /// every element of `d_x` written; panics unless the three are equally long.
    pub fn silu_backward(x: &[f32], d_out: &[f32], d_x: &mut [MaybeUninit<f32>]) {
        assert!(x.len() == d_x.len() && d_out.len() == d_x.len());
        for ((d_x, &x), &d) in d_x.iter_mut().zip(x).zip(d_out) {
            let s = sigmoid_one(x);
            d_x.write(d * (s + x * s * (1.0 - s)));
        }
    }
}

multiversioned! {
    /// Layer normalization of whole rows of `gamma.len()` elements: `out = (x −
    /// mean)·inv_std·γ + β` with each row's mean and biased variance (`inv_std =
    /// 1/√(var + ε)`), which it also writes to `mean` and `inv_std` (one per row).
    /// Every element of `out` is written; panics unless the lengths agree.
    pub fn layer_norm_rows(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        epsilon: f32,
        out: &mut [MaybeUninit<f32>],
        mean: &mut [f32],
        inv_std: &mut [f32],
    ) {
        let width = gamma.len();
        assert!(beta.len() == width && out.len() == x.len());
        assert!(width > 0 && x.len() == mean.len() * width && mean.len() == inv_std.len());
        let rows = x.chunks_exact(width).zip(out.chunks_exact_mut(width));
        for (((x, out), mean), inv_std) in rows.zip(mean).zip(inv_std) {
            let m = sum(x) / width as f32;
            let variance = sum_of_squares(x, m) / width as f32;
            let inverse = 1.0 / (variance + epsilon).sqrt();
            for (((out, &x), &g), &b) in out.iter_mut().zip(x).zip(gamma).zip(beta) {
                out.write((x - m) * inverse * g + b);
            }
            (*mean, *inv_std) = (m, inverse);
        }
    }
}

multiversioned! {
    /// Backward step of [`layer_norm_rows`] over whole rows: `dx = inv_std·(g −
    /// mean(g) − x̂·mean(g·x̂))` with `g = dy·γ` and `x̂ = (x − mean)·inv_std`, every
    /// element of `dx` written; adds `Σ dy·x̂` over the rows to `d_gamma` and `Σ dy`
    /// to `d_beta`. Panics unless the lengths agree.
    pub fn layer_norm_backward_rows(
        x: &[f32],
        dy: &[f32],
        gamma: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        dx: &mut [MaybeUninit<f32>],
        d_gamma: &mut [f32],
        d_beta: &mut [f32],
    ) {
        let width = gamma.len();
        assert!(d_gamma.len() == width && d_beta.len() == width);
        assert!(width > 0 && x.len() == mean.len() * width && mean.len() == inv_std.len());
        assert!(dy.len() == x.len() && dx.len() == x.len());
        let rows = x.chunks_exact(width).zip(dy.chunks_exact(width));
        let rows = rows.zip(dx.chunks_exact_mut(width));
        for ((((x, dy), dx), &m), &inverse) in rows.zip(mean).zip(inv_std) {
            let (sum_g, sum_g_xhat) = gradient_sums(x, dy, gamma, m, inverse);
            let (mean_g, mean_g_xhat) = (sum_g / width as f32, sum_g_xhat / width as f32);
            let columns = dx.iter_mut().zip(x).zip(dy).zip(gamma);
            for ((((dx, &x), &dy), &g), (d_gamma, d_beta)) in
                columns.zip(d_gamma.iter_mut().zip(d_beta.iter_mut()))
            {
                let xhat = (x - m) * inverse;
                dx.write(inverse * (dy * g - mean_g - xhat * mean_g_xhat));
                *d_gamma += dy * xhat;
                *d_beta += dy;
            }
        }
    }
}

multiversioned! {
    /// Row `r` of `out` `= a[target[r]] + b[source[r]] + c[r] + bias` for the rows of
    /// `c` (`bias.len()` wide), `a` and `b` holding node rows as wide; every element of
    /// `out` written. Panics unless the lengths agree or an index is out of range.
    pub fn gather_sum_rows(
        out: &mut [MaybeUninit<f32>],
        c: &[f32],
        a: &[f32],
        b: &[f32],
        bias: &[f32],
        target: &[usize],
        source: &[usize],
    ) {
        let width = bias.len();
        assert!(width > 0 && out.len() == c.len() && c.len() == target.len() * width);
        assert_eq!(target.len(), source.len());
        let rows = out.chunks_exact_mut(width).zip(c.chunks_exact(width));
        for ((out, c), (&t, &s)) in rows.zip(target.iter().zip(source)) {
            let a = &a[t * width..(t + 1) * width];
            let b = &b[s * width..(s + 1) * width];
            for ((((out, a), b), c), bias) in out.iter_mut().zip(a).zip(b).zip(c).zip(bias) {
                out.write(a + b + c + bias);
            }
        }
    }
}

multiversioned! {
    /// `part[index[e]] += rows[e][start..start + span]` for every row `e` of `rows`
    /// (`width` wide) in order, `part` holding node rows `span` wide. Panics unless
    /// the lengths agree or an index is out of range.
    pub fn scatter_add_columns(
        part: &mut [f32],
        rows: &[f32],
        index: &[usize],
        width: usize,
        start: usize,
        span: usize,
    ) {
        assert!(start + span <= width && rows.len() == index.len() * width);
        for (row, &node) in rows.chunks_exact(width).zip(index) {
            let to = &mut part[node * span..(node + 1) * span];
            for (to, from) in to.iter_mut().zip(&row[start..start + span]) {
                *to += from;
            }
        }
    }
}

#[inline(always)]
fn map(x: &[f32], out: &mut [MaybeUninit<f32>], f: impl Fn(f32) -> f32) {
    assert_eq!(x.len(), out.len());
    for (out, &x) in out.iter_mut().zip(x) {
        out.write(f(x));
    }
}

#[inline(always)]
fn sigmoid_one(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

multiversioned! {
    /// The largest element (−∞ for an empty row).
    pub fn max(row: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; 8];
        let mut chunks = row.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                // A comparison, not `f32::max` (whose NaN rule keeps it scalar).
                *lane = if x > *lane { x } else { *lane };
            }
        }
        let tail = chunks.remainder().iter().copied();
        lanes
            .into_iter()
            .chain(tail)
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

/// `(Φ(x), φ(x))`, the standard normal distribution and density at `x`.
/// `Φ(x) = (1 + erf(x/√2))/2`; with `c = erfc(|x|/√2)`, `1 + erf(x/√2)` is `2 − c`
/// for x ≥ 0 and `c` for x < 0, which avoids cancelling `1 − 1` far left. erfc by
/// Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7): for z ≥ 0, `erfc(z) ≈
/// t·(a₁ + t·(a₂ + t·(a₃ + t·(a₄ + t·a₅))))·e^(−z²)`, `t = 1/(1 + p·z)`; `e^(−z²)` is
/// also `√(2π)·φ(x)`.
#[inline(always)]
fn normal_cdf_and_density(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    // 1/√(2π).
    const INV_SQRT_TAU: f32 = 0.398_942_3;
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let gaussian = exp(-z * z);
    let erfc = poly * gaussian;
    let one_plus_erf = if x >= 0.0 { 2.0 - erfc } else { erfc };
    // `exp` stops at e⁻⁸⁷; beyond, the density is 0 (else x·φ(x) would not vanish
    // for huge |x|).
    let density = if z * z > 87.0 {
        0.0
    } else {
        INV_SQRT_TAU * gaussian
    };
    (0.5 * one_plus_erf, density)
}

/// Sum in eight independent lanes (vectorizable, unlike one running sum).
#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `(Σ g, Σ g·x̂)` over one row, `g = dy·γ`, `x̂ = (x − mean)·inv_std`, in eight
/// independent lanes.
#[inline(always)]
fn gradient_sums(x: &[f32], dy: &[f32], gamma: &[f32], mean: f32, inv_std: f32) -> (f32, f32) {
    let width = gamma.len();
    let (x, dy) = (&x[..width], &dy[..width]);
    let (mut sum_g, mut sum_g_xhat) = ([0.0f32; 8], [0.0f32; 8]);
    let whole = width / 8 * 8;
    for start in (0..whole).step_by(8) {
        for lane in 0..8 {
            let i = start + lane;
            let g = dy[i] * gamma[i];
            sum_g[lane] += g;
            sum_g_xhat[lane] += g * (x[i] - mean) * inv_std;
        }
    }
    let (mut total_g, mut total_g_xhat) = (sum_g.iter().sum::<f32>(), sum_g_xhat.iter().sum());
    for i in whole..width {
        let g = dy[i] * gamma[i];
        total_g += g;
        total_g_xhat += g * (x[i] - mean) * inv_std;
    }
    (total_g, total_g_xhat)
}

/// `Σ (x − center)²` in eight independent lanes.
#[inline(always)]
fn sum_of_squares(values: &[f32], center: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += (x - center) * (x - center);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .map(|&x| (x - center) * (x - center));
    lanes.iter().sum::<f32>() + tail.sum::<f32>()
}

/// eˣ within about 1 ulp for x in [−87, 88] (clamped there: below, the result is
/// ~1e-38 instead of 0). eˣ = 2ⁿ·eʳ with n = round(x / ln 2) and |r| ≤ ln 2 / 2;
/// eʳ by Cephes' `expf` minimax polynomial.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that n·LN2_HI is exact for |n| ≤ 127.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to the nearest integer, which then sits in the low
    // mantissa bits of the sum.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let rounded = x * LOG2_E + ROUND;
    let n = rounded - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // 2ⁿ from its exponent bits, n + 127 (n ∈ [−126, 127] after the clamp): the low
    // nine bits of `rounded`'s bits plus 127, shifted into the exponent field.
    // Integer operations only, which vectorize (a float-to-int cast would not).
    let two_n = f32::from_bits(rounded.to_bits().wrapping_add(127) << 23);
    e_r * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_the_standard_one() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, std) = (exp(x), x.exp());
            worst = worst.max(f64::from((ours - std).abs() / std));
            x += 0.0137;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1e4) < 1e-37);
    }

    #[test]
    fn gelu_is_within_2e_7_of_the_f64_definition() {
        // erf in f64 by its Taylor series (|x| ≤ 3) or continued fraction (beyond).
        fn erf(x: f64) -> f64 {
            let z = x.abs();
            let value = if z <= 3.0 {
                let (mut term, mut total, mut n) = (z, z, 0.0);
                while term.abs() > 1e-17 {
                    n += 1.0;
                    term *= -z * z / n;
                    total += term / (2.0 * n + 1.0);
                }
                total * 2.0 / std::f64::consts::PI.sqrt()
            } else {
                let mut fraction = 0.0;
                for k in (1..60).rev() {
                    fraction = f64::from(k) / 2.0 / (z + fraction);
                }
                1.0 - (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + fraction)
            };
            value.copysign(x)
        }
        let mut values: Vec<f32> = (-12_000..12_000).map(|i| i as f32 * 1e-3).collect();
        values.extend([f32::MAX, -f32::MAX, 0.0, -0.0]);
        let mut out = vec![MaybeUninit::uninit(); values.len()];
        gelu(&values, &mut out);
        for (&x, y) in values.iter().zip(&out) {
            // SAFETY: `gelu` wrote every element.
            let y = unsafe { y.assume_init() };
            let x = f64::from(x);
            let expected = if x.abs() > 1e30 {
                x.max(0.0)
            } else {
                0.5 * x * (1.0 + erf(x / 2f64.sqrt()))
            };
            let tolerance = 2e-7 * x.abs().max(1.0);
            assert!(
                (f64::from(y) - expected).abs() <= tolerance,
                "gelu({x}) = {y}, expected {expected}"
            );
        }
    }

    #[test]
    fn gelu_gradient_is_one_far_right_and_zero_far_left() {
        let x = [1e30, -1e30, 20.0, -20.0, f32::MAX, -f32::MAX];
        let mut d_x = [MaybeUninit::uninit(); 6];
        gelu_backward(&x, &[1.0; 6], &mut d_x);
        // SAFETY: `gelu_backward` wrote every element.
        let d_x = d_x.map(|d| unsafe { d.assume_init() });
        for (got, expected) in d_x.into_iter().zip([1.0, 0.0, 1.0, 0.0, 1.0, 0.0]) {
            assert!((got - expected).abs() < 1e-30, "{d_x:?}");
        }
    }

    #[test]
    fn shifted_rows_of_any_length_match_the_definition() {
        for len in [0, 1, 7, 8, 9, 29, 601] {
            let mut row: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
            let expected: Vec<f32> = row.iter().map(|x| (x - 1.5).exp()).collect();
            let total = exp_shifted(&mut row, 1.5);
            for (a, b) in row.iter().zip(&expected) {
                assert!((a - b).abs() <= 3e-7 * b.abs(), "{a} vs {b}");
            }
            let sum: f32 = expected.iter().sum();
            assert!(
                (total - sum).abs() <= 1e-5 * sum.max(1.0),
                "{total} vs {sum}"
            );
            let top = expected.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&expected), top);
        }
    }
}
