// chart-render renders a Helm chart's templates the way `helm template` does, for the checks of
// e2e/src/manifests.test.ts on machines where helm itself cannot be installed.
//
// It is helm's template engine (text/template + sprig + helm's functions), not helm itself: no
// lint, no dependency fetch, no schema check (the values schema is checked by ajv separately), no
// hooks, no cluster. What it does, as helm does:
//
//   - values: the chart's values.yaml, then each -f file, then each --set/--set-string, merged
//     map by map (a null removes a default); numbers from YAML files are float64 and numbers from
//     --set are int64, as in helm, so `{{ 1000000 }}` from a file prints 1e+06 here too;
//   - dependencies: conditions (Chart.yaml `condition:`) are evaluated against the values; the
//     templates of subcharts are not rendered (none is fetched or vendored here), an enabled
//     dependency is reported on stderr;
//   - the chart's kubeVersion constraint is checked against the Kubernetes version given;
//   - .Values, .Release (Name, Namespace, Service, IsInstall, IsUpgrade, Revision), .Chart (the
//     fields of Chart.yaml, capitalised as helm exposes them, and IsRoot), .Capabilities
//     (KubeVersion, APIVersions.Has, HelmVersion), .Files (Get, GetBytes, Glob, Lines, AsConfig,
//     AsSecrets; the chart's files outside templates/ and charts/, less .helmignore's patterns),
//     .Template (Name, BasePath);
//   - sprig's functions less env and expandenv, and helm's include, tpl, required, fail, toYaml,
//     fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray (and their must* forms), lookup
//     (always empty: no cluster) and getHostByName (always "");
//   - partials (templates/_*) are parsed, never output; NOTES.txt is rendered (so that its errors
//     fail the run) but left out of the manifests unless --notes is given;
//   - the output is split into documents, empty ones dropped, each parsed as YAML, sorted by kind
//     in helm's install order and printed with a `# Source:` comment.
//
// Usage: chart-render [flags] NAME CHART_DIR
//
// Built offline from Debian's Go packages by install.sh beside this file.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

type values = map[string]interface{}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fset := flag.NewFlagSet("chart-render", flag.ContinueOnError)
	var files, sets, setStrings, apiVersions listFlag
	fset.Var(&files, "f", "a values file (repeatable)")
	fset.Var(&files, "values", "a values file (repeatable)")
	fset.Var(&sets, "set", "key.path=value[,key=value] overrides, typed as helm types them (repeatable)")
	fset.Var(&setStrings, "set-string", "key.path=value overrides, always strings (repeatable)")
	fset.Var(&apiVersions, "api-versions", "an extra API version for .Capabilities.APIVersions (repeatable)")
	namespace := fset.String("namespace", "default", ".Release.Namespace")
	kubeVersion := fset.String("kube-version", "v1.31.0", ".Capabilities.KubeVersion")
	notes := fset.Bool("notes", false, "print NOTES.txt too")
	// Flags and the two positional arguments may come in any order, as with helm.
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return err
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(pos) != 2 {
		return errors.New("usage: chart-render [flags] NAME CHART_DIR")
	}
	name, dir := pos[0], pos[1]

	c, err := loadChart(dir)
	if err != nil {
		return err
	}
	user := values{}
	for _, f := range files {
		v, err := readValues(f)
		if err != nil {
			return err
		}
		user = mergeMaps(user, v)
	}
	for _, s := range sets {
		if err := parseSet(user, s, false); err != nil {
			return err
		}
	}
	for _, s := range setStrings {
		if err := parseSet(user, s, true); err != nil {
			return err
		}
	}
	vals := coalesce(user, c.values)

	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		return fmt.Errorf("--kube-version %q: %w", *kubeVersion, err)
	}
	if c.meta.KubeVersion != "" {
		con, err := semver.NewConstraint(c.meta.KubeVersion)
		if err != nil {
			return fmt.Errorf("Chart.yaml kubeVersion %q: %w", c.meta.KubeVersion, err)
		}
		if !con.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s", c.meta.KubeVersion, kv)
		}
	}
	for _, d := range c.meta.Dependencies {
		if enabled(d, vals) {
			fmt.Fprintf(os.Stderr, "chart-render: dependency %s is enabled: its templates are not rendered (no dependency fetch)\n", d.Name)
		}
	}

	top := values{
		"Values": vals,
		"Release": values{
			"Name": name, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart":        chartInfo{metadata: c.meta, IsRoot: true},
		"Capabilities": capabilities(kv, apiVersions),
		"Files":        c.files,
		"Subcharts":    values{},
	}
	rendered, err := render(c, top)
	if err != nil {
		return err
	}
	out, err := manifests(rendered)
	if err != nil {
		return err
	}
	os.Stdout.WriteString(out)
	if *notes {
		if n, ok := rendered[path.Join(c.meta.Name, "templates", "NOTES.txt")]; ok {
			fmt.Printf("\nNOTES:\n%s\n", n)
		}
	}
	return nil
}

