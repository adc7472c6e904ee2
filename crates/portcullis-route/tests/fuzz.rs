//! Fuzz targets for the route-key parser and the path normaliser (`RouteTable::find`), run on
//! the stable toolchain through proptest, bounded for CI.
//!
//! What is fuzzed:
//! - `RouteKey::from_str` and `PathTemplate::from_str` with arbitrary strings and with
//!   route-key-shaped strings (odd methods, separators, braces, escapes, dots, unicode).
//! - `RouteTable::find` with arbitrary paths (percent escapes, `%2F`, `%5C`, `%25`, dots,
//!   backslashes, unicode, more segments than `MAX_SEGMENTS`) against tables of literal, `{var}`,
//!   `{proxy+}` and `$default` routes.
//!
//! Properties asserted:
//! - nothing panics, and every input takes less than [`MAX_CASE_TIME`];
//! - a key that parses displays as exactly the text parsed, which parses to an equal key; its
//!   template keeps the documented shape (greedy last, unique names, empty literal last); a
//!   request for the template's own path (variables filled in) finds that key, unless the path
//!   is refused as a dot segment; a refused key names itself and never suggests itself;
//! - a path holding a dot segment, raw, percent-encoded, behind an encoded slash or backslash,
//!   or behind a second layer of (lenient) percent-decoding, is refused; `DotSegment` is only
//!   ever given for such a path; with `$default` in the table every path that is not refused
//!   finds a route; captured parameters decode from their raw text and hold no dot segment,
//!   not even after one more decoding.
//!
//! Cases per target: `PORTCULLIS_FUZZ_CASES` (default [`DEFAULT_CASES`]). Failures are kept in
//! `tests/fuzz.proptest-regressions` and replayed first on every run; each real bug found also
//! has a named `regression_*` test below.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use http::Method;
use percent_encoding::percent_decode;
use portcullis_route::{
    MAX_SEGMENTS, MethodSel, PathError, PathTemplate, RouteKey, RouteTable, RouteTableBuilder, Segment,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per target when `PORTCULLIS_FUZZ_CASES` is not set (CI runs this).
const DEFAULT_CASES: u32 = 150_000;
/// The longest one input may take in a debug build before it counts as unbounded work.
const MAX_CASE_TIME: Duration = Duration::from_secs(2);

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PORTCULLIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(DEFAULT_CASES),
        // Shrinking a failure is bounded too, so a red CI run still ends in time.
        max_shrink_time: 60_000,
        max_shrink_iters: 20_000,
        timeout: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

// === route keys ===

/// Text shaped like a route key: a method word, a separator and a path of odd segments.
fn route_key_text() -> impl Strategy<Value = String> {
    let method = prop::sample::select(vec![
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY", "get", "Any", "DELET", "TRACE",
        "CONNECT", "PROPFIND", "$default", "$DEFAULT", "", "G\u{0}T", "GÉT",
    ]);
    let separator = prop::sample::select(vec![" ", " ", " ", "", "  ", "\t", "\u{a0}", "\u{2003}", " \n"]);
    let piece = prop::sample::select(vec![
        "a",
        "pets",
        "{id}",
        "{proxy+}",
        "{a_1}",
        "{}",
        "{+}",
        "{id+}+",
        "{bad-name}",
        "{é}",
        "{a}{b}",
        "{id",
        "id}",
        "%20",
        "%2F",
        "%2e",
        "%2E%2E",
        "%zz",
        "%",
        "%C3%A9",
        "%FF",
        "%C0%AE",
        "..",
        ".",
        "é",
        "😀",
        "?",
        "#",
        "\u{7}",
        "\\",
        "$default",
        "+",
        "*",
    ]);
    let segment = prop::collection::vec(piece, 0..3).prop_map(|p| p.concat());
    let path = (prop::bool::weighted(0.9), prop::collection::vec(segment, 0..6), prop::bool::weighted(0.1))
        .prop_map(|(slash, segs, trailing)| {
            let mut path = format!("{}{}", if slash { "/" } else { "" }, segs.join("/"));
            if trailing {
                path.push(' ');
            }
            path
        });
    prop_oneof![
        8 => (method, separator, path).prop_map(|(m, s, p)| format!("{m}{s}{p}")),
        1 => Just("$default".to_owned()),
        1 => (1usize..140).prop_map(|n| format!("GET {}", "/a".repeat(n))),
    ]
}

fn any_key_text() -> impl Strategy<Value = String> {
    prop_oneof![2 => any::<String>(), 1 => "[ -~]{0,40}", 6 => route_key_text()]
}

/// A request path for `template`: literals as written, `{var}` as `x`, `{name+}` as `x`.
fn concrete_path(template: &PathTemplate) -> String {
    let raw = template.as_str().strip_prefix('/').unwrap_or_default();
    let segs: Vec<&str> = raw
        .split('/')
        .zip(template.segments())
        .map(|(text, seg)| match seg {
            Segment::Literal(_) => text,
            Segment::Var(_) | Segment::Greedy(_) => "x",
        })
        .collect();
    format!("/{}", segs.join("/"))
}

/// Checks one route key text against every property of the parser.
fn check_key(text: &str) -> Result<(), TestCaseError> {
    let started = Instant::now();
    match text.parse::<RouteKey>() {
        Ok(key) => {
            prop_assert_eq!(key.to_string(), text, "Display writes the key exactly as parsed");
            let again: RouteKey =
                key.to_string().parse().map_err(|e| TestCaseError::fail(format!("reparse: {e}")))?;
            prop_assert_eq!(&again, &key);
            let RouteKey::Route { method, path } = &key else {
                return Ok(());
            };
            check_template_shape(path)?;
            let request_method = match method {
                MethodSel::Any => Method::GET,
                MethodSel::Method(m) => m.clone(),
            };
            let mut builder = RouteTableBuilder::new();
            builder.insert(key.clone(), ()).map_err(|e| TestCaseError::fail(format!("insert: {e}")))?;
            let table = builder.build();
            let request = concrete_path(path);
            match table.find(&request_method, &request) {
                Ok(Some(m)) => {
                    prop_assert_eq!(m.key, &key, "{} finds its own route", request);
                    prop_assert_eq!(m.params.iter().count(), path.var_names().count());
                    for p in m.params.iter() {
                        prop_assert_eq!((p.raw.as_str(), p.decoded.as_str()), ("x", "x"));
                    }
                }
                // A literal such as `a\..` or `..%2F` is a valid key that no request can reach.
                Err(PathError::DotSegment) => {}
                other => prop_assert!(false, "{} for the key's own path {}: {:?}", text, request, other),
            }
        }
        Err(e) => {
            prop_assert_eq!(e.key(), text);
            prop_assert!(!e.to_string().is_empty());
            let suggestion = e.suggestion();
            prop_assert_ne!(suggestion.as_deref(), Some(text), "a suggestion must change something");
        }
    }
    if let Ok(template) = text.parse::<PathTemplate>() {
        check_template_shape(&template)?;
    }
    prop_assert!(started.elapsed() < MAX_CASE_TIME, "{:?} for {:?}", started.elapsed(), text);
    Ok(())
}

/// The shape the crate docs promise for a parsed template.
fn check_template_shape(template: &PathTemplate) -> Result<(), TestCaseError> {
    let segs = template.segments();
    prop_assert!(!segs.is_empty() && segs.len() <= MAX_SEGMENTS);
    let last = segs.len() - 1;
    let mut names = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Segment::Literal(l) => {
                prop_assert!(!l.is_empty() || i == last, "empty literal before the end: {}", template);
                prop_assert!(&**l != "." && &**l != "..", "dot literal in {}", template);
            }
            Segment::Greedy(n) | Segment::Var(n) => {
                prop_assert!(
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "bad variable name in {}",
                    template
                );
                prop_assert!(!names.contains(n), "duplicate variable in {}", template);
                prop_assert!(
                    i == last || matches!(seg, Segment::Var(_)),
                    "greedy before the end: {}",
                    template
                );
                names.push(n.clone());
            }
        }
    }
    Ok(())
}

