package dsl

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

func TestLoadFull(t *testing.T) {
	cfg := loadValid(t, "valid/full.hcl", testOptions())

	if len(cfg.Connections) != 2 {
		t.Fatalf("got %d connections, want 2", len(cfg.Connections))
	}
	prod := cfg.Connections[0]
	if prod.Type != "salesforce" || prod.Name != "prod" {
		t.Errorf("first connection = %s.%s", prod.Type, prod.Name)
	}
	wantValues := sdk.Values{
		"login_url":   "https://login.salesforce.com",
		"client_id":   "client-123",
		"private_key": "KEY-MATERIAL\n",
		"api_version": "62.0", // the spec's default
	}
	if !reflect.DeepEqual(prod.Values, wantValues) {
		t.Errorf("prod values = %#v, want %#v", prod.Values, wantValues)
	}
	if !reflect.DeepEqual(keys(prod.Sensitive), []string{"client_id"}) {
		t.Errorf("prod sensitive = %v, want [client_id] (marked by the spec)", keys(prod.Sensitive))
	}
	sandbox := cfg.Connections[1]
	if sandbox.Values.String("client_id", "") != "sandbox-from-default" || !sandbox.Sensitive["client_id"] {
		t.Errorf("sandbox client_id = %q sensitive=%v", sandbox.Values["client_id"], sandbox.Sensitive)
	}

	f := mustFlow(t, cfg, "contacts_to_files")
	if f.Description != "Contacts, cleaned, to CSV and Parquet." {
		t.Errorf("description = %q", f.Description)
	}
	if f.Source.Connection != prod {
		t.Errorf("source connection = %v, want the prod connection", f.Source.Connection)
	}
	if f.Source.Entity != "Contact" || len(f.Source.Options) != 0 {
		t.Errorf("source entity=%q options=%v", f.Source.Entity, f.Source.Options)
	}
	if !reflect.DeepEqual(f.Source.Fields, []string{"Id", "Name", "Email", "Country", "Secret"}) {
		t.Errorf("fields = %v", f.Source.Fields)
	}
	if r := f.Source.AttrRange("object"); r.Start.Line != 41 {
		t.Errorf("object range = %s, want line 41", r)
	}

	var kinds []string
	for _, task := range f.Tasks {
		kinds = append(kinds, task.Kind())
	}
	wantKinds := []string{"filter", "map", "map", "mask", "mask", "mask", "truncate", "validate", "partition"}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Fatalf("task kinds = %v, want %v", kinds, wantKinds)
	}

	m := f.Tasks[1].(*plan.Map)
	var names []string
	for _, fld := range m.Fields {
		names = append(names, fld.Name)
	}
	if want := []string{"id", "email", "name", "country", "after"}; !reflect.DeepEqual(names, want) {
		t.Errorf("map fields = %v, want the written order %v", names, want)
	}
	all := f.Tasks[2].(*plan.Map)
	if !all.All || !reflect.DeepEqual(all.Except, []string{"Secret"}) || len(all.Fields) != 0 {
		t.Errorf("map all = %+v", all)
	}

	if mk := f.Tasks[3].(*plan.Mask); mk.Field != "email" || mk.KeepLast != 4 || mk.Char != "#" {
		t.Errorf("mask email = %+v", mk)
	}
	if mk := f.Tasks[4].(*plan.Mask); mk.Hash != "sha256" || mk.Char != "" {
		t.Errorf("mask id = %+v", mk)
	}
	if mk := f.Tasks[5].(*plan.Mask); mk.Formula == nil || mk.Formula.Text != "substr(name, 0, 1)" {
		t.Errorf("mask name = %+v", mk)
	}
	if tr := f.Tasks[6].(*plan.Truncate); tr.Field != "name" || tr.Length != 20 {
		t.Errorf("truncate = %+v", tr)
	}
	if v := f.Tasks[7].(*plan.Validate); v.OnFail != plan.OnFailDeadLetter || v.Message != "bad email" {
		t.Errorf("validate = %+v", v)
	}

	if len(f.Sinks) != 2 {
		t.Fatalf("got %d sinks", len(f.Sinks))
	}
	archive, back := f.Sinks[0], f.Sinks[1]
	if archive.Name != "archive" || archive.Entity != "out/archive/" || archive.Mode != sdk.WriteInsert {
		t.Errorf("archive = %+v", archive)
	}
	// SLUICE_VAR_batch_size in testEnv beats the default of 100.
	wantOpts := sdk.Values{"format": "parquet", "target_file_size": int64(500)}
	if !reflect.DeepEqual(archive.Options, wantOpts) {
		t.Errorf("archive options = %#v, want %#v", archive.Options, wantOpts)
	}
	if !reflect.DeepEqual(archive.PartitionKeys, []string{"country"}) {
		t.Errorf("archive partition keys = %v", archive.PartitionKeys)
	}
	if back.Name != "back" || back.Mode != sdk.WriteUpsert || !reflect.DeepEqual(back.Keys, []string{"id"}) ||
		back.Connection != sandbox || back.Entity != "Contact__c" {
		t.Errorf("back = %+v", back)
	}
	if back.PartitionKeys != nil {
		t.Errorf("a table-like sink got partition keys %v", back.PartitionKeys)
	}
	if f.OnError.Mode != plan.Continue || f.OnError.DeadLetter != "out/rejected/" {
		t.Errorf("on_error = %+v", f.OnError)
	}
}

