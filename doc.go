// Package ssekify turns any net/http server into a Server-Sent Events hub.
//
// Create one Hub per process (or per tenant) with New, call Hub.Register
// inside the handler of your stream route, and send from anywhere:
//
//	hub, _ := ssekify.New(nil)
//	http.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
//		hub.Register(w, r, userFrom(r), &ssekify.RegisterOptions{Rooms: []string{"global"}})
//	})
//	hub.SendToUser("alice", ssekify.Event{Name: "notify", Data: map[string]any{"text": "hi"}})
//
// # Targeting
//
// SendToUser, SendToRoom and SendToAll deliver on this instance and return
// how many streams they queued the event for. PublishToUser, PublishToRoom
// and Publish deliver here at once and then, through a Broker (Redis
// Pub/Sub), on every other instance.
//
// # Slow clients
//
// Every stream has a bounded queue (MaxQueueItems, MaxQueueBytes). Sends
// never block: they encode an event once, enqueue a reference to the shared
// frame and return. The handler goroutine of each stream writes everything
// queued in one write and one flush, under a write deadline. When a queue is
// full the DropPolicy applies: DropOldest (default), DropNewest or
// Disconnect. A stalled peer costs at most its queue bounds plus kernel
// buffers, and never slows the others.
//
// # Wire format
//
// Frames follow the WHATWG "server-sent events" format: id, event and one
// data line per line of the serialized payload. Event names and ids with CR,
// LF or NUL are rejected with ErrInvalidEvent, so no input can inject fields
// or events. Heartbeats are ": ping" comments.
package ssekify
