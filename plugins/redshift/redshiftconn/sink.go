package redshiftconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/gzip"
	"github.com/sluice-dev/sluice/sdk"
)

// encodeChunk is how much CSV the writer encodes before handing it to the
// compressor.
const encodeChunk = 1 << 20

// writer is one write stream. Write validates and stages rows; Commit
// loads everything staged since the last Commit in one transaction; Close
// without Commit discards it. Not safe for concurrent calls (the engine
// makes none).
type writer struct {
	c     *Connector
	cfg   connConfig
	d     dialect
	opts  sinkOptions
	mode  sdk.WriteMode
	keys  []string
	table tableName
	id    string
	dir   string
	flow  string // names the staging prefix
	run   string
	store ObjectStore

	sess   session
	schema *arrow.Schema
	plan   *schemaPlan
	st     *stager

	staged int64 // rows staged since the last Commit
	seq    int64 // arrival order, across the whole stream
	loads  int
	closed bool
	// rejectOnCommit is the request's: the engine takes rows Redshift
	// refuses at commit, so COPY may skip up to max_load_errors of them.
	rejectOnCommit bool
}

func (c *Connector) openWriter(ctx context.Context, cfg connConfig, req sdk.WriteRequest) (*writer, error) {
	opts, err := parseSinkOptions(req.Options, req.Entity)
	if err != nil {
		return nil, err
	}
	d := cfg.dialect()
	table, err := d.parseTable(opts.table)
	if err != nil {
		return nil, err
	}
	mode := req.Mode
	if mode == "" {
		mode = sdk.WriteInsert
	}
	switch mode {
	case sdk.WriteInsert, sdk.WriteUpsert, sdk.WriteUpdate, sdk.WriteDelete:
	default:
		return nil, fmt.Errorf("write mode %q: want insert, upsert, update or delete", mode)
	}
	if err := checkDeletes(req).Err(); err != nil {
		return nil, err
	}
	opts.deletes = req.Deletes
	c.mu.Lock()
	store := c.store
	c.mu.Unlock()
	w := &writer{c: c, cfg: cfg, d: d, opts: opts, mode: mode, keys: req.Keys, table: table, id: c.newID(),
		flow: req.FlowName, run: req.RunID, store: store, rejectOnCommit: req.RejectOnCommit}
	w.sess, err = c.open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if req.Schema != nil {
		if err := w.prepare(ctx, req.Schema); err != nil {
			w.sess.Close(context.Background())
			return nil, err
		}
	}
	return w, nil
}

// prepare plans the load of records shaped like schema and starts staging.
func (w *writer) prepare(ctx context.Context, schema *arrow.Schema) error {
	plan, err := planSchema(ctx, w.sess, w.d, w.table, schema, w.mode, w.keys, w.opts)
	if err != nil {
		return err
	}
	for _, f := range plan.fields {
		if _, err := newEncoder(w.d, f.field, f.col, emptyArray(f.field.Type), encodeOptions{}); err != nil {
			return err
		}
	}
	if len(plan.ignored) > 0 {
		slog.Warn("fields without a column are not loaded (on_schema_change = ignore)", "table", plan.table.String(), "fields", plan.ignored)
	}
	dir, err := os.MkdirTemp("", "sluice-redshift-"+w.id+"-")
	if err != nil {
		return err
	}
	if w.opts.keepStaging {
		slog.Info("staged files are kept", "dir", dir)
	}
	w.schema, w.plan, w.dir = schema, plan, dir
	// Redshift mode uploads the parts, so they are compressed properly;
	// PostgreSQL mode reads them back from local disk at once, where
	// Huffman-only gzip (several times faster, still gzip) is enough.
	level := gzip.BestSpeed
	if !w.d.redshift {
		level = gzip.HuffmanOnly
	}
	w.st = newStager(dir, w.opts.partSize, level)
	return nil
}

