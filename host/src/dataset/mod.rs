//! The dataset: one embedded redb database file holding materials (formula,
//! symmetry, labels, provenance), raw modality records, the import log and the
//! featurization cache; splits are a function of the material id.

mod codec;
mod splits;
mod store;

pub use codec::{decode_record, encode_record, CodecError};
pub use splits::{split_of, test_meets_training, Split};
pub use store::{
    Dataset, DatasetError, DatasetSummary, ImportBatch, ImportLog, Material, Rejected,
};

/// The label the host derives itself: 1 where the band gap is 0 eV, 0 elsewhere,
/// unless the dataset has a label of that name.
pub const IS_METAL: &str = "is_metal";
