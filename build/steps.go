package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hull-project/hull/build/buildctx"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/snapshot"
	"github.com/hull-project/hull/spec"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/sys/user"
	digest "github.com/opencontainers/go-digest"
)

// runCmd runs a RUN instruction.
func (sr *stageRun) runCmd(ctx context.Context, c *instructions.RunCommand) error {
	if err := c.Expand(sr.expander()); err != nil {
		return err
	}
	argv := sr.argv(c.ShellDependantCmdLine)
	var heredocMounts []spec.Mount
	if len(c.Files) > 0 {
		shell := sr.st.cfg.Config.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		line := strings.TrimSpace(strings.Join(c.CmdLine, " "))
		single := len(c.Files) == 1 && c.PrependShell && (line == "<<"+c.Files[0].Name || line == "<<-"+c.Files[0].Name)
		data := ""
		if single {
			data = c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
		}
		switch {
		case single && !strings.HasPrefix(data, "#!"):
			// RUN <<EOF alone: the heredoc is the shell's script.
			argv = append(append([]string{}, shell...), data)
		case single:
			// A script with its own interpreter (#!) runs as a file,
			// as BuildKit does at /dev/pipes/NAME.
			f := c.Files[0]
			p := filepath.Join(sr.bd.tmp, "heredoc-"+newID()[:12])
			if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
				return err
			}
			heredocMounts = append(heredocMounts, spec.Mount{Type: "bind", Source: p, Target: "/dev/pipes/" + f.Name, Options: []string{"bind", "ro"}})
			argv = append(append([]string{}, shell...), "/dev/pipes/"+f.Name)
		case c.PrependShell:
			// Heredocs within a command: the shell reads them itself.
			script := line
			for _, f := range c.Files {
				data := f.Data
				if f.Chomp {
					data = parser.ChompHeredocContent(data)
				}
				script += "\n" + data + f.Name
			}
			argv = append(append([]string{}, shell...), script)
		default:
			return fmt.Errorf("heredocs need the shell form of RUN")
		}
	}
	netMode := instructions.GetNetwork(c)
	switch netMode {
	case "", instructions.NetworkDefault:
		netMode = sr.bd.opts.Network
	case instructions.NetworkNone, instructions.NetworkHost:
	default:
		return fmt.Errorf("RUN --network=%s is not supported", netMode)
	}
	env := sr.st.cfg.Config.Env
	// The ARGs in scope, ENV winning over an ARG of the same name.
	var argsInScope []string
	for _, k := range sr.args.Keys() {
		v, set := lookupEnv(env, k)
		if !set {
			v, _ = sr.args.Get(k)
			env = append(env, k+"="+v)
		}
		argsInScope = append(argsInScope, k+"="+v)
	}
	for _, k := range proxyArgs {
		if v, ok := sr.bd.opts.BuildArgs[k]; ok {
			env = setEnv(env, k, v)
		}
	}
	mounts, secretEnv, mountKey, cleanup, err := sr.runMounts(ctx, instructions.GetMounts(c))
	defer cleanup()
	if err != nil {
		return err
	}
	mounts = append(mounts, heredocMounts...)
	// BuildKit's history entry: the ARGs in scope first ("|2 A=1 B=2").
	createdBy := "RUN " + strings.Join(argv, " ") + " # buildkit"
	if len(argsInScope) > 0 {
		createdBy = "RUN |" + strconv.Itoa(len(argsInScope)) + " " + strings.Join(argsInScope, " ") + " " + strings.Join(argv, " ") + " # buildkit"
	}
	key := strings.Join([]string{"run", jsonArray(argv), jsonArray(env), sr.st.cfg.Config.User, sr.st.cfg.Config.WorkingDir, netMode, mountKey, jsonArray(sr.bd.opts.ExtraHosts)}, "\x00")
	// Secrets given as environment variables are in the process's
	// environment only: not in the key, the history or the image.
	rs := runSpec{argv: argv, env: append(slices.Clone(env), secretEnv...), network: netMode, mounts: mounts, hosts: sr.bd.opts.ExtraHosts}
	return sr.layerStep(ctx, key, createdBy, func(step int) (*cachedLayer, error) {
		out := &prefixWriter{bd: sr.bd, prefix: "#" + strconv.Itoa(step) + " "}
		return sr.bd.run(ctx, sr.st, rs, out)
	})
}

