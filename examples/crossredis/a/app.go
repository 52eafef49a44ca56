package main

import (
	"encoding/json"
	"net/http"

	"github.com/ssekify/ssekify"
)

// newHub returns server A's hub: it subscribes to the Redis channel, so the
// events server B publishes reach the streams A holds.
func newHub(redisURL string) (*ssekify.Hub, error) {
	return ssekify.New(&ssekify.Options{RedisURL: redisURL})
}

// newMux returns server A's routes: the streams and the stats.
func newMux(hub *ssekify.Hub) *http.ServeMux {
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
		_ = json.NewEncoder(w).Encode(hub.Stats())
	})
	return mux
}
