//! Shrinking a failing case with proptest's value trees: simplify while the
//! case still fails the same way, step back when it no longer does.

use generators::legacy::LegacyCase;
use proptest::strategy::ValueTree;

use super::case::{Failure, Target, Verdict, Worker};
use crate::observe::ObserveError;

/// Shrinking stops after this many cases even if the tree could go on:
/// each step is a case on the server.
const MAX_STEPS: usize = 256;

/// The smallest case found that fails like the original.
pub struct Shrunk {
    pub case: LegacyCase,
    pub failure: Failure,
    /// Cases shrinking ran.
    pub steps: usize,
    /// False when `stop` cut shrinking short: the case is only as small
    /// as it got by then.
    pub complete: bool,
}

/// The smallest case of `tree` that still fails like `original` (same
/// kind, same migration), which is how `tree`'s current case failed.
/// Before each step `stop` may end it (time is up), and `step` hears how
/// many steps ran, for a progress line.
pub async fn shrink<T: ValueTree<Value = LegacyCase>>(
    worker: &mut Worker<'_>,
    target: &Target<'_>,
    mut tree: T,
    original: Failure,
    stop: impl Fn() -> bool,
    step: impl Fn(usize),
) -> Result<Shrunk, ObserveError> {
    let first = original.finding.clone();
    let same = |f: &Failure| super::same_failure(&f.finding, &first);
    let mut best = Shrunk {
        case: tree.current(),
        failure: original,
        steps: 0,
        complete: true,
    };
    if !tree.simplify() {
        return Ok(best);
    }
    while best.steps < MAX_STEPS {
        if stop() {
            best.complete = false;
            break;
        }
        best.steps += 1;
        step(best.steps);
        let value = tree.current();
        let simpler = match worker.run(target, &value).await? {
            Verdict::Fail(failure) if same(&failure) => {
                best.case = value;
                best.failure = *failure;
                tree.simplify()
            }
            _ => tree.complicate(),
        };
        if !simpler {
            break;
        }
    }
    Ok(best)
}
