package main

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/ssekify/ssekify"
)

// maxBody bounds the /fanout bodies.
const maxBody = 1 << 20

// fanout is the body of POST /fanout: one event for one user.
type fanout struct {
	UserID string          `json:"userId"`
	Event  string          `json:"event"` // default "notify"
	Data   json.RawMessage `json:"data"`  // default {}
}

// newMux returns server A's routes: the streams, the /fanout callback that
// server B calls when its work is done, and the stats. With a token,
// /fanout demands "Authorization: Bearer <token>": it lets whoever calls it
// write to any user's stream, so keep it on the internal network and
// authenticated.
func newMux(hub *ssekify.Hub, token string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(w, r, userID, nil)
	})
	mux.HandleFunc("POST /fanout", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			reply(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		var f fanout
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&f); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if f.Event == "" {
			f.Event = "notify"
		}
		if len(f.Data) == 0 {
			f.Data = json.RawMessage("{}")
		}
		// A holds the streams: a local send is enough.
		n, err := hub.SendToUser(f.UserID, ssekify.Event{Name: f.Event, Data: f.Data})
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"delivered": n})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, hub.Stats())
	})
	return mux
}

// reply writes v as JSON with status code.
func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
