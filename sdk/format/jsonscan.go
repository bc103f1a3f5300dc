package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonKind is the JSON type of a top-level value in a JSONL object.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonString
	jsonNumber
	jsonBool
	jsonNested // object or array, kept as its raw text
)

type jsonValue struct {
	Kind jsonKind
	raw  []byte // the value's text (numbers, literals, nested)
	str  []byte // decoded content of a string
	b    bool
}

type jsonMember struct {
	key []byte
	val jsonValue
}

// jsonObjectScanner decodes one flat level of a JSON object per line. A
// generic decoder (map[string]any) allocates per value; this one hands out
// slices of the line and only copies strings that contain escapes.
type jsonObjectScanner struct {
	members []jsonMember
	scratch []byte
	line    []byte
	pos     int
}

var errNotObject = errors.New("not a JSON object")

func (s *jsonObjectScanner) scan(line []byte) ([]jsonMember, error) {
	s.members = s.members[:0]
	s.scratch = s.scratch[:0]
	s.line, s.pos = line, 0
	s.ws()
	if s.pos >= len(line) || line[s.pos] != '{' {
		return nil, errNotObject
	}
	s.pos++
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return s.members, s.end()
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return nil, s.syntax("expected a member name")
		}
		key, err := s.str()
		if err != nil {
			return nil, err
		}
		s.ws()
		if s.peek() != ':' {
			return nil, s.syntax("expected ':'")
		}
		s.pos++
		s.ws()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		s.members = append(s.members, jsonMember{key: key, val: v})
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return s.members, s.end()
		default:
			return nil, s.syntax("expected ',' or '}'")
		}
	}
}

func (s *jsonObjectScanner) end() error {
	s.ws()
	if s.pos != len(s.line) {
		return s.syntax("unexpected data after the object")
	}
	return nil
}

func (s *jsonObjectScanner) syntax(msg string) error {
	if s.pos >= len(s.line) {
		return fmt.Errorf("invalid JSON: %s at end of line", msg)
	}
	return fmt.Errorf("invalid JSON: %s at column %d", msg, s.pos+1)
}

func (s *jsonObjectScanner) peek() byte {
	if s.pos < len(s.line) {
		return s.line[s.pos]
	}
	return 0
}

