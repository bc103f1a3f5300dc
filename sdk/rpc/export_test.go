package rpc

// SetCommitChunkBytes lowers the size at which a commit's refused rows are
// split over several messages, so tests can split without megabytes of
// rows; the returned func restores it.
func SetCommitChunkBytes(n int) (restore func()) {
	old := commitChunkBytes
	commitChunkBytes = n
	return func() { commitChunkBytes = old }
}

// KeptRings names the rings c keeps for its next write streams and the
// rings of the plugin it keeps mapped for its next read streams.
func (c *Client) KeptRings() (sending, mapped []string) {
	c.shm.mu.Lock()
	defer c.shm.mu.Unlock()
	for _, r := range c.shm.idle {
		sending = append(sending, r.name)
	}
	for name := range c.shm.mapped {
		mapped = append(mapped, name)
	}
	return sending, mapped
}
