package ssekify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
)

// subscription runs b.Subscribe on its own goroutine.
type subscription struct {
	got  chan string
	done chan error
	stop context.CancelFunc
}

func subscribe(t testing.TB, b ssekify.Broker, channel string) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{got: make(chan string, 100), done: make(chan error, 1), stop: cancel}
	go func() { s.done <- b.Subscribe(ctx, channel, func(p []byte) { s.got <- string(p) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(wait):
			t.Errorf("Subscribe did not return after its context ended")
		}
	})
	return s
}

// next returns the next message, failing after the bounded wait.
func (s *subscription) next(t testing.TB) string {
	t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
		return ""
	}
}

// result waits for Subscribe to return and returns its error.
func (s *subscription) result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatal("Subscribe did not return")
		return nil
	}
}

// numSub returns the number of subscribers of channel on the Redis at addr.
func numSub(t testing.TB, rc *redis.Client, channel string) int64 {
	t.Helper()
	n, err := rc.PubSubNumSub(context.Background(), channel).Result()
	require.NoError(t, err)
	return n[channel]
}

func TestRedisBrokerPubSub(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			rc := redisClient(t, be.start(t))
			b := ssekify.NewRedisBroker(rc)
			s := subscribe(t, b, "ch")
			eventually(t, "subscribed", func() bool { return numSub(t, rc, "ch") == 1 })
			ctx := context.Background()
			for _, m := range []struct{ ch, msg string }{{"ch", "one"}, {"other", "x"}, {"ch", "two\r\n\x00\xff"}} {
				require.NoError(t, b.Publish(ctx, m.ch, []byte(m.msg)))
			}
			require.Equal(t, "one", s.next(t))
			require.Equal(t, "two\r\n\x00\xff", s.next(t), "payloads are bytes, passed through")

			s.stop()
			require.NoError(t, s.result(t), "Subscribe returns nil when its context ends")
			eventually(t, "unsubscribed", func() bool { return numSub(t, rc, "ch") == 0 })
		})
	}
}

func TestRedisBrokerSubscribeFailsWhenConnectionBreaks(t *testing.T) {
	m := miniredis.RunT(t)
	rc := redisClient(t, m.Addr())
	s := subscribe(t, ssekify.NewRedisBroker(rc), "ch")
	eventually(t, "subscribed", func() bool { return numSub(t, rc, "ch") == 1 })
	m.Close()
	require.Error(t, s.result(t))

	// Nothing listens any more: Subscribe fails at once.
	require.Error(t, subscribe(t, ssekify.NewRedisBroker(rc), "ch").result(t))
}

// TestRedisBrokerHealthCheck proves that a subscription whose connection
// silently stops carrying data (a half-open TCP connection) ends with an
// error, while a quiet but healthy one stays up.
func TestRedisBrokerHealthCheck(t *testing.T) {
	m := miniredis.RunT(t)
	p := startProxy(t, m.Addr())
	b := ssekify.NewRedisBroker(redisClient(t, p.addr()), ssekify.WithRedisHealthCheck(20*time.Millisecond))
	s := subscribe(t, b, "ch")
	eventually(t, "three health checks answered", func() bool { return p.pings.Load() >= 3 })
	select {
	case err := <-s.done:
		t.Fatalf("a healthy subscription ended: %v", err)
	default:
	}
	p.blackhole.Store(true)
	err := s.result(t)
	require.ErrorContains(t, err, "PING")
}

func TestRedisBrokerCounter(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			rc := redisClient(t, be.start(t))
			b := ssekify.NewRedisBroker(rc)
			var c ssekify.Counter = b
			ctx := context.Background()
			for want := int64(1); want <= 3; want++ {
				n, err := c.Incr(ctx, "k", time.Minute)
				require.NoError(t, err)
				require.Equal(t, want, n)
			}
			ttl := rc.PTTL(ctx, "k").Val()
			require.True(t, ttl > 50*time.Second && ttl <= time.Minute, "PTTL %v", ttl)

			require.NoError(t, b.Reset(ctx, "k"))
			require.Zero(t, rc.Exists(ctx, "k").Val())
			n, err := c.Incr(ctx, "k", time.Minute)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)

			require.NoError(t, rc.ScriptFlush(ctx).Err())
			n, err = c.Incr(ctx, "k", time.Minute)
			require.NoError(t, err, "the script is loaded again when Redis lost it")
			require.Equal(t, int64(2), n)

			_, err = c.Incr(ctx, "forever", 0)
			require.NoError(t, err)
			require.Equal(t, time.Duration(-1), rc.PTTL(ctx, "forever").Val(), "ttl 0: no expiry")

			require.NoError(t, rc.Set(ctx, "text", "abc", 0).Err())
			_, err = c.Incr(ctx, "text", time.Minute)
			require.Error(t, err, "INCR of a non-number fails")
			require.Equal(t, time.Duration(-1), rc.PTTL(ctx, "text").Val(), "and the transaction set no expiry")
		})
	}
}

