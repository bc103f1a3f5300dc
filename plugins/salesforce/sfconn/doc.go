// Package sfconn is the Salesforce connector: sign-in with OAuth 2.0
// (refresh token, JWT bearer, client credentials, password), describe,
// SOQL reads over REST or Bulk API 2.0, writes through sObject
// Collections or Bulk API 2.0 ingest jobs, and Change Data Capture events
// over the Pub/Sub API (gRPC).
//
// # Sessions, limits and retries
//
// Salesforce tokens carry no expiry; a session ends when a call answers 401
// INVALID_SESSION_ID. Every call then signs in again once (one sign-in for
// all concurrent callers) and is retried. A refused refresh token
// (invalid_grant) becomes an error that tells the user to re-authorize the
// connection. 403 REQUEST_LIMIT_EXCEEDED, 503, UNABLE_TO_LOCK_ROW and network
// errors are retried with exponential backoff and jitter (max_attempts,
// retry_max_backoff) — never by signing in again. Sforce-Limit-Info is read
// on every answer; above pace_above of the daily limit calls are spaced out.
// Every call sends Sforce-Call-Options: client=<client_tag> (default
// sluice), which Salesforce copies into the changeOrigin of the change
// events our writes cause.
//
// # Type mapping
//
//	id, reference, string, picklist, multipicklist   utf8 (multipicklist values ';'-joined)
//	combobox, textarea, email, phone, url            utf8
//	encryptedstring, anyType, json, complexvalue     utf8
//	boolean                                          bool
//	int, long                                        int64
//	double, currency, percent                        float64 (precision and scale in the field
//	                                                 metadata: salesforce.precision/.scale)
//	date                                             date32
//	datetime                                         timestamp[ms, UTC]
//	time                                             time32[ms]
//	address, location (compound)                     not read: their components (BillingStreet,
//	                                                 BillingLatitude, ...) are fields of their own
//	base64                                           not read (REST returns a URL to the blob)
//
// Every Arrow field carries salesforce.type in its metadata. Numbers are
// float64 rather than decimal128: formulas and the file formats handle them
// directly, and currency fields (precision 18, scale 2) fit float64 exactly
// to the cent up to about 10^13.
//
// # Reads
//
// The query selects the requested fields (all readable ones when the engine
// asks for none), adds where, and, with a cursor (default SystemModstamp),
// orders by it. A checkpoint is {cursor, value, ids}: every record before
// value and those at value with the listed Ids were delivered. A resumed read
// asks for cursor >= value (SOQL literals have whole seconds) and drops what
// the checkpoint covers, so records sharing a timestamp across a batch or
// run boundary are neither lost nor duplicated. api = "auto" runs SELECT
// COUNT() with the same conditions and uses Bulk API 2.0 from bulk_threshold
// records. Bulk result pages are requested as soon as the previous page's
// Sforce-Locator is known, downloaded and parsed bulk_parallelism at a time,
// and delivered in order; a page whose body is cut short is fetched again.
// Bulk CSV cannot tell null from an empty string: empty cells read as null.
//
// # Partitions
//
// When several sluice instances split a read, Partitions builds the query
// Read would run (the same SOQL, pushdown, checkpoint and window
// included). If Read would use Bulk, it creates the query job, waits for
// JobComplete and lists the result pages with GET
// /jobs/query/{id}/resultPages (API 58.0 and later; older api_version
// answers sdk.ErrUnsupported), following nextRecordsUrl: one partition per
// page, keyed "<job id>/page <n>", whose spec is JSON naming the object,
// the queried fields, the job, the page and its resultUrl. Reading it
// downloads that page and turns its CSV into batches as Read does. A read
// that would use REST is one partition carrying its SOQL. Partition reads
// drop what the partitioned read's checkpoint covers and send no
// checkpoints of their own. A page whose job is gone (Salesforce deletes
// jobs 7 days after they complete) fails with an error naming the job.
//
// # Writes
//
// Salesforce has no transaction spanning calls, so records are written when
// Write is called and Commit has nothing left to publish; Close without
// Commit cannot take back what Write wrote. In exchange every refused record
// comes back from the Write that carried it as a RejectedRow with
// "<statusCode>: <message> (fields: ...)":
//
//   - batches under bulk_threshold records go through sObject Collections,
//     200 per call, allOrNone=false, and each result maps to its record;
//   - larger batches go through one Bulk API 2.0 ingest job per 100 MB of
//     CSV; Write uploads, closes the job, waits for it, downloads the failed
//     and successful results and maps them back to the batch's rows by
//     their cells (the results echo the uploaded columns). Rows in neither
//     (a job that failed part way) are sent again.
//
// Records refused with UNABLE_TO_LOCK_ROW are retried (3 rounds) before
// they are rejected. On insert a null field is left unset; on update and
// upsert it sets the field to null (JSON null, "#N/A" in Bulk CSV).
// field_map renames record fields onto Salesforce fields.
//
// # Change events
//
// Subscribe reads the object's Change Data Capture channel
// (/data/<Object>ChangeEvent, /data/<Name>__ChangeEvent for custom objects,
// or the event trigger's event argument; its start and replay_fallback
// are below) from the Pub/Sub API at pubsub_endpoint
// (TLS; pubsub_insecure = true for the emulator's plaintext h2c, accepted
// only for a loopback endpoint or an http:// login_url because the access
// token is metadata on every call, with instanceurl and tenantid, the org
// id from the sign-in's identity URL). Payloads are Avro, decoded with the
// schema GetSchema gives for each event's schema id; a new id mid-stream
// is a changed schema and is fetched then (the batches keep the fields the
// subscription started with). The batches have the requested fields (all
// readable ones by default; Id must be among them) and _change_type:
//
//   - DELETE and GAP_DELETE: one row per record id, Id set, the rest null;
//   - CREATE, UPDATE, UNDELETE and their GAP_ forms: the record as it
//     stands now, read back by Id with SOQL (200 Ids a query), because
//     event bodies lack SystemModstamp and formula fields and gap events
//     carry no body at all. A record no longer found was deleted since;
//     its DELETE event follows. An UPDATE whose changedFields/nulledFields
//     bitmaps show that none of the delivered fields changed is not read
//     back and gives no row (a field the body does not carry, such as
//     SystemModstamp, counts as changed);
//   - events whose changeOrigin names our client_tag are our own writes
//     and give no row, nor do events of other objects on a shared channel;
//   - GAP_OVERFLOW, record id wildcards, and a stored replay id Salesforce
//     refuses (expired after 72 hours, corrupted, or of another channel)
//     are logged as warnings and followed by a resync, per
//     replay_fallback: the records whose SystemModstamp is at or after the
//     last delivered event's commit time (less 10 minutes, for
//     transactions that commit after later ones write, and for clock
//     skew) are read as UPDATE rows and the deleted ones (queryAll,
//     IsDeleted = true) as DELETE rows; a refused replay id also
//     resubscribes at EARLIEST or LATEST (where the re-read waits for the
//     server's first answer, which fixes the stream's starting point, so
//     that what changes after the re-read arrives as events).
//     replay_fallback = fail ends the subscription instead.
//
// A batch is sent per FetchResponse (split at an event boundary when it
// reaches the batch limits) with the position after its last event;
// responses without rows and keep-alives move the position alone. The
// position is JSON, e.g.
// {"topic":"/data/ContactChangeEvent","replay_id":"AAAAAAAAH0A=",
// "commit_ts":1700000000123}: replay_id (base64) resumes the subscription
// after that event, commit_ts (epoch ms) is where a resync starts. Without
// a position the subscription starts at start (latest or earliest). A
// resync's batches do not move the position past what it stands in for:
// after GAP_OVERFLOW they carry the position before that event, after a
// refused replay id the old commit_ts and no replay_id (which resumes with
// a resync). A run that ends during a resync does it again rather than
// skip it. An event whose payload cannot be decoded is reported with
// Reject (the engine's error policy decides) and passed over.
//
// At most 100 events are requested and not yet received; more are asked
// for once half have arrived and been handed on. A stream that ends
// (UNAVAILABLE, EOF, or nothing at all for 330 s, past the 270 s
// keep-alive) is reopened from the last position handed to the engine,
// with exponential backoff and jitter, up to max_attempts times in a row
// without an answer in between. An auth error signs in again once; a
// second one in a row ends the subscription.
package sfconn
