//! Match cost of [`RouteTable::find`] with 10, 1,000 and 10,000 routes, for a literal hit, a
//! `{var}` hit, a greedy hit and a miss (the cost must not grow with the number of routes).
//!
//! Run: `cargo bench -p portcullis-route --bench route_match -- --quick`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use portcullis_route::{RouteKey, RouteTable, RouteTableBuilder};

/// `n` routes in four shapes per service, like a real API: a collection, an item, a nested
/// collection and a greedy file tree.
fn table(n: usize) -> RouteTable<usize> {
    let mut b = RouteTableBuilder::new();
    let mut i = 0;
    while b.len() < n {
        let svc = i / 4;
        let key = match i % 4 {
            0 => format!("GET /svc{svc}/items"),
            1 => format!("GET /svc{svc}/items/{{id}}"),
            2 => format!("POST /svc{svc}/items/{{id}}/tags"),
            _ => format!("ANY /svc{svc}/files/{{proxy+}}"),
        };
        let key: RouteKey = key.parse().expect("valid bench route key");
        b.insert(key, i).expect("no duplicates in bench routes");
        i += 1;
    }
    b.build()
}

fn bench(c: &mut Criterion) {
    for n in [10usize, 1_000, 10_000] {
        let t = table(n);
        // The last complete service, so the hit is deep in the table's insertion order.
        let svc = n / 4 - 1;
        let cases = [
            ("literal", format!("/svc{svc}/items")),
            ("param", format!("/svc{svc}/items/42")),
            ("greedy", format!("/svc{svc}/files/img/2024/cat.png")),
            ("miss", format!("/svc{svc}/nothing/here")),
        ];
        for (name, path) in cases {
            let expect_hit = name != "miss";
            assert_eq!(
                t.find(&Method::GET, &path).expect("valid path").is_some(),
                expect_hit,
                "{name} {path}"
            );
            c.bench_function(&format!("find/{n}/{name}"), |b| {
                b.iter(|| t.find(black_box(&Method::GET), black_box(&path)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
