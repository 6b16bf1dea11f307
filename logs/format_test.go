package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)

func TestAppendEntryDockerFormat(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{"line", Entry{Stdout, t0, []byte("hello\n")},
			`{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}` + "\n"},
		{"partial", Entry{Stderr, t0, []byte("no newline")},
			`{"log":"no newline","stream":"stderr","time":"2026-12-01T10:00:00.123456789Z"}` + "\n"},
		{"trailing zeros trimmed", Entry{Stdout, time.Date(2026, 12, 1, 10, 0, 0, 500000000, time.UTC), []byte("x\n")},
			`{"log":"x\n","stream":"stdout","time":"2026-12-01T10:00:00.5Z"}` + "\n"},
		{"converted to UTC", Entry{Stdout, time.Date(2026, 12, 1, 11, 0, 0, 0, time.FixedZone("CET", 3600)), []byte("x\n")},
			`{"log":"x\n","stream":"stdout","time":"2026-12-01T10:00:00Z"}` + "\n"},
		{"escapes like docker", Entry{Stdout, t0, []byte("a\"b\\c\td\re<f>g&h\x01\u2028\xffé\n")},
			`{"log":"a\"b\\c\u0009d\re\u003cf\u003eg\u0026h\u0001\u2028\ufffdé\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEntry(nil, tt.e))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			// encoding/json reads it as Docker's reader would.
			var v struct {
				Log    string    `json:"log"`
				Stream string    `json:"stream"`
				Time   time.Time `json:"time"`
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatal(err)
			}
			if v.Stream != tt.e.Stream || !v.Time.Equal(tt.e.Time) {
				t.Fatalf("json.Unmarshal: %+v", v)
			}
			if utf8.Valid(tt.e.Line) && v.Log != string(tt.e.Line) {
				t.Fatalf("json.Unmarshal log %q, want %q", v.Log, tt.e.Line)
			}
		})
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		stream string
		time   time.Time
		line   string
	}{
		{"ours", `{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}`,
			Stdout, t0, "hello\n"},
		{"with newline", `{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}` + "\n",
			Stdout, t0, "hello\n"},
		{"docker attrs and order", ` { "attrs" : {"tag":"web","n":[1,-2.5e3,true,null,{"a":"\u00e9"}]}, "time":"2026-12-01T10:00:00.123456789Z","stream":"stderr","log":"x"}`,
			Stderr, t0, "x"},
		{"missing log (docker omitempty)", `{"stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}`,
			Stdout, t0, ""},
		{"escapes", `{"log":"\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00\ud800x","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}`,
			Stdout, t0, "\"\\/\b\f\n\r\tAé😀\uFFFDx"},
		{"short fraction", `{"log":"","stream":"stdout","time":"2026-12-01T10:00:00.5Z"}`,
			Stdout, time.Date(2026, 12, 1, 10, 0, 0, 500000000, time.UTC), ""},
		{"no fraction", `{"log":"","stream":"stdout","time":"2026-12-01T10:00:00Z"}`,
			Stdout, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), ""},
		{"offset", `{"log":"","stream":"stdout","time":"2026-12-01T11:00:00.123456789+01:00"}`,
			Stdout, t0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseLine([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if e.Stream != tt.stream || !e.Time.Equal(tt.time) || string(e.Line) != tt.line {
				t.Fatalf("got %q %v %q, want %q %v %q", e.Stream, e.Time, e.Line, tt.stream, tt.time, tt.line)
			}
		})
	}
}

func TestParseLineCorrupt(t *testing.T) {
	valid := `{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}`
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"torn", valid[:40]},
		{"torn before brace", valid[:len(valid)-1]},
		{"trailing garbage", valid + `x`},
		{"two objects", valid + valid},
		{"not an object", `["log"]`},
		{"no stream", `{"log":"x","time":"2026-12-01T10:00:00Z"}`},
		{"other stream", `{"log":"x","stream":"stdin","time":"2026-12-01T10:00:00Z"}`},
		{"no time", `{"log":"x","stream":"stdout"}`},
		{"bad time", `{"log":"x","stream":"stdout","time":"yesterday"}`},
		{"feb 30", `{"log":"x","stream":"stdout","time":"2026-02-30T10:00:00Z"}`},
		{"hour 24", `{"log":"x","stream":"stdout","time":"2026-02-03T24:00:00Z"}`},
		{"log not a string", `{"log":5,"stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"bad escape", `{"log":"\x","stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"short unicode escape", `{"log":"\u12","stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"raw control char", "{\"log\":\"a\tb\",\"stream\":\"stdout\",\"time\":\"2026-12-01T10:00:00Z\"}"},
		{"missing colon", `{"log" "x","stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"bad literal", `{"x":nul,"log":"x","stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"too deep", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"log":"x","stream":"stdout","time":"2026-12-01T10:00:00Z"}`},
		{"NUL bytes", "\x00\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseLine([]byte(tt.in))
			if err == nil {
				t.Fatalf("parsed %q as %+v", tt.in, e)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

func TestParseLineRoundTrip(t *testing.T) {
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	lines := [][]byte{
		[]byte(""), []byte("\n"), []byte("plain text\n"),
		[]byte("<html> & \"quotes\" \\ \u2028\u2029 é 😀\n"),
		bytes.Repeat([]byte("x"), MaxEntrySize),
		[]byte(strings.ToValidUTF8(string(all), "?")),
	}
	for _, line := range lines {
		e := Entry{Stream: Stderr, Time: t0, Line: line}
		got, err := ParseLine(AppendEntry(nil, e))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got.Stream != e.Stream || !got.Time.Equal(e.Time) || !bytes.Equal(got.Line, e.Line) {
			t.Fatalf("round trip of %q gave %+v", line, got)
		}
	}
}

func TestParseLineAllocations(t *testing.T) {
	b := AppendEntry(nil, Entry{Stream: Stdout, Time: t0, Line: []byte("a typical log line\n")})
	var dst []byte
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		if _, dst, err = parseLine(b, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("parseLine allocates %v times per line", allocs)
	}
}

func FuzzParseLine(f *testing.F) {
	seeds := []string{
		`{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}`,
		`{"log":"partial","stream":"stderr","time":"2026-12-01T10:00:00Z"}` + "\n",
		`{"attrs":{"tag":"x","a":[1,2,{"b":null}]},"time":"2026-12-01T10:00:00.5+02:00","stream":"stdout","log":"\u003c\ud83d\ude00"}`,
		`{"log":"\ud800","stream":"stdout","time":"0000-01-01T00:00:00Z"}`,
		`{"log":"x","stream":"stdout","time":"2026-12-01T10:00`,
		`{"stream":"stdout","time":"9999-12-31T23:59:59.999999999Z"}`,
		`{}`, `{"log":`, `[[[[`, ``, "\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseLine(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if e.Stream != Stdout && e.Stream != Stderr {
			t.Fatalf("stream %q", e.Stream)
		}
		// What parses re-encodes to something that parses the same,
		// where the encoding can represent it.
		if y := e.Time.UTC().Year(); y < 0 || y > 9999 || !utf8.Valid(e.Line) {
			return
		}
		again, err := ParseLine(AppendEntry(nil, e))
		if err != nil {
			t.Fatalf("re-encoded %+v does not parse: %v", e, err)
		}
		if again.Stream != e.Stream || !again.Time.Equal(e.Time) || !bytes.Equal(again.Line, e.Line) {
			t.Fatalf("round trip: %+v != %+v", again, e)
		}
	})
}
