package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/network"
	"github.com/hull-project/hull/runtime"
	"github.com/hull-project/hull/snapshot"
	"github.com/hull-project/hull/spec"
	digest "github.com/opencontainers/go-digest"
)

// runSpec is one RUN step's process.
type runSpec struct {
	argv []string
	env  []string
	// network is "default" (the default bridge network), "none" or
	// "host".
	network string
	// mounts are extra mounts (RUN --mount).
	mounts []spec.Mount
	// hosts are --add-host entries (name:ip).
	hosts []string
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run runs one RUN step on st in a container of its own (hull's runtime,
// Docker's default security profile) and returns the layer of what it
// changed (nil if nothing). The process's output goes to out.
func (b *build) run(ctx context.Context, st *state, rs runSpec, out io.Writer) (*cachedLayer, error) {
	id := newID()
	dir := filepath.Join(b.tmp, id[:16])
	upper, work, rootfs := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work, rootfs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
	}
	defer os.RemoveAll(dir)
	snaps := b.images.Snapshots()
	o := snapshot.Overlay{Upper: upper, Work: work}
	layers := st.diffIDs()
	for i := len(layers) - 1; i >= 0; i-- {
		o.Lower = append(o.Lower, snaps.Path(layers[i]))
	}
	if len(o.Lower) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return nil, err
		}
		o.Lower = []string{empty}
	}
	if err := o.Mount(rootfs); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	mounted := true
	defer func() {
		if mounted {
			_ = container.UnmountRootfs(rootfs)
		}
	}()
	etc, err := writeRunEtc(dir, rs)
	if err != nil {
		return nil, err
	}
	// Mount points the runtime makes (files and directories the image
	// does not have) must not end up in the layer: BuildKit removes them
	// too. Their missing ancestors are collected, deepest first.
	stubs := mountStubs(newLowerFS(snaps, layers), append(etc, rs.mounts...))
	opts := spec.Options{
		Cmd: rs.argv, EntrypointSet: true, Env: rs.env,
		User: st.cfg.Config.User, WorkingDir: st.cfg.Config.WorkingDir,
		Rootfs: rootfs, Hostname: "buildkitsandbox",
		Mounts:      append(etc, rs.mounts...),
		CgroupsPath: cgroup.DefaultParent + "/build-" + id,
	}
	// Recorded first, so that the next build can end this one's RUN
	// processes if this build is killed (see sweepScratch).
	if err := appendLine(filepath.Join(b.tmp, "cgroups"), opts.CgroupsPath); err != nil {
		return nil, err
	}
	if rs.network == "host" {
		opts.NetNS = "host"
	}
	sp, err := spec.Generate(&st.cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	sb, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Replace(filepath.Join(dir, "config.json"), sb, 0o600); err != nil {
		return nil, err
	}
	code, err := b.runContainer(ctx, id, dir, rs, out)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, &runError{argv: rs.argv, code: code}
	}
	if err := container.UnmountRootfs(rootfs); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	mounted = false
	removeStubs(upper, stubs)
	return b.storeUpper(ctx, layers, upper, b.opts.SourceDateEpoch)
}

// runError is a RUN step whose process failed, in BuildKit's words.
type runError struct {
	argv []string
	code int
}

func (e *runError) Error() string {
	return fmt.Sprintf("process %q did not complete successfully: exit code: %d", strings.Join(e.argv, " "), e.code)
}

// runContainer creates, wires, starts and waits for the container of
// bundle dir, and deletes it.
func (b *build) runContainer(ctx context.Context, id, dir string, rs runSpec, out io.Writer) (int, error) {
	rt := &runtime.Runtime{Root: filepath.Join(b.tmp, "runtime")}
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, pr)
		pr.Close()
		close(copied)
	}()
	c, err := rt.Create(id, runtime.CreateOptions{Bundle: dir, Stdout: pw, Stderr: pw})
	pw.Close()
	if err != nil {
		<-copied
		return 0, fmt.Errorf("run: %w", err)
	}
	defer func() { _ = c.Delete(true, nil) }()
	if rs.network == "default" && b.networks != nil {
		sbx, res, err := b.networks.Allocate(network.Request{ContainerID: id, Name: "build-" + id[:12], Hostname: "buildkitsandbox",
			Networks: []network.Attachment{{Network: network.DefaultName}}})
		if err != nil {
			<-copied
			return 0, fmt.Errorf("run: network: %w", err)
		}
		res.Close()
		defer func() { _ = b.networks.Release(id) }()
		if err := b.networks.Wire(sbx, c.InitPid()); err != nil {
			<-copied
			return 0, fmt.Errorf("run: network: %w", err)
		}
	}
	if err := c.Start(nil); err != nil {
		<-copied
		return runtime.StartExitCode(err), fmt.Errorf("run: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Signal(9, true) })
	defer stop()
	code, err := runtime.WaitChild(c.InitPid())
	<-copied
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("run: wait: %w", err)
	}
	return code, nil
}

