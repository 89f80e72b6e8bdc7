//! Recognizing source files and reading them into import batches.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use mmhost_materials::{
    cif::read_cif, dos_from_pymatgen, read_chgcar, read_doscar, read_poscar, read_vasprun_dos,
    read_vasprun_structure, space_group, structure_from_pymatgen, validate_structure, Dos,
    Structure,
};
use serde_json::Value;

use super::npy::{self, NpyArray};
use crate::dataset::{ImportBatch, Material, Rejected};
use mmhost_materials::records::{
    charge_record, charge_record_from_grid, crystal_record, dos_record, text_record,
};

/// The formats mmhost reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Cif,
    Poscar,
    Volumetric,
    Vasprun,
    Doscar,
    Npy,
    Csv,
    Json,
    JsonLines,
}

impl Format {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Cif => "cif",
            Format::Poscar => "poscar",
            Format::Volumetric => "chgcar",
            Format::Vasprun => "vasprun",
            Format::Doscar => "doscar",
            Format::Npy => "npy",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::JsonLines => "jsonl",
        }
    }
}

/// The file name without a `.gz` suffix, lower case.
fn base_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}

/// The format of `path`, from its name (`.gz` compression allowed everywhere).
pub fn detect(path: &Path) -> Option<Format> {
    let name = base_name(path);
    let format = if name.ends_with(".cif") {
        Format::Cif
    } else if name.ends_with(".npy") {
        Format::Npy
    } else if name.ends_with(".csv") {
        Format::Csv
    } else if name.ends_with(".jsonl") {
        Format::JsonLines
    } else if name.ends_with(".json") {
        Format::Json
    } else if name.contains("vasprun") && name.ends_with(".xml") {
        Format::Vasprun
    } else if name.contains("doscar") {
        Format::Doscar
    } else if name.contains("chgcar")
        || name.contains("aeccar")
        || name == "chg"
        || name.ends_with("_chg")
    {
        Format::Volumetric
    } else if name.starts_with("poscar")
        || name.starts_with("contcar")
        || name.contains("_poscar")
        || name.ends_with(".vasp")
    {
        Format::Poscar
    } else {
        return None;
    };
    Some(format)
}

/// Id lists read together with an `.npy` file (`dos_ids.txt` beside `dos.npy`).
pub fn is_companion(path: &Path) -> bool {
    let name = base_name(path);
    name.ends_with("_ids.txt") && companion_of(path).is_file()
}

/// The `.npy` file an id list `X_ids.txt` goes with: `X.npy`, or else `X.npy.gz`.
fn companion_of(ids: &Path) -> PathBuf {
    let name = name_as_written(ids);
    let stem = strip_suffix_ignore_ascii_case(&name, "_ids.txt").unwrap_or(&name);
    let npy = ids.with_file_name(format!("{stem}.npy"));
    if npy.is_file() {
        npy
    } else {
        ids.with_file_name(format!("{stem}.npy.gz"))
    }
}

/// The id list an `.npy` file goes with: `X_ids.txt` beside `X.npy` or `X.npy.gz`
/// (`X` as written, in any case of the extensions).
fn id_list_of(npy: &Path) -> PathBuf {
    let name = name_as_written(npy);
    let name = strip_suffix_ignore_ascii_case(&name, ".gz").unwrap_or(&name);
    let stem = strip_suffix_ignore_ascii_case(name, ".npy").unwrap_or(name);
    npy.with_file_name(format!("{stem}_ids.txt"))
}

