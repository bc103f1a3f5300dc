package fileconn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
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

// input is one opened file of a text format, decompressed as needed.
type input struct {
	path string
	f    *os.File
	raw  *countingReader
	r    io.Reader
	stop func()
}

func (in *input) bytesRead() int64 { return in.raw.n.Load() }

func (in *input) Close() error {
	if in.stop != nil {
		in.stop()
	}
	return in.f.Close()
}

const readBufSize = 1 << 20

// openInput opens path for a text format. compression is auto, gzip or
// none; auto trusts a .gz name and otherwise sniffs the gzip magic bytes,
// because exported files are often compressed without being renamed.
func openInput(path, compression string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	in := &input{path: path, f: f, raw: &countingReader{r: f}}
	br := bufio.NewReaderSize(in.raw, 64<<10)
	useGzip := false
	switch compression {
	case "gzip":
		useGzip = true
	case "auto":
		if hasGzipExt(path) {
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
		f.Close()
		return nil, fmt.Errorf("%s: gzip: %w", path, err)
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
