package routes

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyAndReply(t *testing.T) {
	echoBody := Body(func(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
		Reply(w, nil, map[string]string{"got": string(data)})
	})
	for _, c := range []struct {
		body   string
		status int
		answer string
	}{
		{"", http.StatusOK, `{"got":"{}"}`},
		{`{"a":1}`, http.StatusOK, `{"got":"{\"a\":1}"}`},
		{`[1, 2]`, http.StatusOK, `{"got":"[1, 2]"}`},
		{`{oops`, http.StatusBadRequest, `{"error":"body is not JSON"}`},
		{`"` + strings.Repeat("x", MaxBody) + `"`, http.StatusBadRequest, `{"error":"http: request body too large"}`},
	} {
		w := httptest.NewRecorder()
		echoBody(w, httptest.NewRequest("POST", "/", strings.NewReader(c.body)))
		got, _ := io.ReadAll(w.Body)
		if w.Code != c.status || strings.TrimSpace(string(got)) != c.answer {
			t.Errorf("body %.20q: %d %s, want %d %s", c.body, w.Code, got, c.status, c.answer)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("SplitList = %q", got)
	}
	if SplitList("") != nil {
		t.Fatal("an empty list is nil")
	}
}
