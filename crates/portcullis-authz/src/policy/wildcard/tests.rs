use proptest::prelude::*;
use regex::Regex;

use super::Wildcard;

/// The reference: the IAM pattern translated to an anchored regex (`*` -> `.*`, `?` -> `.`).
fn reference(pattern: &str) -> Regex {
    let mut re = String::from("(?s)^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Regex::new(&re).expect("reference regex compiles")
}

#[test]
fn hand_picked_cases_agree_with_expectations() {
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("**", "anything/at:all", true),
        ("?", "", false),
        ("?", "é", true),
        ("??", "é", false),
        ("a*", "a", true),
        ("*a", "ba", true),
        ("*a", "ab", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "a/b:c", true),
        ("a*b*c", "acb", false),
        ("a*?b", "ab", false),
        ("a*?b", "axb", true),
        ("*ab*ab*", "abab", true),
        ("*ab*ab*", "aba", false),
        ("*a?c*", "xxabcxx", true),
        ("*a?c*", "xxacxx", false),
        ("ab?*cd", "abXcd", true),
        ("abc*abc", "abc", false),
        ("abc*abc", "abcabc", true),
        ("a**b", "ab", true),
        ("A", "a", false),
        // Overlapping occurrences of a segment's leading literal: the second one matches.
        ("*aa?b*", "aaaxb", true),
        ("*aa?b*", "aaxxb", false),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(Wildcard::new(pattern).matches(text), *expected, "{pattern:?} vs {text:?}");
        assert_eq!(reference(pattern).is_match(text), *expected, "reference {pattern:?} vs {text:?}");
    }
}

#[test]
fn many_stars_against_a_long_run_finishes_quickly() {
    // A pattern that makes naive recursive matchers exponential.
    let pattern = format!("{}b", "a*".repeat(100));
    let text = "a".repeat(5000);
    let started = std::time::Instant::now();
    assert!(!Wildcard::new(&pattern).matches(&text));
    assert!(Wildcard::new(&pattern).matches(&format!("{text}b")));
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
}

const ALPHABET: &[char] = &['a', 'b', '/', ':', '*', '?', 'é'];

fn string_of(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..max)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Turns a pattern into a text it must match: each `*` becomes a random run, each `?` a char.
fn instance_of(pattern: &str, fill: &[String]) -> String {
    let mut out = String::new();
    for (i, c) in pattern.chars().enumerate() {
        let filler = &fill[i % fill.len()];
        match c {
            '*' => out.push_str(filler),
            '?' => out.push(filler.chars().next().unwrap_or('x')),
            c => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn matcher_agrees_with_regex_reference(pattern in string_of(12), text in string_of(16)) {
        prop_assert_eq!(Wildcard::new(&pattern).matches(&text), reference(&pattern).is_match(&text));
    }

    #[test]
    fn matcher_agrees_with_reference_on_short_dense_strings(pattern in string_of(6), text in string_of(6)) {
        // Short strings over the same alphabet: matches and near-matches are frequent.
        prop_assert_eq!(Wildcard::new(&pattern).matches(&text), reference(&pattern).is_match(&text));
    }

    #[test]
    fn matcher_agrees_with_reference_on_near_misses(
        pattern in string_of(12),
        fill in proptest::collection::vec(string_of(4), 1..4),
        edit in 0usize..64,
        insert in proptest::sample::select(ALPHABET),
    ) {
        // An instance of the pattern with one character removed or inserted.
        let mut chars: Vec<char> = instance_of(&pattern, &fill).chars().collect();
        let at = edit % (chars.len() + 1);
        if edit % 2 == 0 && at < chars.len() {
            chars.remove(at);
        } else {
            chars.insert(at, insert);
        }
        let text: String = chars.into_iter().collect();
        prop_assert_eq!(Wildcard::new(&pattern).matches(&text), reference(&pattern).is_match(&text));
    }

    #[test]
    fn matcher_accepts_every_instance_of_a_pattern(
        pattern in string_of(12),
        fill in proptest::collection::vec(string_of(5), 1..4),
    ) {
        let text = instance_of(&pattern, &fill);
        prop_assert!(reference(&pattern).is_match(&text));
        prop_assert!(Wildcard::new(&pattern).matches(&text), "{:?} should match {:?}", pattern, text);
    }
}
