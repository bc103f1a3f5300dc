package sfemu

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// JobNotCompleteStatus is the HTTP status of results requested before a
// job completes (the reference leaves it open: [U]).
const JobNotCompleteStatus = http.StatusBadRequest

// maxUpload is Bulk 2.0's upload cap.
const maxUpload = 150 << 20

var delimiters = map[string]rune{"COMMA": ',', "TAB": '\t', "PIPE": '|', "SEMICOLON": ';', "CARET": '^', "BACKQUOTE": '`'}

type job struct {
	query              bool
	id, object, op     string
	extField           string
	createdBy          string
	created, modstamp  time.Time
	state              string
	version            string
	delim, lineEnding  string
	comp               *compiled
	rows               []row
	upload             bytes.Buffer
	uploads            int
	closedAt           time.Time
	endedAt            time.Time // when it reached a terminal state
	processed, failedN int
	errorMessage       string
	header             []string
	success, failed    [][]string
	unprocessed        [][]string
	processingMs       int64
	// callOptions is the creating request's Sforce-Call-Options, whose
	// client tag the job's change events carry.
	callOptions string
}

type jobInfo struct {
	ID                      string          `json:"id"`
	Operation               string          `json:"operation"`
	Object                  string          `json:"object"`
	CreatedByID             string          `json:"createdById"`
	CreatedDate             string          `json:"createdDate"`
	SystemModstamp          string          `json:"systemModstamp"`
	State                   string          `json:"state"`
	ExternalIDFieldName     string          `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode         string          `json:"concurrencyMode"`
	ContentType             string          `json:"contentType"`
	APIVersion              json.RawMessage `json:"apiVersion"`
	ContentURL              string          `json:"contentUrl,omitempty"`
	JobType                 string          `json:"jobType,omitempty"`
	LineEnding              string          `json:"lineEnding"`
	ColumnDelimiter         string          `json:"columnDelimiter"`
	NumberRecordsProcessed  *int            `json:"numberRecordsProcessed,omitempty"`
	NumberRecordsFailed     *int            `json:"numberRecordsFailed,omitempty"`
	Retries                 *int            `json:"retries,omitempty"`
	TotalProcessingTime     *int64          `json:"totalProcessingTime,omitempty"`
	APIActiveProcessingTime *int64          `json:"apiActiveProcessingTime,omitempty"`
	ApexProcessingTime      *int64          `json:"apexProcessingTime,omitempty"`
	IsPkChunkingSupported   *bool           `json:"isPkChunkingSupported,omitempty"`
	ErrorMessage            string          `json:"errorMessage,omitempty"`
}

func fmtDT(t time.Time) string { return dtOf(t).String() }

func (j *job) info(full bool) jobInfo {
	ji := jobInfo{ID: j.id, Operation: j.op, Object: j.object, CreatedByID: j.createdBy, CreatedDate: fmtDT(j.created),
		SystemModstamp: fmtDT(j.modstamp), State: j.state, ExternalIDFieldName: j.extField, ConcurrencyMode: "Parallel",
		ContentType: "CSV", APIVersion: json.RawMessage(j.version), LineEnding: j.lineEnding, ColumnDelimiter: j.delim}
	if !j.query {
		ji.ContentURL = "services/data/v" + j.version + "/jobs/ingest/" + j.id + "/batches"
	}
	if full {
		zero := 0
		p, f, pt := j.processed, j.failedN, j.processingMs
		ji.NumberRecordsProcessed, ji.Retries, ji.TotalProcessingTime = &p, &zero, &pt
		if j.query {
			ji.JobType = "V2Query"
			ji.IsPkChunkingSupported = bp(j.comp != nil && len(j.comp.order) == 0 && j.comp.q.limit < 0)
		} else {
			ji.JobType = "V2Ingest"
			z := int64(0)
			ji.NumberRecordsFailed, ji.APIActiveProcessingTime, ji.ApexProcessingTime = &f, &pt, &z
		}
		ji.ErrorMessage = j.errorMessage
	}
	return ji
}

func terminal(state string) bool {
	return state == "JobComplete" || state == "Failed" || state == "Aborted"
}

// advance moves a closed job along UploadComplete → InProgress → JobComplete.
func (s *Server) advance(j *job, poll bool) {
	if terminal(j.state) || j.state == "Open" {
		return
	}
	if d := s.opts.BulkDelay; d > 0 {
		el := s.now().Sub(j.closedAt)
		switch {
		case el >= d:
			s.complete(j)
		case el >= d/2:
			j.state = "InProgress"
		}
		return
	}
	if !poll {
		return
	}
	switch j.state {
	case "UploadComplete":
		j.state = "InProgress"
	case "InProgress":
		s.complete(j)
	}
	j.modstamp = s.now()
}

func (s *Server) takeBulkFault() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.faults.FailBulkJobs > 0 {
		s.faults.FailBulkJobs--
		return true
	}
	return false
}

func (s *Server) complete(j *job) {
	start := time.Now()
	defer func() {
		j.processingMs = time.Since(start).Milliseconds() + 1
		j.modstamp = s.now()
		j.endedAt = j.modstamp
	}()
	if s.takeBulkFault() {
		j.state = "Failed"
		j.errorMessage = "UNKNOWN_EXCEPTION: An unexpected error occurred (injected by the emulator)."
		if !j.query {
			j.unprocessed = s.allRows(j)
		}
		return
	}
	if j.query {
		s.mu.RLock()
		j.rows, _ = s.run(j.comp, j.op == "queryAll")
		s.mu.RUnlock()
		j.processed = len(j.rows)
		j.state = "JobComplete"
		return
	}
	s.ingest(j)
}

func (s *Server) jobVersionOK(c *reqCtx, j *job) bool {
	if j.version != c.version {
		writeErr(c.w, http.StatusConflict, "INVALIDJOB", fmt.Sprintf("Job %s was created with API version %s; access it with the same version, not %s", j.id, j.version, c.version))
		return false
	}
	return true
}

// expire deletes the jobs that ended more than BulkJobRetention ago, as
// Salesforce does; jobMu is held.
func (s *Server) expire() {
	now := s.now()
	for id, j := range s.jobs {
		if !j.endedAt.IsZero() && now.Sub(j.endedAt) >= s.opts.BulkJobRetention {
			delete(s.jobs, id)
		}
	}
}

func (s *Server) getJob(c *reqCtx, id string, query bool) *job {
	s.jobMu.Lock()
	s.expire()
	j := s.jobs[normID(id)]
	s.jobMu.Unlock()
	if j == nil || j.query != query {
		notFound(c.w)
		return nil
	}
	return j
}

func (s *Server) newJobID() string {
	s.jobSeq++
	return mintID("750", s.jobSeq)
}

func (s *Server) listJobs(c *reqCtx, query bool) {
	s.jobMu.Lock()
	s.expire()
	var jobs []*job
	for _, j := range s.jobs {
		if j.query == query {
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].id < jobs[b].id })
	recs := []jobInfo{}
	for _, j := range jobs {
		s.advance(j, false)
		recs = append(recs, j.info(false))
	}
	s.jobMu.Unlock()
	writeJSON(c.w, 200, map[string]any{"done": true, "records": recs, "nextRecordsUrl": nil})
}

func bulkFormat(c *reqCtx, delim, le string) (string, string, bool) {
	if delim == "" {
		delim = "COMMA"
	}
	if le == "" {
		le = "LF"
	}
	if _, ok := delimiters[delim]; !ok {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid column delimiter: "+delim)
		return "", "", false
	}
	if le != "LF" && le != "CRLF" {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid line ending: "+le)
		return "", "", false
	}
	return delim, le, true
}

// ---- query jobs ----

func (s *Server) handleQueryJobs(c *reqCtx) {
	r := c.rest // jobs, query, {id}, results
	m := c.r.Method
	if len(r) == 2 {
		switch m {
		case http.MethodPost:
			s.createQueryJob(c)
		case http.MethodGet:
			s.listJobs(c, true)
		default:
			methodNotAllowed(c.w, c.r, "GET", "POST")
		}
		return
	}
	j := s.getJob(c, r[2], true)
	if j == nil {
		return
	}
	if len(r) == 3 {
		s.jobState(c, j)
		return
	}
	if len(r) == 4 && r[3] == "results" && m == http.MethodGet {
		s.queryResults(c, j)
		return
	}
	if len(r) == 4 && r[3] == "resultPages" && m == http.MethodGet && versionAtLeast(c.version, 58) {
		s.queryResultPages(c, j)
		return
	}
	notFound(c.w)
}

func (s *Server) createQueryJob(c *reqCtx) {
	var body struct {
		Operation, Query, ContentType, ColumnDelimiter, LineEnding string
	}
	if err := decodeBody(c.r, &body); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	if body.Operation == "" {
		body.Operation = "query"
	}
	if body.Operation != "query" && body.Operation != "queryAll" {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid operation: "+body.Operation)
		return
	}
	if body.ContentType != "" && body.ContentType != "CSV" {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid content type: "+body.ContentType)
		return
	}
	delim, le, ok := bulkFormat(c, body.ColumnDelimiter, body.LineEnding)
	if !ok {
		return
	}
	comp, qerr := s.compile(body.Query)
	if qerr != nil {
		writeErr(c.w, 400, qerr.Code, qerr.Message)
		return
	}
	unsupported := ""
	switch {
	case comp.q.count:
		unsupported = "Aggregate Relationships not supported in Bulk Query"
	case comp.q.hasOffset:
		unsupported = "OFFSET clause is not supported in Bulk Query"
	case comp.q.fieldsFn != "":
		unsupported = "FIELDS() is not supported in Bulk Query"
	}
	for _, f := range comp.fields {
		if f.leaf.Type == "address" || f.leaf.Type == "location" {
			unsupported = "Selecting compound data not supported in Bulk Query"
		}
	}
	if unsupported != "" {
		writeErr(c.w, 400, "API_ERROR", unsupported)
		return
	}
	now := s.now()
	s.jobMu.Lock()
	j := &job{query: true, id: s.newJobID(), object: comp.obj.name, op: body.Operation, createdBy: c.sess.userID,
		created: now, modstamp: now, closedAt: now, state: "UploadComplete", version: c.version, delim: delim, lineEnding: le, comp: comp}
	s.jobs[j.id] = j
	info := j.info(false)
	s.jobMu.Unlock()
	writeJSON(c.w, 200, info)
}

// jobState answers GET (status), PATCH (state change) and DELETE on a job.
func (s *Server) jobState(c *reqCtx, j *job) {
	switch c.r.Method {
	case http.MethodGet:
		s.jobMu.Lock()
		s.advance(j, true)
		info := j.info(true)
		s.jobMu.Unlock()
		writeJSON(c.w, 200, info)
	case http.MethodPatch:
		var body struct{ State string }
		if err := decodeBody(c.r, &body); err != nil {
			jsonParseErr(c.w, err)
			return
		}
		s.jobMu.Lock()
		defer s.jobMu.Unlock()
		switch {
		case body.State == "Aborted" && !terminal(j.state):
			j.state = "Aborted"
			j.endedAt = s.now()
			if !j.query {
				j.unprocessed = s.allRows(j)
			}
		case body.State == "UploadComplete" && !j.query && j.state == "Open":
			j.state = "UploadComplete"
			j.closedAt = s.now()
		default:
			writeErr(c.w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Invalid state change from %s to %s.", j.state, body.State))
			return
		}
		j.modstamp = s.now()
		writeJSON(c.w, 200, j.info(false))
	case http.MethodDelete:
		s.jobMu.Lock()
		if !terminal(j.state) && j.state != "Open" {
			s.jobMu.Unlock()
			writeErr(c.w, 400, "INVALIDJOBSTATE", "Job must be in a terminal state or Open before it can be deleted")
			return
		}
		delete(s.jobs, j.id)
		s.jobMu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(c.w, c.r, "GET", "PATCH", "DELETE")
	}
}

func quoteCSV(b []byte, v string) []byte {
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(v, `"`, `""`)...)
	return append(b, '"')
}

