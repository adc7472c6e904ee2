//! The Common Log Format timestamp AWS uses in `requestContext.time` / `requestTime`.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_core::UtcTime;

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `at` as `dd/MMM/yyyy:HH:mm:ss +0000` in UTC, e.g. `04/Mar/2020:19:15:17 +0000` (spec §4.1).
/// Times before the Unix epoch render as the epoch.
pub fn clf_time(at: SystemTime) -> String {
    let t = UtcTime::of(at);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day,
        MONTHS[(t.month.clamp(1, 12) - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// Milliseconds since the Unix epoch (`timeEpoch`, `requestTimeEpoch`).
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clf_matches_the_aws_sample() {
        // 1583349317135 ms is the doc sample's `requestTimeEpoch` for `04/Mar/2020:19:15:17 +0000`.
        let at = UNIX_EPOCH + Duration::from_millis(1_583_349_317_135);
        assert_eq!(clf_time(at), "04/Mar/2020:19:15:17 +0000");
        assert_eq!(epoch_millis(at), 1_583_349_317_135);
        assert_eq!(clf_time(UNIX_EPOCH + Duration::from_secs(951_782_400)), "29/Feb/2000:00:00:00 +0000");
    }
}
