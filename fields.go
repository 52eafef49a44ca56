package ssekify

import "encoding/json"

// Fields is a read-only view of the top-level members of a JSON object
// payload, given to SeqOptions.KeyExtractor and FinalPredicate.
type Fields struct {
	obj []byte
}

// Get returns the raw JSON value of the top-level member name.
func (f Fields) Get(name string) (json.RawMessage, bool) {
	return nil, false
}
