//! Fuzz targets for the config loader (`from_str`, and `document::parse`, which shares its YAML
//! reader), run on the stable toolchain through proptest, bounded for CI.
//!
//! What is fuzzed:
//! - arbitrary text, control characters included;
//! - YAML built from a grammar over the config's vocabulary: block and flow collections mixed,
//!   anchors, aliases (also to unknown anchors), merge keys `<<`, tags, block scalars, duplicate
//!   keys, long scalars, directives, BOMs, several documents, CRLF and tab indentation;
//! - copies of the embedded demo config (`DEMO_YAML`) with lines deleted, doubled, swapped,
//!   re-indented, cut, or with YAML tokens written in;
//! - alias bombs of every depth and width, and nesting from a few levels to far past the limit.
//!
//! Properties asserted:
//! - nothing panics or aborts (each case runs in a child process), every input takes less than
//!   [`MAX_CASE_TIME`], and the process's peak resident memory stays under [`MAX_PEAK_RSS`];
//! - every error names the origin, has a non-empty problem, a line inside the text (0 only for
//!   "no position", then with column 0), and the errors come sorted by position; warnings of a
//!   loaded config likewise;
//! - an alias bomb whose expansion passes the node budget is refused as "document too large",
//!   and nesting past the depth limit is refused;
//! - the unchanged demo config loads.
//!
//! Cases per target: `PORTCULLIS_FUZZ_CASES` (default [`DEFAULT_CASES`]). Failures are kept in
//! `tests/fuzz.proptest-regressions` and replayed first on every run; each real bug found also
//! has a named `regression_*` test below.

use std::time::{Duration, Instant};

use portcullis_config::{ConfigError, DEMO_YAML};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per target when `PORTCULLIS_FUZZ_CASES` is not set (CI runs this).
const DEFAULT_CASES: u32 = 3_000;
/// Alias bombs load a document near the reader's budgets (tens of milliseconds each): they run
/// this fraction of the cases.
const BOMB_SHARE: u32 = 50;
/// Wide mappings are large documents (a few hundred milliseconds each): this fraction.
const WIDE_SHARE: u32 = 250;
/// The longest one input may take in a debug build before it counts as unbounded work.
const MAX_CASE_TIME: Duration = Duration::from_secs(2);
/// The peak resident memory of the test process (every case of a target runs in one child
/// process): far above what any input here needs, far below what an unbudgeted alias bomb takes.
const MAX_PEAK_RSS: u64 = 1024 * 1024 * 1024;
/// The node budget of the YAML reader (`yaml.rs`, `MAX_NODES`).
const MAX_NODES: u64 = 250_000;

const ORIGIN: &str = "fuzz.yaml";

