package spec

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Generate returns the OCI runtime spec Docker would give a container of
// the image img (nil for none) run with opts: Docker's defaults, the
// image's configuration (command, environment, user, working directory,
// stop signal, labels) and the options on top, validated with Docker's
// error messages.
//
// The user is resolved against Rootfs's /etc/passwd and /etc/group (a
// numeric user needs neither file). The environment gets PATH (unless the
// image or Env sets it), HOSTNAME, TERM=xterm with a terminal, and HOME
// from the user's passwd entry ("/" without one) unless set.
func Generate(img *v1.ConfigFile, opts Options) (*specs.Spec, error) {
	return generate(img, opts, currentHost())
}

// generate is Generate on the host h.
func generate(img *v1.ConfigFile, opts Options, h *hostInfo) (*specs.Spec, error) {
	var cfg v1.Config
	if img != nil {
		cfg = img.Config
	}
	s := baseSpec()
	s.Root = &specs.Root{Path: opts.Rootfs, Readonly: opts.ReadOnly}
	if opts.OomScoreAdj < -1000 || opts.OomScoreAdj > 1000 {
		//lint:ignore ST1005 Docker's message
		return nil, fmt.Errorf("Invalid value %d, range for oom score adj is [-1000, 1000]", opts.OomScoreAdj)
	}
	oom := opts.OomScoreAdj
	s.Process.OOMScoreAdj = &oom

	modes, err := applyNamespaces(s, opts, h)
	if err != nil {
		return nil, err
	}

	args, err := Command(cfg, opts)
	if err != nil {
		return nil, err
	}
	if opts.Init && modes.pidPrivate {
		if opts.InitPath == "" {
			return nil, errors.New("--init: no init binary given (InitPath is empty)")
		}
		args = append([]string{InitMountPath, "--"}, args...)
	}
	s.Process.Args = args

	cwd := opts.WorkingDir
	if cwd == "" {
		cwd = cfg.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", cwd)
	}
	s.Process.Cwd = path.Clean(cwd)
	s.Process.Terminal = opts.Tty

	userSpec := opts.User
	if userSpec == "" {
		userSpec = cfg.User
	}
	usr, home, err := resolveUser(opts.Rootfs, userSpec, opts.GroupAdd)
	if err != nil {
		return nil, err
	}
	s.Process.User = usr
	s.Process.Env = environment(cfg.Env, opts, home)

	if modes.utsHost {
		s.Hostname = ""
	} else {
		s.Hostname = opts.Hostname
	}
	if err := applySysctls(s, opts, modes, h); err != nil {
		return nil, err
	}
	if err := applyResources(s, opts, h); err != nil {
		return nil, err
	}
	if err := applyDevices(s, opts, h); err != nil {
		return nil, err
	}
	if s.Process.Rlimits, err = rlimits(opts.Ulimits); err != nil {
		return nil, err
	}

	caps, err := capabilities(h, opts.CapAdd, opts.CapDrop, opts.Privileged)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  caps,
		Effective: slices.Clone(caps),
		Permitted: slices.Clone(caps),
	}
	sec, err := parseSecurityOpts(opts.SecurityOpt)
	if err != nil {
		return nil, err
	}
	s.Process.NoNewPrivileges = sec.noNewPrivileges
	if err := applySeccomp(s, sec, opts.Privileged); err != nil {
		return nil, err
	}
	if err := applyMounts(s, opts, modes, sec); err != nil {
		return nil, err
	}
	if opts.Init && modes.pidPrivate {
		// Last, so that no mount (not even a user's /dev) hides it.
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: InitMountPath,
			Type:        "bind",
			Source:      opts.InitPath,
			Options:     []string{"bind", "ro"},
		})
	}

	s.Annotations, err = annotations(cfg, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Command returns the process args by Docker's rules (daemon merge and
// getEntrypointAndArgs): an explicit Cmd replaces the image's Cmd;
// --entrypoint replaces the image's Entrypoint and drops its Cmd, and an
// empty --entrypoint resets both.
func Command(cfg v1.Config, opts Options) ([]string, error) {
	entrypoint, cmd := opts.Entrypoint, opts.Cmd
	if !opts.EntrypointSet && len(entrypoint) == 0 {
		if len(cmd) == 0 {
			cmd = cfg.Cmd
		}
		entrypoint = cfg.Entrypoint
	}
	if len(entrypoint) == 1 && entrypoint[0] == "" {
		entrypoint = nil
	}
	args := append(slices.Clone(entrypoint), cmd...)
	if len(args) == 0 {
		return nil, errors.New("no command specified")
	}
	return args, nil
}

// environment builds process.env as Docker does: PATH, HOSTNAME and (with
// a terminal) TERM first, then the image's and the user's variables (the
// user's win; a user entry without "=" removes the variable), replacing
// defaults of the same key in place. HOME is appended if still unset, as
// runc does at exec time.
func environment(imageEnv []string, opts Options, home string) []string {
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + opts.Hostname}
	if opts.Tty {
		env = append(env, "TERM=xterm")
	}
	env = ReplaceOrAppendEnv(env, mergeEnv(opts.Env, imageEnv))
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == "HOME" {
			return env
		}
	}
	return append(env, "HOME="+home)
}

