package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/hull-project/hull/volume"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// imageConfig is the part of an image config blob that hull shows. It is
// decoded from the raw blob (rather than go-containerregistry's
// ConfigFile) to keep fields such as comment and to tell a missing
// creation time from a zero one.
type imageConfig struct {
	Architecture  string          `json:"architecture"`
	Variant       string          `json:"variant"`
	OS            string          `json:"os"`
	OSVersion     string          `json:"os.version"`
	Author        string          `json:"author"`
	Comment       string          `json:"comment"`
	Created       *time.Time      `json:"created"`
	DockerVersion string          `json:"docker_version"`
	Parent        string          `json:"parent"`
	Config        *inspectConfig  `json:"config"`
	RootFS        configRootFS    `json:"rootfs"`
	History       []configHistory `json:"history"`
}

type configRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type configHistory struct {
	Created    *time.Time `json:"created"`
	CreatedBy  string     `json:"created_by"`
	Author     string     `json:"author"`
	Comment    string     `json:"comment"`
	EmptyLayer bool       `json:"empty_layer"`
}

// loadConfig decodes an image's config blob.
func loadConfig(img *image.Image) (*imageConfig, error) {
	b, err := img.ConfigBytes()
	if err != nil {
		return nil, err
	}
	var cfg imageConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("malformed image config: %w", err)
	}
	return &cfg, nil
}

// inspectConfig is the Config of `image inspect`: the OCI image config
// with Docker's extensions, in Docker's field order.
type inspectConfig struct {
	User         string              `json:",omitempty"`
	ExposedPorts map[string]struct{} `json:",omitempty"`
	Env          []string            `json:",omitempty"`
	Entrypoint   []string            `json:",omitempty"`
	Cmd          []string            `json:",omitempty"`
	Volumes      map[string]struct{} `json:",omitempty"`
	WorkingDir   string              `json:",omitempty"`
	Labels       map[string]string   `json:",omitempty"`
	StopSignal   string              `json:",omitempty"`
	ArgsEscaped  bool                `json:",omitempty"`
	Healthcheck  *healthcheck        `json:",omitempty"`
	OnBuild      []string            `json:",omitempty"`
	Shell        []string            `json:",omitempty"`
}

type healthcheck struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// imageInspect is docker's image inspect response (API 1.51).
type imageInspect struct {
	ID            string `json:"Id"`
	RepoTags      []string
	RepoDigests   []string
	Parent        string
	Comment       string
	Created       string `json:",omitempty"`
	DockerVersion string
	Author        string
	Config        *inspectConfig
	Architecture  string
	Variant       string `json:",omitempty"`
	Os            string
	OsVersion     string `json:",omitempty"`
	Size          int64
	GraphDriver   driverData
	RootFS        inspectRootFS
	Metadata      inspectMetadata
}

type driverData struct {
	Data map[string]string
	Name string
}

type inspectRootFS struct {
	Type   string   `json:",omitempty"`
	Layers []string `json:",omitempty"`
}

type inspectMetadata struct {
	LastTagTime time.Time `json:",omitempty"`
}

// legacyConfigFields are the Config fields docker's API (1.50+) always
// includes, even when empty.
var legacyConfigFields = map[string]any{
	"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil,
	"OnBuild": nil, "User": "", "Volumes": nil, "WorkingDir": "",
}

