package redshiftconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// fakeDataAPI speaks the Redshift Data API's JSON protocol (awsJson1_1:
// POST /, X-Amz-Target: RedshiftData.<Operation>) as aws-sdk-go-v2 sends
// it. There is no open implementation of the Data API, and Redshift
// cannot run here: statements are answered by the recorder (the same
// scripted catalog the wire golden tests use), and every statement sent
// is recorded in order.
type fakeDataAPI struct {
	t   *testing.T
	rec *recorder

	mu      sync.Mutex
	sent    []string
	targets []string // the X-Amz-Target of each request
	bodies  []map[string]any
	stmts   map[string]*fakeStmt
	seq     int
	polls   int // DescribeStatement answers STARTED this often first
	// failHTTP, when set, is the AccessDeniedException message of every
	// request.
	failHTTP string
	// failSQL fails statements containing the key with the value as
	// Redshift's error.
	failSQL map[string]string
	// sources are the tables reads see, by their FROM text ("events" is
	// `"events"`): SELECT … LIMIT 0 answers their column metadata, and a
	// read's SELECT their typed records (see fakeSource.query).
	sources map[string]*fakeSource
	// pageSize is the records per GetStatementResult page of a source's
	// statement (scripted answers have one per page).
	pageSize int
}

// fakeSource is a table: its column metadata (name, typeName, precision,
// scale) and rows of int64, float64, string, bool or nil values.
type fakeSource struct {
	meta []map[string]any
	rows [][]any
}

type fakeStmt struct {
	polls  int
	status string
	err    string
	rows   [][]string // nil: no result set
	subs   []*fakeStmt
	// typed results (a source's statements): metadata and records of
	// Data API fields; hasTyped is set even when there are no records.
	meta     []map[string]any
	records  [][]map[string]any
	hasTyped bool
}

func (st *fakeStmt) hasResult() bool { return st.rows != nil || st.hasTyped }

// field is a value as the Data API returns it.
func field(v any) map[string]any {
	switch v := v.(type) {
	case nil:
		return map[string]any{"isNull": true}
	case int64:
		return map[string]any{"longValue": v}
	case float64:
		return map[string]any{"doubleValue": v}
	case bool:
		return map[string]any{"booleanValue": v}
	case string:
		return map[string]any{"stringValue": v}
	}
	panic(fmt.Sprintf("fake Data API: no field for %T", v))
}

// text is a value CAST AS VARCHAR.
func text(v any) any {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return v
}

// less compares two values of one column; NULL sorts last, as in
// Redshift's ascending order.
func less(a, b any) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	switch a := a.(type) {
	case int64:
		return a < b.(int64)
	case float64:
		return a < b.(float64)
	case string:
		return a < b.(string)
	}
	panic(fmt.Sprintf("fake Data API: cannot order %T", a))
}

// source answers the statements of a read: the describe and the read's
// SELECT (its columns, the cursor condition with the :cursor parameter,
// ORDER BY). It returns false for any other statement.
func (f *fakeDataAPI) source(st *fakeStmt, sql string, params map[string]string) bool {
	if from, ok := strings.CutPrefix(sql, "SELECT * FROM "); ok {
		from, ok = strings.CutSuffix(from, " LIMIT 0")
		src := f.sources[from]
		if !ok || src == nil {
			return false
		}
		st.meta, st.hasTyped = src.meta, true
		return true
	}
	sel, rest, ok := strings.Cut(strings.TrimPrefix(sql, "SELECT "), "\nFROM (SELECT * FROM ")
	if !ok {
		return false
	}
	from, tail, ok := strings.Cut(rest, ") AS s")
	src := f.sources[from]
	if !ok || src == nil {
		return false
	}
	index := map[string]int{}
	for i, m := range src.meta {
		index[m["name"].(string)] = i
	}
	col := func(ref string) int {
		name := strings.Trim(strings.TrimPrefix(ref, "s."), `"`)
		i, ok := index[name]
		if !ok {
			f.t.Errorf("fake Data API: no column %q in %s", name, sql)
		}
		return i
	}
	type out struct {
		i    int
		cast bool
	}
	var outs []out
	for _, item := range strings.Split(sel, ", ") {
		if ref, ok := strings.CutPrefix(item, "CAST("); ok {
			ref, _, _ = strings.Cut(ref, " AS VARCHAR) AS "+cursorAlias)
			outs = append(outs, out{col(ref), true})
			st.meta = append(st.meta, map[string]any{"name": cursorAlias, "label": cursorAlias, "typeName": "varchar"})
			continue
		}
		i := col(item)
		outs = append(outs, out{i, false})
		st.meta = append(st.meta, src.meta[i])
	}
	rows := append([][]any(nil), src.rows...)
	tail = strings.TrimPrefix(tail, "\n")
	if cond, ok := strings.CutPrefix(tail, "WHERE "); ok {
		ref, _, _ := strings.Cut(cond, " > CAST(CAST(:cursor AS VARCHAR) AS ")
		i := col(ref)
		value, ok := params["cursor"]
		if !ok {
			f.t.Errorf("fake Data API: no :cursor parameter for %s", sql)
		}
		var after any = value
		if _, isInt := src.rows[0][i].(int64); isInt {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				f.t.Errorf("fake Data API: cursor %q: %v", value, err)
			}
			after = n
		}
		rows = rows[:0:0]
		for _, r := range src.rows {
			if r[i] != nil && less(after, r[i]) {
				rows = append(rows, r)
			}
		}
	}
	if _, order, ok := strings.Cut(tail, "ORDER BY "); ok {
		i := col(order)
		sort.SliceStable(rows, func(a, b int) bool { return less(rows[a][i], rows[b][i]) })
	}
	st.hasTyped = true
	for _, r := range rows {
		rec := make([]map[string]any, len(outs))
		for j, o := range outs {
			v := r[o.i]
			if o.cast {
				v = text(v)
			}
			rec[j] = field(v)
		}
		st.records = append(st.records, rec)
	}
	return true
}

