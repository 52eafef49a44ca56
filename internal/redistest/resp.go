package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// doTimeout bounds one Do call: connecting, writing and reading.
const doTimeout = 2 * time.Second

// ReplyError is an error reply ("-ERR ...") from the server.
type ReplyError string

// Error returns the reply text, such as "ERR unknown command".
func (e ReplyError) Error() string { return string(e) }

// Do connects to addr, authenticates with password when it is not empty, sends
// one command and returns its RESP2 reply: a string for simple and bulk
// strings, an int64 for integers, nil for a null reply, []any for arrays and a
// ReplyError for an error reply. The whole exchange is bounded to 2 s. It
// opens a new connection per call and starts no goroutines.
func Do(addr, password string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, doTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(doTimeout)); err != nil {
		return nil, err
	}
	w := bufio.NewWriter(conn)
	if password != "" {
		writeCommand(w, "AUTH", password)
	}
	writeCommand(w, args...)
	if err := w.Flush(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := readReply(r); err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return readReply(r)
}

func writeCommand(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// readReply reads one RESP2 reply. An error reply is returned as a
// ReplyError error at the top level and as a ReplyError value inside arrays.
func readReply(r *bufio.Reader) (any, error) {
	v, err := readValue(r)
	if err != nil {
		return nil, err
	}
	if re, ok := v.(ReplyError); ok {
		return nil, re
	}
	return v, nil
}

func readValue(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return ReplyError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readValue(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errors.New("unknown reply type " + strconv.Quote(line))
}
