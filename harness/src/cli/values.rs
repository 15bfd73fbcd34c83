//! The grammars of option values: one for durations (every option that
//! takes one), one for row counts, one for sizes.

use std::time::Duration;

/// A duration: humantime's grammar (`500ms`, `1.5s`, `2m`, `1h 30m`), or a
/// plain number of seconds (`90`, `0.5`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("`{text}` is not a duration; write e.g. 500ms, 1.5s, 30s or 2m");
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }
    humantime::parse_duration(text).map_err(|_| invalid())
}

/// A row count: `10000`, `10k`, `1M`, `1_000_000`, `2.5k`.
pub fn count(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    let (digits, factor) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        _ => (t.as_str(), 1),
    };
    digits
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * factor as f64).round() as u64)
        .ok_or_else(|| format!("`{text}` is not a row count; write e.g. 10000, 10k or 1M"))
}

/// A size in bytes: `0`, `512kB`, `8MB`, `1GB`, `2GiB` (powers of 1024;
/// `input::parse_size`'s grammar, which `MIGCHECK_MAX_CLUSTER_SIZE` shares).
pub fn bytes(text: &str) -> Result<u64, String> {
    crate::input::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size; write e.g. 0, 512kB, 8MB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, ()>) {
        assert_eq!(duration(text).map_err(|_| ()), expected, "{text}");
    }

    #[test]
    fn one_duration_grammar() {
        let ms = Duration::from_millis;
        check("500ms", Ok(ms(500)));
        check("1.5s", Ok(ms(1500)));
        check("30s", Ok(ms(30_000)));
        check("2m", Ok(ms(120_000)));
        check("1m 30s", Ok(ms(90_000)));
        check("90", Ok(ms(90_000)));
        check("0.25", Ok(ms(250)));
        check("0", Ok(ms(0)));
        check("", Err(()));
        check("-1", Err(()));
        check("5 parsecs", Err(()));
        check("NaN", Err(()));
    }

    #[test]
    fn counts_and_sizes() {
        assert_eq!(count("10k"), Ok(10_000));
        assert_eq!(count("1_000_000"), Ok(1_000_000));
        assert_eq!(count("2.5k"), Ok(2_500));
        assert_eq!(count("1M"), Ok(1_000_000));
        assert!(count("lots").is_err());
        assert_eq!(bytes("8MB"), Ok(8 << 20));
        assert_eq!(bytes("512kB"), Ok(512 << 10));
        assert_eq!(bytes("0"), Ok(0));
        assert!(bytes("8 parsecs").is_err());
    }
}
