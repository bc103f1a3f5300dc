package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
)

func newConnectorsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "connectors",
		Short: "List installed connector plugins, their versions and capabilities",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, err := g.host()
			if err != nil {
				return err
			}
			defer host.Close()
			installed, err := host.Installed()
			if err != nil {
				return failed(err)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tCAPABILITIES\tLOCKED\tPATH")
			for _, in := range installed {
				version, caps := "?", "?"
				if in.Locked || g.devPlugins {
					if spec, err := host.Spec(c.Context(), in.Name, ""); err == nil {
						version, caps = spec.Version, joinCaps(spec.Capabilities)
					} else {
						caps = "error: " + err.Error()
					}
				}
				locked := "no"
				if in.Locked {
					locked = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Name, version, caps, locked, in.Path)
			}
			if len(installed) == 0 {
				fmt.Fprintf(os.Stderr, "no plugins found in %s\n", strings.Join(host.SearchPath, ", "))
			}
			return tw.Flush()
		},
	}
}

func joinCaps(cs []sdk.Capability) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

// connectionFlags name a connection block in a flow file, for commands
// that talk to a connector outside a flow.
type connectionFlags struct {
	config     string
	connection string
	options    []string
}

func (cf *connectionFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&cf.config, "config", "", "flow file or directory holding the connection block")
	c.Flags().StringVar(&cf.connection, "connection", "", "connection to use, as TYPE.NAME (needs --config)")
	c.Flags().StringArrayVarP(&cf.options, "option", "o", nil, "source option as key=value (repeatable), e.g. -o path=data.csv")
}

// open starts connector typ configured with the named connection, if any.
func (cf *connectionFlags) open(ctx context.Context, g *globals, typ string) (sdk.Connector, *pluginhost.Host, error) {
	var conn *plan.Connection
	host, err := g.host()
	if err != nil {
		return nil, nil, err
	}
	if cf.connection != "" {
		if cf.config == "" {
			host.Close()
			return nil, nil, invalid(fmt.Errorf("--connection needs --config FILE"))
		}
		host.Close()
		l, err := g.load(ctx, cf.config)
		if err != nil {
			return nil, nil, err
		}
		host = l.host
		for _, c := range l.cfg.Connections {
			if c.Type+"."+c.Name == cf.connection {
				conn = c
			}
		}
		if conn == nil {
			host.Close()
			return nil, nil, invalid(fmt.Errorf("no connection %q in %s", cf.connection, cf.config))
		}
		typ = conn.Type
	}
	c, err := host.Open(ctx, typ, "")
	if err != nil {
		host.Close()
		return nil, nil, failed(err)
	}
	var values sdk.Values
	if conn != nil {
		values = conn.Values
	}
	if err := c.Configure(ctx, values).Err(); err != nil {
		host.Close()
		return nil, nil, failed(fmt.Errorf("configure %s: %w", typ, err))
	}
	return c, host, nil
}

// typedOptions converts key=value flags by the connector's source schema.
func (cf *connectionFlags) typedOptions(schema sdk.ConfigSchema) (sdk.Values, error) {
	out := sdk.Values{}
	for _, a := range schema.Attributes {
		if a.Default != nil {
			out[a.Name] = a.Default
		}
	}
	for _, kv := range cf.options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, invalid(fmt.Errorf("-o %q: want key=value", kv))
		}
		a, ok := schema.Lookup(k)
		if !ok {
			return nil, invalid(fmt.Errorf("-o %s: the connector has no source option %q", kv, k))
		}
		switch a.Type {
		case sdk.TypeInt:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, invalid(fmt.Errorf("-o %s: want an integer", kv))
			}
			out[k] = n
		case sdk.TypeFloat:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, invalid(fmt.Errorf("-o %s: want a number", kv))
			}
			out[k] = f
		case sdk.TypeBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, invalid(fmt.Errorf("-o %s: want true or false", kv))
			}
			out[k] = b
		case sdk.TypeStringList:
			out[k] = strings.Split(v, ",")
		case sdk.TypeStringMap:
			m := map[string]string{}
			for _, pair := range strings.Split(v, ",") {
				mk, mv, _ := strings.Cut(pair, ":")
				m[mk] = mv
			}
			out[k] = m
		default:
			out[k] = v
		}
	}
	return out, nil
}

