package ssekify

import "fmt"

// Bounds of the inputs that the hub keeps in memory or writes back to a
// client. An input beyond its bound is refused with an error wrapping
// ErrTooLong (Register answers 400); nothing is kept or written.
const (
	// MaxEventIDBytes bounds Event.ID and the ids FrameID returns. A browser
	// sends the last id back as the Last-Event-ID header on every reconnect:
	// well under the header limits of net/http and proxies, so that one
	// event can never make a client's reconnects fail for good.
	MaxEventIDBytes = 1024
	// MaxEventNameBytes bounds Event.Name.
	MaxEventNameBytes = 1024
	// MaxUserIDBytes bounds a user id (Register, SendToUser, PublishToUser,
	// CloseUser, JoinRoom, LeaveRoom).
	MaxUserIDBytes = 256
	// MaxRoomBytes bounds a room name.
	MaxRoomBytes = 256
	// MaxRoomsPerStream bounds the rooms one stream may be in.
	MaxRoomsPerStream = 256
	// MaxScopeKeyBytes bounds a seq scope key (requestId or streamId): a
	// payload whose key is longer is refused.
	MaxScopeKeyBytes = 256
	// MaxHeaderBytes bounds the keys and values of Options.Headers and of
	// RegisterOptions.Headers (each; New and Register refuse more).
	MaxHeaderBytes = 16 << 10
	// MaxInstanceIDBytes bounds Options.InstanceID, which every default
	// frame id and every envelope carries.
	MaxInstanceIDBytes = 64
	// MaxChannelBytes bounds Options.Channel, which names every key of the
	// logs and counters on Redis.
	MaxChannelBytes = 256
	// MaxLastEventIDBytes is the longest Last-Event-ID that can name a
	// position; a longer one is treated as unknown (gap event) and reported.
	MaxLastEventIDBytes = 1024
)

// checkLen returns an error wrapping ErrTooLong when s is longer than max.
// what names the input in the message; the value itself is clipped.
func checkLen(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes %q, limit %d", ErrTooLong, what, len(s), clip(s), max)
	}
	return nil
}
