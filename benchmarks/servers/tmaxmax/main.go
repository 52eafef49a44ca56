// Command tmaxmax is the benchmark server of github.com/tmaxmax/go-sse with
// its default provider (Joe) and no replayer: every stream subscribes to the
// default topic.
package main

import (
	"context"
	"net/http"

	sse "github.com/tmaxmax/go-sse"

	"github.com/ssekify/ssekify/benchmarks/internal/harness"
)

func main() {
	harness.Main("tmaxmax", func(harness.Config) (harness.Library, error) {
		return &lib{srv: &sse.Server{}}, nil
	})
}

type lib struct {
	srv *sse.Server
}

func (l *lib) ServeStream(w http.ResponseWriter, r *http.Request, _ string) {
	l.srv.ServeHTTP(w, r)
}

func (l *lib) Publish(payload []byte) (int, error) {
	m := &sse.Message{}
	m.AppendData(string(payload))
	return -1, l.srv.Publish(m)
}

func (l *lib) Dropped() int64 { return -1 }

func (l *lib) Close(ctx context.Context) error { return l.srv.Shutdown(ctx) }
