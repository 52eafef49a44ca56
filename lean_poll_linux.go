package ssekify

import (
	"errors"
	"sync"
	"syscall"
)

// poller watches the sockets of a hub's lean streams for their peers'
// leaving: one epoll instance and one goroutine, blocked in epoll_wait,
// for every stream. A socket is registered for EPOLLRDHUP (the peer's FIN)
// once (EPOLLONESHOT), and epoll always reports EPOLLHUP and EPOLLERR (a
// reset); what a client sends is never read and wakes nothing. Each event
// carries the stream's token, never its descriptor, so a descriptor
// closed and reused can not be mistaken for another stream. The Go
// runtime's own poller keeps its registration of the same sockets.
type poller struct {
	epfd int
	wake [2]int // a pipe; a byte in it stops the loop

	mu     sync.Mutex
	conns  map[uint64]*Conn // by token
	closed bool             // epfd is closed
	users  int              // streams registered, guarded by leanHub.mu

	stopOnce sync.Once
	done     chan struct{} // closed when the loop returned
}

// newPoller starts a poller, or returns nil where epoll is not available.
func newPoller() *poller {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &poller{epfd: epfd, conns: make(map[uint64]*Conn), done: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // token 0
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFds()
		return nil
	}
	go p.run()
	return p
}

// add registers c's socket; false when it has no descriptor (the caller
// then watches it with a reader).
func (p *poller) add(c *Conn) bool {
	sc, ok := rawConn(c.lean.nc).(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	tok := c.lean.token
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[tok] = c
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err = errors.Join(err, cerr); err != nil {
		delete(p.conns, tok)
		return false
	}
	return true
}

// remove unregisters c's socket, before it is closed.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c.lean.token)
	if p.closed {
		return
	}
	if sc, ok := rawConn(c.lean.nc).(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
			})
		}
	}
}

// run waits for events until stopped and closes the streams whose peers
// left, outside the lock.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var gone []*Conn
	for stop := false; !stop; {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			break
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if tok == 0 {
				stop = true
			} else if c := p.conns[tok]; c != nil {
				delete(p.conns, tok)
				gone = append(gone, c)
			}
		}
		p.mu.Unlock()
		for _, c := range gone {
			c.close(errClientGone)
		}
		clear(gone)
		gone = gone[:0]
	}
	p.mu.Lock()
	p.closed = true
	p.closeFds()
	p.mu.Unlock()
}

// stop ends the loop and waits for it; it may be called more than once.
func (p *poller) stop() {
	p.stopOnce.Do(func() { _, _ = syscall.Write(p.wake[1], []byte{1}) })
	<-p.done
}

func (p *poller) closeFds() {
	_ = syscall.Close(p.wake[0])
	_ = syscall.Close(p.wake[1])
	_ = syscall.Close(p.epfd)
}
