//! A fuzz driver on stable Rust: `arbtest` feeds random bytes to the
//! `Arbitrary` impl of [`Plan`] (the one a coverage-guided fuzzer would
//! use) and checks every plan it draws, rendered correct and with each
//! defect, with the invariants of the proptest in `history.rs`.
//!
//! It searches for about a second; `MIGCHECK_ARBTEST_BUDGET_MS` searches
//! longer. A failure prints `arbtest failed! Seed: 0x...`, and
//! `ARBTEST_SEED=0x... cargo test -p generators --test arbitrary` runs
//! exactly that case again. Under `CI`, it checks a fixed list of seeds
//! instead, so that a commit's CI result does not depend on luck (as
//! `PROPTEST_RNG_SEED` does for the proptests).

mod common;

use std::time::Duration;

use arbitrary::Unstructured;
use arbtest::arbtest;
use generators::history::Plan;

const DEFAULT_BUDGET_MS: u64 = 1_000;

/// How many seeds are checked under CI.
const CI_SEEDS: u64 = 64;

fn property(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let plan: Plan = u.arbitrary()?;
    common::check_renderings(&plan);
    Ok(())
}

#[test]
fn arbitrary_plans_render_correctly_and_with_every_defect() {
    let replay = std::env::var_os("ARBTEST_SEED").is_some();
    if std::env::var_os("CI").is_some() && !replay {
        for i in 1..=CI_SEEDS {
            arbtest(property).seed(ci_seed(i)).run();
        }
        return;
    }
    arbtest(property).budget(budget()).run();
}

/// The `i`th seed under CI. A seed's low 32 bits are the number of bytes
/// (`Plan` reads 32), the high ones seed arbtest's xorshift generator of
/// them: spread over the 32 bits (small seeds start alike) and never 0.
fn ci_seed(i: u64) -> u64 {
    let state = i.wrapping_mul(0x9E37_79B9) & 0xFFFF_FFFF;
    (state << 32) | 32
}

fn budget() -> Duration {
    let ms = match std::env::var("MIGCHECK_ARBTEST_BUDGET_MS") {
        Ok(value) => value.parse().unwrap_or_else(|_| {
            panic!("MIGCHECK_ARBTEST_BUDGET_MS is {value:?}; set it to a number of milliseconds")
        }),
        Err(_) => DEFAULT_BUDGET_MS,
    };
    Duration::from_millis(ms)
}
