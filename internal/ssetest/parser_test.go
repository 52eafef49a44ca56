package ssetest

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// result is everything a parse produces.
type result struct {
	Events   []Event
	Retry    int
	HasRetry bool
	Comments int
	LastID   string
}

func resultOf(events []Event, p *Parser) result {
	ms, ok := p.Retry()
	if len(events) == 0 {
		events = nil
	}
	return result{Events: events, Retry: ms, HasRetry: ok, Comments: p.Comments(), LastID: p.LastEventID()}
}

func msg(data string) Event { return Event{Type: "message", Data: data} }

type parserCase struct {
	name     string
	in       string
	want     []Event
	retry    int // -1: no valid retry field
	comments int
	lastID   string
}

var parserCases = []parserCase{
	// Basic fields.
	{name: "simple", in: "data: hello\n\n", want: []Event{msg("hello")}, retry: -1},
	{name: "no space after colon", in: "data:hello\n\n", want: []Event{msg("hello")}, retry: -1},
	{name: "only one leading space stripped", in: "data:  hello\n\n", want: []Event{msg(" hello")}, retry: -1},
	{name: "trailing space kept", in: "data: hello \n\n", want: []Event{msg("hello ")}, retry: -1},
	{name: "tab not stripped", in: "data:\thello\n\n", want: []Event{msg("\thello")}, retry: -1},
	{name: "colon in value", in: "data: a:b: c\n\n", want: []Event{msg("a:b: c")}, retry: -1},
	{name: "value is a colon", in: "data::\n\n", want: []Event{msg(":")}, retry: -1},
	{name: "NUL in data kept", in: "data: a\x00b\n\n", want: []Event{msg("a\x00b")}, retry: -1},
	{name: "multi-line data", in: "data: a\ndata: b\ndata: c\n\n", want: []Event{msg("a\nb\nc")}, retry: -1},
	{name: "multi-line data with empty middle", in: "data: a\ndata:\ndata: b\n\n", want: []Event{msg("a\n\nb")}, retry: -1},
	{name: "two events", in: "data: 1\n\ndata: 2\n\n", want: []Event{msg("1"), msg("2")}, retry: -1},
	{name: "extra blank lines between events", in: "data: 1\n\n\n\n\ndata: 2\n\n", want: []Event{msg("1"), msg("2")}, retry: -1},

	// Empty data edge cases.
	{name: "empty data dispatches", in: "data:\n\n", want: []Event{msg("")}, retry: -1},
	{name: "data with only a space dispatches empty", in: "data: \n\n", want: []Event{msg("")}, retry: -1},
	{name: "data with two spaces", in: "data:  \n\n", want: []Event{msg(" ")}, retry: -1},
	{name: "data field without colon", in: "data\n\n", want: []Event{msg("")}, retry: -1},
	{name: "two empty data lines", in: "data:\ndata:\n\n", want: []Event{msg("\n")}, retry: -1},
	{name: "data ending with empty line", in: "data: a\ndata:\n\n", want: []Event{msg("a\n")}, retry: -1},
	{name: "blank lines alone dispatch nothing", in: "\n\n", retry: -1},
	{name: "many blank lines dispatch nothing", in: "\n\n\n\r\n\r\r", retry: -1},
	{name: "empty stream", in: "", retry: -1},

	// Event type.
	{name: "event type", in: "event: add\ndata: x\n\n", want: []Event{{Type: "add", Data: "x"}}, retry: -1},
	{name: "event type after data", in: "data: x\nevent: add\n\n", want: []Event{{Type: "add", Data: "x"}}, retry: -1},
	{name: "last event field wins", in: "event: a\nevent: b\ndata: x\n\n", want: []Event{{Type: "b", Data: "x"}}, retry: -1},
	{name: "empty event type is message", in: "event:\ndata: x\n\n", want: []Event{msg("x")}, retry: -1},
	{name: "event field without colon is message", in: "event\ndata: x\n\n", want: []Event{msg("x")}, retry: -1},
	{name: "event type reset after dispatch", in: "event: a\ndata: 1\n\ndata: 2\n\n", want: []Event{{Type: "a", Data: "1"}, msg("2")}, retry: -1},
	{name: "event type reset by block without data", in: "event: a\n\ndata: x\n\n", want: []Event{msg("x")}, retry: -1},
	{name: "event type keeps spaces", in: "event:  a b \ndata: x\n\n", want: []Event{{Type: " a b ", Data: "x"}}, retry: -1},

	// Event ID.
	{name: "id", in: "id: 1\ndata: a\n\n", want: []Event{{Type: "message", Data: "a", LastEventID: "1"}}, retry: -1, lastID: "1"},
	{name: "id after data in same block", in: "data: a\nid: 3\n\n", want: []Event{{Type: "message", Data: "a", LastEventID: "3"}}, retry: -1, lastID: "3"},
	{name: "id persists across events", in: "id: 1\ndata: a\n\ndata: b\n\n", want: []Event{
		{Type: "message", Data: "a", LastEventID: "1"}, {Type: "message", Data: "b", LastEventID: "1"},
	}, retry: -1, lastID: "1"},
	{name: "empty id resets", in: "id: 1\ndata: a\n\nid:\ndata: b\n\n", want: []Event{
		{Type: "message", Data: "a", LastEventID: "1"}, msg("b"),
	}, retry: -1},
	{name: "id without colon resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\n", want: []Event{
		{Type: "message", Data: "a", LastEventID: "1"}, msg("b"),
	}, retry: -1},
	{name: "id with NUL ignored", in: "id: 1\n\nid: a\x00b\ndata: x\n\n", want: []Event{{Type: "message", Data: "x", LastEventID: "1"}}, retry: -1, lastID: "1"},
	{name: "id that is only NUL ignored", in: "id: 1\ndata: x\n\nid: \x00\ndata: y\n\n", want: []Event{
		{Type: "message", Data: "x", LastEventID: "1"}, {Type: "message", Data: "y", LastEventID: "1"},
	}, retry: -1, lastID: "1"},
	{name: "id-only block sets last event ID without event", in: "id: 7\n\n", retry: -1, lastID: "7"},
	{name: "id applies to later event", in: "id: 7\n\ndata: x\n\n", want: []Event{{Type: "message", Data: "x", LastEventID: "7"}}, retry: -1, lastID: "7"},
	{name: "last id field wins", in: "id: 1\nid: 2\ndata: x\n\n", want: []Event{{Type: "message", Data: "x", LastEventID: "2"}}, retry: -1, lastID: "2"},
	{name: "id not committed without blank line", in: "id: 1\ndata: x\n\nid: 2\n", want: []Event{{Type: "message", Data: "x", LastEventID: "1"}}, retry: -1, lastID: "1"},
	{name: "id keeps spaces and unicode", in: "id:  é 1\ndata: x\n\n", want: []Event{{Type: "message", Data: "x", LastEventID: " é 1"}}, retry: -1, lastID: " é 1"},

	// Retry.
	{name: "retry", in: "retry: 1500\n", retry: 1500},
	{name: "retry no space", in: "retry:10\n", retry: 10},
	{name: "retry zero", in: "retry: 0\n", retry: 0},
	{name: "retry leading zeros", in: "retry: 007\n", retry: 7},
	{name: "retry last valid wins", in: "retry: 10\nretry: 20\n", retry: 20},
	{name: "retry invalid keeps previous", in: "retry: 10\nretry: x\n", retry: 10},
	{name: "retry letters ignored", in: "retry: 15a\n", retry: -1},
	{name: "retry negative ignored", in: "retry: -1\n", retry: -1},
	{name: "retry plus ignored", in: "retry: +1\n", retry: -1},
	{name: "retry decimal ignored", in: "retry: 1.5\n", retry: -1},
	{name: "retry two spaces ignored", in: "retry:  100\n", retry: -1},
	{name: "retry trailing space ignored", in: "retry: 100 \n", retry: -1},
	{name: "retry empty ignored", in: "retry:\n", retry: -1},
	{name: "retry without colon ignored", in: "retry\n", retry: -1},
	{name: "retry non-ASCII digits ignored", in: "retry: ١٢\n", retry: -1},
	{name: "retry saturates", in: "retry: 99999999999999999999999999\n", retry: math.MaxInt},
	{name: "retry does not dispatch", in: "retry: 5\n\n", retry: 5},
	{name: "retry inside event", in: "data: x\nretry: 5\n\n", want: []Event{msg("x")}, retry: 5},
	{name: "retry without line end not applied", in: "retry: 5", retry: -1},

	// Comments and unknown fields.
	{name: "comments", in: ":hi\n: there\n:\ndata: x\n\n", want: []Event{msg("x")}, retry: -1, comments: 3},
	{name: "comment inside event", in: "data: a\n: keep-alive\ndata: b\n\n", want: []Event{msg("a\nb")}, retry: -1, comments: 1},
	{name: "comment alone dispatches nothing", in: ": ping\n\n", retry: -1, comments: 1},
	{name: "comment looking like data", in: ":data: x\n\n", retry: -1, comments: 1},
	{name: "unterminated comment not counted", in: ": x", retry: -1},
	{name: "unknown field ignored", in: "foo: bar\ndata: x\n\n", want: []Event{msg("x")}, retry: -1},
	{name: "unknown field alone", in: "foo: bar\n\n", retry: -1},
	{name: "field names are case-sensitive", in: "Data: x\n\n", retry: -1},
	{name: "space before colon makes another field", in: "data : x\n\n", retry: -1},
	{name: "leading space makes another field", in: " data: x\n\n", retry: -1},

	// Line endings.
	{name: "CRLF", in: "data: a\r\n\r\n", want: []Event{msg("a")}, retry: -1},
	{name: "CR", in: "data: a\r\rdata: b\r\r", want: []Event{msg("a"), msg("b")}, retry: -1},
	{name: "mixed line endings", in: "data: a\r\ndata: b\rdata: c\n\n", want: []Event{msg("a\nb\nc")}, retry: -1},
	{name: "LF then CRLF", in: "data: a\n\r\n", want: []Event{msg("a")}, retry: -1},
	{name: "CRLF then LF", in: "data: a\r\n\n", want: []Event{msg("a")}, retry: -1},
	{name: "LF then CR dispatches at end", in: "data: a\n\r", want: []Event{msg("a")}, retry: -1},
	{name: "CR CR LF", in: "data: a\r\r\ndata: b\n\n", want: []Event{msg("a"), msg("b")}, retry: -1},
	{name: "LF CR is two line endings", in: "data: a\n\rdata: b\n\n", want: []Event{msg("a"), msg("b")}, retry: -1},
	{name: "CRLF CRLF events", in: "event: e\r\ndata: 1\r\nid: 9\r\n\r\n", want: []Event{{Type: "e", Data: "1", LastEventID: "9"}}, retry: -1, lastID: "9"},
	{name: "CR inside data ends the line", in: "data: a\rb\n\n", want: []Event{msg("a")}, retry: -1},

	// End of stream.
	{name: "incomplete event discarded", in: "data: a\n\ndata: b\n", want: []Event{msg("a")}, retry: -1},
	{name: "incomplete line discarded", in: "data: a", retry: -1},
	{name: "incomplete event with id discarded", in: "data: a\n\nid: 5\ndata: b", want: []Event{msg("a")}, retry: -1},
	{name: "single LF after data is not enough", in: "data: a\n", retry: -1},

	// Byte order mark.
	{name: "BOM stripped", in: "\xEF\xBB\xBFdata: a\n\n", want: []Event{msg("a")}, retry: -1},
	{name: "BOM alone", in: "\xEF\xBB\xBF", retry: -1},
	{name: "second BOM not stripped", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n", retry: -1},
	{name: "BOM after first line kept", in: "\n\xEF\xBB\xBFdata: a\n\n", retry: -1},
	{name: "BOM inside data kept", in: "data: \xEF\xBB\xBFa\n\n", want: []Event{msg("\uFEFFa")}, retry: -1},
	{name: "BOM as comment prefix", in: "\xEF\xBB\xBF: c\n", retry: -1, comments: 1},
	{name: "truncated BOM is an error", in: "\xEF\xBBdata: a\n\n", retry: -1},

	// UTF-8 decoding.
	{name: "unicode data", in: "data: héllo 世界 😀\n\n", want: []Event{msg("héllo 世界 😀")}, retry: -1},
	{name: "unicode event type", in: "event: ü\ndata: x\n\n", want: []Event{{Type: "ü", Data: "x"}}, retry: -1},
	{name: "invalid byte", in: "data: \xFF\n\n", want: []Event{msg("\uFFFD")}, retry: -1},
	{name: "two invalid bytes", in: "data: \xFE\xFF\n\n", want: []Event{msg("\uFFFD\uFFFD")}, retry: -1},
	{name: "lone continuation bytes", in: "data: \x80\xBF\n\n", want: []Event{msg("\uFFFD\uFFFD")}, retry: -1},
	{name: "truncated 3-byte sequence is one error", in: "data: \xE2\x82A\n\n", want: []Event{msg("\uFFFDA")}, retry: -1},
	{name: "truncated 4-byte sequence before LF", in: "data: \xF0\x9F\x98\n\n", want: []Event{msg("\uFFFD")}, retry: -1},
	{name: "truncated sequence before CR", in: "data: \xC3\r\r", want: []Event{msg("\uFFFD")}, retry: -1},
	{name: "overlong 2-byte", in: "data: \xC0\xAF\n\n", want: []Event{msg("\uFFFD\uFFFD")}, retry: -1},
	{name: "overlong 3-byte", in: "data: \xE0\x80\xAF\n\n", want: []Event{msg("\uFFFD\uFFFD\uFFFD")}, retry: -1},
	{name: "surrogate", in: "data: \xED\xA0\x80\n\n", want: []Event{msg("\uFFFD\uFFFD\uFFFD")}, retry: -1},
	{name: "above U+10FFFF", in: "data: \xF4\x90\x80\x80\n\n", want: []Event{msg("\uFFFD\uFFFD\uFFFD\uFFFD")}, retry: -1},
	{name: "F5 lead byte", in: "data: \xF5\x80\n\n", want: []Event{msg("\uFFFD\uFFFD")}, retry: -1},
	{name: "max code point", in: "data: \xF4\x8F\xBF\xBF\n\n", want: []Event{msg("\U0010FFFF")}, retry: -1},
	{name: "replacement char itself", in: "data: \xEF\xBF\xBD\n\n", want: []Event{msg("\uFFFD")}, retry: -1},
	{name: "invalid byte in field name", in: "\xFFdata: x\n\n", retry: -1},
	{name: "invalid byte in id", in: "id: \xFF\ndata: x\n\n", want: []Event{{Type: "message", Data: "x", LastEventID: "\uFFFD"}}, retry: -1, lastID: "\uFFFD"},
	{name: "invalid lead before BOM", in: "\xFF\xEF\xBB\xBF\n", retry: -1},
}

// feedChunks feeds in to a new parser split at the given offsets.
func feedChunks(in []byte, cuts ...int) result {
	p := NewParser()
	var events []Event
	prev := 0
	for _, c := range cuts {
		events = p.Feed(events, in[prev:c])
		prev = c
	}
	events = p.Feed(events, in[prev:])
	return resultOf(events, p)
}

func TestParser(t *testing.T) {
	for _, tc := range parserCases {
		t.Run(tc.name, func(t *testing.T) {
			want := result{Events: tc.want, Retry: tc.retry, HasRetry: tc.retry >= 0, Comments: tc.comments, LastID: tc.lastID}
			if tc.retry < 0 {
				want.Retry = 0
			}
			in := []byte(tc.in)

			events, p := Parse(in)
			if got := resultOf(events, p); !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse(%q):\n got %+v\nwant %+v", tc.in, got, want)
			}
			if got := refParse(in); !reflect.DeepEqual(got, want) {
				t.Fatalf("reference parse of %q:\n got %+v\nwant %+v", tc.in, got, want)
			}
			// Every split into two chunks.
			for i := 0; i <= len(in); i++ {
				if got := feedChunks(in, i); !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d of %q:\n got %+v\nwant %+v", i, tc.in, got, want)
				}
			}
			// Every split into three chunks.
			for i := 0; i <= len(in); i++ {
				for j := i; j <= len(in); j++ {
					if got := feedChunks(in, i, j); !reflect.DeepEqual(got, want) {
						t.Fatalf("split at %d,%d of %q:\n got %+v\nwant %+v", i, j, tc.in, got, want)
					}
				}
			}
			// One byte at a time.
			cuts := make([]int, len(in))
			for i := range cuts {
				cuts[i] = i
			}
			if got := feedChunks(in, cuts...); !reflect.DeepEqual(got, want) {
				t.Fatalf("byte by byte %q:\n got %+v\nwant %+v", tc.in, got, want)
			}
		})
	}
}

