package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/registry"
	"github.com/hull-project/hull/spec"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	digest "github.com/opencontainers/go-digest"
)

// createRequest is what `create` and `run` were asked.
type createRequest struct {
	flags *runFlags
	image string
	args  []string
	// detach and the attach streams decide Config.Attach*.
	detach bool
	// consoleSize is the terminal size for -t.
	consoleSize [2]uint
}

// validateRunFlags checks flag combinations before anything is made.
func validateRunFlags(f *runFlags, detach bool) error {
	if f.rm && f.restart != "" && f.restart != "no" {
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: --restart and --rm")
	}
	switch f.pull {
	case "always", "missing", "never":
	default:
		return fmt.Errorf("invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", f.pull)
	}
	if err := validateNetworkFlags(f); err != nil {
		return err
	}
	for _, d := range f.dns {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("invalid argument %q for \"--dns\" flag: ParseAddr(%q): %w", d, d, err)
		}
	}
	if f.logDriver != "" && f.logDriver != "json-file" {
		return fmt.Errorf("logging driver %q is not supported: hull writes json-file logs", f.logDriver)
	}
	if detach && len(f.attach) > 0 {
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: -a and -d")
	}
	for _, a := range f.attach {
		switch strings.ToLower(a) {
		case "stdin", "stdout", "stderr":
		default:
			return fmt.Errorf("invalid argument %q for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", a)
		}
	}
	if f.stopSignal != "" {
		if _, err := spec.ParseSignal(f.stopSignal); err != nil {
			return err
		}
	}
	return nil
}

// findImage resolves the image of a new container, pulling it as --pull
// says; pull progress goes to stderr, as docker run's does.
func (c *cli) findImage(ctx context.Context, name string, f *runFlags) (*image.Image, error) {
	s, err := c.imageStore()
	if err != nil {
		return nil, err
	}
	var platform v1.Platform
	if f.platform != "" {
		if platform, err = image.ParsePlatform(f.platform); err != nil {
			return nil, err
		}
	}
	if f.pull != "always" {
		img, err := s.Resolve(name)
		if err == nil || !errors.Is(err, image.ErrNotFound) || f.pull == "never" {
			if err != nil && f.pull == "never" {
				//lint:ignore ST1005 Docker's message
				return nil, fmt.Errorf("No such image: %s", name)
			}
			return img, err
		}
		fmt.Fprintf(c.err, "Unable to find image '%s' locally\n", name)
	}
	ref, _, err := parseRemote(name, false)
	if err != nil {
		return nil, err
	}
	res, err := registry.Pull(ctx, s, ref, registryOptions(newReporter(c.err, false), platform))
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(c.err, "Digest:", res.Digest)
	fmt.Fprintln(c.err, "Status: Downloaded newer image for", ref.Familiar())
	return s.Resolve(ref.String())
}