// === paths ===

/// Pieces of request path segments: plain text, every spelling of a dot, encoded separators,
/// double encodings, invalid escapes, overlong and invalid UTF-8, unicode.
const PATH_PIECES: &[&str] = &[
    "a",
    "b",
    "files",
    "x",
    ".",
    "..",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2E",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "/",
    "%25",
    "%252e",
    "%252E",
    "%252F",
    "%255C",
    "%255c",
    "%25%32%65",
    "%",
    "%z",
    "%zz",
    "%2",
    "%25zz",
    "%25FF",
    "%C3%A9",
    "é",
    "%FF",
    "%C0%AE",
    "%00",
    "%0A",
    "+",
    " ",
    "%20",
    "?",
    "#",
    ";",
    "{id}",
    "~",
    "\u{2024}",
    "\u{FF0E}",
    "😀",
    "\u{0}",
];

fn path_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(PATH_PIECES);
    let segment = prop::collection::vec(piece, 0..4).prop_map(|p| p.concat());
    let structured = prop::collection::vec(segment, 0..8).prop_map(|segs| format!("/{}", segs.join("/")));
    prop_oneof![
        12 => structured,
        1 => (100usize..160, prop::sample::select(vec!["a", "", "%2e", ".."]))
            .prop_map(|(n, s)| format!("/{}", vec![s; n].join("/"))),
        2 => any::<String>().prop_map(|s| format!("/{s}")),
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|bytes| {
            // Arbitrary bytes as the server would hand them over: percent-encoded where not text.
            let mut out = String::from("/");
            for b in bytes {
                match b {
                    b'!'..=b'~' => out.push(char::from(b)),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
            out
        }),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::from_bytes(b"PROPFIND").unwrap_or_default(),
    ])
}

