package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/etcdserver"
)

// serverFlags are `dmplan server`'s own flags, named as etcd names them.
type serverFlags struct {
	dataDir, listen, peerListen        string
	name, initialCluster, clusterState string
	clusterToken                       string
	client, peer                       etcdserver.TLS
}

func (a *app) serverCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server --data-dir DIR [--listen 127.0.0.1:2379] [--peer-listen 127.0.0.1:2380]",
		Short: "Run an embedded etcd member: the control plane of dmplan",
		Long: `Server runs an embedded etcd member that keeps its data in --data-dir across
restarts. Every other dmplan command talks to it at --endpoints (default
127.0.0.1:2379).

Alone (no --initial-cluster) it is a one-member cluster: the control plane
for one machine. Three servers form a cluster that survives the loss of one,
with etcd's own flags and meanings:

  dmplan server --name m1 --data-dir D1 --listen 127.0.0.1:2379 --peer-listen 127.0.0.1:2380 \
    --initial-cluster m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2390,m3=http://127.0.0.1:2400
  (likewise m2 and m3; clients use --endpoints 127.0.0.1:2379,127.0.0.1:2389,127.0.0.1:2399)

To replace a member: "dmplan member remove OLD", "dmplan member add NEW
--peer-url URL", then start NEW with --initial-cluster-state existing and an
--initial-cluster that lists the members after the change.

TLS: --cert-file/--key-file serve clients over https (the global --cert,
--key and --cacert are used when these are absent); --client-cert-auth
requires client certificates signed by --trusted-ca-file. The --peer-*
flags do the same between members.

SIGINT or SIGTERM shuts the server down cleanly; a second signal exits at once.
` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.dataDir == "" {
				return fmt.Errorf("--data-dir is required")
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			client := f.client
			if !client.Enabled() {
				client.CertFile, client.KeyFile, client.TrustedCAFile = a.tls.certFile, a.tls.keyFile, a.tls.caFile
			}
			scheme := "http://"
			if client.Enabled() {
				scheme = "https://"
			}
			peerScheme := "http://"
			if f.peer.Enabled() {
				peerScheme = "https://"
			}
			srv, err := etcdserver.Start(cmd.Context(), etcdserver.Config{
				DataDir:             f.dataDir,
				Name:                f.name,
				ClientURL:           withScheme(f.listen, scheme),
				PeerURL:             withScheme(f.peerListen, peerScheme),
				InitialCluster:      f.initialCluster,
				InitialClusterState: f.clusterState,
				InitialClusterToken: f.clusterToken,
				ClientTLS:           client,
				// Beyond loopback only when nobody can join or connect
				// without a certificate of the cluster's CA.
				AllowNonLoopback: client.ClientCertAuth && (f.initialCluster == "" || f.peer.ClientCertAuth),
				PeerTLS:          f.peer,
				Logger:           log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(a.out, "dmplan server: etcd serving on %s (member %s, data in %s)\n", strings.Join(srv.Endpoints(), ","), srv.Name(), f.dataDir)
			select {
			case <-cmd.Context().Done():
				log.Info("shutting down")
				return nil
			case err := <-srv.Err():
				return fmt.Errorf("etcd stopped: %w", err)
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for etcd's data (created when missing)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:2379", "client address to listen on (loopback)")
	fl.StringVar(&f.peerListen, "peer-listen", "127.0.0.1:2380", "peer address to listen on (loopback)")
	fl.StringVar(&f.name, "name", etcdserver.DefaultName, "this member's name (unique in the cluster)")
	fl.StringVar(&f.initialCluster, "initial-cluster", "", "every member of the cluster as name=peerURL,... (empty: this member alone)")
	fl.StringVar(&f.clusterState, "initial-cluster-state", "new", "new, or existing for a member added to a running cluster")
	fl.StringVar(&f.clusterToken, "initial-cluster-token", "dmplan", "token that keeps separate clusters apart")
	fl.StringVar(&f.client.CertFile, "cert-file", "", "serve clients over TLS with this certificate")
	fl.StringVar(&f.client.KeyFile, "key-file", "", "key of --cert-file")
	fl.StringVar(&f.client.TrustedCAFile, "trusted-ca-file", "", "CA that client certificates must chain to")
	fl.BoolVar(&f.client.ClientCertAuth, "client-cert-auth", false, "require client certificates signed by --trusted-ca-file (or --cacert)")
	fl.StringVar(&f.peer.CertFile, "peer-cert-file", "", "TLS certificate between members")
	fl.StringVar(&f.peer.KeyFile, "peer-key-file", "", "key of --peer-cert-file")
	fl.StringVar(&f.peer.TrustedCAFile, "peer-trusted-ca-file", "", "CA that other members' certificates must chain to")
	fl.BoolVar(&f.peer.ClientCertAuth, "peer-client-cert-auth", false, "require peer certificates signed by --peer-trusted-ca-file")
	return cmd
}

// withScheme adds scheme to a bare host:port; a full URL is kept.
func withScheme(addr, scheme string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return scheme + addr
}

func httpURL(addr string) string { return withScheme(addr, "http://") }
