package network

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Resolver answers the embedded DNS server's local names for one
// container: the names of every container that shares a network with
// it, each with its addresses on the shared networks. It reads the
// sandboxes again only when their directory changed.
type Resolver struct {
	s  *Store
	id string

	mu sync.Mutex
	// stamp is the sandboxes directory's mtime at the last read; fresh
	// says it can be trusted (it was not within the file system's
	// timestamp granularity of the read).
	stamp time.Time
	fresh bool
	names map[string][]netip.Addr
	ptr   map[netip.Addr][]string
}

// Resolver returns the resolver of a container's embedded DNS server.
func (s *Store) Resolver(containerID string) *Resolver {
	return &Resolver{s: s, id: containerID}
}

// LookupA returns the IPv4 addresses of a local name and whether the
// name is local at all.
func (r *Resolver) LookupA(name string) ([]netip.Addr, bool) {
	r.refresh()
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.names[strings.ToLower(strings.TrimSuffix(name, "."))]
	return a, ok
}

// LookupPTR returns the names of a local address.
func (r *Resolver) LookupPTR(addr netip.Addr) []string {
	r.refresh()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ptr[addr]
}

func (r *Resolver) refresh() {
	dir := filepath.Join(r.s.dir, "sandboxes")
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fresh && fi.ModTime().Equal(r.stamp) {
		return
	}
	// Two changes within the timestamp granularity leave the same
	// mtime: a read that close to the last change is not trusted for
	// the next query.
	r.stamp, r.fresh = fi.ModTime(), time.Since(fi.ModTime()) > 50*time.Millisecond
	sbs, err := r.s.sandboxes()
	if err != nil {
		return
	}
	mine := map[string]bool{}
	for _, sb := range sbs {
		if sb.ContainerID == r.id {
			for _, e := range sb.Endpoints {
				if len(e.DNSNames) > 0 {
					mine[e.NetworkID] = true
				}
			}
		}
	}
	names := map[string][]netip.Addr{}
	ptr := map[netip.Addr][]string{}
	for _, sb := range sbs {
		for _, e := range sb.Endpoints {
			if !mine[e.NetworkID] {
				continue
			}
			a := e.Addr.Addr()
			net := strings.ToLower(e.NetworkName)
			for _, n := range e.DNSNames {
				// "name" and, as Docker also answers, "name.network".
				names[n] = append(names[n], a)
				names[n+"."+net] = append(names[n+"."+net], a)
			}
			if len(e.DNSNames) > 0 {
				// Docker's PTR: the container name on the network.
				ptr[a] = append(ptr[a], e.DNSNames[0]+"."+net)
			}
		}
	}
	for n := range names {
		sort.Slice(names[n], func(i, j int) bool { return names[n][i].Less(names[n][j]) })
	}
	r.names, r.ptr = names, ptr
}