// TestFormulaRange checks that a column offset into a formula's text lands
// on the same character in the file.
func TestFormulaRange(t *testing.T) {
	name := filepath.Join("testdata", "valid", "full.hcl")
	cfg, _, files := Load(name, testOptions())
	src := files[name].Bytes
	f := mustFlow(t, cfg, "contacts_to_files")
	var formulas []plan.Formula
	for _, task := range f.Tasks {
		switch x := task.(type) {
		case *plan.Filter:
			formulas = append(formulas, x.Where)
		case *plan.Map:
			for _, fld := range x.Fields {
				formulas = append(formulas, fld.Formula)
			}
		case *plan.Validate:
			formulas = append(formulas, x.Check)
		case *plan.Mask:
			if x.Formula != nil {
				formulas = append(formulas, *x.Formula)
			}
		}
	}
	if len(formulas) != 8 {
		t.Fatalf("got %d formulas, want 8", len(formulas))
	}
	for _, fm := range formulas {
		got := string(src[fm.Range.Start.Byte:fm.Range.End.Byte])
		if got != fm.Text {
			t.Errorf("range %s covers %q, want %q", fm.Range, got, fm.Text)
		}
		line := strings.Split(string(src), "\n")[fm.Range.Start.Line-1]
		if col := strings.Index(line, fm.Text) + 1; col != fm.Range.Start.Column {
			t.Errorf("formula %q starts at column %d, want %d", fm.Text, fm.Range.Start.Column, col)
		}
	}
	if filter := f.Tasks[0].(*plan.Filter); filter.Where.Text != "Email != nil" || filter.Where.Range.Start.Column != 21 {
		t.Errorf("filter where = %+v", filter.Where)
	}
}

func TestHeredocFormula(t *testing.T) {
	cfg := loadValid(t, "valid/triggers.hcl", testOptions())
	f := mustFlow(t, cfg, "scheduled")
	v := f.Tasks[0].(*plan.Validate)
	if v.Check.Text != "Amount > 0 && Name != \"\"\n" || v.Check.Range.Start.Line != 15 || v.Check.Range.Start.Column != 1 {
		t.Errorf("heredoc check = %+v", v.Check)
	}
	if v.OnFail != plan.OnFailFail {
		t.Errorf("default on_fail = %q, want fail", v.OnFail)
	}
	src := f.Source
	want := sdk.Values{
		"delimiter":   ";",
		"header":      true,
		"null_values": []string{"", "NA"},
		"schema":      map[string]string{"id": "int64", "name": "string"},
		"format":      "csv",
	}
	if !reflect.DeepEqual(src.Options, want) {
		t.Errorf("source options = %#v, want %#v", src.Options, want)
	}
	// format = null means unset, so the default applies.
	if got := f.Sinks[0].Options["format"]; got != "csv" {
		t.Errorf("sink format = %v, want the default csv", got)
	}
	if f.OnError.Mode != plan.FailFast || f.OnError.Range != f.Range {
		t.Errorf("default on_error = %+v", f.OnError)
	}
	ev := mustFlow(t, cfg, "evented")
	if len(ev.Sinks) != 2 || ev.Sinks[0].Name != "a" || ev.Sinks[1].Name != "b" {
		t.Errorf("evented sinks = %+v", ev.Sinks)
	}
	if ev.Sinks[0].Deletes || !ev.Sinks[1].Deletes {
		t.Errorf("deletes = %v, %v; want false, true", ev.Sinks[0].Deletes, ev.Sinks[1].Deletes)
	}
	wantEvent := sdk.Values{"event": "ContactChangeEvent", "replay_fallback": "earliest"}
	if tr := ev.Trigger; tr.Kind != "event" || tr.BatchSize != 200 || tr.BatchWindow != 250*time.Millisecond ||
		!reflect.DeepEqual(tr.EventOptions, wantEvent) {
		t.Errorf("event trigger = %+v, want batch 200 / 250ms and options %v", tr, wantEvent)
	}
	if ev.OnError.Mode != plan.Continue || ev.OnError.DeadLetter != "" {
		t.Errorf("continue without dead_letter = %+v", ev.OnError)
	}
}

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.hcl")
	write(t, flow, `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "n" {
  type = number
}
flow "f" {
  source "file" { path = "${var.a}/${var.b}/${var.c}/${var.d}" }
  sink "file" {
    path             = "out/"
    target_file_size = var.n
  }
}
`)
	first := filepath.Join(dir, "first.hcl")
	write(t, first, "a = \"file1\"\nb = \"file1\"\nn = 7\nundeclared = 1\n")
	second := filepath.Join(dir, "second.hcl")
	write(t, second, "b = \"file2\"\n")
	opts := LoadOptions{
		Specs:    testSpecs,
		Vars:     map[string]string{"a": "cli"},
		VarFiles: []string{first, second},
		Env: func(name string) (string, bool) {
			switch name {
			case "SLUICE_VAR_a", "SLUICE_VAR_b", "SLUICE_VAR_c":
				return "env", true
			}
			return "", false
		},
	}
	cfg, diags, files := Load(flow, opts)
	var errs, warns []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, describe(d))
		} else {
			warns = append(warns, describe(d))
		}
	}
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "undeclared") {
		t.Errorf("warnings = %v, want one about the undeclared variable", warns)
	}
	f := mustFlow(t, cfg, "f")
	if got := f.Source.Entity; got != "cli/file2/env/default" {
		t.Errorf("path = %q, want cli/file2/env/default", got)
	}
	if got := f.Sinks[0].Options["target_file_size"]; got != int64(7) {
		t.Errorf("target_file_size = %#v, want 7", got)
	}
	if files[first] == nil || files[second] == nil {
		t.Errorf("var files missing from the files map")
	}
}