func (s *jsonObjectScanner) ws() {
	for s.pos < len(s.line) {
		switch s.line[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonObjectScanner) value() (jsonValue, error) {
	start := s.pos
	switch c := s.peek(); {
	case c == '"':
		str, err := s.str()
		return jsonValue{Kind: jsonString, str: str, raw: s.line[start:s.pos]}, err
	case c == 't':
		return s.literal("true", jsonValue{Kind: jsonBool, b: true})
	case c == 'f':
		return s.literal("false", jsonValue{Kind: jsonBool})
	case c == 'n':
		return s.literal("null", jsonValue{Kind: jsonNull})
	case c == '-' || (c >= '0' && c <= '9'):
		if !s.number() {
			return jsonValue{}, s.syntax("malformed number")
		}
		return jsonValue{Kind: jsonNumber, raw: s.line[start:s.pos]}, nil
	case c == '{' || c == '[':
		if err := s.skipNested(); err != nil {
			return jsonValue{}, err
		}
		raw := s.line[start:s.pos]
		if !json.Valid(raw) {
			s.pos = start
			return jsonValue{}, s.syntax("malformed nested value")
		}
		return jsonValue{Kind: jsonNested, raw: raw}, nil
	}
	return jsonValue{}, s.syntax("expected a value")
}

func (s *jsonObjectScanner) literal(word string, v jsonValue) (jsonValue, error) {
	if !bytes.HasPrefix(s.line[s.pos:], []byte(word)) {
		return jsonValue{}, s.syntax("expected a value")
	}
	v.raw = s.line[s.pos : s.pos+len(word)]
	s.pos += len(word)
	return v, nil
}

// number checks the JSON number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *jsonObjectScanner) number() bool {
	l := s.line
	i := s.pos
	if i < len(l) && l[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(l) && l[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(l) && l[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(l) && (l[i] == 'e' || l[i] == 'E') {
		i++
		if i < len(l) && (l[i] == '+' || l[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.pos = i
	return true
}

// skipNested moves past a balanced object or array; json.Valid then checks
// the skipped text in full. Nested values are rare enough in flat JSONL
// that the second pass does not matter.
func (s *jsonObjectScanner) skipNested() error {
	depth := 0
	for s.pos < len(s.line) {
		switch s.line[s.pos] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.pos++
				return nil
			}
		case '"':
			if _, err := s.str(); err != nil {
				return err
			}
			continue
		}
		s.pos++
	}
	return s.syntax("unterminated nested value")
}

// str decodes the string at s.pos. Without escapes it returns a slice of
// the line; with escapes it decodes into scratch (earlier results stay
// valid: scratch only grows during one line).
func (s *jsonObjectScanner) str() ([]byte, error) {
	s.pos++ // opening quote
	start := s.pos
	l := s.line
	for i := start; i < len(l); i++ {
		switch c := l[i]; {
		case c == '"':
			s.pos = i + 1
			return l[start:i], nil
		case c == '\\':
			return s.unescape(start)
		case c < 0x20:
			s.pos = i
			return nil, s.syntax("control character in string")
		}
	}
	s.pos = len(l)
	return nil, s.syntax("unterminated string")
}

func (s *jsonObjectScanner) unescape(start int) ([]byte, error) {
	l := s.line
	off := len(s.scratch)
	i := start
	for i < len(l) {
		c := l[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.scratch[off:len(s.scratch):len(s.scratch)], nil
		case c < 0x20:
			s.pos = i
			return nil, s.syntax("control character in string")
		case c != '\\':
			s.scratch = append(s.scratch, c)
			i++
			continue
		}
		if i+1 >= len(l) {
			break
		}
		switch l[i+1] {
		case '"', '\\', '/':
			s.scratch = append(s.scratch, l[i+1])
		case 'b':
			s.scratch = append(s.scratch, '\b')
		case 'f':
			s.scratch = append(s.scratch, '\f')
		case 'n':
			s.scratch = append(s.scratch, '\n')
		case 'r':
			s.scratch = append(s.scratch, '\r')
		case 't':
			s.scratch = append(s.scratch, '\t')
		case 'u':
			r, ok := hex4(l, i+2)
			if !ok {
				s.pos = i
				return nil, s.syntax("bad \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(l, i+2); ok && i+1 < len(l) && l[i] == '\\' && l[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						s.scratch = utf8.AppendRune(s.scratch, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			s.scratch = utf8.AppendRune(s.scratch, r)
			continue
		default:
			s.pos = i
			return nil, s.syntax("bad escape")
		}
		i += 2
	}
	s.pos = len(l)
	return nil, s.syntax("unterminated string")
}

func hex4(l []byte, i int) (rune, bool) {
	if i+4 > len(l) {
		return 0, false
	}
	var r rune
	for _, c := range l[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// lineScanner hands out physical lines, for JSONL.
type lineScanner struct {
	window
	skipping bool
}

func newLineScanner(r io.Reader) *lineScanner {
	s := &lineScanner{window: newWindow(r)}
	s.stripBOM()
	return s
}

// next returns the next line without its line end and its line number.
// An overlong line comes back as a *recordError and is skipped.
func (s *lineScanner) next() ([]byte, int64, error) {
	for {
		data := s.buf[s.start:s.end]
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 && !s.eof {
			if s.end-s.start > maxRecordBytes {
				e := &recordError{line: s.line, reason: fmt.Sprintf("line exceeds %d MiB", maxRecordBytes>>20), raw: bytes.Clone(data[:1024])}
				s.start = s.end
				s.skipping = true
				s.fill()
				return nil, 0, e
			}
			s.fill()
			continue
		}
		if len(data) == 0 {
			if s.err != nil {
				return nil, 0, s.err
			}
			return nil, 0, io.EOF
		}
		line := data
		if nl >= 0 {
			line = data[:nl]
			s.start += nl + 1
		} else {
			s.start = s.end
		}
		n := s.line
		s.line++
		if s.skipping {
			s.skipping = false
			continue
		}
		return bytes.TrimSuffix(line, []byte{'\r'}), n, nil
	}
}
