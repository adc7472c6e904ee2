//! The trie against a brute-force reference that scores every route with the priority rules of
//! the crate docs (random route sets over small alphabets, so clashes and ties are common), and
//! a 10,000-route table.

use std::cmp::Reverse;

use http::Method;
use percent_encoding::percent_decode_str;
use portcullis_route::{MethodSel, PathError, RouteKey, RouteTable, RouteTableBuilder, Segment};
use proptest::prelude::*;

/// The outcome of a lookup: route key text and `(name, raw, decoded)` per parameter.
type Outcome = Option<(String, Vec<(String, String, String)>)>;

/// The ranking of one matching route; the greatest wins. Field order = rule order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    non_greedy: bool,
    literals: usize,
    before_greedy: usize,
    fewer_vars: Reverse<usize>,
    fewer_segments: Reverse<usize>,
    /// Per position: literal 2, var 1, greedy 0 (literal before var before greedy).
    positions: Vec<u8>,
    explicit_method: bool,
}

/// Scores `key` against the decoded request segments, `None` if it does not match.
fn score(key: &RouteKey, method: &Method, decoded: &[String]) -> Option<Score> {
    let RouteKey::Route { method: sel, path } = key else {
        return None;
    };
    let explicit = match sel {
        MethodSel::Any => false,
        MethodSel::Method(m) if m == method => true,
        MethodSel::Method(_) => return None,
    };
    let segs = path.segments();
    let greedy = matches!(segs.last(), Some(Segment::Greedy(_)));
    let prefix = if greedy { segs.len() - 1 } else { segs.len() };
    if greedy {
        if decoded.len() <= prefix {
            return None;
        }
        let rest = decoded[prefix..].join("/");
        if rest.is_empty() && prefix != 0 {
            return None;
        }
    } else if decoded.len() != segs.len() {
        return None;
    }
    let mut literals = 0;
    for (seg, req) in segs[..prefix].iter().zip(decoded) {
        match seg {
            Segment::Literal(l) if **l == **req => literals += 1,
            Segment::Var(_) if !req.is_empty() => {}
            _ => return None,
        }
    }
    let positions = segs
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 2,
            Segment::Var(_) => 1,
            Segment::Greedy(_) => 0,
        })
        .collect();
    Some(Score {
        non_greedy: !greedy,
        literals,
        before_greedy: prefix,
        fewer_vars: Reverse(segs.len() - literals),
        fewer_segments: Reverse(segs.len()),
        positions,
        explicit_method: explicit,
    })
}

/// Brute force: score every route, take the best, else `$default`.
fn reference(routes: &[RouteKey], method: &Method, path: &str) -> Outcome {
    let raw: Vec<&str> = path.strip_prefix('/').expect("generated paths are absolute").split('/').collect();
    let decoded: Vec<String> = raw
        .iter()
        .map(|s| percent_decode_str(s).decode_utf8().expect("generated paths are UTF-8").into_owned())
        .collect();
    let mut scored: Vec<(Score, &RouteKey)> =
        routes.iter().filter_map(|k| score(k, method, &decoded).map(|s| (s, k))).collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0));
    if let [(first, a), (second, b), ..] = scored.as_slice() {
        assert_ne!(first, second, "the priority order must be total: {a} vs {b} for {method} {path}");
    }
    let Some((_, key)) = scored.first() else {
        return routes.iter().find(|k| k.is_default()).map(|k| (k.to_string(), Vec::new()));
    };
    let mut params = Vec::new();
    for (i, seg) in key.path().expect("not $default").segments().iter().enumerate() {
        match seg {
            Segment::Literal(_) => {}
            Segment::Var(n) => params.push((n.to_string(), raw[i].to_owned(), decoded[i].clone())),
            Segment::Greedy(n) => params.push((n.to_string(), raw[i..].join("/"), decoded[i..].join("/"))),
        }
    }
    Some((key.to_string(), params))
}

fn trie(table: &RouteTable<RouteKey>, method: &Method, path: &str) -> Outcome {
    let m = table.find(method, path).expect("generated paths are valid")?;
    assert_eq!(m.value, m.key);
    let params = m.params.iter().map(|p| (p.name.to_string(), p.raw.clone(), p.decoded.clone())).collect();
    Some((m.key.to_string(), params))
}