/// The file name of `path` as written (lossy for names that are not UTF-8).
fn name_as_written(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The material id a single-material file stands for: its stem, or the name of its
/// folder for VASP's fixed file names (`mp-149/CHGCAR` → `mp-149`).
fn file_id(path: &Path) -> String {
    let original = name_as_written(path);
    // Cut from the name as written, keeping its capitalization: lower-casing can
    // change a name's length in bytes (the Kelvin sign U+212A is 3 bytes, its `k` 1).
    let name = strip_suffix_ignore_ascii_case(&original, ".gz").unwrap_or(&original);
    let stem = [".cif", ".json", ".xml", ".vasp"]
        .iter()
        .find_map(|ext| strip_suffix_ignore_ascii_case(name, ext))
        .unwrap_or(name);
    const GENERIC: [&str; 10] = [
        "chgcar",
        "aeccar0",
        "aeccar1",
        "aeccar2",
        "chg",
        "poscar",
        "contcar",
        "vasprun",
        "doscar",
        "structure",
    ];
    if GENERIC.contains(&stem.to_lowercase().as_str()) {
        if let Some(dir) = path.parent().and_then(Path::file_name) {
            return dir.to_string_lossy().to_string();
        }
    }
    stem.to_string()
}

/// `text` without `suffix` (ASCII) at its end, in any letter case.
fn strip_suffix_ignore_ascii_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    let (head, tail) = (text.get(..cut)?, text.get(cut..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Most bytes a `.gz` file may decompress to (2 GiB): a small compressed file can
/// claim any size.
pub const MAX_DECOMPRESSED_BYTES: u64 = 2 << 30;

/// Largest file read (2 GiB), compressed or not.
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// Longest line of a line-oriented text format (CIF, POSCAR, CHGCAR, DOSCAR): 1 MiB.
/// Real files have lines of at most a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most memory a JSON document (a `.json` file, a line of a `.jsonl` one) may take
/// once parsed, as [`parsed_json_bytes`] estimates it before parsing: 2 GiB.
pub const MAX_PARSED_JSON_BYTES: usize = 2 << 30;

/// An upper estimate of the bytes `text` takes parsed into a `serde_json::Value`: its
/// strings (at most the text), 64 bytes per value or key (32 for the value, as much
/// again for its array's or map's growth) and 640 per object (a map's first node).
/// Counted in one pass over the bytes: values and keys by the separators and
/// openings outside strings.
fn parsed_json_bytes(text: &str) -> usize {
    let (mut objects, mut values) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => objects += 1,
            b'[' | b',' | b':' => values += 1,
            _ => {}
        }
    }
    text.len()
        .saturating_add(objects.saturating_mul(640))
        .saturating_add(values.saturating_mul(64))
}

/// The JSON document `text`, refused when [`parsed_json_bytes`] passes
/// [`MAX_PARSED_JSON_BYTES`].
fn json_document(text: &str) -> Result<Value, String> {
    let parsed = parsed_json_bytes(text);
    if parsed > MAX_PARSED_JSON_BYTES {
        return Err(format!(
            "a JSON document that would take about {} MiB parsed, more than the limit of \
             {} MiB (split it into smaller documents)",
            parsed >> 20,
            MAX_PARSED_JSON_BYTES >> 20
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Most rows (records) of one CSV or JSON-lines file: 2²². Each becomes a material
/// or a rejection kept in memory until the file's import is written (some 250
/// bytes even for a row of two), so a file of short rows is refused at 1 GiB of
/// them.
pub const MAX_ROWS: usize = 1 << 22;

/// Refuses row `index` (0-based) beyond [`MAX_ROWS`].
fn within_rows(index: usize) -> Result<(), String> {
    if index >= MAX_ROWS {
        return Err(format!(
            "more than {MAX_ROWS} rows, mmhost's limit for one file (split it)"
        ));
    }
    Ok(())
}

/// Longest row of a CSV file (256 MiB, a CIF's limit): the CSV reader keeps a whole
/// row, and its copies, while the row is read.
pub const MAX_CSV_ROW_BYTES: usize = 256 << 20;

/// Refuses a CSV `text` with a row longer than `limit` bytes, found in one pass before
/// the CSV reader copies any row. Rows are split as the CSV reader splits them: after
/// a leading byte-order mark, at line breaks outside quotes, blank lines not counted;
/// a field opened by a quote is quoted until its closing quote (a doubled quote closes
/// and reopens it), and once anything else follows the closing quote, or in a field
/// not opened by one, a quote is a letter.
fn csv_rows_within(text: &str, limit: usize) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut row, mut row_start) = (1usize, 0usize);
    let (mut field_start, mut quoted_field, mut in_quotes) = (true, false, false);
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'\n' | b'\r' if !in_quotes => {
                row += usize::from(at > row_start);
                row_start = at + 1;
                (field_start, quoted_field) = (true, false);
                continue;
            }
            b',' if !in_quotes => (field_start, quoted_field) = (true, false),
            b'"' if field_start || quoted_field => {
                (field_start, quoted_field) = (false, true);
                in_quotes = !in_quotes;
            }
            _ => {
                field_start = false;
                quoted_field &= in_quotes;
            }
        }
        if at - row_start >= limit {
            return Err(format!(
                "row {row} is longer than the limit of {limit} bytes for a CSV row"
            ));
        }
    }
    Ok(())
}

/// The bytes of the file `path`, refused beyond [`MAX_FILE_BYTES`].
pub fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than the limit of {MAX_FILE_BYTES} bytes for one file"
        ));
    }
    Ok(bytes)
}