func newEntitiesCommand(g *globals) *cobra.Command {
	var cf connectionFlags
	c := &cobra.Command{
		Use:   "entities CONNECTOR",
		Short: "List what a connector can read or write (objects, tables, prefixes)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && cf.connection == "" {
				return invalid(fmt.Errorf("name a connector, or a connection with --config and --connection"))
			}
			typ := ""
			if len(args) == 1 {
				typ = args[0]
			}
			conn, host, err := cf.open(c.Context(), g, typ)
			if err != nil {
				return err
			}
			defer host.Close()
			lister, ok := conn.(sdk.EntityLister)
			if !ok {
				return failed(fmt.Errorf("the %s connector cannot list entities", typ))
			}
			ents, err := lister.ListEntities(c.Context())
			if err != nil {
				return failed(err)
			}
			for _, e := range ents {
				fmt.Printf("%s\t%s\n", e.Name, e.Description)
			}
			return nil
		},
	}
	cf.add(c)
	return c
}

func newDescribeCommand(g *globals) *cobra.Command {
	var cf connectionFlags
	c := &cobra.Command{
		Use:   "describe CONNECTOR [ENTITY]",
		Short: "Show an entity's schema, key and cursor fields as the connector sees them",
		Example: "  sluice describe file -o path=testdata/contacts.csv\n" +
			"  sluice describe --config flows/ --connection salesforce.prod Contact",
		Args: cobra.RangeArgs(0, 2),
		RunE: func(c *cobra.Command, args []string) error {
			typ, entity := "", ""
			switch {
			case cf.connection != "" && len(args) > 0:
				entity = args[len(args)-1]
			case len(args) == 2:
				typ, entity = args[0], args[1]
			case len(args) == 1:
				typ = args[0]
			default:
				return invalid(fmt.Errorf("name a connector, or a connection with --config and --connection"))
			}
			conn, host, err := cf.open(c.Context(), g, typ)
			if err != nil {
				return err
			}
			defer host.Close()
			d, ok := conn.(sdk.EntityDescriber)
			if !ok {
				return failed(fmt.Errorf("the %s connector cannot describe entities", typ))
			}
			opts, err := cf.typedOptions(conn.Spec().Source)
			if err != nil {
				return err
			}
			if attr, ok := conn.Spec().Source.EntityAttribute(); ok {
				if entity == "" {
					entity = opts.String(attr.Name, "")
				} else if _, set := opts[attr.Name]; !set {
					opts[attr.Name] = entity
				}
			}
			ent, err := d.DescribeEntity(c.Context(), sdk.DescribeRequest{Entity: entity, Options: opts})
			if err != nil {
				return failed(err)
			}
			fmt.Printf("entity %s\n", ent.Name)
			if len(ent.PrimaryKey) > 0 {
				fmt.Printf("  primary key: %s\n", strings.Join(ent.PrimaryKey, ", "))
			}
			if len(ent.CursorFields) > 0 {
				fmt.Printf("  cursor fields: %s\n", strings.Join(ent.CursorFields, ", "))
			}
			if len(ent.WriteModes) > 0 {
				modes := make([]string, len(ent.WriteModes))
				for i, m := range ent.WriteModes {
					modes[i] = string(m)
				}
				fmt.Printf("  write modes: %s\n", strings.Join(modes, ", "))
			}
			fmt.Println("  fields:")
			printSchema(os.Stdout, ent.Schema, "    ")
			return nil
		},
	}
	cf.add(c)
	return c
}

func newPluginsCommand(g *globals) *cobra.Command {
	plugins := &cobra.Command{Use: "plugins", Short: "Manage connector plugins"}
	plugins.AddCommand(&cobra.Command{
		Use:   "lock",
		Short: "Record the checksums of the installed plugins in the lock file",
		Long: "Record the SHA-256 of every installed plugin executable in the lock file.\n" +
			"sluice starts a plugin only if its executable still matches: a plugin runs with\n" +
			"your credentials and sees your data, so a binary swapped on disk must not run\n" +
			"unnoticed. Run this after installing or upgrading plugins, and commit the file.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, err := g.host()
			if err != nil {
				return err
			}
			defer host.Close()
			lf, err := host.LockInstalled(c.Context(), g.lockFile)
			if err != nil {
				return failed(err)
			}
			for name, p := range lf.Plugins {
				fmt.Printf("locked %s %s sha256:%s\n", name, p.Version, p.SHA256[:16])
			}
			fmt.Printf("wrote %s\n", g.lockFile)
			return nil
		},
	})
	return plugins
}
