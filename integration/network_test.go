package integration

import (
	"encoding/json"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Two containers on one user network reach each other by name, alias,
// hostname and name.network; other names go to the resolvers the
// container was given, from the host's namespace.
func TestNetworkDNS(t *testing.T) {
	e := newNetEnv(t)
	n := e.network()
	e.server("web1", "--network", n, "--network-alias", "www", "--hostname", "webhost")
	ip := e.ip("web1", n)

	// A real DNS server on the host's loopback stands for the host's
	// resolvers (the container cannot reach 127.0.0.1 of the host: the
	// embedded server forwards from the host's namespace).
	up := startDNS(t, "outside.example.", "192.0.2.77")
	script := strings.Join([]string{
		"for h in web1 www webhost web1." + n + "; do wget -q -O- http://$h/ || echo fail-$h; done",
		"nslookup outside.example 2>&1 | grep -A1 -i '^name' | tail -1",
		"cat /etc/resolv.conf",
		"nslookup " + ip + " 2>&1 | grep -i name",
		"cat /etc/hosts",
	}, "; ")
	gw := strings.TrimSpace(e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", n).stdout)
	r := e.must("run", "--rm", "--network", n, "--dns", up, "--add-host", "gw:host-gateway", "--add-host", "six=[::1]", "--add-host", "x:10.1.2.3",
		"busybox", "sh", "-c", script)
	for _, want := range []string{gw + "\tgw\n", "::1\tsix\n", "10.1.2.3\tx\n", "page-of-web1\npage-of-web1\npage-of-web1\npage-of-web1\n", "192.0.2.77", "nameserver 127.0.0.11", "web1." + n} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "fail-") {
		t.Errorf("a name did not resolve:\n%s", r.stdout)
	}

	// The server's own files: its address and name in /etc/hosts.
	hosts := e.must("exec", "web1", "cat", "/etc/hosts").stdout
	if !strings.Contains(hosts, ip+"\twebhost") {
		t.Errorf("/etc/hosts of web1:\n%s", hosts)
	}
	// The default bridge network has no embedded DNS (as Docker).
	r = e.must("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
	if strings.Contains(r.stdout, "127.0.0.11") {
		t.Errorf("default bridge got the embedded DNS:\n%s", r.stdout)
	}
}

// startDNS serves one A record on 127.0.0.1:53 (UDP) and returns
// "127.0.0.1"; the test is skipped if port 53 is taken.
func startDNS(t *testing.T, name, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Skipf("cannot serve DNS on 127.0.0.1:53: %v", err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, name) && q.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR(name + " 60 IN A " + addr)
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "127.0.0.1"
}

// Published ports answer from the host on 127.0.0.1 and on the host's
// own address, and from other containers through the host's address; a
// port bound to 127.0.0.1 is not reachable on other addresses.
func TestNetworkPublish(t *testing.T) {
	e := newNetEnv(t)
	host := hostAddr(t)
	p1, p2 := freePort(t), freePort(t)
	e.server("pub", "-p", "127.0.0.1:"+p1+":80", "-p", p2+":80", "-p", "80", "--expose", "81")
	for _, addr := range []string{"127.0.0.1:" + p1, "127.0.0.1:" + p2, host + ":" + p2} {
		if got := fetch(addr); !strings.Contains(got, "page-of-pub") {
			t.Errorf("GET %s from the host: %q\nrules:\n%s", addr, got, nftPorts(t))
		}
	}
	if got := fetch(host + ":" + p1); got != "" {
		t.Errorf("port published on 127.0.0.1 answered on %s: %q", host, got)
	}
	ports := e.must("port", "pub").stdout
	for _, want := range []string{"80/tcp -> 127.0.0.1:" + p1, "80/tcp -> 0.0.0.0:" + p2} {
		if !strings.Contains(ports, want) {
			t.Errorf("hull port: want %q in\n%s", want, ports)
		}
	}
	// -p 80 took a free port of the host.
	var random string
	for _, l := range strings.Split(strings.TrimSpace(ports), "\n") {
		if strings.HasPrefix(l, "80/tcp -> 0.0.0.0:") && !strings.HasSuffix(l, ":"+p2) {
			random = strings.TrimPrefix(l, "80/tcp -> 0.0.0.0:")
		}
	}
	if random == "" || !strings.Contains(fetch("127.0.0.1:"+random), "page-of-pub") {
		t.Errorf("-p 80: port %q does not answer\n%s", random, ports)
	}
	if got := strings.TrimSpace(e.must("port", "pub", "80/tcp").stdout); !strings.Contains(got, "127.0.0.1:"+p1) {
		t.Errorf("hull port pub 80/tcp: %q", got)
	}
	if r := e.hull("port", "pub", "81"); r.code == 0 || !strings.Contains(r.stderr, "No public port '81/tcp' published") {
		t.Errorf("port of an unpublished port:\n%v", r)
	}
	ps := e.must("ps", "--format", "{{.Ports}}", "--filter", "name=pub").stdout
	if !strings.Contains(ps, "127.0.0.1:"+p1+"->80/tcp") || !strings.Contains(ps, "81/tcp") {
		t.Errorf("ps PORTS: %q", ps)
	}
	// Another container, on another network, through the host's address.
	n := e.network()
	r := e.must("run", "--rm", "--network", n, "busybox", "sh", "-c", "echo 'GET / HTTP/1.0' | nc -w 3 "+host+" "+p2)
	if !strings.Contains(r.stdout, "page-of-pub") {
		t.Errorf("from a container through %s:%s:\n%v", host, p2, r)
	}
	// A container reaching its own published port (hairpin).
	r = e.must("exec", "pub", "sh", "-c", "echo 'GET / HTTP/1.0' | nc -w 3 "+host+" "+p2)
	if !strings.Contains(r.stdout, "page-of-pub") {
		t.Errorf("hairpin to its own port:\n%v", r)
	}

	// -P publishes every exposed port.
	e.server("pall", "-P", "--expose", "80")
	out := e.must("port", "pall", "80").stdout
	if !strings.HasPrefix(out, "0.0.0.0:") || !strings.Contains(fetch("127.0.0.1:"+strings.TrimSpace(strings.TrimPrefix(out, "0.0.0.0:"))), "page-of-pall") {
		t.Errorf("-P: %q", out)
	}

	// A network whose ports default to 127.0.0.1 (Docker's
	// host_binding_ipv4 option): behind the host's firewall by default.
	local := e.network("-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1")
	p3 := freePort(t)
	e.server("lpub", "--network", local, "-p", p3+":80")
	if got := fetch("127.0.0.1:" + p3); !strings.Contains(got, "page-of-lpub") {
		t.Errorf("host_binding_ipv4 network, 127.0.0.1:%s: %q", p3, got)
	}
	if got := fetch(host + ":" + p3); got != "" {
		t.Errorf("host_binding_ipv4=127.0.0.1 published on %s too: %q", host, got)
	}

	// Taken ports are clear errors, and the container is left created.
	r = e.hull("run", "-d", "--name", "clash", "-p", p2+":80", "busybox", "sleep", "9")
	if r.code != 125 || !strings.Contains(r.stderr, "port is already allocated") {
		t.Errorf("a port another container has:\n%v", r)
	}
	if st := e.record("clash").State.Status; st != "created" {
		t.Errorf("clash is %s, want created", st)
	}
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, busy, _ := net.SplitHostPort(l.Addr().String())
	r = e.hull("run", "-d", "-p", busy+":80", "busybox", "sleep", "9")
	if r.code != 125 || !strings.Contains(r.stderr, "in use by another program") {
		t.Errorf("a port a host program has:\n%v", r)
	}
	// Stopping frees the port and its rule.
	e.must("stop", "-t", "1", "pub")
	if got := fetch("127.0.0.1:" + p2); got != "" {
		t.Errorf("stopped container's port still answers: %q", got)
	}
	if rules := nftPorts(t); strings.Contains(rules, "dport "+p2+" ") {
		t.Errorf("rule of a stopped container left:\n%s", rules)
	}
	e.must("start", "clash")
	if st := e.record("clash").State.Status; st != "running" {
		t.Errorf("clash after pub stopped: %s", st)
	}
}

// Containers on different networks cannot reach each other; an internal
// network has no way out; --network none has only lo.
func TestNetworkIsolation(t *testing.T) {
	e := newNetEnv(t)
	a, b := e.network(), e.network()
	in := e.network("--internal")
	e.server("on-a", "--network", a)
	e.server("on-in", "--network", in)
	ipA, ipIn := e.ip("on-a", a), e.ip("on-in", in)
	p := freePort(t)
	e.server("pubd", "-p", p+":80")
	host := hostAddr(t)
	get := func(target string) string { return "echo 'GET / HTTP/1.0' | nc -w 2 " + target + " 80 2>&1; true" }

	r := e.must("run", "--rm", "--network", a, "busybox", "sh", "-c", get(ipA))
	if !strings.Contains(r.stdout, "page-of-on-a") {
		t.Errorf("same network: %v", r)
	}
	r = e.must("run", "--rm", "--network", b, "busybox", "sh", "-c", get(ipA))
	if strings.Contains(r.stdout, "page-of") {
		t.Errorf("network %s reached a container on %s:\n%v", b, a, r)
	}
	// Internal: members reach each other, nothing else.
	r = e.must("run", "--rm", "--network", in, "busybox", "sh", "-c", get(ipIn)+"; ip route")
	if !strings.Contains(r.stdout, "page-of-on-in") || strings.Contains(r.stdout, "default") {
		t.Errorf("internal network member (no default route expected):\n%v", r)
	}
	r = e.must("run", "--rm", "--network", in, "busybox", "sh", "-c", "echo 'GET / HTTP/1.0' | nc -w 2 "+host+" "+p+" 2>&1; "+get(ipA))
	if strings.Contains(r.stdout, "page-of") {
		t.Errorf("an internal network's container got out:\n%v", r)
	}
	r = e.must("run", "--rm", "--network", b, "busybox", "sh", "-c", get(ipIn))
	if strings.Contains(r.stdout, "page-of") {
		t.Errorf("reached into an internal network:\n%v", r)
	}
	// none: only lo.
	r = e.must("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; ip -o link show lo | grep -c ',UP'")
	if f := strings.Fields(r.stdout); len(f) != 2 || f[0] != "lo" || f[1] != "1" {
		t.Errorf("--network none: want only lo, up: %q", r.stdout)
	}
	// The default network gives eth0 and a route out.
	r = e.must("run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net; ip route")
	if !strings.Contains(r.stdout, "eth0") || !strings.Contains(r.stdout, "default via") {
		t.Errorf("default network: %q", r.stdout)
	}
	// container: shares the other's stack.
	r = e.must("run", "--rm", "--network", "container:on-a", "busybox", "sh", "-c", "ip -o -4 addr show eth0; "+get("127.0.0.1"))
	if !strings.Contains(r.stdout, ipA+"/") || !strings.Contains(r.stdout, "page-of-on-a") {
		t.Errorf("container:on-a: %v", r)
	}
}

// Bad input gets clear errors, and nothing stored is lost.
func TestNetworkErrors(t *testing.T) {
	e := newNetEnv(t)
	n := e.network("--subnet", "10.231.0.0/24", "--gateway", "10.231.0.254", "--label", "k=v")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "10.231.0.128/25", "ht-overlap"}, "overlaps"},
		{[]string{"network", "create", n}, "already exists"},
		{[]string{"network", "create", "--subnet", "10.232.0.0/33", "ht-bad"}, "invalid subnet"},
		{[]string{"network", "create", "--subnet", "10.233.0.0/24", "--gateway", "10.1.1.1", "ht-bad"}, "not in subnet"},
		{[]string{"network", "create", "bad/name"}, "invalid network name"},
		{[]string{"network", "create", "host"}, "predefined"},
		{[]string{"network", "rm", "bridge"}, "pre-defined network"},
		{[]string{"network", "rm", "ht-nosuch"}, "not found"},
		{[]string{"run", "--rm", "--network", "ht-nosuch", "busybox", "true"}, "network ht-nosuch not found"},
		{[]string{"run", "--rm", "--network", n, "--ip", "10.9.9.9", "busybox", "true"}, "not in network"},
		{[]string{"run", "--rm", "--ip", "172.17.0.9", "busybox", "true"}, "user defined networks only"},
		{[]string{"run", "--rm", "-p", "99999:80", "busybox", "true"}, "invalid hostPort"},
		{[]string{"run", "--rm", "-p", "80/icmp", "busybox", "true"}, "invalid proto"},
		{[]string{"run", "--rm", "--add-host", "nohost", "busybox", "true"}, "bad format for add-host"},
		{[]string{"run", "--rm", "--add-host", "h:1.2.3", "busybox", "true"}, "bad format for add-host"},
		{[]string{"run", "--rm", "--network", "host", "--network", n, "busybox", "true"}, "conflicting options"},
	} {
		r := e.hull(c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("hull %s: want an error with %q, got:\n%v", strings.Join(c.args, " "), c.want, r)
		}
	}
	e.server("fixed", "--network", n, "--ip", "10.231.0.7")
	if ip := e.ip("fixed", n); ip != "10.231.0.7" {
		t.Errorf("--ip: got %s", ip)
	}
	r := e.hull("run", "--rm", "--network", n, "--ip", "10.231.0.7", "busybox", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("an address in use:\n%v", r)
	}
	r = e.hull("network", "rm", n)
	if r.code == 0 || !strings.Contains(r.stderr, "active endpoints") {
		t.Errorf("rm of a network in use:\n%v", r)
	}
	insp := e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.k}} {{len .Containers}}", n).stdout
	if strings.TrimSpace(insp) != "10.231.0.0/24 10.231.0.254 v 1" {
		t.Errorf("network inspect: %q", insp)
	}
	ls := e.must("network", "ls", "--filter", "label=k=v", "--format", "{{.Name}} {{.Driver}}").stdout
	if strings.TrimSpace(ls) != n+" bridge" {
		t.Errorf("network ls --filter label: %q", ls)
	}
	e.must("rm", "-f", "fixed")
	// The address is free again.
	e.must("run", "--rm", "--network", n, "--ip", "10.231.0.7", "busybox", "true")
}