/// The content of `path`: `bytes`, gunzipped when the name ends in `.gz` (refused
/// beyond [`MAX_DECOMPRESSED_BYTES`]).
fn decompressed<'a>(path: &Path, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot decompress: {e}"))?;
        if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
            return Err(format!(
                "decompresses to more than the limit of {MAX_DECOMPRESSED_BYTES} bytes"
            ));
        }
        Ok(Cow::Owned(out))
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

/// The content of `path` as text: borrowed from `bytes` when they were not
/// compressed, so a file near [`MAX_FILE_BYTES`] is held once, not twice.
fn text_of<'a>(path: &Path, bytes: &'a [u8]) -> Result<Cow<'a, str>, String> {
    match decompressed(path, bytes)? {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).map(Cow::Borrowed),
        Cow::Owned(bytes) => String::from_utf8(bytes)
            .map(Cow::Owned)
            .map_err(|e| e.utf8_error()),
    }
    .map_err(|_| "not UTF-8 text".to_string())
}

/// [`text_of`] for a line-oriented format: refused when a line is longer than
/// [`MAX_LINE_BYTES`].
fn lines_of<'a>(path: &Path, bytes: &'a [u8]) -> Result<Cow<'a, str>, String> {
    let text = text_of(path, bytes)?;
    if let Some((number, line)) = text
        .split('\n')
        .enumerate()
        .find(|(_, line)| line.len() > MAX_LINE_BYTES)
    {
        return Err(format!(
            "line {} is {} bytes long, more than the limit of {MAX_LINE_BYTES}",
            number + 1,
            line.len()
        ));
    }
    Ok(text)
}

