package seccomp

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// checkProgram is the fuzz test's own validity check, independent of
// validate: within the kernel's size limit, only the opcodes the compiler
// emits, loads inside seccomp_data, every jump landing inside the program,
// and a RET last.
func checkProgram(t *testing.T, prog []unix.SockFilter) {
	t.Helper()
	n := len(prog)
	if n == 0 || n > unix.BPF_MAXINSNS {
		t.Fatalf("program length %d", n)
	}
	for i, f := range prog {
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if f.K%4 != 0 || f.K > 60 {
				t.Fatalf("%d: load at %d", i, f.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if i+1+int(f.K) >= n {
				t.Fatalf("%d: ja %d beyond %d", i, f.K, n)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if i+1+int(f.Jt) >= n || i+1+int(f.Jf) >= n {
				t.Fatalf("%d: jump %d/%d beyond %d", i, f.Jt, f.Jf, n)
			}
		default:
			t.Fatalf("%d: unexpected opcode %#x", i, f.Code)
		}
	}
	if prog[n-1].Code != unix.BPF_RET|unix.BPF_K {
		t.Fatalf("last instruction %#x is not RET", prog[n-1].Code)
	}
	if err := validate(prog); err != nil {
		t.Fatal(err)
	}
}

// FuzzCompile decodes arbitrary JSON as a profile: Compile must not panic,
// and whatever it compiles must be a valid program that agrees with the
// reference model on random syscalls.
func FuzzCompile(f *testing.F) {
	docker, err := json.Marshal(dockerProfile(f, dockerDefaultCaps...))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(docker, uint8(0), uint64(1))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}`), uint8(0), uint64(2))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_ARM"],"syscalls":[{"names":["personality","read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_LE"},{"index":1,"value":255,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"}]}]}`), uint8(1), uint64(3))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_NOTIFY"}`), uint8(2), uint64(4))
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 8 {
		b, err := json.Marshal(randomSpec(r, 6*i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i), uint64(i))
	}
	natives := []string{"amd64", "arm64", "386", "arm"}
	f.Fuzz(func(t *testing.T, data []byte, native uint8, seed uint64) {
		var spec specs.LinuxSeccomp
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		arch := natives[int(native)%len(natives)]
		fl, err := Compile(&spec, arch)
		if err != nil {
			return
		}
		checkProgram(t, fl.Program)
		checkAgainstRef(t, rand.New(rand.NewPCG(seed, 0)), &spec, arch, fl, 64)
	})
}
