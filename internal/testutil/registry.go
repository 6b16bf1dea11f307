package testutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBinary is the registry that Debian's docker-registry package
// installs (github.com/docker/distribution 2.8).
const RegistryBinary = "/usr/bin/docker-registry"

// RegistryStartTimeout bounds how long StartRegistryWith waits for the
// registry to answer GET /v2/.
const RegistryStartTimeout = 10 * time.Second

// RegistryOptions configures StartRegistryWith. The zero value is a plain
// HTTP registry without authentication.
type RegistryOptions struct {
	// User and Password, when User is not empty, enable htpasswd (HTTP
	// basic) authentication with this single account. User must not
	// contain ':'.
	User, Password string
	// TLS serves HTTPS with a certificate for 127.0.0.1, ::1 and localhost
	// signed by a CA made for this registry (see Registry.CACertPath).
	TLS bool
}

// Registry is a running registry started by StartRegistryWith.
type Registry struct {
	// Addr is "127.0.0.1:<port>", the registry host to use in references
	// such as Addr+"/library/busybox:latest".
	Addr string
	// CACertPath is the PEM file of the CA that signed the registry's
	// certificate when RegistryOptions.TLS is set, "" otherwise.
	CACertPath string
	// DataDir is the registry's filesystem storage root directory.
	DataDir string
	// LogPath is the file holding the registry's log output.
	LogPath string
}

// StartRegistry starts Debian's docker-registry with filesystem storage in a
// test temp dir, deletes enabled and no authentication, serving plain HTTP on
// 127.0.0.1 at a free port. It returns "127.0.0.1:<port>" once GET /v2/
// answers 200. The registry is killed when the test ends. The test is skipped
// if docker-registry is not installed (failed under CI).
func StartRegistry(t testing.TB) string {
	t.Helper()
	return StartRegistryWith(t, RegistryOptions{}).Addr
}

// StartAuthRegistry is StartRegistry with htpasswd (HTTP basic)
// authentication for the single account user/pass. distribution 2.8 does
// not require TLS for htpasswd auth, so this registry is plain HTTP too;
// use StartRegistryWith for HTTPS.
func StartAuthRegistry(t testing.TB, user, pass string) string {
	t.Helper()
	return StartRegistryWith(t, RegistryOptions{User: user, Password: pass}).Addr
}

// StartRegistryWith starts Debian's docker-registry as configured by opts on
// 127.0.0.1 at a free port, with filesystem storage in a test temp dir and
// deletes enabled, and waits (at most RegistryStartTimeout) until
// GET /v2/ answers 200 (with opts' credentials, if any). The test fails,
// showing the registry's log, if it does not come up. The registry is killed
// and waited for when the test ends; if the test failed, the tail of its log
// is logged. The test is skipped if docker-registry is not installed (failed
// under CI).
func StartRegistryWith(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := RequireBinary(t, RegistryBinary)
	if bin == "" {
		return nil
	}
	if strings.Contains(opts.User, ":") {
		t.Fatalf("StartRegistryWith: user %q contains ':'", opts.User)
	}
	dir := t.TempDir()
	reg := &Registry{
		DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "registry.log"),
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
`, strconv.Quote(reg.DataDir))

	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	scheme := "http"
	var tlsCfg string
	if opts.TLS {
		ca, err := writeTestCerts(dir)
		if err != nil {
			t.Fatalf("StartRegistryWith: making TLS certificates: %v", err)
		}
		reg.CACertPath = ca.caPath
		pool := x509.NewCertPool()
		pool.AddCert(ca.ca)
		client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
		scheme = "https"
		tlsCfg = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n",
			strconv.Quote(ca.certPath), strconv.Quote(ca.keyPath))
	}
	if opts.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("StartRegistryWith: bcrypt: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: hull-test\n    path: %s\n", strconv.Quote(htpasswd))
	}

	// The port is picked by binding :0 and closing, so another process may
	// grab it before the registry binds it: retry on "address already in use".
	var lastLog string
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("StartRegistryWith: %v", err)
		}
		reg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		config := cfg.String() + fmt.Sprintf("http:\n  addr: %s\n  secret: hull-testutil\n", reg.Addr) + tlsCfg
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := startProcess(bin, reg.LogPath, "serve", cfgPath)
		if err != nil {
			t.Fatalf("StartRegistryWith: %v", err)
		}
		err = waitHTTP(client, scheme+"://"+reg.Addr+"/v2/", opts, p)
		if err == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("registry %s log (tail):\n%s", reg.Addr, tail(readLog(reg.LogPath), 16<<10))
				}
			})
			return reg
		}
		p.stop()
		lastLog = readLog(reg.LogPath)
		var exited *exitedError
		if errors.As(err, &exited) && strings.Contains(lastLog, "address already in use") {
			continue
		}
		t.Fatalf("registry on %s did not come up: %v\nconfig:\n%s\nregistry log:\n%s", reg.Addr, err, config, tail(lastLog, 32<<10))
	}
	t.Fatalf("registry did not come up: no free port after 3 attempts\nregistry log:\n%s", tail(lastLog, 32<<10))
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a started child process whose Wait runs in the background.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, valid after done is closed
}

// exitedError reports that a process exited before it was ready.
type exitedError struct{ err error }

func (e *exitedError) Error() string { return fmt.Sprintf("registry exited early: %v", e.err) }

// startProcess starts bin args with stdout and stderr appended to logPath
// (truncated first), no stdin, and a kill on the test process's death.
func startProcess(bin, logPath string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = registryEnv()
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop kills the process and waits for it to exit.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// registryEnv is the environment without REGISTRY_* variables, which would
// override the registry's configuration file.
func registryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitHTTP polls url until it answers 200, p exits, or
// RegistryStartTimeout passes.
func waitHTTP(client *http.Client, url string, opts RegistryOptions, p *process) error {
	deadline := time.Now().Add(RegistryStartTimeout)
	var last error
	for {
		select {
		case <-p.done:
			return &exitedError{err: p.err}
		default:
		}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if opts.User != "" {
			req.SetBasicAuth(opts.User, opts.Password)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", RegistryStartTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readLog(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return string(b)
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
