//! Element coverage of a fine-tuned model: how many materials of its training split
//! contain each element (that fine-tuning's own split, not those of an earlier stage
//! it started from or of the pretraining), and, for a structure to predict, the
//! structure's element that the fewest of them contained. A structure with an element
//! none of them had is predicted without one labelled example of that element.

use std::collections::{BTreeMap, BTreeSet};

use mmhost_materials::{records::crystal_elements, Element};

use crate::dataset::{Dataset, DatasetError};

/// Materials containing each element, by element symbol.
pub type ElementCounts = BTreeMap<String, usize>;

/// Materials per element over the `crystal` records of `ids` (ids without a readable
/// structure are skipped).
pub fn element_counts<'a>(
    dataset: &Dataset,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<ElementCounts, DatasetError> {
    let mut counts = ElementCounts::new();
    for id in ids {
        let elements = dataset
            .record("crystal", id)?
            .as_ref()
            .and_then(crystal_elements);
        for element in elements.into_iter().flatten() {
            *counts.entry(element.symbol().to_string()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// A structure's element that the fewest training materials contained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RarestElement {
    pub symbol: String,
    /// Training materials containing it (0: none had it).
    pub training_materials: usize,
}

/// The element of `elements` with the fewest materials in `counts` (ties: the
/// lightest); `None` for no elements.
pub fn rarest_element(
    elements: &BTreeSet<Element>,
    counts: &ElementCounts,
) -> Option<RarestElement> {
    elements
        .iter()
        .map(|element| RarestElement {
            symbol: element.symbol().to_string(),
            training_materials: counts.get(element.symbol()).copied().unwrap_or(0),
        })
        .min_by_key(|rarest| rarest.training_materials)
}

/// The elements of `elements` that no material in `counts` contained.
pub fn unseen_elements(elements: &BTreeSet<Element>, counts: &ElementCounts) -> Vec<Element> {
    elements
        .iter()
        .filter(|element| !counts.contains_key(element.symbol()))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mmhost_materials::Element;

    use super::{rarest_element, unseen_elements, ElementCounts};

    fn elements(symbols: &[&str]) -> BTreeSet<Element> {
        symbols
            .iter()
            .map(|s| Element::from_symbol(s).unwrap())
            .collect()
    }

    #[test]
    fn the_rarest_element_is_the_one_fewest_training_materials_had() {
        let counts: ElementCounts = [("O".to_string(), 900), ("Fe".to_string(), 40)].into();
        let fe_o = rarest_element(&elements(&["Fe", "O"]), &counts).unwrap();
        assert_eq!((fe_o.symbol.as_str(), fe_o.training_materials), ("Fe", 40));
        let with_noble_gases = elements(&["Rn", "O", "Ne"]);
        let unseen = rarest_element(&with_noble_gases, &counts).unwrap();
        assert_eq!(
            (unseen.symbol.as_str(), unseen.training_materials),
            ("Ne", 0)
        );
        assert_eq!(
            unseen_elements(&with_noble_gases, &counts),
            [
                Element::from_symbol("Ne").unwrap(),
                Element::from_symbol("Rn").unwrap()
            ]
        );
        assert!(rarest_element(&BTreeSet::new(), &counts).is_none());
    }
}
