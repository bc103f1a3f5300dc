package sfconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// confObject matches sdktest.TenColumnSchema through field_map.
func confObject(name string) sfemu.ObjectDef {
	zero := 0
	return sfemu.ObjectDef{Name: name, Generate: &zero, Fields: []sfemu.Field{
		{Name: "Ext_Id__c", Type: "string", ExternalID: true, Length: 40},
		{Name: "Qty__c", Type: "int"},
		{Name: "Price__c", Type: "double", Precision: 18, Scale: 6},
		{Name: "Score__c", Type: "double", Precision: 18, Scale: 2},
		{Name: "Country__c", Type: "string", Length: 2},
		{Name: "Active__c", Type: "boolean"},
		{Name: "Flagged__c", Type: "boolean"},
		{Name: "Created__c", Type: "datetime"},
		{Name: "Day__c", Type: "date"},
	}}
}

var confMap = map[string]string{"id": "Ext_Id__c", "qty": "Qty__c", "price": "Price__c", "score": "Score__c",
	"country": "Country__c", "active": "Active__c", "flagged": "Flagged__c", "created": "Created__c", "day": "Day__c"}

// TestConformance runs the SDK kit: the source on seeded Accounts; the sink
// on custom objects shaped like the kit's schema, one per check. The sink's
// Count is not given to the kit: Salesforce has no transactions, so the
// close-without-commit checks (which need Count) cannot hold; the counts
// after Commit are checked by TestSinkCounts instead.
func TestConformance(t *testing.T) {
	var objs []sfemu.ObjectDef
	for i := 0; i < 8; i++ {
		objs = append(objs, confObject(fmt.Sprintf("Conf%d__c", i)))
	}
	e := startEmu(t, sfemu.Options{Records: 40, CustomObjects: objs})
	next := 0
	sdktest.Run(t, sdktest.Suite{
		New:    func() sdk.Connector { return New() },
		Config: e.passwordConfig(),
		Source: &sdktest.SourceCase{Options: sdk.Values{"object": "Account"}, MinRows: 40},
		Sink: &sdktest.SinkCase{
			Options: func(t *testing.T) sdk.Values {
				next++
				return sdk.Values{"object": fmt.Sprintf("Conf%d__c", next%8), "field_map": confMap}
			},
			LargeRows: 12_000,
		},
	})
}

func TestSinkCounts(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1, CustomObjects: []sfemu.ObjectDef{confObject("Conf__c")}})
	c := configured(t, e.passwordConfig())
	ctx := context.Background()
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "Conf__c", Mode: sdk.WriteInsert,
		Options: sdk.Values{"field_map": confMap}, Schema: sdktest.TenColumnSchema})
	if err != nil {
		t.Fatal(err)
	}
	small, large := sdktest.TenColumnBatch(0, 450), sdktest.TenColumnBatch(450, 5000)
	defer small.Release()
	defer large.Release()
	for _, b := range []arrow.RecordBatch{small, large} {
		res, err := w.Write(ctx, b)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("Write: %v %v", err, res.Rejected)
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.Count("Conf__c"); n != 5450 {
		t.Fatalf("Conf__c holds %d records, want 5450", n)
	}
	// Values survive both paths: read them back and compare with the kit's rows.
	rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Conf__c", Fields: []string{"Ext_Id__c", "Qty__c", "Price__c", "Active__c", "Created__c", "Day__c"}})
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r["Ext_Id__c"].(string)] = r
	}
	for _, id := range []string{"1", "18", "449", "450", "5449"} {
		r := byID[id]
		if r == nil {
			t.Fatalf("record %s not found", id)
		}
		if r["Qty__c"] == nil || r["Created__c"] == nil || r["Day__c"] == nil {
			t.Fatalf("record %s lost values: %v", id, r)
		}
	}
	if r := byID["17"]; r == nil || r["Qty__c"] != nil {
		t.Fatalf("record 17 should have null qty: %v", r)
	}
}

