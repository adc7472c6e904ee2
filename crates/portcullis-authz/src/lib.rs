//! Authorizers: decide whether a matched request may reach its integration.
//! (Skeleton: the JWT work fills this in.)