/// Reads `bytes` (the content of `path`) as `format`. An `Err` means nothing of the
/// file is usable; record-level problems are listed in the batch's `rejected`.
pub fn read(format: Format, path: &Path, bytes: &[u8]) -> Result<ImportBatch, String> {
    let source = path.display().to_string();
    let mut batch = Builder {
        batch: ImportBatch::default(),
        source,
    };
    let id = file_id(path);
    match format {
        Format::Cif => {
            let structures = read_cif(&lines_of(path, bytes)?).map_err(|e| e.to_string())?;
            let many = structures.len() > 1;
            for (k, structure) in structures.iter().enumerate() {
                let id = if many {
                    format!("{id}#{k}")
                } else {
                    id.clone()
                };
                batch.structure_or_reject(&id, structure, &format!("data block {}", k + 1));
            }
        }
        Format::Poscar => {
            let (structure, _) = read_poscar(&lines_of(path, bytes)?).map_err(|e| e.to_string())?;
            batch.structure(&id, &structure)?;
        }
        Format::Volumetric => {
            let data = read_chgcar(&lines_of(path, bytes)?).map_err(|e| e.to_string())?;
            batch.structure(&id, &data.structure)?;
            batch
                .batch
                .records
                .push(("charge".into(), id, charge_record(&data)));
        }
        Format::Vasprun => {
            // The final structure and the DOS are imported or rejected each on its
            // own; the file fails only when it has neither.
            let text = text_of(path, bytes)?;
            let structure = read_vasprun_structure(&text).map_err(|e| e.to_string());
            let dos = read_vasprun_dos(&text).map_err(|e| e.to_string());
            if let (Err(no_structure), Err(no_dos)) = (&structure, &dos) {
                return Err(format!(
                    "no final structure ({no_structure}) and no DOS ({no_dos})"
                ));
            }
            match structure {
                Ok(structure) => batch.structure_or_reject(&id, &structure, "final structure"),
                Err(e) => batch.reject_as("crystal", format!("final structure ({id})"), e),
            }
            if let Err(e) = dos.and_then(|dos| batch.dos(&id, &dos)) {
                batch.reject_as("dos", format!("DOS ({id})"), e);
            }
        }
        Format::Doscar => {
            let dos = read_doscar(&lines_of(path, bytes)?).map_err(|e| e.to_string())?;
            batch.dos(&id, &dos)?;
        }
        Format::Npy => read_npy(&mut batch, path, bytes)?,
        Format::Csv => read_csv(&mut batch, path, bytes)?,
        Format::Json => {
            let value = json_document(&text_of(path, bytes)?)?;
            match value {
                Value::Array(items) => {
                    for (k, item) in items.iter().enumerate() {
                        batch.json_item(item, &format!("{id}#{k}"), &format!("element {k}"));
                    }
                }
                item => batch.json_item(&item, &id, "document"),
            }
        }
        Format::JsonLines => {
            for (k, line) in text_of(path, bytes)?.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                within_rows(k)?;
                match json_document(line) {
                    Ok(item) => {
                        batch.json_item(&item, &format!("{id}#{k}"), &format!("line {}", k + 1))
                    }
                    Err(e) => batch.reject(format!("line {}", k + 1), e),
                }
            }
        }
    }
    if batch.batch.materials.is_empty() {
        return Err(match batch.batch.rejected.first() {
            Some(first) => format!(
                "nothing importable ({} records rejected; first: {}: {})",
                batch.batch.rejected.len(),
                first.record,
                first.reason
            ),
            None => "no materials found".into(),
        });
    }
    Ok(batch.batch)
}

/// Accumulates one file's batch.
struct Builder {
    batch: ImportBatch,
    source: String,
}

impl Builder {
    /// Rejects a whole row or document, or a label.
    fn reject(&mut self, record: String, reason: String) {
        self.batch.rejected.push(Rejected {
            record,
            reason,
            modality: None,
        });
    }

    /// Rejects the `modality` record of `record`.
    fn reject_as(&mut self, modality: &str, record: String, reason: String) {
        self.batch.rejected.push(Rejected {
            record,
            reason,
            modality: Some(modality.into()),
        });
    }

    fn material(&mut self, id: &str, labels: BTreeMap<String, f64>) -> &mut Material {
        self.batch.materials.push(Material {
            id: id.to_string(),
            labels,
            sources: vec![self.source.clone()],
            ..Material::default()
        });
        self.batch.materials.last_mut().expect("just pushed")
    }

    /// A structure with its material row; disordered structures are refused.
    fn structure(&mut self, id: &str, structure: &Structure) -> Result<(), String> {
        validate_structure(structure).map_err(|e| e.to_string())?;
        if !structure.is_ordered() {
            return Err(format!(
                "partial occupancy, which the encoders cannot use: {}",
                structure.disorder_report().join("; ")
            ));
        }
        let symmetry = space_group(structure, 0.1).ok();
        let material = self.material(id, BTreeMap::new());
        material.formula = Some(structure.formula(true));
        material.space_group = symmetry.as_ref().map(|s| s.number);
        material.crystal_system = symmetry.map(|s| s.crystal_system.name().to_string());
        self.batch
            .records
            .push(("crystal".into(), id.to_string(), crystal_record(structure)));
        Ok(())
    }

