package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/wisehosting/wisehosting/internal/models"
)

const envUsage = `usage: wisehosting env <command>

  list APP [--reveal]           variable names (values with --reveal)
  set APP KEY=VALUE...          set variables (KEY=- reads the value from stdin)
  unset APP KEY...              remove variables

Changes apply at the app's next deploy.
`

func (c *cli) env(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "env", envUsage, args, map[string]func(context.Context, []string) error{
		"list":   c.envList,
		"ls":     c.envList,
		"set":    c.envSet,
		"unset":  c.envUnset,
		"delete": c.envUnset,
	})
}

func (c *cli) envList(ctx context.Context, args []string) error {
	f := c.newFlags("env list APP [--reveal]")
	reveal := f.Bool("reveal", false, "show the values too (needs the member role)")
	pos, err := f.parse(c, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	if err := appArg(f, pos[0]); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	path := "/v1/apps/" + pathEscape(pos[0]) + "/env"
	if *reveal {
		path += "?reveal=1"
	}
	var vars []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	raw, err := cl.call(ctx, "GET", path, nil, &vars)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	if len(vars) == 0 {
		fmt.Fprintf(c.stdout, "%s has no environment variables.\n", pos[0])
		return nil
	}
	for _, v := range vars {
		if *reveal {
			fmt.Fprintf(c.stdout, "%s=%s\n", v.Name, v.Value)
		} else {
			fmt.Fprintln(c.stdout, v.Name)
		}
	}
	return nil
}

func (c *cli) envSet(ctx context.Context, args []string) error {
	f := c.newFlags("env set APP KEY=VALUE... (KEY=- reads the value from stdin)")
	pos, err := f.parse(c, args, 2, -1, "APP KEY=VALUE")
	if err != nil {
		return err
	}
	app := pos[0]
	if err := appArg(f, app); err != nil {
		return err
	}
	type pair struct{ name, value string }
	var pairs []pair
	fromStdin := ""
	var errs []error
	for _, kv := range pos[1:] {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("%q: want KEY=VALUE", kv))
			continue
		}
		if value == "-" {
			if fromStdin != "" {
				errs = append(errs, fmt.Errorf("only one value can come from stdin (%s and %s ask for it)", fromStdin, name))
			}
			fromStdin = name
		}
		if err := models.ValidateEnv(name, value); err != nil {
			errs = append(errs, err)
		}
		pairs = append(pairs, pair{name, value})
	}
	if len(errs) > 0 {
		return &usageError{msg: joinErrors(errs).Error(), usage: f.usage}
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	if fromStdin != "" {
		v, err := c.readAll(ctx, "the value of "+fromStdin, models.MaxEnvValueBytes)
		if err != nil {
			return err
		}
		if err := models.ValidateEnv(fromStdin, v); err != nil {
			return err
		}
		for i := range pairs {
			if pairs[i].name == fromStdin {
				pairs[i].value = v
			}
		}
	}
	names := make([]string, 0, len(pairs))
	for _, p := range pairs {
		path := "/v1/apps/" + pathEscape(app) + "/env/" + pathEscape(p.name)
		if _, err := cl.call(ctx, "PUT", path, map[string]string{"value": p.value}, nil); err != nil {
			if len(names) > 0 {
				return fmt.Errorf("set %s, then %s: %w", strings.Join(names, ", "), p.name, err)
			}
			return err
		}
		names = append(names, p.name)
	}
	if !f.json {
		fmt.Fprintf(c.stdout, "Set %s on %s; it applies at the next deploy (`wisehosting deploy %s`).\n", strings.Join(names, ", "), app, app)
	}
	return nil
}

func (c *cli) envUnset(ctx context.Context, args []string) error {
	f := c.newFlags("env unset APP KEY...")
	pos, err := f.parse(c, args, 2, -1, "APP KEY")
	if err != nil {
		return err
	}
	app := pos[0]
	if err := appArg(f, app); err != nil {
		return err
	}
	for _, name := range pos[1:] {
		if err := models.ValidateEnv(name, ""); err != nil {
			return &usageError{msg: err.Error(), usage: f.usage}
		}
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	for i, name := range pos[1:] {
		if _, err := cl.call(ctx, "DELETE", "/v1/apps/"+pathEscape(app)+"/env/"+pathEscape(name), nil, nil); err != nil {
			if i > 0 {
				return fmt.Errorf("unset %s, then %s: %w", strings.Join(pos[1:i+1], ", "), name, err)
			}
			return err
		}
	}
	if !f.json {
		fmt.Fprintf(c.stdout, "Unset %s on %s; it applies at the next deploy.\n", strings.Join(pos[1:], ", "), app)
	}
	return nil
}