func TestParserChunkSplitCRLF(t *testing.T) {
	p := NewParser()
	var events []Event
	events = p.Feed(events, []byte("data: a\r"))
	if len(events) != 0 {
		t.Fatalf("events after first chunk: %+v", events)
	}
	// The LF completes the CRLF begun in the previous chunk; it must not be
	// taken as a blank line.
	events = p.Feed(events, []byte("\ndata: b\r"))
	if len(events) != 0 {
		t.Fatalf("CR LF split across chunks was read as two line endings: %+v", events)
	}
	events = p.Feed(events, []byte("\n"))
	events = p.Feed(events, []byte("\r"))
	if want := []Event{msg("a\nb")}; !reflect.DeepEqual(events, want) {
		t.Fatalf("got %+v, want %+v", events, want)
	}
	events = p.Feed(events[:0], []byte("\n\r\n"))
	// "\r" above was a blank line; its LF is skipped and "\r\n" is another
	// blank line, which dispatches nothing.
	if len(events) != 0 {
		t.Fatalf("unexpected events %+v", events)
	}
}

func TestParserIncremental(t *testing.T) {
	p := NewParser()
	steps := []struct {
		chunk string
		want  []Event
	}{
		{"data: he", nil},
		{"llo\n", nil},
		{"\n", []Event{msg("hello")}},
		{"retry: 30", nil},
		{"00\n: c\n", nil},
		{"id: 4\nevent: t\ndata: x\n\ndata: y\n\n", []Event{{Type: "t", Data: "x", LastEventID: "4"}, {Type: "message", Data: "y", LastEventID: "4"}}},
	}
	for i, s := range steps {
		got := p.Feed(nil, []byte(s.chunk))
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: got %+v, want %+v", i, got, s.want)
		}
	}
	if ms, ok := p.Retry(); !ok || ms != 3000 {
		t.Fatalf("Retry() = %d, %v; want 3000, true", ms, ok)
	}
	if n := p.Comments(); n != 1 {
		t.Fatalf("Comments() = %d, want 1", n)
	}
	if id := p.LastEventID(); id != "4" {
		t.Fatalf("LastEventID() = %q, want 4", id)
	}
}

