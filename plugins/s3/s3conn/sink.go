package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

const (
	// partSize is the multipart part size: S3 wants at least 5 MiB for
	// every part but the last.
	partSize = 8 << 20
	// partsInFlight bounds the parts one writer uploads at once, and so
	// the part buffers it holds beyond one per open object.
	partsInFlight = 4
	// maxOpenObjects bounds the objects being written at once (one part
	// buffer each); with partition_by over many values the least
	// recently written is completed to make room.
	maxOpenObjects = 16
	// smallBudget is how many bytes of completed small objects a writer
	// keeps in memory for one PutObject each at Commit; past it, a small
	// object becomes a one-part multipart upload right away.
	smallBudget = 32 << 20

	defaultTargetFileSize = 128 << 20
)

var sinkAttributes = append(append([]sdk.Attribute{
	{Name: "bucket", Type: sdk.TypeString, Entity: true,
		Description: "Bucket to write. Default: the connection's bucket."},
	{Name: "prefix", Type: sdk.TypeString,
		Description: "Key prefix of the objects, with placeholders {flow}, {run_id}, {yyyy}, {mm}, {dd} and {hh} (the run's start, UTC), e.g. exports/{flow}/{yyyy}/{mm}/{dd}."},
}, format.WriteAttributes()...),
	sdk.Attribute{Name: "partition_by", Type: sdk.TypeStringList,
		Description: "Fields whose values name Hive-style key prefixes (key=value/). The fields stay in the objects too."},
	sdk.Attribute{Name: "aggregation", Type: sdk.TypeString, Default: "size",
		Description: "size: objects of about target_file_size; per_partition: one object per partition (or for the whole run) per commit."},
	sdk.Attribute{Name: "target_file_size", Type: sdk.TypeInt, Default: int64(defaultTargetFileSize),
		Description: "Bytes after which an object is completed and the next one started (aggregation = size)."},
	sdk.Attribute{Name: "file_prefix", Type: sdk.TypeString, Default: "part",
		Description: "Object names are <file_prefix>-<run id>-<sequence>.<ext>."},
	sdk.Attribute{Name: "sse", Type: sdk.TypeString,
		Description: "Server-side encryption: AES256 (SSE-S3) or aws:kms (SSE-KMS)."},
	sdk.Attribute{Name: "kms_key_id", Type: sdk.TypeString,
		Description: "KMS key id or ARN for sse = aws:kms; default: the account's S3 key."},
	sdk.Attribute{Name: "storage_class", Type: sdk.TypeString,
		Description: "STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, ... as S3 names them."},
	sdk.Attribute{Name: "manifest", Type: sdk.TypeBool, Default: false,
		Description: "Write <prefix>/manifest.json at each commit, listing the objects written (Redshift COPY manifest format)."},
)

type sinkOptions struct {
	bucket string
	prefix string
	*format.WriteOptions
	partitionBy    []string
	aggregation    string
	targetFileSize int64
	filePrefix     string
	sse            types.ServerSideEncryption
	kmsKeyID       string
	storageClass   types.StorageClass
	manifest       bool
}