// resultsReady checks what every results request checks first: the API
// version the job was created with, and that it completed.
func (s *Server) resultsReady(c *reqCtx, j *job) bool {
	if !s.jobVersionOK(c, j) {
		return false
	}
	s.jobMu.Lock()
	s.advance(j, false)
	state := j.state
	s.jobMu.Unlock()
	if state != "JobComplete" {
		writeErr(c.w, JobNotCompleteStatus, "JOB_NOT_COMPLETE", "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. Current status: "+strings.ToUpper(map[string]string{"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS", "Failed": "FAILED", "Aborted": "ABORTED"}[state]))
		return false
	}
	return true
}

// A locator is the base64 of the row a page starts at: rows are fixed when
// the job completes, so a locator stays valid while the job exists.
func encodeLocator(row int) string {
	return base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(row)))
}

// pageParams reads locator and maxRecords; it answers 400 and returns
// false when either is bad.
func (s *Server) pageParams(c *reqCtx, j *job) (off, page int, ok bool) {
	q := c.r.URL.Query()
	if loc := q.Get("locator"); loc != "" && loc != "null" {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(loc, "="))
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(j.rows) {
			writeErr(c.w, 400, "INVALIDLOCATOR", "Invalid locator: "+loc)
			return 0, 0, false
		}
		off = n
	}
	page = s.opts.BulkPageSize
	if mr := q.Get("maxRecords"); mr != "" {
		n, err := strconv.Atoi(mr)
		if err != nil || n <= 0 {
			writeErr(c.w, 400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
			return 0, 0, false
		}
		page = n
	}
	return off, page, true
}