func TestRedisBrokerClose(t *testing.T) {
	addr := miniredis.RunT(t).Addr()
	rc := redisClient(t, addr)
	b := ssekify.NewRedisBroker(rc)
	s := subscribe(t, b, "ch")
	eventually(t, "subscribed", func() bool { return numSub(t, rc, "ch") == 1 })

	require.NoError(t, b.Close())
	require.ErrorIs(t, s.result(t), redis.ErrClosed, "Close ends the subscriptions")
	ctx := context.Background()
	require.ErrorIs(t, b.Publish(ctx, "ch", []byte("x")), redis.ErrClosed)
	_, err := b.Incr(ctx, "k", time.Minute)
	require.ErrorIs(t, err, redis.ErrClosed)
	require.ErrorIs(t, b.Reset(ctx, "k"), redis.ErrClosed)
	require.ErrorIs(t, b.Subscribe(ctx, "ch", func([]byte) {}), redis.ErrClosed)
	require.NoError(t, b.Close(), "idempotent")
	require.NoError(t, rc.Ping(ctx).Err(), "the caller's client stays open")

	owned, err := ssekify.NewRedisBrokerURL("redis://" + addr)
	require.NoError(t, err)
	require.NoError(t, owned.Client().Ping(ctx).Err())
	require.NoError(t, owned.Close())
	require.ErrorIs(t, owned.Client().Ping(ctx).Err(), redis.ErrClosed, "a broker closes the client it built")
}

// TestRedisURL drives hubs built from Options.RedisURL against real
// redis-server processes: password and database number, an ACL user, TLS,
// and a wrong password, which is reported rather than fatal.
func TestRedisURL(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("s3cret"))
	_, err := srv.Do("ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all")
	require.NoError(t, err)
	tlsPort := redistest.FreePort(t)
	redistest.Start(t, redistest.WithArgs(tlsArgs(t, tlsPort)...))

	for name, url := range map[string]string{
		"password and db": "redis://:s3cret@" + srv.Addr + "/3",
		"acl user":        "redis://app:app-pw@" + srv.Addr + "/0",
		"tls":             fmt.Sprintf("rediss://127.0.0.1:%d/0?skip_verify=true", tlsPort),
	} {
		t.Run(name, func(t *testing.T) {
			a, b := startNode(t, nil, &ssekify.Options{RedisURL: url}), startNode(t, nil, &ssekify.Options{RedisURL: url})
			broker, owned := ssekify.HubBroker(a.hub)
			require.True(t, owned, "the hub owns the broker it built")
			sA := connect(t, a.srv, "u", "", nil)
			waitLinked(t, b.hub, a.hub, wait)
			require.NoError(t, b.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: "hi"}))
			ev, err := sA.Next(wait)
			require.NoError(t, err)
			require.Equal(t, "hi", text(t, ev))

			n, err := broker.(ssekify.Counter).Incr(context.Background(), "url-test", time.Minute)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)

			shutdownHub(t, a.hub)
			require.ErrorIs(t, broker.(*ssekify.RedisBroker).Client().Ping(context.Background()).Err(), redis.ErrClosed,
				"Shutdown closed the broker the hub built")
		})
	}
	// The database number was honoured.
	db3 := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "s3cret", DB: 3})
	defer db3.Close()
	require.Equal(t, "1", db3.Get(context.Background(), "url-test").Val())

	t.Run("wrong password", func(t *testing.T) {
		var log errorLog
		n := startNode(t, nil, &ssekify.Options{RedisURL: "redis://:wrong@" + srv.Addr + "/0", OnError: log.hook})
		eventually(t, "the failed subscription reported", func() bool {
			return len(log.codes()) > 0
		})
		require.Equal(t, ssekify.CodeBrokerSubscribe, log.codes()[0])
		err := n.hub.Publish(context.Background(), ssekify.Event{Data: "x"})
		require.ErrorIs(t, err, ssekify.ErrBroker)
		require.ErrorContains(t, err, "WRONGPASS")
	})

	t.Run("invalid", func(t *testing.T) {
		for _, url := range []string{"http://user:hunter2@host:6379", "redis://:hunter2@host:6379/notadb", "redis://:hunter2@host:6379/0?nosuch=1"} {
			_, err := ssekify.New(&ssekify.Options{RedisURL: url})
			require.ErrorIs(t, err, ssekify.ErrBroker, url)
			require.NotContains(t, err.Error(), "hunter2", "the password is not quoted")
		}
	})
}