/// Tables of every route kind. `with_root_greedy`: an `ANY /{proxy+}` catches every path.
fn table(with_root_greedy: bool, root_greedy_takes_slash: bool) -> RouteTable<&'static str> {
    let mut keys = vec![
        "GET /",
        "GET /a/b",
        "GET /a/",
        "POST /a/{x}/c",
        "GET /files/{name}",
        "ANY /files/{proxy+}",
        "GET /{first}/{second}",
        "$default",
    ];
    if with_root_greedy {
        keys.push("ANY /{proxy+}");
    }
    let mut builder = RouteTableBuilder::new();
    builder.root_greedy_takes_slash(root_greedy_takes_slash);
    for key in keys {
        let parsed: RouteKey = key.parse().unwrap_or(RouteKey::Default);
        // The keys above are distinct; a failure here shows up as a missing route below.
        let _ = builder.insert(parsed, key);
    }
    builder.build()
}

static TABLES: LazyLock<[RouteTable<&'static str>; 3]> =
    LazyLock::new(|| [table(true, true), table(true, false), table(false, true)]);

/// Lenient percent-decoding, as most upstream servers do it: an invalid escape stays as written.
fn lenient(bytes: &[u8]) -> Vec<u8> {
    percent_decode(bytes).collect()
}

/// Whether `bytes`, split on `/` and `\`, has a `.` or `..` piece.
fn has_dot_piece(bytes: &[u8]) -> bool {
    bytes.split(|b| *b == b'/' || *b == b'\\').any(|p| p == b"." || p == b"..")
}

/// The model: a raw path hides a dot segment when one of its segments, as sent, once decoded or
/// twice decoded (leniently, to bytes), holds a `.` or `..` piece between `/` or `\`.
fn hides_dot_segment(raw_path: &str) -> bool {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').any(|seg| {
        let once = lenient(seg.as_bytes());
        let twice = lenient(&once);
        has_dot_piece(seg.as_bytes()) || has_dot_piece(&once) || has_dot_piece(&twice)
    })
}