// network connect/disconnect of a running container.
func TestNetworkConnect(t *testing.T) {
	e := newNetEnv(t)
	a, b := e.network(), e.network()
	e.server("srv-b", "--network", b)
	ipB := e.ip("srv-b", b)
	e.must("run", "-d", "--name", "roamer", "--network", a, "busybox", "sleep", "60")
	try := func() string {
		return e.must("exec", "roamer", "sh", "-c", "echo 'GET / HTTP/1.0' | nc -w 2 "+ipB+" 80 2>&1; wget -q -O- http://srv-b/ 2>&1; true").stdout
	}
	if out := try(); strings.Contains(out, "page-of-srv-b") {
		t.Fatalf("reached another network before connect: %q", out)
	}
	e.must("network", "connect", "--alias", "wanderer", b, "roamer")
	if out := try(); strings.Count(out, "page-of-srv-b") != 2 {
		t.Errorf("after connect (by address and by name): %q", out)
	}
	// srv-b finds roamer by its alias on b.
	r := e.must("exec", "srv-b", "sh", "-c", "ping -c1 -W2 wanderer >/dev/null && echo ok")
	if !strings.Contains(r.stdout, "ok") {
		t.Errorf("alias from network connect: %v", r)
	}
	if r := e.hull("network", "connect", b, "roamer"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("connect twice:\n%v", r)
	}
	e.must("network", "disconnect", b, "roamer")
	if out := try(); strings.Contains(out, "page-of-srv-b") {
		t.Errorf("still reaches %s after disconnect: %q", b, out)
	}
	if r := e.hull("network", "disconnect", b, "roamer"); r.code == 0 || !strings.Contains(r.stderr, "not connected") {
		t.Errorf("disconnect twice:\n%v", r)
	}
	// A container on the default network (no DNS) gets the embedded
	// DNS server with its first user-defined network.
	e.must("run", "-d", "--name", "late", "busybox", "sleep", "60")
	e.must("network", "connect", b, "late")
	r = e.must("exec", "late", "sh", "-c", "cat /etc/resolv.conf; wget -q -O- http://srv-b/ 2>&1; true")
	if !strings.Contains(r.stdout, "nameserver 127.0.0.11") || !strings.Contains(r.stdout, "page-of-srv-b") {
		t.Errorf("default-network container connected to %s:\n%v", b, r)
	}

	// A stopped container is connected at its next start.
	e.must("stop", "-t", "0", "roamer")
	e.must("network", "connect", b, "roamer")
	e.must("start", "roamer")
	if out := try(); strings.Count(out, "page-of-srv-b") != 2 {
		t.Errorf("connect while stopped, then start: %q", out)
	}
}

