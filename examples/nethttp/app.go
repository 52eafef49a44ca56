package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/ssekify/ssekify"
)

//go:embed index.html
var indexHTML []byte

// maxBody bounds the JSON bodies the routes accept.
const maxBody = 1 << 20

// newMux returns the demo's routes, the Go counterpart of the original
// library's Express quick start.
func newMux(hub *ssekify.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	// The stream. Keep compression and buffering off this route.
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})
	// One user, this instance.
	mux.HandleFunc("POST /notify/{userId}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToUser(r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		reply(w, err, map[string]any{"delivered": n})
	}))
	// Everyone, every instance.
	mux.HandleFunc("POST /broadcast", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	// One room, this instance.
	mux.HandleFunc("POST /room/{room}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToRoom(r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"delivered": n})
	}))
	// One room, every instance.
	mux.HandleFunc("POST /publish-room/{room}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /close/{userId}", func(w http.ResponseWriter, r *http.Request) {
		hub.CloseUser(r.PathValue("userId"))
		reply(w, nil, map[string]any{"closed": true})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, hub.Stats())
	})
	return mux
}

// withBody reads a JSON body (an empty body is {}) and hands it over.
func withBody(next func(http.ResponseWriter, *http.Request, json.RawMessage)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			reply(w, err, nil)
			return
		}
		if len(body) == 0 {
			body = []byte("{}")
		}
		if !json.Valid(body) {
			reply(w, errors.New("body is not JSON"), nil)
			return
		}
		next(w, r, body)
	}
}

// reply writes v as JSON, or err as {"error": "..."} with status 400.
func reply(w http.ResponseWriter, err error, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		v = map[string]string{"error": err.Error()}
	}
	_ = json.NewEncoder(w).Encode(v)
}
