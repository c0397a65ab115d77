package worker

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// All apps of a worker share one podman image store, so a Dockerfile could
// name another app's image (`FROM localhost/wh-other:…`, an image id, or
// `COPY --from=…`) and read its code and baked-in secrets. Before a build,
// every image a Dockerfile refers to is resolved and refused when it is an
// image this agent built for a different app.

var (
	argRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	// ownRepoRE finds the agent's own image names anywhere in a
	// Dockerfile, whatever instruction or variable they hide in.
	ownRepoRE  = regexp.MustCompile(`(?i)localhost/wh-[a-z0-9-]+`)
	fromFlagRE = regexp.MustCompile(`(?i)--from=(\S+)`)
)

// dockerfileImageRefs lists the images a Dockerfile builds from: FROM
// lines and --from= of COPY/ADD (RUN --mount is refused outright:
// checkRunMounts), with ARG defaults expanded (the
// agent passes no --build-arg, so the defaults are the values) and build
// stage names left out.
func dockerfileImageRefs(text string) []string {
	args := map[string]string{}
	stages := map[string]bool{}
	var refs []string
	// expand substitutes ARG values the way the builder does, with the
	// ${X:-word}, ${X-word}, ${X:+word} and ${X+word} forms.
	expand := func(s string) string {
		return argRefRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := argRefRE.FindStringSubmatch(m)
			name, op, word := sub[1], sub[2], sub[3]
			if name == "" {
				return args[sub[4]]
			}
			v, set := args[name]
			switch op {
			case ":-":
				if v == "" {
					return word
				}
			case "-":
				if !set {
					return word
				}
			case ":+":
				if v != "" {
					return word
				}
				return ""
			case "+":
				if set {
					return word
				}
				return ""
			}
			return v
		})
	}
	addRef := func(r string) {
		r = strings.Trim(expand(r), `"'`)
		if r == "" || stages[strings.ToLower(r)] || strings.EqualFold(r, "scratch") {
			return
		}
		if _, err := fmt.Sscanf(r, "%d", new(int)); err == nil && !strings.ContainsAny(r, ":/") {
			return // --from=0: a stage index
		}
		refs = append(refs, r)
	}
	for _, line := range dockerfileLines(text) {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			for _, f := range fields[1:] {
				k, v, hasValue := strings.Cut(f, "=")
				if !hasValue {
					continue // declared without a default: unset (no --build-arg is passed)
				}
				if _, set := args[k]; !set || v != "" {
					args[k] = strings.Trim(v, `"'`)
				}
			}
		case "FROM":
			rest := fields[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				continue
			}
			addRef(rest[0])
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		case "COPY", "ADD", "RUN":
			for _, m := range fromFlagRE.FindAllStringSubmatch(line, -1) {
				addRef(m[1])
			}
		}
	}
	return refs
}

// dockerfileLines is the Dockerfile's instructions, one per line, read
// bluntly so that no parser trick hides one: blank and comment lines are
// dropped (also inside continuations), and a line ending in either escape
// character (\ or `, whichever the escape directive chose) is joined to
// the next, whose leading blanks are removed.
func dockerfileLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, `\`) || strings.HasSuffix(t, "`") {
			cur.WriteString(t[:len(t)-1])
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// checkBaseImages refuses a Dockerfile with RUN --mount (checkRunMounts),
// and one that builds from an image this agent made for another app.
// Images that are not present locally are fine here (the build pulls or
// fails on its own).
func (a *Agent) checkBaseImages(ctx context.Context, dockerfile, appName string) error {
	text, err := os.ReadFile(dockerfile)
	if err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}
	if err := checkRunMounts(string(text)); err != nil {
		return err
	}
	// Another app's image by name, anywhere (a variable's default, a
	// form the parser below does not know).
	if ms := ownRepoRE.FindAllString(strings.Join(dockerfileLines(string(text)), "\n"), -1); len(ms) > 0 {
		out, err := a.run.Run(ctx, "podman", "images", "--filter", "label="+LabelManaged+"=true", "--format", "{{.Repository}}")
		if err != nil {
			return fmt.Errorf("list the apps' images: %s", cmdErrText(err))
		}
		managed := map[string]bool{}
		for _, repo := range strings.Fields(string(out)) {
			managed[strings.ToLower(repo)] = true
		}
		for _, m := range ms {
			if repo := strings.ToLower(m); managed[repo] && repo != ImageRepo(appName) {
				return fmt.Errorf("the Dockerfile names %q, an image of another app; build from a public base image instead", m)
			}
		}
	}
	for _, ref := range dockerfileImageRefs(string(text)) {
		if strings.HasPrefix(ref, "-") {
			return fmt.Errorf("the Dockerfile names an image %q that looks like an option", ref)
		}
		out, err := a.run.Run(ctx, "podman", "image", "inspect", "--format",
			`{{index .Labels "`+LabelManaged+`"}}|{{index .Labels "`+LabelApp+`"}}`, "--", ref)
		if err != nil {
			continue // not a local image
		}
		managed, owner, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
		if managed == "true" && owner != appName {
			return fmt.Errorf("the Dockerfile builds from %q, an image of another app; build from a public base image instead", ref)
		}
	}
	return nil
}