// tlsArgs writes a self-signed certificate and returns the redis-server
// arguments of a TLS listener on port (clients need no certificate).
func tlsArgs(t testing.TB, port int) []string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return []string{"--tls-port", strconv.Itoa(port), "--tls-cert-file", cert, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", cert, "--tls-auth-clients", "no"}
}

// TestRedisOutage kills redis-server under two hubs with open streams:
// local sends still arrive, Publish* deliver locally and return ErrBroker,
// the lost subscription is reported; once Redis is back on the same port,
// cross-instance delivery resumes by itself, the recovery is logged, and no
// goroutine was left behind by the reconnects.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	var log errorLog
	// Clients that give up at once, rather than retrying for a second and a
	// half as go-redis does by default, keep the test short.
	client := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a := startNode(t, ssekify.NewRedisBroker(client()), &ssekify.Options{
		OnError: log.hook, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	b := startNode(t, ssekify.NewRedisBroker(client()), nil)
	sA, sB := connect(t, a.srv, "u", "", nil), connect(t, b.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	before := goleak.IgnoreCurrent()
	ctx := context.Background()

	srv.Kill()
	_, err := a.hub.SendToUser("u", ssekify.Event{Data: "local"})
	require.NoError(t, err)
	err = b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "during"})
	require.ErrorIs(t, err, ssekify.ErrBroker)
	_, err = b.hub.SendToUser("u", ssekify.Event{Data: "local-b"})
	require.NoError(t, err)
	require.Equal(t, []string{"local"}, collectUntil(t, sA, "local"))
	// A publish that failed is not delivered, here either: it is not
	// known to be in the log.
	require.Equal(t, []string{"local-b"}, collectUntil(t, sB, "local-b"))
	eventually(t, "the lost subscription reported", func() bool {
		codes := log.codes()
		return len(codes) > 0 && codes[0] == ssekify.CodeBrokerSubscribe
	})
	require.Positive(t, a.hub.Stats().BrokerReconnects)

	srv.Restart(t)
	waitLinked(t, b.hub, a.hub, 3*wait)
	publishAll(t, toUser(b.hub, "u", "after"), toAll(a.hub, "fence-a"), toAll(b.hub, "fence-b"))
	// The restarted Redis, without persistence, lost the logs (a new
	// epoch): each stream is told, before what came after.
	first, err := sA.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "gap:reset", text(t, first))
	require.Equal(t, sorted("after", "fence-a", "fence-b"), collectUntil(t, sA, "fence-b"))
	first, err = sB.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "gap:reset", text(t, first))
	require.Equal(t, sorted("after", "fence-a", "fence-b"), collectUntil(t, sB, "fence-b"))
	require.Equal(t, int64(1), a.hub.Stats().LogResets)
	require.Contains(t, logs.String(), "broker subscription restored")
	require.Contains(t, logs.String(), "broker subscription lost")

	// The reconnects left nothing behind; only the new redis-server
	// process has its own reaper goroutine, and each hub's new
	// subscription its one route sender.
	require.NoError(t, goleak.Find(before,
		goleak.IgnoreAnyFunction("github.com/ssekify/ssekify/internal/redistest.(*Server).launch.func1"),
		goleak.IgnoreAnyFunction("github.com/ssekify/ssekify.(*router).send")))
	require.Equal(t, 2, strings.Count(goroutines(), "ssekify.(*router).send("), "one route sender per hub")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proxy forwards TCP connections to a target; with blackhole set it drops
// everything, as a network partition does, without closing anything.
type proxy struct {
	ln        net.Listener
	target    string
	blackhole atomic.Bool
	pings     atomic.Int64 // client writes containing PING

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(u, c, true)
		go p.pipe(c, u, false)
	}
}