// Write validates each row against Redshift's limits and the target's
// columns; rows that pass are staged as CSV, the others come back as
// rejected rows with a reason naming the field.
func (w *writer) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if w.closed {
		return sdk.WriteResult{}, errors.New("redshift: write after close")
	}
	if err := ctx.Err(); err != nil {
		return sdk.WriteResult{}, err
	}
	if w.schema == nil {
		if err := w.prepare(ctx, rec.Schema()); err != nil {
			return sdk.WriteResult{}, fmt.Errorf("redshift: %w", err)
		}
	} else if !sameShape(w.schema, rec.Schema()) {
		return sdk.WriteResult{}, fmt.Errorf("redshift: batch schema %s differs from the stream's %s", rec.Schema(), w.schema)
	}
	cols := make([]batchColumn, len(w.plan.fields))
	eo := encodeOptions{truncateNanos: w.opts.truncateNanos}
	for i := range w.plan.fields {
		fp := &w.plan.fields[i]
		arr := rec.Column(fp.idx)
		enc, err := newEncoder(w.d, fp.field, fp.col, arr, eo)
		if err != nil {
			return sdk.WriteResult{}, fmt.Errorf("redshift: %w", err)
		}
		cols[i] = batchColumn{enc: enc, arr: arr, nulls: arr.NullN() > 0, fp: fp}
	}
	var change *changeReader
	if w.plan.change >= 0 {
		var err error
		if change, err = newChangeReader(rec.Column(w.plan.change)); err != nil {
			return sdk.WriteResult{}, fmt.Errorf("redshift: %w", err)
		}
	}
	n := int(rec.NumRows())
	// Large batches encode in two halves at once; the halves are staged
	// in order, so arrival order (and the sequence column) is kept.
	var parts [2]encoded
	if n >= parallelRows {
		mid := n / 2
		done := make(chan struct{})
		go func() {
			parts[1] = w.encodeRange(cols, change, mid, n, w.seq)
			close(done)
		}()
		parts[0] = w.encodeRange(cols, change, 0, mid, w.seq)
		<-done
	} else {
		parts[0] = w.encodeRange(cols, change, 0, n, w.seq)
	}
	w.seq += int64(n)
	var res sdk.WriteResult
	for _, p := range parts {
		for _, buf := range p.chunks {
			w.st.add(buf)
		}
		res.Rejected = append(res.Rejected, p.rejected...)
		w.staged += p.rows
	}
	return res, nil
}

// parallelRows is the batch size from which Write encodes on two
// goroutines.
const parallelRows = 8192

type batchColumn struct {
	enc   encodeFunc
	arr   arrow.Array
	nulls bool
	fp    *fieldPlan
}

type encoded struct {
	chunks   [][]byte
	rejected []sdk.RejectedRow
	rows     int64
}

// encodeRange encodes rows [from, to) as CSV chunks. The sequence number
// of row i is seq0+i: increasing in arrival order across the stream.
// With change (deletes), a delete row stages its key and NULL elsewhere:
// its other fields are not loaded, so they are not checked either.
func (w *writer) encodeRange(cols []batchColumn, change *changeReader, from, to int, seq0 int64) encoded {
	var out encoded
	keyed := w.mode != sdk.WriteInsert
	buf := w.st.buffer()
rows:
	for i := from; i < to; i++ {
		start := len(buf)
		deleted := false
		if change != nil {
			var reason string
			if deleted, reason = change.deleted(i); reason != "" {
				out.rejected = append(out.rejected, sdk.RejectedRow{Row: i, Reason: reason})
				continue
			}
		}
		for c := range cols {
			if c > 0 {
				buf = append(buf, ',')
			}
			cl := &cols[c]
			if deleted && !cl.fp.key {
				buf = append(buf, nullSentinel...)
				continue
			}
			if cl.nulls && cl.arr.IsNull(i) {
				if cl.fp.nonull {
					buf = buf[:start]
					out.rejected = append(out.rejected, sdk.RejectedRow{Row: i,
						Reason: fmt.Sprintf("field %q: key is null; %s matches rows by key", cl.fp.field.Name, w.mode)})
					continue rows
				}
				buf = append(buf, nullSentinel...)
				continue
			}
			var reason string
			buf, reason = cl.enc(buf, i)
			if reason != "" {
				buf = buf[:start]
				out.rejected = append(out.rejected, sdk.RejectedRow{Row: i, Reason: reason})
				continue rows
			}
		}
		if keyed {
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, seq0+int64(i), 10)
		}
		if change != nil {
			buf = strconv.AppendBool(append(buf, ','), deleted)
		}
		buf = append(buf, '\n')
		out.rows++
		if len(buf) >= encodeChunk {
			out.chunks = append(out.chunks, buf)
			buf = w.st.buffer()
		}
	}
	if len(buf) > 0 {
		out.chunks = append(out.chunks, buf)
	}
	return out
}

