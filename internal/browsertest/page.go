package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// defaultPoll is the WaitFor polling interval used when none is given.
const defaultPoll = 50 * time.Millisecond

// Page is a browser tab attached over a flattened DevTools session. Its
// methods are safe for concurrent use.
type Page struct {
	b         *Browser
	targetID  string
	sessionID string

	gone     chan struct{} // closed when the session ends
	goneOnce sync.Once
	goneWhy  string // set before gone is closed

	mu      sync.Mutex
	console []string
	subs    map[*subscription]struct{}
}

// subscription collects the events of one method until it is cancelled.
type subscription struct {
	method string
	mu     sync.Mutex
	events []json.RawMessage
	notify chan struct{} // capacity 1; signalled on each new event
}

// remoteObject is the subset of Runtime.RemoteObject used here.
type remoteObject struct {
	Type                string          `json:"type"`
	Subtype             string          `json:"subtype,omitempty"`
	Value               json.RawMessage `json:"value,omitempty"`
	UnserializableValue string          `json:"unserializableValue,omitempty"`
	Description         string          `json:"description,omitempty"`
}

// exceptionDetails is the subset of Runtime.ExceptionDetails used here.
type exceptionDetails struct {
	Text      string        `json:"text"`
	Exception *remoteObject `json:"exception,omitempty"`
}

// message returns the most useful description of the exception.
func (d *exceptionDetails) message() string {
	if d.Exception != nil {
		if d.Exception.Description != "" {
			return d.Exception.Description
		}
		if len(d.Exception.Value) > 0 {
			return d.Text + " " + formatObject(*d.Exception)
		}
	}
	return d.Text
}

// EvalError is a JavaScript exception thrown by an expression given to
// Page.Eval.
type EvalError struct {
	Expr      string // the expression evaluated
	Exception string // the exception's description, usually with a stack
}

// Error implements error.
func (e *EvalError) Error() string {
	return fmt.Sprintf("browsertest: evaluating %q: %s", e.Expr, e.Exception)
}

// NewPage opens a new tab, attaches to it with a flattened session, enables
// the Page and Runtime domains and, when url is not empty, navigates to url
// and waits for its load event. ctx bounds the whole operation.
func (b *Browser) NewPage(ctx context.Context, url string) (*Page, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, nil, "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	err := b.call(ctx, nil, "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached)
	if err != nil {
		b.closeTarget(created.TargetID)
		return nil, err
	}
	p := &Page{
		b:         b,
		targetID:  created.TargetID,
		sessionID: attached.SessionID,
		gone:      make(chan struct{}),
		subs:      make(map[*subscription]struct{}),
	}
	b.mu.Lock()
	b.sessions[p.sessionID] = p
	b.mu.Unlock()

	for _, c := range []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Page.setLifecycleEventsEnabled", map[string]any{"enabled": true}},
		{"Runtime.enable", nil},
	} {
		if err := b.call(ctx, p, c.method, c.params, nil); err != nil {
			p.discard()
			return nil, err
		}
	}
	if url != "" {
		if err := p.Navigate(ctx, url); err != nil {
			p.discard()
			return nil, err
		}
	}
	return p, nil
}

// Navigate loads url in the page and waits, bounded by ctx, for its load
// event. A navigation within the same document returns without waiting.
func (p *Page) Navigate(ctx context.Context, url string) error {
	// Subscribe first: the load may complete before Page.navigate answers.
	sub := p.subscribe("Page.lifecycleEvent")
	defer p.unsubscribe(sub)

	var nav struct {
		LoaderID  string `json:"loaderId"`
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("browsertest: navigating to %s: %s", url, nav.ErrorText)
	}
	if nav.LoaderID == "" {
		return nil // same-document navigation: no load event follows
	}
	err := p.waitEvent(ctx, sub, func(params json.RawMessage) bool {
		var ev struct {
			LoaderID string `json:"loaderId"`
			Name     string `json:"name"`
		}
		return json.Unmarshal(params, &ev) == nil && ev.LoaderID == nav.LoaderID && ev.Name == "load"
	})
	if err != nil {
		return fmt.Errorf("browsertest: waiting for %s to load: %w", url, err)
	}
	return nil
}

// Eval evaluates the JavaScript expression expr in the page, awaiting it
// when it yields a promise, and returns the result as JSON. undefined yields
// null. A thrown exception is returned as an *EvalError; a result with no
// JSON form (NaN, Infinity, -0, a BigInt) is an error too.
func (p *Page) Eval(ctx context.Context, expr string) (json.RawMessage, error) {
	var res struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails,omitempty"`
	}
	err := p.b.call(ctx, p, "Runtime.evaluate", map[string]any{
		"expression":    expr,
		"returnByValue": true,
		"awaitPromise":  true,
	}, &res)
	if err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, &EvalError{Expr: expr, Exception: res.ExceptionDetails.message()}
	}
	switch {
	case res.Result.UnserializableValue != "":
		return nil, fmt.Errorf("browsertest: %q evaluated to %s, which has no JSON form", expr, res.Result.UnserializableValue)
	case len(res.Result.Value) == 0:
		return json.RawMessage("null"), nil
	}
	return res.Result.Value, nil
}

