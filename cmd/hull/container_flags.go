package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"
)

// runFlags are the flags of `run` and `create` (docker's names).
type runFlags struct {
	name, workdir, user, entrypoint, hostname, domainname string
	env, envFile, labels, labelFile                       []string
	volumes, mounts, tmpfs                                []string
	capAdd, capDrop, securityOpt, devices, deviceRules    []string
	groupAdd, ulimits, sysctls, addHosts, attach          []string
	logOpts, dns, dnsSearch, dnsOpt, publish, expose      []string
	tty, interactive, readOnly, privileged, rm            bool
	init, noHealthcheck, publishAll, oomKillDisable       bool
	memory, memorySwap, memoryReservation, shmSize        string
	memorySwappiness                                      int64
	cpus                                                  float64
	cpuShares, cpuQuota, cpuPeriod                        int64
	cpusetCpus, cpusetMems                                string
	pidsLimit                                             int64
	blkioWeight                                           uint16
	oomScoreAdj                                           int
	restart, stopSignal                                   string
	stopTimeout                                           int
	pid, ipc, uts, userns, cgroupns, cgroupParent         string
	ip, ip6, macAddress                                   string
	networks, networkAliases, links                       []string
	pull, platform, cidfile, logDriver                    string
	healthCmd                                             string
	healthInterval, healthTimeout, healthStartPeriod      time.Duration
	healthStartInterval                                   time.Duration
	healthRetries                                         int

	fs *pflag.FlagSet
}

// changed reports whether the flag name was given.
func (f *runFlags) changed(name string) bool { return f.fs != nil && f.fs.Changed(name) }

// register adds the flags to fs.
func (f *runFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.SetInterspersed(false)
	shadowGlobalShorthands(fs)
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&f.domainname, "domainname", "", "Container NIS domain name")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringArrayVar(&f.labelFile, "label-file", nil, "Read in a line delimited file of labels")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "Bind mount a volume")
	fs.StringArrayVar(&f.mounts, "mount", nil, "Attach a filesystem mount to the container")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "Security Options")
	fs.StringArrayVar(&f.devices, "device", nil, "Add a host device to the container")
	fs.StringArrayVar(&f.deviceRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "Add additional groups to join")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "Ulimit options")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "Sysctl options")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.StringArrayVarP(&f.attach, "attach", "a", nil, "Attach to STDIN, STDOUT or STDERR")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "Log driver options (max-size, max-file)")
	fs.StringVar(&f.logDriver, "log-driver", "", "Logging driver for the container (json-file)")
	fs.StringArrayVar(&f.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&f.dnsOpt, "dns-option", nil, "Set DNS options")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fs.StringArrayVar(&f.expose, "expose", nil, "Expose a port or a range of ports")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to this container")
	fs.BoolVar(&f.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	fs.BoolVar(&f.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.BoolVar(&f.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	fs.BoolVar(&f.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	fs.StringVarP(&f.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.Int64Var(&f.memorySwappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	fs.StringVar(&f.shmSize, "shm-size", "", "Size of /dev/shm")
	fs.Float64Var(&f.cpus, "cpus", 0, "Number of CPUs")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&f.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64Var(&f.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fs.IntVar(&f.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	fs.StringVar(&f.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringArrayVar(&f.networks, "network", nil, "Connect a container to a network (bridge, host, none, container:NAME, or a network's name)")
	fs.StringArrayVar(&f.networks, "net", nil, "Connect a container to a network")
	fs.StringArrayVar(&f.networkAliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&f.networkAliases, "net-alias", nil, "Add network-scoped alias for the container")
	fs.StringVar(&f.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&f.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fs.StringVar(&f.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.StringArrayVar(&f.links, "link", nil, "Add link to another container (legacy; use a user-defined network)")
	_ = fs.MarkHidden("net")
	fs.StringVar(&f.pid, "pid", "", "PID namespace to use")
	fs.StringVar(&f.ipc, "ipc", "", "IPC mode to use")
	fs.StringVar(&f.uts, "uts", "", "UTS namespace to use")
	fs.StringVar(&f.userns, "userns", "", "User namespace to use")
	fs.StringVar(&f.cgroupns, "cgroupns", "", `Cgroup namespace to use (host|private)`)
	fs.StringVar(&f.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	fs.StringVar(&f.pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
	fs.StringVar(&f.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	fs.StringVar(&f.cidfile, "cidfile", "", "Write the container ID to the file")
	fs.StringVar(&f.healthCmd, "health-cmd", "", "Command to run to check health")
	fs.DurationVar(&f.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fs.DurationVar(&f.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.DurationVar(&f.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fs.DurationVar(&f.healthStartInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fs.IntVar(&f.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
}

// shadowGlobalShorthands frees -h and -l for a command's own flags (run's
// --hostname and --label, ps's --latest), as in docker, where the global
// flags only come before the command: local --help and --log-level flags
// without shorthands keep the root's from being merged in.
func shadowGlobalShorthands(fs *pflag.FlagSet) {
	fs.Bool("help", false, "Print usage")
	_ = fs.MarkHidden("help")
	fs.String("log-level", "info", "Set the logging level")
	_ = fs.MarkHidden("log-level")
}

// parseSize parses a memory size flag ("512m"); empty is 0.
func parseSize(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if flag == "memory-swap" && v == "-1" {
		return -1, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return 0, fmt.Errorf("invalid argument %q for \"--%s\" flag: %w", v, flag, err)
	}
	return n, nil
}

// readKVFiles reads env or label files: KEY=value lines, # comments and
// blank lines skipped; a bare KEY takes the host's value for env files.
func readKVFiles(paths []string, env bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimLeft(sc.Text(), " \t")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, _, _ := strings.Cut(line, "=")
			if key == "" || strings.ContainsAny(key, " \t") {
				f.Close()
				return nil, fmt.Errorf("invalid line %d in %s: variable '%s' contains whitespaces", n, p, key)
			}
			out = append(out, line)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	if env {
		return expandEnv(out), nil
	}
	return out, nil
}

// expandEnv turns bare KEY entries into KEY=value from hull's own
// environment, dropping those that are unset (docker run -e KEY).
func expandEnv(in []string) []string {
	out := make([]string, 0, len(in))
	for _, e := range in {
		if strings.Contains(e, "=") {
			out = append(out, e)
			continue
		}
		if v, ok := os.LookupEnv(e); ok {
			out = append(out, e+"="+v)
		}
	}
	return out
}

// parseLabels turns KEY=value (or KEY) entries into a map.
func parseLabels(in []string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	m := make(map[string]string, len(in))
	for _, l := range in {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// parseSysctls parses --sysctl KEY=VALUE.
func parseSysctls(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(in))
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid argument %q for \"--sysctl\" flag: sysctl %q is not in the form KEY=VALUE", s, s)
		}
		m[k] = v
	}
	return m, nil
}

// parseRestart parses --restart: no, always, unless-stopped,
// on-failure[:max-retries].
func parseRestart(v string) (name string, max int, err error) {
	name, n, hasN := strings.Cut(v, ":")
	switch name {
	case "", "no":
		if hasN {
			break
		}
		return "no", 0, nil
	case "always", "unless-stopped":
		if hasN {
			return "", 0, fmt.Errorf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
		return name, 0, nil
	case "on-failure":
		if !hasN {
			return name, 0, nil
		}
		max, err := strconv.Atoi(n)
		if err != nil {
			return "", 0, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
		}
		if max < 0 {
			return "", 0, fmt.Errorf("invalid restart policy: maximum retry count cannot be negative")
		}
		return name, max, nil
	}
	return "", 0, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", v)
}
