package ssekify

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
)

// isoMillis is the layout of TimestampISO.
const isoMillis = "2006-01-02T15:04:05.000Z"

// enrich is enrichTo without a frame or a size bound, the seq committed at
// once.
func (h *Hub) enrich(ctx context.Context, data []byte, _ bool) ([]byte, error) {
	if !h.mayEnrich(data) {
		return data, nil
	}
	return h.enrichNow(ctx, data)
}

func (h *Hub) enrichNow(ctx context.Context, data []byte) ([]byte, error) {
	var r enriched
	if err := h.enrichTo(ctx, &r, nil, data, framing{}, -1); err != nil {
		return nil, err
	}
	if r.hasSeq {
		h.seq.commit(ctx, r.seq)
	}
	return r.data, nil
}

// framing asks enrichTo to build the payload straight into the frame of an
// event whose id and name are known (ok), when it copies the payload.
type framing struct {
	id, name string
	ok       bool
}

// enriched is what enrichTo made of a payload.
type enriched struct {
	data []byte // the payload
	// frame, when not nil, is the frame built so far: the id and event
	// lines, "data: " and data, which ends it, with room for the final
	// blank line. Only when data has no CR or LF.
	frame []byte
	// valid: data was read as one well-formed JSON object, which includes
	// that it is valid UTF-8.
	valid bool
	// seq is the number reserved for the payload's seq member (hasSeq); the
	// caller commits it once the message is built, or releases it.
	seq    seqTicket
	hasSeq bool
}

// enrichTo adds the auto fields (timestamp, requestId, traceId) and the seq
// of an object payload. It works on the serialized bytes, so a map, a struct
// and a json.RawMessage object are treated alike; anything that is not one
// well-formed JSON object (arrays, scalars, another serializer's output,
// invalid UTF-8) is returned untouched. New members go before the closing
// brace; existing members are never changed. It reads the object's
// top-level members once and allocates only when it adds something, then
// into the frame when fr asks for it.
//
// Every check comes before the seq is reserved, so a refused payload uses no
// number: a required field that is missing (ErrMissingField), a scope key
// beyond MaxScopeKeyBytes (ErrTooLong), and the size bound max (> 0), which
// the enriched payload must meet with room for the seq member at its
// largest (ErrPayloadTooLarge). The result is r, which must be zero.
//
// q, when not nil, asks for the seq number to be left to the publish script
// (seq_script.go): when it is, enrichTo fills q in and writes the member's
// name without a number.
func (h *Hub) enrichTo(ctx context.Context, r *enriched, q *scriptSeq, data []byte, fr framing, max int) error {
	r.data = data
	if !h.mayEnrich(data) {
		return nil
	}
	af, sq := &h.opts.AutoFields, &h.opts.Seq
	var p objScan
	if !p.scan(data, af, sq) {
		return nil
	}
	r.valid = true
	if err := missing(af.RequestID, p.hasReq); err != nil {
		return err
	}
	if err := missing(af.TraceID, p.hasTrace); err != nil {
		return err
	}
	b := objBuilder{src: data, end: p.end, empty: p.members == 0}
	if fr.ok && bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		b.fr = fr
	}
	if af.Timestamp != TimestampOff && !p.hasTS {
		now := h.now()
		b.member(af.TimestampField)
		if af.Timestamp == TimestampEpochMs {
			b.out = strconv.AppendInt(b.out, now.UnixMilli(), 10)
		} else {
			b.out = append(now.UTC().AppendFormat(append(b.out, '"'), isoMillis), '"')
		}
	}
	var addedReq string
	if af.RequestID.Mode == FieldIfMissing && !p.hasReq {
		if v := af.RequestID.Getter(ctx); v != "" {
			b.member(af.RequestID.Name)
			b.out = appendJSONString(b.out, v)
			addedReq = v
		}
	}
	if af.TraceID.Mode == FieldIfMissing && !p.hasTrace {
		if v := af.TraceID.Getter(ctx); v != "" {
			b.member(af.TraceID.Name)
			b.out = appendJSONString(b.out, v)
		}
	}
	var key string
	var final bool
	if !sq.Disabled && !p.hasSeq {
		var err error
		if key, final, err = h.seqScope(&p, &b, addedReq); err != nil {
			return err
		}
	}
	if max > 0 {
		size, room := b.size(), 0
		if key != "" {
			room = h.seq.room
		}
		if size+room > max {
			if room > 0 {
				return fmt.Errorf("%w: %d bytes and %d for the seq member, limit %d", ErrPayloadTooLarge, size, room, max)
			}
			return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, size, max)
		}
	}
	if key != "" {
		b.member(sq.FieldName)
		if q != nil && h.seq.toScript(q, key, final) {
			q.at, q.tail = len(b.out)-b.off, len(b.src)-b.end
		} else {
			r.seq, r.hasSeq = h.seq.reserve(ctx, key, final), true
			b.out = strconv.AppendInt(b.out, r.seq.n, 10)
		}
	}
	r.data, r.frame = b.finish()
	return nil
}

