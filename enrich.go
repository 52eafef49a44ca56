package ssekify

import (
	"context"
	"fmt"
	"strconv"
)

// isoMillis is the layout of TimestampISO.
const isoMillis = "2006-01-02T15:04:05.000Z"

// enrich adds the auto fields (timestamp, requestId, traceId) and the seq of
// an object payload. It works on the serialized bytes, so a map, a struct
// and a json.RawMessage object are treated alike; anything that is not one
// well-formed JSON object (arrays, scalars, another serializer's output) is
// returned untouched. New members go before the closing brace; existing
// members are never changed. It reads the object's top-level members once
// and allocates only when it adds something. It fails, with ErrMissingField,
// only when a required field is missing.
func (h *Hub) enrich(ctx context.Context, data []byte, global bool) ([]byte, error) {
	af, sq := &h.opts.AutoFields, &h.opts.Seq
	if af.Timestamp == TimestampOff && af.RequestID.Mode == FieldOff && af.TraceID.Mode == FieldOff && sq.Disabled {
		return data, nil
	}
	if i := skipWS(data, 0); i == len(data) || data[i] != '{' {
		return data, nil
	}
	var p objScan
	if !p.scan(data, af, sq) {
		return data, nil
	}
	if err := missing(af.RequestID, p.hasReq); err != nil {
		return nil, err
	}
	if err := missing(af.TraceID, p.hasTrace); err != nil {
		return nil, err
	}
	b := objBuilder{src: data, end: p.end, empty: p.members == 0}
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
	if !sq.Disabled && !p.hasSeq {
		if key, final := h.seqScope(&p, &b, addedReq); key != "" {
			n := h.seq.next(ctx, key, final)
			b.member(sq.FieldName)
			b.out = strconv.AppendInt(b.out, n, 10)
		}
	}
	return b.bytes(), nil
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
// the object as enriched so far (timestamp, requestId, traceId added).
func (h *Hub) seqScope(p *objScan, b *objBuilder, addedReq string) (key string, final bool) {
	sq := &h.opts.Seq
	if sq.KeyExtractor != nil || sq.FinalPredicate != nil {
		f := b.view()
		defer b.unview()
		if sq.KeyExtractor != nil {
			key = sq.KeyExtractor(f)
		} else {
			key = defaultKey(p, addedReq, h.opts.AutoFields.RequestID.Name)
		}
		if key == "" {
			return "", false
		}
		if sq.FinalPredicate != nil {
			return key, sq.FinalPredicate(f)
		}
		return key, p.defaultFinal()
	}
	key = defaultKey(p, addedReq, h.opts.AutoFields.RequestID.Name)
	if key == "" {
		return "", false
	}
	return key, p.defaultFinal()
}

// defaultKey is the string or number value of requestId, else of streamId,
// counting a requestId that AutoFields just added.
func defaultKey(p *objScan, addedReq, addedName string) string {
	if k := scopeValue(p.requestID); k != "" {
		return k
	}
	if addedReq != "" && addedName == "requestId" {
		return addedReq
	}
	return scopeValue(p.streamID)
}

// scopeValue returns a JSON string's text or a number's digits, "" otherwise.
func scopeValue(raw []byte) string {
	switch {
	case len(raw) == 0:
		return ""
	case raw[0] == '"':
		return unquoteJSON(raw)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return string(raw)
	}
	return ""
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
// brace. It copies the source only when the first member is added.
type objBuilder struct {
	src   []byte
	end   int // index of the source's closing brace
	out   []byte
	empty bool // no member yet: the next one needs no comma
}

// member starts a new member: a comma if needed, the name and the colon.
func (b *objBuilder) member(name string) {
	if b.out == nil {
		b.out = make([]byte, 0, len(b.src)+128)
		b.out = append(b.out, b.src[:b.end]...)
	}
	if !b.empty {
		b.out = append(b.out, ',')
	}
	b.empty = false
	b.out = append(appendJSONString(b.out, name), ':')
}

// view returns the object as built so far; valid until the next change.
func (b *objBuilder) view() Fields {
	if b.out == nil {
		return Fields{obj: b.src}
	}
	b.out = append(b.out, '}')
	return Fields{obj: b.out}
}

// unview undoes view.
func (b *objBuilder) unview() {
	if b.out != nil {
		b.out = b.out[:len(b.out)-1]
	}
}

// bytes returns the finished object (the source when nothing was added).
func (b *objBuilder) bytes() []byte {
	if b.out == nil {
		return b.src
	}
	return append(b.out, b.src[b.end:]...)
}
