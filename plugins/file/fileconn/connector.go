package fileconn

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
)

// Version is the connector's release, reported in its Spec.
const Version = "0.1.0"

// Connector reads and writes CSV, JSONL and Parquet files on local paths.
// It keeps no state between calls, so one value serves concurrent reads
// and writes.
type Connector struct {
	sdk.Unimplemented
	mem memory.Allocator
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.EntityDescriber = (*Connector)(nil)
	_ sdk.Source          = (*Connector)(nil)
	_ sdk.Sink            = (*Connector)(nil)
)

// New returns the file connector.
func New() *Connector {
	return &Connector{mem: memory.DefaultAllocator}
}

// Spec describes the connector and the attributes of its source and sink
// blocks.
func (c *Connector) Spec() sdk.Spec {
	return sdk.Spec{
		Name:         "file",
		Version:      Version,
		Description:  "CSV, JSON Lines and Parquet files on local paths.",
		Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink},
		Source:       sdk.ConfigSchema{Attributes: sourceAttributes},
		Sink:         sdk.ConfigSchema{Attributes: sinkAttributes},
	}
}

var sourceAttributes = []sdk.Attribute{
	{Name: "path", Type: sdk.TypeString, Required: true, Entity: true,
		Description: "A file, a directory (every file under it, recursively, in path order, skipping hidden, _-prefixed and temporary files) or a glob such as data/*.csv.gz or logs/**/*.jsonl."},
	{Name: "format", Type: sdk.TypeString,
		Description: "csv, jsonl or parquet. Default: from the extension (.csv, .tsv, .jsonl, .ndjson, .json, .parquet, optionally followed by .gz)."},
	{Name: "compression", Type: sdk.TypeString, Default: "auto",
		Description: "auto (gzip when the name ends in .gz or the file starts with the gzip magic bytes), gzip or none. CSV and JSONL only."},
	{Name: "delimiter", Type: sdk.TypeString, Default: ",",
		Description: "CSV field separator, one character (tab for .tsv files)."},
	{Name: "quote", Type: sdk.TypeString, Default: `"`,
		Description: "CSV quote character; empty turns quoting off."},
	{Name: "header", Type: sdk.TypeBool, Default: true,
		Description: "Whether the first CSV record names the columns. Without one, columns are c1..cN."},
	{Name: "null_values", Type: sdk.TypeStringList, Default: []string{""},
		Description: "CSV field texts read as null. A quoted field is never null in a string column, so \"\" stays an empty string."},
	{Name: "schema", Type: sdk.TypeStringMap,
		Description: "Per-column type overrides: string, int, float, bool, timestamp (UTC; RFC 3339 or 2006-01-02 15:04:05) or date (YYYY-MM-DD). CSV and JSONL only."},
	{Name: "infer_rows", Type: sdk.TypeInt, Default: int64(1000),
		Description: "How many records of the first file inference samples."},
}

var sinkAttributes = []sdk.Attribute{
	{Name: "path", Type: sdk.TypeString, Required: true, Entity: true,
		Description: "Output directory, created if missing."},
	{Name: "format", Type: sdk.TypeString, Default: "csv",
		Description: "csv, jsonl or parquet."},
	{Name: "compression", Type: sdk.TypeString, Default: "none",
		Description: "none or gzip (appends .gz). CSV and JSONL only."},
	{Name: "delimiter", Type: sdk.TypeString, Default: ",",
		Description: "CSV field separator, one character."},
	{Name: "header", Type: sdk.TypeBool, Default: true,
		Description: "Whether CSV files start with a header record."},
	{Name: "null_value", Type: sdk.TypeString, Default: "",
		Description: "Text written for null in CSV. Strings equal to it are quoted so they read back as strings."},
	{Name: "parquet_compression", Type: sdk.TypeString, Default: "snappy",
		Description: "snappy, zstd, gzip, lz4 or none."},
	{Name: "partition_by", Type: sdk.TypeStringList,
		Description: "Fields whose values name Hive-style directories (key=value/). The fields stay in the files too."},
	{Name: "target_file_size", Type: sdk.TypeInt, Default: int64(defaultTargetFileSize),
		Description: "Bytes after which a part file is completed and the next one started."},
	{Name: "file_prefix", Type: sdk.TypeString, Default: "part",
		Description: "File names are <file_prefix>-<run id>-<sequence>.<ext>."},
}

// Configure accepts the (empty) connection block: local paths need no
// credentials or endpoint.
func (c *Connector) Configure(ctx context.Context, config sdk.Values) sdk.Diagnostics {
	return nil
}

// DescribeEntity returns the schema a read of req.Options would produce:
// the Parquet file's own, or the CSV/JSONL columns after inference and
// schema overrides.
func (c *Connector) DescribeEntity(ctx context.Context, req sdk.DescribeRequest) (sdk.Entity, error) {
	opts, err := parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return sdk.Entity{}, err
	}
	p, err := makePlan(ctx, c.mem, opts)
	if err != nil {
		return sdk.Entity{}, err
	}
	return sdk.Entity{
		Name:       opts.path,
		Schema:     p.schema(),
		WriteModes: []sdk.WriteMode{sdk.WriteInsert},
	}, nil
}

// Read streams the files of req.Options in path order. Malformed rows are
// rejected through out.Reject and the read goes on; after each file it
// checkpoints {"file": path, "files_done": n}, and a later read given that
// checkpoint skips every file sorting at or before path.
func (c *Connector) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	return c.read(ctx, req, out)
}

// OpenWriter starts a write stream into the directory of req.Options.
// Files stay hidden under temporary names until Commit.
func (c *Connector) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	return c.openWriter(ctx, req)
}
