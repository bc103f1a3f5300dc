package sfemu

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

var ghost = mintID("001", 99999)

type page struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, Options{Records: 5000, Seed: 3})
	r := e.query(v+"/query", "SELECT Id, Name, CreatedDate FROM Account")
	seen := map[string]bool{}
	pages := 0
	locRE := regexp.MustCompile(`^/services/data/v60\.0/query/01g[0-9A-Za-z]{15}-\d+$`)
	for {
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if !strings.HasPrefix(r.header.Get("Sforce-Limit-Info"), "api-usage=") {
			t.Fatal("no Sforce-Limit-Info")
		}
		var p page
		r.json(t, &p)
		pages++
		if p.TotalSize != 5000 {
			t.Fatalf("totalSize %d", p.TotalSize)
		}
		for _, rec := range p.Records {
			id := rec["Id"].(string)
			attrs := rec["attributes"].(map[string]any)
			if attrs["type"] != "Account" || attrs["url"] != "/services/data/v60.0/sobjects/Account/"+id || !ValidID(id) || len(id) != 18 {
				t.Fatalf("record %v", rec)
			}
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$`).MatchString(rec["CreatedDate"].(string)) {
				t.Fatalf("datetime %v", rec["CreatedDate"])
			}
			seen[id] = true
		}
		if p.Done {
			if p.NextRecordsURL != "" || strings.Contains(string(r.body), "nextRecordsUrl") {
				t.Fatal("nextRecordsUrl on the last page")
			}
			break
		}
		if len(p.Records) != 2000 || !locRE.MatchString(p.NextRecordsURL) {
			t.Fatalf("page of %d, next %q", len(p.Records), p.NextRecordsURL)
		}
		r = e.do("GET", p.NextRecordsURL, "")
	}
	if pages != 3 || len(seen) != 5000 {
		t.Fatalf("%d pages, %d records", pages, len(seen))
	}
	// batchSize header, trailing slash form
	r = e.do("GET", v+"/query/?q=SELECT+Id+FROM+Contact", "", "Sforce-Query-Options", "batchSize=500")
	var p page
	r.json(t, &p)
	if len(p.Records) != 500 || p.Done {
		t.Fatalf("batchSize: %d", len(p.Records))
	}
	if r := e.do("GET", v+"/query/01gRO0000000zzzAAA-2000", ""); r.status != 400 || !strings.Contains(string(r.body), "INVALID_QUERY_LOCATOR") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "/services/data/", ""); r.status != 200 || r.header.Get("Sforce-Limit-Info") != "" {
		t.Fatal("versions list")
	}
}

func TestQueryAllDeleted(t *testing.T) {
	e := newEnv(t, Options{Records: 20})
	var p page
	e.query(v+"/query", "SELECT Id FROM Lead ORDER BY Id LIMIT 3").json(t, &p)
	for _, rec := range p.Records {
		if r := e.do("DELETE", v+"/sobjects/Lead/"+rec["Id"].(string), ""); r.status != 204 {
			t.Fatalf("delete %d %s", r.status, r.body)
		}
	}
	count := func(path, q string) int {
		var p page
		e.query(path, q).json(t, &p)
		return p.TotalSize
	}
	if n := count(v+"/query", "SELECT COUNT() FROM Lead"); n != 17 {
		t.Fatal(n)
	}
	if n := count(v+"/queryAll", "SELECT COUNT() FROM Lead"); n != 20 {
		t.Fatal(n)
	}
	var del page
	e.query(v+"/queryAll", "SELECT Id, IsDeleted, SystemModstamp FROM Lead WHERE IsDeleted = true").json(t, &del)
	if del.TotalSize != 3 || del.Records[0]["IsDeleted"] != true {
		t.Fatalf("%+v", del)
	}
	if r := e.do("GET", v+"/sobjects/Lead/"+p.Records[0]["Id"].(string), ""); r.status != 404 || !strings.Contains(string(r.body), "ENTITY_IS_DELETED") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestCRUD(t *testing.T) {
	e := newEnv(t, Options{CustomObjects: []ObjectDef{{Name: "Invoice__c", Fields: []Field{
		{Name: "Number__c", Type: "string", ExternalID: true, Length: 20},
		{Name: "Amount__c", Type: "currency", Required: true},
		{Name: "Account__c", Type: "reference", ReferenceTo: []string{"Account"}},
	}}}})
	r := e.do("POST", v+"/sobjects/Account", `{"Name":"Acme","Industry":"Banking","NumberOfEmployees":12}`)
	var cr map[string]any
	r.json(t, &cr)
	if r.status != 201 || string(r.body) != fmt.Sprintf(`{"id":"%s","success":true,"errors":[]}`, cr["id"]) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := cr["id"].(string)
	if id[:3] != "001" || !ValidID(id) {
		t.Fatal(id)
	}
	r = e.do("POST", v+"/sobjects/Account", `{"Industry":"Banking"}`)
	if r.status != 400 || string(r.body) != `[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("POST", v+"/sobjects/Account", `{"Name":"x","Bogus":1}`)
	if r.status != 400 || !strings.Contains(string(r.body), `"errorCode":"INVALID_FIELD"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("POST", v+"/sobjects/Account", `{"Name":`+fmt.Sprintf("%q", strings.Repeat("x", 256))+`}`)
	if r.status != 400 || !strings.Contains(string(r.body), "STRING_TOO_LONG") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("POST", v+"/sobjects/Account", `{"Name":`); r.status != 400 || !strings.Contains(string(r.body), "JSON_PARSER_ERROR") {
		t.Fatal(r.status)
	}
	r = e.do("GET", v+"/sobjects/Account/"+id[:15]+"?fields=Name,NumberOfEmployees", "")
	var got map[string]any
	r.json(t, &got)
	if r.status != 200 || got["Name"] != "Acme" || got["NumberOfEmployees"] != 12.0 || len(got) != 3 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("PATCH", v+"/sobjects/Account/"+id, `{"Name":"Acme 2","Industry":null}`); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("GET", v+"/sobjects/Account/"+id, "")
	r.json(t, &got)
	if got["Name"] != "Acme 2" || got["Industry"] != nil || got["SystemModstamp"] == got["CreatedDate"] && false {
		t.Fatalf("%s", r.body)
	}
	if _, ok := got["BillingAddress"]; !ok {
		t.Fatal("compound field missing from GET")
	}
	if r := e.do("PATCH", v+"/sobjects/Account/"+id, `{"Name":null}`); r.status != 400 || !strings.Contains(string(r.body), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// upsert by external id
	r = e.do("PATCH", v+"/sobjects/Invoice__c/Number__c/INV-1", `{"Amount__c":10,"Account__c":"`+id+`"}`)
	if r.status != 201 || !strings.Contains(string(r.body), `"created":true`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("PATCH", v+"/sobjects/Invoice__c/Number__c/INV-1", `{"Amount__c":11}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"created":false`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("PATCH", v+"/sobjects/Invoice__c/Number__c/INV-2", `{"Account__c":"`+id+`"}`)
	if r.status != 400 || !strings.Contains(string(r.body), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var q page
	e.query(v+"/query", "SELECT Number__c, Amount__c, Account__r.Name FROM Invoice__c").json(t, &q)
	if q.TotalSize != 1 || q.Records[0]["Amount__c"] != 11.0 || q.Records[0]["Account__r"].(map[string]any)["Name"] != "Acme 2" {
		t.Fatalf("%+v", q)
	}
	if r := e.do("DELETE", v+"/sobjects/Account/"+id, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	if r := e.do("DELETE", v+"/sobjects/Account/"+id, ""); r.status != 404 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", v+"/sobjects/Nope/describe", ""); r.status != 404 || string(r.body) != `[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// describe of the custom object
	var d struct {
		Name      string
		KeyPrefix string
		Custom    bool
		Fields    []map[string]any
	}
	e.do("GET", v+"/sobjects/Invoice__c/describe", "").json(t, &d)
	ok := false
	for _, f := range d.Fields {
		if f["name"] == "Number__c" && f["externalId"] == true && f["type"] == "string" && f["length"] == 20.0 {
			ok = true
		}
	}
	if d.Name != "Invoice__c" || !d.Custom || d.KeyPrefix != "a00" || !ok {
		t.Fatalf("%+v", d)
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, Options{})
	var g struct {
		Encoding     string
		MaxBatchSize int
		Sobjects     []map[string]any
	}
	e.do("GET", v+"/sobjects", "").json(t, &g)
	names := map[string]map[string]any{}
	for _, o := range g.Sobjects {
		names[o["name"].(string)] = o
	}
	for name, prefix := range map[string]string{"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "Case": "500", "User": "005"} {
		if names[name] == nil || names[name]["keyPrefix"] != prefix || names[name]["queryable"] != true {
			t.Errorf("%s: %v", name, names[name])
		}
	}
	if names["AccountChangeEvent"]["queryable"] != false || g.MaxBatchSize != 200 || g.Encoding != "UTF-8" {
		t.Error("global describe")
	}
	var d struct {
		Fields             []map[string]any
		ChildRelationships []map[string]any
	}
	e.do("GET", v+"/sobjects/Contact/describe", "").json(t, &d)
	byName := map[string]map[string]any{}
	for _, f := range d.Fields {
		byName[f["name"].(string)] = f
	}
	checks := []struct {
		field, key string
		want       any
	}{
		{"Id", "type", "id"}, {"Id", "soapType", "tns:ID"}, {"AccountId", "referenceTo", []any{"Account"}},
		{"AccountId", "relationshipName", "Account"}, {"LastName", "nillable", false}, {"LastName", "createable", true},
		{"MailingAddress", "type", "address"}, {"MailingAddress", "soapType", "urn:address"}, {"MailingCity", "compoundFieldName", "MailingAddress"},
		{"Birthdate", "type", "date"}, {"SystemModstamp", "type", "datetime"}, {"SystemModstamp", "soapType", "xsd:dateTime"},
		{"Email", "type", "email"}, {"LeadSource", "type", "picklist"}, {"Name", "createable", false},
	}
	for _, c := range checks {
		got, _ := json.Marshal(byName[c.field][c.key])
		want, _ := json.Marshal(c.want)
		if string(got) != string(want) {
			t.Errorf("%s.%s = %s, want %s", c.field, c.key, got, want)
		}
	}
	if pl := byName["LeadSource"]["picklistValues"].([]any); len(pl) == 0 || pl[0].(map[string]any)["value"] != "Web" {
		t.Error("picklistValues")
	}
	e.do("GET", v+"/sobjects/Account/describe", "").json(t, &d)
	found := false
	for _, c := range d.ChildRelationships {
		if c["childSObject"] == "Contact" && c["field"] == "AccountId" && c["relationshipName"] == "Contacts" {
			found = true
		}
	}
	if !found {
		t.Error("childRelationships")
	}
}

func TestCollections(t *testing.T) {
	e := newEnv(t, Options{Records: 2})
	post := func(method, path, body string) ([]map[string]any, resp) {
		r := e.do(method, path, body)
		var out []map[string]any
		if r.status == 200 {
			r.json(t, &out)
		}
		return out, r
	}
	before := e.s.Count("Account")
	res, r := post("POST", v+"/composite/sobjects", `{"allOrNone":false,"records":[
		{"attributes":{"type":"Account"},"Name":"A1"},
		{"attributes":{"type":"Account"},"Industry":"Energy"},
		{"attributes":{"type":"Contact"},"LastName":"C1"}]}`)
	if r.status != 200 || len(res) != 3 || res[0]["success"] != true || res[1]["success"] != false || res[2]["success"] != true {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `{"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [Name]","fields":["Name"]}]}`) {
		t.Fatalf("%s", r.body)
	}
	if e.s.Count("Account") != before+1 {
		t.Fatal("count")
	}
	a1 := res[0]["id"].(string)
	res, r = post("POST", v+"/composite/sobjects", `{"allOrNone":true,"records":[
		{"attributes":{"type":"Account"},"Name":"A2"},
		{"attributes":{"type":"Account"},"Industry":"Energy"}]}`)
	want := `[{"success":false,"errors":[{"statusCode":"ALL_OR_NONE_OPERATION_ROLLED_BACK","message":"Record rolled back because not all records were valid and the request was using AllOrNone header","fields":[]}]},{"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [Name]","fields":["Name"]}]}]`
	if r.status != 200 || string(r.body) != want || e.s.Count("Account") != before+1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	_ = res
	// update
	res, r = post("PATCH", v+"/composite/sobjects", `{"allOrNone":false,"records":[
		{"attributes":{"type":"Account"},"id":"`+a1+`","Name":"A1b"},
		{"attributes":{"type":"Account"},"Name":"no id"}]}`)
	if res[0]["success"] != true || res[1]["success"] != false || !strings.Contains(string(r.body), "MISSING_ARGUMENT") {
		t.Fatalf("%s", r.body)
	}
	// upsert by external id (Id)
	res, r = post("PATCH", v+"/composite/sobjects/Account/Id", `{"allOrNone":false,"records":[
		{"attributes":{"type":"Account"},"Id":"`+a1+`","Name":"A1c"},
		{"attributes":{"type":"Account"},"Name":"New"}]}`)
	if r.status != 200 || res[0]["created"] != false || res[1]["created"] != true {
		t.Fatalf("%s", r.body)
	}
	// too many records, missing type
	var many []string
	for i := 0; i < 201; i++ {
		many = append(many, `{"attributes":{"type":"Account"},"Name":"x"}`)
	}
	if _, r := post("POST", v+"/composite/sobjects", `{"records":[`+strings.Join(many, ",")+`]}`); r.status != 400 || !strings.Contains(string(r.body), "EXCEEDED_ID_LIMIT") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, r := post("POST", v+"/composite/sobjects", `{"records":[{"Name":"x"}]}`); r.status != 400 || !strings.Contains(string(r.body), `"errorCode":"INVALID_TYPE"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// retrieve and delete
	r = e.do("GET", v+"/composite/sobjects/Account?ids="+a1+","+ghost+"&fields=Id,Name", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"Name":"A1c"`) || !strings.HasSuffix(string(r.body), ",null]") {
		t.Fatalf("%s", r.body)
	}
	res, r = post("DELETE", v+"/composite/sobjects?allOrNone=true&ids="+a1+","+ghost+"", "")
	if res[0]["success"] != false || res[1]["success"] != false || e.s.Count("Account") != before+2 {
		t.Fatalf("%s", r.body)
	}
	res, _ = post("DELETE", v+"/composite/sobjects?ids="+a1+","+ghost+"", "")
	if res[0]["success"] != true || res[0]["id"] != a1 || res[1]["success"] != false {
		t.Fatal(res)
	}
}
