// Package sfemu is a Salesforce emulator: the OAuth token endpoint, REST
// (describe, SOQL query/queryAll, single-record CRUD, sObject Collections)
// and Bulk API 2.0 on one address, and Change Data Capture over the Pub/Sub
// API (gRPC) on another, following shared/reference/salesforce-api.md, with
// switches to inject faults.
//
// # Bulk API 2.0 queries
//
// A query job's rows are fixed when it completes. GET
// /jobs/query/{id}/results pages through them (Options.BulkPageSize, or
// maxRecords) with Sforce-Locator, the base64 of the row a page starts at,
// so a locator stays valid while the job exists. From API 58.0, GET
// /jobs/query/{id}/resultPages lists the same pages as result URLs for
// parallel download, at most five an answer, with nextRecordsUrl to the
// next five and done. It refuses what /results refuses: a job not yet
// complete (JOB_NOT_COMPLETE), another API version (409), a job that is
// gone (404); below 58.0 it does not exist (404). Jobs are deleted
// Options.BulkJobRetention (7 days) after they end, as Salesforce deletes
// them.
//
// # Change Data Capture
//
// Every committed create, update, delete (hard deletes included) and
// undelete of a record of a selected object (Options.CDCEntities, default
// all) publishes one change event on /data/<Object>ChangeEvent
// (/data/<Name>__ChangeEvent for custom objects) and AllChangeEventsTopic.
// REST writes, upserts and sObject Collections requests are one
// transaction each (one transactionKey, sequenceNumber 1, 2, … in commit
// order, changeOrigin com/salesforce/api/rest/<version>[;client=<id>] from
// Sforce-Call-Options); Bulk ingest commits in chunks of 200 rows with
// changeOrigin com/salesforce/api/bulkapi/<version>[;client=<id>] taken
// from the job's creation request. The REST API has no undelete: Undelete
// and POST /__emulator/undelete {"ids":[...]} stand in for SOAP's
// (changeOrigin com/salesforce/api/soap/...). InjectGap and InjectOverflow
// publish GAP_* events.
//
// Events are retained in commit order for Options.Retention (72h) and at
// most Options.MaxRetainedEvents; they are not saved by Save. Replay ids
// are 8-byte big-endian numbers with gaps, starting from the wall clock so
// that ids of an earlier run are unknown to a later one. The id of a
// dropped event (ExpireEvents, retention, the cap) fails Subscribe with
// replayid.corrupted; the latest_replay_id of a keep-alive is always
// resumable.
//
// # Event encoding
//
// Payloads are Avro binary without a container header, written with
// github.com/hamba/avro/v2. Each entity has a record schema named
// <Entity>ChangeEvent in namespace com.sforce.eventbus: field 0 is
// ChangeEventHeader (changeType is the enum ChangeType), then the object's
// fields in describe order as ["null", T] with default null and doc
// "<Field>:<Type>" — datetime and time as long (epoch / midnight ms), date
// as int (days), double/currency/percent as double, int, long, boolean,
// everything else as string. Id (it is in recordIds), IsDeleted,
// SystemModstamp and formula fields are left out; the components of
// compound fields are nested records at the compound field's position:
// Name {LastName, FirstName, Salutation} on Contact and Lead, addresses
// as Address {Street, City, …}. A schema id is the base64url (unpadded) of
// the first 16 bytes of the SHA-256 of the schema JSON, so it survives
// restarts and changes when AddField adds a field.
//
// CREATE and UNDELETE bodies hold every non-null value; UPDATE bodies the
// changed values only, changedFields and nulledFields saying which: a
// bitmap whose element 0 is the hex of an unsigned big-endian integer with
// bit i set for schema field i, followed by "<pos>-0x<hex>" over the nested
// record at position pos (a changed component does not set its compound
// field's bit in element 0). DELETE and gap events carry the header only.
//
// # Pub/Sub API
//
// ServePubSub serves eventbus.v1 (package eventbusv1) over plaintext
// HTTP/2. Every RPC needs the metadata accesstoken (a live session of the
// token endpoint, with the REST session's inactivity timeout),
// instanceurl (the BaseURL, when set) and tenantid (OrgID); none counts
// against the REST API limit. Subscribe follows Salesforce: LATEST,
// EARLIEST or CUSTOM (start after replay_id) on the first FetchRequest,
// 1–100 credits per request accumulating, pending_num_requested in every
// response, and an empty FetchResponse carrying latest_replay_id after
// Options.KeepAlive of silence. GetTopic reports can_publish false and the
// entity's current schema id (none for AllChangeEventsTopic); Publish and
// PublishStream refuse CDC channels. Failures carry the gRPC status, the
// error-code and rpc-id trailers and a message ending in "rpcId: <id>"
// (see the PubSubError constants). Faults.PubSubDropAfter and
// Faults.PubSubAuthErrors break streams and RPCs on demand.
package sfemu
