//! Shrinking a failing case with proptest's value trees: simplify while the
//! case still fails the same way, step back when it no longer does.

use generators::legacy::LegacyCase;
use proptest::strategy::ValueTree;

use super::case::{Failure, Target, Verdict, Worker};
use crate::finding::Finding;
use crate::observe::ObserveError;

/// Shrinking stops after this many cases even if the tree could go on:
/// each step is a case on the server.
const MAX_STEPS: usize = 256;

/// The smallest case of `tree` that still fails like `original` (same
/// kind, same migration), with its failure and the cases shrinking ran;
/// `None` if the case no longer fails at all.
pub async fn shrink<T: ValueTree<Value = LegacyCase>>(
    worker: &mut Worker<'_>,
    target: &Target<'_>,
    mut tree: T,
    original: &Finding,
) -> Result<Option<(LegacyCase, Failure, usize)>, ObserveError> {
    let same = |f: &Finding| f.kind == original.kind && f.migration == original.migration;
    let value = tree.current();
    let mut best = match worker.run(target, &value).await? {
        Verdict::Fail(failure) if same(&failure.finding) => (value, *failure),
        _ => return Ok(None),
    };
    let mut steps = 1;
    if !tree.simplify() {
        return Ok(Some((best.0, best.1, steps)));
    }
    while steps < MAX_STEPS {
        steps += 1;
        let value = tree.current();
        match worker.run(target, &value).await? {
            Verdict::Fail(failure) if same(&failure.finding) => {
                best = (value, *failure);
                if !tree.simplify() {
                    break;
                }
            }
            _ => {
                if !tree.complicate() {
                    break;
                }
            }
        }
    }
    Ok(Some((best.0, best.1, steps)))
}
