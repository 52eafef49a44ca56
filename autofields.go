package ssekify

import (
	"context"
	"errors"
)

// TimestampMode says how AutoFields adds a timestamp.
type TimestampMode int

const (
	// TimestampISO adds an ISO 8601 UTC string ("2006-01-02T15:04:05.000Z"). The default.
	TimestampISO TimestampMode = iota
	// TimestampEpochMs adds milliseconds since the Unix epoch, a number.
	TimestampEpochMs
	// TimestampOff adds none.
	TimestampOff
)

// FieldMode says how AutoFields treats a field such as requestId.
type FieldMode int

const (
	// FieldOff leaves the field alone. The default.
	FieldOff FieldMode = iota
	// FieldIfMissing adds the field from Getter when the payload lacks it.
	FieldIfMissing
	// FieldRequired fails the send with ErrMissingField when the payload lacks it.
	FieldRequired
)

// AutoField configures one added field.
type AutoField struct {
	// Mode is FieldOff (the default), FieldIfMissing or FieldRequired.
	Mode FieldMode
	// Getter returns the value for FieldIfMissing. ctx is the Publish call's
	// context, or context.Background() for Send calls. An empty result adds nothing.
	Getter func(ctx context.Context) string
	// Name is the JSON field name. Defaults: "requestId", "traceId".
	Name string
}

// AutoFields adds fields to object payloads (maps, structs and JSON objects)
// that lack them. Arrays, scalars and JSON that is not an object are never
// touched. Fields are added after serialization, so they work with any
// Serializer whose output is a JSON object.
type AutoFields struct {
	// Timestamp is on (ISO 8601 UTC) by default.
	Timestamp TimestampMode
	// TimestampField is the field name. Default "timestamp".
	TimestampField string
	// RequestID is off by default.
	RequestID AutoField
	// TraceID is off by default.
	TraceID AutoField
}

func (a *AutoFields) validate() error {
	if a.Timestamp < TimestampISO || a.Timestamp > TimestampOff {
		return errors.New("unknown AutoFields.Timestamp mode")
	}
	for _, f := range []AutoField{a.RequestID, a.TraceID} {
		if f.Mode < FieldOff || f.Mode > FieldRequired {
			return errors.New("unknown AutoField mode")
		}
		if f.Mode == FieldIfMissing && f.Getter == nil {
			return errors.New("AutoField in FieldIfMissing mode needs a Getter")
		}
	}
	return nil
}

func (a *AutoFields) resolve() {
	def(&a.TimestampField, "timestamp")
	def(&a.RequestID.Name, "requestId")
	def(&a.TraceID.Name, "traceId")
}
