package main

import (
	"encoding/json"
	"net/http"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/bridge/relay"
)

// newMux returns the bridge's routes:
//
//	GET /sse?userId=U   a stream of the upstream's events
//	GET /stats          {"hub": the hub's Stats, "upstream": the relay's}
func newMux(hub *ssekify.Hub, rl *relay.Relay) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, nil)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"hub": hub.Stats(), "upstream": rl.Stats()})
	})
	return mux
}
