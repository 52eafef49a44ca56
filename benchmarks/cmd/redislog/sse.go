package main

import (
	"encoding/json"

	"github.com/ssekify/ssekify/benchmarks/internal/sseclient"
)

// gapEventName is the event ssekify writes where a stream lost events.
const gapEventName = "ssekify:gap"

// gapInfo is what the tool reads of a gap event's data.
type gapInfo struct {
	Reason string `json:"reason"`
	Missed int    `json:"missed"`
	Exact  bool   `json:"exact"`
}

// gapOf parses ev's data as a gap event.
func gapOf(ev sseclient.Event) (gapInfo, bool) {
	if ev.Name != gapEventName {
		return gapInfo{}, false
	}
	var g gapInfo
	if err := json.Unmarshal(ev.Data, &g); err != nil {
		return gapInfo{Reason: "unparsed"}, true
	}
	return g, true
}
