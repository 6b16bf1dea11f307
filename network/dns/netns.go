package dns

import (
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenInNetns opens a UDP socket and a TCP listener on addr (e.g.
// "127.0.0.11:53") inside the network namespace at nsPath (e.g.
// /proc/<pid>/ns/net), without moving the calling goroutine or its thread:
// the sockets are made on a fresh goroutine that locks its OS thread,
// joins the namespace and never unlocks, so that the thread is discarded
// when that goroutine ends (safe whatever state it is left in). A socket
// stays in the namespace it was made in, so the returned sockets can be
// served from any goroutine while everything else the process does
// (forwarding, above all) stays in its own namespace. The namespace needs
// its loopback up for a 127.0.0.0/8 address.
func ListenInNetns(nsPath, addr string) (net.PacketConn, net.Listener, error) {
	type result struct {
		pc  net.PacketConn
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread leaves the process with this goroutine.
		runtime.LockOSThread()
		pc, ln, err := listenHere(nsPath, addr)
		ch <- result{pc, ln, err}
	}()
	r := <-ch
	return r.pc, r.ln, r.err
}

// listenHere joins the thread to the namespace at nsPath and opens the
// sockets there. The caller must have locked the thread and must not let
// it run anything else afterwards.
func listenHere(nsPath, addr string) (net.PacketConn, net.Listener, error) {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen on udp %s in %s: %w", addr, nsPath, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("dns: listen on tcp %s in %s: %w", addr, nsPath, err)
	}
	return pc, ln, nil
}