func TestAuthFlows(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 5})
	base := sdk.Values{"login_url": e.URL, "client_id": sfemu.DefaultConsumerKey, "retry_max_backoff": "20ms"}
	with := func(kv ...string) sdk.Values {
		v := sdk.Values{}
		for k, x := range base {
			v[k] = x
		}
		for i := 0; i < len(kv); i += 2 {
			v[kv[i]] = kv[i+1]
		}
		return v
	}
	cases := map[string]sdk.Values{
		"refresh_token":      with("auth", "refresh_token", "client_secret", sfemu.DefaultConsumerSecret, "refresh_token", e.refreshToken(t)),
		"jwt":                with("auth", "jwt", "username", sfemu.DefaultUsername, "private_key", sfemu.DevPrivateKeyPEM),
		"client_credentials": with("auth", "client_credentials", "client_secret", sfemu.DefaultConsumerSecret),
		"password":           with("auth", "password", "client_secret", sfemu.DefaultConsumerSecret, "username", sfemu.DefaultUsername, "password", sfemu.DefaultPassword),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			c := configured(t, cfg)
			if err := c.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Fields: []string{"Id", "Name"}})
			if len(rows) != 5 {
				t.Fatalf("read %d accounts, want 5", len(rows))
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		c := configured(t, with("auth", "password", "client_secret", sfemu.DefaultConsumerSecret, "username", sfemu.DefaultUsername, "password", "nope"))
		err := c.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), "authentication failure") {
			t.Fatalf("want the refusal, got %v", err)
		}
	})
	t.Run("missing attributes", func(t *testing.T) {
		d := New().Configure(context.Background(), sdk.Values{"login_url": e.URL, "auth": "jwt"})
		if !d.HasErrors() || !strings.Contains(d.Err().Error(), "private_key") {
			t.Fatalf("diagnostics %v", d)
		}
	})
}

func TestRevokedRefreshToken(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1})
	c := configured(t, sdk.Values{"login_url": e.URL, "auth": "refresh_token", "client_id": sfemu.DefaultConsumerKey,
		"refresh_token": e.refreshToken(t)})
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.SetFaults(sfemu.Faults{RevokeRefreshTokens: true, ExpireSessions: true})
	err := c.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "re-authorize the connection") || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("want a re-authorize message, got %v", err)
	}
}

func TestDescribeTypeMapping(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1, CustomObjects: []sfemu.ObjectDef{{Name: "Typed__c", Fields: []sfemu.Field{
		{Name: "Pct__c", Type: "percent", Precision: 5, Scale: 2}, {Name: "At__c", Type: "time"}, {Name: "Big__c", Type: "long"},
		{Name: "Tags__c", Type: "multipicklist", PicklistValues: []string{"a", "b"}},
	}}}})
	c := configured(t, e.passwordConfig())
	ents, err := c.ListEntities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, en := range ents {
		names[en.Name] = true
	}
	if !names["Account"] || !names["Typed__c"] || names["AccountChangeEvent"] {
		t.Fatalf("entities %v", ents)
	}
	acct, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "Account"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Id": "utf8", "Name": "utf8", "ParentId": "utf8", "Type": "utf8", "AnnualRevenue": "float64",
		"NumberOfEmployees": "int64", "IsDeleted": "bool", "SystemModstamp": "timestamp[ms, tz=UTC]", "Website": "utf8",
		"BillingLatitude": "float64", "BillingStreet": "utf8"}
	for n, typ := range want {
		f, ok := acct.Schema.FieldsByName(n)
		if !ok || f[0].Type.String() != typ {
			t.Errorf("%s: got %v, want %s", n, f, typ)
		}
	}
	if _, ok := acct.Schema.FieldsByName("BillingAddress"); ok {
		t.Error("the compound BillingAddress should be skipped")
	}
	if acct.CursorFields[0] != "SystemModstamp" || acct.PrimaryKey[0] != "Id" || len(acct.WriteModes) != 4 {
		t.Errorf("entity %+v", acct)
	}
	typed, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "Typed__c"})
	if err != nil {
		t.Fatal(err)
	}
	for n, typ := range map[string]string{"Pct__c": "float64", "At__c": "time32[ms]", "Big__c": "int64", "Tags__c": "utf8"} {
		f, ok := typed.Schema.FieldsByName(n)
		if !ok || f[0].Type.String() != typ {
			t.Errorf("%s: got %v, want %s", n, f, typ)
		}
	}
	// Every seeded value of every type converts on both APIs.
	for _, api := range []string{"rest", "bulk"} {
		rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Typed__c", Options: sdk.Values{"api": api}})
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", api, len(rows))
		}
	}
	if _, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "Acount"}); err == nil || !strings.Contains(err.Error(), "no object") {
		t.Fatalf("a wrong object: %v", err)
	}
	_, _, err = func() ([]map[string]any, *sdktest.Collector, error) {
		col := &sdktest.Collector{}
		return nil, col, c.Read(context.Background(), sdk.ReadRequest{Entity: "Account", Fields: []string{"Nmae"}, Limits: sdk.DefaultLimits}, col)
	}()
	if err == nil || !strings.Contains(err.Error(), `no field "Nmae" on Account`) {
		t.Fatalf("a wrong field: %v", err)
	}
}