/// Checks one request against every property of `find`.
fn check_path(method: &Method, path: &str) -> Result<(), TestCaseError> {
    let dangerous = hides_dot_segment(path);
    for (i, table) in TABLES.iter().enumerate() {
        let started = Instant::now();
        let found = table.find(method, path);
        prop_assert!(started.elapsed() < MAX_CASE_TIME, "{:?} for {:?}", started.elapsed(), path);
        match found {
            Err(e) => {
                if e == PathError::DotSegment {
                    prop_assert!(dangerous, "DotSegment for a path without one: {:?}", path);
                }
            }
            Ok(None) => prop_assert!(false, "table {} has $default, yet {:?} found nothing", i, path),
            Ok(Some(m)) => {
                prop_assert!(
                    !dangerous,
                    "{} {:?} reached {} although it hides a dot segment",
                    method,
                    path,
                    m.key
                );
                if let Some(sel) = m.key.method() {
                    prop_assert!(sel.accepts(method), "{} matched {}", method, m.key);
                }
                for p in m.params.iter() {
                    let decoded = percent_decode(p.raw.as_bytes()).decode_utf8();
                    prop_assert_eq!(decoded.as_deref().ok(), Some(p.decoded.as_str()), "{:?}", p);
                    let bytes = p.decoded.as_bytes();
                    prop_assert!(
                        !has_dot_piece(bytes) && !has_dot_piece(&lenient(bytes)),
                        "parameter {} of {:?} holds a dot segment: {:?}",
                        p.name,
                        path,
                        p.decoded
                    );
                }
            }
        }
    }
    let segments = path.strip_prefix('/').map(|rest| rest.split('/').count());
    if segments.is_some_and(|n| n > MAX_SEGMENTS) {
        prop_assert_eq!(
            TABLES[0].find(method, path).err(),
            Some(PathError::TooManySegments { limit: MAX_SEGMENTS })
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn route_keys_parse_without_panics_and_print_back(text in any_key_text()) {
        check_key(&text)?;
    }

    #[test]
    fn paths_never_reach_a_route_through_a_dot_segment(method in method(), path in path_text()) {
        check_path(&method, &path)?;
    }
}

/// Found by `paths_never_reach_a_route_through_a_dot_segment` (minimal input `GET /%25zz%252F.`):
/// the second decoding layer was strict, so an invalid escape (`%25zz`) or invalid UTF-8
/// (`%25FF`) anywhere in the segment switched the double-encoding check off, and
/// `/files/%25zz%252F..%252Fadmin` reached `{proxy+}` as `%zz%2F..%2Fadmin`, which an upstream
/// that decodes twice, leniently, reads as `%zz/../admin`.
#[test]
fn regression_dot_segment_behind_an_invalid_escape_in_the_second_layer() {
    for path in [
        "/%25zz%252F.",
        "/files/%25zz%252F..%252Fadmin",
        "/files/..%252F%25zz",
        "/files/%252e%252e%252F%25FF",
        "/files/%25C0%255C%252e%252e%255Cetc",
    ] {
        for table in TABLES.iter() {
            assert_eq!(table.find(&Method::GET, path).err(), Some(PathError::DotSegment), "{path}");
        }
    }
    // Percent signs and invalid escapes at the second layer alone are still routed.
    for path in ["/files/50%25", "/files/%25zz", "/files/%25FF.txt", "/files/..%25"] {
        let found = TABLES[0].find(&Method::POST, path).ok().flatten().map(|m| m.key.to_string());
        assert_eq!(found.as_deref(), Some("ANY /files/{proxy+}"), "{path}");
    }
}