// inspectImageData builds the inspect response for img.
func inspectImageData(s *image.Store, img *image.Image) (*imageInspect, error) {
	cfg, err := loadConfig(img)
	if err != nil {
		return nil, err
	}
	out := &imageInspect{
		ID:            img.ID.String(),
		RepoTags:      []string{},
		RepoDigests:   []string{},
		Parent:        img.Parent.String(),
		Comment:       cfg.Comment,
		DockerVersion: cfg.DockerVersion,
		Author:        cfg.Author,
		Config:        cfg.Config,
		Architecture:  cfg.Architecture,
		Variant:       cfg.Variant,
		Os:            cfg.OS,
		OsVersion:     cfg.OSVersion,
		Size:          img.Size,
		GraphDriver:   driverData{Name: "overlay2"},
		RootFS:        inspectRootFS{Type: cfg.RootFS.Type, Layers: cfg.RootFS.DiffIDs},
		Metadata:      inspectMetadata{LastTagTime: img.LastTagTime},
	}
	if out.Parent == "" {
		out.Parent = cfg.Parent
	}
	if out.Os == "" {
		out.Os = "linux"
	}
	if out.Comment == "" && len(cfg.History) > 0 {
		out.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	if cfg.Created != nil {
		out.Created = cfg.Created.Format(time.RFC3339Nano)
	}
	if out.Config == nil {
		out.Config = &inspectConfig{}
	}
	for _, t := range img.Tags {
		out.RepoTags = append(out.RepoTags, reference.FamiliarString(t))
	}
	for _, d := range img.RepoDigests {
		out.RepoDigests = append(out.RepoDigests, reference.FamiliarString(d))
	}
	if n := len(cfg.RootFS.DiffIDs); n > 0 {
		dirs := make([]string, 0, n)
		for i := n - 1; i >= 0; i-- {
			dirs = append(dirs, s.Snapshots().Path(digest.Digest(cfg.RootFS.DiffIDs[i])))
		}
		out.GraphDriver.Data = map[string]string{"LowerDir": strings.Join(dirs, ":")}
	}
	return out, nil
}

// rawJSON encodes the response as docker's API sends it: Config as an
// object with the always-present legacy fields, placed last.
func (i *imageInspect) rawJSON() ([]byte, error) {
	type plain imageInspect
	base, err := json.Marshal((*plain)(i))
	if err != nil {
		return nil, err
	}
	var merged struct {
		plain
		Config map[string]any
	}
	if err := json.Unmarshal(base, &merged); err != nil {
		return nil, err
	}
	cfg := maps.Clone(legacyConfigFields)
	maps.Copy(cfg, merged.Config)
	merged.Config = cfg
	return json.Marshal(merged)
}

// inspectOutput renders inspected objects like docker's inspect package:
// an indented JSON array by default, a compact one with "json", or a
// template executed per object.
type inspectOutput struct {
	out  io.Writer
	tmpl *template.Template
	mode string // "indent", "json" or "template"
	raws [][]byte
	buf  bytes.Buffer
}

func newInspectOutput(out io.Writer, format string) (*inspectOutput, error) {
	switch format {
	case "":
		return &inspectOutput{out: out, mode: "indent"}, nil
	case jsonFormatKey:
		return &inspectOutput{out: out, mode: "json"}, nil
	}
	t, err := parseTemplate(format)
	if err != nil {
		return nil, withStatus(64, err)
	}
	return &inspectOutput{out: out, mode: "template", tmpl: t}, nil
}

// add renders one object: typed is executed by templates, raw is its
// API JSON (used for JSON output and as the template fallback).
func (o *inspectOutput) add(typed any, raw []byte) error {
	if o.mode != "template" {
		o.raws = append(o.raws, raw)
		return nil
	}
	var b bytes.Buffer
	if err := o.tmpl.Execute(&b, typed); err != nil {
		// Fall back to the raw JSON as a map, as docker does.
		var m any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("unable to read inspect data: %w", err)
		}
		b.Reset()
		if err := o.tmpl.Option("missingkey=error").Execute(&b, m); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	o.buf.Write(b.Bytes())
	o.buf.WriteByte('\n')
	return nil
}

// flush writes what was rendered.
func (o *inspectOutput) flush() error {
	if o.mode == "template" {
		if o.buf.Len() == 0 {
			_, err := io.WriteString(o.out, "\n")
			return err
		}
		_, err := o.buf.WriteTo(o.out)
		return err
	}
	if len(o.raws) == 0 {
		_, err := io.WriteString(o.out, "[]\n")
		return err
	}
	arr := append([]byte("["), bytes.Join(o.raws, []byte(","))...)
	arr = append(arr, ']')
	var out bytes.Buffer
	var err error
	if o.mode == "json" {
		err = json.Compact(&out, arr)
	} else {
		err = json.Indent(&out, arr, "", "    ")
	}
	if err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(o.out)
	return err
}

func newImageInspectCommand(c *cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:                   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short:                 "Display detailed information on one or more images",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(c, args, format, "image", false)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

const inspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`

// inspectTypes are the object types `inspect --type` accepts, in the
// order in which `inspect` without --type looks for a name (docker's).
var inspectTypes = []string{"container", "image", "volume"}

func newInspectCommand(c *cli) *cobra.Command {
	var format, objectType string
	var size bool
	cmd := &cobra.Command{
		Use:                   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short:                 "Return low-level information on hull objects",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			all := `"` + strings.Join(inspectTypes, `", "`) + `"`
			if cmd.Flags().Changed("type") && objectType == "" {
				return fmt.Errorf("type is empty: must be one of %s", all)
			}
			if objectType != "" && !slices.Contains(inspectTypes, objectType) {
				return fmt.Errorf("unknown type: %q: must be one of %s", objectType, all)
			}
			return runInspect(c, args, format, objectType, size)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&format, "format", "f", "", inspectFormatHelp)
	flags.StringVar(&objectType, "type", "", "Only inspect objects of the given type")
	flags.BoolVarP(&size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// runInspect inspects containers, images or volumes. objectType "" is the
// generic `inspect`: each name is looked up as a container, then an
// image, then a volume, and a name that is none of them is "No such
// object". size adds the sizes of containers (and is warned about for the
// other types, as docker does).
func runInspect(c *cli, names []string, format, objectType string, size bool) error {
	o, err := newInspectOutput(c.out, format)
	if err != nil {
		return err
	}
	types := inspectTypes
	if objectType != "" {
		types = []string{objectType}
	}
	var errs []error
	for _, name := range names {
		typed, raw, err := c.inspectObject(name, types, objectType == "", size)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := o.add(typed, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if err := o.flush(); err != nil {
		errs = append(errs, err)
	}
	return withStatus(1, errs...)
}

// inspectObject finds name among the objects of types, in order; with
// skip, an object that is not found (or a name that cannot be one of a
// type) moves on to the next type. It returns the object for templates
// and its API JSON.
func (c *cli) inspectObject(name string, types []string, skip, size bool) (any, []byte, error) {
	for _, kind := range types {
		var typed any
		var raw []byte
		var err error
		switch kind {
		case "container":
			if _, err := c.containerStore(); err != nil && skip {
				continue // no container store (--runroot not writable, say): try images and volumes
			}
			typed, raw, err = c.inspectContainer(name, size)
			if skip && errors.Is(err, container.ErrNotFound) {
				continue
			}
		case "image":
			typed, raw, err = c.inspectImage(name)
			if skip && (errors.Is(err, image.ErrNotFound) || (err != nil && strings.Contains(err.Error(), "invalid reference format"))) {
				continue
			}
		case "volume":
			typed, raw, err = c.inspectVolume(name)
			if skip && (errors.Is(err, volume.ErrNotFound) || errors.Is(err, volume.ErrInvalid)) {
				continue
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if size && kind != "container" {
			fmt.Fprintln(c.err, "WARNING: --size ignored for", kind)
		}
		return typed, raw, nil
	}
	return nil, nil, &notFoundError{what: "object", name: name}
}

// inspectImage returns the inspect response of an image.
func (c *cli) inspectImage(name string) (any, []byte, error) {
	s, err := c.imageStore()
	if err != nil {
		return nil, nil, err
	}
	img, err := s.Resolve(name)
	if err != nil {
		return nil, nil, storeError(name, err)
	}
	data, err := inspectImageData(s, img)
	if err != nil {
		return nil, nil, err
	}
	raw, err := data.rawJSON()
	if err != nil {
		return nil, nil, err
	}
	return data, raw, nil
}

// inspectVolume returns the inspect response of a volume.
func (c *cli) inspectVolume(name string) (any, []byte, error) {
	s, err := c.volumeStore()
	if err != nil {
		return nil, nil, err
	}
	v, err := s.Get(name)
	if err != nil {
		return nil, nil, err
	}
	data := newVolumeInspectData(v)
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	return data, raw, nil
}
