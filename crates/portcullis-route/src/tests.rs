//! Table tests: route priority (docs/aws-compatibility.md#routes-and-route-selection and our
//! `[UNDOC]` decisions), route-key parsing errors, duplicates, refused request paths. Property
//! tests against a brute-force scorer live in `tests/reference.rs`.

use http::Method;

use crate::{DuplicateRoute, PathError, RouteKey, RouteKeyErrorKind, RouteTable, RouteTableBuilder};

fn table(keys: &[&str]) -> RouteTable<String> {
    let mut b = RouteTableBuilder::new();
    for k in keys {
        let key: RouteKey = k.parse().unwrap_or_else(|e| panic!("{k}: {e}"));
        b.insert(key, (*k).to_owned()).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    b.build()
}

/// What a request matched: the route key and `name=raw|decoded` per parameter.
fn outcome(t: &RouteTable<String>, method: &str, path: &str) -> Option<(String, Vec<String>)> {
    let method = Method::from_bytes(method.as_bytes()).expect("test method");
    let m = t.find(&method, path).unwrap_or_else(|e| panic!("{path}: {e}"))?;
    assert_eq!(m.value, &m.key.to_string(), "value stored with the key");
    let params = m.params.iter().map(|p| format!("{}={}|{}", p.name, p.raw, p.decoded)).collect();
    Some((m.key.to_string(), params))
}

/// One row: request method and path, expected route key (or `None` = miss) and params.
type Row<'a> = (&'a str, &'a str, Option<&'a str>, &'a [&'a str]);