    fn structure_or_reject(&mut self, id: &str, structure: &Structure, what: &str) {
        if let Err(reason) = self.structure(id, structure) {
            self.reject_as("crystal", format!("{what} ({id})"), reason);
        }
    }

    /// A DOS with its material row; refused unless its energies increase strictly
    /// (the DOS encoder resamples onto a fixed energy grid).
    fn dos(&mut self, id: &str, dos: &Dos) -> Result<(), String> {
        if let Some(i) = dos
            .energies
            .windows(2)
            .position(|w| w[1].is_nan() || w[1] <= w[0])
        {
            return Err(format!(
                "DOS energies must increase strictly; {} eV at index {} follows {} eV",
                dos.energies[i + 1],
                i + 1,
                dos.energies[i]
            ));
        }
        let mut labels = BTreeMap::new();
        if let Some(efermi) = dos.efermi {
            labels.insert("efermi".to_string(), efermi);
        }
        self.material(id, labels);
        self.batch
            .records
            .push(("dos".into(), id.to_string(), dos_record(dos)));
        Ok(())
    }

    /// One JSON document: a pymatgen Dos/CompleteDos or Structure, an MP summary or
    /// task document, or a `{material_id, description}` text entry.
    fn json_item(&mut self, item: &Value, fallback_id: &str, what: &str) {
        let class = item.get("@class").and_then(Value::as_str);
        let id = item
            .get("material_id")
            .or_else(|| item.get("task_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let result = match (
            class,
            item.get("data"),
            item.get("structure"),
            item.get("description"),
        ) {
            (Some("CompleteDos" | "Dos"), ..) => {
                self.json_dos(item, &id.unwrap_or_else(|| fallback_id.into()))
            }
            (Some("Structure"), ..) => structure_from_pymatgen(item)
                .map_err(|e| e.to_string())
                .and_then(|s| self.structure(&id.unwrap_or_else(|| fallback_id.into()), &s)),
            (_, Some(data), ..) if data.get("@class").is_some() => {
                self.json_dos(data, &id.unwrap_or_else(|| fallback_id.into()))
            }
            (_, _, _, Some(Value::String(text))) => match id {
                Some(id) => {
                    self.material(&id, numeric_labels(item));
                    self.batch
                        .records
                        .push(("text".into(), id, text_record(text)));
                    Ok(())
                }
                None => Err("description without material_id".into()),
            },
            (_, _, Some(structure), _) => {
                let id = id.unwrap_or_else(|| {
                    format!(
                        "mpdoc-{:012x}",
                        crate::hash::fnv1a(structure.to_string().as_bytes()) >> 16
                    )
                });
                structure_from_pymatgen(structure)
                    .map_err(|e| e.to_string())
                    .and_then(|s| self.structure(&id, &s))
                    .map(|()| {
                        let labels = numeric_labels(item);
                        if let Some(m) = self.batch.materials.last_mut() {
                            m.labels.extend(labels);
                        }
                    })
            }
            _ => Err("not a DOS, structure, Materials Project or text document".into()),
        };
        if let Err(reason) = result {
            self.reject(what.to_string(), reason);
        }
    }

    fn json_dos(&mut self, value: &Value, id: &str) -> Result<(), String> {
        let dos = dos_from_pymatgen(value).map_err(|e| e.to_string())?;
        if let Some(structure) = value.get("structure") {
            let structure = structure_from_pymatgen(structure).map_err(|e| e.to_string())?;
            self.structure(id, &structure)?;
        }
        self.dos(id, &dos)
    }
}

/// Top-level numbers and booleans of a document, as labels.
fn numeric_labels(item: &Value) -> BTreeMap<String, f64> {
    let mut labels = BTreeMap::new();
    if let Some(object) = item.as_object() {
        for (key, value) in object {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                _ => None,
            };
            if let Some(n) = number.filter(|n| n.is_finite()) {
                labels.insert(key.clone(), n);
            }
        }
    }
    labels
}

