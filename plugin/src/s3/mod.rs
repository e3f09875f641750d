//! Talking to S3: the job's client, the HTTP clients, the direct GET of the data path, the one
//! retry policy, error messages an administrator can act on, and the paged listing.

pub mod client;
pub(crate) mod direct_get;
pub mod errors;
pub(crate) mod http;
pub mod listing;
pub(crate) mod object;
pub mod retry;
