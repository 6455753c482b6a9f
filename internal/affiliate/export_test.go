package affiliate

// PendingSources is how many sources wait in the batch whose window has not ended, so that a test
// can wait for a waiter to join it instead of sleeping.
func PendingSources(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return 0
	}
	return len(c.pending.sources)
}