func newFakeDataAPI(t *testing.T, rec *recorder) (*fakeDataAPI, *httptest.Server) {
	f := &fakeDataAPI{t: t, rec: rec, stmts: map[string]*fakeStmt{}, polls: 2, failSQL: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// run answers one statement through the recorder.
func (f *fakeDataAPI) run(sql string, params map[string]string) *fakeStmt {
	f.sent = append(f.sent, sql)
	st := &fakeStmt{polls: f.polls, status: "FINISHED"}
	for k, msg := range f.failSQL {
		if strings.Contains(sql, k) {
			st.status, st.err = "FAILED", msg
			return st
		}
	}
	if f.source(st, sql, params) {
		return st
	}
	var err error
	if strings.HasPrefix(sql, "SELECT") {
		st.rows, err = f.rec.Query(context.Background(), sql)
		if st.rows == nil {
			st.rows = [][]string{}
		}
	} else {
		err = f.rec.Exec(context.Background(), sql)
	}
	if err != nil {
		st.status, st.err = "FAILED", err.Error()
	}
	return st
}

func (f *fakeDataAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "RedshiftData.")
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("unexpected request %s %s target %q type %q", r.Method, r.URL, target, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	body, readErr := io.ReadAll(r.Body)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		// A client that gave up mid-request (the conformance kit cancels
		// reads) leaves a cut body; that is the client's right, not a bug.
		if readErr == nil && r.Context().Err() == nil && len(body) > 0 {
			f.t.Errorf("%s: body %s: %v", op, body, err)
		}
		http.Error(w, `{"__type":"ValidationException","message":"unreadable request"}`, http.StatusBadRequest)
		return
	}
	f.targets = append(f.targets, target)
	f.bodies = append(f.bodies, in)
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(v)
	}
	if f.failHTTP != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": "AccessDeniedException", "message": f.failHTTP})
		return
	}
	newID := func(st *fakeStmt) string {
		f.seq++
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", f.seq)
		f.stmts[id] = st
		for i, sub := range st.subs {
			f.stmts[id+":"+strconv.Itoa(i+1)] = sub
		}
		return id
	}
	switch op {
	case "ExecuteStatement":
		params := map[string]string{}
		if ps, ok := in["Parameters"].([]any); ok {
			for _, p := range ps {
				p := p.(map[string]any)
				params[p["name"].(string)] = p["value"].(string)
			}
		}
		reply(map[string]any{"Id": newID(f.run(in["Sql"].(string), params)), "Database": in["Database"]})
	case "BatchExecuteStatement":
		batch := &fakeStmt{polls: f.polls, status: "FINISHED"}
		failed := false
		for _, s := range in["Sqls"].([]any) {
			if failed {
				// A batch stops at the failed statement and rolls back;
				// the rest is sent but never runs.
				f.sent = append(f.sent, s.(string))
				batch.subs = append(batch.subs, &fakeStmt{status: "SUBMITTED"})
				continue
			}
			sub := f.run(s.(string), nil)
			batch.subs = append(batch.subs, sub)
			if sub.status == "FAILED" {
				failed = true
				batch.status, batch.err = "FAILED", sub.err
			}
		}
		reply(map[string]any{"Id": newID(batch), "Database": in["Database"]})
	case "DescribeStatement":
		id, _ := in["Id"].(string)
		st := f.stmts[id]
		if st == nil {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ResourceNotFoundException", "message": "no statement " + id})
			return
		}
		if st.polls > 0 {
			st.polls--
			reply(map[string]any{"Id": id, "Status": "STARTED"})
			return
		}
		out := map[string]any{"Id": id, "Status": st.status, "HasResultSet": st.hasResult()}
		if st.err != "" {
			out["Error"] = st.err
		}
		var subs []map[string]any
		for i, sub := range st.subs {
			s := map[string]any{"Id": id + ":" + strconv.Itoa(i+1), "Status": sub.status, "HasResultSet": sub.hasResult()}
			if sub.err != "" {
				s["Error"] = sub.err
			}
			subs = append(subs, s)
		}
		if subs != nil {
			out["SubStatements"] = subs
		}
		reply(out)
	case "GetStatementResult":
		// One record per page, to exercise NextToken.
		id, _ := in["Id"].(string)
		st := f.stmts[id]
		if st == nil {
			http.Error(w, `{"__type":"ResourceNotFoundException","message":"no such statement"}`, http.StatusBadRequest)
			return
		}
		page := 0
		if tok, ok := in["NextToken"].(string); ok {
			page, _ = strconv.Atoi(tok)
		}
		if st.hasTyped {
			// f.pageSize records a page, each with the column metadata;
			// the token is the next record's index.
			size := max(f.pageSize, 1)
			end := min(page+size, len(st.records))
			recs := st.records[page:end]
			if recs == nil {
				recs = [][]map[string]any{}
			}
			out := map[string]any{"TotalNumRows": len(st.records), "ColumnMetadata": st.meta, "Records": recs}
			if end < len(st.records) {
				out["NextToken"] = strconv.Itoa(end)
			}
			reply(out)
			return
		}
		out := map[string]any{"TotalNumRows": len(st.rows), "Records": []any{}}
		if page < len(st.rows) {
			var rec []map[string]any
			for _, v := range st.rows[page] {
				rec = append(rec, map[string]any{"stringValue": v})
			}
			out["Records"] = []any{rec}
			if page+1 < len(st.rows) {
				out["NextToken"] = strconv.Itoa(page + 1)
			}
		}
		reply(out)
	case "CancelStatement":
		reply(map[string]any{"Status": true})
	default:
		f.t.Errorf("unexpected operation %s", op)
		w.WriteHeader(http.StatusBadRequest)
	}
}

