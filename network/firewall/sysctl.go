package firewall

import (
	"bytes"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// EnableForwarding sets net.ipv4.ip_forward=1, which hull's networks
// need to reach anything beyond their bridge. It writes
// /proc/sys/net/ipv4/ip_forward only if it is not already 1. The setting
// is per network namespace; WithNetNS picks another one than the
// caller's.
func EnableForwarding(opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if err := cfg.run(func() error { return setSysctl("/proc/sys/net/ipv4/ip_forward", "1") }); err != nil {
		return fmt.Errorf("firewall: enable IPv4 forwarding: %w", err)
	}
	return nil
}

// RouteLocalnet sets net.ipv4.conf.<bridge>.route_localnet=1, without
// which the kernel refuses to route packets with a 127.0.0.0/8 source
// out of the bridge: connections to 127.0.0.1:<published port> are
// DNATed to the container before their source is masqueraded, so they
// need it. It writes only if the value is not already 1. The bridge must
// exist; WithNetNS picks its network namespace.
func RouteLocalnet(bridge string, opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if err := validIfName(bridge); err != nil {
		return fmt.Errorf("firewall: route_localnet: %w", err)
	}
	path := "/proc/sys/net/ipv4/conf/" + bridge + "/route_localnet"
	if err := cfg.run(func() error { return setSysctl(path, "1") }); err != nil {
		return fmt.Errorf("firewall: route_localnet on %s: %w", bridge, err)
	}
	return nil
}

// setSysctl writes val to the sysctl file path unless it already holds
// it.
func setSysctl(path, val string) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(cur)) == val {
		return nil
	}
	return os.WriteFile(path, []byte(val+"\n"), 0o644)
}

// run calls fn in the configured network namespace. /proc/sys/net shows
// the namespace of the thread that opens a file in it, so for another
// namespace fn runs on a fresh OS thread that enters it; that thread is
// never unlocked, so the Go runtime ends it with the goroutine instead of
// reusing it in the wrong namespace.
func (c config) run(fn func() error) error {
	if !c.inNetNS {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(c.netns, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace (fd %d): %w", c.netns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
