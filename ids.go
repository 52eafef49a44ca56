package ssekify

import (
	"strconv"
	"sync/atomic"
	"time"
)

// idGen makes the default frame ids, "<epochMs>-<instanceID>-<counter>". The
// counter strictly increases per hub, so two ids are never equal even within
// one millisecond, and ids from one instance sort by counter.
type idGen struct {
	instance string
	counter  atomic.Uint64
}

func (g *idGen) next(now time.Time) string {
	n := g.counter.Add(1)
	b := make([]byte, 0, 13+1+len(g.instance)+1+8)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, '-')
	b = append(b, g.instance...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 10)
	return string(b)
}
