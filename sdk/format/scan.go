package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxRecordBytes bounds one CSV record or JSONL line. Without it an
// unterminated quote would pull the rest of a large file into memory.
const maxRecordBytes = 64 << 20

// window is a sliding buffer over an input stream. The scanners hand out
// slices of it, valid until their next call, so nothing is copied per row.
type window struct {
	r     io.Reader
	buf   []byte
	start int // first unread byte
	end   int // end of buffered data
	eof   bool
	err   error
	line  int64 // physical line number of buf[start], 1-based
}

func newWindow(r io.Reader) window {
	return window{r: r, buf: make([]byte, readBufSize), line: 1}
}

// fill reads more data, keeping buf[start:end]. It returns false when the
// input is exhausted and nothing more can be added.
func (w *window) fill() bool {
	if w.eof {
		return false
	}
	if w.start > 0 {
		copy(w.buf, w.buf[w.start:w.end])
		w.end -= w.start
		w.start = 0
	}
	if w.end == len(w.buf) {
		w.buf = append(w.buf, make([]byte, len(w.buf))...)
	}
	for {
		n, err := w.r.Read(w.buf[w.end:])
		w.end += n
		if err != nil {
			w.eof = true
			if !errors.Is(err, io.EOF) {
				w.err = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// stripBOM drops a UTF-8 byte order mark at the start of the stream; spreadsheet
// exports add one and it would otherwise become part of the first column name.
func (w *window) stripBOM() {
	for w.end-w.start < 3 && w.fill() {
	}
	if bytes.HasPrefix(w.buf[w.start:w.end], []byte("\xef\xbb\xbf")) {
		w.start += 3
	}
}

// recordError is a malformed record: the caller rejects it and goes on.
type recordError struct {
	line   int64
	reason string
	raw    []byte
}

func (e *recordError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// csvScanner splits CSV records. Lines without a quote character take a
// fast path (IndexByte for the newline, the quote and each delimiter, all
// vectorised); lines with quotes go through an RFC 4180 state machine that
// may span lines. Semantics follow encoding/csv in its strict mode: a quote
// inside an unquoted field or a stray quote after a quoted field is an
// error, \r\n ends a line like \n, and blank lines are skipped.
type csvScanner struct {
	window
	delim, quote byte

	fields  [][]byte
	quoted  []bool // per field; only meaningful when anyQuoted
	scratch []byte // unescaped quoted fields
	spans   []span

	anyQuoted bool
	skipping  bool   // discarding the rest of an oversized line
	recLine   int64  // line the last record started on
	raw       []byte // bytes of the last record, without its line end
}

type span struct {
	off, n int
	quoted bool
}

func newCSVScanner(r io.Reader, delim, quote byte) *csvScanner {
	s := &csvScanner{window: newWindow(r), delim: delim, quote: quote}
	s.stripBOM()
	return s
}

// next returns the fields of the next record. They, and s.raw, are valid
// until the following call. Errors are a *recordError for malformed input
// (the scanner has already moved past it), io.EOF, or a read error.
func (s *csvScanner) next() ([][]byte, error) {
	for {
		data := s.buf[s.start:s.end]
		nl := bytes.IndexByte(data, '\n')
		if s.skipping {
			if nl < 0 {
				s.start = s.end
				if !s.fill() {
					s.skipping = false
				}
				continue
			}
			s.start += nl + 1
			s.skipping = false
			continue
		}
		if nl < 0 && !s.eof {
			if s.end-s.start > maxRecordBytes {
				return nil, s.oversized()
			}
			s.fill()
			continue
		}
		if len(data) == 0 {
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		line := data
		consumed := len(data)
		if nl >= 0 {
			line = data[:nl]
			consumed = nl + 1
		}
		if s.quote == 0 || bytes.IndexByte(line, s.quote) < 0 {
			if line, ok := s.takePlain(line, consumed); ok {
				return s.split(line), nil
			}
			continue
		}
		fields, more, err := s.parseQuoted(data)
		if more {
			if s.end-s.start > maxRecordBytes {
				return nil, s.oversized()
			}
			s.fill()
			continue
		}
		return fields, err
	}
}

// split cuts a line without quotes into s.fields.
func (s *csvScanner) split(line []byte) [][]byte {
	s.fields = s.fields[:0]
	for {
		i := bytes.IndexByte(line, s.delim)
		if i < 0 {
			s.fields = append(s.fields, line)
			break
		}
		s.fields = append(s.fields, line[:i])
		line = line[i+1:]
	}
	return s.fields
}

// nextPlain is next for the common record: one buffered line without a
// quote character, which it consumes and returns whole, unsplit, with
// s.raw, s.recLine and s.anyQuoted set as next sets them. ok is false,
// with nothing consumed, for anything else; next then handles it.
func (s *csvScanner) nextPlain() (line []byte, ok bool) {
	for !s.skipping {
		data := s.buf[s.start:s.end]
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil, false
		}
		line = data[:nl]
		if s.quote != 0 && bytes.IndexByte(line, s.quote) >= 0 {
			return nil, false
		}
		if line, ok := s.takePlain(line, nl+1); ok {
			return line, true
		}
	}
	return nil, false
}

// takePlain consumes a record without quotes: line, which with its line
// end takes consumed bytes of the buffer. An empty line is consumed and
// skipped (ok false).
func (s *csvScanner) takePlain(line []byte, consumed int) (record []byte, ok bool) {
	s.start += consumed
	s.recLine = s.line
	s.line++
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		return nil, false
	}
	s.raw = line
	s.anyQuoted = false
	return line, true
}

// oversized rejects the first line of a record that outgrew maxRecordBytes
// and resumes on the line after it, so one stray quote costs one row
// rather than the rest of the file.
func (s *csvScanner) oversized() error {
	data := s.buf[s.start:s.end]
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		nl = len(data) - 1
		s.skipping = true
	}
	raw := bytes.Clone(data[:min(nl, 1024)])
	e := &recordError{line: s.line, reason: fmt.Sprintf("record exceeds %d MiB; unterminated quote?", maxRecordBytes>>20), raw: raw}
	s.start += nl + 1
	s.line++
	return e
}

// parseQuoted parses one record starting at data[0] that contains a quote
// somewhere. more reports that the record runs past the buffered data and
// the caller must fill and call again (parsing restarts from the record's
// first byte, which keeps the state machine free of resumption state).
func (s *csvScanner) parseQuoted(data []byte) (fields [][]byte, more bool, err error) {
	s.scratch = s.scratch[:0]
	s.spans = s.spans[:0]
	pos := 0
	lines := int64(0) // newlines inside the record so far
	delim, quote := s.delim, s.quote

	// fail skips to the end of the physical line holding pos and reports
	// the record from its start to there.
	fail := func(reason string) ([][]byte, bool, error) {
		nl := bytes.IndexByte(data[pos:], '\n')
		if nl < 0 {
			if !s.eof {
				return nil, true, nil
			}
			nl = len(data) - pos - 1
		}
		end := pos + nl + 1
		raw := bytes.TrimRight(data[:end], "\r\n")
		e := &recordError{line: s.line, reason: reason, raw: bytes.Clone(raw)}
		lines += int64(bytes.Count(data[pos:end], []byte{'\n'}))
		s.start += end
		s.line += lines
		if !bytes.HasSuffix(data[:end], []byte{'\n'}) {
			s.line++
		}
		return nil, false, e
	}

	for {
		// At the start of a field.
		if pos < len(data) && data[pos] == quote {
			pos++
			off := len(s.scratch)
			for {
				i := bytes.IndexByte(data[pos:], quote)
				if i < 0 {
					if !s.eof {
						return nil, true, nil
					}
					// Unterminated: reject the record's first line and
					// resume after it, as for an oversized record.
					nl := bytes.IndexByte(data, '\n')
					if nl < 0 {
						nl = len(data)
					}
					e := &recordError{line: s.line, reason: "unterminated quoted field", raw: bytes.Clone(bytes.TrimRight(data[:nl], "\r"))}
					s.start += min(nl+1, len(data))
					s.line++
					return nil, false, e
				}
				chunk := data[pos : pos+i]
				lines += int64(bytes.Count(chunk, []byte{'\n'}))
				s.scratch = append(s.scratch, chunk...)
				pos += i + 1
				if pos == len(data) {
					if !s.eof {
						return nil, true, nil
					}
					s.spans = append(s.spans, span{off, len(s.scratch) - off, true})
					return s.finish(data, pos, lines, true)
				}
				switch c := data[pos]; {
				case c == quote:
					s.scratch = append(s.scratch, quote)
					pos++
					continue
				case c == delim:
					s.spans = append(s.spans, span{off, len(s.scratch) - off, true})
					pos++
				case c == '\n':
					s.spans = append(s.spans, span{off, len(s.scratch) - off, true})
					return s.finish(data, pos+1, lines, false)
				case c == '\r' && pos+1 < len(data) && data[pos+1] == '\n':
					s.spans = append(s.spans, span{off, len(s.scratch) - off, true})
					return s.finish(data, pos+2, lines, false)
				case c == '\r' && pos+1 == len(data) && !s.eof:
					return nil, true, nil
				default:
					return fail(fmt.Sprintf("field %d: extraneous or missing %q in quoted field", len(s.spans)+1, quote))
				}
				break
			}
			continue
		}
		// Unquoted field: runs to the delimiter or the line end.
		off := len(s.scratch)
		for pos < len(data) {
			c := data[pos]
			if c == delim || c == '\n' {
				break
			}
			if c == quote {
				return fail(fmt.Sprintf("field %d: bare %q in non-quoted field", len(s.spans)+1, quote))
			}
			s.scratch = append(s.scratch, c)
			pos++
		}
		if pos == len(data) && !s.eof {
			return nil, true, nil
		}
		field := s.scratch[off:]
		if pos == len(data) || data[pos] == '\n' {
			if n := len(field); n > 0 && field[n-1] == '\r' {
				s.scratch = s.scratch[:len(s.scratch)-1]
			}
			s.spans = append(s.spans, span{off, len(s.scratch) - off, false})
			if pos < len(data) {
				pos++
				return s.finish(data, pos, lines, false)
			}
			return s.finish(data, pos, lines, true)
		}
		s.spans = append(s.spans, span{off, len(s.scratch) - off, false})
		pos++ // the delimiter
	}
}

// finish publishes the parsed spans as fields and advances past the record.
func (s *csvScanner) finish(data []byte, end int, lines int64, atEOF bool) ([][]byte, bool, error) {
	s.fields = s.fields[:0]
	s.quoted = s.quoted[:0]
	for _, sp := range s.spans {
		s.fields = append(s.fields, s.scratch[sp.off:sp.off+sp.n:sp.off+sp.n])
		s.quoted = append(s.quoted, sp.quoted)
	}
	s.anyQuoted = true
	s.raw = bytes.TrimRight(data[:end], "\r\n")
	s.recLine = s.line
	s.start += end
	s.line += lines
	if !atEOF {
		s.line++
	}
	return s.fields, false, nil
}
