package affiliate

// PendingSources is how many sources wait in the batches whose window has not ended, so that a test
// can wait for a waiter to join one instead of sleeping.
func PendingSources(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.pending {
		n += len(b.sources)
	}
	return n
}
