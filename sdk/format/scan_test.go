package format

import (
	"encoding/csv"
	"errors"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func scanAll(t *testing.T, r io.Reader) (records [][]string, lines []int64) {
	t.Helper()
	sc := newCSVScanner(r, ',', '"')
	for {
		fields, err := sc.next()
		if errors.Is(err, io.EOF) {
			return records, lines
		}
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		rec := make([]string, len(fields))
		for i, f := range fields {
			rec[i] = string(f)
		}
		records = append(records, rec)
		lines = append(lines, sc.recLine)
	}
}

// TestScannerMatchesEncodingCSV compares the hand-written scanner with
// encoding/csv on random well-formed input, including one-byte reads that
// put every buffer boundary in every possible place.
func TestScannerMatchesEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "b", "1", " ", ",", "\"", "\n", "\r\n", "é", ""}
	for iter := 0; iter < 300; iter++ {
		var b strings.Builder
		nrec := 1 + rng.Intn(6)
		nf := 1 + rng.Intn(4)
		for r := 0; r < nrec; r++ {
			for f := 0; f < nf; f++ {
				if f > 0 {
					b.WriteByte(',')
				}
				var field strings.Builder
				for k := rng.Intn(5); k > 0; k-- {
					field.WriteString(alphabet[rng.Intn(len(alphabet))])
				}
				s := field.String()
				if strings.ContainsAny(s, ",\"\r\n") || rng.Intn(4) == 0 {
					s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
				}
				b.WriteString(s)
			}
			if r < nrec-1 || rng.Intn(2) == 0 {
				b.WriteString([]string{"\n", "\r\n"}[rng.Intn(2)])
			}
		}
		input := b.String()
		cr := csv.NewReader(strings.NewReader(input))
		cr.FieldsPerRecord = -1
		want, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv rejects generated input %q: %v", input, err)
		}
		// encoding/csv turns \r\n inside quoted fields into \n; this
		// scanner keeps the bytes as written.
		got, _ := scanAll(t, strings.NewReader(input))
		got1, _ := scanAll(t, iotest.OneByteReader(strings.NewReader(input)))
		norm := func(recs [][]string) [][]string {
			for _, r := range recs {
				for i := range r {
					r[i] = strings.ReplaceAll(r[i], "\r\n", "\n")
				}
			}
			return recs
		}
		if !reflect.DeepEqual(norm(got), want) || !reflect.DeepEqual(norm(got1), want) {
			t.Fatalf("input %q\n got %q\n one-byte %q\nwant %q", input, got, got1, want)
		}
	}
}

func TestScannerLineNumbers(t *testing.T) {
	input := "\xef\xbb\xbfa,b\n\n\"x\ny\",1\r\n\r\nlast,2"
	recs, lines := scanAll(t, iotest.OneByteReader(strings.NewReader(input)))
	if !reflect.DeepEqual(recs, [][]string{{"a", "b"}, {"x\ny", "1"}, {"last", "2"}}) {
		t.Fatalf("records %q", recs)
	}
	if !reflect.DeepEqual(lines, []int64{1, 3, 6}) {
		t.Fatalf("lines %v", lines)
	}
}

func TestParseTimestampMatchesTime(t *testing.T) {
	cases := []string{
		"2024-02-29T23:59:59Z",
		"1969-12-31T23:59:59.999999Z",
		"1900-03-01T00:00:00+01:00",
		"2038-01-19T03:14:08.5-07:30",
		"2024-05-01T12:30:00.123456789Z",
		"0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z",
	}
	for _, c := range cases {
		want, err := time.Parse(time.RFC3339Nano, c)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseTimestamp([]byte(c), false)
		if !ok || got != want.UnixMicro() {
			t.Errorf("%s: got %d %v, want %d", c, got, ok, want.UnixMicro())
		}
		// Formatting gives back what the time package would write.
		text := string(appendTimestamp(nil, want.Unix(), int64(want.Nanosecond())))
		if text != want.UTC().Format(time.RFC3339Nano) {
			t.Errorf("format %s: %s, want %s", c, text, want.UTC().Format(time.RFC3339Nano))
		}
	}
	for _, bad := range []string{"2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00", "2024-01-01Tx", "2024-01-01T00:00:00+5"} {
		if _, ok := parseTimestamp([]byte(bad), true); ok {
			t.Errorf("%s parsed", bad)
		}
	}
	if us, ok := parseTimestamp([]byte("2024-01-02 03:04:05"), false); !ok || us != time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro() {
		t.Errorf("space form: %d %v", us, ok)
	}
	for d := int64(-719162); d < 2932896; d += 997 { // years 1..9999
		text := string(appendDate(nil, d))
		back, ok := parseDate([]byte(text))
		if !ok || int64(back) != d {
			t.Fatalf("day %d -> %s -> %d %v", d, text, back, ok)
		}
	}
}
