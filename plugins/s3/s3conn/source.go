package s3conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

var sourceAttributes = append([]sdk.Attribute{
	{Name: "bucket", Type: sdk.TypeString, Entity: true,
		Description: "Bucket to read. Default: the connection's bucket."},
	{Name: "prefix", Type: sdk.TypeString,
		Description: "Key prefix; every object under it is read, in key order, skipping hidden (.x), _-prefixed and temporary names."},
	{Name: "glob", Type: sdk.TypeString,
		Description: "Pattern the rest of the key after prefix must match, path.Match per segment with ** for any number of segments, e.g. *.csv or **/*.jsonl.gz."},
	{Name: "parallelism", Type: sdk.TypeInt, Default: int64(defaultParallelism),
		Description: "Objects read at once; records are still delivered in key order."},
	{Name: "partition_size", Type: sdk.TypeInt, Default: int64(defaultPartitionSize),
		Description: "When several sluice instances split a read: bytes of consecutive objects per partition (an object larger than this is a partition of its own)."},
}, format.ReadAttributes()...)

const (
	defaultParallelism   = 4
	defaultPartitionSize = 64 << 20
)

// sourceOptions is the decoded source block.
type sourceOptions struct {
	bucket, prefix, glob string
	parallelism          int
	partitionSize        int64
	*format.ReadOptions
}

func (c *Connector) parseSourceOptions(v sdk.Values, entity string) (*sourceOptions, error) {
	o := &sourceOptions{
		bucket:        v.String("bucket", entity),
		prefix:        v.String("prefix", ""),
		glob:          strings.Trim(v.String("glob", ""), "/"),
		parallelism:   int(v.Int("parallelism", defaultParallelism)),
		partitionSize: v.Int("partition_size", defaultPartitionSize),
	}
	if o.bucket == "" {
		o.bucket = c.bucket
	}
	if strings.HasPrefix(o.bucket, "s3://") {
		rest := strings.TrimPrefix(o.bucket, "s3://")
		o.bucket, o.prefix, _ = strings.Cut(rest, "/")
		if p := v.String("prefix", ""); p != "" {
			o.prefix = path.Join(o.prefix, p)
		}
	}
	if o.bucket == "" {
		return nil, format.OptionError("bucket", "required (or set bucket on the connection)")
	}
	if o.parallelism < 1 {
		o.parallelism = 1
	}
	if o.partitionSize < 1 {
		return nil, format.OptionError("partition_size", "must be at least 1 byte, got %d", o.partitionSize)
	}
	if o.glob != "" {
		for _, seg := range strings.Split(o.glob, "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return nil, format.OptionError("glob", "bad pattern %q: %v", o.glob, err)
			}
		}
	}
	ro, err := format.ParseReadOptions(v)
	if err != nil {
		return nil, err
	}
	o.ReadOptions = ro
	return o, nil
}

// object is one object a read covers.
type object struct {
	key      string
	size     int64
	modified time.Time
}

func (o *object) location(bucket string) string { return "s3://" + bucket + "/" + o.key }

// listObjects lists the objects under prefix that the glob matches, in key
// order, paging through listings of any length. Finding none is an error.
func (c *Connector) listObjects(ctx context.Context, o *sourceOptions) ([]object, error) {
	objs, _, err := c.listMatching(ctx, o)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		what := "s3://" + o.bucket + "/" + o.prefix
		if o.glob != "" {
			what += " matching " + o.glob
		}
		return nil, fmt.Errorf("no objects under %s", what)
	}
	return objs, nil
}

// listMatching is listObjects without the error for an empty listing. It
// also returns the server's time when the listing began, from the
// response's Date (zero without one): last-modified times come from that
// clock, whatever this machine's says.
func (c *Connector) listMatching(ctx context.Context, o *sourceOptions) ([]object, time.Time, error) {
	var pat []string
	if o.glob != "" {
		pat = strings.Split(o.glob, "/")
	}
	var objs []object
	var serverTime time.Time
	p := s3.NewListObjectsV2Paginator(c.client, &s3.ListObjectsV2Input{Bucket: aws.String(o.bucket), Prefix: aws.String(o.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, time.Time{}, c.wrap(err, "list", o.bucket, o.prefix)
		}
		if serverTime.IsZero() {
			serverTime, _ = awsmiddleware.GetServerTime(page.ResultMetadata)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if strings.HasSuffix(key, "/") {
				continue // a "directory" marker
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(key, o.prefix), "/")
			parts := strings.Split(rel, "/")
			skip := false
			for _, part := range parts {
				if format.SkipName(part) {
					skip = true
					break
				}
			}
			if skip || (pat != nil && !format.MatchGlob(pat, parts)) {
				continue
			}
			objs = append(objs, object{key: key, size: aws.ToInt64(obj.Size), modified: aws.ToTime(obj.LastModified)})
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].key < objs[j].key })
	return objs, serverTime, nil
}

