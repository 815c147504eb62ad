package relay

import (
	"fmt"
	"testing"
	"time"
)

func TestPurge(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	files := func(ages ...int) []FileInfo {
		var out []FileInfo
		for i, h := range ages {
			out = append(out, FileInfo{Name: fmt.Sprintf("mysql-bin.%06d", i+1), Size: 100, ModTime: now.Add(-time.Duration(h) * time.Hour)})
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		in             PurgeInput
		remove, forced string
	}{
		{"needed files stay", PurgeInput{Files: files(80, 80, 1), Need: "mysql-bin.000001", NeedKnown: true, Retain: 72 * time.Hour}, "[]", "[]"},
		{"passed and old go", PurgeInput{Files: files(80, 80, 1), Need: "mysql-bin.000002", NeedKnown: true, Retain: 72 * time.Hour}, "[mysql-bin.000001]", "[]"},
		{"passed but young stay", PurgeInput{Files: files(80, 10, 1), Need: "mysql-bin.000003", NeedKnown: true, Retain: 72 * time.Hour}, "[mysql-bin.000001]", "[]"},
		{"no subtask: old go, never the newest", PurgeInput{Files: files(80, 80, 80), NeedKnown: true, Retain: 72 * time.Hour}, "[mysql-bin.000001 mysql-bin.000002]", "[]"},
		{"unknown needs keep all", PurgeInput{Files: files(80, 80, 1), Need: "mysql-bin.000003", Retain: 72 * time.Hour}, "[]", "[]"},
		{"disk floor forces needed files", PurgeInput{Files: files(80, 80, 1), Need: "mysql-bin.000001", NeedKnown: true, Retain: 72 * time.Hour, Free: 50, Floor: 120}, "[]", "[mysql-bin.000001]"},
		{"disk floor takes unneeded young files first", PurgeInput{Files: files(1, 1, 1), Need: "mysql-bin.000002", NeedKnown: true, Retain: 72 * time.Hour, Free: 50, Floor: 250}, "[mysql-bin.000001]", "[mysql-bin.000002]"},
	} {
		tc.in.Now = now
		rm, forced := Purge(tc.in)
		if got := fmt.Sprint(rm); got != tc.remove {
			t.Errorf("%s: remove %s, want %s", tc.name, got, tc.remove)
		}
		if got := fmt.Sprint(forced); got != tc.forced {
			t.Errorf("%s: forced %s, want %s", tc.name, got, tc.forced)
		}
	}
}