// createContainer makes a container from a createRequest: the image
// (pulled if needed), its volumes, its record. Nothing is left behind if
// it fails.
func (c *cli) createContainer(ctx context.Context, req *createRequest) (*container.Record, error) {
	f := req.flags
	if err := validateRunFlags(f, req.detach); err != nil {
		return nil, err
	}
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	if f.name != "" {
		if err := container.ValidateName(f.name); err != nil {
			return nil, err
		}
		if id, err := cs.Resolve(f.name); err == nil {
			if r, err := cs.Read(id); err == nil && r.Name == strings.TrimPrefix(f.name, "/") {
				return nil, &container.NameConflictError{Name: r.Name, ID: id}
			}
		}
	}
	img, err := c.findImage(ctx, req.image, f)
	if err != nil {
		return nil, err
	}
	cfg, err := img.Config()
	if err != nil {
		return nil, err
	}
	rn, err := c.resolveNetworks(f)
	if err != nil {
		return nil, err
	}
	rec := &container.Record{ID: container.NewID(), Name: f.name, Image: req.image, ImageID: img.ID}
	for _, d := range cfg.RootFS.DiffIDs {
		rec.Layers = append(rec.Layers, digest.Digest(d.String()))
	}
	opts, err := c.specOptions(rec.ID, f, req, cfg)
	if err != nil {
		return nil, err
	}
	// Mounts: -v, --mount, --tmpfs and the image's volumes.
	var reqs []*mountRequest
	for _, v := range f.volumes {
		r, err := parseVolumeFlag(v)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	for _, v := range f.mounts {
		r, err := parseMountFlag(v)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	for _, v := range f.tmpfs {
		r, err := parseTmpfsFlag(v)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	// Generate the spec once without a rootfs: every invalid option is
	// found now rather than at start.
	// Names of users and groups resolve in the rootfs at start; here
	// only the rest is checked.
	check := *opts
	user := check.User
	if user == "" {
		user = cfg.Config.User // the image's USER may be a name too
	}
	if !numericUser(user) {
		check.User = "0"
	}
	check.GroupAdd = nil
	if _, err := spec.Generate(cfg, check); err != nil {
		return nil, err
	}
	vs, err := c.volumeStore()
	if err != nil {
		return nil, err
	}
	ms, err := resolveMounts(vs, reqs, cfg.Config.Volumes)
	if err != nil {
		return nil, err
	}
	opts.Mounts = ms.spec
	rec.Spec = *opts
	rec.Mounts = ms.inspect
	rec.Volumes, rec.AnonymousVolumes, rec.FillVolumes = ms.volumes, ms.anonymous, ms.fill
	full, err := spec.Command(cfg.Config, *opts)
	if err != nil {
		return nil, err
	}
	rec.Path, rec.Args = full[0], full[1:]
	rec.Config, rec.HostConfig, err = dockerConfig(f, req, cfg, opts, full)
	if err == nil {
		rec.Config.Image = req.image
	}
	if err == nil {
		err = recordNetworks(rec, rn, f)
	}
	if err == nil {
		err = cs.Create(rec)
	}
	if err != nil {
		for _, name := range ms.anonymous {
			_ = vs.Remove(name, true, nil)
		}
		return nil, err
	}
	if f.cidfile != "" {
		if err := writeNewFile(f.cidfile, rec.ID); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// writeNewFile writes s to a file that must not exist yet (--cidfile).
func writeNewFile(path, s string) error {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
		}
		return fmt.Errorf("failed to create the container ID file: %w", err)
	}
	_, err = fd.WriteString(s)
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}

// specOptions turns the flags into the options of the runtime spec.
func (c *cli) specOptions(id string, f *runFlags, req *createRequest, cfg *v1.ConfigFile) (*spec.Options, error) {
	o := &spec.Options{
		Cmd:        req.args,
		Env:        expandEnv(f.env),
		WorkingDir: f.workdir,
		User:       f.user,
		Tty:        f.tty,
		OpenStdin:  f.interactive,
		Hostname:   f.hostname,
		Domainname: f.domainname,
		Init:       f.init,
		ReadOnly:   f.readOnly,
		Privileged: f.privileged,
		CapAdd:     f.capAdd, CapDrop: f.capDrop,
		SecurityOpt:       f.securityOpt,
		Devices:           f.devices,
		DeviceCgroupRules: f.deviceRules,
		GroupAdd:          f.groupAdd,
		Ulimits:           f.ulimits,
		OomScoreAdj:       f.oomScoreAdj,
		CPUs:              f.cpus,
		CPUShares:         f.cpuShares,
		CPUQuota:          f.cpuQuota, CPUPeriod: f.cpuPeriod,
		CpusetCpus: f.cpusetCpus, CpusetMems: f.cpusetMems,
		BlkioWeight:    f.blkioWeight,
		OomKillDisable: f.oomKillDisable,
		PidMode:        f.pid, IpcMode: f.ipc, UTSMode: f.uts, UsernsMode: f.userns,
		CgroupnsMode: f.cgroupns,
		StopSignal:   f.stopSignal,
	}
	if f.entrypoint != "" || f.changed("entrypoint") {
		o.EntrypointSet = true
		if f.entrypoint != "" {
			o.Entrypoint = []string{f.entrypoint}
		}
	}
	if f.init {
		exe, err := os.Executable()
		if err != nil || !staticBinary(exe) {
			return nil, errors.New("--init: hull runs itself as the container's init, which needs a statically linked hull binary (build it with CGO_ENABLED=0)")
		}
		o.InitPath = exe
	}
	envFile, err := readKVFiles(f.envFile, true)
	if err != nil {
		return nil, err
	}
	o.Env = append(envFile, o.Env...)
	labelFile, err := readKVFiles(f.labelFile, false)
	if err != nil {
		return nil, err
	}
	o.Labels = parseLabels(append(labelFile, f.labels...))
	if o.Sysctls, err = parseSysctls(f.sysctls); err != nil {
		return nil, err
	}
	if o.Memory, err = parseSize("memory", f.memory); err != nil {
		return nil, err
	}
	if o.MemorySwap, err = parseSize("memory-swap", f.memorySwap); err != nil {
		return nil, err
	}
	if o.MemoryReservation, err = parseSize("memory-reservation", f.memoryReservation); err != nil {
		return nil, err
	}
	if o.ShmSize, err = parseSize("shm-size", f.shmSize); err != nil {
		return nil, err
	}
	if f.memorySwappiness != -1 {
		sw := f.memorySwappiness
		o.MemorySwappiness = &sw
	}
	if f.pidsLimit != 0 {
		p := f.pidsLimit
		o.PidsLimit = &p
	}
	if len(f.networks) > 0 && f.networks[0] == "host" {
		o.NetNS = "host"
		if o.Hostname == "" {
			o.Hostname, _ = os.Hostname()
		}
	}
	// container:NAME joins the other container's namespace, found
	// again at each start (its pid changes when it restarts).
	if o.Hostname == "" {
		o.Hostname = container.ShortID(id)
	}
	o.CgroupsPath = cgroup.DefaultParent + "/" + id
	if f.cgroupParent != "" {
		o.CgroupsPath = strings.TrimSuffix(f.cgroupParent, "/") + "/" + id
	}
	return o, nil
}

// dockerConfig builds Docker's Config and HostConfig for inspect.
// full is the container's argv (spec.Command).
func dockerConfig(f *runFlags, req *createRequest, img *v1.ConfigFile, o *spec.Options, full []string) (*mobycontainer.Config, *mobycontainer.HostConfig, error) {
	ic := img.Config
	cfg := &mobycontainer.Config{
		Hostname:   o.Hostname,
		Domainname: o.Domainname,
		User:       ic.User,
		Tty:        f.tty,
		OpenStdin:  f.interactive,
		Env:        spec.ReplaceOrAppendEnv(slices.Clone(ic.Env), o.Env),
		WorkingDir: ic.WorkingDir,
		Labels:     map[string]string{},
		StopSignal: ic.StopSignal,
	}
	if f.user != "" {
		cfg.User = f.user
	}
	if f.workdir != "" {
		cfg.WorkingDir = f.workdir
	}
	for k, v := range ic.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range o.Labels {
		cfg.Labels[k] = v
	}
	if f.stopSignal != "" {
		cfg.StopSignal = f.stopSignal
	}
	if f.changed("stop-timeout") {
		t := f.stopTimeout
		cfg.StopTimeout = &t
	}
	// Attach: -d attaches nothing; -a picks; else stdout and stderr,
	// and stdin with -i.
	if !req.detach {
		if len(f.attach) == 0 {
			cfg.AttachStdout, cfg.AttachStderr = true, true
			cfg.AttachStdin = f.interactive
		}
		for _, a := range f.attach {
			switch strings.ToLower(a) {
			case "stdin":
				cfg.AttachStdin = true
			case "stdout":
				cfg.AttachStdout = true
			case "stderr":
				cfg.AttachStderr = true
			}
		}
	}
	cfg.StdinOnce = cfg.AttachStdin && f.interactive
	if o.EntrypointSet || len(ic.Entrypoint) > 0 {
		if o.EntrypointSet {
			cfg.Entrypoint = o.Entrypoint
		} else {
			cfg.Entrypoint = ic.Entrypoint
		}
	}
	cfg.Cmd = full[len(cfg.Entrypoint):]
	if len(ic.Volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for v := range ic.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if len(ic.ExposedPorts) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	}
	for _, e := range f.expose {
		ports, _, err := parseExpose(e)
		if err != nil {
			return nil, nil, err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	cfg.Healthcheck = mergeHealthcheck(f, ic.Healthcheck)

	restart, max, err := parseRestart(f.restart)
	if err != nil {
		return nil, nil, err
	}
	hc := &mobycontainer.HostConfig{
		Binds:          f.volumes,
		RestartPolicy:  mobycontainer.RestartPolicy{Name: mobycontainer.RestartPolicyMode(restart), MaximumRetryCount: max},
		AutoRemove:     f.rm,
		ConsoleSize:    req.consoleSize,
		CapAdd:         f.capAdd,
		CapDrop:        f.capDrop,
		CgroupnsMode:   mobycontainer.CgroupnsMode(o.CgroupnsMode),
		ExtraHosts:     f.addHosts,
		GroupAdd:       f.groupAdd,
		IpcMode:        mobycontainer.IpcMode(orDefault(f.ipc, "private")),
		OomScoreAdj:    f.oomScoreAdj,
		PidMode:        mobycontainer.PidMode(f.pid),
		Privileged:     f.privileged,
		ReadonlyRootfs: f.readOnly,
		SecurityOpt:    f.securityOpt,
		UTSMode:        mobycontainer.UTSMode(f.uts),
		UsernsMode:     mobycontainer.UsernsMode(f.userns),
		ShmSize:        o.ShmSize,
		Sysctls:        o.Sysctls,
		Runtime:        "hull",
		DNSSearch:      f.dnsSearch,
		DNSOptions:     f.dnsOpt,
		LogConfig:      mobycontainer.LogConfig{Type: "json-file", Config: map[string]string{}},
		Init:           boolPtrIf(f.init),
		Resources: mobycontainer.Resources{
			Memory:            o.Memory,
			MemorySwap:        o.MemorySwap,
			MemoryReservation: o.MemoryReservation,
			MemorySwappiness:  o.MemorySwappiness,
			NanoCPUs:          int64(f.cpus * 1e9),
			CPUShares:         f.cpuShares,
			CPUQuota:          f.cpuQuota,
			CPUPeriod:         f.cpuPeriod,
			CpusetCpus:        f.cpusetCpus,
			CpusetMems:        f.cpusetMems,
			PidsLimit:         o.PidsLimit,
			BlkioWeight:       f.blkioWeight,
			CgroupParent:      f.cgroupParent,
			DeviceCgroupRules: f.deviceRules,
		},
	}
	for _, d := range f.dns {
		if a, err := netip.ParseAddr(d); err == nil {
			hc.DNS = append(hc.DNS, a)
		}
	}
	if o.Memory > 0 && o.MemorySwap == 0 {
		hc.Resources.MemorySwap = 2 * o.Memory // what Docker records
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = spec.DefaultShmSize
	}
	for _, t := range f.tmpfs {
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		p, opts, _ := strings.Cut(t, ":")
		hc.Tmpfs[p] = opts
	}
	for _, d := range f.devices {
		parts := strings.Split(d, ":")
		dm := mobycontainer.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
		if len(parts) > 1 {
			dm.PathInContainer = parts[1]
		}
		if len(parts) > 2 {
			dm.CgroupPermissions = parts[2]
		}
		hc.Devices = append(hc.Devices, dm)
	}
	return cfg, hc, nil
}

func boolPtrIf(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

func orDefault(s, def string) string {
	if s == "" || s == "default" {
		return def
	}
	return s
}

// mergeHealthcheck merges the image's HEALTHCHECK with the --health-* flags.
func mergeHealthcheck(f *runFlags, img *v1.HealthConfig) *mobycontainer.HealthConfig {
	var hc *mobycontainer.HealthConfig
	if img != nil {
		hc = &mobycontainer.HealthConfig{
			Test: img.Test, Interval: img.Interval, Timeout: img.Timeout,
			StartPeriod: img.StartPeriod, Retries: img.Retries,
		}
	}
	if f.noHealthcheck {
		return &mobycontainer.HealthConfig{Test: []string{"NONE"}}
	}
	if f.healthCmd == "" && f.healthInterval == 0 && f.healthTimeout == 0 && f.healthStartPeriod == 0 && f.healthRetries == 0 && f.healthStartInterval == 0 {
		return hc
	}
	if hc == nil {
		hc = &mobycontainer.HealthConfig{}
	}
	if f.healthCmd != "" {
		hc.Test = []string{"CMD-SHELL", f.healthCmd}
	}
	if f.healthInterval != 0 {
		hc.Interval = f.healthInterval
	}
	if f.healthTimeout != 0 {
		hc.Timeout = f.healthTimeout
	}
	if f.healthStartPeriod != 0 {
		hc.StartPeriod = f.healthStartPeriod
	}
	if f.healthStartInterval != 0 {
		hc.StartInterval = f.healthStartInterval
	}
	if f.healthRetries != 0 {
		hc.Retries = f.healthRetries
	}
	return hc
}

// numericUser reports whether a --user value needs no name lookup
// ("", "1000", "1000:1000").
func numericUser(u string) bool {
	for _, part := range strings.Split(u, ":") {
		if _, err := strconv.ParseUint(part, 10, 32); err != nil && part != "" {
			return false
		}
	}
	return true
}
