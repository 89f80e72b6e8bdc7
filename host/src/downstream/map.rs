//! `mmhost map`: a UMAP of the crystal embeddings coloured by a property, as a PNG
//! with the coordinates in a CSV beside it.

use std::path::{Path, PathBuf};

use super::{
    umap::{umap, UmapConfig},
    DownstreamError, EmbedProgress, ModelOnData,
};
use crate::{
    dataset::{Material, IS_METAL},
    plot::{scatter_categories, scatter_values},
    plugins::PluginSearch,
};

/// What colours the points of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MapColour {
    /// The crystal system of the material's space group.
    CrystalSystem,
    /// Formation energy (eV/atom), on a colour scale.
    FormationEnergy,
    /// Metal (band gap 0 eV, or an `is_metal` label) or not.
    IsMetal,
}

/// A map as written.
pub struct CrystalMap {
    /// Crystals mapped.
    pub points: usize,
    pub png: PathBuf,
    /// `material_id,x,y,<colouring>` per crystal.
    pub csv: PathBuf,
}

/// Maps the crystal embeddings of `on`'s materials to 2D and draws them into `png`
/// coloured by `colour`; the coordinates go to the CSV of the same name.
pub fn map_crystals(
    on: &ModelOnData,
    search: &PluginSearch,
    colour: MapColour,
    config: &UmapConfig,
    png: &Path,
    progress: EmbedProgress<'_>,
) -> Result<CrystalMap, DownstreamError> {
    let crystals = on.embed(&on.ids, search, "crystal", progress)?;
    if crystals.ids.len() < 3 {
        return Err(DownstreamError::Invalid(format!(
            "{} crystals: too few to map",
            crystals.ids.len()
        )));
    }
    let started = std::time::Instant::now();
    let points = umap(&crystals.values, crystals.dim, config);
    tracing::info!(
        "UMAP of {} crystals in {:.1} s",
        points.len(),
        started.elapsed().as_secs_f64()
    );
    let mut materials = Vec::with_capacity(crystals.ids.len());
    for id in &crystals.ids {
        materials.push(on.dataset.material(id)?.unwrap_or_default());
    }
    let title = |what: &str| {
        format!(
            "UMAP of {} crystal embeddings, coloured by {what}",
            points.len()
        )
    };
    let (column, values): (&str, Vec<String>) = match colour {
        MapColour::CrystalSystem => {
            let labels: Vec<String> = materials
                .iter()
                .map(|m| m.crystal_system.clone().unwrap_or_default())
                .collect();
            scatter_categories(png, &title("crystal system"), &points, &labels)
                .map_err(DownstreamError::io(png))?;
            ("crystal_system", labels)
        }
        MapColour::IsMetal => {
            let labels: Vec<String> = materials
                .iter()
                .map(|m| match is_metal(m) {
                    Some(true) => "metal".to_string(),
                    Some(false) => "non-metal".to_string(),
                    None => String::new(),
                })
                .collect();
            scatter_categories(png, &title("metal / non-metal"), &points, &labels)
                .map_err(DownstreamError::io(png))?;
            (IS_METAL, labels)
        }
        MapColour::FormationEnergy => {
            let energies: Vec<Option<f64>> = materials
                .iter()
                .map(|m| m.labels.get("formation_energy_per_atom").copied())
                .collect();
            let plotted: Vec<f64> = energies.iter().map(|e| e.unwrap_or(f64::NAN)).collect();
            scatter_values(
                png,
                &title("formation energy"),
                &points,
                &plotted,
                "formation energy (eV/atom)",
            )
            .map_err(DownstreamError::io(png))?;
            let text = energies
                .iter()
                .map(|e| e.map_or(String::new(), |v| v.to_string()))
                .collect();
            ("formation_energy_per_atom", text)
        }
    };
    let csv_path = png.with_extension("csv");
    let invalid = |e: csv::Error| DownstreamError::Invalid(format!("{}: {e}", csv_path.display()));
    let mut table = csv::Writer::from_writer(Vec::new());
    table
        .write_record(["material_id", "x", "y", column])
        .map_err(invalid)?;
    for ((id, (x, y)), value) in crystals.ids.iter().zip(&points).zip(&values) {
        table
            .write_record([id.as_str(), &x.to_string(), &y.to_string(), value])
            .map_err(invalid)?;
    }
    let bytes = table
        .into_inner()
        .map_err(|e| DownstreamError::Invalid(format!("{}: {e}", csv_path.display())))?;
    crate::atomic::write(&csv_path, &bytes).map_err(DownstreamError::io(&csv_path))?;
    Ok(CrystalMap {
        points: points.len(),
        png: png.to_path_buf(),
        csv: csv_path,
    })
}

/// Metal or not: the `is_metal` label, else band gap = 0 eV; `None` when neither
/// is known.
fn is_metal(material: &Material) -> Option<bool> {
    let label = |key: &str| material.labels.get(key).copied();
    label(IS_METAL)
        .map(|v| v > 0.5)
        .or_else(|| label("band_gap").map(|g| g <= 0.0))
}
