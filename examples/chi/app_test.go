package main

import (
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
)

func TestChiRoutesDeliverEvents(t *testing.T) {
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	extest.CheckQuickStartRoutes(t, extest.Serve(t, newRouter(hub)))
}
