// Package routes holds the JSON plumbing the example servers share — read a
// JSON body, answer JSON — and the route set of an instance whose sends go
// through the broker, so that each example shows only what is its own.
package routes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/ssekify/ssekify"
)

// MaxBody bounds the JSON bodies the routes accept; a longer body is
// answered 413.
const MaxBody = 1 << 20

// Errors of ReadBody, besides the *http.MaxBytesError of a body above MaxBody.
var (
	// errNotJSON answers a body that is not JSON (400).
	errNotJSON = errors.New("body is not JSON")
	// errBodyTimeout answers a body that did not arrive before the
	// request's read deadline (408).
	errBodyTimeout = errors.New("body not received in time")
	// errBodyRead answers a body that could not be read otherwise, the
	// client having gone away or sent a malformed chunked body (400).
	errBodyRead = errors.New("body can not be read")
)

// ReadBody reads a JSON request body of at most MaxBody bytes; an empty
// body is {}. Its errors map to a status with Status: 413 for a body above
// MaxBody, 408 for one cut by the read deadline, 400 otherwise.
func ReadBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, err
		case isTimeout(err):
			return nil, errBodyTimeout
		default:
			return nil, fmt.Errorf("%w: %w", errBodyRead, err)
		}
	}
	if len(body) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(body) {
		return nil, errNotJSON
	}
	return body, nil
}

// isTimeout reports a read cut by a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Body hands next the request's JSON body; a body that can not be read or
// is not JSON is answered with Reply (status from Status).
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

// Status is the HTTP status that answers err, an error of ReadBody or of a
// hub call; nil is 200.
//
//	413  a body above MaxBody; an event above Options.MaxPayloadBytes (ErrPayloadTooLarge)
//	400  a body that is not JSON or can not be read; an event the hub refuses
//	     (ErrInvalidEvent, ErrEmptyTarget, ErrTooLong, ErrMissingField)
//	408  a body cut by the request's read deadline
//	502  the broker failed (ErrBroker)
//	503  the hub is shutting down or shut down (ErrNotAccepting, ErrClosed)
//	500  anything else (a Serializer error, ...)
//
// A broker failure is 502, not 503: this server works and did its part (a
// Publish* delivers to this instance's streams before it publishes); what
// failed is the upstream it relies on for the other instances, which is
// what 502 says. 503 stays for this instance refusing work, as Register
// answers it when the hub stops accepting.
func Status(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &tooLarge), errors.Is(err, ssekify.ErrPayloadTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errNotJSON), errors.Is(err, errBodyRead),
		errors.Is(err, ssekify.ErrInvalidEvent), errors.Is(err, ssekify.ErrEmptyTarget),
		errors.Is(err, ssekify.ErrTooLong), errors.Is(err, ssekify.ErrMissingField):
		return http.StatusBadRequest
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ssekify.ErrBroker):
		return http.StatusBadGateway
	case errors.Is(err, ssekify.ErrNotAccepting), errors.Is(err, ssekify.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Reply writes v as JSON, or err as {"error": "..."} with the status
// Status gives it.
func Reply(w http.ResponseWriter, err error, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(Status(err))
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
