package s3conn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// manyObjects puts 60 CSV objects of 1 to 60 rows under prefix, plus one
// of 400 rows. The first object's codes have leading zeros, so inference
// across the listing (which starts there) settles code as a string, where
// any other object alone would read it as an int. Object 37 has a
// malformed row on its line 3.
func manyObjects(t *testing.T, srv *s3test.Server, bucket, prefix string) (objects map[string][]byte, malformed string) {
	t.Helper()
	objects = map[string][]byte{}
	for i := 0; i < 60; i++ {
		var b strings.Builder
		b.WriteString("id,code,amount\n")
		for r := 0; r <= i; r++ {
			code := fmt.Sprint(i*100 + r)
			if i == 0 {
				code = fmt.Sprintf("%05d", r)
			}
			if i == 37 && r == 1 {
				b.WriteString("broken,\"unterminated\n")
				continue
			}
			fmt.Fprintf(&b, "%d,%s,%d.25\n", i*1000+r, code, r)
		}
		objects[fmt.Sprintf("%sobj-%03d.csv", prefix, i)] = []byte(b.String())
	}
	var big strings.Builder
	big.WriteString("id,code,amount\n")
	for r := 0; r < 400; r++ {
		fmt.Fprintf(&big, "%d,%d,%d.5\n", 900000+r, r, r)
	}
	objects[prefix+"obj-030-big.csv"] = []byte(big.String())
	putMany(t, srv, bucket, objects)
	return objects, fmt.Sprintf("s3://%s/%sobj-037.csv:3", bucket, prefix)
}

func TestPartitionsConformance(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	manyObjects(t, srv, bucket, "many/")
	c := configured(t, srv.Config())
	// Parquet objects of about 40 KB each, for the schema that travels as
	// Arrow IPC.
	writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": "pq", "format": "parquet", "target_file_size": int64(40 << 10)}, 30_000)
	if n := len(listKeys(t, srv, bucket, "pq")); n < 3 {
		t.Fatalf("the parquet fixture has %d objects, want several", n)
	}
	for name, sc := range map[string]*sdktest.SourceCase{
		"csv": {Options: sdk.Values{"bucket": bucket, "prefix": "many/", "partition_size": int64(2000)},
			MinRows: 2000, MinPartitions: 10},
		"parquet": {Options: sdk.Values{"bucket": bucket, "prefix": "pq", "partition_size": int64(50 << 10)},
			MinRows: 30_000, MinPartitions: 3},
	} {
		t.Run(name, func(t *testing.T) {
			sdktest.Run(t, sdktest.Suite{New: func() sdk.Connector { return New() }, Config: srv.Config(), Source: sc})
		})
	}
}

func TestPartitionsGroupConsecutiveObjectsBySize(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	objects, malformed := manyObjects(t, srv, bucket, "grp/")
	c := configured(t, srv.Config())
	const size = 3000
	opts := sdk.Values{"bucket": bucket, "prefix": "grp/", "partition_size": int64(size)}
	req := sdk.ReadRequest{Entity: bucket, Options: opts, Limits: sdk.DefaultLimits}
	parts, err := c.Partitions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}

	// Every object once, in key order; each partition within the size
	// unless it is one object; each cut made because the next object
	// would not fit.
	var keys []string
	var total int64
	for i, p := range parts {
		var spec partSpec
		if err := json.Unmarshal(p.Spec, &spec); err != nil {
			t.Fatalf("partition %q: spec %s: %v", p.Key, p.Spec, err)
		}
		var sum int64
		for j, k := range spec.Keys {
			keys = append(keys, "grp/"+k)
			if spec.Sizes[j] != int64(len(objects["grp/"+k])) {
				t.Fatalf("partition %q: %s has size %d, want %d", p.Key, k, spec.Sizes[j], len(objects["grp/"+k]))
			}
			sum += spec.Sizes[j]
		}
		if sum != p.Size {
			t.Fatalf("partition %q: Size %d, but its objects add up to %d", p.Key, p.Size, sum)
		}
		if len(spec.Keys) > 1 && sum > size {
			t.Fatalf("partition %q has %d objects of %d bytes together, over partition_size %d", p.Key, len(spec.Keys), sum, size)
		}
		if i+1 < len(parts) {
			var next partSpec
			_ = json.Unmarshal(parts[i+1].Spec, &next)
			if sum+next.Sizes[0] <= size {
				t.Fatalf("partition %q (%d bytes) was cut before %s (%d bytes), which fits", p.Key, sum, next.Keys[0], next.Sizes[0])
			}
		}
		if spec.Keys[0] == "obj-030-big.csv" && len(spec.Keys) != 1 {
			t.Fatalf("the object larger than partition_size shares partition %q", p.Key)
		}
		if !strings.HasPrefix(p.Key, "s3://"+bucket+"/grp/"+spec.Keys[0]) {
			t.Fatalf("partition key %q does not name its first object %s", p.Key, spec.Keys[0])
		}
		total += sum
	}
	want := listKeys(t, srv, bucket, "grp/")
	if !slices.Equal(keys, want) {
		t.Fatalf("the partitions cover %v, want every object once in key order: %v", keys, want)
	}
	if len(parts) < 10 {
		t.Fatalf("%d partitions of %d bytes; want about one per %d bytes", len(parts), total, size)
	}

	// The union of the partition reads is the whole read, rejects
	// included; the malformed row is rejected by its partition with the
	// object's key and line, as Read rejects it.
	full, err := readAll(t, c, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Release()
	ent, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: bucket, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := ent.Schema.FieldsByName("code"); len(f) != 1 || f[0].Type.ID() != arrow.STRING {
		t.Fatalf("code is %v, want a string as inferred from the first object", f)
	}
	var rows, bad []string
	for _, p := range parts {
		col := readPart(t, c, req, p)
		for _, b := range col.Batches {
			if !b.Schema().Equal(ent.Schema) {
				t.Fatalf("partition %q read in schema %s, want %s", p.Key, b.Schema(), ent.Schema)
			}
		}
		rows = append(rows, rowStrings(col.Batches)...)
		for _, r := range col.Rejected {
			bad = append(bad, r.Location)
		}
		if len(col.Checkpoints) != 0 {
			t.Fatalf("partition %q sent checkpoints %q; a partition cannot know what the others delivered", p.Key, col.Checkpoints)
		}
	}
	wantRows := rowStrings(full.Batches)
	slices.Sort(rows)
	slices.Sort(wantRows)
	if !slices.Equal(rows, wantRows) {
		t.Fatalf("the partitions read %d rows, the whole read %d; they differ", len(rows), len(wantRows))
	}
	if len(bad) != 1 || bad[0] != malformed || len(full.Rejected) != 1 || full.Rejected[0].Location != malformed {
		t.Fatalf("partitions rejected %v, the whole read %+v; want %s from both", bad, full.Rejected, malformed)
	}
}

