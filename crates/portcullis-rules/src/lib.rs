//! Declarative authorization rules (issue #5): CEL expressions over `claims`, `request` and
//! `route`, compiled once at config load and evaluated per request.
