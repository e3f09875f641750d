//! The real server of the benchmark: the test fixture's Ceph RGW (started if it is not up),
//! with benchmark buckets seeded once and reused while the cluster lives.

use std::time::Instant;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use integration_tests::servers::{self, S3Server};
use memory_s3::object_bytes;

use crate::{Kind, Target, Workload};

/// Part size of the seeding upload of the big object.
const SEED_PART: u64 = 64 << 20;

/// The Ceph target and its workloads: one `big`-byte object, `n4k` × 4 KiB, `n1k` × 1 KiB
/// (zero counts skip a workload). Buckets are named after their content, so a reused cluster
/// reuses them.
pub fn target(big: u64, n4k: u64, n1k: u64) -> Result<(Target, Vec<Workload>), String> {
    let server: &'static S3Server = servers::ceph();
    let run = servers::state_dir().join("ceph").join("run");
    let pids = ["rgw.a.pid", "osd.0.pid", "mon.a.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(run.join(f)).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let t = Target {
        name: "ceph-rgw".into(),
        endpoint: server.endpoint.clone(),
        access_key: server.access_key.clone(),
        secret_key: server.secret_key.clone(),
        region: server.region.clone(),
        server_pids: pids,
        rclone_provider: "Ceph",
        stats: false,
    };
    let mut wls = Vec::new();
    if big > 0 {
        let bucket = format!("s3fd-bench-big-{big}");
        seed_big(server, &bucket, "obj-0", big)?;
        wls.push(Workload {
            id: "big".into(),
            title: format!("1 × {}", human(big)),
            kind: Kind::Big,
            bucket,
            key: Some("obj-0".into()),
            objects: 1,
            object_size: big,
            bytes: big,
            subset_bucket: None,
        });
    }
    for (id, n, size) in [("small4k", n4k, 4096u64), ("small1k", n1k, 1024)] {
        if n == 0 {
            continue;
        }
        let bucket = format!("s3fd-bench-{id}-{n}");
        seed_small(server, &bucket, n, size, "s3fd-bench")?;
        wls.push(Workload {
            id: id.into(),
            title: format!("{n} × {}", human(size)),
            kind: Kind::Small,
            bucket,
            key: None,
            objects: n,
            object_size: size,
            bytes: n * size,
            subset_bucket: None,
        });
    }
    Ok((t, wls))
}

/// `4 KiB`, `1 GiB`, …
pub fn human(n: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= unit && (n / unit) * unit == n {
            return format!("{} {name}", n / unit);
        }
    }
    format!("{n} B")
}

fn create_bucket(server: &S3Server, bucket: &str) -> Result<(), String> {
    let client = server.client();
    servers::block_on(async {
        match client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| {
                    use aws_sdk_s3::error::ProvideErrorMetadata;
                    s.code().map(str::to_string)
                });
                match code.as_deref() {
                    Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists") => Ok(()),
                    _ => Err(format!("CreateBucket {bucket}: {}", DisplayErrorContext(e))),
                }
            }
        }
    })
}

fn seed_big(server: &S3Server, bucket: &str, key: &str, size: u64) -> Result<(), String> {
    create_bucket(server, bucket)?;
    let client = server.client();
    let have = servers::block_on(client.head_object().bucket(bucket).key(key).send())
        .ok()
        .and_then(|h| h.content_length());
    if have == Some(size as i64) {
        return Ok(());
    }
    eprintln!(
        "[bench] seeding ceph: s3://{bucket}/{key} ({})",
        human(size)
    );
    let started = Instant::now();
    servers::block_on(async {
        let upload = client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("CreateMultipartUpload: {}", DisplayErrorContext(e)))?;
        let id = upload.upload_id().unwrap_or_default().to_string();
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size {
            let len = SEED_PART.min(size - offset);
            let body = object_bytes("s3fd-bench", key, offset, len);
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| format!("UploadPart {number}: {}", DisplayErrorContext(e)))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            offset += len;
            number += 1;
        }
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("CompleteMultipartUpload: {}", DisplayErrorContext(e)))?;
        Ok::<(), String>(())
    })?;
    eprintln!("[bench] seeded in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Seeds `n` objects of `size` bytes into `bucket` of the fixture's Ceph (started if needed),
/// `obj-0…`, with memory-s3's content for that bucket and key (`object_bytes(bucket, key, …)`).
pub fn seed_like_memory(bucket: &str, n: u64, size: u64) -> Result<(), String> {
    seed_small(servers::ceph(), bucket, n, size, bucket)
}

/// Seeds `obj-0…` (the content seed `seed` for [`object_bytes`]); keeps what is there.
fn seed_small(
    server: &S3Server,
    bucket: &str,
    n: u64,
    size: u64,
    seed: &str,
) -> Result<(), String> {
    create_bucket(server, bucket)?;
    let width = n.saturating_sub(1).to_string().len();
    let keys: Vec<String> = (0..n).map(|i| format!("obj-{i:0width$}")).collect();
    let have = server.list_keys(bucket);
    if have == keys {
        return Ok(());
    }
    eprintln!(
        "[bench] seeding ceph: {n} × {} into s3://{bucket}",
        human(size)
    );
    let started = Instant::now();
    let missing: Vec<(String, Vec<u8>)> = keys
        .iter()
        .filter(|k| have.binary_search(k).is_err())
        .map(|k| (k.clone(), object_bytes(seed, k, 0, size)))
        .collect();
    server.put_many(bucket, missing);
    eprintln!(
        "[bench] seeded in {:.1}s ({:.0} PUT/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
