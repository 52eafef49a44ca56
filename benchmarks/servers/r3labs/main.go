// Command r3labs is the benchmark server of github.com/r3labs/sse/v2.
//
// Every stream joins one stream id. AutoReplay is turned off: its event log
// keeps every event ever published, without bound, which would dominate the
// memory figures; the library is measured as a broadcaster.
package main

import (
	"context"
	"net/http"

	"github.com/r3labs/sse/v2"
	"github.com/ssekify/ssekify/benchmarks/internal/harness"
)

const streamID = "bench"

func main() {
	harness.Main("r3labs", func(harness.Config) (harness.Library, error) {
		srv := sse.New()
		srv.AutoReplay = false
		srv.AutoStream = false
		srv.CreateStream(streamID)
		return &lib{srv: srv}, nil
	})
}

type lib struct {
	srv *sse.Server
}

func (l *lib) ServeStream(w http.ResponseWriter, r *http.Request, _ string) {
	// The library takes the stream id from the query.
	q := r.URL.Query()
	q.Set("stream", streamID)
	r.URL.RawQuery = q.Encode()
	l.srv.ServeHTTP(w, r)
}

func (l *lib) Publish(payload []byte) (int, error) {
	l.srv.Publish(streamID, &sse.Event{Data: payload})
	return -1, nil
}

func (l *lib) Dropped() int64 { return -1 }

func (l *lib) Close(context.Context) error {
	l.srv.Close()
	return nil
}
