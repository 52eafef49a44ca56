package main

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

// newRouter returns the routes of examples/nethttp on a gin engine.
func newRouter(hub *ssekify.Hub) *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())

	// The stream: hand c.Writer and c.Request to Register and return when
	// it returns. c.Writer flushes and unwraps to net/http's writer, so
	// flushing and write deadlines reach the connection.
	//
	// Avoid here:
	//   - c.SSEvent and c.Stream: gin's own SSE writing, with no queue,
	//     heartbeat or replay, would interleave with the hub's frames;
	//   - c.JSON, c.String or c.AbortWithStatus after Register returns:
	//     the response is already written (an error status too);
	//   - gzip middleware (gin-contrib/gzip) on this route: exclude /sse,
	//     or events sit in the compressor's buffer.
	r.GET("/sse", func(c *gin.Context) {
		userID := c.Query("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(c.Writer, c.Request, userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
	})

	r.POST("/notify/:userId", func(c *gin.Context) {
		data, ok := body(c)
		if !ok {
			return
		}
		n, err := hub.SendToUser(c.Param("userId"), ssekify.Event{Name: "notify", Data: data})
		reply(c, err, gin.H{"delivered": n})
	})
	r.POST("/broadcast", func(c *gin.Context) {
		data, ok := body(c)
		if !ok {
			return
		}
		err := hub.Publish(c.Request.Context(), ssekify.Event{Name: "broadcast", Data: data})
		reply(c, err, gin.H{"ok": true})
	})
	r.POST("/room/:room", func(c *gin.Context) {
		data, ok := body(c)
		if !ok {
			return
		}
		n, err := hub.SendToRoom(c.Param("room"), ssekify.Event{Name: "room", Data: data})
		reply(c, err, gin.H{"delivered": n})
	})
	r.POST("/publish-room/:room", func(c *gin.Context) {
		data, ok := body(c)
		if !ok {
			return
		}
		err := hub.PublishToRoom(c.Request.Context(), c.Param("room"), ssekify.Event{Name: "room", Data: data})
		reply(c, err, gin.H{"ok": true})
	})
	r.POST("/close/:userId", func(c *gin.Context) {
		hub.CloseUser(c.Param("userId"))
		c.JSON(http.StatusOK, gin.H{"closed": true})
	})
	r.GET("/stats", func(c *gin.Context) {
		c.JSON(http.StatusOK, hub.Stats())
	})
	return r
}

// body reads the request's JSON body (an empty body is {}). On bad input it
// answers 400 and reports false.
func body(c *gin.Context) (json.RawMessage, bool) {
	raw, err := routes.ReadBody(c.Writer, c.Request)
	if err != nil {
		reply(c, err, nil)
		return nil, false
	}
	return raw, true
}

// reply answers v as JSON, or err as {"error": "..."} with status 400.
func reply(c *gin.Context, err error, v any) {
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, v)
}
