//! The Common Log Format timestamp AWS uses in `requestContext.time` / `requestTime`.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_core::UtcTime;

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `at` as `dd/MMM/yyyy:HH:mm:ss +0000` in UTC, e.g. `04/Mar/2020:19:15:17 +0000`
/// (docs/aws-compatibility.md#payload-20-request-event). Times before the Unix epoch render as the
/// epoch. Written digit by digit: it is in every event, and `format!` with padding cost more than
/// the rest of the timestamp work.
pub fn clf_time(at: SystemTime) -> String {
    let t = UtcTime::of(at);
    let mut out = String::with_capacity(26);
    push_padded(&mut out, u64::from(t.day), 2);
    out.push('/');
    out.push_str(MONTHS[(t.month.clamp(1, 12) - 1) as usize]);
    out.push('/');
    push_padded(&mut out, u64::try_from(t.year).unwrap_or(0), 4);
    for (sep, part) in [(':', t.hour), (':', t.minute), (':', t.second)] {
        out.push(sep);
        push_padded(&mut out, u64::from(part), 2);
    }
    out.push_str(" +0000");
    out
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n);
    for _ in text.len()..width {
        out.push('0');
    }
    out.push_str(text);
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
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(UNIX_EPOCH + Duration::from_secs(253_402_300_799)), "31/Dec/9999:23:59:59 +0000");
    }
}
