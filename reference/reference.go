// Package reference parses and normalises image references the way the
// docker CLI does: "busybox" means "docker.io/library/busybox:latest", and
// references are shown in their familiar short form.
package reference

import (
	"errors"
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Reference is a normalised image reference: a repository with a tag, a
// digest, or both.
type Reference struct {
	named dref.Named
}

// Parse parses s as an image reference, adding the default registry
// (docker.io), the "library/" prefix for official images and the "latest"
// tag when s has neither tag nor digest.
func Parse(s string) (Reference, error) {
	if s == "" {
		return Reference{}, errors.New("invalid reference format: empty reference")
	}
	if strings.HasPrefix(s, "sha256:") || (len(s) == 64 && isHex(s)) {
		return Reference{}, fmt.Errorf("invalid reference format: %q is an image ID, not a repository name", s)
	}
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid reference format %q: %w", s, err)
	}
	return Reference{named: dref.TagNameOnly(n)}, nil
}

// ParseRepository parses s as a repository name without tag or digest.
func ParseRepository(s string) (Reference, error) {
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid repository name %q: %w", s, err)
	}
	if !dref.IsNameOnly(n) {
		return Reference{}, fmt.Errorf("invalid repository name %q: must not have a tag or digest", s)
	}
	return Reference{named: n}, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsZero reports whether r is the zero Reference.
func (r Reference) IsZero() bool { return r.named == nil }

// String returns the fully qualified form, e.g.
// "docker.io/library/busybox:latest".
func (r Reference) String() string {
	if r.named == nil {
		return ""
	}
	return r.named.String()
}

// Familiar returns the short form the docker CLI shows, e.g.
// "busybox:latest".
func (r Reference) Familiar() string {
	if r.named == nil {
		return ""
	}
	return dref.FamiliarString(r.named)
}

// Repository returns the fully qualified repository name without tag or
// digest, e.g. "docker.io/library/busybox".
func (r Reference) Repository() string { return r.named.Name() }

// FamiliarRepository returns the short repository name, e.g. "busybox".
func (r Reference) FamiliarRepository() string { return dref.FamiliarName(r.named) }

// Domain returns the registry host, e.g. "docker.io".
func (r Reference) Domain() string { return dref.Domain(r.named) }

// Path returns the repository path within its registry, e.g.
// "library/busybox".
func (r Reference) Path() string { return dref.Path(r.named) }

// Tag returns the tag, or "" if the reference has none.
func (r Reference) Tag() string {
	if t, ok := r.named.(dref.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest returns the digest, or "" if the reference has none.
func (r Reference) Digest() digest.Digest {
	if d, ok := r.named.(dref.Digested); ok {
		return d.Digest()
	}
	return ""
}

// WithTag returns the repository of r with the given tag.
func (r Reference) WithTag(tag string) (Reference, error) {
	t, err := dref.WithTag(dref.TrimNamed(r.named), tag)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid tag %q: %w", tag, err)
	}
	return Reference{named: t}, nil
}

// WithDigest returns the repository of r with the given digest.
func (r Reference) WithDigest(d digest.Digest) (Reference, error) {
	t, err := dref.WithDigest(dref.TrimNamed(r.named), d)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	return Reference{named: t}, nil
}

// FamiliarString returns the familiar form of a fully qualified reference
// string, or s itself if it does not parse.
func FamiliarString(s string) string {
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return dref.FamiliarString(n)
}

// FamiliarName returns the familiar repository name of a fully qualified
// reference string, or s itself if it does not parse.
func FamiliarName(s string) string {
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return dref.FamiliarName(n)
}
