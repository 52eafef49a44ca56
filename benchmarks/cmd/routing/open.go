package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"
)

// openStreams asks the clients process to open users' streams on their
// instances at rate per second, waits (at most 60 s) until every one is
// open or failed and (at most 10 s) until the instances hold the open
// ones, and returns the time from the first dial until they did. Failed
// streams are noted; none open is an error.
func (e *env) openStreams(ctx context.Context, cl *cluster, users []string, place []int, rate int, notes *[]string) (time.Duration, error) {
	req := openReq{Addrs: cl.addrs(), Users: users, Instance: place, Rate: rate}
	if err := cl.clients.call(ctx, pathOpen, req, nil, 20*time.Second); err != nil {
		return 0, err
	}
	var st clientsStatus
	done, err := poll(ctx, 50*time.Millisecond, 60*time.Second, func() (bool, error) {
		var err error
		st, err = cl.status(ctx)
		return st.Opened+st.Failed >= int64(len(users)), err
	})
	if err != nil {
		return 0, err
	}
	if !done || st.Failed > 0 {
		*notes = append(*notes, fmt.Sprintf("%d of %d streams open, %d failed (%s)", st.Opened, len(users), st.Failed, st.FirstErr))
	}
	if st.Opened == 0 {
		return 0, errors.New("no stream opened: " + st.FirstErr)
	}
	var heldAt int64
	held, err := poll(ctx, 20*time.Millisecond, 10*time.Second, func() (bool, error) {
		ss, err := cl.stats(ctx)
		var conns int64
		for _, s := range ss {
			conns += s.Hub.Connections
			heldAt = max(heldAt, s.AtNs)
		}
		return conns >= st.Opened, err
	})
	if err != nil {
		return 0, err
	}
	if !held {
		*notes = append(*notes, "the instances did not count every open stream within 10 s")
	}
	log.Printf("%d streams open", st.Opened)
	return time.Duration(heldAt - st.FirstDialNs), nil
}

// waitRoutes reports whether the instances route (count user and room
// channels); if they do, it waits (at most 30 s) until every instance has
// no route pending and at least one per stream it holds (one user per
// stream here), and notes it when that did not happen.
func waitRoutes(ctx context.Context, cl *cluster, streams []int, notes *[]string) (bool, error) {
	ss, err := cl.stats(ctx)
	if err != nil {
		return false, err
	}
	routed := false
	for _, s := range ss {
		routed = routed || s.Hub.Routes > 0 || s.Hub.RoutesPending > 0
	}
	if !routed {
		return false, nil
	}
	done, err := poll(ctx, 20*time.Millisecond, 30*time.Second, func() (bool, error) {
		ss, err := cl.stats(ctx)
		ok := err == nil
		for i, s := range ss {
			ok = ok && s.Hub.RoutesPending == 0 && s.Hub.Routes >= int64(streams[i])
		}
		return ok, err
	})
	if err == nil && !done {
		*notes = append(*notes, "the instances did not confirm a route per stream within 30 s")
	}
	return true, err
}
