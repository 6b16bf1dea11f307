// Package reference parses and normalises image references the way the
// docker CLI does: "busybox" means "docker.io/library/busybox:latest", and
// references are shown in their familiar short form.
//
// The grammar, the normalisation and the error messages are those of
// github.com/distribution/reference (v0.6.0), which the docker CLI uses,
// implemented without regular expressions: that package compiles a dozen
// of them when the program starts, about 2 ms of every start of hull,
// including the container init that hull's runtime re-executes. The tests
// compare both on many inputs.
package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// The errors of reference parsing, with distribution/reference's messages.
var (
	ErrReferenceInvalidFormat = errors.New("invalid reference format")
	ErrTagInvalidFormat       = errors.New("invalid tag format")
	ErrDigestInvalidFormat    = errors.New("invalid digest format")
	ErrNameContainsUppercase  = errors.New("repository name must be lowercase")
	ErrNameEmpty              = errors.New("repository name must have at least one component")
	ErrNameTooLong            = errors.New("repository name must not be more than 255 characters")
)

const (
	// nameTotalLengthMax is the longest repository path (without the
	// domain) allowed.
	nameTotalLengthMax  = 255
	defaultDomain       = "docker.io"
	legacyDefaultDomain = "index.docker.io"
	officialRepoPrefix  = "library/"
	defaultTag          = "latest"
)

// Reference is a normalised image reference: a repository with a tag, a
// digest, or both.
type Reference struct {
	domain string // "" only for the rare names whose first component is no valid domain
	path   string // never empty in a valid Reference
	tag    string
	digest digest.Digest
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
	r, err := ParseNormalized(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid reference format %q: %w", s, err)
	}
	return r.WithDefaultTag(), nil
}

// ParseRepository parses s as a repository name without tag or digest.
func ParseRepository(s string) (Reference, error) {
	r, err := ParseNormalized(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid repository name %q: %w", s, err)
	}
	if !r.NameOnly() {
		return Reference{}, fmt.Errorf("invalid repository name %q: must not have a tag or digest", s)
	}
	return r, nil
}

// ParseNormalized parses s as distribution/reference's
// ParseNormalizedNamed does (and the docker CLI with it): it adds the
// default registry and the "library/" prefix, but no tag, and its errors
// are the docker CLI's, unwrapped.
func ParseNormalized(s string) (Reference, error) {
	if len(s) == 64 && isHex(s) {
		return Reference{}, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remote := remainder
	if i := strings.IndexByte(remainder, ':'); i >= 0 {
		remote = remainder[:i]
	}
	if strings.ToLower(remote) != remote {
		return Reference{}, fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	return parse(domain + "/" + remainder)
}

// splitDockerDomain splits name into its registry and the rest, with the
// docker.io defaults.
func splitDockerDomain(name string) (domain, remainder string) {
	maybeDomain, maybeRemainder, ok := strings.Cut(name, "/")
	if !ok {
		return defaultDomain, officialRepoPrefix + name
	}
	switch {
	case maybeDomain == "localhost":
		domain, remainder = maybeDomain, maybeRemainder
	case maybeDomain == legacyDefaultDomain:
		domain, remainder = defaultDomain, maybeRemainder
	case strings.ContainsAny(maybeDomain, ".:"):
		domain, remainder = maybeDomain, maybeRemainder
	case strings.ToLower(maybeDomain) != maybeDomain:
		domain, remainder = maybeDomain, maybeRemainder
	default:
		domain, remainder = defaultDomain, name
	}
	if domain == defaultDomain && !strings.Contains(remainder, "/") {
		remainder = officialRepoPrefix + remainder
	}
	return domain, remainder
}

// parse is distribution/reference's Parse, for strings that have a name.
func parse(s string) (Reference, error) {
	r, dgst, ok := split(s)
	if !ok {
		if s == "" {
			return Reference{}, ErrNameEmpty
		}
		if _, _, ok := split(strings.ToLower(s)); ok {
			return Reference{}, ErrNameContainsUppercase
		}
		return Reference{}, ErrReferenceInvalidFormat
	}
	if len(r.path) > nameTotalLengthMax {
		return Reference{}, ErrNameTooLong
	}
	if dgst != "" {
		d, err := digest.Parse(dgst)
		if err != nil {
			return Reference{}, err
		}
		r.digest = d
	}
	return r, nil
}

// split matches s against the reference grammar
//
//	reference := name [ ":" tag ] [ "@" digest ]
//	name      := [ domain "/" ] path
//
// and returns its parts (the digest unchecked beyond its syntax).
func split(s string) (r Reference, dgst string, ok bool) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		if dgst = s[i+1:]; !isDigest(dgst) {
			return Reference{}, "", false
		}
		s = s[:i]
	}
	// A name has a colon only before its first slash (a port), a tag has
	// none: a colon after the last slash starts the tag.
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		if r.tag = s[i+1:]; !isTag(r.tag) {
			return Reference{}, "", false
		}
		s = s[:i]
	}
	if domain, path, found := strings.Cut(s, "/"); found && isDomain(domain) && isPath(path) {
		r.domain, r.path = domain, path
	} else if isPath(s) {
		r.path = s
	} else {
		return Reference{}, "", false
	}
	return r, dgst, true
}

