//! X-ray atomic scattering factors from tabulated electron scattering factors
//! through the Mott–Bethe formula.

use crate::scattering_table::SCATTERING_TABLE;

/// An element with its scattering coefficients.
#[derive(Clone, Copy, Debug)]
pub struct Element {
    /// Chemical symbol.
    pub symbol: &'static str,
    /// Atomic number.
    pub z: u32,
    /// Four `[aᵢ, bᵢ (Å²)]` of f_e(s) = Σ aᵢ exp(−bᵢ s²).
    coefficients: [[f64; 2]; 4],
}

/// 8π²a₀ (a₀ the Bohr radius), Å: the Mott–Bethe constant.
const MOTT_BETHE: f64 = 41.78214;

/// The element with chemical `symbol` (`"Fe"`), if the table has it.
pub fn element(symbol: &str) -> Option<Element> {
    SCATTERING_TABLE
        .iter()
        .find(|(s, _, _)| *s == symbol)
        .map(|&(symbol, z, coefficients)| Element {
            symbol,
            z,
            coefficients,
        })
}

impl Element {
    /// X-ray scattering factor in electrons at `s2` = (sin θ / λ)², Å⁻²:
    /// f(s) = Z − 41.78214 s² Σ aᵢ exp(−bᵢ s²).
    pub fn xray_factor(&self, s2: f64) -> f64 {
        let electron: f64 = self
            .coefficients
            .iter()
            .map(|[a, b]| a * (-b * s2).exp())
            .sum();
        f64::from(self.z) - MOTT_BETHE * s2 * electron
    }
}