func lookupEnv(env []string, k string) (string, bool) {
	for _, e := range env {
		if name, v, _ := strings.Cut(e, "="); name == k {
			return v, true
		}
	}
	return "", false
}

// runMounts turns RUN --mount flags into mounts: cache (a directory kept
// across builds), tmpfs, secret (a file given with --secret, never in a
// layer) and bind (read-only from the context or another stage). It also
// returns what of them belongs in the step's cache key.
func (sr *stageRun) runMounts(ctx context.Context, ms []*instructions.Mount) ([]spec.Mount, []string, string, func(), error) {
	var out []spec.Mount
	var secretEnv []string
	var key []string
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	for _, m := range ms {
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			target = path.Join(orRoot(sr.st.cfg.Config.WorkingDir), target)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			id := m.CacheID
			if id == "" {
				id = target
			}
			sum := sha256.Sum256([]byte(id))
			dir := filepath.Join(sr.bd.Dir, "mounts", hex.EncodeToString(sum[:16]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, nil, "", cleanup, err
			}
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			out = append(out, spec.Mount{Type: "bind", Source: dir, Target: target, Options: opts})
			key = append(key, "cache:"+target)
		case instructions.MountTypeTmpfs:
			out = append(out, spec.Mount{Type: "tmpfs", Source: "tmpfs", Target: target, Options: []string{"nosuid", "nodev"}})
			key = append(key, "tmpfs:"+target)
		case instructions.MountTypeSecret:
			id := m.CacheID
			if id == "" {
				id = path.Base(m.Target)
			}
			src, ok := sr.bd.opts.Secrets[id]
			if !ok {
				if m.Required {
					return nil, nil, "", cleanup, fmt.Errorf("secret %s not provided (use --secret id=%s,src=FILE)", id, id)
				}
				continue
			}
			key = append(key, "secret:"+id+":"+target)
			if m.Env != nil {
				// env=NAME: the secret's value in a variable; a file
				// too only if a target is given.
				b, err := os.ReadFile(src)
				if err != nil {
					return nil, nil, "", cleanup, fmt.Errorf("secret %s: %w", id, err)
				}
				name := *m.Env
				if name == "" {
					name = id
				}
				secretEnv = append(secretEnv, name+"="+string(b))
				if m.Target == "" {
					continue
				}
			}
			if target == "" {
				target = "/run/secrets/" + id
			}
			// A private copy with the mount's mode (0400 by default)
			// and owner, as BuildKit presents secrets.
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, nil, "", cleanup, fmt.Errorf("secret %s: %w", id, err)
			}
			mode, uid, gid := fs.FileMode(0o400), 0, 0
			if m.Mode != nil {
				mode = fs.FileMode(*m.Mode)
			}
			if m.UID != nil {
				uid = int(*m.UID)
			}
			if m.GID != nil {
				gid = int(*m.GID)
			}
			cp := filepath.Join(sr.bd.tmp, "secret-"+newID()[:12])
			if err := os.WriteFile(cp, b, 0o600); err != nil {
				return nil, nil, "", cleanup, err
			}
			cleanups = append(cleanups, func() { _ = os.Remove(cp) })
			if err := os.Chmod(cp, mode); err != nil {
				return nil, nil, "", cleanup, err
			}
			if err := os.Chown(cp, uid, gid); err != nil {
				return nil, nil, "", cleanup, err
			}
			out = append(out, spec.Mount{Type: "bind", Source: cp, Target: target, Options: []string{"bind", "ro"}})
		case instructions.MountTypeBind:
			src := m.Source
			var srcPath, rootKey string
			if m.From == "" {
				// The context as the build sees it: .dockerignore'd
				// files are not there.
				dir, sum, err := sr.contextView(ctx, orDot(src))
				cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
				if err != nil {
					return nil, nil, "", cleanup, err
				}
				srcPath, rootKey = dir, "context:"+sum
			} else {
				mnt, k, done, err := sr.mountFrom(ctx, m.From)
				cleanups = append(cleanups, done)
				if err != nil {
					return nil, nil, "", cleanup, err
				}
				srcPath, rootKey = filepath.Join(mnt, filepath.Clean("/"+src)), k
			}
			if !m.ReadOnly {
				// rw: the step may write; the writes go to a scratch
				// layer that is thrown away.
				dir, err := os.MkdirTemp(sr.bd.tmp, "rw")
				if err != nil {
					return nil, nil, "", cleanup, err
				}
				up, wk, mp := filepath.Join(dir, "u"), filepath.Join(dir, "w"), filepath.Join(dir, "m")
				for _, d := range []string{up, wk, mp} {
					_ = os.Mkdir(d, 0o755)
				}
				if err := (snapshot.Overlay{Lower: []string{srcPath}, Upper: up, Work: wk}).Mount(mp); err != nil {
					return nil, nil, "", cleanup, fmt.Errorf("RUN --mount=type=bind,rw: %w", err)
				}
				cleanups = append(cleanups, func() { _ = container.UnmountRootfs(mp); _ = os.RemoveAll(dir) })
				srcPath = mp
			}
			opts := []string{"rbind", "ro"}
			if !m.ReadOnly {
				opts = []string{"rbind"}
			}
			out = append(out, spec.Mount{Type: "bind", Source: srcPath, Target: target, Options: opts})
			key = append(key, fmt.Sprintf("bind:%s:%s:%s:%v", rootKey, src, target, m.ReadOnly))
		default:
			return nil, nil, "", cleanup, fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
	}
	return out, secretEnv, strings.Join(key, "\x00"), cleanup, nil
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// mountFrom mounts a stage's (or image's) file system read-only and
// returns its directory, the cache key of its content and the unmount.
func (sr *stageRun) mountFrom(ctx context.Context, from string) (string, string, func(), error) {
	st, err := sr.fromState(ctx, from)
	if err != nil {
		return "", "", func() {}, err
	}
	dir, err := os.MkdirTemp(sr.bd.tmp, "from")
	if err != nil {
		return "", "", func() {}, err
	}
	layers := st.diffIDs()
	done := func() {
		_ = container.UnmountRootfs(dir)
		_ = os.RemoveAll(dir)
	}
	if len(layers) == 0 {
		return dir, st.key.String(), done, nil
	}
	o := snapshot.Overlay{}
	for i := len(layers) - 1; i >= 0; i-- {
		o.Lower = append(o.Lower, sr.bd.images.Snapshots().Path(layers[i]))
	}
	if err := o.Mount(dir); err != nil {
		return "", "", done, fmt.Errorf("mount %s: %w", from, err)
	}
	return dir, st.key.String(), done, nil
}

// fromState is the state --from names: an earlier stage (by name or
// index) or an image.
func (sr *stageRun) fromState(ctx context.Context, from string) (*state, error) {
	byName := map[string]*stagePlan{}
	for _, s := range sr.bd.plan.stages[:sr.sp.index] {
		if s.stage.Name != "" {
			byName[strings.ToLower(s.stage.Name)] = s
		}
	}
	if s := lookupStage(byName, sr.bd.plan.stages[:sr.sp.index], from); s != nil {
		return sr.bd.stage(ctx, s)
	}
	img, err := sr.bd.baseImage(ctx, from)
	if err != nil {
		return nil, err
	}
	return imageState(img)
}

// copyFlags are COPY's and ADD's flags.
type copyFlags struct {
	from, chown, chmod string
	exclude            []string
	link, add, parents bool
	checksum           string
	unpack             *bool
}

// copyCmd runs COPY or ADD.
func (sr *stageRun) copyCmd(ctx context.Context, sd instructions.SourcesAndDest, f copyFlags, name, original string) error {
	if f.parents {
		return fmt.Errorf("%s --parents is not supported", name)
	}
	dest := sd.DestPath
	if !path.IsAbs(dest) {
		dest = path.Join(orRoot(sr.st.cfg.Config.WorkingDir), dest)
		if strings.HasSuffix(sd.DestPath, "/") || sd.DestPath == "." {
			dest += "/"
		}
	}
	lower := newLowerFS(sr.bd.images.Snapshots(), sr.st.diffIDs())
	// A glob matching nothing is no error in BuildKit.
	cs := buildctx.CopySpec{Sources: sd.SourcePaths, Dest: dest, Exclude: f.exclude, AllowEmptyWildcard: true}
	if t := sr.bd.opts.SourceDateEpoch; t != nil {
		cs.Time = t
	}
	if f.chown != "" {
		o, err := resolveOwner(lower, f.chown)
		if err != nil {
			return err
		}
		cs.Chown = &o
	}
	if f.chmod != "" {
		if err := cs.SetChmod(f.chmod); err != nil {
			return err
		}
	}
	bctx := sr.bd.opts.Context
	keySrc := ""
	var done func()
	switch {
	case len(sd.SourceContents) > 0:
		// COPY <<EOF /file: the heredocs are the sources.
		dir, err := os.MkdirTemp(sr.bd.tmp, "heredoc")
		if err != nil {
			return err
		}
		var names []string
		for _, c := range sd.SourceContents {
			if err := os.WriteFile(filepath.Join(dir, c.Path), []byte(c.Data), 0o644); err != nil {
				return err
			}
			names = append(names, c.Path)
		}
		if bctx, err = buildctx.FromDirNoIgnore(dir); err != nil {
			return err
		}
		defer bctx.Close()
		cs.Sources = names
	case f.from != "":
		mnt, k, d, err := sr.mountFrom(ctx, f.from)
		done = d
		if err != nil {
			return err
		}
		if bctx, err = buildctx.FromDirNoIgnore(mnt); err != nil {
			return err
		}
		defer bctx.Close()
		keySrc = "from:" + k
	case f.add && anyURL(sd.SourcePaths):
		if !allURL(sd.SourcePaths) {
			return fmt.Errorf("ADD: mixing URLs and local sources in one instruction is not supported")
		}
		dir, err := os.MkdirTemp(sr.bd.tmp, "url")
		if err != nil {
			return err
		}
		var names []string
		for i, u := range sd.SourcePaths {
			// A directory each: two URLs may end in the same name.
			sub := filepath.Join(dir, strconv.Itoa(i))
			if err := os.Mkdir(sub, 0o700); err != nil {
				return err
			}
			p, err := buildctx.FetchURL(ctx, u, sub, digestOrEmpty(f.checksum))
			if err != nil {
				return err
			}
			names = append(names, strconv.Itoa(i)+"/"+filepath.Base(p))
		}
		if bctx, err = buildctx.FromDirNoIgnore(dir); err != nil {
			return err
		}
		defer bctx.Close()
		cs.Sources = names
	}
	if done != nil {
		defer done()
	}
	cs.Extract = f.add && (f.unpack == nil || *f.unpack) && !anyURL(sd.SourcePaths)
	if f.add && f.unpack != nil && *f.unpack {
		cs.Extract = true
	}
	var sum string
	if keySrc != "" {
		sum = keySrc
	} else {
		d, err := bctx.Checksum(cs)
		if err != nil {
			var nf *buildctx.NotFoundError
			if errors.As(err, &nf) {
				return fmt.Errorf("failed to compute cache key: failed to calculate checksum of ref %s: %w", sr.st.key.Encoded()[:12], err)
			}
			return err
		}
		sum = d.String()
	}
	// BuildKit's history entry: the instruction with --chown and
	// --chmod, without --from and --link.
	words := []string{name}
	if f.chown != "" {
		words = append(words, "--chown="+f.chown)
	}
	if f.chmod != "" {
		words = append(words, "--chmod="+f.chmod)
	}
	words = append(words, sd.SourcePaths...)
	for _, c := range sd.SourceContents {
		words = append(words, "<<"+c.Path)
	}
	createdBy := strings.Join(append(words, sd.DestPath), " ") + " # buildkit"
	key := strings.Join([]string{strings.ToLower(name), original, dest, f.chown, f.chmod, strings.Join(f.exclude, ","), sum}, "\x00")
	return sr.layerStep(ctx, key, createdBy, func(int) (*cachedLayer, error) {
		return sr.bd.storeLayer(ctx, func(w io.Writer) (int64, error) { return bctx.WriteLayer(w, cs, lower) })
	})
}

func anyURL(srcs []string) bool {
	for _, s := range srcs {
		if isURL(s) {
			return true
		}
	}
	return false
}

func allURL(srcs []string) bool {
	for _, s := range srcs {
		if !isURL(s) {
			return false
		}
	}
	return true
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// resolveOwner resolves --chown's user[:group] with the image's
// /etc/passwd and /etc/group (names) or as numbers.
func resolveOwner(lower *lowerFS, s string) (buildctx.Owner, error) {
	u, g, hasGroup := strings.Cut(s, ":")
	var o buildctx.Owner
	uid, err := strconv.Atoi(u)
	if err != nil {
		users, perr := user.ParsePasswdFilter(readLower(lower, "/etc/passwd"), func(x user.User) bool { return x.Name == u })
		if perr != nil || len(users) == 0 {
			return o, fmt.Errorf("unable to find user %s: no matching entries in passwd file", u)
		}
		uid = users[0].Uid
		if !hasGroup {
			o.GID = users[0].Gid
		}
	} else if !hasGroup {
		o.GID = uid
	}
	o.UID = uid
	if hasGroup {
		gid, err := strconv.Atoi(g)
		if err != nil {
			groups, perr := user.ParseGroupFilter(readLower(lower, "/etc/group"), func(x user.Group) bool { return x.Name == g })
			if perr != nil || len(groups) == 0 {
				return o, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
			}
			gid = groups[0].Gid
		}
		o.GID = gid
	}
	return o, nil
}

// mkdirLayer is a layer with directory p and its parents that lower
// lacks, 0755 and owned by owner (WORKDIR's current USER), as BuildKit
// makes them.
func mkdirLayer(lower *lowerFS, p string, owner buildctx.Owner, mtime time.Time) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		tw := tar.NewWriter(w)
		rel := strings.Trim(path.Clean(p), "/")
		parts := strings.Split(rel, "/")
		for i := range parts {
			name := strings.Join(parts[:i+1], "/") + "/"
			if fi, err := lower.Lstat("/" + name); err == nil && fi.IsDir() {
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, Uid: owner.UID, Gid: owner.GID, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return 0, err
			}
		}
		if err := tw.Close(); err != nil {
			return 0, err
		}
		return int64(len(parts)), nil
	}
}

// digestOrEmpty parses ADD --checksum (empty: none).
func digestOrEmpty(s string) digest.Digest {
	if s == "" {
		return ""
	}
	return digest.Digest(s)
}

// contextView copies the part src of the build context, without what
// .dockerignore leaves out, into a scratch directory (RUN --mount=type=bind
// of the context) and returns it with its checksum.
func (sr *stageRun) contextView(ctx context.Context, src string) (string, string, error) {
	dir, err := os.MkdirTemp(sr.bd.tmp, "ctx")
	if err != nil {
		return "", "", err
	}
	cs := buildctx.CopySpec{Sources: []string{src}, Dest: "/"}
	sum, err := sr.bd.opts.Context.Checksum(cs)
	if err != nil {
		return dir, "", err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := sr.bd.opts.Context.WriteLayer(pw, cs, nil)
		pw.CloseWithError(err)
	}()
	if _, err := snapshot.ExtractContext(ctx, dir, pr, snapshot.ExtractOptions{}); err != nil {
		pr.CloseWithError(err)
		return dir, "", fmt.Errorf("RUN --mount=type=bind: %w", err)
	}
	return dir, sum.String(), nil
}
