package initproc

import (
	"errors"
	"os"
	"path"
	"strconv"
	"syscall"
	"unsafe"
)

// setRlimits applies the process's rlimits to init (the container process
// inherits them). syscall.Setrlimit is used so that the Go runtime does not
// restore its own RLIMIT_NOFILE at execve.
func setRlimits(rls []Rlimit) error {
	for _, rl := range rls {
		err := syscall.Setrlimit(rl.Resource, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard})
		if err == nil {
			continue
		}
		limits := rl.Name + " to " + strconv.FormatUint(rl.Soft, 10) + ":" + strconv.FormatUint(rl.Hard, 10)
		var cur syscall.Rlimit
		if errors.Is(err, syscall.EPERM) && syscall.Getrlimit(rl.Resource, &cur) == nil && rl.Hard > cur.Max {
			return wrap("set "+limits, &suffixError{err, ": raising the hard limit above " +
				strconv.FormatUint(cur.Max, 10) + " needs CAP_SYS_RESOURCE, which hull does not have here"})
		}
		return wrap("set "+limits, err)
	}
	return nil
}

// capHeader and capData are the capget(2)/capset(2) structures.
type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

// setupUser drops the bounding set, switches to the process's user and
// groups keeping the permitted capabilities across setuid, then sets the
// effective, permitted, inheritable and ambient sets (runc's order). It
// must run on the thread that execve's: capabilities are per thread.
func setupUser(p *Process, lastCap int) error {
	if err := dropBounding(p.Caps.Bounding, lastCap); err != nil {
		return wrap("drop capabilities from the bounding set", err)
	}
	if err := prctl(prSetKeepcaps, 1, 0, 0, 0); err != nil {
		return wrap("keep capabilities", err)
	}
	// This thread only: it is the one that execve's (see setThreadIDs).
	if err := setThreadIDs(p.UID, p.GID, p.AdditionalGids); err != nil {
		return wrap("switch to user "+strconv.FormatUint(uint64(p.UID), 10)+":"+strconv.FormatUint(uint64(p.GID), 10)+
			" (groups "+formatIDs(p.AdditionalGids)+")", err)
	}
	if err := prctl(prSetKeepcaps, 0, 0, 0, 0); err != nil {
		return wrap("clear keep capabilities", err)
	}
	if err := setCaps(&p.Caps, lastCap); err != nil {
		return wrap("set capabilities", err)
	}
	return nil
}

// dropBounding drops every capability up to lastCap that is not in
// bounding from the bounding set, if the thread may (CAP_SETPCAP), as
// github.com/moby/sys/capability does.
func dropBounding(bounding uint64, lastCap int) error {
	hdr := capHeader{version: linuxCapabilityVersion3}
	var data [2]capData
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return e
	}
	if data[0].effective&(1<<capSetpcap) == 0 {
		return nil
	}
	for c := 0; c <= lastCap; c++ {
		if bounding&(1<<uint(c)) != 0 {
			continue
		}
		// EINVAL: a capability this kernel lacks.
		if err := prctl(prCapbsetDrop, uintptr(c), 0, 0, 0); err != nil && err != syscall.EINVAL {
			return err
		}
	}
	return nil
}

// setCaps sets the thread's effective, permitted and inheritable sets,
// then clears the ambient set and raises the ambient capabilities.
func setCaps(c *Caps, lastCap int) error {
	hdr := capHeader{version: linuxCapabilityVersion3}
	data := [2]capData{
		{uint32(c.Effective), uint32(c.Permitted), uint32(c.Inheritable)},
		{uint32(c.Effective >> 32), uint32(c.Permitted >> 32), uint32(c.Inheritable >> 32)},
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return e
	}
	// EINVAL: no ambient capabilities (kernels before 4.3).
	if err := prctl(prCapAmbient, prCapAmbientClearAll, 0, 0, 0); err != nil && err != syscall.EINVAL {
		return err
	}
	for i := 0; i <= lastCap; i++ {
		if c.Ambient&(1<<uint(i)) == 0 {
			continue
		}
		if err := prctl(prCapAmbient, prCapAmbientRaise, uintptr(i), 0, 0); err != nil && err != syscall.EINVAL {
			return err
		}
	}
	return nil
}