func (c *Connector) parseSinkOptions(v sdk.Values, entity string) (*sinkOptions, error) {
	o := &sinkOptions{
		bucket:         v.String("bucket", entity),
		prefix:         v.String("prefix", ""),
		partitionBy:    v.Strings("partition_by"),
		aggregation:    strings.ToLower(v.String("aggregation", "size")),
		targetFileSize: v.Int("target_file_size", defaultTargetFileSize),
		filePrefix:     v.String("file_prefix", "part"),
		kmsKeyID:       v.String("kms_key_id", ""),
		storageClass:   types.StorageClass(strings.ToUpper(v.String("storage_class", ""))),
		manifest:       v.Bool("manifest", false),
	}
	if o.bucket == "" {
		o.bucket = c.bucket
	}
	if strings.HasPrefix(o.bucket, "s3://") {
		var p string
		o.bucket, p, _ = strings.Cut(strings.TrimPrefix(o.bucket, "s3://"), "/")
		if o.prefix == "" {
			o.prefix = p
		}
	}
	if o.bucket == "" {
		return nil, format.OptionError("bucket", "required (or set bucket on the connection)")
	}
	wo, err := format.ParseWriteOptions(v)
	if err != nil {
		return nil, err
	}
	o.WriteOptions = wo
	switch o.aggregation {
	case "size", "per_partition":
	default:
		return nil, format.OptionError("aggregation", "unknown aggregation %q (want size or per_partition)", o.aggregation)
	}
	if o.targetFileSize <= 0 {
		return nil, format.OptionError("target_file_size", "must be positive")
	}
	if o.filePrefix == "" || strings.Contains(o.filePrefix, "/") {
		return nil, format.OptionError("file_prefix", "must be a plain name prefix, not %q", o.filePrefix)
	}
	switch sse := v.String("sse", ""); strings.ToLower(sse) {
	case "":
	case "aes256":
		o.sse = types.ServerSideEncryptionAes256
	case "aws:kms", "kms":
		o.sse = types.ServerSideEncryptionAwsKms
	default:
		return nil, format.OptionError("sse", "unknown encryption %q (want AES256 or aws:kms)", sse)
	}
	if o.kmsKeyID != "" && o.sse != types.ServerSideEncryptionAwsKms {
		return nil, format.OptionError("kms_key_id", "applies only with sse = \"aws:kms\"")
	}
	if o.storageClass != "" {
		known := false
		for _, sc := range o.storageClass.Values() {
			if sc == o.storageClass {
				known = true
			}
		}
		if !known {
			return nil, format.OptionError("storage_class", "unknown storage class %q", o.storageClass)
		}
	}
	seen := map[string]bool{}
	for _, p := range o.partitionBy {
		if seen[p] {
			return nil, format.OptionError("partition_by", "field %q listed twice", p)
		}
		seen[p] = true
	}
	return o, nil
}

// renderPrefix fills the prefix placeholders from the run.
func renderPrefix(tmpl, flow, runID string, at time.Time) string {
	at = at.UTC()
	r := strings.NewReplacer(
		"{flow}", flow, "{run_id}", runID,
		"{yyyy}", fmt.Sprintf("%04d", at.Year()), "{mm}", fmt.Sprintf("%02d", int(at.Month())),
		"{dd}", fmt.Sprintf("%02d", at.Day()), "{hh}", fmt.Sprintf("%02d", at.Hour()),
	)
	return strings.Trim(r.Replace(tmpl), "/")
}

// safeRunID keeps the run id usable inside an object name.
func safeRunID(id string) string {
	if id == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, id)
}

// The s3 sink refuses change-event deletes: it never rewrites an object,
// so a delete could only be added as a row, which readers would take for
// a live record.
const (
	deletesSummary = "the s3 sink cannot delete records"
	deletesDetail  = "it only adds objects; remove deletes = true"
)

var _ sdk.WriteChecker = (*Connector)(nil)

// CheckWrite finds before the run what OpenWriter would refuse without
// calling S3: bad sink attributes and change-event deletes.
func (c *Connector) CheckWrite(ctx context.Context, req sdk.WriteRequest) sdk.Diagnostics {
	_, err := c.parseSinkOptions(req.Options, req.Entity)
	diags := sdk.ErrorDiagnostics("Invalid s3 sink attribute", err)
	if req.Deletes {
		diags = append(diags, sdk.Errorf([]string{"deletes"}, deletesSummary, deletesDetail))
	}
	return diags
}

// OpenWriter starts a write stream. Nothing becomes visible before
// Commit: large objects stay open multipart uploads, small ones stay in
// memory, and Close without Commit aborts the uploads.
func (c *Connector) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	opts, err := c.parseSinkOptions(req.Options, req.Entity)
	if err != nil {
		return nil, err
	}
	switch req.Mode {
	case "", sdk.WriteInsert:
	default:
		return nil, fmt.Errorf("write mode %q: the s3 sink only adds objects (insert)", req.Mode)
	}
	if req.Deletes {
		return nil, fmt.Errorf("deletes: %s: %s", deletesSummary, deletesDetail)
	}
	// Finding out that the bucket is missing at the first part would
	// waste the run.
	if _, err := c.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(opts.bucket)}); err != nil {
		var nf *types.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("s3: bucket %q does not exist at %s", opts.bucket, c.endpoint)
		}
		return nil, c.wrap(err, "open bucket", opts.bucket, "")
	}
	uctx, cancel := context.WithCancel(context.Background())
	w := &writer{
		c:            c,
		StreamSchema: format.StreamSchema{PartitionBy: opts.partitionBy},
		opts:         opts,
		prefix:       renderPrefix(opts.prefix, req.FlowName, req.RunID, time.Now()),
		runID:        safeRunID(req.RunID),
		parts:        map[string]*partition{},
		sem:          make(chan struct{}, partsInFlight),
		ctx:          uctx,
		cancel:       cancel,
	}
	if req.Schema != nil {
		if err := w.SetSchema(req.Schema); err != nil {
			cancel()
			return nil, err
		}
	}
	return w, nil
}

