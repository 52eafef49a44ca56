package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	// sentinelReadyTimeout bounds StartSentinel's wait for the sentinels to
	// see the master, its replicas and each other.
	sentinelReadyTimeout = 20 * time.Second
	// replicaSyncTimeout bounds the wait for replicas to finish their first
	// synchronization.
	replicaSyncTimeout = 10 * time.Second
)

// Sentinel is a monitored master with replicas and a group of redis-sentinel
// processes, configured to fail over quickly (down-after-milliseconds 1000,
// failover-timeout 3000).
type Sentinel struct {
	// Master is the current master. WaitFailover replaces it with the
	// promoted replica.
	Master *Server
	// Replicas are the current replicas. WaitFailover removes the promoted
	// replica and appends the former master.
	Replicas []*Server
	// Sentinels are the "host:port" addresses of the sentinel processes.
	Sentinels []string
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// Quorum is the number of sentinels that must agree the master is down.
	Quorum int

	procs []*Server
}

// StartSentinel starts a master, the given number of replicas of it and the
// given number of sentinels monitoring it as masterName, with quorum 2 (or 1
// with a single sentinel). It waits until the replicas are synchronized and
// every sentinel knows the master, every replica as healthy and every other
// sentinel, so that a failover can start at once.
func StartSentinel(t testing.TB, masterName string, replicas, sentinels int) *Sentinel {
	t.Helper()
	if sentinels < 1 {
		t.Fatalf("redistest: StartSentinel needs at least one sentinel")
	}
	bin := Require(t, "redis-sentinel")
	s := &Sentinel{MasterName: masterName, Quorum: min(2, sentinels)}
	s.Master = Start(t)
	for i := 0; i < replicas; i++ {
		s.Replicas = append(s.Replicas, Start(t, WithReplicaOf(s.Master.Addr)))
	}
	// Sentinels read replica state from INFO only every few seconds, so let
	// the replicas finish syncing first: their first INFO then reports them
	// healthy.
	WaitFor(t, replicaSyncTimeout, "replicas to sync with the master", func() bool {
		for _, r := range s.Replicas {
			if v, err := infoField(r.Addr, "", "replication", "master_link_status"); err != nil || v != "up" {
				return false
			}
		}
		v, err := infoField(s.Master.Addr, "", "replication", "connected_slaves")
		return err == nil && v == strconv.Itoa(replicas)
	})

	for i := 0; i < sentinels; i++ {
		p := &Server{Dir: t.TempDir(), bin: bin}
		conf := filepath.Join(p.Dir, "sentinel.conf")
		p.args = func(p *Server) []string {
			// The sentinel rewrites its configuration file, so write a fresh
			// one for every launch attempt.
			text := fmt.Sprintf(
				"port %d\nbind 127.0.0.1\ndir %s\n"+
					"sentinel monitor %s 127.0.0.1 %d %d\n"+
					"sentinel down-after-milliseconds %s 1000\n"+
					"sentinel failover-timeout %s 3000\n"+
					"sentinel parallel-syncs %s 1\n",
				p.Port, p.Dir, masterName, s.Master.Port, s.Quorum, masterName, masterName, masterName)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				panic(err) // the test's own temporary directory is not writable
			}
			return []string{conf}
		}
		p.startOnFreePort(t, false)
		s.procs = append(s.procs, p)
		s.Sentinels = append(s.Sentinels, p.Addr)
	}

	WaitFor(t, sentinelReadyTimeout, "sentinels to discover the master, its replicas and each other", func() bool {
		for _, addr := range s.Sentinels {
			if got, err := s.masterAddrFrom(addr); err != nil || got != s.Master.Addr {
				return false
			}
			if n, err := s.healthyReplicas(addr); err != nil || n != replicas {
				return false
			}
			reply, err := Do(addr, "", "SENTINEL", "SENTINELS", masterName)
			if list, ok := reply.([]any); err != nil || !ok || len(list) != sentinels-1 {
				return false
			}
		}
		return true
	})
	return s
}

// masterAddrFrom asks the sentinel at addr for the master's address.
func (s *Sentinel) masterAddrFrom(addr string) (string, error) {
	reply, err := Do(addr, "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	hp, ok := reply.([]any)
	if !ok || len(hp) != 2 {
		return "", fmt.Errorf("unexpected reply %v", reply)
	}
	host, _ := hp[0].(string)
	port, _ := hp[1].(string)
	return net.JoinHostPort(host, port), nil
}

// healthyReplicas counts the replicas the sentinel at addr considers healthy
// and in sync.
func (s *Sentinel) healthyReplicas(addr string) (int, error) {
	reply, err := Do(addr, "", "SENTINEL", "REPLICAS", s.MasterName)
	if err != nil {
		return 0, err
	}
	list, _ := reply.([]any)
	n := 0
	for _, item := range list {
		fields := pairs(item)
		if fields["flags"] == "slave" && fields["master-link-status"] == "ok" {
			n++
		}
	}
	return n, nil
}

// pairs turns a flat [key, value, ...] reply into a map.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// MasterAddr asks the sentinels, in order, for the current master address and
// returns the first answer.
func (s *Sentinel) MasterAddr() (string, error) {
	var err error
	for _, addr := range s.Sentinels {
		var got string
		if got, err = s.masterAddrFrom(addr); err == nil {
			return got, nil
		}
	}
	return "", err
}

// KillMaster kills the current master with SIGKILL.
func (s *Sentinel) KillMaster() { s.Master.Kill() }

// WaitFailover waits at most timeout until the sentinels fail over from the
// current Master: until every sentinel reports the same new master address and
// the server there answers ROLE as a master. It returns that address, updates
// Master and Replicas to match, and fails the test on timeout.
func (s *Sentinel) WaitFailover(t testing.TB, timeout time.Duration) string {
	t.Helper()
	old := s.Master.Addr
	var newAddr string
	WaitFor(t, timeout, "sentinel failover away from "+old, func() bool {
		newAddr = ""
		for _, addr := range s.Sentinels {
			got, err := s.masterAddrFrom(addr)
			if err != nil || got == old || (newAddr != "" && got != newAddr) {
				return false
			}
			newAddr = got
		}
		reply, err := Do(newAddr, "", "ROLE")
		role, ok := reply.([]any)
		return err == nil && ok && len(role) > 0 && role[0] == "master"
	})
	for i, r := range s.Replicas {
		if r.Addr == newAddr {
			s.Replicas = append(append(s.Replicas[:i:i], s.Replicas[i+1:]...), s.Master)
			s.Master = r
			break
		}
	}
	return newAddr
}

// Server returns the managed master or replica listening on addr, or nil.
func (s *Sentinel) Server(addr string) *Server {
	for _, srv := range append([]*Server{s.Master}, s.Replicas...) {
		if srv.Addr == addr {
			return srv
		}
	}
	return nil
}