func ids(rows []map[string]any) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r["Id"].(string)]++
	}
	return m
}

func TestRESTAndBulkAgree(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 700, QueryBatchSize: 200, BulkPageSize: 150})
	c := configured(t, e.passwordConfig())
	read := func(opts sdk.Values) ([]map[string]any, string) {
		rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Contact", Options: opts})
		return rows, c.lastAPI.Load().(string)
	}
	rest, api1 := read(sdk.Values{"bulk_threshold": int64(701)})
	bulk, api2 := read(sdk.Values{"bulk_threshold": int64(700)})
	forcedBulk, api3 := read(sdk.Values{"api": "bulk", "bulk_threshold": int64(1e9)})
	forcedREST, api4 := read(sdk.Values{"api": "rest", "bulk_threshold": int64(1)})
	if api1 != "rest" || api2 != "bulk" || api3 != "bulk" || api4 != "rest" {
		t.Fatalf("APIs chosen: %s %s %s %s", api1, api2, api3, api4)
	}
	for _, rows := range [][]map[string]any{rest, bulk, forcedBulk, forcedREST} {
		if len(rows) != 700 || len(ids(rows)) != 700 {
			t.Fatalf("read %d rows (%d ids), want 700", len(rows), len(ids(rows)))
		}
	}
	// Same values either way, except that Bulk reads "" as null.
	for i := range rest {
		a, _ := json.Marshal(rest[i])
		b, _ := json.Marshal(bulk[i])
		if string(a) != string(b) {
			t.Fatalf("row %d differs:\nrest %s\nbulk %s", i, a, b)
		}
	}
	// where and include_deleted narrow and widen.
	someone := rest[3]["Id"].(string)
	if _, err := c.cl.do(context.Background(), request{method: "DELETE", path: "sobjects/Contact/" + someone}); err != nil {
		t.Fatal(err)
	}
	for _, api := range []string{"rest", "bulk"} {
		live, _ := read(sdk.Values{"api": api})
		all, _ := read(sdk.Values{"api": api, "include_deleted": true})
		only, _ := read(sdk.Values{"api": api, "include_deleted": true, "where": "IsDeleted = true"})
		if len(live) != 699 || len(all) != 700 || len(only) != 1 || only[0]["Id"] != someone {
			t.Fatalf("%s: live %d all %d deleted %d", api, len(live), len(all), len(only))
		}
	}
}

