package spec

import (
	"bytes"
	"fmt"
	"sort"

	yaml "go.yaml.in/yaml/v3"
)

// The document shapes Marshal writes; field order is the order in the file.
type (
	yamlDoc struct {
		APIVersion string       `yaml:"apiVersion"`
		Kind       string       `yaml:"kind"`
		Metadata   yamlMetadata `yaml:"metadata"`
		Spec       any          `yaml:"spec"`
	}
	yamlMetadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
	yamlEndpoint struct {
		Host     string   `yaml:"host"`
		Port     int      `yaml:"port"`
		User     string   `yaml:"user"`
		Password string   `yaml:"password,omitempty"`
		TLS      *yamlTLS `yaml:"tls,omitempty"`
	}
	yamlTLS struct {
		Mode TLSMode `yaml:"mode"`
		CA   string  `yaml:"ca,omitempty"`
		Cert string  `yaml:"cert,omitempty"`
		Key  string  `yaml:"key,omitempty"`
	}
	yamlSource struct {
		Host     string   `yaml:"host"`
		Port     int      `yaml:"port"`
		User     string   `yaml:"user"`
		Password string   `yaml:"password,omitempty"`
		TLS      *yamlTLS `yaml:"tls,omitempty"`
		Flavor   string   `yaml:"flavor,omitempty"`
		Worker   string   `yaml:"worker,omitempty"`
		Relay    *Relay   `yaml:"relay,omitempty"`
	}
	yamlTask struct {
		Mode    Mode                    `yaml:"mode"`
		Stage   Stage                   `yaml:"stage"`
		Target  yamlEndpoint            `yaml:"target"`
		Sources []string                `yaml:"sources"`
		Tables  []string                `yaml:"tables"`
		Routes  []yamlRoute             `yaml:"routes,omitempty"`
		Start   map[string]yamlStartPos `yaml:"start,omitempty"`
		Dump    yamlDump                `yaml:"dump"`
		Sync    yamlSync                `yaml:"sync"`
		// AcceptLostCascades and Validate are written when set.
		AcceptLostCascades []string      `yaml:"acceptLostCascades,omitempty"`
		Validate           *yamlValidate `yaml:"validate,omitempty"`
		// Filters and OnlineDDL are written when set (onlineDDL: false, or
		// its rules).
		Filters   []yamlFilter  `yaml:"filters,omitempty"`
		OnlineDDL *yaml.Node    `yaml:"onlineDDL,omitempty"`
		ShardMode string        `yaml:"shardMode,omitempty"`
		ShardDDL  *yamlShardDDL `yaml:"shardDDL,omitempty"`
	}
	yamlShardDDL struct {
		Resolve []ShardResolution `yaml:"resolve"`
	}
	yamlFilter struct {
		Tables []string `yaml:"tables"`
		Events []string `yaml:"events,omitempty"`
		SQL    []string `yaml:"sql,omitempty"`
		Action string   `yaml:"action"`
	}
	yamlOnlineDDL struct {
		Shadow []string `yaml:"shadow,omitempty"`
		Trash  []string `yaml:"trash,omitempty"`
	}
	yamlValidate struct {
		Mode string `yaml:"mode"`
	}
	yamlDump struct {
		Threads int `yaml:"threads"`
	}
	yamlSync struct {
		Workers int `yaml:"workers"`
		Batch   int `yaml:"batch"`
	}
	yamlRoute struct {
		From string `yaml:"from"`
		To   string `yaml:"to"`
	}
	yamlStartPos struct {
		GTID       string `yaml:"gtid,omitempty"`
		BinlogFile string `yaml:"binlogFile,omitempty"`
		BinlogPos  uint32 `yaml:"binlogPos,omitempty"`
		Time       string `yaml:"time,omitempty"`
	}
)

