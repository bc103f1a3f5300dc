package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

var _ sdk.Partitioner = (*Connector)(nil)

// maxPartitionObjects caps the objects of one partition whatever their
// size, because a spec names its objects and is stored in the engine's job
// queue: a thousand keys keep it to tens of kilobytes.
const maxPartitionObjects = 1000

// partSpec is a partition's spec: the objects to read and everything a read
// of them needs to produce the schema DescribeEntity gave. The schema
// travels settled (columns and kinds, or Parquet's Arrow schema) rather
// than inferred again, because inference over a part of the objects could
// settle other types (or, starting from another object, other columns)
// than inference over all of them.
type partSpec struct {
	V      int    `json:"v"`
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix,omitempty"`
	Format string `json:"format"`
	// Delimiter is the CSV separator the plan settled (tab for .tsv names).
	Delimiter string `json:"delimiter,omitempty"`
	// Columns are the text formats' columns: name and kind.
	Columns [][2]string `json:"columns,omitempty"`
	// Declared: the columns attribute gave the columns.
	Declared bool `json:"declared,omitempty"`
	// ParquetSchema is an Arrow IPC schema message.
	ParquetSchema []byte `json:"parquet_schema,omitempty"`
	// Keys are relative to Prefix, in key order; Sizes go with them.
	Keys  []string `json:"keys"`
	Sizes []int64  `json:"sizes"`
}

const partSpecVersion = 1

// Partitions splits the read Read would do (the same listing, after the
// same checkpoint, with the schema inferred across all the objects) into
// runs of consecutive objects of about partition_size bytes. Objects are
// grouped because each partition costs the engine a job to claim, a read
// to start and a commit: a prefix of many small objects, a partition each,
// would spend more on that than on reading. Consecutive keys keep each
// partition in the order Read delivers them.
func (c *Connector) Partitions(ctx context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	opts, err := c.parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return nil, err
	}
	p, err := c.makePlan(ctx, opts)
	if err != nil {
		return nil, err
	}
	// A field the schema lacks fails here rather than in every partition.
	if _, err := format.Projection(req.Fields, p.schema()); err != nil {
		return nil, err
	}
	todo, err := afterCheckpoint(p.objects, req.Checkpoint)
	if err != nil {
		return nil, err
	}
	base := partSpec{V: partSpecVersion, Bucket: opts.bucket, Prefix: opts.prefix, Format: p.format}
	if p.format == "parquet" {
		if base.ParquetSchema, err = encodeSchema(p.parquet); err != nil {
			return nil, err
		}
	} else {
		if p.format == "csv" {
			base.Delimiter = string(opts.Delimiter)
		}
		for i, n := range p.text.Names {
			base.Columns = append(base.Columns, [2]string{n, p.text.Kinds[i].String()})
		}
		base.Declared = p.text.Declared
	}
	var parts []sdk.Partition
	for _, group := range groupObjects(todo, opts.partitionSize, maxPartitionObjects) {
		spec := base
		var size int64
		for _, o := range group {
			spec.Keys = append(spec.Keys, strings.TrimPrefix(o.key, opts.prefix))
			spec.Sizes = append(spec.Sizes, o.size)
			size += o.size
		}
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, fmt.Errorf("s3: partition spec: %w", err)
		}
		key := group[0].location(opts.bucket)
		if n := len(group); n > 1 {
			key += fmt.Sprintf(" .. %s (%d objects)", group[n-1].key, n)
		}
		parts = append(parts, sdk.Partition{Key: key, Spec: b, Size: size})
	}
	return parts, nil
}

// groupObjects cuts objs, in order, into runs of at most maxObjects
// objects and size bytes together; an object larger than size is a run of
// its own.
func groupObjects(objs []object, size int64, maxObjects int) [][]object {
	var groups [][]object
	var cur []object
	var curSize int64
	for _, o := range objs {
		if len(cur) > 0 && (curSize+o.size > size || len(cur) >= maxObjects) {
			groups = append(groups, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, o)
		curSize += o.size
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// readPartition reads the objects a partition names, in their order, with
// the schema it carries. It sends no checkpoints: a position says that
// every object before it was delivered, which one partition cannot know of
// the others.
func (c *Connector) readPartition(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	if err := c.ready(); err != nil {
		return err
	}
	opts, err := c.parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	var spec partSpec
	if err := json.Unmarshal(req.Partition, &spec); err != nil || spec.V != partSpecVersion || len(spec.Keys) != len(spec.Sizes) {
		return fmt.Errorf("s3: the partition %.100q is not one this connector's Partitions made", req.Partition)
	}
	if spec.Bucket != opts.bucket || spec.Prefix != opts.prefix {
		return fmt.Errorf("s3: the partition is of s3://%s/%s, but the source reads s3://%s/%s", spec.Bucket, spec.Prefix, opts.bucket, opts.prefix)
	}
	p, err := spec.plan(opts)
	if err != nil {
		return err
	}
	proj, err := format.Projection(req.Fields, p.schema())
	if err != nil {
		return err
	}
	return c.readSending(ctx, p, p.objects, proj, req.Limits, out, nil)
}

// plan is the read plan the spec describes: its objects, its format and
// its settled schema, without listing or inferring anything.
func (s *partSpec) plan(opts *sourceOptions) (*plan, error) {
	p := &plan{opts: opts, format: s.Format}
	for i, k := range s.Keys {
		p.objects = append(p.objects, object{key: s.Prefix + k, size: s.Sizes[i]})
	}
	switch s.Format {
	case "parquet":
		sc, err := decodeSchema(s.ParquetSchema)
		if err != nil {
			return nil, fmt.Errorf("s3: partition spec: %w", err)
		}
		p.parquet = sc
	case "csv", "jsonl":
		if s.Format == "csv" {
			if len(s.Delimiter) != 1 {
				return nil, fmt.Errorf("s3: partition spec: delimiter %q is not one character", s.Delimiter)
			}
			opts.Delimiter = s.Delimiter[0]
		}
		for _, col := range s.Columns {
			k, err := format.ParseKind(col[1])
			if err != nil {
				return nil, fmt.Errorf("s3: partition spec: column %s: %w", col[0], err)
			}
			p.text.Names = append(p.text.Names, col[0])
			p.text.Kinds = append(p.text.Kinds, k)
		}
		p.text.Declared = s.Declared
	default:
		return nil, fmt.Errorf("s3: partition spec: unknown format %q", s.Format)
	}
	return p, nil
}

func encodeSchema(sc *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("s3: encode the Parquet schema: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode the Parquet schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}