/// Columns that are not labels.
const NON_LABEL_COLUMNS: [&str; 6] = [
    "material_id",
    "cif",
    "source",
    "description",
    "structure",
    "formula",
];

fn read_csv(batch: &mut Builder, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let text = text_of(path, bytes)?;
    csv_rows_within(&text, MAX_CSV_ROW_BYTES)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("bad CSV header: {e}"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let id_col = column("material_id").ok_or("no material_id column")?;
    let cif_col = column("cif");
    let text_col = column("description");
    let label_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !NON_LABEL_COLUMNS.contains(h))
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    for (row, record) in reader.records().enumerate() {
        within_rows(row)?;
        let line = row + 2; // 1-based, after the header
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                batch.reject(format!("row {line}"), format!("bad CSV: {e}"));
                continue;
            }
        };
        let id = record.get(id_col).unwrap_or("").trim().to_string();
        if id.is_empty() {
            batch.reject(format!("row {line}"), "empty material_id".into());
            continue;
        }
        let mut labels = BTreeMap::new();
        for (i, name) in &label_cols {
            let cell = record.get(*i).unwrap_or("").trim();
            let value = match cell {
                "True" | "true" => Some(1.0),
                "False" | "false" => Some(0.0),
                _ => match cell.parse::<f64>() {
                    Ok(v) => Some(v).filter(|v| v.is_finite()),
                    // An empty cell is a missing value, as pandas writes it.
                    Err(_) if cell.is_empty() => None,
                    Err(_) => {
                        batch.reject(
                            format!("row {line} ({id}), column {name}"),
                            format!("'{cell}' is not a number; imported without this label"),
                        );
                        None
                    }
                },
            };
            if let Some(v) = value {
                labels.insert(name.clone(), v);
            }
        }
        let what = format!("row {line} ({id})");
        if let Some(c) = cif_col {
            let parsed = read_cif(record.get(c).unwrap_or(""))
                .map_err(|e| e.to_string())
                .and_then(|s| batch.structure(&id, &s[0]));
            match parsed {
                Ok(()) => {
                    if let Some(m) = batch.batch.materials.last_mut() {
                        m.labels.extend(labels);
                    }
                }
                Err(reason) => batch.reject_as("crystal", what, reason),
            }
        } else if let Some(c) = text_col {
            let text = record.get(c).unwrap_or("").trim();
            if text.is_empty() {
                batch.reject_as("text", what, "empty description".into());
                continue;
            }
            batch.material(&id, labels);
            batch
                .batch
                .records
                .push(("text".into(), id, text_record(text)));
        } else {
            batch.material(&id, labels);
        }
    }
    Ok(())
}

