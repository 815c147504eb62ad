package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/etcdserver"
)

func (a *app) serverCommand() *cobra.Command {
	var (
		dataDir, listen, peerListen string
	)
	cmd := &cobra.Command{
		Use:   "server --data-dir DIR [--listen 127.0.0.1:2379] [--peer-listen 127.0.0.1:2380]",
		Short: "Run a single-node embedded etcd: the control plane for one machine",
		Long: `Server runs an embedded, single-node etcd on loopback that keeps its data in
--data-dir across restarts. Every other dmplan command talks to it at
--endpoints (default 127.0.0.1:2379). For more than one machine, run a real
etcd cluster instead and point every command at it with --endpoints.

SIGINT or SIGTERM shuts the server down cleanly; a second signal exits at once.
` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return fmt.Errorf("--data-dir is required")
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			srv, err := etcdserver.Start(cmd.Context(), etcdserver.Config{
				DataDir:   dataDir,
				ClientURL: httpURL(listen),
				PeerURL:   httpURL(peerListen),
				Logger:    log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(a.out, "dmplan server: etcd serving on %s (data in %s)\n", strings.Join(srv.Endpoints(), ","), dataDir)
			select {
			case <-cmd.Context().Done():
				log.Info("shutting down")
				return nil
			case err := <-srv.Err():
				return fmt.Errorf("etcd stopped: %w", err)
			}
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for etcd's data (created when missing)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:2379", "client address to listen on (loopback)")
	cmd.Flags().StringVar(&peerListen, "peer-listen", "127.0.0.1:2380", "peer address to listen on (loopback)")
	return cmd
}

func httpURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}
