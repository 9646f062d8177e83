package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerNodeInfo exports switchboard_node_info{node="..."} 1: the name this process
// leases partitions under (nodeName), so a dashboard can join a node's metrics to its
// rows in the nodes and partition_leases tables, and tell one start from the next.
func registerNodeInfo(reg prometheus.Registerer, node string) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_node_info",
		Help: "Always 1; the node label is the name this process leases partitions under (host-pid-random, new at every start)."},
		[]string{"node"})
	g.WithLabelValues(node).Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register switchboard_node_info: %w", err)
	}
	return nil
}
