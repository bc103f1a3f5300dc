package s3conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// partBuffers recycles part buffers across objects and writers.
var partBuffers = sync.Pool{New: func() any { b := make([]byte, 0, partSize); return &b }}

// upload is the io.Writer an object's encoder writes into. Bytes gather in
// a part buffer; a full buffer starts the multipart upload (once) and goes
// up as the next part in the background, at most partsInFlight per writer.
// The upload stays open, invisible, until publish completes it.
type upload struct {
	w   *writer
	key string

	buf      *[]byte
	uploadID string
	size     int64

	wg    sync.WaitGroup
	mu    sync.Mutex
	parts []types.CompletedPart
	err   error

	small []byte // a finished small object, kept for PutObject
}

func (u *upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *upload) Write(p []byte) (int, error) {
	if err := u.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = partBuffers.Get().(*[]byte)
			*u.buf = (*u.buf)[:0]
		}
		room := partSize - len(*u.buf)
		take := min(room, len(p))
		*u.buf = append(*u.buf, p[:take]...)
		p = p[take:]
		if len(*u.buf) == partSize {
			if err := u.sendPart(); err != nil {
				return 0, err
			}
		}
	}
	u.size += int64(n)
	u.w.written += int64(n)
	return n, nil
}

func (u *upload) start() error {
	if u.uploadID != "" {
		return nil
	}
	w := u.w
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(w.opts.bucket), Key: aws.String(u.key),
		ServerSideEncryption: w.opts.sse, StorageClass: w.opts.storageClass}
	if w.opts.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(w.opts.kmsKeyID)
	}
	out, err := w.c.client.CreateMultipartUpload(w.ctx, in)
	if err != nil {
		return w.c.wrap(err, "start multipart upload of", w.opts.bucket, u.key)
	}
	u.uploadID = aws.ToString(out.UploadId)
	return nil
}

// sendPart hands the current buffer to a background upload.
func (u *upload) sendPart() error {
	if err := u.start(); err != nil {
		return err
	}
	w := u.w
	buf := u.buf
	u.buf = nil
	u.mu.Lock()
	num := int32(len(u.parts) + 1)
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	u.mu.Unlock()
	if num > 10000 {
		return fmt.Errorf("s3://%s/%s: over 10,000 parts; lower target_file_size", w.opts.bucket, u.key)
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		partBuffers.Put(buf)
		return w.ctx.Err()
	}
	u.wg.Add(1)
	go func() {
		defer func() { <-w.sem; u.wg.Done() }()
		defer partBuffers.Put(buf)
		out, err := w.c.client.UploadPart(w.ctx, &s3.UploadPartInput{
			Bucket: aws.String(w.opts.bucket), Key: aws.String(u.key), UploadId: aws.String(u.uploadID),
			PartNumber: aws.Int32(num), Body: bytes.NewReader(*buf), ContentLength: aws.Int64(int64(len(*buf))),
		})
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = w.c.wrap(err, fmt.Sprintf("upload part %d of", num), w.opts.bucket, u.key)
			}
			return
		}
		u.parts[num-1].ETag = out.ETag
	}()
	return nil
}

// finish is called once the encoder is done: a multipart object sends its
// last part (publish waits for them all, so the next object's encoding
// goes on meanwhile); a small one keeps its bytes for Commit, or, past the
// writer's budget for those, becomes a one-part upload now.
func (u *upload) finish() error {
	w := u.w
	if u.uploadID == "" && (u.buf == nil || w.small+int64(len(*u.buf)) <= smallBudget) {
		if u.buf != nil {
			u.small = append([]byte(nil), *u.buf...)
			partBuffers.Put(u.buf)
			u.buf = nil
		}
		w.small += int64(len(u.small))
		return nil
	}
	if u.buf != nil && (len(*u.buf) > 0 || len(u.parts) == 0) {
		if err := u.sendPart(); err != nil {
			return err
		}
	}
	return u.failed()
}

// publish makes the object visible and returns its size.
func (u *upload) publish(ctx context.Context) (int64, error) {
	w := u.w
	if u.uploadID == "" {
		in := &s3.PutObjectInput{Bucket: aws.String(w.opts.bucket), Key: aws.String(u.key),
			Body: bytes.NewReader(u.small), ContentLength: aws.Int64(int64(len(u.small)))}
		w.applyPut(in)
		if _, err := w.c.client.PutObject(ctx, in); err != nil {
			return 0, w.c.wrap(err, "put", w.opts.bucket, u.key)
		}
		u.small = nil
		return u.size, nil
	}
	u.wg.Wait()
	if err := u.failed(); err != nil {
		return 0, err
	}
	parts := append([]types.CompletedPart(nil), u.parts...)
	sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
	_, err := w.c.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.opts.bucket), Key: aws.String(u.key), UploadId: aws.String(u.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return 0, w.c.wrap(err, "complete multipart upload of", w.opts.bucket, u.key)
	}
	u.uploadID = ""
	return u.size, nil
}

// abort drops the object: parts in flight are waited for (their context is
// already cancelled) and the multipart upload, if any, is aborted.
func (u *upload) abort(ctx context.Context) error {
	u.wg.Wait()
	if u.buf != nil {
		partBuffers.Put(u.buf)
		u.buf = nil
	}
	u.small = nil
	if u.uploadID == "" {
		return nil
	}
	w := u.w
	_, err := w.c.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.opts.bucket), Key: aws.String(u.key), UploadId: aws.String(u.uploadID)})
	var nsu *types.NoSuchUpload
	if err != nil && !errors.As(err, &nsu) {
		return w.c.wrap(err, "abort multipart upload of", w.opts.bucket, u.key)
	}
	u.uploadID = ""
	return nil
}
