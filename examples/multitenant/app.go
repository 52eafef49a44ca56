package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

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
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /{tenant}/publish-room/{room}", withBody(ts, func(w http.ResponseWriter, r *http.Request, hub *ssekify.Hub, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /{tenant}/broadcast", withBody(ts, func(w http.ResponseWriter, r *http.Request, hub *ssekify.Hub, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		routes.Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("GET /{tenant}/stats", func(w http.ResponseWriter, r *http.Request) {
		if hub, ok := tenantHub(ts, w, r); ok {
			routes.Reply(w, nil, hub.Stats())
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
		data, err := routes.ReadBody(w, r)
		if err != nil {
			routes.Reply(w, err, nil)
			return
		}
		next(w, r, hub, data)
	}
}
