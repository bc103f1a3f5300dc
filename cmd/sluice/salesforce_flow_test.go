package main_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
)

var (
	sfPluginOnce sync.Once
	sfPluginErr  error
)

// buildSalesforcePlugin adds sluice-plugin-salesforce to binDir (TestMain
// builds the others).
func buildSalesforcePlugin(t testing.TB) {
	t.Helper()
	sfPluginOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "sluice-plugin-salesforce"),
			"github.com/sluice-dev/sluice/plugins/salesforce").CombinedOutput()
		if err != nil {
			sfPluginErr = err
			t.Logf("%s", out)
		}
	})
	if sfPluginErr != nil {
		t.Fatalf("build sluice-plugin-salesforce: %v", sfPluginErr)
	}
}

// TestCampaignLeadsFlow runs flows/campaign-leads.hcl through the CLI and
// both plugin processes against the Salesforce emulator.
func TestCampaignLeadsFlow(t *testing.T) {
	buildSalesforcePlugin(t)
	srv, err := sfemu.New(sfemu.Options{Records: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	defer ts.Close()
	srv.BaseURL = ts.URL
	before := srv.Count("Lead")

	dir := workdir(t)
	env := []string{"SLUICE_VAR_sf_login_url=" + ts.URL}
	r := sluiceEnv(t, dir, env, "run", "flows/campaign-leads.hcl", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	// 251 data rows: one malformed (the file connector refuses it), 26
	// without a usable email and so without a Company (Salesforce refuses
	// them), 224 leads.
	if sum["records_read"] != 251.0 || sum["records_written"] != 224.0 || sum["records_failed"] != 27.0 ||
		sum["status"] != "completed_with_errors" {
		t.Fatalf("summary %v", sum)
	}
	if got := srv.Count("Lead") - before; got != 224 {
		t.Fatalf("%d leads created, want 224", got)
	}

	// The leads carry the mapped fields: ask the emulator.
	tok := emuToken(t, ts.URL)
	q := "SELECT FirstName, LastName, Email, Company, Country, LeadSource FROM Lead WHERE Email = 'leslie.lamport2@acme.com'"
	req, _ := http.NewRequest("GET", ts.URL+"/services/data/v64.0/query?q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 {
		t.Fatalf("lead for leslie.lamport2@acme.com: %v", res.Records)
	}
	l := res.Records[0]
	if l["FirstName"] != "Leslie" || l["LastName"] != "Lamport" || l["Company"] != "acme.com" || l["Country"] != "JP" || l["LeadSource"] != "Purchased List" {
		t.Fatalf("lead %v", l)
	}

	// The dead letters: the malformed row from the file, the rest with
	// Salesforce's code.
	f, err := os.Open(filepath.Join(dir, sum["dead_letter"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fromSF, fromFile int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		reason, _ := d["reason"].(string)
		switch {
		case d["stage"] == "sink salesforce.leads" && strings.HasPrefix(reason, "REQUIRED_FIELD_MISSING: ") && strings.Contains(reason, "Company"):
			fromSF++
		case strings.HasPrefix(d["stage"].(string), "source"):
			fromFile++
		default:
			t.Errorf("unexpected dead letter %s", sc.Bytes())
		}
	}
	if fromSF != 26 || fromFile != 1 {
		t.Fatalf("dead letters: %d from Salesforce (want 26), %d from the file (want 1)", fromSF, fromFile)
	}
	if strings.Contains(r.stdout+r.stderr, sfemu.DefaultPassword) {
		t.Fatal("the password appeared in the output")
	}
}

func emuToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {sfemu.DefaultConsumerKey}, "client_secret": {sfemu.DefaultConsumerSecret},
		"username": {sfemu.DefaultUsername}, "password": {sfemu.DefaultPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("token: %v", m)
	}
	return tok
}

// TestValidateChecksSalesforceSink: a wrong object or a field the object
// does not have is a diagnostic from `sluice validate`, before any run.
func TestValidateChecksSalesforceSink(t *testing.T) {
	buildSalesforcePlugin(t)
	srv, err := sfemu.New(sfemu.Options{Records: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	srv.BaseURL = ts.URL
	dir := workdir(t)
	env := []string{"SLUICE_VAR_sf_login_url=" + ts.URL}
	flow, _ := os.ReadFile(filepath.Join(dir, "flows", "campaign-leads.hcl"))

	if r := sluiceEnv(t, dir, env, "validate", "flows/campaign-leads.hcl"); r.code != 0 {
		t.Fatalf("the shipped flow does not validate: %s", r.stderr)
	}

	wrongObject := strings.Replace(string(flow), `object     = "Lead"`, `object     = "Leed"`, 1)
	os.WriteFile(filepath.Join(dir, "wrong-object.hcl"), []byte(wrongObject), 0o644)
	r := sluiceEnv(t, dir, env, "validate", "wrong-object.hcl")
	line := 1 + strings.Count(wrongObject[:strings.Index(wrongObject, `"Leed"`)], "\n")
	if r.code != 2 || !strings.Contains(r.stderr, "Unknown Salesforce object") ||
		!strings.Contains(r.stderr, "wrong-object.hcl line "+itoa(line)+":") {
		t.Fatalf("wrong object: exit %d, want a diagnostic on line %d\n%s", r.code, line, r.stderr)
	}

	wrongField := strings.Replace(string(flow), `    Title         = "Title"`, `    Titel         = "Title"`, 1)
	os.WriteFile(filepath.Join(dir, "wrong-field.hcl"), []byte(wrongField), 0o644)
	r = sluiceEnv(t, dir, env, "validate", "wrong-field.hcl")
	line = 1 + strings.Count(wrongField[:strings.Index(wrongField, "Titel")], "\n")
	if r.code != 2 || !strings.Contains(r.stderr, "Salesforce would refuse these records") ||
		!strings.Contains(r.stderr, `no field "Titel" on Lead`) ||
		!strings.Contains(r.stderr, "wrong-field.hcl line "+itoa(line)+":") {
		t.Fatalf("wrong field: exit %d, want a diagnostic on the map line %d\n%s", r.code, line, r.stderr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSalesforceFilterPushdown: a flow's leading filter reaches the
// Salesforce source as SOQL, so only matching Accounts cross the wire.
func TestSalesforceFilterPushdown(t *testing.T) {
	buildSalesforcePlugin(t)
	srv, err := sfemu.New(sfemu.Options{Records: 800, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	srv.BaseURL = ts.URL
	dir := workdir(t)
	flow := `
connection "salesforce" "crm" {
  login_url     = "` + ts.URL + `"
  auth          = "password"
  client_id     = "` + sfemu.DefaultConsumerKey + `"
  client_secret = "` + sfemu.DefaultConsumerSecret + `"
  username      = "` + sfemu.DefaultUsername + `"
  password      = "` + sfemu.DefaultPassword + `"
}

flow "banks" {
  source "salesforce" {
    connection = connection.salesforce.crm
    object     = "Account"
  }

  filter {
    where = "AnnualRevenue > 1000000 && Industry == 'Banking'"
  }

  sink "file" "out" {
    path   = "out/banks"
    format = "csv"
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "banks.hcl"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sluiceEnv(t, dir, nil, "run", "banks.hcl", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}

	tok := emuToken(t, ts.URL)
	q := "SELECT COUNT() FROM Account WHERE AnnualRevenue > 1000000 AND Industry = 'Banking'"
	req, _ := http.NewRequest("GET", ts.URL+"/services/data/v64.0/query?q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		TotalSize float64 `json:"totalSize"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if res.TotalSize == 0 || res.TotalSize == float64(srv.Count("Account")) {
		t.Fatalf("COUNT() = %v of %d accounts: the test needs some of each", res.TotalSize, srv.Count("Account"))
	}
	if sum["records_read"] != res.TotalSize || sum["records_written"] != res.TotalSize || sum["records_filtered"] != 0.0 {
		t.Fatalf("summary %v; want %v read and written, none filtered", sum, res.TotalSize)
	}
}
