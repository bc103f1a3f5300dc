package fileconn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

var trickySchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "at", Type: format.TimestampUTC, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

// trickyBatch covers the values text formats get wrong: empty strings next
// to nulls, delimiters, quotes and line breaks inside strings, whole-number
// floats, negative and sub-second timestamps.
func trickyBatch(first, rows int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, trickySchema)
	defer b.Release()
	notes := []string{"plain", "", "a,b", `say "hi"`, "line\nbreak", " lead", "tab\there", "é ü"}
	base := time.Date(1969, 12, 31, 23, 59, 58, 0, time.UTC)
	for i := first; i < first+rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%5 == 4 {
			for f := 1; f < 6; f++ {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(1).(*array.StringBuilder).Append(notes[i%len(notes)])
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
		b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(i) * 1234567 * time.Microsecond).UnixMicro()))
		b.Field(5).(*array.Date32Builder).Append(arrow.Date32(int32(i*37 - 500)))
	}
	return b.NewRecordBatch()
}

func recordStrings(rec arrow.RecordBatch) map[string][]string {
	out := map[string][]string{}
	for j, f := range rec.Schema().Fields() {
		col := rec.Column(j)
		for i := 0; i < col.Len(); i++ {
			v := "(null)"
			if !col.IsNull(i) {
				v = col.ValueStr(i)
			}
			out[f.Name] = append(out[f.Name], v)
		}
	}
	return out
}

func writeBatches(t *testing.T, opts sdk.Values, runID string, recs ...arrow.RecordBatch) {
	t.Helper()
	w, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: opts, Schema: recs[0].Schema(), RunID: runID, Mode: sdk.WriteInsert})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	for _, rec := range recs {
		res, err := w.Write(context.Background(), rec)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("rejected %+v", res.Rejected)
		}
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		opts sdk.Values
		ext  string
	}{
		{"csv", sdk.Values{"format": "csv"}, ".csv"},
		{"csv-gzip", sdk.Values{"format": "csv", "compression": "gzip"}, ".csv.gz"},
		{"csv-semicolon-nullword", sdk.Values{"format": "csv", "delimiter": ";", "null_value": "NULL"}, ".csv"},
		{"jsonl", sdk.Values{"format": "jsonl"}, ".jsonl"},
		{"jsonl-gzip", sdk.Values{"format": "jsonl", "compression": "gzip"}, ".jsonl.gz"},
		{"parquet", sdk.Values{"format": "parquet"}, ".parquet"},
		{"parquet-zstd", sdk.Values{"format": "parquet", "parquet_compression": "zstd"}, ".parquet"},
		{"parquet-none", sdk.Values{"format": "parquet", "parquet_compression": "none"}, ".parquet"},
	}
	r1, r2 := trickyBatch(0, 40), trickyBatch(40, 13)
	defer r1.Release()
	defer r2.Release()
	want := recordStrings(r1)
	for k, v := range recordStrings(r2) {
		want[k] = append(want[k], v...)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			opts := sdk.Values{"path": dir}
			for k, v := range tc.opts {
				opts[k] = v
			}
			writeBatches(t, opts, "r1", r1, r2)
			files := listTree(t, dir)
			if len(files) != 1 || files[0] != "part-r1-00000"+tc.ext {
				t.Fatalf("files %v", files)
			}
			ropts := sdk.Values{"path": dir}
			if d, ok := tc.opts["delimiter"]; ok {
				ropts["delimiter"] = d
			}
			if n, ok := tc.opts["null_value"]; ok {
				ropts["null_values"] = []string{n.(string)}
			}
			s := readAll(t, ropts)
			sc := s.batches[0].Schema()
			if !sc.Equal(trickySchema) {
				t.Fatalf("read back schema %s\nwant %s", typesOf(sc), typesOf(trickySchema))
			}
			tbl := s.table(t)
			defer tbl.Release()
			got := map[string][]string{}
			for _, b := range s.batches {
				for k, v := range recordStrings(b) {
					got[k] = append(got[k], v...)
				}
			}
			for _, f := range trickySchema.Fields() {
				if strings.Join(got[f.Name], "|") != strings.Join(want[f.Name], "|") {
					t.Errorf("column %s\n got %q\nwant %q", f.Name, got[f.Name], want[f.Name])
				}
			}
			if len(s.rejects) > 0 {
				t.Errorf("rejects %+v", s.rejects)
			}
		})
	}
}

