package sfemu

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cursorIdle is how long an unread query cursor lives.
const cursorIdle = 15 * time.Minute

type cursor struct {
	id       string
	obj      *sobject
	tree     []*selNode
	rows     []row
	batch    int
	lastUsed time.Time
}

// selNode is one key of a rendered record: a field, or a parent
// relationship with its own selected keys.
type selNode struct {
	name     string
	leaf     *Field
	rel      *Field
	obj      *sobject
	children []*selNode
}

func buildTree(refs []*fieldRef) []*selNode {
	var root []*selNode
	for _, ref := range refs {
		level := &root
		for i, h := range ref.hops {
			var n *selNode
			for _, x := range *level {
				if x.rel != nil && strings.EqualFold(x.name, h.RelationshipName) {
					n = x
				}
			}
			if n == nil {
				n = &selNode{name: h.RelationshipName, rel: h, obj: ref.objs[i+1]}
				*level = append(*level, n)
			}
			level = &n.children
		}
		*level = append(*level, &selNode{name: ref.leaf.Name, leaf: ref.leaf})
	}
	return root
}

// appendRecord renders a row as REST JSON; tables must be read-locked.
func (s *Server) appendRecord(b []byte, version string, o *sobject, r row, nodes []*selNode) []byte {
	id, _ := r[o.iID].(string)
	b = append(b, `{"attributes":{"type":`...)
	b = appendJSONString(b, o.name)
	b = append(b, `,"url":`...)
	b = appendJSONString(b, "/services/data/v"+version+"/sobjects/"+o.name+"/"+id)
	b = append(b, '}')
	for _, n := range nodes {
		b = append(b, ',')
		b = appendJSONString(b, n.name)
		b = append(b, ':')
		switch {
		case n.rel != nil:
			pid, _ := r[n.rel.idx].(string)
			var p *record
			if pid != "" {
				p = s.tables[strings.ToLower(n.obj.name)].get(pid)
			}
			if p == nil {
				b = append(b, "null"...)
			} else {
				b = s.appendRecord(b, version, n.obj, p.vals, n.children)
			}
		case n.leaf.Type == "address":
			b = appendAddress(b, o, n.leaf, r)
		default:
			b = appendJSONValue(b, n.leaf, r[n.leaf.idx])
		}
	}
	return append(b, '}')
}

func appendAddress(b []byte, o *sobject, f *Field, r row) []byte {
	prefix := strings.TrimSuffix(f.Name, "Address")
	parts := []struct{ key, field string }{{"city", "City"}, {"country", "Country"}, {"geocodeAccuracy", "GeocodeAccuracy"},
		{"latitude", "Latitude"}, {"longitude", "Longitude"}, {"postalCode", "PostalCode"}, {"state", "State"}, {"street", "Street"}}
	allNil := true
	for _, p := range parts {
		if c := o.field(prefix + p.field); c != nil && r[c.idx] != nil {
			allNil = false
		}
	}
	if allNil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.key)
		b = append(b, ':')
		c := o.field(prefix + p.field)
		if c == nil {
			b = append(b, "null"...)
			continue
		}
		b = appendJSONValue(b, c, r[c.idx])
	}
	return append(b, '}')
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) handleQuery(c *reqCtx, all bool) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c.w, c.r, "GET", "HEAD")
		return
	}
	if len(c.rest) >= 2 && c.rest[1] != "" {
		s.nextPage(c, c.rest[1])
		return
	}
	src := c.r.URL.Query().Get("q")
	if strings.TrimSpace(src) == "" {
		writeErr(c.w, 400, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	comp, qerr := s.compile(src)
	if qerr != nil {
		writeErr(c.w, 400, qerr.Code, qerr.Message)
		return
	}
	batch := s.opts.QueryBatchSize
	if opt := c.r.Header.Get("Sforce-Query-Options"); opt != "" {
		for _, kv := range strings.Split(opt, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			if strings.EqualFold(k, "batchSize") {
				if n, err := strconv.Atoi(v); err == nil {
					batch = min(max(n, 200), 2000)
				}
			}
		}
	}
	s.mu.RLock()
	rows, total := s.run(comp, all)
	if comp.q.count {
		s.mu.RUnlock()
		writeRaw(c.w, 200, []byte(`{"totalSize":`+strconv.Itoa(total)+`,"done":true,"records":[]}`))
		return
	}
	tree := buildTree(comp.fields)
	cur := &cursor{obj: comp.obj, tree: tree, rows: rows, batch: batch}
	b := s.renderPage(c.version, cur, 0)
	s.mu.RUnlock()
	writeRaw(c.w, 200, b)
}

// renderPage renders rows[off:off+batch]; when more remain the cursor is
// registered (tables must be read-locked).
func (s *Server) renderPage(version string, cur *cursor, off int) []byte {
	end := min(off+cur.batch, len(cur.rows))
	done := end >= len(cur.rows)
	b := make([]byte, 0, 256*(end-off)+128)
	b = append(b, `{"totalSize":`...)
	b = strconv.AppendInt(b, int64(len(cur.rows)), 10)
	b = append(b, `,"done":`...)
	b = strconv.AppendBool(b, done)
	if !done {
		if cur.id == "" {
			s.registerCursor(cur)
		}
		b = append(b, `,"nextRecordsUrl":`...)
		b = appendJSONString(b, "/services/data/v"+version+"/query/"+cur.id+"-"+strconv.Itoa(end))
	}
	b = append(b, `,"records":[`...)
	for i := off; i < end; i++ {
		if i > off {
			b = append(b, ',')
		}
		b = s.appendRecord(b, version, cur.obj, cur.rows[i], cur.tree)
	}
	return append(b, "]}"...)
}

func (s *Server) registerCursor(cur *cursor) {
	now := s.now()
	s.curMu.Lock()
	defer s.curMu.Unlock()
	for k, c := range s.cursors {
		if now.Sub(c.lastUsed) > cursorIdle {
			delete(s.cursors, k)
		}
	}
	s.curSeq++
	cur.id = mintID("01g", s.curSeq)
	cur.lastUsed = now
	s.cursors[cur.id] = cur
}

func (s *Server) nextPage(c *reqCtx, locator string) {
	id, offStr, ok := strings.Cut(locator, "-")
	off, err := strconv.Atoi(offStr)
	now := s.now()
	s.curMu.Lock()
	cur := s.cursors[id]
	if cur != nil && now.Sub(cur.lastUsed) > cursorIdle {
		delete(s.cursors, id)
		cur = nil
	}
	if cur != nil {
		cur.lastUsed = now
	}
	s.curMu.Unlock()
	if !ok || err != nil || cur == nil || off < 0 || off > len(cur.rows) {
		writeErr(c.w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	s.mu.RLock()
	b := s.renderPage(c.version, cur, off)
	s.mu.RUnlock()
	writeRaw(c.w, 200, b)
}
