package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/spec"
	"github.com/hull-project/hull/volume"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// mountRequest is one -v, --mount or --tmpfs before volumes exist.
type mountRequest struct {
	typ, source, target, propagation string
	readOnly, noCopy                 bool
	options                          []string
	mode                             string // the -v mode string, for inspect
	create                           bool   // -v creates a missing bind source
}

// parseVolumeFlag parses -v [SRC:]DST[:MODE].
func parseVolumeFlag(v string) (*mountRequest, error) {
	parts := strings.Split(v, ":")
	m := &mountRequest{typ: "volume"}
	switch len(parts) {
	case 1:
		m.target = parts[0]
	case 2:
		if strings.HasPrefix(parts[1], "/") {
			m.source, m.target = parts[0], parts[1]
		} else {
			m.target, m.mode = parts[0], parts[1]
		}
	case 3:
		m.source, m.target, m.mode = parts[0], parts[1], parts[2]
	default:
		return nil, fmt.Errorf("invalid spec: %s: too many colons", v)
	}
	if m.target == "" || !strings.HasPrefix(m.target, "/") {
		return nil, fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", v, m.target)
	}
	if m.target == "/" {
		return nil, fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid specification: destination can't be '/'", v)
	}
	if strings.HasPrefix(m.source, "/") || strings.HasPrefix(m.source, ".") {
		m.typ = "bind"
		m.create = true
		if !filepath.IsAbs(m.source) {
			abs, err := filepath.Abs(m.source)
			if err != nil {
				return nil, err
			}
			m.source = abs
		}
	} else if m.source != "" {
		if err := volume.ValidateName(m.source); err != nil {
			return nil, err
		}
	}
	if m.mode != "" {
		for _, o := range strings.Split(m.mode, ",") {
			switch o {
			case "ro":
				m.readOnly = true
			case "rw", "z", "Z", "consistent", "cached", "delegated":
			case "nocopy":
				if m.typ == "bind" {
					return nil, fmt.Errorf("invalid volume specification: '%s': invalid mode: nocopy", v)
				}
				m.noCopy = true
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				if m.typ != "bind" {
					return nil, fmt.Errorf("invalid volume specification: '%s': invalid mode: %s", v, o)
				}
				m.propagation = o
			default:
				return nil, fmt.Errorf("invalid volume specification: '%s': invalid mode: %s", v, o)
			}
		}
	}
	return m, nil
}

// parseMountFlag parses --mount type=…,source=…,target=…[,…].
func parseMountFlag(v string) (*mountRequest, error) {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return nil, fmt.Errorf("invalid argument %q for \"--mount\" flag: %w", v, err)
	}
	m := &mountRequest{typ: "volume"}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid argument %q for \"--mount\" flag: %s", v, fmt.Sprintf(format, a...))
	}
	for _, f := range fields {
		key, val, hasVal := strings.Cut(f, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		boolVal := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return false, bad("invalid value for %s: %s", key, val)
			}
			return b, nil
		}
		switch key {
		case "type":
			switch val {
			case "bind", "volume", "tmpfs":
				m.typ = val
			default:
				return nil, bad("invalid type %q", val)
			}
		case "source", "src":
			m.source = val
		case "target", "dst", "destination":
			m.target = val
		case "readonly", "ro":
			if m.readOnly, err = boolVal(); err != nil {
				return nil, err
			}
		case "bind-propagation":
			m.propagation = val
		case "volume-nocopy":
			if m.noCopy, err = boolVal(); err != nil {
				return nil, err
			}
		case "tmpfs-size":
			n, err := parseSize("tmpfs-size", val)
			if err != nil {
				return nil, err
			}
			m.options = append(m.options, "size="+strconv.FormatInt(n, 10))
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return nil, bad("invalid value for tmpfs-mode: %s", val)
			}
			m.options = append(m.options, fmt.Sprintf("mode=%o", mode))
		case "consistency", "bind-recursive", "volume-driver", "volume-label", "volume-opt", "volume-subpath":
			// accepted; hull's local volumes have no per-mount options
		default:
			return nil, bad("unexpected key '%s' in '%s'", key, f)
		}
	}
	if m.target == "" {
		return nil, errors.New("invalid mount config: target is required")
	}
	if !strings.HasPrefix(m.target, "/") {
		return nil, fmt.Errorf("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.typ, m.target)
	}
	switch m.typ {
	case "bind":
		if m.source == "" {
			return nil, fmt.Errorf("invalid mount config for type \"bind\": field Source must not be empty")
		}
		abs, err := filepath.Abs(m.source)
		if err != nil {
			return nil, err
		}
		m.source = abs
	case "tmpfs":
		if m.source != "" {
			return nil, fmt.Errorf("invalid mount config for type \"tmpfs\": field Source must not be specified")
		}
	case "volume":
		if m.source != "" {
			if err := volume.ValidateName(m.source); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// parseTmpfsFlag parses --tmpfs /path[:options].
func parseTmpfsFlag(v string) (*mountRequest, error) {
	target, opts, _ := strings.Cut(v, ":")
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("invalid tmpfs mount %q: mount path must be absolute", v)
	}
	m := &mountRequest{typ: "tmpfs", target: target, mode: opts}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			if o == "ro" {
				m.readOnly = true
				continue
			}
			m.options = append(m.options, o)
		}
	}
	return m, nil
}

