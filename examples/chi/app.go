package main

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

// newRouter returns the routes of examples/nethttp on a chi router.
func newRouter(hub *ssekify.Hub) http.Handler {
	r := chi.NewRouter()
	// Recoverer and RequestID wrap the ResponseWriter in chi's
	// WrapResponseWriter, which flushes and unwraps: the stream works
	// through them. Do not put middleware.Timeout in front of /sse: it
	// cancels the request's context, which ends the stream.
	r.Use(middleware.RequestID, middleware.Recoverer)

	// The stream: hand chi's w and r to Register and return when it returns.
	// Register writes the response itself (an HTTP error too); write
	// nothing to w before or after it.
	r.Get("/sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})

	// The JSON routes. Compression belongs here, never on /sse: a
	// compressor buffers, and the events would sit in its buffer.
	r.Group(func(r chi.Router) {
		r.Use(middleware.Compress(5, "application/json"))
		r.Post("/notify/{userId}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
			n, err := hub.SendToUser(chi.URLParam(r, "userId"), ssekify.Event{Name: "notify", Data: data})
			routes.Reply(w, err, map[string]any{"delivered": n})
		}))
		r.Post("/broadcast", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
			err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
			routes.Reply(w, err, map[string]any{"ok": true})
		}))
		r.Post("/room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
			n, err := hub.SendToRoom(chi.URLParam(r, "room"), ssekify.Event{Name: "room", Data: data})
			routes.Reply(w, err, map[string]any{"delivered": n})
		}))
		r.Post("/publish-room/{room}", routes.Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
			err := hub.PublishToRoom(r.Context(), chi.URLParam(r, "room"), ssekify.Event{Name: "room", Data: data})
			routes.Reply(w, err, map[string]any{"ok": true})
		}))
		r.Post("/close/{userId}", func(w http.ResponseWriter, r *http.Request) {
			hub.CloseUser(chi.URLParam(r, "userId"))
			routes.Reply(w, nil, map[string]any{"closed": true})
		})
		r.Get("/stats", func(w http.ResponseWriter, r *http.Request) {
			routes.Reply(w, nil, hub.Stats())
		})
	})
	return r
}
