package reference

import (
	"strings"
	"testing"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// compatInputs are references (valid and not) that exercise every part of
// the grammar.
var compatInputs = func() []string {
	hex64 := strings.Repeat("a", 64)
	in := []string{
		"", "busybox", "busybox:1.36", "user/app", "ghcr.io/o/r:v1", "127.0.0.1:5000/x/y",
		"quay.io/a/b@sha256:" + hex64, "UPPER", "a b", "sha256:" + hex64, hex64, "x@sha256:zz", "x:",
		"localhost", "localhost:5000", "localhost/x", "localhost:5000/x:tag", "index.docker.io/foo",
		"index.docker.io/library/foo", "docker.io/library/foo/bar", "docker.io/foo", "library/foo",
		"Foo/bar", "foo/Bar", "FOO.io/bar", "foo.IO/bar:TAG", "a_b.c/x", "a__b", "a___b", "a..b", "a.-b",
		"a-b", "a--b", "a-", "-a", "a.", "_a", "a/", "/a", "a//b", "a/b/c/d", "[::1]/x", "[::1]:5000/x:y",
		"[]/x", "[::1/x", "[g::1]/x", "a:b:c", "a:b/c:d", "a:123/b", "a:12x/b", "a:/b", "host:/b",
		"x@sha256:" + hex64 + "@sha256:" + hex64, "x:t@sha256:" + hex64, "x@sha512:" + strings.Repeat("b", 128),
		"x@sha384:" + strings.Repeat("c", 96), "x@md5:" + strings.Repeat("d", 32), "x@sha256:" + strings.Repeat("A", 64),
		"x@sha256:" + strings.Repeat("a", 63), "x@sha256+b64u:" + strings.Repeat("a", 64), "x@a.b-c_d+e:" + strings.Repeat("0", 32),
		"x@1a:" + strings.Repeat("0", 32), "x@a:" + strings.Repeat("0", 31), "x@", "x@:", "@sha256:" + hex64,
		"x:" + strings.Repeat("t", 128), "x:" + strings.Repeat("t", 129), "x:.t", "x:-t", "x:_t", "x:t.t-t_t",
		"x:t/y", "a.b.c:1/d/e", "a-.b/c", "a.-b/c", "-a.b/c", "a.b-/c", "ex-ample.com/x", "1.2.3.4/x",
		strings.Repeat("a", 255), strings.Repeat("a", 256), "library/" + strings.Repeat("a", 247), "library/" + strings.Repeat("a", 248),
		"example.com/" + strings.Repeat("a", 255), "example.com/" + strings.Repeat("a", 256),
		"ubuntu@", "a@b", "a:b@c:d", "\x00", "a\nb", "é", "a/é", "localhost:5000", "LOCALHOST/x",
		"foo.com", "foo.com:tag", "foo_bar.com/x", "Localhost/x", "a:1:2/b",
	}
	return in
}()

// TestCompatDistribution compares parsing, normalisation, errors and the
// familiar forms with github.com/distribution/reference, which the docker
// CLI uses.
func TestCompatDistribution(t *testing.T) {
	for _, s := range compatInputs {
		compare(t, s)
	}
}

func compare(t *testing.T, s string) {
	t.Helper()
	want, werr := dref.ParseNormalizedNamed(s)
	got, gerr := ParseNormalized(s)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("ParseNormalized(%q) error %v, distribution/reference: %v", s, gerr, werr)
	}
	if werr != nil {
		return
	}
	if got.String() != want.String() || got.Repository() != want.Name() || got.Domain() != dref.Domain(want) || got.Path() != dref.Path(want) {
		t.Fatalf("ParseNormalized(%q) = %q (repo %q, domain %q, path %q), distribution/reference: %q (%q, %q, %q)",
			s, got.String(), got.Repository(), got.Domain(), got.Path(), want.String(), want.Name(), dref.Domain(want), dref.Path(want))
	}
	if got.Familiar() != dref.FamiliarString(want) || got.FamiliarRepository() != dref.FamiliarName(want) {
		t.Fatalf("familiar forms of %q: %q / %q, distribution/reference: %q / %q",
			s, got.Familiar(), got.FamiliarRepository(), dref.FamiliarString(want), dref.FamiliarName(want))
	}
	if got.NameOnly() != dref.IsNameOnly(want) || got.WithDefaultTag().String() != dref.TagNameOnly(want).String() {
		t.Fatalf("%q: name only %v, with default tag %q; distribution/reference: %v, %q",
			s, got.NameOnly(), got.WithDefaultTag(), dref.IsNameOnly(want), dref.TagNameOnly(want))
	}
	var wtag string
	if tg, ok := want.(dref.Tagged); ok {
		wtag = tg.Tag()
	}
	var wdig digest.Digest
	if dg, ok := want.(dref.Digested); ok {
		wdig = dg.Digest()
	}
	if got.Tag() != wtag || got.Digest() != wdig {
		t.Fatalf("%q: tag %q digest %q; distribution/reference: %q %q", s, got.Tag(), got.Digest(), wtag, wdig)
	}
	// Re-tagging and re-digesting with the parts of another input.
	for _, part := range []string{"v1", "", ".x", "a:b", strings.Repeat("t", 129), "sha256:" + strings.Repeat("a", 64), "sha256:zz", "x+y:" + strings.Repeat("0", 32)} {
		wt, werr := dref.WithTag(dref.TrimNamed(want), part)
		gt, gerr := got.WithTag(part)
		if (werr == nil) != (gerr == nil) || (werr == nil && wt.String() != gt.String()) {
			t.Fatalf("%q WithTag(%q) = %q, %v; distribution/reference: %v, %v", s, part, gt, gerr, wt, werr)
		}
		wd, werr := dref.WithDigest(dref.TrimNamed(want), digest.Digest(part))
		gd, gerr := got.WithDigest(digest.Digest(part))
		if (werr == nil) != (gerr == nil) || (werr == nil && wd.String() != gd.String()) {
			t.Fatalf("%q WithDigest(%q) = %q, %v; distribution/reference: %v, %v", s, part, gd, gerr, wd, werr)
		}
	}
}

// FuzzCompatDistribution compares with distribution/reference on any
// input.
func FuzzCompatDistribution(f *testing.F) {
	for _, s := range compatInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compare(t, s) })
}
