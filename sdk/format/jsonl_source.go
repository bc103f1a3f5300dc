package format

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// jsonGuess narrows a JSONL member's type. JSON already says number, bool
// or string; strings are further tested for timestamps and dates. Mixed
// JSON types settle on string.
type jsonGuess struct {
	strings, numbers, bools, nested int
	allInt, allTime, allDate        bool
}

func (g *jsonGuess) observe(v *jsonValue) {
	switch v.Kind {
	case jsonString:
		if g.strings == 0 {
			g.allTime, g.allDate = true, true
		}
		g.strings++
		if g.allTime && !isTimestampText(v.str) {
			g.allTime = false
		}
		if g.allDate {
			if _, ok := parseDate(v.str); !ok {
				g.allDate = false
			}
		}
	case jsonNumber:
		if g.numbers == 0 {
			g.allInt = true
		}
		g.numbers++
		if g.allInt {
			if _, ok := parseInt(v.raw); !ok {
				g.allInt = false
			}
		}
	case jsonBool:
		g.bools++
	case jsonNested:
		g.nested++
	}
}

func (g *jsonGuess) Kind() Kind {
	switch {
	case g.numbers > 0 && g.strings+g.bools+g.nested == 0:
		if g.allInt {
			return KindInt
		}
		return KindFloat
	case g.bools > 0 && g.strings+g.numbers+g.nested == 0:
		return KindBool
	case g.strings > 0 && g.numbers+g.bools+g.nested == 0:
		if g.allTime {
			return KindTimestamp
		}
		if g.allDate {
			return KindDate
		}
	}
	return KindString
}

// InferJSONL samples up to o.InferRows objects of in. Columns come in
// order of first appearance; members that only show up after the sample
// are not columns and are ignored. ok is false when in holds no object.
func InferJSONL(ctx context.Context, in *Input, opts *ReadOptions) (ts TextSchema, ok bool, err error) {
	path := in.Name
	ls := newLineScanner(in)
	var js jsonObjectScanner
	var names []string
	index := map[string]int{}
	var guesses []jsonGuess
	for sampled := 0; sampled < opts.InferRows; {
		line, _, err := ls.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return TextSchema{}, false, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		members, err := js.scan(line)
		if err != nil {
			continue
		}
		for i := range members {
			m := &members[i]
			j, ok := index[string(m.key)]
			if !ok {
				j = len(names)
				index[string(m.key)] = j
				names = append(names, string(m.key))
				guesses = append(guesses, jsonGuess{})
			}
			guesses[j].observe(&m.val)
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

// convertJSON turns a JSON value into c for the column's Kind. Strings
// holding a number, bool or time convert too, since overriding a quoted
// field's type is the usual reason for a schema entry.
func (col *textColumn) convertJSON(v *jsonValue, c *cell) string {
	c.null = false
	switch v.Kind {
	case jsonNull:
		c.null = true
		return ""
	case jsonString:
		if col.Kind == KindString {
			c.str = v.str
			return ""
		}
		return col.convert(v.str, c)
	case jsonNumber:
		switch col.Kind {
		case KindString:
			c.str = v.raw
			return ""
		case KindFloat:
			return col.convert(v.raw, c)
		case KindInt:
			if n, ok := parseInt(v.raw); ok {
				c.bits = n
				return ""
			}
			// 1.0 or 1e3 is still a whole number.
			if f, ok := parseFloat(v.raw); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				c.bits = int64(f)
				return ""
			}
		}
	case jsonBool:
		switch col.Kind {
		case KindString:
			c.str = v.raw
			return ""
		case KindBool:
			c.bits = 0
			if v.b {
				c.bits = 1
			}
			return ""
		}
	case jsonNested:
		if col.Kind == KindString {
			c.str = v.raw
			return ""
		}
	}
	return badValue(col, v.raw)
}

// ReadJSONL streams the lines of in, one JSON object each, into t.
// Members that are not columns are ignored and missing ones are null;
// malformed lines and values go to t.Out.Reject as "<in.Name>:<line>".
func ReadJSONL(ctx context.Context, in *Input, t Target) error {
	b := t.Batcher
	ls := newLineScanner(in)
	var js jsonObjectScanner
	index := make(map[string]int, len(b.cols))
	for i := range b.cols {
		index[b.cols[i].name] = i
	}
	for n := 1; ; n++ {
		line, lineNo, err := ls.next()
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
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		members, err := js.scan(line)
		if err != nil {
			if err := t.reject(in.Name, lineNo, err.Error(), clone(line)); err != nil {
				return err
			}
			continue
		}
		b.clearCells()
		bad := ""
		for i := range members {
			m := &members[i]
			j, ok := index[string(m.key)]
			if !ok {
				continue
			}
			if bad = b.cols[j].convertJSON(&m.val, &b.cells[j]); bad != "" {
				break
			}
		}
		if bad != "" {
			if err := t.reject(in.Name, lineNo, bad, clone(line)); err != nil {
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
