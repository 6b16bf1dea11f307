package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultCertsDir is where, as for Docker, per-registry certificates live:
// <dir>/<host[:port]>/*.crt are extra CAs, and a *.cert/*.key pair is a
// client certificate.
const DefaultCertsDir = "/etc/docker/certs.d"

// tlsConfig returns the TLS settings for a registry host: the system roots
// plus the CAs and client certificates of certsDir/host, or no
// verification at all for registries marked insecure.
func tlsConfig(host string, insecure bool, certsDir string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // only for registries the user marked insecure (or loopback)
		return cfg, nil
	}
	if certsDir == "" {
		certsDir = DefaultCertsDir
	}
	dir := filepath.Join(certsDir, host)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry certificates %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".crt"):
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("registry CA %s: %w", p, err)
			}
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("registry CA %s: no PEM certificate in it", p)
			}
		case strings.HasSuffix(name, ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("registry client certificate %s (key %s): %w", p, key, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case strings.HasSuffix(name, ".key"):
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("registry client key %s has no matching .cert file", p)
			}
		}
	}
	return cfg, nil
}