// formatIDs formats ids as fmt's %v does: [1 2 3].
func formatIDs(ids []uint32) string {
	s := "["
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += strconv.FormatUint(uint64(id), 10)
	}
	return s + "]"
}

// processEnv returns the process's environment with HOME added from the
// container's /etc/passwd when it is missing (runc does this), "/" if the
// user has no entry.
func processEnv(p *Process) []string {
	env := append([]string{}, p.Env...)
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "HOME=" {
			return env
		}
	}
	home := passwdHome("/etc/passwd", p.UID)
	if home == "" {
		home = "/"
	}
	return append(env, "HOME="+home)
}

// passwdHome returns the home directory of the first entry for uid in the
// passwd file at name, "" if there is none. Lines are parsed as
// github.com/moby/sys/user does (a uid that is not a number reads as 0).
func passwdHome(name string, uid uint32) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return passwdHomeIn(b, uid)
}

// passwdHomeIn is passwdHome on the passwd file's content b (the image's,
// so untrusted: FuzzPasswdHome).
func passwdHomeIn(b []byte, uid uint32) string {
	for len(b) > 0 {
		line := b
		if i := indexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		// name:password:uid:gid:gecos:home:shell
		var f [7][]byte
		n := 0
		for n < len(f) {
			i := indexByte(line, ':')
			if i < 0 || n == len(f)-1 {
				f[n] = line
				break
			}
			f[n], line = line[:i], line[i+1:]
			n++
		}
		id, _ := strconv.Atoi(string(f[2]))
		if id == int(uid) {
			return string(f[5])
		}
	}
	return ""
}

// trimSpace trims ASCII white space on both ends of b.
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// lookPath finds the executable file in the PATH of env, as execvp(3)
// would, with Go's exec error messages (Docker maps "executable file not
// found" to exit status 127).
func lookPath(file string, env []string) (string, error) {
	if indexByte([]byte(file), '/') >= 0 {
		if err := checkExecutable(file); err != nil {
			return "", wrap("exec: "+quote(file), err)
		}
		return file, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "PATH=" {
			pathEnv = kv[5:]
		}
	}
	for pathEnv != "" {
		dir := pathEnv
		if i := indexByte([]byte(pathEnv), ':'); i >= 0 {
			dir, pathEnv = pathEnv[:i], pathEnv[i+1:]
			if pathEnv == "" {
				pathEnv = "." // a trailing ':' is an empty entry
			}
		} else {
			pathEnv = ""
		}
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("exec: " + quote(file) + ": executable file not found in $PATH")
}

// checkExecutable checks that p is a file the process may execute.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if err := syscall.Faccessat(atFdcwd, p, 1 /* X_OK */, atEaccess); err != nil {
		return &os.PathError{Op: "access", Path: p, Err: err}
	}
	return nil
}

// chdirInside changes to the process's cwd and checks that it is inside
// the container: a cwd reached through a leaked host fd
// (/proc/self/fd/N) is "(unreachable)" for getcwd (CVE-2024-21626).
func chdirInside(cwd string) error {
	if err := syscall.Chdir(cwd); err != nil {
		return wrap("chdir to cwd ("+quote(cwd)+") set in config.json failed", err)
	}
	wd, err := syscall.Getwd()
	if err != nil || wd == "" || wd[0] != '/' {
		e := "<nil>"
		if err != nil {
			e = err.Error()
		}
		return errors.New("cwd " + quote(cwd) + " is not inside the container (getcwd: " + quote(wd) + ", " + e + ")")
	}
	return nil
}

// closeExecFrom marks every fd from min on close-on-exec, so that nothing
// but stdio and the preserved fds reaches the container process.
func closeExecFrom(min int) error {
	if closeRange(uint(min), ^uint(0), closeRangeCloexec) == nil {
		return nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return wrap("list fds", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return wrap("list fds", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < min {
			continue
		}
		syscall.CloseOnExec(fd)
	}
	return nil
}
