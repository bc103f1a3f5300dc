package format

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/sluice-dev/sluice/sdk"
)

// csvHeader turns a header record into column names. Blank names get their
// position ("c3") and duplicates are an error, since projection and
// formulas address columns by name.
func csvHeader(fields [][]byte, path string) ([]string, error) {
	names := make([]string, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		n := strings.TrimSpace(string(f))
		if n == "" {
			n = "c" + strconv.Itoa(i+1)
		}
		if seen[n] {
			return nil, fmt.Errorf("%s: header names column %q twice", path, n)
		}
		seen[n] = true
		names[i] = n
	}
	return names, nil
}

func positionalNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "c" + strconv.Itoa(i+1)
	}
	return names
}

// InferCSV reads the header and up to o.InferRows records of in and
// settles each column's type. ok is false when in holds no header and no
// row to take columns from (an empty file); the caller then tries the next
// input. Overrides are not applied: see [TextSchema.ApplyOverrides].
func InferCSV(ctx context.Context, in *Input, opts *ReadOptions) (ts TextSchema, ok bool, err error) {
	path := in.Name
	sc := newCSVScanner(in, opts.Delimiter, opts.Quote)
	var names []string
	var guesses []textGuess
	sampled := 0
	for sampled < opts.InferRows {
		fields, err := sc.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				continue // rejected later, when the read meets it
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return TextSchema{}, false, fmt.Errorf("read %s: %w", path, err)
		}
		if names == nil {
			if opts.Header {
				if names, err = csvHeader(fields, path); err != nil {
					return TextSchema{}, false, err
				}
				guesses = make([]textGuess, len(names))
				for i := range guesses {
					guesses[i] = newGuess()
				}
				continue
			}
			names = positionalNames(len(fields))
			guesses = make([]textGuess, len(names))
			for i := range guesses {
				guesses[i] = newGuess()
			}
		}
		if len(fields) != len(names) {
			continue
		}
		for i, f := range fields {
			if opts.IsNull(f) {
				continue
			}
			guesses[i].observe(f)
		}
		sampled++
		if sampled%1024 == 0 && ctx.Err() != nil {
			return TextSchema{}, false, ctx.Err()
		}
	}
	if names == nil {
		return TextSchema{}, false, nil
	}
	ts = TextSchema{Names: names, Kinds: make([]Kind, len(names))}
	for i := range guesses {
		ts.Kinds[i] = guesses[i].Kind()
	}
	return ts, true, nil
}

// Target is where a read of one input goes.
type Target struct {
	// Out receives batches and rejected records.
	Out sdk.RecordSender
	// Batcher collects rows (CSV and JSONL); it is flushed at the end of
	// the input, so batches never span inputs.
	Batcher *Batcher
	// Progress, when set, is called after each batch sent with how many
	// bytes of this input have been consumed.
	Progress func(current int64) error
}

func (t *Target) reject(name string, line int64, reason string, raw []byte) error {
	return t.Out.Reject(sdk.BadRecord{
		Location: fmt.Sprintf("%s:%d", name, line),
		Reason:   reason,
		Raw:      raw,
	})
}

// send flushes b and reports progress. It is the one place a read blocks
// on its consumer, so cancellation is checked here too.
func (t *Target) send(ctx context.Context, current int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.Batcher.rows == 0 {
		return nil
	}
	if err := t.Batcher.Flush(t.Out); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if t.Progress != nil {
		return t.Progress(current)
	}
	return nil
}