fn fuzz_config(share: u32) -> ProptestConfig {
    let cases: Option<u32> = std::env::var("PORTCULLIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: (cases.unwrap_or(DEFAULT_CASES) / share).max(1),
        // Shrinking a failure is bounded too, so a red CI run still ends in time.
        max_shrink_time: 60_000,
        max_shrink_iters: 20_000,
        // Each case runs in a child process that is stopped (and the input reported) past this:
        // a hang or a crash fails the test instead of stalling or killing the test binary.
        timeout: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

/// The peak resident set size of this process (`VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` each end one.
fn yaml_lines(source: &str) -> usize {
    let bytes = source.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    breaks + 1
}

/// One error's position and text, checked against a source of `lines` lines.
fn check_error(e: &ConfigError, lines: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(&e.origin, ORIGIN);
    prop_assert!(!e.problem.trim().is_empty(), "empty problem: {:?}", e);
    prop_assert!(e.line <= lines, "line {} of a {}-line text: {:?}", e.line, lines, e);
    prop_assert!(e.line > 0 || e.column == 0, "column without a line: {:?}", e);
    prop_assert!(e.to_string().starts_with(ORIGIN), "{}", e);
    Ok(())
}

fn check_sorted(errors: &[ConfigError]) -> Result<(), TestCaseError> {
    for pair in errors.windows(2) {
        prop_assert!(pair[0].span() <= pair[1].span(), "not sorted: {} then {}", pair[0], pair[1]);
    }
    Ok(())
}

/// Loads `source` and checks every property; returns the errors' problems (empty when it loaded).
fn check_load(source: &str) -> Result<Vec<String>, TestCaseError> {
    let started = Instant::now();
    let loaded = portcullis_config::from_str(source, ORIGIN);
    let document = portcullis_config::document::parse(source, ORIGIN);
    let elapsed = started.elapsed();
    prop_assert!(elapsed < MAX_CASE_TIME, "took {:?} for {} bytes", elapsed, source.len());
    if let Some(peak) = peak_rss() {
        prop_assert!(peak < MAX_PEAK_RSS, "peak RSS {} MiB after {} bytes", peak >> 20, source.len());
    }
    let lines = yaml_lines(source);
    if let Err(e) = &document {
        check_error(e, lines)?;
    }
    match loaded {
        Ok(config) => {
            for w in &config.warnings {
                check_error(w, lines)?;
            }
            check_sorted(&config.warnings)?;
            Ok(Vec::new())
        }
        Err(errors) => {
            prop_assert!(!errors.errors().is_empty(), "an error list without an error");
            for e in errors.errors() {
                check_error(e, lines)?;
            }
            check_sorted(errors.errors())?;
            Ok(errors.errors().iter().map(|e| e.problem.clone()).collect())
        }
    }
}

// === YAML from a grammar ===

/// A YAML node to render. Scalars are written as given (plain, quoted or odd).
#[derive(Debug, Clone)]
enum Y {
    Scalar(String),
    /// A literal block scalar (`|`) of these lines.
    Block(Vec<String>),
    Seq {
        flow: bool,
        items: Vec<Y>,
    },
    Map {
        flow: bool,
        entries: Vec<(String, Y)>,
    },
    Anchor(u8, Box<Y>),
    Alias(u8),
    Tag(&'static str, Box<Y>),
}

const KEYS: &[&str] = &[
    "listen",
    "admin",
    "limits",
    "max_body",
    "max_header_bytes",
    "header_timeout",
    "idle_timeout",
    "drain_timeout",
    "routes",
    "authorizers",
    "functions",
    "GET /pets/{id}",
    "ANY /{proxy+}",
    "$default",
    "get /x",
    "GET /a/{b}/{b}",
    "http",
    "respond",
    "status",
    "body",
    "headers",
    "timeout",
    "authorizer",
    "type",
    "issuer",
    "audience",
    "jwt",
    "lambda",
    "function",
    "runtime",
    "handler",
    "dir",
    "identity_source",
    "scopes",
    "rules",
    "tls",
    "log",
    "access_log",
    "state_dir",
    "compat",
    "stage",
    "parameter_mapping",
    "x-defaults",
    "<<",
    "tiemout",
    "",
    "? complex",
];

const SCALARS: &[&str] = &[
    "5s",
    "250ms",
    "1 fortnight",
    "10MiB",
    "-1",
    "0",
    "99999999999999999999999",
    "1e400",
    ".inf",
    ".nan",
    "0x1F",
    "0o17",
    "true",
    "no",
    "~",
    "null",
    "http://127.0.0.1:3000/pets/{id}",
    "https://[::1]:0/x",
    "ftp://x",
    "http://",
    "127.0.0.1:8080",
    "[::1]:99999",
    "dev",
    "none",
    "jwt",
    "aws",
    "$request.header.Authorization",
    "\"quoted \\u0000 \\x41 \\\" end\"",
    "\"\\ud800\"",
    "'single ''quoted'''",
    "\"unterminated",
    "'",
    "&",
    "*",
    "!",
    "%",
    "@at",
    "`tick",
    "- dash",
    "a: b",
    "#",
    "😀 unicode é",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "",
];

const TAGS: &[&str] =
    &["!!str", "!!int", "!!map", "!!seq", "!!binary", "!Ref", "!GetAtt", "!<tag:yaml.org,2002:str>", "!"];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(SCALARS).prop_map(str::to_owned),
        1 => (1usize..70_000).prop_map(|n| "x".repeat(n)),
        1 => "[ -~]{0,20}",
    ]
}

fn yaml_tree() -> impl Strategy<Value = Y> {
    let leaf = prop_oneof![
        8 => scalar().prop_map(Y::Scalar),
        2 => (0u8..4).prop_map(Y::Alias),
        1 => prop::collection::vec("[ -~]{0,12}", 1..4).prop_map(Y::Block),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            3 => (prop::bool::weighted(0.3), prop::collection::vec(inner.clone(), 0..5))
                .prop_map(|(flow, items)| Y::Seq { flow, items }),
            4 => (prop::bool::weighted(0.3), prop::collection::vec((prop::sample::select(KEYS).prop_map(str::to_owned), inner.clone()), 0..6))
                .prop_map(|(flow, entries)| Y::Map { flow, entries }),
            2 => (0u8..4, inner.clone()).prop_map(|(a, y)| Y::Anchor(a, Box::new(y))),
            1 => (prop::sample::select(TAGS), inner).prop_map(|(t, y)| Y::Tag(t, Box::new(y))),
        ]
    })
}

