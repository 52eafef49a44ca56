package main

import (
	"encoding/json"
	"net/http"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

// newHub returns server B's hub. B holds no stream: it only publishes, and
// Redis carries the events to the instance that holds the user's streams.
func newHub(redisURL string) (*ssekify.Hub, error) {
	// PublishOnly: B holds no streams, so it need not receive the channel.
	return ssekify.New(&ssekify.Options{RedisURL: redisURL, PublishOnly: true})
}

// newMux returns server B's routes. They publish (Publish*), never send
// (Send*): a Send reaches only the streams of this instance, and B has none.
func newMux(hub *ssekify.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify/{userId}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToUser(r.Context(), r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /broadcast", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		routes.Reply(w, nil, hub.Stats())
	})
	return mux
}