// writeRunEtc writes a RUN container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf and returns their bind mounts.
func writeRunEtc(dir string, rs runSpec) ([]spec.Mount, error) {
	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range rs.hosts {
		name, addr, _ := network.ParseExtraHost(h)
		fmt.Fprintf(&hosts, "%s\t%s\n", addr, name)
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	if rs.network != "host" {
		resolv = network.WithoutLoopbackServers(resolv)
	}
	var mounts []spec.Mount
	for _, f := range []struct {
		name string
		data []byte
	}{{"hosts", hosts.Bytes()}, {"hostname", []byte("buildkitsandbox\n")}, {"resolv.conf", resolv}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, spec.Mount{Type: "bind", Source: p, Target: "/etc/" + f.name, Options: []string{"bind", "ro"}})
	}
	return mounts, nil
}

// storeUpper turns what a RUN wrote (upper, over layers) into a stored
// layer; nil if it changed nothing. With epoch (SOURCE_DATE_EPOCH) no
// entry's time is later than it, so the layer is reproducible.
func (b *build) storeUpper(ctx context.Context, layers []digest.Digest, upper string, epoch *time.Time) (*cachedLayer, error) {
	return b.storeLayer(ctx, func(w io.Writer) (int64, error) {
		if epoch == nil {
			n, err := container.WriteUpperLayer(b.images.Snapshots(), layers, upper, w)
			return int64(n), err
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := clampTimes(pr, w, *epoch)
			pr.CloseWithError(err) // the writer must not block on a failed copy
			done <- err
		}()
		n, err := container.WriteUpperLayer(b.images.Snapshots(), layers, upper, pw)
		pw.CloseWithError(err)
		if cerr := <-done; err == nil {
			err = cerr
		}
		return int64(n), err
	})
}

// clampTimes copies a tar stream, with every entry's modification time
// clamped to at most t and its access and change times dropped.
func clampTimes(r io.Reader, w io.Writer, t time.Time) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if h.ModTime.After(t) {
			h.ModTime = t
		}
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		delete(h.PAXRecords, "atime")
		delete(h.PAXRecords, "ctime")
		delete(h.PAXRecords, "mtime")
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// storeLayer stores the uncompressed layer tar write produces (an empty
// result means no layer) in the image store: blob and snapshot.
func (b *build) storeLayer(ctx context.Context, write func(io.Writer) (int64, error)) (*cachedLayer, error) {
	tmp, err := b.images.Content().TempFile("build-")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	dg := digest.SHA256.Digester()
	cw := &countWriter{w: io.MultiWriter(tmp, dg.Hash())}
	n, err := write(cw)
	if err != nil {
		return nil, err
	}
	if n == 0 || cw.n == 0 {
		return nil, nil
	}
	l := &cachedLayer{Digest: dg.Digest(), DiffID: dg.Digest(), Size: cw.n}
	desc := image.LayerDesc{Digest: l.Digest, Size: l.Size, MediaType: image.MediaTypeDockerLayerTar, DiffID: l.DiffID}
	if !b.images.HasLayer(desc) {
		if _, err := b.images.IngestLayer(ctx, io.NewSectionReader(tmp, 0, l.Size), desc, nil); err != nil {
			return nil, err
		}
	}
	return l, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// mountStubs lists the mount targets, and their ancestors, that the
// image does not have, deepest first.
func mountStubs(lower *lowerFS, mounts []spec.Mount) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range mounts {
		for p := path.Clean(m.Target); p != "/" && p != "."; p = path.Dir(p) {
			if seen[p] {
				break
			}
			if _, err := lower.Lstat(p); err == nil {
				break
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// removeStubs removes from a RUN's upper directory the mount points the
// runtime made, if they are still empty stubs (the step did not put
// anything there).
func removeStubs(upper string, stubs []string) {
	for _, p := range stubs {
		full := filepath.Join(upper, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		if err != nil {
			continue
		}
		if (fi.Mode().IsRegular() && fi.Size() == 0) || fi.IsDir() {
			_ = os.Remove(full) // a directory that is not empty stays
		}
	}
}

// appendLine appends a line to a file.
func appendLine(p, line string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