fn check(keys: &[&str], rows: &[Row<'_>]) -> usize {
    let t = table(keys);
    for (method, path, want, params) in rows {
        let got = outcome(&t, method, path);
        let want = want.map(|k| (k.to_owned(), params.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()));
        assert_eq!(got, want, "{method} {path} with routes {keys:?}");
    }
    rows.len()
}

#[test]
fn route_priority_table() {
    let mut cases = 0;
    // AWS's documented route-selection example, plus the edges of the same route set.
    cases += check(
        &["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"],
        &[
            ("GET", "/pets/dog/1", Some("GET /pets/dog/1"), &[]),
            ("GET", "/pets/dog/2", Some("GET /pets/dog/{id}"), &["id=2|2"]),
            ("GET", "/pets/cat/1", Some("GET /pets/{proxy+}"), &["proxy=cat/1|cat/1"]),
            ("POST", "/test/5", Some("ANY /{proxy+}"), &["proxy=test/5|test/5"]),
            // The literal route is GET only: POST falls through to the root greedy route.
            ("POST", "/pets/dog/1", Some("ANY /{proxy+}"), &["proxy=pets/dog/1|pets/dog/1"]),
            // HEAD is its own method, not GET's.
            ("HEAD", "/pets/dog/1", Some("ANY /{proxy+}"), &["proxy=pets/dog/1|pets/dog/1"]),
            // Methods no route key can name still reach ANY.
            ("PROPFIND", "/pets/dog/1", Some("ANY /{proxy+}"), &["proxy=pets/dog/1|pets/dog/1"]),
            // Root-level greedy takes the bare `/` with an empty value.
            ("GET", "/", Some("ANY /{proxy+}"), &["proxy=|"]),
            // `/pets/{proxy+}` needs at least one non-empty segment after `/pets`.
            ("GET", "/pets", Some("ANY /{proxy+}"), &["proxy=pets|pets"]),
            ("GET", "/pets/", Some("ANY /{proxy+}"), &["proxy=pets/|pets/"]),
            ("GET", "/pets/dog/", Some("GET /pets/{proxy+}"), &["proxy=dog/|dog/"]),
            ("GET", "/pets/dog/1/", Some("GET /pets/{proxy+}"), &["proxy=dog/1/|dog/1/"]),
        ],
    );
    // Greedy beats $default; $default catches the rest.
    cases += check(
        &["GET /pets/{proxy+}", "$default"],
        &[
            ("GET", "/pets/a", Some("GET /pets/{proxy+}"), &["proxy=a|a"]),
            ("POST", "/pets/a", Some("$default"), &[]),
            ("GET", "/", Some("$default"), &[]),
        ],
    );
    // Tie-breaks among non-greedy candidates, and explicit method vs ANY.
    cases += check(
        &["GET /a/{x}/c", "GET /a/b/{y}", "GET /{p}/b/c", "GET /a/{x}/{z}", "ANY /a/{x}/{z}", "POST /a/b/c"],
        &[
            // Same literal count: position by position, literal first (rule 6).
            ("GET", "/a/b/c", Some("GET /a/b/{y}"), &["y=c|c"]),
            ("POST", "/a/b/c", Some("POST /a/b/c"), &[]),
            ("PUT", "/a/b/c", Some("ANY /a/{x}/{z}"), &["x=b|b", "z=c|c"]),
            ("GET", "/a/q/c", Some("GET /a/{x}/c"), &["x=q|q"]),
            ("GET", "/q/b/c", Some("GET /{p}/b/c"), &["p=q|q"]),
            ("GET", "/a/q/r", Some("GET /a/{x}/{z}"), &["x=q|q", "z=r|r"]),
            ("DELETE", "/a/q/r", Some("ANY /a/{x}/{z}"), &["x=q|q", "z=r|r"]),
            // No 405 and no $default: a miss.
            ("GET", "/q/q/q", None, &[]),
            ("GET", "/a/b", None, &[]),
            // `{x}` never takes an empty segment.
            ("GET", "/a//c", None, &[]),
        ],
    );
    // More literal segments beat a leftmost literal (rule 2 before rule 6).
    cases +=
        check(&["GET /a/{x}/{y}", "GET /{p}/b/c"], &[("GET", "/a/b/c", Some("GET /{p}/b/c"), &["p=a|a"])]);
    // Ranking among greedy candidates: literals, then segments before the greedy variable.
    cases += check(
        &["GET /{t}/files/{proxy+}", "GET /{t}/{proxy+}", "GET /t1/{proxy+}", "ANY /{proxy+}"],
        &[
            ("GET", "/t1/files/a/b", Some("GET /{t}/files/{proxy+}"), &["t=t1|t1", "proxy=a/b|a/b"]),
            ("GET", "/t1/x/y", Some("GET /t1/{proxy+}"), &["proxy=x/y|x/y"]),
            ("GET", "/t2/x", Some("GET /{t}/{proxy+}"), &["t=t2|t2", "proxy=x|x"]),
            ("GET", "/t2", Some("ANY /{proxy+}"), &["proxy=t2|t2"]),
            ("GET", "/t2/files", Some("GET /{t}/{proxy+}"), &["t=t2|t2", "proxy=files|files"]),
            ("GET", "/t2/files/", Some("GET /{t}/{proxy+}"), &["t=t2|t2", "proxy=files/|files/"]),
        ],
    );
    // Any non-greedy match beats any greedy match, whatever the literal counts.
    cases += check(
        &["GET /{a}/{b}/{c}", "GET /x/y/{rest+}"],
        &[
            ("GET", "/x/y/z", Some("GET /{a}/{b}/{c}"), &["a=x|x", "b=y|y", "c=z|z"]),
            ("GET", "/x/y/z/w", Some("GET /x/y/{rest+}"), &["rest=z/w|z/w"]),
        ],
    );
    // Trailing slash, encodings, unicode, case.
    cases += check(
        &[
            "GET /",
            "GET /pets",
            "GET /pets/",
            "GET /files/{name}",
            "GET /café",
            "GET /a%20b",
            "ANY /{proxy+}",
        ],
        &[
            // A literal `/` route beats the root greedy route.
            ("GET", "/", Some("GET /"), &[]),
            ("POST", "/", Some("ANY /{proxy+}"), &["proxy=|"]),
            ("GET", "/pets", Some("GET /pets"), &[]),
            ("GET", "/pets/", Some("GET /pets/"), &[]),
            ("GET", "/Pets", Some("ANY /{proxy+}"), &["proxy=Pets|Pets"]),
            ("GET", "/%70ets", Some("GET /pets"), &[]),
            // Decoded once only: `%2570` is the text `%70`, not `p`.
            ("GET", "/%2570ets", Some("ANY /{proxy+}"), &["proxy=%2570ets|%70ets"]),
            ("GET", "/files/a%2Fb", Some("GET /files/{name}"), &["name=a%2Fb|a/b"]),
            ("GET", "/files/a%20b", Some("GET /files/{name}"), &["name=a%20b|a b"]),
            ("GET", "/files/a/b", Some("ANY /{proxy+}"), &["proxy=files/a/b|files/a/b"]),
            ("GET", "/caf%C3%A9", Some("GET /café"), &[]),
            ("GET", "/café", Some("GET /café"), &[]),
            ("GET", "/CAF%C3%A9", Some("ANY /{proxy+}"), &["proxy=CAF%C3%A9|CAFé"]),
            ("GET", "/a%20b", Some("GET /a%20b"), &[]),
            ("GET", "/x%2Fy/z", Some("ANY /{proxy+}"), &["proxy=x%2Fy/z|x/y/z"]),
            ("GET", "/.well-known/x", Some("ANY /{proxy+}"), &["proxy=.well-known/x|.well-known/x"]),
            ("GET", "/a/.../b", Some("ANY /{proxy+}"), &["proxy=a/.../b|a/.../b"]),
        ],
    );
    // OPTIONS (docs/aws-compatibility.md#cors): ANY and $default catch it; an explicit OPTIONS
    // route outranks ANY.
    cases += check(
        &["ANY /{proxy+}", "OPTIONS /{proxy+}", "GET /x"],
        &[
            ("OPTIONS", "/x", Some("OPTIONS /{proxy+}"), &["proxy=x|x"]),
            ("GET", "/x", Some("GET /x"), &[]),
            ("PUT", "/x", Some("ANY /{proxy+}"), &["proxy=x|x"]),
        ],
    );
    cases += check(
        &["GET /x", "$default"],
        &[
            ("HEAD", "/x", Some("$default"), &[]),
            ("OPTIONS", "/x", Some("$default"), &[]),
            ("GET", "/x/", Some("$default"), &[]),
        ],
    );
    cases += check(&["GET /x"], &[("POST", "/x", None, &[]), ("GET", "/", None, &[])]);
    assert!(cases >= 30, "the priority table has {cases} cases");
}

#[test]
fn refused_request_paths_are_errors_even_with_a_default_route() {
    let t = table(&["ANY /{proxy+}", "$default"]);
    let deep_ok = "/a".repeat(crate::MAX_SEGMENTS);
    let too_deep = "/a".repeat(crate::MAX_SEGMENTS + 1);
    let cases: &[(&str, PathError)] = &[
        ("", PathError::NotAbsolute),
        ("pets", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("/a/../b", PathError::DotSegment),
        ("/..", PathError::DotSegment),
        ("/.", PathError::DotSegment),
        ("/a/./b", PathError::DotSegment),
        ("/a/%2e%2e/b", PathError::DotSegment),
        ("/a/%2E", PathError::DotSegment),
        ("/a/.%2E", PathError::DotSegment),
        // Hidden behind an encoded slash, a backslash, or a second layer of encoding.
        ("/files/..%2Finternal%2Fsecret", PathError::DotSegment),
        ("/files/a%2F..%2F..%2Fetc", PathError::DotSegment),
        ("/files/..%5Cinternal", PathError::DotSegment),
        ("/files/..\\internal", PathError::DotSegment),
        ("/files/%252E%252E%252Fsecret", PathError::DotSegment),
        ("/files/%2e%2e%2f", PathError::DotSegment),
        ("/a/%zz", PathError::BadPercentEncoding),
        ("/a/%4", PathError::BadPercentEncoding),
        ("/a/%", PathError::BadPercentEncoding),
        ("/a/%C3", PathError::NotUtf8),
        ("/%FF", PathError::NotUtf8),
        (&too_deep, PathError::TooManySegments { limit: crate::MAX_SEGMENTS }),
    ];
    for (path, want) in cases {
        assert_eq!(t.find(&Method::GET, path).err(), Some(*want), "{path}");
    }
    assert!(t.find(&Method::GET, &deep_ok).is_ok_and(|m| m.is_some()));
}

#[test]
fn long_percent_encoded_paths_decode_through_the_heap_buffer() {
    let t = table(&["GET /{a}/{rest+}"]);
    let seg = "%C3%A9".repeat(400); // 2,400 raw bytes, 800 decoded
    let path = format!("/{seg}/x%2Fy/z");
    let m = t.find(&Method::GET, &path).expect("valid").expect("match");
    assert_eq!(m.params.get("a").map(|p| p.decoded.clone()), Some("é".repeat(400)));
    assert_eq!(
        m.params.get("rest").map(|p| (p.raw.as_str(), p.decoded.as_str())),
        Some(("x%2Fy/z", "x/y/z"))
    );
}

#[test]
fn route_key_errors_name_the_problem_and_suggest_a_fix() {
    use RouteKeyErrorKind as K;
    let too_many = format!("GET {}", "/a".repeat(crate::MAX_SEGMENTS + 1));
    let var = |s: &str| K::VarNotWholeSegment { segment: s.to_owned() };
    let name = |s: &str| K::BadVarName { name: s.to_owned() };
    let method = |s: &str| K::UnknownMethod { method: s.to_owned() };
    let cases: Vec<(&str, RouteKeyErrorKind, Option<&str>)> = vec![
        ("", K::Empty, None),
        ("get /pets", method("get"), Some("GET")),
        ("DELET /pets", method("DELET"), None),
        ("Post /pets", method("Post"), Some("POST")),
        ("any /pets", method("any"), Some("ANY")),
        ("FROBNICATE /pets", method("FROBNICATE"), None),
        ("TRACE /pets", K::UnsupportedMethod { method: "TRACE".to_owned() }, None),
        ("GET/pets", K::MissingSpace, Some("GET /pets")),
        ("get/pets", K::MissingSpace, Some("GET /pets")),
        ("GET  /pets", K::ExtraSpace, Some("GET /pets")),
        (" GET /pets", K::ExtraSpace, Some("GET /pets")),
        ("GET /pets ", K::ExtraSpace, Some("GET /pets")),
        ("GET\t/pets", K::ExtraSpace, Some("GET /pets")),
        ("GET /my pets", K::SpaceInPath, None),
        ("/pets", K::MissingMethod, None),
        ("GET", K::MissingPath, None),
        ("GET pets", K::PathNotAbsolute, Some("GET /pets")),
        ("GET /a//b", K::EmptySegment, None),
        ("GET //", K::EmptySegment, None),
        ("GET /a{b}", var("a{b}"), None),
        ("GET /{a}b", var("{a}b"), None),
        ("GET /{a}{b}", var("{a}{b}"), None),
        ("GET /{a", var("{a"), None),
        ("GET /{a-b}", name("a-b"), None),
        ("GET /{}", name(""), None),
        ("GET /{+}", name(""), None),
        ("GET /{é}", name("é"), None),
        ("GET /{proxy+}/x", K::GreedyNotLast { name: "proxy".to_owned() }, None),
        ("GET /{id}/x/{id}", K::DuplicateVar { name: "id".to_owned() }, None),
        ("GET /{id}/{id+}", K::DuplicateVar { name: "id".to_owned() }, None),
        ("$default GET", K::DefaultWithOther, Some("$default")),
        ("GET $default", K::DefaultWithOther, Some("$default")),
        ("$DEFAULT", K::DefaultWithOther, Some("$default")),
        ("$default /x", K::DefaultWithOther, Some("$default")),
        ("GET /a/%zz", K::BadPercentEncoding { segment: "%zz".to_owned() }, None),
        ("GET /%C3", K::BadPercentEncoding { segment: "%C3".to_owned() }, None),
        ("GET /a/..", K::DotSegment, None),
        ("GET /%2e", K::DotSegment, None),
        ("GET /a?b", K::BadChar { ch: '?' }, None),
        ("GET /a#b", K::BadChar { ch: '#' }, None),
        (&too_many, K::TooManySegments { limit: crate::MAX_SEGMENTS }, None),
    ];
    for (text, kind, suggestion) in cases {
        let err = text.parse::<RouteKey>().expect_err(text);
        assert_eq!(err.kind(), &kind, "{text:?}: {err}");
        assert_eq!(err.suggestion().as_deref(), suggestion, "{text:?}: {err}");
        assert_eq!(err.key(), text);
        let message = err.to_string();
        assert!(message.contains(text) && message.len() > text.len() + 20, "{message}");
    }
}

#[test]
fn route_keys_display_exactly_as_written() {
    for text in [
        "$default",
        "GET /",
        "ANY /{proxy+}",
        "GET /pets/",
        "GET /caf%C3%A9",
        "GET /café",
        "OPTIONS /a/{b}/{c+}",
        "PATCH /a_b/{Id_9}",
        "HEAD /x",
        "PUT /x",
        "DELETE /x",
        "POST /x",
    ] {
        let key: RouteKey = text.parse().expect(text);
        assert_eq!(key.to_string(), text);
    }
    let key: RouteKey = "GET /a/{b}/c/{d+}".parse().expect("valid");
    let path = key.path().expect("has a path");
    assert_eq!(path.var_names().collect::<Vec<_>>(), ["b", "d"]);
    assert_eq!(path.greedy(), Some("d"));
    let root: RouteKey = "GET /".parse().expect("valid");
    assert_eq!(root.path().map(|p| p.segments().len()), Some(1));
}

fn dup(first: &str, second: &str) -> Option<DuplicateRoute> {
    let mut b = RouteTableBuilder::new();
    b.insert("GET /unrelated".parse().expect("valid"), 0).expect("first");
    b.insert(first.parse().expect(first), 1).expect(first);
    let err = b.insert(second.parse().expect(second), 2).err();
    // A refused insert leaves the builder unchanged; an accepted one adds a route.
    assert_eq!(b.len(), if err.is_some() { 2 } else { 3 });
    err
}

#[test]
fn duplicate_routes_are_same_method_and_shape_ignoring_variable_names() {
    for (first, second) in [
        ("GET /pets/{id}", "GET /pets/{petId}"),
        ("ANY /{proxy+}", "ANY /{p+}"),
        ("$default", "$default"),
        ("GET /a", "GET /%61"),
        ("GET /a%2fb", "GET /a%2Fb"),
        ("POST /{a}/x/{b+}", "POST /{c}/x/{d+}"),
    ] {
        let err = dup(first, second).unwrap_or_else(|| panic!("{first} vs {second} must clash"));
        assert_eq!(err.existing.to_string(), first);
        assert_eq!(err.key.to_string(), second);
        assert_eq!(err.existing_index, 1);
        assert!(err.to_string().contains(first) && err.to_string().contains(second), "{err}");
    }
    for (first, second) in [
        ("GET /pets/{id}", "ANY /pets/{id}"),
        ("GET /pets", "GET /pets/"),
        ("GET /a/{x}", "GET /a/{x+}"),
        ("GET /x", "POST /x"),
        ("GET /a/{x}", "GET /a/x"),
        ("GET /", "ANY /{proxy+}"),
    ] {
        assert_eq!(dup(first, second), None, "{first} vs {second}");
    }
}

#[test]
fn refused_duplicate_does_not_replace_the_earlier_route() {
    let mut b = RouteTableBuilder::new();
    b.insert("GET /pets/{id}".parse().expect("valid"), "first").expect("first");
    assert!(b.insert("GET /pets/{petId}".parse().expect("valid"), "second").is_err());
    let t = b.build();
    assert_eq!(t.len(), 1);
    let m = t.find(&Method::GET, "/pets/1").expect("valid").expect("match");
    assert_eq!((*m.value, m.params.get("id").map(|p| p.raw.as_str())), ("first", Some("1")));
}

#[test]
fn hand_built_extension_method_routes_match_only_that_method() {
    let mut b = RouteTableBuilder::new();
    let propfind = Method::from_bytes(b"PROPFIND").expect("valid method");
    let path = "/dav/{p+}".parse().expect("valid");
    b.insert(RouteKey::Route { method: crate::MethodSel::Method(propfind.clone()), path }, 1)
        .expect("insert");
    let t = b.build();
    assert!(t.find(&propfind, "/dav/x").expect("valid").is_some());
    assert!(t.find(&Method::GET, "/dav/x").expect("valid").is_none());
}

#[test]
fn root_greedy_can_be_told_not_to_take_the_bare_slash() {
    let mut b = RouteTableBuilder::new();
    b.root_greedy_takes_slash(false);
    b.insert("ANY /{proxy+}".parse().expect("valid"), 1).expect("insert");
    let t = b.build();
    assert!(t.find(&Method::GET, "/").expect("valid").is_none());
    let m = t.find(&Method::GET, "/a").expect("valid").expect("match");
    assert_eq!(m.params.get("proxy").map(|p| p.raw.as_str()), Some("a"));
    // `//` is not the bare root: the greedy value is the non-empty `/`.
    let m = t.find(&Method::GET, "//").expect("valid").expect("match");
    assert_eq!(m.params.get("proxy").map(|p| p.raw.as_str()), Some("/"));
}

/// The bench's table shape: per service a collection, an item, a nested collection and a
/// greedy file tree.
fn services(n: usize) -> RouteTable<usize> {
    let mut b = RouteTableBuilder::new();
    for i in 0..n {
        let svc = i / 4;
        let key = match i % 4 {
            0 => format!("GET /svc{svc}/items"),
            1 => format!("GET /svc{svc}/items/{{id}}"),
            2 => format!("POST /svc{svc}/items/{{id}}/tags"),
            _ => format!("ANY /svc{svc}/files/{{proxy+}}"),
        };
        b.insert(key.parse().expect("valid"), i).expect("distinct");
    }
    b.build()
}

#[test]
fn lookup_work_does_not_grow_with_the_number_of_routes() {
    let small = services(8);
    let paths = [
        "/svc1/items",
        "/svc1/items/42",
        "/svc1/items/42/tags",
        "/svc1/files/a/b/c",
        "/svc1/nothing/here",
        "/nothing",
    ];
    for n in [1_000, 10_000] {
        let big = services(n);
        for path in paths {
            let work = |t: &RouteTable<usize>| t.visits(&Method::GET, path).expect("valid path");
            assert_eq!(work(&big), work(&small), "{path} with {n} routes");
            assert!(work(&big) <= 8, "{path}: {} nodes", work(&big));
        }
    }
}

#[test]
fn lookup_work_is_bounded_by_the_table_even_when_every_prefix_is_ambiguous() {
    // Literal and variable at each of 10 levels, a route at every combination: 1,024 routes
    // (2,047 trie nodes) that all match `/a/a/.../a`. Literal-first search finds the best
    // candidate first, then cuts every branch that could not beat its literal count; the work
    // is bounded by the nodes matching a prefix of the path, far below the table size.
    let mut b = RouteTableBuilder::new();
    for combo in 0u32..1024 {
        let path: String = (0..10)
            .map(|i| if combo >> i & 1 == 1 { format!("/{{v{i}}}") } else { "/a".to_owned() })
            .collect();
        b.insert(format!("GET {path}").parse().expect("valid"), combo).expect("distinct");
    }
    let t = b.build();
    let visits = |path: &str| t.visits(&Method::GET, path).expect("valid");
    let path = "/a".repeat(10);
    let m = t.find(&Method::GET, &path).expect("valid").expect("match");
    assert_eq!(*m.value, 0, "all-literal route wins");
    // 11 nodes down the literal chain, plus one cut `{var}` sibling per level.
    assert!(visits(&path) <= 21, "{}", visits(&path));
    let path = "/b".repeat(10);
    let m = t.find(&Method::GET, &path).expect("valid").expect("match");
    assert_eq!(*m.value, 1023, "only the all-variable route matches");
    assert!(visits(&path) <= 11, "{}", visits(&path));
    let path = "/a/b".repeat(5);
    let m = t.find(&Method::GET, &path).expect("valid").expect("match");
    assert_eq!(*m.value, 0b10_1010_1010, "literal wherever the path allows");
    // Variable siblings taken at the first levels cannot be cut at once (all-`a` subtrees
    // below could still win on paper), but the count stays small.
    assert!(visits(&path) <= 64, "{}", visits(&path));
}

#[test]
fn literal_children_are_found_in_short_lists_and_in_hashed_ones() {
    // Up to 8 literal children are scanned, more go through a hash index over the shared edge
    // array; literals that are prefixes of one another, a percent-encoded one and literals
    // shared between nodes (stored once) must all resolve the same way on both sides.
    for n in [1usize, 7, 8, 9, 40] {
        let mut keys: Vec<String> = (0..n).map(|i| format!("GET /x/l{i}")).collect();
        keys.extend(["GET /x/{v}".to_owned(), "GET /y/l0".to_owned(), "GET /x/l0/l1".to_owned()]);
        keys.push(if n > 2 { "GET /x/l1x".to_owned() } else { "GET /x/a%20b".to_owned() });
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let t = table(&refs);
        for i in 0..n {
            let want = format!("GET /x/l{i}");
            assert_eq!(outcome(&t, "GET", &format!("/x/l{i}")).map(|o| o.0), Some(want), "{n} children");
        }
        let var = Some("GET /x/{v}".to_owned());
        for miss in ["/x/l", "/x/zz", "/x/L0", &format!("/x/l{n}")] {
            assert_eq!(outcome(&t, "GET", miss).map(|o| o.0), var, "{miss} with {n} children");
        }
        assert_eq!(outcome(&t, "GET", "/y/l0").map(|o| o.0).as_deref(), Some("GET /y/l0"));
        assert_eq!(outcome(&t, "GET", "/x/l0/l1").map(|o| o.0).as_deref(), Some("GET /x/l0/l1"));
        assert_eq!(outcome(&t, "GET", "/y/l1"), None);
        if n > 2 {
            assert_eq!(outcome(&t, "GET", "/x/l1x").map(|o| o.0).as_deref(), Some("GET /x/l1x"));
        } else {
            assert_eq!(outcome(&t, "GET", "/x/a b").map(|o| o.0).as_deref(), Some("GET /x/a%20b"));
        }
    }
}

#[test]
fn a_table_stores_each_distinct_name_once() {
    let t = table(&["GET /items/{id}", "POST /orders/{id}/items", "ANY /items/{id}/{proxy+}"]);
    let names: Vec<&std::sync::Arc<str>> =
        t.routes().flat_map(|(k, _)| k.path().expect("route").segments()).map(|s| s.name()).collect();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            assert_eq!(std::sync::Arc::ptr_eq(a, b), a == b, "{a} / {b}: one allocation per distinct name");
        }
    }
    // Sharing changes no answer.
    assert_eq!(outcome(&t, "GET", "/items/7").map(|o| o.1), Some(vec!["id=7|7".to_owned()]));

    // And the table holds none of the caller's allocations: a config's keys keep nothing alive.
    let given: RouteKey = "GET /things/{thing}".parse().expect("valid");
    let mut b = RouteTableBuilder::new();
    b.insert(given.clone(), ()).expect("one route");
    let t = b.build();
    let kept = t.routes().next().expect("the route").0.path().expect("route").segments().to_vec();
    for (kept, given) in kept.iter().zip(given.path().expect("route").segments()) {
        let (k, g) = (kept.name(), given.name());
        assert!(k == g && !std::sync::Arc::ptr_eq(k, g), "{k}: a copy of its own");
    }
}

