//! `arbitrary` impls: the same values as the proptest strategies, drawn
//! from a fuzzer's bytes (cargo-fuzz, libFuzzer, AFL), so that a
//! coverage-guided fuzzer can drive the generators too. The bytes seed the
//! strategy's random number generator; equal bytes give equal values.

use arbitrary::{Arbitrary, Unstructured};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::history::Plan;
use crate::legacy::{History, LegacyCase};

/// The value `strategy` draws from the RNG seeded with `seed`.
pub fn draw<S: Strategy>(strategy: &S, seed: [u8; 32]) -> Option<S::Value> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy
        .new_tree(&mut runner)
        .ok()
        .map(|tree| tree.current())
}

impl<'a> Arbitrary<'a> for Plan {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Plan> {
        let seed: [u8; 32] = u.arbitrary()?;
        draw(&crate::history::plans(), seed).ok_or(arbitrary::Error::IncorrectFormat)
    }
}

impl LegacyCase {
    /// A legacy case of `history` from a fuzzer's bytes (a case depends on
    /// the history, so this is not an `Arbitrary` impl).
    pub fn arbitrary_of(
        history: &History,
        u: &mut Unstructured<'_>,
    ) -> arbitrary::Result<LegacyCase> {
        let seed: [u8; 32] = u.arbitrary()?;
        draw(&crate::legacy::cases(history), seed).ok_or(arbitrary::Error::IncorrectFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_give_equal_plans_and_other_bytes_other_plans() {
        let bytes: Vec<u8> = (0..64).collect();
        let a = Plan::arbitrary(&mut Unstructured::new(&bytes)).expect("a plan");
        let b = Plan::arbitrary(&mut Unstructured::new(&bytes)).expect("a plan");
        assert_eq!(a, b);
        let other: Vec<u8> = (1..65).collect();
        let c = Plan::arbitrary(&mut Unstructured::new(&other)).expect("a plan");
        assert_ne!(a, c);
        assert!(!a.migrations.is_empty());
    }

    #[test]
    fn a_legacy_case_comes_from_bytes() {
        let history = History {
            schemas: vec![Default::default(), Default::default()],
            migrations: vec![crate::legacy::MigrationShape {
                statements: 3,
                can_stop_midway: true,
            }],
            restores_missing: true,
        };
        let bytes = [7u8; 32];
        let a = LegacyCase::arbitrary_of(&history, &mut Unstructured::new(&bytes)).expect("a case");
        let b = LegacyCase::arbitrary_of(&history, &mut Unstructured::new(&bytes)).expect("a case");
        assert_eq!(a, b);
        assert!(a.upto <= 1);
    }
}
