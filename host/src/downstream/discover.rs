//! `mmhost discover`: material discovery from a target density of states (DOS).
//! The target DOS's embedding queries the crystal embeddings; each of the nearest
//! crystals is scored by the distance of its own DOS from the target
//! ([`normalized_mae`]), and the best among the first N is tracked as N grows.

use std::{
    fs,
    path::{Path, PathBuf},
};

use mmhost_plugin_api::Record;
use plotters::style::RGBColor;

use super::{
    embed::embed_record,
    retrieval::top_k,
    spectrum::{best_of_first, normalized_mae, Spectrum},
    DownstreamError, EmbedProgress, ModelOnData,
};
use crate::{
    dataset::Dataset,
    import::read_file,
    plot::{line_chart, Series},
    plugins::PluginSearch,
};

/// What to discover from.
#[derive(Clone, Debug)]
pub struct DiscoverRequest<'a> {
    /// A material id of the dataset with a DOS, or a file (DOSCAR, vasprun.xml,
    /// pymatgen DOS JSON, MP document).
    pub target_dos: &'a str,
    /// Nearest crystals to examine.
    pub neighbours: usize,
    /// Half-width (eV) of the comparison window around E_Fermi.
    pub window_ev: f64,
}

/// One of the nearest crystals, nearest first.
#[derive(Clone, Debug)]
pub struct Neighbour {
    pub id: String,
    pub formula: String,
    /// Cosine similarity of its crystal embedding to the target DOS embedding.
    pub similarity: f32,
    /// Its DOS against the target; `None` when not comparable.
    pub normalized_mae: Option<f64>,
    /// The best neighbour so far (index into the list, its MAE).
    pub best_so_far: Option<(usize, f64)>,
}

/// The outcome of a discovery.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// How the user named the target (id or file).
    pub target_name: String,
    pub target: Spectrum,
    pub neighbours: Vec<Neighbour>,
    /// The best neighbour's DOS, when one was comparable.
    pub best: Option<Spectrum>,
}

/// Finds the crystals nearest to the target DOS among the materials of `on` that
/// have a crystal and a DOS (the target material itself aside), and scores them.
pub fn discover(
    on: &ModelOnData,
    search: &PluginSearch,
    request: &DiscoverRequest<'_>,
    progress: EmbedProgress<'_>,
) -> Result<Discovery, DownstreamError> {
    let name = request.target_dos;
    let (target_id, target_raw) = target_dos(&on.dataset, name)?;
    let target = Spectrum::from_record(&target_raw)
        .map_err(|e| DownstreamError::Invalid(format!("target DOS {name}: {e}")))?;
    let (mut dos_encoder, dos_source) = on.run.encoder("dos", search, &on.dataset)?;
    let query = embed_record(
        &mut dos_encoder,
        &dos_source,
        &target_raw,
        &format!("the target DOS {name}"),
    )?;
    let candidates: Vec<String> = on
        .ids
        .iter()
        .filter(|id| {
            dos_source.available.contains(*id) && Some(id.as_str()) != target_id.as_deref()
        })
        .cloned()
        .collect();
    let crystals = on.embed(&candidates, search, "crystal", progress)?;
    if crystals.ids.is_empty() {
        return Err(DownstreamError::Invalid(
            "no candidate material has both a crystal structure and a DOS".into(),
        ));
    }
    let hits = top_k(&query, &crystals.values, crystals.dim, request.neighbours).swap_remove(0);
    let mut neighbours = Vec::with_capacity(hits.len());
    let mut spectra = Vec::with_capacity(hits.len());
    for hit in hits {
        let id = crystals.ids[hit.row].clone();
        let spectrum = dos_spectrum(&on.dataset, &id)?;
        let normalized_mae = spectrum
            .as_ref()
            .and_then(|s| normalized_mae(&target, s, request.window_ev));
        spectra.push(spectrum);
        neighbours.push(Neighbour {
            formula: on.formula(&id)?,
            id,
            similarity: hit.similarity,
            normalized_mae,
            best_so_far: None,
        });
    }
    let curve = best_of_first(
        &neighbours
            .iter()
            .map(|n| n.normalized_mae)
            .collect::<Vec<_>>(),
    );
    for (neighbour, best) in neighbours.iter_mut().zip(&curve) {
        neighbour.best_so_far = *best;
    }
    let best = match curve.last() {
        Some(Some((index, _))) => spectra.swap_remove(*index),
        _ => None,
    };
    Ok(Discovery {
        target_name: name.to_string(),
        target,
        neighbours,
        best,
    })
}

/// The DOS of material `id`, when it has a readable one.
fn dos_spectrum(dataset: &Dataset, id: &str) -> Result<Option<Spectrum>, DownstreamError> {
    Ok(dataset
        .record("dos", id)?
        .and_then(|raw| Spectrum::from_record(&raw).ok()))
}