// mergeEnv returns the user's variables followed by the image's ones whose
// key the user did not give (Docker's create-time merge).
func mergeEnv(user, image []string) []string {
	if len(user) == 0 {
		return slices.Clone(image)
	}
	keys := make(map[string]bool, len(user))
	for _, e := range user {
		k, _, _ := strings.Cut(e, "=")
		keys[k] = true
	}
	out := slices.Clone(user)
	for _, e := range image {
		if k, _, _ := strings.Cut(e, "="); !keys[k] {
			out = append(out, e)
		}
	}
	return out
}

// ReplaceOrAppendEnv overrides the "KEY=value" defaults with overrides: a
// matching key replaces the default in place, a new key is appended, and a
// bare "KEY" removes the default. It reuses defaults' array; pass a copy to
// keep the original.
func ReplaceOrAppendEnv(defaults, overrides []string) []string {
	index := make(map[string]int, len(defaults))
	for i, e := range defaults {
		k, _, _ := strings.Cut(e, "=")
		index[k] = i
	}
	removed := make(map[int]bool)
	for _, e := range overrides {
		k, _, hasValue := strings.Cut(e, "=")
		i, exists := index[k]
		switch {
		case !hasValue:
			if exists {
				removed[i] = true
			}
		case exists:
			defaults[i] = e
			delete(removed, i)
		default:
			index[k] = len(defaults)
			defaults = append(defaults, e)
		}
	}
	out := defaults[:0]
	for i, e := range defaults {
		if !removed[i] {
			out = append(out, e)
		}
	}
	return out
}

// rlimits converts --ulimit values to process.rlimits (RLIMIT_NOFILE, ...).
// A repeated name keeps its first position and its last value. Docker sets
// no rlimits of its own, so none are added.
func rlimits(ulimits []string) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	pos := make(map[string]int)
	for _, u := range ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return nil, fmt.Errorf("--ulimit %s: %w", u, err)
		}
		r := specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(ul.Name),
			Soft: uint64(ul.Soft),
			Hard: uint64(ul.Hard),
		}
		if i, ok := pos[r.Type]; ok {
			out[i] = r
			continue
		}
		pos[r.Type] = len(out)
		out = append(out, r)
	}
	return out, nil
}

// annotations returns the image's labels overridden by Options.Labels, plus
// the stop signal.
func annotations(cfg v1.Config, opts Options) (map[string]string, error) {
	a := make(map[string]string, len(cfg.Labels)+len(opts.Labels)+1)
	maps.Copy(a, cfg.Labels)
	maps.Copy(a, opts.Labels)
	sig := opts.StopSignal
	if sig == "" {
		sig = cfg.StopSignal
	}
	if sig != "" {
		name, err := ParseSignal(sig)
		if err != nil {
			return nil, err
		}
		a[StopSignalAnnotation] = name
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

// ParseSignal validates a stop signal as Docker does ("SIGTERM", "term",
// "15", "SIGRTMIN+3") and returns its canonical name ("SIGTERM",
// "SIGRTMIN+3"), or the number for a signal without one.
func ParseSignal(sig string) (string, error) {
	//lint:ignore ST1005 Docker's message
	bad := fmt.Errorf("Invalid signal: %s", sig)
	if n, err := strconv.Atoi(sig); err == nil {
		if n <= 0 || n > 64 {
			return "", bad
		}
		if name := unix.SignalName(unix.Signal(n)); name != "" {
			return name, nil
		}
		return signalRTName(n), nil
	}
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(sig), "SIG"))
	if n := unix.SignalNum("SIG" + name); n != 0 {
		return "SIG" + name, nil
	}
	for _, base := range []string{"RTMIN", "RTMAX"} {
		rest, ok := strings.CutPrefix(name, base)
		if !ok {
			continue
		}
		if rest == "" {
			return "SIG" + base, nil
		}
		off, err := strconv.Atoi(rest)
		if err != nil || (base == "RTMIN" && (off < 0 || off > 30)) || (base == "RTMAX" && (off > 0 || off < -30)) {
			return "", bad
		}
		if base == "RTMIN" {
			return signalRTName(sigRTMin + off), nil
		}
		return signalRTName(sigRTMax + off), nil
	}
	return "", bad
}

// The real-time signal range glibc and musl expose (SIGRTMIN is 34, the
// kernel's 32 and 33 being reserved by the threading library).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// signalRTName names a real-time signal number the way Docker does.
func signalRTName(n int) string {
	switch {
	case n < sigRTMin:
		return strconv.Itoa(n)
	case n == sigRTMin:
		return "SIGRTMIN"
	case n == sigRTMax:
		return "SIGRTMAX"
	case n-sigRTMin <= sigRTMax-n:
		return fmt.Sprintf("SIGRTMIN+%d", n-sigRTMin)
	default:
		return fmt.Sprintf("SIGRTMAX-%d", sigRTMax-n)
	}
}