// mayEnrich reports whether enrichTo may add to data: something is on, and
// data starts like an object.
func (h *Hub) mayEnrich(data []byte) bool {
	af := &h.opts.AutoFields
	if af.Timestamp == TimestampOff && af.RequestID.Mode == FieldOff && af.TraceID.Mode == FieldOff && h.opts.Seq.Disabled {
		return false
	}
	i := skipWS(data, 0)
	return i < len(data) && data[i] == '{'
}

// missing returns ErrMissingField for a required field the payload lacks.
func missing(f AutoField, has bool) error {
	if f.Mode == FieldRequired && !has {
		return fmt.Errorf("%w: %q", ErrMissingField, f.Name)
	}
	return nil
}

// seqScope returns the scope key of the payload ("" for none) and whether it
// is final, with the options' functions or the defaults. The functions see
// the object as enriched so far (timestamp, requestId, traceId added). A key
// beyond MaxScopeKeyBytes is an error wrapping ErrTooLong.
func (h *Hub) seqScope(p *objScan, b *objBuilder, addedReq string) (key string, final bool, err error) {
	sq := &h.opts.Seq
	if sq.KeyExtractor != nil || sq.FinalPredicate != nil {
		f := b.view()
		defer b.unview()
		if sq.KeyExtractor != nil {
			key = sq.KeyExtractor(f)
		} else if key, err = defaultKey(p, addedReq, h.opts.AutoFields.RequestID.Name); err != nil {
			return "", false, err
		}
		if key == "" {
			return "", false, nil
		}
		if err := checkLen("seq scope key", key, MaxScopeKeyBytes); err != nil {
			return "", false, err
		}
		if sq.FinalPredicate != nil {
			return key, sq.FinalPredicate(f), nil
		}
		return key, p.defaultFinal(), nil
	}
	if key, err = defaultKey(p, addedReq, h.opts.AutoFields.RequestID.Name); err != nil || key == "" {
		return "", false, err
	}
	if err := checkLen("seq scope key", key, MaxScopeKeyBytes); err != nil {
		return "", false, err
	}
	return key, p.defaultFinal(), nil
}

// defaultKey is the string or number value of requestId, else of streamId,
// counting a requestId that AutoFields just added.
func defaultKey(p *objScan, addedReq, addedName string) (string, error) {
	if k, err := scopeValue(p.requestID); k != "" || err != nil {
		return k, err
	}
	if addedReq != "" && addedName == "requestId" {
		return addedReq, nil
	}
	return scopeValue(p.streamID)
}

// maxRawScopeKey is the longest JSON string (without its quotes) that may
// decode to MaxScopeKeyBytes: an escape takes at most six bytes per byte it
// stands for. A longer one is refused without being decoded.
const maxRawScopeKey = 6 * MaxScopeKeyBytes

// scopeValue returns a JSON string's text or a number's digits, "" otherwise.
func scopeValue(raw []byte) (string, error) {
	switch {
	case len(raw) == 0:
		return "", nil
	case raw[0] == '"':
		if len(raw)-2 > maxRawScopeKey {
			return "", fmt.Errorf("%w: seq scope key of %d bytes of JSON string, limit %d", ErrTooLong, len(raw)-2, MaxScopeKeyBytes)
		}
		return unquoteJSON(raw), nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if len(raw) > MaxScopeKeyBytes {
			return "", fmt.Errorf("%w: seq scope key of %d digits, limit %d", ErrTooLong, len(raw), MaxScopeKeyBytes)
		}
		return string(raw), nil
	}
	return "", nil
}