// maxResultPages is how many result URLs one resultPages answer lists.
const maxResultPages = 5

// queryResultPages answers GET /jobs/query/{id}/resultPages (API 58.0 and
// later): the URLs of the job's result pages, at most five an answer, for
// clients that download pages in parallel; nextRecordsUrl lists the next
// five. Each URL is the results request that returns that page, locator
// (none for the first page) and the caller's maxRecords included.
func (s *Server) queryResultPages(c *reqCtx, j *job) {
	if !s.resultsReady(c, j) {
		return
	}
	off, page, ok := s.pageParams(c, j)
	if !ok {
		return
	}
	base := "/services/data/v" + c.version + "/jobs/query/" + j.id
	suffix := ""
	if mr := c.r.URL.Query().Get("maxRecords"); mr != "" {
		suffix = "maxRecords=" + mr
	}
	withQuery := func(path, loc string) string {
		var params []string
		if loc != "" {
			params = append(params, "locator="+loc)
		}
		if suffix != "" {
			params = append(params, suffix)
		}
		if len(params) == 0 {
			return path
		}
		return path + "?" + strings.Join(params, "&")
	}
	type resultPage struct {
		ResultURL string `json:"resultUrl"`
	}
	pages := []resultPage{}
	next := off
	// Even a job without rows has its first page, as /results answers
	// one (a header).
	for len(pages) < maxResultPages && (next < len(j.rows) || (next == 0 && len(pages) == 0)) {
		loc := ""
		if next > 0 {
			loc = encodeLocator(next)
		}
		pages = append(pages, resultPage{ResultURL: withQuery(base+"/results", loc)})
		next += page
	}
	var nextURL any
	done := next >= len(j.rows)
	if !done {
		nextURL = withQuery(base+"/resultPages", encodeLocator(next))
	}
	writeJSON(c.w, 200, map[string]any{"resultPages": pages, "nextRecordsUrl": nextURL, "done": done})
}

