package fileconn

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
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
	_ sdk.WriteChecker    = (*Connector)(nil)
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

var sourceAttributes = append([]sdk.Attribute{
	{Name: "path", Type: sdk.TypeString, Required: true, Entity: true,
		Description: "A file, a directory (every file under it, recursively, in path order, skipping hidden, _-prefixed and temporary files) or a glob such as data/*.csv.gz or logs/**/*.jsonl."},
}, format.ReadAttributes()...)

var sinkAttributes = append(append([]sdk.Attribute{
	{Name: "path", Type: sdk.TypeString, Required: true, Entity: true,
		Description: "Output directory, created if missing."},
}, format.WriteAttributes()...),
	sdk.Attribute{Name: "partition_by", Type: sdk.TypeStringList,
		Description: "Fields whose values name Hive-style directories (key=value/). The fields stay in the files too."},
	sdk.Attribute{Name: "target_file_size", Type: sdk.TypeInt, Default: int64(defaultTargetFileSize),
		Description: "Bytes after which a part file is completed and the next one started."},
	sdk.Attribute{Name: "file_prefix", Type: sdk.TypeString, Default: "part",
		Description: "File names are <file_prefix>-<run id>-<sequence>.<ext>."},
)

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
