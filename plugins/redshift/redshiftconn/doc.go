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
// connection (with the Data API: in one batch, see Transports):
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
// # Rows the database refuses at commit
//
// Some rows pass the checks above and are still refused by COPY (a NOT
// NULL or CHECK constraint, a value Redshift parses differently). By then
// the engine no longer holds the batches, so such rows come back from
// Commit as sdk.CommitRejection: the row as staged (field name → CSV text,
// nulls absent; binary as hex, timestamps as formatted; a delete as its
// key and _change_type DELETE) with Redshift's reason, placed on the field
// its column belongs to, and the part file and line as the location.
//
// In Redshift mode, when the engine takes such rows (WriteRequest.
// RejectOnCommit: the flow continues on error), COPY runs with MAXERROR
// max_load_errors (default 1000, at most 100000; 0 fails on the first).
// When pg_last_copy_count() is below the rows staged, the loader reads
// the refused lines in the same session and transaction, before the
// de-duplication and merge, which go on without them:
//
//	SELECT DISTINCT TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type),
//	       TRIM(column_length), error_code, TRIM(error_message)
//	FROM sys_load_error_detail WHERE file_name LIKE '<load prefix>%' ESCAPE '^' ORDER BY 1, 2
//
// sys_load_error_detail, not stl_load_errors: it exists on Serverless too
// (and a failed query would abort the transaction), it covers
// concurrency-scaling clusters, and the load's own prefix needs no query
// id (SYS query ids are not pg_last_copy_id()'s). DISTINCT folds the lines
// a retried attempt of the same load logged again. The view is filled
// asynchronously, so it is read again (after 0.25 s, doubling, five times)
// while it lists fewer lines than COPY skipped. Each line is matched to
// its row by reading the local copy of the part again (nothing is kept in
// memory per row; only the refused rows are materialized, at most
// max_load_errors of them). A line is matched by the physical lines a
// record spans and by PostgreSQL's own count, which differs only after a
// record whose quoted value holds a line break at the start of a part; an
// ambiguous or unknown line fails the load and rolls it back, as does a
// count mismatch. More refused rows than max_load_errors fail COPY itself:
// the error lists the first 20 lines with the rows' keys. Without
// RejectOnCommit (the flow fails on error, or an engine that predates
// commit rejections) COPY runs with MAXERROR 0, so a refused row fails the
// whole load as before and nothing of it is committed.
//
// Upsert and update keep the last row per key of what COPY loaded: when
// the refused row was a key's last, an earlier row of the same load for
// that key is the one merged.
//
// PostgreSQL's COPY (before version 17) has no error tolerance: a row it
// refuses still fails the load. Its error names the input line (COPY …,
// line N); the loader reads the staged parts again, counting lines as
// PostgreSQL does, and adds the row to the error: its key, or its fields
// for inserts.
//
// # Change events (deletes)
//
// When the flow asks for deletes (WriteRequest.Deletes), the records are
// change events: each carries sdk.ChangeTypeField ("_change_type": CREATE,
// UPDATE, DELETE or UNDELETE), and the write mode must be upsert or update
// (insert matches no key, delete deletes every record): OpenWriter and
// CheckWrite refuse anything else, on the deletes attribute, as they do
// records without a string _change_type. The change type is never a
// column: it is staged as a BOOLEAN __sluice_deleted beside the sequence
// column (field names the loader reserves, so no loaded column can meet
// them), and the staging table is CREATE TEMP TABLE … AS SELECT <loaded
// columns> … WHERE 1 = 0 rather than LIKE, which would copy the target's
// NOT NULL constraints onto columns a delete leaves NULL:
//
//	CREATE TEMP TABLE stage AS SELECT cols, seq, deleted FROM target WHERE 1 = 0
//	COPY stage …
//	CREATE TEMP TABLE dedup AS … (the last event per key, delete or not)
//	upsert: DELETE FROM target USING dedup (every key of the load)
//	        INSERT INTO target SELECT … FROM dedup WHERE NOT deleted
//	update: DELETE FROM target USING dedup … AND deleted
//	        UPDATE target … FROM dedup … AND NOT deleted
//
// A key ends as its last event in the load says: created then deleted
// ends deleted, deleted then undeleted ends present. A delete stages its
// key and NULLs; its other fields are neither loaded nor checked, and a
// delete of a key the table lacks changes nothing. Deletes are accepted
// rows, staged and counted by COPY with the others, so the engine counts
// them as written (a delete that matched nothing too); loading the same
// events again leaves the table as it was. A row with a null key or one
// its column cannot hold, or whose change type is null or none of the
// four, is rejected. Without deletes, a field named _change_type is an
// ordinary column. Not verified on a real cluster: how Redshift
// distributes the CREATE TABLE AS staging table (temporary either way).
//
// Tables are created when missing with the type mapping of
// reference/redshift-loading.md (strings are VARCHAR(65535), never TEXT).
// A field without a column adds a nullable column, fails, or is left out,
// per on_schema_change. An existing column whose type cannot hold the
// field is an error naming the column and both types: column types are
// never changed.
//
// # Staging in S3 (Redshift mode)
//
// Commit uploads the gzip CSV parts and then the manifest (every entry
// mandatory, with its content_length) under the load's own prefix,
//
//	<staging>/[<flow>/][<run>/]<stream id>-<commit sequence>/part-NNNNN.csv.gz
//	<staging>/[<flow>/][<run>/]<stream id>-<commit sequence>/manifest.json
//
// (flow and run reduced to [A-Za-z0-9._-]), then runs the transaction above
// with COPY … FROM '<prefix>manifest.json' IAM_ROLE … [REGION …] MANIFEST
// FORMAT AS CSV GZIP … MAXERROR n, checks pg_last_copy_count() against the
// rows staged (see the refused rows above), and after the COMMIT deletes
// the objects unless keep_staging. A failed load leaves them for
// inspection, and its error lists the rows Redshift refused
// (sys_load_error_detail for the prefix, stl_load_errors as the fallback). An upload that fails (a missing bucket, refused
// credentials) fails Commit before any SQL runs, naming the bucket and
// where the credentials came from, never a secret.
//
// The uploads use aws-sdk-go-v2 with the S3 connector's attribute names:
// region, s3_endpoint (an S3-compatible store, addressed path-style),
// access_key_id + secret_access_key [+ session_token], profile, role_arn
// [+ external_id], or else the default credential chain. COPY reads the
// files with iam_role, the cluster's identity, not these.
//
// # Transports
//
// The wire transport (dsn) is pgx on one pinned connection: the
// transaction runs statement by statement. transport = "data_api" uses the
// Redshift Data API (cluster_identifier or workgroup_name, database, and
// secret_arn, db_user or the IAM identity; cluster_region and
// data_api_endpoint when needed). The Data API has no pinned connection:
// each catalog query is one ExecuteStatement, and a load's whole
// transaction, BEGIN to COMMIT with exactly the wire transport's
// statements, is one BatchExecuteStatement, which runs serially in one
// database session (so the temp staging tables live through it) and rolls
// back entirely when a statement fails. Every call polls DescribeStatement
// (50ms doubling to 2s) until FINISHED; FAILED and ABORTED statements
// return Redshift's message naming the statement; results are read with
// GetStatementResult, page by page. Because a batch cannot stop between
// its statements, the COPY row count is compared after it: rows MAXERROR
// let COPY skip are then read from sys_load_error_detail with the same
// SELECT in a statement of its own (the view is not tied to the batch's
// session) and returned as refused. A count above the rows staged, or
// refused rows that cannot be matched, are reported as an error although
// the batch has committed, and the staged files are kept.
// Serialization conflicts (1023 in the error text) retry the batch.
// Secrets (secret_access_key, session_token, secret_arn) are replaced in
// every message.
//
// Reads work on both transports with the same SQL. Over the Data API,
// DescribeEntity runs the wire transport's SELECT … LIMIT 0 and maps the
// result's column metadata (typeName, precision, scale) through the same
// type mapping; Read runs the same SELECT (the checkpointed cursor value
// goes as the :cursor parameter) and converts GetStatementResult pages,
// one at a time, into batches typed by the described schema: longValue,
// doubleValue, booleanValue, isNull, and stringValue for NUMERIC (exact
// at the column's scale), dates (YYYY-MM-DD), times (HH:MM:SS[.ffffff]),
// timestamps as Redshift prints them (YYYY-MM-DD HH:MM:SS[.ffffff], with
// the offset for TIMESTAMPTZ, +00 in UTC, UTC when absent) and VARBYTE
// (hexadecimal). A value its column's type cannot hold fails the read,
// naming the column. Checkpoints are the wire transport's. The Data API
// keeps a result to 100 MB, so a large unbounded read needs the wire
// transport.
//
// Not verified against a real cluster (none is reachable from the tests,
// which pin the SQL with golden files and run the uploads against
// versitygw and the Data API against a JSON fake): that an explicit
// BEGIN…COMMIT inside a BatchExecuteStatement behaves as with autocommit
// off (reported by classmethod, 2023), the Data API's statement size limit,
// the sys_load_error_detail columns on Serverless, that MAXERROR n
// tolerates n refused rows (the guide says a load fails at "error_count
// … or greater"; the common reading, n tolerated, is taken), how soon the
// view lists a COPY's errors, how Redshift numbers the lines of a CSV
// record whose quoted value holds a line break (assumed: physical lines,
// as PostgreSQL counts them), and for reads the Data
// API's exact type names, which of a column's name and label carries an
// alias (label is used), and the text of VARBYTE, TIME and TIMESTAMPTZ
// values.
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