fn read_npy(batch: &mut Builder, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let ids_path = id_list_of(path);
    let ids_text = read_limited(&ids_path)
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".into()))
        .map_err(|e| format!("needs its id list {}: {e}", ids_path.display()))?;
    let bytes = decompressed(path, bytes)?;
    let data: &[u8] = &bytes;
    let NpyArray { shape, values } = npy::read_f32(data).map_err(|e| e.to_string())?;
    let Some(&rows) = shape.first() else {
        return Err("a 0-dimensional array has no rows".into());
    };
    // one id more than the rows, to tell a longer list, and no more kept
    let ids: Vec<&str> = ids_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(rows.saturating_add(1))
        .collect();
    if rows != ids.len() {
        let listed = if ids.len() > rows {
            "more".to_string()
        } else {
            ids.len().to_string()
        };
        return Err(format!(
            "{rows} rows but {listed} ids in {}",
            ids_path.display()
        ));
    }
    let row_len = shape[1..]
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    // rows of (2, M) are DOS, rows of (a, b, c) charge grids
    let modality = if shape.len() == 3 { "dos" } else { "charge" };
    for (k, (id, row)) in ids
        .iter()
        .zip(values.chunks_exact(row_len.max(1)))
        .enumerate()
    {
        let what = format!("row {k} ({id})");
        if let Some(i) = row.iter().position(|v| !v.is_finite()) {
            batch.reject_as(modality, what, format!("non-finite value at index {i}"));
            continue;
        }
        match shape[1..] {
            [2, points] if points >= 2 => {
                let dos = Dos {
                    energies: row[..points].iter().map(|&v| f64::from(v)).collect(),
                    densities: vec![row[points..].iter().map(|&v| f64::from(v)).collect()],
                    efermi: None,
                };
                if let Err(reason) = batch.dos(id, &dos) {
                    batch.reject_as("dos", what, reason);
                }
            }
            [a, b, c] => {
                if row.iter().all(|&v| v <= 0.0) {
                    batch.reject_as(
                        "charge",
                        what,
                        "charge grid has no positive density (all values ≤ 0)".into(),
                    );
                    continue;
                }
                batch.material(id, BTreeMap::new());
                let record = charge_record_from_grid(row, [a, b, c]);
                batch
                    .batch
                    .records
                    .push(("charge".into(), id.to_string(), record));
            }
            _ => {
                return Err(format!(
                    "array of shape {shape:?} is neither DOS (N, 2, M) nor charge (N, a, b, c)"
                ))
            }
        }
    }
    Ok(())
}

