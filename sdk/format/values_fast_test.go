package format

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// The fast paths of appendFloat and parseFloat must give exactly what the
// strconv paths they shortcut give.

func slowAppendFloat(dst []byte, f float64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'N' || c == 'I' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

func floatCases(r *rand.Rand, n int) []float64 {
	fs := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.2, 0.3, 1e-4, 9.9999e-5, 1e-5, 5e-5, 0.00015,
		1e15, 1e15 - 1, 999999999999999.9, 1e14 + 0.5, 1e6, 999999.999999, 999999.9999999999, 1e6 + 0.5, 123456789012345, 1234567890123456, 1e21, 1e22,
		math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64,
		1.0 / 3, 2.0 / 3, 1428.5714285714287, 0.000123456, 4503599627370496.5, 9007199254740993}
	for i := 0; i < n; i++ {
		switch i % 6 {
		case 0: // k-digit decimals, as CSV exports have them
			k := r.IntN(8)
			v := float64(r.Int64N(1e12)) / math.Pow(10, float64(k))
			fs = append(fs, v, -v)
		case 1:
			fs = append(fs, float64(r.IntN(10000))/7)
		case 2:
			fs = append(fs, r.Float64()*math.Pow(10, float64(r.IntN(40)-20)))
		case 3:
			fs = append(fs, math.Float64frombits(r.Uint64()))
		case 4:
			fs = append(fs, float64(float32(r.Float64()*1000)))
		case 5:
			f, _ := strconv.ParseFloat(strconv.FormatFloat(r.Float64()*1e6, 'f', r.IntN(7), 64), 64)
			fs = append(fs, f)
		}
	}
	return fs
}

func TestAppendFloatFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range floatCases(r, 300000) {
		got, want := string(appendFloat([]byte("x"), f)), string(slowAppendFloat([]byte("x"), f))
		if got != want {
			t.Fatalf("appendFloat(%v (%#x)) = %q, want %q", f, math.Float64bits(f), got, want)
		}
	}
}

func TestParseFloatFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	texts := []string{"", "-", "+", ".", "-.", "1.", ".5", "-.5", "+1.5", "1..2", "1.2.3", "0", "-0", "-0.0", "00012.3400",
		"123456789012345", "1234567890123456", "12345678901234.5", "0.000000000000001", "0.0000000000000001",
		"1e5", "1E-3", "inf", "NaN", "0x1p-2", "1_000", " 1", "1 ", "9007199254740993", "999999999999999"}
	for _, f := range floatCases(r, 100000) {
		texts = append(texts, strconv.FormatFloat(f, 'f', -1, 64), strconv.FormatFloat(f, 'f', r.IntN(10), 64),
			strconv.FormatFloat(f, 'g', -1, 64))
	}
	for _, s := range texts {
		got, gotOK := parseFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		wantOK := err == nil && s != ""
		if gotOK != wantOK || (wantOK && math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("parseFloat(%q) = %v, %v; want %v, %v", s, got, gotOK, want, wantOK)
		}
	}
}

func TestDayCacheTimestamps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var c dayCache
	sec := int64(1767225600)
	for i := 0; i < 200000; i++ {
		switch r.IntN(4) {
		case 0:
			sec += int64(r.IntN(3))
		case 1:
			sec += int64(r.IntN(200000)) - 100000
		case 2:
			sec = r.Int64N(1<<40) - 1<<39 // years far outside 0..9999 too
		case 3:
			sec = -sec
		}
		nsec := int64(0)
		if r.IntN(2) == 0 {
			nsec = r.Int64N(1e9)
		}
		got := string(c.appendTimestamp([]byte("x"), sec, nsec))
		want := "x" + time.Unix(sec, nsec).UTC().Format(time.RFC3339Nano)
		if got != want {
			t.Fatalf("appendTimestamp(%d, %d) = %q, want %q", sec, nsec, got, want)
		}
	}
}
