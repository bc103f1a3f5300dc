package sfemu

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBulkQuery(t *testing.T) {
	e := newEnv(t, Options{Records: 2500, Seed: 5})
	r := e.do("POST", v+"/jobs/query", `{"operation":"query","query":"SELECT Id, Name, Account.Name, IsDeleted, CreatedDate, Birthdate FROM Contact"}`)
	var info map[string]any
	r.json(t, &info)
	if r.status != 200 || info["state"] != "UploadComplete" || info["object"] != "Contact" || !strings.Contains(string(r.body), `"apiVersion":60.0`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := info["id"].(string)
	if id[:3] != "750" || !ValidID(id) {
		t.Fatal(id)
	}
	// results before completion
	if r := e.do("GET", v+"/jobs/query/"+id+"/results", ""); r.status != JobNotCompleteStatus || !strings.Contains(string(r.body), "JOB_NOT_COMPLETE") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var states []string
	for i := 0; i < 5; i++ {
		e.do("GET", v+"/jobs/query/"+id, "").json(t, &info)
		states = append(states, info["state"].(string))
		if info["state"] == "JobComplete" {
			break
		}
	}
	if strings.Join(states, ",") != "InProgress,JobComplete" || info["jobType"] != "V2Query" || info["numberRecordsProcessed"] != 2500.0 {
		t.Fatalf("%v %v", states, info)
	}
	if r := e.do("GET", "/services/data/v61.0/jobs/query/"+id+"/results", ""); r.status != 409 {
		t.Fatalf("version mismatch: %d", r.status)
	}
	total, pages := 0, 0
	loc := ""
	for {
		path := v + "/jobs/query/" + id + "/results?maxRecords=1000"
		if loc != "" {
			path += "&locator=" + loc
		}
		r := e.do("GET", path, "", "Accept", "text/csv")
		if r.status != 200 || r.header.Get("Content-Type") != "text/csv" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		pages++
		recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], ",") != "Id,Name,Account.Name,IsDeleted,CreatedDate,Birthdate" {
			t.Fatalf("header %v", recs[0])
		}
		if !strings.HasPrefix(string(r.body), `"Id","Name","Account.Name","IsDeleted","CreatedDate","Birthdate"`+"\n\"003") {
			t.Fatalf("quoting: %.120s", r.body)
		}
		n := len(recs) - 1
		if r.header.Get("Sforce-NumberOfRecords") != strconv.Itoa(n) {
			t.Fatal("Sforce-NumberOfRecords")
		}
		row := recs[1]
		if row[3] != "false" || !strings.HasSuffix(row[4], ".000Z") {
			t.Fatalf("values %v", row)
		}
		total += n
		loc = r.header.Get("Sforce-Locator")
		if loc == "null" {
			break
		}
		if loc == "" {
			t.Fatal("no locator")
		}
	}
	if total != 2500 || pages != 3 {
		t.Fatalf("%d rows in %d pages", total, pages)
	}
	// bad SOQL, unsupported features, delete
	if r := e.do("POST", v+"/jobs/query", `{"operation":"query","query":"SELECT Nope FROM Account"}`); r.status != 400 || !strings.Contains(string(r.body), "INVALID_FIELD") {
		t.Fatal(r.status)
	}
	if r := e.do("POST", v+"/jobs/query", `{"operation":"query","query":"SELECT COUNT() FROM Account"}`); r.status != 400 {
		t.Fatal(r.status)
	}
	if r := e.do("DELETE", v+"/jobs/query/"+id, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", v+"/jobs/query/"+id, ""); r.status != 404 {
		t.Fatal(r.status)
	}
}

