package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBig writes sources sources into one file and tasks tasks into files
// of 1,000, every task on 3 sources and sharing one password variable.
func writeBig(tb testing.TB, dir string, sources, tasks int) {
	tb.Helper()
	var b strings.Builder
	for i := 0; i < sources; i++ {
		fmt.Fprintf(&b, `---
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-%04d
spec:
  host: 127.0.%d.%d
  user: dmplan
  password: ${SOURCE_PASSWORD}
  flavor: mariadb
`, i, i/250, i%250+1)
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		b.Reset()
	}
	write("sources.yaml")
	for i := 0; i < tasks; i++ {
		fmt.Fprintf(&b, `---
apiVersion: dmplan/v1
kind: Task
metadata:
  name: task-%05d
spec:
  mode: all
  target:
    host: 127.0.0.1
    port: 4000
    user: root
    password: ${TARGET_PASSWORD}
  sources: [mysql-%04d, mysql-%04d, mysql-%04d]
  tables: ["shop_%d.*", "!shop_%d.tmp_*"]
  shardMode: pessimistic
  routes:
    - from: "shop_%d.orders_*"
      to: "shop.orders"
  sync:
    workers: 16
`, i, i%sources, (i+1)%sources, (i+2)%sources, i, i, i)
		if (i+1)%1000 == 0 || i == tasks-1 {
			write(fmt.Sprintf("tasks-%02d.yaml", i/1000))
		}
	}
}

func TestLoadLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large desired state")
	}
	dir := t.TempDir()
	writeBig(t, dir, 1000, 10000)
	set, err := Load([]string{dir}, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Sources) != 1000 || len(set.Tasks) != 10000 || len(set.Origin) != 11000 {
		t.Fatalf("loaded %d sources, %d tasks, %d origins", len(set.Sources), len(set.Tasks), len(set.Origin))
	}
	last := set.Tasks[9999]
	if last.Name != "task-09999" || last.Sources[0] != "mysql-0000" || last.Sync.Workers != 16 || last.Tables[1] != "!shop_9999.tmp_*" {
		t.Errorf("last task = %+v", last)
	}
}

// BenchmarkLoad loads 1,000 sources and 10,000 tasks from 11 files.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	writeBig(b, dir, 1000, 10000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Load([]string{dir}, lookup(testEnv)); err != nil {
			b.Fatal(err)
		}
	}
}
