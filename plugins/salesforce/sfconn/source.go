package sfconn

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-dev/sluice/sdk"
)

// DefaultBulkThreshold is the record count from which api = "auto" reads
// with Bulk API 2.0 instead of REST query paging (see doc.go for how it
// was measured).
const DefaultBulkThreshold = 50_000

var sourceAttributes = []sdk.Attribute{
	{Name: "object", Type: sdk.TypeString, Entity: true, Required: true,
		Description: "The object to read, e.g. Account or Invoice__c."},
	{Name: "where", Type: sdk.TypeString,
		Description: "A SOQL condition added to the query's WHERE clause, e.g. \"Industry = 'Energy' AND IsDeleted = false\"."},
	{Name: "api", Type: sdk.TypeString, Default: "auto",
		Description: "auto (Bulk API 2.0 from bulk_threshold records, REST below), rest or bulk."},
	{Name: "bulk_threshold", Type: sdk.TypeInt, Default: int64(DefaultBulkThreshold),
		Description: "With api = auto: a SELECT COUNT() at or above this uses Bulk API 2.0."},
	{Name: "include_deleted", Type: sdk.TypeBool, Default: false,
		Description: "Read deleted and merged records too (queryAll); IsDeleted tells them apart."},
	{Name: "cursor", Type: sdk.TypeString, Default: "SystemModstamp",
		Description: "Datetime field that orders the read and positions checkpoints, so the next run resumes after it; empty reads unordered without checkpoints."},
	{Name: "bulk_parallelism", Type: sdk.TypeInt, Default: int64(4),
		Description: "Bulk result pages downloaded and parsed at once; records are still delivered in order."},
	{Name: "bulk_page_records", Type: sdk.TypeInt, Default: int64(0),
		Description: "maxRecords per Bulk result page; 0 leaves it to Salesforce."},
}

type sourceOptions struct {
	object, where, api, cursor string
	threshold                  int64
	deleted                    bool
	parallel, pageRecords      int
}

func parseSourceOptions(v sdk.Values, entity string) (*sourceOptions, error) {
	o := &sourceOptions{
		object:      v.String("object", entity),
		where:       strings.TrimSpace(v.String("where", "")),
		api:         v.String("api", "auto"),
		cursor:      v.String("cursor", "SystemModstamp"),
		threshold:   v.Int("bulk_threshold", DefaultBulkThreshold),
		deleted:     v.Bool("include_deleted", false),
		parallel:    int(v.Int("bulk_parallelism", 4)),
		pageRecords: int(v.Int("bulk_page_records", 0)),
	}
	if entity != "" {
		o.object = entity
	}
	switch o.api {
	case "auto", "rest", "bulk":
	default:
		return nil, fmt.Errorf("salesforce: api = %q: want auto, rest or bulk", o.api)
	}
	o.parallel = max(o.parallel, 1)
	return o, nil
}

// checkpoint is a read position: every record with cursor < Value, and
// those with cursor == Value whose Id is in IDs, were delivered.
type checkpoint struct {
	Cursor string   `json:"cursor"`
	Value  string   `json:"value"`
	IDs    []string `json:"ids,omitempty"`
}

// readPlan is a read settled before anything is queried: its options,
// the object, the SOQL and the emitter that turns rows into batches.
type readPlan struct {
	o     *sourceOptions
	obj   *sfObject
	e     *emitter
	soql  string
	where string // " WHERE ...", or empty
}

