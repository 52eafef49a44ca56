//go:build !linux

package ssekify

// poller is Linux's client-gone poller; elsewhere every lean stream is
// watched by a reader (lean_watch.go).
type poller struct{ users int }

func newPoller() *poller         { return nil }
func (p *poller) add(*Conn) bool { return false }
func (p *poller) remove(*Conn)   {}
func (p *poller) stop()          {}
