package seeddata

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
)

// hfFiles finds an hf seed's files on this machine. rowforge reads nothing from the network
// at run time, so the dataset must be here: in the Hugging Face hub cache (what
// `huggingface-cli download` fills), or, when endpoint is a file:// URL or a folder, in a copy
// laid out as the hub's paths (<endpoint>/datasets/<org>/<repo>/<file>).
func hfFiles(src config.SeedSource, opts Options) ([]string, error) {
	parts := strings.Split(strings.Trim(src.Path, "/"), "/")
	if len(parts) < 4 || parts[0] != "datasets" {
		return nil, fmt.Errorf("hf path %q: want datasets/<org>/<repo>/<file or pattern>", src.Path)
	}
	org, repo, rest := parts[1], parts[2], strings.Join(parts[3:], "/")
	if mirror, ok := localEndpoint(src.Endpoint); ok {
		files, err := matchFiles(filepath.Join(mirror, "datasets", org, repo), rest)
		if err != nil {
			return nil, fmt.Errorf("hf seed %s in the local copy %s: %w", src.Path, mirror, err)
		}
		return files, nil
	}
	var tried []string
	for _, cache := range hfCaches(opts.HFCache) {
		snap, ok := hfSnapshot(filepath.Join(cache, "datasets--"+org+"--"+repo))
		tried = append(tried, cache)
		if !ok {
			continue
		}
		files, err := matchFiles(snap, rest)
		if err != nil {
			return nil, fmt.Errorf("hf seed %s in the hub cache %s: %w", src.Path, cache, err)
		}
		return files, nil
	}
	return nil, fmt.Errorf("hf seed %s: this machine does not reach the Hugging Face hub (rowforge reads nothing from the network at run time) and no local copy of %s/%s is in %s; "+
		"download it where the hub is reachable (huggingface-cli download --repo-type dataset %s/%s) and set HF_HUB_CACHE to that cache, "+
		"or set the source's endpoint to file:///a/copy laid out as datasets/%s/%s/..., or use seed_type: local",
		src.Path, org, repo, strings.Join(tried, ", "), org, repo, org, repo)
}

// localEndpoint reports whether an hf endpoint names a folder of this machine.
func localEndpoint(endpoint string) (string, bool) {
	switch {
	case strings.HasPrefix(endpoint, "file://"):
		return strings.TrimPrefix(endpoint, "file://"), true
	case filepath.IsAbs(endpoint):
		return endpoint, true
	}
	return "", false
}

// hfCaches lists the hub caches to look in: the option, then $HF_HUB_CACHE, $HF_HOME/hub and
// ~/.cache/huggingface/hub, as huggingface_hub resolves its cache.
func hfCaches(opt string) []string {
	if opt != "" {
		return []string{opt}
	}
	var out []string
	if c := os.Getenv("HF_HUB_CACHE"); c != "" {
		out = append(out, c)
	}
	if h := os.Getenv("HF_HOME"); h != "" {
		out = append(out, filepath.Join(h, "hub"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".cache", "huggingface", "hub"))
	}
	return out
}

// hfSnapshot returns the snapshot folder of a cached repository: the one refs/main names, or
// the only one there is.
func hfSnapshot(repoDir string) (string, bool) {
	if ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
		snap := filepath.Join(repoDir, "snapshots", strings.TrimSpace(string(ref)))
		if fi, err := os.Stat(snap); err == nil && fi.IsDir() {
			return snap, true
		}
	}
	entries, err := os.ReadDir(filepath.Join(repoDir, "snapshots"))
	if err != nil || len(entries) != 1 || !entries[0].IsDir() {
		return "", false
	}
	return filepath.Join(repoDir, "snapshots", entries[0].Name()), true
}

// matchFiles resolves a file, a pattern, or a pattern under ** (any depth) within root.
func matchFiles(root, pattern string) ([]string, error) {
	var files []string
	if i := strings.Index(pattern, "**/"); i >= 0 {
		base, leaf := filepath.Join(root, pattern[:i]), pattern[i+3:]
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ok, _ := path.Match(leaf, d.Name()); ok && !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		var err error
		if files, err = filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern))); err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no file matches %s", pattern)
	}
	sort.Strings(files)
	kind := fileKind(files[0])
	for _, f := range files {
		if fileKind(f) == "" || fileKind(f) != kind {
			return nil, fmt.Errorf("%s: the files of a seed must be of one type, Parquet, CSV or JSON lines", f)
		}
	}
	return files, nil
}