fn is_block_collection(y: &Y) -> bool {
    match y {
        Y::Seq { flow, items } => !flow && !items.is_empty(),
        Y::Map { flow, entries } => !flow && !entries.is_empty(),
        Y::Anchor(_, inner) | Y::Tag(_, inner) => is_block_collection(inner),
        _ => false,
    }
}

/// Renders `y` as the value after `key: ` or `- ` at `indent` (block), or inside a flow
/// collection (`flow`).
fn render(y: &Y, indent: usize, flow: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Scalar(s) => out.push_str(s),
        Y::Alias(a) => out.push_str(&format!("*a{a}")),
        Y::Anchor(a, inner) => {
            out.push_str(&format!("&a{a} "));
            render(inner, indent, flow, out);
        }
        Y::Tag(t, inner) => {
            out.push_str(t);
            out.push(' ');
            render(inner, indent, flow, out);
        }
        Y::Block(lines) => {
            out.push_str("|\n");
            for l in lines {
                out.push_str(&format!("{pad}  {l}\n"));
            }
            out.push_str(&pad);
        }
        Y::Seq { flow: f, items } if *f || flow || items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, indent, true, out);
            }
            out.push(']');
        }
        Y::Map { flow: f, entries } if *f || flow || entries.is_empty() => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render(v, indent, true, out);
            }
            out.push('}');
        }
        Y::Seq { items, .. } => {
            for item in items {
                out.push('\n');
                out.push_str(&pad);
                out.push_str("- ");
                render(item, indent + 2, false, out);
            }
        }
        Y::Map { entries, .. } => {
            for (k, v) in entries {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                if !is_block_collection(v) {
                    out.push(' ');
                }
                render(v, indent + 2, false, out);
            }
        }
    }
}

/// A whole document: top-level entries, then decorations around it.
fn yaml_document() -> impl Strategy<Value = String> {
    let entries =
        prop::collection::vec((prop::sample::select(KEYS).prop_map(str::to_owned), yaml_tree()), 0..6);
    let prefix = prop::sample::select(vec![
        "",
        "",
        "",
        "%YAML 1.2\n---",
        "---",
        "\u{feff}",
        "# comment",
        "%TAG ! tag:x,2000:\n---",
    ]);
    let suffix = prop::sample::select(vec!["", "", "", "\n...", "\n---\nsecond: document", "   ", "\n\t"]);
    (prefix, entries, suffix, 0u8..8).prop_map(|(prefix, entries, suffix, endings)| {
        let mut body = String::new();
        render(&Y::Map { flow: false, entries }, 0, false, &mut body);
        let mut text = format!("{prefix}{body}{suffix}\n");
        match endings {
            0 => text = text.replace('\n', "\r\n"),
            1 => text = text.replace("\n  ", "\n\t"),
            _ => {}
        }
        text
    })
}

