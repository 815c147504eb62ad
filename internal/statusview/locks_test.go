package statusview

import (
	"bytes"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/internal/shardjoin"
	"github.com/dmplan/dmplan/units/job"
)

// The shard coordination sections of status: a pessimistic lock, and an
// optimistic record with a conflict, as text and JSON.
func TestGoldenShard(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	locks := []job.ShardLock{{Task: "shop", Target: "shop.orders", DDL: "ALTER TABLE `shop`.`orders` ADD COLUMN note VARCHAR(20) NULL", Since: at,
		Sources: []string{"a", "b"}, Expected: map[string][]string{"a": {"s1.o1", "s1.o2"}}, Joined: map[string]time.Time{"a:s1.o1": at}}}
	base := shardjoin.Table{Columns: []shardjoin.Column{{Name: "id", Def: "bigint(20) NOT NULL"}}, Indexes: []shardjoin.Index{{Name: "PRIMARY", Def: "PRIMARY KEY (`id`)"}}}
	withNote := base
	withNote.Columns = append(append([]shardjoin.Column(nil), base.Columns...), shardjoin.Column{Name: "note", Def: "varchar(20) DEFAULT NULL"})
	schemas := []job.ShardSchema{
		{Task: "crm", Target: "crm.users", Base: base, Since: at, Sources: []string{"a", "b"},
			Expected: map[string][]string{"a": {"s1.u1"}, "b": {"s2.u2"}},
			Shards:   map[string]job.ShardTable{"a:s1.u1": {Table: withNote, At: "mysql-bin.000001:4711", DDL: "ALTER TABLE `crm`.`users` ADD COLUMN note VARCHAR(20) NULL", Touched: []string{"column:note"}, Since: at}},
			Conflicts: map[string]job.ShardConflict{"b:s2.u2": {DDL: "ALTER TABLE `crm`.`users` DROP COLUMN id", Reason: "drops column `id`, but shard a:s1.u1 still has it (its rows still write it)",
				With: "a:s1.u1", Since: at.Add(time.Minute)}}},
		{Task: "other", Target: "x.y", Base: base, Since: at},
	}
	v := View{ShardLocks: Locks(locks, ""), ShardSchemas: Schemas(schemas, "")}
	var txt, js bytes.Buffer
	if err := RenderText(&txt, v, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "statusview/shard.txt", txt.Bytes())
	golden.Check(t, "statusview/shard.json", js.Bytes())
	if got := Schemas(schemas, "other"); len(got) != 1 || got[0].Shards != 0 || got[0].Joined != base.String() {
		t.Errorf("Schemas of one task: %+v", got)
	}
}