// A container killed with -9 while its monitor is gone leaves nothing
// that the next hull command does not clean up: its address, its
// published port's rule and its veth.
func TestNetworkCleanupAfterKill9(t *testing.T) {
	e := newNetEnv(t)
	n := e.network("--subnet", "10.234.0.0/29")
	p := freePort(t)
	e.server("victim", "--network", n, "-p", p+":80")
	rec := e.record("victim")
	if !strings.Contains(nftPorts(t), "dport "+p+" ") {
		t.Fatalf("no rule for port %s:\n%s", p, nftPorts(t))
	}
	sbPath := "/var/lib/hull/network/sandboxes/" + rec.ID + ".json"
	if v := os.Getenv("HULL_NETWORK_DIR"); v != "" {
		sbPath = v + "/sandboxes/" + rec.ID + ".json"
	}
	b, err := os.ReadFile(sbPath)
	if err != nil {
		t.Fatalf("sandbox of victim: %v", err)
	}
	var sb struct {
		Endpoints []struct{ HostVeth string }
	}
	if err := json.Unmarshal(b, &sb); err != nil || len(sb.Endpoints) != 1 {
		t.Fatalf("sandbox of victim: %v %s", err, b)
	}
	veth := sb.Endpoints[0].HostVeth
	if !linkExists(veth) {
		t.Fatalf("veth %s of victim does not exist", veth)
	}
	e.killMonitors(9)
	e.killPid(rec.State.Pid)
	// The next command finds it dead and releases its network.
	if st := e.status("victim"); !strings.HasPrefix(st, "Exited (255)") {
		t.Fatalf("victim is %s", st)
	}
	if strings.Contains(nftPorts(t), "dport "+p+" ") {
		t.Errorf("rule for port %s left after kill -9:\n%s", p, nftPorts(t))
	}
	if _, err := os.Stat(sbPath); !os.IsNotExist(err) {
		t.Errorf("sandbox left: %v", err)
	}
	if got := e.must("network", "inspect", "-f", "{{len .Containers}}", n).stdout; strings.TrimSpace(got) != "0" {
		t.Errorf("network still lists containers: %q", got)
	}
	// The /29 has 5 addresses for containers: all usable again.
	for i := 0; i < 5; i++ {
		e.must("run", "-d", "--network", n, "busybox", "sleep", "30")
	}
	// The kernel removes the veth with the namespace.
	e.waitFor(5*time.Second, "veth "+veth+" of the dead container to go", func() bool { return !linkExists(veth) })
	// A container killed with -9 under a live monitor: released at once.
	e.server("victim2", "-p", p+":80")
	r2 := e.record("victim2")
	e.killPid(r2.State.Pid)
	e.waitFor(5*time.Second, "victim2 to be recorded exited", func() bool { return e.record("victim2").State.Status == "exited" })
	if strings.Contains(nftPorts(t), "dport "+p+" ") {
		t.Errorf("rule left after kill -9 of a watched container:\n%s", nftPorts(t))
	}
}