// maxErrors is the load's MAXERROR: rows COPY may skip, which Commit then
// returns as refused. Without RejectOnCommit the engine would not take
// them, so the first refused row fails the load.
func (w *writer) maxErrors() int {
	if !w.rejectOnCommit || !w.d.redshift {
		return 0
	}
	return w.opts.maxLoadErrors
}

// Commit loads every row staged since the last Commit, in one transaction,
// retrying serialization conflicts with backoff. It returns the bytes of
// CSV staged and the rows Redshift refused (see maxErrors).
func (w *writer) Commit(ctx context.Context) (sdk.CommitResult, error) {
	if w.closed {
		return sdk.CommitResult{}, errors.New("redshift: commit after close")
	}
	if w.st == nil || w.staged == 0 {
		if w.st != nil {
			if _, err := w.st.flush(); err != nil {
				return sdk.CommitResult{}, fmt.Errorf("redshift: %w", err)
			}
			w.st.forget(false)
		}
		return sdk.CommitResult{}, nil
	}
	parts, err := w.st.flush()
	if err != nil {
		return sdk.CommitResult{}, fmt.Errorf("redshift: %w", err)
	}
	var csvBytes int64
	for _, p := range parts {
		csvBytes += p.CSVBytes
	}
	w.loads++
	var rejected []sdk.CommitRejection
	for attempt := 0; ; attempt++ {
		rejected, err = w.load(ctx, parts)
		if err == nil {
			break
		}
		if !retryable(err) || attempt >= w.opts.maxRetries {
			return sdk.CommitResult{}, fmt.Errorf("redshift: load into %s: %w", w.plan.table, err)
		}
		wait := backoff(attempt)
		slog.Warn("serialization conflict; retrying the load", "table", w.plan.table.String(), "attempt", attempt+1, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return sdk.CommitResult{}, fmt.Errorf("redshift: load into %s: %w", w.plan.table, ctx.Err())
		case <-time.After(wait):
		}
	}
	w.st.forget(w.opts.keepStaging)
	w.staged = 0
	if len(rejected) > 0 {
		slog.Warn("Redshift refused rows; the others are loaded", "table", w.plan.table.String(), "refused", len(rejected),
			"first", rejected[0].Reason)
	}
	return sdk.CommitResult{BytesWritten: csvBytes, Rejected: rejected}, nil
}

// backoff is 100ms doubled per attempt, at most 5s, with ±25% jitter.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = min(d, 5*time.Second)
	return d*3/4 + time.Duration(rand.Int64N(int64(d/2)))
}

