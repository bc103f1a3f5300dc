// Package redshiftconn is the Redshift connector: a sink that bulk-loads
// Arrow records into Amazon Redshift — or, in postgres mode, into
// PostgreSQL — and a source that reads tables and queries, incrementally
// when given a cursor column.
//
// # Loading
//
// Write checks every row against Redshift's limits and the target's
// columns before anything is sent: VARCHAR lengths in bytes (as Redshift
// counts them, in both modes), NUL bytes, invalid UTF-8, NaN and
// infinities, DECIMAL precision and scale, integer ranges, timestamps
// beyond microseconds or outside years 1–9999. A row that fails comes back
// as an sdk.RejectedRow whose reason names the field; nothing is truncated
// or rounded silently. Field names fold to lower case (as Redshift folds
// them even when quoted); names that collide after folding, are too long
// (127 bytes for Redshift, 63 for PostgreSQL) or are missing keys fail
// OpenWriter.
//
// Accepted rows are encoded as CSV with an unquoted NULL marker and
// compressed into gzip parts on local disk while the next batch encodes.
// Commit loads them in one transaction on the writer's one pinned
// connection:
//
//	BEGIN
//	CREATE TABLE IF NOT EXISTS …           (when the table is missing)
//	LOCK …                                 (Redshift only)
//	ALTER TABLE … ADD COLUMN …             (one per statement, nullable)
//	CREATE TEMP TABLE stage (LIKE target)  (+ a sequence column)
//	COPY stage FROM 's3://…/manifest.json' … MANIFEST GZIP CSV   (Redshift)
//	COPY stage FROM STDIN (FORMAT csv)                           (PostgreSQL, the same files)
//	CREATE TEMP TABLE dedup AS … ROW_NUMBER() OVER (PARTITION BY key ORDER BY seq DESC) … = 1
//	DELETE … USING dedup / INSERT … SELECT / UPDATE … FROM dedup
//	COMMIT
//
// Inserts COPY straight into the target inside the transaction (there is
// nothing to match, and the COPY is rolled back with the rest). Upsert is
// DELETE + INSERT in both modes — Redshift has no ON CONFLICT — so it
// replaces whole rows: target columns the records do not carry become NULL.
// Duplicate keys within one load: the row that arrived last wins (the
// sequence column is the arrival order across the whole stream).
// Serialization conflicts (40001, 40P01, Redshift's 1023) retry the whole
// load with backoff; any other error rolls everything back, and Close
// without Commit discards the staged rows.
//
// Tables are created when missing with the type mapping of
// reference/redshift-loading.md (strings are VARCHAR(65535), never TEXT).
// A field without a column adds a nullable column, fails, or is left out,
// per on_schema_change. An existing column whose type cannot hold the
// field is an error naming the column and both types: column types are
// never changed.
//
// Redshift mode uploads the parts and a manifest through an ObjectStore;
// the S3 implementation arrives with the S3 connector, so until then
// Redshift mode generates its SQL (pinned by golden tests) but its Commit
// reports that uploads are not available. The Redshift Data API transport
// is declared but not implemented.
//
// # Reading
//
// A source reads a table or a query. DescribeEntity maps the result's
// PostgreSQL/Redshift column types to Arrow; Read streams rows into Arrow
// batches within the request's limits. With a cursor column it reads in
// cursor order, resumes after the checkpointed value, and checkpoints after
// each batch — never between two rows sharing one cursor value, so a
// resumed read may repeat the rows of the last value but never skips any.
package redshiftconn