// objScan is what enrich needs to know of an object, gathered in one pass.
type objScan struct {
	end                     int // index of the closing brace
	members                 int
	hasTS, hasReq, hasTrace bool
	hasSeq                  bool
	requestID, streamID     []byte // raw values (the last occurrence)
	finalVal, phaseVal      []byte
}

// scan reads data's top-level members; false when data is not one
// well-formed JSON object.
func (p *objScan) scan(data []byte, af *AutoFields, sq *SeqOptions) bool {
	seq := !sq.Disabled
	defKey := seq && sq.KeyExtractor == nil
	defFinal := seq && sq.FinalPredicate == nil
	it := newObjIter(data)
	for {
		key, val, ok := it.next()
		if !ok {
			break
		}
		p.members++
		if af.Timestamp != TimestampOff && jsonStringIs(key, af.TimestampField) {
			p.hasTS = true
		}
		if af.RequestID.Mode != FieldOff && jsonStringIs(key, af.RequestID.Name) {
			p.hasReq = true
		}
		if af.TraceID.Mode != FieldOff && jsonStringIs(key, af.TraceID.Name) {
			p.hasTrace = true
		}
		if !seq {
			continue
		}
		if jsonStringIs(key, sq.FieldName) {
			p.hasSeq = true
		}
		if defKey {
			if jsonStringIs(key, "requestId") {
				p.requestID = val
			} else if jsonStringIs(key, "streamId") {
				p.streamID = val
			}
		}
		if defFinal {
			if jsonStringIs(key, "final") {
				p.finalVal = val
			} else if jsonStringIs(key, "phase") {
				p.phaseVal = val
			}
		}
	}
	p.end = it.end
	return it.valid()
}

// defaultFinal is the default FinalPredicate: "final": true, or "phase"
// equal to "done" or "error".
func (p *objScan) defaultFinal() bool {
	return string(p.finalVal) == "true" || jsonStringIs(p.phaseVal, "done") || jsonStringIs(p.phaseVal, "error")
}

// objBuilder appends members to a copy of an object, before its closing
// brace. It copies the source only when the first member is added, into a
// frame after its id and event lines when fr.ok.
type objBuilder struct {
	src   []byte
	end   int // index of the source's closing brace
	out   []byte
	off   int  // where the object starts in out
	empty bool // no member yet: the next one needs no comma
	fr    framing
}

// member starts a new member: a comma if needed, the name and the colon.
func (b *objBuilder) member(name string) {
	if b.out == nil {
		n := len(b.src) + 128
		if b.fr.ok {
			n += frameHeadSize(b.fr.id, b.fr.name) + len("\n\n")
		}
		b.out = make([]byte, 0, n)
		if b.fr.ok {
			b.out = appendFrameHead(b.out, b.fr.id, b.fr.name)
			b.off = len(b.out)
		}
		b.out = append(b.out, b.src[:b.end]...)
	}
	if !b.empty {
		b.out = append(b.out, ',')
	}
	b.empty = false
	b.out = append(appendJSONString(b.out, name), ':')
}

// size is the length of the object if it were finished now.
func (b *objBuilder) size() int {
	if b.out == nil {
		return len(b.src)
	}
	return len(b.out) - b.off + len(b.src) - b.end
}

// view returns the object as built so far; valid until the next change.
func (b *objBuilder) view() Fields {
	if b.out == nil {
		return Fields{obj: b.src}
	}
	b.out = append(b.out, '}')
	return Fields{obj: b.out[b.off:]}
}

// unview undoes view.
func (b *objBuilder) unview() {
	if b.out != nil {
		b.out = b.out[:len(b.out)-1]
	}
}

// finish returns the finished object (the source when nothing was added)
// and, when it was built into a frame, that frame so far.
func (b *objBuilder) finish() (data, frame []byte) {
	if b.out == nil {
		return b.src, nil
	}
	b.out = append(b.out, b.src[b.end:]...)
	if !b.fr.ok {
		return b.out, nil
	}
	return b.out[b.off:], b.out
}
