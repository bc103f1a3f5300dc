package sfconn

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
)

// DefaultWriteBulkThreshold is the batch size from which a Write goes
// through a Bulk API 2.0 ingest job rather than sObject Collections.
const DefaultWriteBulkThreshold = 2000

const (
	collectionSize = 200       // sObject Collections' limit per call
	maxIngestBytes = 100 << 20 // raw CSV per ingest job (150 MB after base64)
	lockRetries    = 3         // extra rounds for rows refused with UNABLE_TO_LOCK_ROW
)

var sinkAttributes = []sdk.Attribute{
	{Name: "object", Type: sdk.TypeString, Entity: true, Required: true,
		Description: "The object to write, e.g. Lead or Invoice__c."},
	{Name: "external_id_field", Type: sdk.TypeString,
		Description: "External ID field that upsert matches records on (default: the flow's first key)."},
	{Name: "bulk_threshold", Type: sdk.TypeInt, Default: int64(DefaultWriteBulkThreshold),
		Description: "Batches of at least this many records are written with a Bulk API 2.0 ingest job; smaller ones with sObject Collections (200 records a call)."},
	{Name: "field_map", Type: sdk.TypeStringMap,
		Description: "Record field → Salesforce field, for fields whose names differ; the others are written to the field of the same name."},
}

// column is one record field and the Salesforce field it goes to.
type column struct {
	idx   int
	field *sfField
}

type writer struct {
	c         *Connector
	obj       *sfObject
	mode      sdk.WriteMode
	cols      []column // fields written (for delete: none)
	key       column   // Id (update, delete) or the external id (upsert)
	hasKey    bool
	extField  string
	threshold int
}

// OpenWriter resolves every record field against the object's describe;
// an unknown or read-only field fails here, before anything is written.
func (c *Connector) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	name := req.Entity
	if name == "" {
		name = req.Options.String("object", "")
	}
	obj, err := c.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	mode := req.Mode
	if mode == "" {
		mode = sdk.WriteInsert
	}
	w := &writer{c: c, obj: obj, mode: mode, threshold: int(req.Options.Int("bulk_threshold", DefaultWriteBulkThreshold))}
	if w.threshold < 1 {
		w.threshold = 1
	}
	fmap := req.Options.StringMap("field_map")
	if req.Schema == nil {
		return nil, fmt.Errorf("salesforce: writing %s needs the records' schema", obj.Name)
	}
	keyName := ""
	switch mode {
	case sdk.WriteInsert:
	case sdk.WriteUpdate, sdk.WriteDelete:
		keyName = "Id"
	case sdk.WriteUpsert:
		keyName = req.Options.String("external_id_field", "")
		if keyName == "" && len(req.Keys) > 0 {
			keyName = req.Keys[0]
			if m, ok := fmap[keyName]; ok {
				keyName = m
			}
		}
		if keyName == "" {
			return nil, fmt.Errorf("salesforce: upsert into %s needs external_id_field (or a key)", obj.Name)
		}
		kf := obj.field(keyName)
		if kf == nil {
			return nil, fmt.Errorf("salesforce: external_id_field: no field %q on %s%s", keyName, obj.Name, suggest(obj, keyName))
		}
		if !kf.ExternalID && !kf.IDLookup && kf.Type != "id" {
			return nil, fmt.Errorf("salesforce: external_id_field: %s.%s is not an External ID field", obj.Name, kf.Name)
		}
		w.extField = kf.Name
	default:
		return nil, fmt.Errorf("salesforce: write mode %q is not supported", mode)
	}
	for i, af := range req.Schema.Fields() {
		target := af.Name
		if m, ok := fmap[af.Name]; ok {
			target = m
		}
		f := obj.field(target)
		if f == nil {
			if mode == sdk.WriteDelete {
				continue // delete needs the Id only
			}
			return nil, &fieldError{field: af.Name, err: fmt.Errorf("salesforce: record field %q: no field %q on %s%s; rename it in a map task or with field_map", af.Name, target, obj.Name, suggest(obj, target))}
		}
		if keyName != "" && strings.EqualFold(f.Name, keyName) {
			w.key, w.hasKey = column{i, f}, true
			if mode == sdk.WriteDelete || mode == sdk.WriteUpdate {
				continue
			}
		}
		if mode == sdk.WriteDelete {
			continue
		}
		switch {
		case f.Type == "id" && mode == sdk.WriteInsert:
			return nil, &fieldError{field: af.Name, err: fmt.Errorf("salesforce: record field %q maps to %s.Id, which cannot be set on insert; drop it or map it to another field", af.Name, obj.Name)}
		case mode == sdk.WriteInsert && !f.Createable,
			mode == sdk.WriteUpdate && !f.Updateable,
			mode == sdk.WriteUpsert && !f.Createable && !f.Updateable && f.Type != "id":
			return nil, &fieldError{field: af.Name, err: fmt.Errorf("salesforce: record field %q: %s.%s cannot be written (%s); drop it", af.Name, obj.Name, f.Name, mode)}
		}
		w.cols = append(w.cols, column{i, f})
	}
	if keyName != "" && !w.hasKey {
		return nil, fmt.Errorf("salesforce: %s into %s needs a record field for %s", mode, obj.Name, keyName)
	}
	return w, nil
}