/// Shape of a key for the duplicate rule: method text and segment kinds with decoded literals.
fn shape(key: &RouteKey) -> String {
    let Some(path) = key.path() else {
        return "$default".to_owned();
    };
    let segs: Vec<String> = path
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => format!("L{l}"),
            Segment::Var(_) => "V".to_owned(),
            Segment::Greedy(_) => "G".to_owned(),
        })
        .collect();
    format!("{} {}", key.method().expect("route").as_str(), segs.join("/"))
}

/// A route key over a small alphabet: `(method, segment kinds, trailing slash)`.
fn route_key() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        3 => Just("a"),
        2 => Just("b"),
        1 => Just("%61"),
        1 => Just("a%2Fb"),
        3 => Just("{}"),
    ];
    let route = (
        prop_oneof![Just("GET"), Just("POST"), Just("ANY")],
        prop::collection::vec(seg, 0..4),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(method, segs, greedy, trailing)| {
            let mut parts: Vec<String> = segs
                .iter()
                .enumerate()
                .map(|(i, s)| if *s == "{}" { format!("{{v{i}}}") } else { (*s).to_owned() })
                .collect();
            if greedy {
                parts.push(format!("{{g{}+}}", parts.len()));
            } else if trailing && !parts.is_empty() {
                parts.push(String::new());
            }
            format!("{method} /{}", parts.join("/"))
        });
    prop_oneof![1 => Just("$default".to_owned()), 12 => route]
}

fn request() -> impl Strategy<Value = (Method, String)> {
    let seg = prop_oneof![
        8 => Just("a"),
        4 => Just("b"),
        1 => Just("c"),
        1 => Just("%61"),
        1 => Just("a%2Fb"),
        1 => Just(""),
        1 => Just("%C3%A9"),
    ];
    let method = prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::HEAD)];
    (method, prop::collection::vec(seg, 1..5)).prop_map(|(m, segs)| (m, format!("/{}", segs.join("/"))))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn trie_matches_brute_force_reference(
        keys in prop::collection::vec(route_key(), 0..14),
        requests in prop::collection::vec(request(), 1..16),
    ) {
        let mut builder = RouteTableBuilder::new();
        let mut accepted: Vec<RouteKey> = Vec::new();
        for text in &keys {
            let key: RouteKey = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&key.to_string(), text, "Display writes the key as written");
            let clash = accepted.iter().position(|k| shape(k) == shape(&key));
            match builder.insert(key.clone(), key.clone()) {
                Ok(()) => {
                    prop_assert_eq!(clash, None, "{} accepted but clashes", text);
                    accepted.push(key);
                }
                Err(dup) => {
                    prop_assert_eq!(Some(dup.existing_index), clash, "{}", text);
                    prop_assert_eq!(&dup.existing, &accepted[dup.existing_index]);
                }
            }
        }
        let table = builder.build();
        prop_assert_eq!(table.len(), accepted.len());
        for (method, path) in &requests {
            prop_assert_eq!(
                trie(&table, method, path),
                reference(&accepted, method, path),
                "{} {} with routes {:?}", method, path, keys
            );
        }
    }
}

