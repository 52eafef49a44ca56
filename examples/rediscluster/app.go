package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

// maxBody bounds the JSON bodies the routes accept.
const maxBody = 1 << 20

// clusterOptions reads the Cluster's wiring from the environment:
// REDIS_CLUSTER_NODES, some or all of the nodes as "host:port" separated by
// commas (the client discovers the rest), and REDIS_PASSWORD.
func clusterOptions(getenv func(string) string) (*redis.ClusterOptions, error) {
	nodes := splitList(getenv("REDIS_CLUSTER_NODES"))
	if len(nodes) == 0 {
		return nil, errors.New("REDIS_CLUSTER_NODES is not set (host:port,host:port,...)")
	}
	return &redis.ClusterOptions{
		Addrs:    nodes,
		Password: getenv("REDIS_PASSWORD"),
	}, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// newMux returns the routes. The sends go through the Cluster (Publish*), so
// any instance can serve any of them.
func newMux(hub *ssekify.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})
	mux.HandleFunc("POST /notify/{userId}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToUser(r.Context(), r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /publish-room/{room}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /broadcast", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		reply(w, err, map[string]any{"ok": true})
	}))
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
