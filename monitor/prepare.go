package monitor

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"encoding/json"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/network"
	"github.com/hull-project/hull/spec"
	"github.com/hull-project/hull/volume"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// prepare readies a container for a run: its root file system and
// volumes mounted, volumes filled from the image on first use, its
// /etc/hostname, /etc/hosts and /etc/resolv.conf written, and its OCI
// runtime spec generated into the bundle (the container's directory).
// The caller holds the container's lock.
func (s *Server) prepare(rec *container.Record, nr *netRun) error {
	cs := s.cfg.Containers
	if err := cs.MountRootfs(s.cfg.Images.Snapshots(), rec); err != nil {
		return err
	}
	rootfs := cs.Rootfs(rec.ID)
	for _, name := range rec.Volumes {
		if _, err := s.cfg.Volumes.Mount(name); err != nil {
			return fmt.Errorf("mount volume %s: %w", name, err)
		}
	}
	for target, name := range rec.FillVolumes {
		if err := s.cfg.Volumes.Fill(name, rootfs, target); err != nil {
			return fmt.Errorf("fill volume %s from the image: %w", name, err)
		}
	}
	img, err := s.cfg.Images.Get(rec.ImageID)
	if err != nil {
		return fmt.Errorf("image of container %s: %w", rec.ShortID(), err)
	}
	cfg, err := img.Config()
	if err != nil {
		return err
	}
	opts := rec.Spec
	opts.Rootfs = rootfs
	opts.InitPath = s.cfg.InitPath
	etcDir := cs.Dir(rec.ID)
	if rec.NetworkKind() == "container" {
		// Share the other container's network namespace and, as
		// Docker does, its hostname, hosts and resolv.conf.
		target := strings.TrimPrefix(string(rec.HostConfig.NetworkMode), "container:")
		t, err := cs.Get(target)
		if err != nil {
			return fmt.Errorf("network container %s: %w", target, err)
		}
		if t.State.Status != container.Running || t.State.Pid == 0 {
			return fmt.Errorf("%w: container %s is %s", errNoNetworkTarget, t.ShortID(), t.State.Status)
		}
		opts.NetNS = fmt.Sprintf("/proc/%d/ns/net", t.State.Pid)
		etcDir = cs.Dir(t.ID)
	}
	var etc []spec.Mount
	if etcDir == cs.Dir(rec.ID) {
		etc, err = writeEtcFiles(etcDir, rec, opts.Mounts, nr)
	} else {
		etc, err = etcMounts(etcDir, opts.Mounts)
	}
	if err != nil {
		return err
	}
	opts.Mounts = append(append([]spec.Mount(nil), opts.Mounts...), etc...)
	sp, err := spec.Generate(cfg, opts)
	if err != nil {
		return err
	}
	return writeSpec(filepath.Join(cs.Dir(rec.ID), "config.json"), sp)
}

func writeSpec(path string, s *specs.Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode runtime spec: %w", err)
	}
	return atomicfile.Replace(path, b, 0o600)
}

// unprepare undoes prepare's mounts after a run.
func (s *Server) unprepare(rec *container.Record) {
	if err := container.UnmountRootfs(s.cfg.Containers.Rootfs(rec.ID)); err != nil {
		s.log.Printf("unmount rootfs of %s: %v", rec.ShortID(), err)
	}
	for _, name := range rec.Volumes {
		if err := s.cfg.Volumes.Unmount(name); err != nil {
			s.log.Printf("unmount volume %s: %v", name, err)
		}
	}
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf
// files and returns their bind mounts, leaving out any path the user
// mounted something on.
func writeEtcFiles(dir string, rec *container.Record, user []spec.Mount, nr *netRun) ([]spec.Mount, error) {
	host := rec.Spec.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	if nr != nil && len(nr.sb.Endpoints) > 0 {
		// The container's own name, as Docker writes it: the address
		// on its first network.
		names := host
		if d := rec.Spec.Domainname; d != "" {
			names = host + "." + d + " " + host
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", nr.sb.Endpoints[0].Addr.Addr(), names)
	}
	if rec.HostConfig != nil {
		for _, h := range rec.HostConfig.ExtraHosts {
			name, addr, _ := network.ParseExtraHost(h)
			if addr == "host-gateway" {
				// Docker's special value: the host, as the
				// container reaches it.
				switch {
				case nr != nil && len(nr.sb.Endpoints) > 0:
					addr = nr.sb.Endpoints[0].Gateway.String()
				case rec.NetworkKind() == "host":
					addr = "127.0.0.1"
				default:
					continue
				}
			}
			fmt.Fprintf(&hosts, "%s\t%s\n", addr, name)
		}
	}
	resolv := containerResolvConf(rec, nr)
	files := []struct {
		name, target string
		data         []byte
	}{
		{"hostname", "/etc/hostname", []byte(host + "\n")},
		{"hosts", "/etc/hosts", hosts.Bytes()},
		{"resolv.conf", "/etc/resolv.conf", resolv},
	}
	for _, f := range files {
		if err := atomicfile.Replace(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return nil, err
		}
	}
	return etcMounts(dir, user)
}

// containerResolvConf is a container's /etc/resolv.conf: the embedded
// DNS server's address on user-defined networks, else the host's servers
// (or --dns), with --dns-search and --dns-option.
func containerResolvConf(rec *container.Record, nr *netRun) []byte {
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil
	}
	hc := rec.HostConfig
	if hc == nil {
		hc = &mobycontainer.HostConfig{}
	}
	switch {
	case nr != nil && nr.sb.DNS():
		// The embedded DNS server answers; it forwards to --dns or
		// the host's servers.
		opts := append([]string{"ndots:0"}, hc.DNSOptions...)
		resolv = network.ResolvConf(resolv, []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 11})}, hc.DNSSearch, opts)
	case len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0:
		resolv = network.ResolvConf(resolv, hc.DNS, hc.DNSSearch, hc.DNSOptions)
	}
	if nr != nil && !nr.sb.DNS() && len(hc.DNS) == 0 {
		// Loopback servers of the host are not reachable from the
		// container's namespace.
		resolv = network.WithoutLoopbackServers(resolv)
	}
	return resolv
}

// etcMounts are the bind mounts of the hostname, hosts and resolv.conf
// files in dir, leaving out any path the user mounted something on.
func etcMounts(dir string, user []spec.Mount) ([]spec.Mount, error) {
	taken := map[string]bool{}
	for _, m := range user {
		taken[filepath.Clean(m.Target)] = true
	}
	var mounts []spec.Mount
	for _, f := range []struct{ name, target string }{
		{"hostname", "/etc/hostname"}, {"hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"},
	} {
		if taken[f.target] {
			continue
		}
		mounts = append(mounts, spec.Mount{Type: "bind", Source: filepath.Join(dir, f.name), Target: f.target, Options: []string{"bind"}})
	}
	return mounts, nil
}

// RemoveContainer deletes a stopped container and, if volumes is set,
// its anonymous volumes (rm -v, --rm).
func RemoveContainer(cs *container.Store, vs *volume.Store, rec *container.Record, volumes bool) error {
	if err := cs.Delete(rec.ID); err != nil {
		return err
	}
	if volumes {
		for _, name := range rec.AnonymousVolumes {
			if err := vs.Remove(name, true, nil); err != nil {
				return fmt.Errorf("remove volume %s of container %s: %w", name, rec.ShortID(), err)
			}
		}
	}
	return nil
}

// remove is the --rm removal after the last run.
func (s *Server) remove(rec *container.Record) error {
	return RemoveContainer(s.cfg.Containers, s.cfg.Volumes, rec, true)
}
