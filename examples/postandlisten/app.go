package main

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

//go:embed index.html
var indexHTML []byte

// maxBody bounds the task bodies.
const maxBody = 64 << 10

// newMux returns the routes:
//
//	GET  /              the page
//	GET  /sse?userId=U  the user's stream
//	POST /tasks         {"userId", "prompt", "requestId"?} → 202 {"requestId"}
//	GET  /stats
func newMux(r *runner) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, req *http.Request) {
		userID := req.URL.Query().Get("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = r.hub.Register(w, req, userID, nil)
	})
	// The task answers at once with its requestId; its progress follows on
	// the user's stream. A client that opens its stream and picks the
	// requestId before posting misses nothing, however fast the first
	// chunk comes.
	mux.HandleFunc("POST /tasks", func(w http.ResponseWriter, req *http.Request) {
		var t task
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBody)).Decode(&t); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if t.UserID == "" {
			t.UserID = "guest"
		}
		id, err := r.start(t)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusAccepted, map[string]string{"requestId": id})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, req *http.Request) {
		reply(w, http.StatusOK, r.hub.Stats())
	})
	return mux
}

// reply writes v as JSON with status code.
func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
