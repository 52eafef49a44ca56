package ssekify

import (
	"strconv"
	"sync/atomic"
	"time"
)

// idGen makes the default frame ids, "<epochMs>-<instanceID>-<counter>". The
// counter strictly increases per hub, so two ids are never equal even within
// one millisecond (or when the clock steps back), and ids of one instance
// sort by their counter. The millisecond part tells a reader when the event
// was made; the instance part keeps ids of different instances apart.
type idGen struct {
	instance string
	counter  atomic.Uint64
}

// next returns a new id; it allocates only the returned string.
func (g *idGen) next(now time.Time) string {
	n := g.counter.Add(1)
	var buf [64]byte
	b := strconv.AppendInt(buf[:0], now.UnixMilli(), 10)
	b = append(b, '-')
	b = append(b, g.instance...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 10)
	return string(b)
}