// partition is one key prefix under the writer's: the root, or a Hive
// partition.
type partition struct {
	dir string
	seq int
	cur *outObject
}

// outObject is one object being written.
type outObject struct {
	part      *partition
	key       string
	enc       format.Encoder
	up        *upload
	lastWrite int64
}

type manifestEntry struct {
	URL       string `json:"url"`
	Mandatory bool   `json:"mandatory"`
	Meta      struct {
		ContentLength int64 `json:"content_length"`
	} `json:"meta"`
}

type writer struct {
	c      *Connector
	opts   *sinkOptions
	prefix string
	runID  string
	// StreamSchema pins the stream's schema and its partition fields.
	format.StreamSchema
	noDict  []string
	dictSet bool

	parts     map[string]*partition
	open      []*outObject
	finished  []*outObject // complete, awaiting Commit
	committed []manifestEntry
	small     int64 // bytes of finished objects held for PutObject

	sem    chan struct{}
	ctx    context.Context // uploads; cancelled by Close
	cancel context.CancelFunc

	// Batches are encoded in a goroutine of their own, one at a time, so
	// Write returns while its batch encodes and the next one can arrive
	// meanwhile. enc is closed when the batch being encoded is done (nil:
	// none); encErr is the first encoding error, which every later Write
	// and Commit returns. Only the encoding goroutine touches the objects
	// and the counters below until enc is closed.
	enc    chan struct{}
	encErr error

	written  int64
	reported int64 // of written, what a WriteResult or CommitResult has counted
	tick     int64
	closed   bool
}

// settle waits for the batch being encoded, if any, and returns the first
// encoding error.
func (w *writer) settle() error {
	if w.enc != nil {
		<-w.enc
		w.enc = nil
	}
	return w.encErr
}

// unreported is the bytes written since the last result that counted them.
func (w *writer) unreported() int64 {
	n := w.written - w.reported
	w.reported = w.written
	return n
}

// Write encodes rec in the background and returns: an encoding or upload
// error surfaces at the next Write or at Commit (and aborts the stream, as
// any error does). BytesWritten counts what earlier batches have added by
// then; over a stream, Writes and Commits add up to every byte written.
func (w *writer) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if w.closed {
		return sdk.WriteResult{}, errors.New("write after close")
	}
	if err := ctx.Err(); err != nil {
		return sdk.WriteResult{}, err
	}
	if rec.NumRows() == 0 {
		return sdk.WriteResult{}, nil
	}
	if err := w.settle(); err != nil {
		return sdk.WriteResult{}, err
	}
	rec, err := w.Conform(rec)
	if err != nil {
		return sdk.WriteResult{}, err
	}
	if w.opts.Format == "parquet" && !w.dictSet {
		w.noDict = format.HighCardinality(rec)
		w.dictSet = true
	}
	var res sdk.WriteResult
	var groups []format.PartitionGroup
	if len(w.PartIdx) > 0 {
		groups, res.Rejected = format.GroupRows(rec, w.PartNames, w.PartIdx)
		if len(groups) == 1 && len(res.Rejected) == 0 {
			groups[0].Rows = nil
		}
	}
	res.BytesWritten = w.unreported()
	done := make(chan struct{})
	w.enc = done
	go func() {
		defer close(done)
		defer rec.Release()
		w.encErr = w.encode(rec, groups)
	}()
	return res, nil
}

// encode writes rec, or the groups of its rows, into their objects.
func (w *writer) encode(rec arrow.RecordBatch, groups []format.PartitionGroup) error {
	if len(w.PartIdx) == 0 {
		return w.writeTo("", rec, nil)
	}
	for _, g := range groups {
		if err := w.writeTo(g.Dir, rec, g.Rows); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) writeTo(dir string, rec arrow.RecordBatch, rows []int) error {
	ob, err := w.objectFor(dir)
	if err != nil {
		return err
	}
	w.tick++
	ob.lastWrite = w.tick
	if err := ob.enc.Write(rec, rows); err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", w.opts.bucket, ob.key, err)
	}
	if w.opts.aggregation == "size" && ob.enc.Size() >= w.opts.targetFileSize {
		return w.complete(ob)
	}
	return nil
}

