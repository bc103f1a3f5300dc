// Package sfconn is the Salesforce connector: sign-in with OAuth 2.0
// (refresh token, JWT bearer, client credentials, password), describe,
// SOQL reads over REST or Bulk API 2.0, and writes through sObject
// Collections or Bulk API 2.0 ingest jobs.
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
// Every call sends Sforce-Call-Options: client=sluice.
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
package sfconn
