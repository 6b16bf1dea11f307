package buildctx

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher/ignorefile"
)

// fuzzTree is the context the fuzz tests walk.
var fuzzTree = []fsEnt{
	f("a", ""), f("b", ""), f("a.txt", ""), f("b.md", ""), f(".hidden", ""), f("sp ace", ""),
	f("[br]", ""), f("*star", ""), f("Dockerfile", ""),
	f("dir/a", ""), f("dir/b.md", ""), f("dir/sub/a.txt", ""), f("dir/sub/deep/x", ""),
	d("dir/empty"), f("node_modules/pkg/index.js", ""), f("x/y/z/w", ""), f("x/y/a.txt", ""),
	f("src/main.go", ""), f("src/main_test.go", ""), f("src/vendor/lib/lib.go", ""),
}

// fuzzPaths lists every path of fuzzTree and whether it is a directory.
func fuzzPaths() map[string]bool {
	out := map[string]bool{}
	for _, e := range fuzzTree {
		comps := strings.Split(e.path, "/")
		for i := range comps {
			out[strings.Join(comps[:i+1], "/")] = i < len(comps)-1 || e.kind == 'd'
		}
	}
	return out
}

// FuzzDockerignore checks that the context walk (which skips excluded
// directories no exception can reach into) and the resolver's view show
// exactly the paths Ignored leaves, plus the directories holding them.
func FuzzDockerignore(f *testing.F) {
	for _, s := range []string{
		"", "*", "*\n!src", "dir\n!dir/sub/a.txt", "**/*.txt\n!x/**", "/a\n./b", "!a", "dir/*\n!dir/sub",
		"**", "**\n!**/*.go", "x/y\n!x/y/z/w", "*/sub\n!*/sub/deep", "[ab]*\n!a*", "src/**/*.go\n!src/vendor",
		"dir/**/x\n!dir/sub/*", "\\*star\n[[]br]", "*.md\n!*/b.md\ndir", "node_modules\n!node_modules/pkg/index.js",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	mkTree(f, dir, fuzzTree...)
	all := fuzzPaths()
	f.Fuzz(func(t *testing.T, ignore string) {
		patterns, err := ignorefile.ReadAll(strings.NewReader(ignore))
		if err != nil {
			return
		}
		m, err := newMatcher(patterns)
		if err != nil {
			return
		}
		c := &Context{dir: dir, ignore: m, digests: map[string]cachedDigest{}}
		defer c.Close()
		// Ground truth from Ignored alone.
		want := map[string]bool{}
		var names []string
		for p := range all {
			names = append(names, p)
		}
		// Deepest first, so a directory sees its children's verdicts.
		slices.SortFunc(names, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, p := range names {
			if !c.Ignored(p) {
				want[p] = true
				continue
			}
			if all[p] {
				for q := range want {
					if strings.HasPrefix(q, p+"/") {
						want[p] = true
						break
					}
				}
			}
		}
		w := &walker{root: dir, ignore: m}
		nodes, err := w.children("", "", zeroInfo, zeroInfo)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, n := range nodes {
			got[n.rel] = true
		}
		for p := range all {
			if got[p] != want[p] {
				t.Errorf("%q: walk shows it %v, Ignored says %v (patterns %q)", p, got[p], want[p], patterns)
			}
			_, err := newView(c).lstat(p)
			if (err == nil) != want[p] || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
				t.Errorf("%q: view lstat %v, want visible %v (patterns %q)", p, err, want[p], patterns)
			}
		}
	})
}

// FuzzGlob checks source globbing against path.Match over every path.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{"*", "*.txt", "dir/*", "*/sub/*", "[ab]*", "?", "x/*/z/w", `\*star`, "[[]br]", "*/*/*", "dir/sub/deep/?", "src/*.go"} {
		f.Add(s)
	}
	dir := f.TempDir()
	mkTree(f, dir, fuzzTree...)
	all := fuzzPaths()
	f.Fuzz(func(t *testing.T, pattern string) {
		p := cleanRel(pattern)
		prefix, pat := splitWildcards(p)
		if pat == nil {
			return
		}
		c := &Context{dir: dir, digests: map[string]cachedDigest{}}
		defer c.Close()
		got, err := newView(c).glob(prefix, pat)
		if err != nil {
			return // a bad pattern
		}
		var want []string
		for q := range all {
			if strings.Count(q, "/") != strings.Count(p, "/") {
				continue
			}
			if ok, err := path.Match(p, q); err == nil && ok {
				want = append(want, q)
			}
		}
		slices.SortFunc(want, comparePaths)
		if !slices.Equal(got, want) {
			t.Errorf("glob %q = %q, path.Match says %q", p, got, want)
		}
	})
}
