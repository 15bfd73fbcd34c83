//! `fresh`: the set applies on an empty database.

use crate::finding::{Finding, Kind};
use crate::observe::Observation;

pub(super) fn check(observation: &Observation) -> Vec<Finding> {
    observation
        .fresh
        .errors
        .iter()
        .map(|error| super::failed(Kind::ApplyFailed, error))
        .collect()
}
