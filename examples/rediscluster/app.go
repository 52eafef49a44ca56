package main

import (
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/examples/internal/routes"
)

// clusterOptions reads the Cluster's wiring from the environment:
// REDIS_CLUSTER_NODES, some or all of the nodes as "host:port" separated by
// commas (the client discovers the rest), and REDIS_PASSWORD.
func clusterOptions(getenv func(string) string) (*redis.ClusterOptions, error) {
	nodes := routes.SplitList(getenv("REDIS_CLUSTER_NODES"))
	if len(nodes) == 0 {
		return nil, errors.New("REDIS_CLUSTER_NODES is not set (host:port,host:port,...)")
	}
	return &redis.ClusterOptions{
		Addrs:    nodes,
		Password: getenv("REDIS_PASSWORD"),
	}, nil
}