// === the demo, mutated ===

const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ": ",
    "- ",
    "\t",
    "#",
    "|",
    ">",
    "%",
    "@",
    "? ",
    "\u{0}",
    "😀",
    "\r",
    "\n",
    "  ",
    "~",
    ",",
];

fn mutated_demo() -> impl Strategy<Value = String> {
    prop::collection::vec((0u8..7, any::<u16>(), any::<u16>(), prop::sample::select(TOKENS)), 1..5).prop_map(
        |edits| {
            let mut lines: Vec<String> = DEMO_YAML.lines().map(str::to_owned).collect();
            for (kind, a, b, token) in edits {
                if lines.is_empty() {
                    break;
                }
                let i = usize::from(a) % lines.len();
                let j = usize::from(b) % lines.len();
                match kind {
                    0 => {
                        lines.remove(i);
                    }
                    1 => lines.insert(i, lines[j].clone()),
                    2 => lines.swap(i, j),
                    3 => lines[i] = format!("{}{}", " ".repeat(usize::from(b) % 5), lines[i].trim_start()),
                    4 => {
                        let at = lines[i]
                            .char_indices()
                            .map(|(k, _)| k)
                            .nth(usize::from(b) % (lines[i].chars().count() + 1));
                        let at = at.unwrap_or(lines[i].len());
                        lines[i].insert_str(at, token);
                    }
                    5 => lines.truncate(i),
                    _ => {
                        let keep: String = lines[i].chars().take(usize::from(b) % 40).collect();
                        lines[i] = keep;
                    }
                }
            }
            lines.join("\n")
        },
    )
}

// === alias bombs and nesting ===

#[derive(Debug, Clone)]
struct Bomb {
    levels: u32,
    fanout: u32,
    scalar: usize,
    /// Where the last level is used: 0 as a route's value, 1 under an `x-` key, 2 merged in.
    use_at: u8,
}

impl Bomb {
    fn text(&self) -> String {
        let f = self.fanout as usize;
        let leaf = "x".repeat(self.scalar);
        let mut yaml = format!("x-a0: &a0 [{}]\n", vec![leaf.as_str(); f].join(", "));
        for i in 1..=self.levels {
            let p = i - 1;
            yaml.push_str(&format!("x-a{i}: &a{i} [{}]\n", vec![format!("*a{p}"); f].join(", ")));
        }
        let last = self.levels;
        match self.use_at {
            0 => yaml.push_str(&format!("routes:\n  GET /x:\n    respond: {{body: *a{last}}}\n")),
            1 => yaml.push_str(&format!("x-use: [*a{last}, *a{last}]\n")),
            _ => yaml.push_str(&format!("x-m: &m {{k: *a{last}}}\nx-n: {{<<: [*m, *m]}}\n")),
        }
        yaml
    }

    /// Nodes the reader counts for the definitions alone (each anchor's subtree once, as written,
    /// plus each alias's full expansion).
    fn nodes_of_definitions(&self) -> u64 {
        let f = u64::from(self.fanout);
        let mut weight = 1 + f; // a0: the sequence and its scalars
        let mut total = weight + 1; // plus the key
        for _ in 0..self.levels {
            weight = 1 + f.saturating_mul(weight);
            total = total.saturating_add(weight).saturating_add(1);
        }
        total
    }
}

fn bomb() -> impl Strategy<Value = Bomb> {
    (1u32..10, 2u32..12, 1usize..200, 0u8..3).prop_map(|(levels, fanout, scalar, use_at)| Bomb {
        levels,
        fanout,
        scalar,
        use_at,
    })
}

/// A mapping of many keys: plain, merged into another mapping, written twice, or as routes.
#[derive(Debug, Clone)]
struct Wide {
    keys: usize,
    kind: u8,
}

