// Command passerelle is the Passerelle binary: the server, the demo, the
// merchant's app tools and the operator's token tool.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command's
// name(s) and returns an error to print; a usageError also prints the usage.
type command struct {
	name    string // "serve", "app build"
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// usageError marks an error caused by how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// commands lists every subcommand. Each lives in its own file.
func commands() []command {
	return []command{
		// Add one line per subcommand, keeping this list sorted by name.
		cmdAppBuild,
		cmdAppCheck,
		cmdAppList,
		cmdAppLogs,
		cmdAppNew,
		cmdAppPromote,
		cmdAppReplay,
		cmdPersonForget,
		cmdPersonRevoke,
		cmdAppRollback,
		cmdAppStats,
		cmdAppUpload,
		cmdAppVersions,
		cmdBroadcastOutcomes,
		cmdBroadcastSend,
		cmdBroadcastStatus,
		cmdConnect,
		cmdConnections,
		cmdConnectionsDelete,
		cmdConnectionsList,
		cmdConnectionsRekey,
		cmdConnectionsRotate,
		cmdConnectionsShow,
		cmdConnectionsTemplates,
		cmdConnectionsTemplateAdd,
		cmdConnectionsTemplateDelete,
		cmdConsentAudience,
		cmdConsentVerify,
		cmdDemo,
		cmdDev,
		cmdInboxHandback,
		cmdInboxList,
		cmdInboxReply,
		cmdInboxShow,
		cmdLoadgen,
		cmdMetasim,
		cmdSecretKey,
		cmdServe,
		cmdStaffAdd,
		cmdStaffLink,
		cmdStaffList,
		cmdStaffRemove,
		cmdToken,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	// Longest match first: "app build" before "app".
	for n := 3; n >= 1; n-- {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for _, c := range cmds {
			if c.name != name {
				continue
			}
			if err := c.run(ctx, args[n:], stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "passerelle %s: %v\n", c.name, err)
				if _, ok := err.(usageError); ok {
					fmt.Fprintf(stderr, "run 'passerelle %s -h' for its flags\n", c.name)
					return 2
				}
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "passerelle: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds []command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	fmt.Fprintln(w, "usage: passerelle <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
}
