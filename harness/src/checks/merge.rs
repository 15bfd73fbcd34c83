//! `merge`: two groups of migrations merged from different branches end
//! the same whichever is deployed first, and both orders apply.

use crate::finding::{Finding, Kind};
use crate::observe::Observation;
use crate::schema;

pub(super) fn check(observation: &Observation) -> Vec<Finding> {
    let Some(orders) = &observation.merge else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for merge in orders {
        if let Some(error) = merge.outcome.errors.first() {
            findings.push(Finding {
                message: format!("in the order {}: {}", merge.order.join(", "), error.message),
                ..super::failed(Kind::MergeOrderDependent, error)
            });
        }
    }
    let [Some(main_first), Some(branch_first)] =
        [&orders[0], &orders[1]].map(|o| o.outcome.snapshot.as_ref())
    else {
        return findings;
    };
    let diff = schema::diff(main_first, branch_first);
    if diff.is_empty() {
        return findings;
    }
    let finding = Finding {
        diff: Some(diff.render("with main's migrations first", "with the branch's first")),
        ..Finding::new(
            Kind::MergeOrderDependent,
            format!(
                "the order {} ends with a different schema than {}",
                orders[1].order.join(", "),
                orders[0].order.join(", ")
            ),
        )
    };
    findings.push(super::by_column_order(finding, &diff));
    findings
}
