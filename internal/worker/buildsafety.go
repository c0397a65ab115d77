package worker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Builds run as root with the podman and buildah Debian 12 ships (4.3 and
// 1.28), which have known ways out of the build sandbox. A tenant's
// repository and Dockerfile are hostile input, so two things are refused
// before any build:
//
//   - a symlink that points outside the repository (an absolute target,
//     or a relative one that climbs out). With a bind mount of such a
//     link a build reaches the host's files (CVE-2024-1753), and podman
//     reads .dockerignore through one as root and may print it in the
//     build log. Ignore files must be regular files.
//   - RUN --mount in any form: a cache mount whose id climbs out of the
//     cache directory mounts a host directory read-write (CVE-2024-9675).
//     Secrets and SSH mounts are of no use here either (the agent passes
//     none).

// checkCheckout refuses a checkout whose symlinks leave it, and ignore
// files that are not regular files. It runs before anything reads the
// checkout.
func checkCheckout(repo string) error {
	root, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" && filepath.Dir(path) == root {
			return filepath.SkipDir // git's own files, not the repository's
		}
		rel, _ := filepath.Rel(root, path)
		name := d.Name()
		if isIgnoreFile(name) && !d.Type().IsRegular() && !d.IsDir() {
			return fmt.Errorf("%s must be a regular file, not a link or a device", rel)
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if filepath.IsAbs(target) || !within(root, filepath.Join(filepath.Dir(path), target)) {
			return fmt.Errorf("the repository has a symlink %s → %s that points outside it; builds refuse those (replace it with a copy of what it points at)", rel, target)
		}
		return nil
	})
}

// isIgnoreFile reports whether name is a build-context ignore file
// (.dockerignore, .containerignore, Dockerfile.dockerignore, …).
func isIgnoreFile(name string) bool {
	return name == ".dockerignore" || name == ".containerignore" ||
		strings.HasSuffix(name, ".dockerignore") || strings.HasSuffix(name, ".containerignore")
}

// within reports whether path, cleaned, is root or below it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

var errRunMount = errors.New("the Dockerfile uses RUN --mount, which builds here refuse (with this podman it can reach the host's files); " +
	"copy what the step needs with COPY instead")

// checkRunMounts refuses a Dockerfile with RUN --mount, or with any other
// flag given to RUN. The scan is
// deliberately blunter than a Dockerfile parser, so that no parser
// difference can hide a mount: on dockerfileLines, "--mount" anywhere, in
// any case, refuses.
func checkRunMounts(text string) error {
	lines := dockerfileLines(text)
	if strings.Contains(strings.ToLower(strings.Join(lines, "\n")), "--mount") {
		return errRunMount
	}
	// Other RUN flags (--network=host reaches the host's loopback
	// services; --security=insecure) are refused too.
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) > 2 && strings.EqualFold(f[0], "ONBUILD") {
			f = f[1:]
		}
		if len(f) > 1 && strings.EqualFold(f[0], "RUN") && strings.HasPrefix(f[1], "-") {
			return fmt.Errorf("the Dockerfile gives RUN a flag (%s), which builds here refuse; remove it", f[1])
		}
	}
	return nil
}
