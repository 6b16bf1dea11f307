package registry

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
)

// TestCertsDirCA checks that a CA in certs.d/<host>/ca.crt is trusted, as
// Docker's /etc/docker/certs.d is, against a real TLS registry.
func TestCertsDirCA(t *testing.T) {
	testutil.RequireBinary(t, "docker-registry")
	reg := testutil.StartRegistryWith(t, testutil.RegistryOptions{TLS: true})
	get := func(certsDir string) error {
		cfg, err := tlsConfig(reg.Addr, false, certsDir)
		if err != nil {
			return err
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get("https://" + reg.Addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	certs := t.TempDir()
	if err := get(certs); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("TLS without the registry's CA: %v", err)
	}
	ca, err := os.ReadFile(reg.CACertPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(certs, reg.Addr)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := get(certs); err != nil {
		t.Fatalf("TLS with the CA in certs.d: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "client.key"), []byte("x"), 0o600)
	if err := get(certs); err == nil || !strings.Contains(err.Error(), "no matching .cert") {
		t.Fatalf("a key without a certificate: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.crt"), []byte("not pem"), 0o644)
	os.Remove(filepath.Join(dir, "client.key"))
	if err := get(certs); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a broken CA file: %v", err)
	}
}
