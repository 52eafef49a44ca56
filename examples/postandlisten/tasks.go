package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ssekify/ssekify"
)

// eventName is the event every task message is sent as; the page listens
// for it and routes each message by its requestId.
const eventName = "notify"

// validRequestID is what a client-chosen requestId may look like.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// errBadRequestID is returned for a requestId that does not match.
var errBadRequestID = errors.New("requestId must be 8 to 64 letters, digits, '-' or '_'")

// message is what a task sends for each step. The hub adds "seq" (0, 1, 2,
// ... per requestId; the message after "done" or "error" starts again at 0)
// and "timestamp": both are automatic for JSON objects with a requestId.
type message struct {
	RequestID string         `json:"requestId"`
	Phase     string         `json:"phase"` // progress, done or error
	Payload   map[string]any `json:"payload,omitempty"`
	Error     *taskError     `json:"error,omitempty"`
}

type taskError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// task is one request: a prompt whose answer streams back in chunks.
type task struct {
	UserID    string `json:"userId"`
	RequestID string `json:"requestId"` // optional: the client may choose it
	Prompt    string `json:"prompt"`
	FailAfter int    `json:"failAfter"` // > 0: fail after that many chunks (a demo of phase "error")
}

// runner runs tasks in the background and streams their progress to the
// user who asked, on whichever instance holds the user's streams.
type runner struct {
	hub   *ssekify.Hub
	delay time.Duration // between chunks: the model "thinking"

	ctx  context.Context // ends on close: running tasks stop
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newRunner(hub *ssekify.Hub, delay time.Duration) *runner {
	ctx, stop := context.WithCancel(context.Background())
	return &runner{hub: hub, delay: delay, ctx: ctx, stop: stop}
}

// start checks t, gives it a requestId if it has none and runs it in the
// background.
func (r *runner) start(t task) (string, error) {
	if t.RequestID == "" {
		t.RequestID = newRequestID()
	} else if !validRequestID.MatchString(t.RequestID) {
		return "", errBadRequestID
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(t)
	}()
	return t.RequestID, nil
}

// run streams the answer's chunks (phase "progress"), then the whole answer
// (phase "done"), or an error (phase "error").
func (r *runner) run(t task) {
	var answer strings.Builder
	for i, chunk := range answerChunks(t.Prompt) {
		select {
		case <-time.After(r.delay):
		case <-r.ctx.Done():
			return
		}
		if t.FailAfter > 0 && i == t.FailAfter {
			r.send(t, message{RequestID: t.RequestID, Phase: "error",
				Error: &taskError{Code: "UpstreamError", Message: "the model stopped answering"}})
			return
		}
		answer.WriteString(chunk)
		if !r.send(t, message{RequestID: t.RequestID, Phase: "progress", Payload: map[string]any{"content": chunk}}) {
			return
		}
	}
	r.send(t, message{RequestID: t.RequestID, Phase: "done",
		Payload: map[string]any{"content": answer.String(), "length": answer.Len()}})
}

// send publishes one message to the user, on every instance. It reports
// false when the hub is closed.
func (r *runner) send(t task, m message) bool {
	err := r.hub.PublishToUser(r.ctx, t.UserID, ssekify.Event{Name: eventName, Data: m})
	return !errors.Is(err, ssekify.ErrClosed) && r.ctx.Err() == nil
}

// close stops the running tasks and waits for them.
func (r *runner) close() {
	r.stop()
	r.wg.Wait()
}

// answerChunks is the stand-in for a model: the answer, word by word.
func answerChunks(prompt string) []string {
	text := fmt.Sprintf("You asked %q. Here is the answer, streamed one word at a time, as a language model would.", prompt)
	words := strings.Fields(text)
	for i := range words[:len(words)-1] {
		words[i] += " "
	}
	return words
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
