//! Policy-matching microbenchmark (filled in with the policy module).
fn main() {}
