package main

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
)

// newRouter returns the routes of examples/nethttp on an echo instance.
func newRouter(hub *ssekify.Hub) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	// Compression for the JSON routes, skipped on the stream: a compressor
	// buffers, and the events would sit in its buffer. Keep
	// middleware.Timeout off /sse too: it ends the request's context.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		Skipper: func(c echo.Context) bool { return c.Path() == "/sse" },
	}))

	// The stream: hand c.Response() and c.Request() to Register. Response
	// flushes and unwraps to net/http's writer, and it records that the
	// response was written. Return nil: an error returned here would make
	// echo's error handler write to a response Register has already
	// written (an error status too).
	e.GET("/sse", func(c echo.Context) error {
		userID := c.QueryParam("userId")
		if userID == "" {
			userID = "guest"
		}
		_ = hub.Register(c.Response(), c.Request(), userID, &ssekify.RegisterOptions{Rooms: []string{"global"}})
		return nil
	})

	e.POST("/notify/:userId", func(c echo.Context) error {
		data, err := body(c)
		if err != nil {
			return reply(c, err, nil)
		}
		n, err := hub.SendToUser(c.Param("userId"), ssekify.Event{Name: "notify", Data: data})
		return reply(c, err, map[string]any{"delivered": n})
	})
	e.POST("/broadcast", func(c echo.Context) error {
		data, err := body(c)
		if err != nil {
			return reply(c, err, nil)
		}
		err = hub.Publish(c.Request().Context(), ssekify.Event{Name: "broadcast", Data: data})
		return reply(c, err, map[string]any{"ok": true})
	})
	e.POST("/room/:room", func(c echo.Context) error {
		data, err := body(c)
		if err != nil {
			return reply(c, err, nil)
		}
		n, err := hub.SendToRoom(c.Param("room"), ssekify.Event{Name: "room", Data: data})
		return reply(c, err, map[string]any{"delivered": n})
	})
	e.POST("/publish-room/:room", func(c echo.Context) error {
		data, err := body(c)
		if err != nil {
			return reply(c, err, nil)
		}
		err = hub.PublishToRoom(c.Request().Context(), c.Param("room"), ssekify.Event{Name: "room", Data: data})
		return reply(c, err, map[string]any{"ok": true})
	})
	e.POST("/close/:userId", func(c echo.Context) error {
		hub.CloseUser(c.Param("userId"))
		return c.JSON(http.StatusOK, map[string]any{"closed": true})
	})
	e.GET("/stats", func(c echo.Context) error {
		return c.JSON(http.StatusOK, hub.Stats())
	})
	return e
}

// body reads the request's JSON body; an empty body is {}.
func body(c echo.Context) (json.RawMessage, error) {
	return routes.ReadBody(c.Response(), c.Request())
}

// reply answers v as JSON, or err as {"error": "..."} with status 400.
func reply(c echo.Context, err error, v any) error {
	if err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	return c.JSON(http.StatusOK, v)
}
