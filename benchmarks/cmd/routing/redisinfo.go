package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"
)

// redisInfo is what the report reads from INFO stats and INFO
// commandstats.
type redisInfo struct {
	netOut, netIn  int64            // total_net_output_bytes, total_net_input_bytes
	commands       int64            // total_commands_processed
	pubsubChannels int64            // pubsub_channels (shard channels apart)
	shardChannels  int64            // pubsubshard_channels (Redis 7)
	calls          map[string]int64 // calls per command, "subscribe" → n
}

// readRedisInfo reads INFO stats, then INFO commandstats.
func readRedisInfo(ctx context.Context, c *redis.Client) (redisInfo, error) {
	st, err := redisproc.Info(ctx, c, "stats")
	if err != nil {
		return redisInfo{}, err
	}
	cs, err := redisproc.Info(ctx, c, "commandstats")
	if err != nil {
		return redisInfo{}, err
	}
	ri := redisInfo{
		netOut: atoi(st["total_net_output_bytes"]), netIn: atoi(st["total_net_input_bytes"]),
		commands: atoi(st["total_commands_processed"]), pubsubChannels: atoi(st["pubsub_channels"]),
		shardChannels: atoi(st["pubsubshard_channels"]), calls: make(map[string]int64),
	}
	for k, v := range cs {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				ri.calls[name] = atoi(n)
			}
		}
	}
	return ri, nil
}

// callsSince is the calls per command from a to ri, the commands that ran
// only; INFO itself (the coordinator's) is left out.
func (ri redisInfo) callsSince(a redisInfo) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range ri.calls {
		if d := v - a.calls[k]; d != 0 && k != "info" {
			out[k] = d
		}
	}
	return out
}

// atoi parses a decimal integer, 0 when it is not one.
func atoi(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}
