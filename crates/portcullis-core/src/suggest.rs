//! "Did you mean ...?": the closest of a few known names to one that was written, for every
//! error message that offers a fix (config keys, route methods, context variables, rule fields,
//! route keys).

/// The candidate closest to `word` (case-insensitive optimal string alignment distance), if it
/// is close enough to be a plausible typo: at most a third of the longer word's length, and at
/// least one edit allowed. An exact match apart from case wins at once.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate.eq_ignore_ascii_case(word) {
            return Some(candidate);
        }
        let distance = strsim::osa_distance(&lower, &candidate.to_ascii_lowercase());
        let limit = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The case-insensitive optimal string alignment distance between `a` and `b`: how many
/// single-character edits (or swaps of neighbours) turn one into the other.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(&a.to_ascii_lowercase(), &b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_word_and_strangers_find_nothing() {
        let methods = ["GET", "POST", "DELETE", "ANY"];
        assert_eq!(closest("get", methods), Some("GET"));
        assert_eq!(closest("DELET", methods), Some("DELETE"));
        assert_eq!(closest("FROBNICATE", methods), None);
        assert_eq!(closest("requestid", ["requestId", "routeKey"]), Some("requestId"));
    }
}
