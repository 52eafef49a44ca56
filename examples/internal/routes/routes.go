// Package routes holds the JSON plumbing the example servers share — read a
// JSON body, answer JSON — and the route set of an instance whose sends go
// through the broker, so that each example shows only what is its own.
package routes

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/ssekify/ssekify"
)

// MaxBody bounds the JSON bodies the routes accept.
const MaxBody = 1 << 20

// errNotJSON answers a body that is not JSON.
var errNotJSON = errors.New("body is not JSON")

// ReadBody reads a JSON request body of at most MaxBody bytes; an empty
// body is {}.
func ReadBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(body) {
		return nil, errNotJSON
	}
	return body, nil
}

// Body hands next the request's JSON body; a body that can not be read or
// is not JSON is answered with 400.
func Body(next func(http.ResponseWriter, *http.Request, json.RawMessage)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := ReadBody(w, r)
		if err != nil {
			Reply(w, err, nil)
			return
		}
		next(w, r, data)
	}
}

// Reply writes v as JSON, or err as {"error": "..."} with status 400.
func Reply(w http.ResponseWriter, err error, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		v = map[string]string{"error": err.Error()}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Publish returns the routes of an instance whose sends go through the
// broker (Publish*), so that any instance can serve any of them:
//
//	GET  /sse?userId=U                  the user's stream, in room "global"
//	POST /notify/{userId}               event "notify"    → {"ok": true}
//	POST /publish-room/{room}           event "room"      → {"ok": true}
//	POST /broadcast                     event "broadcast" → {"ok": true}
//	GET  /stats
func Publish(hub *ssekify.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})
	mux.HandleFunc("POST /notify/{userId}", Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToUser(r.Context(), r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
		Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /publish-room/{room}", Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToRoom(r.Context(), r.PathValue("room"), ssekify.Event{Name: "room", Data: data})
		Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /broadcast", Body(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.Publish(r.Context(), ssekify.Event{Name: "broadcast", Data: data})
		Reply(w, err, map[string]any{"ok": true})
	}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		Reply(w, nil, hub.Stats())
	})
	return mux
}

// SplitList splits a comma-separated list (an environment variable such as
// REDIS_SENTINELS), dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