// isDomain matches host [":" port], where host is a domain name (dot
// separated components of letters, digits and inner hyphens) or an IPv6
// address in brackets.
func isDomain(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[:end+1], s[end+1:]
		if len(host) == 2 || strings.Trim(host[1:len(host)-1], "0123456789abcdefABCDEF:") != "" {
			return false
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		for c := range strings.SplitSeq(host, ".") {
			if c == "" || !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
				return false
			}
			for i := 0; i < len(c); i++ {
				if !isAlnum(c[i]) && c[i] != '-' {
					return false
				}
			}
		}
	}
	if port == "" {
		return true
	}
	return port[0] == ':' && len(port) > 1 && strings.Trim(port[1:], "0123456789") == ""
}

// isPath matches path components separated by slashes; a component is runs
// of lowercase letters and digits separated by ".", "_", "__" or hyphens.
func isPath(s string) bool {
	for c := range strings.SplitSeq(s, "/") {
		if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
			return false
		}
		for i := 0; i < len(c); {
			if isLowerAlnum(c[i]) {
				i++
				continue
			}
			j := i
			for j < len(c) && !isLowerAlnum(c[j]) {
				j++
			}
			switch sep := c[i:j]; {
			case sep == ".", sep == "_", sep == "__", strings.Trim(sep, "-") == "":
			default:
				return false
			}
			i = j
		}
	}
	return true
}

// isTag matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func isTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isDigest matches algorithm ":" hex, where algorithm is letter-led
// alphanumeric components separated by one of "-_+." and hex has at least
// 32 hex digits.
func isDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || len(hex) < 32 || !isHex(strings.ToLower(hex)) {
		return false
	}
	start := true // at the start of a component
	for i := 0; i < len(alg); i++ {
		c := alg[i]
		switch {
		case start:
			if !isLetter(c) {
				return false
			}
			start = false
		case c == '-' || c == '_' || c == '+' || c == '.':
			start = true
		case !isAlnum(c):
			return false
		}
	}
	return !start
}

func isLetter(c byte) bool     { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool      { return isLetter(c) || '0' <= c && c <= '9' }
func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// isHex reports whether s is lowercase hexadecimal digits only.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsZero reports whether r is the zero Reference.
func (r Reference) IsZero() bool { return r.path == "" }

// NameOnly reports whether r has neither tag nor digest.
func (r Reference) NameOnly() bool { return r.tag == "" && r.digest == "" }

// WithDefaultTag returns r with the "latest" tag if it has neither tag
// nor digest, else r.
func (r Reference) WithDefaultTag() Reference {
	if r.NameOnly() && !r.IsZero() {
		r.tag = defaultTag
	}
	return r
}

// String returns the fully qualified form, e.g.
// "docker.io/library/busybox:latest".
func (r Reference) String() string {
	if r.IsZero() {
		return ""
	}
	return r.suffixed(r.Repository())
}

// suffixed appends r's tag and digest to name.
func (r Reference) suffixed(name string) string {
	if r.tag != "" {
		name += ":" + r.tag
	}
	if r.digest != "" {
		name += "@" + string(r.digest)
	}
	return name
}

// Familiar returns the short form the docker CLI shows, e.g.
// "busybox:latest".
func (r Reference) Familiar() string {
	if r.IsZero() {
		return ""
	}
	return r.suffixed(r.FamiliarRepository())
}

// Repository returns the fully qualified repository name without tag or
// digest, e.g. "docker.io/library/busybox".
func (r Reference) Repository() string {
	if r.domain == "" {
		return r.path
	}
	return r.domain + "/" + r.path
}

// FamiliarRepository returns the short repository name, e.g. "busybox".
func (r Reference) FamiliarRepository() string {
	if r.domain != defaultDomain {
		return r.Repository()
	}
	if rest, ok := strings.CutPrefix(r.path, officialRepoPrefix); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return r.path
}

// Domain returns the registry host, e.g. "docker.io".
func (r Reference) Domain() string { return r.domain }

// Path returns the repository path within its registry, e.g.
// "library/busybox".
func (r Reference) Path() string { return r.path }

// Tag returns the tag, or "" if the reference has none.
func (r Reference) Tag() string { return r.tag }

// Digest returns the digest, or "" if the reference has none.
func (r Reference) Digest() digest.Digest { return r.digest }

// WithTag returns the repository of r with the given tag.
func (r Reference) WithTag(tag string) (Reference, error) {
	if !isTag(tag) {
		return Reference{}, fmt.Errorf("invalid tag %q: %w", tag, ErrTagInvalidFormat)
	}
	return Reference{domain: r.domain, path: r.path, tag: tag}, nil
}

// WithDigest returns the repository of r with the given digest.
func (r Reference) WithDigest(d digest.Digest) (Reference, error) {
	if !isDigest(string(d)) {
		return Reference{}, fmt.Errorf("invalid digest %q: %w", d, ErrDigestInvalidFormat)
	}
	return Reference{domain: r.domain, path: r.path, digest: d}, nil
}

// FamiliarString returns the familiar form of a fully qualified reference
// string, or s itself if it does not parse.
func FamiliarString(s string) string {
	r, err := ParseNormalized(s)
	if err != nil {
		return s
	}
	return r.Familiar()
}

// FamiliarName returns the familiar repository name of a fully qualified
// reference string, or s itself if it does not parse.
func FamiliarName(s string) string {
	r, err := ParseNormalized(s)
	if err != nil {
		return s
	}
	return r.FamiliarRepository()
}