impl Wide {
    fn text(&self) -> String {
        let mut text = String::new();
        match self.kind {
            0 => {
                text.push_str("x-wide:\n");
                for i in 0..self.keys {
                    text.push_str(&format!("  k{i}: v\n"));
                }
            }
            1 => {
                text.push_str("x-a: &a\n");
                for i in 0..self.keys {
                    text.push_str(&format!("  k{i}: v\n"));
                }
                text.push_str("x-b: {<<: *a, k0: w}\n");
            }
            2 => {
                text.push_str("x-twice:\n");
                for i in 0..self.keys {
                    text.push_str(&format!("  k{}: v\n", i / 2));
                }
            }
            _ => {
                text.push_str("routes:\n");
                for i in 0..self.keys / 4 {
                    text.push_str(&format!("  GET /r{i}: {{respond: {{body: x}}}}\n"));
                }
            }
        }
        text
    }
}

fn wide() -> impl Strategy<Value = Wide> {
    // Quadratic duplicate checks took 2 s at 20,000 keys: this range exposes them.
    (2_000usize..25_000, 0u8..4).prop_map(|(keys, kind)| Wide { keys, kind })
}

fn nesting() -> impl Strategy<Value = (usize, u8)> {
    (prop_oneof![3 => 1usize..80, 1 => 80usize..100_000], 0u8..3)
}

fn nested_text(depth: usize, kind: u8) -> String {
    match kind {
        0 => format!("x-deep: {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("x-deep: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth)),
        _ => {
            let mut text = String::from("x-deep:\n");
            for level in 1..=depth.min(300) {
                text.push_str(&" ".repeat(level));
                text.push_str("k:\n");
            }
            text
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn config_arbitrary_text_loads_or_errs_with_positions(
        text in prop_oneof![any::<String>(), prop::collection::vec(any::<char>(), 0..300).prop_map(String::from_iter)]
    ) {
        check_load(&text)?;
    }

    #[test]
    fn config_yaml_from_the_grammar_loads_or_errs_with_positions(text in yaml_document()) {
        check_load(&text)?;
    }

    #[test]
    fn config_mutated_demo_loads_or_errs_with_positions(text in mutated_demo()) {
        check_load(&text)?;
    }

    #[test]
    fn config_deep_nesting_is_refused_past_the_limit((depth, kind) in nesting()) {
        let problems = check_load(&nested_text(depth, kind))?;
        if depth.min(if kind == 2 { 300 } else { depth }) > 70 {
            prop_assert!(!problems.is_empty(), "nesting of {} loaded", depth);
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(BOMB_SHARE))]

    #[test]
    fn config_alias_bombs_are_refused_within_budget(bomb in bomb()) {
        let problems = check_load(&bomb.text())?;
        if bomb.nodes_of_definitions() > MAX_NODES {
            prop_assert!(
                problems.iter().any(|p| p.contains("document too large")),
                "{} nodes expanded, yet: {:?}", bomb.nodes_of_definitions(), problems
            );
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(WIDE_SHARE))]

    #[test]
    fn config_wide_mappings_load_in_bounded_time(wide in wide()) {
        check_load(&wide.text())?;
    }
}

#[test]
fn config_the_demo_loads() {
    assert!(portcullis_config::from_str(DEMO_YAML, ORIGIN).is_ok());
}

/// Found while bounding the loader's time (a mapping of 80,000 keys, 926 KB, took 30 s in a
/// debug build; 20,000 keys 2 s): every key was compared with every earlier key of its mapping
/// for the duplicate check, and every merged key with every entry, so loading was quadratic in
/// the size of one mapping. Linear now: the same file loads in well under a second.
#[test]
fn regression_a_mapping_of_many_keys_loads_in_linear_time() {
    for kind in [0, 1, 2] {
        let text = Wide { keys: 80_000, kind }.text();
        let started = Instant::now();
        let loaded = portcullis_config::from_str(&text, ORIGIN);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(5), "kind {kind}: {elapsed:?} for {} bytes", text.len());
        if kind == 2 {
            let errors = loaded.expect_err("keys written twice");
            assert_eq!(errors.errors().len(), 40_000, "every duplicate is reported");
            let first = &errors.errors()[0];
            assert!(first.problem.contains("first written at line 2, column 3"), "{first}");
        }
    }
}