/// The path integrations read, against the live HTTP API captures (sent path → `rawPath`, or
/// refused): decoded, cut at a decoded `?`, decoded a second time.
#[test]
fn integration_path_decodes_as_the_http_api_captures_show() {
    use crate::integration_path;
    let cases: &[(&str, Result<&str, PathError>)] = &[
        ("/capture/plain", Ok("/capture/plain")),
        ("/capture/space%20value", Ok("/capture/space value")),
        ("/capture/question%3Fvalue", Ok("/capture/question")),
        ("/capture/percent%25done", Err(PathError::BadEncodedPercent)),
        ("/capture/hash%23value", Ok("/capture/hash#value")),
        ("/capture/slash%2Fvalue", Ok("/capture/slash/value")),
        ("/capture/unicode-%CE%BB-%E4%B8%96%E7%95%8C", Ok("/capture/unicode-λ-世界")),
        ("/capture/literal%252Fvalue", Ok("/capture/literal/value")),
        ("/capture/literal%253Fvalue", Ok("/capture/literal?value")),
        ("/capture/literal%2525value", Ok("/capture/literal%value")),
        ("/pets/caf%C3%A9%20x", Ok("/pets/café x")),
        ("/cut%3F%25zz", Ok("/cut")),
        ("/a/%zz", Err(PathError::BadPercentEncoding)),
        ("/a/%25FF", Err(PathError::NotUtf8)),
    ];
    for (sent, expected) in cases {
        assert_eq!(integration_path(sent).as_deref().map_err(|e| *e), *expected, "{sent}");
    }
    assert!(matches!(integration_path("/no/escapes"), Ok(std::borrow::Cow::Borrowed(_))));
}

#[test]
fn precedence_lists_routes_in_priority_order() {
    let mut keys: Vec<RouteKey> = [
        "$default",
        "ANY /{proxy+}",
        "GET /pets/{id}",
        "ANY /pets/{id}",
        "GET /pets/mine",
        "GET /",
        "ANY /api/{proxy+}",
        "GET /pets/{id}/toys/{toy}",
        "POST /pets",
    ]
    .iter()
    .map(|k| k.parse().unwrap())
    .collect();
    keys.sort_by(RouteKey::precedence_cmp);
    let order: Vec<String> = keys.iter().map(ToString::to_string).collect();
    assert_eq!(
        order,
        [
            "GET /pets/mine",
            "GET /pets/{id}/toys/{toy}",
            "GET /",
            "POST /pets",
            "GET /pets/{id}",
            "ANY /pets/{id}",
            "ANY /api/{proxy+}",
            "ANY /{proxy+}",
            "$default",
        ]
    );
}
