// Package registry pulls images from and pushes images to OCI distribution
// and Docker v2 registries (Docker Hub, GHCR, Quay, a local registry).
//
// The HTTP handshake (ping, Basic or Bearer token auth) comes from
// go-containerregistry's transport package; hull does the manifest and
// blob requests itself so that it can stream each layer straight into the
// store, verifying and unpacking it while it downloads.
package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// Options configure pulls, pushes and logins.
type Options struct {
	// Platform selects the manifest of an index; zero means the default
	// platform (linux and this machine's architecture).
	Platform v1.Platform
	// Insecure lists registries ("host:port") that may be reached over
	// plain HTTP or with unverified TLS. Loopback registries always may.
	Insecure []string
	// Reporter receives progress events; nil discards them.
	Reporter progress.Reporter
	// ConfigDir is the docker config directory holding config.json;
	// "" means $DOCKER_CONFIG or ~/.docker.
	ConfigDir string
	// Concurrency bounds parallel layer transfers (default 6).
	Concurrency int
	// Retries is how many times a failed layer transfer is retried
	// (default 3).
	Retries int
	// CertsDir holds per-registry CA and client certificates as Docker's
	// /etc/docker/certs.d does; "" means DefaultCertsDir.
	CertsDir string
}

func (o Options) reporter() progress.Reporter { return progress.OrDiscard(o.Reporter) }

func (o Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return 6
}

func (o Options) retries() int {
	if o.Retries > 0 {
		return o.Retries
	}
	return 3
}

// registryHost returns the host a reference's registry is reached at
// ("docker.io" is served by "index.docker.io").
func registryHost(domain string) string {
	if domain == "docker.io" {
		return name.DefaultRegistry
	}
	return domain
}

// isLoopback reports whether host ("name:port") is a loopback address.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// insecureAllowed reports whether plain HTTP may be used for host.
func (o Options) insecureAllowed(host string) bool {
	if isLoopback(host) {
		return true
	}
	for _, h := range o.Insecure {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	if env := os.Getenv("HULL_INSECURE_REGISTRIES"); env != "" {
		for _, h := range strings.Split(env, ",") {
			if strings.EqualFold(strings.TrimSpace(h), host) {
				return true
			}
		}
	}
	return false
}

// guardTransport refuses plain HTTP to the registry unless it is allowed,
// so that go-containerregistry's HTTP fallback for private addresses
// cannot downgrade a registry the user did not mark insecure.
type guardTransport struct {
	host  string
	allow bool
	inner http.RoundTripper
}

func (g *guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !g.allow && strings.EqualFold(r.URL.Host, g.host) {
		return nil, fmt.Errorf("refusing plain HTTP to registry %s: mark it insecure to allow it", g.host)
	}
	return g.inner.RoundTrip(r)
}

// baseTransport builds the HTTP transport for one registry. Requests with
// bodies (uploads) must not go through go-containerregistry's retrying
// transport, which would resend a consumed body; pushes retry per blob.
func baseTransport(host string, insecure, retry bool, tlsCfg *tls.Config) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.TLSClientConfig = tlsCfg
	var rt http.RoundTripper = &guardTransport{host: host, allow: insecure, inner: t}
	if !retry {
		return rt
	}
	return transport.NewRetry(rt,
		transport.WithRetryBackoff(transport.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}),
		transport.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout))
}

// client talks to one repository of one registry.
type client struct {
	reg  name.Registry
	repo string // path within the registry, e.g. "library/busybox"
	http *http.Client
	host string
}

// newClient authenticates to ref's registry for the given actions
// ("pull", "push") on ref's repository, plus pull on extra repositories
// (for cross-repository mounts).
func newClient(ctx context.Context, ref reference.Reference, opts Options, actions []string, extraPull []string) (*client, error) {
	host := registryHost(ref.Domain())
	insecure := opts.insecureAllowed(ref.Domain()) || opts.insecureAllowed(host)
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	auth, err := resolveAuth(opts.ConfigDir, ref.Domain())
	if err != nil {
		return nil, err
	}
	scopes := []string{"repository:" + ref.Path() + ":" + strings.Join(actions, ",")}
	for _, r := range extraPull {
		scopes = append(scopes, "repository:"+r+":pull")
	}
	tlsCfg, err := tlsConfig(host, insecure, opts.CertsDir)
	if err != nil {
		return nil, err
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, baseTransport(host, insecure, !slices.Contains(actions, "push"), tlsCfg), scopes)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, describe(err))
	}
	return &client{reg: reg, repo: ref.Path(), http: &http.Client{Transport: rt}, host: host}, nil
}