func TestPartitionsResumeAfterCheckpoint(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	opts := sdk.Values{"bucket": bucket, "prefix": "cp/", "partition_size": int64(1)}
	put(t, srv, bucket, "cp/a.csv", []byte(csvHeader+csvRows(0, 5)))
	c := configured(t, srv.Config())
	first, err := readAll(t, c, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	first.Release()
	cp := first.Checkpoints[len(first.Checkpoints)-1]
	time.Sleep(1100 * time.Millisecond) // last-modified times have whole seconds
	put(t, srv, bucket, "cp/b.csv", []byte(csvHeader+csvRows(5, 3)))
	put(t, srv, bucket, "cp/c.csv", []byte(csvHeader+csvRows(8, 4)))

	req := sdk.ReadRequest{Entity: bucket, Options: opts, Checkpoint: cp, Limits: sdk.DefaultLimits}
	parts, err := c.Partitions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !strings.HasSuffix(parts[0].Key, "/cp/b.csv") || !strings.HasSuffix(parts[1].Key, "/cp/c.csv") {
		t.Fatalf("partitions after the checkpoint: %+v, want b.csv and c.csv", parts)
	}
	var n int64
	for _, p := range parts {
		col := readPart(t, c, req, p)
		n += col.Rows()
	}
	if n != 7 {
		t.Fatalf("the partitions after the checkpoint read %d rows, want the 7 new ones", n)
	}
}

func TestPartitionSpecMismatch(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	put(t, srv, bucket, "m/a.csv", []byte(csvHeader+csvRows(0, 5)))
	c := configured(t, srv.Config())
	opts := sdk.Values{"bucket": bucket, "prefix": "m/"}
	parts, err := c.Partitions(context.Background(), sdk.ReadRequest{Entity: bucket, Options: opts})
	if err != nil || len(parts) != 1 {
		t.Fatalf("%v %v", parts, err)
	}
	for _, tc := range []struct {
		name string
		opts sdk.Values
		spec []byte
		want string
	}{
		{"other prefix", sdk.Values{"bucket": bucket, "prefix": "other/"}, parts[0].Spec, "the partition is of s3://" + bucket + "/m/"},
		{"not a spec", opts, []byte(`{"next":3}`), "not one this connector's Partitions made"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := &sdktest.Collector{}
			defer col.Release()
			err := c.Read(context.Background(), sdk.ReadRequest{Entity: bucket, Options: tc.opts, Partition: tc.spec}, col)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v, want %q", err, tc.want)
			}
		})
	}
}

func readPart(t *testing.T, c *Connector, req sdk.ReadRequest, p sdk.Partition) *sdktest.Collector {
	t.Helper()
	req.Partition = p.Spec
	col := &sdktest.Collector{}
	t.Cleanup(col.Release)
	if err := c.Read(context.Background(), req, col); err != nil {
		t.Fatalf("partition %q: %v", p.Key, err)
	}
	return col
}

func rowStrings(batches []arrow.RecordBatch) []string {
	var out []string
	for _, b := range batches {
		for r := 0; r < int(b.NumRows()); r++ {
			var cells []string
			for c := 0; c < int(b.NumCols()); c++ {
				cells = append(cells, b.Column(c).ValueStr(r))
			}
			out = append(out, strings.Join(cells, ","))
		}
	}
	return out
}