// mountSet is the resolved mounts of a new container.
type mountSet struct {
	spec      []spec.Mount
	inspect   []mobycontainer.MountPoint
	volumes   []string
	anonymous []string
	fill      map[string]string
}

// resolveMounts creates the volumes the container needs (named ones if
// missing, anonymous ones for DST-only -v and the image's VOLUMEs not
// otherwise mounted) and resolves every mount to a host path. On error,
// the anonymous volumes it created are removed again.
func resolveMounts(vs *volume.Store, reqs []*mountRequest, imageVolumes map[string]struct{}) (_ *mountSet, err error) {
	ms := &mountSet{fill: map[string]string{}}
	defer func() {
		if err != nil {
			for _, name := range ms.anonymous {
				_ = vs.Remove(name, true, nil)
			}
		}
	}()
	seen := map[string]bool{}
	for _, r := range reqs {
		t := filepath.Clean(r.target)
		if seen[t] {
			//lint:ignore ST1005 Docker's message
			return nil, fmt.Errorf("Duplicate mount point: %s", t)
		}
		seen[t] = true
	}
	for p := range imageVolumes {
		if !seen[filepath.Clean(p)] {
			reqs = append(reqs, &mountRequest{typ: "volume", target: filepath.Clean(p)})
		}
	}
	for _, r := range reqs {
		mp := mobycontainer.MountPoint{Destination: r.target, RW: !r.readOnly, Mode: r.mode}
		sm := spec.Mount{Type: r.typ, Target: r.target, ReadOnly: r.readOnly, Options: r.options, Propagation: r.propagation}
		switch r.typ {
		case "bind":
			if _, err := os.Stat(r.source); err != nil {
				if !r.create || !errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s", r.source)
				}
				if err := os.MkdirAll(r.source, 0o755); err != nil {
					return nil, fmt.Errorf("create bind source %s: %w", r.source, err)
				}
			}
			sm.Source = r.source
			mp.Type, mp.Source = mount.TypeBind, r.source
			mp.Propagation = mount.Propagation(r.propagation)
			if mp.Propagation == "" {
				mp.Propagation = mount.PropagationRPrivate
			}
		case "tmpfs":
			mp.Type = mount.TypeTmpfs
		case "volume":
			name := r.source
			var v *volume.Volume
			if name == "" {
				v, err = vs.Create("", volume.CreateOptions{Anonymous: true})
				if err == nil {
					ms.anonymous = append(ms.anonymous, v.Name)
				}
			} else if v, err = vs.Get(name); errors.Is(err, volume.ErrNotFound) {
				v, err = vs.Create(name, volume.CreateOptions{})
			}
			if err != nil {
				return nil, err
			}
			sm.Type, sm.Source = "volume", v.Mountpoint
			mp.Type, mp.Name, mp.Source, mp.Driver = mount.TypeVolume, v.Name, v.Mountpoint, v.Driver
			if mp.Mode == "" {
				mp.Mode = "z"
			}
			ms.volumes = append(ms.volumes, v.Name)
			if !r.noCopy {
				ms.fill[r.target] = v.Name
			}
		}
		ms.spec = append(ms.spec, sm)
		ms.inspect = append(ms.inspect, mp)
	}
	return ms, nil
}

// volumeUsersOf lists, for every volume, the containers using it.
func volumeUsersOf(recs []*container.Record) map[string][]string {
	m := map[string][]string{}
	for _, r := range recs {
		for _, v := range r.Volumes {
			m[v] = append(m[v], r.ID)
		}
	}
	return m
}
