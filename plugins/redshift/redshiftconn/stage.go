package redshiftconn

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// ObjectStore uploads staged files to the staging location of Redshift mode
// and removes them after the load. The connector's is s3Store (aws.go),
// built from the connection's attributes; tests substitute their own.
type ObjectStore interface {
	// Put stores the contents of r (size bytes) at url (s3://bucket/key).
	Put(ctx context.Context, url string, r io.Reader, size int64) error
	// Delete removes the objects at urls.
	Delete(ctx context.Context, urls []string) error
}

// part is one finished gzip CSV file.
type part struct {
	Path     string // local file
	CSVBytes int64  // uncompressed
	GzBytes  int64
}

// manifest is Redshift's COPY manifest.
type manifest struct {
	Entries []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	URL       string        `json:"url"`
	Mandatory bool          `json:"mandatory"`
	Meta      *manifestMeta `json:"meta,omitempty"`
}

type manifestMeta struct {
	ContentLength int64 `json:"content_length"`
}

// buildManifest lists urls, every one mandatory (a missing part fails the
// COPY instead of loading less).
func buildManifest(urls []string, sizes []int64) ([]byte, error) {
	m := manifest{Entries: make([]manifestEntry, len(urls))}
	for i, u := range urls {
		m.Entries[i] = manifestEntry{URL: u, Mandatory: true, Meta: &manifestMeta{ContentLength: sizes[i]}}
	}
	return json.MarshalIndent(m, "", "  ")
}

// stager turns encoded CSV chunks into gzip part files in a local
// directory. Compression runs on its own goroutine, so encoding the next
// batch overlaps compressing the last one.
type stager struct {
	dir      string
	partSize int64
	level    int

	in   chan stageMsg
	free chan []byte
	wg   sync.WaitGroup

	// owned by the goroutine until a flush answers
	seq   int
	cur   *openPart
	parts []part
	err   error
}

type stageMsg struct {
	buf   []byte
	flush chan error
}

type openPart struct {
	f    *os.File
	bw   *bufio.Writer
	gz   *gzip.Writer
	path string
	csv  int64
	out  *countWriter
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newStager compresses at level (a klauspost/compress/gzip level).
func newStager(dir string, partSize int64, level int) *stager {
	s := &stager{dir: dir, partSize: partSize, level: level,
		in: make(chan stageMsg, 2), free: make(chan []byte, 4)}
	s.wg.Add(1)
	go s.loop()
	return s
}

// buffer returns an empty buffer to encode into.
func (s *stager) buffer() []byte {
	select {
	case b := <-s.free:
		return b[:0]
	default:
		return make([]byte, 0, 1<<20)
	}
}

// add hands buf over to be compressed; the stager owns it afterwards.
func (s *stager) add(buf []byte) { s.in <- stageMsg{buf: buf} }

// flush finishes the open part and returns every finished part since the
// last take.
func (s *stager) flush() ([]part, error) {
	ch := make(chan error, 1)
	s.in <- stageMsg{flush: ch}
	if err := <-ch; err != nil {
		return nil, err
	}
	return s.parts, nil
}

// forget drops the finished parts (after a load), deleting the files unless
// keep is set.
func (s *stager) forget(keep bool) {
	if !keep {
		for _, p := range s.parts {
			os.Remove(p.Path)
		}
	}
	s.parts = nil
}

// close stops the goroutine, deletes uncommitted parts and removes the
// directory unless keep is set (then committed parts stay).
func (s *stager) close(keep bool) {
	close(s.in)
	s.wg.Wait()
	if s.cur != nil {
		s.cur.gz.Close()
		s.cur.f.Close()
		os.Remove(s.cur.path)
		s.cur = nil
	}
	s.forget(false) // uncommitted parts never stay
	if !keep {
		os.RemoveAll(s.dir)
	}
}

func (s *stager) loop() {
	defer s.wg.Done()
	for m := range s.in {
		if m.flush != nil {
			if s.err == nil && s.cur != nil {
				s.err = s.finish()
			}
			m.flush <- s.err
			continue
		}
		if s.err == nil {
			s.err = s.write(m.buf)
		}
		select {
		case s.free <- m.buf:
		default:
		}
	}
}

func (s *stager) write(buf []byte) error {
	if s.cur == nil {
		path := filepath.Join(s.dir, fmt.Sprintf("part-%05d.csv.gz", s.seq))
		s.seq++
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		out := &countWriter{w: f}
		bw := bufio.NewWriterSize(out, 1<<20)
		gz, err := gzip.NewWriterLevel(bw, s.level)
		if err != nil {
			f.Close()
			return err
		}
		s.cur = &openPart{f: f, bw: bw, gz: gz, path: path, out: out}
	}
	if _, err := s.cur.gz.Write(buf); err != nil {
		return err
	}
	s.cur.csv += int64(len(buf))
	if s.cur.csv >= s.partSize {
		return s.finish()
	}
	return nil
}

func (s *stager) finish() error {
	p := s.cur
	s.cur = nil
	err := p.gz.Close()
	if err == nil {
		err = p.bw.Flush()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("staging file %s: %w", p.path, err)
	}
	s.parts = append(s.parts, part{Path: p.path, CSVBytes: p.csv, GzBytes: p.out.n})
	return nil
}

// openParts returns one reader over the decompressed contents of parts, in
// order: what PostgreSQL mode feeds to COPY … FROM STDIN.
func openParts(paths []string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		for _, p := range paths {
			if err := copyPart(pw, p); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	return pr, nil
}

func copyPart(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(w, gz); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return gz.Close()
}

// fileURL is the manifest URL of a local part.
func fileURL(path string) string { return "file://" + filepath.ToSlash(path) }

// localPath is the inverse of fileURL.
func localPath(url string) (string, error) {
	p, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return "", fmt.Errorf("PostgreSQL mode reads local staged files, not %s", url)
	}
	return filepath.FromSlash(p), nil
}
