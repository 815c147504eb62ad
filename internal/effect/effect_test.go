package effect

import "testing"

func base(m Mode) Config {
	return Config{
		Mode:   m,
		Source: Endpoint{Host: "127.0.0.1", Port: 3306, User: "dm", Secret: "SRC_PW:d1"},
		Target: Endpoint{Host: "127.0.0.1", Port: 4000, User: "root", Secret: "TGT_PW:d2"},
		Tables: []string{"shop.*"}, DumpThreads: 4, SyncWorkers: 8, SyncBatch: 100,
	}
}

// cases are the rule's table (doc.go), one row per field and mode.
var cases = []struct {
	name string
	mode Mode
	edit func(*Config)
	want Effect
}{
	{"nothing", ModeAll, func(*Config) {}, None},
	{"sync.workers", ModeAll, func(c *Config) { c.SyncWorkers = 16 }, Tuning},
	{"sync.batch incremental", ModeIncremental, func(c *Config) { c.SyncBatch = 500 }, Tuning},
	{"sync tuning on full", ModeFull, func(c *Config) { c.SyncBatch = 500 }, None},
	{"dump.threads full", ModeFull, func(c *Config) { c.DumpThreads = 8 }, Tuning},
	{"dump.threads all", ModeAll, func(c *Config) { c.DumpThreads = 8 }, Tuning},
	{"dump.threads incremental", ModeIncremental, func(c *Config) { c.DumpThreads = 8 }, None},
	{"tables", ModeAll, func(c *Config) { c.Tables = []string{"shop.orders"} }, Restart},
	{"tables incremental", ModeIncremental, func(c *Config) { c.Tables = []string{"shop.orders"} }, Restart},
	{"target user", ModeAll, func(c *Config) { c.Target.User = "dm" }, Restart},
	{"target password", ModeAll, func(c *Config) { c.Target.Secret = "TGT_PW:other" }, Restart},
	{"source host", ModeAll, func(c *Config) { c.Source.Host = "127.0.0.2" }, Restart},
	{"source password", ModeIncremental, func(c *Config) { c.Source.Secret = "x" }, Restart},
	{"flavor", ModeAll, func(c *Config) { c.Flavor = "mariadb" }, Restart},
	{"target port", ModeAll, func(c *Config) { c.Target.Port = 4001 }, Fresh},
	{"target host", ModeIncremental, func(c *Config) { c.Target.Host = "127.0.0.2" }, Fresh},
	{"mode", ModeAll, func(c *Config) { c.Mode = ModeIncremental }, Fresh},
	{"routes all", ModeAll, func(c *Config) { c.Routes = []Route{{"a.*", "a.b"}} }, Fresh},
	{"routes full", ModeFull, func(c *Config) { c.Routes = []Route{{"a.*", "a.b"}} }, Fresh},
	{"routes incremental", ModeIncremental, func(c *Config) { c.Routes = []Route{{"a.*", "a.b"}} }, Restart},
	{"start incremental", ModeIncremental, func(c *Config) { c.Start = &Position{GTID: "0-1-9"} }, Fresh},
	{"start all", ModeAll, func(c *Config) { c.Start = &Position{GTID: "0-1-9"} }, None},
	{"empty routes are none", ModeAll, func(c *Config) { c.Routes = []Route{} }, None},
	{"filters all", ModeAll, func(c *Config) { c.Filters = `[{"tables":["shop.*"],"events":["delete"],"action":"ignore"}]` }, Restart},
	{"filters incremental", ModeIncremental, func(c *Config) { c.Filters = "x" }, Restart},
	{"filters full", ModeFull, func(c *Config) { c.Filters = "x" }, None},
	{"onlineDDL", ModeIncremental, func(c *Config) { c.OnlineDDL = `{"off":true}` }, Restart},
	{"onlineDDL full", ModeFull, func(c *Config) { c.OnlineDDL = `{"off":true}` }, None},
	{"strongest wins", ModeAll, func(c *Config) { c.SyncWorkers = 1; c.Target.Port = 1 }, Fresh},
}

// TestOf checks the rule and that the agent's form of it (fingerprints)
// and the units' form (ResumeOf) agree with it on every case.
func TestOf(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a := base(tt.mode)
			b := base(tt.mode)
			tt.edit(&b)
			if got := Of(a, b); got != tt.want {
				t.Errorf("Of = %v, want %v", got, tt.want)
			}
			if got := Between(FingerprintOf(a), FingerprintOf(b)); got != tt.want {
				t.Errorf("Between(fingerprints) = %v, want %v (Of)", got, tt.want)
			}
			// The units' record cannot see the target's address (it lives
			// there); for every other field it starts over exactly when
			// Of says Fresh.
			if a.Target.Host == b.Target.Host && a.Target.Port == b.Target.Port {
				rec := RecordOf(a)
				r := ResumeOf(&rec, b)
				if (r == ResumeStartOver) != (tt.want == Fresh) {
					t.Errorf("ResumeOf = %v, with Of = %v", r, tt.want)
				}
				tablesChanged := len(a.Tables) != len(b.Tables) || a.Tables[0] != b.Tables[0]
				if want := tt.want != Fresh && tablesChanged && b.Mode != ModeIncremental; (r == ResumeCopyNewTables) != want {
					t.Errorf("ResumeOf = %v, copy new tables wanted: %v", r, want)
				}
			}
		})
	}
}

// TestFreshKeyStored: the fresh key is a stored format; these are the
// values dmplan wrote before the rule moved here.
func TestFreshKeyStored(t *testing.T) {
	for _, tt := range []struct {
		c    Config
		want string
	}{
		{Config{Mode: ModeAll, Routes: []Route{{From: "shop.*", To: "dw.*"}}}, "aaa3de6996f53050cdd043c4e4508858becead4ed262a2230e9876f0f380b9db"},
		{Config{Mode: ModeIncremental, Start: &Position{File: "mysql-bin.000001", Pos: 4, GTID: "0-1-5"}}, "a0f830492bb6ec3d6875bf8cb31413357b1408f698c92ed8593eeb6e2e748525"},
		{Config{Mode: ModeIncremental}, "8528f968982ddfdd92a5abafc2221219e1865429baeb6259f06eeba1d76f6684"},
		{Config{Mode: ModeFull, Routes: []Route{}}, "9cb068d1aefb10c4c2096dbb5590dd9c1987eb43a77008f1f72b2a218bb96eca"},
	} {
		if got := FreshKey(tt.c); got != tt.want {
			t.Errorf("FreshKey(%+v) = %s, want %s", tt.c, got, tt.want)
		}
	}
	if ResumeOf(nil, base(ModeAll)) != ResumeFirst {
		t.Error("no record: want first run")
	}
}
