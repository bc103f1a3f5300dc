package rpc

// SetCommitChunkBytes lowers the size at which a commit's refused rows are
// split over several messages, so tests can split without megabytes of
// rows; the returned func restores it.
func SetCommitChunkBytes(n int) (restore func()) {
	old := commitChunkBytes
	commitChunkBytes = n
	return func() { commitChunkBytes = old }
}
