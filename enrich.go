package ssekify

import "context"

// seqAllocator hands out sequence numbers per scope key.
type seqAllocator struct{}

func newSeqAllocator(h *Hub) *seqAllocator { return &seqAllocator{} }

// enrich adds auto fields and seq to an object payload.
func (h *Hub) enrich(ctx context.Context, data []byte, global bool) ([]byte, error) {
	return data, nil
}
