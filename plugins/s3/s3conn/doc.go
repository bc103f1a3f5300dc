// Package s3conn is the S3 connector: a source, an event source and a sink
// for CSV, JSON Lines and Parquet objects in Amazon S3 and S3-compatible
// stores, with aws-sdk-go-v2. The formats themselves are package
// sdk/format, shared with the file connector.
//
// Connection. region; endpoint (path-style addressing by default when set);
// credentials from static keys, a shared-config profile, an assumed role
// (role_arn, external_id) or the default AWS chain. Requests are retried
// with exponential backoff and jitter (max_attempts, retry_max_backoff),
// throttling (503 SlowDown) included. Errors name the bucket and key, and,
// when credentials are refused, where they came from — never a secret.
// Checksums are computed only where an operation requires one. Bodies are
// signed as aws-sdk-go-v2 does: UNSIGNED-PAYLOAD over https, their SHA-256
// over plain http unless unsigned_payload is set (a CPU saving for trusted
// networks, at the cost of the signature no longer covering the body).
//
// Reading. Objects under bucket + prefix, narrowed by glob, are read in key
// order as one entity with one schema (inferred from the first object with
// data, or the object's own for Parquet). Up to parallelism objects are
// fetched and parsed at once into small bounded queues and delivered in
// order; text objects stream from GetObject, Parquet is read by ranged GETs
// through an io.ReaderAt. Malformed rows go to RecordSender.Reject as
// s3://bucket/key:line. After each object the read checkpoints
// {"last_modified", "key"}: the newest (last modified, key) below which
// every object has been delivered; given a checkpoint, only objects after
// it are read. Last-modified times have one-second resolution, so an
// object written in the same second as the checkpointed one and sorting
// before its key is not picked up.
//
// Partitions. When several sluice instances split a read, Partitions lists
// it as Read would (after the same checkpoint) and cuts the objects, in key
// order, into runs of consecutive objects of at most partition_size bytes
// (default 64 MiB) and 1,000 objects; a larger object is a partition of its
// own. A partition's spec is JSON naming its objects (keys relative to the
// prefix, with sizes) and the settled schema — the columns and kinds
// inferred across the whole listing, or Parquet's Arrow schema — so every
// partition reads in the schema DescribeEntity gives. A partition read
// rejects malformed rows as s3://bucket/key:line like Read, and sends no
// checkpoints.
//
// Events. As an event source (a flow's `trigger "event"`), the connector
// lists the source's bucket + prefix every poll_interval (default 30s) and
// reads every object that appeared since its position, with the source
// block's options as Read takes them, into CREATE events: the entity's
// fields, then _change_type. poll_interval, settle and start are
// attributes of the trigger block. The position is readable JSON,
// {"after":"<last modified>","keys":[...]}: a watermark on last-modified
// times with the keys delivered in its second. Objects younger than
// settle (default 5s, by the store's clock) wait for a later poll so that
// uploads in flight are not overtaken, and an object that shows up below
// the watermark while the subscription runs (a long upload) is delivered
// too. Without a stored position, start = "latest" (the default) delivers
// only objects that appear after the subscription starts, "earliest" every
// object under the prefix first. Malformed rows are skipped with a
// warning naming s3://bucket/key:line, since an event stream has no
// Reject; events.go explains the design and what it leaves uncovered.
//
// Writing. Objects are named <prefix>/<partition>/<file_prefix>-<run
// id>-<n>.<ext>; the prefix takes {flow}, {run_id}, {yyyy}, {mm}, {dd} and
// {hh}. Nothing is visible before Writer.Commit: bytes go up as 8 MiB
// multipart parts as they fill (at most 4 in flight per writer), and the
// uploads stay open until Commit completes them; objects under one part
// are kept in memory (up to 32 MiB per writer) and PutObject at Commit.
// Close without Commit, or after an error, aborts every open upload.
// Options: partition_by (Hive-style), aggregation (size or
// per_partition), target_file_size, sse (AES256, aws:kms + kms_key_id),
// storage_class, and manifest, a Redshift COPY manifest at
// <prefix>/manifest.json.
package s3conn