// load runs one attempt: plan against the table as it is now, then BEGIN,
// DDL, stage, COPY, de-duplicate, merge, COMMIT. Any error rolls it all
// back. In Redshift mode the parts and the manifest are uploaded first and
// removed after the commit (unless keep_staging); a failed load leaves
// them for inspection. It returns the rows Redshift refused (the merge ran
// without them).
func (w *writer) load(ctx context.Context, parts []part) ([]sdk.CommitRejection, error) {
	if w.sess.Closed() {
		// The connection died in an earlier attempt: a new one is safe,
		// since nothing of that attempt was committed.
		w.sess.Close(context.Background())
		s, err := w.c.open(ctx, w.cfg)
		if err != nil {
			return nil, err
		}
		w.sess = s
	}
	plan, err := planSchema(ctx, w.sess, w.d, w.table, w.schema, w.mode, w.keys, w.opts)
	if err != nil {
		return nil, err
	}
	if !sameFields(plan, w.plan) {
		return nil, fmt.Errorf("table %s changed while the stream was open; run again", plan.table)
	}
	q := w.loadSQL(plan)
	if !w.d.redshift {
		ingest, err := w.postgresIngest(q, parts)
		if err != nil {
			return nil, err
		}
		return nil, w.inTransaction(ctx, q, plan, ingest)
	}
	up, err := w.upload(ctx, parts)
	if err != nil {
		return nil, err
	}
	var rejected []sdk.CommitRejection
	if b, ok := w.sess.(batcher); ok {
		rejected, err = w.batchLoad(ctx, b, q, plan, up)
	} else {
		err = w.inTransaction(ctx, q, plan, func(ctx context.Context) (err error) {
			rejected, err = w.copyS3(ctx, q, up)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	w.removeStaged(up)
	return rejected, nil
}

func sameFields(a, b *schemaPlan) bool {
	if len(a.fields) != len(b.fields) {
		return false
	}
	for i := range a.fields {
		if a.fields[i].name != b.fields[i].name || a.fields[i].col.Kind != b.fields[i].col.Kind {
			return false
		}
	}
	return true
}

func (w *writer) loadSQL(plan *schemaPlan) *loadSQL {
	q := &loadSQL{d: w.d, table: plan.table, mode: w.mode, keys: plan.keys, deletes: w.opts.deletes,
		stage:   fmt.Sprintf("sluice_stage_%s_%d", w.id, w.loads),
		dedup:   fmt.Sprintf("sluice_dedup_%s_%d", w.id, w.loads),
		distKey: foldIdent(w.opts.distKey)}
	for _, k := range w.opts.sortKey {
		q.sortKey = append(q.sortKey, foldIdent(k))
	}
	for _, f := range plan.fields {
		q.cols = append(q.cols, f.name)
		if f.isNew {
			c := column{Name: f.name, Type: f.col}
			if plan.exists {
				q.add = append(q.add, c)
			} else {
				q.create = append(q.create, c)
			}
		}
	}
	return q
}

// txStatements are a load's statements inside its transaction, before
// and after the ingest (COPY): the same text for every transport.
func (w *writer) txStatements(q *loadSQL, plan *schemaPlan) (before, after []string) {
	if !plan.exists {
		before = append(before, q.createTable())
	}
	if l := q.lock(); l != "" {
		before = append(before, l)
	}
	for _, c := range q.add {
		before = append(before, q.addColumn(c))
	}
	if q.keyed() {
		before = append(before, q.createStage()...)
		after = append([]string{q.dedupe()}, q.merge()...)
		after = append(after, q.dropStage()...)
	}
	return before, after
}

// inTransaction runs a load statement by statement on the pinned wire
// session.
func (w *writer) inTransaction(ctx context.Context, q *loadSQL, plan *schemaPlan, ingest func(context.Context) error) (err error) {
	if err := w.sess.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() {
		if err != nil && !w.sess.Closed() {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if rerr := w.sess.Exec(rctx, "ROLLBACK"); rerr != nil {
				slog.Warn("rollback failed", "err", rerr)
			}
		}
	}()
	before, after := w.txStatements(q, plan)
	for _, s := range before {
		if err := w.sess.Exec(ctx, s); err != nil {
			return err
		}
	}
	if err := ingest(ctx); err != nil {
		return err
	}
	for _, s := range after {
		if err := w.sess.Exec(ctx, s); err != nil {
			return err
		}
	}
	return w.sess.Exec(ctx, "COMMIT")
}

// batchLoad sends the whole transaction, BEGIN to COMMIT, as one batch:
// the statements are the wire transport's, in the same order. The batch
// cannot stop itself between statements, so the row count COPY reports is
// compared after the batch has committed. Fewer rows than staged are the
// rows MAXERROR let COPY skip: they are read back from
// sys_load_error_detail, which any session can read for the load's prefix,
// with the wire transport's SQL. The mandatory manifest entries make COPY
// fail rather than skip a file.
func (w *writer) batchLoad(ctx context.Context, b batcher, q *loadSQL, plan *schemaPlan, up *uploaded) ([]sdk.CommitRejection, error) {
	before, after := w.txStatements(q, plan)
	stmts := append([]string{"BEGIN"}, before...)
	copyAt := len(stmts)
	stmts = append(stmts, q.copyFromS3(up.manifest, w.cfg.iamRole, w.cfg.region, w.maxErrors()), q.lastCopyCount())
	stmts = append(stmts, after...)
	stmts = append(stmts, "COMMIT")
	res, err := b.Batch(ctx, stmts)
	if err != nil {
		var de *dataAPIError
		if errors.As(err, &de) && de.Index == copyAt && !retryable(err) {
			return nil, w.batchLoadErrors(up, err)
		}
		return nil, err
	}
	got := res[copyAt+1]
	loaded, ok := copyCount(got)
	switch {
	case !ok || loaded > up.rows || loaded < up.rows && w.maxErrors() == 0:
		return nil, fmt.Errorf("the load was committed, but COPY reports %v rows where %d were staged: check %s (the staged files are kept)",
			got, up.rows, plan.table)
	case loaded == up.rows:
		return nil, nil
	}
	rejected, err := w.refusedRows(ctx, up, up.rows-loaded)
	if err != nil {
		return nil, fmt.Errorf("the load was committed without %d of the %d staged rows, which Redshift refused: %w (check %s; the staged files are kept)",
			up.rows-loaded, up.rows, err, plan.table)
	}
	return rejected, nil
}

// copyCount reads pg_last_copy_count()'s answer.
func copyCount(rows [][]string) (int64, bool) {
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(rows[0][0], 10, 64)
	return n, err == nil && n >= 0
}

// batchLoadErrors reads sys_load_error_detail for the load's prefix in a
// statement of its own (the failed batch has rolled back; stl_load_errors
// is no fallback here: pg_last_copy_id() belongs to the batch's session).
func (w *writer) batchLoadErrors(up *uploaded, copyErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := w.sess.Query(ctx, loadErrorsSQL(up.prefix, failedLoadErrors))
	if err != nil || len(rows) == 0 {
		return copyErr
	}
	return fmt.Errorf("%w\n%s", copyErr, w.describeRefused(rows, up.parts))
}

// postgresIngest feeds the staged parts, in manifest order, to COPY … FROM
// STDIN: the same files Redshift mode uploads.
func (w *writer) postgresIngest(q *loadSQL, parts []part) (func(context.Context) error, error) {
	urls, sizes := make([]string, len(parts)), make([]int64, len(parts))
	for i, p := range parts {
		urls[i], sizes[i] = fileURL(p.Path), p.GzBytes
	}
	m, err := buildManifest(urls, sizes)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(w.dir, fmt.Sprintf("manifest-%d.json", w.loads))
	if err := os.WriteFile(mpath, m, 0o600); err != nil {
		return nil, err
	}
	want := w.staged
	return func(ctx context.Context) error {
		paths := make([]string, len(urls))
		for i, u := range urls {
			if paths[i], err = localPath(u); err != nil {
				return err
			}
		}
		r, err := openParts(paths)
		if err != nil {
			return err
		}
		defer r.Close()
		n, err := w.sess.CopyFrom(ctx, r, q.copyFromStdin())
		if err != nil {
			return w.pgCopyError(err, paths)
		}
		if n != want {
			return fmt.Errorf("COPY loaded %d rows, %d were staged", n, want)
		}
		return nil
	}, nil
}

// uploaded is one load's staged objects.
type uploaded struct {
	prefix   string   // s3://bucket/…/<per-load>/
	manifest string   // the manifest's URL
	objects  []string // every URL, the manifest last
	rows     int64    // rows staged
	// parts are the local files uploaded (each under its own base name),
	// read again to find the rows Redshift refused.
	parts []part
}

// upload puts the parts and then the manifest under the load's prefix.
func (w *writer) upload(ctx context.Context, parts []part) (*uploaded, error) {
	if w.cfg.staging == "" {
		return nil, errors.New("redshift mode needs a staging location (staging = \"s3://bucket/prefix/\"), from which COPY reads the files")
	}
	if w.store == nil {
		return nil, errors.New("redshift mode: the staging bucket's S3 client is not configured")
	}
	prefix := w.stagingPrefix()
	urls, sizes := make([]string, len(parts)), make([]int64, len(parts))
	for i, p := range parts {
		urls[i], sizes[i] = prefix+path.Base(p.Path), p.GzBytes
		f, err := os.Open(p.Path)
		if err != nil {
			return nil, err
		}
		err = w.store.Put(ctx, urls[i], f, p.GzBytes)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("staging the load's files: %w", err)
		}
	}
	m, err := buildManifest(urls, sizes)
	if err != nil {
		return nil, err
	}
	murl := prefix + "manifest.json"
	if err := w.store.Put(ctx, murl, bytes.NewReader(m), int64(len(m))); err != nil {
		return nil, fmt.Errorf("staging the load's manifest: %w", err)
	}
	return &uploaded{prefix: prefix, manifest: murl, objects: append(urls, murl), rows: w.staged, parts: parts}, nil
}

// copyS3 is the wire transport's ingest: COPY from the manifest, then the
// row count check, inside the open transaction. Rows MAXERROR let COPY
// skip are read back in the same session and transaction, before the
// merge (which goes on without them); if they cannot all be named, the
// load fails and rolls back.
func (w *writer) copyS3(ctx context.Context, q *loadSQL, up *uploaded) ([]sdk.CommitRejection, error) {
	if err := w.sess.Exec(ctx, q.copyFromS3(up.manifest, w.cfg.iamRole, w.cfg.region, w.maxErrors())); err != nil {
		return nil, w.loadErrors(up, err)
	}
	rows, err := w.sess.Query(ctx, q.lastCopyCount())
	if err != nil {
		return nil, err
	}
	loaded, ok := copyCount(rows)
	switch {
	case !ok || loaded > up.rows || loaded < up.rows && w.maxErrors() == 0:
		return nil, fmt.Errorf("COPY loaded %v rows, %d were staged", rows, up.rows)
	case loaded == up.rows:
		return nil, nil
	}
	return w.refusedRows(ctx, up, up.rows-loaded)
}

// removeStaged deletes a committed load's objects unless keep_staging. A
// failure is logged: the data is loaded.
func (w *writer) removeStaged(up *uploaded) {
	if w.opts.keepStaging {
		slog.Info("staged objects are kept", "prefix", up.prefix)
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.store.Delete(dctx, up.objects); err != nil {
		slog.Warn("could not remove staged objects", "prefix", up.prefix, "err", err)
	}
}

// stagingPrefix is the load's own prefix under staging:
// [flow/][run/]<stream id>-<commit sequence>/. The flow and run names are
// reduced to characters that are safe in S3 keys, SQL literals and LIKE
// patterns.
func (w *writer) stagingPrefix() string {
	base := strings.TrimSuffix(w.cfg.staging, "/") + "/"
	for _, p := range []string{w.flow, w.run} {
		if p = keySafe(p); p != "" {
			base += p + "/"
		}
	}
	return fmt.Sprintf("%s%s-%d/", base, w.id, w.loads)
}

// keySafe keeps ASCII letters, digits, '.', '-' and '_' (at most 100
// bytes); anything else becomes '_'.
func keySafe(s string) string {
	b := []byte(s)
	if len(b) > 100 {
		b = b[:100]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return strings.Trim(string(b), ".")
}

// loadErrors turns a failed Redshift COPY into an error listing the rows
// Redshift refused, read back from sys_load_error_detail (stl_load_errors
// on clusters without it). The transaction is rolled back first: the
// error views are readable outside it.
func (w *writer) loadErrors(up *uploaded, copyErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.sess.Closed() || retryable(copyErr) {
		return copyErr
	}
	if err := w.sess.Exec(ctx, "ROLLBACK"); err != nil {
		return copyErr
	}
	rows, err := w.sess.Query(ctx, loadErrorsSQL(up.prefix, failedLoadErrors))
	if err != nil || len(rows) == 0 {
		rows, err = w.sess.Query(ctx, stlLoadErrorsSQL())
	}
	if err != nil || len(rows) == 0 {
		return copyErr
	}
	return fmt.Errorf("%w\n%s", copyErr, w.describeRefused(rows, up.parts))
}

// Close discards whatever was staged since the last Commit and releases
// the connection.
func (w *writer) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.st != nil {
		w.st.close(w.opts.keepStaging && w.loads > 0)
	}
	if w.sess != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.sess.Close(cctx)
	}
	return nil
}
