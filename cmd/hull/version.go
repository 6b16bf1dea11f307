package main

import (
	"bufio"
	"fmt"
	"github.com/hull-project/hull/container"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Set with -ldflags "-X main.version=… -X main.gitCommit=… -X main.buildTime=…".
var (
	version   = "0.1.0-dev"
	gitCommit = ""
	buildTime = ""
)

// apiVersion is the Docker Engine API version whose output hull mirrors.
const apiVersion = "1.51"

func commit() string {
	if gitCommit != "" {
		return gitCommit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "unknown"
}

// versionString is what `hull --version` prints after "hull version ".
func versionString() string { return version + ", build " + commit() }

// versionInfo is the data of `hull version`, shaped like docker's.
type versionInfo struct {
	Client clientVersion
	Server *serverVersion
}

type clientVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
	GitCommit  string
	GoVersion  string
	Os         string
	Arch       string
	BuildTime  string `json:",omitempty"`
	Context    string
}

type serverVersion struct {
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
}

const defaultVersionTemplate = `{{with .Client -}}
Client:
 Version:	{{.Version}}
 API version:	{{.APIVersion}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}
{{- with .Server}}

Server: hull
 Engine:
  Version:	{{.Version}}
  API version:	{{.APIVersion}} (minimum version {{.MinAPIVersion}})
  Go version:	{{.GoVersion}}
  Git commit:	{{.GitCommit}}
  Built:	{{.BuildTime}}
  OS/Arch:	{{.Os}}/{{.Arch}}
  Experimental:	false
{{- end}}`

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func newVersionCommand(c *cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:                   "version [OPTIONS]",
		Short:                 "Show the hull version information",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "":
				format = defaultVersionTemplate
			case jsonFormatKey:
				format = jsonFormat
			}
			t, err := parseTemplate(format)
			if err != nil {
				return withStatus(64, err)
			}
			built := buildTime
			if built == "" {
				built = "unknown"
			}
			v := versionInfo{
				Client: clientVersion{Version: version, APIVersion: apiVersion, GitCommit: commit(), GoVersion: runtime.Version(),
					Os: runtime.GOOS, Arch: runtime.GOARCH, BuildTime: built, Context: "default"},
				Server: &serverVersion{Version: version, APIVersion: apiVersion, MinAPIVersion: "1.24", GitCommit: commit(),
					GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, KernelVersion: kernelVersion(), BuildTime: built},
			}
			tw := tabwriter.NewWriter(c.out, 20, 1, 1, ' ', 0)
			err = t.Execute(tw, v)
			fmt.Fprintln(tw)
			tw.Flush()
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

// infoData is the data of `hull info`, with docker's field names so that
// `--format '{{.DockerRootDir}}'` and friends work.
type infoData struct {
	Containers        int
	ContainersRunning int
	ContainersPaused  int
	ContainersStopped int
	Images            int
	Driver            string
	DriverStatus      [][2]string
	KernelVersion     string
	OperatingSystem   string
	OSType            string
	Architecture      string
	NCPU              int
	MemTotal          int64
	DockerRootDir     string
	HullRunRoot       string
	Name              string
	ServerVersion     string
	Debug             bool
}

func operatingSystem() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return runtime.GOOS
}

func newInfoCommand(c *cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:                   "info [OPTIONS]",
		Short:                 "Display system-wide information",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.imageStore()
			if err != nil {
				return err
			}
			images, err := s.List()
			if err != nil {
				return err
			}
			info := infoData{
				Images: len(images), Driver: "overlay2", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}},
				KernelVersion: kernelVersion(), OperatingSystem: operatingSystem(), OSType: runtime.GOOS,
				NCPU: runtime.NumCPU(), DockerRootDir: c.opts.root, HullRunRoot: c.opts.runroot,
				ServerVersion: version, Debug: c.opts.debug,
			}
			var u unix.Utsname
			if unix.Uname(&u) == nil {
				info.Architecture = unix.ByteSliceToString(u.Machine[:])
				info.Name = unix.ByteSliceToString(u.Nodename[:])
			}
			var si unix.Sysinfo_t
			if unix.Sysinfo(&si) == nil {
				info.MemTotal = int64(si.Totalram) * int64(si.Unit)
			}
			info.DriverStatus[0][1] = backingFilesystem(c.opts.root)
			// Containers, if this user can open the container store.
			if cs, err := c.containerStore(); err == nil {
				if recs, err := cs.List(); err == nil {
					info.Containers = len(recs)
					for _, r := range recs {
						switch r.State.Status {
						case container.Running, container.Restarting:
							info.ContainersRunning++
						case container.Paused:
							info.ContainersPaused++
						default:
							info.ContainersStopped++
						}
					}
				}
			}
			if format != "" {
				if format == jsonFormatKey {
					format = jsonFormat
				}
				t, err := parseTemplate(format)
				if err != nil {
					return withStatus(64, err)
				}
				if err := t.Execute(c.out, info); err != nil {
					return fmt.Errorf("template parsing error: %w", err)
				}
				fmt.Fprintln(c.out)
				return nil
			}
			printInfo(c, info)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

// backingFilesystem names the filesystem under dir as docker info does.
func backingFilesystem(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return "unknown"
}

func printInfo(c *cli, info infoData) {
	w := c.out
	fmt.Fprintln(w, "Client:")
	fmt.Fprintln(w, " Version:   ", version)
	fmt.Fprintln(w, " Context:    default")
	fmt.Fprintln(w, " Debug Mode:", info.Debug)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Server:")
	fmt.Fprintln(w, " Containers:", info.Containers)
	fmt.Fprintln(w, "  Running:", info.ContainersRunning)
	fmt.Fprintln(w, "  Paused:", info.ContainersPaused)
	fmt.Fprintln(w, "  Stopped:", info.ContainersStopped)
	fmt.Fprintln(w, " Images:", info.Images)
	fmt.Fprintln(w, " Server Version:", info.ServerVersion)
	fmt.Fprintln(w, " Storage Driver:", info.Driver)
	for _, kv := range info.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w, " Kernel Version:", info.KernelVersion)
	fmt.Fprintln(w, " Operating System:", info.OperatingSystem)
	fmt.Fprintln(w, " OSType:", info.OSType)
	fmt.Fprintln(w, " Architecture:", info.Architecture)
	fmt.Fprintln(w, " CPUs:", info.NCPU)
	fmt.Fprintln(w, " Total Memory:", units.BytesSize(float64(info.MemTotal)))
	fmt.Fprintln(w, " Name:", info.Name)
	fmt.Fprintln(w, " Docker Root Dir:", info.DockerRootDir)
	fmt.Fprintln(w, " Debug Mode:", info.Debug)
}