func TestIncrementalResume(t *testing.T) {
	for _, api := range []string{"rest", "bulk"} {
		t.Run(api, func(t *testing.T) {
			e := startEmu(t, sfemu.Options{Records: 100})
			c := configured(t, e.passwordConfig())
			opts := sdk.Values{"api": api}
			full, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Fields: []string{"Id", "Name"}})
			// A run cut short after two batches of 7…
			var kept int
			col := &sdktest.Collector{OnSend: func(col *sdktest.Collector) error {
				kept++
				if kept == 2 {
					return context.Canceled
				}
				return nil
			}}
			defer col.Release()
			_ = c.Read(context.Background(), sdk.ReadRequest{Entity: "Account", Options: opts, Fields: []string{"Id", "Name"},
				Limits: sdk.Limits{MaxRows: 7, MaxBytes: 1 << 20}}, col)
			first := rowsOf(col.Batches)
			if len(first) != 14 || len(col.Checkpoints) != 1 {
				t.Fatalf("first run: %d rows, %d checkpoints", len(first), len(col.Checkpoints))
			}
			// …the engine stores the checkpoint after the first batch only:
			// the second batch was never acknowledged.
			rest, col2 := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Fields: []string{"Id", "Name"},
				Checkpoint: col.Checkpoints[0], Limits: sdk.Limits{MaxRows: 7, MaxBytes: 1 << 20}})
			got := ids(append(first[:7:7], rest...))
			if len(got) != len(full) || len(first[:7])+len(rest) != len(full) {
				t.Fatalf("resumed: %d + %d rows, %d distinct, want %d", 7, len(rest), len(got), len(full))
			}
			// Nothing changed: resuming from the last checkpoint reads nothing.
			last := col2.Checkpoints[len(col2.Checkpoints)-1]
			none, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Checkpoint: last})
			if len(none) != 0 {
				t.Fatalf("read %d rows after the last checkpoint, want 0", len(none))
			}
			// An update shows up once.
			w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Account", Mode: sdk.WriteUpdate,
				Schema: arrow.NewSchema([]arrow.Field{{Name: "Id", Type: arrow.BinaryTypes.String}, {Name: "Name", Type: arrow.BinaryTypes.String}}, nil)})
			if err != nil {
				t.Fatal(err)
			}
			upd := batchOf([]string{"Id", "Name"}, []string{full[5]["Id"].(string), "Renamed"})
			defer upd.Release()
			if res, err := w.Write(context.Background(), upd); err != nil || len(res.Rejected) > 0 {
				t.Fatalf("update: %v %v", err, res.Rejected)
			}
			changed, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Checkpoint: last, Fields: []string{"Id", "Name"}})
			if len(changed) != 1 || changed[0]["Name"] != "Renamed" {
				t.Fatalf("after an update: %v", changed)
			}
		})
	}
}

func TestSessionExpiryMidRead(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1000, QueryBatchSize: 200})
	c := configured(t, e.passwordConfig())
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.SetFaults(sfemu.Faults{ExpireSessionsAfter: 4}) // describe, count, two pages, then expired
	rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id"}})
	if len(rows) != 1000 || len(ids(rows)) != 1000 {
		t.Fatalf("read %d rows, %d distinct", len(rows), len(ids(rows)))
	}
	if n := c.cl.logins.Load(); n != 2 {
		t.Fatalf("signed in %d times, want 2", n)
	}
}

func TestSessionExpiryMidBulkDownload(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1000, BulkPageSize: 100})
	c := configured(t, e.passwordConfig())
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	// describe, create, polls, then a few result pages
	e.SetFaults(sfemu.Faults{ExpireSessionsAfter: 7})
	rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"api": "bulk", "bulk_parallelism": int64(3)}})
	if len(rows) != 1000 || len(ids(rows)) != 1000 {
		t.Fatalf("read %d rows, %d distinct", len(rows), len(ids(rows)))
	}
	if n := c.cl.logins.Load(); n < 2 {
		t.Fatalf("signed in %d times, want a second sign-in", n)
	}
}

