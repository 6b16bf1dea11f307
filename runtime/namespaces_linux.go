package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsFlags maps the spec's namespace types to clone(2) flags.
var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// nsJoin is a namespace the container joins by path.
type nsJoin struct {
	typ  specs.LinuxNamespaceType
	path string
	flag int
}

// nsPlan says how the container gets each of its namespaces.
type nsPlan struct {
	// cloneFlags are the namespaces created by clone(2) of init.
	cloneFlags uintptr
	// join are joined with setns(2) by the parent's forking thread.
	join []nsJoin
	// newCgroup: init unshares its cgroup namespace once it is in the
	// container's cgroup (a clone flag would root it at hull's cgroup).
	newCgroup bool
	// newTime: init unshares a time namespace for the process it
	// execve's and writes the offsets (they can only be written through
	// the thread group leader's /proc entry, which init's locked main
	// thread is).
	newTime bool
	// joinMnt is the mount namespace to join, by path: init joins it
	// itself (see joinMountNS).
	joinMnt string
	// types are all the namespace types of the spec.
	types map[specs.LinuxNamespaceType]bool
}

func (p *nsPlan) has(t specs.LinuxNamespaceType) bool { return p.types[t] }

// isNew reports whether the container gets a new namespace of type t
// (rather than joining one or sharing hull's).
func (p *nsPlan) isNew(t specs.LinuxNamespaceType) bool {
	if !p.types[t] {
		return false
	}
	for _, j := range p.join {
		if j.typ == t {
			return false
		}
	}
	return true
}

// planNamespaces checks the spec's namespaces and sorts them into the
// plan.
func planNamespaces(s *specs.Spec) (*nsPlan, error) {
	p := &nsPlan{types: map[specs.LinuxNamespaceType]bool{}}
	if s.Linux == nil {
		return p, nil
	}
	for _, ns := range s.Linux.Namespaces {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			return nil, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		if p.types[ns.Type] {
			return nil, fmt.Errorf("namespace type %q is given more than once", ns.Type)
		}
		p.types[ns.Type] = true
		if ns.Path != "" {
			switch ns.Type {
			case specs.UserNamespace, specs.TimeNamespace:
				return nil, fmt.Errorf("joining an existing %s namespace (%s) is not supported yet", ns.Type, ns.Path)
			}
			if _, err := os.Stat(ns.Path); err != nil {
				return nil, fmt.Errorf("%s namespace path: %w", ns.Type, err)
			}
			if ns.Type == specs.MountNamespace {
				p.joinMnt = ns.Path
				continue
			}
			p.join = append(p.join, nsJoin{typ: ns.Type, path: ns.Path, flag: int(flag)})
			continue
		}
		switch ns.Type {
		case specs.CgroupNamespace:
			p.newCgroup = true
		case specs.TimeNamespace:
			p.newTime = true
		default:
			p.cloneFlags |= flag
		}
	}
	// Join the pid namespace last: it only changes where children go.
	sort.SliceStable(p.join, func(i, j int) bool {
		return p.join[j].typ == specs.PIDNamespace && p.join[i].typ != specs.PIDNamespace
	})
	return p, nil
}

// startIn starts cmd from a locked OS thread that first joins the plan's
// namespaces, so the child is born inside them. The thread is never
// unlocked: the Go runtime discards it when the goroutine ends, so no other
// goroutine runs in those namespaces.
func (p *nsPlan) startIn(cmd *exec.Cmd) error {
	if len(p.join) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		errc <- p.joinAndStart(cmd)
	}()
	return <-errc
}

func (p *nsPlan) joinAndStart(cmd *exec.Cmd) error {
	for _, j := range p.join {
		fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace: %w", j.typ, err)
		}
		err = unix.Setns(fd, j.flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join %s namespace %s: %w", j.typ, j.path, err)
		}
	}
	return cmd.Start()
}

// errNoUserMappings is returned for a user namespace without id maps.
var errNoUserMappings = errors.New("a new user namespace needs linux.uidMappings and linux.gidMappings")