// Marshal writes set as multi-document YAML in the format Load reads:
// Sources, then Tasks, each sorted by name, every field written out
// (defaults included) and passwords as their ${REF}. Loading the output
// with the same environment gives an equal Set (but for Origin). It is
// what `dmplan export` prints.
func Marshal(set *Set) ([]byte, error) {
	var docs []yamlDoc
	for _, s := range sortedSources(set.Sources) {
		pw, err := secretRefText(s.Password)
		if err != nil {
			return nil, fmt.Errorf("marshal source %q: %w", s.Name, err)
		}
		docs = append(docs, yamlDoc{Kind: KindSource, Metadata: yamlMetadata{s.Name, s.Annotations}, Spec: yamlSource{
			Host: s.Host, Port: s.Port, User: s.User, Password: pw, TLS: (*yamlTLS)(s.TLS), Flavor: string(s.Flavor), Worker: s.Worker, Relay: s.Relay,
		}})
	}
	for _, t := range sortedTasks(set.Tasks) {
		pw, err := secretRefText(t.Target.Password)
		if err != nil {
			return nil, fmt.Errorf("marshal task %q: %w", t.Name, err)
		}
		yt := yamlTask{
			Mode: t.Mode, Stage: t.Stage,
			Target:  yamlEndpoint{Host: t.Target.Host, Port: t.Target.Port, User: t.Target.User, Password: pw, TLS: (*yamlTLS)(t.Target.TLS)},
			Sources: t.Sources, Tables: t.Tables,
		}
		for _, r := range t.Routes {
			yt.Routes = append(yt.Routes, yamlRoute(r))
		}
		if len(t.Start) > 0 {
			yt.Start = map[string]yamlStartPos{}
			for k, p := range t.Start {
				yt.Start[k] = yamlStartPos(p)
			}
		}
		yt.Dump.Threads = t.Dump.Threads
		yt.Sync.Workers, yt.Sync.Batch = t.Sync.Workers, t.Sync.Batch
		yt.AcceptLostCascades = t.AcceptLostCascades
		if t.Validate.Mode != ValidateNone {
			yt.Validate = &yamlValidate{Mode: string(t.Validate.Mode)}
		}
		for _, r := range t.Filters {
			yt.Filters = append(yt.Filters, yamlFilter{Tables: r.Tables, Events: r.Events, SQL: r.SQL, Action: string(r.Action)})
		}
		switch o := t.OnlineDDL; {
		case o.Off:
			yt.OnlineDDL = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
		case len(o.Shadow) > 0 || len(o.Trash) > 0:
			yt.OnlineDDL = &yaml.Node{}
			if err := yt.OnlineDDL.Encode(yamlOnlineDDL{Shadow: o.Shadow, Trash: o.Trash}); err != nil {
				return nil, fmt.Errorf("marshal task %q: onlineDDL: %w", t.Name, err)
			}
		}
		yt.ShardMode = string(t.ShardMode)
		if len(t.ShardDDL.Resolve) > 0 {
			yt.ShardDDL = &yamlShardDDL{Resolve: t.ShardDDL.Resolve}
		}
		docs = append(docs, yamlDoc{Kind: KindTask, Metadata: yamlMetadata{t.Name, t.Annotations}, Spec: yt})
	}
	if len(docs) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, doc := range docs {
		doc.APIVersion = APIVersion
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("marshal %s %q: %w", doc.Kind, doc.Metadata.Name, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal desired state: %w", err)
	}
	return buf.Bytes(), nil
}

// secretRefText is a Secret as written in YAML: "${REF}", or "" for none.
func secretRefText(s Secret) (string, error) {
	if s.IsZero() {
		return "", nil
	}
	if _, ok := secretRefName("${" + s.Ref + "}"); !ok {
		return "", fmt.Errorf("password reference %q is not an environment variable name", s.Ref)
	}
	return "${" + s.Ref + "}", nil
}

func sortedSources(in []Source) []Source {
	out := append([]Source(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedTasks(in []Task) []Task {
	out := append([]Task(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
