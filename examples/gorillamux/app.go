package main

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

// newRouter returns the routes of examples/nethttp on a gorilla/mux router.
func newRouter(hub *ssekify.Hub) *mux.Router {
	r := mux.NewRouter()

	// The stream: gorilla/mux hands over net/http's own w and r; pass them
	// to Register and return when it returns. Keep
	// gorilla/handlers.CompressHandler off this route (wrap the JSON
	// subrouter only): a compressor buffers, and the events would sit in
	// its buffer.
	r.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	}).Methods(http.MethodGet)

	r.HandleFunc("/notify/{userId}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToUser(mux.Vars(r)["userId"], ssekify.Event{Name: "notify", Data: data})
		routes.Reply(w, err, map[string]any{"delivered": n})
	})).Methods(http.MethodPost)
	r.HandleFunc("/broadcast", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	})).Methods(http.MethodPost)
	r.HandleFunc("/room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToRoom(mux.Vars(r)["room"], ssekify.Event{Name: "room", Data: data})
		routes.Reply(w, err, map[string]any{"delivered": n})
	})).Methods(http.MethodPost)
	r.HandleFunc("/publish-room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), mux.Vars(r)["room"], ssekify.Event{Name: "room", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	})).Methods(http.MethodPost)
	r.HandleFunc("/close/{userId}", func(w http.ResponseWriter, r *http.Request) {
		hub.CloseUser(mux.Vars(r)["userId"])
		routes.Reply(w, nil, map[string]any{"closed": true})
	}).Methods(http.MethodPost)
	r.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		routes.Reply(w, nil, hub.Stats())
	}).Methods(http.MethodGet)
	return r
}