const (
	testSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rs-admin-AbCdEf"
	testAccessKey = "AKIDSLUICETEST"
	testSecretKey = "sluice-data-api-secret-key-0123456789"
)

// dataAPIConnector is a Redshift-mode connector on the Data API at srv,
// with the in-memory object store.
func dataAPIConnector(t *testing.T, srv *httptest.Server, store *memStore) *Connector {
	t.Helper()
	c := New()
	c.newID = func() string { return "0001" }
	c.pollFirst, c.pollMax = time.Millisecond, 4*time.Millisecond
	if err := c.Configure(context.Background(), sdk.Values{"transport": TransportDataAPI,
		"cluster_identifier": "rs-test", "database": "dev", "secret_arn": testSecretARN,
		"data_api_endpoint": srv.URL, "cluster_region": "us-east-1",
		"access_key_id": testAccessKey, "secret_access_key": testSecretKey,
		"staging": "s3://bkt/sluice/", "iam_role": "arn:aws:iam::123456789012:role/rs-load"}).Err(); err != nil {
		t.Fatal(err)
	}
	c.store = store
	return c
}

// TestDataAPIGoldenSQL loads the golden cases through the Data API: the
// statements sent are the wire transport's, text and order (the same
// golden files), the transaction goes as one BatchExecuteStatement, and
// every statement is polled until FINISHED.
func TestDataAPIGoldenSQL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     sdk.WriteMode
		keys     []string
		existing bool
		opts     sdk.Values
	}{
		{"create_insert", sdk.WriteInsert, nil, false, sdk.Values{"table": "Analytics.Events"}},
		{"create_distkey_sortkey", sdk.WriteUpsert, []string{"Id"}, false,
			sdk.Values{"table": "analytics.events", "distkey": "Id", "sortkey": []string{"at", "Id"}}},
		{"upsert_add_columns", sdk.WriteUpsert, []string{"Id"}, true, sdk.Values{"table": "events", "distkey": "id"}},
		{"update", sdk.WriteUpdate, []string{"id"}, true, sdk.Values{"table": "events", "keep_staging": true}},
		{"delete", sdk.WriteDelete, []string{"ID"}, true, sdk.Values{"table": "events"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{copied: "3", columns: map[string][][]string{}}
			if tc.existing {
				rec.columns["events"] = existingColumns
			}
			fake, srv := newFakeDataAPI(t, rec)
			store := &memStore{objects: map[string][]byte{}}
			c := dataAPIConnector(t, srv, store)
			w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: tc.opts.String("table", ""), Mode: tc.mode,
				Keys: tc.keys, Options: tc.opts, Schema: arrow.NewSchema(goldenFields, nil)})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			golden(t, tc.name+".sql", script(fake.sent))

			batches, executes, describes := 0, 0, 0
			for i, target := range fake.targets {
				body := fake.bodies[i]
				switch target {
				case "RedshiftData.BatchExecuteStatement":
					batches++
					sqls := body["Sqls"].([]any)
					if sqls[0] != "BEGIN" || sqls[len(sqls)-1] != "COMMIT" {
						t.Errorf("the batch is not one transaction: %v … %v", sqls[0], sqls[len(sqls)-1])
					}
					fallthrough
				case "RedshiftData.ExecuteStatement":
					if target == "RedshiftData.ExecuteStatement" {
						executes++
					}
					if body["ClusterIdentifier"] != "rs-test" || body["Database"] != "dev" || body["SecretArn"] != testSecretARN {
						t.Errorf("%s without the target: %v", target, body)
					}
				case "RedshiftData.DescribeStatement":
					describes++
				}
			}
			if batches != 1 {
				t.Errorf("%d batches, want the load in one", batches)
			}
			if want := (executes + batches) * (fake.polls + 1); describes != want {
				t.Errorf("%d DescribeStatement calls, want %d (%d polls per statement until FINISHED)", describes, want, fake.polls+1)
			}
			if keep := tc.opts.Bool("keep_staging", false); keep != (len(store.deleted) == 0) {
				t.Fatalf("keep_staging=%v, deleted %v", keep, store.deleted)
			}
		})
	}
}