func TestLimitExceededMidRun(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1000, QueryBatchSize: 200})
	c := configured(t, e.passwordConfig())
	pages := 0
	col := &sdktest.Collector{OnSend: func(*sdktest.Collector) error {
		pages++
		if pages == 2 {
			e.SetFaults(sfemu.Faults{RequestLimitExceeded: 3, ServerUnavailable: 2})
		}
		return nil
	}}
	defer col.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id"}, Limits: sdk.Limits{MaxRows: 150, MaxBytes: 1 << 20}}, col); err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(col.Batches)
	if len(rows) != 1000 || len(ids(rows)) != 1000 {
		t.Fatalf("read %d rows, %d distinct", len(rows), len(ids(rows)))
	}
	if c.cl.retries.Load() < 5 || c.cl.logins.Load() != 1 {
		t.Fatalf("retries %d (want ≥5), logins %d (want 1: a limit is not an auth failure)", c.cl.retries.Load(), c.cl.logins.Load())
	}
	// Writes too.
	e.SetFaults(sfemu.Faults{RequestLimitExceeded: 2, UnableToLockRow: 3})
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Lead", Mode: sdk.WriteInsert, Schema: leadSchema})
	if err != nil {
		t.Fatal(err)
	}
	rec := batchOf(leadCols, leads(50, 0)...)
	defer rec.Release()
	before := e.Count("Lead")
	res, err := w.Write(context.Background(), rec)
	if err != nil || len(res.Rejected) != 0 {
		t.Fatalf("Write: %v %v", err, res.Rejected)
	}
	if got := e.Count("Lead") - before; got != 50 {
		t.Fatalf("%d leads created, want 50", got)
	}
}

func TestPacing(t *testing.T) {
	used := 14_000
	e := startEmu(t, sfemu.Options{Records: 1, Faults: sfemu.Faults{APIUsage: &used}})
	c := configured(t, e.passwordConfig())
	for i := 0; i < 3; i++ {
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if c.cl.paced.Load() == 0 {
		t.Fatal("at 93% of the daily limit the client did not slow down")
	}
}

var leadCols = []string{"FirstName", "LastName", "Company", "Email"}
var leadSchema = batchOf(leadCols).Schema()

func TestWriteRejections(t *testing.T) {
	for _, path := range []struct {
		name      string
		threshold int64
	}{{"collections", 2000}, {"bulk", 1}} {
		t.Run(path.name, func(t *testing.T) {
			e := startEmu(t, sfemu.Options{Records: 1})
			c := configured(t, e.passwordConfig())
			w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Lead", Mode: sdk.WriteInsert, Schema: leadSchema,
				Options: sdk.Values{"bulk_threshold": path.threshold}})
			if err != nil {
				t.Fatal(err)
			}
			rec := batchOf(leadCols, leads(450, 10)...) // 45 without LastName
			defer rec.Release()
			before := e.Count("Lead")
			res, err := w.Write(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rejected) != 45 {
				t.Fatalf("%d rejected, want 45", len(res.Rejected))
			}
			for _, r := range res.Rejected {
				if r.Row%10 != 0 || !strings.HasPrefix(r.Reason, "REQUIRED_FIELD_MISSING: ") || !strings.Contains(r.Reason, "(fields: LastName)") {
					t.Fatalf("rejection %+v", r)
				}
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := e.Count("Lead") - before; got != 405 {
				t.Fatalf("%d leads created, want 405", got)
			}
		})
	}
}