/// The (first) structure in a structure file: CIF, POSCAR/CONTCAR, a CHGCAR-family
/// file, or pymatgen `Structure` / Materials Project JSON.
/// The structure is checked by `validate_structure`.
pub fn read_structure(path: &Path) -> Result<Structure, String> {
    let bytes = read_limited(path)?;
    let format = detect(path);
    let text = match format {
        Some(Format::Json) => text_of(path, &bytes)?,
        _ => lines_of(path, &bytes)?,
    };
    let structure = match format {
        Some(Format::Cif) => read_cif(&text)
            .map_err(|e| e.to_string())
            .map(|mut s| s.swap_remove(0)),
        Some(Format::Poscar) => read_poscar(&text)
            .map(|(s, _)| s)
            .map_err(|e| e.to_string()),
        Some(Format::Volumetric) => read_chgcar(&text)
            .map(|d| d.structure)
            .map_err(|e| e.to_string()),
        Some(Format::Json) => {
            let value = json_document(&text)?;
            let structure = value.get("structure").unwrap_or(&value);
            structure_from_pymatgen(structure).map_err(|e| e.to_string())
        }
        _ => Err("not a structure file (CIF, POSCAR/CONTCAR, CHGCAR, pymatgen JSON)".into()),
    }?;
    validate_structure(&structure).map_err(|e| e.to_string())?;
    Ok(structure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_keep_the_name_as_written() {
        let id = |p: &str| file_id(Path::new(p));
        assert_eq!(id("dir/Foo.CIF.GZ"), "Foo");
        assert_eq!(id("dir/mp-149.vasp"), "mp-149");
        assert_eq!(id("mp-149/CHGCAR.gz"), "mp-149");
        assert_eq!(id("mp-13/vasprun.xml"), "mp-13");
        // the Kelvin sign is 3 bytes, its lower case `k` 1
        assert_eq!(id("dir/\u{212A}.vasp"), "\u{212A}");
        assert_eq!(id("dir/\u{212A}CAR"), "\u{212A}CAR");
    }

    #[test]
    fn parsed_json_size_counts_values_and_objects_outside_strings() {
        let text = r#"{"a,b:[": [1, 2], "c\"{": 3}"#;
        // 1 object; values: the document, 2 keys (':'), 1 array, 2 commas
        assert_eq!(parsed_json_bytes(text), text.len() + 640 + 6 * 64);
        let bomb = format!("[{}0]", "{},".repeat(1000));
        assert_eq!(
            parsed_json_bytes(&bomb),
            bomb.len() + 1000 * 640 + 1002 * 64
        );
    }

    #[test]
    fn csv_rows_are_measured_between_line_breaks_outside_quotes() {
        // a quoted cell of 9 bytes with a line break and a doubled quote: row 2 is 13
        // bytes (`m-1,"a<LF>b""cd"` before its CR LF)
        let text = "id,cif\r\nm-1,\"a\nb\"\"cd\"\r\nm-2,x\n";
        assert!(csv_rows_within(text, 13).is_ok());
        let refused = csv_rows_within(text, 12).unwrap_err();
        assert!(refused.starts_with("row 2 is longer than"), "{refused}");
        // an unclosed quote keeps the rest of the file in one row
        assert!(csv_rows_within("id\n\"m-1\nm-2\nm-3\n", 8).is_err());
        // a quote inside an unquoted field is a letter: three rows of 4 bytes
        assert!(csv_rows_within("id\n5\"ab\nm-2,\n", 4).is_ok());
        // so is one after a closed quoted field and a letter: row 2 (`m-1,"a"b"c`)
        // ends at its line break, 10 bytes, and row 3's quoted field spans two lines
        let text = "id,x\nm-1,\"a\"b\"c\nm-2,\"d\ne\"\n";
        assert!(csv_rows_within(text, 10).is_ok());
        let refused = csv_rows_within(text, 9).unwrap_err();
        assert!(refused.starts_with("row 2 is longer than"), "{refused}");
        // a byte-order mark is not in the first row, whose quote opens a field; blank
        // lines are not rows
        let text = "\u{feff}\"id\n\"\r\n\r\n\nm-1\n";
        assert!(csv_rows_within(text, 5).is_ok());
        assert!(csv_rows_within(text, 4).unwrap_err().starts_with("row 1 "));
        assert!(csv_rows_within("id\n\n\nm-12\n", 3)
            .unwrap_err()
            .starts_with("row 2 "));
    }

    #[test]
    fn npy_files_and_id_lists_pair_by_the_name_as_written() {
        let id_list = |p: &str| id_list_of(Path::new(p));
        assert_eq!(id_list("d/DOS.npy"), Path::new("d/DOS_ids.txt"));
        assert_eq!(id_list("d/Charge.NPY.GZ"), Path::new("d/Charge_ids.txt"));
        // no .npy beside it: the gzipped one
        let npy = companion_of(Path::new("no-such-folder/DOS_ids.txt"));
        assert_eq!(npy, Path::new("no-such-folder/DOS.npy.gz"));
    }

    #[test]
    fn gzip_is_recognized_in_capitals() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"data_x\n").unwrap();
        let bytes = gz.finish().unwrap();
        let text = text_of(Path::new("dir/X.CIF.GZ"), &bytes).unwrap();
        assert_eq!(text, "data_x\n");
    }

    /// An uncompressed file's text is its bytes, not a copy of them; bytes that are not
    /// UTF-8 are refused either way.
    #[test]
    fn uncompressed_text_is_read_in_place() {
        let bytes = b"data_x\n".to_vec();
        let text = text_of(Path::new("dir/x.cif"), &bytes).unwrap();
        assert!(matches!(text, Cow::Borrowed(t) if t.as_ptr() == bytes.as_ptr()));
        let lines = lines_of(Path::new("dir/x.cif"), &bytes).unwrap();
        assert!(matches!(lines, Cow::Borrowed(_)));
        assert_eq!(
            text_of(Path::new("dir/x.cif"), b"data_\xff\n").unwrap_err(),
            "not UTF-8 text"
        );
    }
}
