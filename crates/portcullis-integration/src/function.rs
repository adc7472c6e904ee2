//! Lambda function integration (payload 1.0/2.0 events to the functions runtime). (Skeleton.)