/// The target DOS: `(Some(id), record)` from the dataset, or `(None, record)` from
/// a file.
fn target_dos(
    dataset: &Dataset,
    target: &str,
) -> Result<(Option<String>, Record), DownstreamError> {
    if let Some(raw) = dataset.record("dos", target)? {
        return Ok((Some(target.to_string()), raw));
    }
    let path = Path::new(target);
    if !path.is_file() {
        return Err(DownstreamError::Invalid(format!(
            "{target}: neither a material with a DOS in the dataset nor a file"
        )));
    }
    let batch = read_file(path).map_err(|e| DownstreamError::Invalid(format!("{target}: {e}")))?;
    batch
        .records
        .into_iter()
        .find(|(modality, _, _)| modality == "dos")
        .map(|(_, _, raw)| (None, raw))
        .ok_or_else(|| DownstreamError::Invalid(format!("{target}: holds no density of states")))
}

/// The files a discovery writes into its directory.
pub struct DiscoveryFiles {
    /// One row per neighbour: rank, id, formula, similarity, normalized MAE, best so far.
    pub table: PathBuf,
    /// Best normalized MAE against the number of neighbours examined.
    pub curve: PathBuf,
    /// The target DOS beside the best candidate's (absent when none compared).
    pub best_dos: Option<PathBuf>,
}

impl Discovery {
    /// Writes `discovery.csv`, `discovery.png` and `best_dos.png` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<DiscoveryFiles, DownstreamError> {
        fs::create_dir_all(dir).map_err(DownstreamError::io(dir))?;
        let files = DiscoveryFiles {
            table: dir.join("discovery.csv"),
            curve: dir.join("discovery.png"),
            best_dos: self.best.as_ref().map(|_| dir.join("best_dos.png")),
        };
        self.write_table(&files.table)?;
        let points: Vec<(f64, f64)> = self
            .neighbours
            .iter()
            .enumerate()
            .filter_map(|(n, b)| b.best_so_far.map(|(_, m)| ((n + 1) as f64, m)))
            .collect();
        line_chart(
            &files.curve,
            &format!("Discovery for the DOS of {}", self.target_name),
            "N nearest crystals examined",
            "best normalized DOS MAE",
            &[Series {
                name: "best of the N nearest",
                points: &points,
                color: RGBColor(31, 119, 180),
                markers: true,
            }],
        )
        .map_err(DownstreamError::io(&files.curve))?;
        if let (Some(png), Some(best), Some(Some((index, mae)))) = (
            &files.best_dos,
            &self.best,
            self.neighbours.last().map(|n| n.best_so_far),
        ) {
            self.plot_best(png, best, &self.neighbours[index].id, mae)?;
        }
        Ok(files)
    }

    fn write_table(&self, path: &Path) -> Result<(), DownstreamError> {
        let mut table = csv::Writer::from_writer(Vec::new());
        let row = |table: &mut csv::Writer<Vec<u8>>, fields: &[String]| {
            table
                .write_record(fields)
                .map_err(|e| DownstreamError::Invalid(format!("{}: {e}", path.display())))
        };
        row(
            &mut table,
            &[
                "n",
                "neighbour",
                "formula",
                "similarity",
                "normalized_mae",
                "best_id",
                "best_normalized_mae",
            ]
            .map(String::from),
        )?;
        for (n, neighbour) in self.neighbours.iter().enumerate() {
            let optional = |v: Option<f64>| v.map_or(String::new(), |m| m.to_string());
            let (best_id, best_mae) = neighbour
                .best_so_far
                .map_or((String::new(), None), |(i, m)| {
                    (self.neighbours[i].id.clone(), Some(m))
                });
            row(
                &mut table,
                &[
                    (n + 1).to_string(),
                    neighbour.id.clone(),
                    neighbour.formula.clone(),
                    neighbour.similarity.to_string(),
                    optional(neighbour.normalized_mae),
                    best_id,
                    optional(best_mae),
                ],
            )?;
        }
        let bytes = table
            .into_inner()
            .map_err(|e| DownstreamError::Invalid(format!("{}: {e}", path.display())))?;
        crate::atomic::write(path, &bytes).map_err(DownstreamError::io(path))
    }

    fn plot_best(
        &self,
        png: &Path,
        best: &Spectrum,
        best_id: &str,
        mae: f64,
    ) -> Result<(), DownstreamError> {
        let line = |s: &Spectrum| -> Vec<(f64, f64)> {
            let shift = s.efermi.unwrap_or(0.0);
            s.energies
                .iter()
                .zip(&s.density)
                .map(|(e, d)| (e - shift, *d))
                .collect()
        };
        let (t, c) = (line(&self.target), line(best));
        line_chart(
            png,
            &format!(
                "target {} vs best candidate {best_id} (MAE {mae:.3})",
                self.target_name
            ),
            if self.target.efermi.is_some() {
                "E − E_Fermi (eV)"
            } else {
                "energy (eV)"
            },
            "DOS (states/eV/cell)",
            &[
                Series {
                    name: "target",
                    points: &t,
                    color: RGBColor(0, 0, 0),
                    markers: false,
                },
                Series {
                    name: best_id,
                    points: &c,
                    color: RGBColor(214, 39, 40),
                    markers: false,
                },
            ],
        )
        .map_err(DownstreamError::io(png))
    }
}
