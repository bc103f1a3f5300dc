// Package format is for connector authors who read or write files or
// objects: CSV, JSON Lines and Parquet, gzip or not, with the type
// inference, schema overrides, rejected-row reporting and Hive-style
// partition paths the file and S3 connectors share.
//
// Its API is Go-native and knows no storage: readers take an io.Reader
// (wrapped by [NewInput], which also sniffs and inflates gzip) or, for
// Parquet, an io.ReaderAt and a size, so a local file and a ranged object
// GET read the same way; encoders write to an io.Writer. Nothing in the
// package opens, lists or renames a path.
//
// Reading. [ParseReadOptions] decodes a source block's [ReadAttributes].
// [InferCSV] or [InferJSONL] settles a [TextSchema] from the first input
// that holds data; [TextSchema.ApplyOverrides] applies the schema
// attribute. A [Batcher] built for that schema then collects the rows of
// every input that [ReadCSV] or [ReadJSONL] streams into a [Target], and
// malformed rows go to sdk.RecordSender.Reject as "<name>:<line>".
// [ParquetSchema] and [ReadParquet] do the same for Parquet, whose files
// bring their own types.
//
// Writing. [ParseWriteOptions] decodes a sink block's [WriteAttributes];
// [NewEncoder] returns the [Encoder] for them ([NewCSVEncoder],
// [NewJSONLEncoder] and [NewParquetEncoder] directly). [GroupRows] splits a
// batch by Hive-style partition directory (key=value/), escaped as Hive
// does.
package format
