//! The fixed instants tests start from, available without any feature.

use chrono::{DateTime, Duration, Utc};

/// When the executor tests' alerts fire: Monday 2026-11-23 14:32:00 UTC (ESZ6 is then the
/// ES front month). Also the start of the AWS adapter tests against moto and of the venue
/// contract.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_444_320, 0).unwrap_or_default()
}

/// [`t0`] with a fraction of a second, 2026-11-23 14:32:00.123456 UTC: for tests that check
/// a store keeps times to the microsecond (the journal's round trips).
pub fn t0_micros() -> DateTime<Utc> {
    t0() + Duration::microseconds(123_456)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instants_are_the_documented_ones() {
        assert_eq!(t0().to_rfc3339(), "2026-11-23T14:32:00+00:00");
        assert_eq!(
            t0_micros(),
            "2026-11-23T14:32:00.123456Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
        );
    }
}
