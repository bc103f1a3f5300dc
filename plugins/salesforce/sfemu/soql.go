package sfemu

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDate
	tDateTime
	tOp // = != <> < <= > >=
	tLParen
	tRParen
	tComma
	tDot
	tColon
)

type token struct {
	kind tokKind
	text string // raw text (unescaped for strings)
	pos  int    // byte offset
}

// QueryError is a SOQL error with the errorCode Salesforce gives.
type QueryError struct {
	Code    string
	Message string
}

func (e *QueryError) Error() string { return e.Code + ": " + e.Message }

var (
	dateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})`)
	dateRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	numberRE   = regexp.MustCompile(`^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?`)
)

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func lex(src string) ([]token, *QueryError) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(src) {
				if src[j] == '\\' && j+1 < len(src) {
					switch e := src[j+1]; e {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					case '%', '_':
						b.WriteByte('\\') // kept escaped for LIKE
						b.WriteByte(e)
					case '\'', '"', '\\':
						b.WriteByte(e)
					default:
						return nil, soqlErr(src, j, "MALFORMED_QUERY", "Invalid string literal '"+src[i:]+"'. Illegal character sequence '\\"+string(e)+"' in string literal.")
					}
					j += 2
					continue
				}
				if src[j] == '\'' {
					closed = true
					j++
					break
				}
				b.WriteByte(src[j])
				j++
			}
			if !closed {
				return nil, soqlErr(src, i, "MALFORMED_QUERY", "unexpected token: '"+src[i:]+"'")
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j
		case c >= '0' && c <= '9' || ((c == '-' || c == '+' || c == '.') && i+1 < len(src) && (src[i+1] >= '0' && src[i+1] <= '9')):
			rest := src[i:]
			if m := dateTimeRE.FindString(rest); m != "" {
				toks = append(toks, token{tDateTime, m, i})
				i += len(m)
			} else if m := dateRE.FindString(rest); m != "" {
				toks = append(toks, token{tDate, m, i})
				i += len(m)
			} else if m := numberRE.FindString(strings.TrimPrefix(rest, "+")); m != "" {
				if c == '+' {
					i++
				}
				toks = append(toks, token{tNumber, m, i})
				i += len(m)
			} else {
				return nil, soqlErr(src, i, "MALFORMED_QUERY", "unexpected token: '"+string(c)+"'")
			}
		case c == '=':
			toks = append(toks, token{tOp, "=", i})
			i++
		case c == '!' && i+1 < len(src) && src[i+1] == '=':
			toks = append(toks, token{tOp, "!=", i})
			i += 2
		case c == '<' || c == '>':
			if i+1 < len(src) && (src[i+1] == '=' || (c == '<' && src[i+1] == '>')) {
				op := src[i : i+2]
				if op == "<>" {
					op = "!="
				}
				toks = append(toks, token{tOp, op, i})
				i += 2
			} else {
				toks = append(toks, token{tOp, string(c), i})
				i++
			}
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '.':
			toks = append(toks, token{tDot, ".", i})
			i++
		case c == ':':
			toks = append(toks, token{tColon, ":", i})
			i++
		default:
			return nil, soqlErr(src, i, "MALFORMED_QUERY", "unexpected token: '"+string(c)+"'")
		}
	}
	toks = append(toks, token{tEOF, "<EOF>", len(src)})
	return toks, nil
}

// soqlErr formats an error the way Salesforce does: the query, a caret under
// the offending column, then the row and column.
func soqlErr(src string, pos int, code, msg string) *QueryError {
	lines := strings.Split(src, "\n")
	row, col := 1, pos+1
	off := 0
	for i, l := range lines {
		if pos <= off+len(l) {
			row, col = i+1, pos-off+1
			break
		}
		off += len(l) + 1
	}
	line := lines[row-1]
	caret := strings.Repeat(" ", max(col-1, 0)) + "^"
	return &QueryError{Code: code, Message: fmt.Sprintf("\n%s\n%s\nERROR at Row:%d:Column:%d\n%s", line, caret, row, col, msg)}
}

// ---- AST ----

type selectItem struct {
	path []string
	pos  int
}

type literal struct {
	kind   tokKind // tString, tNumber, tDate, tDateTime, tIdent (true/false/null/date keyword)
	text   string
	pos    int
	n      int // LAST_N_DAYS:n
	hasArg bool
}

type cond interface{}

type boolCond struct {
	and   bool
	items []cond
}

type notCond struct{ c cond }

type cmpCond struct {
	path []string
	pos  int
	op   string // = != < <= > >= LIKE IN NOTIN INCLUDES EXCLUDES
	vals []literal
}

type orderItem struct {
	path      []string
	pos       int
	desc      bool
	nullsLast bool
}

type soqlQuery struct {
	src       string
	items     []selectItem
	count     bool
	fieldsFn  string // ALL, STANDARD, CUSTOM
	object    string
	objPos    int
	where     cond
	order     []orderItem
	limit     int
	offset    int
	hasOffset bool
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}
func (p *parser) unexpected(t token) *QueryError {
	return soqlErr(p.src, t.pos, "MALFORMED_QUERY", "unexpected token: '"+t.text+"'")
}

var reserved = map[string]bool{"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"ORDER": true, "BY": true, "LIMIT": true, "OFFSET": true, "IN": true, "LIKE": true, "NULL": true, "TRUE": true,
	"FALSE": true, "ASC": true, "DESC": true, "NULLS": true, "FIRST": true, "LAST": true, "GROUP": true, "HAVING": true,
	"INCLUDES": true, "EXCLUDES": true, "WITH": true, "FOR": true, "USING": true}

// parseSOQL parses a query; it knows nothing of the schema.
func parseSOQL(src string) (*soqlQuery, *QueryError) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	q := &soqlQuery{src: src, limit: -1}
	if !p.isKw("SELECT") {
		return nil, p.unexpected(p.peek())
	}
	p.next()
	for {
		t := p.peek()
		if t.kind == tIdent && strings.EqualFold(t.text, "COUNT") && p.toks[p.i+1].kind == tLParen {
			p.next()
			p.next()
			if p.peek().kind != tRParen {
				return nil, soqlErr(src, p.peek().pos, "MALFORMED_QUERY", "only COUNT() is supported by this emulator, not COUNT(field)")
			}
			p.next()
			q.count = true
		} else if t.kind == tIdent && strings.EqualFold(t.text, "FIELDS") && p.toks[p.i+1].kind == tLParen {
			p.next()
			p.next()
			a := p.next()
			if a.kind != tIdent || !(strings.EqualFold(a.text, "ALL") || strings.EqualFold(a.text, "STANDARD") || strings.EqualFold(a.text, "CUSTOM")) {
				return nil, p.unexpected(a)
			}
			if p.peek().kind != tRParen {
				return nil, p.unexpected(p.peek())
			}
			p.next()
			q.fieldsFn = strings.ToUpper(a.text)
		} else if t.kind == tLParen {
			return nil, soqlErr(src, t.pos, "MALFORMED_QUERY", "parent-to-child subqueries are not supported by this emulator")
		} else {
			path, pos, err := p.fieldPath()
			if err != nil {
				return nil, err
			}
			q.items = append(q.items, selectItem{path, pos})
		}
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		break
	}
	if q.count && (len(q.items) > 0 || q.fieldsFn != "") {
		return nil, soqlErr(src, p.peek().pos, "MALFORMED_QUERY", "COUNT() and fields cannot be selected together")
	}
	if !p.isKw("FROM") {
		return nil, p.unexpected(p.peek())
	}
	p.next()
	ot := p.next()
	if ot.kind != tIdent || reserved[strings.ToUpper(ot.text)] {
		return nil, p.unexpected(ot)
	}
	q.object, q.objPos = ot.text, ot.pos
	if p.isKw("WHERE") {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		q.where = c
	}
	if p.isKw("ORDER") {
		p.next()
		if !p.isKw("BY") {
			return nil, p.unexpected(p.peek())
		}
		p.next()
		for {
			path, pos, err := p.fieldPath()
			if err != nil {
				return nil, err
			}
			oi := orderItem{path: path, pos: pos}
			if p.isKw("ASC") {
				p.next()
			} else if p.isKw("DESC") {
				p.next()
				oi.desc = true
			}
			oi.nullsLast = oi.desc
			if p.isKw("NULLS") {
				p.next()
				switch {
				case p.isKw("FIRST"):
					oi.nullsLast = false
				case p.isKw("LAST"):
					oi.nullsLast = true
				default:
					return nil, p.unexpected(p.peek())
				}
				p.next()
			}
			q.order = append(q.order, oi)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	for p.isKw("LIMIT") || p.isKw("OFFSET") {
		kw := strings.ToUpper(p.next().text)
		n := p.next()
		v, err := strconv.Atoi(n.text)
		if n.kind != tNumber || err != nil || v < 0 {
			return nil, p.unexpected(n)
		}
		if kw == "LIMIT" {
			if q.limit >= 0 || q.hasOffset {
				return nil, soqlErr(src, n.pos, "MALFORMED_QUERY", "unexpected token: 'LIMIT'")
			}
			q.limit = v
		} else {
			if q.hasOffset {
				return nil, p.unexpected(n)
			}
			if v > 2000 {
				return nil, soqlErr(src, n.pos, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
			}
			q.offset, q.hasOffset = v, true
		}
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	if q.fieldsFn == "ALL" || q.fieldsFn == "CUSTOM" {
		if q.limit < 0 || q.limit > 200 {
			return nil, soqlErr(src, 0, "MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200")
		}
	}
	return q, nil
}

func (p *parser) fieldPath() ([]string, int, *QueryError) {
	t := p.next()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return nil, 0, p.unexpected(t)
	}
	path := []string{t.text}
	for p.peek().kind == tDot {
		p.next()
		n := p.next()
		if n.kind != tIdent {
			return nil, 0, p.unexpected(n)
		}
		path = append(path, n.text)
	}
	return path, t.pos, nil
}

// orExpr parses a boolean expression; SOQL forbids mixing AND and OR
// without parentheses.
func (p *parser) orExpr() (cond, *QueryError) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	var op string
	items := []cond{first}
	for p.isKw("AND") || p.isKw("OR") {
		t := p.peek()
		kw := strings.ToUpper(t.text)
		if op != "" && kw != op {
			return nil, p.unexpected(t)
		}
		op = kw
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		items = append(items, c)
	}
	if op == "" {
		return first, nil
	}
	return &boolCond{and: op == "AND", items: items}, nil
}

func (p *parser) unary() (cond, *QueryError) {
	if p.isKw("NOT") {
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notCond{c}, nil
	}
	if p.peek().kind == tLParen {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.unexpected(p.peek())
		}
		p.next()
		return c, nil
	}
	path, pos, err := p.fieldPath()
	if err != nil {
		return nil, err
	}
	c := &cmpCond{path: path, pos: pos}
	t := p.next()
	switch {
	case t.kind == tOp:
		c.op = t.text
	case t.kind == tIdent && strings.EqualFold(t.text, "LIKE"):
		c.op = "LIKE"
	case t.kind == tIdent && strings.EqualFold(t.text, "IN"):
		c.op = "IN"
	case t.kind == tIdent && (strings.EqualFold(t.text, "INCLUDES") || strings.EqualFold(t.text, "EXCLUDES")):
		c.op = strings.ToUpper(t.text)
	case t.kind == tIdent && strings.EqualFold(t.text, "NOT") && p.isKw("IN"):
		p.next()
		c.op = "NOTIN"
	default:
		return nil, p.unexpected(t)
	}
	if c.op == "IN" || c.op == "NOTIN" || c.op == "INCLUDES" || c.op == "EXCLUDES" {
		if p.peek().kind != tLParen {
			return nil, p.unexpected(p.peek())
		}
		p.next()
		if p.isKw("SELECT") {
			return nil, soqlErr(p.src, p.peek().pos, "MALFORMED_QUERY", "semi-join subqueries are not supported by this emulator")
		}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			if p.peek().kind == tComma {
				p.next()
				continue
			}
			break
		}
		if p.peek().kind != tRParen {
			return nil, p.unexpected(p.peek())
		}
		p.next()
		return c, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	c.vals = []literal{v}
	return c, nil
}

func (p *parser) value() (literal, *QueryError) {
	t := p.next()
	switch t.kind {
	case tString, tNumber, tDate, tDateTime:
		return literal{kind: t.kind, text: t.text, pos: t.pos}, nil
	case tIdent:
		up := strings.ToUpper(t.text)
		if up == "TRUE" || up == "FALSE" || up == "NULL" {
			return literal{kind: tIdent, text: up, pos: t.pos}, nil
		}
		if _, ok := dateLiterals[up]; ok {
			return literal{kind: tIdent, text: up, pos: t.pos}, nil
		}
		if _, ok := dateLiteralsN[up]; ok {
			if p.peek().kind != tColon {
				return literal{}, p.unexpected(p.peek())
			}
			p.next()
			n := p.next()
			v, err := strconv.Atoi(n.text)
			if n.kind != tNumber || err != nil || v < 0 {
				return literal{}, p.unexpected(n)
			}
			return literal{kind: tIdent, text: up, pos: t.pos, n: v, hasArg: true}, nil
		}
	}
	return literal{}, p.unexpected(t)
}

// ---- date literals ----

// dateLiterals resolve to a [from, to) range of days relative to today.
var dateLiterals = map[string]func(today time.Time) (time.Time, time.Time){
	"TODAY":     func(d time.Time) (time.Time, time.Time) { return d, d.AddDate(0, 0, 1) },
	"YESTERDAY": func(d time.Time) (time.Time, time.Time) { return d.AddDate(0, 0, -1), d },
	"TOMORROW":  func(d time.Time) (time.Time, time.Time) { return d.AddDate(0, 0, 1), d.AddDate(0, 0, 2) },
	"THIS_WEEK": func(d time.Time) (time.Time, time.Time) { s := weekStart(d); return s, s.AddDate(0, 0, 7) },
	"LAST_WEEK": func(d time.Time) (time.Time, time.Time) { s := weekStart(d); return s.AddDate(0, 0, -7), s },
	"NEXT_WEEK": func(d time.Time) (time.Time, time.Time) {
		s := weekStart(d)
		return s.AddDate(0, 0, 7), s.AddDate(0, 0, 14)
	},
	"THIS_MONTH": func(d time.Time) (time.Time, time.Time) { s := monthStart(d); return s, s.AddDate(0, 1, 0) },
	"LAST_MONTH": func(d time.Time) (time.Time, time.Time) { s := monthStart(d); return s.AddDate(0, -1, 0), s },
	"NEXT_MONTH": func(d time.Time) (time.Time, time.Time) {
		s := monthStart(d)
		return s.AddDate(0, 1, 0), s.AddDate(0, 2, 0)
	},
	"LAST_90_DAYS": func(d time.Time) (time.Time, time.Time) { return d.AddDate(0, 0, -90), d.AddDate(0, 0, 1) },
	"NEXT_90_DAYS": func(d time.Time) (time.Time, time.Time) { return d.AddDate(0, 0, 1), d.AddDate(0, 0, 91) },
	"THIS_YEAR": func(d time.Time) (time.Time, time.Time) {
		s := time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	},
	"LAST_YEAR": func(d time.Time) (time.Time, time.Time) {
		s := time.Date(d.Year()-1, 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	},
	"NEXT_YEAR": func(d time.Time) (time.Time, time.Time) {
		s := time.Date(d.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	},
}

var dateLiteralsN = map[string]func(today time.Time, n int) (time.Time, time.Time){
	"LAST_N_DAYS":  func(d time.Time, n int) (time.Time, time.Time) { return d.AddDate(0, 0, -n), d.AddDate(0, 0, 1) },
	"NEXT_N_DAYS":  func(d time.Time, n int) (time.Time, time.Time) { return d.AddDate(0, 0, 1), d.AddDate(0, 0, n+1) },
	"N_DAYS_AGO":   func(d time.Time, n int) (time.Time, time.Time) { return d.AddDate(0, 0, -n), d.AddDate(0, 0, -n+1) },
	"LAST_N_WEEKS": func(d time.Time, n int) (time.Time, time.Time) { s := weekStart(d); return s.AddDate(0, 0, -7*n), s },
	"NEXT_N_WEEKS": func(d time.Time, n int) (time.Time, time.Time) {
		s := weekStart(d).AddDate(0, 0, 7)
		return s, s.AddDate(0, 0, 7*n)
	},
	"LAST_N_MONTHS": func(d time.Time, n int) (time.Time, time.Time) { s := monthStart(d); return s.AddDate(0, -n, 0), s },
	"NEXT_N_MONTHS": func(d time.Time, n int) (time.Time, time.Time) {
		s := monthStart(d).AddDate(0, 1, 0)
		return s, s.AddDate(0, n, 0)
	},
	"LAST_N_YEARS": func(d time.Time, n int) (time.Time, time.Time) {
		s := time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return s.AddDate(-n, 0, 0), s
	},
	"NEXT_N_YEARS": func(d time.Time, n int) (time.Time, time.Time) {
		s := time.Date(d.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(n, 0, 0)
	},
}

func weekStart(d time.Time) time.Time { return d.AddDate(0, 0, -int(d.Weekday())) }
func monthStart(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ---- compilation against the schema ----

// fieldRef resolves a path like Account.Owner.Name: each hop is a reference
// field whose target table is looked up by Id.
type fieldRef struct {
	hops  []*Field
	objs  []*sobject // object owning each hop, then the leaf's object
	leaf  *Field
	names []string // describe casing of each segment (relationship names, then leaf)
}

func (s *Server) resolvePath(q *soqlQuery, o *sobject, path []string, pos int) (*fieldRef, *QueryError) {
	ref := &fieldRef{objs: []*sobject{o}}
	segs := path
	if len(segs) > 1 && strings.EqualFold(segs[0], o.name) && o.byRel[strings.ToLower(segs[0])] == nil {
		segs = segs[1:]
	}
	cur := o
	for i, seg := range segs {
		if i == len(segs)-1 {
			f := cur.field(seg)
			if f == nil {
				return nil, soqlErr(q.src, pos, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", seg, cur.name))
			}
			ref.leaf = f
			ref.names = append(ref.names, f.Name)
			return ref, nil
		}
		rf := cur.byRel[strings.ToLower(seg)]
		var target *sobject
		if rf != nil {
			for _, to := range rf.ReferenceTo {
				if t := s.objects[strings.ToLower(to)]; t != nil {
					target = t
					break
				}
			}
		}
		if target == nil {
			return nil, soqlErr(q.src, pos, "INVALID_FIELD", fmt.Sprintf("Didn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", seg))
		}
		ref.hops = append(ref.hops, rf)
		ref.names = append(ref.names, rf.RelationshipName)
		ref.objs = append(ref.objs, target)
		cur = target
	}
	return ref, nil
}

// row is a snapshot of a record's values.
type row = []any

// get follows the path from a row; tables must be read-locked.
func (s *Server) get(ref *fieldRef, r row) any {
	for i, h := range ref.hops {
		id, _ := r[h.idx].(string)
		if id == "" {
			return nil
		}
		t := s.tables[strings.ToLower(ref.objs[i+1].name)]
		p := t.get(id)
		if p == nil {
			return nil
		}
		r = p.vals
	}
	return r[ref.leaf.idx]
}

type compiled struct {
	q       *soqlQuery
	obj     *sobject
	fields  []*fieldRef // selected, in order
	where   func(row) bool
	order   []orderKey
	usesRel bool
}

type orderKey struct {
	ref       *fieldRef
	desc      bool
	nullsLast bool
}

func (s *Server) compile(src string) (*compiled, *QueryError) {
	q, err := parseSOQL(src)
	if err != nil {
		return nil, err
	}
	o := s.objects[strings.ToLower(q.object)]
	if o == nil {
		return nil, soqlErr(src, q.objPos, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.object))
	}
	c := &compiled{q: q, obj: o}
	if q.fieldsFn != "" {
		for _, f := range o.fields {
			if q.fieldsFn == "CUSTOM" && !f.custom || q.fieldsFn == "STANDARD" && f.custom {
				continue
			}
			c.fields = append(c.fields, &fieldRef{objs: []*sobject{o}, leaf: f, names: []string{f.Name}})
		}
	}
	seen := map[string]bool{}
	for _, f := range c.fields {
		seen[strings.ToLower(f.leaf.Name)] = true
	}
	for _, it := range q.items {
		ref, err := s.resolvePath(q, o, it.path, it.pos)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(strings.Join(ref.names, "."))
		if seen[key] {
			return nil, soqlErr(src, it.pos, "DUPLICATE_FIELD", "duplicate field selected: "+strings.Join(ref.names, "."))
		}
		seen[key] = true
		if len(ref.hops) > 0 {
			c.usesRel = true
		}
		c.fields = append(c.fields, ref)
	}
	if q.where != nil {
		w, err := s.compileCond(q, o, q.where)
		if err != nil {
			return nil, err
		}
		c.where = w
	}
	for _, oi := range q.order {
		ref, err := s.resolvePath(q, o, oi.path, oi.pos)
		if err != nil {
			return nil, err
		}
		if t := ref.leaf.Type; t == "textarea" && ref.leaf.Length > 255 || t == "multipicklist" || t == "address" || t == "location" {
			return nil, soqlErr(src, oi.pos, "INVALID_FIELD", fmt.Sprintf("field '%s' can not be sorted in a query call", ref.leaf.Name))
		}
		c.order = append(c.order, orderKey{ref, oi.desc, oi.nullsLast})
	}
	return c, nil
}

func (s *Server) compileCond(q *soqlQuery, o *sobject, cd cond) (func(row) bool, *QueryError) {
	switch x := cd.(type) {
	case *boolCond:
		fs := make([]func(row) bool, len(x.items))
		for i, it := range x.items {
			f, err := s.compileCond(q, o, it)
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		if x.and {
			return func(r row) bool {
				for _, f := range fs {
					if !f(r) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(r row) bool {
			for _, f := range fs {
				if f(r) {
					return true
				}
			}
			return false
		}, nil
	case *notCond:
		f, err := s.compileCond(q, o, x.c)
		if err != nil {
			return nil, err
		}
		return func(r row) bool { return !f(r) }, nil
	case *cmpCond:
		return s.compileCmp(q, o, x)
	}
	return nil, soqlErr(q.src, 0, "MALFORMED_QUERY", "unsupported condition")
}

// bound is a compiled literal: a value, or a [lo, hi) range for date literals.
type bound struct {
	null   bool
	v      any // string (lower-cased for text), float64, bool, int64 (ms or days)
	lo, hi int64
	isRng  bool
	like   *regexp.Regexp
}

func soqlTypeName(t string) string {
	switch t {
	case "datetime":
		return "dateTime"
	case "int":
		return "integer"
	case "currency", "percent":
		return "double"
	}
	return t
}

func (s *Server) compileLiteral(q *soqlQuery, f *Field, l literal, op string) (bound, *QueryError) {
	if l.kind == tIdent && l.text == "NULL" {
		if op != "=" && op != "!=" && op != "IN" && op != "NOTIN" {
			return bound{}, soqlErr(q.src, l.pos, "MALFORMED_QUERY", "unexpected token: 'null'")
		}
		return bound{null: true}, nil
	}
	typeErr := func() *QueryError {
		return soqlErr(q.src, l.pos, "INVALID_FIELD", fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, soqlTypeName(f.Type)))
	}
	switch {
	case f.Type == "boolean":
		if l.kind == tIdent && (l.text == "TRUE" || l.text == "FALSE") {
			return bound{v: l.text == "TRUE"}, nil
		}
		return bound{}, typeErr()
	case isNumeric(f.Type):
		if l.kind != tNumber {
			return bound{}, typeErr()
		}
		n, err := strconv.ParseFloat(l.text, 64)
		if err != nil {
			return bound{}, typeErr()
		}
		return bound{v: n}, nil
	case f.Type == "date" || f.Type == "datetime":
		today := dateOf(s.now()).time()
		if l.kind == tIdent {
			var from, to time.Time
			if fn, ok := dateLiterals[l.text]; ok {
				from, to = fn(today)
			} else if fn, ok := dateLiteralsN[l.text]; ok {
				from, to = fn(today, l.n)
			} else {
				return bound{}, typeErr()
			}
			if f.Type == "date" {
				return bound{isRng: true, lo: int64(dateOf(from)), hi: int64(dateOf(to))}, nil
			}
			return bound{isRng: true, lo: from.UnixMilli(), hi: to.UnixMilli()}, nil
		}
		if f.Type == "date" {
			if l.kind != tDate {
				return bound{}, typeErr()
			}
			d, ok := parseDate(l.text)
			if !ok {
				return bound{}, typeErr()
			}
			return bound{v: int64(d)}, nil
		}
		if l.kind != tDateTime {
			return bound{}, typeErr()
		}
		d, ok := parseDateTime(l.text)
		if !ok {
			return bound{}, typeErr()
		}
		return bound{v: int64(d)}, nil
	case f.Type == "time":
		if l.kind != tString {
			return bound{}, typeErr()
		}
		t, ok := parseTime(l.text)
		if !ok {
			return bound{}, typeErr()
		}
		return bound{v: float64(t)}, nil
	default: // text-likes
		if l.kind != tString {
			return bound{}, typeErr()
		}
		if f.Type == "id" || f.Type == "reference" {
			if op == "LIKE" {
				return bound{}, soqlErr(q.src, l.pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on id field")
			}
			n := normID(l.text)
			if n == "" {
				if f.Type == "id" {
					return bound{}, soqlErr(q.src, l.pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: "+l.text)
				}
				return bound{v: strings.ToLower(l.text)}, nil
			}
			return bound{v: strings.ToLower(n)}, nil
		}
		if op == "LIKE" {
			return bound{like: likeRegexp(l.text)}, nil
		}
		return bound{v: strings.ToLower(strings.NewReplacer(`\%`, "%", `\_`, "_").Replace(l.text))}, nil
	}
}

func likeRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\' && i+1 < len(pat):
			b.WriteString(regexp.QuoteMeta(string(pat[i+1])))
			i++
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// norm converts a stored value into the comparable form bounds use.
func norm(f *Field, v any) any {
	switch x := v.(type) {
	case string:
		return strings.ToLower(x)
	case dtVal:
		return int64(x)
	case dateVal:
		return int64(x)
	case timeVal:
		return float64(x)
	}
	return v
}

func cmpVals(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	return 0
}

func (s *Server) compileCmp(q *soqlQuery, o *sobject, c *cmpCond) (func(row) bool, *QueryError) {
	ref, err := s.resolvePath(q, o, c.path, c.pos)
	if err != nil {
		return nil, err
	}
	f := ref.leaf
	if f.Type == "address" || f.Type == "location" || (f.Type == "textarea" && f.Length > 255) {
		return nil, soqlErr(q.src, c.pos, "INVALID_FIELD", fmt.Sprintf("field '%s' can not be filtered in a query call", f.Name))
	}
	if c.op == "LIKE" && !isText(f.Type) {
		return nil, soqlErr(q.src, c.pos, "INVALID_FIELD", fmt.Sprintf("invalid operator on %s field '%s'", soqlTypeName(f.Type), f.Name))
	}
	if (c.op == "INCLUDES" || c.op == "EXCLUDES") && f.Type != "multipicklist" {
		return nil, soqlErr(q.src, c.pos, "INVALID_FIELD", "includes or excludes operator only valid on multipicklist field")
	}
	bs := make([]bound, len(c.vals))
	for i, l := range c.vals {
		b, err := s.compileLiteral(q, f, l, c.op)
		if err != nil {
			return nil, err
		}
		bs[i] = b
	}
	get := func(r row) any { return norm(f, s.get(ref, r)) }
	if len(ref.hops) == 0 {
		idx := f.idx
		get = func(r row) any { return norm(f, r[idx]) }
	}
	eq := func(v any, b bound) bool {
		if b.null {
			return v == nil
		}
		if v == nil {
			return false
		}
		if b.isRng {
			x := v.(int64)
			return x >= b.lo && x < b.hi
		}
		return cmpVals(v, b.v) == 0
	}
	switch c.op {
	case "=":
		b := bs[0]
		return func(r row) bool { return eq(get(r), b) }, nil
	case "!=":
		b := bs[0]
		return func(r row) bool { return !eq(get(r), b) }, nil
	case "IN", "NOTIN":
		neg := c.op == "NOTIN"
		return func(r row) bool {
			v := get(r)
			for _, b := range bs {
				if eq(v, b) {
					return !neg
				}
			}
			return neg
		}, nil
	case "LIKE":
		re := bs[0].like
		if bs[0].null || re == nil {
			return func(row) bool { return false }, nil
		}
		idx := f.idx
		raw := func(r row) any { return r[idx] }
		if len(ref.hops) > 0 {
			raw = func(r row) any { return s.get(ref, r) }
		}
		return func(r row) bool {
			v, ok := raw(r).(string)
			return ok && re.MatchString(v)
		}, nil
	case "INCLUDES", "EXCLUDES":
		neg := c.op == "EXCLUDES"
		return func(r row) bool {
			v, _ := get(r).(string)
			have := map[string]bool{}
			for _, p := range strings.Split(v, ";") {
				have[strings.TrimSpace(p)] = true
			}
			for _, b := range bs {
				s, _ := b.v.(string)
				all := true
				for _, p := range strings.Split(s, ";") {
					if !have[strings.TrimSpace(p)] {
						all = false
					}
				}
				if all && v != "" {
					return !neg
				}
			}
			return neg
		}, nil
	}
	b := bs[0]
	if b.null {
		return nil, soqlErr(q.src, c.vals[0].pos, "MALFORMED_QUERY", "unexpected token: 'null'")
	}
	op := c.op
	return func(r row) bool {
		v := get(r)
		if v == nil {
			return false
		}
		if b.isRng {
			x := v.(int64)
			switch op {
			case "<":
				return x < b.lo
			case "<=":
				return x < b.hi
			case ">":
				return x >= b.hi
			default:
				return x >= b.lo
			}
		}
		k := cmpVals(v, b.v)
		switch op {
		case "<":
			return k < 0
		case "<=":
			return k <= 0
		case ">":
			return k > 0
		default:
			return k >= 0
		}
	}, nil
}

// run evaluates a compiled query over a table; tables must be read-locked.
// It returns row snapshots (after ORDER BY, OFFSET and LIMIT) and, for
// COUNT(), the count.
func (s *Server) run(c *compiled, includeDeleted bool) ([]row, int) {
	t := s.tables[strings.ToLower(c.obj.name)]
	o := c.obj
	limit := c.q.limit
	early := len(c.order) == 0 && limit >= 0
	var out []row
	n := 0
	for _, rec := range t.recs {
		if rec.purged {
			continue
		}
		r := rec.vals
		if !includeDeleted && r[o.iDeleted] == true {
			continue
		}
		if c.where != nil && !c.where(r) {
			continue
		}
		if c.q.count {
			n++
			continue
		}
		out = append(out, r)
		if early && len(out) >= c.q.offset+limit {
			break
		}
	}
	if c.q.count {
		if limit >= 0 && n > limit {
			n = limit
		}
		return nil, n
	}
	if len(c.order) > 0 {
		keys := make([][]any, len(out))
		for i, r := range out {
			ks := make([]any, len(c.order))
			for j, k := range c.order {
				ks[j] = norm(k.ref.leaf, s.get(k.ref, r))
			}
			keys[i] = ks
		}
		idx := make([]int, len(out))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool {
			ka, kb := keys[idx[a]], keys[idx[b]]
			for j, k := range c.order {
				va, vb := ka[j], kb[j]
				if va == nil && vb == nil {
					continue
				}
				if va == nil || vb == nil {
					return (va == nil) != k.nullsLast
				}
				d := cmpVals(va, vb)
				if d == 0 {
					continue
				}
				if k.desc {
					return d > 0
				}
				return d < 0
			}
			return false
		})
		sorted := make([]row, len(out))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		out = sorted
	}
	if c.q.offset > 0 {
		if c.q.offset >= len(out) {
			out = nil
		} else {
			out = out[c.q.offset:]
		}
	}
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, len(out)
}
