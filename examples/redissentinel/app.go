package main

import (
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/examples/internal/routes"
)

// failoverOptions reads the Sentinel wiring from the environment:
// REDIS_SENTINELS, the sentinels as "host:port" separated by commas;
// REDIS_SENTINEL_MASTER, the name they monitor the master under (default
// "mymaster"); REDIS_PASSWORD, the master's and replicas' password; and
// REDIS_SENTINEL_PASSWORD, the sentinels' own, if they have one. The
// client asks the sentinels for the master and follows a failover; the hub
// then subscribes again on the new master.
func failoverOptions(getenv func(string) string) (*redis.FailoverOptions, error) {
	sentinels := routes.SplitList(getenv("REDIS_SENTINELS"))
	if len(sentinels) == 0 {
		return nil, errors.New("REDIS_SENTINELS is not set (host:port,host:port,...)")
	}
	master := getenv("REDIS_SENTINEL_MASTER")
	if master == "" {
		master = "mymaster"
	}
	return &redis.FailoverOptions{
		MasterName:       master,
		SentinelAddrs:    sentinels,
		Password:         getenv("REDIS_PASSWORD"),
		SentinelPassword: getenv("REDIS_SENTINEL_PASSWORD"),
	}, nil
}