func (w *writer) objectFor(dir string) (*outObject, error) {
	pt := w.parts[dir]
	if pt == nil {
		pt = &partition{dir: dir}
		w.parts[dir] = pt
	}
	if pt.cur != nil {
		return pt.cur, nil
	}
	if len(w.open) >= maxOpenObjects {
		lru := w.open[0]
		for _, ob := range w.open[1:] {
			if ob.lastWrite < lru.lastWrite {
				lru = ob
			}
		}
		if err := w.complete(lru); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("%s-%s-%05d.%s", w.opts.filePrefix, w.runID, pt.seq, w.opts.Ext())
	pt.seq++
	key := joinKey(w.prefix, dir, name)
	ob := &outObject{part: pt, key: key}
	ob.up = &upload{w: w, key: key}
	enc, err := format.NewEncoder(ob.up, w.Schema, w.opts.WriteOptions, format.ParquetWriteOptions{
		TargetFileSize: w.opts.targetFileSize,
		NoDictionary:   w.noDict,
		CreatedBy:      "sluice s3 connector",
		Mem:            w.c.mem,
	})
	if err != nil {
		return nil, err
	}
	ob.enc = enc
	pt.cur = ob
	w.open = append(w.open, ob)
	return ob, nil
}

func joinKey(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, "/")
}

// complete finishes an object's bytes: its last part is uploaded, or, for
// a small object, its bytes wait for Commit.
func (w *writer) complete(ob *outObject) error {
	for i, o := range w.open {
		if o == ob {
			w.open = append(w.open[:i], w.open[i+1:]...)
			break
		}
	}
	ob.part.cur = nil
	w.finished = append(w.finished, ob)
	if err := ob.enc.Finish(); err != nil {
		return fmt.Errorf("complete s3://%s/%s: %w", w.opts.bucket, ob.key, err)
	}
	return ob.up.finish()
}

// Commit completes every object written so far and makes it visible:
// CompleteMultipartUpload for the large ones, PutObject for the small. With
// manifest, <prefix>/manifest.json then lists every object this stream
// committed. Later writes start new objects.
func (w *writer) Commit(ctx context.Context) (sdk.CommitResult, error) {
	if w.closed {
		return sdk.CommitResult{}, errors.New("commit after close")
	}
	if err := w.settle(); err != nil {
		return sdk.CommitResult{}, err
	}
	for len(w.open) > 0 {
		if err := w.complete(w.open[0]); err != nil {
			return sdk.CommitResult{}, err
		}
	}
	// Publish in parallel: a partitioned run can end with many objects.
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	entries := make([]manifestEntry, len(w.finished))
	for i, ob := range w.finished {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := ob.up.publish(ctx)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			e := manifestEntry{URL: "s3://" + w.opts.bucket + "/" + ob.key, Mandatory: true}
			e.Meta.ContentLength = n
			entries[i] = e
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return sdk.CommitResult{}, err
	}
	w.finished = nil
	w.small = 0
	w.committed = append(w.committed, entries...)
	if w.opts.manifest {
		if err := w.writeManifest(ctx); err != nil {
			return sdk.CommitResult{}, err
		}
	}
	return sdk.CommitResult{BytesWritten: w.unreported()}, nil
}

func (w *writer) writeManifest(ctx context.Context) error {
	sort.Slice(w.committed, func(i, j int) bool { return w.committed[i].URL < w.committed[j].URL })
	body, err := json.MarshalIndent(struct {
		Entries []manifestEntry `json:"entries"`
	}{w.committed}, "", "  ")
	if err != nil {
		return err
	}
	key := joinKey(w.prefix, "manifest.json")
	in := &s3.PutObjectInput{Bucket: aws.String(w.opts.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json")}
	w.applyPut(in)
	if _, err := w.c.client.PutObject(ctx, in); err != nil {
		return w.c.wrap(err, "write manifest", w.opts.bucket, key)
	}
	return nil
}

func (w *writer) applyPut(in *s3.PutObjectInput) {
	in.ServerSideEncryption = w.opts.sse
	if w.opts.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(w.opts.kmsKeyID)
	}
	in.StorageClass = w.opts.storageClass
}

// Close discards what was not committed: every multipart upload still open
// is aborted and buffered bytes are dropped, so nothing half written
// appears under a final key.
func (w *writer) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.cancel() // stop parts in flight
	w.settle() // the batch being encoded stops at its next part
	all := append(append([]*outObject(nil), w.open...), w.finished...)
	w.open, w.finished = nil, nil
	actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, ob := range all {
		if err := ob.up.abort(actx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
