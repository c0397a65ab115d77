package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Metrics are the hub's Prometheus collectors. A nil *Metrics is valid and
// records nothing, so tests and tools can pass nil.
type Metrics struct {
	Connections       prometheus.Gauge       // wisehosting_hub_connections
	EnvelopesIn       *prometheus.CounterVec // wisehosting_hub_envelopes_in_total{type}
	EnvelopesOut      *prometheus.CounterVec // wisehosting_hub_envelopes_out_total{type}
	EnvelopesRejected *prometheus.CounterVec // wisehosting_hub_envelopes_rejected_total{reason}
}

// Rejection reasons: wsproto.Reason's names, plus "other" for anything it
// does not classify. Pre-created so every series exists at 0.
var rejectReasons = [...]string{"too_large", "decode", "hmac", "clock", "replay", "other"}

// NewMetrics creates the collectors and registers them with reg (skipped
// when reg is nil). Registering twice on one registry panics, like
// prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wisehosting_hub_connections",
			Help: "Worker WebSocket connections currently held by the hub.",
		}),
		EnvelopesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisehosting_hub_envelopes_in_total",
			Help: "Envelopes received from workers that passed every receiver check, by type.",
		}, []string{"type"}),
		EnvelopesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisehosting_hub_envelopes_out_total",
			Help: "Envelopes written to worker sockets, by type.",
		}, []string{"type"}),
		EnvelopesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisehosting_hub_envelopes_rejected_total",
			Help: "Worker messages dropped by a receiver check, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range rejectReasons {
		m.EnvelopesRejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.EnvelopesIn, m.EnvelopesOut, m.EnvelopesRejected)
	}
	return m
}

// typeLabel bounds the label's cardinality: an authenticated worker still
// chooses the type string, and one series per invented type would let it
// grow the metrics without limit.
func typeLabel(t string) string {
	if wsproto.KnownType(t) {
		return t
	}
	return "unknown"
}

func (m *Metrics) setConnections(n int) {
	if m != nil {
		m.Connections.Set(float64(n))
	}
}

func (m *Metrics) in(msgType string) {
	if m != nil {
		m.EnvelopesIn.WithLabelValues(typeLabel(msgType)).Inc()
	}
}

func (m *Metrics) out(msgType string) {
	if m != nil {
		m.EnvelopesOut.WithLabelValues(typeLabel(msgType)).Inc()
	}
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.EnvelopesRejected.WithLabelValues(reason).Inc()
	}
}
