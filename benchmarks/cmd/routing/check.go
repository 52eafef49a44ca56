package main

// deliveryCheck is the streams' exact account of the measured events:
// every event goes to one user, whose one stream must get it once.
type deliveryCheck struct {
	expected  int64 // events published (the stream of each one's user)
	received  int64 // of them, received by their user's stream
	missing   int64 // not received by their user's stream
	dups      int64 // received again by their user's stream
	misrouted int64 // received by a stream of another user
	complete  int   // users that got every event of theirs once
	users     int   // users with events
}

// checkDeliveries compares what each user's stream got with what was
// published to that user (sequence numbers).
func checkDeliveries(expect, got map[string][]int64) deliveryCheck {
	var c deliveryCheck
	for user, want := range expect {
		c.users++
		c.expected += int64(len(want))
		pending := make(map[int64]bool, len(want))
		for _, s := range want {
			pending[s] = true
		}
		seen := make(map[int64]bool, len(want))
		for _, s := range got[user] {
			switch {
			case seen[s]:
				c.dups++
			case pending[s]:
				seen[s] = true
				c.received++
			default:
				c.misrouted++
			}
		}
		if len(seen) == len(want) && len(got[user]) == len(want) {
			c.complete++
		}
	}
	for user, seqs := range got {
		if _, ok := expect[user]; !ok {
			c.misrouted += int64(len(seqs))
		}
	}
	c.missing = c.expected - c.received
	return c
}

// exact reports whether every event reached its user's stream once and
// no other.
func (c deliveryCheck) exact() bool {
	return c.missing == 0 && c.dups == 0 && c.misrouted == 0
}
