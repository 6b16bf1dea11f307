package testutil

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NewNetNS makes a fresh network namespace for the test (lo up if loUp)
// and returns an open handle to it, closed when the test ends, and its
// path (/proc/self/fd/N). The thread that made it is discarded, so no
// goroutine of the test ever runs in the wrong namespace.
func NewNetNS(t testing.TB, loUp bool) (netns.NsHandle, string) {
	t.Helper()
	type res struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		ch <- res{ns, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("new network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	if loUp {
		h, err := netlink.NewHandleAt(r.ns)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err == nil {
			err = h.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("lo up in the new namespace: %v", err)
		}
	}
	return r.ns, "/proc/self/fd/" + strconv.Itoa(int(r.ns))
}