func TestParserAppendsToDst(t *testing.T) {
	p := NewParser()
	dst := make([]Event, 1, 8)
	dst[0] = msg("existing")
	got := p.Feed(dst, []byte("data: a\n\ndata: b\n\n"))
	want := []Event{msg("existing"), msg("a"), msg("b")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if &got[0] != &dst[0] {
		t.Fatal("Feed reallocated although dst had capacity")
	}
}

func TestParserSteadyStateAllocs(t *testing.T) {
	p := NewParser()
	chunk := []byte("event: tick\nid: 1\ndata: some payload\n\n")
	dst := make([]Event, 0, 4)
	dst = p.Feed(dst[:0], chunk) // warm up buffers
	allocs := testing.AllocsPerRun(100, func() {
		dst = p.Feed(dst[:0], chunk)
	})
	// Event strings (type, data and id) are the only allocations.
	if allocs > 3 {
		t.Fatalf("Feed allocated %.1f times per event, want at most 3", allocs)
	}
}

// FuzzParser checks that any split of a stream into chunks parses exactly like
// the whole stream, and that both agree with an independent, non-incremental
// reference implementation.
func FuzzParser(f *testing.F) {
	for _, tc := range parserCases {
		f.Add([]byte(tc.in), []byte{1, 3, 7})
	}
	f.Add([]byte("data: a\r\n\r\ndata: b\r"), []byte{8, 1, 0, 2})
	f.Add([]byte("\xEF\xBB\xBFid: 1\ndata: \xE2\x82\xAC\n\n"), []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		events, p := Parse(stream)
		whole := resultOf(events, p)
		for _, ev := range whole.Events {
			if !utf8.ValidString(ev.Type) || !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.LastEventID) {
				t.Fatalf("invalid UTF-8 in event %+q", ev)
			}
			if ev.Type == "" {
				t.Fatalf("empty event type in %+q", ev)
			}
			if strings.ContainsRune(ev.LastEventID, 0) {
				t.Fatalf("NUL in event ID %+q", ev)
			}
		}
		if ref := refParse(stream); !reflect.DeepEqual(whole, ref) {
			t.Fatalf("incremental parser and reference disagree on %q:\nparser    %+v\nreference %+v", stream, whole, ref)
		}

		// Chunk sizes come from cuts; zero-length chunks are allowed.
		var offsets []int
		off := 0
		for _, c := range cuts {
			off += int(c % 17)
			if off > len(stream) {
				break
			}
			offsets = append(offsets, off)
		}
		if got := feedChunks(stream, offsets...); !reflect.DeepEqual(got, whole) {
			t.Fatalf("chunks at %v of %q:\n got %+v\nwant %+v", offsets, stream, got, whole)
		}
		bytewise := make([]int, len(stream))
		for i := range bytewise {
			bytewise[i] = i
		}
		if got := feedChunks(stream, bytewise...); !reflect.DeepEqual(got, whole) {
			t.Fatalf("byte by byte %q:\n got %+v\nwant %+v", stream, got, whole)
		}
	})
}

