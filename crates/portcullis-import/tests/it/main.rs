//! portcullis-import's integration tests: each fixture imported, its output loaded with the
//! native config loader, every report checked at its position, overlays merged.

mod openapi;
mod overlay;
mod sam;
mod serverless;
mod support;