// describe turns transport errors into messages users can act on.
func describe(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("unauthorized: authentication required (try hull login): %w", err)
		case http.StatusForbidden:
			return fmt.Errorf("denied: requested access to the resource is denied: %w", err)
		}
	}
	return err
}

func (c *client) url(repo, kind, ref string) string {
	if repo == "" {
		repo = c.repo
	}
	return fmt.Sprintf("https://%s/v2/%s/%s/%s", c.reg.RegistryStr(), repo, kind, ref)
}

// manifestAccept lists the manifest media types hull understands (a
// constant: nothing to compute when the binary starts).
const manifestAccept = "application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, " +
	"application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json"

// getManifest fetches a manifest or index by tag or digest and returns its
// bytes, media type and computed digest.
func (c *client) getManifest(ctx context.Context, tagOrDigest string) ([]byte, string, digest.Digest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("", "manifests", tagOrDigest), nil)
	if err != nil {
		return nil, "", "", err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, "", "", fmt.Errorf("manifest for %s:%s not found: manifest unknown", c.repo, tagOrDigest)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, "", "", describe(err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("read manifest: %w", err)
	}
	if len(b) > 8<<20 {
		return nil, "", "", errors.New("manifest is larger than 8 MiB")
	}
	mt := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return b, strings.TrimSpace(mt), digest.FromBytes(b), nil
}

// getBlob opens a blob for streaming.
func (c *client) getBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("", "blobs", d.String()), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", d, describe(err))
	}
	return resp.Body, resp.ContentLength, nil
}

// blobExists asks whether the repository has blob d.
func (c *client) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.url("", "blobs", d.String()), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, describe(transport.CheckError(resp, http.StatusOK))
}

// resolveLocation makes an upload Location header absolute.
func (c *client) resolveLocation(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errors.New("registry sent no upload location")
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("bad upload location %q: %w", loc, err)
	}
	return u, nil
}

// mountBlob tries a cross-repository mount of d from repository from. It
// returns the upload URL to use if the registry declined the mount.
func (c *client) mountBlob(ctx context.Context, d digest.Digest, from string) (bool, *url.URL, error) {
	u := fmt.Sprintf("https://%s/v2/%s/blobs/uploads/", c.reg.RegistryStr(), c.repo)
	if from != "" {
		u += "?mount=" + url.QueryEscape(d.String()) + "&from=" + url.QueryEscape(from)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return false, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil, nil
	case http.StatusAccepted:
		loc, err := c.resolveLocation(resp)
		return false, loc, err
	}
	return false, nil, describe(transport.CheckError(resp, http.StatusCreated, http.StatusAccepted))
}

// putBlob completes an upload monolithically with the blob's content.
func (c *client) putBlob(ctx context.Context, loc *url.URL, d digest.Digest, size int64, body io.Reader) error {
	q := loc.Query()
	q.Set("digest", d.String())
	u := *loc
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return describe(transport.CheckError(resp, http.StatusCreated))
}

// putManifest uploads a manifest under a tag or digest.
func (c *client) putManifest(ctx context.Context, tagOrDigest, mediaType string, b []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url("", "manifests", tagOrDigest), strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(b))
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return describe(transport.CheckError(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted))
}

// listTags returns every tag of the repository, following the Link
// pagination of the distribution API.
func (c *client) listTags(ctx context.Context) ([]string, error) {
	var tags []string
	next := fmt.Sprintf("https://%s/v2/%s/tags/list?n=1000", c.reg.RegistryStr(), c.repo)
	for next != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			resp.Body.Close()
			return nil, describe(err)
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("malformed tag list: %w", err)
		}
		tags = append(tags, page.Tags...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			// Link: </v2/x/tags/list?last=a&n=1000>; rel="next"
			if i, j := strings.IndexByte(link, '<'), strings.IndexByte(link, '>'); i >= 0 && j > i {
				u, err := resp.Request.URL.Parse(link[i+1 : j])
				if err != nil {
					return nil, fmt.Errorf("bad pagination link %q: %w", link, err)
				}
				next = u.String()
			}
		}
	}
	return tags, nil
}
