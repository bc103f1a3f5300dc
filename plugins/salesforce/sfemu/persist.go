package sfemu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The data directory holds one JSON Lines file per object under sobjects/
// (every field of a record, deleted ones included, in REST value formats)
// and state.json (refresh tokens), so that a refresh token handed out before
// a restart keeps working.

type persistedState struct {
	RefreshTokens []persistedRefresh `json:"refreshTokens"`
}

type persistedRefresh struct {
	Token   string `json:"token"`
	UserID  string `json:"userId"`
	Revoked bool   `json:"revoked,omitempty"`
}

// Save writes every object and the OAuth state to dir (default: DataDir).
func (s *Server) Save(dir string) error {
	if dir == "" {
		dir = s.opts.DataDir
	}
	if dir == "" {
		return fmt.Errorf("sfemu: no data directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, "sobjects"), 0o755); err != nil {
		return err
	}
	s.mu.RLock()
	for _, o := range s.order {
		if err := s.saveTable(dir, s.tables[strings.ToLower(o.name)]); err != nil {
			s.mu.RUnlock()
			return err
		}
	}
	s.mu.RUnlock()
	var st persistedState
	s.authMu.Lock()
	for _, rt := range s.refresh {
		st.RefreshTokens = append(st.RefreshTokens, persistedRefresh{rt.token, rt.userID, rt.revoked})
	}
	s.authMu.Unlock()
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeAtomic(filepath.Join(dir, "state.json"), func(w *bufio.Writer) error { _, err := w.Write(b); return err })
}

func writeAtomic(path string, fill func(*bufio.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Server) saveTable(dir string, t *table) error {
	o := t.obj
	return writeAtomic(filepath.Join(dir, "sobjects", o.name+".jsonl"), func(w *bufio.Writer) error {
		var b []byte
		for _, r := range t.recs {
			if r.purged {
				continue
			}
			b = append(b[:0], '{')
			first := true
			for _, f := range o.fields {
				v := r.vals[f.idx]
				if v == nil || f.Type == "address" {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendJSONString(b, f.Name)
				b = append(b, ':')
				b = appendJSONValue(b, f, v)
			}
			b = append(b, '}', '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// load reads dir; it reports false when dir holds no data yet.
func (s *Server) load(dir string) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "sobjects"))
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	any := false
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok {
			continue
		}
		t := s.tables[strings.ToLower(name)]
		if t == nil {
			continue // an object no longer declared
		}
		if err := s.loadTable(filepath.Join(dir, "sobjects", e.Name()), t); err != nil {
			return false, err
		}
		any = true
	}
	if !any {
		return false, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		var st persistedState
		if err := json.Unmarshal(b, &st); err != nil {
			return false, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
		}
		for _, rt := range st.RefreshTokens {
			s.refresh[rt.Token] = &refreshToken{token: rt.Token, userID: rt.UserID, revoked: rt.Revoked}
		}
	}
	return true, nil
}

func (s *Server) loadTable(path string, t *table) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	o := t.obj
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		vals := make([]any, len(o.fields))
		for k, v := range m {
			fd := o.field(k)
			if fd == nil {
				continue
			}
			cv, err := convertJSON(fd, v)
			if err != nil {
				return fmt.Errorf("%s:%d: %s: %v", path, line, k, err)
			}
			if fd.Type == "id" || fd.Type == "reference" {
				if s, ok := cv.(string); ok {
					if n := normID(s); n != "" {
						cv = n
					}
				}
			}
			vals[fd.idx] = cv
		}
		if _, ok := vals[o.iID].(string); !ok {
			return fmt.Errorf("%s:%d: a record without Id", path, line)
		}
		if vals[o.iDeleted] == nil {
			vals[o.iDeleted] = false
		}
		t.add(&record{vals: vals})
		if an := o.nameField; an != nil && an.AutoNumber {
			t.autoNum++
		}
	}
	return sc.Err()
}
