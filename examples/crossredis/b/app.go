package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/ssekify/ssekify"
)

// maxBody bounds the JSON bodies the routes accept.
const maxBody = 1 << 20

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
	mux.HandleFunc("POST /notify/{userId}", withBody(func(w http.ResponseWriter, r *http.Request, data json.RawMessage) {
		err := hub.PublishToUser(r.Context(), r.PathValue("userId"), ssekify.Event{Name: "notify", Data: data})
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
