package format

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Encoder turns batches into one file's or object's bytes.
type Encoder interface {
	// Write appends the given rows of rec (all rows when rows is nil).
	Write(rec arrow.RecordBatch, rows []int) error
	// Size estimates the output's size so far, buffered data included.
	Size() int64
	// Finish flushes everything and completes the output (footer, gzip
	// trailer); the caller closes the underlying writer.
	Finish() error
}

var (
	_ Encoder = (*CSVEncoder)(nil)
	_ Encoder = (*JSONLEncoder)(nil)
	_ Encoder = (*ParquetEncoder)(nil)
)

// CSVWriteOptions shape the CSV an encoder writes.
type CSVWriteOptions struct {
	// Delimiter separates fields; 0 means ','.
	Delimiter byte
	// Header writes the column names as the first record.
	Header bool
	// NullValue is the text written for null; strings equal to it are
	// quoted so that they read back as strings.
	NullValue string
}

// valueFn appends the text of a non-null value at row i.
type valueFn func(dst []byte, i int) []byte

const flushAt = 256 << 10

// textEncoder is the shared part of CSV and JSONL: a byte buffer flushed to
// w in large writes, so a gzip or OS write happens per 256 KiB rather than
// per row.
type textEncoder struct {
	w       io.Writer
	buf     []byte
	flushed int64
}

func (e *textEncoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	n, err := e.w.Write(e.buf)
	e.flushed += int64(n)
	e.buf = e.buf[:0]
	return err
}

func (e *textEncoder) Size() int64 { return e.flushed + int64(len(e.buf)) }

