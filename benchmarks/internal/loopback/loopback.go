// Package loopback serves the benchmarks' HTTP handlers on 127.0.0.1.
package loopback

import (
	"net"
	"net/http"
	"time"
)

// Serve serves h on a free port of 127.0.0.1 and returns the server and
// its base URL (http://127.0.0.1:port).
func Serve(h http.Handler) (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, "http://" + l.Addr().String(), nil
}
