package mariadbtest

import "os"

// PrivateTmpdir returns opts with the server's tmpdir set to dir (created
// when missing). Start already gives every server a private tmpdir under
// its own directory; this chooses another place. Every mariadbd deletes the "#sql*" files it finds in its
// tmpdir when it starts, so servers that share /tmp delete each other's
// temporary tables: a concurrent mariadb-install-db then fails with
// "Unknown table 'mysql.tmp_user_sys'", and a running server can lose an
// on-disk temporary table in the middle of a query.
func PrivateTmpdir(opts Options, dir string) (Options, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return opts, err
	}
	opts.Extra = append(append([]string(nil), opts.Extra...), "tmpdir="+dir)
	return opts, nil
}
