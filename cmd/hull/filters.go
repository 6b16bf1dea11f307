package main

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// filterArgs holds --filter key=value pairs; a key may have several
// values. It is a pflag.Value, like docker's FilterOpt.
type filterArgs struct {
	fields map[string]map[string]bool
}

func newFilterArgs() *filterArgs { return &filterArgs{fields: map[string]map[string]bool{}} }

// String implements pflag.Value.
func (f *filterArgs) String() string {
	var out []string
	for _, k := range f.keys() {
		for _, v := range f.get(k) {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, ",")
}

// Set implements pflag.Value: it adds one "key=value" filter.
func (f *filterArgs) Set(value string) error {
	if value == "" {
		return nil
	}
	if !strings.Contains(value, "=") {
		return errors.New("bad format of filter (expected name=value)")
	}
	name, val, _ := strings.Cut(value, "=")
	f.add(strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val))
	return nil
}

// Type implements pflag.Value.
func (f *filterArgs) Type() string { return "filter" }

func (f *filterArgs) add(key, value string) {
	if f.fields[key] == nil {
		f.fields[key] = map[string]bool{}
	}
	f.fields[key][value] = true
}

func (f *filterArgs) keys() []string {
	out := make([]string, 0, len(f.fields))
	for k := range f.fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// get returns the sorted values of key.
func (f *filterArgs) get(key string) []string {
	out := make([]string, 0, len(f.fields[key]))
	for v := range f.fields[key] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (f *filterArgs) contains(key string) bool {
	_, ok := f.fields[key]
	return ok
}

// invalidFilterError is docker's "invalid filter 'key=value'" error.
type invalidFilterError struct {
	key    string
	values []string
}

func (e *invalidFilterError) Error() string {
	msg := "invalid filter"
	if e.key != "" {
		msg += " '" + e.key
		if e.values != nil {
			msg = fmt.Sprintf("%s=%s", msg, e.values)
		}
		msg += "'"
	}
	return msg
}

// validate rejects keys that are not accepted.
func (f *filterArgs) validate(accepted ...string) error {
	for _, k := range f.keys() {
		ok := false
		for _, a := range accepted {
			if k == a {
				ok = true
			}
		}
		if !ok {
			return &invalidFilterError{key: k}
		}
	}
	return nil
}

// boolOr returns key's boolean value ("true"/"1" or "false"/"0"), or def
// if key is absent.
func (f *filterArgs) boolOr(key string, def bool) (bool, error) {
	vals, ok := f.fields[key]
	if !ok {
		return def, nil
	}
	if len(vals) == 0 {
		return def, &invalidFilterError{key: key}
	}
	isFalse := vals["0"] || vals["false"]
	isTrue := vals["1"] || vals["true"]
	if isFalse == isTrue {
		return def, &invalidFilterError{key: key, values: f.get(key)}
	}
	return isTrue, nil
}

// matchKVList reports whether labels satisfy every key[=value] of key.
func (f *filterArgs) matchKVList(key string, labels map[string]string) bool {
	vals := f.fields[key]
	if len(vals) == 0 {
		return true
	}
	if len(labels) == 0 {
		return false
	}
	for v := range vals {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// untilTime returns the earliest "until" timestamp, or the zero time.
func (f *filterArgs) untilTime(now time.Time) (time.Time, error) {
	var until time.Time
	for _, v := range f.get("until") {
		t, err := parseTimestamp(v, now)
		if err != nil {
			return time.Time{}, err
		}
		if until.IsZero() || t.Before(until) {
			until = t
		}
	}
	return until, nil
}

// parseTimestamp parses a filter timestamp as docker does: a Go duration
// relative to now ("10m"), an RFC 3339 date or date-time (local time if
// no zone is given), or Unix seconds with optional fraction.
func parseTimestamp(value string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(value); value != "0" && err == nil {
		return now.Add(-d), nil
	}
	parseInLocation := !strings.ContainsAny(value, "zZ+") && strings.Count(value, "-") != 3
	var format string
	switch {
	case strings.Contains(value, "."):
		format = time.RFC3339Nano
		if parseInLocation {
			format = "2006-01-02T15:04:05.999999999"
		}
	case strings.Contains(value, "T"):
		colons := strings.Count(value, ":")
		if !parseInLocation && !strings.ContainsAny(value, "zZ") && colons > 0 {
			colons--
		}
		layouts := []string{"2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00", time.RFC3339}
		if parseInLocation {
			layouts = []string{"2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05"}
		}
		format = layouts[min(colons, 2)]
	case parseInLocation:
		format = "2006-01-02"
	default:
		format = "2006-01-02Z07:00"
	}
	var t time.Time
	var err error
	if parseInLocation {
		t, err = time.ParseInLocation(format, value, now.Location())
	} else {
		t, err = time.Parse(format, value)
	}
	if err == nil {
		return t, nil
	}
	if strings.Contains(value, "-") {
		return time.Time{}, err
	}
	secs, frac, hasFrac := strings.Cut(value, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", value)
	}
	var ns int64
	if hasFrac {
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || len(frac) > 9 {
			return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", value)
		}
		ns = int64(float64(n) * math.Pow10(9-len(frac)))
	}
	return time.Unix(s, ns), nil
}
