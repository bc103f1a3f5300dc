package format

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// countingReader counts the on-disk bytes consumed, which is what Progress
// reports against the files' total size. It is read from another goroutine
// when decompression runs ahead, hence the atomic.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Input is one CSV or JSONL stream, decompressed as needed. Read it with
// [ReadCSV], [ReadJSONL], [InferCSV] or [InferJSONL]; it implements
// io.Reader for anything else.
type Input struct {
	// Name is where the stream comes from ("data/a.csv",
	// "s3://bucket/key"). Rejected records are located as Name:line.
	Name string
	raw  *countingReader
	r    io.Reader
	stop func()
}

var _ io.Reader = (*Input)(nil)

// Read reads decompressed bytes.
func (in *Input) Read(p []byte) (int, error) { return in.r.Read(p) }

// BytesRead is how many bytes of the underlying (compressed) stream have
// been consumed; progress is reported against it. Safe to call from
// another goroutine.
func (in *Input) BytesRead() int64 { return in.raw.n.Load() }

// Close stops the decompressing goroutine, if any. It does not close the
// underlying reader, which stays the caller's.
func (in *Input) Close() error {
	if in.stop != nil {
		in.stop()
		in.stop = nil
	}
	return nil
}

const readBufSize = 1 << 20

// NewInput wraps r, the bytes of the file or object called name.
// compression is auto, gzip or none; auto trusts a .gz name and otherwise
// sniffs the gzip magic bytes, because exported files are often compressed
// without being renamed. Gzip is inflated in a goroutine of its own, ahead
// of the parser; Close stops it.
func NewInput(r io.Reader, name, compression string) (*Input, error) {
	in := &Input{Name: name, raw: &countingReader{r: r}}
	br := bufio.NewReaderSize(in.raw, 64<<10)
	useGzip := false
	switch compression {
	case "gzip":
		useGzip = true
	case "auto", "":
		if HasGzipExt(name) {
			useGzip = true
		} else if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			useGzip = true
		}
	}
	if !useGzip {
		in.r = br
		return in, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// An empty .gz file: treat as no data rather than an error.
			in.r = eofReader{}
			return in, nil
		}
		return nil, fmt.Errorf("%s: gzip: %w", name, err)
	}
	ra := newReadahead(zr)
	in.r = ra
	in.stop = ra.stop
	return in, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// readahead decompresses in its own goroutine so inflating the next chunk
// overlaps with parsing the current one; on a 2-core box that is most of
// the cost of gzip input.
type readahead struct {
	full chan []byte
	free chan []byte
	done chan struct{}
	exit chan struct{}
	err  error // set before full is closed
	cur  []byte
	buf  []byte // the buffer cur points into, returned to free when drained
	once sync.Once
}

func newReadahead(src io.Reader) *readahead {
	const chunks = 3
	ra := &readahead{
		full: make(chan []byte, chunks),
		free: make(chan []byte, chunks),
		done: make(chan struct{}),
		exit: make(chan struct{}),
	}
	for range chunks {
		ra.free <- make([]byte, readBufSize)
	}
	go ra.run(src)
	return ra
}

func (ra *readahead) run(src io.Reader) {
	defer close(ra.exit)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(src, buf[:cap(buf)])
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			ra.err = err
			close(ra.full)
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	if len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf
			ra.buf = nil
		}
		b, ok := <-ra.full
		if !ok {
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

func (ra *readahead) stop() {
	ra.once.Do(func() {
		close(ra.done)
		<-ra.exit
	})
}
