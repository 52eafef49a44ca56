package main

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
)

func TestGinRoutesDeliverEvents(t *testing.T) {
	gin.SetMode(gin.TestMode)
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	extest.CheckQuickStartRoutes(t, extest.Serve(t, newRouter(hub)))
}
