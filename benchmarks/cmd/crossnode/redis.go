package main

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"
)

// redisVersion returns INFO server's redis_version, or "?".
func redisVersion(ctx context.Context, c *redis.Client) string {
	m, err := redisproc.Info(ctx, c, "server")
	if err != nil || m["redis_version"] == "" {
		return "?"
	}
	return m["redis_version"]
}

// flushAll empties the server (FLUSHALL) within 10 s, so that one
// library's keys do not weigh on the next one's run.
func flushAll(ctx context.Context, c *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.FlushAll(ctx).Err()
}

// errNoRedis is returned when redis-server can not be found.
var errNoRedis = errors.New("redis-server not found in PATH (install it, or pass -redis-server PATH)")