func TestPartitionedWrite(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "region", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "year", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	regions := []string{"eu/west", "a=b", "50%", "", "plain"}
	for i := 0; i < 12; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i == 11 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(regions[i%len(regions)])
		}
		b.Field(2).(*array.Int64Builder).Append(int64(2020 + i%2))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	for _, format := range []string{"csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			opts := sdk.Values{"path": dir, "format": format, "partition_by": []string{"region", "year"}}
			writeBatches(t, opts, "", rec)
			files := listTree(t, dir)
			wantDirs := map[string]bool{
				"region=eu%2Fwest/year=2020": true, "region=eu%2Fwest/year=2021": true,
				"region=a%3Db/year=2020": true, "region=a%3Db/year=2021": true,
				"region=50%25/year=2020": true, "region=50%25/year=2021": true,
				"region=__HIVE_DEFAULT_PARTITION__/year=2020": true, "region=__HIVE_DEFAULT_PARTITION__/year=2021": true,
				"region=plain/year=2020": true, "region=plain/year=2021": true,
			}
			for _, f := range files {
				d := filepath.ToSlash(filepath.Dir(f))
				if !wantDirs[d] {
					t.Errorf("unexpected file %s", f)
				}
				delete(wantDirs, d)
				if filepath.Base(f) != "part-run-00000."+format {
					t.Errorf("file name %s", f)
				}
			}
			if len(wantDirs) > 0 {
				t.Errorf("missing directories %v (have %v)", wantDirs, files)
			}
			// Partition columns stay in the files.
			s := readAll(t, sdk.Values{"path": dir})
			if s.rows() != 12 {
				t.Fatalf("read back %d rows", s.rows())
			}
			if s.batches[0].Schema().NumFields() != 3 {
				t.Errorf("schema %s", s.batches[0].Schema())
			}
		})
	}
}

func TestTargetFileSizeRolls(t *testing.T) {
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			opts := sdk.Values{"path": dir, "format": format, "target_file_size": int64(2000)}
			var recs []arrow.RecordBatch
			for i := 0; i < 10; i++ {
				recs = append(recs, trickyBatch(i*100, 100))
			}
			writeBatches(t, opts, "roll", recs...)
			for _, r := range recs {
				r.Release()
			}
			files := listTree(t, dir)
			if len(files) != 10 {
				t.Fatalf("files %v, want one per batch (each over 2000 bytes)", files)
			}
			for i, f := range files {
				if want := "part-roll-0000" + string(rune('0'+i)) + "." + format; f != want {
					t.Errorf("file %d = %s, want %s", i, f, want)
				}
			}
			if s := readAll(t, sdk.Values{"path": dir}); s.rows() != 1000 {
				t.Errorf("read back %d rows", s.rows())
			}
		})
	}
}