// plan builds the query a read of req runs; Read and Partitions share it,
// so a partitioned read queries exactly what the unpartitioned one would.
func (c *Connector) plan(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) (*readPlan, error) {
	o, err := parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return nil, err
	}
	obj, err := c.describe(ctx, o.object)
	if err != nil {
		return nil, err
	}
	fields, err := obj.selectFields(req.Fields)
	if err != nil {
		return nil, err
	}
	// The query selects the output fields plus Id and the cursor, which
	// checkpoints need.
	e := c.newEmitter(ctx, out, fields, req.Limits)
	var conds []string
	if o.where != "" {
		conds = append(conds, "("+o.where+")")
	}
	conds = append(conds, soqlFilters(obj, req.Filters)...)
	order := ""
	if o.cursor != "" {
		cf := obj.field(o.cursor)
		if cf == nil {
			return nil, fmt.Errorf("salesforce: cursor: no field %q on %s%s", o.cursor, obj.Name, suggest(obj, o.cursor))
		}
		if cf.Type != "datetime" && cf.Type != "date" {
			return nil, fmt.Errorf("salesforce: cursor: %s.%s is a %s field; a cursor must be a datetime (SystemModstamp, LastModifiedDate, ...)", obj.Name, cf.Name, cf.Type)
		}
		if err := e.track(obj, cf); err != nil {
			return nil, err
		}
		if len(req.Checkpoint) > 0 {
			t, err := e.resume(req.Checkpoint)
			if err != nil {
				return nil, err
			}
			// >= on the second (SOQL datetime literals have no fractions),
			// then the emitter drops what the checkpoint already covers.
			lit := t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
			if cf.Type == "date" {
				lit = t.UTC().Format("2006-01-02")
			}
			conds = append(conds, cf.Name+" >= "+lit)
		}
		conds = append(conds, windowConds(req.Window, cf, len(req.Checkpoint) > 0)...)
		order = " ORDER BY " + cf.Name + " ASC"
	}
	names := make([]string, len(e.qfields))
	for i, f := range e.qfields {
		names[i] = f.Name
	}
	p := &readPlan{o: o, obj: obj, e: e}
	p.soql = "SELECT " + strings.Join(names, ", ") + " FROM " + obj.Name
	if len(conds) > 0 {
		p.where = " WHERE " + strings.Join(conds, " AND ")
	}
	p.soql += p.where + order
	return p, nil
}

// useBulk says whether the read goes through Bulk API 2.0, counting the
// records for api = "auto"; n is that count, or -1 when not counted.
func (c *Connector) useBulk(ctx context.Context, p *readPlan) (bulk bool, n int64, err error) {
	switch p.o.api {
	case "bulk":
		return true, -1, nil
	case "rest":
		return false, -1, nil
	}
	n, err = c.count(ctx, p.obj.Name, p.where, p.o.deleted)
	if err != nil {
		return false, 0, err
	}
	return n >= p.o.threshold, n, nil
}

// Read queries the object, with REST paging or a Bulk API 2.0 job, and
// sends typed batches; with a cursor it checkpoints after each batch. With
// a partition it reads that part alone (see Partitions).
func (c *Connector) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	if len(req.Partition) > 0 {
		return c.readPartition(ctx, req, out)
	}
	p, err := c.plan(ctx, req, out)
	if err != nil {
		return err
	}
	bulk, _, err := c.useBulk(ctx, p)
	if err != nil {
		return err
	}
	c.lastAPI.Store(map[bool]string{true: "bulk", false: "rest"}[bulk])
	if bulk {
		err = c.readBulk(ctx, p.soql, p.o, p.e)
	} else {
		err = c.readREST(ctx, p.soql, p.o.deleted, p.e)
	}
	if err != nil {
		p.e.release()
		return err
	}
	return p.e.flush()
}

