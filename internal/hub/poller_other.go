//go:build !linux

package hub

import (
	"errors"
	"net"
	"syscall"
)

// Without epoll every connection gets a read goroutine (see conn.go).
type poller struct{}

func newPoller(func(*Conn)) (*poller, error) { return nil, errors.New("no reactor on this OS") }

func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (*poller) add(*Conn, syscall.RawConn) error { return errors.New("no reactor") }
func (*poller) remove(*Conn)                     {}
func (*poller) kick(*Conn)                       {}
func (*poller) close()                           {}

var errWouldBlock = errors.New("would block")

func readRaw(int, []byte) (int, error) { return 0, errWouldBlock }