func TestUpdateUpsertDelete(t *testing.T) {
	for _, th := range []int64{2000, 1} {
		t.Run(fmt.Sprint("threshold", th), func(t *testing.T) {
			e := startEmu(t, sfemu.Options{Records: 0, CustomObjects: []sfemu.ObjectDef{confObject("Conf__c")}})
			c := configured(t, e.passwordConfig())
			ctx := context.Background()
			opts := sdk.Values{"bulk_threshold": th, "external_id_field": "Ext_Id__c"}
			schema := batchOf([]string{"Ext_Id__c", "Country__c"}).Schema()
			w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "Conf__c", Mode: sdk.WriteUpsert, Schema: schema, Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			b1 := batchOf([]string{"Ext_Id__c", "Country__c"}, []string{"a", "DE"}, []string{"b", "FR"}, []string{"", "US"})
			defer b1.Release()
			res, err := w.Write(ctx, b1)
			if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Row != 2 {
				t.Fatalf("upsert: %v %+v", err, res.Rejected)
			}
			b2 := batchOf([]string{"Ext_Id__c", "Country__c"}, []string{"a", "JP"}, []string{"c", "GB"})
			defer b2.Release()
			if res, err := w.Write(ctx, b2); err != nil || len(res.Rejected) != 0 {
				t.Fatalf("upsert: %v %+v", err, res.Rejected)
			}
			rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Conf__c", Fields: []string{"Id", "Ext_Id__c", "Country__c"}, Options: sdk.Values{"cursor": ""}})
			if len(rows) != 3 {
				t.Fatalf("after upserts: %v", rows)
			}
			var idA string
			for _, r := range rows {
				if r["Ext_Id__c"] == "a" {
					idA = r["Id"].(string)
					if r["Country__c"] != "JP" {
						t.Fatalf("a not updated: %v", r)
					}
				}
			}
			dw, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "Conf__c", Mode: sdk.WriteDelete, Schema: batchOf([]string{"Id", "Whatever"}).Schema(), Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			del := batchOf([]string{"Id", "Whatever"}, []string{idA, "x"}, []string{"a0Z000000000000AAA", "y"})
			defer del.Release()
			res, err = dw.Write(ctx, del)
			if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Row != 1 {
				t.Fatalf("delete: %v %+v", err, res.Rejected)
			}
			if n := e.Count("Conf__c"); n != 2 {
				t.Fatalf("%d records left, want 2", n)
			}
		})
	}
	e := startEmu(t, sfemu.Options{Records: 1})
	c := configured(t, e.passwordConfig())
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Lead", Mode: sdk.WriteInsert, Schema: batchOf([]string{"LastName", "Compnay"}).Schema()})
	if err == nil || !strings.Contains(err.Error(), `no field "Compnay" on Lead`) {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestIngestJobFailsPartWay(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 1})
	c := configured(t, e.passwordConfig())
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Lead", Mode: sdk.WriteInsert, Schema: leadSchema,
		Options: sdk.Values{"bulk_threshold": int64(10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.SetFaults(sfemu.Faults{FailBulkJobs: 1})
	rec := batchOf(leadCols, leads(100, 25)...)
	defer rec.Release()
	before := e.Count("Lead")
	res, err := w.Write(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 4 || e.Count("Lead")-before != 96 {
		t.Fatalf("rejected %d (want 4), created %d (want 96)", len(res.Rejected), e.Count("Lead")-before)
	}
}

func TestWindowBoundsTheRead(t *testing.T) {
	for _, api := range []string{"rest", "bulk"} {
		t.Run(api, func(t *testing.T) {
			e := startEmu(t, sfemu.Options{Records: 200})
			c := configured(t, e.passwordConfig())
			opts := sdk.Values{"api": api}
			fields := []string{"Id", "SystemModstamp"}
			full, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Fields: fields})
			stamp := func(r map[string]any) time.Time {
				ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["SystemModstamp"]))
				if err != nil {
					// GetOneForMarshal renders timestamps as strings.
					t.Fatalf("SystemModstamp %v: %v", r["SystemModstamp"], err)
				}
				return ts
			}
			mid := stamp(full[len(full)/2]).Truncate(time.Second)
			from := stamp(full[len(full)/4]).Truncate(time.Second)
			want := 0
			for _, r := range full {
				if s := stamp(r); !s.Before(from) && !s.After(mid) {
					want++
				}
			}
			got, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: opts, Fields: fields,
				Window: &sdk.Window{Cursor: "SystemModstamp", From: from, To: mid}})
			for _, r := range got {
				if s := stamp(r); s.Before(from) || s.After(mid) {
					t.Fatalf("read a record stamped %s outside the window [%s, %s]", s, from, mid)
				}
			}
			if len(got) != want || want == 0 || want == len(full) {
				t.Fatalf("read %d rows in the window, want %d of %d", len(got), want, len(full))
			}
		})
	}
}