func TestUncommittedFilesStayHiddenAndCloseRemovesThem(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	rec := trickyBatch(0, 50)
	defer rec.Release()
	w, err := New().OpenWriter(context.Background(), sdk.WriteRequest{
		Options: sdk.Values{"path": dir, "format": "parquet", "partition_by": []string{"ok"}, "target_file_size": int64(500)},
		Schema:  rec.Schema(), RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := w.Write(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash at this point would leave: hidden temporary files only.
	files := listTree(t, dir)
	if len(files) == 0 {
		t.Fatal("nothing written before commit")
	}
	for _, f := range files {
		if base := filepath.Base(f); !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".tmp") {
			t.Errorf("uncommitted file under a visible name: %s", f)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files := listTree(t, root); len(files) != 0 {
		t.Errorf("Close without Commit left %v", files)
	}

	// After a commit, a later uncommitted write is discarded but the
	// committed files stay.
	w, err = New().OpenWriter(context.Background(), sdk.WriteRequest{Options: sdk.Values{"path": dir}, Schema: rec.Schema(), RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(context.Background(), rec)
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Write(context.Background(), rec)
	w.Close(context.Background())
	if files := listTree(t, dir); strings.Join(files, ",") != "part-r-00000.csv" {
		t.Errorf("files %v", files)
	}

	// A second writer of the same run (a resumed run) must not overwrite
	// what the first committed.
	writeBatches(t, sdk.Values{"path": dir}, "r", rec)
	if files := listTree(t, dir); strings.Join(files, ",") != "part-r-00000.csv,part-r-00001.csv" {
		t.Errorf("files %v", files)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "afile"), "x")
	out := filepath.Join(root, "afile", "out")
	_, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: sdk.Values{"path": out}, RunID: "r"})
	if err == nil {
		t.Fatal("OpenWriter succeeded under a regular file")
	}
	if !strings.Contains(err.Error(), out) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error should name the path and the reason: %v", err)
	}
}

func TestSinkOptionErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts sdk.Values
		want string
	}{
		{sdk.Values{"path": dir, "format": "xml"}, "format"},
		{sdk.Values{"path": dir, "format": "parquet", "compression": "gzip"}, "compression"},
		{sdk.Values{"path": dir, "delimiter": ";;"}, "delimiter"},
		{sdk.Values{"path": dir, "parquet_compression": "brotli9"}, "parquet_compression"},
		{sdk.Values{"path": dir, "partition_by": []string{"nope"}}, "nope"},
	} {
		_, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: tc.opts, Schema: trickySchema})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want mention of %q", tc.opts, err, tc.want)
		}
	}
	_, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: sdk.Values{"path": dir}, Mode: sdk.WriteUpsert})
	if err == nil {
		t.Error("upsert accepted")
	}
}

func TestPartitionRejectsUnrenderableValue(t *testing.T) {
	lt := arrow.ListOf(arrow.PrimitiveTypes.Int64)
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "l", Type: lt, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	lb := b.Field(1).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int64Builder).Append(7)
	lb.AppendNull()
	rec := b.NewRecordBatch()
	defer rec.Release()
	dir := t.TempDir()
	w, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: sdk.Values{"path": dir, "format": "jsonl", "partition_by": []string{"l"}}, Schema: sc})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	res, err := w.Write(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Row != 0 || !strings.Contains(res.Rejected[0].Reason, `"l"`) {
		t.Fatalf("rejected %+v", res.Rejected)
	}
}

// countRows is the conformance kit's view of what a sink made visible.
func countRows(t *testing.T, opts sdk.Values) int64 {
	dir := opts.String("path", "")
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return 0
	}
	if files, _ := listFiles(dir); len(files) == 0 {
		return 0
	}
	s := readAll(t, sdk.Values{"path": dir})
	return int64(s.rows())
}

func TestConformance(t *testing.T) {
	// The source case reads a CSV this connector wrote.
	src := filepath.Join(t.TempDir(), "src")
	rec := sdktest.TenColumnBatch(0, 2000)
	writeBatches(t, sdk.Values{"path": src}, "seed", rec)
	rec.Release()
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			sdktest.Run(t, sdktest.Suite{
				New:    func() sdk.Connector { return New() },
				Source: &sdktest.SourceCase{Options: sdk.Values{"path": src}, MinRows: 2000},
				Sink: &sdktest.SinkCase{
					Options: func(t *testing.T) sdk.Values {
						return sdk.Values{"path": filepath.Join(t.TempDir(), "out"), "format": format}
					},
					Count:     countRows,
					LargeRows: 100_000,
				},
			})
		})
	}
}
