//! IAM policies returned by Lambda authorizers (spec §3.5, §3.7): parsing and evaluation against
//! a request's `methodArn`/`routeArn`.