// plan is what a read knows before the first row.
type plan struct {
	opts    *sourceOptions
	objects []object
	format  string
	text    format.TextSchema
	parquet *arrow.Schema
}

func (p *plan) schema() *arrow.Schema {
	if p.format == "parquet" {
		return p.parquet
	}
	return p.text.Arrow()
}

func (c *Connector) makePlan(ctx context.Context, opts *sourceOptions) (*plan, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if len(opts.Columns) > 0 && opts.Format != "" {
		// The columns are declared: an empty prefix reads as no rows,
		// and an event flow can start before its first object.
		objs, _, err := c.listMatching(ctx, opts)
		if err != nil {
			return nil, err
		}
		return c.planFor(ctx, opts, objs)
	}
	objs, err := c.listObjects(ctx, opts)
	if err != nil {
		return nil, err
	}
	return c.planFor(ctx, opts, objs)
}

// planFor settles the format and schema of objs, a listing that is not
// empty unless the options declare the format and columns.
func (c *Connector) planFor(ctx context.Context, opts *sourceOptions, objs []object) (*plan, error) {
	p := &plan{opts: opts, objects: objs, format: opts.Format}
	var err error
	if p.format == "" {
		var tab bool
		for i, o := range objs {
			f, isTab := format.FormatFromName(o.key)
			if f == "" {
				return nil, fmt.Errorf("cannot tell the format of %s from its name; set format to csv, jsonl or parquet", o.location(opts.bucket))
			}
			if i == 0 {
				p.format, tab = f, isTab
			} else if f != p.format {
				return nil, fmt.Errorf("%s looks like %s but %s looks like %s; one read takes one format (set format, or narrow prefix or glob)",
					objs[0].location(opts.bucket), p.format, o.location(opts.bucket), f)
			}
		}
		if tab && !opts.DelimiterSet {
			opts.Delimiter = '\t'
		}
	}
	switch p.format {
	case "csv", "jsonl":
		var declared bool
		if p.text, declared, err = opts.DeclaredSchema(); err == nil && !declared {
			p.text, err = c.inferText(ctx, p)
		}
	case "parquet":
		if len(opts.Overrides) > 0 {
			return nil, format.OptionError("schema", "does not apply to parquet, whose files carry their own types")
		}
		if len(opts.Columns) > 0 {
			return nil, format.OptionError("columns", "does not apply to parquet, whose files carry their own columns")
		}
		if opts.Compression == "gzip" {
			return nil, format.OptionError("compression", "parquet files compress their pages themselves; gzip does not apply")
		}
		first := objs[0]
		ra := &rangeReader{ctx: ctx, c: c, bucket: opts.bucket, key: first.key, size: first.size}
		p.parquet, err = format.ParquetSchema(ra, first.size, first.location(opts.bucket), c.mem)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// inferText settles the columns from the first object that holds data;
// only as much of it is fetched as the sample needs.
func (c *Connector) inferText(ctx context.Context, p *plan) (format.TextSchema, error) {
	opts := p.opts
	for _, o := range p.objects {
		ts, ok, err := func() (format.TextSchema, bool, error) {
			body, err := c.get(ctx, opts.bucket, o.key)
			if err != nil {
				return format.TextSchema{}, false, err
			}
			defer body.Close()
			in, err := format.NewInput(body, o.location(opts.bucket), opts.Compression)
			if err != nil {
				return format.TextSchema{}, false, err
			}
			defer in.Close()
			if p.format == "csv" {
				return format.InferCSV(ctx, in, opts.ReadOptions)
			}
			return format.InferJSONL(ctx, in, opts.ReadOptions)
		}()
		if err != nil {
			return format.TextSchema{}, err
		}
		if ok {
			where := p.objects[0].location(opts.bucket)
			if len(p.objects) > 1 {
				where = "the objects under s3://" + opts.bucket + "/" + opts.prefix
			}
			if err := ts.ApplyOverrides(opts.Overrides, where); err != nil {
				return format.TextSchema{}, format.OptionError("schema", "%v", err)
			}
			return ts, nil
		}
	}
	return format.TextSchema{}, fmt.Errorf("s3://%s/%s: no %s records to take columns from", opts.bucket, opts.prefix, p.format)
}

func (c *Connector) get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, c.wrap(err, "get", bucket, key)
	}
	return out.Body, nil
}

// rangeReader is an io.ReaderAt over one object: every ReadAt is a ranged
// GET, so Parquet's footer and pages are fetched as needed, never the
// whole object.
type rangeReader struct {
	ctx    context.Context
	c      *Connector
	bucket string
	key    string
	size   int64
}