// newEmitter starts an emitter of fields, which are queried first.
func (c *Connector) newEmitter(ctx context.Context, out sdk.RecordSender, fields []*sfField, limits sdk.Limits) *emitter {
	if limits.MaxRows <= 0 {
		limits.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	return &emitter{ctx: ctx, out: out, mem: c.mem, fields: fields, schema: schemaOf(fields), limits: limits,
		curQ: -1, idQ: -1, qfields: append([]*sfField(nil), fields...)}
}

// queried returns f's index among the queried fields, adding it if needed.
func (e *emitter) queried(f *sfField) int {
	for i, q := range e.qfields {
		if q == f {
			return i
		}
	}
	e.qfields = append(e.qfields, f)
	return len(e.qfields) - 1
}

// track makes the emitter follow cursor field cf (and Id) for checkpoints.
func (e *emitter) track(obj *sfObject, cf *sfField) error {
	idf := obj.field("Id")
	if idf == nil {
		return fmt.Errorf("salesforce: %s has no Id field", obj.Name)
	}
	e.cursor, e.curType = cf.Name, cf.Type
	e.curQ, e.idQ = e.queried(cf), e.queried(idf)
	return nil
}

// resume makes the emitter drop the records checkpoint covers; it returns
// the checkpoint's cursor value.
func (e *emitter) resume(raw []byte) (time.Time, error) {
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return time.Time{}, fmt.Errorf("salesforce: checkpoint %q: %w", raw, err)
	}
	if !strings.EqualFold(cp.Cursor, e.cursor) {
		return time.Time{}, fmt.Errorf("salesforce: the checkpoint is a position of cursor %q, but the source's cursor is %q; reset the flow's state", cp.Cursor, e.cursor)
	}
	t, err := parseTime(e.curType, cp.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("salesforce: checkpoint value %q: %w", cp.Value, err)
	}
	e.skipBefore, e.haveSkip = t, true
	e.skipIDs = map[string]bool{}
	for _, id := range cp.IDs {
		e.skipIDs[id] = true
	}
	e.last, e.lastIDs = t, cp.IDs
	return t, nil
}

// count runs SELECT COUNT() with the read's conditions.
func (c *Connector) count(ctx context.Context, object, where string, deleted bool) (int64, error) {
	var res struct {
		TotalSize int64 `json:"totalSize"`
	}
	path := "query"
	if deleted {
		path = "queryAll"
	}
	err := c.cl.doJSON(ctx, request{method: "GET", path: path, query: url.Values{"q": {"SELECT COUNT() FROM " + object + where}}}, &res)
	return res.TotalSize, err
}

// cell is one value as text: REST JSON literals or Bulk CSV cells.
type cell struct {
	s    string
	null bool
}

// readREST pages through query (or queryAll) results.
func (c *Connector) readREST(ctx context.Context, soql string, deleted bool, e *emitter) error {
	path := "query"
	if deleted {
		path = "queryAll"
	}
	row := make([]cell, len(e.qfields))
	return c.queryEach(ctx, path, soql, func(rec map[string]json.RawMessage) error {
		for i, f := range e.qfields {
			row[i] = jsonCell(rec[f.Name])
		}
		return e.add(row)
	})
}

// queryEach pages through a SOQL query's records.
func (c *Connector) queryEach(ctx context.Context, path, soql string, each func(map[string]json.RawMessage) error) error {
	q := url.Values{"q": {soql}}
	for {
		var page struct {
			Done           bool                         `json:"done"`
			NextRecordsURL string                       `json:"nextRecordsUrl"`
			Records        []map[string]json.RawMessage `json:"records"`
		}
		if err := c.cl.doJSON(ctx, request{method: "GET", path: path, query: q}, &page); err != nil {
			return err
		}
		for _, rec := range page.Records {
			if err := each(rec); err != nil {
				return err
			}
		}
		if page.Done || page.NextRecordsURL == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		path, q = page.NextRecordsURL, nil
	}
}

func jsonCell(raw json.RawMessage) cell {
	if len(raw) == 0 || string(raw) == "null" {
		return cell{null: true}
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return cell{s: s}
		}
	}
	return cell{s: string(raw)}
}

// bulkPage is one downloaded and parsed result page.
type bulkPage struct {
	rows [][]string
	head []string
	err  error
}

