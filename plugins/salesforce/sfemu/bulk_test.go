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
