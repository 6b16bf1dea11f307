package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// dockerHubAuthKey is the key Docker uses for Docker Hub in config.json.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// authKey returns the config.json key for a registry domain.
func authKey(domain string) string {
	switch domain {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubAuthKey
	}
	return domain
}

// ServerKey normalises what a user passes to login/logout ("", "docker.io",
// "https://ghcr.io/") into the domain hull uses for it.
func ServerKey(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return s
}

func loadConfig(dir string) (*configfile.ConfigFile, error) {
	cf, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read docker config: %w", err)
	}
	return cf, nil
}

// resolveAuth returns the credentials stored for a registry domain in
// Docker's config.json (including credential helpers), or anonymous.
func resolveAuth(dir, domain string) (authn.Authenticator, error) {
	cf, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	ac, err := cf.GetAuthConfig(authKey(domain))
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", domain, err)
	}
	if ac == (types.AuthConfig{ServerAddress: ac.ServerAddress}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}

// Login checks the credentials against the registry and, if they work,
// stores them in Docker's config.json (or its credential helper).
func Login(ctx context.Context, server, username, password string, opts Options) error {
	domain := ServerKey(server)
	if username == "" || password == "" {
		return errors.New("login: username and password are required")
	}
	host := registryHost(domain)
	insecure := opts.insecureAllowed(domain) || opts.insecureAllowed(host)
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return fmt.Errorf("login %s: %w", domain, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	tlsCfg, err := tlsConfig(host, insecure, opts.CertsDir)
	if err != nil {
		return fmt.Errorf("login %s: %w", domain, err)
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, baseTransport(host, insecure, true, tlsCfg), nil)
	if err != nil {
		return fmt.Errorf("login %s: %w", domain, describe(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login %s: %w", domain, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("login %s: unauthorized: incorrect username or password", domain)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login %s: registry answered %s", domain, resp.Status)
	}
	cf, err := loadConfig(opts.ConfigDir)
	if err != nil {
		return err
	}
	key := authKey(domain)
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: username, Password: password, ServerAddress: key}); err != nil {
		return fmt.Errorf("login %s: store credentials: %w", domain, err)
	}
	return nil
}

// Logout removes stored credentials for a registry. It reports whether
// any were stored.
func Logout(server string, opts Options) (bool, error) {
	domain := ServerKey(server)
	cf, err := loadConfig(opts.ConfigDir)
	if err != nil {
		return false, err
	}
	key := authKey(domain)
	found := false
	for _, k := range []string{key, "https://" + domain, "http://" + domain} {
		if _, ok := cf.AuthConfigs[k]; ok {
			found = true
		}
	}
	if cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" && !found {
		return false, nil
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return false, fmt.Errorf("logout %s: %w", domain, err)
	}
	for _, k := range []string{"https://" + domain, "http://" + domain} {
		delete(cf.AuthConfigs, k)
	}
	if err := cf.Save(); err != nil {
		return false, fmt.Errorf("logout %s: %w", domain, err)
	}
	return true, nil
}
