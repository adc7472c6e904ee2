//! HTTP proxy integration. (Skeleton: being implemented.)
