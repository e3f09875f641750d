//! A backup (or estimate): the pipeline walks the listing and fetches objects ahead of the
//! daemon, the job hands them to the daemon in listing order.
//!
//! `pipeline` (listing → units in flight) → `unit_fetch` (one GET of an object or part, retried
//! and resumed) → `reader` (units read in order into IO_READ) → `job` (the daemon's calls);
//! `read_ahead` sizes the window of parts in flight, `rate` paces `max_rate`.

pub(crate) mod job;
pub(crate) mod pipeline;
mod rate;
mod read_ahead;
pub(crate) mod reader;
mod transfer_error;
pub(crate) mod unit_fetch;
