//! The dataset: one embedded redb database file holding materials (formula,
//! symmetry, labels, provenance), raw modality records, the import log and the
//! featurization cache; splits are a function of the material id.

mod codec;
mod splits;
mod store;

pub use codec::{decode_record, encode_record, CodecError};
pub(crate) use splits::mix64;
pub use splits::{split_of, Split};
pub use store::{
    Dataset, DatasetError, DatasetSummary, ImportBatch, ImportLog, Material, Rejected,
};