// TestDataAPICopyFailure: the batch fails at the COPY; the load errors are
// read back in a statement of their own, nothing is rolled back by hand
// (the batch already was) and the staged objects stay.
// With RejectOnCommit the COPY failed for refusing more than
// max_load_errors rows, and the error says so.
func TestDataAPICopyFailure(t *testing.T) {
	rec := &recorder{copied: "0", columns: map[string][][]string{"events": existingColumns}, failCopy: true}
	fake, srv := newFakeDataAPI(t, rec)
	store := &memStore{objects: map[string][]byte{}}
	c := dataAPIConnector(t, srv, store)
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(goldenFields, nil), RejectOnCommit: true, Options: sdk.Values{"max_load_errors": int64(7)}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Load into table 'sluice_stage_0001_1' failed") ||
		!strings.Contains(err.Error(), "\nRedshift refused more rows than max_load_errors = 7 tolerates; the first 1:\n") ||
		!strings.Contains(err.Error(), `part-00000.csv.gz line 2, column "name" (varchar): String length exceeds DDL length [1204] — row Id=2`) {
		t.Fatalf("Commit = %v, want the COPY's error and the load errors", err)
	}
	for _, s := range fake.sent {
		if strings.HasPrefix(s, "COPY") && !strings.Contains(s, "\nMAXERROR 7\n") {
			t.Fatalf("COPY without MAXERROR 7:\n%s", s)
		}
	}
	var de *dataAPIError
	if !errors.As(err, &de) || !strings.HasPrefix(de.SQL, "COPY") {
		t.Fatalf("error %T does not name the COPY", err)
	}
	if len(store.deleted) != 0 || len(store.objects) != 2 {
		t.Fatalf("staged objects: %d kept, deleted %v", len(store.objects), store.deleted)
	}
	last := fake.sent[len(fake.sent)-1]
	if !strings.Contains(last, "FROM sys_load_error_detail") || !strings.Contains(last, "'s3://bkt/sluice/0001-1/%'") {
		t.Fatalf("last statement %q, want the load errors of the prefix", last)
	}
	for _, s := range fake.sent {
		if s == "ROLLBACK" {
			t.Fatal("ROLLBACK sent: a failed batch is rolled back by the Data API")
		}
	}
}