// ---- the chart on disk ----

type maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type dependency struct {
	Name         string        `json:"name"`
	Version      string        `json:"version,omitempty"`
	Repository   string        `json:"repository,omitempty"`
	Condition    string        `json:"condition,omitempty"`
	Tags         []string      `json:"tags,omitempty"`
	Enabled      bool          `json:"enabled,omitempty"`
	ImportValues []interface{} `json:"import-values,omitempty"`
	Alias        string        `json:"alias,omitempty"`
}

// metadata is Chart.yaml, with the field names helm's templates see (.Chart.AppVersion, ...).
type metadata struct {
	Name         string            `json:"name"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

type chartInfo struct {
	metadata
	IsRoot bool
}

type chartDir struct {
	meta      metadata
	values    values
	templates map[string]string // by name relative to the chart: templates/x.yaml
	files     files
}

func loadChart(dir string) (*chartDir, error) {
	c := &chartDir{templates: map[string]string{}, files: files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if c.meta.Name == "" || c.meta.Version == "" {
		return nil, errors.New("Chart.yaml: name and version are required")
	}
	if c.meta.Type == "library" {
		return nil, errors.New("a library chart is not installable")
	}
	if c.values, err = readValues(filepath.Join(dir, "values.yaml")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ignore := readIgnore(filepath.Join(dir, ".helmignore"))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir // subcharts: not rendered (see the top of this file)
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml", rel == "Chart.lock", rel == "values.yaml", rel == "values.schema.json",
			rel == "requirements.yaml", rel == "requirements.lock":
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// readIgnore reads .helmignore: one pattern a line, # comments; a pattern matches a path or its
// base name (path.Match), a trailing / only directories, a leading ! is not supported.
func readIgnore(p string) []string {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func ignored(patterns []string, rel string, isDir bool) bool {
	if rel == ".helmignore" {
		return true
	}
	for _, p := range patterns {
		dirOnly := strings.HasSuffix(p, "/")
		p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
		if dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
		if ok, _ := path.Match(p, path.Base(rel)); ok && !strings.Contains(p, "/") {
			return true
		}
	}
	return false
}

// ---- values ----

func readValues(p string) (values, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	v := values{}
	// sigs.k8s.io/yaml, as helm: YAML to JSON, so every number is a float64.
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

// mergeMaps merges b over a, map by map: the user's values files and --set, in order.
func mergeMaps(a, b values) values {
	out := make(values, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]interface{}); ok {
			if av, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays the user's values over the chart's defaults; a null from the user removes the
// default key.
func coalesce(user, defaults values) values {
	out := make(values, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		if uv, ok := v.(map[string]interface{}); ok {
			if dv, ok := out[k].(map[string]interface{}); ok {
				out[k] = coalesce(uv, dv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

var intPattern = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)

// parseSet applies "a.b.c=value,d=value" to vals. Values are typed as helm's strvals types them
// (true/false, null, integers as int64, the rest strings) unless asString; lists and indices are
// not supported.
func parseSet(vals values, s string, asString bool) error {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set %q: key=value expected", kv)
		}
		if strings.ContainsAny(k, "[]") {
			return fmt.Errorf("--set %q: list indices are not supported", kv)
		}
		var typed interface{} = v
		if !asString {
			switch {
			case v == "true":
				typed = true
			case v == "false":
				typed = false
			case v == "null":
				typed = nil
			case intPattern.MatchString(v):
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					typed = n
				}
			}
		}
		m := vals
		keys := strings.Split(k, ".")
		for _, p := range keys[:len(keys)-1] {
			next, ok := m[p].(map[string]interface{})
			if !ok {
				next = values{}
				m[p] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = typed
	}
	return nil
}

// enabled evaluates a dependency's condition: the first of its comma-separated paths that names
// a boolean decides; none, and it is enabled.
func enabled(d *dependency, vals values) bool {
	for _, p := range strings.Split(d.Condition, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var cur interface{} = vals
		for _, k := range strings.Split(p, ".") {
			m, ok := cur.(map[string]interface{})
			if !ok {
				cur = nil
				break
			}
			cur = m[k]
		}
		if b, ok := cur.(bool); ok {
			return b
		}
	}
	return true
}

// ---- .Capabilities and .Files ----

type kubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k kubeVersion) String() string     { return k.Version }
func (k kubeVersion) GitVersion() string { return k.Version }

type versionSet []string

// Has tells whether an API version ("apps/v1") or a version and kind ("apps/v1/Deployment") is
// served.
func (v versionSet) Has(s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

// The built-in APIs of a recent Kubernetes, as group/version and group/version/kind.
var builtinAPIs = map[string][]string{
	"v1": {"ConfigMap", "Endpoints", "Event", "LimitRange", "Namespace", "Node", "PersistentVolume",
		"PersistentVolumeClaim", "Pod", "PodTemplate", "ReplicationController", "ResourceQuota", "Secret",
		"Service", "ServiceAccount"},
	"apps/v1":                         {"ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"},
	"autoscaling/v1":                  {"HorizontalPodAutoscaler"},
	"autoscaling/v2":                  {"HorizontalPodAutoscaler"},
	"batch/v1":                        {"CronJob", "Job"},
	"policy/v1":                       {"PodDisruptionBudget"},
	"networking.k8s.io/v1":            {"Ingress", "IngressClass", "NetworkPolicy"},
	"rbac.authorization.k8s.io/v1":    {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
	"storage.k8s.io/v1":               {"CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"},
	"scheduling.k8s.io/v1":            {"PriorityClass"},
	"coordination.k8s.io/v1":          {"Lease"},
	"discovery.k8s.io/v1":             {"EndpointSlice"},
	"apiextensions.k8s.io/v1":         {"CustomResourceDefinition"},
	"admissionregistration.k8s.io/v1": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
	"certificates.k8s.io/v1":          {"CertificateSigningRequest"},
	"node.k8s.io/v1":                  {"RuntimeClass"},
	"events.k8s.io/v1":                {"Event"},
}

func capabilities(kv *semver.Version, extra []string) values {
	var apis versionSet
	for gv, kinds := range builtinAPIs {
		apis = append(apis, gv)
		for _, k := range kinds {
			apis = append(apis, gv+"/"+k)
		}
	}
	apis = append(apis, extra...)
	sort.Strings(apis)
	return values{
		"KubeVersion": kubeVersion{
			Version: "v" + kv.String(),
			Major:   strconv.FormatUint(kv.Major(), 10),
			Minor:   strconv.FormatUint(kv.Minor(), 10),
		},
		"APIVersions": apis,
		"HelmVersion": values{"Version": "v3 (chart-render: helm's template engine, not helm)"},
	}
}

// files are .Files: the chart's files outside templates/ and charts/, by path in the chart.
type files map[string][]byte

func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Get(name string) string      { return string(f[name]) }

// Glob matches with path.Match (helm's glob also knows **).
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

func (f files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

func (f files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

// ---- the template engine ----

func toYAML(v interface{}) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func mustToYAML(v interface{}) (string, error) {
	out, err := yaml.Marshal(v)
	return strings.TrimSuffix(string(out), "\n"), err
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var a []interface{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

const maxIncludeDepth = 1000

// engine holds the parsed templates; include and tpl close over it.
type engine struct {
	depth int
}

func (e *engine) funcs(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	helm := template.FuncMap{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"mustToJson":    func(v interface{}) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"getHostByName":     func(string) string { return "" },
		"required":          required,
		"fail":              func(msg string) (string, error) { return "", errors.New(msg) },
		"include":           e.include(t),
		"tpl":               e.tpl(t),
		"mustFromYaml":      mustFromYAML,
		"mustFromJson":      mustFromJSON,
		"mustFromYamlArray": func(s string) ([]interface{}, error) { var a []interface{}; return a, yaml.Unmarshal([]byte(s), &a) },
		"mustFromJsonArray": func(s string) ([]interface{}, error) { var a []interface{}; return a, json.Unmarshal([]byte(s), &a) },
	}
	for k, v := range helm {
		f[k] = v
	}
	return f
}

func mustFromYAML(s string) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	return m, yaml.Unmarshal([]byte(s), &m)
}

func mustFromJSON(s string) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	return m, json.Unmarshal([]byte(s), &m)
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return v, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return v, errors.New(msg)
	}
	return v, nil
}

func (e *engine) include(t *template.Template) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if e.depth >= maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		e.depth++
		defer func() { e.depth-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
}

// tpl renders a string as a template, with every define of the chart in scope (and those of the
// string itself, for includes within it).
func (e *engine) tpl(parent *template.Template) func(string, interface{}) (string, error) {
	return func(text string, data interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", err
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{"include": e.include(t), "tpl": e.tpl(t)})
		if t, err = t.New(parent.Name()).Parse(text); err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// render parses every template of the chart into one set, then executes each but the partials,
// by name "CHART/templates/FILE" as helm names them.
func render(c *chartDir, top values) (map[string]string, error) {
	e := &engine{}
	t := template.New("gotpl").Option("missingkey=zero")
	t.Funcs(e.funcs(t))
	names := make([]string, 0, len(c.templates))
	for rel := range c.templates {
		names = append(names, path.Join(c.meta.Name, rel))
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(c.templates[strings.TrimPrefix(n, c.meta.Name+"/")]); err != nil {
			return nil, fmt.Errorf("parse error in %s: %w", n, err)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		data := values{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = values{"Name": n, "BasePath": path.Join(c.meta.Name, "templates")}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, fmt.Errorf("execution error in %s: %w", n, err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

// ---- the output ----

// helm's install order of kinds; other kinds come after these.
var installOrder = []string{"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
	"StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService"}

var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type manifest struct {
	source, kind, content string
}

// manifests splits the rendered files (NOTES.txt aside) into YAML documents, drops the empty
// ones, checks that each parses and names its kind, and prints them in helm's install order.
func manifests(rendered map[string]string) (string, error) {
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		if path.Base(n) != "NOTES.txt" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var docs []manifest
	for _, n := range names {
		for _, d := range docSep.Split(rendered[n], -1) {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   *struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(d), &head); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w\n%s", n, err, d)
			}
			if head.APIVersion == "" && head.Kind == "" && head.Metadata == nil {
				// Comments only: helm keeps nothing of such a document either.
				var any interface{}
				if yaml.Unmarshal([]byte(d), &any) == nil && any == nil {
					continue
				}
			}
			if head.Kind == "" || head.APIVersion == "" {
				return "", fmt.Errorf("%s: a document without apiVersion or kind:\n%s", n, d)
			}
			docs = append(docs, manifest{n, head.Kind, d})
		}
	}
	rank := func(kind string) int {
		for i, k := range installOrder {
			if k == kind {
				return i
			}
		}
		return len(installOrder)
	}
	sort.SliceStable(docs, func(i, j int) bool {
		ri, rj := rank(docs[i].kind), rank(docs[j].kind)
		if ri == rj && ri == len(installOrder) {
			return docs[i].kind < docs[j].kind
		}
		return ri < rj
	})
	var b bytes.Buffer
	for _, d := range docs {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", d.source, d.content)
	}
	return b.String(), nil
}