func TestBulkQueryDelayAndQueryAll(t *testing.T) {
	e := newEnv(t, Options{Records: 10, BulkDelay: 10 * time.Second})
	e.do("DELETE", v+"/sobjects/Case/"+mintID("500", 1), "")
	var info map[string]any
	e.do("POST", v+"/jobs/query", `{"operation":"queryAll","query":"SELECT Id, IsDeleted FROM Case WHERE IsDeleted = true","columnDelimiter":"PIPE","lineEnding":"CRLF"}`).json(t, &info)
	id := info["id"].(string)
	e.do("GET", v+"/jobs/query/"+id, "").json(t, &info)
	if info["state"] != "UploadComplete" {
		t.Fatal(info["state"])
	}
	e.clk.t = e.clk.t.Add(6 * time.Second)
	e.do("GET", v+"/jobs/query/"+id, "").json(t, &info)
	if info["state"] != "InProgress" {
		t.Fatal(info["state"])
	}
	e.clk.t = e.clk.t.Add(6 * time.Second)
	r := e.do("GET", v+"/jobs/query/"+id+"/results", "")
	if r.status != 200 || string(r.body) != "\"Id\"|\"IsDeleted\"\r\n\""+mintID("500", 1)+"\"|\"true\"\r\n" {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

func TestBulkIngest(t *testing.T) {
	e := newEnv(t, Options{Records: 3, CustomObjects: []ObjectDef{{Name: "Ext__c", Fields: []Field{{Name: "Key__c", ExternalID: true}}}}})
	create := func(body string) string {
		var info map[string]any
		r := e.do("POST", v+"/jobs/ingest", body)
		r.json(t, &info)
		if r.status != 200 || info["state"] != "Open" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if info["contentUrl"] != "services/data/v60.0/jobs/ingest/"+info["id"].(string)+"/batches" {
			t.Fatalf("contentUrl %v", info["contentUrl"])
		}
		return info["id"].(string)
	}
	run := func(id, csvData string) map[string]any {
		if r := e.do("PUT", v+"/jobs/ingest/"+id+"/batches", csvData, "Content-Type", "text/csv"); r.status != 201 || len(r.body) != 0 {
			t.Fatalf("upload %d %s", r.status, r.body)
		}
		if r := e.do("PUT", v+"/jobs/ingest/"+id+"/batches", csvData, "Content-Type", "text/csv"); r.status != 400 || !strings.Contains(string(r.body), "INVALIDJOBSTATE") {
			t.Fatalf("second upload %d %s", r.status, r.body)
		}
		var info map[string]any
		if r := e.do("PATCH", v+"/jobs/ingest/"+id, `{"state":"UploadComplete"}`); r.status != 200 {
			t.Fatal(r.status)
		}
		for i := 0; i < 4 && info["state"] != "JobComplete" && info["state"] != "Failed"; i++ {
			e.do("GET", v+"/jobs/ingest/"+id, "").json(t, &info)
		}
		return info
	}
	id := create(`{"object":"Account","operation":"insert","lineEnding":"LF"}`)
	info := run(id, "Name,Industry,NumberOfEmployees\n\"Acme, Inc.\",Banking,10\n,Energy,5\nGlobex,#N/A,notanumber\n\"Quote \"\"Co\"\"\",,\n")
	if info["state"] != "JobComplete" || info["numberRecordsProcessed"] != 4.0 || info["numberRecordsFailed"] != 2.0 {
		t.Fatalf("%v", info)
	}
	ok := e.do("GET", v+"/jobs/ingest/"+id+"/successfulResults/", "")
	rows, _ := csv.NewReader(strings.NewReader(string(ok.body))).ReadAll()
	if strings.Join(rows[0], ",") != "sf__Id,sf__Created,Name,Industry,NumberOfEmployees" || len(rows) != 3 || rows[1][1] != "true" || rows[2][2] != `Quote "Co"` {
		t.Fatalf("%q", ok.body)
	}
	bad := e.do("GET", v+"/jobs/ingest/"+id+"/failedResults/", "")
	rows, _ = csv.NewReader(strings.NewReader(string(bad.body))).ReadAll()
	if strings.Join(rows[0], ",") != "sf__Id,sf__Error,Name,Industry,NumberOfEmployees" || len(rows) != 3 ||
		rows[1][1] != "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --" || rows[1][0] != "" {
		t.Fatalf("%q", bad.body)
	}
	if un := e.do("GET", v+"/jobs/ingest/"+id+"/unprocessedrecords/", ""); string(un.body) != "\"Name\",\"Industry\",\"NumberOfEmployees\"\n" {
		t.Fatalf("%q", un.body)
	}
	var p page
	e.query(v+"/query", "SELECT Id, Name FROM Account WHERE Name = 'Acme, Inc.'").json(t, &p)
	acmeID := p.Records[0]["Id"].(string)

	// update: empty cell leaves a value, #N/A nulls it
	id = create(`{"object":"Account","operation":"update"}`)
	info = run(id, "Id,Industry,NumberOfEmployees\n"+acmeID+",,#N/A\n"+ghost+",Energy,1\n")
	if info["numberRecordsFailed"] != 1.0 {
		t.Fatal(info)
	}
	e.query(v+"/query", "SELECT Industry, NumberOfEmployees FROM Account WHERE Id = '"+acmeID+"'").json(t, &p)
	if p.Records[0]["Industry"] != "Banking" || p.Records[0]["NumberOfEmployees"] != nil {
		t.Fatal(p.Records[0])
	}
	// upsert with a relationship column
	id = create(`{"object":"Ext__c","operation":"upsert","externalIdFieldName":"Key__c"}`)
	info = run(id, "Key__c,Name,Owner.Username\nK1,one,"+DefaultUsername+"\nK2,two,\n")
	if info["numberRecordsFailed"] != 0.0 || info["numberRecordsProcessed"] != 2.0 {
		t.Fatal(info)
	}
	id = create(`{"object":"Ext__c","operation":"upsert","externalIdFieldName":"Key__c"}`)
	run(id, "Key__c,Name\nK1,uno\nK3,three\n")
	ok = e.do("GET", v+"/jobs/ingest/"+id+"/successfulResults/", "")
	rows, _ = csv.NewReader(strings.NewReader(string(ok.body))).ReadAll()
	if rows[1][1] != "false" || rows[2][1] != "true" {
		t.Fatalf("%q", ok.body)
	}
	// delete, and a job that fails on an unknown column
	id = create(`{"object":"Account","operation":"delete"}`)
	if info := run(id, "Id\n"+acmeID+"\n"); info["numberRecordsFailed"] != 0.0 {
		t.Fatal(info)
	}
	id = create(`{"object":"Account","operation":"insert"}`)
	info = run(id, "Name,Bogus\nx,y\n")
	if info["state"] != "Failed" || !strings.Contains(info["errorMessage"].(string), "Bogus") {
		t.Fatal(info)
	}
	if un := e.do("GET", v+"/jobs/ingest/"+id+"/unprocessedrecords/", ""); string(un.body) != "\"Name\",\"Bogus\"\n\"x\",\"y\"\n" {
		t.Fatalf("%q", un.body)
	}
	if r := e.do("POST", v+"/jobs/ingest", `{"object":"Nope","operation":"insert"}`); r.status != 400 {
		t.Fatal(r.status)
	}
	var list struct {
		Done    bool
		Records []map[string]any
	}
	e.do("GET", v+"/jobs/ingest", "").json(t, &list)
	if !list.Done || len(list.Records) != 6 {
		t.Fatal(len(list.Records))
	}
}

// completedQueryJob creates a query job over Contact and polls it to
// JobComplete; it returns the job id.
func completedQueryJob(t *testing.T, e *env, version string) string {
	t.Helper()
	var info map[string]any
	e.do("POST", "/services/data/v"+version+"/jobs/query", `{"operation":"query","query":"SELECT Id, Name FROM Contact"}`).json(t, &info)
	id, _ := info["id"].(string)
	if id == "" {
		t.Fatalf("no job: %v", info)
	}
	for info["state"] != "JobComplete" {
		e.do("GET", "/services/data/v"+version+"/jobs/query/"+id, "").json(t, &info)
	}
	return id
}

type resultPagesAnswer struct {
	ResultPages []struct {
		ResultURL string `json:"resultUrl"`
	} `json:"resultPages"`
	NextRecordsURL *string `json:"nextRecordsUrl"`
	Done           bool    `json:"done"`
}

// walkResultPages follows nextRecordsUrl from path and returns every
// resultUrl and how many answers listed them.
func walkResultPages(t *testing.T, e *env, path string) (urls []string, answers int) {
	t.Helper()
	for {
		r := e.do("GET", path, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var a resultPagesAnswer
		r.json(t, &a)
		answers++
		if len(a.ResultPages) == 0 || len(a.ResultPages) > 5 {
			t.Fatalf("answer %d lists %d result URLs, want 1 to 5: %s", answers, len(a.ResultPages), r.body)
		}
		for _, p := range a.ResultPages {
			urls = append(urls, p.ResultURL)
		}
		if a.Done {
			if a.NextRecordsURL != nil {
				t.Fatalf("done, yet nextRecordsUrl %q", *a.NextRecordsURL)
			}
			return urls, answers
		}
		if a.NextRecordsURL == nil || !strings.HasPrefix(*a.NextRecordsURL, "/services/data/v60.0/jobs/query/") {
			t.Fatalf("not done, nextRecordsUrl %v", a.NextRecordsURL)
		}
		path = *a.NextRecordsURL
	}
}

func TestBulkQueryResultPages(t *testing.T) {
	e := newEnv(t, Options{Records: 1234, Seed: 5, BulkPageSize: 100})
	id := completedQueryJob(t, e, "60.0")

	// Sequential download through Sforce-Locator, for comparison.
	var sequential []string
	loc := ""
	for {
		path := v + "/jobs/query/" + id + "/results"
		if loc != "" {
			path += "?locator=" + loc
		}
		r := e.do("GET", path, "", "Accept", "text/csv")
		sequential = append(sequential, string(r.body))
		if loc = r.header.Get("Sforce-Locator"); loc == "null" {
			break
		}
	}

	urls, answers := walkResultPages(t, e, v+"/jobs/query/"+id+"/resultPages")
	if len(urls) != 13 || answers != 3 {
		t.Fatalf("%d result URLs in %d answers, want 13 pages of 100 rows in 3 answers of at most 5", len(urls), answers)
	}
	if urls[0] != v+"/jobs/query/"+id+"/results" || !strings.Contains(urls[1], "/results?locator=") {
		t.Fatalf("result URLs %v", urls[:2])
	}
	rows := 0
	for i, u := range urls {
		r := e.do("GET", u, "", "Accept", "text/csv")
		if r.status != 200 || string(r.body) != sequential[i] {
			t.Fatalf("page %d (%s): %d, differs from the sequential download", i+1, u, r.status)
		}
		n, _ := strconv.Atoi(r.header.Get("Sforce-NumberOfRecords"))
		rows += n
	}
	if rows != 1234 {
		t.Fatalf("the pages hold %d rows, want 1234", rows)
	}

	// The URLs stay valid and answer the same while the job exists, other
	// jobs notwithstanding.
	completedQueryJob(t, e, "60.0")
	if again, _ := walkResultPages(t, e, v+"/jobs/query/"+id+"/resultPages"); strings.Join(again, " ") != strings.Join(urls, " ") {
		t.Fatal("a second listing gives other URLs")
	}
	if r := e.do("GET", urls[7], "", "Accept", "text/csv"); string(r.body) != sequential[7] {
		t.Fatal("page 8 changed")
	}

	// maxRecords sizes the pages and travels in their URLs.
	urls, _ = walkResultPages(t, e, v+"/jobs/query/"+id+"/resultPages?maxRecords=500")
	if len(urls) != 3 || !strings.HasSuffix(urls[0], "/results?maxRecords=500") || !strings.Contains(urls[2], "&maxRecords=500") {
		t.Fatalf("with maxRecords=500: %v", urls)
	}
	if r := e.do("GET", urls[2], "", "Accept", "text/csv"); r.header.Get("Sforce-NumberOfRecords") != "234" || r.header.Get("Sforce-Locator") != "null" {
		t.Fatalf("last page of 500: %s rows, locator %s", r.header.Get("Sforce-NumberOfRecords"), r.header.Get("Sforce-Locator"))
	}
	if r := e.do("GET", v+"/jobs/query/"+id+"/resultPages?maxRecords=0", ""); r.status != 400 {
		t.Fatalf("maxRecords=0: %d", r.status)
	}
	if r := e.do("GET", v+"/jobs/query/"+id+"/resultPages?locator=bm9wZQ", ""); r.status != 400 || !strings.Contains(string(r.body), "INVALIDLOCATOR") {
		t.Fatalf("bad locator: %d %s", r.status, r.body)
	}
}

func TestBulkQueryResultPagesRefusals(t *testing.T) {
	e := newEnv(t, Options{Records: 30, BulkDelay: 10 * time.Second})
	var info map[string]any
	e.do("POST", v+"/jobs/query", `{"operation":"query","query":"SELECT Id FROM Account"}`).json(t, &info)
	id := info["id"].(string)
	// Like /results: not before the job completes, only with its version.
	if r := e.do("GET", v+"/jobs/query/"+id+"/resultPages", ""); r.status != JobNotCompleteStatus || !strings.Contains(string(r.body), "JOB_NOT_COMPLETE") {
		t.Fatalf("before completion: %d %s", r.status, r.body)
	}
	e.clk.Advance(11 * time.Second)
	if r := e.do("GET", v+"/jobs/query/"+id+"/resultPages", ""); r.status != 200 {
		t.Fatalf("after completion: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/services/data/v61.0/jobs/query/"+id+"/resultPages", ""); r.status != 409 {
		t.Fatalf("other API version: %d", r.status)
	}
	// The resource exists from API 58.0.
	old := completedQueryJobIn(t, e, "57.0")
	if r := e.do("GET", "/services/data/v57.0/jobs/query/"+old+"/resultPages", ""); r.status != 404 {
		t.Fatalf("v57.0: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/services/data/v57.0/jobs/query/"+old+"/results", ""); r.status != 200 {
		t.Fatalf("v57.0 results: %d", r.status)
	}
	if r := e.do("GET", v+"/jobs/query/"+mintID("750", 999)+"/resultPages", ""); r.status != 404 || !strings.Contains(string(r.body), "NOT_FOUND") {
		t.Fatalf("unknown job: %d %s", r.status, r.body)
	}
	// A job without rows still has its first page.
	e.do("POST", v+"/jobs/query", `{"operation":"query","query":"SELECT Id FROM Account WHERE Name = 'nobody'"}`).json(t, &info)
	empty := info["id"].(string)
	e.clk.Advance(11 * time.Second)
	if urls, _ := walkResultPages(t, e, v+"/jobs/query/"+empty+"/resultPages"); len(urls) != 1 {
		t.Fatalf("empty job: %v", urls)
	}
}

// completedQueryJobIn is completedQueryJob for a server with BulkDelay.
func completedQueryJobIn(t *testing.T, e *env, version string) string {
	t.Helper()
	var info map[string]any
	e.do("POST", "/services/data/v"+version+"/jobs/query", `{"operation":"query","query":"SELECT Id FROM Account"}`).json(t, &info)
	e.clk.Advance(11 * time.Second)
	return info["id"].(string)
}

func TestBulkJobsExpireAfterRetention(t *testing.T) {
	e := newEnv(t, Options{Records: 10, SessionTTL: 30 * 24 * time.Hour})
	id := completedQueryJob(t, e, "60.0")
	e.clk.Advance(7*24*time.Hour - time.Minute)
	if r := e.do("GET", v+"/jobs/query/"+id+"/resultPages", ""); r.status != 200 {
		t.Fatalf("a minute before expiry: %d %s", r.status, r.body)
	}
	e.clk.Advance(time.Minute)
	for _, path := range []string{"", "/results", "/resultPages"} {
		if r := e.do("GET", v+"/jobs/query/"+id+path, ""); r.status != 404 {
			t.Fatalf("GET job%s 7 days after it completed: %d, want 404", path, r.status)
		}
	}
	var list struct {
		Records []map[string]any `json:"records"`
	}
	e.do("GET", v+"/jobs/query", "").json(t, &list)
	if len(list.Records) != 0 {
		t.Fatalf("the expired job is still listed: %v", list.Records)
	}
}