func (s *Server) queryResults(c *reqCtx, j *job) {
	if !s.resultsReady(c, j) {
		return
	}
	off, page, ok := s.pageParams(c, j)
	if !ok {
		return
	}
	end := min(off+page, len(j.rows))
	sep := byte(delimiters[j.delim])
	nl := "\n"
	if j.lineEnding == "CRLF" {
		nl = "\r\n"
	}
	b := make([]byte, 0, 64*(end-off)+256)
	for i, f := range j.comp.fields {
		if i > 0 {
			b = append(b, sep)
		}
		b = quoteCSV(b, strings.Join(f.names, "."))
	}
	b = append(b, nl...)
	s.mu.RLock()
	for _, r := range j.rows[off:end] {
		for i, f := range j.comp.fields {
			if i > 0 {
				b = append(b, sep)
			}
			var v any
			if len(f.hops) == 0 {
				v = r[f.leaf.idx]
			} else {
				v = s.get(f, r)
			}
			b = quoteCSV(b, csvValue(f.leaf, v))
		}
		b = append(b, nl...)
	}
	s.mu.RUnlock()
	next := "null"
	if end < len(j.rows) {
		next = encodeLocator(end)
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/csv")
	h.Set("Sforce-Locator", next)
	h.Set("Sforce-NumberOfRecords", strconv.Itoa(end-off))
	c.w.WriteHeader(200)
	_, _ = c.w.Write(b)
}

// ---- ingest jobs ----

func (s *Server) handleIngestJobs(c *reqCtx) {
	r := c.rest // jobs, ingest, {id}, sub
	m := c.r.Method
	if len(r) == 2 {
		switch m {
		case http.MethodPost:
			s.createIngestJob(c)
		case http.MethodGet:
			s.listJobs(c, false)
		default:
			methodNotAllowed(c.w, c.r, "GET", "POST")
		}
		return
	}
	j := s.getJob(c, r[2], false)
	if j == nil {
		return
	}
	if len(r) == 3 {
		s.jobState(c, j)
		return
	}
	switch {
	case r[3] == "batches" && m == http.MethodPut:
		s.uploadBatch(c, j)
	case (r[3] == "successfulResults" || r[3] == "failedResults" || r[3] == "unprocessedrecords") && m == http.MethodGet:
		s.ingestResults(c, j, r[3])
	default:
		notFound(c.w)
	}
}

func (s *Server) createIngestJob(c *reqCtx) {
	var body struct {
		Object, Operation, ExternalIDFieldName, ContentType, ColumnDelimiter, LineEnding, AssignmentRuleID string
	}
	if err := decodeBody(c.r, &body); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	o := s.objects[strings.ToLower(body.Object)]
	if o == nil {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid object: "+body.Object)
		return
	}
	switch body.Operation {
	case "insert", "update", "upsert", "delete", "hardDelete":
	default:
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid operation: "+body.Operation)
		return
	}
	ext := ""
	if body.Operation == "upsert" {
		f := o.field(body.ExternalIDFieldName)
		if f == nil || !(f.ExternalID || f.IDLookup) {
			writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : External ID was blank for "+o.name+". An External ID must be specified for upsert.")
			return
		}
		ext = f.Name
	}
	if body.ContentType != "" && body.ContentType != "CSV" {
		writeErr(c.w, 400, "INVALIDJOB", "InvalidJob : Invalid content type: "+body.ContentType)
		return
	}
	delim, le, ok := bulkFormat(c, body.ColumnDelimiter, body.LineEnding)
	if !ok {
		return
	}
	now := s.now()
	s.jobMu.Lock()
	j := &job{id: s.newJobID(), object: o.name, op: body.Operation, extField: ext, createdBy: c.sess.userID,
		created: now, modstamp: now, state: "Open", version: c.version, delim: delim, lineEnding: le,
		callOptions: c.r.Header.Get("Sforce-Call-Options")}
	s.jobs[j.id] = j
	info := j.info(false)
	s.jobMu.Unlock()
	writeJSON(c.w, 200, info)
}

func (s *Server) uploadBatch(c *reqCtx, j *job) {
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxUpload+1))
	if err != nil {
		writeErr(c.w, 400, "INVALIDBATCH", err.Error())
		return
	}
	if len(data) > maxUpload {
		writeErr(c.w, 413, "INVALIDBATCH", "InvalidBatch : The upload exceeds the maximum size of 150 MB")
		return
	}
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	if j.state != "Open" {
		writeErr(c.w, 409, "INVALIDJOBSTATE", "Job state must be Open to upload data; it is "+j.state)
		return
	}
	if j.uploads > 0 && !s.opts.IngestAppend {
		writeErr(c.w, 400, "INVALIDJOBSTATE", "Found multiple contents for job: <"+j.id+">, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.")
		return
	}
	if j.uploads > 0 {
		// a further upload repeats the header row; drop it
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	j.upload.Write(data)
	j.uploads++
	c.w.WriteHeader(http.StatusCreated)
}

func (s *Server) readUpload(j *job) ([]string, [][]string, error) {
	rd := csv.NewReader(bytes.NewReader(j.upload.Bytes()))
	rd.Comma = delimiters[j.delim]
	rd.FieldsPerRecord = -1
	all, err := rd.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(all) == 0 {
		return nil, nil, nil
	}
	return all[0], all[1:], nil
}

func (s *Server) allRows(j *job) [][]string {
	h, rows, _ := s.readUpload(j)
	j.header = h
	return rows
}

// column is one resolved header of an ingest CSV.
type column struct {
	field  *Field // the field set (for Rel.Ext: the reference field)
	lookup *Field // for Rel.Ext: the field looked up on the parent
	target *table
}

func (s *Server) ingest(j *job) {
	o := s.objects[strings.ToLower(j.object)]
	t := s.tables[strings.ToLower(j.object)]
	header, rows, err := s.readUpload(j)
	j.header = header
	if err != nil {
		j.state, j.errorMessage = "Failed", "InvalidBatch : Failed to parse CSV: "+err.Error()
		j.unprocessed = nil
		return
	}
	cols := make([]column, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if rel, fld, ok := strings.Cut(h, "."); ok {
			rf := o.byRel[strings.ToLower(rel)]
			var target *table
			if rf != nil {
				for _, to := range rf.ReferenceTo {
					if tt := s.tables[strings.ToLower(to)]; tt != nil {
						target = tt
						break
					}
				}
			}
			var lf *Field
			if target != nil {
				lf = target.obj.field(fld)
			}
			if lf == nil || !(lf.ExternalID || lf.IDLookup) {
				j.state, j.errorMessage = "Failed", "InvalidBatch : Field name not found : "+h
				j.unprocessed = rows
				return
			}
			cols[i] = column{field: rf, lookup: lf, target: target}
			continue
		}
		f := o.field(h)
		if f == nil {
			j.state, j.errorMessage = "Failed", "InvalidBatch : Field name not found : "+h
			j.unprocessed = rows
			return
		}
		cols[i] = column{field: f}
	}
	now := s.now().UnixMilli()
	origin := changeOrigin("bulkapi", j.version, j.callOptions)
	s.mu.Lock()
	defer s.mu.Unlock()
	var tx *changeTxn
	for i, row := range rows {
		// Salesforce commits Bulk data in chunks of 200 records, one
		// transaction each.
		if i%200 == 0 {
			tx = newChangeTxn(origin, j.createdBy)
		}
		id, created, e := s.ingestRow(tx, j, o, t, cols, row, now)
		if e != nil {
			msg := e.StatusCode + ":" + e.Message + ":" + strings.Join(e.Fields, ",") + " --"
			j.failed = append(j.failed, append([]string{id, msg}, row...))
			j.failedN++
		} else {
			j.success = append(j.success, append([]string{id, strconv.FormatBool(created)}, row...))
		}
		j.processed++
	}
	j.state = "JobComplete"
}

func (s *Server) ingestRow(tx *changeTxn, j *job, o *sobject, t *table, cols []column, cells []string, now int64) (string, bool, *dmlError) {
	if len(cells) != len(cols) {
		return "", false, dmlErr("INVALID_FIELD", fmt.Sprintf("the row has %d columns, the header %d", len(cells), len(cols)))
	}
	if s.takeLockFault() {
		return "", false, dmlErr("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
	}
	m := map[string]any{}
	idVal := ""
	for i, col := range cols {
		v := cells[i]
		if col.field.Type == "id" {
			idVal = v
			continue
		}
		if v == "" {
			continue // empty: leave unchanged
		}
		if v == "#N/A" {
			m[col.field.Name] = nil
			continue
		}
		if col.lookup != nil {
			found := col.target.lookup(col.lookup, v)
			if len(found) != 1 {
				return "", false, dmlErr("INVALID_FIELD", fmt.Sprintf("Foreign key external ID: %s not found for field %s in entity %s", v, col.lookup.Name, col.target.obj.name), col.field.Name)
			}
			m[col.field.Name] = found[0].id(col.target.obj)
			continue
		}
		m[col.field.Name] = v
	}
	switch j.op {
	case "insert":
		if idVal != "" {
			return "", false, dmlErr("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", "Id")
		}
		vals, errs := s.buildRecordAs(o, t, nil, m, true, now, j.createdBy)
		if errs != nil {
			return "", false, errs[0]
		}
		return s.commitCreate(tx, t, vals), true, nil
	case "update", "delete", "hardDelete":
		if idVal == "" {
			return "", false, dmlErr("MISSING_ARGUMENT", "Id not specified in an update call", "Id")
		}
		r := t.get(idVal)
		if r == nil {
			if normID(idVal) == "" {
				return "", false, dmlErr("MALFORMED_ID", "bad id "+idVal, "Id")
			}
			return "", false, dmlErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
		}
		id := r.id(o)
		if r.deleted(o) && j.op != "hardDelete" {
			return id, false, dmlErr("ENTITY_IS_DELETED", "entity is deleted")
		}
		if j.op != "update" {
			s.commitDelete(tx, t, r, j.op == "hardDelete", now, j.createdBy)
			return id, false, nil
		}
		vals, errs := s.buildRecordAs(o, t, r.vals, m, false, now, j.createdBy)
		if errs != nil {
			return id, false, errs[0]
		}
		s.commitUpdate(tx, t, r, vals)
		return id, false, nil
	case "upsert":
		f := o.field(j.extField)
		value := idVal
		if f.Type != "id" {
			value, _ = m[f.Name].(string)
		}
		res, _, errs, multi := s.upsert(tx, o, t, f, value, m)
		if multi != nil {
			return "", false, dmlErr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("%s: more than one record found for external id field: %s", f.Name, idsOf(o, multi)), f.Name)
		}
		if errs != nil {
			return "", false, errs[0]
		}
		return res.ID, *res.Created, nil
	}
	return "", false, dmlErr("INVALID_OPERATION", "unsupported operation "+j.op)
}

func (s *Server) ingestResults(c *reqCtx, j *job, which string) {
	if !s.jobVersionOK(c, j) {
		return
	}
	s.jobMu.Lock()
	s.advance(j, false)
	var head []string
	var rows [][]string
	switch which {
	case "successfulResults":
		head = append([]string{"sf__Id", "sf__Created"}, j.header...)
		rows = j.success
	case "failedResults":
		head = append([]string{"sf__Id", "sf__Error"}, j.header...)
		rows = j.failed
	default:
		head = j.header
		rows = j.unprocessed
	}
	if j.header == nil && which != "unprocessedrecords" && j.upload.Len() > 0 {
		h, _, _ := s.readUpload(j)
		head = append(head, h...)
	}
	sep := byte(delimiters[j.delim])
	nl := "\n"
	if j.lineEnding == "CRLF" {
		nl = "\r\n"
	}
	var b []byte
	writeRow := func(cells []string) {
		for i, v := range cells {
			if i > 0 {
				b = append(b, sep)
			}
			b = quoteCSV(b, v)
		}
		b = append(b, nl...)
	}
	if len(head) > 0 {
		writeRow(head)
	}
	for _, r := range rows {
		writeRow(r)
	}
	s.jobMu.Unlock()
	c.w.Header().Set("Content-Type", "text/csv")
	c.w.WriteHeader(200)
	_, _ = c.w.Write(b)
}

// versionAtLeast reports whether API version v (such as "58.0") is major or
// later.
func versionAtLeast(v string, major int) bool {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	return err == nil && n >= major
}
