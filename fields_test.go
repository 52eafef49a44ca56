package ssekify_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// TestFields: lookups of top-level members only, raw values as written,
// escaped names, the last duplicate, String and Bool.
func TestFields(t *testing.T) {
	obj := `  {"a": 1, "nested": {"a": 2, "s": "}\"{", "arr": [1, {"requestId": "x"}]},
	"requestId" : "r\u00e9q\n" , "b\u0061d": true, "f": false, "n": null, "dup": 1, "dup": [ 2 ],
	"str": "plain", "\ud83d\ude00": "emoji", "e": "" }  `
	f, ok := ssekify.ParseFields([]byte(obj))
	require.True(t, ok)

	get := func(name string) string {
		v, ok := f.Get(name)
		if !ok {
			return "<absent>"
		}
		return string(v)
	}
	require.Equal(t, "1", get("a"))
	require.Equal(t, `{"a": 2, "s": "}\"{", "arr": [1, {"requestId": "x"}]}`, get("nested"))
	require.Equal(t, `"r\u00e9q\n"`, get("requestId"))
	require.Equal(t, "true", get("bad"))
	require.Equal(t, "[ 2 ]", get("dup"))
	require.Equal(t, `"emoji"`, get("😀"))
	require.Equal(t, "<absent>", get("s"))
	require.Equal(t, "<absent>", get("arr"))
	require.Equal(t, "<absent>", get("b\\u0061d"))

	s, ok := f.String("requestId")
	require.True(t, ok)
	require.Equal(t, "réq\n", s)
	s, ok = f.String("e")
	require.True(t, ok)
	require.Equal(t, "", s)
	_, ok = f.String("a")
	require.False(t, ok)

	for name, want := range map[string][2]bool{"bad": {true, true}, "f": {false, true}, "n": {false, false}, "a": {false, false}, "zz": {false, false}} {
		v, ok := f.Bool(name)
		require.Equal(t, want, [2]bool{v, ok}, name)
	}
	require.Equal(t, []string{"a", "nested", "requestId", "bad", "f", "n", "dup", "dup", "str", "😀", "e"}, ssekify.FieldNames(f))

	var zero ssekify.Fields
	_, ok = zero.Get("a")
	require.False(t, ok)
}

// TestFieldsRejects: anything but one well-formed object is refused.
func TestFieldsRejects(t *testing.T) {
	for _, in := range []string{
		``, ` `, `[]`, `"{}"`, `1`, `null`, `{`, `}`, `{}{}`, `{} x`, `{,}`, `{"a"}`, `{"a":}`,
		`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`,
		`{"a":1e}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
		`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":"unterminated}`, `{'a':1}`, `{"a":1}]`,
	} {
		_, ok := ssekify.ParseFields([]byte(in))
		require.False(t, ok, "%q", in)
		require.Equal(t, ok, validObject([]byte(in)), "oracle disagrees on %q", in)
	}
	for _, in := range []string{`{}`, " {\t}\r\n", `{"a":-0.5e+10}`, `{"a":[[],{}]}`, `{"":""}`} {
		_, ok := ssekify.ParseFields([]byte(in))
		require.True(t, ok, "%q", in)
	}
}

// TestFieldsDepth: the nesting limit is encoding/json's.
func TestFieldsDepth(t *testing.T) {
	nest := func(depth int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
	}
	for _, d := range []int{9999, 10000, 10001} {
		_, ok := ssekify.ParseFields(nest(d))
		require.Equal(t, validObject(nest(d)), ok, "depth %d", d)
	}
}

// TestFieldsNoAlloc: lookups allocate nothing.
func TestFieldsNoAlloc(t *testing.T) {
	f, ok := ssekify.ParseFields([]byte(`{"x":{"y":[1,2,"\"z"]},"phase":"done","requ\u0065stId":"abc","final":true}`))
	require.True(t, ok)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := f.Get("requestId"); !ok {
			panic("missing")
		}
		if v, ok := f.Bool("final"); !ok || !v {
			panic("missing")
		}
	})
	require.Zero(t, allocs)
}

// validObject is the oracle: encoding/json accepts data, and it is an object.
func validObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return json.Valid(data) && len(t) > 0 && t[0] == '{'
}

// FuzzFields checks the scanner against encoding/json: the same inputs are
// objects, and every member's value is the same raw bytes.
func FuzzFields(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"a":{"b":[1,2,{"c":"d"}]},"e":"\"}"}`, `{"a":1,"a":2}`,
		`{"\u0061":"\ud800","\ud83d\ude00":null}`, `[1]`, `{"a":1,}`, `  {"x" : -1.5e3 } `,
		`{"s":"\\\"\/\b\f\n\r\t"}`, `{"k":tru}`,
	} {
		f.Add([]byte(seed), "a")
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if !utf8.Valid(data) {
			return // payloads are always valid UTF-8 by the time they are scanned
		}
		fields, ok := ssekify.ParseFields(data)
		want := validObject(data)
		if ok != want {
			t.Fatalf("ParseFields(%q) ok=%v, encoding/json says %v", data, ok, want)
		}
		if !ok {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for k, v := range m {
			got, ok := fields.Get(k)
			if !ok || !bytes.Equal(got, v) {
				t.Fatalf("Get(%q) = %q, %v; encoding/json has %q", k, got, ok, v)
			}
		}
		names := ssekify.FieldNames(fields)
		for _, k := range names {
			if _, ok := m[k]; !ok {
				t.Fatalf("member %q unknown to encoding/json", k)
			}
		}
		if len(m) > len(names) {
			t.Fatalf("%d members, encoding/json has %d", len(names), len(m))
		}
		v, ok := fields.Get(name)
		if want, has := m[name]; ok != has || !bytes.Equal(v, want) {
			t.Fatalf("Get(%q) = %q, %v; encoding/json has %q, %v", name, v, ok, want, has)
		}
		if s, ok := fields.String(name); ok {
			var ws string
			if err := json.Unmarshal(m[name], &ws); err != nil || ws != s {
				t.Fatalf("String(%q) = %q; encoding/json has %q (%v)", name, s, ws, err)
			}
		}
	})
}
