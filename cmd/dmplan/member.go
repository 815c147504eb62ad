package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// memberCommand lists, adds and removes members of the control plane's etcd
// cluster: what replacing a dead `dmplan server` needs, without etcdctl.
func (a *app) memberCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "List, add or remove members of the etcd cluster",
		Long: `Member manages the members of the etcd cluster that dmplan servers form.

Replacing a dead member m3 by m4:
  dmplan member remove m3
  dmplan member add m4 --peer-url http://127.0.0.1:2410
  dmplan server --name m4 --data-dir D4 --listen 127.0.0.1:2409 --peer-listen 127.0.0.1:2410 \
    --initial-cluster m1=...,m2=...,m4=http://127.0.0.1:2410 --initial-cluster-state existing
` + exitCodesHelp,
	}
	cmd.AddCommand(a.memberListCommand(), a.memberAddCommand(), a.memberRemoveCommand())
	return cmd
}

func (a *app) memberListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the members: name, id, peer and client URLs, leader, learner",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			resp, err := cli.MemberList(ctx)
			if err != nil {
				return fmt.Errorf("member list: %w", err)
			}
			var leader uint64
			for _, ep := range cli.Endpoints() {
				if st, err := cli.Status(ctx, ep); err == nil {
					leader = st.Leader
					break
				}
			}
			members := resp.Members
			sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
			w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tPEER URLS\tCLIENT URLS\tROLE")
			for _, m := range members {
				fmt.Fprintf(w, "%s\t%x\t%s\t%s\t%s\n", orDash(m.Name), m.ID, strings.Join(m.PeerURLs, ","),
					orDash(strings.Join(m.ClientURLs, ",")), memberRole(m, leader))
			}
			return w.Flush()
		},
	}
}

func memberRole(m *etcdserverpb.Member, leader uint64) string {
	switch {
	case m.IsLearner:
		return "learner"
	case m.Name == "":
		return "added, not started"
	case m.ID == leader:
		return "leader"
	}
	return "follower"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) memberAddCommand() *cobra.Command {
	var peerURL string
	cmd := &cobra.Command{
		Use:   "add NAME --peer-url URL",
		Short: "Announce a new member; then start it with --initial-cluster-state existing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if peerURL == "" {
				return fmt.Errorf("member add: --peer-url is required")
			}
			ctx := cmd.Context()
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			resp, err := cli.MemberAdd(ctx, []string{httpURL(peerURL)})
			if err != nil {
				return fmt.Errorf("member add %s: %w", args[0], err)
			}
			var ic []string
			for _, m := range resp.Members {
				name := m.Name
				if m.ID == resp.Member.ID {
					name = args[0]
				}
				for _, u := range m.PeerURLs {
					ic = append(ic, name+"="+u)
				}
			}
			sort.Strings(ic)
			fmt.Fprintf(a.out, "member %s added (id %x). Start it with:\n  --name %s --initial-cluster %s --initial-cluster-state existing\n",
				args[0], resp.Member.ID, args[0], strings.Join(ic, ","))
			return nil
		},
	}
	cmd.Flags().StringVar(&peerURL, "peer-url", "", "the new member's peer URL (its --peer-listen)")
	return cmd
}

func (a *app) memberRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a member (a dead one, before replacing it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			resp, err := cli.MemberList(ctx)
			if err != nil {
				return fmt.Errorf("member remove: %w", err)
			}
			id, err := strconv.ParseUint(args[0], 16, 64)
			found := false
			for _, m := range resp.Members {
				if m.Name == args[0] || (err == nil && m.ID == id) {
					id, found = m.ID, true
					break
				}
			}
			if !found {
				return fmt.Errorf("member remove: no member named %q (see dmplan member list)", args[0])
			}
			if _, err := cli.MemberRemove(ctx, id); err != nil {
				return fmt.Errorf("member remove %s: %w", args[0], err)
			}
			fmt.Fprintf(a.out, "member %s (id %x) removed\n", args[0], id)
			return nil
		},
	}
}
