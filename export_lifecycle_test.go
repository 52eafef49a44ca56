package ssekify

// LockHub takes the hub's lock and returns its release, so that a test can
// prove that something does not wait for it.
func LockHub(h *Hub) (unlock func()) {
	h.mu.Lock()
	return h.mu.Unlock
}

// SetURLBroker replaces the factory of Options.RedisURL brokers until
// restore is called, so that a test can give a hub a broker it owns.
func SetURLBroker(f func(url string) (Broker, error)) (restore func()) {
	old := newURLBroker
	newURLBroker = f
	return func() { newURLBroker = old }
}
