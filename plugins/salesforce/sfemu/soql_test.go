package sfemu

import (
	"fmt"
	"strings"
	"testing"
)

func TestSOQLParser(t *testing.T) {
	valid := []string{
		"SELECT Id FROM Account",
		"select id, name from account where name = 'Acme' limit 10",
		"SELECT COUNT() FROM Contact",
		"SELECT Id FROM Account WHERE (Name = 'a' OR Name = 'b') AND NOT Industry = null",
		"SELECT Id FROM Account WHERE Industry IN ('Banking', 'Energy') AND Type NOT IN ('Other')",
		"SELECT Id FROM Account WHERE Name LIKE 'Ac_e%' ORDER BY Name DESC NULLS LAST, Id LIMIT 5 OFFSET 10",
		"SELECT Id FROM Account WHERE AnnualRevenue >= 1000.5 AND NumberOfEmployees < -1",
		"SELECT Id FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:00Z AND CreatedDate < 2024-01-01T00:00:00.000+05:00",
		"SELECT Id FROM Opportunity WHERE CloseDate = 2024-01-15 OR CloseDate = LAST_N_DAYS:30 OR CloseDate = TODAY",
		"SELECT Id FROM Account WHERE Name != 'It\\'s' AND Name <> 'x'",
		"SELECT Account.Name, Owner.Name, Account.Owner.Email FROM Contact",
		"SELECT Account.Name FROM Account",
		"SELECT FIELDS(ALL) FROM Account LIMIT 200",
		"SELECT Id FROM Account WHERE IsDeleted = true",
	}
	e := newEnv(t, Options{})
	for _, q := range valid {
		if _, err := e.s.compile(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	invalid := []struct{ q, code, msg string }{
		{"SELECT FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"},
		{"SELECT Id Account", "MALFORMED_QUERY", "unexpected token: 'Account'"},
		{"SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"},
		{"SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY", "unexpected token: 'OR'"},
		{"SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY", "unexpected token"},
		{"SELECT Id FROM Account LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"},
		{"SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"},
		{"SELECT Id, Nme FROM Account", "INVALID_FIELD", "\nSELECT Id, Nme FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Nme' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."},
		{"SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported."},
		{"SELECT Foo.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Foo' in field path."},
		{"SELECT Id FROM Account WHERE AnnualRevenue = 'x'", "INVALID_FIELD", "value of filter criterion for field 'AnnualRevenue' must be of type double and should not be enclosed in quotes"},
		{"SELECT Id FROM Opportunity WHERE CloseDate > '2024-01-01'", "INVALID_FIELD", "value of filter criterion for field 'CloseDate' must be of type date and should not be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD", "must be of type dateTime"},
		{"SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD", "must be of type boolean"},
		{"SELECT Id FROM Account WHERE Id = 'xyz'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: xyz"},
		{"SELECT Id, id FROM Account", "DUPLICATE_FIELD", "duplicate field selected: Id"},
		{"SELECT FIELDS(ALL) FROM Account", "MALFORMED_QUERY", "must have a LIMIT of at most 200"},
		{"SELECT Id FROM Account WHERE Name > null", "MALFORMED_QUERY", "unexpected token: 'null'"},
	}
	for _, c := range invalid {
		_, err := e.s.compile(c.q)
		if err == nil || err.Code != c.code || !strings.Contains(err.Message, c.msg) {
			t.Errorf("%s: got %v, want %s containing %q", c.q, err, c.code, c.msg)
		}
	}
	// over HTTP: the error envelope
	r := e.query(v+"/query", "SELECT Id, Nme FROM Account")
	want := fmt.Sprintf(`[{"message":%q,"errorCode":"INVALID_FIELD"}]`, invalid[7].msg)
	want = strings.ReplaceAll(want, `\n`, `\n`)
	if r.status != 400 || !strings.Contains(string(r.body), `"errorCode":"INVALID_FIELD"`) || !strings.HasPrefix(string(r.body), `[{"message":"\nSELECT Id, Nme FROM Account\n`) {
		t.Fatalf("%d %s (want like %s)", r.status, r.body, want)
	}
}

func TestSOQLSemantics(t *testing.T) {
	e := newEnv(t, Options{Records: 300, Seed: 7})
	count := func(q string) int {
		t.Helper()
		r := e.query(v+"/query", q)
		var m struct{ TotalSize int }
		r.json(t, &m)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		return m.TotalSize
	}
	all := count("SELECT COUNT() FROM Account")
	banking := count("SELECT COUNT() FROM Account WHERE Industry = 'banking'") // case-insensitive
	notBanking := count("SELECT COUNT() FROM Account WHERE Industry != 'Banking'")
	if all != 300 || banking == 0 || banking+notBanking != all {
		t.Fatalf("all %d banking %d not %d", all, banking, notBanking)
	}
	if n := count("SELECT COUNT() FROM Account WHERE NOT (Industry = 'Banking')"); n != notBanking {
		t.Fatalf("NOT: %d", n)
	}
	in := count("SELECT COUNT() FROM Account WHERE Industry IN ('Banking','Energy')")
	energy := count("SELECT COUNT() FROM Account WHERE Industry = 'Energy'")
	if in != banking+energy || count("SELECT COUNT() FROM Account WHERE Industry NOT IN ('Banking','Energy')") != all-in {
		t.Fatal("IN")
	}
	if count("SELECT COUNT() FROM Account WHERE Name LIKE 'acme%'") != count("SELECT COUNT() FROM Account WHERE Name LIKE 'Acme %'") {
		t.Fatal("LIKE")
	}
	if n := count("SELECT COUNT() FROM Account WHERE Name LIKE '%#1_'"); n != 10 {
		t.Fatalf("LIKE _: %d", n)
	}
	if n := count("SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:800"); n != all {
		t.Fatalf("LAST_N_DAYS: %d", n)
	}
	if n := count("SELECT COUNT() FROM Account WHERE CreatedDate > 2030-01-01T00:00:00Z"); n != 0 {
		t.Fatal(n)
	}
	if n := count("SELECT COUNT() FROM Account WHERE Rating = null") + count("SELECT COUNT() FROM Account WHERE Rating != null"); n != all {
		t.Fatal("null")
	}
	if n := count("SELECT COUNT() FROM Contact WHERE Account.Industry = 'Banking'"); n == 0 {
		t.Fatal("parent filter")
	}
	if n := count("SELECT COUNT() FROM Account LIMIT 7"); n != 7 {
		t.Fatal(n)
	}
	// ORDER BY with NULLS and OFFSET
	var res struct {
		Records []map[string]any
	}
	e.query(v+"/query", "SELECT Id, Rating, AnnualRevenue FROM Account ORDER BY Rating ASC NULLS LAST, AnnualRevenue DESC LIMIT 300").json(t, &res)
	seenNull := false
	for i, r := range res.Records {
		if r["Rating"] == nil {
			seenNull = true
		} else if seenNull {
			t.Fatal("non-null after nulls")
		}
		if i > 0 && r["Rating"] == res.Records[i-1]["Rating"] && r["AnnualRevenue"].(float64) > res.Records[i-1]["AnnualRevenue"].(float64) {
			t.Fatal("secondary order")
		}
	}
	var page struct{ Records []map[string]any }
	e.query(v+"/query", "SELECT Id FROM Account ORDER BY Name LIMIT 5 OFFSET 3").json(t, &page)
	var full struct{ Records []map[string]any }
	e.query(v+"/query", "SELECT Id FROM Account ORDER BY Name LIMIT 8").json(t, &full)
	for i := range page.Records {
		if page.Records[i]["Id"] != full.Records[i+3]["Id"] {
			t.Fatal("OFFSET")
		}
	}
}