func (w *writer) Commit(context.Context) (sdk.CommitResult, error) { return sdk.CommitResult{}, nil }
func (w *writer) Close(context.Context) error                      { return nil }

// Write applies the batch and returns the records Salesforce refused.
func (w *writer) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	n := int(rec.NumRows())
	var res sdk.WriteResult
	if n == 0 {
		return res, nil
	}
	rows := make([]int, 0, n)
	for i := 0; i < n; i++ {
		if w.hasKey && rec.Column(w.key.idx).IsNull(i) {
			res.Rejected = append(res.Rejected, sdk.RejectedRow{Row: i,
				Reason: fmt.Sprintf("MISSING_ARGUMENT: %s is empty, so the record cannot be matched (fields: %s)", w.key.field.Name, w.key.field.Name)})
			continue
		}
		rows = append(rows, i)
	}
	for round := 0; len(rows) > 0; round++ {
		var out writeOutcome
		var err error
		if len(rows) >= w.threshold {
			out, err = w.writeBulk(ctx, rec, rows)
		} else {
			out, err = w.writeCollections(ctx, rec, rows)
		}
		if err != nil {
			return res, err
		}
		res.BytesWritten += out.bytes
		res.Rejected = append(res.Rejected, out.rejected...)
		rows = out.retry
		if len(rows) > 0 {
			if round >= lockRetries {
				why := out.retryReason
				if why == "" {
					why = "UNABLE_TO_LOCK_ROW: the record stayed locked after retries"
				}
				for _, r := range rows {
					res.Rejected = append(res.Rejected, sdk.RejectedRow{Row: r, Reason: why})
				}
				break
			}
			if err := w.c.cl.backoff(ctx, round+1); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// writeOutcome is one attempt at some rows.
type writeOutcome struct {
	rejected []sdk.RejectedRow
	retry    []int // refused for a transient reason (UNABLE_TO_LOCK_ROW, not processed)
	// retryReason is the rejection reason of retry rows once retries run out.
	retryReason string
	bytes       int64
}

type dmlError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func reason(code, msg string, fields []string) string {
	s := code + ": " + msg
	if len(fields) > 0 {
		s += " (fields: " + strings.Join(fields, ", ") + ")"
	}
	return s
}

// writeCollections sends rows through sObject Collections, 200 at a time,
// with allOrNone=false so that each record succeeds or fails alone.
func (w *writer) writeCollections(ctx context.Context, rec arrow.RecordBatch, rows []int) (writeOutcome, error) {
	var out writeOutcome
	for start := 0; start < len(rows); start += collectionSize {
		chunk := rows[start:min(start+collectionSize, len(rows))]
		var r request
		switch w.mode {
		case sdk.WriteDelete:
			ids := make([]string, len(chunk))
			for i, row := range chunk {
				ids[i] = valueString(rec.Column(w.key.idx), row)
			}
			r = request{method: "DELETE", path: "composite/sobjects", query: url.Values{"ids": {strings.Join(ids, ",")}, "allOrNone": {"false"}}}
		default:
			var b bytes.Buffer
			b.WriteString(`{"allOrNone":false,"records":[`)
			typ, _ := json.Marshal(w.obj.Name)
			for i, row := range chunk {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"attributes":{"type":`)
				b.Write(typ)
				b.WriteByte('}')
				if w.mode == sdk.WriteUpdate {
					b.WriteString(`,"Id":`)
					appendJSON(&b, rec.Column(w.key.idx), row)
				}
				for _, col := range w.cols {
					arr := rec.Column(col.idx)
					if arr.IsNull(row) && w.mode == sdk.WriteInsert {
						continue // on insert, null means "not set"
					}
					b.WriteByte(',')
					k, _ := json.Marshal(col.field.Name)
					b.Write(k)
					b.WriteByte(':')
					appendJSON(&b, arr, row)
				}
				b.WriteByte('}')
			}
			b.WriteString("]}")
			r = request{method: "POST", path: "composite/sobjects", body: b.Bytes(), contentType: "application/json"}
			switch w.mode {
			case sdk.WriteUpdate:
				r.method = "PATCH"
			case sdk.WriteUpsert:
				r.method, r.path = "PATCH", "composite/sobjects/"+url.PathEscape(w.obj.Name)+"/"+url.PathEscape(w.extField)
			}
			out.bytes += int64(b.Len())
		}
		var results []struct {
			ID      string     `json:"id"`
			Success bool       `json:"success"`
			Errors  []dmlError `json:"errors"`
		}
		if err := w.c.cl.doJSON(ctx, r, &results); err != nil {
			return out, describeErr(w.obj.Name, err)
		}
		if len(results) != len(chunk) {
			return out, fmt.Errorf("salesforce: %s %s: %d results for %d records", r.method, r.path, len(results), len(chunk))
		}
		for i, res := range results {
			if res.Success {
				continue
			}
			if len(res.Errors) == 0 {
				out.rejected = append(out.rejected, sdk.RejectedRow{Row: chunk[i], Reason: "UNKNOWN_EXCEPTION: refused without an error"})
				continue
			}
			e := res.Errors[0]
			if e.StatusCode == "UNABLE_TO_LOCK_ROW" {
				out.retry = append(out.retry, chunk[i])
				continue
			}
			out.rejected = append(out.rejected, sdk.RejectedRow{Row: chunk[i], Reason: reason(e.StatusCode, e.Message, e.Fields)})
		}
	}
	return out, nil
}

type ingestJob struct {
	ID                     string `json:"id"`
	State                  string `json:"state"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int    `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int    `json:"numberRecordsFailed"`
}

// writeBulk sends rows through Bulk API 2.0 ingest jobs (one per 100 MB of
// CSV), waits for each, and maps its failed results back to the rows.
func (w *writer) writeBulk(ctx context.Context, rec arrow.RecordBatch, rows []int) (writeOutcome, error) {
	var out writeOutcome
	head := []string{}
	var cols []column
	if w.mode == sdk.WriteUpdate || w.mode == sdk.WriteDelete {
		head = append(head, "Id")
		cols = append(cols, w.key)
	}
	if w.mode != sdk.WriteDelete {
		for _, col := range w.cols {
			head = append(head, col.field.Name)
			cols = append(cols, col)
		}
	}
	nullCell := "#N/A" // sets the field to null
	if w.mode == sdk.WriteInsert {
		nullCell = "" // not set
	}
	for start := 0; start < len(rows); {
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		_ = cw.Write(head)
		keys := map[string][]int{}
		cells := make([]string, len(cols))
		end := start
		for ; end < len(rows) && buf.Len() < maxIngestBytes; end++ {
			row := rows[end]
			for i, col := range cols {
				arr := rec.Column(col.idx)
				if arr.IsNull(row) {
					cells[i] = nullCell
				} else {
					cells[i] = valueString(arr, row)
				}
			}
			_ = cw.Write(cells)
			k := strings.Join(cells, "\x00")
			keys[k] = append(keys[k], row)
			if end%1000 == 999 {
				cw.Flush()
			}
		}
		cw.Flush()
		o, err := w.ingest(ctx, buf.Bytes(), len(head), keys)
		if err != nil {
			return out, err
		}
		out.bytes += int64(buf.Len())
		out.rejected = append(out.rejected, o.rejected...)
		out.retry = append(out.retry, o.retry...)
		if o.retryReason != "" {
			out.retryReason = o.retryReason
		}
		start = end
	}
	return out, nil
}

// ingest runs one job over data; keys maps each row's cells to its rows.
func (w *writer) ingest(ctx context.Context, data []byte, ncols int, keys map[string][]int) (writeOutcome, error) {
	var out writeOutcome
	spec := map[string]string{"object": w.obj.Name, "operation": string(w.mode), "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
	if w.mode == sdk.WriteUpsert {
		spec["externalIdFieldName"] = w.extField
	}
	body, _ := json.Marshal(spec)
	var job ingestJob
	cl := w.c.cl
	if err := cl.doJSON(ctx, request{method: "POST", path: "jobs/ingest", body: body, contentType: "application/json"}, &job); err != nil {
		return out, describeErr(w.obj.Name, err)
	}
	jobPath := "jobs/ingest/" + job.ID
	abort := func() {
		b, _ := json.Marshal(map[string]string{"state": "Aborted"})
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = cl.doJSON(actx, request{method: "PATCH", path: jobPath, body: b, contentType: "application/json"}, nil)
	}
	if err := cl.doJSON(ctx, request{method: "PUT", path: jobPath + "/batches", body: data, contentType: "text/csv"}, nil); err != nil {
		abort()
		return out, describeErr(w.obj.Name, err)
	}
	closeBody, _ := json.Marshal(map[string]string{"state": "UploadComplete"})
	if err := cl.doJSON(ctx, request{method: "PATCH", path: jobPath, body: closeBody, contentType: "application/json"}, &job); err != nil {
		abort()
		return out, describeErr(w.obj.Name, err)
	}
	wait := 100 * time.Millisecond
	for job.State != "JobComplete" && job.State != "Failed" && job.State != "Aborted" {
		if err := sleep(ctx, wait); err != nil {
			abort()
			return out, err
		}
		wait = min(wait*3/2, 5*time.Second)
		if err := cl.doJSON(ctx, request{method: "GET", path: jobPath}, &job); err != nil {
			return out, describeErr(w.obj.Name, err)
		}
	}
	take := func(cells []string) (int, bool) {
		k := strings.Join(cells, "\x00")
		rows := keys[k]
		if len(rows) == 0 {
			return 0, false
		}
		keys[k] = rows[1:]
		return rows[0], true
	}
	// Failed rows become rejections; the successful ones only leave the
	// key map, so that whatever remains was not processed.
	err := w.results(ctx, jobPath+"/failedResults/", func(head, rec []string) error {
		if len(rec) < 2+ncols {
			return fmt.Errorf("salesforce: ingest job %s: a failed result has %d columns", job.ID, len(rec))
		}
		row, ok := take(rec[2:])
		if !ok {
			return fmt.Errorf("salesforce: ingest job %s: a failed result matches no record sent: %q", job.ID, rec)
		}
		code, msg, fields := parseBulkError(rec[1])
		if code == "UNABLE_TO_LOCK_ROW" {
			out.retry = append(out.retry, row)
			return nil
		}
		out.rejected = append(out.rejected, sdk.RejectedRow{Row: row, Reason: reason(code, msg, fields)})
		return nil
	})
	if err != nil {
		return out, err
	}
	err = w.results(ctx, jobPath+"/successfulResults/", func(head, rec []string) error {
		if len(rec) >= 2+ncols {
			take(rec[2:])
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, rows := range keys {
		out.retry = append(out.retry, rows...)
	}
	if len(out.retry) > 0 && job.State != "JobComplete" {
		out.retryReason = fmt.Sprintf("NOT_PROCESSED: ingest job %s ended %s: %s", job.ID, job.State, job.ErrorMessage)
	}
	return out, nil
}

// results streams one of an ingest job's result CSVs.
func (w *writer) results(ctx context.Context, path string, each func(head, rec []string) error) error {
	resp, err := w.c.cl.do(ctx, request{method: "GET", path: path, accept: "text/csv"})
	if err != nil {
		return describeErr(w.obj.Name, err)
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("salesforce: %s: %w", path, err)
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("salesforce: %s: %w", path, err)
		}
		if err := each(head, rec); err != nil {
			return err
		}
	}
}

// parseBulkError splits sf__Error, "CODE:message:Field1,Field2 --".
func parseBulkError(s string) (code, msg string, fields []string) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "--"))
	code, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "UNKNOWN_EXCEPTION", s, nil
	}
	msg = rest
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		msg = rest[:i]
		for _, f := range strings.Split(strings.TrimSpace(rest[i+1:]), ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	}
	return code, strings.TrimSpace(msg), fields
}

// valueString renders a value the way Salesforce accepts it in CSV and JSON strings.
func valueString(arr arrow.Array, i int) string {
	switch a := arr.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'f', -1, 32)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Date64:
		return a.Value(i).ToTime().UTC().Format("2006-01-02")
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format("2006-01-02T15:04:05.000Z")
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return a.Value(i).ToTime(unit).Format("15:04:05.000Z")
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return a.Value(i).ToTime(unit).Format("15:04:05.000Z")
	}
	return arr.ValueStr(i)
}

// appendJSON writes a value as JSON: numbers and booleans bare, the rest as strings.
func appendJSON(b *bytes.Buffer, arr arrow.Array, i int) {
	if arr.IsNull(i) {
		b.WriteString("null")
		return
	}
	switch arr.(type) {
	case *array.Boolean, *array.Int64, *array.Int32, *array.Int16, *array.Int8,
		*array.Uint64, *array.Uint32, *array.Uint16, *array.Uint8:
		b.WriteString(valueString(arr, i))
		return
	case *array.Float64, *array.Float32:
		s := valueString(arr, i)
		if s == "NaN" || strings.Contains(s, "Inf") {
			b.WriteString("null")
			return
		}
		b.WriteString(s)
		return
	}
	q, _ := json.Marshal(valueString(arr, i))
	b.Write(q)
}

// CheckWrite runs OpenWriter's checks — the object exists, every record
// field maps to a writable field, the key is usable — without writing, so
// `sluice validate` reports a wrong object or field on the flow file.
func (c *Connector) CheckWrite(ctx context.Context, req sdk.WriteRequest) sdk.Diagnostics {
	name := req.Entity
	if name == "" {
		name = req.Options.String("object", "")
	}
	if _, err := c.describe(ctx, name); err != nil {
		return sdk.Diagnostics{{Summary: "Unknown Salesforce object", Detail: err.Error(), Path: []string{"object"}}}
	}
	w, err := c.OpenWriter(ctx, req)
	if err != nil {
		d := sdk.Diagnostic{Summary: "Salesforce would refuse these records", Detail: err.Error()}
		var fe *fieldError
		switch {
		case errors.As(err, &fe):
			d.Path = []string{sdk.RecordFieldPath, fe.field}
		case strings.Contains(err.Error(), "external_id_field"):
			d.Path = []string{"external_id_field"}
		}
		return sdk.Diagnostics{d}
	}
	_ = w.Close(ctx)
	return nil
}

// fieldError is a problem with one record field, so validate can point at
// the task that produced the field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }
