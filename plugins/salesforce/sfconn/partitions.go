package sfconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

var _ sdk.Partitioner = (*Connector)(nil)

// partSpec is a partition's spec: one result page of a Bulk query job, or,
// for a read too small for Bulk, the whole REST query.
type partSpec struct {
	V      int    `json:"v"`
	Object string `json:"object"`
	// Fields are the query's columns: the output fields first, then the
	// cursor and Id when the read added them.
	Fields []string `json:"fields"`
	// A Bulk result page: the job, the page's number (from 1, for people)
	// and its resultUrl, the download that returns it.
	Job  string `json:"job,omitempty"`
	Page int    `json:"page,omitempty"`
	URL  string `json:"url,omitempty"`
	// A REST query.
	SOQL    string `json:"soql,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// After is the checkpoint the partitioned read resumed from: the query
	// asks for cursor >= its second, and the records it covers are
	// dropped, as Read drops them.
	After json.RawMessage `json:"after,omitempty"`
}

const partSpecVersion = 1

// minResultPagesVersion is the API version that lists result pages.
const minResultPagesVersion = 58

// Partitions runs the query Read would run (the same SOQL: fields,
// where, pushed-down filters, checkpoint and window) and splits it: a read
// that would use Bulk API 2.0 creates the query job, waits for it, and
// lists its result pages with GET /jobs/query/{id}/resultPages, one
// partition per page; a read that would use REST (api = rest, or api =
// auto below bulk_threshold) is one partition that runs the query, so a
// small read spends no Bulk job (10,000 a day per org) on being split.
// The job is left for Salesforce to delete, 7 days after it completed:
// only the engine knows when every page has been read.
func (c *Connector) Partitions(ctx context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	p, err := c.plan(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	bulk, n, err := c.useBulk(ctx, p)
	if err != nil {
		return nil, err
	}
	spec := partSpec{V: partSpecVersion, Object: p.obj.Name}
	for _, f := range p.e.qfields {
		spec.Fields = append(spec.Fields, f.Name)
	}
	if p.e.cursor != "" && len(req.Checkpoint) > 0 {
		spec.After = json.RawMessage(req.Checkpoint)
	}
	if !bulk {
		spec.SOQL, spec.Deleted = p.soql, p.o.deleted
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, fmt.Errorf("salesforce: partition spec: %w", err)
		}
		return []sdk.Partition{{Key: p.obj.Name + " (REST query)", Spec: b, Size: max(n, 0)}}, nil
	}
	if !versionAtLeast(c.cl.cfg.apiVersion, minResultPagesVersion) {
		return nil, fmt.Errorf("salesforce: Bulk result pages are listed for separate download from API version %d.0 on, and api_version is %s: %w",
			minResultPagesVersion, c.cl.cfg.apiVersion, sdk.ErrUnsupported)
	}
	id, total, err := c.runBulkJob(ctx, p.soql, p.o.deleted)
	if err != nil {
		return nil, err
	}
	urls, err := c.resultPages(ctx, id, p.o.pageRecords)
	if err != nil {
		return nil, err
	}
	if len(urls) == 0 && total > 0 {
		// No partitions would read as no records.
		return nil, fmt.Errorf("salesforce: Bulk query job %s found %d records but lists no result pages", id, total)
	}
	parts := make([]sdk.Partition, len(urls))
	for i, u := range urls {
		s := spec
		s.Job, s.Page, s.URL = id, i+1, u
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("salesforce: partition spec: %w", err)
		}
		parts[i] = sdk.Partition{Key: fmt.Sprintf("%s/page %d", id, i+1), Spec: b, Size: pageRows(total, len(urls), i, p.o.pageRecords)}
	}
	return parts, nil
}

// pageRows estimates the records of page i of n holding total: exact with
// bulk_page_records, an even share otherwise (the server's page size is
// not announced).
func pageRows(total int64, n, i, pageRecords int) int64 {
	if total <= 0 || n == 0 {
		return 0
	}
	if pageRecords > 0 {
		return min(max(total-int64(i)*int64(pageRecords), 0), int64(pageRecords))
	}
	share := total / int64(n)
	if int64(i) < total%int64(n) {
		share++
	}
	return share
}

// resultPages lists job id's result downloads, following nextRecordsUrl
// until done. Salesforce's documentation spells the keys two ways
// (resultUrl in the element table, resultLink in an example;
// nextRecordsUrl and nextRecordUrl), so both are taken.
func (c *Connector) resultPages(ctx context.Context, id string, pageRecords int) ([]string, error) {
	r := request{method: "GET", path: "jobs/query/" + id + "/resultPages"}
	if pageRecords > 0 {
		r.query = url.Values{"maxRecords": {strconv.Itoa(pageRecords)}}
	}
	var urls []string
	seen := map[string]bool{}
	for {
		var ans struct {
			ResultPages []struct {
				ResultURL  string `json:"resultUrl"`
				ResultLink string `json:"resultLink"`
			} `json:"resultPages"`
			NextRecordsURL string `json:"nextRecordsUrl"`
			NextRecordURL  string `json:"nextRecordUrl"`
			Done           bool   `json:"done"`
		}
		if err := c.cl.doJSON(ctx, r, &ans); err != nil {
			return nil, fmt.Errorf("salesforce: listing the result pages of Bulk query job %s: %w", id, err)
		}
		for _, p := range ans.ResultPages {
			u := p.ResultURL
			if u == "" {
				u = p.ResultLink
			}
			path, err := instancePath(u)
			if err != nil {
				return nil, fmt.Errorf("salesforce: Bulk query job %s lists result page %q: %w", id, u, err)
			}
			urls = append(urls, path)
		}
		next := ans.NextRecordsURL
		if next == "" {
			next = ans.NextRecordURL
		}
		if ans.Done || next == "" {
			return urls, nil
		}
		path, err := instancePath(next)
		if err != nil {
			return nil, fmt.Errorf("salesforce: Bulk query job %s: next result pages %q: %w", id, next, err)
		}
		if seen[path] {
			return nil, fmt.Errorf("salesforce: Bulk query job %s: the result page listing repeats %s", id, path)
		}
		seen[path] = true
		r = request{method: "GET", path: path}
	}
}

// instancePath turns a URL Salesforce hands out into a path on the
// instance, the form request takes ("/services/data/...?...").
func instancePath(u string) (string, error) {
	if u == "" {
		return "", errors.New("empty URL")
	}
	if strings.HasPrefix(u, "/") {
		return u, nil
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	if parsed.IsAbs() {
		return parsed.RequestURI(), nil
	}
	return "/" + u, nil
}

// readPartition reads the part spec names: one Bulk result page, parsed
// as Read parses pages, or the REST query. It sends no checkpoints: a
// position covers every record before it, which one page cannot vouch for.
func (c *Connector) readPartition(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	var spec partSpec
	if err := json.Unmarshal(req.Partition, &spec); err != nil || spec.V != partSpecVersion || (spec.URL == "") == (spec.SOQL == "") {
		return fmt.Errorf("salesforce: the partition %.100q is not one this connector's Partitions made", req.Partition)
	}
	o, err := parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	if !strings.EqualFold(o.object, spec.Object) {
		return fmt.Errorf("salesforce: the partition is of %s, but the source reads %s", spec.Object, o.object)
	}
	obj, err := c.describe(ctx, spec.Object)
	if err != nil {
		return err
	}
	fields, err := obj.selectFields(req.Fields)
	if err != nil {
		return err
	}
	e := c.newEmitter(ctx, out, fields, req.Limits)
	e.partial = true
	e.qfields = e.qfields[:0]
	for i, name := range spec.Fields {
		f := obj.field(name)
		if f == nil {
			return fmt.Errorf("salesforce: the partition queries %s.%s, which the object no longer has", obj.Name, name)
		}
		if i < len(fields) && f != fields[i] {
			break
		}
		e.qfields = append(e.qfields, f)
	}
	if len(e.qfields) != len(spec.Fields) || len(spec.Fields) < len(fields) {
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.Name
		}
		return fmt.Errorf("salesforce: the partition was made for the fields %s, but the read asks for %s",
			strings.Join(spec.Fields, ", "), strings.Join(names, ", "))
	}
	if len(spec.After) > 0 {
		var cp checkpoint
		if err := json.Unmarshal(spec.After, &cp); err != nil {
			return fmt.Errorf("salesforce: partition checkpoint %s: %w", spec.After, err)
		}
		cf := obj.field(cp.Cursor)
		if cf == nil {
			return fmt.Errorf("salesforce: the partition's checkpoint is of cursor %q, which %s does not have", cp.Cursor, obj.Name)
		}
		if err := e.track(obj, cf); err != nil {
			return err
		}
		if _, err := e.resume(spec.After); err != nil {
			return err
		}
	}
	if spec.URL != "" {
		err = c.readPage(ctx, &spec, e)
	} else {
		err = c.readREST(ctx, spec.SOQL, spec.Deleted, e)
	}
	if err != nil {
		e.release()
		return err
	}
	return e.flush()
}

// readPage downloads and emits one Bulk result page.
func (c *Connector) readPage(ctx context.Context, spec *partSpec, e *emitter) error {
	r := request{method: "GET", path: spec.URL, accept: "text/csv"}
	resp, err := c.cl.do(ctx, r)
	if err != nil {
		return pageErr(spec, err)
	}
	p := c.parsePage(ctx, resp.Body, spec.Job, r)
	if p.err != nil {
		return pageErr(spec, p.err)
	}
	return e.addCSV(p.head, p.rows)
}

// pageErr explains a page that cannot be downloaded because its job is
// gone: Salesforce deletes a job 7 days after it ends, and anyone may
// delete it sooner.
func pageErr(spec *partSpec, err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == 404 {
		return fmt.Errorf("salesforce: Bulk query job %s no longer exists (Salesforce deletes a job 7 days after it completes, and it may have been deleted sooner), so page %d of its results cannot be read; partition the read again: %w",
			spec.Job, spec.Page, err)
	}
	return fmt.Errorf("salesforce: Bulk query job %s, page %d: %w", spec.Job, spec.Page, err)
}

// versionAtLeast reports whether API version v (such as "64.0") is major or
// later.
func versionAtLeast(v string, major int) bool {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	return err == nil && n >= major
}
