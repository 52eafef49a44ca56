package ssekify

// StopSubscription stops h's broker subscription and waits for its
// goroutine to end, as Shutdown does.
func StopSubscription(h *Hub) {
	if h.subStop != nil {
		h.subStop()
	}
}

// HubBroker returns h's broker and whether h built it (and so closes it).
func HubBroker(h *Hub) (Broker, bool) { return h.broker, h.ownsBroker }

// DecodeEnvelopeFrame decodes raw as h does when it receives it from the
// broker and returns the frame h would deliver.
func DecodeEnvelopeFrame(h *Hub, raw []byte) ([]byte, error) {
	m, _, err := h.decodeEnvelope(raw)
	if err != nil {
		return nil, err
	}
	return m.frame, nil
}

// MaxEnvelopeBytes is the largest envelope h accepts.
func MaxEnvelopeBytes(h *Hub) int { return h.maxEnvelopeBytes() }