// TestDataAPIRetriesSerializationConflicts: Redshift's 1023, reported as
// the batch's error text, retries the load.
func TestDataAPIRetriesSerializationConflicts(t *testing.T) {
	rec := &recorder{copied: "3", columns: map[string][][]string{"events": existingColumns}}
	conflicts := 1
	rec.onCopy = func(string) error {
		if conflicts > 0 {
			conflicts--
			return errors.New("ERROR: 1023 DETAIL: Serializable isolation violation on table - 100235, transactions forming the cycle are: 1, 2 (pid:3)")
		}
		return nil
	}
	fake, srv := newFakeDataAPI(t, rec)
	c := dataAPIConnector(t, srv, &memStore{objects: map[string][]byte{}})
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(goldenFields, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	n := 0
	for _, target := range fake.targets {
		if target == "RedshiftData.BatchExecuteStatement" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d batches, want 2 (a conflict, then the retry)", n)
	}
}

// TestDataAPIErrors: FAILED statements surface Redshift's message; API
// errors surface the service's; neither carries a credential.
func TestDataAPIErrors(t *testing.T) {
	secrets := []string{testSecretKey, testSecretARN}
	noSecrets := func(t *testing.T, err error) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("a credential is in the message: %v", err)
			}
		}
	}

	t.Run("failed statement", func(t *testing.T) {
		rec := &recorder{}
		fake, srv := newFakeDataAPI(t, rec)
		fake.failSQL["SELECT 1"] = `ERROR: permission denied for database dev (secret ` + testSecretARN + `)`
		c := dataAPIConnector(t, srv, &memStore{})
		err := c.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), "SELECT 1: ERROR: permission denied for database dev") {
			t.Fatalf("Check = %v, want Redshift's message", err)
		}
		noSecrets(t, err)
		t.Log(err)
	})

	t.Run("finished", func(t *testing.T) {
		rec := &recorder{}
		fake, srv := newFakeDataAPI(t, rec)
		fake.polls = 5
		c := dataAPIConnector(t, srv, &memStore{})
		_, s, err := c.session(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rec.columns = map[string][][]string{"t": {{"a", "integer", "", "32", "0"}, {"b", "boolean", "", "", ""}}}
		rows, err := s.Query(context.Background(), inspectSQL(tableName{Name: "t"}, "public"))
		if err != nil || fmt.Sprint(rows) != "[[a integer  32 0] [b boolean   ]]" {
			t.Fatalf("Query = %v, %v", rows, err)
		}
		if err := s.Exec(context.Background(), "BEGIN"); err == nil {
			t.Fatal("a lone BEGIN was accepted")
		}
	})

	t.Run("api error", func(t *testing.T) {
		fake, srv := newFakeDataAPI(t, &recorder{})
		fake.failHTTP = "User arn:aws:iam::123456789012:user/loader is not authorized to access " + testSecretARN +
			" with key " + testSecretKey
		c := dataAPIConnector(t, srv, &memStore{})
		err := c.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "is not authorized") {
			t.Fatalf("Check = %v, want the service's refusal", err)
		}
		noSecrets(t, err)
		t.Log(err)
	})

	t.Run("cancel", func(t *testing.T) {
		fake, srv := newFakeDataAPI(t, &recorder{})
		fake.polls = 1 << 30
		c := dataAPIConnector(t, srv, &memStore{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := c.Check(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Check = %v, want the deadline", err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.targets[len(fake.targets)-1] != "RedshiftData.CancelStatement" {
			t.Fatalf("the statement was not cancelled: %v", fake.targets)
		}
	})
}

func TestDataAPIConfig(t *testing.T) {
	base := func(kv ...any) sdk.Values {
		v := sdk.Values{"transport": TransportDataAPI, "database": "dev", "cluster_identifier": "c"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(v, kv[i].(string))
			} else {
				v[kv[i].(string)] = kv[i+1]
			}
		}
		return v
	}
	for _, tc := range []struct {
		v    sdk.Values
		want string
	}{
		{base(), ""},
		{base("cluster_identifier", nil, "workgroup_name", "wg"), ""},
		{base("cluster_identifier", nil), "cluster_identifier or workgroup_name"},
		{base("workgroup_name", "wg"), "not both"},
		{base("database", nil), "database"},
		{base("secret_arn", "arn:x", "db_user", "u"), "secret_arn or db_user"},
		{base("cluster_identifier", nil, "workgroup_name", "wg", "db_user", "u"), "db_user needs a cluster"},
		{base("mode", ModePostgres), "postgres mode needs the wire transport"},
		{base("access_key_id", "AK"), "access_key_id and secret_access_key go together"},
		{base("external_id", "x"), "external_id needs role_arn"},
	} {
		_, diags := parseConnConfig(tc.v)
		err := diags.Err()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.v, err, tc.want)
		}
	}
}
