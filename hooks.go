package ssekify

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// Hooks run on the goroutine that caused them, never under a hub lock. A
// hook that panics is recovered and reported (code HOOK_PANIC); the hub
// carries on.

// callHook runs fn, recovering a panic.
func (h *Hub) callHook(name string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			h.opts.Logger.Error("ssekify: hook panicked; recovered", slog.String("hook", name),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			h.stats.errorCount.Add(1)
			if name != "OnError" && h.opts.OnError != nil {
				e := &Error{Code: CodeHookPanic, Level: LevelError, Op: name, Err: fmt.Errorf("hook %s panicked: %v", name, p)}
				h.callHook("OnError", func() { h.opts.OnError(e) })
			}
		}
	}()
	fn()
}

// report wraps err in an *Error with the code of its sentinel and reports
// it; a write error matching no sentinel is CodeWrite, anything else
// CodeInternal.
func (h *Hub) report(op, target string, err error) {
	fallback := CodeInternal
	if op == "write" {
		fallback = CodeWrite
	}
	e := &Error{Code: codeOf(err, fallback), Level: LevelError, Op: op, Target: clip(target), Err: err}
	h.reportErr(e)
}

// reportErr counts e and hands it to OnError.
func (h *Hub) reportErr(e *Error) {
	h.stats.errorCount.Add(1)
	if h.opts.OnError != nil {
		h.callHook("OnError", func() { h.opts.OnError(e) })
	}
}

func (h *Hub) hookMessageSent(m *message, delivered int) {
	if h.opts.OnMessageSent == nil {
		return
	}
	info := m.info(delivered, h.opts.InstanceID)
	h.callHook("OnMessageSent", func() { h.opts.OnMessageSent(info) })
}

func (m *message) info(delivered int, origin string) MessageInfo {
	return MessageInfo{Kind: m.kind.String(), Target: m.target, Name: m.name, ID: m.sseID(),
		Data: m.data, Delivered: delivered, Origin: origin}
}

// sseID is the id the stream writes: the caller's, or the position token.
func (m *message) sseID() string {
	if m.id != "" || len(m.idLine) < len("id: \n") {
		return m.id
	}
	return string(m.idLine[len("id: ") : len(m.idLine)-1])
}
