package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/ssekify/ssekify"
)

// maxBody bounds the JSON bodies the routes accept.
const maxBody = 1 << 20

// newMux returns the tenant-prefixed routes:
//
//	GET  /{tenant}/sse?userId=U&rooms=a,b
//	POST /{tenant}/notify/{userId}        every instance
//	POST /{tenant}/publish-room/{room}    every instance
//	POST /{tenant}/broadcast              every instance
//	GET  /{tenant}/stats
func newMux(ts *tenants) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/sse", func(w http.ResponseWriter, r *http.Request) {
		hub, ok := tenantHub(ts, w, r)
		if !ok {
			return
		}
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		var rooms []string
		if v := r.URL.Query().Get("rooms"); v != "" {
			rooms = strings.Split(v, ",")
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: rooms})
	})
	mux.HandleFunc("POST /{tenant}/notify/{userId}", withBody(ts, func(w http.ResponseWriter, r *http.Request, hub *ssekify.Hub, data json.RawMessage) {
		err := hub.PublishToUser(r.Context(), r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /{tenant}/publish-room/{room}", withBody(ts, func(w http.ResponseWriter, r *http.Request, hub *ssekify.Hub, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /{tenant}/broadcast", withBody(ts, func(w http.ResponseWriter, r *http.Request, hub *ssekify.Hub, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("GET /{tenant}/stats", func(w http.ResponseWriter, r *http.Request) {
		if hub, ok := tenantHub(ts, w, r); ok {
			reply(w, nil, hub.Stats())
		}
	})
	return mux
}

// tenantHub returns the hub of the request's tenant, or answers 404.
func tenantHub(ts *tenants, w http.ResponseWriter, r *http.Request) (*ssekify.Hub, bool) {
	hub, err := ts.hub(r.PathValue("tenant"))
	switch {
	case errors.Is(err, errUnknownTenant):
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, false
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	return hub, true
}

// withBody finds the tenant's hub, reads a JSON body (an empty body is {})
// and hands both over.
func withBody(ts *tenants, next func(http.ResponseWriter, *http.Request, *ssekify.Hub, json.RawMessage)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hub, ok := tenantHub(ts, w, r)
		if !ok {
			return
		}
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
		next(w, r, hub, body)
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
