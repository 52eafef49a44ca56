package ssekify

// StopAccepting makes new Register calls answer 503 with Retry-After and
// return ErrNotAccepting; open streams go on. Use it before a rolling
// restart, then Shutdown.
func (h *Hub) StopAccepting() { h.stopped.Store(true) }
