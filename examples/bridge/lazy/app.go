package main

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

//go:embed index.html
var indexHTML []byte

// newMux returns the lazy bridge's routes:
//
//	GET /               a page to connect and watch the events
//	GET /sse?userId=U   a stream of the upstream's events
//	GET /stats          {"hub": ..., "upstream": {"connected", "forwarded", "starts"}}
func newMux(l *lazy) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = l.hub.Register(w, r, userID, nil)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st := l.relay.Stats()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hub": l.hub.Stats(),
			"upstream": map[string]any{
				"connected": st.Connected, "forwarded": st.Forwarded, "starts": l.starts.Load(),
			},
		})
	})
	return mux
}
