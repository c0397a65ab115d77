package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flags is one command's flag set, with the global flags every command
// takes (--server, --json).
type flags struct {
	*flag.FlagSet
	usage  string
	server string
	json   bool
}

// newFlags starts a command's flag set; usage is its one-line synopsis
// ("apps show NAME").
func (c *cli) newFlags(usage string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(usage, flag.ContinueOnError), usage: "wisehosting " + usage}
	f.SetOutput(io.Discard) // errors are reported by c.exit, help by parse
	f.StringVar(&f.server, "server", "", "control plane URL (env WH_SERVER; default: the one saved by login, else "+defaultServer+")")
	f.BoolVar(&f.json, "json", false, "print the API's JSON instead of a table")
	return f
}

// parse parses args, flags and positional arguments in any order ("--"
// ends the flags), and checks the number of positional arguments: at
// least min and, unless max < 0, at most max. names describes them for
// the error ("NAME").
func (f *flags) parse(c *cli, args []string, min, max int, names string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp(c.stdout)
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error(), usage: f.usage}
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		// Parse stops at the first positional argument, or after a "--"
		// (which it consumes): everything after that is positional.
		if at := len(args) - len(rest); at > 0 && args[at-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min:
		missing := strings.Fields(names)
		if len(pos) < len(missing) {
			return nil, &usageError{msg: "missing " + missing[len(pos)], usage: f.usage}
		}
		return nil, &usageError{msg: "missing " + names, usage: f.usage}
	case max >= 0 && len(pos) > max:
		return nil, &usageError{msg: fmt.Sprintf("unexpected argument %q", pos[max]), usage: f.usage}
	}
	return pos, nil
}

func (f *flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\nflags:\n", f.usage)
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}
