package main

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

//go:embed index.html
var indexHTML []byte

// streamRoute is the pattern of the stream, the one route that withDeadlines
// leaves without deadlines.
const streamRoute = "GET /sse"

// newMux returns the demo's routes, the Go counterpart of the original
// library's Express quick start.
func newMux(hub *ssekify.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	// The stream. Keep compression and buffering off this route.
	mux.HandleFunc(streamRoute, func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})
	// One user, this instance.
	mux.HandleFunc("POST /notify/{userId}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToUser(r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		routes.Reply(w, err, map[string]any{"delivered": n})
	}))
	// Everyone, every instance.
	mux.HandleFunc("POST /broadcast", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	// One room, this instance.
	mux.HandleFunc("POST /room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToRoom(r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		routes.Reply(w, err, map[string]any{"delivered": n})
	}))
	// One room, every instance.
	mux.HandleFunc("POST /publish-room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /close/{userId}", func(w http.ResponseWriter, r *http.Request) {
		hub.CloseUser(r.PathValue("userId"))
		routes.Reply(w, nil, map[string]any{"closed": true})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		routes.Reply(w, nil, hub.Stats())
	})
	return mux
}
