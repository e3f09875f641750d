//! Listing a bucket page by page (ListObjectsV2, 1,000 keys a page) for `plan` and `census`:
//! each page is handed to the caller and dropped, so memory does not grow with the bucket.
//! Unlike the plugin's listing this one keeps the storage class. Failed pages are retried with
//! the plugin's retry policy (`retries`, `retry_max` of the plugin string).

use aws_sdk_s3::types::EncodingType;
use s3_plugin::config::options::Options;
use s3_plugin::s3::client::S3;
use s3_plugin::s3::errors::{attempt, bucket_message, Failure};
use s3_plugin::s3::listing::percent_decode;
use s3_plugin::s3::retry::{Attempt, RetryPolicy, RetryStats};
use tokio_util::sync::CancellationToken;

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: String,
    pub size: u64,
    /// As the server reports it (`STANDARD`, `GLACIER`, …); `None` if it sent none.
    pub storage_class: Option<String>,
}

/// Lists `options.bucket` under `options.prefix` (and in its key range, if any), calling
/// `on_page` with every page in listing order. Errors are messages naming the bucket, the
/// endpoint and the credential source.
pub async fn list(
    s3: &S3,
    options: &Options,
    mut on_page: impl FnMut(&[Item]) -> Result<(), String>,
) -> Result<(), String> {
    let mut token: Option<String> = None;
    let policy = RetryPolicy::from_options(options);
    let stats = RetryStats::default();
    let cancel = CancellationToken::new();
    let message = |failure| {
        bucket_message(
            &failure,
            &options.bucket,
            options.endpoint_name(),
            &s3.credential_source,
        )
    };
    let mut page = Vec::with_capacity(1000);
    loop {
        let what = format!("listing {}", options.location());
        let out = policy
            .run(&what, &cancel, &stats, || {
                let mut request = s3
                    .client
                    .list_objects_v2()
                    .bucket(&options.bucket)
                    .max_keys(1000)
                    .encoding_type(EncodingType::Url);
                if !options.prefix.is_empty() {
                    request = request.prefix(&options.prefix);
                }
                match (&token, &options.start_after) {
                    (Some(t), _) => request = request.continuation_token(t),
                    (None, Some(a)) => request = request.start_after(a),
                    (None, None) => {}
                }
                async move {
                    let out = request.send().await.map_err(|e| attempt(&e))?;
                    // An error document in a 200 body parses as a result without the bucket
                    // name: never take it for an empty last page.
                    if out.name().is_none() {
                        return Err(Attempt::Retry {
                            failure: Failure::Other(
                                "a listing response without a bucket name (an error document?)"
                                    .into(),
                            ),
                            after: None,
                        });
                    }
                    Ok(out)
                }
            })
            .await
            .map_err(message)?;
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        page.clear();
        let mut past_end = false;
        for o in out.contents() {
            let Some(raw) = o.key() else { continue };
            let key = if encoded {
                percent_decode(raw).ok_or_else(|| {
                    format!(
                        "bucket '{}': the server sent a badly encoded key '{raw}'",
                        options.bucket
                    )
                })?
            } else {
                raw.to_string()
            };
            if options
                .end_at
                .as_deref()
                .is_some_and(|end| key.as_str() > end)
            {
                past_end = true;
                break;
            }
            page.push(Item {
                key,
                size: o.size().unwrap_or(0).max(0) as u64,
                storage_class: o.storage_class().map(|c| c.as_str().to_string()),
            });
        }
        on_page(&page)?;
        if past_end || out.is_truncated() != Some(true) {
            return Ok(());
        }
        let next = out
            .next_continuation_token()
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "bucket '{}': the server cut a listing page without a continuation token",
                    options.bucket
                )
            })?;
        if token.as_deref() == Some(next.as_str()) {
            return Err(format!(
                "bucket '{}': the server repeated a continuation token (the listing would loop)",
                options.bucket
            ));
        }
        token = Some(next);
    }
}
