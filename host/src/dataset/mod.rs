//! The dataset: one embedded redb database file holding materials (formula,
//! symmetry, labels, provenance), raw modality records and the import log.

mod codec;
mod store;

pub use codec::{decode_record, encode_record, CodecError};
pub use store::{
    Dataset, DatasetError, DatasetSummary, ImportBatch, ImportLog, Material, Rejected,
};
