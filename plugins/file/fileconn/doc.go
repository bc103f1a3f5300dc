// Package fileconn is the file connector: the source and sink sluice embeds
// by default, reading and writing CSV, JSON Lines and Parquet on local
// paths. The S3 connector is its sibling for object storage; this one only
// knows the local filesystem.
//
// The format-level code (scanners, inference, encoders, partition paths)
// is package sdk/format, shared with the S3 connector; this package lists,
// opens and renames local files around it.
//
// Start with [New] and the methods of [Connector]: Spec lists the block
// attributes, DescribeEntity and Read make up the source, OpenWriter the
// sink.
//
// Reading. A path is a file, a directory (recursively, hidden, _-prefixed
// and temporary files skipped) or a glob, read in path order as one entity
// with one schema. CSV and JSONL types are inferred from a sample of the
// first file and can be overridden per column; Parquet files bring their
// own. CSV is split by a hand-written scanner rather than encoding/csv or
// arrow/csv, because typed parsing straight from the read buffer into Arrow
// builders is the throughput that matters. Malformed input never fails a
// read: each bad row goes to RecordSender.Reject as "path:line" with a
// reason, and the engine's error policy decides.
//
// Writing. Part files are named <prefix>-<run id>-<sequence>.<ext> and are
// written under hidden temporary names, renamed only by Writer.Commit after
// an fsync, so a crash or an uncommitted Close leaves no partial file under
// a final name. With partition_by, rows go to Hive-style key=value/
// directories; the partition fields are also kept inside the files, so each
// file is complete on its own.
package fileconn
