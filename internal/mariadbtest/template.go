package mariadbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// A new data directory is a copy of a template that mariadb-install-db
// made once, instead of a run of mariadb-install-db of its own: that run
// costs about 2.3 s of CPU and writes the whole 256 MB redo log, and the
// test suites start about a hundred servers. The copy skips the redo
// log's zeros (cp --sparse=always): 0.3 s and 7 MB. Templates live in the
// user's cache directory, one per MariaDB version and set of defaults,
// and are made again when missing; a server whose options change what
// mariadb-install-db writes (lower_case_table_names, say) is initialised
// by it as before.

// bootstrapFree lists the settings of Options.Extra that do not change
// what mariadb-install-db writes; a server with others is not made from a
// template.
var bootstrapFree = map[string]bool{
	"tmpdir": true, "ssl_ca": true, "ssl_cert": true, "ssl_key": true, "require_secure_transport": true,
	"binlog_format": true, "binlog_row_image": true, "log_slave_updates": true,
}

// initData initialises the server's data directory: from a template when
// one fits (made first when missing), else with mariadb-install-db.
func (s *Server) initData(ctx context.Context) error {
	if tmpl, ok := templateFor(ctx, s); ok {
		data := filepath.Join(s.Dir, "data")
		if err := copySparse(ctx, tmpl, data); err == nil {
			return nil
		}
		if err := os.RemoveAll(data); err != nil {
			return err
		}
	}
	return s.installDB(ctx)
}

// fromTemplate reports whether a server with these options may start from
// a template.
func fromTemplate(opts Options) bool {
	for _, l := range opts.Extra {
		name, _, _ := strings.Cut(l, "=")
		if !bootstrapFree[strings.ReplaceAll(strings.TrimSpace(name), "-", "_")] {
			return false
		}
	}
	return true
}

var (
	mariadbdVersion = sync.OnceValues(func() (string, error) {
		out, err := exec.Command("mariadbd", "--version").Output()
		return string(out), err
	})
	templates sync.Map // key -> *template
)

type template struct {
	once sync.Once
	dir  string // the template's data directory, "" when none could be made
}

// templateFor returns the data directory of the template that fits s.
func templateFor(ctx context.Context, s *Server) (string, bool) {
	if !fromTemplate(s.opts) {
		return "", false
	}
	version, err := mariadbdVersion()
	if err != nil {
		return "", false
	}
	// The settings the template is made with (paths and port aside).
	base := (&Server{opts: templateOptions(s.opts)}).config()
	sum := sha256.Sum256([]byte(version + "\x00" + base))
	key := hex.EncodeToString(sum[:8])
	v, _ := templates.LoadOrStore(key, &template{})
	tp := v.(*template)
	tp.once.Do(func() {
		dir, err := makeTemplate(ctx, key, s)
		if err == nil {
			tp.dir = dir
		}
	})
	return tp.dir, tp.dir != ""
}

// templateOptions are the options a template for opts is made with.
func templateOptions(opts Options) Options {
	return Options{ServerID: 1, NoBinlog: true, DebianDefaults: opts.DebianDefaults}
}

// makeTemplate finds the template key in the cache directory, or makes it
// there: mariadb-install-db with s's settings into a directory of its own,
// copied sparsely and renamed into place (another process may be making
// the same template at the same time).
func makeTemplate(ctx context.Context, key string, s *Server) (string, error) {
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	root = filepath.Join(root, "dmplan-mariadbtest")
	final := filepath.Join(root, key)
	data := filepath.Join(final, "data")
	if _, err := os.Stat(filepath.Join(data, "mysql")); err == nil {
		return data, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(root, key+".making-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	b := &Server{Dir: filepath.Join(work, "install"), Port: s.Port, Socket: s.Socket,
		opts: templateOptions(s.opts)}
	if err := os.MkdirAll(filepath.Join(b.Dir, "tmp"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(b.cnf(), []byte(b.config()), 0o644); err != nil {
		return "", err
	}
	if err := b.installDB(ctx); err != nil {
		return "", err
	}
	made := filepath.Join(work, "template")
	if err := os.Mkdir(made, 0o755); err != nil {
		return "", err
	}
	if err := copySparse(ctx, filepath.Join(b.Dir, "data"), filepath.Join(made, "data")); err != nil {
		return "", err
	}
	if err := os.Rename(made, final); err != nil {
		if _, serr := os.Stat(filepath.Join(data, "mysql")); serr == nil {
			return data, nil // made by another process meanwhile
		}
		return "", err
	}
	return data, nil
}

// copySparse copies directory from to to (which must not exist), leaving
// holes where the files hold runs of zeros.
func copySparse(ctx context.Context, from, to string) error {
	out, err := exec.CommandContext(ctx, "cp", "-R", "--sparse=always", from, to).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w: %s", from, to, err, out)
	}
	if _, err := os.Stat(filepath.Join(to, "mysql")); err != nil {
		return errors.New("copy " + from + ": no mysql schema in the copy")
	}
	return nil
}