// WaitFor evaluates expr every poll (50ms when poll is not positive) until
// it yields true, and fails when ctx ends first. JavaScript exceptions and
// protocol errors (such as a context destroyed by a navigation) do not stop
// the polling; they are reported if the wait times out.
func (p *Page) WaitFor(ctx context.Context, expr string, poll time.Duration) error {
	if poll <= 0 {
		poll = defaultPoll
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	last := "not evaluated"
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("browsertest: waiting for %q: %w (last: %s)", expr, ctx.Err(), last)
		case <-timer.C:
		}
		v, err := p.Eval(ctx, expr)
		switch {
		case err == nil && bytes.Equal(bytes.TrimSpace(v), []byte("true")):
			return nil
		case err == nil:
			last = "value " + string(v)
		case ctx.Err() != nil:
			// Reported by the select above.
		case errors.Is(err, errClosed), errors.Is(err, errPageGone):
			return err
		default:
			last = "error " + err.Error()
		}
		timer.Reset(poll)
	}
}

// Console returns the console messages the page has logged so far, one
// entry per call, formatted as "type: arg1 arg2", such as "log: open".
// Uncaught exceptions are included as "exception: description".
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Screenshot captures the visible part of page p as a PNG file at path.
func (b *Browser) Screenshot(ctx context.Context, p *Page, path string) error {
	var res struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, p, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return fmt.Errorf("browsertest: Page.captureScreenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

// Close closes the page's tab. Pages still open are closed with the browser.
func (p *Page) Close(ctx context.Context) error {
	err := p.b.call(ctx, nil, "Target.closeTarget", map[string]any{"targetId": p.targetID}, nil)
	p.forget("page closed")
	return err
}

// discard closes the tab of a page that failed to set up, bounded in time
// independently of the caller's (possibly expired) context.
func (p *Page) discard() {
	p.b.closeTarget(p.targetID)
	p.forget("page discarded")
}

// closeTarget closes a tab on a best-effort basis.
func (b *Browser) closeTarget(targetID string) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = b.call(ctx, nil, "Target.closeTarget", map[string]any{"targetId": targetID}, nil)
}

// forget stops routing events to p and marks it gone.
func (p *Page) forget(why string) {
	p.b.mu.Lock()
	if p.b.sessions[p.sessionID] == p {
		delete(p.b.sessions, p.sessionID)
	}
	p.b.mu.Unlock()
	p.markGone(why)
}

// markGone ends every wait on the page.
func (p *Page) markGone(why string) {
	p.goneOnce.Do(func() {
		p.goneWhy = why
		close(p.gone)
	})
}

// goneErr says why the page went away; call only after gone is closed.
func (p *Page) goneErr() error {
	return fmt.Errorf("%w: %s", errPageGone, p.goneWhy)
}

// handleEvent records an event of the page's session. It runs on the
// reader goroutine and never blocks.
func (p *Page) handleEvent(method string, params json.RawMessage) {
	switch method {
	case "Runtime.consoleAPICalled":
		var ev struct {
			Type string         `json:"type"`
			Args []remoteObject `json:"args"`
		}
		if json.Unmarshal(params, &ev) == nil {
			args := make([]string, len(ev.Args))
			for i, a := range ev.Args {
				args[i] = formatObject(a)
			}
			p.appendConsole(ev.Type + ": " + strings.Join(args, " "))
		}
	case "Runtime.exceptionThrown":
		var ev struct {
			ExceptionDetails exceptionDetails `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &ev) == nil {
			p.appendConsole("exception: " + ev.ExceptionDetails.message())
		}
	case "Inspector.targetCrashed":
		p.markGone("renderer crashed")
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.subs {
		if s.method != method {
			continue
		}
		s.mu.Lock()
		s.events = append(s.events, params)
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (p *Page) appendConsole(line string) {
	p.mu.Lock()
	p.console = append(p.console, line)
	p.mu.Unlock()
}

// formatObject renders a console argument or thrown value as text.
func formatObject(o remoteObject) string {
	switch {
	case len(o.Value) > 0:
		var s string
		if o.Type == "string" && json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	case o.UnserializableValue != "":
		return o.UnserializableValue
	case o.Description != "":
		return o.Description
	}
	return o.Type
}

// subscribe starts collecting the page's events of the given method.
func (p *Page) subscribe(method string) *subscription {
	s := &subscription{method: method, notify: make(chan struct{}, 1)}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	return s
}

func (p *Page) unsubscribe(s *subscription) {
	p.mu.Lock()
	delete(p.subs, s)
	p.mu.Unlock()
}

// waitEvent waits, bounded by ctx, for an event of s for which match is true.
func (p *Page) waitEvent(ctx context.Context, s *subscription, match func(json.RawMessage) bool) error {
	for {
		s.mu.Lock()
		events := s.events
		s.events = nil
		s.mu.Unlock()
		for _, ev := range events {
			if match(ev) {
				return nil
			}
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.gone:
			return p.goneErr()
		case <-p.b.readDone:
			return p.b.closedErr()
		}
	}
}

// Protocol returns the ALPN protocol the page's document was loaded with,
// as the browser reports it in its navigation timing entry's
// nextHopProtocol: "h2" for HTTP/2, "http/1.1", or "" when the browser
// does not tell.
func (p *Page) Protocol(ctx context.Context) (string, error) {
	raw, err := p.Eval(ctx, `(performance.getEntriesByType('navigation')[0] || {}).nextHopProtocol || ''`)
	if err != nil {
		return "", err
	}
	var proto string
	if err := json.Unmarshal(raw, &proto); err != nil {
		return "", fmt.Errorf("browsertest: nextHopProtocol %s: %w", raw, err)
	}
	return proto, nil
}