/// The refusal the crate docs promise for a raw path, checked in the documented order.
fn reference_refusal(path: &str) -> Option<PathError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some(PathError::NotAbsolute);
    };
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.len() > portcullis_route::MAX_SEGMENTS {
        return Some(PathError::TooManySegments { limit: portcullis_route::MAX_SEGMENTS });
    }
    let strict = |s: &str| {
        let b = s.as_bytes();
        (0..b.len()).filter(|&i| b[i] == b'%').all(|i| {
            b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        })
    };
    if !segs.iter().all(|s| strict(s)) {
        return Some(PathError::BadPercentEncoding);
    }
    let decoded: Vec<_> = segs.iter().map(|s| percent_decode_str(s).decode_utf8()).collect();
    if decoded.iter().any(Result::is_err) {
        return Some(PathError::NotUtf8);
    }
    // A dot segment, also behind an encoded slash, a backslash or a second layer of encoding
    // (decoded leniently and to bytes, as upstreams do).
    let dots = |s: &[u8]| s.split(|b| matches!(b, b'/' | b'\\')).any(|p| p == b"." || p == b"..");
    let deep = |s: &str| dots(s.as_bytes()) || dots(&percent_decode_str(s).collect::<Vec<u8>>());
    if decoded.iter().flatten().any(|s| deep(s)) {
        return Some(PathError::DotSegment);
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn refused_paths_are_exactly_the_documented_ones(
        absolute in prop::bool::weighted(0.95),
        chars in prop::collection::vec(
            prop::sample::select(vec!['/', '/', 'a', 'a', '.', '.', '%', '2', 'e', 'E', 'F', 'C', '3', 'A', '9', 'f']),
            0..14,
        ),
    ) {
        let body: String = chars.into_iter().collect();
        let path = if absolute { format!("/{body}") } else { body };
        let mut builder = RouteTableBuilder::new();
        for k in ["ANY /{proxy+}", "GET /a/{x}", "GET /a", "$default"] {
            let key: RouteKey = k.parse().expect("valid");
            builder.insert(key.clone(), key).expect("distinct");
        }
        let keys: Vec<RouteKey> = builder_keys(&builder);
        let table = builder.build();
        let want = reference_refusal(&path);
        match table.find(&Method::GET, &path) {
            Err(e) => prop_assert_eq!(Some(e), want, "{}", path),
            Ok(_) => {
                prop_assert_eq!(None, want, "{}", path);
                prop_assert_eq!(trie(&table, &Method::GET, &path), reference(&keys, &Method::GET, &path));
            }
        }
    }
}

fn builder_keys(builder: &RouteTableBuilder<RouteKey>) -> Vec<RouteKey> {
    builder.clone().build().routes().map(|(k, _)| k.clone()).collect()
}

#[test]
fn ten_thousand_routes_build_and_match() {
    let mut builder = RouteTableBuilder::new();
    let mut keys = Vec::new();
    for i in 0..2_500 {
        for k in [
            format!("GET /svc{i}/items"),
            format!("GET /svc{i}/items/{{id}}"),
            format!("POST /svc{i}/items/{{id}}/tags"),
            format!("ANY /svc{i}/files/{{proxy+}}"),
        ] {
            let key: RouteKey = k.parse().expect("valid");
            keys.push(key.clone());
            builder.insert(key.clone(), key).expect("no duplicates");
        }
    }
    // Shared-prefix routes that compete with the per-service ones.
    for k in ["GET /{svc}/items", "ANY /{proxy+}", "GET /{svc}/items/{id}/tags"] {
        let key: RouteKey = k.parse().expect("valid");
        keys.push(key.clone());
        builder.insert(key.clone(), key).expect("no duplicates");
    }
    let table = builder.build();
    assert_eq!(table.len(), 10_003);
    for i in (0..2_500).step_by(7) {
        let cases = [
            (Method::GET, format!("/svc{i}/items"), format!("GET /svc{i}/items")),
            (Method::GET, format!("/svc{i}/items/{i}"), format!("GET /svc{i}/items/{{id}}")),
            (Method::POST, format!("/svc{i}/items/x/tags"), format!("POST /svc{i}/items/{{id}}/tags")),
            (Method::GET, format!("/svc{i}/items/x/tags"), "GET /{svc}/items/{id}/tags".to_owned()),
            (Method::PUT, format!("/svc{i}/files/a/b"), format!("ANY /svc{i}/files/{{proxy+}}")),
            (Method::POST, format!("/svc{i}/items"), "ANY /{proxy+}".to_owned()),
            (Method::GET, format!("/other{i}/items"), "GET /{svc}/items".to_owned()),
        ];
        for (method, path, want) in cases {
            let got = trie(&table, &method, &path);
            assert_eq!(got.as_ref().map(|g| g.0.as_str()), Some(want.as_str()), "{method} {path}");
        }
    }
    // A sample checked in full (params included) against the brute-force reference.
    for (method, path) in [
        (Method::GET, "/svc2499/items/7"),
        (Method::GET, "/svc0/files/x%2Fy/z"),
        (Method::DELETE, "/svc17/items/1/tags"),
        (Method::GET, "/nope"),
    ] {
        assert_eq!(trie(&table, &method, path), reference(&keys, &method, path), "{method} {path}");
    }
}
