package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"

	units "github.com/docker/go-units"
)

// Format keys, as docker's --format understands them.
const (
	tableFormatKey = "table"
	jsonFormatKey  = "json"
	jsonFormat     = "{{json .}}"
	quietFormat    = "{{.ID}}"
)

// templateFuncs are the functions docker makes available to every
// --format template.
var templateFuncs = template.FuncMap{
	"json":  formatJSON,
	"split": strings.Split,
	"join":  joinElements,
	//lint:ignore SA1019 docker uses strings.Title too; the output must match.
	"title":    strings.Title, //nolint:staticcheck
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      padWithSpace,
	"truncate": truncateWithLength,
}

// headerFuncs replace templateFuncs when rendering a table header, so the
// column names come out unchanged.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v string, _ string) string { return v },
	"join":     func(v string, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// parseTemplate parses a --format template with docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

func padWithSpace(source string, prefix, suffix int) string {
	if source == "" {
		return source
	}
	return strings.Repeat(" ", prefix) + source + strings.Repeat(" ", suffix)
}

func truncateWithLength(source string, length int) string {
	if len(source) < length {
		return source
	}
	return source[:length]
}

// formatJSON is the template "json" function: compact JSON without HTML
// escaping of the encoder itself.
func formatJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

func joinElements(elems any, sep string) (string, error) {
	if elems == nil {
		return "", nil
	}
	if ss, ok := elems.([]string); ok {
		return strings.Join(ss, sep), nil
	}
	switch rv := reflect.ValueOf(elems); rv.Kind() {
	case reflect.Array, reflect.Slice:
		var b strings.Builder
		for i := range rv.Len() {
			if i > 0 {
				b.WriteString(sep)
			}
			fmt.Fprint(&b, rv.Index(i).Interface())
		}
		return b.String(), nil
	case reflect.Map:
		var out []string
		for _, k := range rv.MapKeys() {
			out = append(out, fmt.Sprint(rv.MapIndex(k).Interface()))
		}
		sort.Strings(out)
		return strings.Join(out, sep), nil
	default:
		return "", fmt.Errorf("expected slice, got %T", elems)
	}
}

// formatter renders rows of a listing with a --format value the way
// docker's formatter.Context does: "table …" gets a header and aligned
// columns, "json" one JSON object per line, anything else is a template
// executed once per row.
type formatter struct {
	out    io.Writer
	format string
	// header maps placeholder names (e.g. "ID") to column titles.
	header map[string]string
}

func (f formatter) isTable() bool { return strings.HasPrefix(f.format, tableFormatKey) }

// templateString turns a --format value into the template executed per row.
func templateString(format string) string {
	switch format {
	case tableFormatKey:
		return ""
	case jsonFormatKey:
		return jsonFormat
	}
	out := strings.TrimPrefix(format, tableFormatKey)
	out = strings.Trim(out, " ")
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(out)
}

// write renders rows.
func (f formatter) write(rows []any) error {
	tmpl, err := parseTemplate(templateString(f.format))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !f.isTable() {
		_, err := buf.WriteTo(f.out)
		return err
	}
	tw := tabwriter.NewWriter(f.out, 10, 1, 3, ' ', 0)
	_ = tmpl.Funcs(headerFuncs).Execute(tw, f.header)
	_, _ = tw.Write([]byte{'\n'})
	_, _ = buf.WriteTo(tw)
	return tw.Flush()
}

// marshalMethods encodes x (a pointer to a struct) as a JSON object with a
// key per exported niladic method returning one value, as docker encodes
// its formatter contexts for `{{json .}}`.
func marshalMethods(x any) ([]byte, error) {
	val := reflect.ValueOf(x)
	typ := val.Type()
	m := map[string]any{}
	for i := range val.NumMethod() {
		meth := typ.Method(i)
		fn := val.Method(i)
		if !unicode.IsUpper(rune(meth.Name[0])) || fn.Type().NumIn() != 0 || fn.Type().NumOut() != 1 {
			continue
		}
		m[meth.Name] = fn.Call(nil)[0].Interface()
	}
	return json.Marshal(m)
}

// humanSize formats a size in docker's short form ("4.26MB"), used by the
// SIZE columns of images and history.
func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// humanSize4 formats a size with four significant digits ("4.262MB"), as
// docker's prune totals and disk usage summary do.
func humanSize4(n int64) string { return units.HumanSize(float64(n)) }

// since formats the time elapsed since t as docker does ("2 weeks ago").
func since(t, now time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "N/A"
	}
	return units.HumanDuration(now.UTC().Sub(t)) + " ago"
}

// truncateID shortens an ID for display: the algorithm prefix goes and
// the hex is cut to 12 characters.
func truncateID(id string) string {
	if i := strings.IndexRune(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis cuts s to at most n runes, ending it with "…" if cut.
func ellipsis(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	if n <= 1 {
		return string(rs[:n])
	}
	return string(rs[:n-1]) + "…"
}