// network prune removes the networks no container uses (the filter
// keeps it to this test's networks: the store is the host's).
func TestNetworkPrune(t *testing.T) {
	e := newNetEnv(t)
	label := "hulltest.prune=" + strings.TrimPrefix(e.network(), "ht-")
	used := e.network("--label", label)
	unused := e.network("--label", label)
	e.must("create", "--network", used, "busybox", "true")
	r := e.must("network", "prune", "-f", "--filter", "label="+label)
	if r.stdout != "Deleted Networks:\n"+unused+"\n" {
		t.Errorf("prune output: %q", r.stdout)
	}
	ls := e.must("network", "ls", "--format", "{{.Name}}").stdout
	if strings.Contains(ls, unused) || !strings.Contains(ls, used) || !strings.Contains(ls, "bridge\n") {
		t.Errorf("after prune:\n%s", ls)
	}
	e.nets = slices.DeleteFunc(e.nets, func(n string) bool { return n == unused })
	if ls := e.must("network", "ls", "-q", "--filter", "dangling=true", "--filter", "label="+label).stdout; ls != "" {
		t.Errorf("dangling networks left: %q", ls)
	}
}

// kill -9 at any moment of network create or rm leaves a store where
// the network either exists whole or not at all, and its subnet is
// usable again once it is gone.
func TestNetworkKill9CreateRemove(t *testing.T) {
	e := newNetEnv(t)
	name := e.network() // a unique name; removed below and made again
	e.must("network", "rm", name)
	e.nets = slices.DeleteFunc(e.nets, func(n string) bool { return n == name })
	t.Cleanup(func() { e.hull("network", "rm", "-f", name) })
	killed := 0
	for i := 0; i < 24; i++ {
		delay := time.Duration(i%12) * 3 * time.Millisecond
		subnet := "10.236.0.0/24"
		var finished bool
		if i < 12 {
			finished = e.killDuring(delay, "network", "create", "--subnet", subnet, name)
		} else {
			e.must("network", "create", "--subnet", subnet, name)
			finished = e.killDuring(delay, "network", "rm", name)
		}
		if !finished {
			killed++
		}
		ls := e.must("network", "ls", "--format", "{{.Name}}").stdout
		if strings.Contains(ls, name+"\n") {
			// It exists: whole (inspectable, usable), then removable.
			e.must("network", "inspect", name)
			e.must("run", "--rm", "--network", name, "busybox", "true")
			e.must("network", "rm", name)
		}
		// The subnet is free: nothing half-made holds it.
		e.must("network", "create", "--subnet", subnet, name)
		e.must("network", "rm", name)
	}
	t.Logf("%d of 24 commands were killed before they finished", killed)
	if killed == 0 {
		t.Error("no command was killed before it finished: the test proved nothing")
	}
}