var _ io.ReaderAt = (*rangeReader)(nil)

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.size {
		n = r.size - off
	}
	if n == 0 {
		return 0, nil
	}
	out, err := r.c.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.bucket), Key: aws.String(r.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		return 0, r.c.wrap(err, "get range of", r.bucket, r.key)
	}
	defer out.Body.Close()
	got, err := io.ReadFull(out.Body, p[:n])
	if err != nil {
		return got, fmt.Errorf("read s3://%s/%s at %d: %w", r.bucket, r.key, off, err)
	}
	if int(n) < len(p) {
		return got, io.EOF
	}
	return got, nil
}

// position is the checkpoint: every object whose (last modified, key)
// sorts at or before it has been delivered.
type position struct {
	LastModified time.Time `json:"last_modified"`
	Key          string    `json:"key"`
}

func (p position) before(o object) bool {
	if !o.modified.Equal(p.LastModified) {
		return p.LastModified.Before(o.modified)
	}
	return p.Key < o.key
}

// DescribeEntity returns the schema a read would produce.
func (c *Connector) DescribeEntity(ctx context.Context, req sdk.DescribeRequest) (sdk.Entity, error) {
	opts, err := c.parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return sdk.Entity{}, err
	}
	p, err := c.makePlan(ctx, opts)
	if err != nil {
		return sdk.Entity{}, err
	}
	return sdk.Entity{Name: opts.bucket, Schema: p.schema(), WriteModes: []sdk.WriteMode{sdk.WriteInsert}}, nil
}

// item is what an object's reader hands the delivering goroutine.
type item struct {
	rec     arrow.RecordBatch
	bad     *sdk.BadRecord
	current int64
}

// objectRead is one object being read ahead of delivery.
type objectRead struct {
	obj   object
	index int // in the read's list of objects
	items chan item
	err   error // set before items is closed
}

// chanSender is the RecordSender a worker reads one object into.
type chanSender struct {
	ctx   context.Context
	items chan item
	cur   func() int64
}

func (s *chanSender) push(it item) error {
	select {
	case s.items <- it:
		return nil
	case <-s.ctx.Done():
		if it.rec != nil {
			it.rec.Release()
		}
		return s.ctx.Err()
	}
}

func (s *chanSender) Send(rec arrow.RecordBatch) error {
	rec.Retain()
	return s.push(item{rec: rec, current: s.cur()})
}
func (s *chanSender) Checkpoint([]byte) error { return nil }
func (s *chanSender) Reject(b sdk.BadRecord) error {
	return s.push(item{bad: &b})
}
func (s *chanSender) Progress(sdk.Progress) error { return nil }

// Read streams the objects in key order (see readObjects). After each
// object it checkpoints the newest (last modified, key) below which
// everything has been delivered; given a checkpoint, only objects after it
// are read.
func (c *Connector) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	if len(req.Partition) > 0 {
		return c.readPartition(ctx, req, out)
	}
	opts, err := c.parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	p, err := c.makePlan(ctx, opts)
	if err != nil {
		return err
	}
	proj, err := format.Projection(req.Fields, p.schema())
	if err != nil {
		return err
	}
	todo, err := afterCheckpoint(p.objects, req.Checkpoint)
	if err != nil {
		return err
	}

	// The watermark: objects in (last modified, key) order; the checkpoint
	// advances over the longest prefix of them already delivered.
	byTime := make([]int, len(todo))
	for i := range byTime {
		byTime[i] = i
	}
	sort.SliceStable(byTime, func(a, b int) bool {
		oa, ob := todo[byTime[a]], todo[byTime[b]]
		if !oa.modified.Equal(ob.modified) {
			return oa.modified.Before(ob.modified)
		}
		return oa.key < ob.key
	})
	delivered := make([]bool, len(todo))
	mark := 0

	return c.readSending(ctx, p, todo, proj, req.Limits, out, func(i int) error {
		delivered[i] = true
		advanced := false
		for mark < len(byTime) && delivered[byTime[mark]] {
			mark++
			advanced = true
		}
		if advanced {
			last := todo[byTime[mark-1]]
			cp, _ := json.Marshal(position{LastModified: last.modified.UTC(), Key: last.key})
			if err := out.Checkpoint(cp); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
		return nil
	})
}