func TestVariableErrorsWithoutSubject(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.hcl")
	write(t, flow, `
variable "n" { type = number }
flow "f" {
  source "file" { path = "in.csv" }
  sink "file" {
    path             = "out/"
    target_file_size = var.n
  }
}
`)
	opts := testOptions()
	opts.Vars = map[string]string{"n": "ten", "m": "1"}
	_, diags, _ := Load(flow, opts)
	var summaries []string
	for _, d := range diags {
		summaries = append(summaries, d.Summary)
	}
	want := []string{"Value for undeclared variable", "Invalid value for variable"}
	if !reflect.DeepEqual(summaries, want) {
		t.Errorf("diagnostics = %v, want %v (the unknown value must not cascade)", summaries, want)
	}
}

func TestLoadDirectory(t *testing.T) {
	opts := testOptions()
	opts.Vars = map[string]string{"client_id": "secret-id"}
	cfg := loadValid(t, "multi", opts)
	f := mustFlow(t, cfg, "from_sf")
	if f.File != filepath.Join("testdata", "multi", "flows.hcl") {
		t.Errorf("flow file = %q", f.File)
	}
	c := f.Source.Connection
	if c == nil || c.Values["client_id"] != "secret-id" || !c.Sensitive["client_id"] {
		t.Errorf("connection = %+v", c)
	}
}

// TestSensitiveVariable checks that a value derived from a sensitive
// variable is marked even when the spec does not call the attribute
// sensitive.
func TestSensitiveVariable(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.hcl")
	write(t, flow, `
variable "host" {
  default   = "login.example.com"
  sensitive = true
}
connection "salesforce" "prod" {
  login_url = "https://${var.host}/"
  client_id = "x"
}
`)
	cfg, diags, _ := Load(flow, testOptions())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.Connections[0]
	if !c.Sensitive["login_url"] || c.Values["login_url"] != "https://login.example.com/" {
		t.Errorf("connection = %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing path", filepath.Join("testdata", "nope.hcl"), "Cannot read flow files"},
		{"empty directory", t.TempDir(), "Cannot read flow files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags, _ := Load(tc.path, testOptions())
			if cfg == nil {
				t.Fatal("Load returned a nil config")
			}
			if len(diags) != 1 || diags[0].Summary != tc.want {
				t.Errorf("diagnostics = %v, want one %q", diags, tc.want)
			}
		})
	}

	// Without a SpecLookup every connector is unknown, not a panic.
	_, diags, _ := Load(filepath.Join("testdata", "valid", "minimal.hcl"), LoadOptions{})
	if !diags.HasErrors() || diags[0].Summary != "Unknown connector type" {
		t.Errorf("nil Specs: %v", diags)
	}
}

func TestFormat(t *testing.T) {
	got, err := Format([]byte("flow \"f\" {\nsource \"file\" {\npath = \"in.csv\"\nformat=\"csv\"\n}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "flow \"f\" {\n  source \"file\" {\n    path   = \"in.csv\"\n    format = \"csv\"\n  }\n}\n"
	if string(got) != want {
		t.Errorf("Format =\n%s\nwant\n%s", got, want)
	}
	if _, err := Format([]byte("flow \"f\" {")); err == nil {
		t.Error("Format accepted a broken file")
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