// ReadCSV streams the records of in into t. Malformed rows and values that
// do not parse as their column's kind go to t.Out.Reject as
// "<in.Name>:<line>" with a reason, and the read goes on. With a header,
// its column names must be those of t.Batcher's schema.
func ReadCSV(ctx context.Context, in *Input, opts *ReadOptions, t Target) error {
	b := t.Batcher
	ts := b.text
	sc := newCSVScanner(in, opts.Delimiter, opts.Quote)
	ncols := len(ts.Names)
	if opts.Header {
		fields, err := sc.next()
		var rec *recordError
		for errors.As(err, &rec) {
			// A malformed line before the header: report it and keep
			// looking, the header is the first well-formed record.
			if err := t.reject(in.Name, rec.line, rec.reason, rec.raw); err != nil {
				return err
			}
			fields, err = sc.next()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", in.Name, err)
		}
		names, err := csvHeader(fields, in.Name)
		if err != nil {
			return err
		}
		if !equalStrings(names, ts.Names) {
			expected := "the first file's"
			if ts.Declared {
				expected = "the columns attribute's"
			}
			return fmt.Errorf("%s: header (%s) differs from %s (%s)",
				in.Name, strings.Join(names, ", "), expected, strings.Join(ts.Names, ", "))
		}
	}
	cols := b.cols
	cells := b.cells
	direct := b.byFile != nil && len(b.byFile) == ncols
	for n := 1; ; n++ {
		var fields [][]byte
		var err error
		if line, ok := sc.nextPlain(); ok && direct {
			if b.storeLine(line, opts) {
				if b.rows >= b.limits.MaxRows || b.bytes >= b.limits.MaxBytes {
					if err := t.send(ctx, in.BytesRead()); err != nil {
						return err
					}
				}
				if n&1023 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				continue
			}
			// Not a row storeLine takes (a value it does not parse, the
			// wrong number of fields): the general path below decides,
			// rejecting it with the reason, or storing it after all.
			fields = sc.split(line)
		} else if ok {
			fields = sc.split(line)
		} else {
			fields, err = sc.next()
		}
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				if err := t.reject(in.Name, rec.line, rec.reason, rec.raw); err != nil {
					return err
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read %s: %w", in.Name, err)
		}
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(fields) != ncols {
			reason := fmt.Sprintf("expected %d fields, got %d", ncols, len(fields))
			if err := t.reject(in.Name, sc.recLine, reason, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		bad := ""
		for i := range cols {
			col := &cols[i]
			v := fields[col.src]
			if opts.IsNull(v) && (col.Kind != KindString || !sc.anyQuoted || !sc.quoted[col.src]) {
				// A quoted null value is literal text in a string column
				// (so "" round-trips as an empty string); other kinds have
				// no such text, so there it is still null.
				cells[i].null = true
				continue
			}
			if bad = col.convert(v, &cells[i]); bad != "" {
				break
			}
		}
		if bad != "" {
			if err := t.reject(in.Name, sc.recLine, bad, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		if b.commit() {
			if err := t.send(ctx, in.BytesRead()); err != nil {
				return err
			}
		}
	}
	return t.send(ctx, in.BytesRead())
}

// storeLine parses line, a record without quotes, straight into the
// columns and counts it: the common row, without splitting it into fields
// and converting those into cells first. It returns false, having
// counted nothing, for a line it does not take whole: the wrong number of
// fields, or a value that its kind's parser refuses. What it stored of
// the row is overwritten by the next, since every value of row r is
// written at index r and string bytes are cut back to the row's offset.
func (b *Batcher) storeLine(line []byte, opts *ReadOptions) bool {
	b.makeRoom()
	r := b.rows
	size := b.fixed
	b.ends = fieldEnds(b.ends[:0], line, opts.Delimiter)
	if len(b.ends) != len(b.byFile) {
		return false
	}
	pos := 0
	for j, k := range b.byFile {
		end := b.ends[j]
		v := line[pos:end]
		pos = end + 1
		if k < 0 {
			continue
		}
		col := &b.cols[k]
		if opts.IsNull(v) {
			col.setNull(b.mem, r)
			continue
		}
		switch col.Kind {
		case KindString:
			// setString's common case, inline: the call is a measurable
			// part of a short string's cost.
			if off := int(col.i32[r]); off+len(v) <= cap(col.str) {
				col.str = append(col.str[:off], v...)
				col.i32[r+1] = int32(len(col.str))
				col.setValid(r)
			} else {
				col.setString(r, v)
			}
			size += len(v)
			continue
		case KindInt:
			n, ok := parseInt(v)
			if !ok {
				return false
			}
			col.i64[r] = n
		case KindFloat:
			f, ok := parseFloat(v)
			if !ok {
				return false
			}
			col.i64[r] = int64(math.Float64bits(f))
		case KindBool:
			t, ok := parseBool(v)
			if !ok {
				return false
			}
			bitutil.SetBitTo(col.flag, r, t)
		case KindTimestamp:
			us, ok := col.days.parseTimestamp(v)
			if !ok {
				return false
			}
			col.i64[r] = us
		case KindDate:
			d, ok := col.days.parseDate(v)
			if !ok {
				return false
			}
			col.i32[r] = d
		}
		col.setValid(r)
	}
	b.rows++
	b.bytes += size
	return true
}

// fieldEnds appends to ends the index of every delim in line, then
// len(line): where each field ends. It tests eight bytes at a time and
// takes every delimiter of a word from one mask: fields are mostly a few
// bytes to a few dozen, too short for a bytes.IndexByte call per field to
// pay off.
func fieldEnds(ends []int, line []byte, delim byte) []int {
	const low7 = 0x7f7f7f7f7f7f7f7f
	pat := uint64(delim) * 0x0101010101010101
	i := 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:]) ^ pat
		// The high bit of each byte of m is set where x has a zero byte,
		// a delimiter; adding low7 to the low bits alone keeps a carry
		// from crossing into the next byte.
		m := ^((x&low7 + low7) | x | low7)
		for m != 0 {
			ends = append(ends, i+bits.TrailingZeros64(m)>>3)
			m &= m - 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == delim {
			ends = append(ends, i)
		}
	}
	return append(ends, len(line))
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