// refParse is a straightforward, whole-stream implementation of the
// specification, written independently of Parser to cross-check it: it decodes
// the whole stream first, then splits it into lines.
func refParse(stream []byte) result {
	text := strings.TrimPrefix(refDecode(stream), "\uFEFF")
	var (
		res              result
		data, typ, idBuf string
	)
	for {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			break // an unterminated last line is discarded
		}
		line := text[:i]
		if strings.HasPrefix(text[i:], "\r\n") {
			text = text[i+2:]
		} else {
			text = text[i+1:]
		}
		switch {
		case line == "":
			res.LastID = idBuf
			if data == "" {
				typ = ""
				continue
			}
			if typ == "" {
				typ = "message"
			}
			res.Events = append(res.Events, Event{Type: typ, Data: strings.TrimSuffix(data, "\n"), LastEventID: res.LastID})
			data, typ = "", ""
		case line[0] == ':':
			res.Comments++
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				data += value + "\n"
			case "id":
				if !strings.Contains(value, "\x00") {
					idBuf = value
				}
			case "retry":
				if value != "" && strings.Trim(value, "0123456789") == "" {
					n, err := strconv.ParseInt(value, 10, strconv.IntSize)
					if err != nil {
						n = math.MaxInt
					}
					res.Retry, res.HasRetry = int(n), true
				}
			}
		}
	}
	return res
}

// refDecode decodes UTF-8, replacing each maximal subpart of an ill-formed
// sequence with one U+FFFD (Unicode's recommended practice, which the WHATWG
// decoder follows).
func refDecode(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			sb.WriteRune(r)
			b = b[size:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return sb.String()
}

// maximalSubpart returns the length of the longest prefix of b, which starts
// an ill-formed sequence, that is a prefix of some well-formed sequence; at
// least 1.
func maximalSubpart(b []byte) int {
	var n int
	lo, hi := byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		n = 1
	case c == 0xE0:
		n, lo = 2, 0xA0
	case c == 0xED:
		n, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		n = 2
	case c == 0xF0:
		n, lo = 3, 0x90
	case c == 0xF4:
		n, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		n = 3
	default:
		return 1
	}
	k := 1
	for j := 0; j < n && k < len(b); j++ {
		if b[k] < lo || b[k] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		k++
	}
	return k
}