// readBulk runs a Bulk API 2.0 query job and streams its result pages:
// the next page is requested as soon as the previous one's locator is
// known, up to bulk_parallelism pages are downloaded and parsed at once,
// and rows are delivered in page order.
func (c *Connector) readBulk(ctx context.Context, soql string, o *sourceOptions, e *emitter) error {
	id, _, err := c.runBulkJob(ctx, soql, o.deleted)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan chan bulkPage, o.parallel)
	sem := make(chan struct{}, o.parallel)
	go func() {
		defer close(pages)
		locator := ""
		for {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			q := url.Values{}
			if locator != "" {
				q.Set("locator", locator)
			}
			if o.pageRecords > 0 {
				q.Set("maxRecords", strconv.Itoa(o.pageRecords))
			}
			res := make(chan bulkPage, 1)
			r := request{method: "GET", path: "jobs/query/" + id + "/results", query: q, accept: "text/csv"}
			resp, err := c.cl.do(ctx, r)
			if err != nil {
				res <- bulkPage{err: err}
				pages <- res
				return
			}
			next := resp.Header.Get("Sforce-Locator")
			go func() {
				defer func() { <-sem }()
				res <- c.parsePage(ctx, resp.Body, id, r)
			}()
			select {
			case pages <- res:
			case <-ctx.Done():
				return
			}
			if next == "" || next == "null" {
				return
			}
			locator = next
		}
	}()
	for res := range pages {
		p := <-res
		if p.err != nil {
			return p.err
		}
		if err := e.addCSV(p.head, p.rows); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// runBulkJob creates a Bulk API 2.0 query job for soql and waits until it
// completes; it returns the job's id and how many records it found. A
// cancelled wait aborts the job.
func (c *Connector) runBulkJob(ctx context.Context, soql string, deleted bool) (string, int64, error) {
	op := "query"
	if deleted {
		op = "queryAll"
	}
	body, _ := json.Marshal(map[string]string{"operation": op, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
	var job struct {
		ID                     string      `json:"id"`
		State                  string      `json:"state"`
		ErrorMessage           string      `json:"errorMessage"`
		NumberRecordsProcessed json.Number `json:"numberRecordsProcessed"`
	}
	if err := c.cl.doJSON(ctx, request{method: "POST", path: "jobs/query", body: body, contentType: "application/json"}, &job); err != nil {
		return "", 0, err
	}
	id := job.ID
	abort := func() {
		// Best effort: a cancelled read should not leave a job running.
		b, _ := json.Marshal(map[string]string{"state": "Aborted"})
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = c.cl.doJSON(actx, request{method: "PATCH", path: "jobs/query/" + id, body: b, contentType: "application/json"}, nil)
	}
	wait := 100 * time.Millisecond
	for job.State != "JobComplete" {
		switch job.State {
		case "Failed", "Aborted":
			return "", 0, fmt.Errorf("salesforce: Bulk query job %s ended %s: %s", id, job.State, job.ErrorMessage)
		}
		if err := sleep(ctx, wait); err != nil {
			abort()
			return "", 0, err
		}
		wait = min(wait*3/2, 5*time.Second)
		if err := c.cl.doJSON(ctx, request{method: "GET", path: "jobs/query/" + id}, &job); err != nil {
			return "", 0, err
		}
	}
	n, _ := job.NumberRecordsProcessed.Int64()
	return id, n, nil
}

// parsePage reads one results page, which request r fetched; a body cut
// short is fetched again.
func (c *Connector) parsePage(ctx context.Context, body io.ReadCloser, id string, r request) bulkPage {
	for attempt := 1; ; attempt++ {
		b, err := io.ReadAll(body)
		body.Close()
		if err == nil {
			r := csv.NewReader(bytes.NewReader(b))
			r.ReuseRecord = false
			recs, err := r.ReadAll()
			if err != nil {
				return bulkPage{err: fmt.Errorf("salesforce: Bulk query job %s: result page: %w", id, err)}
			}
			if len(recs) == 0 {
				return bulkPage{}
			}
			return bulkPage{head: recs[0], rows: recs[1:]}
		}
		if ctx.Err() != nil || attempt >= c.cl.cfg.maxAttempts {
			return bulkPage{err: fmt.Errorf("salesforce: Bulk query job %s: reading a result page: %w", id, err)}
		}
		resp, err := c.cl.do(ctx, r)
		if err != nil {
			return bulkPage{err: err}
		}
		body = resp.Body
	}
}

// emitter turns rows into batches within the limits and checkpoints after
// each batch.
type emitter struct {
	ctx     context.Context
	out     sdk.RecordSender
	mem     memory.Allocator
	schema  *arrow.Schema
	fields  []*sfField // output fields
	qfields []*sfField // queried fields: the output ones first
	limits  sdk.Limits

	b      *array.RecordBuilder
	rows   int
	nbytes int

	cursor, curType string
	curQ, idQ       int
	haveSkip        bool
	skipBefore      time.Time
	skipIDs         map[string]bool
	last            time.Time
	lastIDs         []string
	dirty           bool // a record advanced the position since the last checkpoint
	// partial: the read is one partition, whose position would claim
	// records of the others; it sends no checkpoints.
	partial bool

	csvIdx []int // per query field: its column in the current CSV page
	csvRow []cell
}

func (e *emitter) release() {
	if e.b != nil {
		e.b.Release()
		e.b = nil
	}
}

// add appends one row (cells indexed like qfields).
func (e *emitter) add(row []cell) error {
	if e.curQ >= 0 && !row[e.curQ].null {
		t, err := parseTime(e.curType, row[e.curQ].s)
		if err != nil {
			return fmt.Errorf("salesforce: %s value %q: %w", e.cursor, row[e.curQ].s, err)
		}
		id := row[e.idQ].s
		if e.haveSkip && (t.Before(e.skipBefore) || (t.Equal(e.skipBefore) && e.skipIDs[id])) {
			return nil // delivered by an earlier run
		}
		if t.Equal(e.last) {
			e.lastIDs = append(e.lastIDs, id)
		} else {
			e.last, e.lastIDs = t, []string{id}
		}
		e.dirty = true
	}
	if e.b == nil {
		e.b = array.NewRecordBuilder(e.mem, e.schema)
	}
	for i, f := range e.fields {
		n, err := appendCell(e.b.Field(i), f, row[i])
		if err != nil {
			return fmt.Errorf("salesforce: %s value %q: %w", f.Name, row[i].s, err)
		}
		e.nbytes += n
	}
	e.rows++
	if e.rows >= e.limits.MaxRows || e.nbytes >= e.limits.MaxBytes {
		return e.flush()
	}
	return nil
}

// addCSV appends the rows of one Bulk result page.
func (e *emitter) addCSV(head []string, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	if e.csvIdx == nil {
		e.csvIdx = make([]int, len(e.qfields))
		e.csvRow = make([]cell, len(e.qfields))
	}
	for i, f := range e.qfields {
		e.csvIdx[i] = -1
		for j, h := range head {
			if strings.EqualFold(h, f.Name) {
				e.csvIdx[i] = j
			}
		}
		if e.csvIdx[i] < 0 {
			return fmt.Errorf("salesforce: the Bulk results have no column %s (header %v)", f.Name, head)
		}
	}
	for _, r := range rows {
		for i, j := range e.csvIdx {
			if j >= len(r) || r[j] == "" {
				e.csvRow[i] = cell{null: true} // Bulk CSV cannot tell null from ""
			} else {
				e.csvRow[i] = cell{s: r[j]}
			}
		}
		if err := e.add(e.csvRow); err != nil {
			return err
		}
	}
	return nil
}

// flush sends the pending rows and checkpoints after them.
func (e *emitter) flush() error {
	if e.b == nil || e.rows == 0 {
		return e.ctx.Err()
	}
	rec := e.b.NewRecordBatch()
	e.rows, e.nbytes = 0, 0
	err := e.out.Send(rec)
	rec.Release()
	if err != nil {
		return err
	}
	if e.dirty && e.cursor != "" && !e.partial {
		e.dirty = false
		pos, _ := json.Marshal(checkpoint{Cursor: e.cursor, Value: formatTime(e.curType, e.last), IDs: e.lastIDs})
		if err := e.out.Checkpoint(pos); err != nil {
			return err
		}
	}
	return e.ctx.Err()
}

var dtLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05-0700"}

func parseDateTime(s string) (time.Time, error) {
	for _, l := range dtLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a datetime")
}

func parseTime(typ, s string) (time.Time, error) {
	if typ == "date" {
		return time.Parse("2006-01-02", s)
	}
	return parseDateTime(s)
}

func formatTime(typ string, t time.Time) string {
	if typ == "date" {
		return t.Format("2006-01-02")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// appendCell appends one value; it returns about how many bytes it adds.
func appendCell(b array.Builder, f *sfField, c cell) (int, error) {
	if c.null {
		b.AppendNull()
		return 1, nil
	}
	switch bb := b.(type) {
	case *array.StringBuilder:
		bb.Append(c.s)
		return len(c.s) + 4, nil
	case *array.BooleanBuilder:
		v, err := strconv.ParseBool(c.s)
		if err != nil {
			return 0, err
		}
		bb.Append(v)
		return 1, nil
	case *array.Int64Builder:
		v, err := strconv.ParseInt(c.s, 10, 64)
		if err != nil {
			fv, ferr := strconv.ParseFloat(c.s, 64)
			if ferr != nil {
				return 0, err
			}
			v = int64(fv)
		}
		bb.Append(v)
		return 8, nil
	case *array.Float64Builder:
		v, err := strconv.ParseFloat(c.s, 64)
		if err != nil {
			return 0, err
		}
		bb.Append(v)
		return 8, nil
	case *array.Date32Builder:
		t, err := time.Parse("2006-01-02", c.s)
		if err != nil {
			return 0, err
		}
		bb.Append(arrow.Date32FromTime(t))
		return 4, nil
	case *array.TimestampBuilder:
		t, err := parseDateTime(c.s)
		if err != nil {
			return 0, err
		}
		bb.Append(arrow.Timestamp(t.UnixMilli()))
		return 8, nil
	case *array.Time32Builder:
		t, err := time.Parse("15:04:05.000Z", c.s)
		if err != nil {
			if t, err = time.Parse("15:04:05Z", c.s); err != nil {
				return 0, err
			}
		}
		ms := (t.Hour()*3600+t.Minute()*60+t.Second())*1000 + t.Nanosecond()/1e6
		bb.Append(arrow.Time32(ms))
		return 4, nil
	}
	return 0, fmt.Errorf("no Arrow builder for %s", f.Type)
}

// windowConds bounds a scheduled incremental read by its window: records
// changed after the window's end wait for the next run (To is truncated to
// the second, which only defers a few of them), and on a first run the
// window's start applies where there is no checkpoint yet.
func windowConds(w *sdk.Window, cf *sfField, haveCheckpoint bool) []string {
	if w == nil || !strings.EqualFold(w.Cursor, cf.Name) {
		return nil
	}
	lit := func(t time.Time) string {
		if cf.Type == "date" {
			return t.UTC().Format("2006-01-02")
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	var out []string
	if !w.From.IsZero() && !haveCheckpoint {
		// Whole seconds, widened downwards: a superset, never a loss.
		out = append(out, cf.Name+" >= "+lit(w.From.Truncate(time.Second)))
	}
	if !w.To.IsZero() {
		out = append(out, cf.Name+" <= "+lit(w.To.Truncate(time.Second)))
	}
	return out
}
