package agent

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
)

// Metrics are an agent's Prometheus metrics, in a registry of their own
// (no global state: several agents may share a process). Serve Handler at
// /metrics.
type Metrics struct {
	reg *prometheus.Registry

	reconciles  *prometheus.CounterVec // result=ok|error
	actions     *prometheus.CounterVec // kind
	errors      *prometheus.CounterVec // task, source, stage
	leaseLosses prometheus.Counter
	rebinds     prometheus.Counter
	leader      prometheus.Gauge

	mu       sync.Mutex
	statuses func() []reconciler.Status
}

// NewMetrics returns the metrics of one agent.
func NewMetrics(agent string) *Metrics {
	constLabels := prometheus.Labels{"agent": agent}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmplan_agent_reconciles_total", Help: "Reconcile passes, by result (error: the desired state could not be read).",
			ConstLabels: constLabels,
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmplan_agent_actions_total", Help: "Reconcile actions taken, by kind (start, stop, restart, fail, forget).",
			ConstLabels: constLabels,
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmplan_subtask_errors_total", Help: "Errors reported by a subtask's units (stage running: transient, retried; stage error: permanent).",
			ConstLabels: constLabels,
		}, []string{"task", "source", "stage"}),
		leaseLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmplan_agent_lease_losses_total", Help: "Times the agent lost its lease and stopped all its units.",
			ConstLabels: constLabels,
		}),
		rebinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmplan_agent_rebinds_total", Help: "Sources this agent moved or bound as the failover leader.",
			ConstLabels: constLabels,
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmplan_agent_failover_leader", Help: "1 while this agent is the elected failover leader.",
			ConstLabels: constLabels,
		}),
	}
	m.reg.MustRegister(m.reconciles, m.actions, m.errors, m.leaseLosses, m.rebinds, m.leader,
		&subtaskCollector{m: m, constLabels: constLabels},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) setSource(f func() []reconciler.Status) {
	m.mu.Lock()
	m.statuses = f
	m.mu.Unlock()
}

func (m *Metrics) observe(actions []reconciler.Action, err error) {
	if err != nil {
		m.reconciles.WithLabelValues("error").Inc()
		return
	}
	m.reconciles.WithLabelValues("ok").Inc()
	for _, a := range actions {
		if a.Kind != reconciler.Noop {
			m.actions.WithLabelValues(string(a.Kind)).Inc()
		}
	}
}

// subtaskCollector reads the loop's statuses at scrape time, so a
// forgotten subtask leaves no stale series.
type subtaskCollector struct {
	m           *Metrics
	constLabels prometheus.Labels
}

var stages = []spec.Stage{spec.StageRunning, spec.StagePaused, spec.StageStopped, reconciler.StageFinished, reconciler.StageError}

func (c *subtaskCollector) descs() (lag, rows, tables, stage, unit, restarts, divergent, validation *prometheus.Desc) {
	l := []string{"task", "source"}
	lag = prometheus.NewDesc("dmplan_subtask_lag_seconds", "Replication lag of the sync unit (0 for dump and load).", l, c.constLabels)
	rows = prometheus.NewDesc("dmplan_subtask_rows", "Rows done by the current unit run: dumped and loaded rows, or row changes applied by sync.", append(l, "unit"), c.constLabels)
	tables = prometheus.NewDesc("dmplan_subtask_tables_done", "Tables done by the current dump/load run.", l, c.constLabels)
	stage = prometheus.NewDesc("dmplan_subtask_stage", "1 for the subtask's observed stage, 0 for the others.", append(l, "stage"), c.constLabels)
	unit = prometheus.NewDesc("dmplan_subtask_unit", "1 for the unit the subtask runs (dump, load or sync).", append(l, "unit"), c.constLabels)
	divergent = prometheus.NewDesc("dmplan_subtask_divergent_changes", "Row changes sync found the target diverged on (a missing or extra row) since the unit started.", l, c.constLabels)
	validation = prometheus.NewDesc("dmplan_subtask_validation_rows", "Rows of sync's validation by state: checked (found as the binlog says) and skipped since the unit started, pending (waiting to be read back), failed (differing rows recorded in the target's dmplan_meta.validation_error).", append(l, "state"), c.constLabels)
	restarts = prometheus.NewDesc("dmplan_subtask_restarts", "Starts of the subtask's units after the first one, in this agent's current lease.", l, c.constLabels)
	return
}

func (c *subtaskCollector) Describe(ch chan<- *prometheus.Desc) {
	lag, rows, tables, stage, unit, restarts, divergent, validation := c.descs()
	for _, d := range []*prometheus.Desc{lag, rows, tables, stage, unit, restarts, divergent, validation} {
		ch <- d
	}
}

func (c *subtaskCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	f := c.m.statuses
	c.m.mu.Unlock()
	if f == nil {
		return
	}
	lag, rows, tables, stage, unit, restarts, divergent, validation := c.descs()
	for _, st := range f() {
		t, s := st.ID.Task, st.ID.Source
		ch <- prometheus.MustNewConstMetric(lag, prometheus.GaugeValue, st.Progress.Lag.Seconds(), t, s)
		ch <- prometheus.MustNewConstMetric(tables, prometheus.GaugeValue, float64(st.Progress.TablesDone), t, s)
		ch <- prometheus.MustNewConstMetric(restarts, prometheus.GaugeValue, float64(st.Restarts), t, s)
		ch <- prometheus.MustNewConstMetric(divergent, prometheus.GaugeValue, float64(st.Progress.Divergent), t, s)
		if v := st.Progress.Validation; v != nil {
			for _, x := range []struct {
				state string
				n     int64
			}{{"checked", v.Checked}, {"pending", v.Pending}, {"failed", v.Failed}, {"skipped", v.Skipped}} {
				ch <- prometheus.MustNewConstMetric(validation, prometheus.GaugeValue, float64(x.n), t, s, x.state)
			}
		}
		if u := st.Progress.Unit; u != "" {
			ch <- prometheus.MustNewConstMetric(rows, prometheus.GaugeValue, float64(st.Progress.RowsDone), t, s, u)
			ch <- prometheus.MustNewConstMetric(unit, prometheus.GaugeValue, 1, t, s, u)
		}
		for _, sg := range stages {
			v := 0.0
			if st.Stage == sg {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(stage, prometheus.GaugeValue, v, t, s, string(sg))
		}
	}
}
