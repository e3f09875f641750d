//! Listing a bucket page by page for `plan` and `census`, with the plugin's own paginator
//! (ListObjectsV2, 1,000 keys a page, URL-encoded keys, the key range of the plugin string):
//! each page is handed to the caller and dropped, so memory does not grow with the bucket.
//! Failed pages are retried with the plugin's retry policy (`retries`, `retry_max_seconds` of
//! the plugin string).

use std::sync::Arc;

use s3_plugin::config::options::Options;
use s3_plugin::s3::client::S3;
use s3_plugin::s3::errors::bucket_message;
use s3_plugin::s3::listing::{Listed, Pages};
use s3_plugin::s3::retry::{RetryPolicy, RetryStats};
use tokio_util::sync::CancellationToken;

/// Lists `options.bucket` under `options.prefix` (and in its key range, if any), calling
/// `on_page` with every page in listing order. Errors are messages naming the bucket, the
/// endpoint and the credential source.
pub async fn list(
    s3: &S3,
    options: &Options,
    mut on_page: impl FnMut(&[Listed]) -> Result<(), String>,
) -> Result<(), String> {
    let mut pages = Pages::new(
        s3.clone(),
        RetryPolicy::from_options(options),
        Arc::new(RetryStats::default()),
        CancellationToken::new(),
        &options.bucket,
        &options.prefix,
        options.start_after.clone(),
        options.end_at.clone(),
    );
    loop {
        let page = pages.next_page().await.map_err(|failure| {
            bucket_message(
                &failure,
                &options.bucket,
                options.endpoint_name(),
                &s3.credential_source,
            )
        })?;
        match page {
            Some(page) => on_page(&page.objects)?,
            None => return Ok(()),
        }
    }
}