// pipe copies from src to dst until either closes, dropping what it reads
// while blackhole is set.
func (p *proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.blackhole.Load() {
			if fromClient && strings.Contains(strings.ToLower(string(buf[:n])), "ping") {
				p.pings.Add(1)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, reset or closed: the connection is over
		}
	}
}

// BenchmarkCrossInstance measures an event's trip from a publish on hub B,
// through a real redis-server, to a stream on hub A, next to a local send
// on A to the same stream ("redis-seq" publishes from a hub that numbers
// the payload's requestId scope; "throughput/plain-PUBLISH" is a bare
// go-redis PUBLISH, the round trip's reference). "throughput" sends back
// to back from one
// goroutine (RunParallel for "throughput-parallel") and reports the events
// per second the stream received; "latency" sends 1,000 events per second
// and reports the 50th and 99th percentile of send-to-read time.
func BenchmarkCrossInstance(b *testing.B) {
	srv := redistest.Start(b)
	opts := &ssekify.Options{MaxQueueItems: 1 << 22, MaxQueueBytes: 1 << 30, RecentBufferSize: -1,
		Seq: ssekify.SeqOptions{Disabled: true}, AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}}
	a := startNode(b, ssekify.NewRedisBroker(redisClient(b, srv.Addr)), opts)
	pub := startNode(b, ssekify.NewRedisBroker(redisClient(b, srv.Addr)), opts)
	seqOpts := *opts
	seqOpts.Seq = ssekify.SeqOptions{}
	pubSeq := startNode(b, ssekify.NewRedisBroker(redisClient(b, srv.Addr)), &seqOpts)
	s := connect(b, a.srv, "u", "", nil)
	waitLinked(b, pub.hub, a.hub, wait)
	ctx := context.Background()
	paths := []struct {
		name string
		send func(data json.RawMessage) error
	}{
		{"local", func(d json.RawMessage) error { _, err := a.hub.SendToUser("u", ssekify.Event{Data: d}); return err }},
		{"redis", func(d json.RawMessage) error { return pub.hub.PublishToUser(ctx, "u", ssekify.Event{Data: d}) }},
		// The payload's requestId makes this hub number it (Seq on).
		{"redis-seq", func(d json.RawMessage) error { return pubSeq.hub.PublishToUser(ctx, "u", ssekify.Event{Data: d}) }},
	}
	// The reference: a plain PUBLISH that no one receives, back to back.
	b.Run("throughput/plain-PUBLISH", func(b *testing.B) {
		rc := redisClient(b, srv.Addr)
		payload := []byte(`{"requestId":"bench","phase":"progress","text":"hello, world"}`)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := rc.Publish(ctx, "bench:nobody", payload).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	payload := json.RawMessage(`{"requestId":"bench","phase":"progress","text":"hello, world"}`)
	for _, p := range paths {
		b.Run("throughput/"+p.name, func(b *testing.B) {
			got := collectAsync(s, b.N, time.Minute)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.send(payload); err != nil {
					b.Fatal(err)
				}
			}
			n := len(<-got)
			b.StopTimer()
			if n != b.N {
				b.Fatalf("received %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run("throughput-parallel/"+p.name, func(b *testing.B) {
			got := collectAsync(s, b.N, time.Minute)
			var failed atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p.send(payload) != nil {
						failed.Add(1)
					}
				}
			})
			n := len(<-got)
			b.StopTimer()
			if failed.Load() > 0 || n != b.N {
				b.Fatalf("received %d of %d; %d sends failed", n, b.N, failed.Load())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run("latency/"+p.name, func(b *testing.B) {
			lat := make(chan []time.Duration, 1)
			go func() {
				out := make([]time.Duration, 0, b.N)
				for len(out) < b.N {
					ev, err := s.Next(wait)
					if err != nil {
						break
					}
					var v struct{ T int64 }
					if json.Unmarshal([]byte(ev.Data), &v) == nil {
						out = append(out, time.Duration(time.Now().UnixNano()-v.T))
					}
				}
				lat <- out
			}()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				<-tick.C
				if err := p.send(json.RawMessage(`{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`)); err != nil {
					b.Fatal(err)
				}
			}
			d := <-lat
			b.StopTimer()
			if len(d) != b.N {
				b.Fatalf("received %d of %d", len(d), b.N)
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
		})
	}
}
