package cli

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/policy"
)

// printConfig writes the effective configuration in config.yaml's shape, secrets redacted.
func printConfig(cmd *cobra.Command, a Assets, out io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	cfg.DataDir = database.DataDir(cfg)
	node := toYAML(reflect.ValueOf(cfg.Redacted()))
	fmt.Fprint(out, "# Effective configuration (secrets redacted).\n")
	if cfg.EmbeddedMode() {
		fmt.Fprintf(out, "# Database: the embedded PostgreSQL (%s).\n", cfg.DatabaseSource)
	} else {
		fmt.Fprintf(out, "# Database: external, set by %s.\n", cfg.DatabaseSource)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(out, "# Warning: %s.\n", w)
	}
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	fmt.Fprint(out, policyNotes(cfg))
	return nil
}

// policyNotes explains, as YAML comments, which clinic policies the configuration sets (and so
// locks) and which are left to administrators.
func policyNotes(cfg *config.Config) string {
	var b strings.Builder
	b.WriteString("# Clinic policies: a value set above (config file, .env, environment or flag) is in force and\n" +
		"# administrators cannot change it; an empty one is chosen by administrators (GET/PUT\n" +
		"# /api/admin/settings/, kept in the database), and is the default until they do.\n")
	for _, s := range policy.Settings {
		if v := policy.Configured(cfg, s.Name); v != "" {
			fmt.Fprintf(&b, "#   %s = %s: set here (%s), locked\n", s.Name, v, s.ConfigKey)
		} else {
			fmt.Fprintf(&b, "#   %s: chosen by administrators; default %s (choices: %s)\n", s.Name, s.Default(), strings.Join(s.Choices, ", "))
		}
	}
	return b.String()
}

var durationType = reflect.TypeOf(time.Duration(0))

// toYAML renders v with the mapstructure key names in field order; durations as "10s".
func toYAML(v reflect.Value) *yaml.Node {
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	switch {
	case v.Type() == durationType:
		return scalar("!!str", time.Duration(v.Int()).String())
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if key == "" || key == "-" || !f.IsExported() {
				continue
			}
			n.Content = append(n.Content, scalar("!!str", key), toYAML(v.Field(i)))
		}
		return n
	case v.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, toYAML(v.Index(i)))
		}
		return n
	case v.Kind() == reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	case v.CanInt():
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case v.CanUint():
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10))
	default:
		return scalar("!!str", fmt.Sprint(v.Interface()))
	}
}