func forRows(n int, rows []int, fn func(i int) error) error {
	if rows == nil {
		for i := 0; i < n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	for _, i := range rows {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// CSVEncoder writes RFC 4180 CSV. A string is quoted when it holds the
// delimiter, a quote or a line break, and also when it equals the null
// text, so that the reader can tell an empty string from a null.
type CSVEncoder struct {
	textEncoder
	delim      byte
	null       []byte
	header     bool
	wroteHead  bool
	needsQuote [256]bool
	delimWord  uint64 // the delimiter in every byte
}

// NewCSVEncoder returns an encoder writing RFC 4180 CSV to w.
func NewCSVEncoder(w io.Writer, o CSVWriteOptions) *CSVEncoder {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	e := &CSVEncoder{
		textEncoder: textEncoder{w: w, buf: make([]byte, 0, flushAt+64<<10)},
		delim:       o.Delimiter,
		null:        []byte(o.NullValue),
		header:      o.Header,
	}
	for _, c := range []byte{o.Delimiter, '"', '\n', '\r'} {
		e.needsQuote[c] = true
	}
	e.delimWord = uint64(o.Delimiter) * 0x0101010101010101
	return e
}

func (e *CSVEncoder) appendString(dst []byte, s string) []byte {
	if !e.mustQuote(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

// mustQuote reports whether s needs quotes: it holds the delimiter, a
// quote or a line break, or it is the null text. Eight bytes are tested
// at a time for the four characters, as values are mostly longer than a
// word and rarely need quoting.
func (e *CSVEncoder) mustQuote(s string) bool {
	if len(s) == len(e.null) && s == string(e.null) {
		return true
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if hasZeroByte(w^e.delimWord, ones, highs) || hasZeroByte(w^('"'*ones), ones, highs) ||
			hasZeroByte(w^('\n'*ones), ones, highs) || hasZeroByte(w^('\r'*ones), ones, highs) {
			return true
		}
	}
	for ; i < len(s); i++ {
		if e.needsQuote[s[i]] {
			return true
		}
	}
	return false
}

// anyQuotable reports whether b holds the delimiter, a quote or a line
// break.
func (e *CSVEncoder) anyQuotable(b []byte) bool {
	return bytes.IndexByte(b, e.delim) >= 0 || bytes.IndexByte(b, '"') >= 0 ||
		bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
}

// hasZeroByte reports whether any byte of x is zero.
func hasZeroByte(x, ones, highs uint64) bool { return (x-ones)&^x&highs != 0 }

func (e *CSVEncoder) valueFn(col arrow.Array) valueFn {
	switch a := col.(type) {
	case *array.String:
		return func(dst []byte, i int) []byte { return e.appendString(dst, a.Value(i)) }
	case *array.LargeString:
		return func(dst []byte, i int) []byte { return e.appendString(dst, a.Value(i)) }
	}
	if fn := scalarText(col); fn != nil {
		return fn
	}
	return func(dst []byte, i int) []byte { return e.appendString(dst, col.ValueStr(i)) }
}

// scalarText formats the types whose text needs no quoting or escaping in
// either CSV or JSON: numbers and booleans. Times and dates come back as
// bare text; JSON wraps them in quotes itself.
func scalarText(col arrow.Array) valueFn {
	switch a := col.(type) {
	case *array.Int64:
		return func(dst []byte, i int) []byte { return strconv.AppendInt(dst, a.Value(i), 10) }
	case *array.Int32:
		return func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Int16:
		return func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Int8:
		return func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Uint64:
		return func(dst []byte, i int) []byte { return strconv.AppendUint(dst, a.Value(i), 10) }
	case *array.Uint32:
		return func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Uint16:
		return func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Uint8:
		return func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Float64:
		return func(dst []byte, i int) []byte { return appendFloat(dst, a.Value(i)) }
	case *array.Float32:
		return func(dst []byte, i int) []byte { return appendFloat(dst, float64(a.Value(i))) }
	case *array.Boolean:
		return func(dst []byte, i int) []byte { return strconv.AppendBool(dst, a.Value(i)) }
	case *array.Timestamp:
		perSec := unitsPerSecond(a.DataType().(*arrow.TimestampType).Unit)
		var days dayCache
		return func(dst []byte, i int) []byte {
			sec, nsec := splitUnit(int64(a.Value(i)), perSec)
			return days.appendTimestamp(dst, sec, nsec)
		}
	case *array.Date32:
		return func(dst []byte, i int) []byte { return appendDate(dst, int64(a.Value(i))) }
	case *array.Date64:
		return func(dst []byte, i int) []byte {
			ms := int64(a.Value(i))
			days := ms / 86400000
			if ms%86400000 < 0 {
				days--
			}
			return appendDate(dst, days)
		}
	}
	return nil
}

// csvColumn is one column of a batch being encoded, with its values in
// reach of the row loop: the common types are formatted inline from
// their buffers, without a call through an interface or closure per
// value, and the validity bitmap is only looked at when there are nulls.
type csvColumn struct {
	kind   csvKind
	valid  []byte // nil without nulls
	offset int    // the array's offset into valid and bits

	// Values, already sliced to the array.

	i64  []int64
	f64  []float64
	offs []int32 // string offsets, into data
	data []byte
	bits []byte // boolean values
	unit int64  // timestamp units per second
	days dayCache
	fn   valueFn // csvOther
	// plain is true when no string of the batch holds a character that
	// needs quoting, found with one vectorised scan of all the column's
	// bytes rather than one per value.
	plain bool
}

type csvKind uint8

const (
	csvOther csvKind = iota
	csvInt64
	csvFloat64
	csvString
	csvBool
	csvTimestamp
)

func (e *CSVEncoder) column(col arrow.Array) csvColumn {
	c := csvColumn{offset: col.Data().Offset()}
	if col.NullN() > 0 {
		c.valid = col.NullBitmapBytes()
	}
	switch a := col.(type) {
	case *array.Int64:
		c.kind, c.i64 = csvInt64, a.Int64Values()
	case *array.Float64:
		c.kind, c.f64 = csvFloat64, a.Float64Values()
	case *array.String:
		c.kind, c.offs = csvString, a.ValueOffsets()
		if b := a.Data().Buffers()[2]; b != nil {
			c.data = b.Bytes()
		}
		if len(c.offs) > 1 {
			c.plain = !e.anyQuotable(c.data[c.offs[0]:c.offs[len(c.offs)-1]])
		}
	case *array.Boolean:
		c.kind = csvBool
		if b := a.Data().Buffers()[1]; b != nil {
			c.bits = b.Bytes()
		}
	case *array.Timestamp:
		c.kind, c.i64 = csvTimestamp, arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(a.TimestampValues()))
		c.unit = unitsPerSecond(a.DataType().(*arrow.TimestampType).Unit)
	default:
		c.fn = e.valueFn(col)
	}
	return c
}

func (e *CSVEncoder) Write(rec arrow.RecordBatch, rows []int) error {
	if e.header && !e.wroteHead {
		for j, f := range rec.Schema().Fields() {
			if j > 0 {
				e.buf = append(e.buf, e.delim)
			}
			e.buf = e.appendString(e.buf, f.Name)
		}
		e.buf = append(e.buf, '\n')
		e.wroteHead = true
	}
	cols := make([]csvColumn, rec.NumCols())
	for j, c := range rec.Columns() {
		cols[j] = e.column(c)
	}
	if rows != nil {
		for _, i := range rows {
			if err := e.row(cols, i); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range int(rec.NumRows()) {
		if err := e.row(cols, i); err != nil {
			return err
		}
	}
	return nil
}

// row writes row i of cols.
func (e *CSVEncoder) row(cols []csvColumn, i int) error {
	buf := e.buf
	for j := range cols {
		c := &cols[j]
		if j > 0 {
			buf = append(buf, e.delim)
		}
		// A set validity bit is the common case; one byte test covers it.
		if c.valid != nil && c.valid[(c.offset+i)>>3]&(1<<((c.offset+i)&7)) == 0 {
			buf = append(buf, e.null...)
			continue
		}
		switch c.kind {
		case csvInt64:
			buf = appendInt(buf, c.i64[i])
		case csvFloat64:
			buf = appendFloat(buf, c.f64[i])
		case csvString:
			v := c.data[c.offs[i]:c.offs[i+1]]
			if c.plain && (len(v) != len(e.null) || string(v) != string(e.null)) {
				buf = append(buf, v...)
			} else if e.mustQuote(bstr(v)) {
				buf = e.appendString(buf, bstr(v))
			} else {
				buf = append(buf, v...)
			}
		case csvBool:
			if k := c.offset + i; c.bits[k>>3]&(1<<(k&7)) != 0 {
				buf = append(buf, 't', 'r', 'u', 'e')
			} else {
				buf = append(buf, 'f', 'a', 'l', 's', 'e')
			}
		case csvTimestamp:
			sec, nsec := splitUnit(c.i64[i], c.unit)
			buf = c.days.appendTimestamp(buf, sec, nsec)
		default:
			buf = c.fn(buf, i)
		}
	}
	e.buf = append(buf, '\n')
	if len(e.buf) >= flushAt {
		return e.flush()
	}
	return nil
}

func (e *CSVEncoder) Finish() error { return e.flush() }

// JSONLEncoder writes one JSON object per line, members in schema order.
// Nulls are written as null rather than left out, so every line names every
// column and a reader's inference sees them all.
type JSONLEncoder struct {
	textEncoder
	keys [][]byte // `{"name":` for the first member, `,"name":` after
}

// NewJSONLEncoder returns an encoder writing JSON Lines to w, members in
// the order of sc.
func NewJSONLEncoder(w io.Writer, sc *arrow.Schema) *JSONLEncoder {
	e := &JSONLEncoder{textEncoder: textEncoder{w: w, buf: make([]byte, 0, flushAt+64<<10)}}
	for j, f := range sc.Fields() {
		sep := byte(',')
		if j == 0 {
			sep = '{'
		}
		k := appendJSONString([]byte{sep}, f.Name)
		e.keys = append(e.keys, append(k, ':'))
	}
	return e
}

func (e *JSONLEncoder) valueFn(col arrow.Array) valueFn {
	switch a := col.(type) {
	case *array.String:
		return func(dst []byte, i int) []byte { return appendJSONString(dst, a.Value(i)) }
	case *array.LargeString:
		return func(dst []byte, i int) []byte { return appendJSONString(dst, a.Value(i)) }
	case *array.Float64:
		return func(dst []byte, i int) []byte { return appendJSONFloat(dst, a.Value(i)) }
	case *array.Float32:
		return func(dst []byte, i int) []byte { return appendJSONFloat(dst, float64(a.Value(i))) }
	case *array.Timestamp, *array.Date32, *array.Date64:
		text := scalarText(col)
		return func(dst []byte, i int) []byte {
			dst = append(dst, '"')
			return append(text(dst, i), '"')
		}
	}
	if fn := scalarText(col); fn != nil {
		return fn
	}
	return func(dst []byte, i int) []byte {
		b, err := json.Marshal(col.GetOneForMarshal(i))
		if err != nil {
			return appendJSONString(dst, col.ValueStr(i))
		}
		return append(dst, b...)
	}
}

// appendJSONFloat writes NaN and infinities, which JSON cannot express, as
// null.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendFloat(dst, f)
}

func (e *JSONLEncoder) Write(rec arrow.RecordBatch, rows []int) error {
	cols := rec.Columns()
	fns := make([]valueFn, len(cols))
	for j, c := range cols {
		fns[j] = e.valueFn(c)
	}
	return forRows(int(rec.NumRows()), rows, func(i int) error {
		if len(cols) == 0 {
			e.buf = append(e.buf, '{')
		}
		for j, c := range cols {
			e.buf = append(e.buf, e.keys[j]...)
			if c.IsNull(i) {
				e.buf = append(e.buf, "null"...)
				continue
			}
			e.buf = fns[j](e.buf, i)
		}
		e.buf = append(e.buf, '}', '\n')
		if len(e.buf) >= flushAt {
			return e.flush()
		}
		return nil
	})
}

func (e *JSONLEncoder) Finish() error { return e.flush() }

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
