package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/ssekify/ssekify"
)

// maxBody bounds the JSON bodies the routes accept.
const maxBody = 1 << 20

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

	r.HandleFunc("/notify/{userId}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToUser(mux.Vars(r)["userId"], ssekify.Event{Name: "notify", Data: data})
		reply(w, err, map[string]any{"delivered": n})
	})).Methods(http.MethodPost)
	r.HandleFunc("/broadcast", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		reply(w, err, map[string]any{"ok": true})
	})).Methods(http.MethodPost)
	r.HandleFunc("/room/{room}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		n, err := hub.SendToRoom(mux.Vars(r)["room"], ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"delivered": n})
	})).Methods(http.MethodPost)
	r.HandleFunc("/publish-room/{room}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), mux.Vars(r)["room"], ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"ok": true})
	})).Methods(http.MethodPost)
	r.HandleFunc("/close/{userId}", func(w http.ResponseWriter, r *http.Request) {
		hub.CloseUser(mux.Vars(r)["userId"])
		reply(w, nil, map[string]any{"closed": true})
	}).Methods(http.MethodPost)
	r.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, hub.Stats())
	}).Methods(http.MethodGet)
	return r
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