// readSending reads objs into out, reporting progress in bytes of the
// objects, and calls afterObject (when set) once objs[i] is delivered.
func (c *Connector) readSending(ctx context.Context, p *plan, objs []object, proj []int, limits sdk.Limits, out sdk.RecordSender, afterObject func(i int) error) error {
	var bytesTotal, bytesDone int64
	for _, o := range objs {
		bytesTotal += o.size
	}
	err := c.readObjects(ctx, p, objs, proj, format.NormLimits(limits), delivery{
		batch: func(rec arrow.RecordBatch, current int64) error {
			if err := out.Send(rec); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			return out.Progress(sdk.Progress{BytesRead: bytesDone + current, BytesTotal: bytesTotal})
		},
		reject: out.Reject,
		done: func(i int) error {
			bytesDone += objs[i].size
			if afterObject == nil {
				return nil
			}
			return afterObject(i)
		},
	})
	if err != nil {
		return err
	}
	return out.Progress(sdk.Progress{BytesRead: bytesDone, BytesTotal: bytesTotal})
}

// afterCheckpoint is the part of objs a read resumed from checkpoint still
// has to deliver: all of them without one.
func afterCheckpoint(objs []object, checkpoint []byte) ([]object, error) {
	if len(checkpoint) == 0 {
		return objs, nil
	}
	var pos position
	if err := json.Unmarshal(checkpoint, &pos); err != nil || pos.Key == "" {
		return nil, fmt.Errorf("checkpoint %q is not from this connector", checkpoint)
	}
	var todo []object
	for _, o := range objs {
		if pos.before(o) {
			todo = append(todo, o)
		}
	}
	return todo, nil
}

// delivery is where readObjects hands what it read, in the order of its
// objects.
type delivery struct {
	// batch takes one batch, which is released when it returns; current
	// is how many bytes of the batch's object have been consumed.
	batch func(rec arrow.RecordBatch, current int64) error
	// reject takes a record that could not be read.
	reject func(bad sdk.BadRecord) error
	// done follows the last batch of todo[i], once it was read whole.
	done func(i int) error
}

// readObjects reads todo and hands it to d object after object, in todo's
// order. Up to parallelism objects are fetched and parsed at once, each
// into a small bounded queue, so memory stays bounded by a few batches per
// object in flight.
func (c *Connector) readObjects(ctx context.Context, p *plan, todo []object, proj []int, limits sdk.Limits, d delivery) error {
	opts := p.opts
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *objectRead, opts.parallelism)
	batchers := make(chan *format.Batcher, opts.parallelism+2)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		// Drain what the workers left, releasing batches.
		for or := range queue {
			for it := range or.items {
				if it.rec != nil {
					it.rec.Release()
				}
			}
		}
		wg.Wait()
		close(batchers)
		for b := range batchers {
			b.Release()
		}
	}()
	go func() {
		defer close(queue)
		for i, o := range todo {
			or := &objectRead{obj: o, index: i, items: make(chan item, 2)}
			select {
			case queue <- or:
			case <-rctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(or.items)
				var b *format.Batcher
				if p.format != "parquet" {
					select {
					case b = <-batchers:
					default:
						b = format.NewBatcher(c.mem, p.text, proj, limits)
					}
					defer func() {
						select {
						case batchers <- b:
						default:
							b.Release()
						}
					}()
				}
				or.err = c.readObject(rctx, p, or, b, proj, limits)
			}()
		}
	}()

	for or := range queue {
		for it := range or.items {
			if it.bad != nil {
				if err := d.reject(*it.bad); err != nil {
					return err
				}
				continue
			}
			err := d.batch(it.rec, it.current)
			it.rec.Release()
			if err != nil {
				return err
			}
		}
		if or.err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return or.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.done(or.index); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readObject reads one object into or.items.
func (c *Connector) readObject(ctx context.Context, p *plan, or *objectRead, b *format.Batcher, proj []int, limits sdk.Limits) error {
	opts := p.opts
	o := or.obj
	name := o.location(opts.bucket)
	if p.format == "parquet" {
		var done int64
		s := &chanSender{ctx: ctx, items: or.items, cur: func() int64 { return done }}
		ra := &rangeReader{ctx: ctx, c: c, bucket: opts.bucket, key: o.key, size: o.size}
		return format.ReadParquet(ctx, ra, o.size, format.ParquetRead{
			Name: name, Schema: p.parquet, Project: proj, Limits: limits, Mem: c.mem, Out: s,
			Progress: func(cur int64) error { done = cur; return nil },
		})
	}
	body, err := c.get(ctx, opts.bucket, o.key)
	if err != nil {
		return err
	}
	defer body.Close()
	in, err := format.NewInput(body, name, opts.Compression)
	if err != nil {
		return err
	}
	defer in.Close()
	s := &chanSender{ctx: ctx, items: or.items, cur: in.BytesRead}
	t := format.Target{Out: s, Batcher: b}
	if p.format == "csv" {
		err = format.ReadCSV(ctx, in, opts.ReadOptions, t)
	} else {
		err = format.ReadJSONL(ctx, in, t)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return err
}
